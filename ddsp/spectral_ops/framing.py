"""Framing: audio shapes, frame counts, padding, frames at exact (fractional) times, lengths.

Every frame-rate feature of `spectral_ops` (and CREPE pitch, `ddsp.crepe.pitch`) is cut from
the audio with the arithmetic here:

- `prepare_audio` / `prepare_audio_np`: the one place where feature functions read audio.
  Integer PCM is scaled by its full-scale range (`pcm_to_float`: int16 / 32768, int32 / 2^31,
  int8 / 128, (uint8 - 128) / 128), so an int16 file gives the loudness of the same file read
  as float. Audio that looks like `[n_samples, channels]` (at most 8 entries on the last axis
  and at least 16 times more on the first: `looks_channels_last`) is an error that says how to
  downmix, since reading it as `[batch, n_samples]` would give one feature per sample. Empty
  audio is an error. NaN and infinite samples are an error when the values are at hand:
  NumPy arrays and eager tensors (`check_finite`, one reduction); inside `tf.function` nothing
  is checked (the losses and the trainer see the NaN), so traced features cost nothing more.
- `get_framed_lengths` / `pad`: how many frames a padding gives and the zeros it adds.
- `analysis_hop`: the hop `sample_rate / frame_rate` as an exact fraction. Analysis features
  accept any pair of rates (44.1 kHz at 250 frames/s has a hop of 176.4 samples); where the hop
  is a whole number everything stays on whole samples.
- `frame_offsets`: where frame k starts when the hop is fractional. Frame k starts at exactly
  `k * hop` samples in the padded signal, so with 'center' padding it is centred at exactly
  `k / frame_rate` seconds; the frame count is the original library's, whose hop was the whole
  part of `sample_rate / frame_rate` (see `frame_count`).

Example:
    >>> analysis_hop(44100, 250)                      # Fraction(882, 5) = 176.4 samples
    >>> frame_count(176400, 512, 176, 'center')       # 1003 frames for 4 s
"""

import fractions

import numpy as np
import tensorflow as tf

from ddsp import core, validation

PADDINGS = ('valid', 'center', 'same')
_AUDIO_SHAPES = (
    '[n_samples], [batch, n_samples] or [batch, n_samples, 1] (merge extra '
    'leading dims into the batch, or pick one channel)'
)

# Integer PCM: (offset, full scale), so that float = (pcm - offset) / full scale is in [-1, 1).
PCM_FULL_SCALE = {
    'int8': (0, 2**7),
    'int16': (0, 2**15),
    'int32': (0, 2**31),
    'uint8': (2**7, 2**7),
}
_PCM_EXPECTED = (
    'float audio, or integer PCM of type int8, int16, int32 or uint8 (scaled by its full-scale '
    'range); convert other types yourself, e.g. audio.astype(np.float32) / full_scale'
)

# `[n, c]` with c <= MAX_CHANNELS and n >= CHANNELS_LAST_RATIO * c is taken for channels-last.
MAX_CHANNELS = 8
CHANNELS_LAST_RATIO = 16

_FINITE_WHY = (
    'free of NaN and infinite samples (each one spoils every frame that contains it: find '
    'where it came from, or replace it, e.g. with np.nan_to_num)'
)


# ------------------------------------------------------------------------------------------------
# Input checking.
# ------------------------------------------------------------------------------------------------
def check_padding(padding, owner=''):
    """`padding` if it is 'valid', 'center' or 'same'."""
    return validation.check_choice(owner, 'padding', padding, PADDINGS)


def pcm_to_float(audio, owner='', name='audio'):
    """Integer PCM as float32 in [-1, 1); anything else is returned as given.

    int16 is divided by 32768, int32 by 2^31, int8 by 128 and uint8 (offset binary) is
    `(x - 128) / 128`: the full-scale ranges of WAV files, so a full-scale int16 sine has the
    loudness of the same sine in float. Other integer types (int64, uint16, ...) and booleans
    are not audio formats and raise a ValueError; Python lists are read as numbers, not PCM.

    Args:
        audio: NumPy array, tensor or anything array-like.
        owner, name: who received the audio and its argument name, for the error message.

    Returns:
        float32 array or tensor (same kind as the input) for integer PCM, else `audio`.

    Example:
        >>> pcm_to_float(np.array([-32768, 0, 16384], np.int16))  # [-1.0, 0.0, 0.5]
    """
    if isinstance(audio, (tf.Tensor, tf.Variable)):
        dtype = audio.dtype
        if not (dtype.is_integer or dtype == tf.bool):
            return audio
        if dtype.name not in PCM_FULL_SCALE:
            validation.fail(owner, f'{name}.dtype', _PCM_EXPECTED, dtype.name)
        offset, scale = PCM_FULL_SCALE[dtype.name]
        return (tf.cast(audio, tf.float32) - float(offset)) * (1.0 / scale)
    if isinstance(audio, (np.ndarray, np.generic)) and audio.dtype.kind in 'iub':
        if audio.dtype.name not in PCM_FULL_SCALE:
            validation.fail(owner, f'{name}.dtype', _PCM_EXPECTED, audio.dtype.name)
        offset, scale = PCM_FULL_SCALE[audio.dtype.name]
        return (np.asarray(audio, np.float32) - np.float32(offset)) * np.float32(1.0 / scale)
    return audio


def check_one_frame(audio_shape, frame_size, padded, owner='', how_to_pad="padding='center'"):
    """Audio framed without padding must hold at least one whole frame.

    Shorter audio would give 0 frames: an empty spectrogram or loudness curve that fails far
    from its cause. A ValueError says so and names `how_to_pad`; unknown lengths pass.

    Args:
        audio_shape: static shape, samples last.
        frame_size: frame length in samples.
        padded: whether the caller pads ('center', 'same', `pad_end=True`): nothing to check.
        owner: the public function, for the message.
        how_to_pad: the argument that would pad, for the message.

    Example:
        >>> check_one_frame((1, 100), 512, False, 'stft', 'pad_end=True')  # ValueError
    """
    length = audio_shape[-1] if audio_shape else None
    if not padded and length is not None and length < frame_size:
        validation.fail(
            owner,
            'audio.shape',
            f'at least one frame long, {frame_size} samples, without padding (pass {how_to_pad} '
            'to zero-pad the end, or a smaller frame size)',
            tuple(audio_shape),
        )


def looks_channels_last(shape) -> bool:
    """Whether a 2-D shape reads as `[n_samples, channels]` rather than `[batch, n_samples]`.

    True when the last axis has at most `MAX_CHANNELS` (8) entries and the first is at least
    `CHANNELS_LAST_RATIO` (16) times longer, e.g. `(16000, 2)`: a batch of thousands of clips
    of 2 samples is not audio a frame-based feature can use, a stereo file is. Unknown sizes
    (None) never look channels-last.
    """
    if len(shape) != 2 or None in shape:
        return False
    first, last = shape
    return 1 <= last <= MAX_CHANNELS and first >= CHANNELS_LAST_RATIO * last


def _check_layout(shape, owner, name):
    """Rejects `[n_samples, channels]` audio (with how to fix it) and empty audio."""
    if looks_channels_last(shape):
        validation.fail(
            owner,
            f'{name}.shape',
            f'[n_samples] or [batch, n_samples], samples on the last axis; this looks like '
            f'[n_samples, channels] audio ({shape[1]} entries on the last axis, {shape[0]} on '
            f'the first): downmix it with {name}.mean(axis=1), take one channel with '
            f'{name}[:, 0], or transpose it to one clip per channel with {name}.T',
            shape,
        )
    if shape and shape[-1] == 0:
        validation.fail(
            owner, f'{name}.shape', 'non-empty: at least one sample on the last axis', shape
        )


def _describe_non_finite(values):
    """'3 non-finite samples (3 NaN, 0 infinite), the first at index (0, 12)'."""
    bad = ~np.isfinite(values)
    first = np.unravel_index(int(np.argmax(bad)), values.shape)
    n_bad, n_nan = int(bad.sum()), int(np.isnan(values).sum())
    return validation.Described(
        f'{n_bad} non-finite samples ({n_nan} NaN, {n_bad - n_nan} infinite), the first at '
        f'index {tuple(map(int, first))}'
    )


def check_finite(audio, owner='', name='audio', why=_FINITE_WHY):
    """Raises a ValueError naming how many samples are NaN or infinite, and the first one.

    For values at hand only: a NumPy array, or an eager tensor (one reduction, then NumPy
    for the message). A symbolic tensor (inside `tf.function`) is not checked and returns
    at once; checking there would cost a pass per step, and XLA drops assertions anyway.

    Args:
        audio: array or tensor.
        owner, name: who received it and the argument's name, for the message.
        why: the expectation in the message (what is needed and how to fix it).

    Returns:
        `audio`, unchanged.
    """
    if isinstance(audio, (tf.Tensor, tf.Variable)):
        if not tf.executing_eagerly() or not audio.dtype.is_floating:
            return audio
        if bool(tf.reduce_all(tf.math.is_finite(audio))):
            return audio
        values = audio.numpy()
    else:
        values = np.asarray(audio)
        if values.dtype.kind not in 'fc' or np.isfinite(values).all():
            return audio
    validation.fail(owner, name, why, _describe_non_finite(values))


def prepare_audio(audio, owner='', name='audio', why=_FINITE_WHY):
    """Audio for a feature: float32 `[n_samples]` or `[batch, n_samples]`, checked.

    Integer PCM is scaled to [-1, 1) (`pcm_to_float`), a trailing channel dim of size 1 is
    squeezed, and these are ValueErrors naming `owner`: other ranks, audio that looks like
    `[n_samples, channels]` (`looks_channels_last`; the message says how to downmix), empty
    audio, and (for NumPy arrays and eager tensors, not inside `tf.function`) NaN or infinite
    samples.

    Args:
        audio: `[n_samples]`, `[batch, n_samples]` or `[batch, n_samples, 1]`; float or
            integer PCM.
        owner: the function that received `audio`, for the error message.
        name: the argument's name, for the error message.
        why: what the NaN message says is expected (see `check_finite`).

    Returns:
        float32 tensor `[n_samples]` or `[batch, n_samples]`.
    """
    audio = core.tf_float32(pcm_to_float(audio, owner, name))
    rank = audio.shape.rank
    if rank is None:
        return audio  # Unknown rank while tracing: let the TF ops check it.
    if rank == 3 and audio.shape[-1] == 1:
        audio = tf.squeeze(audio, axis=-1)
    elif rank not in (1, 2):
        validation.fail(owner, f'{name}.shape', _AUDIO_SHAPES, tuple(audio.shape))
    _check_layout(validation.shape_tuple(audio.shape), owner, name)
    return check_finite(audio, owner, name, why)


def prepare_audio_np(audio, owner='', name='audio', why=_FINITE_WHY):
    """NumPy counterpart of `prepare_audio` (the same conversions and checks)."""
    audio = np.asarray(pcm_to_float(audio, owner, name), dtype=np.float32)
    if audio.ndim == 3 and audio.shape[-1] == 1:
        audio = audio[..., 0]
    elif audio.ndim not in (1, 2):
        validation.fail(owner, f'{name}.shape', _AUDIO_SHAPES, audio.shape)
    _check_layout(audio.shape, owner, name)
    return check_finite(audio, owner, name, why)


def hop_from_overlap(frame_size, overlap, owner=''):
    """`int(frame_size * (1 - overlap))`, at least one sample."""
    hop_size = int(frame_size * (1.0 - overlap))
    if hop_size < 1:
        validation.fail(
            owner,
            'overlap',
            f'in [0, 1 - 1/frame_size) so that the hop '
            f'int(frame_size * (1 - overlap)) is >= 1 (frame_size={frame_size})',
            overlap,
        )
    return hop_size


def analysis_hop(sample_rate, frame_rate, owner=''):
    """The exact hop `sample_rate / frame_rate` of an analysis feature, in samples.

    Any positive rates are accepted (a fractional hop places frames at fractional positions,
    see `frame_offsets`), as long as the hop is at least one sample. The original library's
    whole hop is `hop.numerator // hop.denominator` (176 for 44.1 kHz at 250 frames/s).

    Args:
        sample_rate: samples per second of the audio.
        frame_rate: frames per second of the feature.
        owner: the function that asks, for error messages.

    Returns:
        `fractions.Fraction`, e.g. 64 for 16000 / 250 and 882/5 for 44100 / 250 (rates that are
        not whole numbers are approximated to a denominator of at most 10^6).
    """
    sample_rate = validation.check_positive_number(owner, 'sample_rate', sample_rate)
    frame_rate = validation.check_positive_number(owner, 'frame_rate', frame_rate)
    hop = fractions.Fraction(sample_rate) / fractions.Fraction(frame_rate)
    hop = hop.limit_denominator(1_000_000)
    if hop < 1:
        validation.fail(
            owner,
            'frame_rate',
            f'at most sample_rate={sample_rate:g} (a hop of at least one sample)',
            frame_rate,
        )
    return hop


# ------------------------------------------------------------------------------------------------
# Frame counts and padding.
# ------------------------------------------------------------------------------------------------
def frame_count(length, frame_size, hop_size, padding):
    """Frames that framing `length` samples gives (see `get_framed_lengths`).

    `length` may be a Python int or an integer scalar tensor (unknown while tracing); the
    result is of the same kind. `hop_size` is a whole number of samples.
    """
    if padding == 'valid':
        n_frames = (length - frame_size) // hop_size + 1
        return max(0, n_frames) if isinstance(length, int) else tf.maximum(0, n_frames)
    if padding == 'center':
        return length // hop_size + 1
    return -(-length // hop_size)  # 'same': ceil without float rounding.


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
    check_padding(padding, 'get_framed_lengths')
    input_length, frame_size = int(input_length), int(frame_size)
    hop_size = validation.check_int('get_framed_lengths', 'hop_size', int(hop_size))
    n_frames = frame_count(input_length, frame_size, hop_size, padding)
    if padding == 'valid':
        return n_frames, input_length
    if padding == 'center':
        return n_frames, input_length + frame_size
    return n_frames, (n_frames - 1) * hop_size + frame_size


def pad_amounts(length, frame_size, hop_size, padding):
    """(before, after) zeros for one axis; `length` may be a Python int or a scalar tensor."""
    if padding == 'valid':
        return 0, 0
    if padding == 'center':
        # F // 2 before, as librosa centres frames; F - F // 2 after, so the padded length is
        # L + F and the frame count matches get_framed_lengths for odd F too.
        return frame_size // 2, frame_size - frame_size // 2
    n_frames = -(-length // hop_size)
    return 0, (n_frames - 1) * hop_size + frame_size - length


def _check_frame_hop(frame_size, hop_size, owner):
    validation.check_int(owner, 'hop_size', hop_size)
    if hop_size > frame_size:
        validation.fail(
            owner,
            'hop_size',
            f'<= frame_size={frame_size} (a longer hop would skip samples between frames)',
            hop_size,
        )


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
    check_padding(padding, 'pad')
    frame_size, hop_size = int(frame_size), int(hop_size)
    _check_frame_hop(frame_size, hop_size, 'pad')
    x = tf.convert_to_tensor(x)
    if padding == 'valid':
        return x
    rank = x.shape.rank
    if rank is None:
        validation.fail('pad', 'x.shape', 'of known rank (set its shape before padding)', None)
    if rank == 1:
        axis = 0
    axis = axis % rank
    length = x.shape[axis]
    if length is None:
        length = tf.shape(x)[axis]
    before, after = pad_amounts(length, frame_size, hop_size, padding)
    paddings = [[0, 0]] * rank
    paddings[axis] = [before, after]
    return tf.pad(x, paddings, mode=mode, constant_values=constant_values)


def pad_np(x, frame_size, hop_size, padding, axis=-1):
    """NumPy zero padding with the same arithmetic as `pad`."""
    check_padding(padding, 'pad')
    _check_frame_hop(int(frame_size), int(hop_size), 'pad')
    widths = [(0, 0)] * x.ndim
    widths[axis] = pad_amounts(x.shape[axis], int(frame_size), int(hop_size), padding)
    return np.pad(x, widths)


# ------------------------------------------------------------------------------------------------
# Frames at fractional positions.
# ------------------------------------------------------------------------------------------------
def frame_offsets(n_frames, hop):
    """Where frames start when the hop is a fraction: `k * hop = start_k + fraction_k`.

    Computed in integers (`k * numerator` divided by the denominator), so positions never
    drift however many frames there are.

    Args:
        n_frames: Python int or int scalar tensor.
        hop: `fractions.Fraction` (from `analysis_hop`).

    Returns:
        `(start, fraction)`: int64 tensor `[n_frames]` (the whole part, floor(k * hop)) and
        float64 tensor `[n_frames]` in [0, 1).
    """
    scaled = tf.range(tf.cast(n_frames, tf.int64), dtype=tf.int64) * hop.numerator
    start = scaled // hop.denominator
    fraction = tf.cast(scaled % hop.denominator, tf.float64) / hop.denominator
    return start, fraction


def fractional_padding(length, frame_size, hop, n_frames, padding, extra=0):
    """(before, after) zeros so that `n_frames` frames at multiples of `hop` fit.

    Frame k reads `frame_size + extra` samples from floor(k * hop) of the padded signal.
    'center' pads frame_size // 2 before (so frame k is centred on k * hop of the input);
    the end gets as many zeros as the last frame needs (at least those of `pad_amounts`
    with the whole hop). `length` and `n_frames` may be ints or scalar tensors.
    """
    before = frame_size // 2 if padding == 'center' else 0
    whole_hop = hop.numerator // hop.denominator
    static = isinstance(length, int) and isinstance(n_frames, int)
    if not static:  # int64: (n_frames - 1) * numerator can pass 2^31.
        length, n_frames = tf.cast(length, tf.int64), tf.cast(n_frames, tf.int64)
    _, after = pad_amounts(length, frame_size, whole_hop, padding)
    last_start = (n_frames - 1) * hop.numerator // hop.denominator
    needed = last_start + frame_size + extra - (length + before)
    if static:
        return before, max(after, needed, 0)
    return before, tf.maximum(tf.maximum(tf.cast(after, tf.int64), needed), 0)


def gather_frames(audio, start, frame_length):
    """`audio[..., start_k : start_k + frame_length]` for every k: `[..., n_frames, length]`."""
    index = start[:, tf.newaxis] + tf.range(frame_length, dtype=start.dtype)
    return tf.gather(audio, index, axis=-1)


# ------------------------------------------------------------------------------------------------
# Lengths.
# ------------------------------------------------------------------------------------------------
def pad_or_trim_to_expected_length(
    vector, expected_len, pad_value=0, len_tolerance=20, use_tf=False
):
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

    owner, name = 'pad_or_trim_to_expected_length', 'vector.shape[-1]'
    expected = (
        f'within len_tolerance={len_tolerance} of expected_len={expected_len} (a bigger '
        'gap means features and audio disagree: check the sample rate, frame rate and '
        'padding that produced them, or raise len_tolerance)'
    )

    if not use_tf:
        vector = np.asarray(vector)
        length = vector.shape[-1]
        if abs(length - expected_len) > len_tolerance:
            validation.fail(owner, name, expected, length)
        if length < expected_len:
            widths = [(0, 0)] * (vector.ndim - 1) + [(0, expected_len - length)]
            vector = np.pad(vector, widths, constant_values=pad_value)
        return vector[..., :expected_len]

    vector = tf.convert_to_tensor(vector)
    length = vector.shape[-1]
    if length is not None:
        if abs(length - expected_len) > len_tolerance:
            validation.fail(owner, name, expected, length)
        n_pad = max(expected_len - length, 0)
    else:
        length = tf.shape(vector)[-1]
        tf.debugging.assert_less_equal(
            tf.abs(length - expected_len),
            len_tolerance,
            message=validation.message(owner, name, expected, 'see the values below'),
        )
        n_pad = tf.maximum(expected_len - length, 0)
    paddings = tf.concat(
        [tf.zeros([tf.rank(vector) - 1, 2], tf.int32), tf.reshape(tf.stack([0, n_pad]), [1, 2])],
        axis=0,
    )
    vector = tf.pad(vector, paddings, constant_values=tf.cast(pad_value, vector.dtype))
    return vector[..., :expected_len]
