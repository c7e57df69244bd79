"""Note masks and note-level statistics of frame features (functions, not layers).

A note is a region of frames with one constant quantized pitch (or between two onsets). Its
mask is `[B, T, R]`, 1 where frame t belongs to region r; the statistics pool frame features
`[B, T, C]` over each note. `ddsp.training.nn` re-exports every function here
(`nn.get_note_mask`, `nn.pool_over_notes`, ...).

Example:
    >>> mask = get_note_mask(q_pitch)  # q_pitch [B, T] -> [B, T, 100]
    >>> mean, std = pool_over_notes(loudness, mask)  # Both [B, T, C], constant within notes.
"""

import tensorflow as tf

from ddsp import core


def _squeeze_channel(x):
    x = core.tf_float32(x)
    return x[..., 0] if len(x.shape) == 3 else x


def _regions_to_mask(region_index, q_pitch, max_regions, note_on_only):
    mask = tf.one_hot(tf.cast(region_index, tf.int32), max_regions)  # Beyond max: all zero.
    if note_on_only:
        mask = mask * tf.cast(q_pitch > 0, tf.float32)[..., tf.newaxis]
    return mask


def get_note_mask(q_pitch, max_regions: int = 100, note_on_only: bool = True):
    """One mask per region of constant (quantized) pitch.

    Region r covers the frames after the r-th change of value (region 0 starts at frame 0).

    Args:
        q_pitch: `[B, T]` or `[B, T, 1]` quantized pitch (0 = silence).
        max_regions: Regions kept (later ones are dropped).
        note_on_only: Zero the frames where the pitch is 0.

    Returns:
        float `[B, T, max_regions]`, 1 where frame t belongs to region r.

    Example:
        >>> get_note_mask([[60, 60, 0, 62]], max_regions=4)[0]
        ... # [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]]
    """
    q_pitch = _squeeze_channel(q_pitch)
    changes = tf.cast(tf.not_equal(q_pitch[:, 1:], q_pitch[:, :-1]), tf.int32)
    changes = tf.pad(changes, [[0, 0], [1, 0]])
    return _regions_to_mask(tf.cumsum(changes, axis=1), q_pitch, max_regions, note_on_only)


def get_note_mask_from_onset(q_pitch, onset, max_regions: int = 100, note_on_only: bool = True):
    """Like `get_note_mask`, with regions starting at the onsets instead of pitch changes.

    Args:
        q_pitch: `[B, T]` or `[B, T, 1]` quantized pitch.
        onset: `[B, T]` or `[B, T, 1]`, nonzero at note onsets.
        max_regions, note_on_only: see `get_note_mask`.

    Returns:
        float `[B, T, max_regions]`.

    Example:
        >>> get_note_mask_from_onset([[60, 60, 60]], [[1, 0, 1]], max_regions=3)[0]
        ... # [[0, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    q_pitch = _squeeze_channel(q_pitch)
    onsets = tf.cast(_squeeze_channel(onset) > 0, tf.int32)
    return _regions_to_mask(tf.cumsum(onsets, axis=1), q_pitch, max_regions, note_on_only)


def get_note_lengths(note_mask):
    """Frames per note: `[B, T, R]` -> `[B, R]`.

    Example:
        >>> get_note_lengths(get_note_mask([[60, 60, 62]], max_regions=2))  # [[2., 1.]]
    """
    return tf.reduce_sum(core.tf_float32(note_mask), axis=1)


def get_note_moments(x, note_mask, return_std: bool = True):
    """Mean (and standard deviation) of x over the frames of each note.

    Args:
        x: `[B, T, C]`.
        note_mask: `[B, T, R]`.
        return_std: Also return the standard deviation.

    Returns:
        mean `[B, R, C]` (0 for empty notes), and std `[B, R, C]` if `return_std`.

    Example:
        >>> mean, std = get_note_moments(loudness, mask)  # [B, T, 1], [B, T, R] -> [B, R, 1]
    """
    x, note_mask = core.tf_float32(x), core.tf_float32(note_mask)
    lengths = get_note_lengths(note_mask)[..., tf.newaxis]  # [B, R, 1]
    mean = core.safe_divide(tf.einsum('btr,btc->brc', note_mask, x), lengths)
    if not return_std:
        return mean
    squared = tf.einsum('btr,btc->brc', note_mask, tf.square(x))
    variance = tf.nn.relu(core.safe_divide(squared, lengths) - tf.square(mean))
    return mean, tf.sqrt(variance)


def pool_over_notes(x, note_mask, return_std: bool = True):
    """Replaces every frame of x by its note's mean (and std); frames in no note give 0.

    Args:
        x: `[B, T, C]`.
        note_mask: `[B, T, R]`.
        return_std: Also return the standard deviation.

    Returns:
        mean `[B, T, C]`, and std `[B, T, C]` if `return_std`.

    Example:
        >>> pool_over_notes([[[1.0], [3.0], [5.0]]], mask, return_std=False)
        ... # [[[2.], [2.], [5.]]] for the notes {0, 1} and {2}.
    """
    note_mask = core.tf_float32(note_mask)
    moments = get_note_moments(x, note_mask, return_std)
    if not return_std:
        return tf.einsum('btr,brc->btc', note_mask, moments)
    return tuple(tf.einsum('btr,brc->btc', note_mask, m) for m in moments)


def get_short_note_loss_mask(note_mask, note_lengths, note_pitches, min_length: int = 40):
    """1 on the frames of voiced notes shorter than `min_length` frames.

    Args:
        note_mask: `[B, T, R]`.
        note_lengths: `[B, R]` (see `get_note_lengths`).
        note_pitches: `[B, R]` or `[B, R, 1]`; notes with pitch 0 are ignored.
        min_length: Notes with fewer frames are short.

    Returns:
        float `[B, T, 1]`.

    Example:
        >>> get_short_note_loss_mask(mask, get_note_lengths(mask), pitches, min_length=40)
        ... # [B, T, 1]: 1 on the frames of notes of 1 to 39 frames.
    """
    note_pitches = _squeeze_channel(note_pitches)
    lengths = core.tf_float32(note_lengths)
    short = tf.cast((lengths > 0) & (lengths < min_length) & (note_pitches > 0), tf.float32)
    mask = tf.einsum('btr,br->bt', core.tf_float32(note_mask), short)
    return tf.minimum(mask, 1.0)[..., tf.newaxis]
