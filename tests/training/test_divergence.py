"""A NaN or inf step is not applied, stops `train_util.train`, and is never saved.

Real models and batches throughout: a batch with a NaN sample makes the spectral loss (and
the gradient) NaN; `SqrtModel` has a finite loss whose gradient is NaN at one point.
"""

import glob
import logging
import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import train_util, trainers

from . import model_fixtures as mf

ITERATIONS = 'optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE'


def _batch(n_examples=2, nan_at=None):
    """`mf.make_features` as tensors; `nan_at=(example, sample)` puts a NaN in the audio."""
    features = mf.make_features(n_examples)
    if nan_at is not None:
        features['audio'][nan_at] = np.nan
    return {k: tf.constant(v) for k, v in features.items()}


class _PoisonedProvider:
    """Clean batches, except batch `nan_batch` (0-based, in order) whose audio holds a NaN.

    `train_util.train` builds the model with batch 0, so step `k` (1-based) reads batch `k`.
    """

    def __init__(self, nan_batch):
        self.nan_batch = nan_batch

    def get_batch(self, batch_size, shuffle=True, repeats=-1):
        del shuffle, repeats  # In order and endless: the step of the NaN is known.
        clean = tf.data.Dataset.from_tensors(_batch(batch_size))
        bad = tf.data.Dataset.from_tensors(_batch(batch_size, nan_at=(1, 100)))
        return clean.repeat(self.nan_batch).concatenate(bad).concatenate(clean.repeat())


def _state(trainer):
    """Copies of every model weight and optimizer variable (Adam's moments, `iterations`)."""
    return [np.array(v.numpy()) for v in trainer.model.weights + trainer.optimizer.variables]


def _assert_same_state(before, after):
    assert len(before) == len(after)
    for i, (a, b) in enumerate(zip(before, after)):
        np.testing.assert_array_equal(a, b, err_msg=f'variable {i}')


def _read_checkpoint(prefix):
    """`{name: array}` of a checkpoint's variables."""
    reader = tf.train.load_checkpoint(prefix)
    return {
        name: reader.get_tensor(name)
        for name, _ in tf.train.list_variables(prefix)
        if name != '_CHECKPOINTABLE_OBJECT_GRAPH'
    }


# The training loop -------------------------------------------------------------------------------
def test_train_stops_at_a_nan_step_and_keeps_the_last_finite_checkpoint(tmp_path, caplog):
    # Saves when the step read is a multiple of 3 (ckpt-1, ckpt-4); step 6 reads the NaN
    # batch. Step 5 ran and was finite but is not saved: the run stops without a final save.
    save_dir = str(tmp_path)
    trainer = trainers.Trainer(
        mf.make_autoencoder(fft_sizes=(256,)), tf.distribute.get_strategy(), learning_rate=3e-3
    )
    with caplog.at_level(logging.ERROR), pytest.raises(train_util.TrainingDivergedError) as info:
        train_util.train(
            _PoisonedProvider(nan_batch=6),
            trainer,
            batch_size=2,
            num_steps=20,
            steps_per_save=3,
            steps_per_summary=2,
            save_dir=save_dir,
            restore_dir=save_dir,
        )

    error = info.value
    newest = os.path.join(save_dir, 'ckpt-4')
    assert (error.step, error.checkpoint) == (6, newest)
    assert np.isnan(error.values['total_loss']) and np.isnan(error.values['grad_norm'])
    message = str(error).splitlines()[0]  # Gin appends "In call to configurable" lines.
    assert message.startswith('Training diverged at step 6: expected a finite total loss')
    assert 'total_loss = nan' in message and newest in message
    assert 'learning rate' in message and message.endswith('loudness_db).')
    assert any(
        'Training diverged at step 6' in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )

    # The trainer did not apply step 6, and nothing was saved after ckpt-4.
    assert int(trainer.step.numpy()) == 5
    assert all(np.all(np.isfinite(v)) for v in _state(trainer))
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(save_dir, '*.index'))) == [
        'ckpt-1.index',
        'ckpt-4.index',
    ]
    assert train_util.get_latest_checkpoint(save_dir) == newest  # TF's state file agrees.
    saved = _read_checkpoint(newest)
    assert int(saved[ITERATIONS]) == 4
    assert sum(name.startswith('optimizer/_variables/') for name in saved) >= 20  # Adam m, v.
    for name, value in saved.items():
        assert np.all(np.isfinite(value)), name


def test_train_resumes_from_the_last_finite_checkpoint(tmp_path):
    # After the divergence at step 2, the same command on clean data resumes at ckpt-1.
    save_dir = str(tmp_path)
    trainer = trainers.Trainer(
        mf.make_autoencoder(fft_sizes=(256,)), tf.distribute.get_strategy(), learning_rate=3e-3
    )
    with pytest.raises(train_util.TrainingDivergedError, match='at step 2:'):
        train_util.train(
            _PoisonedProvider(nan_batch=2),
            trainer,
            batch_size=2,
            num_steps=20,
            steps_per_save=1,
            save_dir=save_dir,
            restore_dir=save_dir,
        )
    resumed = trainers.Trainer(
        mf.make_autoencoder(fft_sizes=(256,)), tf.distribute.get_strategy(), learning_rate=3e-3
    )
    losses = train_util.train(
        mf.Provider(), resumed, batch_size=2, num_steps=3, save_dir=save_dir, restore_dir=save_dir
    )
    assert int(resumed.step.numpy()) == 3 and np.isfinite(losses['total_loss'])
    assert 'grad_norm' not in losses  # Not a loss.


# The train step ----------------------------------------------------------------------------------
@pytest.mark.parametrize('jit_compile', [False, True])
def test_nan_loss_step_leaves_weights_moments_and_step_untouched(jit_compile):
    trainer = trainers.Trainer(
        mf.make_autoencoder(noise=False, fft_sizes=(256,)),
        tf.distribute.get_strategy(),
        learning_rate=3e-3,
        jit_compile=jit_compile,
    )
    clean = _batch()
    trainer.build(clean)
    trainer.train_step(clean)  # Adam's moments are no longer zero.
    before = _state(trainer)

    outputs = trainer.train_step(_batch(nan_at=(0, 7)))
    assert np.isnan(float(outputs['total_loss'])) and np.isnan(float(outputs['grad_norm']))
    _assert_same_state(before, _state(trainer))
    assert int(trainer.step.numpy()) == 1

    # The next finite step is applied as usual.
    outputs = trainer.train_step(clean)
    assert np.isfinite(float(outputs['total_loss'])) and float(outputs['grad_norm']) > 0
    assert int(trainer.step.numpy()) == 2


class SqrtModel(keras.Model):
    """`total_loss = sqrt(|w - x|)`: finite everywhere, its gradient NaN where `w == x`."""

    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(), initializer='ones', name='w')

    def call(self, batch, return_losses=False, training=False):
        del training
        loss = tf.sqrt(tf.abs(self.w - batch['x']))
        return ({'loss': loss}, {'total_loss': loss}) if return_losses else {'loss': loss}


@pytest.mark.parametrize('jit_compile', [False, True])
def test_finite_loss_with_nan_gradient_is_not_applied(jit_compile):
    trainer = trainers.Trainer(
        SqrtModel(), tf.distribute.get_strategy(), learning_rate=0.1, jit_compile=jit_compile
    )
    trainer.build({'x': tf.constant(3.0)})
    outputs = trainer.train_step({'x': tf.constant(3.0)})
    assert np.isfinite(float(outputs['grad_norm'])) and int(trainer.step.numpy()) == 1
    before = _state(trainer)

    outputs = trainer.train_step({'x': tf.constant(before[0])})  # x == w: the loss is 0.
    assert float(outputs['total_loss']) == 0.0 and np.isnan(float(outputs['grad_norm']))
    _assert_same_state(before, _state(trainer))


# Several replicas --------------------------------------------------------------------------------
# Run over two logical CPUs in a child process shared with test_trainers.py's scenario
# (model_fixtures.TWO_CPU_SCENARIOS), a background job.
_MIRRORED_SCRIPT = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    from ddsp.training import train_util, trainers
    from tests.training import model_fixtures as mf
    strategy = train_util.get_strategy()
    clean = mf.make_features()
    audio = clean['audio'].copy()
    audio[3, 100] = np.nan  # Batch 4 split 2 + 2: only the second replica sees the NaN.
    batches = [clean, clean, dict(clean, audio=audio), clean]
    dataset = tf.data.Dataset.from_tensor_slices(
        {k: np.stack([b[k] for b in batches]) for k in clean})
    with strategy.scope():
        model = mf.make_autoencoder(noise=False, fft_sizes=(256,))
    trainer = trainers.Trainer(model, strategy, learning_rate=3e-3)
    iterator = iter(trainer.distribute_dataset(dataset))
    trainer.build(next(iterator))

    def state():  # Every replica's copy of every variable.
        return [np.array(x) for v in trainer.model.weights + trainer.optimizer.variables
                for x in strategy.experimental_local_results(v.value)]

    results = {'replicas': strategy.num_replicas_in_sync}
    results['first'] = float(trainer.train_step(iterator)['total_loss'])
    before = state()
    outputs = trainer.train_step(iterator)
    after = state()
    results['nan_loss'] = float(outputs['total_loss'])
    results['n_copies'] = len(after)
    results['unchanged'] = all(np.array_equal(a, b) for a, b in zip(before, after))
    results['step_after_nan'] = int(trainer.step.numpy())
    results['next'] = float(trainer.train_step(iterator)['total_loss'])
    results['step_after_next'] = int(trainer.step.numpy())
""")
mf.TWO_CPU_SCENARIOS['nan_step_skipped_on_both_replicas'] = _MIRRORED_SCRIPT
BACKGROUND_JOBS = {'two_cpus': mf.two_cpu_job}


@pytest.mark.background_job('two_cpus')
def test_mirrored_strategy_skips_the_step_on_every_replica(background_result):
    # One replica's NaN must stop the update on both (a replica skipping alone would hang
    # the other in the gradient all-reduce, or let the copies drift apart).
    results = mf.two_cpu_results(background_result('two_cpus'), 'nan_step_skipped_on_both_replicas')
    assert results['replicas'] == 2
    assert np.isfinite(results['first']) and np.isnan(results['nan_loss'])
    assert results['unchanged'] and results['n_copies'] > 60  # Both copies of each variable.
    assert results['step_after_nan'] == 1
    assert np.isfinite(results['next']) and results['step_after_next'] == 2
