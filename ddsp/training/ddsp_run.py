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

import contextlib
import difflib
import inspect
import json
import logging as std_logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Text

from absl import app, flags, logging
import gin
from gin import config_parser
import keras
import tensorflow as tf

from ddsp import validation
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


# ------------------------------------------------------------------------------------------------
# Gin parsing: strict for what the user typed, lenient for a restored operative config.
# ------------------------------------------------------------------------------------------------
# Names Keras's Layer.__init__ takes through **kwargs besides its named parameters.
_KERAS_LAYER_KWARGS = ('input_dim', 'input_shape')
# How close (difflib ratio) a keyword must be to a parameter to be called a misspelling of it.
_MISSPELLING_RATIO = 0.8


class _StatementsOnly(config_parser.ParserDelegate):
    """Lets gin's parser list a config's statements without resolving references or macros."""

    def configurable_reference(self, scoped_configurable_name, evaluate):
        del scoped_configurable_name, evaluate
        return None

    def macro(self, macro_name):
        del macro_name
        return None


def _statements(text: Text) -> list:
    """gin's statements of `text` (bindings, imports, includes), unresolved; [] if unparsable."""
    try:
        return list(config_parser.ConfigParser(text, _StatementsOnly()))
    except Exception:  # noqa: BLE001 -- a syntax error: gin's own parse reports it.
        return []


def _configurable(selector: Text):
    """The configurable gin knows as `selector`, or None."""
    try:
        return gin.get_configurable(selector)
    except Exception:  # noqa: BLE001 -- unknown or ambiguous.
        return None


def _parameters(configurable) -> tuple:
    """`(names, takes_more)`: the keyword names `configurable` is known to take, and whether
    its own signature also takes others (`**kwargs`, which gin then cannot check).

    For a class, the names are those of each `__init__` up its class chain for as long as
    each passes `**kwargs` on, ending with those Keras's `Layer` takes. (A class may also
    take an old keyword out of `**kwargs` itself, like `Reverb(reverb_only=...)`.)
    """
    if inspect.isclass(configurable):
        functions = [klass.__init__ for klass in configurable.__mro__ if '__init__' in vars(klass)]
    else:
        functions = [configurable]
    names, takes_more = [], None
    for fn in functions:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return names, True
        names += [
            name
            for name, p in signature.parameters.items()
            if name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        more = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        takes_more = more if takes_more is None else takes_more
        if fn is getattr(keras.layers.Layer, '__init__', None):
            names += list(_KERAS_LAYER_KWARGS)
            break
        if not more:  # The chain of **kwargs ends here.
            break
    return names, bool(takes_more)


def _close_matches(name: Text, candidates, cutoff: float = 0.6) -> list:
    return difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=cutoff)


def _did_you_mean(matches) -> Text:
    return f' (did you mean {" or ".join(repr(m) for m in matches)}?)' if matches else ''


def _known_configurable_names() -> list:
    """The last component of every registered configurable's name (for suggestions)."""
    try:
        selectors = [selector for selector, _ in gin.config._REGISTRY.items()]
    except Exception:  # noqa: BLE001 -- another gin version: no suggestions.
        return []
    return [selector.rsplit('.', 1)[-1] for selector in selectors]


def _misspelled_keywords(
    text: Text, search_paths: Sequence[Text], filename: Optional[Text] = None, seen=None
) -> list:
    """`(selector, keyword, matches, where)` for each binding in `text` (and the files it
    includes) of a keyword that a configurable taking `**kwargs` does not name but that is
    close to one of its parameters, e.g. `RnnFcDecoder.rnn_chanels`. `where` is ' (line N of
    FILE)', or '' for a `text` with no `filename`.

    gin itself refuses unknown keywords of configurables without `**kwargs`; those with it
    (Keras layers) would refuse them only when built, if they are built at all.
    """
    seen = set() if seen is None else seen
    found = []
    for statement in _statements(text):
        if isinstance(statement, config_parser.IncludeStatement):
            try:
                path = resolve_gin_file(statement.filename, search_paths)
            except ConfigError:
                continue  # gin reports it.
            if path not in seen:
                seen.add(path)
                with open(path) as f:
                    found += _misspelled_keywords(f.read(), search_paths, path, seen)
            continue
        if not isinstance(statement, config_parser.BindingStatement) or not statement.arg_name:
            continue
        configurable = _configurable(statement.selector)
        if configurable is None:
            continue
        names, takes_more = _parameters(configurable)
        if statement.arg_name in names or not takes_more:
            continue  # Known, or refused by gin already.
        matches = _close_matches(statement.arg_name, names, cutoff=_MISSPELLING_RATIO)
        if matches:
            where = f' (line {statement.location.line_num} of {filename})' if filename else ''
            found.append((statement.selector, statement.arg_name, matches, where))
    return found


def _location(text: Text) -> Text:
    """'line 3 of /path/x.gin' from a gin error message ('' if it names none)."""
    match = re.search(r'In file "([^"]+)",? line (\d+)', text)
    return f'line {match.group(2)} of {match.group(1)}' if match else ''


def _explain_gin_error(flag: Text, value: Text, error: Exception) -> Text:
    """A one-line message for a gin error in a user's --gin_file / --gin_param."""
    text = str(error)
    where = _location(text)
    where = f' ({where})' if where else ''
    match = re.search(r"No configurable matching '([^']+)'", text)
    if match:
        name = match.group(1)
        matches = _close_matches(name.rsplit('.', 1)[-1], _known_configurable_names())
        return validation.message(
            '',
            flag,
            f'bindings of known configurables; {name!r}{where} is not one'
            f'{_did_you_mean(matches)}: fix the name, or import the module that defines it',
            value,
        )
    match = re.search(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'", text)
    if match:
        selector, keyword = match.groups()
        configurable = _configurable(selector)
        names = _parameters(configurable)[0] if configurable is not None else []
        return validation.message(
            '',
            flag,
            f'bindings of parameters that exist; {selector} has no parameter {keyword!r}'
            f'{where}{_did_you_mean(_close_matches(keyword, names))}: fix or remove that '
            f'binding',
            value,
        )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return f'{flag}={value!r}: {type(error).__name__}: {" ".join(lines[:6])}'


def _parse_user(flag: Text, value: Text, parse_fn, source, text: Text, search_paths):
    """Parses what the user typed strictly: an unknown configurable or keyword is an error."""
    try:
        parse_fn(source, skip_unknown=False)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 -- gin raises many types.
        raise ConfigError(_explain_gin_error(flag, value, e)) from e
    filename = source if parse_fn is gin.parse_config_file else None
    for selector, keyword, matches, where in _misspelled_keywords(text, search_paths, filename):
        raise ConfigError(
            validation.message(
                '',
                flag,
                f'bindings of parameters that exist; {selector} has no parameter {keyword!r}'
                f'{where}{_did_you_mean(matches)}: fix or remove that binding',
                value,
            )
        )


def _parse_operative(path: Text):
    """Parses a restored operative config leniently, with a warning for each binding skipped.

    The run being resumed may have been made by another version of the code: bindings of
    configurables that no longer exist are skipped (gin's `skip_unknown`), and so are bindings
    of parameters a configurable no longer takes.
    """
    with tf.io.gfile.GFile(path) as f:
        lines = f.read().splitlines(keepends=True)
    statements = _statements(''.join(lines))
    starts = [s.location.line_num for s in statements] + [len(lines) + 1]
    dropped = set()
    for statement, start, end in zip(statements, starts, starts[1:]):
        if not isinstance(statement, config_parser.BindingStatement) or not statement.arg_name:
            continue
        configurable = _configurable(statement.selector)
        if configurable is None:
            continue  # Unknown configurables: gin skips them.
        names, takes_more = _parameters(configurable)
        if statement.arg_name not in names and not takes_more:
            logging.warning(
                'Skipping %s.%s in %s (line %d): %s takes no such parameter any more.',
                statement.selector,
                statement.arg_name,
                path,
                start,
                statement.selector,
            )
            dropped.update(range(start, end))
    text = ''.join(line for number, line in enumerate(lines, 1) if number not in dropped)
    try:
        gin.parse_config(text, skip_unknown=True)
    except Exception as e:  # noqa: BLE001 -- gin raises many types.
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        raise ConfigError(
            f'The operative config of the run being resumed, {path}, cannot be parsed: '
            f'{type(e).__name__}: {" ".join(lines[:6])}. Fix or remove that file (the '
            f'--gin_file / --gin_param given now are applied after it).'
        ) from e


class _DropGinPathLookups(std_logging.Filter):
    """Drops the 'Path not found: <name>' errors gin logs while it searches for a file.

    gin looks an include (or a relative file) up under each search path in turn and, under
    each, asks every file reader, including one that imports the name's directory as a Python
    package and logs an ERROR when that fails: two ERROR lines for every run that includes
    `models/ae.gin` and `datasets/base.gin`. A file found nowhere is still an error (gin
    raises, and `parse_gin` names the file).
    """

    def filter(self, record):
        return not (
            record.msg == 'Path not found: %s'
            and os.path.basename(record.pathname) == 'resource_reader.py'
        )


@contextlib.contextmanager
def _quiet_gin_lookups():
    log_filter = _DropGinPathLookups()
    std_logging.getLogger().addFilter(log_filter)
    try:
        yield
    finally:
        std_logging.getLogger().removeFilter(log_filter)


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

    What the user typed (`gin_files`, `gin_params`, and the files they include) is parsed
    strictly: a configurable gin does not know, or a keyword it does not take, is a
    ConfigError naming it (with close matches). A keyword that a Keras layer would take
    through `**kwargs` counts as unknown when it is not one of its parameters but is close to
    one (`RnnFcDecoder.rnn_chanels`); other such keywords are checked by the layer when it is
    built. The operative config of the run being resumed is parsed leniently: bindings of
    configurables or parameters that no longer exist are skipped.

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

    with gin.unlock_config(), _quiet_gin_lookups():
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
            _parse_operative(operative)

        local_dir = None
        try:
            for gin_file in gin_files:
                if _is_remote(gin_file) and local_dir is None:
                    local_dir = tempfile.mkdtemp(prefix='ddsp_gin_')
                path = resolve_gin_file(gin_file, search_paths, local_dir)
                with open(path) as f:
                    text = f.read()
                _parse_user('--gin_file', gin_file, gin.parse_config_file, path, text, search_paths)
        finally:
            if local_dir is not None:
                shutil.rmtree(local_dir, ignore_errors=True)
        for param in gin_params:
            _parse_user('--gin_param', param, gin.parse_config, param, param, search_paths)


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
