"""Tests of ddsp.training.nn: DictLayer key binding, output splits and the building blocks."""

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import core
from ddsp.training import nn, note_masks


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------
def test_split_to_dict_matches_slices():
    x = _rand(2, 5, 6)
    out = nn.split_to_dict(x, (('a', 1), ('b', 2), ('c', 3)))
    assert list(out) == ['a', 'b', 'c']
    np.testing.assert_array_equal(out['a'], x[..., :1])
    np.testing.assert_array_equal(out['b'], x[..., 1:3])
    np.testing.assert_array_equal(out['c'], x[..., 3:])


def test_split_to_dict_rejects_mismatched_sizes():
    with pytest.raises(
        ValueError,
        match=r'tensor_splits must be sizes that add up to the 4 '
        r"channels.*received tensor_splits=\(\('a', 1\), "
        r"\('b', 2\)\)",
    ):
        nn.split_to_dict(tf.zeros([1, 2, 4]), (('a', 1), ('b', 2)))
    with pytest.raises(ValueError, match='output_splits must be'):
        nn.split_to_dict(tf.zeros([1, 2, 4]), (('a', 0), ('b', 4)))


@pytest.mark.parametrize(
    'shape, shape_4d',
    [((2, 3), (2, 1, 1, 3)), ((2, 5, 3), (2, 5, 1, 3)), ((2, 5, 4, 3), (2, 5, 4, 3))],
)
def test_ensure_4d_round_trip(shape, shape_4d):
    x = _rand(*shape)
    y = nn.ensure_4d(tf.constant(x))
    assert tuple(y.shape) == shape_4d
    np.testing.assert_array_equal(nn.inv_ensure_4d(y, len(shape)), x)


def test_get_nonlinearity():
    x = tf.constant([-2.0, 0.5])
    np.testing.assert_allclose(nn.get_nonlinearity('relu')(x), [0.0, 0.5])
    # Keras's and tf.nn's leaky ReLU both use slope 0.2.
    np.testing.assert_allclose(nn.get_nonlinearity('leaky_relu')(x), [-0.4, 0.5], rtol=1e-6)
    # A tf.nn function that is not a Keras activation.
    np.testing.assert_allclose(nn.get_nonlinearity('crelu')(x), tf.nn.crelu(x))
    assert nn.get_nonlinearity(tf.tanh) is tf.tanh
    with pytest.raises(
        ValueError,
        match='nonlinearity must be a Keras activation name .*; '
        "received nonlinearity='no_such_activation'",
    ):
        nn.get_nonlinearity('no_such_activation')


@pytest.mark.parametrize('norm_type, groups', [('layer', 1), ('instance', 4), ('group', 32)])
def test_normalize_op_matches_group_statistics(norm_type, groups):
    channels = 4 if norm_type != 'group' else 64
    x = _rand(2, 6, 3, channels)
    y = nn.normalize_op(tf.constant(x), norm_type).numpy()
    grouped = x.reshape(2, 6, 3, groups, channels // groups)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    var = grouped.var(axis=(1, 2, 4), keepdims=True)
    expected = ((grouped - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_normalize_layer_weights_and_ranks():
    layer = nn.Normalize('instance')
    x = _rand(2, 7, 3) * 5.0 + 2.0
    y = layer(x).numpy()
    assert layer.scale.shape == (1, 1, 1, 3) and layer.shift.shape == (1, 1, 1, 3)
    # Instance norm of [B, T, C]: every channel of every example has zero mean over time.
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=1), 1.0, atol=1e-3)
    assert nn.Normalize('layer')(_rand(2, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match='norm_type must be one of'):
        nn.Normalize('batch')


# ------------------------------------------------------------------------------------------------
# DictLayer.
# ------------------------------------------------------------------------------------------------
class Scaler(nn.DictLayer):
    """f0 times a gain, loudness plus an offset."""

    def call(self, f0_hz, loudness_db, gain=2.0, offset=None) -> ['f0_out', 'ld_out']:  # noqa: F821 (keys)
        offset = 0.0 if offset is None else offset
        return f0_hz * gain, loudness_db + offset


class DropoutDict(nn.DictLayer):
    """Returns a dict; the nested Dropout sees `training` only through Keras's call context."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dropout = keras.layers.Dropout(0.5, seed=1)

    def call(self, x):
        return {'y': self.dropout(x)}


class TrainingArg(nn.DictLayer):
    def call(self, x, training=False) -> ['y', 'training']:  # noqa: F821 (keys)
        return x, training


def _features():
    return {
        'f0_hz': tf.constant([[1.0, 2.0]]),
        'loudness_db': tf.constant([[-3.0, -4.0]]),
        'audio': tf.zeros([1, 8]),
    }


def test_dict_layer_keys_from_signature_and_annotation():
    layer = Scaler()
    assert layer.input_keys == ['f0_hz', 'loudness_db']
    assert layer.default_input_keys == ['gain', 'offset']
    assert layer.default_input_values == [2.0, None]
    assert layer.all_input_keys == ['f0_hz', 'loudness_db', 'gain', 'offset']
    assert layer.n_inputs == 4
    assert layer.output_keys == ['f0_out', 'ld_out']
    # `training` is a Keras context argument, never an input key.
    assert TrainingArg().input_keys == ['x'] and TrainingArg().default_input_keys == []


def test_dict_layer_defaults_lookup_and_kwargs():
    layer = Scaler()
    out = layer(_features())
    assert set(out) == {'f0_out', 'ld_out'}
    np.testing.assert_allclose(out['f0_out'], [[2.0, 4.0]])  # Default gain 2.
    np.testing.assert_allclose(out['ld_out'], [[-3.0, -4.0]])
    # Defaults are looked up when present, and keyword arguments named like keys join them.
    out = layer(_features(), gain=tf.constant(10.0), offset=tf.constant(1.0))
    np.testing.assert_allclose(out['f0_out'], [[10.0, 20.0]])
    np.testing.assert_allclose(out['ld_out'], [[-2.0, -3.0]])
    out = layer({**_features(), 'gain': tf.constant(3.0)})
    np.testing.assert_allclose(out['f0_out'], [[3.0, 6.0]])
    # Several dicts are merged.
    features = _features()
    out = layer({'f0_hz': features['f0_hz']}, {'loudness_db': features['loudness_db']})
    np.testing.assert_allclose(out['f0_out'], [[2.0, 4.0]])


def test_dict_layer_positional_tensors():
    layer = Scaler()
    f = _features()
    out = layer(f['f0_hz'], f['loudness_db'])  # Defaults fill the rest.
    np.testing.assert_allclose(out['f0_out'], [[2.0, 4.0]])
    out = layer(f['f0_hz'], f['loudness_db'], tf.constant(5.0), tf.constant(1.0))
    np.testing.assert_allclose(out['f0_out'], [[5.0, 10.0]])
    # Positional tensors come first, then the keys found in the dict.
    out = layer(f['f0_hz'], {'loudness_db': f['loudness_db'], 'f0_hz': tf.zeros([1, 2])})
    assert out['f0_out'].shape == (1, 2)


def test_dict_layer_explicit_and_nested_keys():
    layer = Scaler(input_keys=['harmonic/f0', 'inputs/ld'], output_keys=['a', 'b'])
    assert layer.default_input_keys == [] and layer.n_inputs == 2
    features = {
        'harmonic': {'f0': tf.constant([[1.0]])},
        'inputs': {'ld': tf.constant([[7.0]])},
        'gain': tf.constant(100.0),
    }
    out = layer(features)
    # Explicit keys disable defaults: gain is not looked up, the Python default 2 is used.
    np.testing.assert_allclose(out['a'], [[2.0]])
    np.testing.assert_allclose(out['b'], [[7.0]])


def test_dict_layer_missing_key_error_lists_available_keys():
    layer = Scaler()
    with pytest.raises(KeyError) as info:
        layer({'f0_hz': tf.ones([1, 2]), 'other': {'nested': tf.ones([1])}})
    message = str(info.value)
    assert "Missing keys: ['loudness_db']" in message
    assert "Available keys: ['f0_hz', 'other/nested']" in message
    assert isinstance(info.value, TypeError)  # The original raised TypeError.


def test_dict_layer_output_count_mismatch():
    layer = Scaler(output_keys=['only_one'])
    with pytest.raises(ValueError, match='returned 2 outputs for the 1 output keys'):
        layer(_features())


def test_dict_layer_training_propagates():
    layer = DropoutDict()
    x = {'x': tf.ones([4, 64])}
    np.testing.assert_array_equal(layer(x)['y'], np.ones([4, 64]))  # Inference by default.
    y = layer(x, training=True)['y'].numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and (y == 0).any()
    out = TrainingArg()({'x': tf.ones([1])}, training=True)
    assert bool(out['training'])


def test_dict_layer_tf_function_matches_eager():
    layer = Scaler()
    eager = layer(_features())
    traced = tf.function(lambda d: layer(d))(_features())
    for key in eager:
        np.testing.assert_array_equal(eager[key], traced[key])


class DenseDict(nn.DictLayer):
    """Builds its Dense layer from the input shapes given to `build`."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)
        self.build_shapes = None

    def build(self, input_shapes):
        self.build_shapes = input_shapes
        self.dense.build(input_shapes[0][:-1] + (input_shapes[0][-1] + input_shapes[1][-1],))

    def call(self, a, b, unused=None) -> ['y']:  # noqa: F821 (output keys)
        return self.dense(tf.concat([a, b], axis=-1))


def test_dict_layer_builds_from_input_shapes():
    layer = DenseDict()
    out = layer({'a': tf.ones([2, 5, 1]), 'b': tf.ones([2, 5, 4])})
    assert layer.build_shapes == [(2, 5, 1), (2, 5, 4), None]
    assert out['y'].shape == (2, 5, 3)
    assert layer.built and layer.count_params() == 5 * 3 + 3


def test_dict_layer_config_round_trip():
    layer = Scaler(input_keys=('f0_hz', 'loudness_db'), output_keys=('x', 'y'), name='s')
    config = layer.get_config()
    assert config['input_keys'] == ['f0_hz', 'loudness_db']
    clone = Scaler.from_config(config)
    assert clone.get_config() == config and clone.default_input_keys == []
    # Inferred keys are not stored, so defaults survive a round trip.
    clone = Scaler.from_config(Scaler().get_config())
    assert clone.default_input_keys == ['gain', 'offset']


def test_dict_layer_validates_keys():
    with pytest.raises(ValueError, match='input_keys must be a sequence of non-empty strings'):
        Scaler(input_keys=['f0_hz', 3])


# ------------------------------------------------------------------------------------------------
# OutputSplitsLayer.
# ------------------------------------------------------------------------------------------------
class ConcatSplits(nn.OutputSplitsLayer):
    def compute_output(self, f0_scaled, ld_scaled):
        return tf.concat([f0_scaled, ld_scaled], axis=-1)


def test_output_splits_layer():
    layer = ConcatSplits(output_splits=(('amps', 1), ('hd', 4)))
    assert layer.input_keys == ['f0_scaled', 'ld_scaled']
    assert layer.output_keys == ['amps', 'hd']
    out = layer({'f0_scaled': tf.ones([2, 7, 1]), 'ld_scaled': tf.ones([2, 7, 2])})
    assert out['amps'].shape == (2, 7, 1) and out['hd'].shape == (2, 7, 4)
    assert layer.count_params() == 3 * 5 + 5  # Dense(3 -> 5).
    kernel, bias = layer.dense_out.get_weights()
    x = np.ones([2, 7, 3], np.float32)
    np.testing.assert_allclose(out['hd'], (x @ kernel + bias)[..., 1:], rtol=1e-5)
    clone = ConcatSplits.from_config(layer.get_config())
    assert clone.output_splits == (('amps', 1), ('hd', 4))
    with pytest.raises(
        ValueError,
        match=r'output_splits must be .* with distinct keys .*'
        r"received output_splits=\(\('a', 1\), \('a', 2\)\)",
    ):
        ConcatSplits(output_splits=(('a', 1), ('a', 2)))


# ------------------------------------------------------------------------------------------------
# Fully connected and recurrent layers.
# ------------------------------------------------------------------------------------------------
def test_fc_matches_reference_and_counts():
    x = _rand(2, 4, 3)
    fc = nn.Fc(ch=5)
    y = fc(x).numpy()
    assert fc.count_params() == 3 * 5 + 5 + 2 * 5  # Dense + LayerNorm scale and offset.
    kernel, bias = fc.dense.get_weights()
    h = x @ kernel + bias
    mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    h = (h - mean) / np.sqrt(var + 1e-3)  # Keras LayerNormalization, epsilon 1e-3.
    expected = np.where(h > 0, h, 0.2 * h)  # leaky_relu, slope 0.2.
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def _layer_norm_np(x, gamma, beta, eps):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_layer_norm_matches_keras_and_numpy():
    x = 3.0 * _rand(2, 7, 16) + 1.5
    norm = keras.layers.LayerNormalization()
    norm.build([None, 16])
    norm.gamma.assign(_rand(16, seed=1))
    norm.beta.assign(_rand(16, seed=2))
    y = nn.layer_norm(x, norm.gamma, norm.beta, norm.epsilon).numpy()
    np.testing.assert_allclose(y, norm(x).numpy(), rtol=1e-5, atol=1e-5)
    expected = _layer_norm_np(x.astype(np.float64), norm.gamma.numpy(), norm.beta.numpy(), 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_layer_norm_gradient_matches_float64_autodiff_and_finite_differences():
    # The hand-written gradient against TensorFlow's autodiff of the textbook formula in float64
    # (an independent derivation), and the float64 reference against central differences.
    rng = np.random.default_rng(3)
    x, weight = rng.standard_normal((3, 4, 8)) * 2.0 + 0.7, rng.standard_normal((3, 4, 8))
    gamma, beta = rng.standard_normal(8), rng.standard_normal(8)

    def reference(x, gamma, beta):
        mean, var = tf.nn.moments(x, [-1], keepdims=True)
        return (x - mean) / tf.sqrt(var + 1e-3) * gamma + beta

    def gradients(fn, dtype):
        args = [tf.constant(a, dtype) for a in (x, gamma, beta)]
        with tf.GradientTape() as tape:
            tape.watch(args)
            loss = tf.reduce_sum(fn(*args) * tf.constant(weight, dtype))
        return [g.numpy() for g in tape.gradient(loss, args)]

    ours = gradients(lambda *a: nn.layer_norm(*a, epsilon=1e-3), tf.float32)
    ref = gradients(reference, tf.float64)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Finite differences of the float64 reference for a few entries of x.
    step = 1e-6
    for index in [(0, 0, 0), (1, 2, 5), (2, 3, 7)]:
        bumped = [x.copy(), x.copy()]
        bumped[0][index] += step
        bumped[1][index] -= step
        plus, minus = [np.sum(_layer_norm_np(b, gamma, beta, 1e-3) * weight) for b in bumped]
        np.testing.assert_allclose(
            ours[0][index], (plus - minus) / (2 * step), rtol=1e-4, atol=1e-5
        )


def test_layer_norm_half_precision_and_xla():
    x = _rand(2, 3, 8)
    gamma, beta = _rand(8, seed=1), _rand(8, seed=2)
    y = nn.layer_norm(x, gamma, beta)
    y_half = nn.layer_norm(tf.constant(x, tf.float16), gamma, beta)
    assert y_half.dtype == tf.float16
    np.testing.assert_allclose(y_half.numpy(), y.numpy(), rtol=1e-2, atol=1e-2)

    @tf.function(jit_compile=True)
    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(nn.layer_norm(x, gamma, beta)))
        return loss, tape.gradient(loss, x)

    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        loss = tf.reduce_sum(tf.square(nn.layer_norm(xt, gamma, beta)))
    loss_xla, grad_xla = value_and_grad(tf.constant(x))
    np.testing.assert_allclose(loss_xla.numpy(), loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        grad_xla.numpy(), tape.gradient(loss, xt).numpy(), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize('shape', [(3, 4, 5), (6, 1)])
def test_dense_layer_norm_matches_float64_autodiff(shape):
    # Folding the row mean into the weights is exact algebra; compare values and every gradient
    # with TensorFlow's autodiff of the plain Dense + textbook LayerNorm in float64.
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 2.0 + 0.5
    kernel, bias = rng.standard_normal((shape[-1], 8)), rng.standard_normal(8)
    gamma, beta = rng.standard_normal(8), rng.standard_normal(8)
    weight = rng.standard_normal(shape[:-1] + (8,))

    def reference(x, kernel, bias, gamma, beta):
        h = tf.tensordot(x, kernel, 1) + bias
        mean, var = tf.nn.moments(h, [-1], keepdims=True)
        return (h - mean) / tf.sqrt(var + 1e-3) * gamma + beta

    def value_and_gradients(fn, dtype):
        args = [tf.constant(a, dtype) for a in (x, kernel, bias, gamma, beta)]
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = fn(*args)
            loss = tf.reduce_sum(y * tf.constant(weight, dtype))
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, args)]

    ours = value_and_gradients(lambda *a: nn.dense_layer_norm(*a, epsilon=1e-3), tf.float32)
    ref = value_and_gradients(reference, tf.float64)
    names = ['y', 'd_x', 'd_kernel', 'd_bias', 'd_gamma', 'd_beta']
    for name, a, b in zip(names, ours, ref):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=name)
    # The bias only shifts each row by a constant after centring, so its gradient is zero-mean.
    assert abs(ref[3].mean()) < 1e-9


def test_dense_layer_norm_half_precision_and_xla():
    x = _rand(2, 3, 6)
    kernel, bias = _rand(6, 8, seed=1), _rand(8, seed=2)
    gamma, beta = _rand(8, seed=3), _rand(8, seed=4)
    y = nn.dense_layer_norm(x, kernel, bias, gamma, beta)
    y_half = nn.dense_layer_norm(tf.constant(x, tf.float16), kernel, bias, gamma, beta)
    assert y_half.dtype == tf.float16
    np.testing.assert_allclose(y_half.numpy(), y.numpy(), rtol=1e-2, atol=1e-2)

    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(nn.dense_layer_norm(x, kernel, bias, gamma, beta)))
        return loss, tape.gradient(loss, x)

    loss, grad = value_and_grad(tf.constant(x))
    loss_xla, grad_xla = tf.function(value_and_grad, jit_compile=True)(tf.constant(x))
    np.testing.assert_allclose(loss_xla.numpy(), loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(grad_xla.numpy(), grad.numpy(), rtol=1e-4, atol=1e-5)


def test_fc_equals_its_keras_layers():
    # `Fc.call` fuses its Dense and LayerNormalization; calling the two layers must agree.
    fc = nn.Fc(ch=7)
    x = _rand(2, 5, 4)
    y = fc(x).numpy()
    unfused = keras.activations.leaky_relu(fc.norm(fc.dense(x)), negative_slope=0.2).numpy()
    np.testing.assert_allclose(y, unfused, rtol=1e-4, atol=1e-5)


def test_fc_stack_counts_and_identity():
    stack = nn.FcStack(ch=6, layers=3)
    assert stack(tf.ones([2, 4, 2])).shape == (2, 4, 6)
    assert stack.count_params() == (2 * 6 + 6 + 12) + 2 * (6 * 6 + 6 + 12)
    empty = nn.FcStack(ch=6, layers=0)
    x = _rand(1, 3, 2)
    np.testing.assert_array_equal(empty(x), x)
    assert empty.count_params() == 0


@pytest.mark.parametrize(
    'rnn_type, bidir, return_sequences',
    [('gru', False, True), ('lstm', False, True), ('gru', True, True), ('lstm', True, False)],
)
def test_rnn_shapes_and_counts(rnn_type, bidir, return_sequences):
    c_in, dims = 3, 4
    rnn = nn.Rnn(dims, rnn_type, return_sequences=return_sequences, bidir=bidir)
    y = rnn(tf.ones([2, 5, c_in]))
    channels = dims * (2 if bidir else 1)
    assert tuple(y.shape) == ((2, 5, channels) if return_sequences else (2, channels))
    if rnn_type == 'gru':  # reset_after: two bias vectors per gate.
        per_direction = 3 * (c_in * dims + dims * dims + 2 * dims)
    else:
        per_direction = 4 * (c_in * dims + dims * dims + dims)
    assert rnn.count_params() == per_direction * (2 if bidir else 1)


@pytest.mark.parametrize('rnn_type, state_size', [('gru', 4), ('lstm', 8)])
def test_stateless_rnn_chunks_match_full_sequence(rnn_type, state_size):
    rnn = nn.StatelessRnn(4, rnn_type)
    assert rnn.state_size == state_size
    x = _rand(2, 6, 3)
    zero = tf.zeros([2, state_size])
    y_full, state_full = rnn(x, zero)
    y_a, state = rnn(x[:, :3], zero)
    y_b, state = rnn(x[:, 3:], state)
    np.testing.assert_allclose(np.concatenate([y_a, y_b], 1), y_full, atol=1e-5)
    np.testing.assert_allclose(state, state_full, atol=1e-5)
    assert state.shape == (2, state_size)


def test_rnn_fc_bidir_is_bidirectional():
    # The original passed `bidir` as `return_sequences`; here it makes the RNN bidirectional.
    uni = nn.RnnFc(4, 2, rnn_type='gru', bidir=False)
    bi = nn.RnnFc(4, 2, rnn_type='gru', bidir=True)
    x = tf.ones([2, 5, 3])
    assert uni(x).shape == (2, 5, 2) and bi(x).shape == (2, 5, 2)
    gru = 3 * (3 * 4 + 4 * 4 + 2 * 4)
    assert uni.count_params() == gru + (4 * 2 + 2)
    assert bi.count_params() == 2 * gru + (8 * 2 + 2)
    y = uni(x).numpy()
    assert ((y > 0) & (y < 1)).all()  # Sigmoid output by default.
    two = nn.RnnFc(4, 2, rnn_type='lstm', n_rnn=2)
    assert two(x).shape == (2, 5, 2)
    assert len(two.rnns) == 2


def test_rnn_sandwich_and_identity():
    sandwich = nn.RnnSandwich(fc_stack_ch=6, fc_stack_layers=1, rnn_ch=5, rnn_type='gru')
    assert sandwich(tf.ones([2, 4, 3])).shape == (2, 4, 6)
    expected = (3 * 6 + 6 + 12) + 3 * (6 * 5 + 5 * 5 + 2 * 5) + (5 * 6 + 6 + 12)
    assert sandwich.count_params() == expected
    x = _rand(2, 3)
    np.testing.assert_array_equal(nn.Identity()(x), x)


@pytest.mark.parametrize(
    'make, message',
    [
        (lambda: nn.Fc(ch=0), 'ch must be a positive integer; received ch=0'),
        (lambda: nn.FcStack(layers=-1), 'layers must be an integer >= 0; received layers=-1'),
        (lambda: nn.Rnn(8, 'rnn'), "rnn_type must be one of \\['gru', 'lstm'\\]; received"),
        (lambda: nn.RnnFc(8, 0), 'out_feat must be a positive integer'),
        (lambda: nn.StatelessRnn(8.5, 'gru'), 'dims must be a positive integer'),
    ],
)
def test_argument_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    'layer',
    [
        nn.Fc(7, 'relu'),
        nn.FcStack(5, 1),
        nn.Rnn(3, 'lstm', bidir=True),
        nn.StatelessRnn(3, 'gru'),
        nn.RnnFc(3, 2, bidir=True, n_rnn=2),
        nn.RnnSandwich(4, 1, 3, 'lstm'),
        nn.Identity(),
        nn.Normalize('group'),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_config_round_trips(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer) and clone.get_config() == config


def test_tf_function_matches_eager_for_stacks():
    layer = nn.RnnSandwich(4, 1, 3)
    x = _rand(2, 5, 3)
    np.testing.assert_allclose(tf.function(layer)(x), layer(x), atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Gin.
# ------------------------------------------------------------------------------------------------
@gin.configurable
def _gin_network(net=None, layers=()):
    return net, layers


def test_gin_spellings_of_the_original_configs():
    nn.gin_register_keras_layers()  # Idempotent.
    gin.clear_config()
    try:
        gin.parse_config("""
            import ddsp.training.nn
            _gin_network.net = @nn.RnnSandwich()
            nn.RnnSandwich.fc_stack_ch = 8
            ddsp.training.nn.RnnSandwich.rnn_type = 'lstm'
            _gin_network.layers = [@tf.keras.Sequential(), @nn.FcStack(), @tf.keras.layers.GRU(),
                                   @nn.Dense()]
            tf.keras.Sequential.layers = [@tf.keras.layers.Dense(), @tf.keras.layers.Dropout()]
            tf.keras.layers.Dense.units = 3
            tf.keras.layers.Dropout.rate = 0.1
            tf.keras.layers.GRU.units = 2
            nn.FcStack.layers = 1
            nn.Dense.units = 4
        """)
        net, (seq, stack, gru, dense) = _gin_network()
    finally:
        gin.clear_config()
    assert isinstance(net, nn.RnnSandwich) and net.fc_stack_ch == 8 and net.rnn_type == 'lstm'
    assert isinstance(seq, keras.Sequential) and seq(tf.ones([1, 2])).shape == (1, 3)
    assert isinstance(stack, nn.FcStack) and stack.n_layers == 1
    assert isinstance(gru, keras.layers.GRU) and gru.units == 2
    assert type(dense) is keras.layers.Dense and dense.units == 4


# Every gin registration of the flat module the package replaced, and where it now lives: gin
# must still find each under `nn.<Name>` though it derives names from the defining module.
GIN_NAMES = {
    'ConditionalNorm': 'conditioning',
    'DilatedConvStack': 'dilated_conv',
    'Fc': 'dense',
    'FcStack': 'dense',
    'FcStackOut': 'dense',
    'Identity': 'layer_utils',
    'NormReluConv': 'resnet',
    'Normalize': 'normalization',
    'PolyphaseResample': 'polyphase',
    'ResNet': 'resnet',
    'ResidualLayer': 'resnet',
    'ResidualStack': 'resnet',
    'Rnn': 'rnn',
    'RnnFc': 'rnn',
    'RnnSandwich': 'rnn',
    'SingleGru': 'rnn',
    'StatelessRnn': 'rnn',
    'VectorQuantization': 'quantization',
    'split_to_dict': 'dict_layer',
}


@pytest.mark.parametrize('name', sorted(GIN_NAMES))
@pytest.mark.parametrize('spelling', ['nn.{}', 'ddsp.training.nn.{}', '{}', 'dec/nn.{}'])
def test_gin_finds_every_configurable_under_its_original_name(name, spelling):
    target = getattr(nn, name)
    assert target.__module__ == f'ddsp.training.nn.{GIN_NAMES[name]}'
    if spelling == '{}' and hasattr(keras.layers, name):
        return  # Bare `Identity` is also `tf.keras.layers.Identity` (ambiguous, as it always was).
    gin.clear_config()
    try:
        gin.parse_config(f'_gin_network.net = @{spelling.format(name)}')
        reference = gin.query_parameter('_gin_network.net')
    finally:
        gin.clear_config()
    assert reference.configurable.wrapped is target
    assert reference.configurable.module == 'ddsp.training.nn'


def test_gin_bindings_in_the_styles_of_the_original_configs():
    gin.clear_config()
    try:
        gin.parse_config("""
            _gin_network.net = @dec/nn.DilatedConvStack()
            dec/DilatedConvStack.ch = 6
            dec/DilatedConvStack.layers_per_stack = 1
            nn.DilatedConvStack.stacks = 3
            _gin_network.layers = [@nn.FcStack(), @nn.RnnFc(), @ddsp.training.nn.Normalize(),
                                   @nn.Dense()]
            nn.FcStack.ch = 7
            FcStack.layers = 1
            ddsp.training.nn.RnnFc.rnn_feat = 3
            nn.RnnFc.out_feat = 2
            nn.RnnFc.rnn_type = 'gru'
            Normalize.norm_type = 'instance'
            nn.Dense.units = 5
        """)
        conv, (stack, rnn_fc, norm, dense) = _gin_network()
    finally:
        gin.clear_config()
    assert type(conv) is nn.DilatedConvStack
    assert (conv.ch, conv.layers_per_stack, conv.stacks) == (6, 1, 3)
    assert type(stack) is nn.FcStack and (stack.ch, stack.n_layers) == (7, 1)
    assert type(rnn_fc) is nn.RnnFc and (rnn_fc.rnn_feat, rnn_fc.out_feat) == (3, 2)
    assert rnn_fc.rnn_type == 'gru'
    assert type(norm) is nn.Normalize and norm.norm_type == 'instance'
    assert type(dense) is keras.layers.Dense and dense.units == 5


KERAS_NAMES = [
    'ConditionalNorm',
    'ConditionalScaleAndShift',
    'DilatedConvStack',
    'Fc',
    'FcStack',
    'FcStackOut',
    'Identity',
    'NormReluConv',
    'Normalize',
    'PolyphaseResample',
    'ResNet',
    'ResidualLayer',
    'ResidualStack',
    'Rnn',
    'RnnFc',
    'RnnSandwich',
    'SingleGru',
    'SpectralNormalization',
    'StatelessRnn',
    'VectorQuantization',
]


@pytest.mark.parametrize('name', KERAS_NAMES)
def test_keras_registered_names_are_unchanged(name):
    cls = getattr(nn, name)
    assert keras.saving.get_registered_name(cls) == f'ddsp.training>{name}'
    assert keras.saving.get_registered_object(f'ddsp.training>{name}') is cls


def test_base_dict_layers_stay_unregistered():
    # As before the split: only concrete layers are saved under `ddsp.training>`.
    assert keras.saving.get_registered_name(nn.DictLayer) == 'DictLayer'
    assert keras.saving.get_registered_name(nn.OutputSplitsLayer) == 'OutputSplitsLayer'


def test_public_names_of_the_package():
    for name in nn.__all__:
        assert getattr(nn, name) is not None, name
    # Note masks live in their own module and are still `nn.<name>`.
    for name in (
        'get_note_mask',
        'get_note_mask_from_onset',
        'get_note_lengths',
        'get_note_moments',
        'pool_over_notes',
        'get_short_note_loss_mask',
    ):
        assert getattr(nn, name) is getattr(note_masks, name)


def test_nested_lookup_error_is_reused():
    # DictLayer's missing-key error is the core library's (printable) MissingKeyError.
    assert issubclass(nn.DictLayerInputError, core.MissingKeyError)


# ------------------------------------------------------------------------------------------------
# Conditioning, spectral normalization and dilated convolutions.
# ------------------------------------------------------------------------------------------------
def test_conditional_scale_and_shift_matches_reference():
    film = nn.ConditionalScaleAndShift()
    x, z = _rand(2, 5, 3), _rand(2, 4, seed=1)
    y = film([x, z]).numpy()
    kernel, bias = film.dense.get_weights()
    params = z @ kernel + bias  # [B, 6]: scale then shift.
    expected = x * params[:, None, :3] + params[:, None, 3:]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    shift = nn.ConditionalScaleAndShift(shift_only=True)
    shift([x, z])
    assert shift.count_params() == 4 * 3 + 3


def test_conditional_norm_and_get_norm():
    norm = nn.ConditionalNorm('instance')
    x = _rand(2, 6, 4) * 3.0 + 1.0
    y = norm([x, _rand(2, 3)])
    assert y.shape == (2, 6, 4)
    assert isinstance(nn.get_norm('layer'), nn.Normalize)
    assert nn.get_norm(None) is None
    assert isinstance(nn.get_norm('group', conditional=True), nn.ConditionalNorm)
    assert isinstance(nn.get_norm(None, conditional=True), nn.ConditionalScaleAndShift)


def test_spectral_normalization_updates_only_when_training():
    layer = nn.SpectralNormalization(keras.layers.Dense(4), power_iterations=1)
    x = _rand(3, 6)
    layer(x)
    kernel = layer.layer.kernel.numpy().copy()
    layer(x)  # Inference: untouched.
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel)
    for _ in range(30):
        layer(x, training=True)
    sigma = np.linalg.svd(layer.layer.kernel.numpy(), compute_uv=False)[0]
    np.testing.assert_allclose(sigma, 1.0, rtol=1e-2)


def test_dilated_conv_stack_counts_rates_and_shapes():
    stack = nn.DilatedConvStack(
        ch=8, layers_per_stack=2, stacks=2, kernel_size=3, dilation=2, norm_type='layer'
    )
    assert stack(tf.ones([2, 10, 3])).shape == (2, 10, 8)
    # conv_in 3*3*8+8, four convs 3*8*8+8, four Normalize 2*8.
    assert stack.count_params() == 80 + 4 * 200 + 4 * 16
    assert [c.dilation_rate[0] for c in stack.convs] == [1, 2, 1, 2]
    down = nn.DilatedConvStack(8, 3, 2, dilation=-2, resample_type='downsample', resample_stride=2)
    assert [c.dilation_rate[0] for c in down.convs] == [4, 2, 1, 4, 2, 1]
    assert down(tf.ones([2, 16, 3])).shape == (2, 4, 8)
    up = nn.DilatedConvStack(
        8,
        1,
        2,
        resample_type='upsample',
        resample_stride=3,
        stacks_per_resample=2,
        resample_after_convolve=False,
    )
    assert up(tf.ones([2, 5, 3])).shape == (2, 15, 8)


def test_dilated_conv_stack_receptive_field():
    # Kernel 3 with rates 1, 2, 4: a change at frame 10 reaches 1 + 1 + 2 + 4 = 8 frames away
    # (the input conv adds 1), and no further.
    # A random baseline keeps the ReLUs from hiding the change.
    stack = nn.DilatedConvStack(ch=16, layers_per_stack=3, stacks=1, kernel_size=3, dilation=2)
    x = _rand(1, 21, 1)
    bumped = x.copy()
    bumped[0, 10, 0] += 1.0
    diff = np.abs(stack(bumped).numpy() - stack(x).numpy()).sum(-1)[0]
    changed = np.nonzero(diff > 1e-7)[0]
    assert changed.min() == 2 and changed.max() == 18


def test_conditional_dilated_conv_stack_uses_z():
    stack = nn.DilatedConvStack(
        ch=4,
        layers_per_stack=2,
        stacks=1,
        norm_type='instance',
        conditional=True,
        spectral_norm=True,
    )
    x = _rand(2, 6, 2)
    y1 = stack(x, tf.zeros([2, 3]))
    y2 = stack(x, tf.ones([2, 3]))
    assert y1.shape == (2, 6, 4) and not np.allclose(y1, y2)
    with pytest.raises(ValueError, match='is conditional'):
        stack(x)
    # `training` reaches the spectral normalizations inside through the call context.
    kernel = stack.convs[0].layer.kernel.numpy().copy()
    stack(x, tf.ones([2, 3]), training=True)
    assert not np.allclose(stack.convs[0].layer.kernel.numpy(), kernel)


def test_fc_stack_out():
    layer = nn.FcStackOut(ch=6, layers=2, n_out=3)
    assert layer(tf.ones([2, 4, 5])).shape == (2, 4, 3)
    assert layer.count_params() == (5 * 6 + 6 + 12) + (6 * 6 + 6 + 12) + (6 * 3 + 3)


@pytest.mark.parametrize(
    'make',
    [
        lambda: nn.DilatedConvStack(
            4,
            1,
            1,
            resample_type='upsample',
            resample_stride=2,
            ortho_init=True,
            conditional=True,
            shift_only=True,
        ),
        lambda: nn.FcStackOut(4, 1, 2),
        lambda: nn.ConditionalNorm('layer', True),
        lambda: nn.ConditionalScaleAndShift(True),
    ],
)
def test_conv_layer_config_round_trips(make):
    layer = make()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(dilation=0), 'dilation must be a non-zero integer'),
        (
            dict(resample_type='up'),
            "resample_type must be one of \\[None, 'downsample', 'upsample'",
        ),
        (dict(norm_type='batch'), 'norm_type must be one of'),
    ],
)
def test_dilated_conv_stack_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.DilatedConvStack(**kwargs)


# ------------------------------------------------------------------------------------------------
# Straight-through estimators, polyphase resampling, note masks and vector quantization.
# ------------------------------------------------------------------------------------------------
def test_straight_through_estimators():
    logits = tf.constant([[5.0, -5.0, 0.0], [-9.0, 9.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        sample, probs = nn.straight_through_softmax(logits)
        loss = tf.reduce_sum(sample * tf.constant([1.0, 2.0, 3.0]))
    assert set(np.unique(sample.numpy().round(6))) <= {0.0, 1.0}
    np.testing.assert_allclose(sample.numpy().sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs, tf.nn.softmax(logits), rtol=1e-6)
    # The gradient is the softmax's: d/dlogits sum(p * v) = p * (v - sum(p * v)).
    p = probs.numpy()
    v = np.array([1.0, 2.0, 3.0])
    expected = p * (v - (p * v).sum(-1, keepdims=True))
    np.testing.assert_allclose(tape.gradient(loss, logits), expected, rtol=1e-4, atol=1e-7)
    choice = nn.straight_through_choice(tf.constant([[50.0, 0.0, 0.0]]), [10.0, 20.0, 30.0])
    np.testing.assert_allclose(choice, [[10.0]])
    x = tf.constant([0.4, 1.6, -2.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = nn.straight_through_int_quantization(x)
    np.testing.assert_allclose(y, np.round([0.4, 1.6, -2.5]))
    np.testing.assert_allclose(tape.gradient(y, x), [1.0, 1.0, 1.0])


def test_polyphase_resample_round_trip():
    x = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)
    down = nn.polyphase_resample(x, 2, 'down').numpy()
    assert down.shape == (2, 3, 6)
    np.testing.assert_array_equal(down[:, 1, :3], x[:, 2])  # Frame 2t -> first channels.
    np.testing.assert_array_equal(down[:, 1, 3:], x[:, 3])
    np.testing.assert_array_equal(nn.polyphase_resample(down, 2, 'up'), x)
    assert nn.polyphase_resample(x[:, :5], 2, 'down', 'pad').shape == (2, 3, 6)
    assert nn.polyphase_resample(x[:, :5], 2, 'down', 'trim').shape == (2, 2, 6)
    assert nn.PolyphaseResample(3)(x).shape == (2, 2, 9)


def _numpy_note_mask(q_pitch, max_regions, note_on_only):
    b, t = q_pitch.shape
    mask = np.zeros([b, t, max_regions], np.float32)
    for i in range(b):
        region = 0
        for j in range(t):
            if j and q_pitch[i, j] != q_pitch[i, j - 1]:
                region += 1
            if region < max_regions and (q_pitch[i, j] > 0 or not note_on_only):
                mask[i, j, region] = 1.0
    return mask


def test_note_masks_and_moments():
    q_pitch = np.array(
        [[0, 60, 60, 62, 62, 62, 0, 0, 64], [50, 50, 50, 50, 0, 0, 0, 51, 51]], np.float32
    )
    for note_on_only in (True, False):
        mask = nn.get_note_mask(q_pitch[..., np.newaxis], 6, note_on_only).numpy()
        np.testing.assert_array_equal(mask, _numpy_note_mask(q_pitch, 6, note_on_only))
    np.testing.assert_array_equal(nn.get_note_mask(q_pitch, 2), _numpy_note_mask(q_pitch, 2, True))
    mask = nn.get_note_mask(q_pitch, 6)
    lengths = nn.get_note_lengths(mask).numpy()
    np.testing.assert_array_equal(lengths[0], [0, 2, 3, 0, 1, 0])

    x = np.random.default_rng(0).standard_normal([2, 9, 2]).astype(np.float32)
    mean, std = nn.get_note_moments(x, mask)
    np.testing.assert_allclose(mean[0, 2], x[0, 3:6].mean(0), rtol=1e-5)
    np.testing.assert_allclose(std[0, 2], x[0, 3:6].std(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mean[0, 0], 0.0)  # The silent region is masked out.
    pooled_mean, pooled_std = nn.pool_over_notes(x, mask)
    np.testing.assert_allclose(
        pooled_mean[1, :4], np.repeat(x[1, :4].mean(0)[None], 4, 0), rtol=1e-5
    )
    np.testing.assert_allclose(pooled_mean[1, 4:7], 0.0)
    assert pooled_std.shape == (2, 9, 2)
    assert nn.pool_over_notes(x, mask, return_std=False).shape == (2, 9, 2)

    pitches = nn.get_note_moments(q_pitch[..., np.newaxis], mask, return_std=False)
    short = nn.get_short_note_loss_mask(mask, lengths, pitches, min_length=3).numpy()[..., 0]
    np.testing.assert_array_equal(short[0], [0, 1, 1, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(short[1], [0, 0, 0, 0, 0, 0, 0, 1, 1])


def test_note_mask_from_onsets():
    q_pitch = np.array([[60, 60, 60, 60, 0, 60]], np.float32)
    onsets = np.array([[1, 0, 1, 0, 0, 1]], np.float32)
    mask = nn.get_note_mask_from_onset(q_pitch, onsets, max_regions=5).numpy()
    # Onsets split the repeated note that a pitch-change mask would merge.
    assert mask.argmax(-1).tolist() == [[1, 1, 2, 2, 0, 3]]
    assert mask[0, 4].sum() == 0  # Silence is masked.


def test_vector_quantization():
    vq = nn.VectorQuantization(k=4, num_heads=2, gamma=0.5)
    x = _rand(2, 5, 6)
    z_q, codes = vq(x)
    assert z_q.shape == (2, 5, 6) and codes.shape == (2, 5, 2)
    codebook = vq.codebook.numpy()  # [heads, k, 3]
    heads = x.reshape(-1, 2, 3)
    distances = ((heads[:, :, None, :] - codebook[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(codes.numpy().reshape(-1, 2), distances.argmin(-1))
    expected = np.stack([codebook[h, distances.argmin(-1)[:, h]] for h in range(2)], 1)
    # z_q = x + (code - x) in float32: exact up to rounding.
    np.testing.assert_allclose(z_q.numpy().reshape(-1, 2, 3), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vq.unquantize(codes), z_q, rtol=1e-5, atol=1e-6)
    # Straight-through gradient.
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        total = tf.reduce_sum(vq(xt)[0])
    np.testing.assert_allclose(tape.gradient(total, xt), np.ones_like(x))
    # EMA update: a used code moves towards the mean of its vectors (gamma 0.5, counts 1).
    z_q, codes = vq(x, training=True)
    flat_codes = codes.numpy().reshape(-1, 2)
    used = flat_codes[0, 0]
    members = heads[flat_codes[:, 0] == used, 0]
    ema_count = 0.5 + 0.5 * len(members)
    ema_sum = 0.5 * codebook[0, used] + 0.5 * members.sum(0)
    np.testing.assert_allclose(
        vq.codebook.numpy()[0, used], ema_sum / ema_count, rtol=1e-4, atol=1e-6
    )
    loss = vq.get_losses_dict(x, z_q)['commitment_loss']
    np.testing.assert_allclose(loss, 0.2 * np.mean((x - z_q.numpy()) ** 2), rtol=1e-5)
    assert nn.VectorQuantization.from_config(vq.get_config()).get_config() == vq.get_config()


def test_vector_quantization_restarts_dead_codes():
    vq = nn.VectorQuantization(k=8, gamma=0.5, restart_threshold=0.9)
    x = np.full([4, 2], 3.0, np.float32)  # Every vector picks the same code.
    vq(x)
    initial = vq.codebook.numpy()[0].copy()
    _, codes = vq(x, training=True)
    used = int(codes.numpy()[0, 0])
    codebook = vq.codebook.numpy()[0]
    # Unused codes decay to count 0.5 < 0.9 and restart at an input vector.
    np.testing.assert_allclose(np.delete(codebook, used, axis=0), 3.0, rtol=1e-6)
    # The used code (count 0.5 + 0.5 * 4) follows the EMA of its vectors.
    np.testing.assert_allclose(codebook[used], (0.5 * initial[used] + 0.5 * 12.0) / 2.5, rtol=1e-5)
    np.testing.assert_allclose(vq.ema_counts.numpy()[0, used], 2.5)


# ------------------------------------------------------------------------------------------------
# Checkpoints: every weight is saved (layers held in lists included) and restored.
# ------------------------------------------------------------------------------------------------
def checkpoint_round_trip(make, call, tmp_path):
    """Saves a called layer, restores it into a fresh one; returns both outputs."""
    layer, fresh = make(), make()
    expected, _ = call(layer), call(fresh)
    path = tf.train.Checkpoint(model=layer).save(str(tmp_path / 'ckpt'))
    saved = [name for name, _ in tf.train.list_variables(path) if name.startswith('model/')]
    assert len(saved) == len(layer.weights)
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    return expected, call(fresh)


@pytest.mark.parametrize(
    'make',
    [
        lambda: nn.FcStack(4, 3),
        lambda: nn.RnnFc(4, 2, n_rnn=2, bidir=True),
        lambda: nn.RnnSandwich(4, 2, 3),
        lambda: nn.DilatedConvStack(
            4, 2, 2, norm_type='layer', resample_type='downsample', resample_stride=2
        ),
    ],
    ids=['fc_stack', 'rnn_fc', 'sandwich', 'dilated'],
)
def test_checkpoint_round_trip(make, tmp_path):
    x = _rand(2, 8, 3)
    expected, restored = checkpoint_round_trip(make, lambda layer: layer(x), tmp_path)
    np.testing.assert_allclose(restored, expected, atol=1e-6)
