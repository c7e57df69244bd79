"""Audio features: spectrograms, frame energy and loudness, framing (and CREPE pitch, lazily).

Audio is float32 `[batch, n_samples]` (a single example `[n_samples]` is accepted too, and a
trailing channel dimension of size 1 is squeezed). **Audio is assumed to be at 16 kHz unless a
function is given `sample_rate`** (a 44.1 kHz array read as 16 kHz puts a 440 Hz tone at
160 Hz). Integer PCM (int16, int32, int8, uint8) is scaled by its full-scale range;
`[n_samples, channels]` audio, empty audio and (for NumPy arrays and eager tensors) NaN or
infinite samples are `ValueError`s saying what to do (`framing.prepare_audio`). Frame-rate
features come back as `[batch, n_frames, ...]`, or without the batch dimension when the input
had none. Every TensorFlow path is pure TF: eager, inside `tf.function` and under XLA
(`jit_compile=True`).

Modules, one concept each (every name is also importable from here):

| module      | concept                                                              |
|-------------|----------------------------------------------------------------------|
| `stft`      | STFT, magnitude (fast gradient), mel, log-magnitude, log-mel, MFCC   |
| `loudness`  | RMS energy, power in dB, A-weighted loudness, at any frame rate      |
| `framing`   | audio shapes, frame counts, padding, fractional hops, lengths        |

CREPE pitch (`compute_f0`, `PretrainedCREPE`, `reset_crepe`) lives in `ddsp.crepe.pitch`; the
names here are re-exports resolved on first use, so importing feature extraction never imports
the pitch network. The gin name `spectral_ops.compute_f0` resolves as before.

Example:
    >>> from ddsp import spectral_ops
    >>> spectral_ops.compute_loudness(tf.zeros([1, 64000])).shape                 # [1, 1001]
    >>> spectral_ops.compute_loudness(tf.zeros([1, 176400]), 44100, 250).shape   # [1, 1003]
"""

import importlib

import gin

from ddsp import core
from ddsp.crepe.constants import FRAME_SIZE as CREPE_FRAME_SIZE
from ddsp.crepe.constants import SAMPLE_RATE as CREPE_SAMPLE_RATE
from ddsp.spectral_ops.framing import get_framed_lengths, pad, pad_or_trim_to_expected_length
from ddsp.spectral_ops.loudness import (
    DB_RANGE,
    _a_weighting_db,
    _loudness_weights,
    compute_loudness,
    compute_power,
    compute_rms_energy,
)
from ddsp.spectral_ops.stft import (
    _mel_weight_matrix,
    compute_logmag,
    compute_logmel,
    compute_mag,
    compute_mel,
    compute_mfcc,
    stft,
    stft_np,
)

F0_RANGE = 127.0  # MIDI.

# Old name kept for configs and code written before `diff` moved to core.
diff = core.diff

# Names used before Jan 2020.
calc_mag = compute_mag
calc_mel = compute_mel
calc_logmag = compute_logmag
calc_logmel = compute_logmel
calc_mfcc = compute_mfcc

_PITCH_NAMES = ('compute_f0', 'PretrainedCREPE', 'reset_crepe')

__all__ = [
    'CREPE_FRAME_SIZE',
    'CREPE_SAMPLE_RATE',
    'DB_RANGE',
    'F0_RANGE',
    'PretrainedCREPE',
    'calc_logmag',
    'calc_logmel',
    'calc_mag',
    'calc_mel',
    'calc_mfcc',
    'compute_f0',
    'compute_logmag',
    'compute_logmel',
    'compute_loudness',
    'compute_mag',
    'compute_mel',
    'compute_mfcc',
    'compute_power',
    'compute_rms_energy',
    'diff',
    'get_framed_lengths',
    'pad',
    'pad_or_trim_to_expected_length',
    'reset_crepe',
    'stft',
    'stft_np',
    '_a_weighting_db',
    '_loudness_weights',
    '_mel_weight_matrix',
]


def __getattr__(name):
    """`compute_f0`, `PretrainedCREPE`, `reset_crepe`: imported from `ddsp.crepe.pitch` on use."""
    if name in _PITCH_NAMES:
        return getattr(importlib.import_module('ddsp.crepe.pitch'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_PITCH_NAMES))


@gin.register('compute_f0', module='ddsp.spectral_ops')
def _compute_f0_for_gin(*args, **kwargs):
    """`@spectral_ops.compute_f0` in gin: calls `ddsp.crepe.pitch.compute_f0`, imported then."""
    return importlib.import_module('ddsp.crepe.pitch').compute_f0(*args, **kwargs)
