"""Renders monophonic melodies on real sampled instruments, with MIDI-derived ground truth.

Each clip is a human-composed tune from the music21 corpus, played through FluidSynth on the
FluidR3_GM soundfont (recorded instrument samples) with expressive vibrato (pitch bend) and
dynamics (note velocity plus a CC11 expression curve). Next to every FLAC clip goes a `.npz`
with the ground truth at `FRAME_RATE` frames per second: frame `t` is at time `t / FRAME_RATE`
seconds (sample `t * hop`), the convention of centre-padded framing.

Dev-time requirements (none of them is needed to run the tests that read the rendered files):

    apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm
    .venv/bin/pip install mido music21

Rerun (deterministic: the same inputs give byte-identical FLAC and .npz files):

    .venv/bin/python tests/data/render_instruments.py                  # the CREPE test clips
    .venv/bin/python tests/data/render_instruments.py --out_dir DIR --clips violin

Reuse: `render_clip(ClipSpec(...), out_dir)` renders any tune; add a list of `ClipSpec` to
`CLIP_SETS` to ship another set rendered the same way. The mechanics (corpus reading, MIDI
writing and its FluidSynth timing compensation, rendering, ground truth) live in
`recipes/instruments/midi_render.py`, shared with the pretrained instruments' recipe; this file
keeps the clips' own performance (`schedule_notes`, `vibrato_curve`, `dynamics`), which must not
change: the shipped clips are byte-identical when re-rendered.

Ground truth in each `<name>.npz` (arrays at FRAME_RATE unless noted):
    f0_hz        float32 [T]  note pitch plus bend while a note is held (note-on to note-off), 0
                              elsewhere (silence, and release tails after note-off).
    mask         bool    [T]  frames "inside notes": from 50 ms after each note-on up to (not
                              including) its note-off. Use it to score pitch trackers.
    held         bool    [T]  note-on <= time < note-off.
    bend_cents   float32 [T]  the vibrato curve (cents), continuous curve sampled at t / FRAME_RATE.
    expression   float32 [T]  CC11 value (0-127) in effect; level follows ~40*log10(CC11/127) dB.
    velocity     int16   [T]  velocity of the held note, 0 elsewhere.
    notes        float64 [N, 4]  (onset_s, offset_s, midi_pitch, velocity) per note.
    frame_rate, sample_rate, n_samples, gain (the peak-normalising gain applied to FluidSynth's
    output), program (GM, 0-based), transpose (semitones), tempo_qpm, and strings title, corpus
    (music21 corpus path), number (tune number in that file), instrument, soundfont.

How the bend is rendered: pitch-bend messages go out every 10 ms; the message at time k/100 s
carries the continuous vibrato curve at the middle of its 10 ms step (k/100 + 5 ms), so the
staircase FluidSynth plays is centred on the curve, and `bend_cents[t]` is the curve at t/100 s.
The bend range is set to +-2 semitones with RPN 0 (4096 bend units per semitone), and the bend
is back at 0 at least 40 ms before every note-off (bend applies to the whole channel).
"""

import argparse
import dataclasses
import hashlib
import os
import pathlib
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:  # Run as a script: make `recipes` importable.
    sys.path.insert(0, str(HERE.parents[1]))

from recipes.instruments.midi_render import (  # noqa: E402
    FLUIDR3,
    FRAME_RATE,
    SAMPLE_RATE,
    flac_bytes,
    ground_truth,
    load_melody,
    npz_bytes,
    on_grid,
    render_midi,
    to_pcm16,
    write_if_changed,
    write_midi,
)

SOUNDFONT = FLUIDR3
DEFAULT_OUT_DIR = HERE / 'instruments'
PEAK = 10 ** (-1 / 20)  # Peak-normalise to -1 dBFS.


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """One clip: which tune, which instrument, how it is played."""

    name: str  # File stem.
    instrument: str  # Human-readable.
    program: int  # General MIDI program, 0-based.
    corpus: str  # music21 corpus path, e.g. 'oneills1850/0001-0050.abc'.
    number: int | None  # Tune number inside a multi-tune ABC file (None: the only tune).
    tempo_qpm: float  # Quarter notes per minute.
    transpose: int  # Semitones added to every written pitch.
    pitch_range: tuple  # (lowest, highest) MIDI note the instrument plays well; checked.
    seed: int  # Seeds vibrato and dynamics.
    duration_s: float = 8.0
    lead_in_s: float = 0.3  # Silence before the first note.
    tail_s: float = 0.6  # Room for the last release: no note is held past duration - tail.
    legato: float = 0.92  # Held fraction of each written duration.
    max_gap_s: float = 0.06  # ...but the gap to the next note is at most this.
    vibrato_rate_hz: tuple = (5.0, 6.5)
    vibrato_depth_cents: tuple = (15.0, 45.0)
    velocity_range: tuple = (60, 112)
    expression_range: tuple = (70, 127)


# The clips tests/test_crepe_accuracy.py scores CREPE and pYIN on.
CREPE_TEST_CLIPS = [
    ClipSpec(
        name='violin',
        instrument='violin',
        program=40,
        corpus='ryansMammoth/ExilesLamentJig.abc',
        number=None,
        tempo_qpm=66.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=40,
    ),
    ClipSpec(
        name='flute',
        instrument='flute',
        program=73,
        corpus='oneills1850/0001-0050.abc',
        number=2,
        tempo_qpm=50.0,
        transpose=0,
        pitch_range=(60, 96),
        seed=73,
    ),
    ClipSpec(
        name='trumpet',
        instrument='trumpet',
        program=56,
        corpus='essenFolksong/altdeu10.abc',
        number=11,
        tempo_qpm=160.0,
        transpose=0,
        pitch_range=(54, 82),
        seed=56,
    ),
    ClipSpec(
        name='cello',
        instrument='cello',
        program=42,
        corpus='oneills1850/0001-0050.abc',
        number=1,
        tempo_qpm=44.0,
        transpose=-24,
        pitch_range=(36, 72),
        seed=42,
    ),
]

# The example dataset shipped in data/violin/ (see data/violin/SOURCES.md): about 3.4 minutes of
# solo violin, seven tunes, rendered with
#     .venv/bin/python tests/data/render_instruments.py --set violin_dataset --out_dir data/violin
VIOLIN_DATASET_CLIPS = [
    ClipSpec(
        name='heathy_hill',
        instrument='violin',
        program=40,
        corpus='oneills1850/0001-0050.abc',
        number=3,
        tempo_qpm=72.0,
        transpose=12,
        pitch_range=(55, 93),
        seed=1003,
        duration_s=30.0,
    ),
    ClipSpec(
        name='girl_of_my_heart',
        instrument='violin',
        program=40,
        corpus='oneills1850/0001-0050.abc',
        number=4,
        tempo_qpm=80.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=1004,
        duration_s=30.0,
    ),
    ClipSpec(
        name='dark_woman',
        instrument='violin',
        program=40,
        corpus='oneills1850/0001-0050.abc',
        number=6,
        tempo_qpm=70.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=1006,
        duration_s=30.0,
    ),
    ClipSpec(
        name='friars_hill',
        instrument='violin',
        program=40,
        corpus='oneills1850/0001-0050.abc',
        number=10,
        tempo_qpm=96.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=1010,
        duration_s=30.0,
    ),
    ClipSpec(
        name='red_haired_girl',
        instrument='violin',
        program=40,
        corpus='oneills1850/0001-0050.abc',
        number=12,
        tempo_qpm=60.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=1012,
        duration_s=30.0,
    ),
    ClipSpec(
        name='arkansas_traveller',
        instrument='violin',
        program=40,
        corpus='ryansMammoth/ArkansasTravellerReel.abc',
        number=None,
        tempo_qpm=90.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=2001,
        duration_s=24.0,
    ),
    ClipSpec(
        name='acrobats_hornpipe',
        instrument='violin',
        program=40,
        corpus='ryansMammoth/AcrobatsHornpipe.abc',
        number=None,
        tempo_qpm=100.0,
        transpose=0,
        pitch_range=(55, 93),
        seed=2002,
        duration_s=30.0,
    ),
]

CLIP_SETS = {'crepe_test': CREPE_TEST_CLIPS, 'violin_dataset': VIOLIN_DATASET_CLIPS}


# ----------------------------------------------------------------------------------------------
# Performance of a clip: timing, vibrato and dynamics (the mechanics are in midi_render).
# ----------------------------------------------------------------------------------------------


def schedule_notes(melody, spec):
    """Times in seconds: [(onset_s, offset_s, midi_pitch)], rounded to whole ms, within the clip."""
    sec_per_quarter = 60.0 / spec.tempo_qpm
    start = melody[0][0]
    last_end = spec.duration_s - spec.tail_s
    events = []
    for offset, duration, pitch in melody:
        onset = spec.lead_in_s + (offset - start) * sec_per_quarter
        written = duration * sec_per_quarter
        held = max(written * spec.legato, written - spec.max_gap_s)
        offset_s = onset + held
        if offset_s > last_end:
            break
        events.append((on_grid(onset), on_grid(offset_s), pitch + spec.transpose))
    if not events:
        raise ValueError(f'{spec.name}: no note fits in {spec.duration_s} s.')
    lo, hi = spec.pitch_range
    pitches = [p for _, _, p in events]
    if min(pitches) < lo or max(pitches) > hi:
        raise ValueError(
            f'{spec.name}: pitches {min(pitches)}-{max(pitches)} leave the '
            f'range {lo}-{hi}; change `transpose`.'
        )
    for (_, end, _), (nxt, _, _) in zip(events, events[1:]):
        if end > nxt:
            raise ValueError(f'{spec.name}: notes overlap; the melody is not monophonic.')
    return events


# ----------------------------------------------------------------------------------------------
# Performance: vibrato and dynamics, as curves on a 1 ms grid.
# ----------------------------------------------------------------------------------------------


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def vibrato_curve(events, spec, rng, n_ms):
    """Continuous bend in cents on a 1 ms grid; 0 outside notes and >= 40 ms before note-offs."""
    bend = np.zeros(n_ms)
    for onset, offset, _ in events:
        length = offset - onset
        if length < 0.3:  # Short notes: no vibrato, as players do.
            continue
        rate = rng.uniform(*spec.vibrato_rate_hz)
        depth = rng.uniform(*spec.vibrato_depth_cents)
        delay = rng.uniform(0.06, 0.14)
        stop = length - 0.06  # The envelope is 0 from here on, 60 ms before the note-off.
        attack = min(0.25, 0.4 * (stop - delay))
        release = min(0.12, 0.3 * (stop - delay))
        i0, i1 = int(round(onset * 1000)), int(round(offset * 1000))
        t = np.arange(i1 - i0) / 1000.0
        envelope = _smoothstep((t - delay) / attack) * _smoothstep((stop - t) / release)
        # Slightly uneven rate, as a player's: +-3 % drift over the note.
        drift = 1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6.28))
        phase = 2 * np.pi * np.cumsum(rate * drift) / 1000.0
        bend[i0:i1] = depth * envelope * np.sin(phase)
    return bend


def dynamics(events, spec, rng, n_ms):
    """(velocities per note, CC11 curve on a 1 ms grid): phrase swells plus per-note shaping."""
    lo_v, hi_v = spec.velocity_range
    lo_e, hi_e = spec.expression_range
    t = np.arange(n_ms) / 1000.0
    # Phrase-level swell: one or two slow crescendo/decrescendo arcs over the clip.
    period = rng.uniform(3.5, 6.0)
    phrase = 0.5 - 0.5 * np.cos(2 * np.pi * (t - spec.lead_in_s) / period + rng.uniform(0, 1))
    expression = lo_e + (hi_e - lo_e) * (0.35 + 0.65 * phrase)
    velocities = []
    for onset, offset, _ in events:
        i0, i1 = int(round(onset * 1000)), int(round(offset * 1000))
        level = phrase[i0]
        accent = 0.15 if rng.uniform() < 0.3 else 0.0
        v = lo_v + (hi_v - lo_v) * np.clip(0.25 + 0.6 * level + accent + rng.normal(0, 0.05), 0, 1)
        velocities.append(int(round(v)))
        if offset - onset >= 0.4:  # Messa di voce on long notes: swell and fade within.
            u = (t[i0:i1] - onset) / (offset - onset)
            expression[i0:i1] -= (hi_e - lo_e) * 0.25 * (1 - np.sin(np.pi * u))
    expression = np.clip(np.round(expression), lo_e, hi_e).astype(int)
    return velocities, expression


# ----------------------------------------------------------------------------------------------
# A clip, written whole (temp file + os.replace) unless the files already hold the same bytes.
# ----------------------------------------------------------------------------------------------


def render_clip(spec, out_dir, soundfont=SOUNDFONT):
    """Renders `spec` to out_dir/<name>.flac and out_dir/<name>.npz; returns a summary dict."""
    out_dir = pathlib.Path(out_dir)
    melody, title = load_melody(spec.corpus, spec.number)
    events = schedule_notes(melody, spec)
    n_samples = int(round(spec.duration_s * SAMPLE_RATE))
    n_ms = int(round(spec.duration_s * 1000))
    rng = np.random.default_rng(spec.seed)
    bend_ms = vibrato_curve(events, spec, rng, n_ms)
    velocities, expression_ms = dynamics(events, spec, rng, n_ms)
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = pathlib.Path(tmp) / f'{spec.name}.mid'
        write_midi(midi_path, spec.program, events, velocities, bend_ms, expression_ms)
        audio = render_midi(midi_path, n_samples, soundfont)
    peak = float(np.max(np.abs(audio)))
    if peak == 0:
        raise RuntimeError(f'{spec.name}: FluidSynth rendered silence.')
    gain = PEAK / peak
    pcm = to_pcm16(audio * gain)
    flac_path = out_dir / f'{spec.name}.flac'
    write_if_changed(flac_path, flac_bytes(pcm))

    truth = ground_truth(events, velocities, bend_ms, expression_ms, n_samples)
    notes = np.array([(on, off, p, v) for (on, off, p), v in zip(events, velocities)], np.float64)
    npz_path = out_dir / f'{spec.name}.npz'
    arrays = dict(
        **truth,
        notes=notes,
        frame_rate=np.int32(FRAME_RATE),
        sample_rate=np.int32(SAMPLE_RATE),
        n_samples=np.int64(n_samples),
        gain=np.float64(gain),
        program=np.int32(spec.program),
        transpose=np.int32(spec.transpose),
        tempo_qpm=np.float64(spec.tempo_qpm),
        title=np.str_(title),
        corpus=np.str_(spec.corpus),
        number=np.str_('' if spec.number is None else str(spec.number)),
        instrument=np.str_(spec.instrument),
        soundfont=np.str_(os.path.basename(soundfont)),
    )
    write_if_changed(npz_path, npz_bytes(arrays))
    return dict(
        name=spec.name,
        title=title,
        n_notes=len(events),
        pitch_range=(min(p for _, _, p in events), max(p for _, _, p in events)),
        gain=gain,
        flac=flac_path,
        npz=npz_path,
        flac_bytes=flac_path.stat().st_size,
        npz_bytes=npz_path.stat().st_size,
        flac_md5=hashlib.md5(flac_path.read_bytes()).hexdigest(),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out_dir', default=str(DEFAULT_OUT_DIR))
    parser.add_argument('--set', default='crepe_test', choices=sorted(CLIP_SETS))
    parser.add_argument('--clips', nargs='*', help='Names within the set (default: all).')
    parser.add_argument('--soundfont', default=SOUNDFONT)
    args = parser.parse_args(argv)
    specs = CLIP_SETS[args.set]
    if args.clips:
        unknown = set(args.clips) - {s.name for s in specs}
        if unknown:
            parser.error(f'unknown clips {sorted(unknown)}')
        specs = [s for s in specs if s.name in args.clips]
    for spec in specs:
        info = render_clip(spec, args.out_dir, args.soundfont)
        print(
            f'{info["name"]:8s} {info["title"]!r}: {info["n_notes"]} notes, MIDI '
            f'{info["pitch_range"][0]}-{info["pitch_range"][1]}, gain {info["gain"]:.3f}, '
            f'{info["flac_bytes"]} + {info["npz_bytes"]} bytes, md5 {info["flac_md5"]}'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
