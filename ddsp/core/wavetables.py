"""Wavetables and delay lines: reading periodic tables and audio at fractional positions.

Both are linear interpolation between the two nearest entries, evaluated by gather (no
dense weights over every entry). `wavetable_synthesis` is an oscillator whose period is
read from a (time-varying) table; `variable_length_delay` reads audio at a time-varying,
fractional delay (the core of `effects.ModDelay`).

Example:
    >>> from ddsp import core
    >>> sine = tf.sin(2 * np.pi * tf.range(2048.0) / 2048.0)[tf.newaxis]  # [1, 2048]
    >>> audio = core.wavetable_synthesis(f0_hz, amps, sine, n_samples=64000)
"""

import tensorflow as tf

from ddsp import validation
from ddsp.core.oscillators import (
    _check_controls,
    _check_same_axes,
    _cumulative_cycles,
    _finite_frames,
)
from ddsp.core.resampling import resample
from ddsp.core.tensors import pad_axis, tf_float32


def _lookup_weights(phase, n_entries):
    """Lower index and weights of the two table entries around `phase`.

    Entries sit at `i / n_entries` for i in [0, n_entries]. The weights are
    `relu(1 - |phase - position| * n_entries)`, i.e. dense triangular
    interpolation; only the two nearest entries can be non-zero.
    """
    lower = tf.clip_by_value(tf.floor(phase * n_entries), 0.0, n_entries - 1.0)
    w_lower = tf.nn.relu(1.0 - tf.abs(phase * n_entries - lower))
    w_upper = tf.nn.relu(1.0 - tf.abs(phase * n_entries - lower - 1.0))
    return tf.cast(lower, tf.int32), w_lower, w_upper


def linear_lookup(phase: tf.Tensor, wavetables: tf.Tensor) -> tf.Tensor:
    """Reads periodic wavetables at fractional positions, linearly.

    Args:
        phase: `[B, N]` or `[B, N, 1]` positions in [0, 1] (one period).
        wavetables: `[B, W]` or `[B, 1, W]` (one table for every sample) or `[B, N, W]`
            (one per sample). A batch of 1 is broadcast over the batch of `phase`.

    Returns:
        `[B, N]` interpolated values; position 1 wraps to the first entry.

    Example: `linear_lookup(phase, tf.sin(2 * np.pi * tf.range(64.) / 64.)[None])`.
    """
    phase = tf_float32(phase)
    wavetables = tf_float32(wavetables)
    if phase.shape.rank == 3:
        phase = phase[..., 0]
    if phase.shape.rank != 2:
        validation.fail('linear_lookup', 'phase.shape', '[batch, n] or [batch, n, 1]', phase.shape)
    if wavetables.shape.rank == 3 and wavetables.shape[1] == 1:
        wavetables = wavetables[:, 0, :]  # A single frame: one table for every sample.
    n_phase = phase.shape[1]
    if wavetables.shape.rank not in (2, 3) or (
        wavetables.shape.rank == 3
        and None not in (n_phase, wavetables.shape[1])
        and wavetables.shape[1] != n_phase
    ):
        validation.fail(
            'linear_lookup',
            'wavetables.shape',
            f'[batch, n_wavetable], [batch, 1, n_wavetable] or [batch, {n_phase}, '
            'n_wavetable] (one table per phase sample)',
            wavetables.shape,
        )
    if wavetables.shape[0] == 1 and phase.shape[0] != 1:
        # One table (or series of tables) for the whole batch.
        batch_shape = tf.concat([tf.shape(phase)[:1], tf.shape(wavetables)[1:]], 0)
        wavetables = tf.broadcast_to(wavetables, batch_shape)
    n_entries = wavetables.shape[-1]
    wavetables = tf.concat([wavetables, wavetables[..., :1]], axis=-1)
    lower, w_lower, w_upper = _lookup_weights(phase, n_entries)
    if wavetables.shape.rank == 2:
        take = lambda i: tf.gather(wavetables, i, axis=1, batch_dims=1)
    else:
        take = lambda i: tf.gather(wavetables, i[..., tf.newaxis], axis=2, batch_dims=2)[..., 0]
    return w_lower * take(lower) + w_upper * take(lower + 1)


def harmonic_distribution_to_wavetable(harmonic_distribution, n_wavetable=2048):
    """Wavetables of cosine harmonics: `[B, T, H]` -> `[B, T, n_wavetable]`.

    Harmonic k of amplitude `a_k` becomes `a_k cos(2 pi k n / n_wavetable)`.

    Example: `harmonic_distribution_to_wavetable(tf.one_hot([[0]], 10), 64)` is one
    period of a cosine, `[1, 1, 64]`.

    Raises:
        ValueError: `n_wavetable` < 2, or more harmonics than a table of that length holds
            (`n_wavetable // 2`).
    """
    owner = 'harmonic_distribution_to_wavetable'
    n_wavetable = validation.check_int(
        owner, 'n_wavetable', n_wavetable, minimum=2, hint='(the table is an inverse real FFT)'
    )
    harmonic_distribution = tf_float32(harmonic_distribution)
    n_harmonics = harmonic_distribution.shape[-1]
    if n_harmonics is not None and n_harmonics > n_wavetable // 2:
        validation.fail(
            owner,
            'n_wavetable',
            f'at least 2 * n_harmonics = {2 * n_harmonics} (a table of n samples holds '
            f'harmonics up to n // 2)',
            n_wavetable,
        )
    n_pad = n_wavetable // 2 - n_harmonics
    spectrum = pad_axis(harmonic_distribution, (1, n_pad), axis=-1)
    wavetable = tf.signal.irfft(tf.complex(spectrum, tf.zeros_like(spectrum)))
    return wavetable * (n_wavetable / 2.0)


def wavetable_synthesis(frequencies, amplitudes, wavetables, n_samples=64000, sample_rate=16000):
    """Wavetable oscillator with frame-rate controls.

    Args:
        frequencies: `[B, T, 1]` in Hz (upsampled linearly).
        amplitudes: `[B, T, 1]` (upsampled with Hann windows).
        wavetables: `[B, W]`, `[B, 1, W]` or `[B, T, W]` one period each; a single
            frame is used for every sample, frame-wise tables are interpolated linearly
            between frames. A batch of 1 is broadcast over the batch of the controls.
        n_samples: Output length.
        sample_rate: Samples per second.

    Returns:
        `[B, n_samples]`. The phase starts at 0 (exclusive running sum of
        `f / sample_rate`, mod 1). A frame whose frequency is not finite is synthesised at
        0 Hz and the samples that interpolate it are NaN, so it does not spread to the rest
        of the clip (see `core.oscillators`).

    Raises:
        ValueError: `n_samples` < 1, 0 frames, or batches that differ (1 broadcasts).

    Example: a 440 Hz sine from one table for every sample,
        >>> sine = tf.sin(2 * np.pi * tf.range(2048.0) / 2048.0)[tf.newaxis]
        >>> audio = wavetable_synthesis(440. * tf.ones([1, 250, 1]),
        ...                             tf.ones([1, 250, 1]), sine)  # [1, 64000]
    """
    owner = 'wavetable_synthesis'
    n_samples = validation.check_int(owner, 'n_samples', n_samples)
    frequencies = tf_float32(frequencies)
    amplitudes = tf_float32(amplitudes)
    wavetables = tf_float32(wavetables)
    _check_controls(owner, 'frequencies', frequencies)
    _check_controls(owner, 'amplitudes', amplitudes)
    for name, x in (('frequencies', frequencies), ('amplitudes', amplitudes)):
        if x.shape[1] == 0:
            validation.fail(
                owner,
                f'{name}.shape',
                '[batch, frames, 1] with at least one frame',
                tuple(x.shape),
            )
    _check_same_axes(owner, 'amplitudes', amplitudes, 'frequencies', frequencies, {0: 'batch'})
    _check_same_axes(owner, 'wavetables', wavetables, 'frequencies', frequencies, {0: 'batch'})
    frequencies, marker = _finite_frames(frequencies)  # A NaN frame stays local.
    amplitude_envelope = resample(amplitudes, n_samples, method='window')[..., 0]
    frequency_envelope = resample(frequencies, n_samples)
    if wavetables.shape.rank == 3 and wavetables.shape[1] != 1:
        wavetables = resample(wavetables, n_samples)
    phase = _cumulative_cycles(frequency_envelope, sample_rate, exclusive=True)
    audio = linear_lookup(phase, wavetables) * amplitude_envelope
    return audio + resample(marker, n_samples)[..., 0]


def variable_length_delay(phase, audio, max_length=512):
    """Delays each sample by a time-varying, fractional amount.

    The delay is `phase * max_length` samples, interpolated linearly between
    integer delays (a full `max_length` wraps to no delay, as a periodic table
    lookup would).

    Args:
        phase: `[B, N]` or `[B, N, 1]` delay in [0, 1].
        audio: `[B, N]`.
        max_length: Longest delay in samples.

    Returns:
        `[B, N]` delayed audio.

    Example: `variable_length_delay(0.5 * tf.ones([1, 16000]), audio, 64)` delays
    `[1, 16000]` audio by 32 samples.
    """
    phase = tf_float32(phase)
    audio = tf_float32(audio)
    if phase.shape.rank == 3:
        phase = phase[..., 0]
    n_samples = tf.shape(audio)[1]
    padded = pad_axis(audio, (max_length - 1, 0), axis=1)
    lower, w_lower, w_upper = _lookup_weights(phase, max_length)
    # Delay d of output sample n is padded[n + max_length - 1 - d], with
    # delay max_length standing for delay 0.
    newest = tf.range(n_samples)[tf.newaxis, :] + max_length - 1

    def delayed(d):
        index = newest - tf.math.floormod(d, max_length)
        return tf.gather(padded, index, axis=1, batch_dims=1)

    return w_lower * delayed(lower) + w_upper * delayed(lower + 1)
