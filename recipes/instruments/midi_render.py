"""Tunes from the music21 corpus played through FluidSynth, with MIDI-derived ground truth.

The mechanics shared by the pretrained instruments' recipe (`recipes.instruments.render`) and
the test clips (`tests/data/render_instruments.py`): reading a monophonic tune from the corpus,
writing a one-channel MIDI file with pitch-bend vibrato and CC11 expression, rendering it with
FluidSynth, and the per-frame ground truth. The performance itself (timing, vibrato and dynamic
curves) is made by the callers.

Conventions:
    Times are seconds; curves (bend, expression) are sampled on a 1 ms grid; the ground truth is
    at FRAME_RATE frames per second, frame t at t / FRAME_RATE s (centre-padded framing).
    Pitches are MIDI note numbers (69 = A4 = 440 Hz); bend is in cents.

Requirements (only for rendering): Debian `fluidsynth` plus a soundfont, and `pip install mido
music21` (the `render` extra). Heavy imports are done inside the functions that need them.
"""

import dataclasses
import io
import os
import pathlib
import shutil
import subprocess
import tempfile
import zipfile

import numpy as np

SAMPLE_RATE = 16000  # Hz. Must stay 16 kHz for the FLUID_BLOCK_MS compensation.
FRAME_RATE = 100  # Ground-truth frames per second.
FLUIDR3 = '/usr/share/sounds/sf2/FluidR3_GM.sf2'

# MIDI timing: 1 tick = 1 ms (500 ticks per beat at 120 bpm), so event times are exact in ms.
TICKS_PER_BEAT = 500
MIDI_TEMPO = 500000  # microseconds per beat.
# FluidSynth renders in blocks of 64 samples (4 ms at 16 kHz) and applies a MIDI event at the
# start of the second block boundary after its time: an event at a multiple of 4 ms sounds
# exactly 4 ms later (measured: a note-on at 300 ms starts at sample 4864 = 304 ms). So notes
# sit on the 4 ms grid and every event is written 4 ms early: it then sounds on time (note-ons,
# note-offs and CC11 exactly; the 10 ms bend steps within 2 ms).
FLUID_BLOCK_MS = 4
BEND_UNITS_PER_SEMITONE = 4096  # With the bend range set to +-2 semitones.
SF2_GEN_RELEASE_VOL_ENV = 38  # SF2 generator number of the volume envelope's release.
ONSET_EXCLUDE_S = 0.05  # Ground-truth `mask` starts this long after each note-on.
APT_PACKAGES = 'fluidsynth fluid-soundfont-gm musescore-general-soundfont'


# ----------------------------------------------------------------------------------------------
# Melody from the music21 corpus.
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tune:
    """A monophonic tune as written.

    notes: ((offset_quarters, duration_quarters, midi_pitch), ...) sorted by offset.
    title: the first T: line.
    bar_starts: offsets (quarters) at which bars begin, ascending.
    bar_quarters: length of a full bar (quarters) from the first time signature (4.0 if none).
    compound: True for 6/8, 9/8, 12/8 ... (the beat is a dotted quarter).
    """

    notes: tuple
    title: str
    bar_starts: tuple
    bar_quarters: float
    compound: bool


def load_tune(corpus_path, number=None):
    """The tune `number` (ABC X: field; None for a one-tune file) of a music21 corpus file.

    Grace notes are dropped; chords (rare in these collections) keep their top note. Two things
    music21's ABC reader leaves to the caller are done here: an accidental written in a bar holds
    for the same note (letter and octave) until the bar ends, as ABC specifies; and a tie joins
    two notes only where the pitch is the same (some transcribers write '-' between different
    pitches as a slur: those stay two notes). Repeats are not expanded.
    """
    from music21 import corpus

    kwargs = {} if number is None else {'number': number}
    score = corpus.parse(corpus_path, **kwargs)
    title = score.metadata.title if score.metadata is not None else ''
    part = score.parts[0] if score.parts else score
    measures = list(part.getElementsByClass('Measure')) or [part]
    notes = []  # [offset, duration, midi, tied_to_next]
    bar_starts = []
    for measure in measures:
        carried = {}  # (step, octave) -> alteration written earlier in this bar.
        base = measure.getOffsetInHierarchy(score) if measure is not part else 0.0
        bar_starts.append(float(base))
        elements = sorted(measure.recurse().notes, key=lambda e: e.getOffsetInHierarchy(measure))
        for element in elements:
            duration = float(element.quarterLength)
            if duration <= 0 or element.duration.isGrace:
                continue
            pitch = max(element.pitches, key=lambda p: p.ps)
            key = (pitch.step, pitch.octave)
            accidental = pitch.accidental
            if accidental is not None and accidental.displayStatus is True:  # Written here.
                carried[key] = accidental.alter
                midi = pitch.ps
            elif key in carried:
                midi = pitch.ps - (accidental.alter if accidental is not None else 0.0)
                midi += carried[key]
            else:
                midi = pitch.ps
            midi = int(round(midi))
            offset = base + float(element.getOffsetInHierarchy(measure))
            tied = element.tie is not None and element.tie.type in ('start', 'continue')
            if (
                notes
                and notes[-1][3]
                and abs(notes[-1][0] + notes[-1][1] - offset) < 1e-6
                and notes[-1][2] == midi
            ):
                notes[-1][1] += duration
                notes[-1][3] = tied
            else:
                notes.append([offset, duration, midi, tied])
    notes.sort()
    signatures = list(part.recurse().getElementsByClass('TimeSignature'))
    if signatures:
        bar_quarters = float(signatures[0].barDuration.quarterLength)
        compound = signatures[0].numerator in (6, 9, 12) and signatures[0].denominator == 8
    else:
        bar_quarters, compound = 4.0, False
    return Tune(
        notes=tuple((o, d, p) for o, d, p, _ in notes),
        title=str(title or ''),
        bar_starts=tuple(sorted(set(bar_starts))),
        bar_quarters=bar_quarters,
        compound=bool(compound),
    )


def load_melody(corpus_path, number=None):
    """([(offset_quarters, duration_quarters, midi_pitch)], title): `load_tune` without bars."""
    tune = load_tune(corpus_path, number)
    return list(tune.notes), tune.title


def on_grid(seconds):
    """Rounds a time (s) to FluidSynth's block grid (whole multiples of FLUID_BLOCK_MS)."""
    return FLUID_BLOCK_MS * int(round(seconds * 1000 / FLUID_BLOCK_MS)) / 1000.0


# ----------------------------------------------------------------------------------------------
# MIDI file and rendering.
# ----------------------------------------------------------------------------------------------


def write_midi(
    path, program, events, velocities, bend_cents_ms, expression_ms, release_timecents=0
):
    """One-track MIDI file on channel 0; returns the bend values sent, per 10 ms step.

    Args:
        path: where to write the .mid file.
        program: General MIDI program, 0-based.
        events: [(onset_s, offset_s, midi_pitch)] on the FLUID_BLOCK_MS grid, not overlapping.
        velocities: note-on velocity per event (1-127).
        bend_cents_ms: float [n_ms] vibrato curve in cents; 0 at note-ons and in the last 40 ms
            before every note-off (bend applies to the whole channel).
        expression_ms: int [n_ms] CC11 value (0-127) in effect at each ms.
        release_timecents: added to the soundfont's volume-envelope release time (SF2
            timecents: +1200 doubles it), by an SF2.01 NRPN at the start; 0 sends nothing.
    """
    import mido

    n_ms = len(bend_cents_ms)
    timed = []  # (ms, order, message): order keeps same-time events in a sensible sequence.
    ch = 0
    setup = [
        mido.Message('program_change', channel=ch, program=program),
        # RPN 0 (pitch-bend sensitivity) = 2 semitones, 0 cents; then the null RPN.
        mido.Message('control_change', channel=ch, control=101, value=0),
        mido.Message('control_change', channel=ch, control=100, value=0),
        mido.Message('control_change', channel=ch, control=6, value=2),
        mido.Message('control_change', channel=ch, control=38, value=0),
        mido.Message('control_change', channel=ch, control=101, value=127),
        mido.Message('control_change', channel=ch, control=100, value=127),
        mido.Message('control_change', channel=ch, control=7, value=127),  # Channel volume.
        mido.Message('control_change', channel=ch, control=10, value=64),  # Pan centre.
        mido.Message('control_change', channel=ch, control=91, value=0),  # Reverb send.
        mido.Message('control_change', channel=ch, control=93, value=0),  # Chorus send.
        mido.Message('pitchwheel', channel=ch, pitch=0),
    ]
    if release_timecents:
        setup += release_nrpn(ch, release_timecents)
    for i, msg in enumerate(setup):
        timed.append((0, i, msg))
    # Expression: sent whenever the integer value changes.
    previous = None
    for ms in range(n_ms):
        value = int(expression_ms[ms])
        if value != previous:
            timed.append(
                (ms, 50, mido.Message('control_change', channel=ch, control=11, value=value))
            )
            previous = value
    # Bend: every 10 ms, the curve at the middle of the step; only when the value changes.
    step_ms = 1000 // FRAME_RATE
    sent = np.zeros(-(-n_ms // step_ms), dtype=np.int32)
    previous = 0
    for k in range(len(sent)):
        mid = min(k * step_ms + step_ms // 2, n_ms - 1)
        units = int(round(bend_cents_ms[mid] / 100.0 * BEND_UNITS_PER_SEMITONE))
        units = max(-8192, min(8191, units))
        sent[k] = units
        if units != previous:
            timed.append((k * step_ms, 60, mido.Message('pitchwheel', channel=ch, pitch=units)))
            previous = units
    for (onset, offset, pitch), velocity in zip(events, velocities):
        timed.append(
            (
                int(round(onset * 1000)),
                70,
                mido.Message('note_on', channel=ch, note=pitch, velocity=velocity),
            )
        )
        timed.append(
            (
                int(round(offset * 1000)),
                40,
                mido.Message('note_off', channel=ch, note=pitch, velocity=0),
            )
        )
    # A last harmless event keeps the player (and so the render) running to the clip's end.
    timed.append(
        (
            n_ms,
            90,
            mido.Message('control_change', channel=ch, control=11, value=int(expression_ms[-1])),
        )
    )
    timed.sort(key=lambda item: (item[0], item[1]))

    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage('set_tempo', tempo=MIDI_TEMPO, time=0))
    now = 0
    for ms, _, msg in timed:
        ms = max(0, ms - FLUID_BLOCK_MS)  # Sounds FLUID_BLOCK_MS later: see FLUID_BLOCK_MS.
        track.append(msg.copy(time=ms - now))
        now = ms
    track.append(mido.MetaMessage('end_of_track', time=0))
    midi.save(str(path))
    check_bend_released(sent, events, step_ms)
    return sent


def release_nrpn(channel, timecents):
    """MIDI messages that add `timecents` to the volume-envelope release of the channel's notes.

    SF2.01 section 9.6: NRPN MSB 120 selects the SoundFont generators, LSB the generator
    (38, releaseVolEnv); the 14-bit data entry is 8192 plus the offset in the generator's
    units divided by 2 for this generator. FluidSynth applies the offset when the data-entry
    MSB (CC6) arrives, so the LSB (CC38) goes first. The null NRPN ends the selection.
    """
    import mido

    value = 8192 + int(round(timecents / 2))
    if not 0 <= value < 16384:
        raise ValueError(f'release offset: expected -16384..16382 timecents, got {timecents}')
    controls = [(99, 120), (98, SF2_GEN_RELEASE_VOL_ENV), (38, value & 127), (6, value >> 7)]
    controls += [(99, 127), (98, 127)]
    return [
        mido.Message('control_change', channel=channel, control=c, value=v) for c, v in controls
    ]


def check_bend_released(sent, events, step_ms):
    """Raises unless the bend is 0 at every note-on and for the last 40 ms before its note-off."""
    for onset, offset, _ in events:
        on_ms, off_ms = int(round(onset * 1000)), int(round(offset * 1000))
        steps = [
            k for k in range(len(sent)) if k * step_ms < off_ms and (k + 1) * step_ms > off_ms - 40
        ]
        steps.append(on_ms // step_ms)
        if any(sent[k] != 0 for k in steps):
            raise AssertionError(f'bend not at 0 around the note {onset}-{offset} s')


def find_fluidsynth():
    """Path of the fluidsynth executable; RuntimeError with the apt-get line if missing."""
    fluidsynth = shutil.which('fluidsynth')
    if fluidsynth is None:
        raise RuntimeError(
            f'fluidsynth not found: apt-get install -y --no-install-recommends {APT_PACKAGES}'
        )
    return fluidsynth


def render_midi(midi_path, n_samples, soundfont=FLUIDR3):
    """Mono float64 [n_samples]: FluidSynth, reverb and chorus off, float output at SAMPLE_RATE.

    The stereo output is averaged to mono, then cut or zero-padded to n_samples.
    """
    import soundfile as sf

    fluidsynth = find_fluidsynth()
    if not os.path.exists(soundfont):
        raise RuntimeError(
            f'{soundfont} not found: apt-get install -y --no-install-recommends {APT_PACKAGES}'
        )
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, 'out.wav')
        command = [fluidsynth, '-ni', '-q', '-R', '0', '-C', '0', '-g', '1.0']
        command += ['-r', str(SAMPLE_RATE), '-O', 'float', '-F', wav, soundfont, str(midi_path)]
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        audio, sample_rate = sf.read(wav, dtype='float64', always_2d=True)
    if sample_rate != SAMPLE_RATE:
        raise RuntimeError(f'fluidsynth wrote {sample_rate} Hz, expected {SAMPLE_RATE}.')
    audio = audio.mean(axis=1)
    if len(audio) < n_samples:
        audio = np.pad(audio, (0, n_samples - len(audio)))
    return audio[:n_samples]


# ----------------------------------------------------------------------------------------------
# Ground truth and files.
# ----------------------------------------------------------------------------------------------


def ground_truth(events, velocities, bend_cents_ms, expression_ms, n_samples):
    """Per-frame arrays at FRAME_RATE; frame t at t / FRAME_RATE s; T = n_samples // hop + 1.

    Returns a dict: f0_hz (note pitch plus bend while a note is held, 0 elsewhere), mask (from
    ONSET_EXCLUDE_S after each note-on up to its note-off), held (note-on <= t < note-off),
    bend_cents, expression (CC11 0-127), velocity.
    """
    hop = SAMPLE_RATE // FRAME_RATE
    n_frames = n_samples // hop + 1
    times = np.arange(n_frames) / FRAME_RATE
    ms = np.minimum(np.round(times * 1000).astype(int), len(bend_cents_ms) - 1)
    bend = bend_cents_ms[ms]
    f0 = np.zeros(n_frames)
    mask = np.zeros(n_frames, bool)
    held = np.zeros(n_frames, bool)
    velocity = np.zeros(n_frames, np.int16)
    eps = 1e-9
    for (onset, offset, pitch), vel in zip(events, velocities):
        note = (times >= onset - eps) & (times < offset - eps)
        inside = (times >= onset + ONSET_EXCLUDE_S - eps) & (times < offset - eps)
        held |= note
        mask |= inside
        velocity[note] = vel
        f0[note] = 440.0 * 2.0 ** ((pitch + bend[note] / 100.0 - 69) / 12)
    return dict(
        f0_hz=f0.astype(np.float32),
        mask=mask,
        held=held,
        bend_cents=np.where(held, bend, 0).astype(np.float32),
        expression=expression_ms[ms].astype(np.float32),
        velocity=velocity,
    )


def to_pcm16(audio):
    """Deterministic float -> int16 (round half to even, no dither)."""
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def write_npz(path, arrays):
    """Like np.savez_compressed, but byte-identical across runs (fixed zip timestamps).

    `path` is a file name or a writable binary file object.
    """
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f'{key}.npy', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, 'w') as f:
                np.lib.format.write_array(f, np.asanyarray(arrays[key]), allow_pickle=False)


def npz_bytes(arrays):
    """The bytes `write_npz` writes for `arrays`."""
    buffer = io.BytesIO()
    write_npz(buffer, arrays)
    return buffer.getvalue()


def flac_bytes(pcm16):
    """16-bit mono FLAC at SAMPLE_RATE of an int16 [n] array, as bytes (deterministic)."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, pcm16, SAMPLE_RATE, format='FLAC', subtype='PCM_16')
    return buffer.getvalue()


def write_if_changed(path, data):
    """Writes `data` (bytes) to `path` whole (temp file + os.replace) unless it already holds
    exactly these bytes. Returns True if the file was written."""
    path = pathlib.Path(path)
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode.
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True
