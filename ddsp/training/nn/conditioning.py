"""Conditioning: FiLM (`ConditionalScaleAndShift`), `ConditionalNorm`, and `get_norm`.

A conditional layer normalizes `x` and scales and shifts it by functions of a conditioning
signal `z` (feature-wise linear modulation, FiLM). `get_norm` picks the norm layer the
convolutional stacks use: conditional or not, or none; `require_z` is the error of a
conditional layer called without z.

Example:
    >>> film = ConditionalScaleAndShift()
    >>> film([tf.zeros([2, 100, 64]), tf.zeros([2, 16])]).shape  # [2, 100, 64]
"""

from typing import Optional, Text

import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.layer_utils import ensure_4d, inv_ensure_4d
from ddsp.training.nn.normalization import NORM_TYPES, Normalize, normalize_op
from ddsp.training.nn.registration import gin_register


def _match_time(z, n_time):
    """z `[B, C]`, `[B, T_z, C]` or 4-D -> 4-D `[B, T or 1, 1, C]` that broadcasts over time."""
    z = ensure_4d(core.tf_float32(z))
    if z.shape[1] not in (1, n_time) and n_time is not None:
        z = core.resample(z, n_time)
    return z


@keras_serializable
class ConditionalScaleAndShift(keras.layers.Layer):
    """FiLM: `x * scale(z) + shift(z)`, with scale and shift from one Dense layer on z.

    `call([x, z])`: x `[B, T, (F,) C]`, z `[B, C_z]` or `[B, T_z, C_z]` (resampled to T if
    `T_z` is not 1 or T). With `shift_only`, `x + shift(z)`. The output has the shape of x.

    Args:
        shift_only: Only shift (Dense to C channels instead of 2 C).

    Example:
        >>> ConditionalScaleAndShift()([tf.zeros([2, 100, 64]), z]).shape  # [2, 100, 64]
    """

    def __init__(self, shift_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.shift_only = bool(shift_only)
        self.dense = None

    def build(self, input_shape):
        x_shape, z_shape = input_shape
        ch = int(x_shape[-1])
        self.dense = keras.layers.Dense(ch if self.shift_only else 2 * ch, name='dense')
        self.dense.build((None, None, None, int(z_shape[-1])))

    def call(self, inputs):
        x, z = inputs
        n_dims = len(x.shape)
        x = ensure_4d(x)
        params = self.dense(_match_time(z, x.shape[1]))
        if self.shift_only:
            x = x + params
        else:
            scale, shift = tf.split(params, 2, axis=-1)
            x = x * scale + shift
        return inv_ensure_4d(x, n_dims)

    def get_config(self):
        config = super().get_config()
        config['shift_only'] = self.shift_only
        return config


@keras_serializable
@gin_register
class ConditionalNorm(keras.layers.Layer):
    """`normalize_op` (no learned scale/shift) followed by FiLM from z: `call([x, z])`.

    x `[B, T, (F,) C]`, z `[B, C_z]` or `[B, T_z, C_z]`; the output has the shape of x.

    Args:
        norm_type: 'instance', 'layer' or 'group'.
        shift_only: Only shift (see `ConditionalScaleAndShift`).

    Example:
        >>> ConditionalNorm('layer')([tf.zeros([2, 100, 64]), z]).shape  # [2, 100, 64]
    """

    def __init__(self, norm_type: Text = 'instance', shift_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.norm_type = validation.check_choice(
            type(self).__name__, 'norm_type', norm_type, NORM_TYPES
        )
        self.shift_only = bool(shift_only)
        self.film = ConditionalScaleAndShift(self.shift_only, name='film')

    def build(self, input_shape):
        self.film.build(input_shape)

    def call(self, inputs):
        x, z = inputs
        n_dims = len(x.shape)
        x = inv_ensure_4d(normalize_op(ensure_4d(x), self.norm_type), n_dims)
        return self.film([x, z])

    def get_config(self):
        config = super().get_config()
        config.update(norm_type=self.norm_type, shift_only=self.shift_only)
        return config


def require_z(layer, z):
    """Raises the error of a conditional `layer` called without its conditioning z."""
    if z is None:
        validation.fail(
            type(layer).__name__, 'z', 'a tensor: the layer is conditional, call it as (x, z)', z
        )


def get_norm(norm_type: Optional[Text], conditional: bool = False, shift_only: bool = False):
    """`ConditionalNorm` when conditional, else `Normalize`; None for no normalization.

    A conditional norm with `norm_type=None` is FiLM alone (`ConditionalScaleAndShift`).

    Example:
        >>> get_norm('layer')  # Normalize('layer')
        >>> get_norm(None, conditional=True)  # ConditionalScaleAndShift()
    """
    if conditional:
        if norm_type is None:
            return ConditionalScaleAndShift(shift_only)
        return ConditionalNorm(norm_type, shift_only)
    return None if norm_type is None else Normalize(norm_type)
