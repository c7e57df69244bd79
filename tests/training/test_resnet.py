"""The ResNet family of `ddsp.training.nn` (NormReluConv, ResidualLayer, ResidualStack, ResNet)
and `SingleGru`."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import nn

RNG = np.random.default_rng(0)


def _spectrogram(batch=1, n_time=6, n_freq=40, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, n_time, n_freq)).astype(np.float32)


def _expected_freq(n_freq):
    # Stem conv (stride 2), max pool (stride 2), then stages with strides 1, 2, 2; every
    # strided 'same' op keeps ceil(F / 2) bins.
    for stride in (2, 2, 1, 2, 2):
        n_freq = math.ceil(n_freq / stride)
    return n_freq


# ------------------------------------------------------------------------------------------------
# Shapes and striding.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('size, ch', [('tiny', 16), ('small', 32), ('medium', 32), ('large', 64)])
def test_resnet_output_shapes_for_every_size(size, ch):
    resnet = nn.ResNet(size)
    y = resnet(_spectrogram(2, 5, 40))
    # Time frames kept; frequency 40 -> 20 -> 10 -> 10 -> 5 -> 3; bottleneck output 4 * 4 ch.
    assert y.shape == (2, 5, _expected_freq(40), 16 * ch) == (2, 5, 3, 16 * ch)
    assert resnet.out_channels == 16 * ch
    assert nn.ResNet.output_freq_size(40) == 3
    n_blocks = sum(nn.ResNet.SIZES[size][1])
    assert len(resnet.residual_stack.residual_layers) == n_blocks


def test_resnet_accepts_channels_and_odd_frequency_sizes():
    resnet = nn.ResNet('tiny')
    for n_freq in (1, 17, 229):
        y = resnet(np.zeros((1, 3, n_freq, 2), np.float32))
        assert y.shape == (1, 3, _expected_freq(n_freq), 256)
    assert nn.ResNet.output_freq_size(229) == 15  # 229 -> 115 -> 58 -> 58 -> 29 -> 15.


def test_resnet_is_time_shift_equivariant():
    """Strides act on frequency only: delaying the input by one frame delays the output by
    one frame (away from the zero-padded edges; no norm, whose statistics are global)."""
    resnet = nn.ResNet('tiny', norm_type=None)
    x = _spectrogram(1, 40, 32)
    shifted = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    y, y_shifted = resnet(x).numpy(), resnet(shifted).numpy()
    np.testing.assert_allclose(y_shifted[:, 11:-10], y[:, 10:-11], rtol=1e-5, atol=1e-5)


def test_resnet_time_receptive_field():
    """Without norms, output frame t sees input frames t - 7 ... t + 7 for size 'tiny':
    stem 7x7 (+-3), max pool 3x3 (+-1), and one 3x3 conv (+-1) in each of 3 blocks."""
    resnet = nn.ResNet('tiny', norm_type=None)
    x = tf.constant(_spectrogram(1, 31, 16, seed=1))
    t0 = 15
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = resnet(x)[:, t0]
        loss = tf.reduce_sum(y * tf.constant(RNG.normal(size=y.shape), tf.float32))
    grad = np.abs(tape.gradient(loss, x).numpy()[0]).sum(axis=-1)
    seen = np.nonzero(grad > 0)[0]
    assert seen.min() >= t0 - 7 and seen.max() <= t0 + 7
    assert seen.min() <= t0 - 5 and seen.max() >= t0 + 5  # Most of the field is used.


def test_norm_relu_conv_matches_numpy():
    """Normalize('layer') -> ReLU -> Conv2D, against a direct NumPy computation."""
    layer = nn.NormReluConv(3, 3, 2, 'layer')
    x = RNG.normal(size=(1, 4, 6, 2)).astype(np.float32)
    y = layer(x).numpy()
    h = (x - x.mean()) / np.sqrt(x.var() + 1e-5)
    h = np.maximum(h, 0.0)
    kernel, bias = layer.conv.kernel.numpy(), layer.conv.bias.numpy()
    # 'same' padding: time (stride 1) pads 1 | 1; frequency 6 with stride 2 and kernel 3
    # pads max(3 - 2, 0) = 1 in total: 0 before, 1 after.
    padded = np.pad(h, ((0, 0), (1, 1), (0, 1), (0, 0)))
    expected = np.zeros((1, 4, 3, 3), np.float32)
    for t in range(4):
        for f in range(3):
            patch = padded[0, t : t + 3, 2 * f : 2 * f + 3]
            expected[0, t, f] = np.einsum('ijc,ijcd->d', patch, kernel) + bias
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_residual_layer_identity_path_and_projection():
    x = RNG.normal(size=(2, 5, 8, 16)).astype(np.float32)
    identity = nn.ResidualLayer(4, 1, False, 'layer')
    identity(x)
    # Zero the last conv: the block must return its input (identity residual).
    conv = identity.norm_relu_conv_2.conv
    conv.kernel.assign(tf.zeros_like(conv.kernel))
    conv.bias.assign(tf.zeros_like(conv.bias))
    np.testing.assert_allclose(identity(x).numpy(), x, atol=1e-6)

    projected = nn.ResidualLayer(4, 2, True, 'layer')
    assert projected(x).shape == (2, 5, 4, 16)


def test_residual_stack_shapes():
    stack = nn.ResidualStack([4, 8], [1, 2], [1, 2], 'instance')
    assert stack(np.zeros((1, 10, 16, 3), np.float32)).shape == (1, 10, 8, 32)
    assert [layer.shortcut for layer in stack.residual_layers] == [True, True, False]
    assert [layer.stride for layer in stack.residual_layers] == [1, 2, 1]
    same_filters = nn.ResidualStack(4, [1, 1], [2, 2], None, nonlinearity='tanh')
    y = same_filters(np.ones((1, 2, 8, 1), np.float32)).numpy()
    assert y.shape == (1, 2, 2, 16) and np.all(np.abs(y) <= 1)


def test_conditional_resnet_depends_on_z():
    resnet = nn.ResNet('tiny', conditional=True)
    x = _spectrogram(1, 4, 16)
    y0 = resnet(x, np.zeros((1, 3), np.float32)).numpy()
    y1 = resnet(x, np.ones((1, 3), np.float32)).numpy()
    assert not np.allclose(y0, y1)
    with pytest.raises(ValueError, match='conditional'):
        resnet(x)
    shift = nn.ResNet('tiny', conditional=True, shift_only=True)
    shift(x, np.zeros((1, 4, 3), np.float32))
    n_weights = lambda m: sum(int(np.prod(w.shape)) for w in m.weights)  # noqa: E731
    assert n_weights(shift) < n_weights(resnet)


# ------------------------------------------------------------------------------------------------
# Serialization, checkpoints, gradients.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'make',
    [
        lambda: nn.NormReluConv(4, 3, 2, 'instance'),
        lambda: nn.ResidualLayer(2, 2, True, 'layer'),
        lambda: nn.ResidualStack([2, 4], [1, 1], [1, 2], 'instance', nonlinearity='tanh'),
        lambda: nn.ResNet('tiny', norm_type=None),
        lambda: nn.SingleGru(5),
    ],
)
def test_get_config_round_trip(make):
    layer = make()
    x = (
        _spectrogram(1, 4, 32)
        if isinstance(layer, (nn.ResNet, nn.SingleGru))
        else RNG.normal(size=(1, 4, 8, 8)).astype(np.float32)
    )
    y = layer(x).numpy()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y, rtol=1e-5, atol=1e-6)
    # And through Keras's own serialization (registered under ddsp.training>...).
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == config


def test_checkpoint_saves_every_residual_layer_weight(tmp_path):
    x = _spectrogram(1, 4, 32)
    resnet = nn.ResNet('tiny')
    y = resnet(x).numpy()
    path = tf.train.Checkpoint(model=resnet).save(str(tmp_path / 'ckpt'))
    saved = [name for name, _ in tf.train.list_variables(path) if name.startswith('model/')]
    assert len(saved) == len(resnet.weights)
    residual_weights = [w for layer in resnet.residual_stack.residual_layers for w in layer.weights]
    # Size 'tiny' has 3 blocks, each the first of its stage (so with a projection): 4 convs
    # (kernel, bias) and 3 norms (scale, shift) = 14 weights per block.
    assert len(residual_weights) == 3 * 14

    restored = nn.ResNet('tiny')
    restored(x)
    restored_residual = [
        w for layer in restored.residual_stack.residual_layers for w in layer.weights
    ]
    assert not all(
        np.array_equal(a.numpy(), b.numpy()) for a, b in zip(residual_weights, restored_residual)
    )
    tf.train.Checkpoint(model=restored).restore(path).assert_consumed()
    for a, b in zip(residual_weights, restored_residual):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(restored(x).numpy(), y)


def test_gradients_reach_every_weight():
    resnet = nn.ResNet('tiny', conditional=True)
    x = _spectrogram(2, 4, 16)
    z = RNG.normal(size=(2, 3)).astype(np.float32)
    resnet(x, z)
    with tf.GradientTape() as tape:
        y = resnet(x, z)
        loss = tf.reduce_sum(y * tf.constant(RNG.normal(size=y.shape), tf.float32))
    grads = tape.gradient(loss, resnet.trainable_weights)
    assert len(grads) == len(resnet.weights) > 0
    for weight, grad in zip(resnet.trainable_weights, grads):
        assert grad is not None, weight.path
        assert np.any(grad.numpy() != 0), weight.path


def test_single_gru_matches_numpy_gru():
    """Keras-3 GRU (reset_after=True) equations, written out in NumPy."""
    layer = nn.SingleGru(3)
    x = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    y = layer(x).numpy()
    kernel, recurrent, bias = [w.numpy() for w in layer.gru.weights]
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((2, 3))
    for t in range(5):
        xk = x[:, t] @ kernel + bias[0]
        hk = h @ recurrent + bias[1]
        z = sigmoid(xk[:, :3] + hk[:, :3])
        r = sigmoid(xk[:, 3:6] + hk[:, 3:6])
        candidate = np.tanh(xk[:, 6:] + r * hk[:, 6:])
        h = z * h + (1 - z) * candidate
        np.testing.assert_allclose(y[:, t], h, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Bad arguments.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'make, match',
    [
        (lambda: nn.ResNet('huge'), "size must be one of .*'huge'"),
        (lambda: nn.ResNet('tiny', norm_type='batch'), "norm_type must be one of .*'batch'"),
        (lambda: nn.NormReluConv(4, 0, 1, 'layer'), 'k must be a positive integer; received k=0'),
        (lambda: nn.NormReluConv(4, 3, 1.5, 'layer'), 's must be a positive integer'),
        (lambda: nn.ResidualLayer(4, 2, False, 'layer'), 'shortcut must be True for stride=2'),
        (lambda: nn.ResidualStack([4], [1, 2], [1, 2], 'layer'), 'one entry per stage'),
        (lambda: nn.ResidualStack(4, [], [], 'layer'), 'block_sizes must be a non-empty'),
        (lambda: nn.ResidualStack(4, [1], [0], 'layer'), r'strides\[0\] must be a positive'),
        (lambda: nn.ResidualStack(4, [1], [1], 'layer', nonlinearity='nope'), 'nonlinearity'),
        (lambda: nn.SingleGru(0), 'gru_dim must be a positive integer'),
    ],
)
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r'spectrogram \[batch, time, freq\]'):
        nn.ResNet('tiny')(np.zeros((2, 8), np.float32))
    with pytest.raises(
        ValueError, match=r'x.shape\[-1\] must be 4 \* ch = 16.*received x.shape\[-1\]=3'
    ):
        nn.ResidualLayer(4, 1, False, 'layer')(np.zeros((1, 2, 2, 3), np.float32))
