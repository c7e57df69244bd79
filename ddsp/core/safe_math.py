"""Elementwise math that stays finite: safe log and division, soft limits, log scales.

Network outputs reach these functions before anyone checks them, so zeros and negatives
are replaced rather than turned into infinities or NaNs, and the results keep useful
gradients.

Example:
    >>> from ddsp import core
    >>> core.safe_log(0.0)  # log(1e-5), not -inf
    <tf.Tensor: shape=(), dtype=float32, numpy=-11.512925>
"""

import math

import tensorflow as tf

from ddsp.core.tensors import tf_float32


def nan_to_num(x, value=0.0):
    """Replaces NaNs in `x` with `value`. Example: `nan_to_num([nan, 1.])` -> `[0., 1.]`."""
    x = tf_float32(x)
    return tf.where(tf.math.is_nan(x), value * tf.ones_like(x), x)


def safe_divide(numerator, denominator, eps=1e-7):
    """Divides, replacing denominators that are exactly zero with `eps`.

    Example: `safe_divide(1.0, 0.0)` -> `1e7`.
    """
    denominator = tf_float32(denominator)
    safe_denominator = tf.where(
        tf.equal(denominator, 0.0), eps * tf.ones_like(denominator), denominator
    )
    return numerator / safe_denominator


def safe_log(x, eps=1e-5):
    """Natural log, with inputs `<= 0` replaced by `eps` (small positives kept).

    Example: `safe_log([0., 1.])` -> `[log(1e-5), 0.]`.
    """
    x = tf_float32(x)
    safe_x = tf.where(x <= 0.0, eps * tf.ones_like(x), x)
    return tf.math.log(safe_x)


def logb(x, base=2.0, eps=1e-5):
    """Logarithm in `base`, built on `safe_log`. Example: `logb(8.0)` -> `3.0`."""
    return safe_log(x, eps) / safe_log(base, eps)


def log10(x, eps=1e-5):
    """Base-10 logarithm, built on `safe_log`. Example: `log10(100.0)` -> `2.0`."""
    return logb(x, 10.0, eps)


def log_scale(x, min_x, max_x):
    """Maps `x` in [-1, 1] exponentially onto [min_x, max_x].

    Example: `log_scale(0.0, 1.0, 100.0)` -> `10.0` (the geometric mean).
    """
    x = (tf_float32(x) + 1.0) / 2.0
    return tf.exp((1.0 - x) * math.log(min_x) + x * math.log(max_x))


def soft_limit(x, x_min=0.0, x_max=1.0):
    """Softly clamps `x` to [x_min, x_max]; mid-range values pass unchanged.

    `x_min + softplus(x - x_min) - softplus(x - x_max)`: tends to `x_min` for
    very small `x`, to `x_max` for very large `x`, and to `x` in between.
    Example: `soft_limit([-50., 0.5, 50.])` -> `[0., 0.5, 1.]` (about).
    """
    x = tf_float32(x)
    return x_min + tf.nn.softplus(x - x_min) - tf.nn.softplus(x - x_max)


def gradient_reversal(x):
    """Identity forwards; negates the gradient backwards (adversarial training)."""
    return tf.stop_gradient(2.0 * x) - x
