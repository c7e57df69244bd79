"""CREPE activations -> pitch: the weighted bin average, confidence, and Viterbi smoothing.

Pure NumPy. `activations_to_f0_and_confidence` turns the 360 sigmoid outputs of a frame into
f0 (the activation-weighted average of the cents of the bins around the peak, or around the
bin of the most likely smooth path of CREPE's HMM, `viterbi_path`) and confidence (the largest
activation). `pitch.PretrainedCREPE.activations_to_f0_and_confidence` is the TensorFlow
counterpart of the averaging.

Example:
    >>> acts = np.eye(360, dtype=np.float32)[[100, 100, 160, 100]]
    >>> f0_hz, confidence = activations_to_f0_and_confidence(acts, viterbi=True)
    >>> f0_hz.round(1)                                # [100.6 100.6 100.6 100.6] (Hz)
"""

import functools

import numpy as np

from ddsp import validation
from ddsp.crepe.constants import (
    F0_REFERENCE_HZ,
    N_BINS,
    VITERBI_SELF_EMISSION,
    VITERBI_TRANSITION_FLOOR,
    VITERBI_TRANSITION_WIDTH,
    cents_map,
)


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
    return np.where(total > 0, weighted / np.where(total > 0, total, 1.0), center_cents).astype(
        np.float32
    )


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
    u = padded[:, half : half + N_BINS]
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
    running_arg = N_BINS - 1 - np.maximum.accumulate(np.where(flipped >= before, bins, 0), axis=1)
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
        validation.fail(
            'viterbi_path', 'activations.shape', f'[..., n_frames, {N_BINS}]', activations.shape
        )
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
