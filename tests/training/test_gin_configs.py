"""The shipped gin configs (`ddsp/training/gin/`) parse and build the documented models."""

import glob
import os

import gin
import numpy as np
import pytest

from ddsp import effects
import ddsp.training  # noqa: F401  (registers the configurables)
from ddsp.training import encoders, models
from ddsp.training.gin import GIN_PATH

# Evaluation loops (eval_util.evaluate / sample) are not part of this package yet.
_UNKNOWN = ['evaluate', 'sample']
_BINDINGS = ["TFRecordProvider.file_pattern = '/tmp/does_not_exist.tfrecord*'"]

GIN_FILES = sorted(os.path.relpath(p, GIN_PATH)
                   for p in glob.glob(os.path.join(GIN_PATH, '**', '*.gin'), recursive=True))


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    gin.add_config_file_search_path(GIN_PATH)
    yield
    gin.clear_config()


def _parse(gin_file):
    gin.parse_config_files_and_bindings([gin_file], _BINDINGS, skip_unknown=_UNKNOWN)


def test_gin_path_is_the_config_directory():
    assert os.path.isdir(GIN_PATH)
    assert os.path.isfile(os.path.join(GIN_PATH, 'models', 'solo_instrument.gin'))
    assert len(GIN_FILES) >= 12


@pytest.mark.parametrize('gin_file', GIN_FILES)
def test_gin_file_parses(gin_file):
    _parse(gin_file)


def test_parse_config_file_by_relative_name():
    gin.parse_config_file('models/solo_instrument.gin')
    assert gin.query_parameter('Reverb.reverb_length') == 48000


def test_optimization_macros():
    _parse('optimization/base_tpu.gin')
    assert gin.query_parameter('%batch_size') == 64
    assert gin.query_parameter('%learning_rate') == pytest.approx(3e-4)
    assert gin.query_parameter('train_util.train.num_steps') == 1000000


def _batch(n_samples=64000, n_frames=1000):
    rng = np.random.default_rng(0)
    return {
        'audio': rng.normal(scale=0.1, size=[1, n_samples]).astype(np.float32),
        'f0_hz': np.full([1, n_frames], 220.0, np.float32),
        'loudness_db': np.full([1, n_frames], -30.0, np.float32),
    }


def _n_trainable(layer):
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights))


def test_solo_instrument_builds_documented_model():
    _parse('models/solo_instrument.gin')
    model = models.get_model()
    assert isinstance(model, models.Autoencoder)
    assert model.encoder is None
    outputs = model(_batch(), training=False)
    assert _n_trainable(model.decoder) == 4_801_150
    reverb = model.processor_group.reverb
    assert isinstance(reverb, effects.Reverb) and reverb.trainable
    assert [tuple(w.shape) for w in reverb.trainable_weights] == [(48000,)]
    assert tuple(model.get_audio_from_outputs(outputs).shape) == (1, 64000)


def test_ae_builds_with_mfcc_encoder():
    _parse('models/ae.gin')
    model = models.get_model()
    assert isinstance(model.encoder, encoders.MfccTimeDistributedRnnEncoder)
    assert model.encoder.z_dims == 16
    assert list(model.decoder.input_keys) == ['ld_scaled', 'f0_scaled', 'z']
    outputs = model(_batch(), training=False)
    assert tuple(outputs['z'].shape) == (1, 1000, 16)
    assert tuple(model.get_audio_from_outputs(outputs).shape) == (1, 64000)
