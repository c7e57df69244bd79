"""The model directory: a trained model as a few plain files, and their writer and reader.

Everything needed to run a trained model, nothing of its training state
(docs/model_directory.md describes it in full):

    operative_config.gin        the gin config of the training run (builds the model)
    ckpt-<step>.index, .data-*  the weights at step <step>, tf.train.Checkpoint(model=model),
    checkpoint                  no optimizer slots; TF's state file naming that checkpoint
    dataset_statistics.json     statistics of the training split (`statistics.py`'s schema)
    model_card.json             what the model is and how it was made (`ModelCard`)

`ddsp_export_model` makes one from a `ddsp_run` save directory; `instrument.load_model` runs
one, or a pretrained model shipped in `ddsp/training/pretrained/<name>/` (`available_models`).
The reader also accepts the original's `operative_config-<step>.gin` names (the newest wins).
Directories are written whole or not at all: into a temporary directory beside the target,
then renamed (or, with `overwrite`, swapped) into place.

Example:
    >>> files = validate_model_dir('models/violin')  # ModelDirectoryError if incomplete
    >>> files.checkpoint, files.card.sample_rate  # ('models/violin/ckpt-30000', 16000)
"""

import ctypes
import dataclasses
import json
import math
import os
import re
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Text

from ddsp import atomic_files, validation
from ddsp.training import checkpoints
from ddsp.training.data_preparation import statistics as statistics_lib

OPERATIVE_CONFIG = 'operative_config.gin'
DATASET_STATISTICS = 'dataset_statistics.json'
MODEL_CARD = 'model_card.json'
CHECKPOINT_STATE = 'checkpoint'  # TensorFlow's name for the file naming the newest checkpoint.
CHECKPOINT_NAME = 'ckpt'
CARD_FORMAT = 'ddsp-model-card-v1'
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pretrained')
_EXPORT_HINT = (
    'make one from a ddsp_run save directory with ddsp_export_model (docs/model_directory.md)'
)
# Model names double as directory names in the registry of pretrained models.
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')


class ModelDirectoryError(ValueError):
    """A model directory is missing a file, holds an unreadable one, or cannot be written."""


# ------------------------------------------------------------------------------------------------
# The model card.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ModelCard:
    """What a model is and how it was made: `model_card.json` (docs/model_directory.md).

    Fields: `name` (letters, digits, '_', '-', '.'; a pretrained model's directory name),
    `instrument`, `description`, `training_data`, `training_data_license` (text),
    `sample_rate` and `frame_rate` (Hz), `example_secs` (training example length, s),
    `training_steps`, `batch_size`, `learning_rate` (None where unknown), `training_seconds`
    (time in training steps, s, or None), `training_hardware` (text), `parameter_count`
    (weights in the checkpoint), `size_bytes` (the directory's files but the card),
    `metrics` (held-out metrics, `{name: number or JSON value}`, may be empty),
    `ddsp_version`, `notes`; `extra` keeps the keys of a file that this version does not know.

    Example:
        >>> card = ModelCard(name='violin', sample_rate=16000, frame_rate=250)
        >>> write_model_card('/tmp/violin', card); read_model_card('/tmp/violin').name
        'violin'
    """

    name: str
    instrument: str = ''
    description: str = ''
    training_data: str = ''
    training_data_license: str = ''
    sample_rate: int = 16000
    frame_rate: int = 250
    example_secs: float = 4.0
    training_steps: int = 0
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    training_seconds: Optional[float] = None
    training_hardware: str = ''
    parameter_count: int = 0
    size_bytes: int = 0
    metrics: Dict[str, Any] = dataclasses.field(default_factory=dict)
    ddsp_version: str = ''
    notes: str = ''
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_card_fields(dataclasses.asdict(self), owner='ModelCard')

    def to_dict(self) -> Dict[str, Any]:
        """The card as the JSON object written to `model_card.json`."""
        data = {'format': CARD_FORMAT}
        data.update({k: v for k, v in dataclasses.asdict(self).items() if k != 'extra'})
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any], owner: Text = 'ModelCard') -> 'ModelCard':
        """A card from a JSON object; unknown keys go to `extra`, `format` is checked."""
        if not isinstance(data, dict):
            validation.fail(owner, 'card', 'a JSON object of card fields', data)
        data = dict(data)
        card_format = data.pop('format', CARD_FORMAT)
        if card_format != CARD_FORMAT:
            validation.fail(owner, 'format', f'"{CARD_FORMAT}"', card_format)
        known = {f.name for f in dataclasses.fields(cls)} - {'extra'}
        extra = dict(data.pop('extra', None) or {})
        extra.update({k: data.pop(k) for k in list(data) if k not in known})
        if 'name' not in data:
            validation.fail(owner, 'name', 'given (every card names its model)', None)
        check_card_fields(data, owner=owner)
        return cls(**data, extra=extra)


CARD_FIELDS = tuple(f.name for f in dataclasses.fields(ModelCard) if f.name != 'extra')
_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(ModelCard) if f.type is str)


def _finite_json(value) -> bool:
    """Whether `value` is made of JSON types only, without NaN or infinity."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_finite_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _finite_json(v) for k, v in value.items())
    return False


def check_card_fields(data: Dict[str, Any], owner: Text = 'ModelCard') -> Dict[str, Any]:
    """Checks the card fields present in `data` (types and ranges); returns `data`.

    Raises:
        ValueError: one line naming the field, what it must be and what it holds.
    """
    for key, value in data.items():
        optional = value is None and key in ('batch_size', 'learning_rate', 'training_seconds')
        if key == 'name' and not (isinstance(value, str) and _NAME.match(value)):
            expected = 'a short name of letters, digits, "_", "-" or "." (e.g. "violin")'
            validation.fail(owner, key, expected, value)
        elif key in ('sample_rate', 'frame_rate') or (key == 'batch_size' and not optional):
            validation.check_int(owner, key, value, hint='' if key != 'batch_size' else 'or null')
        elif key in ('training_steps', 'parameter_count', 'size_bytes'):
            validation.check_int(owner, key, value, minimum=0)
        elif key == 'example_secs':
            validation.check_positive_number(owner, key, value)
        elif key in ('learning_rate', 'training_seconds') and not optional:
            validation.check_number(owner, key, value, minimum=0.0, hint='or null')
        elif key in ('metrics', 'extra') and not (isinstance(value, dict) and _finite_json(value)):
            expected = 'a JSON object ({name: value}) of finite numbers, strings, lists or objects'
            validation.fail(owner, key, expected, value)
        elif key in _TEXT_FIELDS and not isinstance(value, str):
            validation.fail(owner, key, 'a string', value)
    return data


def _card_path(path: Text) -> Text:
    path = checkpoints.expand_path(path)
    return os.path.join(path, MODEL_CARD) if os.path.isdir(path) else path


def write_model_card(path: Text, card: ModelCard) -> Text:
    """Writes `card` as JSON to `path` (a file, or a directory for its `model_card.json`).

    The file is written to a temporary name and renamed, so it is whole or absent.
    Returns the file's path.

    Example:
        >>> write_model_card('/tmp/violin', ModelCard(name='violin'))
        '/tmp/violin/model_card.json'
    """
    path = _card_path(path)
    text = json.dumps(card.to_dict(), indent=1, allow_nan=False, sort_keys=False) + '\n'
    _write_text(path, text)
    return path


def read_model_card(path: Text) -> ModelCard:
    """Reads a `model_card.json` (or the one in the directory `path`).

    Raises:
        ModelDirectoryError: no such file, not JSON, or a field of the wrong type; one line
            naming the file.

    Example:
        >>> read_model_card('models/violin').sample_rate
        16000
    """
    path = _card_path(path)
    import tensorflow as tf  # Reads local and cloud (gs://) paths alike.

    if not tf.io.gfile.exists(path):
        raise ModelDirectoryError(f'No model card at {path}; {_EXPORT_HINT}.')
    try:
        with tf.io.gfile.GFile(path, 'rb') as f:
            data = json.loads(f.read().decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelDirectoryError(
            f'The model card {path} is not valid JSON ({e}); fix it or export the model again.'
        ) from e
    try:
        return ModelCard.from_dict(data, owner=path)
    except (ValueError, TypeError) as e:
        raise ModelDirectoryError(f'{e} Fix the model card or export the model again.') from e


# ------------------------------------------------------------------------------------------------
# Reading and validating a directory.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelFiles:
    """The files of a valid model directory (paths) and its card."""

    directory: Text
    operative_config: Text
    checkpoint: Text  # The prefix: `<directory>/ckpt-<step>`.
    dataset_statistics: Text
    model_card: Text
    card: ModelCard

    @property
    def step(self) -> Optional[int]:
        """The training step in the checkpoint's name (None if it has none)."""
        match = re.search(r'-(\d+)$', self.checkpoint)
        return int(match.group(1)) if match else None


def find_operative_config(directory: Text) -> Optional[Text]:
    """`operative_config.gin`, else the newest `operative_config-<step>.gin`, else None."""
    import tensorflow as tf

    path = os.path.join(directory, OPERATIVE_CONFIG)
    if tf.io.gfile.exists(path):
        return path
    try:
        return checkpoints.get_latest_file(directory)
    except FileNotFoundError:
        return None


def _data_files_complete(prefix: Text) -> bool:
    """Whether every `.data-NNNNN-of-MMMMM` shard of a checkpoint exists."""
    import tensorflow as tf

    shards = tf.io.gfile.glob(prefix + '.data-*-of-*')
    if not shards:
        return False
    total = re.search(r'-of-(\d+)$', shards[0])
    return total is not None and len(shards) == int(total.group(1))


def _find_checkpoint(directory: Text) -> Optional[Text]:
    try:
        prefix = checkpoints.get_latest_checkpoint(directory)
    except FileNotFoundError:
        return None
    return prefix if _data_files_complete(prefix) else None


def validate_model_dir(path: Text) -> ModelFiles:
    """Checks that `path` is a complete, readable model directory; returns its files.

    Every missing piece is named in one error: the gin config (`operative_config.gin` or
    `operative_config-<step>.gin`), the checkpoint (`ckpt-<step>.index` with all its `.data-*`
    shards), `dataset_statistics.json` and `model_card.json`. Then the statistics and the card
    are parsed. Weights are read only when the model is loaded (`instrument.load_model`).

    Raises:
        ModelDirectoryError: one line naming the directory, what is missing or unreadable, and
            how to fix it.

    Example:
        >>> validate_model_dir('/tmp/empty')
        ModelDirectoryError: Model directory /tmp/empty is missing its gin config (...), ...
    """
    import tensorflow as tf

    directory = checkpoints.expand_path(str(path))
    if not tf.io.gfile.isdir(directory):
        what = 'a file' if tf.io.gfile.exists(directory) else 'not found'
        raise ModelDirectoryError(
            f'Model directory {directory}: {what}, not a directory; give the path of a model '
            f'directory or the name of a pretrained model, or {_EXPORT_HINT}.'
        )
    gin_path = find_operative_config(directory)
    prefix = _find_checkpoint(directory)
    stats_path = os.path.join(directory, DATASET_STATISTICS)
    card_path = os.path.join(directory, MODEL_CARD)
    missing = []
    if gin_path is None:
        missing.append(f'its gin config ({OPERATIVE_CONFIG})')
    if prefix is None:
        missing.append('its checkpoint (ckpt-<step>.index with its .data-* files)')
    if not tf.io.gfile.exists(stats_path):
        missing.append(f'its training statistics ({DATASET_STATISTICS})')
    if not tf.io.gfile.exists(card_path):
        missing.append(f'its model card ({MODEL_CARD})')
    if missing:
        raise ModelDirectoryError(
            f'Model directory {directory} is missing {_join(missing)}; {_EXPORT_HINT}.'
        )
    try:
        statistics_lib.load_dataset_statistics(stats_path)
    except ValueError as e:
        raise ModelDirectoryError(
            f'Model directory {directory}: unreadable {DATASET_STATISTICS} ({e})'
        ) from e
    card = read_model_card(card_path)
    return ModelFiles(directory, gin_path, prefix, stats_path, card_path, card)


def _join(items) -> Text:
    items = list(items)
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


# ------------------------------------------------------------------------------------------------
# Writing a directory.
# ------------------------------------------------------------------------------------------------
def _write_text(path: Text, text: Text):
    """Writes `path` under a temporary name in its directory, then renames it."""
    with atomic_files.write_whole(path, 'w') as f:
        f.write(text)


def check_output_dir(output_dir: Text, overwrite: bool = False, owner: Text = '') -> Text:
    """The absolute local path for a new model directory, or a one-line error.

    Refuses a path that is a file, a non-empty directory without `overwrite`, and remote
    (scheme://) paths, whose renames are not atomic.
    """
    if '://' in str(output_dir):
        validation.fail(
            owner,
            'output_dir',
            'a local directory (model directories are written whole by renaming a '
            'temporary directory, which remote file systems cannot do); write it locally '
            'and copy it',
            output_dir,
        )
    path = os.path.abspath(checkpoints.expand_path(str(output_dir)))
    if os.path.lexists(path) and not os.path.isdir(path):
        validation.fail(
            owner, 'output_dir', 'a directory path (this is an existing file)', output_dir
        )
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        validation.fail(
            owner,
            'output_dir',
            'a new or empty directory (it exists and is not empty); choose another path or '
            'pass overwrite=True (--overwrite) to replace it',
            output_dir,
        )
    return path


def write_model_dir(
    output_dir: Text,
    model,
    operative_config: Text,
    dataset_statistics: Text,
    card: ModelCard,
    step: int,
    overwrite: bool = False,
) -> ModelFiles:
    """Writes a model directory whole: the weights, the gin config, the statistics, the card.

    Written into a temporary directory beside `output_dir`, which then takes its place: by
    a rename, or with `overwrite` by an atomic exchange with the old directory (then deleted).
    A failure at any point leaves `output_dir` as it was and removes the temporary directory.

    Args:
        output_dir: the directory to write (local).
        model: the model with its trained weights (a built `keras.Model`); its variables are
            written as `tf.train.Checkpoint(model=model)`, nothing else.
        operative_config: the text of the training run's operative gin config.
        dataset_statistics: path of the training split's statistics JSON
            (`statistics.<base>-train.json`, or `statistics.<base>.json` without an eval
            split); it is checked, then copied unchanged.
        card: the model card; `parameter_count` and `size_bytes` are filled in here.
        step: the training step of the weights (the checkpoint is `ckpt-<step>`).
        overwrite: replace a non-empty `output_dir`.

    Returns:
        The `ModelFiles` of the new directory (its card as written).

    Raises:
        ValueError: `output_dir` is a file, or non-empty without `overwrite`; unusable
            statistics (`ModelDirectoryError`).

    Example:
        >>> write_model_dir('models/violin', model, gin_text, 'stats-train.json',
        ...                 ModelCard(name='violin'), step=30000)
    """
    import tensorflow as tf

    owner = 'write_model_dir'
    target = check_output_dir(output_dir, overwrite, owner)
    step = validation.check_int(owner, 'step', step, minimum=0)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{os.path.basename(target)}.writing-', dir=parent)
    try:
        name = f'{CHECKPOINT_NAME}-{step}'
        checkpoint = tf.train.Checkpoint(model=model)
        # Restoring makes a Checkpoint's save counter, so it is written too (as 0): then every
        # object of a restore matches, as `Checkpoint.restore(...).assert_consumed()` checks.
        checkpoint.save_counter  # noqa: B018 -- the property creates the variable.
        checkpoint.write(os.path.join(staging, name))
        # Relative paths, so that the directory can be moved or copied.
        _write_text(
            os.path.join(staging, CHECKPOINT_STATE),
            f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n',
        )
        _write_text(os.path.join(staging, OPERATIVE_CONFIG), operative_config)
        _copy_statistics(dataset_statistics, os.path.join(staging, DATASET_STATISTICS))
        size = sum(
            os.path.getsize(os.path.join(staging, f))
            for f in os.listdir(staging)
            if f != MODEL_CARD
        )
        card = dataclasses.replace(
            card,
            parameter_count=count_parameters(os.path.join(staging, name)),
            size_bytes=int(size),
        )
        write_model_card(os.path.join(staging, MODEL_CARD), card)
        validate_model_dir(staging)  # What was written reads back.
        _make_readable(staging)
        old = _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return validate_model_dir(target)


def _make_readable(directory: Text):
    """Gives the directory and its files the usual permissions (the umask's), not the
    owner-only ones of temporary files, so that an installed or shared model can be read."""
    umask = atomic_files.umask()
    os.chmod(directory, 0o777 & ~umask)
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), 0o666 & ~umask)


def check_dataset_statistics(path: Text) -> Text:
    """Checks that `path` holds a training split's statistics as JSON; its expanded path.

    Raises:
        ModelDirectoryError: no such file, not JSON, NaN or infinity in it (`statistics.py`'s
            reader), or the eval split's file (`statistics.<base>-eval.json`).
    """
    path = checkpoints.expand_path(str(path))
    if re.search(r'-eval\.json$', path):
        raise ModelDirectoryError(
            f"Dataset statistics {path} are the eval split's: a model directory carries the "
            f"training split's (statistics.<base>-train.json, or statistics.<base>.json for a "
            f'dataset without an eval split), which auto-adjust matches inputs to.'
        )
    if not path.endswith('.json'):
        raise ModelDirectoryError(
            f'Dataset statistics {path}: a model directory carries JSON statistics (a .json '
            f'file); regenerate them with ddsp_prepare_tfrecord.'
        )
    try:
        statistics_lib.load_dataset_statistics(path)
    except (ValueError, FileNotFoundError) as e:
        raise ModelDirectoryError(f'Unusable dataset statistics: {e}') from e
    return path


def _copy_statistics(source: Text, destination: Text):
    """Checks the statistics JSON at `source` and copies its bytes to `destination`."""
    import tensorflow as tf

    tf.io.gfile.copy(check_dataset_statistics(source), destination, overwrite=True)


def count_parameters(checkpoint: Text) -> int:
    """The number of weights a checkpoint holds for its `model` (every saved variable of it).

    Counted in the file rather than on the Keras model, whose `variables` also list state
    that checkpoints do not save (e.g. a random seed generator's).
    """
    import tensorflow as tf

    return sum(
        math.prod(shape)
        for name, shape in tf.train.list_variables(checkpoint)
        if name.startswith('model/')
    )


_RENAME_EXCHANGE = 2  # Linux renameat2 flag: swap two paths atomically.
_AT_FDCWD = -100


def _exchange(a: Text, b: Text) -> bool:
    """Swaps the directories `a` and `b` atomically where the system can (Linux); success."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _move_into_place(staging: Text, target: Text) -> Optional[Text]:
    """Puts `staging` at `target`; returns where the replaced directory now is, if any."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return None
    if _exchange(staging, target):
        return staging  # Now holds the old directory.
    old = staging + '.old'
    os.rename(target, old)
    os.rename(staging, target)
    return old


# ------------------------------------------------------------------------------------------------
# Pretrained models: model directories shipped in the package.
# ------------------------------------------------------------------------------------------------
def available_models() -> List[Text]:
    """Names of the pretrained models shipped in `ddsp/training/pretrained/` (sorted).

    A pretrained model is a subdirectory holding a `model_card.json`; none when the directory
    is missing or empty.

    Example:
        >>> available_models()  # e.g. ['cello', 'flute', 'trumpet', 'violin']
    """
    if not os.path.isdir(PRETRAINED_DIR):
        return []
    return sorted(
        name
        for name in os.listdir(PRETRAINED_DIR)
        if os.path.isfile(os.path.join(PRETRAINED_DIR, name, MODEL_CARD))
    )


def _is_bare_name(text: Text) -> bool:
    return bool(text) and not any(c in text for c in '/\\~:') and not text.startswith('.')


def resolve_model_dir(path_or_name: Text) -> Text:
    """The directory of a pretrained model's name, or the path given.

    A bare name (no '/') is looked up among the pretrained models first; write './violin' for
    a directory of that name in the current directory.

    Raises:
        ModelDirectoryError: a bare name that is neither a pretrained model nor a directory;
            the message lists the pretrained models.
    """
    import tensorflow as tf

    text = os.fspath(path_or_name)
    available = available_models()
    if _is_bare_name(text) and text in available:
        return os.path.join(PRETRAINED_DIR, text)
    path = checkpoints.expand_path(text)
    if _is_bare_name(text) and not tf.io.gfile.isdir(path):
        listed = ', '.join(available) if available else 'none are installed'
        raise ModelDirectoryError(
            f'No pretrained model named "{text}" (available: {listed}) and no directory '
            f"{os.path.abspath(path)}; give a pretrained model's name or the path of a model "
            f'directory.'
        )
    return path
