"""Small pieces every layer of `ddsp.training.nn` shares.

* Tensor layout: `ensure_4d` / `inv_ensure_4d` add and remove the axes Conv2D needs.
* Activations: `get_nonlinearity` turns a name into a function; `serialize_nonlinearity` turns
  it back into a name for `get_config`.
* Sublayers: `set_sublayers` attaches layers so that checkpoints find them, and
  `serialize_layer` / `deserialize_layers` carry layer arguments through `get_config`.
* `check_net` (a layer argument: anything callable, or None), `get_embedding` and `Identity`.

Example:
    >>> x = tf.zeros([2, 100, 8])
    >>> ensure_4d(x).shape  # [2, 100, 1, 8]
    >>> get_nonlinearity('leaky_relu')(x).shape  # [2, 100, 8]
"""

from typing import Any, Callable, Sequence, Text, Union

import keras
import tensorflow as tf

from ddsp import validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.registration import gin_register


def set_sublayers(owner, names: Sequence[Text], layers: Sequence[Any]) -> list:
    """Attaches `layers[i]` to `owner` as the attribute `names[i]` (None entries too).

    A list of layers assigned to a Keras 3 layer becomes a tracked list that
    `tf.train.Checkpoint` does not follow, so the weights of layers held only in a list would
    be left out of checkpoints without a word. The layers here are attributes instead, and
    their lists are properties that read the attributes back.

    Returns:
        `list(names)`, to keep for that property.

    Example:
        >>> self._fc_names = set_sublayers(self, ['fc_0', 'fc_1'], [Fc(8), Fc(8)])
        >>> [getattr(self, name) for name in self._fc_names]  # The two Fc layers.
    """
    for name, layer in zip(names, layers):
        setattr(owner, name, layer)
    return list(names)


def check_net(owner: Text, net, name: Text = 'net'):
    """`net` if it is a layer (anything callable) or None, else a ValueError.

    Example:
        >>> check_net('MidiDecoder', FcStack())  # The FcStack.
    """
    return validation.check_callable(owner, name, net, expected='a Keras layer (or None for none)')


def serialize_layer(layer):
    """A layer argument for `get_config` (None stays None).

    Example:
        >>> config.update(net=serialize_layer(self.net))  # In `get_config`.
    """
    return None if layer is None else keras.saving.serialize_keras_object(layer)


def deserialize_layers(config: dict, keys: Sequence[Text] = ('net',)) -> dict:
    """A copy of `config` with the layers serialized under `keys` restored (for `from_config`).

    Example:
        >>> return cls(**deserialize_layers(config, ('net', 'precondition_stack')))
    """
    config = dict(config)
    for key in keys:
        if isinstance(config.get(key), dict):
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return config


def ensure_4d(x):
    """Adds the axes Conv2D needs to run over time.

    `[B, C]` -> `[B, 1, 1, C]`, `[B, T, C]` -> `[B, T, 1, C]`; 4-D tensors are returned as they
    are. `inv_ensure_4d(ensure_4d(x), rank of x)` is x.

    Example:
        >>> ensure_4d(tf.zeros([2, 100, 8])).shape  # [2, 100, 1, 8]
    """
    rank = len(x.shape)
    if rank == 2:
        return x[:, tf.newaxis, tf.newaxis, :]
    if rank == 3:
        return x[:, :, tf.newaxis, :]
    if rank == 4:
        return x
    validation.fail('ensure_4d', 'x.shape', 'of rank 2, 3 or 4', tuple(x.shape))


def inv_ensure_4d(x, n_dims: int):
    """Undoes `ensure_4d` for an original rank `n_dims` (2, 3 or 4).

    `[B, T, 1, C]` -> `[B, T, C]` for 3, `[B, 1, 1, C]` -> `[B, C]` for 2, unchanged for 4.
    """
    validation.check_choice('inv_ensure_4d', 'n_dims', n_dims, (2, 3, 4))
    if n_dims == 2:
        return x[:, 0, 0, :]
    if n_dims == 3:
        return x[:, :, 0, :]
    return x


def get_nonlinearity(nonlinearity: Union[Text, Callable]) -> Callable:
    """The activation function of a name: a Keras activation, else `tf.nn.<name>`.

    Keras names: 'relu', 'leaky_relu', 'sigmoid', 'tanh', ...; `tf.nn` adds e.g. 'crelu'.
    Callables are returned as they are.

    Example:
        >>> get_nonlinearity('leaky_relu')(tf.constant([-1.0, 1.0]))  # [-0.2, 1.0]
    """
    if callable(nonlinearity):
        return nonlinearity
    try:
        return keras.activations.get(nonlinearity)
    except (ValueError, TypeError):
        fn = getattr(tf.nn, str(nonlinearity), None)
        if fn is None or not callable(fn):
            validation.fail(
                'get_nonlinearity',
                'nonlinearity',
                'a Keras activation name (like "relu" or "leaky_relu"), the name of '
                'a tf.nn function, or a callable',
                nonlinearity,
            )
        return fn


def serialize_nonlinearity(nonlinearity: Union[Text, Callable]):
    """A nonlinearity for `get_config`: names stay names, Keras activations become names.

    Example:
        >>> serialize_nonlinearity(keras.activations.relu)  # 'relu'
    """
    if isinstance(nonlinearity, str):
        return nonlinearity
    return keras.activations.serialize(nonlinearity)


def get_embedding(vocab_size: int = 1024, n_dims: int = 256) -> keras.layers.Layer:
    """An Embedding layer: integer ids `[B, 1]` -> `[B, 1, n_dims]`.

    Keras 3 removed `Embedding(input_length=...)`: the output has the shape of the ids plus
    `n_dims`, so ids shaped `[B, 1]` give the original's `[B, 1, n_dims]`.

    Example:
        >>> get_embedding(10, 3)(tf.zeros([2, 1], tf.int32)).shape  # [2, 1, 3]
    """
    vocab_size = validation.check_int('get_embedding', 'vocab_size', vocab_size)
    n_dims = validation.check_int('get_embedding', 'n_dims', n_dims)
    return keras.layers.Embedding(vocab_size, n_dims, name='embedding')


@keras_serializable
@gin_register
class Identity(keras.layers.Layer):
    """Returns its input unchanged (a placeholder network): `[...]` -> `[...]`.

    Example:
        >>> Identity()(tf.ones([2, 3]))  # The same ones.
    """

    def call(self, x):
        return x
