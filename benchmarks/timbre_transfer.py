"""The timbre-transfer stages on a 10 s clip: features, restore, prediction.

The original's timbre-transfer demo prints three times for a 9 s clip on a Colab GPU: 2.2 s to
extract features (CREPE full at 250 frames/s, loudness), 1.0 s to restore the model, 0.5 s to
predict. This script measures the same stages for the first 10 s of the shipped sung melody
(data/voice) with a pretrained instrument, on this machine's CPU:

    restore             `instrument.load_model(name)`: build from gin, restore the weights
    features full @250  the original's setting: CREPE full (Viterbi) and loudness at 250
                        frames/s (`metrics.compute_audio_features`), the reference below
    features <capacity> `Instrument.compute_features` with CREPE <capacity> (Viterbi) at the
                        model's frame rate (50 frames/s for the pretrained instruments); with
                        the f0 agreement against full @250 on the same instants where that is
                        confident (>= 0.85): median |difference| and % within 50 cents
    predict eager       `Instrument.resynthesize` of the 10 s, first call and later calls
    predict traced      the same through one `tf.function` (first call traces)

Each row is the median of `--repeats` runs (restore and first calls: one run each, in a fresh
state for restore only in the first). Run from the repository root:

    .venv/bin/python benchmarks/timbre_transfer.py [--model violin] [--repeats 3]
        [--seconds 10] [--capacities full,medium,small,tiny]
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.getcwd())  # The checkout under test, not an installed copy.

VOICE = os.path.join('data', 'voice', 'londonderry_air_sung.flac')
CLIP_SECONDS = 10.0
CAPACITIES = ('full', 'medium', 'small', 'tiny')


def _timed(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def _cents(f0):
    return 1200.0 * np.log2(np.maximum(np.asarray(f0, np.float64), 1e-6) / 440.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='violin')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=CLIP_SECONDS, help='Clip length.')
    parser.add_argument('--capacities', default=','.join(CAPACITIES), help='CREPE sizes.')
    args = parser.parse_args(argv)
    capacities = [c for c in args.capacities.split(',') if c]

    from ddsp import audio_io
    from ddsp.training import instrument, metrics

    audio, rate, _ = audio_io.read_audio(VOICE)
    clip = audio[: int(args.seconds * rate)]
    rows = []
    start = time.perf_counter()
    model = instrument.load_model(args.model)
    rows.append(('restore', time.perf_counter() - start, ''))
    clip_16k = audio_io.resample(clip, rate, 16000)
    reference_s, reference = _timed(
        lambda: metrics.compute_audio_features(clip_16k, frame_rate=250, model_capacity='full'),
        args.repeats,
    )
    rows.append(("features full @250 (the original's setting)", reference_s, ''))
    # Centred frames: frame k at the model's rate is at the instant of reference frame k * step.
    step = 250 // model.frame_rate
    full = None
    for capacity in capacities:
        features_s, features = _timed(
            lambda c=capacity: model.compute_features(clip, rate, crepe_model=c), args.repeats
        )
        full = full or features
        same = reference['f0_hz'][::step][: len(features['f0_hz'])]
        keep = reference['f0_confidence'][::step][: len(same)] >= 0.85
        diff = np.abs(_cents(features['f0_hz'][: len(same)]) - _cents(same))[keep]
        within = 100 * np.mean(diff < 50)
        note = f'vs full @250: median {np.median(diff):.1f} c, {within:.1f} % within 50 c'
        rows.append((f'features {capacity} @{model.frame_rate}', features_s, note))
    feats = {'f0_hz': full['f0_hz'], 'loudness_db': full['loudness_db']}
    for traced in (False, True):
        label = 'traced' if traced else 'eager'
        start = time.perf_counter()
        model.resynthesize(feats, traced=traced)
        rows.append((f'predict {label}, first call', time.perf_counter() - start, ''))
        later, _ = _timed(lambda t=traced: model.resynthesize(feats, traced=t), args.repeats)
        rows.append((f'predict {label}, later calls', later, ''))

    print(f'# Timbre-transfer stages, {args.seconds:g} s clip, model {args.model}')
    print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs')
    print('| stage | seconds | note |')
    print('|---|---|---|')
    for name, seconds, note in rows:
        print(f'| {name} | {seconds:.3f} | {note} |')
    return rows


if __name__ == '__main__':
    main()
