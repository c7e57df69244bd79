"""Resampling frame-rate controls to audio rate (and back): interpolation and Hann windows.

Every synthesizer upsamples its `[batch, n_frames, channels]` controls to
`[batch, n_samples, ...]` here. `resample` reproduces TF's legacy image-resize kernels
(nearest, linear, cubic; no half-pixel centres), so frame k lands exactly on sample
`k * n_samples / n_frames`; `upsample_with_windows` overlap-adds Hann windows, which keeps
constant controls constant and makes amplitude changes smooth.

Example:
    >>> from ddsp import core
    >>> f0_env = core.resample(f0_hz, 64000)  # [B, 250, 1] -> [B, 64000, 1]
    >>> amp_env = core.resample(amps, 64000, method='window')
"""

from typing import Text

import tensorflow as tf

from ddsp import validation
from ddsp.core.tensors import tf_float32

RESAMPLE_METHODS = ('nearest', 'linear', 'cubic', 'window')


def _to_btc(inputs):
    """Reshapes 1-D..4-D inputs to `[B, T, C]`; returns the inverse."""
    inputs = tf_float32(inputs)
    rank = inputs.shape.rank
    if rank not in (1, 2, 3, 4):
        validation.fail(
            'resample',
            'inputs.shape',
            'of rank 1 to 4 ([T], [B, T], [B, T, C] or [B, T, F, C])',
            inputs.shape,
        )
    shape = tf.shape(inputs)
    if rank == 1:
        x = inputs[tf.newaxis, :, tf.newaxis]
    elif rank == 2:
        x = inputs[:, :, tf.newaxis]
    elif rank == 3:
        x = inputs
    else:
        x = tf.reshape(inputs, [shape[0], shape[1], -1])

    def restore(y):
        if rank == 1:
            return y[0, :, 0]
        if rank == 2:
            return y[:, :, 0]
        if rank == 3:
            return y
        return tf.reshape(y, tf.concat([shape[:1], [-1], shape[2:]], 0))

    return x, restore


def _source_positions(n_in, n_out, add_endpoint, dtype=tf.float32):
    """Source coordinates of legacy `resize` (no half-pixel centres)."""
    if add_endpoint:
        scale = n_in / n_out
    else:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return tf.range(n_out, dtype=dtype) * scale


def _cubic_weights(t):
    """Keys cubic-convolution weights (a = -0.75) for taps -1, 0, 1, 2."""
    a = -0.75

    def near(d):  # |d| <= 1
        return ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a

    return [far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)]


def _interpolate(x, n_out, method, add_endpoint):
    """Legacy image-resize interpolation of `[B, T, C]` along time.

    Works in the dtype of `x`, so float64 phase paths keep their precision.
    """
    n_in = x.shape[1]
    pos = _source_positions(n_in, n_out, add_endpoint, x.dtype)
    last = n_in - 1
    if method == 'nearest':
        # Align-corners rounds halves away from zero (C roundf), not to even.
        index = tf.floor(pos + 0.5) if not add_endpoint else tf.floor(pos)
        index = tf.minimum(tf.cast(index, tf.int32), last)
        return tf.gather(x, index, axis=1)
    lower = tf.floor(pos)
    t = (pos - lower)[tf.newaxis, :, tf.newaxis]
    lower = tf.cast(lower, tf.int32)

    def tap(offset):
        return tf.gather(x, tf.clip_by_value(lower + offset, 0, last), axis=1)

    if method == 'linear':
        return tap(0) * (1.0 - t) + tap(1) * t
    # The legacy kernel reads its weights from a 1024-entry table.
    weights = _cubic_weights(tf.round(t * 1024.0) / 1024.0)
    return sum(w * tap(k - 1) for k, w in enumerate(weights))


def resample(
    inputs: tf.Tensor, n_timesteps: int, method: Text = 'linear', add_endpoint: bool = True
) -> tf.Tensor:
    """Interpolates frame-rate signals to `n_timesteps` along axis 1 (or 0).

    With `add_endpoint=True` frame k lands exactly on output step
    `k * n_timesteps / n_frames` and the last frame is held for the final
    interval; with `False` the first and last frames land on the first and last
    output steps (align corners).

    Args:
        inputs: `[T]`, `[B, T]`, `[B, T, C]` or `[B, T, F, C]`.
        n_timesteps: Output length.
        method: 'nearest', 'linear', 'cubic' or 'window' (Hann overlap-add,
            3-D inputs only, see `upsample_with_windows`).
        add_endpoint: See above.

    Returns:
        The interpolated signal, of the same rank, with `n_timesteps` steps.

    Example: `resample(f0_hz, 64000)` takes `[B, 250, 1]` to `[B, 64000, 1]`.
    """
    validation.check_choice('resample', 'method', method, RESAMPLE_METHODS)
    if method == 'window':
        return upsample_with_windows(inputs, n_timesteps, add_endpoint)
    x, restore = _to_btc(inputs)
    if x.shape[1] is None:
        validation.fail('resample', 'inputs.shape', 'static along axis 1 (the frames)', x.shape)
    return restore(_interpolate(x, n_timesteps, method, add_endpoint))


def _blend_frames(frames, weights_current, weights_next):
    """Per-interval blend of adjacent frames: `[B, T+1, C]` -> `[B, T * hop, C]`.

    Output step `j * hop + r` is `frames[j] * weights_current[r] +
    frames[j + 1] * weights_next[r]`.
    """
    current = frames[:, :-1, tf.newaxis, :]
    following = frames[:, 1:, tf.newaxis, :]
    w_current = weights_current[tf.newaxis, tf.newaxis, :, tf.newaxis]
    w_next = weights_next[tf.newaxis, tf.newaxis, :, tf.newaxis]
    blended = current * w_current + following * w_next
    shape = tf.shape(blended)
    return tf.reshape(blended, [shape[0], -1, shape[3]])


def _window_halves(hop):
    """Falling and rising halves of a periodic Hann window of length 2 * hop.

    Overlap-adding Hann windows at 50 % overlap means each output step blends
    two frames: the earlier with the falling half, the later with the rising.
    """
    window = tf.signal.hann_window(2 * hop, periodic=True)
    return window[hop:], window[:hop]


def _check_upsampling(n_frames, n_timesteps, add_endpoint):
    """Returns the hop of window upsampling, or raises a clear ValueError."""
    n_intervals = n_frames if add_endpoint else n_frames - 1
    owner = 'upsample_with_windows'
    if n_frames > n_timesteps:
        validation.fail(
            owner,
            'n_timesteps',
            f'at least the number of frames ({n_frames}): window upsampling '
            'cannot downsample, use method "linear"',
            n_timesteps,
        )
    if n_intervals < 1 or n_timesteps % n_intervals != 0:
        validation.fail(
            owner,
            'n_timesteps',
            f'a multiple of the number of frame intervals ({n_intervals}, '
            f'add_endpoint={add_endpoint}); choose n_samples as a multiple of '
            'the number of frames, or use method "linear"',
            n_timesteps,
        )
    return n_timesteps // n_intervals


def upsample_with_windows(
    inputs: tf.Tensor, n_timesteps: int, add_endpoint: bool = True
) -> tf.Tensor:
    """Upsamples `[B, T, C]` frames by overlap-adding Hann windows (50 %).

    Each frame becomes a periodic Hann window of length `2 * hop` centred on its
    step; the windows sum to one, so constant controls stay constant and
    changes are smooth. With `add_endpoint` the last frame is repeated once, so
    `hop = n_timesteps / T`; otherwise `hop = n_timesteps / (T - 1)`.

    Args:
        inputs: `[B, T, C]` frame-rate controls.
        n_timesteps: Output length; a multiple of the number of intervals.

    Returns:
        `[B, n_timesteps, C]`.

    Example: `upsample_with_windows(amps, 64000)` with `amps` `[B, 250, 1]`.
    """
    inputs = tf_float32(inputs)
    if inputs.shape.rank != 3:
        validation.fail(
            'upsample_with_windows', 'inputs.shape', '[batch, frames, channels]', inputs.shape
        )
    hop = _check_upsampling(inputs.shape[1], n_timesteps, add_endpoint)
    if add_endpoint:
        inputs = tf.concat([inputs, inputs[:, -1:, :]], axis=1)
    falling, rising = _window_halves(hop)
    return _blend_frames(inputs, falling, rising)


def center_crop(audio, frame_size):
    """Removes `frame_size // 2` samples from both ends of axis 1.

    Example: `center_crop(tf.zeros([1, 100]), 8)` -> shape `[1, 92]`.
    """
    crop = frame_size // 2
    return audio[:, crop : audio.shape[1] - crop]
