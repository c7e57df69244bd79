"""Post-processing for timbre transfer: dataset statistics, note detection, quantile loudness
matching, autotune, and the auto-adjust sequence that prepares a clip's features for a model.

The auto-adjust sequence (`adjust_features`), as the original's timbre-transfer notebook runs
it: detect notes (`detect_notes`), shift f0 by whole octaves toward the pitch the model was
trained on, map the note-on loudness onto the training loudness distribution
(`fit_quantile_transform`), turn note-off frames down by up to `quiet` dB, pull f0 toward a
tuned grid or major scale (`get_tuning_factor`, `auto_tune`), then apply the manual pitch shift
(octaves) and loudness shift (dB). Everything here is NumPy on one clip's frame-wise features.

`compute_dataset_statistics` computes the statistics these steps read from a data provider,
with the same accumulators as `ddsp_prepare_tfrecord`'s pipeline
(`ddsp.training.data_preparation.statistics`), as a JSON-ready dict.

`QuantileTransformer` (`ddsp.training.quantile_transform`, re-exported here) maps values
through their empirical distribution to a uniform or normal distribution and back. The original
DDSP pickled an instance inside `dataset_statistics.pkl` under the class path
`ddsp.training.postprocessing.QuantileTransformer`, which therefore stays importable: with
`load_dataset_statistics(path, allow_pickle=True)` such a pickle loads into this class. This
project itself writes statistics as JSON (`ddsp.training.data_preparation.statistics`);
`QuantileTransformer.from_quantiles` builds a transformer from the quantiles stored there.
"""

import json
import logging
import math
import os

import numpy as np

from ddsp import validation
from ddsp.core import hz_to_midi
from ddsp.training.data_preparation import statistics
from ddsp.training.data_preparation.statistics import detect_notes, smooth
from ddsp.training.quantile_transform import QuantileTransformer

__all__ = [
    'QuantileTransformer',
    'adjust_features',
    'auto_tune',
    'compute_dataset_statistics',
    'detect_notes',
    'fit_quantile_transform',
    'get_tuning_factor',
    'hz_to_midi',
    'smooth',
]


def fit_quantile_transform(loudness_db, mask_on, inv_quantile=None, n_quantiles=1000):
    """Fits a `QuantileTransformer` on the note-on loudness and optionally histogram-matches.

    Args:
        loudness_db: loudness in dB, any shape.
        mask_on: boolean mask of note-on frames, same shape.
        inv_quantile: optional fitted `QuantileTransformer` of the target (dataset) loudness.
        n_quantiles: quantiles of the new transformer.

    Returns:
        The fitted transformer, or with `inv_quantile` a pair `(transformer, loudness_matched)`
        (the original's order): the note-on loudness mapped through the new transformer and then
        `inv_quantile.inverse_transform`, note-off frames unchanged, in the shape of
        `loudness_db` (the original adds a trailing axis of size 1).
    """
    loudness_db = np.asarray(loudness_db, np.float64)
    mask_on = np.asarray(mask_on, bool)
    if not mask_on.any():
        validation.fail(
            'fit_quantile_transform',
            'mask_on.sum()',
            '>= 1 (at least one note-on frame)',
            int(mask_on.sum()),
        )
    on = loudness_db[mask_on][:, None]
    qt = QuantileTransformer(n_quantiles=n_quantiles).fit(on)
    if inv_quantile is None:
        return qt
    matched = loudness_db.copy()
    matched[mask_on] = inv_quantile.inverse_transform(qt.transform(on))[:, 0]
    return qt, matched


# ------------------------------------------------------------------ dataset statistics

_FEATURE_KEYS = ('f0_hz', 'f0_confidence', 'loudness_db')


def compute_dataset_statistics(
    data_provider, batch_size=1, file_path=None, power_frame_size=None, power_frame_rate=None
):
    """Pitch and loudness statistics of a dataset, for timbre transfer, as a JSON-ready dict.

    One pass over `data_provider.get_batch(batch_size, shuffle=False, repeats=1,
    drop_remainder=False)`, each example added with the accumulators `ddsp_prepare_tfrecord`
    uses (`statistics.add_example`: note detection per example, all frames of an example
    without notes), so the result has the fields and format of the pipeline's
    `statistics.<base>.json`, plus the provider's `sample_rate` and `frame_rate`. Examples
    that overlap (a hop shorter than the example) count their shared frames once each; the
    pipeline's own statistics count every frame of a file once.

    Args:
        data_provider: a `ddsp.training.data.DataProvider` whose examples have `f0_hz`,
            `f0_confidence` and `loudness_db`.
        batch_size: examples read at a time (the result does not depend on it).
        file_path: if given, the JSON is also written there (atomically: a killed run leaves
            no truncated file); `statistics.load_dataset_statistics` reads it back.
        power_frame_size, power_frame_rate: accepted for the original's signature; power
            statistics are not computed (a warning says so when one is given).

    Returns:
        The statistics dict (`pitch`, `loudness`, `pitch_note`, `loudness_note`, each with
        `mean_`, `max_`, `min_`, `mean_max_`, `mean_min_`, `std_`, `n_frames` and 101
        `quantiles`), the same as `json.loads` of the written file.

    Raises:
        ValueError: a provider without examples or without one of the three features.
    """
    owner = 'compute_dataset_statistics'
    batch_size = validation.check_int(owner, 'batch_size', batch_size)
    if power_frame_size is not None or power_frame_rate is not None:
        logging.warning(
            '%s: power statistics are not computed; power_frame_size and power_frame_rate '
            'are ignored.',
            owner,
        )
    dataset = data_provider.get_batch(batch_size, shuffle=False, repeats=1, drop_remainder=False)
    accumulators = statistics.new_accumulators()
    n_examples = 0
    for batch in dataset.as_numpy_iterator():
        missing = [key for key in _FEATURE_KEYS if key not in batch]
        if missing:
            validation.fail(
                owner,
                'data_provider',
                f'a provider whose examples have {list(_FEATURE_KEYS)} (missing {missing}; '
                'prepare the dataset with ddsp_prepare_tfrecord)',
                type(data_provider).__name__,
            )
        rows = [np.reshape(batch[key], (len(batch[key]), -1)) for key in _FEATURE_KEYS]
        for f0_hz, f0_confidence, loudness_db in zip(*rows):
            statistics.add_example(accumulators, f0_hz, f0_confidence, loudness_db)
            n_examples += 1
    if not n_examples:
        validation.fail(
            owner,
            'data_provider',
            'a provider with at least one example (its dataset is empty)',
            type(data_provider).__name__,
        )
    extra = {'sample_rate': data_provider.sample_rate, 'frame_rate': data_provider.frame_rate}
    centered = getattr(data_provider, '_centered', None)
    if isinstance(centered, bool):
        extra['center'] = centered
    stats = statistics.finalize(accumulators, **extra)
    text = statistics.to_json(stats)
    if file_path:
        _write_atomically(str(file_path), text)
    return json.loads(text)


def _write_atomically(path, text):
    import tensorflow as tf  # tf.io.gfile writes local and cloud paths.

    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    tmp_path = f'{path}.tmp-{os.getpid()}'
    with tf.io.gfile.GFile(tmp_path, 'w') as f:
        f.write(text)
    tf.io.gfile.rename(tmp_path, path, overwrite=True)


# ------------------------------------------------------------------ autotune

# Tuning offsets tried by `get_tuning_factor`: -50..+50 cents, every cent.
TUNING_FACTORS = np.linspace(-0.5, 0.5, 101)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
KEY_NAMES = ('C', 'Db', 'D', 'Eb', 'E', 'F', 'Gb', 'G', 'Ab', 'A', 'Bb', 'B')
# f0 after the adjustments is clipped to [0, this MIDI note] (4698.6 Hz), as in the original.
MAX_F0_MIDI = 110.0


def _hz_to_midi_np(f0_hz):
    """Hz -> MIDI in float64 NumPy; f0 <= 0 gives 0 (as `ddsp.core.hz_to_midi`)."""
    f0_hz = np.asarray(f0_hz, np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        midi = 12.0 * np.log2(f0_hz / 440.0) + 69.0
    return np.where(f0_hz > 0.0, midi, 0.0)


def _midi_to_hz_np(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, np.float64) - 69.0) / 12.0)


def _grid_offset(midi, tuning_factor):
    """(deviation, note): `midi = tuning_factor + note + deviation`, note an integer and the
    deviation in [-0.5, 0.5)."""
    shifted = midi - tuning_factor
    note = np.floor(shifted + 0.5)
    return shifted - note, note


def _same_shapes(owner, named):
    """The arrays of `named` ({name: array}) as NumPy arrays, refused unless shapes agree."""
    arrays = {name: np.asarray(value) for name, value in named.items()}
    (first, ref), *rest = arrays.items()
    for name, value in rest:
        if value.shape != ref.shape:
            validation.fail(
                owner, f'{name}.shape', f'the shape of {first}, {ref.shape}', value.shape
            )
    return arrays.values()


def _standardise(cost):
    std = np.std(cost)
    return (cost - np.mean(cost)) / std if std > 0 else np.zeros_like(cost)


def get_tuning_factor(f0_midi, f0_confidence, mask_on):
    """The tuning offset (in semitones, -0.5..0.5, on a 1-cent grid) that best fits a melody.

    For each candidate offset `t` every note-on frame is assigned its nearest note of the grid
    `t + integers`; the cost adds, each standardised over the candidates, the mean
    confidence-weighted distance to the assigned notes and the confidence-weighted share of
    frames where the assigned note changes (a grid that cuts through vibrato or slides changes
    notes often). The offset with the lowest cost wins (the original's heuristic).

    Args:
        f0_midi: pitch in MIDI notes, any shape.
        f0_confidence: pitch confidence, same shape, weighting each frame.
        mask_on: boolean note-on mask, same shape; only these frames count (in order).

    Returns:
        The offset as a float: 0.25 means the melody sits 25 cents above the equal-tempered
        A440 grid. 0.0 without note-on frames.
    """
    f0_midi, f0_confidence, mask_on = _same_shapes(
        'get_tuning_factor',
        {'f0_midi': f0_midi, 'f0_confidence': f0_confidence, 'mask_on': mask_on},
    )
    mask_on = mask_on.astype(bool)
    pitch = f0_midi.astype(np.float64)[mask_on]
    weights = f0_confidence.astype(np.float64)[mask_on][:, None]
    if pitch.size == 0:
        return 0.0
    deviation, note = _grid_offset(pitch[:, None], TUNING_FACTORS[None, :])  # [frames, 101]
    cost_deviation = np.mean(weights * np.abs(deviation), axis=0)
    if pitch.size > 1:
        changes = (np.diff(note, axis=0) != 0).astype(np.float64)
        cost_changes = np.mean(weights[:-1] * changes, axis=0)
    else:
        cost_changes = np.zeros_like(cost_deviation)
    cost = _standardise(cost_changes) + _standardise(cost_deviation)
    return float(TUNING_FACTORS[np.argmin(cost)])


def _best_major_key(pitch, tuning_factor):
    """Index into KEY_NAMES of the major scale (tuned by `tuning_factor`) nearest on average."""
    pitch_class = np.mod(pitch - tuning_factor, 12.0)[:, None, None]  # [frames, 1, 1]
    scales = (np.arange(12)[:, None] + np.array(MAJOR_SCALE)[None, :])[None]  # [1, 12, 7]
    distance = np.abs(np.mod(pitch_class - scales + 6.0, 12.0) - 6.0)
    return int(np.argmin(np.mean(np.min(distance, axis=-1), axis=0)))


def auto_tune(f0_midi, tuning_factor, mask_on, amount=0.0, chromatic=False):
    """Pulls pitch toward the nearest note of a tuned chromatic grid or major scale.

    Each frame moves `amount` of the way from its pitch to the nearest note: 0 leaves the pitch
    alone, 1 snaps it onto the note (vibrato and slides flattened), 0.5 halves every
    deviation. The notes are `tuning_factor + integers` (chromatic) or the major scale, of the
    same tuning, that the note-on frames fit best (logged with the key).

    Difference from the original: the original fits and snaps to the major scale at A440
    whatever `tuning_factor` says (only its chromatic mode used the tuning); here both modes
    use it, so a melody sung 30 cents sharp is kept 30 cents sharp and only tightened, never
    pulled by up to half a semitone.

    Args:
        f0_midi: pitch in MIDI notes, any shape; frames at MIDI 0 (no pitch, `hz_to_midi` of
            0 Hz) are returned unchanged.
        tuning_factor: offset of the grid in semitones, from `get_tuning_factor`.
        mask_on: boolean note-on mask, same shape, for choosing the scale.
        amount: 0..1, the share of each deviation removed.
        chromatic: use every semitone instead of a major scale. Without note-on frames the
            chromatic grid is used either way.

    Returns:
        The tuned pitch in MIDI notes, float64, in the shape of `f0_midi`.
    """
    owner = 'auto_tune'
    tuning_factor = validation.check_number(owner, 'tuning_factor', tuning_factor)
    amount = validation.check_number(owner, 'amount', amount, minimum=0.0, hint='and <= 1')
    if amount > 1.0:
        validation.fail(owner, 'amount', 'a number in [0, 1]', amount)
    f0_midi, mask_on = _same_shapes(owner, {'f0_midi': f0_midi, 'mask_on': mask_on})
    f0_midi = f0_midi.astype(np.float64)
    pitched = f0_midi > 0.0
    on = mask_on.astype(bool) & pitched
    if chromatic or not on.any():
        deviation, _ = _grid_offset(f0_midi, tuning_factor)
    else:
        key = _best_major_key(f0_midi[on], tuning_factor)
        octaves = np.arange(-1, 12)[:, None] * 12
        notes = np.sort((octaves + key + np.array(MAJOR_SCALE)[None, :]).ravel()) + tuning_factor
        idx = np.clip(np.searchsorted(notes, f0_midi), 1, len(notes) - 1)
        below, above = notes[idx - 1], notes[idx]
        nearest = np.where(f0_midi - below <= above - f0_midi, below, above)
        deviation = f0_midi - nearest
        logging.info(
            'auto_tune: inferred key %s major, tuning offset %+d cents.',
            KEY_NAMES[key],
            int(round(tuning_factor * 100)),
        )
    return np.where(pitched, f0_midi - amount * deviation, f0_midi)


# ------------------------------------------------------------------ the auto-adjust sequence


def _octaves_toward(pitch, target):
    """Whole octaves that bring `pitch` nearest to `target` (MIDI); ties go up."""
    return int(math.floor((target - pitch) / 12.0 + 0.5))


def _adjust_targets(dataset_stats):
    """(target mean note-on pitch, inverse quantile transformer) from dataset statistics."""
    owner = 'adjust_features'
    fix = (
        "statistics from statistics.load_dataset_statistics (the model directory's "
        'dataset_statistics.json); pass adjust=False to apply only the manual shifts'
    )
    if not isinstance(dataset_stats, dict):
        validation.fail(owner, 'dataset_stats', f'a dict of {fix}', type(dataset_stats).__name__)
    if 'quantile_transform' in dataset_stats:  # The original's pickled statistics.
        pitch = dataset_stats.get('mean_pitch_note', dataset_stats.get('mean_pitch'))
        inverse = dataset_stats['quantile_transform']
    else:
        note = dataset_stats.get('pitch_note') or dataset_stats.get('pitch') or {}
        pitch = note.get('mean_')
        quantiles = (dataset_stats.get('loudness_note') or {}).get('quantiles')
        inverse = QuantileTransformer.from_quantiles(quantiles) if quantiles else None
    if pitch is None or inverse is None or not np.isfinite(pitch):
        validation.fail(
            owner,
            'dataset_stats',
            f'{fix}, with a note-on pitch mean and loudness quantiles (these have none: a '
            'dataset without frames?)',
            sorted(dataset_stats),
        )
    return float(pitch), inverse


def _clip_features(features, owner):
    """f0_hz, f0_confidence and loudness_db of one clip as float64 [time] arrays, plus the
    shape and dtype to return each in."""
    missing = [key for key in _FEATURE_KEYS if key not in features]
    if missing:
        validation.fail(
            owner,
            'features',
            f'a dict with {list(_FEATURE_KEYS)} (missing {missing})',
            sorted(features),
        )
    arrays, shapes, dtypes = {}, {}, {}
    for key in _FEATURE_KEYS:
        value = np.asarray(features[key])
        shapes[key] = value.shape
        dtypes[key] = value.dtype if np.issubdtype(value.dtype, np.floating) else np.float32
        if sum(d > 1 for d in value.shape) > 1:
            validation.fail(
                owner,
                f'features[{key!r}].shape',
                'the shape of one clip ([time], [1, time] or [1, time, 1]); adjust each clip '
                'of a batch on its own',
                value.shape,
            )
        arrays[key] = value.astype(np.float64).ravel()
    n_frames = arrays['loudness_db'].size
    for key in _FEATURE_KEYS:
        if arrays[key].size != n_frames:
            validation.fail(
                owner,
                f'features[{key!r}].shape',
                f'as many frames as loudness_db ({n_frames}, shape {shapes["loudness_db"]})',
                shapes[key],
            )
        bad = int(np.sum(~np.isfinite(arrays[key])))
        if bad:
            validation.fail(
                owner,
                f'features[{key!r}]',
                f'finite values (it has {bad} NaN or infinite frames of {n_frames})',
                '...',
            )
    if not n_frames:
        validation.fail(owner, 'features', 'features of at least one frame', shapes)
    return arrays, shapes, dtypes


def adjust_features(
    features,
    dataset_stats=None,
    threshold=1.0,
    quiet=20.0,
    autotune=0.0,
    pitch_shift=0.0,
    loudness_shift=0.0,
    adjust=True,
    chromatic=False,
):
    """Fits a clip's pitch and loudness to a model's training data, then applies manual shifts.

    The sequence of the original's timbre-transfer demo:

    1. `detect_notes(loudness_db, f0_confidence, threshold)` gives the note mask and each
       frame's note-on ratio.
    2. With `adjust` and at least one note (otherwise steps 2-5 are skipped, with a log line):
       f0 moves by the whole number of octaves that brings the mean note-on pitch nearest to
       the training data's mean note-on pitch (`pitch_note.mean_`).
    3. Note-on loudness is histogram-matched to the training note-on loudness
       (`fit_quantile_transform` with the statistics' `loudness_note.quantiles`).
    4. Note-off frames are turned down by `quiet * (1 - ratio / threshold)` dB, clipped to
       0..`quiet`: the full `quiet` dB where the note score is 0, fading to 0 dB at the note
       threshold.
    5. With `autotune > 0`: `get_tuning_factor` and `auto_tune(amount=autotune)`.
    6. Always: f0 times `2 ** pitch_shift` and loudness plus `loudness_shift` dB; f0 is then
       clipped to [0, midi_to_hz(110)] (4698.6 Hz).

    Differences from the original notebook: the octave shift rounds to the nearest octave
    (the original rounded up, except for shifts above 1.5 octaves, which it rounded down: 1.4
    octaves gave 2 and 1.6 gave 1) and aims at the note-on pitch mean (the original compared
    the clip's note-on mean with the dataset's mean over all frames, silence included); the
    quiet fade is relative to `threshold` (the original's `quiet * (1 - ratio)` jumps at the
    note boundary for thresholds other than 1, and raises note-off frames above 1);
    `auto_tune` keeps the tuning offset in its major-scale mode; frames with f0 = 0 stay 0.

    Args:
        features: one clip's features: `f0_hz`, `f0_confidence` and `loudness_db`, each
            `[time]`, `[1, time]` or `[1, time, 1]` (arrays or tensors). Other keys are passed
            through.
        dataset_stats: the model's dataset statistics (`statistics.load_dataset_statistics`
            of this project's JSON, or the original's pickle); needed when `adjust`.
        threshold: note detection threshold (`detect_notes`'s `note_threshold`); higher
            means fewer note-on frames.
        quiet: dB by which note-off frames are turned down (at most).
        autotune: 0..1, how far f0 is pulled onto the grid (0: not at all).
        pitch_shift: octaves to shift f0 by, after the adjustment (fractions allowed).
        loudness_shift: dB to add to the loudness, after the adjustment.
        adjust: False applies only the manual shifts (the note mask is still returned).
        chromatic: autotune to every semitone instead of the best major scale.

    Returns:
        `(adjusted, mask_on)`: a new dict with `f0_hz` and `loudness_db` replaced by NumPy
        arrays of their input shapes and dtypes (the other keys as given), and the boolean
        note mask, in the shape of `loudness_db`.

    Raises:
        ValueError: missing keys, shapes that are not one clip or disagree, NaN or infinite
            values, bad arguments, or `adjust` without usable statistics.
    """
    owner = 'adjust_features'
    threshold = validation.check_number(owner, 'threshold', threshold, minimum=0.0)
    quiet = validation.check_number(owner, 'quiet', quiet, minimum=0.0)
    autotune = validation.check_number(owner, 'autotune', autotune, minimum=0.0, hint='and <= 1')
    if autotune > 1.0:
        validation.fail(owner, 'autotune', 'a number in [0, 1]', autotune)
    pitch_shift = validation.check_number(owner, 'pitch_shift', pitch_shift)
    loudness_shift = validation.check_number(owner, 'loudness_shift', loudness_shift)
    arrays, shapes, dtypes = _clip_features(features, owner)
    if adjust:
        target_pitch, inverse_quantile = _adjust_targets(dataset_stats)
    f0_hz = arrays['f0_hz'].copy()
    confidence = arrays['f0_confidence']
    loudness = arrays['loudness_db'].copy()
    mask_on, ratio = detect_notes(loudness, confidence, note_threshold=threshold)
    pitched = f0_hz > 0.0

    if adjust and mask_on.any():
        pitch = _hz_to_midi_np(f0_hz)
        on_pitched = mask_on & pitched
        octaves = 0
        if on_pitched.any():
            octaves = _octaves_toward(float(np.mean(pitch[on_pitched])), target_pitch)
            f0_hz *= 2.0**octaves
        _, loudness = fit_quantile_transform(loudness, mask_on, inv_quantile=inverse_quantile)
        off = ~mask_on
        fade = np.clip(1.0 - ratio[off] / threshold, 0.0, 1.0) if threshold > 0 else 1.0
        loudness[off] -= quiet * fade
        tuning_factor = None
        if autotune > 0.0:
            pitch = _hz_to_midi_np(f0_hz)
            tuning_factor = get_tuning_factor(pitch, confidence, mask_on)
            tuned = auto_tune(pitch, tuning_factor, mask_on, amount=autotune, chromatic=chromatic)
            f0_hz = np.where(pitched, _midi_to_hz_np(tuned), f0_hz)
        logging.info(
            '%s: %d of %d frames note-on; octave shift %+d; loudness matched to the training '
            'data; note-off frames down by up to %g dB%s.',
            owner,
            int(mask_on.sum()),
            mask_on.size,
            octaves,
            quiet,
            ''
            if tuning_factor is None
            else f'; autotune {autotune:g} (tuning offset {round(tuning_factor * 100):+d} cents)',
        )
    elif adjust:
        logging.info('%s: no notes detected; auto-adjust skipped (manual shifts only).', owner)

    if pitch_shift:
        f0_hz *= 2.0**pitch_shift
    loudness += loudness_shift
    f0_hz = np.clip(f0_hz, 0.0, _midi_to_hz_np(MAX_F0_MIDI))

    adjusted = dict(features)
    adjusted['f0_hz'] = f0_hz.reshape(shapes['f0_hz']).astype(dtypes['f0_hz'])
    adjusted['loudness_db'] = loudness.reshape(shapes['loudness_db']).astype(dtypes['loudness_db'])
    return adjusted, mask_on.reshape(shapes['loudness_db'])
