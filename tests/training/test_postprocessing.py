"""Tests for ddsp.training.postprocessing and reading dataset statistics (JSON or legacy pickle)."""

import json
import os
import pickle

import numpy as np
import pytest

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
    np.testing.assert_allclose(postprocessing.hz_to_midi([440.0, 0.0]), [69.0, 0.0])
