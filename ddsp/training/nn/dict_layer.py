"""`DictLayer`: the convention every preprocessor, encoder and decoder follows.

A `DictLayer` is a Keras layer that reads its inputs from a dict of features by key and
returns a dict of outputs. Its input keys are the argument names of `call` (arguments with
defaults are optional keys) and its output keys are the list in `call`'s return annotation.
`OutputSplitsLayer` is a `DictLayer` whose outputs are one Dense layer split into named
tensors by `split_to_dict`.

Example:
    >>> class Scale(DictLayer):
    ...     def call(self, f0_hz, gain=1.0) -> ['f0_scaled']:  # noqa: F821
    ...         return f0_hz * gain / 1000.0
    >>> Scale()({'f0_hz': f0, 'audio': audio})  # {'f0_scaled': f0 / 1000}
"""

import inspect
from typing import Any, Dict, Optional, Sequence, Text, Tuple

import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.training.nn.registration import gin_register

TensorDict = Dict[Text, Any]
Splits = Sequence[Tuple[Text, int]]

_CONTEXT_ARGS = ('training', 'mask')  # Keras call arguments, never input keys.


@gin_register
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
    owner = 'split_to_dict'
    tensor_splits = validation.check_output_splits(owner, tensor_splits)
    keys = [k for k, _ in tensor_splits]
    sizes = [v for _, v in tensor_splits]
    n_channels = tensor.shape[-1]
    if n_channels is not None and n_channels != sum(sizes):
        validation.fail(
            owner,
            'tensor_splits',
            f'sizes that add up to the {n_channels} channels of the tensor (shape '
            f'{tuple(tensor.shape)})',
            tensor_splits,
        )
    return dict(zip(keys, tf.split(tensor, sizes, axis=-1)))


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


def _shape_or_none(x):
    shape = getattr(x, 'shape', None)
    if shape is None:
        return None
    return tuple(tf.TensorShape(shape).as_list())


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

    Example:
        >>> class Add(DictLayer):
        ...     def call(self, a, b) -> ['sum']:  # noqa: F821
        ...         return a + b
        >>> Add()({'a': x, 'b': y, 'c': z})  # {'sum': x + y}
    """

    _key_method = 'call'  # The method whose arguments give the input keys.

    def __init__(
        self,
        input_keys: Optional[Sequence[Text]] = None,
        output_keys: Optional[Sequence[Text]] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Default values (None, numbers) are passed positionally like tensors.
        self._allow_non_tensor_positional_args = True
        owner = type(self).__name__
        self._input_keys_arg = validation.check_keys(owner, 'input_keys', input_keys)
        self._output_keys_arg = validation.check_keys(owner, 'output_keys', output_keys)
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
        required = args[: len(args) - n_defaults]
        return [a for a in required if a not in _CONTEXT_ARGS]

    def get_default_argument_names(self, method) -> list:
        """Names of the arguments of `method` that have default values."""
        spec, args = _arg_spec(self, method)
        n_defaults = len(spec.defaults or ())
        names = args[len(args) - n_defaults :] if n_defaults else []
        return [a for a in names if a not in _CONTEXT_ARGS]

    def get_default_argument_values(self, method) -> list:
        """Default values of the arguments of `method`, in order."""
        spec, args = _arg_spec(self, method)
        n_defaults = len(spec.defaults or ())
        names = args[len(args) - n_defaults :] if n_defaults else []
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
                + (
                    f' and the optional keys {self.default_input_keys}'
                    if self.default_input_keys
                    else ''
                )
                + f', but gathered {len(gathered)} ({len(positional)} positional, '
                f'{len(gathered) - len(positional) - n_defaults} looked up, {n_defaults} '
                f'default values). '
                + (f'Missing keys: {missing}. ' if missing and features else '')
                + f'Available keys: {available}.'
            )
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
                f'output (output_keys or the return annotation of call), or return a dict.'
            )
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


class OutputSplitsLayer(DictLayer):
    """A DictLayer whose output is a Dense layer split into named tensors.

    Subclasses implement `compute_output(*inputs) -> [batch, ..., channels]`; the input keys
    come from its arguments. `call` is
    `split_to_dict(Dense(sum of sizes)(compute_output(*inputs)), output_splits)`.

    Args:
        input_keys: Keys of the inputs (default: `compute_output`'s arguments).
        output_splits: `((key, size), ...)`; the output keys and their channel counts.
        **kwargs: Keras layer arguments.

    Example:
        >>> class Concat(OutputSplitsLayer):
        ...     def compute_output(self, f0_scaled, ld_scaled):
        ...         return tf.concat([f0_scaled, ld_scaled], axis=-1)
        >>> Concat(output_splits=(('amps', 1), ('hd', 4)))(features)['hd'].shape  # [B, T, 4]
    """

    _key_method = 'compute_output'

    def __init__(
        self,
        input_keys: Optional[Sequence[Text]] = None,
        output_splits: Splits = (('amps', 1), ('harmonic_distribution', 40)),
        **kwargs,
    ):
        self.output_splits = validation.check_output_splits(type(self).__name__, output_splits)
        self.n_out = sum(size for _, size in self.output_splits)
        kwargs.pop('output_keys', None)  # Always the split keys.
        super().__init__(
            input_keys=input_keys, output_keys=[key for key, _ in self.output_splits], **kwargs
        )
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
