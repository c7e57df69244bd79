"""Frame energy and loudness: RMS, power in dB and A-weighted loudness, at any frame rate.

`compute_rms_energy`, `compute_power` and `compute_loudness` take any sample rate and frame
rate. When the hop `sample_rate / frame_rate` is a whole number of samples (16 kHz at 250
frames/s: 64) frames are cut every hop samples. When it is not (44.1 kHz at 250 frames/s:
176.4), frame k is placed at exactly `k * sample_rate / frame_rate` samples, so that with
'center' padding it is centred at exactly k / frame_rate seconds (the original library rounded
the hop down to 176 samples, and its frames drifted by 0.23 %, one frame every 1.7 s):

- loudness: the periodic Hann window is evaluated at the fractional offsets of the samples it
  covers, w(m + d) = 1/2 - 1/2 cos(2 pi (m + d) / n_fft) for the n_fft samples from
  ceil(k * hop), d = ceil(k * hop) - k * hop; at d = 0 this is the usual window.
- RMS: a rectangular frame starting at a fractional sample s = i + f weighs its samples
  (1 - f, 1, ..., 1, f) / frame_size; its mean square is the linear interpolation between the
  whole-sample frames at i and i + 1, and its weights are centred at exactly s + (F - 1) / 2.

The frame count is the original library's (`get_framed_lengths` with the whole hop
floor(sample_rate / frame_rate)), so shapes do not change; frames that reach past the end of
the padded audio read zeros there.

Sample rate: **audio is assumed to be at 16 kHz unless `sample_rate` is given.** At another
rate the A-weighting is applied at the wrong frequencies and the frames are placed at the
wrong times (44.1 kHz audio read as 16 kHz: 2.76 times too many frames, each weighted as if
its content were 2.76 times lower).

Audio is read by `framing.prepare_audio`: integer PCM (int16, int32, int8, uint8) is scaled
by its full-scale range (an int16 array was 90 dB too loud before), `[n_samples, channels]`
audio is an error saying how to downmix, empty audio is an error (it gave one frame of
-80 dB), and so are NaN and infinite samples of NumPy arrays and eager tensors. Inside
`tf.function` values are not checked: a NaN sample gives NaN in the frames that contain it.

Example:
    >>> compute_loudness(tf.zeros([1, 64000])).shape                               # [1, 1001]
    >>> compute_loudness(tf.zeros([1, 176400]), sample_rate=44100).shape          # [1, 1003]
"""

import functools

import gin
import numpy as np
import tensorflow as tf

from ddsp import core, validation
from ddsp.spectral_ops import framing

DB_RANGE = core.DB_RANGE  # dB (80.0).

# IEC 61672-1 A-weighting pole frequencies (Hz) and the gain that makes A(1 kHz) = 0 dB.
_A_WEIGHT_POLES_HZ = (20.598997, 107.65265, 737.86223, 12194.217)
_A_WEIGHT_GAIN_DB = 2.0


# ------------------------------------------------------------------------------------------------
# Frames at the exact analysis hop.
# ------------------------------------------------------------------------------------------------
def _fractional_frames(audio, frame_size, hop, padding, owner):
    """Pads `audio` for frames at multiples of a fractional `hop` (frame_size + 1 samples each).

    Returns:
        `(padded audio [..., n], start int64 [n_frames], fraction float64 [n_frames])`: frame k
        begins at padded sample start_k + fraction_k.
    """
    whole_hop = hop.numerator // hop.denominator
    framing._check_frame_hop(frame_size, whole_hop, owner)
    length = audio.shape[-1]
    if length is None:
        length = tf.shape(audio)[-1]
    n_frames = framing.frame_count(length, frame_size, whole_hop, padding)
    before, after = framing.fractional_padding(length, frame_size, hop, n_frames, padding, extra=1)
    rank = audio.shape.rank
    padded = tf.pad(audio, [[0, 0]] * (rank - 1) + [[before, after]])
    start, fraction = framing.frame_offsets(n_frames, hop)
    return padded, start, fraction


def _hann_frames(audio, frame_size, hop, padding, owner):
    """Frames at multiples of a fractional hop times the Hann window placed there exactly.

    Returns:
        float32 `[..., n_frames, frame_size]`, ready for an FFT.
    """
    padded, start, fraction = _fractional_frames(audio, frame_size, hop, padding, owner)
    shifted = fraction > 0
    first = start + tf.cast(shifted, tf.int64)  # ceil(k * hop).
    offset = tf.where(shifted, 1.0 - fraction, tf.zeros_like(fraction))
    phase = (offset[:, tf.newaxis] + tf.range(frame_size, dtype=tf.float64)) / frame_size
    window = tf.cast(0.5 - 0.5 * tf.cos(2.0 * np.pi * phase), tf.float32)
    return framing.gather_frames(padded, first, frame_size) * window


# ------------------------------------------------------------------------------------------------
# RMS and power.
# ------------------------------------------------------------------------------------------------
def compute_rms_energy(audio, sample_rate=16000, frame_rate=250, frame_size=512, padding='center'):
    """Root-mean-square amplitude of each frame (rectangular window).

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM, at `sample_rate`.
        sample_rate: audio sample rate, Hz; **16 kHz unless given**.
        frame_rate: frames per second, any (see the module doc for fractional hops).
        frame_size: frame length in samples.
        padding: 'center', 'same' or 'valid' (see `get_framed_lengths`).

    Returns:
        float32 `[batch, n_frames]` (or `[n_frames]`), linear amplitude; n_frames as
        `get_framed_lengths(n_samples, frame_size, sample_rate // frame_rate, padding)`.

    Example:
        >>> compute_rms_energy(tf.ones([1, 16000])).shape                 # [1, 251]
        >>> compute_rms_energy(tf.ones([1, 44100]), 44100).shape          # [1, 251]
    """
    owner = 'compute_rms_energy'
    audio = framing.prepare_audio(audio, owner)
    framing.check_padding(padding, owner)
    frame_size = validation.check_int(owner, 'frame_size', frame_size)
    hop = framing.analysis_hop(sample_rate, frame_rate, owner)
    framing.check_one_frame(audio.shape, frame_size, padding != 'valid', owner)
    if hop.denominator == 1:
        hop_size = int(hop)
        audio = framing.pad(audio, frame_size, hop_size, padding=padding, axis=-1)
        frames = tf.signal.frame(audio, frame_size, hop_size, pad_end=False)
        return tf.sqrt(tf.reduce_mean(tf.square(frames), axis=-1))
    padded, start, fraction = _fractional_frames(audio, frame_size, hop, padding, owner)
    squares = tf.square(framing.gather_frames(padded, start, frame_size + 1))
    fraction = tf.cast(fraction, tf.float32)
    total = (
        tf.reduce_sum(squares[..., 1:-1], axis=-1)
        + (1.0 - fraction) * squares[..., 0]
        + fraction * squares[..., -1]
    )
    return tf.sqrt(total / frame_size)


def compute_power(
    audio,
    sample_rate=16000,
    frame_rate=250,
    frame_size=512,
    ref_db=0.0,
    range_db=DB_RANGE,
    padding='center',
):
    """Frame power in dB: `amplitude_to_db(compute_rms_energy(audio))`, floored at -range_db.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM, at `sample_rate`.
        sample_rate: audio sample rate, Hz; **16 kHz unless given**.
        frame_rate: frames per second, any (see `compute_rms_energy`).
        frame_size: frame length in samples.
        ref_db: dB subtracted from the result (0 dB = RMS amplitude 1).
        range_db: the floor is -range_db.
        padding: 'center', 'same' or 'valid'.

    Returns:
        float32 `[batch, n_frames]` (or `[n_frames]`), dB.

    Example:
        >>> compute_power(tf.zeros([1, 16000]))  # all -80.0, shape [1, 251]
    """
    framing.analysis_hop(sample_rate, frame_rate, 'compute_power')  # Errors name this function.
    audio = framing.prepare_audio(audio, 'compute_power')
    rms = compute_rms_energy(audio, sample_rate, frame_rate, frame_size, padding)
    return core.amplitude_to_db(rms, ref_db=ref_db, range_db=range_db, use_tf=True)


# ------------------------------------------------------------------------------------------------
# A-weighted loudness.
# ------------------------------------------------------------------------------------------------
def _a_weighting_db(frequencies, min_db=-80.0):
    """IEC 61672 A-weighting gain in dB at `frequencies` (Hz), clipped below at `min_db`.

    A(f) = 20 log10(R_A(f)) + 2.0 with
    R_A(f) = f4^2 f^4 / ((f^2 + f1^2) sqrt((f^2 + f2^2)(f^2 + f3^2)) (f^2 + f4^2)).
    The curve tends to -inf at DC; `min_db=None` keeps that, a number clips like librosa does.
    """
    f_sq = np.square(np.asarray(frequencies, dtype=np.float64))
    p1, p2, p3, p4 = (p**2 for p in _A_WEIGHT_POLES_HZ)
    # Sum of logs rather than the ratio itself, to keep f^8-sized terms out of the arithmetic.
    with np.errstate(divide='ignore'):
        log_ra = (
            np.log10(p4)
            + 2.0 * np.log10(f_sq)
            - np.log10(f_sq + p1)
            - 0.5 * np.log10(f_sq + p2)
            - 0.5 * np.log10(f_sq + p3)
            - np.log10(f_sq + p4)
        )
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


@gin.register(module='ddsp.spectral_ops')
def compute_loudness(
    audio,
    sample_rate=16000,
    frame_rate=250,
    n_fft=512,
    range_db=DB_RANGE,
    ref_db=0.0,
    use_tf=True,
    padding='center',
):
    """A-weighted loudness in dB: mean over bins of A-weighted |STFT|^2, then 10 log10.

    Steps: pad for framing (centre: n_fft // 2 before); periodic-Hann STFT with frame and FFT
    length n_fft, a frame every sample_rate / frame_rate samples (placed exactly when that is
    fractional, see the module doc); power |S|^2 times the linear A-weighting (librosa's curve,
    -80 dB floor, so DC is weighted 1e-8); mean over frequency bins in the linear domain;
    `power_to_db` with `ref_db` and an absolute floor at -range_db.

    Args:
        audio: float `[batch, n_samples]` or `[n_samples]`, or integer PCM, at `sample_rate`.
        sample_rate: audio sample rate, Hz; **16 kHz unless given**.
        frame_rate: frames per second, any.
        n_fft: frame and FFT length in samples.
        range_db: the floor is -range_db.
        ref_db: dB subtracted from the result (0 dB = mean weighted bin power of 1).
        use_tf: TensorFlow path (True) or NumPy/librosa path returning NumPy arrays (False).
        padding: 'center', 'same' or 'valid' (see `get_framed_lengths`).

    Returns:
        float32 `[batch, n_frames]` (or `[n_frames]`), dB, n_frames as
        `get_framed_lengths(n_samples, n_fft, sample_rate // frame_rate, padding)`: 4 s at
        16 kHz and 250 frames/s -> 1001; at 44.1 kHz -> 1003.

    Example:
        >>> compute_loudness(tf.zeros([1, 64000])).shape  # [1, 1001], all -80.0
    """
    owner = 'compute_loudness'
    framing.check_padding(padding, owner)
    n_fft = validation.check_int(owner, 'n_fft', n_fft)
    hop = framing.analysis_hop(sample_rate, frame_rate, owner)
    weights = _loudness_weights(float(sample_rate), n_fft)

    if not use_tf:
        audio = framing.prepare_audio_np(audio, owner)
        framing.check_one_frame(audio.shape, n_fft, padding != 'valid', owner)
        if hop.denominator == 1:
            import librosa  # Lazy: librosa is slow to import.

            audio = framing.pad_np(audio, n_fft, int(hop), padding, axis=-1)
            spec = np.swapaxes(
                librosa.stft(audio, n_fft=n_fft, hop_length=int(hop), center=False), -1, -2
            )
        else:
            frames = _hann_frames(tf.constant(audio), n_fft, hop, padding, owner).numpy()
            spec = np.fft.rfft(frames, n=n_fft, axis=-1)
        mean_power = np.mean(np.abs(spec) ** 2 * weights, axis=-1)
        return np.asarray(
            core.power_to_db(mean_power, ref_db=ref_db, range_db=range_db, use_tf=False),
            dtype=np.float32,
        )

    audio = framing.prepare_audio(audio, owner)
    framing.check_one_frame(audio.shape, n_fft, padding != 'valid', owner)
    if hop.denominator == 1:
        audio = framing.pad(audio, n_fft, int(hop), padding=padding, axis=-1)
        # Hop and FFT length are passed directly (not through `stft`'s overlap fraction) so the
        # hop is exact and the bins always match the n_fft // 2 + 1 weights.
        spec = tf.signal.stft(
            audio, frame_length=n_fft, frame_step=int(hop), fft_length=n_fft, pad_end=False
        )
    else:
        spec = tf.signal.rfft(_hann_frames(audio, n_fft, hop, padding, owner), [n_fft])
    power = tf.square(tf.abs(spec)) * tf.constant(weights)
    mean_power = tf.reduce_mean(power, axis=-1)
    return core.power_to_db(mean_power, ref_db=ref_db, range_db=range_db, use_tf=True)
