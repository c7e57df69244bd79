"""Tests of ddsp.training.train_util: checkpoint and config files, and the training loop."""

import glob
import io
import logging
import os
import shutil
import time

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import checkpoints, train_util, trainers

from . import model_fixtures as mf


def _touch(path, text=''):
    with open(path, 'w') as f:
        f.write(text)


# Files -------------------------------------------------------------------------------------------
def test_get_latest_file(tmp_path):
    for name in (
        'operative_config-0.gin',
        'operative_config-20.gin',
        'operative_config-3.gin',
        'operative_config-x.gin',
        'other-99.gin',
    ):
        _touch(tmp_path / name)
    assert train_util.get_latest_file(str(tmp_path)).endswith('operative_config-20.gin')
    assert train_util.get_latest_file(str(tmp_path), 'other-').endswith('other-99.gin')
    with pytest.raises(FileNotFoundError):
        train_util.get_latest_file(str(tmp_path), 'missing-')


def test_get_latest_operative_config_looks_in_the_parent(tmp_path):
    _touch(tmp_path / 'operative_config-7.gin')
    (tmp_path / 'sub').mkdir()
    assert train_util.get_latest_operative_config(str(tmp_path / 'sub')).endswith(
        'operative_config-7.gin'
    )
    with pytest.raises(FileNotFoundError):
        train_util.get_latest_operative_config(str(tmp_path / 'sub' / 'deeper'))


def test_get_latest_checkpoint(tmp_path, monkeypatch):
    for step in (5, 40, 300):
        _touch(tmp_path / f'ckpt-{step}.index')
    # No `checkpoint` state file: the highest number.
    assert train_util.get_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt-300')
    # With a state file, the checkpoint it names, though a higher number exists (a run that
    # fell back from a corrupt ckpt-300 to ckpt-5 saved ckpt-40 after it)...
    _touch(tmp_path / 'checkpoint', 'model_checkpoint_path: "ckpt-40"\n')
    for name, seconds in [
        ('ckpt-5.index', 100),
        ('ckpt-300.index', 200),
        ('ckpt-40.index', 300),
        ('checkpoint', 301),
    ]:
        os.utime(tmp_path / name, ns=(seconds * 10**9,) * 2)
    assert train_util.get_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt-40')
    # ...unless a complete checkpoint was written after the state file: a run killed after
    # writing ckpt-300's files but before TF updated the file.
    os.utime(tmp_path / 'ckpt-300.index', ns=(302 * 10**9,) * 2)
    assert train_util.get_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt-300')
    # A prefix or an .index file is used as is; ~ and variables are expanded.
    assert train_util.get_latest_checkpoint(str(tmp_path / 'ckpt-5.index')) == str(
        tmp_path / 'ckpt-5'
    )
    monkeypatch.setenv('DDSP_TEST_DIR', str(tmp_path))
    assert train_util.get_latest_checkpoint('$DDSP_TEST_DIR/ckpt-5') == str(tmp_path / 'ckpt-5')
    assert train_util.list_checkpoints(str(tmp_path)) == [
        str(tmp_path / f'ckpt-{s}') for s in (300, 40, 5)
    ]
    with pytest.raises(FileNotFoundError):
        train_util.get_latest_checkpoint(str(tmp_path / 'empty'))


def test_get_latest_checkpoint_follows_a_state_file_that_names_another_directory(tmp_path):
    other = tmp_path / 'elsewhere'
    other.mkdir()
    _touch(other / 'ckpt-7.index')
    run = tmp_path / 'run'
    run.mkdir()
    _touch(run / 'checkpoint', f'model_checkpoint_path: "{other / "ckpt-7"}"\n')
    assert train_util.get_latest_checkpoint(str(run)) == str(other / 'ckpt-7')


def test_resume_restores_a_save_the_state_file_does_not_name_yet(tmp_path):
    # Real TF checkpoints: two saves, then the state file rolled back to the first, as a
    # SIGKILL between writing a checkpoint and updating the state file leaves it.
    variable = tf.Variable(1.0)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=variable), str(tmp_path), 3, checkpoint_name='ckpt'
    )
    first = manager.save(checkpoint_number=10)
    state_file = str(tmp_path / 'checkpoint')
    shutil.copy2(state_file, str(tmp_path / 'state-after-first-save'))  # Keeps the mtime.
    time.sleep(0.01)
    variable.assign(2.0)
    manager.save(checkpoint_number=20)
    shutil.copy2(str(tmp_path / 'state-after-first-save'), state_file)
    assert tf.train.latest_checkpoint(str(tmp_path)) == first

    class Restorer:
        def restore(self, path):
            tf.train.Checkpoint(v=variable).restore(path).assert_consumed()

    variable.assign(0.0)
    assert checkpoints.restore_newest(Restorer(), str(tmp_path)) == str(tmp_path / 'ckpt-20')
    assert float(variable.numpy()) == 2.0


def test_write_gin_config_is_atomic_and_summarized(tmp_path):
    with gin.unlock_config():
        gin.parse_config('trainers.Trainer.learning_rate = 0.25')
    try:
        trainers.Trainer(mf.make_autoencoder(), tf.distribute.get_strategy())
        writer = tf.summary.create_file_writer(str(tmp_path / 'summaries'))
        path = train_util.write_gin_config(writer, str(tmp_path / 'save'), 12)
        writer.flush()
        expected = gin.operative_config_str()
    finally:
        gin.clear_config()
    assert path == str(tmp_path / 'save' / 'operative_config-12.gin')
    with open(path) as f:
        assert f.read() == expected
    assert 'Trainer.learning_rate = 0.25' in expected
    assert os.listdir(tmp_path / 'save') == ['operative_config-12.gin']  # No temp file left.
    tags = _summary_tags(str(tmp_path / 'summaries'))
    assert 'gin/operative_config-12' in tags


def _summary_tags(summary_dir):
    tags = {}
    for event_file in glob.glob(os.path.join(summary_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                tags.setdefault(value.tag, []).append((event.step, tensor))
    return tags


# Progress ----------------------------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_one_updating_line_on_a_terminal():
    stream = _Tty()
    progress = train_util._Progress(num_steps=100, start_step=0, stream=stream)
    for step in range(1, 4):
        progress.update(step, 2.5, force=True)
    progress.close()
    text = stream.getvalue()
    assert text.count('\r') == 3 and text.endswith('\n') and text.count('\n') == 1
    assert 'step 3/100' in text and 'steps/s' in text and 'loss 2.5000' in text
    assert 'time left' in text


def test_progress_logs_lines_otherwise(caplog):
    stream = io.StringIO()
    progress = train_util._Progress(num_steps=10, start_step=0, stream=stream)
    with caplog.at_level(logging.INFO):
        progress.update(1, 1.0, force=True)
        progress.update(2, 1.0)  # Within a minute of the last line: quiet.
        progress.update(3, 0.5, force=True)
    progress.close()
    assert stream.getvalue() == ''
    lines = [r.getMessage() for r in caplog.records if 'steps/s' in r.getMessage()]
    assert len(lines) == 2 and 'step 3/10' in lines[1] and 'loss 0.5000' in lines[1]


# Training loop -----------------------------------------------------------------------------------
def _train(save_dir, num_steps, **kwargs):
    trainer = trainers.Trainer(
        mf.make_autoencoder(fft_sizes=(256,)), tf.distribute.get_strategy(), learning_rate=3e-3
    )
    kwargs.setdefault('steps_per_save', 3)
    kwargs.setdefault('steps_per_summary', 2)
    losses = train_util.train(
        mf.Provider(),
        trainer,
        batch_size=2,
        num_steps=num_steps,
        save_dir=save_dir,
        restore_dir=save_dir,
        **kwargs,
    )
    return trainer, losses


def _index_files(save_dir):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(save_dir, '*.index')))


def test_train_saves_resumes_and_falls_back(tmp_path, caplog):
    save_dir = str(tmp_path)
    trainer, losses = _train(save_dir, num_steps=5)
    assert int(trainer.step.numpy()) == 5 and losses['total_loss'] > 0
    # Saved when the step read before the update is a multiple of 3, and at the end.
    assert _index_files(save_dir) == ['ckpt-1.index', 'ckpt-4.index', 'ckpt-5.index']
    assert os.path.exists(tmp_path / 'operative_config-0.gin')
    tags = _summary_tags(str(tmp_path / 'summaries' / 'train'))
    assert [s for s, _ in tags['losses/total_loss']] == [0, 2, 4]
    assert [s for s, _ in tags['steps_per_sec']] == [0, 2, 4]
    assert all(float(v) > 0 for _, v in tags['losses/spectral_loss'])
    # The gradient norm is summarized on its own, not as a loss, and not returned as one.
    assert [s for s, _ in tags['grad_norm']] == [0, 2, 4]
    assert all(float(v) > 0 for _, v in tags['grad_norm'])
    assert 'losses/grad_norm' not in tags and 'grad_norm' not in losses
    weights_at_5 = [w.numpy() for w in trainer.model.weights]

    # The same command again, further: resumes at step 5 with the saved weights.
    resumed, _ = _train(save_dir, num_steps=7)
    assert int(resumed.step.numpy()) == 7
    assert os.path.exists(tmp_path / 'operative_config-5.gin')
    assert _index_files(save_dir)[-1] == 'ckpt-7.index'

    # A truncated newest checkpoint: a warning, then the previous one (step 5) is used.
    data_file = glob.glob(os.path.join(save_dir, 'ckpt-7.data-*'))[0]
    with open(data_file, 'r+b') as f:
        f.truncate(os.path.getsize(data_file) // 2)
    with caplog.at_level(logging.WARNING):
        fallback, _ = _train(save_dir, num_steps=5)  # No step to run: restore only.
    assert int(fallback.step.numpy()) == 5
    for a, b in zip(fallback.model.weights, weights_at_5):
        np.testing.assert_array_equal(a, b)
    assert any(
        'ckpt-7' in r.getMessage() and 'older' in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )

    # Every checkpoint unreadable: an error, never a silent restart from step 0.
    for index_file in glob.glob(os.path.join(save_dir, '*.index')):
        with open(index_file, 'wb') as f:
            f.write(b'garbage')
    with pytest.raises(RuntimeError, match='none could be restored'):
        _train(save_dir, num_steps=9)


def test_train_stops_early(tmp_path):
    trainer, losses = _train(str(tmp_path), num_steps=50, early_stop_loss_value=1e9)
    assert int(trainer.step.numpy()) == 1
    assert _index_files(str(tmp_path)) == ['ckpt-1.index']


def test_gin_names():
    with gin.unlock_config():
        gin.parse_config('train_util.train.num_steps = 12\ntrain_util.train.batch_size = 3')
    try:
        assert gin.query_parameter('train_util.train.num_steps') == 12
        assert gin.query_parameter('ddsp.training.train_util.train.batch_size') == 3
    finally:
        gin.clear_config()
