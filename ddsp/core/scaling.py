"""Scaling nonlinearities: raw network outputs -> positive amplitudes or frequencies in Hz.

These are the `scale_fn`s of synthesizers and effects (`exp_sigmoid` is the default
everywhere) and the `freq_scale_fn`s of `Sinusoidal`. All are registered with gin under
`ddsp.core`, so configs reference them as `@exp_sigmoid`, `@core.exp_sigmoid` or
`@ddsp.core.exp_sigmoid`.

Example:
    >>> from ddsp import core
    >>> amps = core.exp_sigmoid(network_outputs)  # in [1e-7, 2 + 1e-7]
"""

import math

import gin
import tensorflow as tf

from ddsp import validation
from ddsp.core._public import publish
from ddsp.core.safe_math import soft_limit
from ddsp.core.tensors import tf_float32
from ddsp.core.units import bark_to_hz, hz_to_bark, hz_to_erb, hz_to_mel, mel_to_hz, unit_to_hz


@gin.register(module='ddsp.core')
@publish
def exp_sigmoid(x, exponent=10.0, max_value=2.0, threshold=1e-7):
    """Squashes network outputs to positive amplitudes.

    `max_value * sigmoid(x)^ln(exponent) + threshold`: with the defaults the
    range is [1e-7, 2 + 1e-7] and the slope is steep near zero, as perceived
    loudness is. Example: `exp_sigmoid(0.0)` -> `2 * 0.5^ln(10) + 1e-7`.
    """
    x = tf_float32(x)
    # sigmoid(x)^p as exp(p log_sigmoid(x)): two transcendentals instead of
    # three (sigmoid, then pow's log and exp), and no underflow to 0^p.
    return max_value * tf.exp(math.log(exponent) * tf.math.log_sigmoid(x)) + threshold


@gin.register(module='ddsp.core')
@publish
def sym_exp_sigmoid(x, width=8.0):
    """Symmetric `exp_sigmoid`, smallest at x = 0: `exp_sigmoid(w (|x|/2 - 1))`.

    Example: `sym_exp_sigmoid(0.0)` is `exp_sigmoid(-8.0)`, about 1.2e-7; `sym_exp_sigmoid(
    +-20.0)` is about 2.
    """
    x = tf_float32(x)
    return exp_sigmoid(width * (tf.abs(x) / 2.0 - 1.0))


def _split_depth(freqs, depth):
    """`[B, T, N * depth]` -> `[B, T, N, depth]`; 4-D input is left alone."""
    freqs = tf_float32(freqs)
    if freqs.shape.rank == 3:
        n = freqs.shape[-1] // depth
        freqs = tf.reshape(freqs, tf.concat([tf.shape(freqs)[:2], [n, depth]], 0))
    elif freqs.shape.rank != 4:
        validation.fail(
            'frequencies',
            'freqs.shape',
            '[batch, time, n * depth] or [batch, time, n, depth]',
            freqs.shape,
        )
    return freqs


@gin.register(module='ddsp.core')
@publish
def frequencies_softmax(freqs, depth=1, hz_min=20.0, hz_max=8000.0):
    """Frequencies from softmax distributions over `depth` bins in [0, 1].

    Args:
        freqs: `[B, T, N * depth]` or `[B, T, N, depth]` logits.
        depth: Number of bins per frequency.
        hz_min, hz_max: Output range in Hz (interpolated in MIDI).

    Returns:
        `[B, T, N]` frequencies in Hz, the expectation of each distribution.

    Example: `frequencies_softmax(tf.zeros([1, 250, 40]), depth=4)` -> `[1, 250, 10]` Hz.
    """
    freqs = _split_depth(freqs, depth)
    bins = tf.linspace(0.0, 1.0, depth)
    f_unit = tf.reduce_sum(bins * tf.nn.softmax(freqs, axis=-1), axis=-1)
    return unit_to_hz(f_unit, hz_min=hz_min, hz_max=hz_max)


@gin.register(module='ddsp.core')
@publish
def frequencies_sigmoid(freqs, depth=1, hz_min=0.0, hz_max=8000.0):
    """Frequencies as sums of sigmoids over geometrically shrinking ranges.

    The full width `R = hz_max - hz_min` is split with `s = R^(1/depth)`: the
    coarse components cover widths `R (1 - 1/s) / s^d`, and the last one covers
    `[hz_min, hz_min + R / s^(depth-1)]`, so that the sum spans the range.
    With `depth=1` this is `unit_to_hz(sigmoid(x), hz_min, hz_max)`.

    Args:
        freqs: `[B, T, N * depth]` or `[B, T, N, depth]` logits.

    Returns:
        `[B, T, N]` frequencies in Hz.

    Example: `frequencies_sigmoid(tf.zeros([1, 250, 10]))` -> `[1, 250, 10]` Hz.
    """
    if depth == 1:
        freqs = tf_float32(freqs)
        if freqs.shape.rank == 4:  # [B, T, N, 1] -> [B, T, N], as documented.
            freqs = freqs[..., 0]
        return unit_to_hz(tf.nn.sigmoid(freqs), hz_min, hz_max)
    freqs = tf.nn.sigmoid(_split_depth(freqs, depth))
    width = hz_max - hz_min
    scale = width ** (1.0 / depth)
    total = 0.0
    for d in range(depth - 1):
        sub_width = width * (1.0 - 1.0 / scale) / scale**d
        total += unit_to_hz(freqs[..., d], 0.0, sub_width)
    last_width = width / scale ** (depth - 1)
    return total + unit_to_hz(freqs[..., -1], hz_min, hz_min + last_width)


@gin.register(module='ddsp.core')
@publish
def frequencies_critical_bands(
    freqs, depth=1, depth_scale=10.0, bandwidth_scale=1.0, hz_min=20.0, hz_max=8000.0, scale='bark'
):
    """Frequencies as offsets from centres evenly spaced on a perceptual scale.

    Each centre `fc` moves by `bandwidth_scale * ERB(fc) * sum_d tanh(x_d) /
    depth_scale^d`, and is then softly limited to [hz_min, hz_max].

    Args:
        freqs: `[B, T, N * depth]` or `[B, T, N, depth]` network outputs.
        scale: 'bark' or 'mel', the scale on which centres are even.

    Returns:
        `[B, T, N]` frequencies in Hz.

    Example: `frequencies_critical_bands(tf.zeros([1, 250, 10]))` gives 10 Bark-even centres.
    """
    converters = {'bark': (hz_to_bark, bark_to_hz), 'mel': (hz_to_mel, mel_to_hz)}
    validation.check_choice('frequencies_critical_bands', 'scale', scale, sorted(converters))
    to_scale, from_scale = converters[scale]
    freqs = _split_depth(freqs, depth)
    n_bands = freqs.shape[2]
    centres = from_scale(tf.linspace(to_scale(hz_min), to_scale(hz_max), n_bands))
    bandwidths = bandwidth_scale * hz_to_erb(centres)
    depth_weights = depth_scale ** (-tf.range(depth, dtype=tf.float32))
    offsets = tf.reduce_sum(tf.tanh(freqs) * depth_weights, axis=-1)
    return soft_limit(centres + bandwidths * offsets, hz_min, hz_max)
