"""Gin names of layers: `nn.<Name>` for this package's, `tf.keras.layers.<Name>` for Keras'.

Gin names a configurable after the module that defines it. The layers of `ddsp.training.nn`
live in its submodules (`ddsp.training.nn.dense`, `ddsp.training.nn.rnn`, ...), but configs
name them as one module, as the original did: `@nn.FcStack()`, `nn.RnnFc.rnn_type`,
`ddsp.training.nn.Rnn.dims`, `@dec/nn.DilatedConvStack()`. `gin_register` is the one way this
package registers a layer or function with gin: always under the module `ddsp.training.nn`,
whichever submodule defines it.

`gin_register_keras_layers` registers Keras' own layers under the spellings of the original
configs (`tf.keras.layers.Dense`, `tf.keras.Sequential`, `nn.Dense`); importing this module
calls it.

Example:
    >>> @gin_register
    ... class Gain(keras.layers.Layer): ...
    >>> gin.parse_config('Model.net = @nn.Gain()')
"""

import inspect
from typing import Text

import gin
import keras

GIN_MODULE = 'ddsp.training.nn'


def gin_register(target):
    """Registers a class or function with gin as `ddsp.training.nn.<name>` and returns it.

    The registration matches `nn.<name>`, `ddsp.training.nn.<name>` and `<name>` in configs,
    wherever in the package `target` is defined; `target` itself is not changed.
    """
    return gin.register(target, module=GIN_MODULE)


def _register_once(target, name: Text, module: Text):
    """`gin.register` that accepts an existing registration (repeated calls, re-imports)."""
    try:
        gin.register(name, module=module)(target)
    except ValueError as e:
        if 'already' not in str(e).lower():
            raise


def gin_register_keras_layers():
    """Registers Keras layers with gin under the names the original configs use.

    Every `keras.layers.Layer` subclass in `keras.layers` becomes `tf.keras.layers.<Name>`,
    `keras.Sequential` becomes `tf.keras.Sequential` (and `tf.keras.layers.Sequential`), and
    `keras.layers.Dense` is also `nn.Dense`. Calling it again changes nothing.

    Example gin:
        MyModel.net = @tf.keras.Sequential()
        tf.keras.Sequential.layers = [@tf.keras.layers.Dense(), @nn.FcStack()]
        tf.keras.layers.Dense.units = 64
    """
    for name, value in sorted(vars(keras.layers).items()):
        if (
            not name.startswith('_')
            and inspect.isclass(value)
            and issubclass(value, keras.layers.Layer)
        ):
            _register_once(value, name, 'tf.keras.layers')
    _register_once(keras.Sequential, 'Sequential', 'tf.keras')
    _register_once(keras.Sequential, 'Sequential', 'tf.keras.layers')
    _register_once(keras.layers.Dense, 'Dense', GIN_MODULE)


Dense = keras.layers.Dense  # Also gin's `nn.Dense`.

gin_register_keras_layers()
