"""Distribution strategies and the training loop.

Files in a save directory (the checkpoint and gin-config helpers live in
`ddsp.training.checkpoints` and are importable from here too):
* `ckpt-{step}.index` / `.data-*` (and TF's `checkpoint` state file): the model and optimizer;
* `operative_config-{step}.gin`: the gin config in force when a run started at `step`;
* `summaries/train/`: TensorBoard scalars `losses/{name}`, `grad_norm` and `steps_per_sec`,
  and the gin config as text.

A step whose loss or gradient norm is not finite stops `train` with `TrainingDivergedError`;
nothing is saved after it (see `train`).
"""

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from typing import Optional, Sequence, Text

from absl import logging
import gin
import keras
import tensorflow as tf

from ddsp import validation
from ddsp.training import checkpoints, summaries

# The checkpoint and gin-config helpers, kept importable from here (the original's API).
expand_path = checkpoints.expand_path
get_latest_file = checkpoints.get_latest_file
list_checkpoints = checkpoints.list_checkpoints
get_latest_checkpoint = checkpoints.get_latest_checkpoint
get_latest_operative_config = checkpoints.get_latest_operative_config
write_gin_config = checkpoints.write_gin_config
# Summaries that need no tensorboard package (kept importable from here).
scalar_summary = summaries.scalar_summary
text_summary = summaries.text_summary
# The key of the global gradient norm (before clipping) in `Trainer.train_step`'s outputs.
GRAD_NORM = 'grad_norm'


class TrainingDivergedError(RuntimeError):
    """A training step's total loss or gradient norm is not finite; training stopped.

    The step was not applied and nothing was saved after it. Attributes: `step` (the
    1-based number of the step that diverged: the model is still at `step - 1`), `values`
    (`{name: float}`: the step's total loss and gradient norm), `checkpoint` (the newest
    checkpoint left in the save directory, or None), `non_finite_features` (`{feature:
    (examples with NaN or inf, examples)}` of the step's batch; None if unknown),
    `source_files` (the record files found holding NaN or inf in those features; None if
    unknown) and `non_finite_weights` (for a divergence found in the weights before a save:
    the names of the variables holding NaN or inf).

    Example:
        >>> try:
        ...     train(provider, trainer, save_dir='/tmp/run')
        ... except TrainingDivergedError as e:
        ...     print(e.step, e.checkpoint)  # 551 /tmp/run/ckpt-501
    """

    def __init__(
        self,
        step: int,
        values: dict,
        checkpoint: Optional[Text],
        non_finite_features: Optional[dict] = None,
        source_files: Optional[Sequence[Text]] = None,
        data_note: Text = '',
        non_finite_weights: Optional[Sequence[Text]] = None,
    ):
        self.step, self.values, self.checkpoint = int(step), dict(values), checkpoint
        self.non_finite_features = non_finite_features
        self.source_files = None if source_files is None else list(source_files)
        self.non_finite_weights = None if non_finite_weights is None else list(non_finite_weights)
        if checkpoint:
            kept = (
                f'the newest checkpoint, {checkpoint}, holds the last finite state saved; '
                f'running again resumes from it'
            )
        else:
            kept = 'no checkpoint was saved before it'
        if self.non_finite_weights:
            n_more = len(self.non_finite_weights) - 1
            found = f'NaN or inf in {self.non_finite_weights[0]}' + (
                f' and {n_more} more variables' if n_more else ''
            )
            head = (
                f'Training diverged at step {self.step}: expected finite weights before '
                f'saving, got {found}. Nothing was saved'
            )
        else:
            found = ', '.join(f'{name} = {value}' for name, value in self.values.items())
            head = (
                f'Training diverged at step {self.step}: expected a finite total loss and '
                f'gradient norm, got {found}. The step was not applied and nothing was saved'
            )
        data = f' {data_note}' if data_note else ''
        super().__init__(
            f'{head}; {kept}.{data} Try a lower learning rate (Trainer.learning_rate) or '
            f'Trainer.grad_clip_norm, and check the data for NaN or inf (audio, f0_hz, '
            f'loudness_db).'
        )


# ------------------------------------------------------------------------------------------------
# Distribution strategy.
# ------------------------------------------------------------------------------------------------
@gin.configurable
def get_strategy(tpu: Text = '', cluster_config='', cluster_timeout_secs: float = 0):
    """A `tf.distribute.Strategy` for the available hardware.

    * `tpu` (a TPU name or `grpc://` address): `TPUClusterResolver` -> connect -> initialize
      the TPU system -> `TPUStrategy`.
    * `cluster_config` (a TF_CONFIG-style JSON string or dict, `{'cluster': {...}, 'task':
      {'type': 'worker', 'index': 0}}`), or else a `TF_CONFIG` environment variable naming a
      cluster: `MultiWorkerMirroredStrategy` (gRPC; this worker's local GPUs).
    * Several local GPUs (or several logical CPU devices and no GPU): `MirroredStrategy`.
    * Otherwise the default strategy (one device, no distribution overhead).

    A `MultiWorkerMirroredStrategy` waits for every worker of the cluster when it is created;
    with `cluster_timeout_secs > 0` (gin: `get_strategy.cluster_timeout_secs`) a worker whose
    peers do not all come up within that time is killed, with an error naming the cluster on
    stderr, instead of waiting forever (0, the default, waits forever).

    Example:
        >>> strategy = get_strategy(cluster_config='{"cluster": {"worker": ["h0:2222", '
        ...                         '"h1:2222"]}, "task": {"type": "worker", "index": 0}}')
        >>> with strategy.scope():
        ...     model = models.get_model()
    """
    if tpu:
        logging.info('Using a TPU at %s.', tpu)
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)

    if cluster_config:
        config = (
            json.loads(cluster_config) if isinstance(cluster_config, str) else dict(cluster_config)
        )
        if 'cluster' not in config or 'task' not in config:
            validation.fail(
                'get_strategy',
                'cluster_config',
                'a TF_CONFIG-style JSON object or dict with "cluster" and "task"',
                cluster_config,
            )
        n_gpus = len(tf.config.list_physical_devices('GPU'))
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            cluster_spec=tf.train.ClusterSpec(config['cluster']),
            task_type=config['task']['type'],
            task_id=int(config['task']['index']),
            num_accelerators={'GPU': n_gpus},
            rpc_layer='grpc',
        )
        logging.info(
            'Using MultiWorkerMirroredStrategy as %s %s of %s.',
            config['task']['type'],
            config['task']['index'],
            config['cluster'],
        )
        with _cluster_wait_timeout(cluster_timeout_secs, config['cluster']):
            return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)

    tf_config = json.loads(os.environ.get('TF_CONFIG') or '{}')
    if tf_config.get('cluster'):
        logging.info('Using MultiWorkerMirroredStrategy from TF_CONFIG.')
        with _cluster_wait_timeout(cluster_timeout_secs, tf_config['cluster']):
            return tf.distribute.MultiWorkerMirroredStrategy()

    gpus = tf.config.list_logical_devices('GPU')
    if len(gpus) > 1:
        logging.info('Using MirroredStrategy over %d GPUs.', len(gpus))
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices('CPU')
    if not gpus and len(cpus) > 1:
        logging.info('Using MirroredStrategy over %d CPU devices.', len(cpus))
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()


# Runs in a separate Python process: waits for its stdin to close (the strategy is ready) or
# for the timeout, in which case it prints the error and kills the waiting worker.
_WATCHDOG = """
import os, select, signal, sys
ready, _, _ = select.select([sys.stdin], [], [], float(sys.argv[1]))
if not ready:
    sys.stderr.write('ERROR: ' + sys.argv[3] + chr(10))
    sys.stderr.flush()
    os.kill(int(sys.argv[2]), signal.SIGKILL)
"""


@contextlib.contextmanager
def _cluster_wait_timeout(timeout_secs: float, cluster):
    """Bounds MultiWorkerMirroredStrategy's initial wait for its peers (0: no bound).

    The strategy's constructor blocks inside TensorFlow's C++ runtime until every worker has
    joined, holding Python's GIL and ignoring SIGTERM (a non-chief worker waits for the
    chief forever; TensorFlow's own initial timeout bounds only the chief). Neither a Python
    exception nor a thread can reach it there, so a small watchdog process prints an error
    naming the cluster and kills this process (SIGKILL) if the constructor has not returned
    after `timeout_secs`.
    """
    if not timeout_secs or timeout_secs <= 0:
        yield
        return
    message = (
        f'Timed out after {timeout_secs} s waiting for the other workers of the '
        f'cluster {cluster} (get_strategy.cluster_timeout_secs); stopping this worker. '
        f'Is every worker running, and are the addresses right?'
    )
    logging.info('Waiting up to %s s for the workers of %s.', timeout_secs, cluster)
    watchdog = subprocess.Popen(
        [sys.executable, '-c', _WATCHDOG, str(float(timeout_secs)), str(os.getpid()), message],
        stdin=subprocess.PIPE,
    )
    try:
        yield
    finally:
        watchdog.stdin.close()  # Ends the watchdog quietly.
        watchdog.wait()
    logging.info('All workers of the cluster joined.')


def is_chief(strategy) -> bool:
    """Whether this process writes checkpoints, summaries and configs for `strategy`.

    True for single-process strategies and for the chief of a multi-worker cluster (worker
    0, or the task of type 'chief').
    """
    return bool(strategy.extended.should_checkpoint)


# ------------------------------------------------------------------------------------------------
# Training loop.
# ------------------------------------------------------------------------------------------------
def _format_seconds(seconds: float) -> Text:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else f'{minutes}m{seconds:02d}s'


class _Progress:
    """Reports steps/s, loss and time left: one updating line on a TTY, log lines otherwise."""

    def __init__(self, num_steps: int, start_step: int, stream=None, log_every_s: float = 60.0):
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.num_steps = num_steps
        self.log_every_s = log_every_s
        self._first_step = start_step
        self._t0 = None  # Rate is measured from the second step (the first one traces).
        self._last_report = 0.0

    def rate(self, step: int) -> float:
        if self._t0 is None or step <= self._first_step + 1:
            return 0.0
        return (step - self._first_step - 1) / max(time.time() - self._t0, 1e-9)

    def line(self, step: int, loss: float) -> Text:
        rate = self.rate(step)
        left = _format_seconds((self.num_steps - step) / rate) if rate > 0 else '?'
        return (
            f'step {step}/{self.num_steps}  {rate:.2f} steps/s  loss {loss:.4f}  time left {left}'
        )

    def update(self, step: int, loss: float, force: bool = False):
        """Call after each step; `step` is the number of steps done."""
        now = time.time()
        if self._t0 is None:
            self._t0 = now
        if self.tty:
            if force or now - self._last_report >= 0.2:
                self.stream.write('\r' + self.line(step, loss) + '\033[K')
                self.stream.flush()
                self._last_report = now
        elif force or now - self._last_report >= self.log_every_s:
            logging.info('%s', self.line(step, loss))
            self._last_report = now

    def close(self):
        if self.tty:
            self.stream.write('\n')
            self.stream.flush()


@gin.configurable
def train(
    data_provider,
    trainer,
    batch_size: int = 32,
    num_steps: int = 1000000,
    steps_per_summary: int = 300,
    steps_per_save: int = 300,
    save_dir: Text = '/tmp/ddsp',
    restore_dir: Text = '/tmp/ddsp',
    early_stop_loss_value: Optional[float] = None,
    report_loss_to_hypertune: bool = False,
):
    """Trains until `trainer.step` reaches `num_steps`, resuming from `restore_dir`.

    1. The dataset is `data_provider.get_batch(batch_size, shuffle=True, repeats=-1)`,
       distributed over the trainer's replicas; its first batch builds the model.
    2. The newest checkpoint in `restore_dir` is restored (an unreadable one is skipped with a
       warning for the previous one); with none, training starts at step 0.
    3. `operative_config-{step}.gin` is written to `save_dir`; summaries go to
       `save_dir/summaries/train` (in a multi-worker cluster, by the chief only).
    4. Each step: the step and the next batch are read, then `train_step` runs on the
       batch. If its total loss or its gradient norm is not finite, training stops at once:
       the trainer did not apply the step, no summary or checkpoint is written (the newest
       checkpoint stays the last finite one saved), and `TrainingDivergedError` is logged and
       raised; its message says which features of the batch hold NaN or inf and, for record
       files (`TFRecordProvider` and the like), which files hold such records (scanning at
       most 2000 records). Otherwise, when
       `step % steps_per_summary == 0` the mean losses since the last summary
       (`losses/{name}`), the mean gradient norm before clipping (`grad_norm`) and
       `steps_per_sec` are written; when `step % steps_per_save == 0` a checkpoint is saved
       (so the first is `ckpt-1`). Training stops early when
       `total_loss <= early_stop_loss_value`. Finite loss spikes do not stop training.
    5. A final checkpoint is saved (also when no step ran and `save_dir` has no checkpoint
       at this step, e.g. one restored from another `restore_dir`); not after a divergence.
    Before each save the model's weights are checked: if one holds NaN or inf (state that a
    forward pass updates can go bad with a finite loss), nothing is saved and
    `TrainingDivergedError` is raised.

    Progress (steps/s, loss, time left) is one updating line when stdout is a terminal and a
    log line every minute (and at each summary) otherwise.

    Returns:
        The last step's losses, as floats (empty if no step ran; `grad_norm` is not a loss
        and is left out).

    Raises:
        TrainingDivergedError: a step's total loss or gradient norm, or a weight about to be
            saved, is not finite.
        checkpoints.CheckpointMismatchError: the newest checkpoint in `restore_dir` does not
            fit the model (the config differs from the run's).

    Example:
        >>> losses = train(provider, trainer, num_steps=800, save_dir='/tmp/run',
        ...                restore_dir='/tmp/run')  # /tmp/run/ckpt-800
    """
    save_dir = checkpoints.expand_path(save_dir)
    restore_dir = checkpoints.expand_path(restore_dir)
    dataset = data_provider.get_batch(batch_size, shuffle=True, repeats=-1)
    dataset_iter = iter(trainer.distribute_dataset(dataset))
    trainer.build(next(dataset_iter))
    checkpoints.restore_newest(trainer, restore_dir)

    # Every worker of a cluster runs the same loop (each step is a collective), but only the
    # chief writes summaries and the operative config; `trainer.save` handles checkpoints.
    chief = is_chief(trainer.strategy)
    if chief:
        summary_writer = tf.summary.create_file_writer(os.path.join(save_dir, 'summaries', 'train'))
    else:
        summary_writer = tf.summary.create_noop_writer()
    step = int(trainer.step.numpy())
    if step:
        logging.info('Resuming training at step %d (of %d).', step, num_steps)
    if chief:
        checkpoints.write_gin_config(summary_writer, save_dir, step)

    hypertune = _get_hypertune() if report_loss_to_hypertune and chief else None
    progress = _Progress(num_steps, step)
    loss_means = {}
    last_saved = step
    losses = {}
    t_summary, steps_since_summary = time.time(), 0
    with summary_writer.as_default():
        while step < num_steps:
            try:
                batch = next(dataset_iter)
            except (tf.errors.OutOfRangeError, StopIteration):
                logging.warning('The dataset ran out at step %d; stopping.', step)
                break
            step_losses = trainer.train_step(batch)
            losses = {name: float(value.numpy()) for name, value in step_losses.items()}
            if not _is_finite_step(losses):
                progress.close()
                summary_writer.flush()
                _diverged(losses, step, trainer, save_dir, batch, data_provider)
            steps_since_summary += 1
            for name, value in losses.items():
                if name not in loss_means:
                    loss_means[name] = keras.metrics.Mean(name=name)
                loss_means[name].update_state(value)
            losses.pop(GRAD_NORM, None)  # Not a loss (its mean is summarized below).

            if step % steps_per_summary == 0:
                now = time.time()
                _write_summaries(loss_means, step, steps_since_summary / max(now - t_summary, 1e-9))
                summary_writer.flush()
                t_summary, steps_since_summary = now, 0
                if hypertune is not None:
                    hypertune.report_hyperparameter_tuning_metric(
                        hyperparameter_metric_tag='Loss',
                        metric_value=losses['total_loss'],
                        global_step=step,
                    )

            done = int(trainer.step.numpy())
            progress.update(
                done,
                losses['total_loss'],
                force=(step % steps_per_summary == 0 or done >= num_steps),
            )

            if early_stop_loss_value is not None and losses['total_loss'] <= early_stop_loss_value:
                logging.info(
                    'Total loss %.4f <= %.4f at step %d: stopping early.',
                    losses['total_loss'],
                    early_stop_loss_value,
                    done,
                )
                break
            if step % steps_per_save == 0:
                _save_if_finite(trainer, save_dir, progress, summary_writer)
                last_saved = done
            step = done
    progress.close()
    step = int(trainer.step.numpy())
    if step != last_saved or not tf.io.gfile.exists(os.path.join(save_dir, f'ckpt-{step}.index')):
        # Also when no step ran but save_dir (unlike restore_dir) has no checkpoint yet.
        _save_if_finite(trainer, save_dir, progress, summary_writer)
    summary_writer.flush()
    logging.info('Training finished at step %d.', step)
    return losses


def _write_summaries(means: dict, step: int, steps_per_sec: float):
    """Writes `steps_per_sec` and each mean (`losses/{name}`, `grad_norm`), then resets them."""
    summaries.scalar_summary('steps_per_sec', steps_per_sec, step=step)
    for name, metric in means.items():
        # The gradient norm is not a loss: its own tag keeps it out of the losses' charts.
        tag = name if name == GRAD_NORM else f'losses/{name}'
        summaries.scalar_summary(tag, metric.result(), step=step)
        metric.reset_state()


def _is_finite_step(outputs: dict) -> bool:
    """Whether the step's total loss and gradient norm (those present) are finite."""
    return all(
        math.isfinite(outputs[name]) for name in ('total_loss', GRAD_NORM) if name in outputs
    )


def _newest_checkpoint(save_dir: Text) -> Optional[Text]:
    try:
        return checkpoints.get_latest_checkpoint(save_dir)
    except FileNotFoundError:
        return None


def _diverged(outputs: dict, step: int, trainer, save_dir: Text, batch, data_provider):
    """Logs and raises `TrainingDivergedError` for a step whose loss or gradient is not finite.

    `step` is the step read before `train_step` ran; the trainer left the model there. The
    message says which features of the batch hold NaN or inf and, for record files, which
    files hold such records.
    """
    checked = {name: outputs[name] for name in ('total_loss', GRAD_NORM) if name in outputs}
    features = _non_finite_features(batch, trainer.strategy)
    files, note = None, ''
    if features:
        files, scan = _files_with_non_finite(data_provider, sorted(features))
        held = ', '.join(f'{key} ({bad} of {n} examples)' for key, (bad, n) in features.items())
        if files:
            note = (
                f'Its batch holds NaN or inf in {held}, read from records with NaN or inf in '
                f'{", ".join(files)}{scan}: fix or remove those records.'
            )
        elif files is None:
            note = f'Its batch holds NaN or inf in {held} ({scan}).'
        else:
            note = (
                f'Its batch holds NaN or inf in {held} (no record file holding such values '
                f'was found{scan}).'
            )
    elif features is not None:
        note = 'Its batch holds no NaN or inf: the model itself diverged.'
    error = TrainingDivergedError(
        step + 1,
        checked,
        _newest_checkpoint(save_dir),
        non_finite_features=features,
        source_files=files,
        data_note=note,
    )
    logging.error('%s (model left at step %d)', error, int(trainer.step.numpy()))
    raise error


def _save_if_finite(trainer, save_dir: Text, progress, summary_writer):
    """`trainer.save(save_dir)`, unless a weight holds NaN or inf: then nothing is saved and
    `TrainingDivergedError` is raised (the newest checkpoint stays the last finite one).

    The trainer never applies a non-finite step, but state that a forward pass updates
    (an exponential moving average, a custom trainer) can still go bad with a finite loss.
    """
    bad = checkpoints.non_finite_variables(trainer.model.variables)
    if bad:
        progress.close()
        summary_writer.flush()
        error = TrainingDivergedError(
            int(trainer.step.numpy()), {}, _newest_checkpoint(save_dir), non_finite_weights=bad
        )
        logging.error('%s', error)
        raise error
    trainer.save(save_dir)


def _non_finite_features(batch, strategy) -> Optional[dict]:
    """`{feature: (examples holding NaN or inf, examples)}` of a (distributed) batch dict.

    Only floating-point features with a batch axis count; None when `batch` is not a dict.
    """
    if not isinstance(batch, dict):
        return None
    found = {}
    for key, value in batch.items():
        parts = [tf.convert_to_tensor(p) for p in strategy.experimental_local_results(value)]
        if not parts or not parts[0].dtype.is_floating or parts[0].shape.rank is None:
            continue
        if parts[0].shape.rank == 0:
            continue
        rows = [tf.reshape(p, [tf.shape(p)[0], -1]) for p in parts]
        bad = tf.concat([tf.reduce_any(~tf.math.is_finite(r), axis=1) for r in rows], axis=0)
        n_bad = int(tf.reduce_sum(tf.cast(bad, tf.int32)))
        if n_bad:
            found[key] = (n_bad, int(bad.shape[0]))
    return found


# How many records `_files_with_non_finite` reads at most (each of a 4 s example is 0.5 MB).
_SCAN_RECORDS = 2000


def _record_providers(provider) -> list:
    """The providers reading record files (`file_pattern` and `features_dict`) in `provider`."""
    if provider is None:
        return []
    if hasattr(provider, 'file_pattern') and hasattr(provider, 'features_dict'):
        return [provider]
    found = []
    for child in getattr(provider, 'data_providers', None) or ():
        found += _record_providers(child)
    return found


def _files_with_non_finite(provider, keys: Sequence[Text]) -> tuple:
    """`(files, note)`: the record files of `provider` with a record holding NaN or inf in
    one of `keys`, in order (None when the provider reads no record files); `note` says when
    the scan was cut short (it reads at most `_SCAN_RECORDS` records)."""
    providers = _record_providers(provider)
    if not providers:
        name = type(provider).__name__
        return None, f'its source files are unknown: {name} reads no record files'
    files, scanned = [], 0
    for record_provider in providers:
        try:
            features = dict(record_provider.features_dict)
            pattern = record_provider.file_pattern
            paths = sorted(p for p in tf.io.gfile.glob(pattern) if not p.endswith('.json'))
        except Exception as e:  # noqa: BLE001 -- best effort: the error message comes first.
            logging.warning('Could not list the record files to scan for NaN or inf: %s', e)
            continue
        wanted = {k: v for k, v in features.items() if k in keys} or features
        for path in paths:
            n_bad = 0
            n_records = 0
            for record in tf.data.TFRecordDataset(path):
                if scanned >= _SCAN_RECORDS:
                    break
                scanned += 1
                n_records += 1
                try:
                    example = tf.io.parse_single_example(record, wanted)
                except tf.errors.OpError:
                    continue
                if any(not bool(tf.reduce_all(tf.math.is_finite(v))) for v in example.values()):
                    n_bad += 1
            if n_bad:
                files.append(f'{path} ({n_bad} of {n_records} records read)')
            if scanned >= _SCAN_RECORDS:
                return files, f'; the scan stopped after {_SCAN_RECORDS} records'
    return files, ''


def _get_hypertune():
    """A `hypertune.HyperTune` reporter, or None (with a warning) when not installed."""
    try:
        import hypertune
    except ImportError:
        logging.warning(
            'report_loss_to_hypertune is set but cloudml-hypertune is not '
            'installed (pip install cloudml-hypertune); not reporting.'
        )
        return None
    return hypertune.HyperTune()
