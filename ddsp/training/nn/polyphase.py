"""Polyphase resampling: space-to-depth along time, and its inverse.

Downsampling by a stride s moves s consecutive frames into the channels of one frame, losing
nothing; upsampling moves them back.

Example:
    >>> polyphase_resample(tf.zeros([2, 100, 3]), stride=4).shape  # [2, 25, 12]
"""

from typing import Text

import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.registration import gin_register

_RESAMPLE_TYPES = ('down', 'up')
_TRIM_OR_PAD = ('trim', 'pad')


def polyphase_resample(x, stride: int = 2, resample_type: Text = 'down', trim_or_pad: Text = 'pad'):
    """Space-to-depth along time.

    'down': `[B, T, C]` -> `[B, T / stride, C * stride]` (frames `t * stride + i` go to channels
    `i * C ... (i + 1) * C - 1`); T is first zero-padded up (or trimmed down) to a multiple of
    stride. 'up' is the inverse: `[B, T, C * stride]` -> `[B, T * stride, C]`.

    Example:
        >>> y = polyphase_resample(x, 2, 'down')  # x [2, 100, 3] -> [2, 50, 6]
        >>> polyphase_resample(y, 2, 'up')  # == x
    """
    owner = 'polyphase_resample'
    stride = validation.check_int(owner, 'stride', stride)
    validation.check_choice(owner, 'resample_type', resample_type, _RESAMPLE_TYPES)
    validation.check_choice(owner, 'trim_or_pad', trim_or_pad, _TRIM_OR_PAD)
    x = core.tf_float32(x)
    batch, ch = tf.shape(x)[0], x.shape[-1]
    if resample_type == 'down':
        n_time = x.shape[1]
        remainder = n_time % stride
        if remainder:
            if trim_or_pad == 'trim':
                x = x[:, : n_time - remainder]
            else:
                x = tf.pad(x, [[0, 0], [0, stride - remainder], [0, 0]])
        return tf.reshape(x, [batch, -1, ch * stride])
    if ch % stride:
        validation.fail(owner, 'x.shape[-1]', f'divisible by stride={stride} to upsample', ch)
    return tf.reshape(x, [batch, -1, ch // stride])


@keras_serializable
@gin_register
class PolyphaseResample(keras.layers.Layer):
    """Layer form of `polyphase_resample`: `[B, T, C]` -> `[B, T / stride, C * stride]` ('down').

    Args:
        stride: Frames per group.
        resample_type: 'down' (space-to-depth) or 'up' (its inverse).
        trim_or_pad: How 'down' makes T a multiple of stride.

    Example:
        >>> PolyphaseResample(4)(tf.zeros([2, 100, 3])).shape  # [2, 25, 12]
    """

    def __init__(
        self, stride: int = 2, resample_type: Text = 'down', trim_or_pad: Text = 'pad', **kwargs
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.stride = validation.check_int(owner, 'stride', stride)
        self.resample_type = validation.check_choice(
            owner, 'resample_type', resample_type, _RESAMPLE_TYPES
        )
        self.trim_or_pad = validation.check_choice(owner, 'trim_or_pad', trim_or_pad, _TRIM_OR_PAD)

    def call(self, x):
        return polyphase_resample(x, self.stride, self.resample_type, self.trim_or_pad)

    def get_config(self):
        config = super().get_config()
        config.update(
            stride=self.stride, resample_type=self.resample_type, trim_or_pad=self.trim_or_pad
        )
        return config
