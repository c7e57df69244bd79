"""The programs users read first, the solo-instrument DAG, and fitting a sound.

The two README programs run verbatim (with the network replaced by random
tensors of the right shapes); the solo-instrument processor group is built from
the gin text of the original configs; and gradient descent through Harmonic +
FilteredNoise + Reverb with SpectralLoss recovers a target made by the same
synths.
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

import ddsp

N_FRAMES, N_SAMPLES = 250, 64000


def network(inputs):
    """Stands in for a decoder: random outputs with the shapes the synths take."""
    del inputs
    return {
        'amplitudes': tf.random.normal([2, N_FRAMES, 1]),
        'amps': tf.random.normal([2, N_FRAMES, 1]),
        'harmonic_distribution': tf.random.normal([2, N_FRAMES, 60]),
        'magnitudes': tf.random.normal([2, N_FRAMES, 65]),
        'f0_hz': tf.random.uniform([2, 1, 1], 100.0, 500.0) * tf.ones([2, N_FRAMES, 1]),
    }


def test_readme_additive_program():
    inputs = None
    # --- README program 1, verbatim ---
    outputs = network(inputs)  # in the test: a dict of random tensors of the right shapes
    additive = ddsp.synths.Additive()
    audio = additive(outputs['amplitudes'], outputs['harmonic_distribution'], outputs['f0_hz'])
    # ---
    assert audio.shape == (2, N_SAMPLES)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) > 0.0


def test_readme_processor_group_program():
    inputs = None
    audio_input = tf.random.uniform([2, N_SAMPLES], -0.5, 0.5)
    outputs = network(inputs)
    # --- README program 2, verbatim ---
    additive = ddsp.synths.Additive()
    filtered_noise = ddsp.synths.FilteredNoise()
    add = ddsp.processors.Add()
    reverb = ddsp.effects.TrainableReverb()
    spectral_loss = ddsp.losses.SpectralLoss()
    dag = [
        (additive, ['amps', 'harmonic_distribution', 'f0_hz']),
        (filtered_noise, ['magnitudes']),
        (add, ['additive/signal', 'filtered_noise/signal']),
        (reverb, ['add/signal']),
    ]
    processor_group = ddsp.processors.ProcessorGroup(dag=dag)
    audio = processor_group(outputs)
    loss = spectral_loss(audio, audio_input)
    # ---
    assert audio.shape == (2, N_SAMPLES)
    assert float(loss) > 0.0
    assert [v.name for v in processor_group.trainable_variables] == ['ir']
    everything = processor_group(outputs, return_outputs_dict=True)['controls']
    np.testing.assert_allclose(
        everything['add']['signal'],
        everything['additive']['signal'] + everything['filtered_noise']['signal'],
        rtol=1e-5,
        atol=1e-6,
    )


SOLO_INSTRUMENT_GIN = """
ProcessorGroup.dag = [
    (@synths.Harmonic(), ['amps', 'harmonic_distribution', 'f0_hz']),
    (@synths.FilteredNoise(), ['noise_magnitudes']),
    (@processors.Add(), ['filtered_noise/signal', 'harmonic/signal']),
    (@effects.Reverb(), ['add/signal']),
]
Harmonic.n_samples = 64000
Harmonic.sample_rate = 16000
Harmonic.normalize_below_nyquist = True
Harmonic.scale_fn = @core.exp_sigmoid
FilteredNoise.n_samples = 64000
FilteredNoise.window_size = 0
FilteredNoise.scale_fn = @core.exp_sigmoid
Reverb.trainable = True
Reverb.reverb_length = 48000
"""


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_solo_instrument_dag_from_gin_parses_and_runs(clean_gin):
    gin.parse_config(SOLO_INSTRUMENT_GIN)
    group = ddsp.processors.ProcessorGroup()
    controls = {
        'amps': tf.random.normal([1, N_FRAMES, 1]),
        'harmonic_distribution': tf.random.normal([1, N_FRAMES, 60]),
        'noise_magnitudes': tf.random.normal([1, N_FRAMES, 65]),
        'f0_hz': 220.0 * tf.ones([1, N_FRAMES, 1]),
    }
    outputs = group(controls, return_outputs_dict=True)['controls']
    assert group.processor_names == ['harmonic', 'filtered_noise', 'add', 'reverb']
    assert outputs['out']['signal'].shape == (1, N_SAMPLES)
    ir = group.reverb.trainable_variables
    assert len(ir) == 1 and ir[0].shape == (48000,)
    # Reverb adds the dry signal to a convolution with the learned IR.
    dry = outputs['add']['signal'].numpy()[0]
    ir_np = ir[0].numpy().copy()
    ir_np[0] = 0.0
    wet = np.convolve(dry, ir_np)[:N_SAMPLES]
    np.testing.assert_allclose(outputs['out']['signal'][0], dry + wet, atol=1e-5)


def _solo_group(n_samples, reverb_length):
    return ddsp.processors.ProcessorGroup(
        dag=[
            (ddsp.synths.Harmonic(n_samples=n_samples), ['amps', 'harmonic_distribution', 'f0_hz']),
            (ddsp.synths.FilteredNoise(n_samples=n_samples, window_size=0), ['noise_magnitudes']),
            (ddsp.processors.Add(), ['filtered_noise/signal', 'harmonic/signal']),
            (ddsp.effects.Reverb(trainable=True, reverb_length=reverb_length), ['add/signal']),
        ]
    )


@pytest.mark.slow
def test_fit_a_single_sound():
    """Gradient descent recovers a sound made by the same synths.

    Target: hidden, smooth controls (a decaying amplitude, a 1/k harmonic
    spectrum, quiet noise) and a hidden exponentially decaying IR. Start: the
    same f0, random raw controls and a near-zero trainable IR. The loss is the
    multi-scale spectral loss (mag + logmag) of the original configs. Measured
    here: the loss falls from 34-38 (mean of the first 5 steps) to 2.3-3.0
    (mean of the last 10) in 300-500 Adam steps, a factor of 12-15; what
    remains is mostly the difference between two noise draws. The test runs
    500 steps and asks for 10.
    """
    tf.random.set_seed(1)
    np.random.seed(1)
    n_frames, n_samples, n_harmonics, n_bands = 50, 16000, 20, 17
    t = np.linspace(0.0, 1.0, n_frames, dtype=np.float32)[None, :, None]
    f0 = 220.0 * np.ones([1, n_frames, 1], np.float32)

    target_group = _solo_group(n_samples, reverb_length=4000)
    hidden = {
        'amps': 2.0 - 3.0 * t,  # raw, decaying
        'harmonic_distribution': np.log(1.0 / np.arange(1.0, n_harmonics + 1))[None, None, :]
        * np.ones([1, n_frames, 1])
        + 2.0,
        'noise_magnitudes': -2.0 * np.ones([1, n_frames, n_bands]),
        'f0_hz': f0,
    }
    hidden = {k: tf.constant(v, tf.float32) for k, v in hidden.items()}
    target_group(hidden)  # Build, then set the hidden IR.
    decay = np.exp(-np.arange(4000) / 600.0).astype(np.float32)
    target_group.reverb.ir.assign(0.1 * np.random.randn(4000).astype(np.float32) * decay)
    target = target_group(hidden)

    group = _solo_group(n_samples, reverb_length=4000)
    controls = {
        'amps': tf.Variable(tf.random.normal([1, n_frames, 1])),
        'harmonic_distribution': tf.Variable(tf.random.normal([1, n_frames, n_harmonics])),
        'noise_magnitudes': tf.Variable(tf.random.normal([1, n_frames, n_bands])),
    }
    spectral_loss = ddsp.losses.SpectralLoss(mag_weight=1.0, logmag_weight=1.0)
    group({**controls, 'f0_hz': f0})
    variables = list(controls.values()) + group.trainable_variables
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            audio = group({**controls, 'f0_hz': f0})
            loss = spectral_loss(target, audio)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    losses = [float(step()) for _ in range(500)]
    initial, final = np.mean(losses[:5]), np.mean(losses[-10:])
    assert all(np.isfinite(losses))
    print(f'spectral loss: first 5 steps {initial:.2f}, last 10 steps {final:.2f}')
    assert final < initial / 10.0, (initial, final)
