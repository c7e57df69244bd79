"""Oscillators and harmonic synthesis: sinusoids from frame-rate f0 and amplitudes.

Phase is accumulated in float64 and wrapped to one cycle before the cast to float32, so
long signals stay in tune; components at or above Nyquist are silenced. Also here: the
conversions between harmonic controls (f0, amplitude, distribution) and free sinusoids.

Non-finite frequencies stay local. A running phase carries a NaN or infinite frequency to
every later sample (one NaN frame of f0 used to turn about 78 % of a 4 s clip into NaN), so
`harmonic_synthesis` (and `wavetable_synthesis`) synthesise a frame whose f0 is not finite
at 0 Hz, and make NaN exactly the samples that interpolate that frame: two hops around it
(from frame t - 1 up to frame t + 1), not the rest of the clip. The output still shows the
NaN, so the boundaries that check values (the losses, the feature functions, the data
pipeline) report it. This works at frame rate: a few `[batch, n_frames, 1]` ops and one add
over the `[batch, n_samples]` output, nothing per harmonic. `oscillator_bank`, the audio-rate
primitive, does not do this (it would cost passes over every oscillator): give it finite
frequencies, as the synthesizers do. Non-finite amplitudes need nothing: they only reach the
samples their frame is blended into.

`angular_cumsum`, `oscillator_bank` and `harmonic_oscillator_bank` are gin-configurable
under `ddsp.core` (`oscillator_bank.sum_sinusoids = False`).

Example:
    >>> from ddsp import core
    >>> audio = core.harmonic_synthesis(f0_hz, amps, harmonic_distribution=dist,
    ...                                 n_samples=64000)  # [B, 64000]
"""

import numpy as np
import tensorflow as tf

from ddsp import gin_keras, validation
from ddsp.core._public import publish
from ddsp.core.resampling import _interpolate, _window_halves, resample
from ddsp.core.safe_math import safe_divide
from ddsp.core.tensors import pad_axis, slice_axis, tf_float32


@gin_keras.configurable(module='ddsp.core')
@publish
def angular_cumsum(angular_frequency, chunk_size=1000):
    """Cumulative sum of angular frequency, wrapped to [0, 2 pi).

    Summing in chunks and wrapping the running offset keeps float32 error from
    growing with signal length.

    Args:
        angular_frequency: `[B, N, C]` radians per sample.
        chunk_size: Samples summed directly before wrapping.

    Returns:
        `[B, N, C]` inclusive cumulative phase, mod 2 pi.

    Example: `angular_cumsum(2 * np.pi * 440. / 16000. * tf.ones([1, 64000, 1]))`.
    """
    angular_frequency = tf_float32(angular_frequency)
    if angular_frequency.shape.rank != 3:
        validation.fail(
            'angular_cumsum',
            'angular_frequency.shape',
            '[batch, samples, channels]',
            angular_frequency.shape,
        )
    n_samples = angular_frequency.shape[1]
    n_chunks = -(-n_samples // chunk_size)
    padded = pad_axis(angular_frequency, (0, n_chunks * chunk_size - n_samples), axis=1)
    shape = tf.shape(padded)
    chunks = tf.reshape(padded, [shape[0], n_chunks, chunk_size, shape[2]])
    # Sum in float64: with a float32 running sum the rounding of a constant
    # frequency is the same in every chunk, so the chunk totals (and the phase)
    # drift linearly, ~0.1 rad after 64000 samples at 440 Hz.
    within = tf.cumsum(tf.cast(chunks, tf.float64), axis=2)
    totals = tf.math.floormod(within[:, :, -1:, :], 2.0 * np.pi)
    offsets = tf.math.floormod(tf.cumsum(totals, axis=1, exclusive=True), 2.0 * np.pi)
    phase = tf.math.floormod(within + offsets, 2.0 * np.pi)
    phase = tf.reshape(phase, [shape[0], -1, shape[2]])
    return tf.cast(slice_axis(phase, 0, n_samples, axis=1), tf.float32)


def remove_above_nyquist(frequency_envelopes, amplitude_envelopes, sample_rate=16000):
    """Zeroes amplitudes whose frequency is at or above `sample_rate / 2`.

    Args:
        frequency_envelopes: `[..., K]` frequencies in Hz.
        amplitude_envelopes: `[..., K]` amplitudes, the same shape.
        sample_rate: Samples per second.

    Example: `remove_above_nyquist([[9000.]], [[1.]])` -> `[[0.]]` at 16 kHz.
    """
    frequency_envelopes = tf_float32(frequency_envelopes)
    amplitude_envelopes = tf_float32(amplitude_envelopes)
    return tf.where(
        frequency_envelopes >= sample_rate / 2.0,
        tf.zeros_like(amplitude_envelopes),
        amplitude_envelopes,
    )


def normalize_harmonics(harmonic_distribution, f0_hz=None, sample_rate=None):
    """Normalises a harmonic distribution to sum to one over the last axis.

    When both `f0_hz` `[B, T, 1]` and `sample_rate` are given, harmonics at or
    above Nyquist are removed first, so the audible ones keep the energy.

    Args:
        harmonic_distribution: `[B, T, H]` non-negative weights.

    Returns:
        `[B, T, H]` weights summing to one (all-zero frames stay zero).

    Example: `normalize_harmonics([[[1., 3.]]])` -> `[[[0.25, 0.75]]]`.
    """
    harmonic_distribution = tf_float32(harmonic_distribution)
    if f0_hz is not None and sample_rate is not None:
        n_harmonics = harmonic_distribution.shape[-1]
        freqs = get_harmonic_frequencies(f0_hz, n_harmonics)
        harmonic_distribution = remove_above_nyquist(freqs, harmonic_distribution, sample_rate)
    total = tf.reduce_sum(harmonic_distribution, axis=-1, keepdims=True)
    return safe_divide(harmonic_distribution, total)


@gin_keras.configurable(module='ddsp.core')
@publish
def oscillator_bank(
    frequency_envelopes,
    amplitude_envelopes,
    sample_rate=16000,
    sum_sinusoids=True,
    use_angular_cumsum=False,
):
    """A bank of sinusoidal oscillators at sample rate.

    The phase is the inclusive cumulative sum of `2 pi f / sample_rate`, so
    the first sample already carries one step of phase; it is accumulated in
    float64 and wrapped, which keeps long signals in tune. Components at or
    above Nyquist are silenced.

    Args:
        frequency_envelopes: `[B, N, K]` frequencies in Hz.
        amplitude_envelopes: `[B, N, K]` linear amplitudes.
        sum_sinusoids: Sum the components to `[B, N]`, else keep `[B, N, K]`.
        use_angular_cumsum: Accumulate phase with `angular_cumsum` (wrapped,
            for long signals).

    A non-finite frequency makes the phase, and so the output, non-finite from that sample
    to the end (it is a running sum): pass finite frequencies (the synthesizers replace
    non-finite frame-rate controls before upsampling).

    Example: `oscillator_bank(440. * tf.ones([1, 16000, 1]), tf.ones([1,
    16000, 1]))` is one second of a 440 Hz sine.
    """
    owner = 'oscillator_bank'
    frequency_envelopes = tf_float32(frequency_envelopes)
    amplitude_envelopes = tf_float32(amplitude_envelopes)
    if frequency_envelopes.shape.rank != 3:
        validation.fail(
            owner,
            'frequency_envelopes.shape',
            '[batch, samples, oscillators]',
            frequency_envelopes.shape,
        )
    if amplitude_envelopes.shape.rank != 3:
        validation.fail(
            owner,
            'amplitude_envelopes.shape',
            '[batch, samples, oscillators], like frequency_envelopes',
            amplitude_envelopes.shape,
        )
    _check_same_axes(
        owner,
        'amplitude_envelopes',
        amplitude_envelopes,
        'frequency_envelopes',
        frequency_envelopes,
        {0: 'batch', 1: 'samples', 2: 'oscillators'},
        hint='upsample both to audio rate with core.resample first',
    )
    amplitude_envelopes = remove_above_nyquist(
        frequency_envelopes, amplitude_envelopes, sample_rate
    )
    if use_angular_cumsum:
        phases = angular_cumsum(frequency_envelopes * (2.0 * np.pi / float(sample_rate)))
    else:
        phases = (2.0 * np.pi) * _cumulative_cycles(frequency_envelopes, sample_rate)
    audio = amplitude_envelopes * tf.sin(phases)
    return tf.reduce_sum(audio, axis=-1) if sum_sinusoids else audio


def _cumulative_cycles(frequencies, sample_rate, exclusive=False):
    """Running sum of `frequencies / sample_rate` along axis 1, mod 1.

    Division and sum run in float64: in float32 both the rounding of each
    increment (a bias repeated at every sample) and the running sum drift by
    about 1e-3 cycles over four seconds, and harmonic k multiplies that by k.
    """
    cycles_per_sample = tf.cast(frequencies, tf.float64) / float(sample_rate)
    # Whole cycles change no sampled phase; dropping them keeps one huge (finite) frequency
    # from swamping the float64 sum, which froze the phase of every later sample.
    cycles_per_sample -= tf.floor(cycles_per_sample)
    total = tf.cumsum(cycles_per_sample, axis=1, exclusive=exclusive)
    return tf.cast(total - tf.floor(total), tf.float32)


def _finite_frames(frequencies):
    """Frame-rate frequencies with non-finite frames at 0 Hz, and a NaN marker of those frames.

    The phase is a running sum, so a NaN or infinite frequency would reach every later sample.
    Here a non-finite frame counts as 0 Hz for the phase, and `marker` (0 for a finite frame,
    NaN for the others, reduced over the last axis) is upsampled like the frequencies and added
    to the audio: the samples that interpolate a bad frame are NaN, no others. Frame rate only,
    so it costs a few `[B, T, C]` ops and one `[B, N]` add.

    Returns:
        `(frequencies [B, T, C], marker float32 [B, T, 1])`.
    """
    finite = tf.math.is_finite(frequencies)
    frequencies = tf.where(finite, frequencies, tf.zeros([], frequencies.dtype))
    marker = tf.where(tf.reduce_all(finite, axis=-1, keepdims=True), 0.0, np.nan)
    return frequencies, marker


def _check_same_axes(owner, name, x, reference_name, reference, axes, hint=''):
    """`validation.check_axes_match` of two tensors' static shapes (1 broadcasts)."""
    validation.check_axes_match(
        owner, name, x.shape, reference_name, reference.shape, axes, hint=hint
    )


@gin_keras.configurable(module='ddsp.core')
@publish
def harmonic_oscillator_bank(
    frequency, amplitude_envelopes, initial_phase=None, sample_rate=16000, use_angular_cumsum=True
):
    """Harmonic oscillators sharing one fundamental phase; for streaming.

    Args:
        frequency: `[B, N, 1]` fundamental frequency in Hz.
        amplitude_envelopes: `[B, N, H]` amplitude of each harmonic.
        initial_phase: `[B, 1, 1]` phase of the fundamental before the first
            sample, e.g. the `final_phase` of the previous block.
        use_angular_cumsum: Accumulate with `angular_cumsum` (else `tf.cumsum`).

    Returns:
        `(audio [B, N], final_phase [B, 1, 1])`. No Nyquist masking is done.

    Example: two blocks of one tone, the second continuing the first's phase,
        >>> audio, phase = harmonic_oscillator_bank(f0, amps)
        >>> more, phase = harmonic_oscillator_bank(f0, amps, initial_phase=phase)
    """
    frequency = tf_float32(frequency)
    amplitude_envelopes = tf_float32(amplitude_envelopes)
    n_harmonics = amplitude_envelopes.shape[-1]
    if use_angular_cumsum:
        phase = angular_cumsum(frequency * (2.0 * np.pi / float(sample_rate)))
    else:
        phase = (2.0 * np.pi) * _cumulative_cycles(frequency, sample_rate)
    if initial_phase is not None:
        phase += tf_float32(initial_phase)
    final_phase = phase[:, -1:, 0:1]
    harmonics = tf.range(1, n_harmonics + 1, dtype=tf.float32)
    audio = amplitude_envelopes * tf.sin(phase * harmonics)
    return tf.reduce_sum(audio, axis=-1), final_phase


def get_harmonic_frequencies(frequencies, n_harmonics: int) -> tf.Tensor:
    """`[B, T, 1]` fundamental -> `[B, T, n_harmonics]` integer multiples, in Hz.

    Example: `get_harmonic_frequencies([[[100.]]], 3)` -> `[[[100., 200., 300.]]]`.
    """
    frequencies = tf_float32(frequencies)
    return frequencies * tf.range(1, n_harmonics + 1, dtype=tf.float32)


def _check_controls(owner, name, x):
    """Raises unless `x` is `[batch, frames, channels]`."""
    if x.shape.rank != 3:
        validation.fail(
            owner,
            f'{name}.shape',
            '[batch, frames, channels] (add a trailing axis with '
            'x[..., tf.newaxis] to [batch, frames] controls)',
            x.shape,
        )


def _blend_weights(method, hop):
    """Per-step frame weights of `resample` with an integer hop (endpoint)."""
    if method == 'window':
        return _window_halves(hop)
    rising = tf.range(hop, dtype=tf.float32) / float(hop)
    return 1.0 - rising, rising


def _harmonic_bank_framewise(
    f0_hz, harmonic_amplitudes, n_samples, sample_rate, amp_resample_method
):
    """Harmonic synthesis without upsampling each harmonic's amplitude.

    All harmonics share the fundamental's phase (harmonic k is k times it), so
    only `[B, N, 1]` phase is accumulated. Upsampled amplitudes are per-step
    blends of two adjacent frames, so the sum over harmonics is two small
    matrix products per frame instead of a `[B, N, K]` amplitude envelope.
    """
    n_frames, n_harmonics = harmonic_amplitudes.shape[1:]
    hop = n_samples // n_frames
    f0_hz, marker = _finite_frames(f0_hz)
    if f0_hz.shape[1] == n_frames:
        # One frame grid: frame t's amplitudes are blended into exactly the samples that
        # interpolate its f0, [(t - 1) hop, (t + 1) hop), so the marker goes there, at frame
        # rate (free), instead of being upsampled and added to the audio.
        harmonic_amplitudes = harmonic_amplitudes + marker
        marker = None
    f0_env = _interpolate(
        tf.cast(f0_hz, tf.float64), n_samples, 'linear', add_endpoint=True
    )  # [B, N, 1]
    cycles = _cumulative_cycles(f0_env, sample_rate)
    f0_env = tf.cast(f0_env, tf.float32)
    harmonics = tf.range(1, n_harmonics + 1, dtype=tf.float32)
    sines = tf.sin(cycles * ((2.0 * np.pi) * harmonics))  # [B, N, K]
    # k f0 < sr / 2 as k < (sr / 2) / f0: one [B, N, 1] division instead of a
    # [B, N, K] product, and a scalar fill instead of a tensor of zeros.
    audible = harmonics < (sample_rate / 2.0) / f0_env
    sines = tf.where(audible, sines, 0.0)
    sines = tf.reshape(sines, [-1, n_frames, hop, n_harmonics])
    # Frame j blends with frame j + 1; the last frame is held (endpoint).
    following = tf.concat(
        [
            slice_axis(harmonic_amplitudes, 1, axis=1),
            slice_axis(harmonic_amplitudes, n_frames - 1, axis=1),
        ],
        axis=1,
    )
    frame_pairs = tf.stack([harmonic_amplitudes, following], axis=-1)
    partial = tf.einsum('bthk,btkp->bthp', sines, frame_pairs)
    weights = tf.stack(_blend_weights(amp_resample_method, hop), axis=-1)
    audio = tf.reduce_sum(partial * weights, axis=-1)  # [B, T, hop]
    audio = tf.reshape(audio, [-1, n_samples])
    if marker is None:
        return audio
    return audio + _interpolate(marker, n_samples, 'linear', add_endpoint=True)[..., 0]


def harmonic_synthesis(
    frequencies,
    amplitudes,
    harmonic_shifts=None,
    harmonic_distribution=None,
    n_samples=64000,
    sample_rate=16000,
    amp_resample_method='window',
    use_angular_cumsum=False,
):
    """Synthesises a harmonic sound from frame-rate controls.

    Harmonic k has frequency `k * f0 * (1 + shift_k)` and amplitude
    `amplitudes * harmonic_distribution[k]`. Frequencies are upsampled
    linearly, amplitudes with `amp_resample_method`; components at or above
    Nyquist are silenced. The distribution is used as given (not normalised).

    Args:
        frequencies: `[B, T, 1]` fundamental frequency in Hz.
        amplitudes: `[B, T, 1]` overall amplitude.
        harmonic_shifts: Optional `[B, T, H]` relative detuning of harmonics.
        harmonic_distribution: Optional `[B, T, H]` relative amplitudes.
        n_samples: Output length.
        sample_rate: Samples per second.
        amp_resample_method: `resample` method for amplitudes.
        use_angular_cumsum: Accumulate phase with `angular_cumsum` when the
            harmonics are detuned (integer harmonics always share the
            fundamental's phase, accumulated in float64).

    Returns:
        `[B, n_samples]` audio. A NaN or infinite f0 (or shift) frame is synthesised at
        0 Hz and the samples that interpolate it are NaN; the rest of the clip is unaffected
        (see the module doc).

    Raises:
        ValueError: `n_samples` < 1, controls that are not `[batch, frames, channels]` or
            have 0 frames, batches that differ (1 broadcasts), amplitudes and distribution
            with different frame counts (1 broadcasts), or shifts that are not on f0's frames.

    Example:
        >>> f0 = 440.0 * tf.ones([1, 250, 1])
        >>> audio = harmonic_synthesis(f0, 0.5 * tf.ones([1, 250, 1]),
        ...                            harmonic_distribution=tf.ones([1, 250, 10]))
    """
    owner = 'harmonic_synthesis'
    n_samples = validation.check_int(owner, 'n_samples', n_samples)
    frequencies = tf_float32(frequencies)
    amplitudes = tf_float32(amplitudes)
    controls = {'frequencies': frequencies, 'amplitudes': amplitudes}
    if harmonic_distribution is not None:
        controls['harmonic_distribution'] = harmonic_distribution = tf_float32(
            harmonic_distribution
        )
    if harmonic_shifts is not None:
        controls['harmonic_shifts'] = harmonic_shifts = tf_float32(harmonic_shifts)
    for name, x in controls.items():
        _check_controls(owner, name, x)
        if x.shape[1] == 0:
            validation.fail(
                owner,
                f'{name}.shape',
                '[batch, frames, channels] with at least one frame',
                tuple(x.shape),
            )
        _check_same_axes(owner, name, x, 'frequencies', frequencies, {0: 'batch'})
    if harmonic_distribution is not None:
        _check_same_axes(
            owner,
            'harmonic_distribution',
            harmonic_distribution,
            'amplitudes',
            amplitudes,
            {1: 'n_frames'},
            hint='the amplitudes and the distribution share a frame grid',
        )
    if harmonic_shifts is not None:
        _check_same_axes(
            owner,
            'harmonic_shifts',
            harmonic_shifts,
            'frequencies',
            frequencies,
            {1: 'n_frames'},
            hint='the shifts detune the harmonics of f0, frame by frame',
        )
    if harmonic_distribution is not None:
        n_harmonics = harmonic_distribution.shape[-1]
        harmonic_amplitudes = amplitudes * harmonic_distribution
    else:
        n_harmonics = harmonic_shifts.shape[-1] if harmonic_shifts is not None else 1
        harmonic_amplitudes = amplitudes

    # Amplitudes set the frame grid of the fast path; f0 may use another.
    n_frames = harmonic_amplitudes.shape[1]
    framewise = (
        harmonic_shifts is None
        and harmonic_amplitudes.shape[-1] == n_harmonics
        and amp_resample_method in ('window', 'linear')
        and n_frames is not None
        and n_samples % n_frames == 0
    )
    if framewise:
        return _harmonic_bank_framewise(
            frequencies, harmonic_amplitudes, n_samples, sample_rate, amp_resample_method
        )

    harmonic_frequencies = get_harmonic_frequencies(frequencies, n_harmonics)
    if harmonic_shifts is not None:
        harmonic_frequencies *= 1.0 + harmonic_shifts
    # A non-finite frame is synthesised at 0 Hz and its samples marked NaN (see the helper).
    harmonic_frequencies, marker = _finite_frames(harmonic_frequencies)
    frequency_envelopes = resample(harmonic_frequencies, n_samples)
    amplitude_envelopes = resample(harmonic_amplitudes, n_samples, method=amp_resample_method)
    audio = oscillator_bank(
        frequency_envelopes,
        amplitude_envelopes,
        sample_rate=sample_rate,
        use_angular_cumsum=use_angular_cumsum,
    )
    return audio + resample(marker, n_samples)[..., 0]


def streaming_harmonic_synthesis(
    frequencies,
    amplitudes,
    harmonic_distribution=None,
    initial_phase=None,
    n_samples=64000,
    sample_rate=16000,
    amp_resample_method='linear',
):
    """Block-wise harmonic synthesis that carries phase between calls.

    The distribution is normalised and band-limited with `normalize_harmonics`.

    Args:
        frequencies: `[B, T, 1]` fundamental in Hz.
        amplitudes: `[B, T, 1]` overall amplitude.
        harmonic_distribution: Optional `[B, T, H]`.
        initial_phase: `[B, 1, 1]`, the previous call's `final_phase`.

    Returns:
        `(audio [B, n_samples], final_phase [B, 1, 1])`, the phase in [0, 2 pi). A NaN or
        infinite f0 frame is NaN in this block's audio only (see the module doc).

    Example: `audio, phase = streaming_harmonic_synthesis(f0, amps, dist, phase, 64)`
    renders one 64-sample block per call.
    """
    frequencies = tf_float32(frequencies)
    amplitudes = tf_float32(amplitudes)
    if harmonic_distribution is not None:
        harmonic_distribution = normalize_harmonics(harmonic_distribution, frequencies, sample_rate)
        amplitudes = amplitudes * harmonic_distribution
    # A non-finite frame is synthesised at 0 Hz and its samples marked NaN (see the helper),
    # and the phase handed to the next block is wrapped to one cycle: neither a bad frame nor
    # a huge frequency reaches the blocks after it.
    frequencies, marker = _finite_frames(frequencies)
    frequency_envelope = resample(frequencies, n_samples)
    amplitude_envelopes = resample(amplitudes, n_samples, method=amp_resample_method)
    audio, final_phase = harmonic_oscillator_bank(
        frequency_envelope,
        amplitude_envelopes,
        initial_phase=initial_phase,
        sample_rate=sample_rate,
    )
    final_phase = tf.math.floormod(final_phase, 2.0 * np.pi)
    return audio + resample(marker, n_samples)[..., 0], final_phase


def sinusoidal_to_harmonic(
    sin_amps,
    sin_freqs,
    f0_hz,
    harmonic_width=0.1,
    n_harmonics=100,
    sample_rate=16000,
    normalize=False,
):
    """Projects free sinusoids onto the harmonics of `f0_hz`.

    Each sinusoid contributes to each harmonic with a Gaussian weight of their
    distance in units of f0: `exp(-(|f_sin - f_harm| / f0 / width)^2)`.

    Args:
        sin_amps, sin_freqs: `[B, T, N]` amplitudes and frequencies in Hz.
        f0_hz: `[B, T, 1]` fundamental frequency.
        normalize: Cap each harmonic's total weight at 1.

    Returns:
        `(harm_amp [B, T, 1], harm_dist [B, T, n_harmonics])`; harmonics at or
        above Nyquist are dropped.

    Example: a sinusoid at 300 Hz over f0 = 100 Hz lands on the third harmonic,
        >>> amp, dist = sinusoidal_to_harmonic([[[1.]]], [[[300.]]], [[[100.]]], n_harmonics=4)
    """
    sin_amps, sin_freqs, f0_hz = map(tf_float32, (sin_amps, sin_freqs, f0_hz))
    harm_freqs = get_harmonic_frequencies(f0_hz, n_harmonics)
    distance = sin_freqs[:, :, tf.newaxis, :] - harm_freqs[..., tf.newaxis]
    distance = tf.abs(safe_divide(distance, f0_hz[..., tf.newaxis]))
    weights = tf.exp(-((distance / harmonic_width) ** 2.0))  # [B, T, H, N]
    if normalize:
        total = tf.reduce_sum(weights, axis=-1, keepdims=True)
        weights = weights / tf.maximum(total, 1.0)
    harm_amps = tf.reduce_sum(weights * sin_amps[:, :, tf.newaxis, :], axis=-1)
    harm_amps = remove_above_nyquist(harm_freqs, harm_amps, sample_rate)
    harm_amp = tf.reduce_sum(harm_amps, axis=-1, keepdims=True)
    return harm_amp, safe_divide(harm_amps, harm_amp)


def harmonic_to_sinusoidal(harm_amp, harm_dist, f0_hz, sample_rate=16000):
    """Harmonic controls -> `(amps, freqs)`, each `[B, T, H]`.

    The distribution is renormalised after dropping harmonics above Nyquist.

    Args:
        harm_amp: `[B, T, 1]` overall amplitude.
        harm_dist: `[B, T, H]` relative amplitudes.
        f0_hz: `[B, T, 1]` fundamental in Hz.

    Example: `amps, freqs = harmonic_to_sinusoidal(amp, dist, f0)` feeds `Sinusoidal`.
    """
    harm_amp, harm_dist, f0_hz = map(tf_float32, (harm_amp, harm_dist, f0_hz))
    freqs = get_harmonic_frequencies(f0_hz, harm_dist.shape[-1])
    dist = normalize_harmonics(harm_dist, f0_hz, sample_rate)
    return harm_amp * dist, freqs
