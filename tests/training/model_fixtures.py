"""A tiny Autoencoder and synthetic batches shared by the model, trainer and train_util tests.

0.25 s of 16 kHz audio at 40 frames: a harmonic tone (f0 220-440 Hz, a loudness envelope)
plus a little noise, so the spectral loss has something learnable.
"""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from ddsp import losses, processors, synths
from ddsp.training import decoders, models, preprocessing

SAMPLE_RATE = 16000
N_SAMPLES = 4000  # 0.25 s
N_FRAMES = 40
FFT_SIZES = (512, 256, 128)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(script, timeout=300):
    """Runs `script` in a fresh Python (for a strategy over two CPUs, which must be set up
    before TensorFlow starts) and returns the JSON dict it prints after 'RESULTS '."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    env.pop('TF_CONFIG', None)
    result = subprocess.run(
        [sys.executable, '-c', script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith('RESULTS')]
    assert lines, result.stdout[-2000:] + result.stderr[-4000:]
    return json.loads(lines[0][len('RESULTS ') :])  # json reads NaN; literal_eval does not.


def make_features(n_examples=4, seed=0):
    """`{'audio': [n, N_SAMPLES], 'f0_hz': [n, N_FRAMES], 'loudness_db': [n, N_FRAMES]}`."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    f0 = rng.uniform(220.0, 440.0, size=(n_examples, 1))
    audio = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in (1, 2, 3))
    audio = audio * np.linspace(1.0, 0.3, N_SAMPLES) + 0.01 * rng.standard_normal(audio.shape)
    return {
        'audio': audio.astype(np.float32),
        'f0_hz': np.repeat(f0, N_FRAMES, axis=1).astype(np.float32),
        'loudness_db': np.full((n_examples, N_FRAMES), -30.0, np.float32),
    }


class Provider:
    """A data-provider-like object: `get_batch(batch_size, shuffle, repeats)`."""

    def __init__(self, n_examples=4, seed=0):
        self.features = make_features(n_examples, seed)

    def get_batch(self, batch_size, shuffle=True, repeats=-1):
        ds = tf.data.Dataset.from_tensor_slices(self.features)
        if shuffle:
            ds = ds.shuffle(64, seed=0)
        return ds.repeat(repeats).batch(batch_size, drop_remainder=True)


def make_autoencoder(ch=16, seed=0, noise=True, fft_sizes=FFT_SIZES):
    """A tiny Autoencoder: preprocessor, RnnFcDecoder, Harmonic + FilteredNoise, SpectralLoss.

    `noise=False` leaves out the (random) noise synth, for exactly reproducible losses; fewer
    `fft_sizes` trace faster.
    """
    import keras

    keras.utils.set_random_seed(seed)
    dag = [(synths.Harmonic(N_SAMPLES, SAMPLE_RATE), ['amps', 'harmonic_distribution', 'f0_hz'])]
    if noise:
        dag += [
            (synths.FilteredNoise(N_SAMPLES, window_size=0), ['noise_magnitudes']),
            (processors.Add(), ['filtered_noise/signal', 'harmonic/signal']),
        ]
    group = processors.ProcessorGroup(dag=dag)
    return models.Autoencoder(
        preprocessor=preprocessing.F0LoudnessPreprocessor(time_steps=N_FRAMES),
        decoder=decoders.RnnFcDecoder(
            rnn_channels=ch,
            ch=ch,
            layers_per_stack=1,
            input_keys=('ld_scaled', 'f0_scaled'),
            output_splits=(('amps', 1), ('harmonic_distribution', 8), ('noise_magnitudes', 8)),
        ),
        processor_group=group,
        losses=[losses.SpectralLoss(fft_sizes=fft_sizes, logmag_weight=1.0)],
    )
