"""Stage 1 of the demo: three short sounds made with `ddsp.core` alone, and their spectrograms.

`harmonic.wav` is a harmonic tone gliding from 220 to 440 Hz with vibrato and a darkening
spectrum, `filtered_noise.wav` is noise through a sweeping band-pass and `reverb.wav` is the
two mixed and convolved with a 1 s decaying noise impulse response.
"""

import math
import os

import numpy as np

from ddsp import core
from examples.demo.outputs import plot_spectrograms, write_wav

SECONDS = 3.0
FRAME_RATE = 100  # Control frames per second.
GLIDE_START_S, GLIDE_END_S = 0.5, 2.5
F0_START_HZ, F0_END_HZ = 220.0, 440.0
N_HARMONICS = 30
N_NOISE_BANDS = 65
REVERB_S = 1.0
RT60_S = 0.8  # Time for the reverb tail to decay by 60 dB.


def frame_times(sample_rate):
    """Frame times in seconds and the exact number of samples they cover."""
    hop = sample_rate // FRAME_RATE
    n_frames = int(SECONDS * FRAME_RATE)
    return np.arange(n_frames) / FRAME_RATE, n_frames * hop


def glide_f0(t):
    """220 Hz, a raised-cosine glide (in log frequency) to 440 Hz, 1 % vibrato."""
    progress = np.clip((t - GLIDE_START_S) / (GLIDE_END_S - GLIDE_START_S), 0.0, 1.0)
    smooth = 0.5 - 0.5 * np.cos(np.pi * progress)
    f0 = F0_START_HZ * (F0_END_HZ / F0_START_HZ) ** smooth
    return f0 * (1.0 + 0.01 * np.sin(2.0 * np.pi * 5.5 * t))


def envelope(t, attack_s=0.05, release_s=0.4):
    """Linear attack and release around a held level of 1."""
    attack = np.clip(t / attack_s, 0.0, 1.0)
    release = np.clip((t[-1] - t) / release_s, 0.0, 1.0)
    return np.minimum(attack, release)


def harmonic_tone(sample_rate):
    """The gliding harmonic tone, `[1, n_samples]`."""
    t, n_samples = frame_times(sample_rate)
    f0 = glide_f0(t)[None, :, None]
    amplitudes = 0.5 * envelope(t)[None, :, None]
    # Harmonic k has weight k^-slope; the slope grows from 1 to 2 (darker).
    slope = 1.0 + t / SECONDS
    k = np.arange(1, N_HARMONICS + 1)
    distribution = (k[None, :] ** -slope[:, None])[None]
    distribution = core.normalize_harmonics(distribution, f0, sample_rate)
    return core.harmonic_synthesis(
        f0.astype(np.float32),
        amplitudes.astype(np.float32),
        harmonic_distribution=distribution,
        n_samples=n_samples,
        sample_rate=sample_rate,
    ).numpy()


def sweeping_band_pass(t, sample_rate, lo_hz=300.0, hi_hz=6000.0, width_octaves=0.5):
    """`[1, T, 65]` magnitudes: a band whose centre sweeps exponentially."""
    centre = lo_hz * (hi_hz / lo_hz) ** (t / t[-1])
    bands = np.linspace(0.0, sample_rate / 2.0, N_NOISE_BANDS)
    octaves = np.log2(np.maximum(bands, 1.0)[None, :] / centre[:, None])
    magnitudes = np.exp(-0.5 * (octaves / width_octaves) ** 2)
    # Equal power in every frame, so that low (narrow) bands are not quieter.
    magnitudes /= np.sqrt(np.sum(magnitudes**2, axis=1, keepdims=True))
    return magnitudes[None].astype(np.float32)


def filtered_noise(sample_rate, rng):
    """Uniform noise through the sweeping band-pass, `[1, n_samples]`."""
    t, n_samples = frame_times(sample_rate)
    noise = rng.uniform(-1.0, 1.0, [1, n_samples]).astype(np.float32)
    magnitudes = sweeping_band_pass(t, sample_rate) * envelope(t)[None, :, None]
    return core.frequency_filter(noise, magnitudes).numpy()


def reverb_impulse_response(sample_rate, rng, wet=0.3):
    """A direct path plus `REVERB_S` of noise decaying by 60 dB in `RT60_S`."""
    t = np.arange(int(REVERB_S * sample_rate)) / sample_rate
    ir = wet * rng.normal(size=t.shape) * np.exp(-math.log(1000.0) * t / RT60_S)
    ir[0] = 1.0
    return ir[None].astype(np.float32)


def reverberate(audio, impulse_response):
    """Causal convolution; the input is padded so the tail is kept."""
    padded = np.pad(audio, [(0, 0), (0, impulse_response.shape[-1])])
    wet = core.fft_convolve(padded, impulse_response, delay_compensation=0)
    return wet.numpy()


def synthesize(sample_rate, seed=0):
    """Returns `{name: [1, n] float32 audio}` for the three demo sounds."""
    rng = np.random.default_rng(seed)
    harmonic = harmonic_tone(sample_rate)
    noise = filtered_noise(sample_rate, rng)
    mix = harmonic + 0.5 * noise
    wet = reverberate(mix, reverb_impulse_response(sample_rate, rng))
    wet *= 0.9 / max(0.9, np.max(np.abs(wet)))  # Never above 0.9 full scale.
    return {'harmonic': harmonic, 'filtered_noise': noise, 'reverb': wet}


def run_synthesis(output_dir, sample_rate):
    """Stage 1: writes the three WAVs and their spectrograms; `{name: path}`."""
    sounds = synthesize(sample_rate)
    paths = {}
    for name, audio in sounds.items():
        paths[name] = os.path.join(output_dir, f'{name}.wav')
        info = write_wav(paths[name], audio, sample_rate)
        print(f'{paths[name]}: {info}')
    paths['spectrograms'] = os.path.join(output_dir, 'spectrograms.png')
    info = plot_spectrograms(paths['spectrograms'], list(sounds.items()), sample_rate)
    print(f'{paths["spectrograms"]}: {info}')
    return paths
