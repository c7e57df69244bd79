r"""ddsp_export_model: turn a ddsp_run save directory into a model directory.

Takes the newest complete checkpoint of a training run (an unreadable one is skipped for the
one before it), restores it into the model that the run's newest operative gin config builds,
and writes a model directory (docs/model_directory.md): the weights alone (no optimizer
state), the operative config, the training split's dataset statistics and a model card whose
step, rates, example length, batch size, learning rate, training time, parameter count, size
and package version are filled in; --card and --card_json add or override fields.

  ddsp_export_model --save_dir=~/runs/violin \
    --dataset_statistics=~/data/violin/statistics.violin.tfrecord-train.json \
    --output=models/violin --name=violin \
    --card=instrument='violin (FluidR3_GM program 40)' \
    --card=training_data_license=MIT --card_json=violin_card.json

The directory is written whole or not at all (a temporary directory beside it, then renamed).
An existing non-empty --output is replaced only with --overwrite, and then by an atomic swap.
Errors end with one line, `ddsp_export_model: error: ...`, and exit status 1.
"""

import dataclasses
import difflib
import json
import os
import re
import sys
from typing import Any, Dict, Optional, Sequence, Text

from absl import flags, logging
import tensorflow as tf

from ddsp import validation
from ddsp.training import checkpoints, model_dir

_PROG = 'ddsp_export_model'


# ------------------------------------------------------------------------------------------------
# The export.
# ------------------------------------------------------------------------------------------------
def export_model_dir(
    save_dir: Text,
    output_dir: Text,
    dataset_statistics: Text,
    name: Text,
    card: Optional[Dict[Text, Any]] = None,
    overwrite: bool = False,
) -> model_dir.ModelFiles:
    """Writes the model directory `output_dir` from the training run in `save_dir`.

    Args:
        save_dir: a `ddsp_run` save directory (`ckpt-<step>.*`, `operative_config-<step>.gin`).
        output_dir: the model directory to write (local).
        dataset_statistics: the training split's statistics JSON, as `ddsp_prepare_tfrecord`
            writes it (`statistics.<base>-train.json`, or `statistics.<base>.json` without an
            eval split).
        name: the model's name (letters, digits, '_', '-', '.').
        card: model card fields to set (`model_dir.ModelCard`), over the ones filled in.
        overwrite: replace a non-empty `output_dir` (atomically).

    Returns:
        The `model_dir.ModelFiles` written.

    Raises:
        ValueError (`model_dir.ModelDirectoryError` and the argument checks): bad arguments, no
            checkpoint or gin config in `save_dir`, unusable statistics, a checkpoint that does
            not fit its config, an existing `output_dir` without `overwrite`; one line each.

    Example:
        >>> export_model_dir('~/runs/violin', 'models/violin',
        ...                  'data/statistics.violin.tfrecord-train.json', 'violin',
        ...                  card={'instrument': 'violin'})
    """
    from ddsp import __version__
    from ddsp.training import instrument as instrument_lib

    owner = 'export_model_dir'
    fields = dict(card or {})
    fields['name'] = name
    model_dir.check_card_fields(_check_card_keys(fields, owner), owner=owner)
    save_dir = checkpoints.expand_path(str(save_dir))
    target = model_dir.check_output_dir(output_dir, overwrite, owner)
    if not tf.io.gfile.isdir(save_dir):
        validation.fail(owner, 'save_dir', 'an existing ddsp_run save directory', save_dir)
    if '://' not in save_dir:
        inside = os.path.commonpath([target, os.path.abspath(save_dir)]) == target
        if inside:
            validation.fail(
                owner,
                'output_dir',
                f'a directory that neither is nor contains the save directory {save_dir} '
                f'(writing it would replace the training run)',
                output_dir,
            )
    candidates = checkpoints.list_checkpoints(save_dir)
    try:
        newest = checkpoints.get_latest_checkpoint(save_dir)
    except FileNotFoundError:
        validation.fail(
            owner,
            'save_dir',
            'a ddsp_run save directory holding a checkpoint (ckpt-<step>.index and .data-*); '
            'train first, or point to the run that has them',
            save_dir,
        )
    candidates = [newest] + [p for p in candidates if p != newest]
    try:
        config_path = checkpoints.get_latest_operative_config(save_dir)
    except FileNotFoundError:
        validation.fail(
            owner,
            'save_dir',
            'a ddsp_run save directory holding its operative config (operative_config-<step>'
            '.gin, written when training starts)',
            save_dir,
        )
    # Checked before the slow restore; write_model_dir copies them.
    model_dir.check_dataset_statistics(dataset_statistics)

    with tf.io.gfile.GFile(config_path) as f:
        config_text = f.read()
    instrument = instrument_lib.Instrument(config_text, source=config_path)
    checkpoint = _restore_newest(instrument, candidates, save_dir)
    step = _step(checkpoint)

    filled = model_dir.ModelCard(
        name=name,
        sample_rate=instrument.sample_rate,
        frame_rate=instrument.frame_rate,
        example_secs=instrument.trained_n_samples / instrument.sample_rate,
        training_steps=step,
        batch_size=_int_or_none(instrument.config_value('train.batch_size')),
        learning_rate=_float_or_none(instrument.config_value('Trainer.learning_rate')),
        training_seconds=training_seconds(save_dir, step),
        ddsp_version=__version__,
    )
    values = {k: v for k, v in dataclasses.asdict(filled).items() if k != 'extra'}
    values.update(fields)
    card_obj = model_dir.ModelCard.from_dict(values, owner=owner)
    files = model_dir.write_model_dir(
        target,
        instrument.model,
        config_text,
        dataset_statistics,
        card_obj,
        step=step,
        overwrite=overwrite,
    )
    logging.info('Exported %s (step %d) to %s.', checkpoint, step, files.directory)
    return files


def _restore_newest(instrument, candidates, save_dir: Text) -> Text:
    """Restores the newest checkpoint that reads; its prefix. A mismatch stops at once."""
    from ddsp.training import instrument as instrument_lib

    problems = []
    for prefix in candidates:
        try:
            instrument.restore(prefix)
            return prefix
        except instrument_lib.ModelMismatchError:
            raise  # Older checkpoints of the run would not fit either.
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
            first = str(e).splitlines()[0] if str(e) else ''
            logging.warning('Skipping checkpoint %s (%s: %s).', prefix, type(e).__name__, first)
            problems.append(f'{os.path.basename(prefix)}: {type(e).__name__}')
    raise model_dir.ModelDirectoryError(
        f'No checkpoint in {save_dir} could be restored ({"; ".join(problems)}); they are '
        f'truncated or corrupt, or hold NaN weights.'
    )


def _step(prefix: Text) -> int:
    match = re.search(r'-(\d+)$', prefix)
    return int(match.group(1)) if match else 0


def _int_or_none(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def training_seconds(save_dir: Text, final_step: Optional[int] = None) -> Optional[float]:
    """Wall time spent training, from the run's summaries; None if it wrote no `steps_per_sec`.

    Each run (a fresh start or a resume writes its own events file) counts from the moment its
    summary writer opened to its last `steps_per_sec` summary, plus the steps after that
    summary (up to the next run's first summary, or `final_step` for the last run) at its
    last rate. Pauses between runs are not counted; model building before the writer opened
    and the final save are not counted either (seconds, against minutes of training).
    """
    from ddsp.training import summaries

    runs = summaries.read_runs(os.path.join(save_dir, 'summaries', 'train'), ['steps_per_sec'])
    runs = [run for run in runs if run['scalars']['steps_per_sec']]
    seconds = 0.0
    for i, run in enumerate(runs):
        last_step, last_time, last_rate = run['scalars']['steps_per_sec'][-1]
        seconds += last_time - run['start_time']
        end = runs[i + 1]['scalars']['steps_per_sec'][0][0] if i + 1 < len(runs) else final_step
        if end is not None and end > last_step and last_rate > 0:
            seconds += (end - last_step) / last_rate
    return round(seconds, 1) if runs else None


# ------------------------------------------------------------------------------------------------
# Card fields from the command line.
# ------------------------------------------------------------------------------------------------
_INT_FIELDS = ('sample_rate', 'frame_rate', 'training_steps', 'parameter_count', 'size_bytes')
_OPTIONAL_INT_FIELDS = ('batch_size',)
_FLOAT_FIELDS = ('example_secs',)
_OPTIONAL_FLOAT_FIELDS = ('learning_rate', 'training_seconds')
_JSON_FIELDS = ('metrics',)


def _check_card_keys(fields: Dict[Text, Any], owner: Text) -> Dict[Text, Any]:
    for key in fields:
        if key not in model_dir.CARD_FIELDS:
            close = difflib.get_close_matches(key, model_dir.CARD_FIELDS, n=1)
            hint = f' (did you mean {close[0]}?)' if close else ''
            validation.fail(
                owner,
                'card field',
                f'one of {", ".join(model_dir.CARD_FIELDS)}{hint}',
                key,
            )
    return fields


def parse_card_value(key: Text, text: Text):
    """A `--card KEY=VALUE` value converted to the field's type."""
    owner = f'--card {key}'
    try:
        if key in _OPTIONAL_INT_FIELDS + _OPTIONAL_FLOAT_FIELDS and text.lower() in ('', 'null'):
            return None
        if key in _INT_FIELDS + _OPTIONAL_INT_FIELDS:
            return int(text)
        if key in _FLOAT_FIELDS + _OPTIONAL_FLOAT_FIELDS:
            return float(text)
        if key in _JSON_FIELDS:
            return json.loads(text)
    except ValueError:
        validation.fail(owner, key, 'a value of its type (see docs/model_directory.md)', text)
    return text


def card_from_flags(pairs: Sequence[Text], json_path: Optional[Text]) -> Dict[Text, Any]:
    """Card fields from `--card_json` (a JSON object), then each `--card KEY=VALUE`."""
    fields = {}
    if json_path:
        path = checkpoints.expand_path(json_path)
        try:
            with open(path, encoding='utf-8') as f:
                loaded = json.load(f)
        except (OSError, ValueError) as e:
            validation.fail(_PROG, '--card_json', f'a readable JSON file ({e})', json_path)
        if not isinstance(loaded, dict):
            validation.fail(_PROG, '--card_json', 'a JSON object of card fields', json_path)
        loaded.pop('format', None)
        fields.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition('=')
        if not sep or not key:
            validation.fail(_PROG, '--card', 'KEY=VALUE, e.g. --card=instrument=violin', pair)
        _check_card_keys({key.strip(): None}, _PROG)
        fields[key.strip()] = parse_card_value(key.strip(), value)
    return _check_card_keys(fields, _PROG)


# ------------------------------------------------------------------------------------------------
# The command.
# ------------------------------------------------------------------------------------------------
def _define_flags() -> flags.FlagValues:
    """The command's flags, in a registry of their own (importing the module defines none)."""
    fv = flags.FlagValues()
    flags.DEFINE_string('save_dir', None, 'The ddsp_run save directory.', flag_values=fv)
    flags.DEFINE_string(
        'dataset_statistics',
        None,
        "The training split's statistics JSON (statistics.<base>-train.json).",
        flag_values=fv,
    )
    flags.DEFINE_string('output', None, 'The model directory to write.', flag_values=fv)
    flags.DEFINE_string('name', None, "The model's name, e.g. violin.", flag_values=fv)
    flags.DEFINE_multi_string(
        'card', [], 'A model card field, KEY=VALUE (repeatable).', flag_values=fv
    )
    flags.DEFINE_string(
        'card_json', None, 'A JSON file of model card fields (--card wins).', flag_values=fv
    )
    flags.DEFINE_boolean(
        'overwrite', False, 'Replace a non-empty --output (atomically).', flag_values=fv
    )
    return fv


def run(argv: Sequence[Text]) -> int:
    """Runs the command on `argv` (without the program name); the exit status."""
    fv = _define_flags()
    if any(arg in ('-h', '--help', '-help', '--helpfull') for arg in argv):
        print(__doc__)
        print(fv.get_help())
        return 0
    try:
        rest = fv([_PROG] + list(argv))
        if len(rest) > 1:
            raise flags.Error(f'unexpected arguments {rest[1:]}; every setting is a --flag')
        missing = [f'--{n}' for n in ('save_dir', 'dataset_statistics', 'output', 'name')]
        missing = [m for m in missing if not fv[m[2:]].value]
        if missing:
            raise flags.Error(f'{", ".join(missing)} must be given (see --help)')
        card = card_from_flags(fv.card, fv.card_json)
        files = export_model_dir(
            fv.save_dir,
            fv.output,
            fv.dataset_statistics,
            fv.name,
            card=card,
            overwrite=fv.overwrite,
        )
    except (flags.Error, ValueError, OSError, tf.errors.OpError) as e:
        # Bad flags or inputs, and unreadable or unwritable paths: one line, no traceback.
        message = ' '.join(str(e).split())
        print(f'{_PROG}: error: {message}', file=sys.stderr)
        return 1
    card = files.card
    print(
        f'{files.directory}: {card.name}, step {card.training_steps}, '
        f'{card.parameter_count} parameters, {card.size_bytes / 1e6:.2f} MB'
    )
    return 0


def console_entry_point():
    """Entry point of the `ddsp_export_model` console script."""
    logging.set_verbosity(logging.WARNING)
    sys.exit(run(sys.argv[1:]))


if __name__ == '__main__':
    console_entry_point()
