"""Tests of ddsp.training.models: Autoencoder outputs, losses (also in eval), restore, gin."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp import losses
from ddsp.training import models

from . import model_fixtures as mf


@pytest.fixture(scope='module')
def features():
    return {k: tf.constant(v) for k, v in mf.make_features().items()}


@pytest.fixture(scope='module')
def autoencoder(features):
    model = mf.make_autoencoder()
    model(features)
    return model


def _call(model, features, **kwargs):
    tf.random.set_seed(1)  # The same noise in every call.
    return model(features, **kwargs)


def test_outputs_are_the_dag_dict_plus_audio_synth(autoencoder, features):
    outputs = autoencoder(features, training=False)
    for key in (
        'inputs',
        'harmonic',
        'filtered_noise',
        'add',
        'out',
        'audio_synth',
        'f0_scaled',
        'ld_scaled',
        'amps',
        'harmonic_distribution',
        'audio',
    ):
        assert key in outputs, key
    assert outputs['harmonic']['signal'].shape == (4, mf.N_SAMPLES)
    assert outputs['audio_synth'].shape == (4, mf.N_SAMPLES)
    np.testing.assert_array_equal(outputs['audio_synth'], outputs['out']['signal'])
    np.testing.assert_array_equal(
        autoencoder.get_audio_from_outputs(outputs), outputs['audio_synth']
    )


def test_eval_reports_real_losses(autoencoder, features):
    # The original reports {'total_loss': 0} in eval (losses only when training); fixed here.
    _, eval_losses = _call(autoencoder, features, return_losses=True, training=False)
    _, train_losses = _call(autoencoder, features, return_losses=True, training=True)
    assert set(eval_losses) == {'spectral_loss', 'total_loss'}
    assert float(eval_losses['total_loss']) > 1.0
    np.testing.assert_allclose(eval_losses['total_loss'], eval_losses['spectral_loss'])
    np.testing.assert_allclose(eval_losses['total_loss'], train_losses['total_loss'], rtol=1e-5)
    assert set(autoencoder.losses_dict) == {'spectral_loss'}


def test_inference_without_losses_skips_them(autoencoder, features):
    autoencoder(features, training=False)
    assert autoencoder.losses_dict == {}
    autoencoder(features)  # training defaults to True, as in the original.
    assert set(autoencoder.losses_dict) == {'spectral_loss'}


def test_losses_need_target_audio(autoencoder, features):
    model = mf.make_autoencoder()
    model.preprocessor.compute_loudness = False  # Else the preprocessor needs audio too.
    with pytest.raises(KeyError, match='audio'):
        model({k: v for k, v in features.items() if k != 'audio'}, return_losses=True)


def test_features_are_not_mutated(autoencoder, features):
    copy = dict(features)
    autoencoder(copy)
    assert set(copy) == set(features)


def test_encode_and_decode(autoencoder, features):
    encoded = autoencoder.encode(features, training=False)
    assert 'f0_scaled' in encoded and 'ld_scaled' in encoded
    tf.random.set_seed(1)
    audio = autoencoder.decode(encoded, training=False)
    np.testing.assert_allclose(
        audio, _call(autoencoder, features, training=False)['audio_synth'], atol=1e-6
    )


def test_bad_loss_raises():
    with pytest.raises(ValueError, match='get_losses_dict'):
        models.Autoencoder(losses=['spectral'])


def test_checkpoint_restores_every_weight(autoencoder, features, tmp_path):
    path = tf.train.Checkpoint(model=autoencoder).save(str(tmp_path / 'ckpt'))
    fresh = mf.make_autoencoder(seed=5)
    fresh(features)
    assert not np.allclose(fresh.decoder.dense_out.kernel, autoencoder.decoder.dense_out.kernel)
    fresh.restore(str(tmp_path))  # The directory: its newest checkpoint.
    assert len(fresh.weights) == len(autoencoder.weights) == 17
    for a, b in zip(fresh.weights, autoencoder.weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        _call(fresh, features)['audio_synth'], _call(autoencoder, features)['audio_synth']
    )
    assert path.endswith('ckpt-1')


def test_restore_keys_restores_only_those_modules(autoencoder, features, tmp_path):
    tf.train.Checkpoint(model=autoencoder).save(str(tmp_path / 'ckpt'))
    fresh = mf.make_autoencoder(seed=5)
    fresh(features)
    fresh.restore(str(tmp_path / 'ckpt-1.index'), restore_keys=['decoder'])
    for a, b in zip(fresh.decoder.weights, autoencoder.decoder.weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError):
        fresh.restore(str(tmp_path / 'nothing_here'))


def test_gin_names():
    with gin.unlock_config():
        gin.clear_config()
        gin.parse_config("""
            get_model.model = @models.Autoencoder()
            models.Autoencoder.losses = [@losses.SpectralLoss()]
            losses.SpectralLoss.fft_sizes = (256,)
        """)
    try:
        model = models.get_model()
    finally:
        gin.clear_config()
    assert isinstance(model, models.Autoencoder)
    assert isinstance(model.loss_objs[0], losses.SpectralLoss)
    assert model.loss_objs[0].fft_sizes == (256,)
