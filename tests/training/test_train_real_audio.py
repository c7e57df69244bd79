"""Training on real sampled-instrument audio: the loss falls, through the whole real machinery.

Data: one shipped solo-violin tune (`data/violin/heathy_hill.flac`, 30 s of FluidR3 violin)
prepared by the `ddsp_prepare_tfrecord` Beam pipeline (CREPE tiny) into a temporary directory:
24 examples of 4 s. Models are built by gin from the shipped configs, read the records with
`data.TFRecordProvider` (bound in gin by `datasets/tfrecord.gin`) and are trained by
`trainers.Trainer` and `train_util.train`, with a loss summary at every step: the curve read
back from the summaries is the loop's own.

(a) `models/solo_instrument.gin` as shipped (4.8 M-parameter decoder, 48000-tap reverb), batch
    4, 16 steps; (b) the demo's small model (`examples.demo.training.TINY_BINDINGS`:
    the paper's `tiny_instrument.gin` decoder), more steps.

The numbers in the comments were measured once on this 2-core CPU (TF 2.21, oneDNN), three
seeds each, with `_curve` as below; the thresholds leave a margin for other seeds, platforms
and thread scheduling.
"""

import glob
import json
import os
import pathlib
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import data, models, train_util, trainers
from examples.demo import training as demo

pytest.importorskip('apache_beam')

REPO = pathlib.Path(__file__).resolve().parents[2]
TUNE = REPO / 'data' / 'violin' / 'heathy_hill.flac'
BATCH = 4


_PREPARE = """
import json, sys
from ddsp.training.data_preparation import prepare_tfrecord_lib
summary = prepare_tfrecord_lib.prepare_tfrecord([sys.argv[1]], sys.argv[2], num_shards=1,
                                                crepe_capacity='tiny')
print(json.dumps(summary['skipped']))
"""


def _records_job(tmp_path_factory):
    """The tune prepared by the real pipeline (its default local runner: one Beam worker process
    per core), in a child process that the session starts in the background
    (tests/background.py): its ~20 s run beside other tests. Same call, same options and so the
    same records, in the same order, as when this process ran the pipeline itself."""
    prefix = str(tmp_path_factory.mktemp('violin') / 'violin.tfrecord')

    def run():
        result = subprocess.run(
            [sys.executable, '-c', _PREPARE, str(TUNE), prefix],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1]), prefix

    return run


BACKGROUND_JOBS = {'records': _records_job}


@pytest.fixture
def records(background_result):
    """The TFRecord glob of the prepared tune (24 examples of 4 s)."""
    skipped, prefix = background_result('records')
    assert skipped == []
    return prefix + '-*-of-*'


pytestmark = pytest.mark.usefixtures('gin_package_path')  # tests/training/conftest.py


def _fixed_batch(provider, n=8):
    """The first `n` examples in file order: a fixed batch to compare models on."""
    return next(iter(provider.get_batch(n, shuffle=False, repeats=1)))


def _loss(model, batch):
    _, losses = model(dict(batch), training=True, return_losses=True)
    return float(losses['spectral_loss'])


def _curve(pattern, save_dir, bindings, steps, seed, learning_rate):
    """Trains `models/solo_instrument.gin` + `bindings` through gin for `steps` steps.

    Returns `(per-step training losses, fixed-batch loss before, fixed-batch loss after)`.
    """
    import keras

    gin.parse_config_files_and_bindings(
        ['models/solo_instrument.gin', 'datasets/tfrecord.gin', 'optimization/base.gin'],
        [
            f"TFRecordProvider.file_pattern = '{pattern}'",
            f'batch_size = {BATCH}',
            f'learning_rate = {learning_rate}',
            f'train_util.train.num_steps = {steps}',
            'train_util.train.steps_per_summary = 1',
            f'train_util.train.steps_per_save = {steps}',
            *bindings,
        ],
        skip_unknown=['evaluate', 'sample'],
    )
    keras.utils.set_random_seed(seed)
    model = models.get_model()
    batch = _fixed_batch(data.TFRecordProvider(pattern))
    before = _loss(model, batch)
    trainer = trainers.Trainer(model, tf.distribute.get_strategy())
    # The data provider, batch size and step counts come from gin.
    train_util.train(trainer=trainer, save_dir=save_dir, restore_dir=save_dir)
    assert int(trainer.step.numpy()) == steps
    curve = _loss_summaries(os.path.join(save_dir, 'summaries', 'train'))
    assert len(curve) == steps
    return curve, before, _loss(model, batch)


def _loss_summaries(summary_dir):
    """`losses/spectral_loss` by step from the loop's event files, as an array."""
    by_step = {}
    for path in glob.glob(os.path.join(summary_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == 'losses/spectral_loss':
                    by_step[event.step] = float(tf.make_ndarray(value.tensor))
    return np.array([by_step[s] for s in sorted(by_step)])


def _window_means(curve, n_windows):
    return [float(np.mean(w)) for w in np.array_split(curve, n_windows)]


# (a) The shipped solo_instrument.gin -------------------------------------------------------------
# Measured, learning rate 1e-3 (the config's 3e-4 needs more than a few dozen steps):
#   seeds 1 / 2, 24 steps: fixed-batch loss 18.76 -> 11.84, 18.24 -> 10.11 (ratio 0.63 / 0.55);
#   means of 3 windows of 8 steps [17.37, 12.12, 11.61], [16.89, 11.91, 10.31] (last / first
#   0.67 / 0.61); seed 0, 30 steps: 18.04 -> 9.84 (0.55), windows [21.9, 11.9, 9.7].
#   Later (TF 2.21, after the log-magnitude floor), 16 steps, seeds 0 / 1 / 2: fixed-batch loss
#   18.08 -> 9.78, 18.77 -> 11.42, 18.22 -> 11.73 (ratio 0.54 / 0.61 / 0.64); windows of 6, 5
#   and 5 steps [20.90, 15.32, 10.92], [18.65, 12.36, 11.48], [18.63, 12.42, 11.76] (larger
#   later window / first 0.73 / 0.66 / 0.67): the same margins to the thresholds as 24 steps
#   had, at two thirds of the cost of this, the suite's slowest training test.
# The first few steps overshoot (losses of 25-32 at steps 2-4 with seed 0) before the loss
# falls, so the windows, not single steps, are compared. Thresholds: both later windows
# < 0.85 x the first; the fixed batch < 0.8 x before.
SOLO_STEPS = 16
SOLO_LR = 1e-3


@pytest.mark.slow
@pytest.mark.background_job('records')
def test_solo_instrument_config_learns_the_violin(records, tmp_path):
    curve, before, after = _curve(
        records, str(tmp_path), [], SOLO_STEPS, seed=0, learning_rate=SOLO_LR
    )
    assert np.all(np.isfinite(curve))
    first, second, last = _window_means(curve, 3)
    assert max(second, last) < 0.85 * first, (first, second, last)
    assert after < 0.8 * before, (before, after)


# (b) The demo's small model, more steps ----------------------------------------------------------
# Measured, learning rate 3e-3 (the demo's), 100 steps, seeds 0 / 1 / 2:
#   fixed-batch loss before -> after: 18.06 -> 8.29, 17.91 -> 8.75, 18.40 -> 8.62 (ratio
#   0.46 / 0.49 / 0.47);
#   means of 4 windows of 25 steps: [12.08, 9.31, 8.48, 8.04], [12.42, 9.50, 8.69, 8.47],
#   [12.03, 9.71, 8.91, 8.38] (last / first 0.67 / 0.68 / 0.70);
#   means of 3 windows: [11.47, 8.83, 8.08], [11.76, 9.02, 8.47], [11.48, 9.32, 8.42].
# Later, 70 steps, seeds 0 / 1 / 2: fixed batch 18.11 -> 8.22, 17.96 -> 8.36, 18.44 -> 8.28
#   (ratio 0.45 / 0.47 / 0.45); 3 windows [10.99, 8.53, 8.04], [11.07, 8.67, 8.18],
#   [11.34, 8.67, 8.12]; 4 windows last / first 0.69 / 0.70 / 0.68: the same margins as 100
#   steps at 70 % of the cost.
# Thresholds: 3 windows strictly decreasing (smallest measured step 0.49; the per-step loss
# has a standard deviation of 0.6-0.8 after step 50, so a difference of two 23-step means
# has a standard error of ~0.2); last of 4 windows < 0.8 x the first; the fixed batch
# < 0.65 x before.
TINY_STEPS = 70
TINY_LR = demo.DEFAULT_LEARNING_RATE


@pytest.mark.slow
@pytest.mark.background_job('records')
def test_small_model_loss_falls_steadily(records, tmp_path):
    curve, before, after = _curve(
        records, str(tmp_path), demo.TINY_BINDINGS, TINY_STEPS, seed=0, learning_rate=TINY_LR
    )
    assert np.all(np.isfinite(curve))
    thirds = _window_means(curve, 3)
    assert thirds[0] > thirds[1] > thirds[2], thirds
    quarters = _window_means(curve, 4)
    assert quarters[-1] < 0.8 * quarters[0], quarters
    assert after < 0.65 * before, (before, after)
