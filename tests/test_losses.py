"""Tests for the ddsp.losses package as a whole: configs, and gin and Keras registration.

Every loss must be reachable as `ddsp.losses.<Name>` and in gin as `losses.<Name>`, whichever
module of the package defines it, and keep the name it is saved under by Keras.
"""

import json

import gin
import keras
from losses_reference import make_loss_group
import pytest

from ddsp import crepe, losses, spectral_ops

# ------------------------------------------------------------------------------------------------
# Configs.
# ------------------------------------------------------------------------------------------------
CONFIG_CASES = [
    (
        losses.SpectralLoss,
        dict(
            fft_sizes=(256, 64),
            loss_type='COSINE',
            mag_weight=0.5,
            delta_time_weight=0.1,
            delta_freq_weight=0.2,
            cumsum_freq_weight=0.3,
            logmag_weight=1.0,
            loudness_weight=0.4,
            name='spec',
        ),
    ),
    (losses.EmbeddingLoss, dict(weight=3.0, loss_type='L2', name='emb')),
    (
        losses.PretrainedCREPEEmbeddingLoss,
        dict(
            weight=2.0,
            loss_type='L2',
            model_capacity='full',
            activation_layer='conv6-maxpool',
            name='crepe',
        ),
    ),
    (
        losses.PretrainedCREPE,
        dict(model_capacity='small', activation_layer='conv2-BN', name='crepe_layer'),
    ),
    (
        losses.HmmTranscriber,
        dict(
            avg_length=50,
            midi_std=0.3,
            amps_on_center=1.0,
            amps_on_scale=0.4,
            amps_off_center=0.1,
            amps_off_scale=0.2,
            n_timesteps=250,
            n_pitches=64,
            weight=0.5,
            name='hmm',
        ),
    ),
    (losses.FilteredNoiseConsistencyLoss, dict(weight=2.0, name='fn')),
    (
        losses.HarmonicConsistencyLoss,
        dict(amp_weight=0.1, dist_weight=0.2, f0_weight=0.3, amp_threshold=1e-3, name='hc'),
    ),
    (losses.WassersteinConsistencyLoss, dict(weight=0.5, midi=False, name='wc')),
    (
        losses.KDEConsistencyLoss,
        dict(weight_a=0.1, weight_b=0.2, weight_mean_amp=0.3, scale_a=0.4, scale_b=0.5, name='kde'),
    ),
    (
        losses.TWMLoss,
        dict(
            sinusoids_weight=0.1,
            harmonics_weight=0.2,
            sinusoids_scale=0.3,
            harmonics_scale=0.4,
            n_harmonic_points=5,
            n_harmonic_gaussians=7,
            softmin_temperature=0.5,
            sample_rate=44100,
            name='twm',
        ),
    ),
    (losses.ParamLoss, dict(weight=0.5, loss_type='L2', name='pl')),
]


@pytest.mark.parametrize('cls, kwargs', CONFIG_CASES, ids=[c[0].__name__ for c in CONFIG_CASES])
def test_get_config_round_trips(cls, kwargs):
    layer = cls(**kwargs)
    config = json.loads(json.dumps(layer.get_config()))
    for key, value in kwargs.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    assert cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is cls and restored.get_config() == config


def test_registered_gin_names():
    for name in [
        'LossGroup',
        'SpectralLoss',
        'HmmTranscriber',
        'EmbeddingLoss',
        'PretrainedCREPEEmbeddingLoss',
        'FilteredNoiseConsistencyLoss',
        'HarmonicConsistencyLoss',
        'WassersteinConsistencyLoss',
        'KDEConsistencyLoss',
        'TWMLoss',
        'ParamLoss',
    ]:
        gin.clear_config()
        try:
            gin.parse_config(f'make_loss_group.group = @losses.{name}')
            assert issubclass(make_loss_group(), getattr(losses, name))
        finally:
            gin.clear_config()


def test_gin_finds_every_loss_under_ddsp_losses_whichever_module_defines_it():
    # The spellings of the shipped configs and of the original's: module-qualified or not,
    # as a reference and in a binding.
    for spelling in ('losses.SpectralLoss', 'ddsp.losses.SpectralLoss', 'SpectralLoss'):
        gin.clear_config()
        try:
            gin.parse_config(f"""
                {spelling}.fft_sizes = (256, 64)
                make_loss_group.group = @{spelling}()
            """)
            loss = make_loss_group()
            assert type(loss) is losses.SpectralLoss and loss.fft_sizes == (256, 64), spelling
        finally:
            gin.clear_config()
    assert losses.SpectralLoss.__module__ == 'ddsp.losses.spectral'  # Yet found by gin.


KERAS_NAMES = {
    'Loss': 'ddsp>Loss',
    'LossGroup': 'ddsp>LossGroup',
    'SpectralLoss': 'ddsp>SpectralLoss',
    'EmbeddingLoss': 'ddsp>EmbeddingLoss',
    'PretrainedCREPEEmbeddingLoss': 'ddsp>PretrainedCREPEEmbeddingLoss',
    # The CREPE embedding layer has a name of its own now (its first name is the pitch tracker's).
    'CrepeEmbeddingModel': 'ddsp>CrepeEmbeddingModel',
    'PretrainedCREPE': 'ddsp>CrepeEmbeddingModel',
    'HmmTranscriber': 'ddsp>HmmTranscriber',
    'FilteredNoiseConsistencyLoss': 'ddsp>FilteredNoiseConsistencyLoss',
    'HarmonicConsistencyLoss': 'ddsp>HarmonicConsistencyLoss',
    'WassersteinConsistencyLoss': 'ddsp>WassersteinConsistencyLoss',
    'KDEConsistencyLoss': 'ddsp>KDEConsistencyLoss',
    'TWMLoss': 'ddsp>TWMLoss',
    'ParamLoss': 'ddsp>ParamLoss',
}


@pytest.mark.parametrize('name', sorted(KERAS_NAMES))
def test_keras_registered_names_are_unchanged(name):
    cls = getattr(losses, name)
    assert keras.saving.get_registered_name(cls) == KERAS_NAMES[name]
    assert keras.saving.get_registered_object(KERAS_NAMES[name]) is cls


def test_a_config_saved_under_the_first_name_of_the_crepe_layer_loads():
    # The name is the pitch tracker's now (registered when ddsp.crepe.pitch is first used);
    # its from_config hands the embedding layer's config on.
    tracker = spectral_ops.PretrainedCREPE
    assert keras.saving.get_registered_object('ddsp>PretrainedCREPE') is tracker
    config = {
        'module': 'ddsp.losses',
        'class_name': 'PretrainedCREPE',
        'registered_name': 'ddsp>PretrainedCREPE',
        'config': {
            'name': 'crepe',
            'trainable': False,
            'model_capacity': 'tiny',
            'activation_layer': 'conv4-BN',
        },
    }
    layer = keras.saving.deserialize_keras_object(config)
    assert type(layer) is losses.CrepeEmbeddingModel and layer.activation_layer == 'conv4-BN'


def test_public_names_and_aliases():
    for name in losses.__all__:
        assert getattr(losses, name) is not None, name
    assert losses.PretrainedCREPE is losses.CrepeEmbeddingModel
    assert losses.CrepeEmbeddingModel is not spectral_ops.PretrainedCREPE
    # CREPE's constants have one home, ddsp.crepe.
    assert losses.CREPE_MODEL_CAPACITIES is crepe.CAPACITIES
    assert losses.CREPE_LAYER_NAMES is crepe.LAYER_NAMES
    assert losses.CREPE_FRAME_SIZE == crepe.FRAME_SIZE == 1024
