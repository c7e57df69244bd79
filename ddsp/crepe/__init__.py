"""CREPE pitch tracking: the network, its published weights, fast inference, pitch decoding.

CREPE (Kim, Salamon, Li and Bello, ICASSP 2018) reads one frame of 1024 samples at 16 kHz,
normalised to zero mean and unit standard deviation, and outputs 360 sigmoid activations, one
per pitch bin 20 cents apart, from 31.70 Hz to 2005.50 Hz (`constants.bin_range_hz`).

Modules, one concept each (every name below is also importable from `ddsp.crepe`):

| module      | concept                                                                    |
|-------------|----------------------------------------------------------------------------|
| `constants` | sample rate, frame size, bins, capacities, layer names, HMM numbers        |
| `network`   | the Keras model, its weights (find, read, load, verify), the model cache   |
| `inference` | the frozen compiled graph: frames -> activations, fast on CPU              |
| `decoding`  | activations -> f0 and confidence, Viterbi smoothing (NumPy)                |
| `pitch`     | `compute_f0`, `PretrainedCREPE`, `reset_crepe` (audio -> f0, confidence)   |

Importing `ddsp.crepe` loads only `constants` (NumPy); the other modules, and TensorFlow and
Keras with them, are imported when one of their names is first used, and no weights are read
until a model is asked for. So `ddsp.spectral_ops` can take CREPE's sample rate from here
without importing the pitch network.

Example:
    >>> from ddsp import crepe
    >>> crepe.SAMPLE_RATE, crepe.FRAME_SIZE                                 # (16000, 1024)
    >>> acts = crepe.predict_activations(np.random.randn(10, 1024), 'tiny') # [10, 360]
    >>> f0_hz, confidence = crepe.activations_to_f0_and_confidence(acts)   # [10] each
"""

import importlib

from ddsp.crepe.constants import (
    BASE_FILTERS,
    BN_EPSILON,
    CAPACITIES,
    CAPACITY_MULTIPLIERS,
    CENTS_OFFSET,
    CENTS_PER_BIN,
    DEFAULT_CHUNK_FRAMES,
    DROPOUT_RATE,
    EXTRA_HINT,
    F0_REFERENCE_HZ,
    FRAME_SIZE,
    KERNEL_WIDTHS,
    LAYER_NAMES,
    N_BINS,
    SAMPLE_RATE,
    STRIDES,
    VITERBI_SELF_EMISSION,
    VITERBI_TRANSITION_FLOOR,
    VITERBI_TRANSITION_WIDTH,
    WEIGHTED_LAYER_NAMES,
    bin_range_hz,
    cents_map,
    check_capacity,
    filters,
)

_check_capacity = check_capacity  # The name data preparation has used.

# Names of the modules imported on first use.
_LAZY = {
    'network': (
        'WeightsNotInstalledError',
        'build_model',
        'check_model_spec',
        'flops_per_frame',
        'get_model',
        'load_model',
        'load_weights',
        'read_weights',
        'reset',
        'weight_mismatches',
        'weights_package',
        'weights_path',
        '_MODELS',
        '_RUNNERS',
    ),
    'inference': ('normalize_frames', 'predict_activations', '_FrozenCrepe', '_runner'),
    'decoding': (
        'activations_to_cents',
        'activations_to_f0_and_confidence',
        'cents_to_hz',
        'viterbi_path',
    ),
    'pitch': ('PretrainedCREPE', 'compute_f0', 'reset_crepe'),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    'BASE_FILTERS',
    'BN_EPSILON',
    'CAPACITIES',
    'CAPACITY_MULTIPLIERS',
    'CENTS_OFFSET',
    'CENTS_PER_BIN',
    'DEFAULT_CHUNK_FRAMES',
    'DROPOUT_RATE',
    'EXTRA_HINT',
    'F0_REFERENCE_HZ',
    'FRAME_SIZE',
    'KERNEL_WIDTHS',
    'LAYER_NAMES',
    'N_BINS',
    'SAMPLE_RATE',
    'STRIDES',
    'VITERBI_SELF_EMISSION',
    'VITERBI_TRANSITION_FLOOR',
    'VITERBI_TRANSITION_WIDTH',
    'WEIGHTED_LAYER_NAMES',
    'bin_range_hz',
    'cents_map',
    'check_capacity',
    'filters',
] + sorted(name for name in _MODULE_OF if not name.startswith('_'))


def __getattr__(name):
    """A name of `network`, `inference`, `decoding` or `pitch` (or the module), imported now."""
    if name in _LAZY:
        return importlib.import_module(f'{__name__}.{name}')
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f'{__name__}.{_MODULE_OF[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF) | set(_LAZY))
