"""Neural-network building blocks of the training library, and the DictLayer convention.

`DictLayer` is the convention every preprocessor, encoder and decoder follows: a Keras layer
that reads its inputs from a dict of features by key and returns a dict of outputs. Its input
keys are the argument names of `call` (arguments with defaults are optional keys), and its
output keys are the list in `call`'s return annotation:

    >>> class Scale(DictLayer):
    ...     def call(self, f0_hz, gain=1.0) -> ['f0_scaled']:
    ...         return f0_hz * gain / 1000.0
    >>> Scale()({'f0_hz': f0, 'audio': audio})  # {'f0_scaled': f0 / 1000}

The other layers are plain Keras layers on `[batch, time, channels]` tensors:
* dense and recurrent: `Fc` / `FcStack` (Dense -> LayerNormalization -> nonlinearity),
  `FcStackOut`, `Rnn`, `StatelessRnn`, `RnnFc`, `RnnSandwich`, `Identity`;
* normalization and conditioning: `Normalize` (group norm over time), `ConditionalNorm`,
  `ConditionalScaleAndShift` (FiLM), `SpectralNormalization`;
* convolutions: `DilatedConvStack`, `PolyphaseResample`, and the ResNet family over
  spectrograms (`NormReluConv`, `ResidualLayer`, `ResidualStack`, `ResNet`); `SingleGru`;
* `VectorQuantization` (EMA codebook);
and functions for splitting outputs (`split_to_dict`), note masks and note statistics
(`get_note_mask`, `pool_over_notes`, ...) and straight-through estimators.

Importing this module registers every `keras.layers` class with gin as
`tf.keras.layers.<Name>` (and `keras.Sequential` as `tf.keras.Sequential`), the spellings of
the original gin configs.
"""

import inspect
import numbers
from typing import Any, Callable, Dict, Optional, Sequence, Text, Tuple, Union

import gin
import keras
import tensorflow as tf

from ddsp import core

TensorDict = Dict[Text, Any]
Splits = Sequence[Tuple[Text, int]]

_SERIALIZE_PACKAGE = 'ddsp.training'
_CONTEXT_ARGS = ('training', 'mask')  # Keras call arguments, never input keys.
_RNN_TYPES = ('gru', 'lstm')


def keras_serializable(cls):
    """Registers a layer for `keras.saving` under `ddsp.training>ClassName`."""
    return keras.saving.register_keras_serializable(package=_SERIALIZE_PACKAGE)(cls)


def set_sublayers(owner, names: Sequence[Text], layers: Sequence[Any]):
    """Attaches layers as attributes `names[i]` (None entries too).

    Keras 3 turns lists assigned to a layer into its own tracked lists, which
    `tf.train.Checkpoint` does not follow: the weights of layers held only in a list are
    silently left out of checkpoints. Layers here are therefore attributes, and lists of them
    are properties built from the attributes.
    """
    for name, layer in zip(names, layers):
        setattr(owner, name, layer)
    return list(names)


# ------------------------------------------------------------------------------------------------
# Argument checks (shared with preprocessing, encoders and decoders).
# ------------------------------------------------------------------------------------------------
def check_int(owner: Text, name: Text, value, minimum: int = 1) -> int:
    """`value` as an int, or a ValueError saying what was expected and what was received."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < minimum):
        expected = 'a positive integer' if minimum == 1 else f'an integer >= {minimum}'
        raise ValueError(f'{owner}: {name} must be {expected}; received {name}={value!r}.')
    return int(value)


def check_positive_number(owner: Text, name: Text, value) -> float:
    """`value` as a float > 0, or a ValueError saying what was received."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise ValueError(f'{owner}: {name} must be a positive number; received '
                         f'{name}={value!r}.')
    return value


def check_choice(owner: Text, name: Text, value, choices: Sequence[Any]):
    """`value` if it is one of `choices`, else a ValueError listing them."""
    if value not in choices:
        raise ValueError(f'{owner}: {name} must be one of {list(choices)}; received '
                         f'{name}={value!r}.')
    return value


def check_keys(owner: Text, name: Text, keys) -> Optional[list]:
    """A sequence of string keys as a list (a single string is one key); None stays None."""
    if keys is None:
        return None
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    if not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f'{owner}: {name} must be a sequence of non-empty strings; received '
                         f'{name}={keys!r}.')
    return keys


def check_output_splits(owner: Text, output_splits) -> Tuple[Tuple[Text, int], ...]:
    """`((key, size), ...)` with string keys and positive sizes, as a tuple of tuples."""
    try:
        splits = tuple((k, v) for k, v in output_splits)
    except (TypeError, ValueError):
        splits = None
    if (not splits or not all(isinstance(k, str) and k for k, _ in splits)
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                   for _, v in splits)):
        raise ValueError(f'{owner}: output_splits must be a non-empty sequence of (key, size) '
                         f'pairs with positive integer sizes, like (("amps", 1), '
                         f'("harmonic_distribution", 60)); received '
                         f'output_splits={output_splits!r}.')
    keys = [k for k, _ in splits]
    if len(set(keys)) != len(keys):
        raise ValueError(f'{owner}: output_splits has repeated keys: {keys}.')
    return tuple((str(k), int(v)) for k, v in splits)


def check_net(owner: Text, net, name: Text = 'net'):
    """Returns `net` if it is a layer (anything callable) or None, else raises."""
    if net is not None and not callable(net):
        raise ValueError(f'{owner}: {name} must be a Keras layer (or None for none); '
                         f'received {name}={net!r}.')
    return net


def serialize_layer(layer):
    """A layer argument for `get_config` (None stays None)."""
    return None if layer is None else keras.saving.serialize_keras_object(layer)


def deserialize_layers(config, keys: Sequence[Text] = ('net',)):
    """A copy of `config` with the serialized layers under `keys` restored."""
    config = dict(config)
    for key in keys:
        if isinstance(config.get(key), dict):
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return config


def _serialize_nonlinearity(nonlinearity):
    """A nonlinearity for `get_config`: names stay names, Keras activations become names."""
    if isinstance(nonlinearity, str):
        return nonlinearity
    return keras.activations.serialize(nonlinearity)


# ------------------------------------------------------------------------------------------------
# Gin registration of Keras layers.
# ------------------------------------------------------------------------------------------------
def _register(target, name: Text, module: Text):
    """`gin.register` that tolerates an existing registration (re-imports, repeated calls)."""
    try:
        gin.register(name, module=module)(target)
    except ValueError as e:
        if 'already' not in str(e).lower():
            raise


def gin_register_keras_layers():
    """Registers Keras layers with gin under the spellings of the original configs.

    Every `keras.layers.Layer` subclass in `keras.layers` becomes `tf.keras.layers.<Name>`,
    `keras.Sequential` becomes `tf.keras.Sequential` (and `tf.keras.layers.Sequential`), and
    `keras.layers.Dense` is also `nn.Dense`. Safe to call more than once.

    Example gin:
        FcStackOut.layers = 2
        MyModel.net = @tf.keras.Sequential()
        tf.keras.Sequential.layers = [@tf.keras.layers.Dense()]
        tf.keras.layers.Dense.units = 64
    """
    for name, value in sorted(vars(keras.layers).items()):
        if (not name.startswith('_') and inspect.isclass(value)
                and issubclass(value, keras.layers.Layer)):
            _register(value, name, 'tf.keras.layers')
    _register(keras.Sequential, 'Sequential', 'tf.keras')
    _register(keras.Sequential, 'Sequential', 'tf.keras.layers')
    _register(keras.layers.Dense, 'Dense', __name__)


Dense = keras.layers.Dense  # Gin-registered as `nn.Dense`.


# ------------------------------------------------------------------------------------------------
# Helper functions.
# ------------------------------------------------------------------------------------------------
def ensure_4d(x):
    """Adds axes so that Conv2D can run over time: `[B, C]` -> `[B, 1, 1, C]`, `[B, T, C]` ->
    `[B, T, 1, C]`; 4-D tensors are returned unchanged.
    """
    rank = len(x.shape)
    if rank == 2:
        return x[:, tf.newaxis, tf.newaxis, :]
    if rank == 3:
        return x[:, :, tf.newaxis, :]
    if rank == 4:
        return x
    raise ValueError(f'ensure_4d expects a 2-D, 3-D or 4-D tensor; received shape {x.shape}.')


def inv_ensure_4d(x, n_dims: int):
    """Undoes `ensure_4d` for an original rank `n_dims` (2, 3 or 4): `[B, T, 1, C]` -> `[B, T, C]`
    for 3, `[B, 1, 1, C]` -> `[B, C]` for 2.
    """
    if n_dims == 2:
        return x[:, 0, 0, :]
    if n_dims == 3:
        return x[:, :, 0, :]
    if n_dims == 4:
        return x
    raise ValueError(f'inv_ensure_4d: n_dims must be 2, 3 or 4; received n_dims={n_dims!r}.')


@gin.register
def split_to_dict(tensor, tensor_splits: Splits) -> TensorDict:
    """Splits the last axis of `tensor` into named pieces.

    Args:
        tensor: `[..., sum of sizes]`.
        tensor_splits: `((key, size), ...)`, e.g. `(('amps', 1), ('harmonic_distribution', 60))`.

    Returns:
        `{key: tensor[..., start:start + size]}` for each split, in order.

    Example:
        >>> split_to_dict(tf.zeros([2, 10, 3]), (('a', 1), ('b', 2)))['b'].shape  # [2, 10, 2]
    """
    tensor_splits = check_output_splits('split_to_dict', tensor_splits)
    keys = [k for k, _ in tensor_splits]
    sizes = [v for _, v in tensor_splits]
    n_channels = tensor.shape[-1]
    if n_channels is not None and n_channels != sum(sizes):
        raise ValueError(f'split_to_dict: the splits {dict(tensor_splits)} add up to '
                         f'{sum(sizes)} channels, but the tensor has {n_channels} (shape '
                         f'{tensor.shape}).')
    return dict(zip(keys, tf.split(tensor, sizes, axis=-1)))


def get_nonlinearity(nonlinearity: Union[Text, Callable]) -> Callable:
    """A Keras activation (e.g. 'relu', 'leaky_relu', 'sigmoid'), else `tf.nn.<name>`.

    Callables are returned as they are.
    """
    if callable(nonlinearity):
        return nonlinearity
    try:
        return keras.activations.get(nonlinearity)
    except (ValueError, TypeError):
        fn = getattr(tf.nn, str(nonlinearity), None)
        if fn is None or not callable(fn):
            raise ValueError(f'Unknown nonlinearity {nonlinearity!r}: it is neither a Keras '
                             f'activation (like "relu" or "leaky_relu") nor a tf.nn '
                             f'function.') from None
        return fn


_NORM_GROUPS = {'instance': None, 'layer': 1, 'group': 32}  # None: one group per channel.


def normalize_op(x, norm_type: Text = 'layer', eps: float = 1e-5):
    """Group normalization of a 4-D `[B, T, F, C]` tensor, without scale or shift.

    Statistics are taken over time, frequency and the channels of each group: 'instance'
    (one group per channel), 'layer' (one group: the whole sequence and every channel, so not
    causal) or 'group' (32 groups; C must be divisible by 32).

    Returns:
        `(x - mean) / sqrt(var + eps)`, `[B, T, F, C]`.
    """
    check_choice('normalize_op', 'norm_type', norm_type, tuple(_NORM_GROUPS))
    if len(x.shape) != 4:
        raise ValueError(f'normalize_op expects a 4-D [batch, time, freq, channels] tensor; '
                         f'received shape {x.shape} (use ensure_4d).')
    ch = x.shape[-1]
    n_groups = ch if _NORM_GROUPS[norm_type] is None else _NORM_GROUPS[norm_type]
    if ch % n_groups:
        raise ValueError(f'normalize_op: {ch} channels cannot be split into {n_groups} groups '
                         f'for norm_type "{norm_type}".')
    shape = tf.shape(x)
    grouped = tf.reshape(x, tf.concat([shape[:3], [n_groups, ch // n_groups]], axis=0))
    mean, variance = tf.nn.moments(grouped, axes=[1, 2, 4], keepdims=True)
    grouped = (grouped - mean) * tf.math.rsqrt(variance + eps)
    return tf.reshape(grouped, shape)


def get_embedding(vocab_size: int = 1024, n_dims: int = 256) -> keras.layers.Layer:
    """An Embedding layer: integer ids `[B, 1]` -> `[B, 1, n_dims]`.

    Keras 3 removed `Embedding(input_length=...)`; the output has the ids' shape plus
    `n_dims`, so pass ids shaped `[B, 1]` for the original's `[B, 1, n_dims]`.
    """
    vocab_size = check_int('get_embedding', 'vocab_size', vocab_size)
    n_dims = check_int('get_embedding', 'n_dims', n_dims)
    return keras.layers.Embedding(vocab_size, n_dims, name='embedding')


# ------------------------------------------------------------------------------------------------
# DictLayer.
# ------------------------------------------------------------------------------------------------
class DictLayerInputError(core.MissingKeyError, TypeError):
    """A DictLayer could not gather its inputs; both a `KeyError` and (as in the original)
    a `TypeError`. The message lists the expected, missing and available keys.
    """


def _method(obj, method):
    return getattr(obj, method) if isinstance(method, str) else method


def _arg_spec(obj, method):
    fn = _method(obj, method)
    spec = inspect.getfullargspec(fn)
    args = list(spec.args)
    if inspect.ismethod(fn) and args:
        args = args[1:]  # `self`.
    return spec, args


class DictLayer(keras.layers.Layer):
    """A Keras layer that takes and returns dicts of tensors, with keys bound to arguments.

    Calling the layer (`__call__(*inputs, **kwargs)`):
      1. Dict arguments are merged into one dict of features; other positional arguments are
         kept, in order, as the first inputs.
      2. Keyword arguments named like an input key are moved into the features.
      3. Each input key is looked up (nested keys use '/', e.g. 'harmonic/signal'); then each
         default key is looked up, or its default value used while inputs are still short.
      4. The gathered inputs are passed positionally to `call` through Keras's `__call__`
         (so `training` propagates, the layer builds, and tf.function traces as usual).
      5. A dict returned by `call` is returned as is; anything else is zipped with the output
         keys.

    Linters read the keys in the return annotation as names (ruff F821); mark that line
    `# noqa: F821`.

    On first call the layer is built with `build(input_shapes)`, a list holding the shape of
    each gathered input (None for non-tensors), in input-key order. Subclasses build their
    sublayers there; the default builds nothing (sublayers then build on first use).

    Args:
        input_keys: Keys to look up, in `call`'s argument order. Default: the required
            arguments of `call`, plus its arguments with defaults as optional keys. Explicit
            keys disable the defaults.
        output_keys: Keys of the outputs, when `call` does not return a dict. Default: the
            list in `call`'s return annotation.
        **kwargs: Keras layer arguments (`name`, `trainable`, `dtype`).

    Raises (when called):
        DictLayerInputError: (a KeyError and TypeError) when inputs are missing.
        ValueError: when `call` returns a different number of outputs than output keys.
    """

    _key_method = 'call'  # The method whose arguments give the input keys.

    def __init__(self, input_keys: Optional[Sequence[Text]] = None,
                 output_keys: Optional[Sequence[Text]] = None, **kwargs):
        super().__init__(**kwargs)
        # Default values (None, numbers) are passed positionally like tensors.
        self._allow_non_tensor_positional_args = True
        owner = type(self).__name__
        self._input_keys_arg = check_keys(owner, 'input_keys', input_keys)
        self._output_keys_arg = check_keys(owner, 'output_keys', output_keys)
        if self._input_keys_arg:
            self.input_keys = list(self._input_keys_arg)
            self.default_input_keys = []
            self.default_input_values = []
        else:
            self.input_keys = self.get_argument_names(self._key_method)
            self.default_input_keys = self.get_default_argument_names(self._key_method)
            self.default_input_values = self.get_default_argument_values(self._key_method)
        if self._output_keys_arg:
            self.output_keys = list(self._output_keys_arg)
        else:
            self.output_keys = list(self.get_return_annotations('call'))

    # Introspection ------------------------------------------------------------------------------
    @property
    def all_input_keys(self) -> list:
        """Input keys followed by default (optional) keys."""
        return list(self.input_keys) + list(self.default_input_keys)

    @property
    def n_inputs(self) -> int:
        """How many inputs `call` receives."""
        return len(self.all_input_keys)

    def get_argument_names(self, method) -> list:
        """Names of the required arguments of `method` (a name or a callable)."""
        spec, args = _arg_spec(self, method)
        n_defaults = len(spec.defaults or ())
        required = args[:len(args) - n_defaults]
        return [a for a in required if a not in _CONTEXT_ARGS]

    def get_default_argument_names(self, method) -> list:
        """Names of the arguments of `method` that have default values."""
        spec, args = _arg_spec(self, method)
        n_defaults = len(spec.defaults or ())
        names = args[len(args) - n_defaults:] if n_defaults else []
        return [a for a in names if a not in _CONTEXT_ARGS]

    def get_default_argument_values(self, method) -> list:
        """Default values of the arguments of `method`, in order."""
        spec, args = _arg_spec(self, method)
        n_defaults = len(spec.defaults or ())
        names = args[len(args) - n_defaults:] if n_defaults else []
        return [v for a, v in zip(names, spec.defaults or ()) if a not in _CONTEXT_ARGS]

    def get_return_annotations(self, method) -> list:
        """The list of output keys in `method`'s return annotation (empty if none)."""
        spec, _ = _arg_spec(self, method)
        annotation = spec.annotations.get('return', [])
        if isinstance(annotation, str):
            return [annotation]
        if isinstance(annotation, (list, tuple)):
            return list(annotation)
        return []

    # Calling ------------------------------------------------------------------------------------
    def gather_inputs(self, *inputs, **kwargs) -> Tuple[list, dict]:
        """The positional inputs for `call`, and the kwargs left for Keras (e.g. `training`)."""
        features = {}
        positional = []
        for x in inputs:
            if isinstance(x, dict):
                features.update(x)
            else:
                positional.append(x)
        for key in self.all_input_keys:
            if key in kwargs:
                features[key] = kwargs.pop(key)

        gathered = list(positional)
        missing = []
        n_defaults = 0
        for key in self.input_keys:
            try:
                gathered.append(core.nested_lookup(key, features))
            except KeyError:
                missing.append(key)
        for key, value in zip(self.default_input_keys, self.default_input_values):
            try:
                gathered.append(core.nested_lookup(key, features))
            except KeyError:
                if len(gathered) < self.n_inputs:
                    gathered.append(value)
                    n_defaults += 1

        if len(gathered) != self.n_inputs:
            available = core.nested_keys(features) if features else []
            raise DictLayerInputError(
                f'{type(self).__name__} "{self.name}" expects {self.n_inputs} inputs, for the '
                f'keys {self.input_keys}'
                + (f' and the optional keys {self.default_input_keys}'
                   if self.default_input_keys else '')
                + f', but gathered {len(gathered)} ({len(positional)} positional, '
                f'{len(gathered) - len(positional) - n_defaults} looked up, {n_defaults} '
                f'default values). '
                + (f'Missing keys: {missing}. ' if missing and features else '')
                + f'Available keys: {available}.')
        return gathered, kwargs

    def __call__(self, *inputs, **kwargs):
        gathered, kwargs = self.gather_inputs(*inputs, **kwargs)
        if not self.built:
            self.build([_shape_or_none(x) for x in gathered])
        outputs = super().__call__(*gathered, **kwargs)
        if isinstance(outputs, dict):
            return outputs
        outputs = list(core.make_iterable(outputs))
        if len(outputs) != len(self.output_keys):
            raise ValueError(
                f'{type(self).__name__} "{self.name}" returned {len(outputs)} outputs for the '
                f'{len(self.output_keys)} output keys {self.output_keys}; give one key per '
                f'output (output_keys or the return annotation of call), or return a dict.')
        return dict(zip(self.output_keys, outputs))

    def build(self, input_shapes):
        """Builds nothing by default: sublayers build themselves when first called.

        Args:
            input_shapes: list of the shapes of the inputs, in input-key order.
        """
        del input_shapes

    def get_config(self):
        config = super().get_config()
        config.update(input_keys=self._input_keys_arg, output_keys=self._output_keys_arg)
        return config


def _shape_or_none(x):
    shape = getattr(x, 'shape', None)
    if shape is None:
        return None
    return tuple(tf.TensorShape(shape).as_list())


class OutputSplitsLayer(DictLayer):
    """A DictLayer whose output is a Dense layer split into named tensors.

    Subclasses implement `compute_output(*inputs) -> [batch, ..., channels]`; the input keys
    come from its arguments. `call` is
    `split_to_dict(Dense(sum of sizes)(compute_output(*inputs)), output_splits)`.

    Args:
        input_keys: Keys of the inputs (default: `compute_output`'s arguments).
        output_splits: `((key, size), ...)`; the output keys and their channel counts.
        **kwargs: Keras layer arguments.
    """

    _key_method = 'compute_output'

    def __init__(self, input_keys: Optional[Sequence[Text]] = None,
                 output_splits: Splits = (('amps', 1), ('harmonic_distribution', 40)),
                 **kwargs):
        self.output_splits = check_output_splits(type(self).__name__, output_splits)
        self.n_out = sum(size for _, size in self.output_splits)
        kwargs.pop('output_keys', None)  # Always the split keys.
        super().__init__(input_keys=input_keys,
                         output_keys=[key for key, _ in self.output_splits], **kwargs)
        self.dense_out = keras.layers.Dense(self.n_out, name='dense_out')

    def compute_output(self, *inputs):
        """The features fed to the output Dense layer, `[batch, ..., channels]`."""
        raise NotImplementedError(f'{type(self).__name__} must implement compute_output().')

    def call(self, *inputs, **unused_kwargs) -> TensorDict:
        x = self.compute_output(*inputs)
        return split_to_dict(self.dense_out(x), self.output_splits)

    def get_config(self):
        config = super().get_config()
        config.pop('output_keys', None)
        config['output_splits'] = [list(split) for split in self.output_splits]
        return config


# ------------------------------------------------------------------------------------------------
# Normalization.
# ------------------------------------------------------------------------------------------------
@keras_serializable
@gin.register
class Normalize(keras.layers.Layer):
    """`normalize_op` followed by a learned per-channel scale and shift.

    Works on `[B, C]`, `[B, T, C]` and `[B, T, F, C]` (through `ensure_4d`); the output has the
    input's shape. Weights `scale` (ones) and `shift` (zeros), shape `[1, 1, 1, C]`.

    Args:
        norm_type: 'instance', 'layer' or 'group' (see `normalize_op`).
    """

    def __init__(self, norm_type: Text = 'layer', **kwargs):
        super().__init__(**kwargs)
        self.norm_type = check_choice(type(self).__name__, 'norm_type', norm_type,
                                      tuple(_NORM_GROUPS))

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


# ------------------------------------------------------------------------------------------------
# Fully connected layers.
# ------------------------------------------------------------------------------------------------
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
    y = _scale_centred_rows(centred, tf.cast(gamma, compute_dtype),
                            tf.cast(beta, compute_dtype), float(epsilon))
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


@keras_serializable
@gin.register
class Fc(keras.layers.Layer):
    """Dense -> LayerNormalization -> nonlinearity, on the last axis.

    `[..., C_in]` -> `[..., ch]`. Weights: `C_in * ch + ch` (Dense) plus `2 * ch` (scale and
    offset of the LayerNormalization).

    Args:
        ch: Output channels.
        nonlinearity: A Keras activation name, a `tf.nn` function name, or a callable.
    """

    def __init__(self, ch: int = 128, nonlinearity: Union[Text, Callable] = 'leaky_relu',
                 **kwargs):
        super().__init__(**kwargs)
        self.ch = check_int(type(self).__name__, 'ch', ch)
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
        return self._nonlinearity_fn(dense_layer_norm(
            x, self.dense.kernel, self.dense.bias, norm.gamma, norm.beta, norm.epsilon))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.ch,)

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, nonlinearity=_serialize_nonlinearity(self.nonlinearity))
        return config


@keras_serializable
@gin.register
class FcStack(keras.layers.Layer):
    """`layers` `Fc` layers in sequence: `[..., C_in]` -> `[..., ch]` (identity if layers=0).

    Args:
        ch: Channels of every layer.
        layers: Number of `Fc` layers (0 passes the input through).
        nonlinearity: Activation of every layer.
    """

    def __init__(self, ch: int = 256, layers: int = 2,
                 nonlinearity: Union[Text, Callable] = 'leaky_relu', **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = check_int(owner, 'ch', ch)
        self.n_layers = check_int(owner, 'layers', layers, minimum=0)
        self.nonlinearity = nonlinearity
        self._fc_names = set_sublayers(self, [f'fc_{i}' for i in range(self.n_layers)],
                                       [Fc(self.ch, nonlinearity, name=f'fc_{i}')
                                        for i in range(self.n_layers)])

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
        config.update(ch=self.ch, layers=self.n_layers,
                      nonlinearity=_serialize_nonlinearity(self.nonlinearity))
        return config


# ------------------------------------------------------------------------------------------------
# Recurrent layers.
# ------------------------------------------------------------------------------------------------
# A GRU (Keras 3 defaults: reset_after=True, tanh, sigmoid gates, gate order z, r, h) computed
# as one matmul projecting the inputs of every time step, then a time loop holding only the
# recurrent part. Both loops (forward, and the hand-written backward) are compiled with XLA:
# Keras' generic RNN loop on CPU projects the input inside each of the T steps and runs the
# step's small ops one by one, which made the solo-instrument decoder's GRU most of a train step.
_FORWARD_UNROLL = 8  # Time steps per loop iteration of the forward pass.


def _gru_forward_loop(xp, h0, recurrent_kernel, recurrent_bias):
    """Time-major recurrence: xp `[T, B, 3U]` (inputs already projected), h0 `[B, U]`.

    Returns `(h, z, r, hh, rh)`, each `[T, B, U]`: the states and what the backward loop needs
    (update gate, reset gate, candidate state, recurrent candidate term before the reset gate).
    The loop runs `_FORWARD_UNROLL` steps per iteration (the sequence is zero-padded to a
    multiple of it and the padding's outputs dropped): one step's work is small, so fewer
    iterations save much of the loop's overhead (about 18 % of the forward pass; unrolling the
    backward loop did not help). The steps and their results are the same.
    """
    n_steps = tf.shape(xp)[0]
    unroll = _FORWARD_UNROLL
    padding = (unroll - n_steps % unroll) % unroll
    xp = tf.pad(xp, [[0, padding], [0, 0], [0, 0]])
    xp = tf.reshape(xp, tf.concat([[-1, unroll], tf.shape(xp)[1:]], axis=0))

    def step(h, xp_t):
        rz, rr, rh = tf.split(tf.matmul(h, recurrent_kernel) + recurrent_bias, 3, axis=-1)
        xz, xr, xh = tf.split(xp_t, 3, axis=-1)
        z = tf.sigmoid(xz + rz)
        r = tf.sigmoid(xr + rr)
        hh = tf.tanh(xh + r * rh)
        return z * h + (1.0 - z) * hh, z, r, hh, rh

    def steps(carry, xp_block):
        h, outputs = carry[0], []
        for i in range(unroll):
            outputs.append(step(h, xp_block[i]))
            h = outputs[-1][0]
        return (h,) + tuple(tf.stack(column) for column in zip(*outputs))

    zeros = tf.zeros(tf.concat([[unroll], tf.shape(h0)], axis=0), dtype=h0.dtype)
    blocks = tf.scan(steps, xp, initializer=(h0,) + (zeros,) * 5)[1:]
    return tuple(tf.reshape(b, tf.concat([[-1], tf.shape(b)[2:]], axis=0))[:n_steps]
                 for b in blocks)


def _gru_backward_loop(dh_out, h_prev, z, r, hh, rh, recurrent_kernel):
    """Reverse-time loop of the GRU's gradient; all `[T, B, U]` but the kernel `[U, 3U]`.

    Returns `(dh0 [B, U], dxp [T, B, 3U], d_recurrent [T, B, 3U])`: gradients w.r.t. the initial
    state, the projected inputs (pre-activation gradients of the z, r and candidate terms) and
    the recurrent term `h U + c` (the same, but the candidate's is multiplied by the reset gate).
    """
    kernel_t = tf.transpose(recurrent_kernel)

    def step(carry, elems):
        dh_out_t, h_prev_t, z_t, r_t, hh_t, rh_t = elems
        dh = dh_out_t + carry[0]
        dz = dh * (h_prev_t - hh_t) * z_t * (1.0 - z_t)
        dhh = dh * (1.0 - z_t) * (1.0 - hh_t * hh_t)
        dr = dhh * rh_t * r_t * (1.0 - r_t)
        d_recurrent = tf.concat([dz, dr, dhh * r_t], axis=-1)
        return (dh * z_t + tf.matmul(d_recurrent, kernel_t), tf.concat([dz, dr, dhh], axis=-1),
                d_recurrent)

    zeros = tf.zeros_like(dh_out[0])
    zeros3 = tf.concat([zeros, zeros, zeros], axis=-1)
    dh, dxp, d_recurrent = tf.scan(step, (dh_out, h_prev, z, r, hh, rh),
                                   initializer=(zeros, zeros3, zeros3), reverse=True)
    return dh[0], dxp, d_recurrent


_gru_forward_xla = tf.function(_gru_forward_loop, jit_compile=True, autograph=False)
_gru_backward_xla = tf.function(_gru_backward_loop, jit_compile=True, autograph=False)


@tf.custom_gradient
def _gru_recurrence(xp, h0, recurrent_kernel, recurrent_bias):
    """States `[T, B, U]` of the recurrence, with the gradient of `_gru_backward_loop`.

    First-order gradients only. The XLA loops get `stop_gradient` inputs: a tape watching them
    would ask for the loops' own (TensorList) gradients, which cannot cross the XLA boundary.
    """
    h, z, r, hh, rh = _gru_forward_xla(*[tf.stop_gradient(t) for t in
                                         (xp, h0, recurrent_kernel, recurrent_bias)])

    def grad(dh_out):
        h_prev = tf.concat([h0[tf.newaxis], h[:-1]], axis=0)
        dh0, dxp, d_recurrent = _gru_backward_xla(
            *[tf.stop_gradient(t) for t in (dh_out, h_prev, z, r, hh, rh, recurrent_kernel)])
        units = tf.shape(h0)[-1]
        d_kernel = tf.matmul(tf.reshape(h_prev, [-1, units]),
                             tf.reshape(d_recurrent, [-1, 3 * units]), transpose_a=True)
        return dxp, dh0, d_kernel, tf.reduce_sum(d_recurrent, axis=[0, 1])

    return h, grad


def gru_sequence(x, kernel, recurrent_kernel, bias=None, initial_state=None):
    """Runs a Keras-3-default GRU (`reset_after=True`) over time, fast on CPU.

    Computes exactly what `keras.layers.GRU(units, return_sequences=True)` computes with the
    same weights (gates z, r, h in that order; `z = sigmoid(x Wz + bz + h Uz + cz)`,
    `r = sigmoid(...)`, `hh = tanh(x Wh + bh + r * (h Uh + ch))`, `h' = z h + (1 - z) hh`), but
    projects the inputs of all time steps in one matmul and runs the recurrence (and its
    hand-written gradient) as an XLA-compiled loop. Works eagerly, in `tf.function`, under XLA
    and in replica contexts of `tf.distribute` strategies.

    Args:
        x: Inputs `[B, T, C]`, T >= 1.
        kernel: Input kernel `[C, 3U]` (the GRU cell's `kernel`).
        recurrent_kernel: `[U, 3U]` (the cell's `recurrent_kernel`).
        bias: `[2, 3U]` (input bias, then recurrent bias: the cell's `bias`), or None for none.
        initial_state: `[B, U]`, or None for zeros.

    Returns:
        `[B, T, U]`: the state after every step (the last one is the final state).

    Example:
        >>> gru = keras.layers.GRU(512, return_sequences=True)
        >>> y = gru(x)  # Builds the weights; x [16, 1000, 1024].
        >>> c = gru.cell
        >>> y_fast = gru_sequence(x, c.kernel, c.recurrent_kernel, c.bias)  # == y
    """
    x = tf.convert_to_tensor(x, dtype_hint=tf.float32)
    kernel = tf.convert_to_tensor(kernel, dtype=x.dtype)
    recurrent_kernel = tf.convert_to_tensor(recurrent_kernel, dtype=x.dtype)
    if x.shape.rank != 3:
        raise ValueError(f'gru_sequence: x must be [batch, time, channels]; received shape '
                         f'{x.shape}.')
    units = recurrent_kernel.shape[0]
    if (kernel.shape.rank != 2 or recurrent_kernel.shape.rank != 2
            or kernel.shape[-1] != 3 * units or recurrent_kernel.shape[-1] != 3 * units
            or (x.shape[-1] is not None and kernel.shape[0] != x.shape[-1])):
        raise ValueError(f'gru_sequence: expected kernel [C, 3U] with C = x channels '
                         f'({x.shape[-1]}) and recurrent_kernel [U, 3U]; received kernel '
                         f'{kernel.shape} and recurrent_kernel {recurrent_kernel.shape}.')
    if bias is None:
        bias = tf.zeros([2, 3 * units], dtype=x.dtype)
    bias = tf.convert_to_tensor(bias, dtype=x.dtype)
    if bias.shape != (2, 3 * units):
        raise ValueError(f'gru_sequence: bias must be [2, {3 * units}] (reset_after=True); '
                         f'received shape {bias.shape}.')
    if initial_state is None:
        initial_state = tf.zeros([tf.shape(x)[0], units], dtype=x.dtype)
    initial_state = tf.convert_to_tensor(initial_state, dtype=x.dtype)
    # Time-major before the projection: transposing x moves C channels, not 3U, and one 2-D
    # matmul (rather than a broadcast batch matmul) has a cheap gradient for the kernel.
    x_tm = tf.transpose(x, [1, 0, 2])  # [T, B, C]
    shape = tf.shape(x_tm)
    xp = tf.matmul(tf.reshape(x_tm, [-1, shape[2]]), kernel) + bias[0]
    xp = tf.reshape(xp, [shape[0], shape[1], 3 * units])  # [T, B, 3U]
    h = _gru_recurrence(xp, initial_state, recurrent_kernel, bias[1])
    return tf.transpose(h, [1, 0, 2])


def _fast_gru_supported(layer) -> bool:
    """Whether `gru_sequence` computes what this built `keras.layers.GRU` layer computes."""
    cell = getattr(layer, 'cell', None)
    return (type(layer) is keras.layers.GRU and type(cell) is keras.layers.GRUCell
            and layer.built and cell.reset_after
            and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and not cell.dropout and not cell.recurrent_dropout
            and not layer.stateful and not layer.unroll
            and layer.compute_dtype == layer.variable_dtype)


def _fast_gru(layer, x, initial_state=None):
    """`layer(x, initial_state)` of a supported GRU as `(sequence [B, T, U], last [B, U])`.

    The sequence is in processing order (reversed for `go_backwards`), as Keras returns it.
    """
    cell = layer.cell
    if layer.go_backwards:
        x = tf.reverse(x, axis=[1])
    y = gru_sequence(x, cell.kernel, cell.recurrent_kernel,
                     cell.bias if cell.use_bias else None, initial_state)
    return y, y[:, -1]


def _fast_rnn_applies(rnn, x, mask) -> bool:
    """Whether `Rnn` / `StatelessRnn` may use `_fast_gru` for its Keras layer `rnn` on `x`."""
    if mask is not None or x.shape.rank != 3 or x.shape[1] == 0:
        return False
    if isinstance(rnn, keras.layers.Bidirectional):
        return (rnn.merge_mode == 'concat' and _fast_gru_supported(rnn.forward_layer)
                and _fast_gru_supported(rnn.backward_layer))
    return _fast_gru_supported(rnn)


def _rnn_class(owner, rnn_type):
    check_choice(owner, 'rnn_type', rnn_type, _RNN_TYPES)
    return keras.layers.GRU if rnn_type == 'gru' else keras.layers.LSTM


@keras_serializable
@gin.register
class Rnn(keras.layers.Layer):
    """A GRU or LSTM over time: `[B, T, C_in]` -> `[B, T, dims]` (`[B, dims]` without
    `return_sequences`; twice the channels when bidirectional, forward then backward).

    Keras 3 GRUs use `reset_after=True`: `3 * (C_in * dims + dims * dims + 2 * dims)` weights.
    LSTMs have `4 * (C_in * dims + dims * dims + dims)`.

    The weights are those of a `keras.layers.GRU` / `LSTM` sublayer (checkpoints and parameter
    counts are Keras'), but unmasked GRUs run through `gru_sequence`: the same numbers as the
    Keras layer, several times faster on CPU. LSTMs and masked inputs use the Keras layer.

    Args:
        dims: Units of the recurrent cell.
        rnn_type: 'gru' or 'lstm'.
        return_sequences: Return every step (True) or only the last one.
        bidir: Also run backwards in time and concatenate.

    Example:
        >>> Rnn(512, 'gru')(x).shape  # x [16, 1000, 1024] -> [16, 1000, 512]
    """

    def __init__(self, dims: int, rnn_type: Text, return_sequences: bool = True,
                 bidir: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.dims = check_int(owner, 'dims', dims)
        self.rnn_type = rnn_type
        self.return_sequences = bool(return_sequences)
        self.bidir = bool(bidir)
        rnn_class = _rnn_class(owner, rnn_type)
        layer = rnn_class(self.dims, return_sequences=self.return_sequences, name=rnn_type)
        if self.bidir:
            layer = keras.layers.Bidirectional(layer, name=f'bidirectional_{rnn_type}')
        self.rnn = layer

    def build(self, input_shape):
        self.rnn.build(tuple(input_shape))

    def call(self, x, mask=None):
        if not _fast_rnn_applies(self.rnn, x, mask):  # LSTM, masks, other configurations.
            return self.rnn(x, mask=mask)
        if not self.bidir:
            y, last = _fast_gru(self.rnn, x)
            return y if self.return_sequences else last
        y_fwd, last_fwd = _fast_gru(self.rnn.forward_layer, x)
        y_bwd, last_bwd = _fast_gru(self.rnn.backward_layer, x)
        if self.return_sequences:
            return tf.concat([y_fwd, tf.reverse(y_bwd, axis=[1])], axis=-1)
        return tf.concat([last_fwd, last_bwd], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(dims=self.dims, rnn_type=self.rnn_type,
                      return_sequences=self.return_sequences, bidir=self.bidir)
        return config


@keras_serializable
@gin.register
class StatelessRnn(keras.layers.Layer):
    """A GRU or LSTM that takes its state as an input and returns the new state.

    `call(x [B, T, C], state)` -> `(y [B, T, dims], new_state)`. The state is `[B, dims]` for a
    GRU and `[B, 2 * dims]` for an LSTM (hidden then cell state, concatenated). Run it on
    consecutive chunks of a sequence, feeding back the state, for streaming.

    Args:
        dims: Units of the recurrent cell.
        rnn_type: 'gru' or 'lstm'.
    """

    def __init__(self, dims: int, rnn_type: Text, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.dims = check_int(owner, 'dims', dims)
        self.rnn_type = rnn_type
        rnn_class = _rnn_class(owner, rnn_type)
        self.rnn = rnn_class(self.dims, return_sequences=True, return_state=True,
                             name=rnn_type)

    @property
    def state_size(self) -> int:
        """Channels of the state tensor."""
        return self.dims * (2 if self.rnn_type == 'lstm' else 1)

    def build(self, x_shape, state_shape=None):
        self.rnn.build(tuple(x_shape))

    def call(self, x, state):
        if state is None:
            state = tf.zeros([tf.shape(x)[0], self.state_size], dtype=x.dtype)
        if _fast_rnn_applies(self.rnn, x, None):
            return _fast_gru(self.rnn, x, state)
        if self.rnn_type == 'lstm':
            initial_state = tf.split(state, 2, axis=-1)
        else:
            initial_state = [state]
        outputs = self.rnn(x, initial_state=initial_state)
        y, new_states = outputs[0], outputs[1:]
        new_state = tf.concat(new_states, axis=-1) if self.rnn_type == 'lstm' else new_states[0]
        return y, new_state

    def get_config(self):
        config = super().get_config()
        config.update(dims=self.dims, rnn_type=self.rnn_type)
        return config


@keras_serializable
@gin.register
class RnnFc(keras.layers.Layer):
    """`n_rnn` RNNs, then Dense(out_feat) and a nonlinearity: `[B, T, C]` -> `[B, T, out_feat]`.

    Unlike the original, `bidir` makes the RNNs bidirectional (the original passed it into
    `return_sequences`, so `bidir=True` gave unidirectional full sequences and `bidir=False`
    only the last step).

    Args:
        rnn_feat: Units of each RNN.
        out_feat: Output channels.
        rnn_type: 'gru' or 'lstm'.
        nonlinearity: Activation after the Dense layer.
        bidir: Bidirectional RNNs (channels `2 * rnn_feat`).
        n_rnn: Number of stacked RNNs.
    """

    def __init__(self, rnn_feat: int, out_feat: int, rnn_type: Text = 'lstm',
                 nonlinearity: Union[Text, Callable] = 'sigmoid', bidir: bool = False,
                 n_rnn: int = 1, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rnn_feat = check_int(owner, 'rnn_feat', rnn_feat)
        self.out_feat = check_int(owner, 'out_feat', out_feat)
        self.rnn_type = check_choice(owner, 'rnn_type', rnn_type, _RNN_TYPES)
        self.nonlinearity = nonlinearity
        self._nonlinearity_fn = get_nonlinearity(nonlinearity)
        self.bidir = bool(bidir)
        self.n_rnn = check_int(owner, 'n_rnn', n_rnn)
        self._rnn_names = set_sublayers(
            self, [f'rnn_{i}' for i in range(self.n_rnn)],
            [Rnn(self.rnn_feat, rnn_type, return_sequences=True, bidir=self.bidir,
                 name=f'rnn_{i}') for i in range(self.n_rnn)])
        self.dense = keras.layers.Dense(self.out_feat, name='dense')

    @property
    def rnns(self) -> list:
        """The `Rnn` layers, in order."""
        return [getattr(self, name) for name in self._rnn_names]

    def build(self, input_shape):
        shape = tuple(input_shape)
        rnn_out = self.rnn_feat * (2 if self.bidir else 1)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = shape[:-1] + (rnn_out,)
        self.dense.build(shape)

    def call(self, x):
        for rnn in self.rnns:
            x = rnn(x)
        return self._nonlinearity_fn(self.dense(x))

    def get_config(self):
        config = super().get_config()
        config.update(rnn_feat=self.rnn_feat, out_feat=self.out_feat, rnn_type=self.rnn_type,
                      nonlinearity=_serialize_nonlinearity(self.nonlinearity),
                      bidir=self.bidir, n_rnn=self.n_rnn)
        return config


@keras_serializable
@gin.register
class RnnSandwich(keras.layers.Layer):
    """FcStack -> Rnn -> FcStack: `[B, T, C]` -> `[B, T, fc_stack_ch]`.

    Args:
        fc_stack_ch: Channels of both FcStacks.
        fc_stack_layers: Layers of each FcStack.
        rnn_ch: Units of the RNN.
        rnn_type: 'gru' or 'lstm'.
    """

    def __init__(self, fc_stack_ch: int = 256, fc_stack_layers: int = 2, rnn_ch: int = 512,
                 rnn_type: Text = 'gru', **kwargs):
        super().__init__(**kwargs)
        self.fc_stack_ch = fc_stack_ch
        self.fc_stack_layers = fc_stack_layers
        self.rnn_ch = rnn_ch
        self.rnn_type = rnn_type
        self.fc_in = FcStack(fc_stack_ch, fc_stack_layers, name='fc_stack_in')
        self.rnn = Rnn(rnn_ch, rnn_type, name='rnn')
        self.fc_out = FcStack(fc_stack_ch, fc_stack_layers, name='fc_stack_out')

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.fc_in.build(shape)
        shape = self.fc_in.compute_output_shape(shape)
        self.rnn.build(shape)
        self.fc_out.build(shape[:-1] + (self.rnn.dims,))

    def call(self, x):
        return self.fc_out(self.rnn(self.fc_in(x)))

    def get_config(self):
        config = super().get_config()
        config.update(fc_stack_ch=self.fc_stack_ch, fc_stack_layers=self.fc_stack_layers,
                      rnn_ch=self.rnn_ch, rnn_type=self.rnn_type)
        return config


@keras_serializable
@gin.register
class Identity(keras.layers.Layer):
    """Returns its input unchanged (a placeholder network)."""

    def call(self, x):
        return x


gin_register_keras_layers()


# ------------------------------------------------------------------------------------------------
# Conditioning, spectral normalization and dilated convolutions.
# ------------------------------------------------------------------------------------------------
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
    `T_z` is not 1 or T). With `shift_only`, `x + shift(z)`.

    Args:
        shift_only: Only shift (Dense to C channels instead of 2 C).
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
@gin.register
class ConditionalNorm(keras.layers.Layer):
    """`normalize_op` (no learned scale/shift) followed by FiLM from z: `call([x, z])`.

    Args:
        norm_type: 'instance', 'layer' or 'group'.
        shift_only: Only shift (see `ConditionalScaleAndShift`).
    """

    def __init__(self, norm_type: Text = 'instance', shift_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.norm_type = check_choice(type(self).__name__, 'norm_type', norm_type,
                                      tuple(_NORM_GROUPS))
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


def get_norm(norm_type: Optional[Text], conditional: bool = False, shift_only: bool = False):
    """`ConditionalNorm` when conditional, else `Normalize`; None for no normalization.

    A conditional norm with `norm_type=None` is FiLM alone (`ConditionalScaleAndShift`).
    """
    if conditional:
        if norm_type is None:
            return ConditionalScaleAndShift(shift_only)
        return ConditionalNorm(norm_type, shift_only)
    return None if norm_type is None else Normalize(norm_type)


@keras_serializable
class SpectralNormalization(keras.layers.SpectralNormalization):
    """Spectral normalization of a wrapped layer's kernel (Keras 3's implementation).

    The original copied TF-Addons' version, which read `keras.backend.learning_phase()`
    (removed in Keras 3). Here the power iteration and kernel update run when the layer is
    called with `training=True`, given directly or inherited from an outer layer's call.

    Args:
        layer: A layer with a `kernel` (Conv2D, Dense, ...).
        power_iterations: Power-iteration steps per training call.
    """


def _conv(ch, kernel_size, spectral_norm=False, ortho_init=False, transpose=False,
          name=None, **kwargs):
    conv_class = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    init = 'orthogonal' if ortho_init else 'glorot_uniform'
    conv = conv_class(ch, kernel_size, padding='same', kernel_initializer=init, name=name,
                      **kwargs)
    return SpectralNormalization(conv, name=f'{name}_sn') if spectral_norm else conv


_RESAMPLE_TYPES = (None, 'downsample', 'upsample')


@keras_serializable
@gin.register
class DilatedConvStack(keras.layers.Layer):
    """Stacks of residual dilated convolutions over time, optionally FiLM-conditioned.

    `[B, T, C]` -> input Conv2D `(kernel_size, 1)` to `ch` channels -> for each of `stacks`
    stacks, `layers_per_stack` residual layers `x += norm(conv_dilated(relu(x)))` with dilation
    rate `dilation ** j` for layer j (a negative dilation counts down: `|dilation| **
    (layers_per_stack - 1 - j)`). With `conditional`, `call(x, z)` and the norm is a FiLM
    `ConditionalNorm([y, z])` (or FiLM alone when `norm_type` is None).

    Resampling (`resample_type` 'downsample' or 'upsample', by `resample_stride`) is a strided
    Conv2D or Conv2DTranspose `(resample_stride, 1)` every `stacks_per_resample` stacks, after
    (or before) their convolutions. Output `[B, T', ch]`, `T' = T / stride^n` or `T * stride^n`.

    Args:
        ch: Channels.
        layers_per_stack: Residual layers per stack.
        stacks: Number of stacks.
        kernel_size: Kernel length in time.
        dilation: Dilation base (see above; 1 for none).
        norm_type: None, 'instance', 'layer' or 'group'.
        resample_type: None, 'downsample' or 'upsample'.
        resample_stride: Time stride of each resampling.
        stacks_per_resample: Stacks between resamplings.
        resample_after_convolve: Resample after a stack's convolutions (else before).
        spectral_norm: Wrap the convolutions in `SpectralNormalization`.
        ortho_init: Orthogonal kernel initialization.
        shift_only: FiLM shifts only.
        conditional: Condition every layer on z (`call(x, z)`).
    """

    def __init__(self, ch: int = 256, layers_per_stack: int = 5, stacks: int = 2,
                 kernel_size: int = 3, dilation: int = 2, norm_type: Optional[Text] = None,
                 resample_type: Optional[Text] = None, resample_stride: int = 1,
                 stacks_per_resample: int = 1, resample_after_convolve: bool = True,
                 spectral_norm: bool = False, ortho_init: bool = False,
                 shift_only: bool = False, conditional: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = check_int(owner, 'ch', ch)
        self.layers_per_stack = check_int(owner, 'layers_per_stack', layers_per_stack)
        self.stacks = check_int(owner, 'stacks', stacks)
        self.kernel_size = check_int(owner, 'kernel_size', kernel_size)
        if isinstance(dilation, bool) or not isinstance(dilation, numbers.Integral) or \
                dilation == 0:
            raise ValueError(f'{owner}: dilation must be a non-zero integer; received '
                             f'dilation={dilation!r}.')
        self.dilation = int(dilation)
        if norm_type is not None:
            check_choice(owner, 'norm_type', norm_type, tuple(_NORM_GROUPS))
        self.norm_type = norm_type
        self.resample_type = check_choice(owner, 'resample_type', resample_type,
                                          _RESAMPLE_TYPES)
        self.resample_stride = check_int(owner, 'resample_stride', resample_stride)
        self.stacks_per_resample = check_int(owner, 'stacks_per_resample', stacks_per_resample)
        self.resample_after_convolve = bool(resample_after_convolve)
        self.spectral_norm = bool(spectral_norm)
        self.ortho_init = bool(ortho_init)
        self.shift_only = bool(shift_only)
        self.conditional = bool(conditional)

        conv = dict(spectral_norm=self.spectral_norm, ortho_init=self.ortho_init)
        self.conv_in = _conv(self.ch, (self.kernel_size, 1), name='conv_in', **conv)
        convs, norms, resamplers = [], [], []
        for i in range(self.stacks):
            for j in range(self.layers_per_stack):
                convs.append(_conv(self.ch, (self.kernel_size, 1), name=f'conv_{i}_{j}',
                                   dilation_rate=(self.rate(j), 1), **conv))
                norms.append(get_norm(norm_type, self.conditional, self.shift_only))
            if self._resamples_after(i):
                resamplers.append(_conv(
                    self.ch, (self.resample_stride, 1), name=f'resample_{i}',
                    strides=(self.resample_stride, 1),
                    transpose=self.resample_type == 'upsample', **conv))
            else:
                resamplers.append(None)
        layer_ids = [f'{i}_{j}' for i in range(self.stacks) for j in range(self.layers_per_stack)]
        self._conv_names = set_sublayers(self, [f'conv_{k}' for k in layer_ids], convs)
        self._norm_names = set_sublayers(self, [f'norm_{k}' for k in layer_ids], norms)
        self._resample_names = set_sublayers(
            self, [f'resample_{i}' for i in range(self.stacks)], resamplers)

    @property
    def convs(self) -> list:
        """The dilated convolutions, stack by stack."""
        return [getattr(self, name) for name in self._conv_names]

    @property
    def norms(self) -> list:
        """The norm after each dilated convolution (None for none)."""
        return [getattr(self, name) for name in self._norm_names]

    @property
    def resamplers(self) -> list:
        """The resampling convolution of each stack (None for none)."""
        return [getattr(self, name) for name in self._resample_names]

    def rate(self, j: int) -> int:
        """Dilation rate of layer j of a stack."""
        if self.dilation > 0:
            return self.dilation ** j
        return (-self.dilation) ** (self.layers_per_stack - 1 - j)

    def _resamples_after(self, i):
        return self.resample_type is not None and (i + 1) % self.stacks_per_resample == 0

    def _resample(self, i, x):
        layer = self.resamplers[i]
        return x if layer is None else layer(x)

    def call(self, x, z=None):
        if self.conditional and z is None:
            raise ValueError(f'{type(self).__name__} is conditional: call it as (x, z).')
        x = self.conv_in(ensure_4d(core.tf_float32(x)))
        for i in range(self.stacks):
            if not self.resample_after_convolve:
                x = self._resample(i, x)
            for j in range(self.layers_per_stack):
                k = i * self.layers_per_stack + j
                y = self.convs[k](tf.nn.relu(x))
                norm = self.norms[k]
                if norm is not None:
                    y = norm([y, z]) if self.conditional else norm(y)
                x = x + y
            if self.resample_after_convolve:
                x = self._resample(i, x)
        return x[:, :, 0, :]

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, layers_per_stack=self.layers_per_stack, stacks=self.stacks,
                      kernel_size=self.kernel_size, dilation=self.dilation,
                      norm_type=self.norm_type, resample_type=self.resample_type,
                      resample_stride=self.resample_stride,
                      stacks_per_resample=self.stacks_per_resample,
                      resample_after_convolve=self.resample_after_convolve,
                      spectral_norm=self.spectral_norm, ortho_init=self.ortho_init,
                      shift_only=self.shift_only, conditional=self.conditional)
        return config


@keras_serializable
@gin.register
class FcStackOut(keras.layers.Layer):
    """`FcStack(ch, layers)` followed by `Dense(n_out)`: `[..., C]` -> `[..., n_out]`.

    Args:
        ch: Channels of the FcStack.
        layers: Layers of the FcStack.
        n_out: Output channels.
    """

    def __init__(self, ch: int, layers: int, n_out: int, **kwargs):
        super().__init__(**kwargs)
        self.ch, self.n_layers = ch, layers
        self.n_out = check_int(type(self).__name__, 'n_out', n_out)
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


# ------------------------------------------------------------------------------------------------
# ResNet (pre-activation bottleneck blocks) over spectrograms, and a single GRU.
# ------------------------------------------------------------------------------------------------
_NORM_TYPES_OR_NONE = (None,) + tuple(_NORM_GROUPS)


def _check_norm_type(owner, norm_type):
    return check_choice(owner, 'norm_type', norm_type, _NORM_TYPES_OR_NONE)


def _freq_conv(ch, k, stride, name):
    """Conv2D `(k, k)` striding only the frequency axis (axis 2) of `[B, T, F, C]`."""
    return keras.layers.Conv2D(ch, (k, k), strides=(1, stride), padding='same', name=name)


def _strided_shape(shape, stride, ch):
    """`[B, T, F, C]` -> `[B, T, ceil(F / stride), ch]` (None stays None)."""
    n_freq = shape[2] if shape[2] is None else -(-int(shape[2]) // stride)
    return (shape[0], shape[1], n_freq, ch)


@keras_serializable
@gin.register
class NormReluConv(keras.layers.Layer):
    """Normalize -> ReLU -> Conv2D: `[B, T, F, C]` -> `[B, T, ceil(F / s), ch]`.

    The convolution has a `k x k` kernel and 'same' padding; its stride `s` applies to the
    frequency axis only, so the number of time frames is kept (see `ResNet`).

    Args:
        ch: Output channels.
        k: Kernel size (time and frequency).
        s: Frequency stride.
        norm_type: 'instance', 'layer', 'group' (see `normalize_op`) or None for no norm.

    Example:
        >>> NormReluConv(8, 3, 2, 'layer')(tf.zeros([1, 10, 16, 4])).shape  # [1, 10, 8, 8]
    """

    def __init__(self, ch: int, k: int, s: int, norm_type: Optional[Text] = 'layer',
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = check_int(owner, 'ch', ch)
        self.k = check_int(owner, 'k', k)
        self.s = check_int(owner, 's', s)
        self.norm_type = _check_norm_type(owner, norm_type)
        self.norm = get_norm(self.norm_type)
        self.conv = _freq_conv(self.ch, self.k, self.s, name='conv')

    def build(self, x_shape):
        if self.norm is not None:
            self.norm.build(x_shape)
        self.conv.build(x_shape)

    def call(self, x):
        if self.norm is not None:
            x = self.norm(x)
        return self.conv(tf.nn.relu(x))

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, k=self.k, s=self.s, norm_type=self.norm_type)
        return config


@keras_serializable
@gin.register
class ResidualLayer(keras.layers.Layer):
    """A pre-activation bottleneck block: `[B, T, F, C]` -> `[B, T, ceil(F / stride), 4 ch]`.

    `h = relu(norm(x))`, then `Conv2D 1x1 (ch)` -> `NormReluConv 3x3 (ch, stride)` ->
    `NormReluConv 1x1 (4 ch)`, plus the residual: `x` itself, or with `shortcut` a projection
    `Conv2D 1x1 (4 ch, stride)` of `h`. Strides apply to frequency only. Without `shortcut`
    the input must already have `4 ch` channels and `stride` must be 1. With `conditional`,
    the input norm is a FiLM `ConditionalNorm` and the layer is called as `(x, z)` with
    z `[B, C_z]` or `[B, T_z, C_z]`.

    Args:
        ch: Bottleneck channels (the output has `4 * ch`).
        stride: Frequency stride.
        shortcut: Project the residual (needed when the channels or the stride change).
        norm_type: 'instance', 'layer', 'group' or None.
        conditional: Condition the input norm on z.
        shift_only: FiLM shifts only.

    Example:
        >>> ResidualLayer(8, 2, True, 'layer')(tf.zeros([1, 10, 16, 4])).shape  # [1, 10, 8, 32]
    """

    def __init__(self, ch: int, stride: int, shortcut: bool, norm_type: Optional[Text],
                 conditional: bool = False, shift_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = check_int(owner, 'ch', ch)
        self.stride = check_int(owner, 'stride', stride)
        self.shortcut = bool(shortcut)
        self.norm_type = _check_norm_type(owner, norm_type)
        self.conditional = bool(conditional)
        self.shift_only = bool(shift_only)
        if self.stride != 1 and not self.shortcut:
            raise ValueError(f'{owner}: a stride of {self.stride} changes the frequency size, '
                             f'so the residual needs a projection: use shortcut=True; received '
                             f'stride={stride!r}, shortcut={shortcut!r}.')
        self.norm_input = get_norm(self.norm_type, self.conditional, self.shift_only)
        self.conv_proj = (_freq_conv(4 * self.ch, 1, self.stride, name='conv_proj')
                          if self.shortcut else None)
        self.conv_in = _freq_conv(self.ch, 1, 1, name='conv_in')
        self.norm_relu_conv_1 = NormReluConv(self.ch, 3, self.stride, self.norm_type,
                                             name='norm_relu_conv_1')
        self.norm_relu_conv_2 = NormReluConv(4 * self.ch, 1, 1, self.norm_type,
                                             name='norm_relu_conv_2')

    def build(self, x_shape, z_shape=None):
        if not self.shortcut and x_shape[-1] is not None and x_shape[-1] != 4 * self.ch:
            raise ValueError(f'{type(self).__name__}: without a shortcut projection the input '
                             f'needs 4 * ch = {4 * self.ch} channels to add the residual; '
                             f'received input shape {tuple(x_shape)}.')
        x_shape = tuple(x_shape)
        if self.norm_input is not None:
            if not self.conditional:
                self.norm_input.build(x_shape)
            elif z_shape is not None:
                self.norm_input.build([x_shape, tuple(z_shape)])
        if self.conv_proj is not None:
            self.conv_proj.build(x_shape)
        self.conv_in.build(x_shape)
        self.norm_relu_conv_1.build(x_shape[:3] + (self.ch,))
        self.norm_relu_conv_2.build(_strided_shape(x_shape, self.stride, self.ch))

    def call(self, x, z=None):
        if self.conditional and z is None:
            raise ValueError(f'{type(self).__name__} is conditional: call it as (x, z).')
        h = x
        if self.norm_input is not None:
            h = self.norm_input([h, z]) if self.conditional else self.norm_input(h)
        h = tf.nn.relu(h)
        residual = self.conv_proj(h) if self.shortcut else x
        h = self.norm_relu_conv_2(self.norm_relu_conv_1(self.conv_in(h)))
        return h + residual

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, stride=self.stride, shortcut=self.shortcut,
                      norm_type=self.norm_type, conditional=self.conditional,
                      shift_only=self.shift_only)
        return config


def _int_list(owner, name, values, minimum=1):
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f'{owner}: {name} must be a non-empty sequence of integers; received '
                         f'{name}={values!r}.')
    return [check_int(owner, f'{name}[{i}]', v, minimum) for i, v in enumerate(values)]


@keras_serializable
@gin.register
class ResidualStack(keras.layers.Layer):
    """Stages of `ResidualLayer`s, then a final norm and nonlinearity.

    Stage i has `block_sizes[i]` bottleneck blocks of `filters[i]` channels (output
    `4 * filters[i]`); its first block has a projection shortcut and the frequency stride
    `strides[i]`, the others stride 1 and identity residuals. The blocks are pre-activation,
    so the stack ends with `norm -> nonlinearity`.

    `[B, T, F, C]` -> `[B, T, F / prod(strides) (rounded up per stage), 4 * filters[-1]]`.

    Args:
        filters: Bottleneck channels per stage (a single int is used for every stage).
        block_sizes: Blocks per stage.
        strides: Frequency stride of each stage.
        norm_type: 'instance', 'layer', 'group' or None.
        conditional: Condition every block's input norm (and the final norm) on z: call
            `(x, z)`.
        shift_only: FiLM shifts only.
        nonlinearity: Final activation (a Keras activation name, `tf.nn` name or callable).

    Example:
        >>> stack = ResidualStack([4, 8], [1, 2], [1, 2], 'layer')
        >>> stack(tf.zeros([1, 10, 16, 3])).shape  # [1, 10, 8, 32]
    """

    def __init__(self, filters, block_sizes: Sequence[int], strides: Sequence[int],
                 norm_type: Optional[Text], conditional: bool = False, shift_only: bool = False,
                 nonlinearity: Union[Text, Callable] = 'relu', **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.block_sizes = _int_list(owner, 'block_sizes', block_sizes)
        self.strides = _int_list(owner, 'strides', strides)
        if isinstance(filters, numbers.Integral) and not isinstance(filters, bool):
            filters = [filters] * len(self.block_sizes)
        self.filters = _int_list(owner, 'filters', filters)
        if not len(self.filters) == len(self.block_sizes) == len(self.strides):
            raise ValueError(f'{owner}: filters, block_sizes and strides need one entry per '
                             f'stage; received {len(self.filters)}, {len(self.block_sizes)} and '
                             f'{len(self.strides)} entries.')
        self.norm_type = _check_norm_type(owner, norm_type)
        self.conditional = bool(conditional)
        self.shift_only = bool(shift_only)
        self.nonlinearity = nonlinearity
        self._nonlinearity_fn = get_nonlinearity(nonlinearity)
        names, blocks = [], []
        for i, (ch, n_blocks, stride) in enumerate(
                zip(self.filters, self.block_sizes, self.strides)):
            for j in range(n_blocks):
                names.append(f'residual_{i}_{j}')
                blocks.append(ResidualLayer(ch, stride if j == 0 else 1, j == 0, self.norm_type,
                                            self.conditional, self.shift_only, name=names[-1]))
        self._block_names = set_sublayers(self, names, blocks)
        self.norm_out = get_norm(self.norm_type, self.conditional, self.shift_only)

    @property
    def residual_layers(self) -> list:
        """The `ResidualLayer`s, stage by stage."""
        return [getattr(self, name) for name in self._block_names]

    def build(self, x_shape, z_shape=None):
        shape = tuple(x_shape)
        for layer in self.residual_layers:
            layer.build(shape, z_shape)
            shape = _strided_shape(shape, layer.stride, 4 * layer.ch)
        if self.norm_out is not None:
            if not self.conditional:
                self.norm_out.build(shape)
            elif z_shape is not None:
                self.norm_out.build([shape, tuple(z_shape)])

    def call(self, x, z=None):
        if self.conditional and z is None:
            raise ValueError(f'{type(self).__name__} is conditional: call it as (x, z).')
        for layer in self.residual_layers:
            x = layer(x, z) if self.conditional else layer(x)
        if self.norm_out is not None:
            x = self.norm_out([x, z]) if self.conditional else self.norm_out(x)
        return self._nonlinearity_fn(x)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, block_sizes=self.block_sizes, strides=self.strides,
                      norm_type=self.norm_type, conditional=self.conditional,
                      shift_only=self.shift_only,
                      nonlinearity=_serialize_nonlinearity(self.nonlinearity))
        return config


@keras_serializable
@gin.register
class ResNet(keras.layers.Layer):
    """A ResNet over spectrogram-like inputs that keeps every time frame.

    Layout (the usual ResNet-50-style stem and bottleneck stages, with every stride applied
    to the frequency axis only, so that the output has one frame per input frame):
      1. stem: Conv2D 7x7, `2 ch` channels, frequency stride 2;
      2. MaxPool 3x3, frequency stride 2;
      3. `ResidualStack([ch, 2 ch, 4 ch], blocks, strides [1, 2, 2])`, ending with
         norm -> ReLU.
    The frequency axis shrinks by 16 in all: F -> ceil(ceil(ceil(ceil(F/2)/2)/2)/2);
    the output has `16 ch` channels.

    Sizes `(ch, blocks)`: 'tiny' (16, [1, 1, 1]; added here, see below), 'small'
    (32, [2, 3, 4]), 'medium' (32, [3, 4, 6]), 'large' (64, [3, 4, 6]). The original's
    `ResnetSinusoidalEncoder` defaults to size 'tiny', which its ResNet did not define.

    Input `[B, T, F]` (one channel) or `[B, T, F, C]`; output `[B, T, F', 16 ch]`.
    With `conditional`, call `(x, z)`: every block's input norm is FiLM-conditioned on z.

    Args:
        size: 'tiny', 'small', 'medium' or 'large'.
        norm_type: 'instance', 'layer', 'group' or None.
        conditional: Condition the norms on z.
        shift_only: FiLM shifts only.

    Example:
        >>> ResNet('tiny')(tf.zeros([2, 125, 229])).shape  # [2, 125, 15, 256]
    """

    SIZES = {
        'tiny': (16, (1, 1, 1)),
        'small': (32, (2, 3, 4)),
        'medium': (32, (3, 4, 6)),
        'large': (64, (3, 4, 6)),
    }
    STRIDES = (1, 2, 2)
    FREQ_STRIDE = 16  # Stem 2 x pool 2 x stage strides 1 * 2 * 2.

    def __init__(self, size: Text = 'large', norm_type: Optional[Text] = 'layer',
                 conditional: bool = False, shift_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.size = check_choice(owner, 'size', size, tuple(self.SIZES))
        self.norm_type = _check_norm_type(owner, norm_type)
        self.conditional = bool(conditional)
        self.shift_only = bool(shift_only)
        ch, blocks = self.SIZES[self.size]
        self.conv_stem = _freq_conv(2 * ch, 7, 2, name='conv_stem')
        self.max_pool = keras.layers.MaxPooling2D((3, 3), strides=(1, 2), padding='same',
                                                  name='max_pool')
        self.residual_stack = ResidualStack([ch, 2 * ch, 4 * ch], list(blocks),
                                            list(self.STRIDES), self.norm_type,
                                            self.conditional, self.shift_only,
                                            name='residual_stack')

    @property
    def out_channels(self) -> int:
        """Channels of the output, `16 ch`."""
        return 16 * self.SIZES[self.size][0]

    def build(self, x_shape, z_shape=None):
        x_shape = tuple(x_shape)
        if len(x_shape) == 3:
            x_shape = x_shape + (1,)
        if len(x_shape) != 4:
            return  # call() raises the error.
        self.conv_stem.build(x_shape)
        shape = _strided_shape(x_shape, 2, 2 * self.SIZES[self.size][0])
        self.residual_stack.build(_strided_shape(shape, 2, shape[-1]), z_shape)

    @classmethod
    def output_freq_size(cls, n_freq: int) -> int:
        """Frequency size of the output for `n_freq` input bins (each stride rounds up)."""
        for stride in (2, 2) + cls.STRIDES:
            n_freq = -(-n_freq // stride)
        return n_freq

    def call(self, x, z=None):
        if self.conditional and z is None:
            raise ValueError(f'{type(self).__name__} is conditional: call it as (x, z).')
        x = core.tf_float32(x)
        if len(x.shape) == 3:
            x = x[..., tf.newaxis]
        elif len(x.shape) != 4:
            raise ValueError(f'{type(self).__name__} expects a spectrogram [batch, time, freq] '
                             f'or [batch, time, freq, channels]; received shape {x.shape}.')
        x = self.max_pool(self.conv_stem(x))
        return self.residual_stack(x, z) if self.conditional else self.residual_stack(x)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, norm_type=self.norm_type, conditional=self.conditional,
                      shift_only=self.shift_only)
        return config


@keras_serializable
@gin.register
class SingleGru(keras.layers.Layer):
    """One GRU over time returning every step: `[B, T, C]` -> `[B, T, gru_dim]`.

    Args:
        gru_dim: Units of the GRU.

    Example:
        >>> SingleGru(64)(tf.zeros([2, 100, 8])).shape  # [2, 100, 64]
    """

    def __init__(self, gru_dim: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.gru_dim = check_int(type(self).__name__, 'gru_dim', gru_dim)
        self.gru = keras.layers.GRU(self.gru_dim, return_sequences=True, name='gru')

    def build(self, input_shape):
        self.gru.build(tuple(input_shape))

    def call(self, x):
        return self.gru(x)

    def get_config(self):
        config = super().get_config()
        config['gru_dim'] = self.gru_dim
        return config


# ------------------------------------------------------------------------------------------------
# Straight-through estimators and polyphase resampling.
# ------------------------------------------------------------------------------------------------
def straight_through_softmax(logits):
    """Samples one-hot vectors from `softmax(logits)`, with the gradient of the probabilities.

    Args:
        logits: `[..., K]`.

    Returns:
        `(sample, probs)`, both `[..., K]`: `sample` is one-hot in the forward pass and has the
        gradient of `probs` (straight-through); `probs = softmax(logits)`.
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
    """
    sample, _ = straight_through_softmax(logits)
    return tf.reduce_sum(sample * core.tf_float32(values), axis=-1, keepdims=True)


def straight_through_int_quantization(x):
    """`round(x)` in the forward pass, the identity's gradient in the backward pass."""
    x = core.tf_float32(x)
    return x + tf.stop_gradient(tf.round(x) - x)


def polyphase_resample(x, stride: int = 2, resample_type: Text = 'down',
                       trim_or_pad: Text = 'pad'):
    """Space-to-depth along time.

    'down': `[B, T, C]` -> `[B, T / stride, C * stride]` (frames `t * stride + i` go to channels
    `i * C ... (i + 1) * C - 1`); T is first zero-padded up (or trimmed down) to a multiple of
    stride. 'up' is the inverse: `[B, T, C * stride]` -> `[B, T * stride, C]`.
    """
    owner = 'polyphase_resample'
    stride = check_int(owner, 'stride', stride)
    check_choice(owner, 'resample_type', resample_type, ('down', 'up'))
    check_choice(owner, 'trim_or_pad', trim_or_pad, ('trim', 'pad'))
    x = core.tf_float32(x)
    batch, ch = tf.shape(x)[0], x.shape[-1]
    if resample_type == 'down':
        n_time = x.shape[1]
        remainder = n_time % stride
        if remainder:
            if trim_or_pad == 'trim':
                x = x[:, :n_time - remainder]
            else:
                x = tf.pad(x, [[0, 0], [0, stride - remainder], [0, 0]])
        return tf.reshape(x, [batch, -1, ch * stride])
    if ch % stride:
        raise ValueError(f'{owner}: upsampling by {stride} needs channels divisible by it; '
                         f'received {ch} channels.')
    return tf.reshape(x, [batch, -1, ch // stride])


@keras_serializable
@gin.register
class PolyphaseResample(keras.layers.Layer):
    """Layer form of `polyphase_resample`."""

    def __init__(self, stride: int = 2, resample_type: Text = 'down', trim_or_pad: Text = 'pad',
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.stride = check_int(owner, 'stride', stride)
        self.resample_type = check_choice(owner, 'resample_type', resample_type, ('down', 'up'))
        self.trim_or_pad = check_choice(owner, 'trim_or_pad', trim_or_pad, ('trim', 'pad'))

    def call(self, x):
        return polyphase_resample(x, self.stride, self.resample_type, self.trim_or_pad)

    def get_config(self):
        config = super().get_config()
        config.update(stride=self.stride, resample_type=self.resample_type,
                      trim_or_pad=self.trim_or_pad)
        return config


# ------------------------------------------------------------------------------------------------
# Note masks and note-level statistics.
# ------------------------------------------------------------------------------------------------
def _squeeze_channel(x):
    x = core.tf_float32(x)
    return x[..., 0] if len(x.shape) == 3 else x


def _regions_to_mask(region_index, q_pitch, max_regions, note_on_only):
    mask = tf.one_hot(tf.cast(region_index, tf.int32), max_regions)  # Beyond max: all zero.
    if note_on_only:
        mask = mask * tf.cast(q_pitch > 0, tf.float32)[..., tf.newaxis]
    return mask


def get_note_mask(q_pitch, max_regions: int = 100, note_on_only: bool = True):
    """One mask per region of constant (quantized) pitch.

    Region r covers the frames after the r-th change of value (region 0 starts at frame 0).

    Args:
        q_pitch: `[B, T]` or `[B, T, 1]` quantized pitch (0 = silence).
        max_regions: Regions kept (later ones are dropped).
        note_on_only: Zero the frames where the pitch is 0.

    Returns:
        float `[B, T, max_regions]`, 1 where frame t belongs to region r.
    """
    q_pitch = _squeeze_channel(q_pitch)
    changes = tf.cast(tf.not_equal(q_pitch[:, 1:], q_pitch[:, :-1]), tf.int32)
    changes = tf.pad(changes, [[0, 0], [1, 0]])
    return _regions_to_mask(tf.cumsum(changes, axis=1), q_pitch, max_regions, note_on_only)


def get_note_mask_from_onset(q_pitch, onset, max_regions: int = 100,
                             note_on_only: bool = True):
    """Like `get_note_mask`, with regions starting at the onsets instead of pitch changes.

    Args:
        q_pitch: `[B, T]` or `[B, T, 1]` quantized pitch.
        onset: `[B, T]` or `[B, T, 1]`, nonzero at note onsets.
        max_regions, note_on_only: see `get_note_mask`.
    """
    q_pitch = _squeeze_channel(q_pitch)
    onsets = tf.cast(_squeeze_channel(onset) > 0, tf.int32)
    return _regions_to_mask(tf.cumsum(onsets, axis=1), q_pitch, max_regions, note_on_only)


def get_note_lengths(note_mask):
    """Frames per note: `[B, T, R]` -> `[B, R]`."""
    return tf.reduce_sum(core.tf_float32(note_mask), axis=1)


def get_note_moments(x, note_mask, return_std: bool = True):
    """Mean (and standard deviation) of x over the frames of each note.

    Args:
        x: `[B, T, C]`.
        note_mask: `[B, T, R]`.
        return_std: Also return the standard deviation.

    Returns:
        mean `[B, R, C]` (0 for empty notes), and std `[B, R, C]` if `return_std`.
    """
    x, note_mask = core.tf_float32(x), core.tf_float32(note_mask)
    lengths = get_note_lengths(note_mask)[..., tf.newaxis]  # [B, R, 1]
    mean = core.safe_divide(tf.einsum('btr,btc->brc', note_mask, x), lengths)
    if not return_std:
        return mean
    squared = tf.einsum('btr,btc->brc', note_mask, tf.square(x))
    variance = tf.nn.relu(core.safe_divide(squared, lengths) - tf.square(mean))
    return mean, tf.sqrt(variance)


def pool_over_notes(x, note_mask, return_std: bool = True):
    """Replaces every frame of x by its note's mean (and std); frames in no note give 0.

    Returns:
        mean `[B, T, C]`, and std `[B, T, C]` if `return_std`.
    """
    note_mask = core.tf_float32(note_mask)
    moments = get_note_moments(x, note_mask, return_std)
    if not return_std:
        return tf.einsum('btr,brc->btc', note_mask, moments)
    return tuple(tf.einsum('btr,brc->btc', note_mask, m) for m in moments)


def get_short_note_loss_mask(note_mask, note_lengths, note_pitches, min_length: int = 40):
    """1 on the frames of voiced notes shorter than `min_length` frames.

    Args:
        note_mask: `[B, T, R]`.
        note_lengths: `[B, R]` (see `get_note_lengths`).
        note_pitches: `[B, R]` or `[B, R, 1]`; notes with pitch 0 are ignored.
        min_length: Notes with fewer frames are short.

    Returns:
        float `[B, T, 1]`.
    """
    note_pitches = _squeeze_channel(note_pitches)
    lengths = core.tf_float32(note_lengths)
    short = tf.cast((lengths > 0) & (lengths < min_length) & (note_pitches > 0), tf.float32)
    mask = tf.einsum('btr,br->bt', core.tf_float32(note_mask), short)
    return tf.minimum(mask, 1.0)[..., tf.newaxis]


# ------------------------------------------------------------------------------------------------
# Vector quantization.
# ------------------------------------------------------------------------------------------------
@keras_serializable
@gin.register
class VectorQuantization(keras.layers.Layer):
    """Vector quantization with an exponential-moving-average codebook (VQ-VAE style).

    x `[..., C]` is split into `num_heads` heads of `C / num_heads` channels; each head is
    replaced by its nearest of `k` codes. Gradients pass straight through to x. During
    training (`call(x, training=True)`) the codebook follows the EMA of the vectors assigned
    to each code (decay `gamma`), and codes whose EMA count falls below `restart_threshold`
    are restarted at random inputs of the batch.

    `call(x, training)` -> `(z_q [..., C], codes int [..., num_heads])`.

    Args:
        k: Codes per head.
        gamma: EMA decay.
        restart_threshold: EMA count below which a code is restarted (0: never).
        num_heads: Heads (C must be divisible by it).
        commitment_loss_weight: Weight of `committment_loss`.
    """

    def __init__(self, k: int, gamma: float = 0.99, restart_threshold: float = 0.0,
                 num_heads: int = 1, commitment_loss_weight: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.k = check_int(owner, 'k', k)
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0 <= gamma < 1:
            raise ValueError(f'{owner}: gamma must be a number in [0, 1); received '
                             f'gamma={gamma!r}.')
        self.gamma = float(gamma)
        self.restart_threshold = float(restart_threshold)
        self.num_heads = check_int(owner, 'num_heads', num_heads)
        self.commitment_loss_weight = float(commitment_loss_weight)

    def build(self, x_shape):
        ch = int(x_shape[-1])
        if ch % self.num_heads:
            raise ValueError(f'{type(self).__name__}: {ch} channels cannot be split into '
                             f'{self.num_heads} heads.')
        self.head_dim = ch // self.num_heads
        shape = (self.num_heads, self.k, self.head_dim)
        self.codebook = self.add_weight(name='codebook', shape=shape,
                                        initializer=keras.initializers.RandomNormal(),
                                        trainable=False)
        self.ema_counts = self.add_weight(name='ema_counts', shape=shape[:2],
                                          initializer='ones', trainable=False)
        self.ema_sums = self.add_weight(name='ema_sums', shape=shape, trainable=False,
                                        initializer='zeros')
        self.ema_sums.assign(self.codebook.value)

    def _heads(self, x):
        return tf.reshape(x, [-1, self.num_heads, self.head_dim])  # [N, H, D]

    def nearest_codes(self, x):
        """Codes `[N, H]` of flattened heads `[N, H, D]` (nearest by squared distance).

        (Not named `quantize`: Keras 3 layers reserve that name for weight quantization.)
        """
        codebook = tf.convert_to_tensor(self.codebook)
        distances = (tf.reduce_sum(tf.square(x), -1, keepdims=True)
                     - 2.0 * tf.einsum('nhd,hkd->nhk', x, codebook)
                     + tf.reduce_sum(tf.square(codebook), -1)[tf.newaxis])
        return tf.argmin(distances, axis=-1, output_type=tf.int32)

    def unquantize(self, codes):
        """Code vectors of int codes `[..., H]` -> `[..., H * D]`."""
        codes = tf.cast(codes, tf.int32)
        flat = tf.reshape(codes, [-1, self.num_heads])
        vectors = tf.gather(tf.convert_to_tensor(self.codebook),
                            tf.transpose(flat), batch_dims=1)  # [H, N, D]
        vectors = tf.reshape(tf.transpose(vectors, [1, 0, 2]), [-1, self.num_heads * self.head_dim])
        return tf.reshape(vectors, tf.concat([tf.shape(codes)[:-1],
                                              [self.num_heads * self.head_dim]], 0))

    def call(self, x, training=False):
        x = core.tf_float32(x)
        flat = self._heads(x)
        codes = self.nearest_codes(flat)
        if training:
            self._update_codebook(flat, codes)
        z_q = tf.reshape(self.unquantize(codes), tf.shape(x))
        z_q = x + tf.stop_gradient(z_q - x)
        codes = tf.reshape(codes, tf.concat([tf.shape(x)[:-1], [self.num_heads]], 0))
        return z_q, codes

    def _update_codebook(self, flat, codes):
        one_hot = tf.one_hot(codes, self.k)  # [N, H, K]
        counts = tf.reduce_sum(one_hot, axis=0)  # [H, K]
        sums = tf.einsum('nhk,nhd->hkd', one_hot, flat)
        ema_counts = self.gamma * self.ema_counts + (1.0 - self.gamma) * counts
        ema_sums = self.gamma * self.ema_sums + (1.0 - self.gamma) * sums
        codebook = core.safe_divide(ema_sums, ema_counts[..., tf.newaxis])
        if self.restart_threshold > 0:
            dead = ema_counts < self.restart_threshold  # [H, K]
            index = tf.random.uniform([self.num_heads, self.k], 0, tf.shape(flat)[0],
                                      dtype=tf.int32)
            restarts = tf.gather(tf.transpose(flat, [1, 0, 2]), index, batch_dims=1)
            codebook = tf.where(dead[..., tf.newaxis], restarts, codebook)
            ema_sums = tf.where(dead[..., tf.newaxis], restarts, ema_sums)
            ema_counts = tf.where(dead, tf.ones_like(ema_counts), ema_counts)
        self.ema_counts.assign(ema_counts)
        self.ema_sums.assign(ema_sums)
        self.codebook.assign(codebook)

    def committment_loss(self, z, z_q):
        """`commitment_loss_weight * mean((z - stop_gradient(z_q))^2)` (the original's
        spelling)."""
        z, z_q = core.tf_float32(z), core.tf_float32(z_q)
        return self.commitment_loss_weight * tf.reduce_mean(
            tf.square(z - tf.stop_gradient(z_q)))

    commitment_loss = committment_loss

    def get_losses_dict(self, z, z_q):
        """`{'commitment_loss': committment_loss(z, z_q)}`."""
        return {'commitment_loss': self.committment_loss(z, z_q)}

    def get_config(self):
        config = super().get_config()
        config.update(k=self.k, gamma=self.gamma, restart_threshold=self.restart_threshold,
                      num_heads=self.num_heads,
                      commitment_loss_weight=self.commitment_loss_weight)
        return config
