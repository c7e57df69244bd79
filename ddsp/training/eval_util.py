"""The evaluation and sampling loops: evaluate every new checkpoint of a training run.

`evaluate(...)` and `sample(...)` (gin-configurable) wait for checkpoints `ckpt-N` in
`restore_dir`, restore each one, run a few batches through the model and hand the outputs to
evaluators (`ddsp.training.evaluators`), whose metrics and summaries go to
`save_dir/summaries/eval` at step N.
"""

import os
import re
import time
from typing import Optional, Sequence, Text

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from ddsp import spectral_ops, validation
from ddsp.training import checkpoints, data

_STEP = re.compile(r'-(\d+)$')


def _step_of(checkpoint_path: Text) -> int:
    """N from a checkpoint prefix `.../ckpt-N`."""
    match = _STEP.search(checkpoint_path)
    if not match:
        validation.fail(
            'evaluate_or_sample',
            'checkpoint_path',
            'a checkpoint prefix ending in -<step> (e.g. ckpt-300)',
            checkpoint_path,
        )
    return int(match.group(1))


def _checkpoints(restore_dir: Text, ckpt_delay_secs: float, run_once: bool):
    """Checkpoint prefixes to evaluate, oldest first; waits for new ones unless `run_once`."""
    if run_once:
        # The newest checkpoint only, now; no waiting.
        yield checkpoints.get_latest_checkpoint(restore_dir)
        return
    for path in tf.train.checkpoints_iterator(restore_dir, min_interval_secs=ckpt_delay_secs):
        yield path


def _synthetic_notes_features(model, batch):
    """Audio, confidence and loudness for a `SyntheticNotes` batch (controls only)."""
    if not hasattr(model, 'generate_synthetic_audio'):
        raise TypeError(
            f'SyntheticNotes batches hold only synthesizer controls; the model '
            f'must synthesize their audio (generate_synthetic_audio), which '
            f'{type(model).__name__} does not.'
        )
    batch = dict(batch)
    batch['audio'] = model.generate_synthetic_audio(batch)
    f0_hz = batch['f0_hz']
    batch['f0_confidence'] = (
        tf.ones_like(f0_hz)[..., 0] if f0_hz.shape.rank == 3 else tf.ones_like(f0_hz)
    )
    batch['loudness_db'] = spectral_ops.compute_loudness(batch['audio'])
    return batch


def evaluate_or_sample(
    data_provider,
    model,
    evaluator_classes: Sequence,
    mode: Text = 'eval',
    save_dir: Text = '/tmp/ddsp/training',
    restore_dir: Text = '',
    batch_size: int = 32,
    num_batches: int = 50,
    repeats: int = -1,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    run_until_step: int = 0,
    evaluate_and_sample: bool = False,
) -> Optional[int]:
    """Evaluates and/or samples each checkpoint of a training run.

    For each checkpoint `ckpt-N` in `restore_dir` (waiting for new ones with
    `tf.train.checkpoints_iterator`, polling at most every `ckpt_delay_secs`): restore the
    model (`model.restore`), run `num_batches` batches of `data_provider.get_batch(batch_size,
    shuffle=False, repeats)` through `model(batch, return_losses=True, training=False)`, set
    `outputs['audio_gen']`, call each evaluator's `evaluate` (mode 'eval') or `sample` (mode
    'sample'), or both (`evaluate_and_sample`), then `flush(N)`. Summaries go to
    `save_dir/summaries/eval`.

    Args:
        data_provider: has `sample_rate`, `frame_rate` and `get_batch(batch_size, shuffle,
            repeats)`.
        model: a `ddsp.training.models.Model`.
        evaluator_classes: classes built as `cls(sample_rate, frame_rate)`.
        mode: 'eval' or 'sample'.
        save_dir: where `summaries/eval` is written.
        restore_dir: the training run's directory of checkpoints.
        batch_size: examples per batch.
        num_batches: batches per checkpoint; -1 for the whole dataset (with `repeats=1`).
        repeats: dataset repeats (-1: forever).
        ckpt_delay_secs: minimum seconds between checkpoints evaluated.
        run_once: evaluate only the newest checkpoint, now, and return.
        run_until_step: stop after a checkpoint at or past this step (0: never).
        evaluate_and_sample: both evaluate and sample, whatever `mode`.

    Returns:
        The step of the last checkpoint evaluated.

    Raises:
        ValueError: bad mode, batch counts or missing rates on the data provider.
        FileNotFoundError: `restore_dir` is empty or missing (or, with `run_once`, holds no
            checkpoint) -- instead of waiting forever.

    Example:
        >>> evaluate(provider, model, [evaluators.BasicEvaluator], restore_dir='/tmp/run',
        ...          run_once=True)
    """
    owner = 'evaluate_or_sample'
    validation.check_choice(owner, 'mode', mode, ('eval', 'sample'))
    validation.check_int(owner, 'batch_size', batch_size)
    if num_batches != -1:
        validation.check_int(owner, 'num_batches', num_batches, hint='(or -1: the whole dataset)')
    for attribute in ('sample_rate', 'frame_rate'):
        value = getattr(data_provider, attribute, None)
        if value is None:
            validation.fail(
                owner,
                f'data_provider.{attribute}',
                f'set (the evaluators are built with it; {type(data_provider).__name__} has none)',
                value,
            )
    if not restore_dir:
        raise FileNotFoundError(
            'evaluate/sample need restore_dir, the directory of the training run to evaluate.'
        )
    restore_dir = checkpoints.expand_path(restore_dir)
    if not tf.io.gfile.isdir(restore_dir):
        raise FileNotFoundError(
            f'restore_dir {restore_dir} does not exist; it should be the '
            f'directory the training run saves checkpoints to.'
        )

    if not evaluator_classes:
        logging.warning(
            '%s: no evaluator_classes (e.g. include eval/basic.gin); checkpoints '
            'are run through the model but nothing is reported.',
            mode,
        )
    summary_dir = os.path.join(checkpoints.expand_path(save_dir), 'summaries', 'eval')
    summary_writer = tf.summary.create_file_writer(summary_dir)
    evaluators = [
        cls(data_provider.sample_rate, data_provider.frame_rate) for cls in evaluator_classes
    ]
    is_synthetic = isinstance(data_provider, data.SyntheticNotes)
    do_eval = mode == 'eval' or evaluate_and_sample
    do_sample = mode == 'sample' or evaluate_and_sample
    dataset = data_provider.get_batch(batch_size, shuffle=False, repeats=repeats)
    if num_batches > 0:
        dataset = dataset.take(num_batches)

    step = None
    with summary_writer.as_default():
        for checkpoint_path in _checkpoints(restore_dir, ckpt_delay_secs, run_once):
            step = _step_of(checkpoint_path)
            logging.info('%s: checkpoint %s (step %d).', mode, checkpoint_path, step)
            t_start = time.time()
            model.restore(checkpoint_path, verbose=False)
            n_done = 0
            for batch in dataset:
                if is_synthetic:
                    batch = _synthetic_notes_features(model, batch)
                outputs, losses = model(batch, return_losses=True, training=False)
                outputs = dict(outputs)
                outputs['audio_gen'] = model.get_audio_from_outputs(outputs)
                losses = {k: float(np.asarray(v)) for k, v in losses.items()}
                for evaluator in evaluators:
                    if do_eval:
                        evaluator.evaluate(batch, outputs, losses)
                    if do_sample:
                        evaluator.sample(batch, outputs, step)
                n_done += 1
            if n_done == 0:
                logging.warning('%s: the dataset gave no batch of %d examples.', mode, batch_size)
            for evaluator in evaluators:
                evaluator.flush(step)
            summary_writer.flush()
            logging.info(
                '%s: step %d done (%d batches, %.1f s).', mode, step, n_done, time.time() - t_start
            )
            if run_once or (run_until_step and step >= run_until_step):
                break
    return step


@gin.configurable
def evaluate(
    data_provider,
    model,
    evaluator_classes: Sequence = (),
    save_dir: Text = '/tmp/ddsp/training',
    restore_dir: Text = '',
    batch_size: int = 32,
    num_batches: int = 50,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    run_until_step: int = 0,
    evaluate_and_sample: bool = False,
) -> Optional[int]:
    """`evaluate_or_sample` in 'eval' mode: metrics and mean losses of each checkpoint."""
    return evaluate_or_sample(
        data_provider,
        model,
        evaluator_classes,
        mode='eval',
        save_dir=save_dir,
        restore_dir=restore_dir,
        batch_size=batch_size,
        num_batches=num_batches,
        ckpt_delay_secs=ckpt_delay_secs,
        run_once=run_once,
        run_until_step=run_until_step,
        evaluate_and_sample=evaluate_and_sample,
    )


@gin.configurable
def sample(
    data_provider,
    model,
    evaluator_classes: Sequence = (),
    save_dir: Text = '/tmp/ddsp/training',
    restore_dir: Text = '',
    batch_size: int = 16,
    num_batches: int = 1,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    run_until_step: int = 0,
    evaluate_and_sample: bool = False,
) -> Optional[int]:
    """`evaluate_or_sample` in 'sample' mode: audio and plots of each checkpoint."""
    return evaluate_or_sample(
        data_provider,
        model,
        evaluator_classes,
        mode='sample',
        save_dir=save_dir,
        restore_dir=restore_dir,
        batch_size=batch_size,
        num_batches=num_batches,
        ckpt_delay_secs=ckpt_delay_secs,
        run_once=run_once,
        run_until_step=run_until_step,
        evaluate_and_sample=evaluate_and_sample,
    )
