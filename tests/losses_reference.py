"""Shared NumPy references and fixtures of the ddsp.losses tests (tests/test_losses*.py).

References: NumPy re-statements of each documented formula and librosa STFTs (periodic Hann,
center=False, end zero-padded to ceil(n / hop) frames as tf.signal.stft's pad_end does), and
`spectral_ops.compute_loudness(use_tf=False)` (librosa) for the loudness term.
"""

import gin
import librosa
import numpy as np

from ddsp import spectral_ops

N_SAMPLES = 3000  # Not a multiple of any hop, so the end padding matters.
FFT_SIZES = (512, 128, 64)
TERMS = (
    'mag_weight',
    'delta_time_weight',
    'delta_freq_weight',
    'cumsum_freq_weight',
    'logmag_weight',
    'loudness_weight',
)


def noise(shape, seed, scale=0.3):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


TARGET = noise([2, N_SAMPLES], 1)
AUDIO = (0.7 * TARGET + noise([2, N_SAMPLES], 2, 0.1)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# NumPy references.
# ------------------------------------------------------------------------------------------------
def np_mag(audio, size):
    """|STFT| [batch, frames, bins]: periodic Hann, hop size // 4, end padded to ceil(n/hop)."""
    hop = size // 4
    n = audio.shape[-1]
    n_frames = -(-n // hop)
    extra = (n_frames - 1) * hop + size - n
    padded = np.pad(audio.astype(np.float64), [(0, 0), (0, extra)])
    spec = librosa.stft(padded, n_fft=size, hop_length=hop, center=False, window='hann')
    return np.swapaxes(np.abs(spec), -1, -2)


def np_mean_difference(target, value, loss_type, weights=None):
    target = np.asarray(target, np.float64)
    value = np.asarray(value, np.float64)
    w = 1.0 if weights is None else np.asarray(weights, np.float64)
    if loss_type == 'L1':
        return np.mean(np.abs((target - value) * w))
    if loss_type == 'L2':
        return np.mean((target - value) ** 2 * w)

    # Cosine distance per vector on the last axis: 1 - cos = |t/|t| - v/|v||^2 / 2 (the
    # accurate form); zero vectors stay zero when normalised.
    def unit(x):
        return x / np.sqrt(np.maximum(np.sum(x**2, -1, keepdims=True), 1e-12))

    distance = 0.5 * np.sum((unit(target) - unit(value)) ** 2, -1, keepdims=True)
    return np.mean(distance * w)


def np_spectral_loss(target, audio, loss_type, fft_sizes=FFT_SIZES, weights=None, **term_weights):
    """The documented multi-scale formula, term by term."""

    def logmag(m):  # Floored at 1e-5 (the original replaced only m <= 0).
        return np.log(np.maximum(m, 1e-5))

    transforms = {
        'mag_weight': lambda m: m,
        'delta_time_weight': lambda m: np.diff(m, axis=-2),
        'delta_freq_weight': lambda m: np.diff(m, axis=-1),
        'cumsum_freq_weight': lambda m: np.cumsum(m, axis=-1),
        'logmag_weight': logmag,
    }
    total = 0.0
    for size in fft_sizes:
        mt, mv = np_mag(target, size), np_mag(audio, size)
        for term, transform in transforms.items():
            w = term_weights.get(term, 0.0)
            if w:
                total += w * np_mean_difference(transform(mt), transform(mv), loss_type, weights)
    if term_weights.get('loudness_weight', 0.0):
        lt = spectral_ops.compute_loudness(target, n_fft=2048, use_tf=False)
        lv = spectral_ops.compute_loudness(audio, n_fft=2048, use_tf=False)
        lw = None if weights is None else np.asarray(weights)[..., 0]
        total += term_weights['loudness_weight'] * np_mean_difference(lt, lv, loss_type, lw)
    return total


def only(term, value=1.0):
    """Term weights with just `term` on (mag_weight defaults to 1 in the class)."""
    weights = {t: 0.0 for t in TERMS}
    weights[term] = value
    return weights


def harmonic_controls(seed=12):
    """Harmonic amplitude [2, 6, 1] (first two frames silent), distribution [2, 6, 4], f0."""
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0, 1, [2, 6, 1]).astype(np.float32)
    amp[:, :2] = 0.0  # Silent frames.
    dist = rng.uniform(0, 1, [2, 6, 4]).astype(np.float32)
    f0 = rng.uniform(100, 400, [2, 6, 1]).astype(np.float32)
    return amp, dist, f0


@gin.configurable
def make_loss_group(group=None):
    """What the gin configs of the tests bind (`make_loss_group.group = ...`)."""
    return group
