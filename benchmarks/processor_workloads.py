"""Workloads for processors, effects and losses, with their floors.

The solo-instrument processor group is the synthesis half of the original
`solo_instrument.gin` model: Harmonic (60 harmonics) + FilteredNoise (65
bands, `window_size=0`) -> Add -> trainable Reverb (48000 taps), whose
gradient flows to the raw controls and the reverb IR. Its floor is the sum
of the floors of its parts; the spectral loss's floor is the forward and
inverse FFTs of its six STFTs.
"""

import math

from common import Sizes, Workload, f0_contour, noise
import tensorflow as tf

import ddsp

N_HARMONICS_SOLO = 60
N_NOISE_BANDS = 65
FFT_SIZES = (2048, 1024, 512, 256, 128, 64)


def _solo_group(sizes):
    return ddsp.processors.ProcessorGroup(
        dag=[
            (
                ddsp.synths.Harmonic(n_samples=sizes.n_samples, sample_rate=sizes.sample_rate),
                ['amps', 'harmonic_distribution', 'f0_hz'],
            ),
            (
                ddsp.synths.FilteredNoise(n_samples=sizes.n_samples, window_size=0),
                ['noise_magnitudes'],
            ),
            (ddsp.processors.Add(), ['filtered_noise/signal', 'harmonic/signal']),
            (ddsp.effects.Reverb(trainable=True, reverb_length=sizes.ir_samples), ['add/signal']),
        ]
    )


def _solo_controls(sizes):
    shape = [sizes.batch, sizes.n_frames]
    return (
        tf.random.normal(shape + [1]),
        tf.random.normal(shape + [N_HARMONICS_SOLO]),
        tf.random.normal(shape + [N_NOISE_BANDS]),
        f0_contour(sizes),
    )


def _built_group(sizes, controls):
    group = _solo_group(sizes)
    amps, dist, mags, f0 = controls
    group(
        {'amps': amps, 'harmonic_distribution': dist, 'noise_magnitudes': mags, 'f0_hz': f0}
    )  # Creates the IR weight.
    return group


def _spectral_loss():
    return ddsp.losses.SpectralLoss(
        fft_sizes=FFT_SIZES, loss_type='L1', mag_weight=1.0, logmag_weight=1.0
    )


def solo_group_fwd(sizes: Sizes) -> Workload:
    """Solo-instrument ProcessorGroup forward (Harmonic 60 + noise + reverb)."""
    controls = _solo_controls(sizes)
    group = _built_group(sizes, controls)

    def fn(amps, dist, mags, f0):
        return group(
            {'amps': amps, 'harmonic_distribution': dist, 'noise_magnitudes': mags, 'f0_hz': f0}
        )

    return Workload(fn, controls, 'solo ProcessorGroup forward', 'floor_solo_group')


def solo_group_fwd_bwd(sizes: Sizes) -> Workload:
    """Solo group + SpectralLoss, gradient w.r.t. the controls and the IR."""
    controls = _solo_controls(sizes)
    group = _built_group(sizes, controls)
    loss_fn = _spectral_loss()
    target = noise([sizes.batch, sizes.n_samples])
    variables = list(group.trainable_variables)

    def fn(amps, dist, mags, f0, target):
        with tf.GradientTape() as tape:
            tape.watch([amps, dist, mags])
            audio = group(
                {'amps': amps, 'harmonic_distribution': dist, 'noise_magnitudes': mags, 'f0_hz': f0}
            )
            loss = loss_fn(target, audio)
        return loss, tape.gradient(loss, [amps, dist, mags] + variables)

    return Workload(
        fn,
        controls + (target,),
        'solo ProcessorGroup + SpectralLoss, gradient w.r.t. controls and reverb IR',
        'floor_solo_group_fwd_bwd',
    )


def spectral_loss_fwd_bwd(sizes: Sizes) -> Workload:
    """SpectralLoss (2048..64, mag + logmag) forward + gradient w.r.t. audio."""
    loss_fn = _spectral_loss()

    def fn(target, audio):
        with tf.GradientTape() as tape:
            tape.watch(audio)
            loss = loss_fn(target, audio)
        return loss, tape.gradient(loss, audio)

    shape = [sizes.batch, sizes.n_samples]
    return Workload(
        fn,
        (noise(shape), noise(shape)),
        'SpectralLoss forward + gradient w.r.t. audio',
        'floor_spectral_loss',
    )


def _stft_ffts(frames_by_size):
    """rfft then irfft of pre-framed signals: what each STFT and its gradient
    must at least do."""
    outputs = []
    for size, frames in frames_by_size.items():
        spectrum = tf.signal.rfft(frames, [size])
        outputs.append(tf.signal.irfft(spectrum, [size]))
    return outputs


def _frames_for_sizes(sizes):
    return {
        size: tf.signal.frame(noise([sizes.batch, sizes.n_samples]), size, size // 4, pad_end=True)
        for size in FFT_SIZES
    }


def floor_spectral_loss(sizes: Sizes) -> Workload:
    """Floor of spectral_loss_fwd_bwd: rfft + irfft of 2 x the six STFT frames."""
    frames = _frames_for_sizes(sizes)

    def fn(*all_frames):
        return _stft_ffts(dict(zip(FFT_SIZES * 2, all_frames)))

    args = tuple(frames.values()) * 2
    return Workload(fn, args, 'rfft + irfft of the frames of the six STFTs, target and audio', None)


def _solo_floor_args(sizes):
    hop = sizes.n_samples // sizes.n_frames
    phases = tf.random.uniform(
        [sizes.batch, sizes.n_frames, hop, N_HARMONICS_SOLO], 0.0, 2 * math.pi
    )
    weights = tf.random.uniform([sizes.batch, sizes.n_frames, N_HARMONICS_SOLO])
    noise_frames = noise([sizes.batch, sizes.n_frames, hop])
    filters = noise([sizes.batch, sizes.n_frames, 2 * (N_NOISE_BANDS - 1)])
    audio = noise([sizes.batch, sizes.n_samples])
    ir = noise([sizes.batch, sizes.ir_samples])
    return phases, weights, noise_frames, filters, audio, ir


def _solo_floor(phases, weights, noise_frames, filters, audio, ir):
    """Sines summed per frame, noise-filter FFTs and the reverb's FFTs."""
    harmonic = tf.einsum('bthk,btk->bth', tf.sin(phases), weights)
    filter_size = 2 * noise_frames.shape[-1]
    noise_out = tf.signal.irfft(
        tf.signal.rfft(noise_frames, [filter_size]) * tf.signal.rfft(filters, [filter_size]),
        [filter_size],
    )
    fft_size = 2 ** math.ceil(math.log2(audio.shape[-1] + ir.shape[-1] - 1))
    wet = tf.signal.irfft(
        tf.signal.rfft(audio, [fft_size]) * tf.signal.rfft(ir, [fft_size]), [fft_size]
    )
    return harmonic, noise_out, wet


def floor_solo_group(sizes: Sizes) -> Workload:
    """Floor of solo_group_fwd: sines, filter FFTs and reverb FFTs."""
    return Workload(
        _solo_floor,
        _solo_floor_args(sizes),
        'sines of 60 harmonics summed per frame + noise filter FFTs + reverb FFTs',
        None,
    )


def floor_solo_group_fwd_bwd(sizes: Sizes) -> Workload:
    """Floor of solo_group_fwd_bwd: solo floor, STFT floor, and gradients."""
    args = _solo_floor_args(sizes)
    frames = _frames_for_sizes(sizes)

    def fn(phases, weights, noise_frames, filters, audio, ir):
        with tf.GradientTape() as tape:
            tape.watch([weights, filters, ir])
            outputs = _solo_floor(phases, weights, noise_frames, filters, audio, ir)
            total = tf.add_n([tf.reduce_sum(o) for o in outputs])
        grads = tape.gradient(total, [weights, filters, ir])
        return total, grads, _stft_ffts(frames), _stft_ffts(frames)

    return Workload(
        fn,
        args,
        "solo floor + its gradients + the spectral loss's STFT FFTs (forward and backward)",
        None,
    )


WORKLOADS = {
    'solo_group_fwd': solo_group_fwd,
    'solo_group_fwd_bwd': solo_group_fwd_bwd,
    'spectral_loss_fwd_bwd': spectral_loss_fwd_bwd,
    'floor_solo_group': floor_solo_group,
    'floor_solo_group_fwd_bwd': floor_solo_group_fwd_bwd,
    'floor_spectral_loss': floor_spectral_loss,
}
