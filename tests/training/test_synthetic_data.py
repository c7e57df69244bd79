"""Synthetic notes (synthetic_data) and the ddsp_generate_synthetic_dataset Beam pipeline."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

with warnings.catch_warnings():
    warnings.simplefilter('ignore', FutureWarning)
    from ddsp.training.data_preparation import synthetic_data

from ddsp.training import data
from ddsp.training.data_preparation import ddsp_generate_synthetic_dataset as cli

# Beam's in-memory runner (no worker process to start and import TensorFlow in).
PIPELINE_OPTIONS = '--runner=DirectRunner,--direct_num_workers=1,--direct_running_mode=in_memory'
T, H, M = 40, 12, 9


def _check_shapes_and_ranges(out, n_batch, n_timesteps, n_harmonics, n_mags, controls=True):
    assert set(out) == {
        'harm_amp',
        'harm_dist',
        'f0_hz',
        'sin_amps',
        'sin_freqs',
        'noise_magnitudes',
    }
    shapes = {
        'f0_hz': 1,
        'harm_amp': 1,
        'harm_dist': n_harmonics,
        'sin_amps': n_harmonics,
        'sin_freqs': n_harmonics,
        'noise_magnitudes': n_mags,
    }
    for key, width in shapes.items():
        assert out[key].shape == (n_batch, n_timesteps, width), key
        assert out[key].dtype == np.float32
        assert np.all(np.isfinite(out[key])), key
    assert np.all(out['f0_hz'] >= 0) and np.all(out['f0_hz'] < 1100)
    voiced = out['f0_hz'] > 0
    assert np.all(out['f0_hz'][voiced] > 30)
    assert np.all((out['harm_amp'] >= 0) & (out['harm_amp'] <= 1))
    assert np.all((out['noise_magnitudes'] >= 0) & (out['noise_magnitudes'] <= 1))
    assert np.all(out['harm_dist'] >= 0)
    k = np.arange(1, n_harmonics + 1)
    np.testing.assert_allclose(out['sin_freqs'], out['f0_hz'] * k, rtol=1e-5)
    np.testing.assert_allclose(
        out['sin_amps'], out['harm_amp'] * out['harm_dist'], rtol=1e-5, atol=1e-7
    )
    if controls:
        total = out['harm_dist'].sum(-1)
        assert np.all(np.isclose(total, 1.0, atol=1e-4) | (total == 0))
        assert np.all(out['harm_dist'][out['sin_freqs'] >= 8000] == 0)
    else:
        assert np.all(out['harm_dist'] <= 1)


@pytest.mark.parametrize('controls', [True, False])
def test_generate_notes_shapes_and_ranges(controls):
    out = synthetic_data.generate_notes(3, T, H, M, get_controls=controls, rng=0)
    _check_shapes_and_ranges(out, 3, T, H, M, controls)
    assert np.all(out['f0_hz'] > 30)  # One note over the whole example.


@pytest.mark.parametrize('controls', [True, False])
def test_generate_notes_v2_shapes_and_ranges(controls):
    out = synthetic_data.generate_notes_v2(
        4, 200, 100, 65, get_controls=controls, p_silent=0.3, rng=1
    )
    _check_shapes_and_ranges(out, 4, 200, 100, 65, controls)
    silent = out['f0_hz'][..., 0] == 0
    assert silent.any() and (~silent).any()
    assert np.all(out['harm_amp'][..., 0][silent] == 0)
    assert np.all(out['noise_magnitudes'][silent] == 0)


def test_generators_are_deterministic_with_a_seed():
    for fn in (synthetic_data.generate_notes, synthetic_data.generate_notes_v2):
        a, b = fn(2, T, H, M, rng=7), fn(2, T, H, M, rng=np.random.default_rng(7))
        c = fn(2, T, H, M, rng=8)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a['f0_hz'], c['f0_hz'])


def test_helpers():
    rng = np.random.default_rng(0)
    ints = [synthetic_data.uniform_int(2, 4, rng) for _ in range(200)]
    assert set(ints) == {2, 3, 4}
    assert 0.0 <= synthetic_data.uniform_float(0.0, 1.0, rng) < 1.0
    assert np.mean([synthetic_data.flip(0.25, rng) for _ in range(2000)]) == pytest.approx(
        0.25, abs=0.05
    )
    u = synthetic_data.uniform_generator([3], 10, 1.0, 2.0, n_features=2, rng=rng)
    assert u.shape == (3, 10, 2) and np.all((u >= 1) & (u < 2))
    assert np.all(u == u[:, :1])
    assert synthetic_data.normal_generator(2, 5, 0.0, 1.0, rng=rng).shape == (2, 5)
    blend = synthetic_data.random_blend(50, 1.0, 0.0, rng=rng)
    assert blend[0] == 1.0 and blend[-1] == 0.0 and np.all(np.diff(blend) <= 0)
    dist = synthetic_data.random_harm_dist(30, 20, rng=rng)
    assert dist.shape == (30, 20) and np.all((dist >= 0) & (dist <= 1))
    mod = synthetic_data.modulate(np.ones((2, 100, 1)), maxval=0.1, rng=rng)
    assert mod.shape == (2, 100, 1) and np.all(np.abs(mod - 1) <= 0.1)


def _decoded(serialized):
    """A record's features as a hashable tuple of (key, float32 bytes), keys sorted."""
    ex = tf.train.Example.FromString(serialized)
    return tuple(
        sorted(
            (key, np.asarray(f.float_list.value, np.float32).tobytes())
            for key, f in ex.features.feature.items()
        )
    )


def _records(pattern):
    return sorted(_decoded(r.numpy()) for r in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)))


def test_cli_runs_beam_and_records_read_back(tmp_path):
    args = [
        '--num_examples=6',
        '--num_shards=2',
        '--random_seed=3',
        f'--n_timesteps={T}',
        f'--n_harmonics={H}',
        f'--n_mags={M}',
        f'--pipeline_options={PIPELINE_OPTIONS}',
    ]
    out = tmp_path / 'a' / 'synth.tfrecord'
    (tmp_path / 'a').mkdir()
    stale = tmp_path / 'a' / 'synth.tfrecord-00000-of-00003'
    stale.write_bytes(b'old')
    assert cli.run([f'--output_tfrecord_path={out}'] + args) == 0
    files = sorted(p.name for p in (tmp_path / 'a').iterdir())
    assert files == ['synth.tfrecord-00000-of-00002', 'synth.tfrecord-00001-of-00002']

    provider = data.SyntheticNotes(T, H, M, file_pattern=f'{out}*')
    examples = list(provider.get_dataset(shuffle=False).as_numpy_iterator())
    assert len(examples) == 6
    for ex in examples:
        assert ex['f0_hz'].shape == (T, 1) and ex['harm_amp'].shape == (T, 1)
        assert ex['harm_dist'].shape == ex['sin_amps'].shape == ex['sin_freqs'].shape == (T, H)
        assert ex['noise_magnitudes'].shape == (T, M)
    # The records are exactly the generator's draws for indices 0..5 with the seed.
    expected = sorted(
        _decoded(
            cli.to_tf_example(cli.generate_example(i, 3, n_timesteps=T, n_harmonics=H, n_mags=M))
        )
        for i in range(6)
    )
    assert _records(f'{out}*') == expected


def test_bad_settings_error_before_any_work(tmp_path, capsys):
    rc = cli.run(
        [
            f'--output_tfrecord_path={tmp_path}/x/s',
            '--min_note_length=9',
            '--max_note_length=3',
            '--num_examples=2',
        ]
    )
    assert rc == 2
    assert 'min_note_length' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()
