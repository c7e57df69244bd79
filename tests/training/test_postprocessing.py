"""Tests for ddsp.training.postprocessing (quantile transform, note detection, dataset statistics,
autotune and the auto-adjust sequence) and for reading dataset statistics (JSON or legacy
pickle). The adjustment tests use constructed inputs whose right answer is known."""

import json
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import postprocessing
from ddsp.training.data_preparation import statistics
from ddsp.training.postprocessing import QuantileTransformer

LEGACY_DIR = os.path.join(os.path.dirname(__file__), '..', 'data', 'legacy')
LEGACY_PKL = os.path.join(LEGACY_DIR, 'dataset_statistics.pkl')
EXPECTED = os.path.join(LEGACY_DIR, 'expected_outputs.npz')


@pytest.fixture(scope='module')
def expected():
    with np.load(EXPECTED) as f:
        return dict(f)


# ------------------------------------------------------------------ the original's pickle


def test_loader_refuses_pickle_without_allow_pickle():
    with pytest.raises(ValueError, match='allow_pickle=True') as err:
        statistics.load_dataset_statistics(LEGACY_PKL)
    assert 'arbitrary code' in str(err.value)


def test_loader_reads_legacy_pickle_into_our_classes():
    stats = statistics.load_dataset_statistics(LEGACY_PKL, allow_pickle=True)
    for name in ('pitch', 'power', 'loudness', 'pitch_note', 'power_note', 'loudness_note'):
        for prefix in ('mean_', 'max_', 'min_', 'mean_max_', 'mean_min_', 'std_'):
            assert np.isfinite(stats[prefix + name])
    assert stats['min_loudness_note'] <= stats['mean_loudness_note'] <= stats['max_loudness_note']
    qt = stats['quantile_transform']
    assert type(qt) is QuantileTransformer
    assert qt.n_quantiles_ == qt.quantiles_.shape[0] == qt.references_.shape[0] == 54
    assert isinstance(qt.random_state, np.random.RandomState)
    assert qt.copy  # Absent from the original's pickle; defaulted on unpickling.
    np.testing.assert_allclose(
        qt.quantiles_[[0, -1], 0],
        [stats['min_loudness_note'], stats['max_loudness_note']],
        rtol=1e-5,
    )


def test_legacy_transformer_matches_original_outputs(expected):
    qt = statistics.load_dataset_statistics(LEGACY_PKL, allow_pickle=True)['quantile_transform']
    np.testing.assert_allclose(
        qt.transform(expected['probe']), expected['transform'], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        qt.inverse_transform(expected['probe_u']), expected['inverse_transform'], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize('dist', ['uniform', 'normal'])
def test_fit_matches_original(expected, dist):
    qt = QuantileTransformer(n_quantiles=50, output_distribution=dist).fit(expected['fit_x'])
    np.testing.assert_allclose(qt.quantiles_, expected[f'{dist}_quantiles'], rtol=0, atol=1e-12)
    np.testing.assert_allclose(qt.references_, expected[f'{dist}_references'], atol=1e-15)
    np.testing.assert_allclose(
        qt.transform(expected['probe']), expected[f'{dist}_transform'], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        qt.inverse_transform(expected[f'{dist}_inverse_probe']),
        expected[f'{dist}_inverse'],
        rtol=0,
        atol=1e-12,
    )


def test_our_transformer_pickles_round_trip(tmp_path):
    qt = QuantileTransformer(n_quantiles=20, random_state=3).fit(np.arange(50.0)[:, None])
    path = tmp_path / 'qt.pkl'
    path.write_bytes(pickle.dumps({'quantile_transform': qt}))
    loaded = statistics.load_dataset_statistics(str(path), allow_pickle=True)
    x = np.linspace(-5, 55, 13)[:, None]
    np.testing.assert_array_equal(loaded['quantile_transform'].transform(x), qt.transform(x))


# ------------------------------------------------------------------ against scikit-learn


def _reference(**kwargs):
    sklearn_preprocessing = pytest.importorskip('sklearn.preprocessing')
    return sklearn_preprocessing.QuantileTransformer(**kwargs)


@pytest.mark.parametrize('dist', ['uniform', 'normal'])
@pytest.mark.parametrize('n_quantiles', [7, 100, 1000])
@pytest.mark.filterwarnings('ignore:n_quantiles')  # sklearn: 1000 > n_samples.
def test_matches_sklearn(dist, n_quantiles):
    rng = np.random.RandomState(n_quantiles)
    x = np.concatenate(
        [
            rng.randn(400, 1) * 10 - 40,
            rng.exponential(3.0, (400, 1)),
            np.round(rng.randn(400, 1), 1),
        ],
        axis=1,
    )  # Third column has ties.
    ours = QuantileTransformer(n_quantiles=n_quantiles, output_distribution=dist).fit(x)
    ref = _reference(n_quantiles=n_quantiles, output_distribution=dist).fit(x)
    assert ours.n_quantiles_ == ref.n_quantiles_
    np.testing.assert_allclose(ours.quantiles_, ref.quantiles_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.references_, ref.references_, atol=1e-15)
    probe = np.concatenate(
        [x[:50], rng.randn(50, 3) * 30, x.min(0, keepdims=True), x.max(0, keepdims=True)]
    )
    y = ref.transform(probe)
    np.testing.assert_allclose(ours.transform(probe), y, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.fit_transform(x), ref.transform(x), rtol=0, atol=1e-9)
    targets = (
        np.array([[0.0], [1e-9], [0.3], [0.5], [1 - 1e-9], [1.0]])
        if dist == 'uniform'
        else np.array([[-9.0], [-5.3], [-1.0], [0.0], [2.5], [5.3], [9.0]])
    )
    targets = np.repeat(targets, 3, axis=1)
    np.testing.assert_allclose(
        ours.inverse_transform(targets), ref.inverse_transform(targets), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        ours.inverse_transform(y), ref.inverse_transform(y), rtol=0, atol=1e-9
    )


def test_subsample_matches_sklearn():
    x = np.random.RandomState(0).gamma(2.0, size=(3000, 1))
    ours = QuantileTransformer(n_quantiles=30, subsample=500, random_state=7).fit(x)
    ref = _reference(n_quantiles=30, subsample=500, random_state=7).fit(x)
    np.testing.assert_allclose(ours.quantiles_, ref.quantiles_, rtol=0, atol=1e-12)


def test_transform_nan_copy_and_errors():
    x = np.linspace(0.0, 1.0, 11)[:, None]
    qt = QuantileTransformer(n_quantiles=11).fit(x)
    out = qt.transform(np.array([[np.nan], [0.5]]))
    assert np.isnan(out[0, 0]) and out[1, 0] == pytest.approx(0.5)
    data = x.copy()
    qt.transform(data)
    np.testing.assert_array_equal(data, x)  # copy=True leaves the input alone.
    with pytest.raises(ValueError, match='2-D'):
        qt.transform(np.zeros(3))
    with pytest.raises(ValueError, match='features'):
        qt.transform(np.zeros((3, 2)))
    with pytest.raises(ValueError, match='not fitted'):
        QuantileTransformer().transform(x)
    with pytest.raises(ValueError, match='output_distribution'):
        QuantileTransformer(output_distribution='cauchy').fit(x)


def test_fit_quantile_transform_histogram_matches():
    rng = np.random.RandomState(1)
    target = QuantileTransformer(n_quantiles=200).fit(rng.randn(2000, 1) * 5 - 30)
    loudness = rng.randn(4, 250) * 12 - 60
    mask = loudness > -75
    qt = postprocessing.fit_quantile_transform(loudness, mask)
    assert isinstance(qt, QuantileTransformer)
    qt, matched = postprocessing.fit_quantile_transform(loudness, mask, inv_quantile=target)
    assert matched.shape == loudness.shape
    np.testing.assert_array_equal(matched[~mask], loudness[~mask])
    on = matched[mask]
    assert abs(on.mean() - (-30)) < 1.0 and abs(on.std() - 5) < 1.0
    # Order is preserved (a monotonic map).
    order = np.argsort(loudness[mask])
    assert np.all(np.diff(on[order]) >= -1e-9)


# ------------------------------------------------------------------ JSON statistics


def test_json_statistics_round_trip(tmp_path):
    rng = np.random.RandomState(2)
    examples = []
    for _ in range(3):
        t = np.arange(300)
        examples.append(
            {
                'f0_hz': 220.0 * 2 ** (rng.randn(300) / 12),
                'f0_confidence': np.clip(0.6 + 0.4 * np.sin(t / 15.0), 0, 1),
                'loudness_db': -45 + 15 * np.sin(t / 20.0) + rng.randn(300),
            }
        )
    stats = statistics.compute_statistics(examples)
    path = tmp_path / 'train.tfrecord.statistics.json'
    path.write_text(json.dumps(stats))
    loaded = statistics.load_dataset_statistics(str(path))
    assert loaded == json.loads(json.dumps(stats))
    assert loaded['format'] == 'ddsp-dataset-statistics-v1'
    # The JSON's quantiles make a transformer usable for histogram matching.
    qt = QuantileTransformer.from_quantiles(
        loudness_quantiles := loaded['loudness_note']['quantiles']
    )
    assert qt.n_quantiles_ == 101
    np.testing.assert_allclose(
        qt.inverse_transform(np.array([[0.0], [0.5], [1.0]]))[:, 0],
        [loudness_quantiles[0], loudness_quantiles[50], loudness_quantiles[-1]],
    )
    u = qt.transform(np.array([[loudness_quantiles[25]]]))
    assert u[0, 0] == pytest.approx(0.25, abs=0.011)


def test_detect_notes_and_hz_to_midi_are_shared():
    assert postprocessing.detect_notes is statistics.detect_notes
    assert postprocessing.smooth is statistics.smooth
    np.testing.assert_allclose(postprocessing.hz_to_midi([440.0, 0.0]), [69.0, 0.0])


# ------------------------------------------------------------------ smooth and detect_notes


@pytest.mark.parametrize('filter_size', [1, 2, 3, 4, 40, 41, 150])
def test_smooth_matches_conv1d_same(filter_size):
    x = np.random.RandomState(filter_size).randn(3, 120)
    kernel = tf.ones([filter_size, 1, 1]) / filter_size
    ref = tf.nn.conv1d(x[:, :, None].astype(np.float32), kernel, 1, 'SAME')[:, :, 0].numpy()
    np.testing.assert_allclose(postprocessing.smooth(x, filter_size), ref, atol=1e-6)
    np.testing.assert_allclose(postprocessing.smooth(x[1], filter_size), ref[1], atol=1e-6)
    assert postprocessing.smooth(np.zeros(0), 40).shape == (0,)
    with pytest.raises(ValueError, match='x.shape'):
        postprocessing.smooth(np.zeros((1, 2, 3)))


def _notes_clip(n_notes=4, on=150, off=100, loud=-30.0, quiet_db=-70.0):
    """Loudness and confidence of `n_notes` notes separated and surrounded by silent gaps."""
    loudness, confidence = [np.full(off, quiet_db)], [np.zeros(off)]
    for _ in range(n_notes):
        loudness += [np.full(on, loud), np.full(off, quiet_db)]
        confidence += [np.ones(on), np.zeros(off)]
    return np.concatenate(loudness), np.concatenate(confidence)


def test_detect_notes_finds_the_notes_and_keeps_shapes():
    loudness, confidence = _notes_clip()
    mask, ratio = postprocessing.detect_notes(loudness, confidence)
    truth = confidence > 0
    assert mask.shape == ratio.shape == loudness.shape and mask.dtype == bool
    # [batch, time, 1] keeps its shape; a lower threshold finds more frames on.
    mask3, _ = postprocessing.detect_notes(loudness[None, :, None], confidence[None, :, None])
    assert mask3.shape == (1, loudness.size, 1)
    np.testing.assert_array_equal(mask3[0, :, 0], mask)
    np.testing.assert_array_equal(mask, truth)  # Edges: ratio ~1.6 inside, ~0.3 outside.
    fewer = postprocessing.detect_notes(loudness, confidence, note_threshold=2.5)[0]
    more = postprocessing.detect_notes(loudness, confidence, note_threshold=0.2)[0]
    assert fewer.sum() < mask.sum() < more.sum()
    assert not fewer[~mask].any() and more[mask].all()
    # Silence (loudness at the floor): no notes, ratios 0.
    silent_mask, silent_ratio = postprocessing.detect_notes(np.full(100, -80.0), np.ones(100))
    assert not silent_mask.any() and not silent_ratio.any()
    with pytest.raises(ValueError, match='f0_confidence.shape'):
        postprocessing.detect_notes(loudness, confidence[:-1])


# ------------------------------------------------------------------ compute_dataset_statistics


class _ArrayProvider:
    """A data provider over in-memory examples."""

    sample_rate, frame_rate = 16000, 250

    def __init__(self, examples):
        self.examples = examples

    def get_batch(self, batch_size, shuffle=True, repeats=-1, drop_remainder=True):
        assert not shuffle and repeats == 1 and not drop_remainder
        if not self.examples:
            keys = ('f0_hz', 'f0_confidence', 'loudness_db')
            data = {k: np.zeros((0, 10), np.float32) for k in keys}
        else:
            data = {k: np.stack([e[k] for e in self.examples]) for k in self.examples[0]}
        return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def _examples(n=5, frames=400, seed=0):
    rng = np.random.RandomState(seed)
    out = []
    for i in range(n):
        loudness, confidence = _notes_clip(n_notes=1, on=frames - 200, loud=-35.0 + 3 * i)
        loudness = loudness + rng.randn(frames)
        f0 = 220.0 * 2 ** ((rng.randn(frames) + i) / 12)
        out.append(
            {
                'f0_hz': f0.astype(np.float32),
                'f0_confidence': confidence.astype(np.float32),
                'loudness_db': loudness.astype(np.float32),
            }
        )
    return out


def test_compute_dataset_statistics_shares_the_pipeline_implementation(tmp_path):
    examples = _examples()
    expected = json.loads(
        statistics.to_json(
            statistics.compute_statistics(examples, sample_rate=16000, frame_rate=250)
        )
    )
    path = tmp_path / 'model' / 'dataset_statistics.json'
    for batch_size in (1, 2, 5):
        stats = postprocessing.compute_dataset_statistics(
            _ArrayProvider(examples), batch_size=batch_size, file_path=str(path)
        )
        assert stats == expected
    assert statistics.load_dataset_statistics(str(path)) == expected
    assert not [p for p in os.listdir(path.parent) if p != path.name]  # No temporary left.
    assert stats['pitch_note']['n_frames'] < stats['pitch']['n_frames']


def test_compute_dataset_statistics_refuses_empty_and_incomplete_providers():
    with pytest.raises(ValueError, match='at least one example'):
        postprocessing.compute_dataset_statistics(_ArrayProvider([]))
    examples = [{k: v for k, v in e.items() if k != 'f0_confidence'} for e in _examples(2)]
    with pytest.raises(ValueError, match=r"missing \['f0_confidence'\]"):
        postprocessing.compute_dataset_statistics(_ArrayProvider(examples))


# ------------------------------------------------------------------ autotune


def _detuned_scale(offset, vibrato=0.15, spread=0.05, key=0, seed=0, frames=60):
    """A two-octave major scale (and back) starting on MIDI 60 + key, every note `offset`
    semitones off A440 plus a random detune within +-`spread`, with a sine vibrato."""
    rng = np.random.RandomState(seed)
    degrees = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16, 17, 19, 21, 23, 24])
    notes = 60 + key + np.concatenate([degrees, degrees[::-1]])
    pitch, target = [], []
    for note in notes:
        t = np.arange(frames)
        detune = rng.uniform(-spread, spread)
        pitch.append(note + offset + detune + vibrato * np.sin(2 * np.pi * t / 20.0))
        target.append(np.full(frames, note + offset))
    return np.concatenate(pitch), np.concatenate(target)


@pytest.mark.parametrize('offset', [-0.37, -0.1, 0.0, 0.23, 0.44])
def test_get_tuning_factor_finds_the_offset_of_a_detuned_scale(offset):
    pitch, _ = _detuned_scale(offset, seed=int(abs(offset) * 100))
    mask = np.ones(pitch.size, bool)
    found = postprocessing.get_tuning_factor(pitch, np.ones(pitch.size), mask)
    # Offsets are equal modulo a semitone; the grid step is 1 cent, the detunes average ~0.
    assert abs((found - offset + 0.5) % 1.0 - 0.5) <= 0.021
    assert postprocessing.get_tuning_factor(pitch, np.ones(pitch.size), ~mask) == 0.0
    assert postprocessing.get_tuning_factor(pitch[:1], np.ones(1), mask[:1]) == pytest.approx(
        (pitch[0] + 0.5) % 1.0 - 0.5, abs=0.006
    )


@pytest.mark.parametrize('chromatic', [False, True])
@pytest.mark.parametrize('amount', [0.0, 0.25, 0.5, 1.0])
def test_auto_tune_moves_onto_the_grid_by_the_amount(amount, chromatic):
    offset = 0.3
    pitch, target = _detuned_scale(offset, key=2, seed=3)  # D major, 30 cents sharp.
    mask = np.ones(pitch.size, bool)
    tuning = postprocessing.get_tuning_factor(pitch, np.ones(pitch.size), mask)
    assert tuning == pytest.approx(offset, abs=0.015)
    tuned = postprocessing.auto_tune(pitch, tuning, mask, amount=amount, chromatic=chromatic)
    grid = target - offset + tuning  # The scale on the grid that was found.
    np.testing.assert_allclose(tuned - grid, (1.0 - amount) * (pitch - grid), atol=1e-9)


def test_auto_tune_major_scale_pulls_off_scale_pitches_to_scale_notes():
    pitch, _ = _detuned_scale(0.0, vibrato=0.0, spread=0.0, key=7)  # G major, in tune.
    mask = np.ones(pitch.size, bool)
    # Off-scale probes (not in the mask): 68.4 (G#+40) -> A 69; 65.4 (F+40) -> F# 66; 0 stays 0.
    probes = np.array([68.4, 65.4, 0.0, 67.2])
    f0 = np.concatenate([pitch, probes])
    mask = np.concatenate([mask, np.zeros(4, bool)])
    scale = postprocessing.auto_tune(f0, 0.0, mask, amount=1.0)[-4:]
    np.testing.assert_allclose(scale, [69.0, 66.0, 0.0, 67.0])
    chromatic = postprocessing.auto_tune(f0, 0.0, mask, amount=1.0, chromatic=True)[-4:]
    np.testing.assert_allclose(chromatic, [68.0, 65.0, 0.0, 67.0])
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match='amount'):
            postprocessing.auto_tune(f0, 0.0, mask, amount=bad)
    with pytest.raises(ValueError, match='mask_on.shape'):
        postprocessing.auto_tune(f0, 0.0, mask[:-1], amount=0.5)


# ------------------------------------------------------------------ adjust_features

TARGET_PITCH = 69.0  # A4: the training data's note-on pitch.
TARGET_LOUDNESS = (-25.0, 4.0)  # Mean and std of the training data's note-on loudness.


@pytest.fixture(scope='module')
def training_stats():
    """JSON statistics of training data whose note-on pitch is A4 and note-on loudness is
    normal(-25, 4), as load_dataset_statistics returns them."""
    rng = np.random.RandomState(5)
    examples = []
    for _ in range(8):
        loudness, confidence = _notes_clip(n_notes=3)
        on = confidence > 0
        loudness[on] = rng.randn(on.sum()) * TARGET_LOUDNESS[1] + TARGET_LOUDNESS[0]
        f0 = np.where(on, 440.0, 440.0 * 2 ** (rng.randn(loudness.size) / 12))
        examples.append({'f0_hz': f0, 'f0_confidence': confidence, 'loudness_db': loudness})
    return json.loads(statistics.to_json(statistics.compute_statistics(examples)))


def _clip(midi=45.0, loud=-45.0, seed=0):
    """Features of one clip: notes at `midi` with varied loudness around `loud`."""
    rng = np.random.RandomState(seed)
    loudness, confidence = _notes_clip(n_notes=5, loud=loud)
    on = confidence > 0
    loudness[on] += rng.uniform(-8, 8, on.sum())
    f0 = np.full(loudness.size, 440.0 * 2 ** ((midi - 69.0) / 12))
    return {
        'f0_hz': f0.astype(np.float32),
        'f0_confidence': confidence.astype(np.float32),
        'loudness_db': loudness.astype(np.float32),
        'audio': np.zeros(16000, np.float32),
    }


@pytest.mark.parametrize(
    'midi, octaves',
    [
        (45.0, 2),
        (40.0, 2),
        (33.0, 3),
        (57.0, 1),
        (69.0, 0),
        (75.0, 0),
        (81.0, -1),
        (92.0, -2),
        # Nearest octave: 1.4 octaves below gives 1, 1.6 gives 2 (the original: 2 and 1).
        (52.2, 1),
        (49.8, 2),
    ],
)
def test_adjust_shifts_f0_by_whole_octaves_toward_the_training_pitch(training_stats, midi, octaves):
    features = _clip(midi)
    adjusted, mask = postprocessing.adjust_features(features, training_stats, quiet=0.0)
    assert mask.any()
    # Exactly 2**octaves: a tone two octaves below the training mean moves up two octaves.
    np.testing.assert_array_equal(
        adjusted['f0_hz'], (features['f0_hz'] * np.float32(2.0**octaves)).astype(np.float32)
    )


def test_adjust_matches_the_note_on_loudness_histogram(training_stats):
    features = _clip(loud=-50.0)
    adjusted, mask = postprocessing.adjust_features(features, training_stats, quiet=0.0)
    before, after = features['loudness_db'][mask], adjusted['loudness_db'][mask]
    levels = [5, 10, 25, 50, 75, 90, 95]
    target = np.percentile(
        np.random.RandomState(9).randn(200000) * TARGET_LOUDNESS[1] + TARGET_LOUDNESS[0], levels
    )
    assert np.abs(np.percentile(before, levels) - target).max() > 15  # Far apart before,
    np.testing.assert_allclose(np.percentile(after, levels), target, atol=0.6)  # matched after.
    assert np.all(np.diff(after[np.argsort(before, kind='stable')]) >= -1e-4)  # Monotonic.
    # With quiet=0, note-off frames are untouched.
    np.testing.assert_array_equal(adjusted['loudness_db'][~mask], features['loudness_db'][~mask])


@pytest.mark.parametrize('threshold', [0.6, 1.0, 1.5])
@pytest.mark.parametrize('quiet', [0.0, 20.0, 35.0])
def test_adjust_turns_note_off_frames_down_by_quiet(training_stats, quiet, threshold):
    features = _clip()
    adjusted, mask = postprocessing.adjust_features(
        features, training_stats, quiet=quiet, threshold=threshold
    )
    _, ratio = postprocessing.detect_notes(
        features['loudness_db'], features['f0_confidence'], note_threshold=threshold
    )
    drop = features['loudness_db'] - adjusted['loudness_db']
    off = ~mask
    # The full amount where the note score is 0 (deep in the gaps), a fade to 0 dB at the
    # threshold, never a boost and never more than `quiet`.
    np.testing.assert_allclose(
        drop[off], quiet * np.clip(1 - ratio[off] / threshold, 0, 1), atol=1e-4
    )
    silent = off & (ratio == 0)
    assert silent.sum() > 100
    np.testing.assert_allclose(drop[silent], quiet, atol=1e-4)
    assert drop[off].min() >= -1e-4 and drop[off].max() <= quiet + 1e-4


def test_adjust_autotune_and_manual_shifts(training_stats):
    pitch, target = _detuned_scale(0.2, key=0, seed=1)  # C major 20 cents sharp, MIDI 60-84.
    n = pitch.size
    features = {
        'f0_hz': (440.0 * 2 ** ((pitch - 69.0) / 12)).astype(np.float32),
        'f0_confidence': np.ones(n, np.float32),
        'loudness_db': np.full(n, -30.0, np.float32),
    }
    plain, mask = postprocessing.adjust_features(features, training_stats, quiet=0.0)
    assert mask.all()
    tuned, _ = postprocessing.adjust_features(features, training_stats, quiet=0.0, autotune=1.0)
    tuned_midi = 12 * np.log2(tuned['f0_hz'] / 440.0) + 69
    plain_midi = 12 * np.log2(plain['f0_hz'] / 440.0) + 69
    np.testing.assert_allclose(plain_midi, pitch, atol=1e-4)  # Mean 72: no octave shift.
    found = postprocessing.get_tuning_factor(pitch, np.ones(n), mask)
    np.testing.assert_allclose(tuned_midi, target - 0.2 + found, atol=1e-4)  # On the grid.
    # Manual shifts come last and are exact.
    shifted, _ = postprocessing.adjust_features(
        features, training_stats, quiet=0.0, pitch_shift=-1, loudness_shift=-10
    )
    np.testing.assert_allclose(shifted['f0_hz'], plain['f0_hz'] / 2, rtol=1e-6)
    np.testing.assert_allclose(shifted['loudness_db'], plain['loudness_db'] - 10, atol=1e-5)


def test_adjust_false_applies_only_the_manual_shifts():
    features = _clip()
    adjusted, mask = postprocessing.adjust_features(
        features, None, adjust=False, pitch_shift=1, loudness_shift=6
    )
    assert mask.any()
    np.testing.assert_allclose(adjusted['f0_hz'], features['f0_hz'] * 2, rtol=1e-6)
    np.testing.assert_allclose(adjusted['loudness_db'], features['loudness_db'] + 6, atol=1e-5)
    untouched, _ = postprocessing.adjust_features(features, adjust=False)
    for key in ('f0_hz', 'loudness_db'):
        np.testing.assert_array_equal(untouched[key], features[key])
    assert untouched['audio'] is features['audio']  # Other keys pass through.


def test_adjust_silence_gives_silence_without_error(training_stats, caplog):
    n = 500
    features = {
        'f0_hz': np.full(n, 440.0, np.float32),
        'f0_confidence': np.zeros(n, np.float32),
        'loudness_db': np.full(n, -80.0, np.float32),
    }
    with caplog.at_level('INFO'):
        adjusted, mask = postprocessing.adjust_features(features, training_stats, quiet=20.0)
    assert not mask.any()
    assert 'no notes detected' in caplog.text
    for key in ('f0_hz', 'loudness_db'):
        np.testing.assert_array_equal(adjusted[key], features[key])


def test_adjust_keeps_shapes_dtypes_and_clips_f0(training_stats):
    features = {
        k: tf.constant(v[None, :, None]) for k, v in _clip(midi=45.0).items() if k != 'audio'
    }
    features['f0_hz'] = tf.concat([features['f0_hz'][:, :-1], [[[0.0]]]], axis=1)  # Unpitched.
    adjusted, mask = postprocessing.adjust_features(features, training_stats, pitch_shift=2.0)
    assert mask.shape == adjusted['loudness_db'].shape == adjusted['f0_hz'].shape == (1, 1350, 1)
    assert adjusted['f0_hz'].dtype == adjusted['loudness_db'].dtype == np.float32
    assert adjusted['f0_hz'][0, -1, 0] == 0.0  # 0 Hz stays 0 Hz.
    # 110 Hz + 2 octaves (auto) + 2 octaves (manual) = 1760 Hz; more is clipped at MIDI 110.
    np.testing.assert_allclose(adjusted['f0_hz'][0, 0, 0], 1760.0, rtol=1e-6)
    high, _ = postprocessing.adjust_features(features, training_stats, pitch_shift=4.0)
    np.testing.assert_allclose(high['f0_hz'].max(), 440.0 * 2 ** (41 / 12), rtol=1e-6)


def test_adjust_reads_the_original_pickled_statistics():
    stats = statistics.load_dataset_statistics(LEGACY_PKL, allow_pickle=True)
    target = stats['mean_pitch_note']
    features = _clip(midi=float(target) - 24.0)
    adjusted, _ = postprocessing.adjust_features(features, stats, quiet=0.0)
    np.testing.assert_allclose(adjusted['f0_hz'], features['f0_hz'] * 4, rtol=1e-6)


def test_adjust_refuses_bad_input(training_stats):
    features = _clip()
    adjust = postprocessing.adjust_features
    with pytest.raises(ValueError, match=r"missing \['f0_confidence'\]"):
        adjust({k: v for k, v in features.items() if k != 'f0_confidence'}, training_stats)
    with pytest.raises(ValueError, match='one clip'):
        adjust({k: np.stack([v, v]) for k, v in features.items()}, training_stats)
    short = dict(features, f0_hz=features['f0_hz'][:-1])
    with pytest.raises(ValueError, match=r"features\['f0_hz'\].shape"):
        adjust(short, training_stats)
    nan = dict(
        features, loudness_db=np.where(np.arange(1350) == 7, np.nan, features['loudness_db'])
    )
    with pytest.raises(ValueError, match='1 NaN or infinite frames of 1350'):
        adjust(nan, training_stats)
    with pytest.raises(ValueError, match='adjust=False'):
        adjust(features, None)
    empty = json.loads(statistics.to_json(statistics.compute_statistics([])))
    with pytest.raises(ValueError, match='dataset_stats'):
        adjust(features, empty)
    for name, bad in [('threshold', -1), ('quiet', -3), ('autotune', 2), ('pitch_shift', np.inf)]:
        with pytest.raises(ValueError, match=name):
            adjust(features, training_stats, **{name: bad})


def _legacy_fixture_examples():
    """The three examples `tests/data/legacy/make_fixture.py` gave the original's
    `compute_dataset_statistics` (the same seed and draws, audio drawn and dropped)."""
    frames, sr, rate = 100, 16000, 250
    rs = np.random.RandomState(0)
    confidence, loudness, f0 = [], [], []
    for i in range(3):
        t = np.arange(frames)
        f0.append(np.full(frames, 220.0 * (i + 1), np.float32))
        confidence.append(np.clip(0.5 + 0.5 * np.sin(t / 8.0 + i), 0, 1).astype(np.float32))
        loudness.append((-50 + 20 * np.sin(t / 12.0 + i) + rs.randn(frames)).astype(np.float32))
        rs.randn(sr * frames // rate - sr // rate)  # The example's audio.
    return np.stack(f0), np.stack(confidence), np.stack(loudness)


def test_detect_notes_reproduces_the_originals_note_statistics():
    # The original stacks the examples, drops the last 20 frames and detects notes on the
    # [batch, time] array (one mean loudness for the batch); its note-on statistics, saved in
    # the legacy pickle, pin down the smoothing's alignment and the threshold.
    stats = statistics.load_dataset_statistics(LEGACY_PKL, allow_pickle=True)
    f0, confidence, loudness = (x[:, :-20] for x in _legacy_fixture_examples())
    mask, _ = postprocessing.detect_notes(loudness, confidence)
    mask[~mask.any(axis=1)] = True  # An example without notes counts all its frames.
    on = loudness[mask]
    np.testing.assert_allclose(
        [on.mean(), on.std(), on.min(), on.max()],
        [stats[f'{s}_loudness_note'] for s in ('mean', 'std', 'min', 'max')],
        rtol=1e-6,
    )
    maxima = [row[m].max() for row, m in zip(loudness, mask)]
    np.testing.assert_allclose(np.mean(maxima), stats['mean_max_loudness_note'], rtol=1e-6)
    pitch = 12 * np.log2(f0[mask] / 440.0) + 69
    np.testing.assert_allclose(pitch.mean(), stats['mean_pitch_note'], rtol=1e-6)
