"""Spectrograms: STFT, magnitude (with its fast gradient), mel, log, MFCC.

Frames are cut every `int(frame_size * (1 - overlap))` samples with a periodic Hann window;
with `pad_end` the end is zero-padded so that there are ceil(n_samples / hop) frames. Audio is
float32 `[batch, n_samples]` (or `[n_samples]`, or `[batch, n_samples, 1]`); results are
`[batch, n_frames, bins]`, without the batch dimension when the input had none.

The mel filterbank is computed once per set of Python arguments and cached as a NumPy array,
which stays valid across graphs. Every path is pure TF: eager, `tf.function` and XLA.

Sample rate: the mel functions (`compute_mel`, `compute_logmel`, `compute_mfcc`) assume
**16 kHz audio unless `sample_rate` is given**; audio at another rate read as 16 kHz puts
every band at the wrong frequency (44.1 kHz audio: a factor 2.76). `stft` and `compute_mag`
need no rate: bin k is at `k * sample_rate / fft_size` Hz of whatever rate the audio has.

Audio is read by `framing.prepare_audio`: integer PCM is scaled to [-1, 1), `[n_samples,
channels]` audio and empty audio are errors, and so are NaN and infinite samples of NumPy
arrays and eager tensors (not inside `tf.function`). With `pad_end=False`, audio shorter
than one frame (which would give 0 frames) is an error too.

Example:
    >>> compute_mag(tf.zeros([1, 4096]), size=1024).shape      # [1, 16, 513]
    >>> compute_logmel(tf.ones([1, 4096])).shape                # [1, 8, 64]
"""

import functools

import gin
import numpy as np
import tensorflow as tf

from ddsp import core
from ddsp.spectral_ops.framing import (
    check_one_frame,
    hop_from_overlap,
    pad_np,
    prepare_audio,
    prepare_audio_np,
)

_GIN_MODULE = 'ddsp.spectral_ops'  # Gin names stay `spectral_ops.compute_mag` etc.


def stft(audio, frame_size=2048, overlap=0.75, pad_end=True):
    """Short-time Fourier transform with a periodic Hann window.

    The FFT length is the smallest power of 2 >= `frame_size`.

    Args:
        audio: float `[batch, n_samples]`, `[n_samples]` or `[batch, n_samples, 1]`, or
            integer PCM; any sample rate (bin k is at k * sample_rate / fft_size Hz).
        frame_size: window length in samples.
        overlap: fraction of a frame shared with the next; hop = int(frame_size * (1 - overlap)).
        pad_end: zero-pad the end so that there are ceil(n_samples / hop) frames.

    Returns:
        complex64 `[batch, n_frames, fft_size // 2 + 1]` (no batch dim for 1-D input).

    Raises:
        ValueError: see the module doc (bad shapes, empty, NaN, shorter than a frame
            without `pad_end`).

    Example:
        >>> stft(tf.zeros([2, 16000]), frame_size=512).shape  # [2, 125, 257]
    """
    audio = prepare_audio(audio, 'stft')
    hop_size = hop_from_overlap(frame_size, overlap, 'stft')
    check_one_frame(audio.shape, int(frame_size), pad_end, 'stft', 'pad_end=True')
    return tf.signal.stft(
        audio, frame_length=int(frame_size), frame_step=hop_size, fft_length=None, pad_end=pad_end
    )


def stft_np(audio, frame_size=2048, overlap=0.75, pad_end=True):
    """NumPy/librosa STFT matching `stft` (periodic Hann, no centring).

    Args:
        audio: float array `[batch, n_samples]` or `[n_samples]`, or integer PCM; any rate.
        frame_size: window and FFT length in samples.
        overlap: fraction of overlap between frames; hop = int(frame_size * (1 - overlap)).
        pad_end: zero-pad the end as `pad(..., padding='same')` does.

    Returns:
        complex64 array `[batch, n_frames, frame_size // 2 + 1]` (no batch dim for 1-D input).

    Example:
        >>> stft_np(np.zeros([2, 16000], np.float32), frame_size=512).shape  # (2, 125, 257)
    """
    import librosa  # Lazy: librosa is slow to import.

    audio = prepare_audio_np(audio, 'stft_np')
    hop_size = hop_from_overlap(frame_size, overlap, 'stft_np')
    check_one_frame(audio.shape, int(frame_size), pad_end, 'stft_np', 'pad_end=True')
    if pad_end:
        audio = pad_np(audio, frame_size, hop_size, 'same', axis=-1)
    spec = librosa.stft(audio, n_fft=int(frame_size), hop_length=hop_size, center=False)
    # librosa puts frequency before time: [..., bins, frames] -> [..., frames, bins].
    return np.swapaxes(spec, -1, -2)


@gin.register(module=_GIN_MODULE)
def compute_mag(audio, size=2048, overlap=0.75, pad_end=True):
    """Magnitude spectrogram `|stft(audio)|`.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM; any sample rate
            (bin k is at k * sample_rate / fft_size Hz).
        size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).

    Returns:
        float32 `[batch, n_frames, fft_size // 2 + 1]`, linear magnitude.

    Raises:
        ValueError: `[n_samples, channels]` audio (downmix first), empty audio, NaN or
            infinite samples (NumPy or eager input), audio shorter than `size` with
            `pad_end=False`.

    Example:
        >>> compute_mag(tf.zeros([1, 4096]), size=1024).shape  # [1, 16, 513]
    """
    return magnitude_of_prepared(prepare_audio(audio, 'compute_mag'), size, overlap, pad_end)


def magnitude_of_prepared(audio, size=2048, overlap=0.75, pad_end=True, owner='compute_mag'):
    """`compute_mag` of audio that `framing.prepare_audio` has already read and checked.

    For callers that take several spectrograms of one signal (`losses.SpectralLoss`): the
    audio is read, and its values checked, once instead of once per FFT size.
    """
    hop_size = hop_from_overlap(size, overlap, owner)
    check_one_frame(audio.shape, int(size), pad_end, owner, 'pad_end=True')
    return _stft_magnitude(audio, int(size), hop_size, pad_end)


def _stft_magnitude(audio, frame_size, hop_size, pad_end):
    """`|stft(audio)|` with a hand-written gradient (the same derivative).

    Autodiff of `tf.signal.stft` goes through a generic RFFT gradient (an
    inverse FFT plus correction terms built with tiles) and a gather-based
    framing gradient. For a real signal the chain collapses to: scale each
    bin's gradient by spectrum / magnitude (0 where the magnitude is 0, as
    `tf.abs`'s gradient does), halve the interior bins, inverse-FFT, multiply
    by the window and overlap-add. That is about twice as fast, and the
    spectral loss spends most of its time here.
    """
    fft_size = 1 << max(0, (frame_size - 1).bit_length())
    window = tf.signal.hann_window(frame_size, periodic=True)
    # Interior bins stand for two conjugate bins of the full spectrum.
    bin_weights = np.full(fft_size // 2 + 1, 0.5, np.float32)
    bin_weights[[0, -1]] = 1.0

    @tf.custom_gradient
    def magnitude(x):
        frames = tf.signal.frame(x, frame_size, hop_size, pad_end=pad_end)
        spectrum = tf.signal.rfft(frames * window, [fft_size])
        mag = tf.abs(spectrum)

        def grad(d_mag):
            scale = tf.math.divide_no_nan(d_mag, mag) * bin_weights
            d_frames = tf.signal.irfft(spectrum * tf.complex(scale, 0.0), [fft_size])
            d_frames = d_frames[..., :frame_size] * (float(fft_size) * window)
            d_x = tf.signal.overlap_and_add(d_frames, hop_size)
            n, covered = tf.shape(x)[-1], tf.shape(d_x)[-1]
            d_x = tf.pad(d_x, [[0, 0]] * (x.shape.rank - 1) + [[0, tf.maximum(n - covered, 0)]])
            return d_x[..., :n]

        return mag, grad

    return magnitude(audio)


@functools.lru_cache(maxsize=64)
def _mel_weight_matrix(bins, n_spectrogram_bins, sample_rate, lo_hz, hi_hz):
    """Cached `[n_spectrogram_bins, bins]` HTK mel matrix as a read-only NumPy array."""
    # init_scope builds the matrix eagerly even when called while tracing, so the cached value
    # is a plain array that any later graph can embed as a constant.
    with tf.init_scope():
        matrix = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=bins,
            num_spectrogram_bins=n_spectrogram_bins,
            sample_rate=sample_rate,
            lower_edge_hertz=lo_hz,
            upper_edge_hertz=hi_hz,
        ).numpy()
    matrix.setflags(write=False)
    return matrix


@gin.register(module=_GIN_MODULE)
def compute_mel(
    audio,
    lo_hz=0.0,
    hi_hz=8000.0,
    bins=64,
    fft_size=2048,
    overlap=0.75,
    pad_end=True,
    sample_rate=16000,
):
    """Mel-scaled magnitude (not power) spectrogram, HTK mel scale.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM, at
            `sample_rate` (16 kHz unless given).
        lo_hz: lower edge of the lowest mel band, Hz.
        hi_hz: upper edge of the highest mel band, Hz (<= sample_rate / 2).
        bins: number of mel bands.
        fft_size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).
        sample_rate: audio sample rate, Hz. **Audio is assumed to be at 16 kHz unless this is
            given**: the bands are placed for this rate.

    Returns:
        float32 `[batch, n_frames, bins]`.

    Example:
        >>> compute_mel(tf.zeros([1, 4096]), bins=40).shape  # [1, 8, 40]
    """
    mag = compute_mag(audio, size=fft_size, overlap=overlap, pad_end=pad_end)
    matrix = _mel_weight_matrix(
        int(bins), int(mag.shape[-1]), float(sample_rate), float(lo_hz), float(hi_hz)
    )
    return tf.tensordot(mag, tf.constant(matrix), axes=1)


@gin.register(module=_GIN_MODULE)
def compute_logmag(audio, size=2048, overlap=0.75, pad_end=True):
    """Natural log of the magnitude spectrogram (`core.safe_log`, eps 1e-5).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM; any sample rate.
        size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).

    Returns:
        float32 `[batch, n_frames, fft_size // 2 + 1]`.

    Example:
        >>> compute_logmag(tf.ones([1, 4096]), size=1024).shape  # [1, 16, 513]
    """
    return core.safe_log(compute_mag(audio, size, overlap, pad_end))


@gin.register(module=_GIN_MODULE)
def compute_logmel(
    audio,
    lo_hz=80.0,
    hi_hz=7600.0,
    bins=64,
    fft_size=2048,
    overlap=0.75,
    pad_end=True,
    sample_rate=16000,
):
    """Natural log of the mel magnitude spectrogram (`core.safe_log`).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM, at
            `sample_rate` (16 kHz unless given).
        lo_hz: lower edge of the lowest mel band, Hz.
        hi_hz: upper edge of the highest mel band, Hz.
        bins: number of mel bands.
        fft_size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).
        sample_rate: audio sample rate, Hz. **Audio is assumed to be at 16 kHz unless this is
            given**: the bands are placed for this rate.

    Returns:
        float32 `[batch, n_frames, bins]`.

    Example:
        >>> compute_logmel(tf.ones([1, 4096])).shape  # [1, 8, 64]
    """
    mel = compute_mel(audio, lo_hz, hi_hz, bins, fft_size, overlap, pad_end, sample_rate)
    return core.safe_log(mel)


@gin.register(module=_GIN_MODULE)
def compute_mfcc(
    audio,
    lo_hz=20.0,
    hi_hz=8000.0,
    fft_size=1024,
    mel_bins=128,
    mfcc_bins=13,
    overlap=0.75,
    pad_end=True,
    sample_rate=16000,
):
    """Mel-frequency cepstral coefficients of the log-mel magnitude spectrogram.

    Uses `tf.signal.mfccs_from_log_mel_spectrograms`: a DCT-II scaled by sqrt(2 / mel_bins)
    for every coefficient (so coefficient 0 is sqrt(2) times the orthonormal DCT's).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM, at
            `sample_rate` (16 kHz unless given).
        lo_hz: lower edge of the lowest mel band, Hz.
        hi_hz: upper edge of the highest mel band, Hz.
        fft_size: frame size in samples.
        mel_bins: number of mel bands.
        mfcc_bins: number of coefficients kept (the lowest ones).
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).
        sample_rate: audio sample rate, Hz. **Audio is assumed to be at 16 kHz unless this is
            given**: the bands are placed for this rate.

    Returns:
        float32 `[batch, n_frames, mfcc_bins]`.

    Example:
        >>> compute_mfcc(tf.ones([1, 4096])).shape  # [1, 16, 13]
    """
    logmel = compute_logmel(
        audio,
        lo_hz=lo_hz,
        hi_hz=hi_hz,
        bins=mel_bins,
        fft_size=fft_size,
        overlap=overlap,
        pad_end=pad_end,
        sample_rate=sample_rate,
    )
    mfccs = tf.signal.mfccs_from_log_mel_spectrograms(logmel)
    return mfccs[..., :mfcc_bins]
