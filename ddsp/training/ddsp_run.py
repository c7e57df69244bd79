r"""ddsp_run: train, evaluate or sample a DDSP model configured with gin.

Gin configs are read in this order (later ones win):
  1. optimization/base.gin (optimization/base_tpu.gin with --tpu);
  2. eval/basic.gin;
  3. the newest operative_config-<step>.gin in --restore_dir (so a restarted run keeps its
     settings), skipping bindings of unknown configurables;
  4. every --gin_file, then every --gin_param, skipping unknown configurables.
Relative --gin_file names are looked up in the package's gin directory
(ddsp/training/gin: datasets/, models/, optimization/, papers/) and in each --gin_search_path;
gs:// (or any scheme://) files are copied to a local temporary directory first.

Train a solo-instrument model on TFRecords made by ddsp_prepare_tfrecord:

  ddsp_run --mode=train --save_dir=~/runs/violin \
    --gin_file=models/solo_instrument.gin --gin_file=datasets/tfrecord.gin \
    --gin_param="TFRecordProvider.file_pattern='/data/violin/train.tfrecord*'" \
    --gin_param="batch_size=16" --alsologtostderr

Run it again with the same --save_dir to resume from the newest checkpoint. A step whose loss
or gradient is NaN or inf is not applied and stops training (exit status 1) with a one-line
error naming the step, the newest checkpoint (saved before it, so finite) and what to try.

Then evaluate every new checkpoint as it appears (or once, with --run_once), or write audio
samples:

  ddsp_run --mode=eval --save_dir=~/runs/violin --run_once \
    --gin_param="TFRecordProvider.file_pattern='/data/violin/eval.tfrecord*'"
  ddsp_run --mode=sample --save_dir=~/runs/violin --run_once

Train on two machines (run on each, with its own index; worker 0 is the chief and writes
the checkpoints, summaries and operative config):

  ddsp_run --mode=train --save_dir=/shared/runs/violin \
    --gin_file=models/solo_instrument.gin --gin_file=datasets/tfrecord.gin \
    --gin_param="TFRecordProvider.file_pattern='/shared/data/train.tfrecord*'" \
    --cluster_config='{"cluster": {"worker": ["host0:2222", "host1:2222"]},
                       "task": {"type": "worker", "index": 0}}'

Train on a Cloud TPU: --tpu=grpc://10.240.1.2:8470 (uses optimization/base_tpu.gin).
"""

import json
import os
import shutil
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Text

from absl import app, flags, logging
import gin
import tensorflow as tf

from ddsp.training import checkpoints, models, train_util, trainers
from ddsp.training.gin import GIN_PATH

FLAGS = flags.FLAGS

flags.DEFINE_enum(
    'mode',
    'train',
    ['train', 'eval', 'sample'],
    'train: fit the model, saving checkpoints to --save_dir. eval: compute the '
    'evaluation metrics of each new checkpoint. sample: write audio summaries of '
    'each new checkpoint.',
)
flags.DEFINE_string(
    'save_dir',
    '/tmp/ddsp',
    'Directory for checkpoints (ckpt-<step>), operative_config-<step>.gin and '
    'TensorBoard summaries (summaries/). Local path or gs:// URL.',
)
flags.DEFINE_string(
    'restore_dir',
    '',
    'Directory (or checkpoint prefix) to restore the model and its operative '
    'gin config from; empty means --save_dir.',
)
flags.DEFINE_string(
    'tpu', '', 'Address of a Cloud TPU (e.g. grpc://10.240.1.2:8470); empty: no TPU.'
)
flags.DEFINE_string(
    'cluster_config',
    '',
    'Multi-worker training: a TF_CONFIG-style JSON string, e.g. '
    '\'{"cluster": {"worker": ["host0:2222", "host1:2222"]}, "task": '
    '{"type": "worker", "index": 0}}\'. Empty: the TF_CONFIG environment '
    'variable if it names a cluster, else the local devices.',
)
flags.DEFINE_boolean(
    'allow_memory_growth',
    False,
    'Let TensorFlow allocate GPU memory as needed instead of all at once (to '
    'share a GPU between processes).',
)
flags.DEFINE_boolean(
    'hypertune',
    False,
    'Report the total loss to Cloud AI Platform hyperparameter tuning '
    '(needs the cloudml-hypertune package).',
)
flags.DEFINE_float(
    'early_stop_loss_value',
    None,
    'Stop training once the total loss is at or below this value; unset: '
    'train for the configured number of steps.',
)
flags.DEFINE_multi_string(
    'gin_search_path',
    [],
    'Extra directories in which to look up --gin_file names and gin '
    '"include" statements (after the package\'s gin directory). '
    'Repeatable',
)
flags.DEFINE_multi_string(
    'gin_file',
    [],
    'Gin config file: a path, a name relative to the gin search path '
    '(e.g. models/solo_instrument.gin), or a gs:// URL. Repeatable; '
    'later files override earlier ones',
)
flags.DEFINE_multi_string(
    'gin_param',
    [],
    'Gin binding, e.g. "train_util.train.num_steps=3000" or '
    '"learning_rate=1e-4". Repeatable; applied after all --gin_file',
)
flags.DEFINE_boolean(
    'run_once',
    False,
    'eval/sample: process the newest checkpoint once and exit, instead of '
    'waiting for new checkpoints.',
)
flags.DEFINE_integer(
    'initial_delay_secs',
    None,
    'Seconds to wait before starting (e.g. to let a training job write its '
    'first checkpoint before an eval job starts); unset: no delay.',
    lower_bound=0,
)


def _check_cluster_config(value: Text) -> bool:
    if not value:
        return True
    try:
        config = json.loads(value)
    except json.JSONDecodeError as e:
        raise flags.ValidationError(
            f'--cluster_config is not valid JSON ({e}); received {value!r}.'
        ) from e
    if not isinstance(config, dict) or 'cluster' not in config or 'task' not in config:
        raise flags.ValidationError(
            '--cluster_config must be a JSON object with "cluster" and "task" (the TF_CONFIG '
            f'format); received {value!r}.'
        )
    return True


flags.register_validator('cluster_config', _check_cluster_config)


class ConfigError(ValueError):
    """A gin file that cannot be found or a gin binding that cannot be applied."""


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------
def delay_start(delay_secs: Optional[float] = None):
    """Sleeps `delay_secs` seconds (default `--initial_delay_secs`; None or 0: no delay).

    Example:
        >>> delay_start(600)  # An eval job waiting for the first checkpoints.
    """
    if delay_secs is None:
        delay_secs = FLAGS.initial_delay_secs if FLAGS.is_parsed() else None
    if delay_secs:
        logging.info('Waiting %s s before starting (--initial_delay_secs).', delay_secs)
        time.sleep(delay_secs)


def allow_memory_growth():
    """Makes every visible GPU allocate memory as needed (call before any TF op runs).

    Example:
        >>> allow_memory_growth()  # Several processes can now share one GPU.
    """
    gpus = tf.config.list_physical_devices('GPU')
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as e:  # The GPU was already initialized.
            logging.warning('Could not enable memory growth on %s: %s', gpu.name, e)
    return gpus


def _is_remote(path: Text) -> bool:
    """Whether `path` is a URL (gs://, file://, ...) that gin's file reader cannot open."""
    return '://' in path


def _copy_to_local(path: Text, local_dir: Text) -> Text:
    """Copies a (remote) gin file into `local_dir` with tf.io.gfile; the local path."""
    if not tf.io.gfile.exists(path):
        raise ConfigError(f'Gin file {path} does not exist.')
    tf.io.gfile.makedirs(local_dir)
    local_path = os.path.join(local_dir, os.path.basename(path.rstrip('/')))
    tf.io.gfile.copy(path, local_path, overwrite=True)
    logging.info('Copied gin file %s to %s.', path, local_path)
    return local_path


def gin_search_paths(extra: Sequence[Text] = ()) -> List[Text]:
    """The package's gin directory followed by the `extra` directories."""
    return [GIN_PATH] + [checkpoints.expand_path(p) for p in extra]


def resolve_gin_file(
    gin_file: Text, search_paths: Sequence[Text], local_dir: Optional[Text] = None
) -> Text:
    """The local path of a `--gin_file` value.

    Args:
        gin_file: An existing path, a name relative to one of `search_paths` (first match
            wins), or a URL (`gs://...`), which is copied into `local_dir`.
        search_paths: Directories to look the name up in.
        local_dir: Where URLs are copied (default: a new temporary directory).

    Raises:
        ConfigError: the file cannot be found; the message names it and the search path.

    Example:
        >>> resolve_gin_file('models/ae.gin', gin_search_paths())  # .../ddsp/training/gin/...
    """
    if _is_remote(gin_file):
        return _copy_to_local(gin_file, local_dir or tempfile.mkdtemp(prefix='ddsp_gin_'))
    path = checkpoints.expand_path(gin_file)
    if os.path.isfile(path):
        return path
    if not os.path.isabs(path):
        for directory in search_paths:
            candidate = os.path.join(directory, path)
            if os.path.isfile(candidate):
                return candidate
    raise ConfigError(
        f'Gin file {gin_file!r} not found (looked in the current directory and '
        f'the gin search path {list(search_paths)}; add directories with '
        f'--gin_search_path).'
    )


def _parse(what: Text, parse_fn, *args, **kwargs):
    """Runs a gin parse call, turning its errors into a ConfigError naming `what`."""
    try:
        return parse_fn(*args, **kwargs)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 -- gin raises many types.
        message = str(e).strip().splitlines()
        raise ConfigError(f'{what}: {type(e).__name__}: {" ".join(message[:6])}') from e


def parse_gin(
    restore_dir: Text,
    gin_files: Optional[Sequence[Text]] = None,
    gin_params: Optional[Sequence[Text]] = None,
    search_paths: Optional[Sequence[Text]] = None,
    tpu: Optional[bool] = None,
):
    """Parses the gin configs in the order described in the module docstring.

    Args:
        restore_dir: Where to look for `operative_config-<step>.gin` (a run being resumed).
        gin_files: Default `--gin_file`.
        gin_params: Default `--gin_param`.
        search_paths: Extra gin search directories; default `--gin_search_path`.
        tpu: Whether to use `optimization/base_tpu.gin`; default `bool(--tpu)`.

    Raises:
        ConfigError: a gin file that cannot be found or a binding that fails, named in the
            message.

    Example:
        >>> parse_gin('/tmp/ddsp', ['models/solo_instrument.gin'], ['batch_size = 8'])
    """
    gin_files = FLAGS.gin_file if gin_files is None else list(gin_files)
    gin_params = FLAGS.gin_param if gin_params is None else list(gin_params)
    search_paths = gin_search_paths(FLAGS.gin_search_path if search_paths is None else search_paths)
    tpu = bool(FLAGS.tpu) if tpu is None else tpu

    # Lets gin read gs:// operative configs (and includes) through TensorFlow's file system.
    gin.config.register_file_reader(tf.io.gfile.GFile, tf.io.gfile.exists)
    for path in search_paths:
        gin.add_config_file_search_path(path)

    with gin.unlock_config():
        optimization = 'optimization/base_tpu.gin' if tpu else 'optimization/base.gin'
        _parse(optimization, gin.parse_config_file, os.path.join(GIN_PATH, optimization))
        eval_gin = os.path.join(GIN_PATH, 'eval', 'basic.gin')
        if os.path.isfile(eval_gin):
            _parse('eval/basic.gin', gin.parse_config_file, eval_gin)

        try:
            operative = checkpoints.get_latest_operative_config(restore_dir)
        except FileNotFoundError:
            logging.info('No operative config in %s.', restore_dir)
        else:
            logging.info('Using the operative config %s.', operative)
            _parse(operative, gin.parse_config_file, operative, skip_unknown=True)

        local_dir = None
        for gin_file in gin_files:
            if _is_remote(gin_file) and local_dir is None:
                local_dir = tempfile.mkdtemp(prefix='ddsp_gin_')
            path = resolve_gin_file(gin_file, search_paths, local_dir)
            _parse(f'--gin_file={gin_file}', gin.parse_config_file, path, skip_unknown=True)
        if local_dir is not None:
            shutil.rmtree(local_dir, ignore_errors=True)
        for param in gin_params:
            _parse(f'--gin_param={param!r}', gin.parse_config, param, skip_unknown=True)


# ------------------------------------------------------------------------------------------------
# Main.
# ------------------------------------------------------------------------------------------------
def _run(save_dir: Text, restore_dir: Text):
    if FLAGS.mode == 'train':
        strategy = train_util.get_strategy(tpu=FLAGS.tpu, cluster_config=FLAGS.cluster_config)
        with strategy.scope():
            model = models.get_model()
            trainer = trainers.get_trainer_class()(model, strategy)
        train_util.train(
            data_provider=gin.REQUIRED,
            trainer=trainer,
            save_dir=save_dir,
            restore_dir=restore_dir,
            early_stop_loss_value=FLAGS.early_stop_loss_value,
            report_loss_to_hypertune=FLAGS.hypertune,
        )
        return

    try:
        from ddsp.training import eval_util
    except ImportError as e:
        raise ConfigError(
            f'--mode={FLAGS.mode} needs ddsp.training.eval_util, which could not be imported ({e}).'
        ) from e
    model = models.get_model()
    loop = eval_util.evaluate if FLAGS.mode == 'eval' else eval_util.sample
    loop(
        data_provider=gin.REQUIRED,
        model=model,
        save_dir=save_dir,
        restore_dir=restore_dir,
        run_once=FLAGS.run_once,
    )


def main(argv: Sequence[Text]):
    """The `ddsp_run` program (`app.run(main)`); see the module docstring."""
    if len(argv) > 1:
        raise app.UsageError(
            f'Unexpected arguments {argv[1:]}; gin settings go in --gin_file / --gin_param.'
        )
    if FLAGS.allow_memory_growth:
        allow_memory_growth()
    delay_start()

    save_dir = checkpoints.expand_path(FLAGS.save_dir)
    restore_dir = checkpoints.expand_path(FLAGS.restore_dir) if FLAGS.restore_dir else save_dir
    try:
        parse_gin(restore_dir)
        _run(save_dir, restore_dir)
    except (ConfigError, FileNotFoundError, train_util.TrainingDivergedError) as e:
        # Bad configs, missing data / checkpoints and a diverged run (its message names the
        # step, the checkpoint left and what to try) end with their message, not a traceback.
        _exit_with_error(str(e))
    except RuntimeError as e:
        if 'Required bindings' not in str(e):
            raise
        _exit_with_error(
            f'{e}. Bind it with --gin_file / --gin_param (e.g. '
            f'--gin_file=models/solo_instrument.gin '
            f'--gin_file=datasets/tfrecord.gin).'
        )


def _exit_with_error(message: Text):
    # Gin appends "In call to configurable 'train' (<function ...>)" lines: noise here.
    message = message.split('\n  In call to configurable')[0].strip()
    logging.error('%s', message)
    sys.exit(f'ddsp_run: error: {message}')


_FLAG_NAMES = (
    'mode',
    'save_dir',
    'restore_dir',
    'tpu',
    'cluster_config',
    'allow_memory_growth',
    'hypertune',
    'early_stop_loss_value',
    'gin_search_path',
    'gin_file',
    'gin_param',
    'run_once',
    'initial_delay_secs',
)


def console_entry_point():
    """Entry point of the `ddsp_run` console script."""
    # absl's --help prints the __main__ module's docstring and key flags; the console script
    # generated by pip has neither, so lend it this module's.
    main_module = sys.modules.get('__main__')
    if main_module is not None and not main_module.__doc__:
        main_module.__doc__ = __doc__
    for name in _FLAG_NAMES:
        FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
    app.run(main)


if __name__ == '__main__':
    console_entry_point()
