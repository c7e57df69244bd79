"""Directed acyclic graphs of layers, run in order on a dict of tensors.

A DAG is a list of nodes `(layer, [input keys])` or `(layer, [input keys],
[output keys])`. Running it fills a dict of outputs: the inputs under
`'inputs'` (and at the top level), then each node's results under the node's
layer name, and the last node's results under `'out'` as well. Input keys are
nested lookups into that dict, e.g. `'harmonic/signal'` or
`'inputs/f0_hz'`.
"""

import importlib
import inspect
import sys
from typing import Any, Dict, Sequence, Text, Tuple, Union

import gin
import keras

from ddsp import core, gin_keras, validation

TensorDict = Dict[Text, Any]
KeyOrModule = Union[Text, keras.layers.Layer]
Node = Union[Tuple[KeyOrModule, Sequence[Text]], Tuple[KeyOrModule, Sequence[Text], Sequence[Text]]]
DAG = Sequence[Node]

_KERAS_KWARGS = ('name', 'trainable', 'dtype', 'autocast')


def is_module(value) -> bool:
    """True for Keras layers (Keras 3 layers are not `tf.Module`s)."""
    return isinstance(value, keras.layers.Layer)


def is_loss(value) -> bool:
    """Losses are duck-typed by their `get_losses_dict` method."""
    return hasattr(value, 'get_losses_dict')


def is_processor(value) -> bool:
    """Processors are duck-typed by `get_controls` and `get_signal`."""
    return hasattr(value, 'get_controls') and hasattr(value, 'get_signal')


def split_keras_kwargs(kwargs: Dict[Text, Any]) -> Tuple[Dict, Dict]:
    """Splits `(keras_kwargs, other_kwargs)`; Keras takes name, trainable, ..."""
    keras_kwargs = {k: v for k, v in kwargs.items() if k in _KERAS_KWARGS}
    other = {k: v for k, v in kwargs.items() if k not in _KERAS_KWARGS}
    return keras_kwargs, other


def serialize_function(fn) -> Any:
    """A callable as its importable dotted path, for `get_config` (no pickle)."""
    if fn is None or isinstance(fn, str):
        return fn
    module, name = getattr(fn, '__module__', None), getattr(fn, '__qualname__', '')
    if not module or '<' in name:
        validation.fail(
            'serialize_function',
            'fn',
            'a named module-level function (like ddsp.core.exp_sigmoid): only those can be saved',
            fn,
        )
    return f'{module}.{name}'


# The public namespaces whose functions a saved config may name besides ddsp's own (math and
# activation functions; `serialize_function` saves them under their defining module, e.g.
# 'tensorflow.python.ops.math_ops.softplus' or 'keras.src.activations.activations.relu').
_FRAMEWORK_NAMESPACES = ('tf.math', 'tf.nn', 'keras.activations', 'keras.ops')
_FRAMEWORK_PREFIXES = ('tensorflow.', 'keras.')
_PACKAGE = 'ddsp'
_HOW_TO_ALLOW = (
    'a function of ddsp, a TensorFlow or Keras math/activation function (tf.math, tf.nn, '
    'keras.activations, keras.ops) or one registered with '
    "keras.saving.register_keras_serializable: Keras's safe mode refuses to import and call "
    'other code named in a saved config. If you trust the file, register the function (or '
    'pass it in custom_objects), or load with keras.saving.load_model(..., safe_mode=False) '
    'or after keras.config.enable_unsafe_deserialization()'
)


def _dotted_path(obj) -> Text:
    return f'{getattr(obj, "__module__", "")}.{getattr(obj, "__qualname__", "")}'


def _registered_function(path: Text):
    """The function registered for Keras serialisation under `path`, or None.

    `path` may be a registered name (`'package>name'`, a `custom_objects` key) or the dotted
    path `serialize_function` wrote for a registered function. Nothing is imported.
    """
    registered = dict(keras.saving.get_custom_objects())
    try:  # The objects of an active `keras.saving.custom_object_scope` (load_model's own).
        from keras.src.backend.common import global_state

        registered.update(global_state.get_global_attribute('custom_objects_scope_dict', {}) or {})
    except ImportError:  # pragma: no cover -- another Keras layout.
        pass
    if path in registered and callable(registered[path]):
        return registered[path]
    for obj in registered.values():
        if callable(obj) and not isinstance(obj, type) and _dotted_path(obj) == path:
            return obj
    return None


def _framework_functions() -> Dict[int, Any]:
    """`{id: function}` of the callables in `_FRAMEWORK_NAMESPACES`."""
    import tensorflow as tf

    roots = {'tf': tf, 'keras': keras}
    found = {}
    for namespace in _FRAMEWORK_NAMESPACES:
        root, _, attribute = namespace.partition('.')
        module = getattr(roots[root], attribute, None)
        for value in vars(module).values() if module is not None else ():
            if callable(value) and not isinstance(value, type):
                found[id(value)] = value
    return found


def _in_safe_mode() -> bool:
    """Whether Keras's safe mode applies: True unless it was turned off.

    `keras.saving.load_model(safe_mode=False)` turns it off for one load, and
    `keras.config.enable_unsafe_deserialization()` for the process; outside a load, as in
    Keras, it is on.
    """
    try:
        from keras.src.saving import serialization_lib
    except ImportError:  # pragma: no cover -- another Keras layout: stay safe.
        return True
    return serialization_lib.in_safe_mode() is not False


def _import_attribute(path: Text, import_module: bool = True):
    """`module.attribute` for `'module.attribute'`; raises ImportError/AttributeError."""
    module_name, _, attribute = path.rpartition('.')
    if not module_name or not attribute:
        raise ValueError('not a dotted path')
    if import_module:
        module = importlib.import_module(module_name)
    else:
        module = sys.modules.get(module_name)
        if module is None:
            raise ImportError(f'module {module_name} is not loaded')
    return getattr(module, attribute)


def _allowed_function(path: Text):
    """The function `path` names, if it may be loaded in safe mode; else None.

    Raises ImportError / AttributeError / ValueError for a ddsp path that does not resolve.
    """
    registered = _registered_function(path)
    if registered is not None:
        return registered
    if path.startswith(_PACKAGE + '.'):
        fn = _import_attribute(path)
        # Defined in the package (not a module or a function it imported from elsewhere).
        defined_here = getattr(fn, '__module__', '') or ''
        if (
            callable(fn)
            and not inspect.ismodule(fn)
            and (defined_here == _PACKAGE or defined_here.startswith(_PACKAGE + '.'))
        ):
            return fn
        return None
    if path.startswith(_FRAMEWORK_PREFIXES):
        try:  # Only modules TensorFlow / Keras already loaded: nothing new is imported.
            fn = _import_attribute(path, import_module=False)
        except (ImportError, AttributeError, ValueError):
            return None
        return fn if id(fn) in _framework_functions() else None
    return None


def deserialize_function(path) -> Any:
    """Inverse of `serialize_function`: the function a saved config names by dotted path.

    Without importing anything first, the path must name one of:
    * a function of this package (`'ddsp.core.exp_sigmoid'`, defined under `ddsp.`);
    * a TensorFlow or Keras math or activation function (one of `tf.math`, `tf.nn`,
      `keras.activations`, `keras.ops`), under the module that defines it;
    * a function registered for Keras serialisation (`keras.saving.register_keras_serializable`
      or `custom_objects`), by its registered name or its dotted path.
    Anything else (`'os.system'`) is imported only when Keras's safe mode is off
    (`keras.saving.load_model(..., safe_mode=False)` or
    `keras.config.enable_unsafe_deserialization()`); otherwise a ValueError names it and
    says how to allow it. Callables and None pass through unchanged.

    Example:
        >>> deserialize_function('ddsp.core.exp_sigmoid')  # <function exp_sigmoid ...>
    """
    if path is None or callable(path):
        return path
    if not isinstance(path, str):
        validation.fail(
            'deserialize_function',
            'path',
            'a function or its dotted path (like "ddsp.core.exp_sigmoid")',
            path,
        )
    try:
        fn = _allowed_function(path)
        if fn is None and not _in_safe_mode():
            fn = _import_attribute(path)  # Safe mode is off: the user trusts the file.
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(
            validation.message(
                'deserialize_function',
                'path',
                f'the dotted path of an importable function '
                f'(the one named in the config cannot be found: {e})',
                path,
            )
        ) from e
    if fn is None:
        validation.fail('deserialize_function', 'path', _HOW_TO_ALLOW, path)
    return fn


def deserialize_functions(config: dict) -> dict:
    """A copy of a layer config with its callables (`*_fn` keys) restored from dotted paths.

    Example:
        >>> return super().from_config(deserialize_functions(config))  # In `from_config`.
    """
    return {
        key: deserialize_function(value) if key.endswith('_fn') else value
        for key, value in config.items()
    }


@gin.register
class DAGLayer(keras.layers.Layer):
    """Runs a DAG of layers on a dict of tensors.

    Args:
        dag: A list of `(layer or attribute name, [input keys])` nodes,
            optionally with a third element `[output keys]` naming the results
            of layers that return a tensor or tuple rather than a dict.
        **kwarg_modules: Layers to attach as attributes (and so refer to by
            name in the DAG), plus Keras layer arguments (`name`, ...).

    Example:
        >>> dag = [(ddsp.synths.Harmonic(), ['amps', 'hd', 'f0_hz']),
        ...        (ddsp.effects.Reverb(), ['harmonic/signal', 'ir'])]
        >>> outputs = DAGLayer(dag)(inputs)  # outputs['out']['signal']
    """

    def __init__(self, dag: DAG, **kwarg_modules):
        keras_kwargs, kwarg_modules = split_keras_kwargs(kwarg_modules)
        super().__init__(**keras_kwargs)
        self._allow_non_tensor_positional_args = True
        self.module_names = []
        for key, module in kwarg_modules.items():
            if not is_module(module):
                validation.fail(
                    'DAGLayer',
                    key,
                    'a Keras layer (keyword arguments attach layers to the DAG)',
                    module,
                )
            self._attach(key, module)
        self.dag = self.format_dag(dag)

    def _attach(self, key: Text, module: keras.layers.Layer):
        existing = getattr(self, key, None)
        if existing is not None and existing is not module:
            validation.fail(
                'DAGLayer',
                'layer name',
                "unique among the DAG's layers and "
                "DAGLayer's attributes (give each layer a unique name)",
                key,
            )
        setattr(self, key, module)
        if key not in self.module_names:
            self.module_names.append(key)

    def format_dag(self, dag: DAG) -> list:
        """Attaches layer instances as attributes; nodes then refer by name.

        Raises:
            ValueError: `dag` is not a non-empty sequence of nodes (an empty DAG has nothing
                to run, and its output would be an empty dict), or a node is malformed.
        """
        if isinstance(dag, (str, bytes)) or not isinstance(dag, (list, tuple)) or not dag:
            validation.fail(
                type(self).__name__,
                'dag',
                'a non-empty list of nodes (layer, [input keys]) or (layer, [input keys], '
                '[output keys]); an empty DAG computes nothing',
                dag,
            )
        formatted = []
        for i, node in enumerate(dag):
            if not isinstance(node, (list, tuple)) or len(node) not in (2, 3):
                validation.fail(
                    'DAGLayer',
                    f'dag[{i}]',
                    'a DAG node (layer, [input keys]) or (layer, [input keys], [output keys])',
                    node,
                )
            module, input_keys = node[0], list(core.make_iterable(node[1]))
            if is_module(module):
                self._attach(module.name, module)
                module = module.name
            elif not isinstance(module, str):
                validation.fail(
                    'DAGLayer',
                    f'dag[{i}][0]',
                    'a Keras layer or the name of one (the first element of a DAG node)',
                    module,
                )
            output_keys = list(node[2]) if len(node) == 3 else None
            formatted.append((module, input_keys, output_keys))
        return formatted

    @property
    def modules(self):
        """The layers of the DAG (and keyword layers), in order of naming."""
        return [getattr(self, name) for name in self.module_names]

    def build(self, input_shape):
        # Layers in the DAG build themselves when first run: their input
        # shapes are only known once the DAG has routed the inputs.
        self.built = True

    def call(self, inputs: TensorDict, **kwargs) -> TensorDict:
        return self.run_dag(inputs, **kwargs)

    @gin_keras.configurable('run_dag', module='ddsp.dags.DAGLayer', allowlist=['verbose'])
    def run_dag(self, inputs: TensorDict, verbose: bool = False, **kwargs) -> TensorDict:
        """Runs the DAG; returns every node's outputs (see the module docs).

        Args:
            inputs: Dict of input tensors.
            verbose: Print each node's output shapes.
            **kwargs: Passed to every layer (e.g. `training`).
        """
        inputs = core.copy_if_tf_function(inputs)
        outputs = {'inputs': dict(inputs), **inputs}
        node_outputs = {}
        for key, input_keys, output_keys in self.dag:
            module = getattr(self, key, None)
            if module is None:
                raise KeyError(
                    f'DAG node "{key}" names no layer of this DAG; '
                    f'known layers: {self.module_names}.'
                )
            node_inputs = [core.nested_lookup(k, outputs) for k in input_keys]
            if is_processor(module):
                node_outputs = module(*node_inputs, return_outputs_dict=True, **kwargs)
            elif is_loss(module):
                node_outputs = module.get_losses_dict(*node_inputs, **kwargs)
            else:
                node_outputs = module(*node_inputs, **kwargs)
            if not isinstance(node_outputs, dict):
                node_outputs = core.to_dict(node_outputs, output_keys or [key])
            outputs[key] = node_outputs
            if verbose:
                shapes = {k: getattr(v, 'shape', None) for k, v in node_outputs.items()}
                print(f'DAG node {key}: inputs {input_keys} -> {shapes}')
        outputs['out'] = node_outputs
        return outputs

    def get_config(self):
        config = super().get_config()
        nodes = []
        for key, input_keys, output_keys in self.dag:
            module = keras.saving.serialize_keras_object(getattr(self, key))
            node = [module, list(input_keys)]
            if output_keys is not None:
                node.append(list(output_keys))
            nodes.append(node)
        in_dag = {key for key, _, _ in self.dag}
        config['dag'] = nodes
        config['kwarg_modules'] = {
            name: keras.saving.serialize_keras_object(getattr(self, name))
            for name in self.module_names
            if name not in in_dag
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        dag = [
            [keras.saving.deserialize_keras_object(node[0])] + node[1:]
            for node in config.pop('dag')
        ]
        kwarg_modules = {
            name: keras.saving.deserialize_keras_object(module)
            for name, module in config.pop('kwarg_modules', {}).items()
        }
        config.pop('dtype', None)
        return cls(dag=dag, **kwarg_modules, **config)
