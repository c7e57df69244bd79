"""A few seconds of audio synthesised with `ddsp.core` alone.

    python -m ddsp.demo --output_dir demo_output [--sample_rate 16000]

writes to the output directory:

* `harmonic.wav`: a harmonic tone gliding from 220 to 440 Hz with vibrato,
  an amplitude envelope and a harmonic distribution that gets darker as the
  note goes on (`core.harmonic_synthesis`);
* `filtered_noise.wav`: uniform noise through a band-pass filter whose centre
  sweeps from 300 Hz to 6 kHz (`core.frequency_filter`);
* `reverb.wav`: the two mixed and convolved with a 1 s exponentially decaying
  noise impulse response (`core.fft_convolve`), one second longer for the
  tail;
* `spectrograms.png`: a spectrogram of each (needs matplotlib);
* `violin/`: the shipped solo-violin dataset (`data/violin`, 3.4 minutes of
  FLAC) prepared for training by the `ddsp_prepare_tfrecord` Beam pipeline:
  TFRecord shards (train and eval) with f0 and confidence from CREPE and
  A-weighted loudness, and the dataset statistics as JSON. `--no_dataset`
  skips this stage (it needs the `data_preparation` and `crepe` extras).
"""

import argparse
import math
import os

import numpy as np
import soundfile as sf

from ddsp import core

SECONDS = 3.0
FRAME_RATE = 100  # Control frames per second.
GLIDE_START_S, GLIDE_END_S = 0.5, 2.5
F0_START_HZ, F0_END_HZ = 220.0, 440.0
N_HARMONICS = 30
N_NOISE_BANDS = 65
REVERB_S = 1.0
RT60_S = 0.8  # Time for the reverb tail to decay by 60 dB.
# The dataset shipped in the repository (absent from an installed wheel).
DATASET_GLOB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            'data', 'violin', '*.flac')
DATASET_CREPE = 'tiny'  # 5x faster than 'full' here, within 10 cents on this violin.


def frame_times(sample_rate):
    """Frame times in seconds and the exact number of samples they cover."""
    hop = sample_rate // FRAME_RATE
    n_frames = int(SECONDS * FRAME_RATE)
    return np.arange(n_frames) / FRAME_RATE, n_frames * hop


def glide_f0(t):
    """220 Hz, a raised-cosine glide (in log frequency) to 440 Hz, 1 % vibrato."""
    progress = np.clip((t - GLIDE_START_S) / (GLIDE_END_S - GLIDE_START_S),
                       0.0, 1.0)
    smooth = 0.5 - 0.5 * np.cos(np.pi * progress)
    f0 = F0_START_HZ * (F0_END_HZ / F0_START_HZ)**smooth
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
        f0.astype(np.float32), amplitudes.astype(np.float32),
        harmonic_distribution=distribution, n_samples=n_samples,
        sample_rate=sample_rate).numpy()


def sweeping_band_pass(t, sample_rate, lo_hz=300.0, hi_hz=6000.0,
                       width_octaves=0.5):
    """`[1, T, 65]` magnitudes: a band whose centre sweeps exponentially."""
    centre = lo_hz * (hi_hz / lo_hz)**(t / t[-1])
    bands = np.linspace(0.0, sample_rate / 2.0, N_NOISE_BANDS)
    octaves = np.log2(np.maximum(bands, 1.0)[None, :] / centre[:, None])
    magnitudes = np.exp(-0.5 * (octaves / width_octaves)**2)
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


def _kib(path):
    return f'{os.path.getsize(path) / 1024:.0f} KiB'


def write_wav(path, audio, sample_rate):
    """Writes `[1, n]` audio as 32-bit float WAV; returns a description."""
    sf.write(path, audio[0], sample_rate, subtype='FLOAT')
    return f'{audio.shape[-1] / sample_rate:.2f} s, {_kib(path)}'


def _pyplot_free_figure(**kwargs):
    """A matplotlib Figure drawn by the Agg backend (pyplot is left alone)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError('The demo plots spectrograms with matplotlib, which '
                          'is not installed: pip install matplotlib') from e
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def plot_spectrograms(path, signals, sample_rate):
    """Saves one log-magnitude spectrogram per `(title, [1, n] audio)` pair."""
    figure = _pyplot_free_figure(figsize=(10, 2.6 * len(signals)),
                                 layout='constrained')
    axes = figure.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, audio) in zip(axes, signals, strict=True):
        ax.specgram(audio[0], NFFT=1024, Fs=sample_rate, noverlap=768,
                    cmap='magma', vmin=-110, vmax=-20)
        ax.set(title=title, ylabel='Hz', ylim=(0, sample_rate / 2),
               facecolor='black')  # Shorter signals end in silence.
    axes[-1].set_xlabel('seconds')
    figure.savefig(path, dpi=80)
    return _kib(path)


def synthesize(sample_rate, seed=0):
    """Returns `{name: [1, n] float32 audio}` for the three demo sounds."""
    rng = np.random.default_rng(seed)
    harmonic = harmonic_tone(sample_rate)
    noise = filtered_noise(sample_rate, rng)
    mix = harmonic + 0.5 * noise
    wet = reverberate(mix, reverb_impulse_response(sample_rate, rng))
    wet *= 0.9 / max(0.9, np.max(np.abs(wet)))  # Never above 0.9 full scale.
    return {'harmonic': harmonic, 'filtered_noise': noise, 'reverb': wet}


def prepare_dataset(output_dir, audio_glob=DATASET_GLOB, crepe_capacity=DATASET_CREPE):
    """Runs the data-preparation pipeline on the shipped dataset; returns its summary."""
    import glob  # pylint: disable=import-outside-toplevel
    if not glob.glob(audio_glob):
        print(f'No audio matches {audio_glob}; skipping the dataset stage.')
        return None
    # Imported here: Apache Beam is an optional dependency.
    from ddsp.training.data_preparation import prepare_tfrecord_lib  # pylint: disable=import-outside-toplevel
    prefix = os.path.join(output_dir, 'violin', 'violin.tfrecord')
    summary = prepare_tfrecord_lib.prepare_tfrecord(
        [audio_glob], prefix, num_shards=2, eval_split_fraction=0.1,
        crepe_capacity=crepe_capacity)
    for path in summary['outputs']:
        print(f'{path}: {os.path.getsize(path) / 1e6:.1f} MB')
    print(f'dataset: {summary["audio_seconds_per_second"]:.1f} s of audio per second, '
          f'{len(summary["skipped"])} files skipped')
    return summary


def main(argv=None):
    """Synthesises, writes the WAVs and the PNG; returns `{name: path}`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--output_dir', default='demo_output',
                        help='Directory for the WAV and PNG files.')
    parser.add_argument('--sample_rate', type=int, default=16000,
                        help='Audio sample rate in Hz (default 16000).')
    parser.add_argument('--no_dataset', action='store_true',
                        help='Skip preparing the shipped violin dataset.')
    args = parser.parse_args(argv)
    if args.sample_rate < 2 * FRAME_RATE:
        parser.error(f'--sample_rate must be at least {2 * FRAME_RATE} Hz.')

    os.makedirs(args.output_dir, exist_ok=True)
    sounds = synthesize(args.sample_rate)
    paths = {}
    for name, audio in sounds.items():
        paths[name] = os.path.join(args.output_dir, f'{name}.wav')
        info = write_wav(paths[name], audio, args.sample_rate)
        print(f'{paths[name]}: {info}')
    paths['spectrograms'] = os.path.join(args.output_dir, 'spectrograms.png')
    info = plot_spectrograms(paths['spectrograms'], list(sounds.items()),
                             args.sample_rate)
    print(f'{paths["spectrograms"]}: {info}')
    if not args.no_dataset:
        paths['dataset'] = prepare_dataset(args.output_dir)
    return paths


if __name__ == '__main__':
    main()
