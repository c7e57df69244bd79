"""Tests of ddsp.training.decoders: parameter counts, shapes, statelessness and configuration."""

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import core, dags
from ddsp.training import decoders, nn

from .test_nn import checkpoint_round_trip

SOLO_SPLITS = (('amps', 1), ('harmonic_distribution', 60), ('noise_magnitudes', 65))


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _fc_stack_params(c_in, ch, layers):
    """Dense (c_in x ch + ch) and LayerNormalization (2 ch) per layer; identity when 0."""
    total = 0
    for _ in range(layers):
        total += c_in * ch + ch + 2 * ch
        c_in = ch
    return total


def _gru_params(c_in, units):
    """Keras 3 GRU (reset_after=True): 3 gates x (input kernel, recurrent kernel, 2 biases)."""
    return 3 * (c_in * units + units * units + 2 * units)


def test_solo_instrument_decoder_has_the_original_parameter_count():
    decoder = decoders.RnnFcDecoder(
        rnn_channels=512,
        rnn_type='gru',
        ch=512,
        layers_per_stack=3,
        input_keys=('ld_scaled', 'f0_scaled'),
        output_splits=SOLO_SPLITS,
    )
    decoder.build([(4, 1000, 1), (4, 1000, 1)])
    # Input stacks, one per input (1 channel each): layer 1 Dense 1*512+512 = 1,024 and
    # LayerNorm 1,024; layers 2-3 Dense 512*512+512 = 262,656 and LayerNorm 1,024 each.
    # Per stack 2,048 + 2 * 263,680 = 529,408; two stacks 1,058,816.
    # GRU on the 1,024 concatenated channels: 3 * (1024*512 + 512*512 + 2*512) = 2,362,368.
    # Output stack on [512, 512, 512] = 1,536 channels: 1536*512+512 + 1,024 = 787,968, plus
    # 2 * 263,680 = 1,315,328.
    # Dense 512 -> 1 + 60 + 65 = 126: 512*126 + 126 = 64,638.
    # Total 1,058,816 + 2,362,368 + 1,315,328 + 64,638 = 4,801,150.
    assert 2 * 529_408 + 2_362_368 + 1_315_328 + 64_638 == 4_801_150
    assert _fc_stack_params(1, 512, 3) == 529_408
    assert _gru_params(1024, 512) == 2_362_368
    assert _fc_stack_params(1536, 512, 3) == 1_315_328
    assert decoder.count_params() == 4_801_150
    assert sum(int(np.prod(w.shape)) for w in decoder.trainable_weights) == 4_801_150
    # Weights do not depend on the number of frames: a short run gives the split shapes.
    out = decoder({'ld_scaled': tf.zeros([1, 8, 1]), 'f0_scaled': tf.zeros([1, 8, 1])})
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        'amps': (1, 8, 1),
        'harmonic_distribution': (1, 8, 60),
        'noise_magnitudes': (1, 8, 65),
    }
    assert decoder.count_params() == 4_801_150


@pytest.mark.parametrize('rnn, ch, layers, z_dims', [(16, 8, 2, 3), (12, 6, 0, 0)])
def test_parameter_count_formula(rnn, ch, layers, z_dims):
    keys = ('ld_scaled', 'f0_scaled') + (('z',) if z_dims else ())
    splits = (('amps', 1), ('harmonic_distribution', 5))
    decoder = decoders.RnnFcDecoder(rnn, 'gru', ch, layers, input_keys=keys, output_splits=splits)
    features = {
        'ld_scaled': tf.zeros([2, 7, 1]),
        'f0_scaled': tf.zeros([2, 7]),
        'z': tf.zeros([2, 7, z_dims]),
    }
    out = decoder(features)
    assert out['harmonic_distribution'].shape == (2, 7, 5)
    in_channels = [1, 1] + ([z_dims] if z_dims else [])
    stack_out = [ch if layers else c for c in in_channels]
    expected = (
        sum(_fc_stack_params(c, ch, layers) for c in in_channels)
        + _gru_params(sum(stack_out), rnn)
        + _fc_stack_params(sum(stack_out) + rnn, ch, layers)
        + ((ch if layers else sum(stack_out) + rnn) + 1) * 6
    )
    assert decoder.count_params() == expected


def test_missing_input_lists_available_keys():
    decoder = decoders.RnnFcDecoder(8, 'gru', 4, 1)  # Default keys include 'z'.
    with pytest.raises(KeyError, match="Missing keys: \\['z'\\]"):
        decoder({'ld_scaled': tf.zeros([1, 3, 1]), 'f0_scaled': tf.zeros([1, 3, 1])})


@pytest.mark.parametrize('rnn_type, state_size', [('gru', 6), ('lstm', 12)])
def test_stateless_decoder_streams(rnn_type, state_size):
    decoder = decoders.RnnFcDecoder(
        6,
        rnn_type,
        5,
        1,
        stateless=True,
        input_keys=('ld_scaled', 'f0_scaled'),
        output_splits=(('amps', 1), ('hd', 3)),
    )
    assert decoder.input_keys == ['ld_scaled', 'f0_scaled', 'state']
    assert decoder.output_keys == ['amps', 'hd', 'state']
    ld, f0 = _rand(2, 8, 1, seed=1), _rand(2, 8, 1, seed=2)
    zero = tf.zeros([2, state_size])
    full = decoder({'ld_scaled': ld, 'f0_scaled': f0, 'state': zero})
    first = decoder({'ld_scaled': ld[:, :5], 'f0_scaled': f0[:, :5], 'state': zero})
    second = decoder({'ld_scaled': ld[:, 5:], 'f0_scaled': f0[:, 5:], 'state': first['state']})
    for key in ('amps', 'hd'):
        np.testing.assert_allclose(
            np.concatenate([first[key], second[key]], axis=1), full[key], atol=1e-5
        )
    np.testing.assert_allclose(second['state'], full['state'], atol=1e-5)
    assert full['state'].shape == (2, state_size)


def test_tf_function_matches_eager():
    decoder = decoders.RnnFcDecoder(
        8, 'lstm', 4, 2, input_keys=('ld_scaled', 'f0_scaled'), output_splits=SOLO_SPLITS
    )
    features = {'ld_scaled': _rand(2, 6, 1), 'f0_scaled': _rand(2, 6, 1, seed=3)}
    eager = decoder(features)
    traced = tf.function(decoder)(features)
    for key in eager:
        np.testing.assert_allclose(traced[key], eager[key], atol=1e-5)


def test_decoder_as_a_dag_node():
    decoder = decoders.RnnFcDecoder(
        8,
        'gru',
        4,
        1,
        input_keys=('ld_scaled', 'f0_scaled'),
        output_splits=(('amps', 1), ('hd', 2)),
        name='decoder',
    )
    dag = dags.DAGLayer([(decoder, ['ld_scaled', 'f0_scaled'])])
    outputs = dag({'ld_scaled': tf.zeros([1, 4, 1]), 'f0_scaled': tf.zeros([1, 4, 1])})
    assert outputs['decoder']['hd'].shape == (1, 4, 2)
    assert core.nested_lookup('out/amps', outputs).shape == (1, 4, 1)


@pytest.mark.parametrize('stateless', [False, True])
def test_config_round_trip(stateless):
    decoder = decoders.RnnFcDecoder(
        8, 'lstm', 4, 2, stateless=stateless, input_keys=('f0_scaled',), output_splits=(('a', 2),)
    )
    config = decoder.get_config()
    assert config['input_keys'] == ['f0_scaled'] and config['output_splits'] == [['a', 2]]
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(decoder))
    assert isinstance(clone, decoders.RnnFcDecoder) and clone.get_config() == config
    assert clone.input_keys == decoder.input_keys


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(rnn_channels=0), 'rnn_channels must be a positive integer; received rnn_channels=0'),
        (dict(rnn_type='rnn'), "rnn_type must be one of \\['gru', 'lstm'\\]; received"),
        (dict(layers_per_stack=-1), 'layers_per_stack must be an integer >= 0'),
        (dict(input_keys=()), 'input_keys must be at least one feature name'),
        (dict(output_splits=(('amps', 1.5),)), 'output_splits must be a non-empty sequence'),
    ],
)
def test_argument_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        decoders.RnnFcDecoder(**kwargs)


@gin.configurable
def _gin_decoder(decoder=None):
    return decoder


def test_gin_names_of_the_original_configs():
    gin.clear_config()
    try:
        gin.parse_config("""
            import ddsp.training.decoders
            _gin_decoder.decoder = @decoders.RnnFcDecoder()
            decoders.RnnFcDecoder.rnn_channels = 16
            decoders.RnnFcDecoder.rnn_type = 'gru'
            RnnFcDecoder.ch = 8
            RnnFcDecoder.layers_per_stack = 0
            RnnFcDecoder.input_keys = ('ld_scaled', 'f0_scaled')
            RnnFcDecoder.output_splits = (('amps', 1),
                                          ('harmonic_distribution', 60),
                                          ('noise_magnitudes', 65))
            ddsp.training.decoders.MidiDecoder.center_loudness = False
            MidiToHarmonicDecoder.midi_zero_silence = True
        """)
        decoder = _gin_decoder()
    finally:
        gin.clear_config()
    assert isinstance(decoder, decoders.RnnFcDecoder)
    assert (decoder.rnn_channels, decoder.ch, decoder.layers_per_stack) == (16, 8, 0)
    assert decoder.output_splits == SOLO_SPLITS


# ------------------------------------------------------------------------------------------------
# MIDI decoders.
# ------------------------------------------------------------------------------------------------
def _zero_dense(layer):
    layer.dense_out.set_weights([np.zeros_like(w) for w in layer.dense_out.get_weights()])


def test_midi_decoder_residual_and_loudness_mapping():
    decoder = decoders.MidiDecoder(net=nn.FcStack(8, 1))
    assert decoder.input_keys == ['z_pitch'] and decoder.default_input_keys == ['z_vel', 'z']
    pitch = np.full([2, 5, 1], 60.0, np.float32)
    features = {'z_pitch': pitch, 'z_vel': _rand(2, 5, 1), 'z': _rand(2, 3)}
    out = decoder(features)
    assert list(out) == ['f0_midi', 'loudness'] and out['loudness'].shape == (2, 5, 1)
    _zero_dense(decoder)
    out = decoder(features)
    np.testing.assert_allclose(out['f0_midi'], pitch)  # Residual: 0 + z_pitch.
    np.testing.assert_allclose(out['loudness'], np.full([2, 5, 1], -70.0))  # 30 * 0 - 70.
    plain = decoders.MidiDecoder(f0_residual=False, center_loudness=False, norm=False)
    plain({'z_pitch': pitch})
    _zero_dense(plain)
    out = plain({'z_pitch': pitch})
    np.testing.assert_allclose(out['f0_midi'], 0.0)
    np.testing.assert_allclose(out['loudness'], 0.0)
    clone = decoders.MidiDecoder.from_config(decoder.get_config())
    assert isinstance(clone.net, nn.FcStack) and clone.get_config() == decoder.get_config()


def test_midi_to_harmonic_decoder():
    decoder = decoders.MidiToHarmonicDecoder(net=nn.FcStack(8, 1))
    pitch = np.array([[[60.0], [0.0], [69.0]]], np.float32)
    features = {'z_pitch': pitch, 'z_vel': np.ones([1, 3, 1], np.float32)}
    out = decoder(features)
    assert list(out) == ['f0_midi', 'amplitudes', 'harmonic_distribution', 'magnitudes', 'f0_hz']
    assert out['harmonic_distribution'].shape == (1, 3, 60)
    assert out['magnitudes'].shape == (1, 3, 65)
    _zero_dense(decoder)
    out = decoder(features)
    expected_hz = [440.0 * 2 ** (-9 / 12), 0.0, 440.0]  # MIDI 0 is silence.
    np.testing.assert_allclose(out['f0_hz'][0, :, 0], expected_hz, rtol=1e-5)
    clone = decoders.MidiToHarmonicDecoder.from_config(decoder.get_config())
    assert clone.get_config() == decoder.get_config()
    with pytest.raises(ValueError, match='must be splits that include \\("f0_midi", 1\\)'):
        decoders.MidiToHarmonicDecoder(output_splits=(('amplitudes', 1),))


# ------------------------------------------------------------------------------------------------
# DilatedConvDecoder.
# ------------------------------------------------------------------------------------------------
def test_dilated_conv_decoder_conditioned_on_z():
    decoder = decoders.DilatedConvDecoder(
        ch=8, layers_per_stack=2, stacks=2, output_splits=(('amps', 1), ('hd', 4))
    )
    # The original's default conditioning_keys is the string 'z': one key.
    assert decoder.input_keys == ['ld_scaled', 'f0_scaled', 'z']
    assert decoder.dilated_conv_stack.conditional
    features = {'ld_scaled': _rand(2, 10, 1), 'f0_scaled': _rand(2, 10), 'z': _rand(2, 10, 3)}
    out = decoder(features)
    assert out['amps'].shape == (2, 10, 1) and out['hd'].shape == (2, 10, 4)
    traced = tf.function(decoder)(features)
    np.testing.assert_allclose(traced['hd'], out['hd'], atol=1e-5)


def test_dilated_conv_decoder_unconditioned_upsampling():
    decoder = decoders.DilatedConvDecoder(
        ch=8,
        layers_per_stack=1,
        stacks=2,
        conditioning_keys=None,
        resample_stride=2,
        norm_type=None,
        precondition_stack=nn.FcStackOut(4, 1, 4),
        output_splits=(('amps', 1), ('hd', 2)),
    )
    assert decoder.input_keys == ['ld_scaled', 'f0_scaled']
    out = decoder({'ld_scaled': tf.ones([2, 5, 1]), 'f0_scaled': tf.ones([2, 5, 1])})
    assert out['hd'].shape == (2, 20, 2)  # Two upsampling stacks of stride 2.
    # Precondition FcStackOut(2 -> 4 -> 4), conv_in 3*4*8+8, two convs 3*8*8+8, two
    # transposed convs 2*8*8+8, Dense 8 -> 3.
    expected = (2 * 4 + 4 + 8) + (4 * 4 + 4) + 104 + 2 * 200 + 2 * 136 + (8 * 3 + 3)
    assert decoder.count_params() == expected
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(decoder))
    assert isinstance(clone.precondition_stack, nn.FcStackOut)
    assert clone.get_config() == decoder.get_config()


@pytest.mark.parametrize(
    'make',
    [
        lambda: decoders.RnnFcDecoder(8, 'gru', 4, 2, input_keys=('ld_scaled', 'f0_scaled')),
        lambda: decoders.DilatedConvDecoder(
            ch=4, layers_per_stack=2, stacks=2, conditioning_keys=None
        ),
    ],
    ids=['rnn_fc', 'dilated'],
)
def test_checkpoint_round_trip(make, tmp_path):
    features = {'ld_scaled': _rand(2, 6, 1), 'f0_scaled': _rand(2, 6, 1, seed=1)}
    expected, restored = checkpoint_round_trip(make, lambda layer: layer(features), tmp_path)
    for key in expected:
        np.testing.assert_allclose(restored[key], expected[key], atol=1e-6)
