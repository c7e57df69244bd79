"""The sung melody of data/voice/: a tune sung by Festival's singing mode, with ground truth.

    apt-get install -y --no-install-recommends festival festvox-kallpc16k
    .venv/bin/python -m recipes.instruments.sing [--out_dir data/voice] [--check]

The tune is recipe.json's `sung` entry (O'Neill's no. 188, *Londonderry Love Song*: the
Londonderry Air), its opening phrase (pickup and four bars, 22 notes), an octave down (E3-E4,
MIDI 52-64: a baritone's comfortable range) at 66 quarter notes a minute, one "la" per note. It
is kept out of every instrument's training data (recipes/instruments/tunes.py).

Festival (voice kal_diphone, 16 kHz) is run with a small Scheme script that synthesises the
SINGING XML (`tts_file ... 'singing`, what `text2wave -mode singing` does) and also saves the
utterance's segment times, so that the ground truth uses Festival's own syllable timing (it
sings each syllable about 15 % shorter than the score says and puts the rests in between).
Festival names notes an octave high (its "A5" is 440 Hz): MIDI note m is written as its name
plus m // 12.

Files: <name>.flac (16-bit mono 16 kHz, 0.3 s of silence before and 0.5 s after,
peak-normalised to -1 dBFS) and <name>.npz at 100 frames/s (frame t at t / 100 s):
    f0_hz     float32 [T]  Festival's f0 targets: the note's pitch from 10 % into each syllable
                           to 10 % before its end, straight-line glides (in Hz) between adjacent
                           syllables, 0 in rests and silence.
    mask      bool    [T]  frames on a note's steady pitch, 30 ms in from both ends.
    notes     float64 [N, 4]  (onset_s, offset_s, midi_pitch, 0) per sung syllable.
    frame_rate, sample_rate, n_samples, gain, tempo_qpm, transpose, and strings title, corpus,
    number, voice.
`--check` runs CREPE (full) and prints the share of frames within 50 cents of the notes.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from recipes.instruments import midi_render, tunes

NAME = 'londonderry_air_sung'
END_QUARTER = 15.5  # The opening phrase: notes starting before this offset.
TEMPO_QPM = 66.0
TRANSPOSE = -12
SYLLABLE = 'la'
VOICE = 'kal_diphone'
LEAD_S, TAIL_S = 0.3, 0.5
PEAK = 10 ** (-1 / 20)
FRAME_RATE = 100
_NAMES = ['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B']
_SCRIPT = """
(voice_{voice})
(set! sung_count 0)
(define (sung_keep utt)
  (set! sung_count (+ 1 sung_count))
  (utt.save.segs utt (format nil "{tmp}/segs_%d.txt" sung_count))
  (utt.save.wave utt (format nil "{tmp}/wave_%d.wav" sung_count) 'riff)
  utt)
(set! tts_hooks (list utt.synth sung_keep))
(tts_file "{tmp}/song.xml" 'singing)
"""


def festival_note(midi):
    """Festival's name for MIDI note `midi` (its octave numbers are one higher: A5 = 440 Hz)."""
    return f'{_NAMES[midi % 12]}{midi // 12}'


def song_xml(notes, tempo_qpm):
    """SINGING XML: one DURATION/PITCH per note (BEATS in quarters), REST for the gaps."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
        f'<SINGING BPM="{tempo_qpm:g}">',
    ]
    for i, (offset, duration, midi) in enumerate(notes):
        if i and offset > notes[i - 1][0] + notes[i - 1][1] + 1e-6:
            rest = offset - notes[i - 1][0] - notes[i - 1][1]
            lines.append(f'<REST BEATS="{rest:g}"></REST>')
        lines.append(
            f'<DURATION BEATS="{duration:g}"><PITCH NOTE="{festival_note(midi)}">'
            f'{SYLLABLE}</PITCH></DURATION>'
        )
    lines.append('</SINGING>')
    return '\n'.join(lines) + '\n'


def syllable_spans(segs_text):
    """[(start_s, end_s)] of each sung syllable (a consonant-vowel pair) from utt.save.segs."""
    segments, start = [], 0.0
    for line in segs_text.splitlines():
        parts = line.split()
        if len(parts) != 3 or line.startswith('#'):
            continue
        end, name = float(parts[0]), parts[2]
        segments.append((start, end, name))
        start = end
    spans, current = [], None
    for s, e, name in segments:
        if name == 'pau':
            if current:
                spans.append(tuple(current))
            current = None
        elif name == SYLLABLE[0]:  # The consonant opens a syllable.
            if current:
                spans.append(tuple(current))
            current = [s, e]
        elif current is not None:
            current[1] = e
    if current:
        spans.append(tuple(current))
    return spans


def synthesize(notes, tempo_qpm):
    """(audio float64 at 16 kHz, [(start_s, end_s)] per note) from Festival."""
    import soundfile as sf

    festival = shutil.which('festival')
    if festival is None:
        raise RuntimeError(
            'festival not found: apt-get install -y --no-install-recommends '
            'festival festvox-kallpc16k'
        )
    with tempfile.TemporaryDirectory() as tmp:
        pathlib.Path(tmp, 'song.xml').write_text(song_xml(notes, tempo_qpm))
        script = pathlib.Path(tmp, 'sing.scm')
        script.write_text(_SCRIPT.format(voice=VOICE, tmp=tmp))
        subprocess.run(
            [festival, '--batch', str(script)],
            check=True,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        if os.path.exists(os.path.join(tmp, 'wave_2.wav')):
            raise RuntimeError('Festival split the song into several utterances')
        audio, rate = sf.read(os.path.join(tmp, 'wave_1.wav'), dtype='float64')
        spans = syllable_spans(pathlib.Path(tmp, 'segs_1.txt').read_text())
    if rate != midi_render.SAMPLE_RATE:
        raise RuntimeError(f'Festival wrote {rate} Hz; expected {midi_render.SAMPLE_RATE}')
    if len(spans) != len(notes):
        raise RuntimeError(f'{len(spans)} syllables sung for {len(notes)} notes')
    return audio, spans


def ground_truth(spans, pitches, n_samples):
    """f0_hz and mask at FRAME_RATE (see the module doc)."""
    n_frames = n_samples // (midi_render.SAMPLE_RATE // FRAME_RATE) + 1
    times = np.arange(n_frames) / FRAME_RATE
    knots_t, knots_f = [], []
    mask = np.zeros(n_frames, bool)
    f0 = np.zeros(n_frames)
    for i, ((start, end), midi) in enumerate(zip(spans, pitches)):
        hz = 440.0 * 2 ** ((midi - 69) / 12)
        a, b = start + 0.1 * (end - start), end - 0.1 * (end - start)
        joined = i and abs(spans[i - 1][1] - start) < 1e-6  # No rest before this syllable.
        if not joined and knots_t:  # A rest: close the previous run.
            inside = (times >= knots_t[0]) & (times <= knots_t[-1])
            f0[inside] = np.interp(times[inside], knots_t, knots_f)
            knots_t, knots_f = [], []
        knots_t += [a, b]
        knots_f += [hz, hz]
        mask |= (times >= a + 0.03) & (times <= b - 0.03)
    if knots_t:
        inside = (times >= knots_t[0]) & (times <= knots_t[-1])
        f0[inside] = np.interp(times[inside], knots_t, knots_f)
    return f0.astype(np.float32), mask


def render(out_dir):
    """Writes <out_dir>/<NAME>.flac and .npz; returns their paths."""
    sung = tunes.load_recipe()['sung']
    tune = midi_render.load_tune(sung['corpus'], sung['number'])
    notes = [(o, d, p + TRANSPOSE) for o, d, p in tune.notes if o < END_QUARTER - 1e-6]
    audio, spans = synthesize(notes, TEMPO_QPM)
    sr = midi_render.SAMPLE_RATE
    lead = np.zeros(int(LEAD_S * sr))
    audio = np.concatenate([lead, audio, np.zeros(int(TAIL_S * sr))])
    spans = [(s + LEAD_S, e + LEAD_S) for s, e in spans]
    gain = PEAK / float(np.max(np.abs(audio)))
    pcm = midi_render.to_pcm16(audio * gain)
    f0, mask = ground_truth(spans, [p for *_, p in notes], len(pcm))
    arrays = dict(
        f0_hz=f0,
        mask=mask,
        notes=np.array([(s, e, p, 0) for (s, e), (*_, p) in zip(spans, notes)], np.float64),
        frame_rate=np.int32(FRAME_RATE),
        sample_rate=np.int32(sr),
        n_samples=np.int64(len(pcm)),
        gain=np.float64(gain),
        tempo_qpm=np.float64(TEMPO_QPM),
        transpose=np.int32(TRANSPOSE),
        title=np.str_(tune.title),
        corpus=np.str_(sung['corpus']),
        number=np.str_(str(sung['number'])),
        voice=np.str_(VOICE),
    )
    out_dir = pathlib.Path(out_dir)
    flac, npz = out_dir / f'{NAME}.flac', out_dir / f'{NAME}.npz'
    midi_render.write_if_changed(flac, midi_render.flac_bytes(pcm))
    midi_render.write_if_changed(npz, midi_render.npz_bytes(arrays))
    return flac, npz


def check(flac, npz, capacity='full'):
    """CREPE against the notes: (% of mask frames within 50 cents, % of CREPE-voiced frames
    (confidence >= 0.5) on notes within 50 cents, median |error| in cents)."""
    import soundfile as sf

    from ddsp.crepe.pitch import compute_f0

    audio, _ = sf.read(flac, dtype='float32')
    with np.load(npz) as truth:
        f0_true, mask = truth['f0_hz'], truth['mask']
    f0, confidence = compute_f0(audio, FRAME_RATE, model_capacity=capacity)
    n = min(len(f0), len(f0_true))
    cents = np.abs(1200 * np.log2(np.maximum(f0[:n], 1) / np.maximum(f0_true[:n], 1)))
    voiced = (confidence[:n] >= 0.5) & (f0_true[:n] > 0)
    return (
        100 * float(np.mean(cents[mask[:n]] < 50)),
        100 * float(np.mean(cents[voiced] < 50)),
        float(np.median(cents[mask[:n]])),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out_dir', default='data/voice')
    parser.add_argument('--check', action='store_true', help='Also score CREPE (full).')
    args = parser.parse_args(argv)
    flac, npz = render(args.out_dir)
    print(f'{flac}: {os.path.getsize(flac)} bytes; {npz}: {os.path.getsize(npz)} bytes')
    if args.check:
        on_notes, voiced, median = check(flac, npz)
        print(
            f'CREPE full: {on_notes:.1f} % of note frames and {voiced:.1f} % of voiced note '
            f'frames within 50 cents; median error {median:.1f} cents'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
