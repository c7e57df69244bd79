"""Gin configs for ddsp_run: strict for what the user typed, lenient for what is restored.

`parse_gin` reads the gin configs of a run in this order (later ones win):
  1. optimization/base.gin (optimization/base_tpu.gin with --tpu);
  2. eval/basic.gin;
  3. the newest operative_config-<step>.gin in the restore directory (so a restarted run
     keeps its settings), leniently: bindings of configurables or parameters that no longer
     exist are skipped (with a warning for parameters), since the run being resumed may have
     been made by another version of the code;
  4. every --gin_file, then every --gin_param, strictly: a configurable or parameter that
     does not exist (RnnFcDecodr.rnn_channels, RnnFcDecoder.rnn_chanels) is a one-line
     `ConfigError` naming it, with close matches.

Relative --gin_file names (and gin "include" statements) are looked up in the package's gin
directory (ddsp/training/gin) and then in each extra search path (`gin_search_paths`,
`resolve_gin_file`); gs:// (or any scheme://) files are copied to a local temporary directory
first. While parsing, the ERROR lines gin's resource reader logs for each search-path lookup
that misses ('Path not found: ...') are dropped; a file found nowhere is still an error.

The defaults of `parse_gin` come from ddsp_run's flags (--gin_file, --gin_param,
--gin_search_path, --tpu); pass every argument to call it without them.

Example:
    >>> parse_gin('/tmp/ddsp', ['models/solo_instrument.gin'], ['batch_size = 8'], [], False)
"""

import contextlib
import difflib
import inspect
import logging as std_logging
import os
import re
import shutil
import tempfile
from typing import List, Optional, Sequence, Text

from absl import flags, logging
import gin
from gin import config_parser
import keras
import tensorflow as tf

from ddsp import validation
from ddsp.training import checkpoints
from ddsp.training.gin import GIN_PATH

FLAGS = flags.FLAGS


class ConfigError(ValueError):
    """A gin file that cannot be found or a gin binding that cannot be applied."""


# ------------------------------------------------------------------------------------------------
# Gin files: found on the search path, or copied from a URL.
# ------------------------------------------------------------------------------------------------
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
