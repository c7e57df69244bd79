"""Tests of ddsp.training.encoders: z encoders, MFCC framing, shapes and configuration."""

import math

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import core, dags, spectral_ops
from ddsp.training import control_encoders, encoders, nn

from .test_nn import checkpoint_round_trip


def _audio(n=16000, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000.0
    return (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal((batch, n))).astype(
        np.float32
    )


def _gru_params(c_in, units):
    return 3 * (c_in * units + units * units + 2 * units)


@pytest.mark.parametrize('z_time_steps', [63, 125, 250, 500, 1000])
def test_z_time_steps_table_gives_that_many_frames_for_4_seconds(z_time_steps):
    encoder = encoders.MfccTimeDistributedRnnEncoder(8, 'gru', 4, z_time_steps)
    hop = encoder.fft_size * (1.0 - encoder.overlap)
    assert math.ceil(64000 / hop) == z_time_steps
    mfcc = spectral_ops.compute_mfcc(
        tf.zeros([1, 64000]),
        fft_size=encoder.fft_size,
        overlap=encoder.overlap,
        mfcc_bins=30,
        pad_end=True,
    )
    assert mfcc.shape == (1, z_time_steps, 30)


def test_mfcc_time_distributed_rnn_encoder():
    encoder = encoders.MfccTimeDistributedRnnEncoder(
        rnn_channels=16, rnn_type='gru', z_dims=8, z_time_steps=125
    )
    assert encoder.input_keys == ['audio', 'f0_scaled'] and encoder.output_keys == ['z']
    audio = _audio(16000)  # 1 s: 32 MFCC frames at hop 512.
    out = encoder({'audio': audio, 'f0_scaled': tf.zeros([2, 100, 1]), 'ld_scaled': 0.0})
    assert list(out) == ['z'] and out['z'].shape == (2, 100, 8)
    # Normalize (scale and shift per MFCC), GRU, Dense.
    assert encoder.count_params() == 2 * 30 + _gru_params(30, 16) + (16 + 1) * 8
    z = encoder.compute_z(tf.constant(audio))
    assert z.shape == (2, 32, 8)
    np.testing.assert_allclose(out['z'], core.resample(z, 100), atol=1e-5)
    traced = tf.function(encoder)({'audio': audio, 'f0_scaled': tf.zeros([2, 100, 1])})
    np.testing.assert_allclose(traced['z'], out['z'], atol=1e-5)


def test_z_encoder_needs_f0_scaled_for_the_length():
    encoder = encoders.MfccTimeDistributedRnnEncoder(8, 'gru', 4, 250)
    with pytest.raises(KeyError, match="Missing keys: \\['f0_scaled'\\]"):
        encoder({'audio': _audio(4000)})


def test_expand_z_holds_a_vector_over_time():
    z = np.arange(6, dtype=np.float32).reshape(2, 3)
    expanded = encoders.ZEncoder.expand_z(tf.constant(z), 7)
    np.testing.assert_allclose(expanded, np.repeat(z[:, np.newaxis], 7, axis=1))
    same = tf.ones([2, 7, 3])
    assert encoders.ZEncoder.expand_z(same, 7) is same


@pytest.mark.parametrize('mean_aggregate', [False, True])
def test_mfcc_rnn_encoder_gives_one_vector(mean_aggregate):
    encoder = encoders.MfccRnnEncoder(
        rnn_channels=8, rnn_type='lstm', z_dims=5, mean_aggregate=mean_aggregate
    )
    z = encoder({'audio': _audio(8000), 'f0_scaled': tf.zeros([2, 20, 1])})['z'].numpy()
    assert z.shape == (2, 20, 5)
    np.testing.assert_allclose(z, np.repeat(z[:, :1], 20, axis=1), atol=1e-6)
    assert encoder.count_params() == 60 + 4 * (30 * 8 + 64 + 8) + (8 + 1) * 5


def test_aggregate_features_encoder_matches_reference():
    encoder = encoders.AggregateFeaturesEncoder(ch=4)
    assert encoder.input_keys == ['f0_scaled', 'ld_scaled', 'f0_scaled']
    rng = np.random.default_rng(1)
    f0, ld = rng.random([2, 9, 1], np.float32), rng.random([2, 9], np.float32)
    z = encoder({'f0_scaled': f0, 'ld_scaled': ld})['z'].numpy()
    kernel, bias = encoder.dense.get_weights()
    x = np.concatenate([f0, ld[..., np.newaxis]], axis=-1)
    expected = (x @ kernel + bias).mean(axis=1, keepdims=True).repeat(9, axis=1)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)


def test_one_hot_encoder():
    encoder = encoders.OneHotEncoder(one_hot_key='instrument_id', vocab_size=13, n_dims=6)
    assert encoder.input_keys == ['instrument_id']  # skip_expand: no f0_scaled needed.
    ids = tf.constant([3, 12])
    z = encoder({'instrument_id': ids})['z']
    assert z.shape == (2, 1, 6)
    table = encoder.embedding.get_weights()[0]
    np.testing.assert_allclose(z[:, 0], table[[3, 12]])
    expanding = encoders.OneHotEncoder('instrument', 13, 6, skip_expand=False)
    assert expanding.input_keys == ['instrument', 'f0_scaled']
    z = expanding({'instrument': tf.constant([[1], [2]]), 'f0_scaled': tf.zeros([2, 5, 1])})['z']
    assert z.shape == (2, 5, 6)
    table = expanding.embedding.get_weights()[0]
    np.testing.assert_allclose(z[:, 4], table[[1, 2]])


def test_get_embedding_has_no_input_length():
    embedding = nn.get_embedding(vocab_size=10, n_dims=3)
    assert embedding(tf.constant([[4]])).shape == (1, 1, 3)
    assert 'input_length' not in embedding.get_config()


def test_mfcc_encoder_multiresolution_and_normalized():
    encoder = encoders.MfccEncoder(
        fft_sizes=(1024, 512), mel_bins=(128, 64), mfcc_bins=(30, 20), time_steps=50
    )
    z = encoder({'audio': _audio(16000)})['z'].numpy()
    assert z.shape == (2, 50, 50)
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-4)  # Instance-normalized.
    assert encoder.count_params() == 2 * 50
    with pytest.raises(ValueError, match='one entry per resolution'):
        encoders.MfccEncoder(fft_sizes=(1024, 512))
    with pytest.raises(ValueError, match='mfcc_bins \\(40\\) cannot exceed mel_bins \\(32\\)'):
        encoders.MfccEncoder(mel_bins=(32,), mfcc_bins=(40,))


def test_expression_encoder():
    encoder = encoders.ExpressionEncoder(
        net=nn.FcStack(8, 1),
        z_dims=4,
        input_keys=('f0_scaled', 'ld_scaled', 'audio'),
        mfcc_bins=20,
        mel_bins=64,
    )
    features = {
        'f0_scaled': tf.zeros([2, 25, 1]),
        'ld_scaled': tf.zeros([2, 25]),
        'audio': _audio(8000),
    }
    assert encoder(features)['z'].shape == (2, 1, 4)
    # Inputs 1 + 1 + 20 MFCCs -> FcStack(8) -> Dense(4).
    assert encoder.count_params() == (22 * 8 + 8 + 16) + (8 + 1) * 4
    frames = encoders.ExpressionEncoder(z_dims=3, pool_time=False, output_keys=['z_note'])
    out = frames({'f0_scaled': tf.zeros([2, 25, 1]), 'ld_scaled': tf.zeros([2, 25, 1])})
    assert list(out) == ['z_note'] and out['z_note'].shape == (2, 25, 3)
    audio_only = encoders.ExpressionEncoder(z_dims=3, input_keys=['audio'], pool_time=False)
    assert audio_only({'audio': _audio(4096)})['z'].shape == (2, 16, 3)  # Hop 256.


def test_sinusoidal_to_harmonic_encoder():
    encoder = encoders.SinusoidalToHarmonicEncoder(net=nn.RnnSandwich(8, 1, 8), n_harmonics=10)
    rng = np.random.default_rng(2)
    features = {
        'sin_freqs': rng.uniform(50, 4000, [2, 6, 4]).astype(np.float32),
        'sin_amps': rng.uniform(0, 1, [2, 6, 4]).astype(np.float32),
    }
    out = encoder(features)
    assert list(out) == ['harm_amp', 'harm_dist', 'f0_hz']
    assert out['harm_amp'].shape == (2, 6, 1) and out['harm_dist'].shape == (2, 6, 10)
    f0 = out['f0_hz'].numpy()
    assert f0.shape == (2, 6, 1) and (f0 >= 20.0 - 1e-3).all() and (f0 <= 1200.0 + 1e-2).all()
    assert (out['harm_amp'].numpy() > 0).all()
    # The default f0 scaling is a softmax expectation over 64 bins, 20-1200 Hz in MIDI.
    logits = tf.constant(np.eye(64, dtype=np.float32)[[0, 63]] * 100.0)[tf.newaxis]
    np.testing.assert_allclose(
        encoders.f0_softmax_20_1200(logits)[0, :, 0], [20.0, 1200.0], rtol=1e-3
    )


@pytest.mark.parametrize(
    'make',
    [
        lambda: encoders.MfccTimeDistributedRnnEncoder(8, 'lstm', 4, 500),
        lambda: encoders.MfccRnnEncoder(8, 'gru', 4, mean_aggregate=True),
        lambda: encoders.AggregateFeaturesEncoder(ch=3, input_keys=('a', 'b')),
        lambda: encoders.OneHotEncoder('instrument_id', 13, 4, skip_expand=False),
        lambda: encoders.MfccEncoder((512,), (64,), (20,), 100),
        lambda: encoders.ExpressionEncoder(net=nn.FcStack(4, 1), z_dims=3, pool_time=False),
        lambda: encoders.SinusoidalToHarmonicEncoder(
            net=nn.RnnSandwich(4, 1, 4), n_harmonics=5, amp_scale_fn=core.exp_sigmoid
        ),
    ],
    ids=['mfcc_td_rnn', 'mfcc_rnn', 'aggregate', 'one_hot', 'mfcc', 'expression', 'sin2harm'],
)
def test_config_round_trip(make):
    encoder = make()
    config = encoder.get_config()
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(encoder))
    assert type(clone) is type(encoder) and clone.get_config() == config
    assert clone.input_keys == encoder.input_keys


@pytest.mark.parametrize(
    'make, message',
    [
        (
            lambda: encoders.MfccTimeDistributedRnnEncoder(z_time_steps=100),
            'z_time_steps must be one of \\[63, 125, 250, 500, 1000\\]; received z_time_steps=100',
        ),
        (lambda: encoders.MfccRnnEncoder(z_dims=0), 'received z_dims=0'),
        (lambda: encoders.OneHotEncoder(one_hot_key=''), 'one_hot_key must be a non-empty string'),
        (
            lambda: encoders.ExpressionEncoder(input_keys=()),
            'input_keys must be at least one feature name',
        ),
        (
            lambda: encoders.SinusoidalToHarmonicEncoder(amp_scale_fn='exp'),
            'amp_scale_fn must be a callable',
        ),
    ],
)
def test_argument_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@gin.configurable
def _gin_encoder(encoder=None, others=()):
    return encoder, others


def test_gin_names_of_the_original_configs():
    gin.clear_config()
    try:
        gin.parse_config("""
            import ddsp.training.encoders
            _gin_encoder.encoder = @encoders.MfccTimeDistributedRnnEncoder()
            encoders.MfccTimeDistributedRnnEncoder.rnn_channels = 16
            MfccTimeDistributedRnnEncoder.rnn_type = 'gru'
            MfccTimeDistributedRnnEncoder.z_dims = 16
            MfccTimeDistributedRnnEncoder.z_time_steps = 125
            _gin_encoder.others = [@OneHotEncoder(), @SinusoidalToHarmonicEncoder()]
            OneHotEncoder.one_hot_key = 'instrument_id'
            OneHotEncoder.vocab_size = 13
            OneHotEncoder.n_dims = 128
            SinusoidalToHarmonicEncoder.net = @nn.RnnSandwich()
            ddsp.training.encoders.SinusoidalToHarmonicEncoder.n_harmonics = 100
            encoders.MidiEncoder.f0_residual = True
            HarmonicToMidiEncoder.net = @nn.DilatedConvStack()
            MfccEncoder.time_steps = 1000
            ExpressionEncoder.z_dims = 64
            AggregateFeaturesEncoder.ch = 32
            MfccRnnEncoder.mean_aggregate = True
        """)
        encoder, (one_hot, sin2harm) = _gin_encoder()
    finally:
        gin.clear_config()
    assert isinstance(encoder, encoders.MfccTimeDistributedRnnEncoder)
    assert (encoder.rnn_channels, encoder.z_dims, encoder.fft_size) == (16, 16, 1024)
    assert one_hot.vocab_size == 13 and one_hot.n_dims == 128
    assert isinstance(sin2harm.net, nn.RnnSandwich)


def test_checkpoint_round_trip(tmp_path):
    features = {'audio': _audio(4000), 'f0_scaled': tf.zeros([2, 20, 1])}
    expected, restored = checkpoint_round_trip(
        lambda: encoders.MfccTimeDistributedRnnEncoder(8, 'gru', 4, 250),
        lambda layer: layer(features),
        tmp_path,
    )
    np.testing.assert_allclose(restored['z'], expected['z'], atol=1e-6)


def test_midi_encoders():
    encoder = encoders.MidiEncoder(net=nn.FcStack(6, 1))
    assert encoder.input_keys == ['f0_midi', 'loudness']
    f0_midi = np.full([2, 5, 1], 60.0, np.float32)
    features = {'f0_midi': f0_midi, 'loudness': np.full([2, 5], -30.0, np.float32)}
    out = encoder(features)
    assert list(out) == ['z_pitch', 'z_vel'] and out['z_vel'].shape == (2, 5, 1)
    encoder.dense_out.set_weights([np.zeros_like(w) for w in encoder.dense_out.get_weights()])
    np.testing.assert_allclose(encoder(features)['z_pitch'], f0_midi)  # Residual.
    harmonic = encoders.HarmonicToMidiEncoder(f0_residual=False)
    assert harmonic.input_keys == ['f0_midi', 'amps', 'hd', 'noise']
    out = harmonic(
        {
            'f0_midi': f0_midi,
            'amps': np.ones([2, 5, 1], np.float32),
            'hd': np.ones([2, 5, 4], np.float32),
            'noise': np.ones([2, 5, 3], np.float32),
        }
    )
    assert out['z_pitch'].shape == (2, 5, 1)
    assert harmonic.count_params() == (1 + 1 + 4 + 3) * 2 + 2
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(encoder))
    assert isinstance(clone.net, nn.FcStack) and clone.get_config() == encoder.get_config()


@pytest.mark.parametrize(
    'name',
    [
        'ResnetSinusoidalEncoder',
        'SinusoidalToHarmonicEncoder',
        'MidiEncoder',
        'HarmonicToMidiEncoder',
    ],
)
def test_control_encoders_keep_their_names(name):
    # They moved to control_encoders: still ddsp.training.encoders.<Name> for users, the same
    # Keras name in saved models, and the default scale function's old path still resolves.
    cls = getattr(encoders, name)
    assert cls is getattr(control_encoders, name)
    assert keras.saving.get_registered_name(cls) == f'ddsp.training>{name}'
    assert dags.deserialize_function('ddsp.training.encoders.f0_softmax_20_1200') is (
        control_encoders.f0_softmax_20_1200
    )
