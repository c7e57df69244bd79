"""FIR filtering: FFT convolution, filter design by frequency sampling, windowed sinc.

`fft_convolve` filters `[batch, n_samples]` audio with one impulse response (IR) or with a
time-varying series of them (non-overlapping frames, overlap-added), and removes the
filter's group delay. The designs return IRs in that convention: `frequency_filter` from
magnitudes at evenly spaced frequencies (the noise synth and `FIRFilter`), `sinc_filter`
from low- or high-pass cutoffs.

Shapes are checked in Python before any FFT (free: they are known while tracing). A frequency
response needs at least 2 bands: the inverse real FFT of K bands has `2 (K - 1)` taps, so one
band would ask for a zero-sized FFT, which aborts the whole process inside TensorFlow rather
than raising. Empty audio, IRs without taps or frames, and batches that do not match are
`ValueError`s naming the argument. Values are not checked here (see `ddsp.synths` for where
NaN is caught): a NaN in a frame of a time-varying filter stays in that frame and the next
(the overlap-add), but one NaN in the audio of a time-invariant filter makes the whole output
NaN, because a single FFT mixes every sample.

Example:
    >>> from ddsp import core
    >>> filtered = core.frequency_filter(noise, magnitudes)  # [B, N], [B, T, K] -> [B, N]
    >>> low = core.sinc_filter(audio, 2000.0, sample_rate=16000)
"""

from typing import Optional, Text, Tuple

import numpy as np
import tensorflow as tf

from ddsp import validation
from ddsp.core.tensors import pad_axis, slice_axis, tf_float32

_PADDINGS = ('same', 'valid')


def get_fft_size(frame_size: int, ir_size: int, power_of_2: bool = True) -> int:
    """FFT size for linear convolution of a frame with an impulse response.

    The next power of 2 (or, with `power_of_2=False`, the next 5-smooth size)
    of at least `frame_size + ir_size - 1`.
    Example: `get_fft_size(256, 129)` -> `512`; with `power_of_2=False` -> `384`.
    """
    convolved = int(frame_size) + int(ir_size) - 1
    if power_of_2:
        return 1 << max(0, (convolved - 1).bit_length())
    import scipy.fft  # SciPy only for this rarely used option.

    return int(scipy.fft.next_fast_len(convolved, real=True))


def _check_padding(owner, padding):
    """'same' (output as long as the input) or 'valid' (the full convolution)."""
    validation.check_choice(owner, 'padding', padding, _PADDINGS)


MIN_BANDS = 2  # irfft of K bands has 2 (K - 1) samples: K = 1 would be a zero-sized FFT.

_MAGNITUDES_SHAPES = '[batch, n_frames, n_bands] or [batch, n_bands]'


def check_magnitudes(owner, magnitudes):
    """`magnitudes` as float32 `[B, T, K]` or `[B, K]` with K >= 2 bands and T >= 1 frames.

    The inverse real FFT of K bands gives `2 (K - 1)` taps: at least 2 bands are needed for
    one tap (2 bands give a 2-tap filter). TensorFlow aborts the process (SIGABRT, "no
    zero-sized FFTs") on K = 1 instead of raising, so the count is checked here, in Python,
    while tracing. (A band count unknown while tracing cannot reach the FFT: windowing the
    impulse response needs its length.)
    """
    magnitudes = tf_float32(magnitudes)
    rank = magnitudes.shape.rank
    if rank not in (2, 3):
        validation.fail(owner, 'magnitudes.shape', _MAGNITUDES_SHAPES, magnitudes.shape)
    n_bands = magnitudes.shape[-1]
    expected = (
        f'{_MAGNITUDES_SHAPES} with n_bands >= {MIN_BANDS} (K bands give a filter of '
        f'2 (K - 1) taps, so 1 band gives none; pass at least {MIN_BANDS} bands, e.g. 65)'
    )
    if n_bands is not None and n_bands < MIN_BANDS:
        validation.fail(
            owner, 'magnitudes.shape', expected, validation.shape_tuple(magnitudes.shape)
        )
    if rank == 3 and magnitudes.shape[1] == 0:
        validation.fail(
            owner,
            'magnitudes.shape',
            '[batch, n_frames, n_bands] with n_frames >= 1 (one filter per frame)',
            validation.shape_tuple(magnitudes.shape),
        )
    return magnitudes


def equal_frames(n_samples: int, n_frames: int) -> Tuple[int, int]:
    """How `fft_convolve` cuts `n_samples` of audio for `n_frames` impulse responses.

    Frames are `ceil(n_samples / n_frames)` samples long, which cuts the audio into
    `ceil(n_samples / frame_size)` frames; a time-varying filter needs that to be
    `n_frames` (true for every divisor of `n_samples`).

    Returns:
        `(frame_size, n_frames_cut)`.

    Example: `equal_frames(1000, 8)` -> `(125, 8)`; `equal_frames(10, 6)` -> `(2, 5)`, so
    6 IRs cannot filter 10 samples.
    """
    frame_size = -(-n_samples // n_frames)
    return frame_size, -(-n_samples // frame_size)


def crop_and_compensate_delay(
    audio: tf.Tensor, audio_size: int, ir_size: int, padding: Text, delay_compensation: int
) -> tf.Tensor:
    """Crops the output of a convolution, removing the filter's group delay.

    Args:
        audio: `[B, M]` full convolution (possibly zero-padded at the end).
        audio_size: Length of the original audio.
        ir_size: Length of the impulse response.
        padding: 'same' (length `audio_size`) or 'valid' (`audio_size +
            ir_size - 1`).
        delay_compensation: Samples to drop at the start; negative means
            automatic, `(ir_size - 1) // 2 - 1` (at least 0).

    Returns:
        The cropped `[B, length]` audio.

    Example: `crop_and_compensate_delay(full, 1000, 65, 'same', -1)` is `full[:, 31:1031]`.
    """
    _check_padding('crop_and_compensate_delay', padding)
    length = audio_size if padding == 'same' else audio_size + ir_size - 1
    start = (ir_size - 1) // 2 - 1 if delay_compensation < 0 else delay_compensation
    # 1- and 2-tap IRs give start -1, which would wrap to an empty slice.
    start = max(start, 0)
    # Past its full length a convolution is zero: pad if the input stops short.
    missing = start + length - audio.shape[-1]
    if missing > 0:
        audio = pad_axis(audio, (0, missing), axis=-1)
    return slice_axis(audio, start, length, axis=1)


def _overlap_add(frames, hop):
    """Overlap-adds `[B, F, L]` frames at `hop`: `[B, (F - 1) hop + L']`.

    Each frame is cut into `k = ceil(L / hop)` chunks of one hop; chunk j of
    frame f lands at frame f + j, so the sum is k shifted adds (k is 2 for
    every FFT convolution here), cheaper than a general overlap-add.
    """
    n_frames, length = frames.shape[1], frames.shape[2]
    k = -(-length // hop)
    chunks = tf.reshape(pad_axis(frames, (0, k * hop - length), axis=2), [-1, n_frames, k, hop])
    total = sum(
        pad_axis(
            tf.reshape(slice_axis(chunks, j, 1, axis=2), [-1, n_frames, hop]),
            (j, k - 1 - j),
            axis=1,
        )
        for j in range(k)
    )
    return tf.reshape(total, [-1, (n_frames + k - 1) * hop])


def fft_convolve(
    audio: tf.Tensor,
    impulse_response: tf.Tensor,
    padding: Text = 'same',
    delay_compensation: int = -1,
) -> tf.Tensor:
    """Filters audio with time-invariant or time-varying FIR filters via FFT.

    A time-varying filter `[B, F, L]` cuts the audio into F non-overlapping
    frames of `ceil(N / F)` samples, convolves each with its own IR and
    overlap-adds the results.

    Args:
        audio: `[B, N]`.
        impulse_response: `[B, L]` or `[B, F, L]`; batch 1 is broadcast, and so is `[L]`,
            one IR for the whole batch (`sinc_impulse_response` of a scalar cutoff).
        padding: 'same' or 'valid', see `crop_and_compensate_delay`.
        delay_compensation: See `crop_and_compensate_delay`.

    Returns:
        `[B, N]` ('same') or `[B, N + L - 1]` ('valid').

    Example: `fft_convolve(audio, ir[tf.newaxis], delay_compensation=0)` is
    `scipy.signal.fftconvolve(audio, ir)[:, :N]` for each example.
    """
    owner = 'fft_convolve'
    _check_padding(owner, padding)
    audio = tf_float32(audio)
    impulse_response = tf_float32(impulse_response)
    if audio.shape.rank != 2:
        validation.fail(owner, 'audio.shape', '[batch, samples]', audio.shape)
    if impulse_response.shape.rank == 1:  # One IR for the whole batch.
        impulse_response = impulse_response[tf.newaxis, tf.newaxis, :]
    elif impulse_response.shape.rank == 2:
        impulse_response = impulse_response[:, tf.newaxis, :]
    if impulse_response.shape.rank != 3:
        validation.fail(
            owner,
            'impulse_response.shape',
            '[taps], [batch, taps] or [batch, frames, taps]',
            impulse_response.shape,
        )
    batch_size, ir_batch = audio.shape[0], impulse_response.shape[0]
    # A batch-1 IR is broadcast in the spectral product (one FFT, not B).
    if ir_batch != 1 and None not in (batch_size, ir_batch) and batch_size != ir_batch:
        validation.fail(
            owner,
            'impulse_response.shape',
            f'of batch {batch_size} (as the audio) or 1',
            impulse_response.shape,
        )

    audio_size = audio.shape[1]
    n_ir_frames, ir_size = impulse_response.shape[1:]
    if audio_size == 0:
        validation.fail(
            owner, 'audio.shape', '[batch, samples] with at least one sample', tuple(audio.shape)
        )
    if n_ir_frames == 0 or ir_size == 0:
        validation.fail(
            owner,
            'impulse_response.shape',
            '[taps], [batch, taps] or [batch, frames, taps] with at least one frame and one tap',
            tuple(impulse_response.shape),
        )
    frame_size, n_audio_frames = equal_frames(audio_size, n_ir_frames)
    if n_audio_frames != n_ir_frames:
        validation.fail(
            owner,
            'impulse_response.shape',
            f'[batch, frames, taps] with a number of frames that cuts the '
            f'{audio_size} audio samples into that many equal frames, e.g. a '
            f'divisor of {audio_size} ({frame_size}-sample frames give '
            f'{n_audio_frames})',
            impulse_response.shape,
        )
    # Non-overlapping frames: zero-pad the end, then reshape.
    padded = pad_axis(audio, (0, n_audio_frames * frame_size - audio_size), axis=1)
    audio_frames = tf.reshape(padded, [-1, n_audio_frames, frame_size])

    # Any size >= frame + IR - 1 gives the same linear convolution; 5-smooth
    # sizes are up to 25 % smaller than powers of 2 (e.g. 384 vs 512).
    fft_size = get_fft_size(frame_size, ir_size, power_of_2=False)
    audio_fft = tf.signal.rfft(audio_frames, [fft_size])
    ir_fft = tf.signal.rfft(impulse_response, [fft_size])
    frames_out = tf.signal.irfft(audio_fft * ir_fft, [fft_size])
    output = _overlap_add(frames_out, frame_size)
    return crop_and_compensate_delay(output, audio_size, ir_size, padding, delay_compensation)


def apply_window_to_impulse_response(
    impulse_response: tf.Tensor, window_size: int = 0, causal: bool = False
) -> tf.Tensor:
    """Windows a zero-phase impulse response and makes it causal.

    Args:
        impulse_response: `[..., L]` zero-phase IR (peak at index 0), or a
            causal one if `causal=True` (it is rotated to zero phase first).
        window_size: Hann window length; `<= 0` or `> L` means L.
        causal: See above.

    Returns:
        The causal IR. For `window_size < L` its length is `2 * half - 1`
        with `half = (window_size + 1) // 2` (W for odd W, W - 1 for even W)
        and its peak is at `half - 2`; for the full window it has length L and
        its peak at L / 2.

    Example: `apply_window_to_impulse_response(tf.signal.irfft(mags), 65)` -> 65 taps.
    """
    impulse_response = tf_float32(impulse_response)
    if causal:
        impulse_response = tf.signal.fftshift(impulse_response, axes=-1)
    ir_size = impulse_response.shape[-1]
    if window_size <= 0 or window_size > ir_size:
        window_size = ir_size
    window = tf.signal.hann_window(window_size, periodic=True)
    n_pad = ir_size - window_size
    if n_pad > 0:
        half = (window_size + 1) // 2
        window = tf.concat([window[half:], tf.zeros([n_pad]), window[:half]], 0)
        windowed = impulse_response * window
        # Python-slice semantics: a start past the end gives an empty piece.
        tail = min(ir_size - half + 2, ir_size)
        return tf.concat(
            [slice_axis(windowed, tail, axis=-1), slice_axis(windowed, 0, half + 1, axis=-1)],
            axis=-1,
        )
    # fftshift(ir * fftshift(window)) == fftshift(ir) * window: one rotation.
    return tf.signal.fftshift(impulse_response, axes=-1) * window


def frequency_impulse_response(magnitudes: tf.Tensor, window_size: int = 0) -> tf.Tensor:
    """Designs FIR filters by frequency sampling.

    Args:
        magnitudes: `[B, T, K]` or `[B, K]` linear gains at K >= 2 frequencies evenly
            spaced from 0 Hz to Nyquist (zero phase).
        window_size: See `apply_window_to_impulse_response`.

    Returns:
        Causal IRs, `[B, T, 2 (K - 1)]` (or `[B, 2 (K - 1)]`) with the full window,
        shorter with a smaller `window_size`.

    Raises:
        ValueError: for fewer than 2 bands (K = 1 would be a zero-sized FFT, which aborts the
            process), 0 frames, or a rank other than 2 or 3.

    Example: `frequency_impulse_response(tf.ones([1, 250, 65]))` -> `[1, 250, 128]`.
    """
    magnitudes = check_magnitudes('frequency_impulse_response', magnitudes)
    spectrum = tf.complex(magnitudes, tf.zeros_like(magnitudes))
    impulse_response = tf.signal.irfft(spectrum)
    return apply_window_to_impulse_response(impulse_response, window_size)


def sinc(x, threshold=1e-20):
    """Normalised sinc `sin(pi x) / (pi x)`, with |x| < threshold -> threshold.

    Example: `sinc([0., 0.5, 1.])` -> `[1., 0.637, 0.]` (about).
    """
    x = tf_float32(x)
    x = tf.where(tf.abs(x) < threshold, threshold * tf.ones_like(x), x)
    return tf.sin(np.pi * x) / (np.pi * x)


def sinc_impulse_response(cutoff_frequency, window_size=512, sample_rate=None, high_pass=False):
    """Windowed-sinc low-pass (or high-pass) FIR filters.

    Args:
        cutoff_frequency: `[B, T]` or `[B, T, 1]` time-varying cutoffs, `[B]` one per
            example, or a scalar for the whole batch; in Hz if `sample_rate` is given,
            else as a fraction of Nyquist in [0, 1].
        window_size: Filter length is `L = 2 * (window_size // 2) + 1` (odd: 65 taps for
            both 64 and 65).
        sample_rate: See above.
        high_pass: Return `delta - low_pass` instead.

    Returns:
        `[B, T, L]` (`[B, L]` for `[B]` cutoffs, `[L]` for a scalar) with unit DC gain
        (low-pass) or zero DC gain (high-pass).

    Example: `sinc_impulse_response(2000.0, 64, sample_rate=16000)` -> `[65]` taps.
    """
    cutoff = tf_float32(cutoff_frequency)
    if sample_rate is not None:
        cutoff = cutoff / (sample_rate / 2.0)
    if cutoff.shape.rank is None or cutoff.shape.rank < 3 or cutoff.shape[-1] != 1:
        cutoff = cutoff[..., tf.newaxis]
    half = window_size // 2
    taps = tf.range(-half, half + 1, dtype=tf.float32)
    impulse_response = cutoff * sinc(cutoff * taps)
    impulse_response *= tf.signal.hamming_window(2 * half + 1, periodic=True)
    impulse_response /= tf.reduce_sum(impulse_response, axis=-1, keepdims=True)
    if high_pass:
        delta = tf.one_hot(half, 2 * half + 1)
        impulse_response = delta - impulse_response
    return impulse_response


def frequency_filter(
    audio: tf.Tensor, magnitudes: tf.Tensor, window_size: int = 0, padding: Text = 'same'
) -> tf.Tensor:
    """Filters audio with time-varying FIRs designed from magnitudes.

    Args:
        audio: `[B, N]`.
        magnitudes: `[B, T, K]` (or `[B, K]`) linear gains at K >= 2 frequencies from 0 Hz
            to Nyquist; T must split N into equal frames; batch B (as the audio) or 1.
        window_size: See `apply_window_to_impulse_response`.
        padding: 'same' or 'valid'.

    Returns:
        Filtered `[B, N]` audio.

    Raises:
        ValueError: fewer than 2 bands, 0 frames, empty audio, or batches that differ.

    Example: `frequency_filter(noise, tf.ones([1, 250, 65]))` is the noise
    delayed by two samples (an all-pass design of 128 taps).
    """
    owner = 'frequency_filter'
    magnitudes = check_magnitudes(owner, magnitudes)
    audio = tf_float32(audio)
    validation.check_axes_match(
        owner,
        'magnitudes',
        magnitudes.shape,
        'audio',
        audio.shape,
        {0: 'batch'},
        hint='one filter series per example, or one for the whole batch',
    )
    impulse_response = frequency_impulse_response(magnitudes, window_size)
    return fft_convolve(audio, impulse_response, padding=padding)


def sinc_filter(
    audio: tf.Tensor,
    cutoff_frequency: tf.Tensor,
    window_size: int = 512,
    sample_rate: Optional[int] = None,
    padding: Text = 'same',
    high_pass: bool = False,
) -> tf.Tensor:
    """Filters audio with (time-varying) windowed-sinc low- or high-pass filters.

    See `sinc_impulse_response` for the cutoffs and `fft_convolve` for the padding: the
    output is `[B, N]` ('same', delayed by one sample) or `[B, N + L - 1]` ('valid'), with
    `L = 2 * (window_size // 2) + 1` taps.

    Example: `sinc_filter(audio, 4000.0, sample_rate=16000)` low-passes `[B, N]` audio at
    4 kHz with one filter for the whole batch.
    """
    impulse_response = sinc_impulse_response(cutoff_frequency, window_size, sample_rate, high_pass)
    return fft_convolve(audio, impulse_response, padding=padding)
