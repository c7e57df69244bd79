r"""ddsp_run: train, evaluate or sample a DDSP model configured with gin.

Gin configs are read in this order (later ones win):
  1. optimization/base.gin (optimization/base_tpu.gin with --tpu);
  2. eval/basic.gin;
  3. the newest operative_config-<step>.gin in --restore_dir (so a restarted run keeps its
     settings), leniently: bindings of configurables or parameters that no longer exist are
     skipped (with a warning for parameters);
  4. every --gin_file, then every --gin_param, strictly: a configurable or parameter that
     does not exist (RnnFcDecodr.rnn_channels, RnnFcDecoder.rnn_chanels) is an error naming
     it, with close matches.
Relative --gin_file names are looked up in the package's gin directory
(ddsp/training/gin: datasets/, models/, optimization/, papers/) and in each --gin_search_path;
gs:// (or any scheme://) files are copied to a local temporary directory first.

Train a solo-instrument model on TFRecords made by ddsp_prepare_tfrecord:

  ddsp_run --mode=train --save_dir=~/runs/violin \
    --gin_file=models/solo_instrument.gin --gin_file=datasets/tfrecord.gin \
    --gin_param="TFRecordProvider.file_pattern='/data/violin/train.tfrecord*'" \
    --gin_param="batch_size=16" --alsologtostderr

Run it again with the same --save_dir to resume from the newest checkpoint (with a changed
model size, the run stops with a message naming a variable whose shape differs; the
checkpoints are left as they are). A step whose loss or gradient is NaN or inf is not applied
and stops training (exit status 1) with a one-line error naming the step, the features of its
batch that hold NaN or inf and the record files holding such records, the newest checkpoint
(saved before it, so finite) and what to try. --save_dir is checked for writing before
anything else runs; other bad settings also end with a one-line error (--verbosity=1 adds the
traceback).

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
import re
import sys
import tempfile
import time
from typing import Optional, Sequence, Text

from absl import app, flags, logging
import gin
import tensorflow as tf

from ddsp import validation
from ddsp.training import checkpoints, models, train_util, trainers

# The gin parsing (ddsp.training.gin_parsing); the names also stay reachable from here.
from ddsp.training.gin_parsing import (
    ConfigError,
    _close_matches,
    _configurable,
    _did_you_mean,
    _is_remote,
    _parameters,
    parse_gin,
)
from ddsp.training.gin_parsing import _quiet_gin_lookups as _quiet_gin_lookups
from ddsp.training.gin_parsing import gin_search_paths as gin_search_paths
from ddsp.training.gin_parsing import resolve_gin_file as resolve_gin_file

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


def check_save_dir(save_dir: Text, mode: Text = 'train'):
    """Raises ConfigError unless this process can create and write `save_dir`.

    A local path is checked without creating anything: its nearest existing ancestor must be
    a directory in which a file can be written (a temporary file is made and removed). A URL
    (gs://...) is created and written to in train mode only.

    Example:
        >>> check_save_dir('/tmp/ddsp')  # None; '/etc/passwd/run' raises ConfigError.
    """

    def refuse(reason: Text):
        raise ConfigError(
            validation.message(
                '',
                '--save_dir',
                f'a directory this process can create and write ({reason}); choose another '
                f'--save_dir or fix its permissions',
                save_dir,
            )
        )

    if _is_remote(save_dir):
        if mode != 'train':
            return
        probe = os.path.join(save_dir, f'.ddsp_run_write_check-{os.getpid()}')
        try:
            tf.io.gfile.makedirs(save_dir)
            with tf.io.gfile.GFile(probe, 'w') as f:
                f.write('')
            tf.io.gfile.remove(probe)
        except (tf.errors.OpError, OSError) as e:
            refuse(f'writing there failed: {" ".join(str(e).split())[:200]}')
        return
    existing = os.path.abspath(save_dir)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        refuse(f'{existing} is a file, not a directory')
    try:
        fd, probe = tempfile.mkstemp(prefix='.ddsp_run_write_check-', dir=existing)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        refuse(f'no file can be written in {existing}: {e.strerror or e}')


class _Literal(str):
    """A value quoted in an error message as it was written."""

    def __repr__(self):
        return str(self)


# Keras's message for a keyword a layer does not take (a gin binding it was built with).
_UNKNOWN_KEYWORDS = re.compile(r'Unrecognized keyword arguments passed to (\w+): (\{.*\})')


def _explain(error: Exception) -> Text:
    """A one-line message for an error that ends the run."""
    text = str(error).split('\n  In call to configurable')[0].strip()
    match = _UNKNOWN_KEYWORDS.search(text)
    if match:
        name, keywords = match.groups()
        configurable = _configurable(name)
        names = _parameters(configurable)[0] if configurable is not None else []
        bound = re.findall(r"'([^']+)': ([^,}]+)", keywords)
        if bound:
            keyword, value = bound[0]
            return validation.message(
                '',
                f'{name}.{keyword}',
                f'a parameter {name} takes{_did_you_mean(_close_matches(keyword, names))}; '
                f'fix or remove that --gin_file / --gin_param binding',
                _Literal(value.strip()),
            )
    return ' '.join(text.split())


def main(argv: Sequence[Text]):
    """The `ddsp_run` program (`app.run(main)`); see the module docstring."""
    if len(argv) > 1:
        raise app.UsageError(
            f'Unexpected arguments {argv[1:]}; gin settings go in --gin_file / --gin_param.'
        )
    if FLAGS.allow_memory_growth:
        allow_memory_growth()

    save_dir = checkpoints.expand_path(FLAGS.save_dir)
    restore_dir = checkpoints.expand_path(FLAGS.restore_dir) if FLAGS.restore_dir else save_dir
    try:
        check_save_dir(save_dir, FLAGS.mode)
        delay_start()
        parse_gin(restore_dir)
        _run(save_dir, restore_dir)
    except (
        ConfigError,
        FileNotFoundError,
        train_util.TrainingDivergedError,
        checkpoints.CheckpointMismatchError,
    ) as e:
        # Bad configs, missing data / checkpoints, a diverged run (its message names the
        # step, the checkpoint left and what to try) and checkpoints of another config end
        # with their message, not a traceback.
        _exit_with_error(_explain(e))
    except RuntimeError as e:
        if 'Required bindings' in str(e):
            _exit_with_error(
                f'{e}. Bind it with --gin_file / --gin_param (e.g. '
                f'--gin_file=models/solo_instrument.gin '
                f'--gin_file=datasets/tfrecord.gin).'
            )
        if 'none could be restored' in str(e):
            _exit_with_error(_explain(e))
        raise
    except (ValueError, TypeError) as e:
        # A bad setting found where it is used (a layer's or a provider's argument check):
        # its message, with the traceback at --verbosity=1.
        logging.debug('Traceback of the error below:', exc_info=True)
        _exit_with_error(f'{_explain(e)} (--verbosity=1 shows the traceback)')


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
