"""Checks the rendered audio against its ground truth and prints a Markdown table.

    .venv/bin/python -m recipes.instruments.check --output build/instruments \
        [--instruments violin,flute] [--capacity tiny] [--splits train,eval]

Per instrument and split (train; eval per soundfont), over all its files:
    crepe_50c    % of ground-truth `mask` frames (inside notes, 50 ms after the onset) where CREPE
                 (`ddsp.spectral_ops.compute_f0`, 100 frames/s, Viterbi, `--capacity`) is within
                 50 cents of the MIDI + bend f0.
    median_err   median |CREPE - truth| over those frames (cents).
    vib_notes    % of notes of 0.5 s or more whose ground-truth bend has vibrato (peak >= 10 c).
    vib_rate, vib_depth  median vibrato rate (Hz, from zero crossings) and depth (cents, half the
                 peak-to-peak) of those notes, from the ground truth.
    vib_corr     correlation of CREPE's deviation from the note pitch with the ground-truth bend,
                 on frames where the bend exceeds 10 cents: the vibrato is in the audio too.
    peak_dbfs    highest sample (dBFS); clipped: samples at full scale.
    silence      % of 10 ms frames that are digital zero.
Writes <output>/check_<capacity>.json as well.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from recipes.instruments.midi_render import write_if_changed


def _vibrato_stats(truth):
    """Per note of 0.5 s or more: (has_vibrato, rate_hz, depth_cents) from the bend curve."""
    bend, frame_rate = truth['bend_cents'], int(truth['frame_rate'])
    stats = []
    for onset, offset, _, _ in truth['notes']:
        if offset - onset < 0.5:
            continue
        b = bend[int(np.ceil(onset * frame_rate)) : int(offset * frame_rate)]
        if b.size == 0 or np.max(np.abs(b)) < 10:
            stats.append((False, np.nan, np.nan))
            continue
        active = np.abs(b) > 0.25 * np.max(np.abs(b))
        span = np.flatnonzero(active)
        seg = b[span[0] : span[-1] + 1]
        crossings = np.flatnonzero(np.diff(np.signbit(seg)))
        rate = (
            (len(crossings) - 1) / 2 / ((crossings[-1] - crossings[0]) / frame_rate)
            if len(crossings) > 2
            else np.nan
        )
        stats.append((True, rate, 0.5 * (seg.max() - seg.min())))
    return stats


def check_files(flac_paths, capacity):
    """The table row (dict) for a list of rendered files."""
    import soundfile as sf

    from ddsp.crepe.pitch import compute_f0

    errors, devs, bends, vib, peaks, clipped, silent, frames = [], [], [], [], [], 0, 0, 0
    for path in flac_paths:
        pcm, _ = sf.read(path, dtype='int16')
        audio = pcm.astype(np.float32) / 32768.0
        with np.load(pathlib.Path(path).with_suffix('.npz')) as npz:
            truth = {k: npz[k] for k in npz.files}
        f0, _ = compute_f0(audio, 100, model_capacity=capacity)
        n = min(len(f0), len(truth['f0_hz']))
        mask = truth['mask'][:n]
        cents = 1200 * np.log2(np.maximum(f0[:n], 1.0) / np.maximum(truth['f0_hz'][:n], 1.0))
        errors.append(np.abs(cents[mask]))
        # Deviation of CREPE from the note pitch (without bend) against the bend.
        note_hz = truth['f0_hz'][:n] / 2 ** (truth['bend_cents'][:n] / 1200)
        dev = 1200 * np.log2(np.maximum(f0[:n], 1.0) / np.maximum(note_hz, 1.0))
        sel = mask & (np.abs(truth['bend_cents'][:n]) > 10) & (np.abs(cents) < 100)
        devs.append(dev[sel])
        bends.append(truth['bend_cents'][:n][sel])
        vib.extend(_vibrato_stats(truth))
        peaks.append(int(np.max(np.abs(pcm.astype(np.int32)))))
        clipped += int(np.sum((pcm == 32767) | (pcm == -32768)))
        hop = len(pcm) // 160
        blocks = np.abs(pcm[: hop * 160].reshape(hop, 160)).max(axis=1)
        silent += int(np.sum(blocks == 0))
        frames += hop
    errors = np.concatenate(errors)
    devs, bends = np.concatenate(devs), np.concatenate(bends)
    with_vibrato = [v for v in vib if v[0]]
    return dict(
        files=len(flac_paths),
        crepe_50c=round(100 * float(np.mean(errors < 50)), 2),
        median_err=round(float(np.median(errors)), 1),
        vib_notes=round(100 * len(with_vibrato) / max(len(vib), 1), 1),
        vib_rate=round(float(np.nanmedian([v[1] for v in with_vibrato])), 2),
        vib_depth=round(float(np.nanmedian([v[2] for v in with_vibrato])), 1),
        vib_corr=round(float(np.corrcoef(devs, bends)[0, 1]), 3) if len(devs) > 2 else None,
        peak_dbfs=round(20 * float(np.log10(max(peaks) / 32768.0)), 2),
        clipped=clipped,
        silence=round(100 * silent / max(frames, 1), 1),
    )


COLUMNS = [
    'instrument',
    'split',
    'files',
    'crepe_50c',
    'median_err',
    'vib_notes',
    'vib_rate',
    'vib_depth',
    'vib_corr',
    'peak_dbfs',
    'clipped',
    'silence',
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--output', default='build/instruments', help='What render wrote.')
    parser.add_argument('--instruments', default='', help='Comma-separated (default: all found).')
    parser.add_argument('--capacity', default='tiny', help='CREPE model capacity.')
    parser.add_argument('--splits', default='train,eval')
    args = parser.parse_args(argv)
    root = pathlib.Path(args.output)
    instruments = [i for i in args.instruments.split(',') if i] or sorted(
        p.name for p in root.iterdir() if p.is_dir()
    )
    rows = []
    print('| ' + ' | '.join(COLUMNS) + ' |\n|' + '---|' * len(COLUMNS), flush=True)
    for instrument in instruments:
        groups = []
        if 'train' in args.splits:
            groups.append(('train', root / instrument / 'train'))
        if 'eval' in args.splits:
            for d in sorted((root / instrument / 'eval').glob('*')):
                groups.append((f'eval/{d.name}', d))
        for label, directory in groups:
            files = sorted(directory.glob('*.flac'))
            if not files:
                continue
            t0 = time.perf_counter()
            row = dict(instrument=instrument, split=label, **check_files(files, args.capacity))
            row['seconds'] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print('| ' + ' | '.join(str(row[c]) for c in COLUMNS) + ' |', flush=True)
    out = root / f'check_{args.capacity}.json'
    write_if_changed(out, (json.dumps(rows, indent=1) + '\n').encode())
    return 0


if __name__ == '__main__':
    sys.exit(main())
