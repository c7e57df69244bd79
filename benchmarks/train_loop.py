"""The training loop's own cost: `train_util.train` against bare `Trainer.train_step` calls.

`benchmarks/run.py` times single compiled calls; this script times the Python loop around them
(fetching each batch, the finite-loss check, progress, summaries and saves), which `run.py`
cannot see. Model: the demo's, `models/solo_instrument.gin` with a 256-unit GRU decoder and
the 48000-tap trainable reverb, batch 4 of 4 s; data: an in-memory `DataProvider` of
solo-instrument-like features (a tone with vibrato plus noise), so that the disk plays no part.

Rows (steps/s, median over `--repeats` runs of `--steps` steps each, after one warm-up run):

    bare_train_step   `trainer.train_step(batch)` in a Python loop over the dataset iterator
    train_util.train  the loop as users run it: summaries every 50 steps, one save at the end

Run from the repository root (any checkout: it uses only APIs that every version has):

    .venv/bin/python benchmarks/train_loop.py [--steps 40] [--repeats 3]

Read the ratio of the two rows, not the seconds: the loop's overhead is
1 - train_util.train / bare_train_step.
"""

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time

import tensorflow as tf

sys.path.insert(0, os.getcwd())  # The checkout under test, not an installed copy.

BATCH = 4
SAMPLE_RATE = 16000
FRAME_RATE = 250
N_SAMPLES = 4 * SAMPLE_RATE
N_FRAMES = N_SAMPLES * FRAME_RATE // SAMPLE_RATE


def _features(n_examples=16, seed=0):
    """`n_examples` dicts of solo-instrument-like features (4 s)."""
    rng = tf.random.Generator.from_seed(seed)
    base = rng.uniform([n_examples, 1], 200.0, 600.0)
    t_frames = tf.range(N_FRAMES, dtype=tf.float32) / FRAME_RATE
    t = tf.range(N_SAMPLES, dtype=tf.float32) / SAMPLE_RATE
    return {
        'audio': 0.3 * tf.sin(2.0 * math.pi * base * t)
        + 0.01 * rng.normal([n_examples, N_SAMPLES]),
        'f0_hz': base * (1.0 + 0.01 * tf.sin(2.0 * math.pi * 5.0 * t_frames)),
        'f0_confidence': tf.ones([n_examples, N_FRAMES]),
        'loudness_db': rng.uniform([n_examples, N_FRAMES], -60.0, -20.0),
    }


def _provider():
    from ddsp.training import data

    class InMemory(data.DataProvider):
        def __init__(self):
            super().__init__(SAMPLE_RATE, FRAME_RATE)
            self._features = _features()

        def get_dataset(self, shuffle=True):
            return tf.data.Dataset.from_tensor_slices(self._features)

    return InMemory()


def _trainer():
    import gin
    import keras

    from ddsp.training import models, trainers
    from ddsp.training.gin import GIN_PATH

    gin.clear_config()
    gin.add_config_file_search_path(GIN_PATH)
    gin.parse_config_files_and_bindings(
        ['models/solo_instrument.gin'],
        ['RnnFcDecoder.rnn_channels = 256', 'RnnFcDecoder.layers_per_stack = 0'],
    )
    keras.utils.set_random_seed(0)
    return trainers.Trainer(models.get_model(), tf.distribute.get_strategy(), learning_rate=1e-4)


def bare_steps(trainer, dataset_iter, n_steps):
    """Seconds for `n_steps` of `trainer.train_step` on batches from `dataset_iter`."""
    start = time.perf_counter()
    for _ in range(n_steps):
        losses = trainer.train_step(next(dataset_iter))
        float(losses['total_loss'].numpy())  # Wait for the step, as the loop does.
    return time.perf_counter() - start


def loop_steps(provider, trainer, save_dir, n_steps):
    """Seconds for `train_util.train` to run `n_steps` more steps (restore, loop, one save)."""
    from ddsp.training import train_util

    target = int(trainer.step.numpy()) + n_steps
    start = time.perf_counter()
    train_util.train(
        provider,
        trainer,
        batch_size=BATCH,
        num_steps=target,
        steps_per_summary=50,
        steps_per_save=10**9,
        save_dir=save_dir,
        restore_dir=save_dir,
    )
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=40, help='Steps per timed run (default 40).')
    p.add_argument('--repeats', type=int, default=3, help='Timed runs per row (default 3).')
    args = p.parse_args(argv)

    provider, trainer = _provider(), _trainer()
    dataset = trainer.strategy.experimental_distribute_dataset(provider.get_batch(BATCH))
    dataset_iter = iter(dataset)
    bare_steps(trainer, dataset_iter, 3)  # Traces and builds.
    with tempfile.TemporaryDirectory() as save_dir:
        loop_steps(provider, trainer, save_dir, 3)  # Traces the loop's pieces too.
        bare, loop = [], []
        for _ in range(args.repeats):  # Alternating, so that drift hits both rows alike.
            bare.append(args.steps / bare_steps(trainer, dataset_iter, args.steps))
            loop.append(args.steps / loop_steps(provider, trainer, save_dir, args.steps))
    b, lp = statistics.median(bare), statistics.median(loop)
    print(f'# Training loop, demo model, batch {BATCH} x 4 s, {args.steps} steps a run')
    print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs')
    print('| row | steps/s (median) | runs |')
    print('|---|---|---|')
    print(f'| bare_train_step | {b:.3f} | {", ".join(f"{x:.3f}" for x in bare)} |')
    print(f'| train_util.train | {lp:.3f} | {", ".join(f"{x:.3f}" for x in loop)} |')
    print(f'loop overhead: {100 * (1 - lp / b):.1f} %')


if __name__ == '__main__':
    main()
