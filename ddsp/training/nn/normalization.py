"""Normalization: group norm over time (`normalize_op`, `Normalize`) and a fast layer norm.

* `normalize_op` normalizes `[B, T, F, C]` over time, frequency and groups of channels
  ('instance', 'layer' or 'group'); `Normalize` adds a learned per-channel scale and shift.
* `layer_norm` computes what `keras.layers.LayerNormalization` computes, with a hand-written
  gradient; `dense_layer_norm` fuses a dense layer into it (the `Fc` layer's computation).

Example:
    >>> Normalize('instance')(tf.zeros([2, 100, 30])).shape  # [2, 100, 30]
"""

from typing import Text

import keras
import tensorflow as tf

from ddsp import validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.layer_utils import ensure_4d, inv_ensure_4d
from ddsp.training.nn.registration import gin_register

_NORM_GROUPS = {'instance': None, 'layer': 1, 'group': 32}  # None: one group per channel.
NORM_TYPES = tuple(_NORM_GROUPS)  # ('instance', 'layer', 'group').


def normalize_op(x, norm_type: Text = 'layer', eps: float = 1e-5):
    """Group normalization of a 4-D `[B, T, F, C]` tensor, without scale or shift.

    Statistics are taken over time, frequency and the channels of each group: 'instance'
    (one group per channel), 'layer' (one group: the whole sequence and every channel, so not
    causal) or 'group' (32 groups; C must be divisible by 32).

    Returns:
        `(x - mean) / sqrt(var + eps)`, `[B, T, F, C]`.

    Example:
        >>> normalize_op(ensure_4d(tf.random.normal([2, 100, 30])), 'instance').shape
        ... # [2, 100, 1, 30]; each channel of each example has mean 0 and variance 1.
    """
    owner = 'normalize_op'
    validation.check_choice(owner, 'norm_type', norm_type, NORM_TYPES)
    if len(x.shape) != 4:
        validation.fail(
            owner, 'x.shape', '[batch, time, freq, channels] (use ensure_4d)', tuple(x.shape)
        )
    ch = x.shape[-1]
    n_groups = ch if _NORM_GROUPS[norm_type] is None else _NORM_GROUPS[norm_type]
    if ch % n_groups:
        validation.fail(
            owner,
            'x.shape[-1]',
            f'divisible by {n_groups} (the groups of norm_type "{norm_type}")',
            ch,
        )
    shape = tf.shape(x)
    grouped = tf.reshape(x, tf.concat([shape[:3], [n_groups, ch // n_groups]], axis=0))
    mean, variance = tf.nn.moments(grouped, axes=[1, 2, 4], keepdims=True)
    grouped = (grouped - mean) * tf.math.rsqrt(variance + eps)
    return tf.reshape(grouped, shape)


@keras_serializable
@gin_register
class Normalize(keras.layers.Layer):
    """`normalize_op` followed by a learned per-channel scale and shift.

    Works on `[B, C]`, `[B, T, C]` and `[B, T, F, C]` (through `ensure_4d`); the output has the
    input's shape. Weights `scale` (ones) and `shift` (zeros), shape `[1, 1, 1, C]`.

    Args:
        norm_type: 'instance', 'layer' or 'group' (see `normalize_op`).

    Example:
        >>> Normalize('layer')(tf.zeros([2, 100, 64])).shape  # [2, 100, 64]
    """

    def __init__(self, norm_type: Text = 'layer', **kwargs):
        super().__init__(**kwargs)
        self.norm_type = validation.check_choice(
            type(self).__name__, 'norm_type', norm_type, NORM_TYPES
        )

    def build(self, x_shape):
        ch = int(x_shape[-1])
        self.scale = self.add_weight(name='scale', shape=(1, 1, 1, ch), initializer='ones')
        self.shift = self.add_weight(name='shift', shape=(1, 1, 1, ch), initializer='zeros')

    def call(self, x):
        n_dims = len(x.shape)
        x = normalize_op(ensure_4d(x), self.norm_type)
        return inv_ensure_4d(x * self.scale + self.shift, n_dims)

    def get_config(self):
        config = super().get_config()
        config['norm_type'] = self.norm_type
        return config


def layer_norm(x, gamma, beta, epsilon: float = 1e-3):
    """Layer normalization over the last axis, with a hand-written gradient.

    Computes what `keras.layers.LayerNormalization(epsilon=epsilon)` computes,
    `(x - mean) / sqrt(var + epsilon) * gamma + beta` with the mean and (biased) variance of
    each row, but differentiates the scaling with one closed-form expression instead of the
    dozen broadcast ops autodiff makes of it. Half-precision inputs are normalized in float32
    and cast back, as Keras does.

    Args:
        x: `[..., C]` activations.
        gamma: `[C]` scale.
        beta: `[C]` offset.
        epsilon: Added to the variance.

    Returns:
        `[..., C]`, the dtype of `x`.

    Example:
        >>> norm = keras.layers.LayerNormalization()
        >>> norm.build([None, 512])
        >>> layer_norm(x, norm.gamma, norm.beta, norm.epsilon)  # == norm(x)
    """

    def centre(rows, dtype):
        return rows - tf.reduce_mean(rows, axis=-1, keepdims=True)

    return _normalize_centred_rows(x, centre, gamma, beta, epsilon)


def dense_layer_norm(x, kernel, bias, gamma, beta, epsilon: float = 1e-3):
    """A dense layer followed by layer normalization, as one fused computation.

    Computes `layer_norm(x @ kernel + bias, gamma, beta, epsilon)`. The row mean that layer
    normalization subtracts is linear in the weights (`mean(x W + b) = x mean(W) + mean(b)`), so
    it is folded into them: the kernel and bias are centred over their output axis once, the
    product is already zero-mean, and the normalization only has to scale it. That removes a
    reduction and a subtraction over every activation in both passes; the gradient through the
    centred weights is still exact. Half-precision inputs are computed in float32 and cast back.

    Args:
        x: `[..., D]` inputs.
        kernel: `[D, C]` dense kernel.
        bias: `[C]` dense bias.
        gamma: `[C]` normalization scale.
        beta: `[C]` normalization offset.
        epsilon: Added to the variance.

    Returns:
        `[..., C]`, the dtype of `x`.

    Example:
        >>> dense, norm = keras.layers.Dense(256), keras.layers.LayerNormalization()
        >>> dense.build([None, 512]); norm.build([None, 256])
        >>> dense_layer_norm(x, dense.kernel, dense.bias, norm.gamma, norm.beta, norm.epsilon)
        ... # == norm(dense(x))
    """

    def centred_dense(rows, dtype):
        centred_kernel = tf.cast(kernel, dtype)
        centred_kernel -= tf.reduce_mean(centred_kernel, axis=-1, keepdims=True)
        centred_bias = tf.cast(bias, dtype)
        centred_bias -= tf.reduce_mean(centred_bias)
        # A 2-D matmul with `bias_add` lets the runtime fuse both into one kernel.
        return tf.nn.bias_add(tf.matmul(rows, centred_kernel), centred_bias)

    return _normalize_centred_rows(x, centred_dense, gamma, beta, epsilon)


def _normalize_centred_rows(x, centre, gamma, beta, epsilon):
    """Normalizes `centre(rows, dtype)`, zero-mean `[N, C]` rows made from `x` as `[N, D]`.

    Half precision is computed in float32 (`dtype`) and cast back; the result has the shape of
    `x` with its last axis C.
    """
    x = tf.convert_to_tensor(x)
    compute_dtype = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    shape = tf.shape(x)
    rows = tf.reshape(tf.cast(x, compute_dtype), [-1, shape[-1]])
    centred = centre(rows, compute_dtype)
    y = _scale_centred_rows(
        centred, tf.cast(gamma, compute_dtype), tf.cast(beta, compute_dtype), float(epsilon)
    )
    y = tf.reshape(y, tf.concat([shape[:-1], tf.shape(centred)[-1:]], axis=0))
    return tf.cast(y, x.dtype)


def _scale_centred_rows(c, gamma, beta, epsilon):
    """Layer norm of `[N, C]` rows that already have zero mean, with a closed-form gradient.

    The gradient leaves out the mean term of a full layer norm's: whatever made the rows
    zero-mean (a subtraction, centred weights) removes that component itself under autodiff.
    """

    @tf.custom_gradient
    def normalize(c, gamma, beta):
        inv_std = tf.math.rsqrt(tf.reduce_mean(tf.square(c), axis=-1, keepdims=True) + epsilon)
        x_hat = c * inv_std

        def grad(dy):
            dy_x_hat = dy * x_hat
            d_gamma = tf.reduce_sum(dy_x_hat, axis=0)
            d_beta = tf.reduce_sum(dy, axis=0)
            # The component of `dy * gamma` along x_hat, per row, as one matrix-vector product.
            proj = tf.matmul(dy_x_hat, gamma[:, tf.newaxis]) / tf.cast(tf.shape(c)[-1], c.dtype)
            dc = inv_std * (dy * gamma - x_hat * proj)
            return dc, d_gamma, d_beta

        return x_hat * gamma + beta, grad

    return normalize(c, gamma, beta)
