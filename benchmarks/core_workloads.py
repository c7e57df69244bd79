"""Workloads for `ddsp.core` and `ddsp.spectral_ops`, with their floors.

A floor is the bare TensorFlow kernel an operation cannot avoid (the sines of
a harmonic bank, the FFTs of a convolution), on inputs of the same shape,
prepared outside the timed function. `op / floor` says how much an
operation spends beyond that kernel.
"""

import functools
import math

from common import Sizes, Workload, f0_contour, noise
import tensorflow as tf

from ddsp import core, spectral_ops

N_HARMONICS = 100
N_NOISE_BANDS = 65
MAG_SIZES = (2048, 1024, 512, 256, 128, 64)
MAG_OVERLAP = 0.75
LOUDNESS_N_FFT = 512
LOUDNESS_FRAME_RATE = 250


# ------------------------------------------------------------------------------
# Harmonic synthesis.
# ------------------------------------------------------------------------------
def _harmonic_controls(sizes):
    """f0 [B, T, 1], amplitudes [B, T, 1] and distribution [B, T, H]."""
    shape = [sizes.batch, sizes.n_frames]
    return (
        f0_contour(sizes),
        tf.random.uniform(shape + [1]),
        tf.random.uniform(shape + [N_HARMONICS]),
    )


def harmonic_fwd(sizes: Sizes) -> Workload:
    """core.harmonic_synthesis, 100 harmonics, f0 200-600 Hz with vibrato."""

    def fn(f0, amps, dist):
        return core.harmonic_synthesis(
            f0,
            amps,
            harmonic_distribution=dist,
            n_samples=sizes.n_samples,
            sample_rate=sizes.sample_rate,
        )

    return Workload(
        fn,
        _harmonic_controls(sizes),
        'core.harmonic_synthesis, 100 harmonics, forward',
        'floor_sin',
    )


def harmonic_fwd_bwd(sizes: Sizes) -> Workload:
    """harmonic_fwd plus the gradient of mean(audio^2) w.r.t. amps and dist."""
    synth = harmonic_fwd(sizes).fn

    def fn(f0, amps, dist):
        with tf.GradientTape() as tape:
            tape.watch([amps, dist])
            loss = tf.reduce_mean(tf.square(synth(f0, amps, dist)))
        return loss, tape.gradient(loss, [amps, dist])

    return Workload(
        fn,
        _harmonic_controls(sizes),
        'harmonic_fwd + gradient w.r.t. amplitudes and harmonic distribution (loss mean(audio^2))',
        'floor_sin_fwd_bwd',
    )


def _phases(sizes):
    """Random phases in [0, 2 pi), [B, N, H]: what the harmonic bank's sine sees."""
    return tf.random.uniform([sizes.batch, sizes.n_samples, N_HARMONICS], 0.0, 2.0 * math.pi)


def floor_sin(sizes: Sizes) -> Workload:
    """Floor of harmonic_fwd: tf.sin over [B, N, 100] phases in [0, 2 pi)."""
    return Workload(tf.sin, (_phases(sizes),), 'tf.sin over [B, N, 100] values in [0, 2 pi)', None)


def floor_sin_fwd_bwd(sizes: Sizes) -> Workload:
    """Floor of harmonic_fwd_bwd: sines, per-frame weighted sum, its gradient."""
    hop = sizes.n_samples // sizes.n_frames
    phases = tf.reshape(_phases(sizes), [sizes.batch, sizes.n_frames, hop, N_HARMONICS])
    weights = tf.random.uniform([sizes.batch, sizes.n_frames, N_HARMONICS])

    def fn(phases, weights):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            audio = tf.einsum('bthk,btk->bth', tf.sin(phases), weights)
            loss = tf.reduce_mean(tf.square(audio))
        return loss, tape.gradient(loss, weights)

    return Workload(
        fn,
        (phases, weights),
        'tf.sin over [B, N, 100] phases, weighted by per-frame '
        '[B, T, 100] amplitudes and summed over harmonics, + the '
        'gradient w.r.t. the amplitudes: the least a harmonic '
        "bank's forward and backward pass must do",
        None,
    )


# ------------------------------------------------------------------------------
# FIR filtering.
# ------------------------------------------------------------------------------
def _filter_fft_size(sizes):
    """FFT size frequency_filter uses: frame + 2 (bands - 1) taps - 1, pow2."""
    frame = sizes.n_samples // sizes.n_frames
    return core.get_fft_size(frame, 2 * (N_NOISE_BANDS - 1))


def frequency_filter(sizes: Sizes) -> Workload:
    """core.frequency_filter of noise with [B, T, 65] magnitudes, window 0."""
    audio = noise([sizes.batch, sizes.n_samples])
    mags = tf.random.uniform([sizes.batch, sizes.n_frames, N_NOISE_BANDS])
    return Workload(
        lambda a, m: core.frequency_filter(a, m, window_size=0),
        (audio, mags),
        'core.frequency_filter(window_size=0), 65 bands',
        'floor_filter_rfft_irfft',
    )


def floor_filter_rfft_irfft(sizes: Sizes) -> Workload:
    """Floor of frequency_filter: rfft + irfft of [B, T, fft_size] frames."""
    fft_size = _filter_fft_size(sizes)
    frames = noise([sizes.batch, sizes.n_frames, fft_size])
    return Workload(
        lambda x: tf.signal.irfft(tf.signal.rfft(x)),
        (frames,),
        f'tf.signal.irfft(rfft(x)), x [B, T, {fft_size}]',
        None,
    )


def fft_convolve(sizes: Sizes) -> Workload:
    """core.fft_convolve of [B, N] audio with a [B, 48000] impulse response."""
    audio = noise([sizes.batch, sizes.n_samples])
    ir = noise([sizes.batch, sizes.ir_samples])
    return Workload(
        core.fft_convolve,
        (audio, ir),
        f'core.fft_convolve, IR of {sizes.ir_samples} taps',
        'floor_fft_convolve',
    )


def floor_fft_convolve(sizes: Sizes) -> Workload:
    """Floor of fft_convolve: rfft(audio) * rfft(IR), irfft, same FFT size."""
    fft_size = core.get_fft_size(sizes.n_samples, sizes.ir_samples)
    audio = noise([sizes.batch, sizes.n_samples])
    ir = noise([sizes.batch, sizes.ir_samples])

    def fn(audio, ir):
        spectrum = tf.signal.rfft(audio, [fft_size]) * tf.signal.rfft(ir, [fft_size])
        return tf.signal.irfft(spectrum, [fft_size])

    return Workload(fn, (audio, ir), f'irfft(rfft(audio) * rfft(IR)) at FFT size {fft_size}', None)


# ------------------------------------------------------------------------------
# Spectral ops.
# ------------------------------------------------------------------------------
def compute_mag(sizes: Sizes, size: int) -> Workload:
    """spectral_ops.compute_mag at one FFT size, overlap 0.75."""
    audio = noise([sizes.batch, sizes.n_samples])
    return Workload(
        lambda a: spectral_ops.compute_mag(a, size=size, overlap=MAG_OVERLAP),
        (audio,),
        f'spectral_ops.compute_mag(size={size}, overlap=0.75)',
        f'floor_rfft_{size}',
    )


def floor_rfft(sizes: Sizes, size: int) -> Workload:
    """Floor of compute_mag: rfft of pre-framed, pre-windowed frames."""
    hop = int(size * (1.0 - MAG_OVERLAP))
    frames = tf.signal.frame(noise([sizes.batch, sizes.n_samples]), size, hop, pad_end=True)
    frames *= tf.signal.hann_window(size)
    return Workload(
        tf.signal.rfft, (frames,), f'tf.signal.rfft of windowed frames {frames.shape}', None
    )


def compute_loudness(sizes: Sizes) -> Workload:
    """spectral_ops.compute_loudness, n_fft 512, 250 frames per second."""
    audio = noise([sizes.batch, sizes.n_samples])

    def fn(audio):
        return spectral_ops.compute_loudness(
            audio,
            sample_rate=sizes.sample_rate,
            frame_rate=LOUDNESS_FRAME_RATE,
            n_fft=LOUDNESS_N_FFT,
        )

    return Workload(
        fn,
        (audio,),
        'spectral_ops.compute_loudness(n_fft=512, frame_rate=250)',
        'floor_loudness_stft',
    )


def floor_loudness_stft(sizes: Sizes) -> Workload:
    """Floor of compute_loudness: |stft| at n_fft 512, hop 64, same frames."""
    hop = sizes.sample_rate // LOUDNESS_FRAME_RATE
    half = LOUDNESS_N_FFT // 2
    audio = tf.pad(noise([sizes.batch, sizes.n_samples]), [[0, 0], [half, half]])

    def fn(audio):
        return tf.abs(tf.signal.stft(audio, LOUDNESS_N_FFT, hop))

    return Workload(
        fn,
        (audio,),
        f'|tf.signal.stft| at n_fft {LOUDNESS_N_FFT}, hop {hop}, of the centre-padded audio',
        None,
    )


WORKLOADS = {
    'harmonic_fwd': harmonic_fwd,
    'harmonic_fwd_bwd': harmonic_fwd_bwd,
    'frequency_filter': frequency_filter,
    'fft_convolve': fft_convolve,
    **{f'compute_mag_{s}': functools.partial(compute_mag, size=s) for s in MAG_SIZES},
    'compute_loudness': compute_loudness,
    # Floors.
    'floor_sin': floor_sin,
    'floor_sin_fwd_bwd': floor_sin_fwd_bwd,
    'floor_filter_rfft_irfft': floor_filter_rfft_irfft,
    'floor_fft_convolve': floor_fft_convolve,
    **{f'floor_rfft_{s}': functools.partial(floor_rfft, size=s) for s in MAG_SIZES},
    'floor_loudness_stft': floor_loudness_stft,
}
