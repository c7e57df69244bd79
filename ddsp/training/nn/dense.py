"""Fully connected layers: `Fc` (Dense -> LayerNormalization -> nonlinearity) and its stacks.

`Fc` computes its dense layer and layer norm as one fused op (`dense_layer_norm`), with the
weights (and checkpoint names) of a `keras.layers.Dense` and a `keras.layers.LayerNormalization`.
`FcStack` chains `Fc` layers; `FcStackOut` adds an output Dense layer.

Example:
    >>> FcStack(ch=256, layers=2)(tf.zeros([16, 1000, 2])).shape  # [16, 1000, 256]
"""

from typing import Callable, Text, Union

import keras

from ddsp import validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.layer_utils import get_nonlinearity, serialize_nonlinearity, set_sublayers
from ddsp.training.nn.normalization import dense_layer_norm
from ddsp.training.nn.registration import gin_register


@keras_serializable
@gin_register
class Fc(keras.layers.Layer):
    """Dense -> LayerNormalization -> nonlinearity, on the last axis.

    `[..., C_in]` -> `[..., ch]`. Weights: `C_in * ch + ch` (Dense) plus `2 * ch` (scale and
    offset of the LayerNormalization).

    Args:
        ch: Output channels.
        nonlinearity: A Keras activation name, a `tf.nn` function name, or a callable.

    Example:
        >>> Fc(128)(tf.zeros([16, 1000, 2])).shape  # [16, 1000, 128]
    """

    def __init__(self, ch: int = 128, nonlinearity: Union[Text, Callable] = 'leaky_relu', **kwargs):
        super().__init__(**kwargs)
        self.ch = validation.check_int(type(self).__name__, 'ch', ch)
        self.nonlinearity = nonlinearity
        self._nonlinearity_fn = get_nonlinearity(nonlinearity)
        self.dense = keras.layers.Dense(self.ch, name='dense')
        self.norm = keras.layers.LayerNormalization(name='norm')

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.dense.build(input_shape)
        self.norm.build(input_shape[:-1] + (self.ch,))

    def call(self, x):
        # The same weights and result as `self.norm(self.dense(x))`, faster.
        norm = self.norm
        return self._nonlinearity_fn(
            dense_layer_norm(
                x, self.dense.kernel, self.dense.bias, norm.gamma, norm.beta, norm.epsilon
            )
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.ch,)

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, nonlinearity=serialize_nonlinearity(self.nonlinearity))
        return config


@keras_serializable
@gin_register
class FcStack(keras.layers.Layer):
    """`layers` `Fc` layers in sequence: `[..., C_in]` -> `[..., ch]` (identity if layers=0).

    Args:
        ch: Channels of every layer.
        layers: Number of `Fc` layers (0 passes the input through).
        nonlinearity: Activation of every layer.

    Example:
        >>> FcStack(256, 2)(tf.zeros([16, 1000, 2])).shape  # [16, 1000, 256]
    """

    def __init__(
        self,
        ch: int = 256,
        layers: int = 2,
        nonlinearity: Union[Text, Callable] = 'leaky_relu',
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = validation.check_int(owner, 'ch', ch)
        self.n_layers = validation.check_int(owner, 'layers', layers, minimum=0)
        self.nonlinearity = nonlinearity
        self._fc_names = set_sublayers(
            self,
            [f'fc_{i}' for i in range(self.n_layers)],
            [Fc(self.ch, nonlinearity, name=f'fc_{i}') for i in range(self.n_layers)],
        )

    @property
    def fc_layers(self) -> list:
        """The `Fc` layers, in order."""
        return [getattr(self, name) for name in self._fc_names]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.fc_layers:
            layer.build(shape)
            shape = shape[:-1] + (self.ch,)

    def call(self, x):
        for layer in self.fc_layers:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        return shape[:-1] + (self.ch,) if self.n_layers else shape

    def get_config(self):
        config = super().get_config()
        config.update(
            ch=self.ch, layers=self.n_layers, nonlinearity=serialize_nonlinearity(self.nonlinearity)
        )
        return config


@keras_serializable
@gin_register
class FcStackOut(keras.layers.Layer):
    """`FcStack(ch, layers)` followed by `Dense(n_out)`: `[..., C]` -> `[..., n_out]`.

    Args:
        ch: Channels of the FcStack.
        layers: Layers of the FcStack.
        n_out: Output channels.

    Example:
        >>> FcStackOut(ch=64, layers=2, n_out=3)(tf.zeros([2, 100, 5])).shape  # [2, 100, 3]
    """

    def __init__(self, ch: int, layers: int, n_out: int, **kwargs):
        super().__init__(**kwargs)
        self.ch, self.n_layers = ch, layers
        self.n_out = validation.check_int(type(self).__name__, 'n_out', n_out)
        self.stack = FcStack(ch, layers, name='fc_stack')
        self.dense_out = keras.layers.Dense(self.n_out, name='dense_out')

    def build(self, input_shape):
        self.stack.build(tuple(input_shape))
        self.dense_out.build(self.stack.compute_output_shape(tuple(input_shape)))

    def call(self, x):
        return self.dense_out(self.stack(x))

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, layers=self.n_layers, n_out=self.n_out)
        return config
