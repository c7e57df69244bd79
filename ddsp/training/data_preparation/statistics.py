"""Dataset statistics for timbre transfer (pitch and loudness ranges and quantiles), as JSON.

`ddsp_prepare_tfrecord` computes them inside its Beam pipeline with `StatisticsCombineFn` and
writes `<dir>/statistics.<base>.json` next to the shards `<dir>/<base>-*` (with an eval split
`statistics.<base>-train.json` and `statistics.<base>-eval.json`; `outputs.side_file_path` makes
the names). The fields follow the original's `compute_dataset_statistics`: for each of `pitch`,
`loudness`, `pitch_note` and `loudness_note` (the `_note` variants restricted to note-on frames,
found with `detect_notes`; an example without notes contributes all its frames) the keys
`mean_`, `max_`, `min_`, `mean_max_`, `mean_min_` and `std_`, plus `quantiles` (101 values, the
0th..100th percentiles, from 0.01-MIDI / 0.01-dB histograms). Power statistics are not computed.
Instead of a pickled `QuantileTransformer`, `loudness_note.quantiles` carries the quantiles that
timbre transfer histogram-matches against (`postprocessing.QuantileTransformer.from_quantiles`
turns them into a fitted transformer).

The JSON never holds NaN or Infinity (`to_json` refuses them): non-finite frame values are left
out of the statistics, and a quantity with no frames at all (an empty split) is `null`, the only
place a value is undefined. `load_dataset_statistics` rejects NaN, Infinity, truncated and
non-JSON files with a one-line error naming the file; it reads the original's
`dataset_statistics.pkl` only with `allow_pickle=True`, because unpickling runs code from the
file.
"""

import json
import os

import numpy as np

from ddsp import validation
from ddsp.core import hz_to_midi  # Hz -> MIDI, 0 for f0 <= 0 (kept importable from here).

# Histogram ranges and resolutions (values outside are clipped into the end bins).
PITCH_RANGE = (0.0, 128.0)
PITCH_BIN = 0.01
LOUDNESS_RANGE = (-120.0, 20.0)
LOUDNESS_BIN = 0.01
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)
STAT_NAMES = ('pitch', 'loudness', 'pitch_note', 'loudness_note')


def smooth(x, filter_size=3):
    """Box filter of `filter_size` frames along the last axis of a 1-D `[time]` or 2-D
    `[batch, time]` array; same shape, zero-padded edges.

    The window of output frame `i` is `x[i - (filter_size - 1) // 2 : i + filter_size // 2 + 1]`
    (divided by `filter_size` also where it runs past an edge): the alignment of the original's
    `tf.nn.conv1d(..., padding='SAME')`, for odd and even sizes. NumPy, float64.
    """
    x = np.asarray(x, np.float64)
    if x.ndim not in (1, 2):
        validation.fail('smooth', 'x.shape', 'a 1-D [time] or 2-D [batch, time] shape', x.shape)
    filter_size = validation.check_int('smooth', 'filter_size', filter_size)
    if filter_size == 1 or x.size == 0:
        return x.copy()
    kernel = np.ones(filter_size) / float(filter_size)
    # The 'full' convolution's entry n sums x[n - filter_size + 1 .. n]; starting at
    # filter_size // 2 centres the window as 'SAME' padding does (and keeps the length of inputs
    # shorter than the filter, where np.convolve's 'same' would not).
    start = filter_size // 2
    n = x.shape[-1]

    rows = x.reshape(-1, n)
    out = np.empty(rows.shape)
    for i, row in enumerate(rows):
        out[i] = np.convolve(row, kernel, mode='full')[start : start + n]
    return out.reshape(x.shape)


def _time_last(name, x, owner):
    """`x` as float64 with time on the last axis: [time], [batch, time] or [batch, time, 1]."""
    x = np.asarray(x, np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (1, 2):
        validation.fail(
            owner, f'{name}.shape', 'a [time], [batch, time] or [batch, time, 1] shape', x.shape
        )
    return x


def detect_notes(
    loudness_db,
    f0_confidence,
    note_threshold=1.0,
    exponent=2.0,
    smoothing=40,
    f0_confidence_threshold=0.7,
    min_db=-80.0,
):
    """Note-on frames, from loudness and pitch confidence (the original's heuristic).

    The score of a frame is the pitch confidence raised to `exponent`, smoothed over
    `smoothing` frames, times the loudness above `min_db`; it is divided by the score of a frame
    at the mean loudness with confidence `f0_confidence_threshold` (the mean is taken over all
    frames, of the whole batch). Frames whose ratio reaches `note_threshold` are on.

    Args:
        loudness_db: loudness in dB, `[time]`, `[batch, time]` or `[batch, time, 1]`.
        f0_confidence: pitch confidence in [0, 1], same shape.
        note_threshold: ratio at which a frame counts as a note (higher: fewer notes).
        exponent: power applied to the confidence.
        smoothing: box filter length, in frames, for the confidence.
        f0_confidence_threshold: the confidence of the reference frame.
        min_db: loudness of silence; quieter frames give negative scores.

    Returns:
        `(mask_on, note_on_ratio)`: a boolean array and the float64 ratios, in the shape of
        `loudness_db` (a trailing axis of size 1 kept). If the mean loudness is at or below
        `min_db` (silence) no frame is on and the ratios are 0.
    """
    owner = 'detect_notes'
    shape = np.shape(loudness_db)
    loudness = _time_last('loudness_db', loudness_db, owner)
    conf = _time_last('f0_confidence', f0_confidence, owner)
    if conf.shape != loudness.shape:
        validation.fail(
            owner,
            'f0_confidence.shape',
            f'the shape of loudness_db, {tuple(shape)} (one confidence per loudness frame)',
            np.shape(f0_confidence),
        )
    score = smooth(conf**exponent, smoothing) * (loudness - min_db)
    thresh = 0.0
    if loudness.size:
        thresh = (np.mean(loudness) - min_db) * f0_confidence_threshold**exponent
    ratio = score / thresh if thresh > 0 else np.zeros_like(score)
    ratio = ratio.reshape(shape)
    return ratio >= note_threshold, ratio


class _Accumulator:
    """Histogram plus moments of one quantity."""

    def __init__(self, lo, hi, width):
        self.lo, self.width = lo, width
        self.hist = np.zeros(int(round((hi - lo) / width)), np.int64)
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.min = np.inf
        self.max = -np.inf
        self.sum_of_max = 0.0
        self.sum_of_min = 0.0
        self.n_examples = 0

    def add(self, values):
        values = np.asarray(values, np.float64).ravel()
        values = values[np.isfinite(values)]  # A non-finite frame has no value to count.
        if values.size == 0:
            return
        idx = np.clip(((values - self.lo) / self.width).astype(np.int64), 0, len(self.hist) - 1)
        self.hist += np.bincount(idx, minlength=len(self.hist))
        self.n += values.size
        self.total += float(values.sum())
        self.total_sq += float(np.square(values).sum())
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        self.sum_of_max += float(values.max())
        self.sum_of_min += float(values.min())
        self.n_examples += 1

    def merge(self, other):
        self.hist += other.hist
        self.n += other.n
        self.total += other.total
        self.total_sq += other.total_sq
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sum_of_max += other.sum_of_max
        self.sum_of_min += other.sum_of_min
        self.n_examples += other.n_examples

    def result(self):
        """The statistics, or None (written as JSON null) when no frame was added."""
        if self.n == 0:
            return None
        mean = self.total / self.n
        var = max(self.total_sq / self.n - mean * mean, 0.0)
        cdf = np.cumsum(self.hist) / self.n
        # Quantile q: centre of the first bin whose cumulative share reaches q, clipped to the
        # exact observed range.
        idx = np.searchsorted(cdf, np.clip(QUANTILE_LEVELS, 1e-12, 1.0))
        idx = np.minimum(idx, len(self.hist) - 1)
        quantiles = np.clip(self.lo + (idx + 0.5) * self.width, self.min, self.max)
        quantiles[0], quantiles[-1] = self.min, self.max
        return {
            'mean_': mean,
            'max_': self.max,
            'min_': self.min,
            'mean_max_': self.sum_of_max / self.n_examples,
            'mean_min_': self.sum_of_min / self.n_examples,
            'std_': float(np.sqrt(var)),
            'n_frames': int(self.n),
            'quantiles': [round(float(q), 4) for q in quantiles],
        }


def new_accumulators():
    return {
        'pitch': _Accumulator(*PITCH_RANGE, PITCH_BIN),
        'loudness': _Accumulator(*LOUDNESS_RANGE, LOUDNESS_BIN),
        'pitch_note': _Accumulator(*PITCH_RANGE, PITCH_BIN),
        'loudness_note': _Accumulator(*LOUDNESS_RANGE, LOUDNESS_BIN),
    }


def add_example(accumulators, f0_hz, f0_confidence, loudness_db):
    """Adds one example's frames (all, and note-on) to the accumulators."""
    n = min(len(f0_hz), len(f0_confidence), len(loudness_db))
    if n == 0:
        return accumulators
    pitch = np.asarray(hz_to_midi(np.asarray(f0_hz)[:n]), np.float64)
    loudness = np.asarray(loudness_db, np.float64)[:n]
    mask, _ = detect_notes(loudness, np.asarray(f0_confidence)[:n])
    if not mask.any():
        mask = np.ones(n, bool)
    accumulators['pitch'].add(pitch)
    accumulators['loudness'].add(loudness)
    accumulators['pitch_note'].add(pitch[mask])
    accumulators['loudness_note'].add(loudness[mask])
    return accumulators


def finalize(accumulators, **extra):
    """The JSON-ready dict of statistics."""
    stats = {name: accumulators[name].result() for name in STAT_NAMES}
    stats['quantile_levels'] = [round(float(q), 4) for q in QUANTILE_LEVELS]
    stats['format'] = 'ddsp-dataset-statistics-v1'
    stats.update(extra)
    return stats


def to_json(stats):
    """`stats` as JSON text; raises ValueError on NaN or Infinity (which JSON does not allow)
    instead of writing them."""
    return json.dumps(stats, indent=1, allow_nan=False)


def compute_statistics(examples, **extra):
    """Statistics of an iterable of dicts with `f0_hz`, `f0_confidence`, `loudness_db`."""
    accumulators = new_accumulators()
    for ex in examples:
        add_example(accumulators, ex['f0_hz'], ex['f0_confidence'], ex['loudness_db'])
    return finalize(accumulators, **extra)


def statistics_combine_fn():
    """A `beam.CombineFn` over dicts with `f0_hz`, `f0_confidence`, `loudness_db`."""
    import apache_beam as beam  # Lazy: only the pipeline needs Beam.

    class StatisticsCombineFn(beam.CombineFn):
        def create_accumulator(self):
            return new_accumulators()

        def add_input(self, accumulators, ex):
            return add_example(accumulators, ex['f0_hz'], ex['f0_confidence'], ex['loudness_db'])

        def merge_accumulators(self, many):
            many = iter(many)
            merged = next(many)
            for other in many:
                for name in STAT_NAMES:
                    merged[name].merge(other[name])
            return merged

        def extract_output(self, accumulators):
            return finalize(accumulators)

    return StatisticsCombineFn()


def _reject_constant(name):
    raise ValueError(f'{name} (JSON has no NaN or Infinity)')


def _finite_float(text):
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f'{text} overflows to {value} (not a finite number)')
    return value


def _parse_statistics_json(text, path):
    owner = 'load_dataset_statistics'
    fix = 'regenerate it with ddsp_prepare_tfrecord'
    try:
        stats = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        what = 'truncated' if e.pos >= len(text.rstrip()) else 'not valid JSON'
        validation.fail(
            owner,
            'path',
            f'a complete JSON statistics file ({what}: {e.msg} at line {e.lineno} column '
            f'{e.colno}); {fix}',
            str(path),
        )
    except ValueError as e:
        validation.fail(
            owner, 'path', f'a statistics file of finite numbers (it holds {e}); {fix}', str(path)
        )
    if not isinstance(stats, dict):
        validation.fail(
            owner,
            'path',
            f'a JSON statistics file holding an object (it holds a {type(stats).__name__}); {fix}',
            str(path),
        )
    return stats


def load_dataset_statistics(path, allow_pickle=False):
    """Reads dataset statistics: this project's JSON, or the original's pickle if allowed.

    Args:
        path: a `.json` file written by `ddsp_prepare_tfrecord`
            (`outputs.side_file_path(prefix, 'statistics', split)`), or the original DDSP's
            `dataset_statistics.pkl`.
        allow_pickle: must be True to read a pickle. Unpickling can run arbitrary code from the
            file, so only do it for files you trust; the pickle also needs
            `ddsp.training.postprocessing.QuantileTransformer` to be importable.

    Returns:
        A dict of statistics (`null` values, None here, only for quantities without frames).
        From the original's pickle, `quantile_transform` is a
        `ddsp.training.postprocessing.QuantileTransformer` of this project.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: a truncated or non-JSON file, NaN or Infinity in it, or a pickle without
            `allow_pickle=True`; the message names the file.
    """
    import tensorflow as tf  # tf.io.gfile reads local and cloud paths.

    if not tf.io.gfile.exists(str(path)):
        raise FileNotFoundError(
            validation.message(
                'load_dataset_statistics',
                'path',
                'an existing statistics file (ddsp_prepare_tfrecord writes '
                '<dir>/statistics.<base>.json beside the records <dir>/<base>-*)',
                str(path),
            )
        )
    if str(path).endswith('.json'):
        with tf.io.gfile.GFile(path, 'rb') as f:
            data = f.read()
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            validation.fail(
                'load_dataset_statistics',
                'path',
                'a JSON statistics file (it is not UTF-8 text); regenerate it with '
                'ddsp_prepare_tfrecord',
                str(path),
            )
        return _parse_statistics_json(text, path)
    if not allow_pickle:
        validation.fail(
            'load_dataset_statistics',
            'allow_pickle',
            f'True to read {os.path.basename(str(path))}, which is not JSON: a pickle (the '
            "original DDSP's dataset_statistics.pkl) can execute arbitrary code stored in the "
            'file, so it needs an explicit allow_pickle=True; pass it only for files you trust, '
            'or regenerate the statistics as JSON with ddsp_prepare_tfrecord',
            allow_pickle,
        )
    import pickle

    with tf.io.gfile.GFile(path, 'rb') as f:
        return pickle.load(f)  # noqa: S301 -- explicitly allowed by the caller.
