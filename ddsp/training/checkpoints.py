"""The files of a save directory: checkpoints and operative gin configs.

A training run's save directory holds:

* `ckpt-{step}.index` / `.data-*` (and TensorFlow's `checkpoint` state file): the model and
  optimizer, written by `trainers.Trainer.save`;
* `operative_config-{step}.gin`: the gin config in force when a run started at `step`.

The helpers here find the newest of each and write the config; `models.Model.restore`,
`trainers.Trainer`, `train_util.train`, `eval_util` and `ddsp_run` use them. They are also
importable from `train_util` under the same names.

Example:
    >>> path = get_latest_checkpoint('~/runs/violin')  # '/home/me/runs/violin/ckpt-3000'
    >>> config = get_latest_operative_config('~/runs/violin')
"""

import contextlib
import os
import re
from typing import List, Optional, Text

from absl import logging
import gin
import tensorflow as tf

from ddsp.training import summaries

_CKPT_INDEX = re.compile(r'^(?P<name>.+)-(?P<step>\d+)\.index$')


def expand_path(file_path: Text) -> Text:
    """`file_path` with `~` and environment variables expanded."""
    return os.path.expandvars(os.path.expanduser(file_path))


def get_latest_file(
    dir_path: Text, prefix: Text = 'operative_config-', suffix: Text = '.gin'
) -> Text:
    """The file `{prefix}{N}{suffix}` in `dir_path` with the highest integer N.

    Raises:
        FileNotFoundError: no such file.
    """
    dir_path = expand_path(dir_path)
    pattern = re.compile('^' + re.escape(prefix) + r'(\d+)' + re.escape(suffix) + '$')
    found = []
    if tf.io.gfile.isdir(dir_path):
        for name in tf.io.gfile.listdir(dir_path):
            match = pattern.match(name)
            if match:
                found.append((int(match.group(1)), name))
    if not found:
        raise FileNotFoundError(f'No file "{prefix}<number>{suffix}" in {dir_path}.')
    return os.path.join(dir_path, max(found)[1])


def list_checkpoints(dir_path: Text) -> List[Text]:
    """The checkpoint prefixes (`.../ckpt-N`) in `dir_path` with an index, newest step first."""
    dir_path = expand_path(dir_path)
    if not tf.io.gfile.isdir(dir_path):
        return []
    found = []
    for name in tf.io.gfile.listdir(dir_path):
        match = _CKPT_INDEX.match(name)
        if match:
            found.append((int(match.group('step')), os.path.join(dir_path, name[:-6])))
    return [path for _, path in sorted(found, reverse=True)]


def get_latest_checkpoint(checkpoint_path: Text) -> Text:
    """The checkpoint prefix to restore from `checkpoint_path`.

    `checkpoint_path` may be a prefix (`.../ckpt-300`), its `.index` file, or a directory:
    then the checkpoint saved last. That is the one TF's `checkpoint` state file names,
    unless a complete checkpoint (`*-N.index`) was written after the state file: TF updates
    the file only after the checkpoint's own files, so a run killed in between leaves it
    naming the previous save. Without a state file, the highest-numbered checkpoint. (Step
    numbers alone do not order saves: a run that fell back from a corrupt checkpoint saves
    lower numbers after it.)

    Raises:
        FileNotFoundError: no checkpoint there.
    """
    path = expand_path(checkpoint_path)
    if path.endswith('.index'):
        path = path[: -len('.index')]
    if tf.io.gfile.exists(path + '.index'):
        return path
    if tf.io.gfile.isdir(path):
        found = list_checkpoints(path)
        state_file = os.path.join(path, 'checkpoint')
        named = tf.train.latest_checkpoint(path)
        if named and tf.io.gfile.exists(named + '.index'):
            recorded = _mtime(state_file)
            unrecorded = [p for p in found if _mtime(p + '.index') > recorded]
            if not unrecorded:
                return named
            # The last written, the higher step on a tie (list_checkpoints is newest step
            # first and max keeps the first of equals).
            return max(unrecorded, key=lambda p: _mtime(p + '.index'))
        if found:
            return found[0]
    raise FileNotFoundError(f'No checkpoint found at {checkpoint_path}.')


def _mtime(path: Text) -> int:
    """The modification time of `path` in nanoseconds."""
    if '://' in path:  # A bucket: TF's file systems.
        return tf.io.gfile.stat(path).mtime_nsec
    return os.stat(path).st_mtime_ns  # gfile rounds local times to whole seconds.


def get_latest_operative_config(restore_dir: Text) -> Text:
    """The newest `operative_config-N.gin` in `restore_dir`, else in its parent.

    Raises:
        FileNotFoundError: none in either.
    """
    restore_dir = expand_path(restore_dir)
    try:
        return get_latest_file(restore_dir)
    except FileNotFoundError:
        return get_latest_file(os.path.dirname(os.path.normpath(restore_dir)))


def write_gin_config(summary_writer, save_dir: Text, step: int) -> Text:
    """Writes `save_dir/operative_config-{step}.gin` atomically, and a text summary of it.

    The file is written to a temporary name and renamed, so a killed run never leaves a
    truncated config. With a `summary_writer`, the config is also logged as markdown under
    `gin/operative_config-{step}`. Returns the file's path.
    """
    save_dir = expand_path(save_dir)
    tf.io.gfile.makedirs(save_dir)
    config_str = gin.operative_config_str()
    path = os.path.join(save_dir, f'operative_config-{int(step)}.gin')
    tmp_path = f'{path}.tmp-{os.getpid()}'
    with tf.io.gfile.GFile(tmp_path, 'w') as f:
        f.write(config_str)
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
    if summary_writer is not None:
        markdown = '\n'.join('    ' + line for line in config_str.splitlines())
        with summary_writer.as_default():
            summaries.text_summary(f'gin/operative_config-{int(step)}', markdown, step=int(step))
    return path


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model built from the config: a config change, not damage.

    Raised instead of trying older checkpoints (they would not fit either), so that nothing
    suggests moving good checkpoints away. Attributes: `checkpoint` (its path), `variable`,
    `checkpoint_shape` and `model_shape` (None where TensorFlow's error does not say).
    """

    def __init__(
        self,
        checkpoint: Text,
        detail: Text,
        variable: Optional[Text] = None,
        checkpoint_shape: Optional[Text] = None,
        model_shape: Optional[Text] = None,
    ):
        self.checkpoint, self.variable = checkpoint, variable
        self.checkpoint_shape, self.model_shape = checkpoint_shape, model_shape
        directory = os.path.dirname(checkpoint)
        try:
            config = f' ({get_latest_operative_config(directory)})'
        except FileNotFoundError:
            config = ''
        super().__init__(
            f'Checkpoint {checkpoint} does not fit the model built from this config: {detail}. '
            f"The config differs from the run's{config}, e.g. a layer size changed by "
            f'--gin_file or --gin_param; the checkpoints are fine and were left as they are. '
            f"Resume with the run's settings, or train the changed model in a new --save_dir."
        )


# TensorFlow's message when a saved tensor and the model's variable differ in shape.
_SHAPE = r'(?:\([^)]*\)|\[[^\]]*\]|\S+)'
_SHAPE_MISMATCH = re.compile(
    rf'incompatible tensor with shape (?P<saved>{_SHAPE}) when attempting to restore '
    rf'variable with shape (?P<model>{_SHAPE}) and name (?P<name>\S+?)(?::\d+)?\.?(?:\s|$)'
)
# TensorFlow's messages when the model has objects the checkpoint lacks, or the reverse.
_STRUCTURE_MISMATCH = ('not bound to checkpointed values', 'Unresolved object in checkpoint')


def mismatch_error(error: Exception, checkpoint: Text) -> Optional[CheckpointMismatchError]:
    """A `CheckpointMismatchError` when `error` (from restoring `checkpoint`) says that the
    checkpoint and the model differ in their variables' shapes or structure; else None."""
    text = str(error)
    match = _SHAPE_MISMATCH.search(text)
    if match:
        name, saved, model = match.group('name'), match.group('saved'), match.group('model')
        return CheckpointMismatchError(
            checkpoint,
            f'variable {name} has shape {saved} in the checkpoint but {model} in the model',
            name,
            saved,
            model,
        )
    for marker in _STRUCTURE_MISMATCH:
        if marker in text:
            first = ' '.join(text.split())[:300]
            return CheckpointMismatchError(
                checkpoint, f'the model and the checkpoint hold different variables ({first})'
            )
    return None


@contextlib.contextmanager
def explain_mismatch(checkpoint: Text):
    """Turns a restore error that `mismatch_error` recognises into `CheckpointMismatchError`.

    Example:
        >>> with explain_mismatch(path):
        ...     tf.train.Checkpoint(model=model).restore(path).assert_existing_objects_matched()
    """
    try:
        yield
    except CheckpointMismatchError:
        raise
    except (tf.errors.OpError, ValueError, AssertionError) as e:
        mismatch = mismatch_error(e, checkpoint)
        if mismatch is None:
            raise
        raise mismatch from e


def non_finite_variables(variables) -> List[Text]:
    """The names of the floating-point variables in `variables` holding NaN or inf."""
    floating = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
    finite = [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v))) for v in floating]
    if not finite or bool(tf.reduce_all(tf.stack(finite))):
        return []
    return [getattr(v, 'path', None) or v.name for v, ok in zip(floating, finite) if not bool(ok)]


def restore_newest(trainer, restore_dir: Text) -> Optional[Text]:
    """Restores the newest readable checkpoint in `restore_dir`; its path, or None if none.

    A checkpoint that fails to restore (truncated, corrupt) or holds NaN or inf weights (left
    by a version that saved diverged runs) is skipped with a warning for the next older one.
    If checkpoints exist but none restores, raises rather than silently starting again from
    step 0.

    Args:
        trainer: anything with `restore(checkpoint_path)` (a `trainers.Trainer`); its `model`,
            if it has one, is checked for NaN or inf weights after each restore.
        restore_dir: the directory (or checkpoint prefix) to restore from.

    Raises:
        CheckpointMismatchError: a checkpoint's variables differ from the model's in shape or
            structure: the config differs from the run's (older checkpoints are not tried).
        RuntimeError: checkpoints exist but none could be restored.
    """
    try:
        newest = get_latest_checkpoint(restore_dir)
    except FileNotFoundError:
        logging.info('No checkpoint in %s: training from scratch.', restore_dir)
        return None
    candidates = [newest]
    if tf.io.gfile.isdir(expand_path(restore_dir)):
        candidates += [p for p in list_checkpoints(restore_dir) if p != newest]
    errors = []
    for path in candidates:
        try:
            with explain_mismatch(path):
                trainer.restore(path)
        except CheckpointMismatchError:
            raise
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
            # A truncated file raises IndexError ("Read less bytes than requested").
            logging.warning(
                'Could not restore checkpoint %s (%s: %s); trying an older one.',
                path,
                type(e).__name__,
                str(e).splitlines()[0] if str(e) else '',
            )
            errors.append(f'{path}: {type(e).__name__}')
            continue
        model = getattr(trainer, 'model', None)
        bad = non_finite_variables(model.variables) if model is not None else []
        if not bad:
            return path
        logging.warning(
            'Checkpoint %s holds NaN or inf weights (%s%s); trying an older one.',
            path,
            bad[0],
            f' and {len(bad) - 1} more' if len(bad) > 1 else '',
        )
        errors.append(f'{path}: NaN or inf weights')
    raise RuntimeError(
        f'Checkpoints exist in {restore_dir} but none could be restored '
        f'({"; ".join(errors)}). Move them away to train from scratch.'
    )
