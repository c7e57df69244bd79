"""Straight-through estimators: discrete values forward, gradients of continuous ones back.

Each function returns a tensor whose forward value is discrete (a one-hot sample, a sampled
choice, a rounded number) and whose gradient is that of a continuous stand-in (the softmax
probabilities, the identity): `y = soft + stop_gradient(hard - soft)`.

Example:
    >>> sample, probs = straight_through_softmax(tf.constant([[5.0, -5.0, 0.0]]))
    >>> sample  # [[1., 0., 0.]] (almost surely); d sample / d logits = d probs / d logits.
"""

import tensorflow as tf

from ddsp import core


def straight_through_softmax(logits):
    """Samples one-hot vectors from `softmax(logits)`, with the gradient of the probabilities.

    Args:
        logits: `[..., K]`.

    Returns:
        `(sample, probs)`, both `[..., K]`: `sample` is one-hot in the forward pass and has the
        gradient of `probs` (straight-through); `probs = softmax(logits)`.

    Example:
        >>> sample, probs = straight_through_softmax(tf.zeros([2, 100, 8]))  # Both [2, 100, 8].
    """
    logits = core.tf_float32(logits)
    probs = tf.nn.softmax(logits)
    flat = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
    index = tf.random.categorical(flat, 1)[:, 0]
    one_hot = tf.reshape(tf.one_hot(index, tf.shape(logits)[-1]), tf.shape(logits))
    sample = probs + tf.stop_gradient(one_hot - probs)
    return sample, probs


def straight_through_choice(logits, values):
    """A value sampled by `softmax(logits)` with a straight-through gradient.

    Args:
        logits: `[..., K]`.
        values: `[..., K]` (or `[K]`), the value of each choice.

    Returns:
        `[..., 1]`: `sum(one_hot_sample * values)`.

    Example:
        >>> straight_through_choice(tf.zeros([2, 3]), [1.0, 2.0, 4.0])  # [2, 1], each 1, 2 or 4.
    """
    sample, _ = straight_through_softmax(logits)
    return tf.reduce_sum(sample * core.tf_float32(values), axis=-1, keepdims=True)


def straight_through_int_quantization(x):
    """`round(x)` in the forward pass, the identity's gradient in the backward pass.

    Example:
        >>> straight_through_int_quantization(tf.constant([0.4, 1.6]))  # [0., 2.]
    """
    x = core.tf_float32(x)
    return x + tf.stop_gradient(tf.round(x) - x)
