"""Argument checks and small helpers shared by the effects (`ddsp.effects`)."""

from typing import Callable, Optional, Text, Union

import keras
import tensorflow as tf

from ddsp import core, dags, validation

tf_float32 = core.tf_float32

# A control's scaling: a callable, its dotted path (as `get_config` writes it) or None.
ScaleFn = Optional[Union[Callable, Text]]


def check_scale_fn(owner: Text, name: Text, fn: ScaleFn) -> Optional[Callable]:
    """A callable or None; dotted paths (from `get_config`) are imported."""
    if isinstance(fn, str):
        fn = dags.deserialize_function(fn)
    return validation.check_callable(owner, name, fn)


def apply(fn: Optional[Callable], x):
    """`fn(x)`, or `x` itself when `fn` is None."""
    return x if fn is None else fn(x)


def owner(layer: keras.layers.Layer) -> Text:
    """Who received a control, for messages: `Reverb "reverb"`."""
    return f'{type(layer).__name__} "{layer.name}"'


def check_audio(owner: Text, audio) -> tf.Tensor:
    """`audio` as float32 `[batch, n_samples]`, or a ValueError."""
    audio = tf_float32(audio)
    if audio.shape.rank != 2:
        validation.fail(owner, 'audio.shape', '[batch, n_samples]', audio.shape)
    return audio


def tile_to_batch(weight: tf.Variable, audio: tf.Tensor) -> tf.Tensor:
    """`weight` with a new leading axis repeated to the batch size of audio."""
    weight = tf.convert_to_tensor(weight)
    batch_size = tf.shape(audio)[0]
    multiples = tf.concat([[batch_size], tf.ones([weight.shape.rank], tf.int32)], axis=0)
    return tf.tile(weight[tf.newaxis], multiples)


def batch_scalar(owner: Text, name: Text, x) -> tf.Tensor:
    """A per-example scalar control, `[B]`, `[B, 1]` or `[B, 1, 1]`, as `[B, 1]`."""
    x = tf_float32(x)
    if x.shape.rank == 1:
        x = x[:, tf.newaxis]
    elif x.shape.rank == 3 and x.shape[1:] == (1, 1):
        x = x[..., 0]
    if x.shape.rank != 2 or x.shape[1] != 1:
        validation.fail(owner, f'{name}.shape', '[batch, 1] (or [batch] or [batch, 1, 1])', x.shape)
    return x
