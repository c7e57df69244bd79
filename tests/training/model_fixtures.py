"""A tiny Autoencoder and synthetic batches shared by the model, trainer and train_util tests.

0.25 s of 16 kHz audio at 40 frames: a harmonic tone (f0 220-440 Hz, a loudness envelope)
plus a little noise, so the spectral loss has something learnable.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from ddsp import losses, processors, synths
from ddsp.training import decoders, models, preprocessing

SAMPLE_RATE = 16000
N_SAMPLES = 4000  # 0.25 s
N_FRAMES = 40
FFT_SIZES = (512, 256, 128)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# Strategies over two CPUs ------------------------------------------------------------------------
# Two logical CPU devices must be configured before TensorFlow starts, so those checks run in a
# fresh Python. Their scenarios (scripts that leave a JSON-able dict in `results`) are added to
# TWO_CPU_SCENARIOS by the test modules that define them and all run in one child process,
# `two_cpu_job`, a background job (tests/background.py) of each of those modules: one start of
# Python, TensorFlow and ddsp (~5 s of CPU) instead of one per scenario, beside the other tests.
# Each scenario runs in its own namespace, in the order of their names; an exception in one is
# reported (its traceback) to the tests that read it, not to the others, and a hang (the
# all-reduce of replicas that disagree) loses only the scenarios after it.
TWO_CPU_SCENARIOS = {}

_TWO_CPU_DRIVER = textwrap.dedent("""
    import json
    import sys
    import traceback
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    for name, source in json.loads(sys.stdin.read()).items():
        namespace = {'__name__': '__main__'}
        try:
            exec(compile(source, f'<two-CPU scenario {name}>', 'exec'), namespace)
            out = {'results': namespace['results']}
        except BaseException:
            out = {'error': traceback.format_exc()}
        # json writes and reads NaN; literal_eval does not.
        print('RESULTS', name, json.dumps(out), flush=True)
""")


def run_two_cpu_scenarios(scenarios, timeout=600):
    """Runs `{name: script}` in one fresh Python over two logical CPUs (see above); returns
    `{'outputs': {name: {'results': dict} or {'error': traceback}}, 'log': stdout and stderr
    tail}`. A scenario that did not finish (a crash, a hang until `timeout`) has no output."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    env.pop('TF_CONFIG', None)
    try:
        result = subprocess.run(
            [sys.executable, '-c', _TWO_CPU_DRIVER],
            input=json.dumps(scenarios),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        stdout, stderr, status = result.stdout, result.stderr, f'exit status {result.returncode}'
    except subprocess.TimeoutExpired as e:  # What the finished scenarios printed still counts.
        stdout, stderr, status = e.stdout, e.stderr, f'killed after {timeout} s'
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout or ''
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr or ''
    outputs = {}
    for line in stdout.splitlines():
        if line.startswith('RESULTS '):
            _, name, text = line.split(' ', 2)
            outputs[name] = json.loads(text)
    return {'outputs': outputs, 'log': f'{status}\n{stdout[-2000:]}\n{stderr[-4000:]}'}


def two_cpu_job(tmp_path_factory):
    """Background-job factory: every scenario in TWO_CPU_SCENARIOS, in one child process."""
    del tmp_path_factory
    scenarios = dict(sorted(TWO_CPU_SCENARIOS.items()))
    return lambda: run_two_cpu_scenarios(scenarios)


def two_cpu_results(job, name):
    """The `results` dict of scenario `name` from `two_cpu_job`'s return value."""
    out = job['outputs'].get(name)
    assert out is not None, f'scenario {name!r} did not finish: {job["log"]}'
    assert 'error' not in out, out['error']
    return out['results']


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
