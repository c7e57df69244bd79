"""The shipped gin configs (`ddsp/training/gin/`) parse and build the documented models."""

import glob
import os

import gin
import numpy as np
import pytest

from ddsp import effects
import ddsp.training  # noqa: F401  (registers the configurables)
from ddsp.training import decoders, encoders, evaluators, models
from ddsp.training.gin import GIN_PATH

_BINDINGS = ["TFRecordProvider.file_pattern = '/tmp/does_not_exist.tfrecord*'"]

GIN_FILES = sorted(
    os.path.relpath(p, GIN_PATH)
    for p in glob.glob(os.path.join(GIN_PATH, '**', '*.gin'), recursive=True)
)


pytestmark = pytest.mark.usefixtures('gin_package_path')  # tests/training/conftest.py


def _parse(gin_file):
    gin.parse_config_files_and_bindings([gin_file], _BINDINGS)


def test_gin_path_is_the_config_directory():
    assert os.path.isdir(GIN_PATH)
    assert os.path.isfile(os.path.join(GIN_PATH, 'models', 'solo_instrument.gin'))
    assert len(GIN_FILES) >= 18
    for name in (
        'eval/basic.gin',
        'eval/basic_f0_ld.gin',
        'eval/basic_f0_ld_twm.gin',
        'papers/iclr2020/nsynth_ae.gin',
        'papers/iclr2020/solo_instrument.gin',
        'papers/iclr2020/tiny_instrument.gin',
    ):
        assert name in GIN_FILES


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


# A solo-instrument config as a user of the original writes it in one file, with the fully
# qualified names (`ddsp.training.models.Autoencoder`, `ddsp.core.exp_sigmoid`) and the
# original's training bindings; written here from the original's documented gin surface.
ORIGINAL_STYLE_SOLO_INSTRUMENT = """
import ddsp
import ddsp.training

learning_rate = 0.0003
batch_size = 16

ddsp.training.models.get_model.model = @ddsp.training.models.Autoencoder()
ddsp.training.models.Autoencoder.preprocessor = @preprocessing.F0LoudnessPreprocessor()
ddsp.training.preprocessing.F0LoudnessPreprocessor.time_steps = 1000
ddsp.training.models.Autoencoder.encoder = None
ddsp.training.models.Autoencoder.decoder = @ddsp.training.decoders.RnnFcDecoder()
ddsp.training.decoders.RnnFcDecoder.rnn_channels = 512
ddsp.training.decoders.RnnFcDecoder.rnn_type = 'gru'
ddsp.training.decoders.RnnFcDecoder.ch = 512
ddsp.training.decoders.RnnFcDecoder.layers_per_stack = 3
ddsp.training.decoders.RnnFcDecoder.input_keys = ('ld_scaled', 'f0_scaled')
ddsp.training.decoders.RnnFcDecoder.output_splits = (
    ('amps', 1), ('harmonic_distribution', 60), ('noise_magnitudes', 65))
ddsp.training.models.Autoencoder.losses = [@ddsp.losses.SpectralLoss()]
ddsp.losses.SpectralLoss.loss_type = 'L1'
ddsp.losses.SpectralLoss.mag_weight = 1.0
ddsp.losses.SpectralLoss.logmag_weight = 1.0
ddsp.training.models.Autoencoder.processor_group = @ddsp.processors.ProcessorGroup()
ddsp.processors.ProcessorGroup.dag = [
  (@ddsp.synths.Harmonic(), ['amps', 'harmonic_distribution', 'f0_hz']),
  (@ddsp.synths.FilteredNoise(), ['noise_magnitudes']),
  (@ddsp.processors.Add(), ['filtered_noise/signal', 'harmonic/signal']),
  (@ddsp.effects.Reverb(), ['add/signal']),
]
ddsp.synths.Harmonic.name = 'harmonic'
ddsp.synths.Harmonic.n_samples = 64000
ddsp.synths.Harmonic.sample_rate = 16000
ddsp.synths.Harmonic.normalize_below_nyquist = True
ddsp.synths.Harmonic.scale_fn = @ddsp.core.exp_sigmoid
ddsp.synths.FilteredNoise.name = 'filtered_noise'
ddsp.synths.FilteredNoise.n_samples = 64000
ddsp.synths.FilteredNoise.window_size = 0
ddsp.synths.FilteredNoise.scale_fn = @ddsp.core.exp_sigmoid
ddsp.processors.Add.name = 'add'
ddsp.effects.Reverb.name = 'reverb'
ddsp.effects.Reverb.reverb_length = 48000
ddsp.effects.Reverb.trainable = True

ddsp.training.train_util.train.batch_size = %batch_size
ddsp.training.train_util.train.num_steps = 30000
ddsp.training.train_util.train.steps_per_save = 300
ddsp.training.trainers.Trainer.learning_rate = %learning_rate
ddsp.training.trainers.Trainer.grad_clip_norm = 3.0
ddsp.training.trainers.Trainer.checkpoints_to_keep = 10
"""


def test_a_config_in_the_original_style_parses_and_builds_the_same_model():
    gin.parse_config(ORIGINAL_STYLE_SOLO_INSTRUMENT)
    model = models.get_model()
    outputs = model(_batch(), training=False)
    # The shipped models/solo_instrument.gin builds this decoder (see the test above).
    assert _n_trainable(model.decoder) == 4_801_150
    assert model.processor_group.reverb.trainable
    assert tuple(model.get_audio_from_outputs(outputs).shape) == (1, 64000)
    assert gin.query_parameter('ddsp.training.trainers.Trainer.grad_clip_norm') == 3.0


def test_ae_builds_with_mfcc_encoder():
    _parse('models/ae.gin')
    model = models.get_model()
    assert isinstance(model.encoder, encoders.MfccTimeDistributedRnnEncoder)
    assert model.encoder.z_dims == 16
    assert list(model.decoder.input_keys) == ['ld_scaled', 'f0_scaled', 'z']
    outputs = model(_batch(), training=False)
    assert tuple(outputs['z'].shape) == (1, 1000, 16)
    assert tuple(model.get_audio_from_outputs(outputs).shape) == (1, 64000)


@pytest.mark.parametrize(
    'gin_file, classes',
    [
        ('eval/basic.gin', [evaluators.BasicEvaluator]),
        ('eval/basic_f0_ld.gin', [evaluators.BasicEvaluator, evaluators.F0LdEvaluator]),
        (
            'eval/basic_f0_ld_twm.gin',
            [evaluators.BasicEvaluator, evaluators.F0LdEvaluator, evaluators.TWMEvaluator],
        ),
    ],
)
def test_eval_configs_bind_evaluators(gin_file, classes):
    _parse(gin_file)
    for fn in ('evaluate', 'sample'):
        bound = gin.query_parameter(f'{fn}.evaluator_classes')
        assert [ref.configurable.wrapped for ref in bound] == classes


def test_eval_loop_batches_from_dataset_configs():
    _parse('papers/iclr2020/solo_instrument.gin')
    assert gin.query_parameter('evaluate.batch_size') == 32
    assert gin.query_parameter('sample.ckpt_delay_secs') == 300


@pytest.mark.parametrize(
    'gin_file, z, rnn_channels, layers_per_stack',
    [
        ('papers/iclr2020/nsynth_ae.gin', True, 512, 3),
        ('papers/iclr2020/solo_instrument.gin', False, 512, 3),
        ('papers/iclr2020/tiny_instrument.gin', False, 256, 0),
    ],
)
def test_iclr2020_configs_build_their_models(gin_file, z, rnn_channels, layers_per_stack):
    _parse(gin_file)
    model = models.get_model()
    assert isinstance(model, models.Autoencoder)
    assert isinstance(model.decoder, decoders.RnnFcDecoder)
    assert (model.encoder is not None) == z
    assert model.decoder.rnn_channels == rnn_channels
    assert model.decoder.layers_per_stack == layers_per_stack
    assert tuple(model.get_audio_from_outputs(model(_batch(), training=False)).shape) == (1, 64000)
