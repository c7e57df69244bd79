"""Training-step workloads: one `Trainer.train_step` of the solo-instrument Autoencoder.

The model is `models/solo_instrument.gin`'s: `F0LoudnessPreprocessor` at 250 frames per second
(1000 frames for 4 s; `Sizes.n_samples / 64`), `RnnFcDecoder` (GRU 512, FcStacks of 3 x 512,
inputs loudness and f0, 4,801,150 weights), the solo processor group of
`processor_workloads` (Harmonic 60 + FilteredNoise 65 -> Add -> trainable Reverb of
`Sizes.ir_samples` taps) and the six-scale `SpectralLoss`; the trainer is Adam with an
exponentially decaying learning rate and gradient clipping. One call is one optimizer step
(forward, gradient, clipping, update); steps per second = 1 / median.

Rows: `train_step_solo` at `Sizes.batch` (16), `train_step_solo_b4` at batch 4 (1 with
--smoke), and `train_step_solo_jit`, the batch-16 step with `Trainer(jit_compile=True)` (the
whole step compiled by XLA).
"""

import dataclasses
import functools
import math

from common import Sizes, Workload
import processor_workloads
import tensorflow as tf

FRAME_RATE = 250
RNN_CHANNELS = 512


def _solo_autoencoder(sizes: Sizes):
    from ddsp.training import decoders, models, preprocessing

    n_frames = sizes.n_samples * FRAME_RATE // sizes.sample_rate
    return models.Autoencoder(
        preprocessor=preprocessing.F0LoudnessPreprocessor(time_steps=n_frames),
        encoder=None,
        decoder=decoders.RnnFcDecoder(
            rnn_channels=RNN_CHANNELS,
            rnn_type='gru',
            ch=512,
            layers_per_stack=3,
            input_keys=('ld_scaled', 'f0_scaled'),
            output_splits=(
                ('amps', 1),
                ('harmonic_distribution', processor_workloads.N_HARMONICS_SOLO),
                ('noise_magnitudes', processor_workloads.N_NOISE_BANDS),
            ),
        ),
        processor_group=processor_workloads._solo_group(sizes),
        losses=[processor_workloads._spectral_loss()],
    ), n_frames


def _solo_batch(sizes: Sizes, n_frames: int):
    """Features as in a solo-instrument dataset: a tone at each example's mean f0 plus noise."""
    base = tf.random.uniform([sizes.batch, 1], 200.0, 600.0)
    vibrato = 1.0 + 0.01 * tf.sin(
        2.0 * math.pi * 5.0 / FRAME_RATE * tf.range(n_frames, dtype=tf.float32)
    )
    t = tf.range(sizes.n_samples, dtype=tf.float32) / sizes.sample_rate
    return {
        'audio': 0.3 * tf.sin(2.0 * math.pi * base * t)
        + 0.01 * tf.random.normal([sizes.batch, sizes.n_samples]),
        'f0_hz': base * vibrato,
        'f0_confidence': tf.ones([sizes.batch, n_frames]),
        'loudness_db': tf.random.uniform([sizes.batch, n_frames], -80.0, -20.0),
    }


def train_step_solo(sizes: Sizes, batch=None, jit_compile=False) -> Workload:
    """One solo_instrument Trainer.train_step (GRU 512 decoder, 4 s examples)."""
    from ddsp.training import trainers

    if batch is not None:
        sizes = dataclasses.replace(sizes, batch=min(batch, sizes.batch))
    model, n_frames = _solo_autoencoder(sizes)
    trainer = trainers.Trainer(
        model,
        tf.distribute.get_strategy(),
        learning_rate=3e-4,
        lr_decay_steps=10000,
        lr_decay_rate=0.98,
        grad_clip_norm=3.0,
        jit_compile=jit_compile,
    )
    features = _solo_batch(sizes, n_frames)
    trainer.build(features)

    def fn(features):
        return trainer.train_step(features)['total_loss']  # The closure keeps `trainer`.

    mode = ', whole step under XLA (jit_compile=True)' if jit_compile else ''
    return Workload(
        fn,
        (features,),
        f'solo_instrument Trainer.train_step, batch {sizes.batch} x {sizes.seconds:g} s, '
        f'{n_frames} frames, {model.decoder.count_params():,} decoder weights{mode}; '
        f'steps/s = 1 / median',
        None,
        unit='steps',
    )


WORKLOADS = {
    'train_step_solo': train_step_solo,
    'train_step_solo_b4': functools.partial(train_step_solo, batch=4),
    'train_step_solo_jit': functools.partial(train_step_solo, jit_compile=True),
}
