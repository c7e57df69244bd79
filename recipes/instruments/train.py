r"""Train the pretrained instruments from their rendered audio, to a plateau, and export them.

For each instrument (recipe.json's `training` section holds every setting; an instrument's own
`training` entry overrides some, e.g. the clarinet's `max_steps`):

1. records: `ddsp_prepare_tfrecord` on `<audio>/<name>/train/*.flac` (CREPE full, 50 frames/s,
   4 s examples at a 1 s hop, 5 % eval split), skipped when the dataset is complete. With
   `centred` the frames are centred (`--center`, into `tfrecord_centred/`) and the model keeps
   the first 200 of each example's 201 (`F0LoudnessPreprocessor.trim_frames`), so that frame k
   describes the audio at sample k * hop, where the synthesizers play it; without, f0 frame k
   is CREPE's window starting at k * hop (1.6 frames later);
2. training: `ddsp_run --mode=train` in rounds of `round_steps` steps (each round resumes the
   last), until the mean training loss of a round is less than `plateau_tolerance` below the
   round before it (not before `min_steps`; at most `max_steps`). `<runs>/<name>/plateau.json`
   records every round's mean loss and why training stopped. With `random_gain`
   (`{"min_db", "probability", "seed"}`) a share of the examples is played quieter by a gain
   drawn in [min_db, 0] dB (`augmentation.RandomGainProvider`), so that the model also hears
   its instrument below the levels of the rendered notes;
3. export: `ddsp_export_model` into `<export>/<name>` (the package's pretrained directory by
   default), with the model card's description, data, licence and hardware.

  python -m recipes.instruments.train --instruments violin,flute
  python -m recipes.instruments.train --instruments violin --stage export   # records|train|export

A killed run loses at most `steps_per_save` steps: rerunning resumes from the newest
checkpoint. The held-out metrics are added to the cards by `recipes.instruments.evaluate`.
"""

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from typing import Dict, List, Text

from recipes.instruments import tunes

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PRETRAINED_DIR = os.path.join(ROOT, 'ddsp', 'training', 'pretrained')
RECORDS = 'train.tfrecord'
LOSS_TAG = 'losses/total_loss'


def _log(message: Text):
    print(f'[train {time.strftime("%H:%M:%S")}] {message}', flush=True)


def _tool(name: Text) -> Text:
    """The console script `name` of the running interpreter's environment."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else name


def _run(command: List[Text]):
    _log(' '.join(command))
    subprocess.run(command, check=True)


def cpu_name() -> Text:
    """'AMD EPYC 9R14 (family 25, model 17; 2 cores)': /proc/cpuinfo's model name, family and
    model (the name alone may not tell CPU generations apart), or the platform's name."""
    name, fields = platform.processor() or platform.machine(), {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name, cores = fields.get('model name', name), f'{os.cpu_count()} cores'
    if 'cpu family' in fields and 'model' in fields:
        return f'{name} (family {fields["cpu family"]}, model {fields["model"]}; {cores})'
    return f'{name} ({cores})'


# ------------------------------------------------------------------------------------------------
# Stages.
# ------------------------------------------------------------------------------------------------
def records_dir(runs: Text, name: Text, settings: Dict) -> Text:
    # Centred and uncentred records differ in frames; each has its own folder, never reused.
    return os.path.join(runs, name, 'tfrecord_centred' if settings['centred'] else 'tfrecord')


def train_statistics(runs: Text, name: Text, settings: Dict) -> Text:
    return os.path.join(records_dir(runs, name, settings), f'statistics.{RECORDS}-train.json')


def make_records(audio: Text, runs: Text, name: Text, settings: Dict):
    if os.path.exists(train_statistics(runs, name, settings)):
        _log(f'{name}: records already in {records_dir(runs, name, settings)}')
        return
    pattern = os.path.join(audio, name, 'train', '*.flac')
    if not glob.glob(pattern):
        raise SystemExit(
            f'train: no audio matches {pattern}; render it first: '
            f'python -m recipes.instruments.render --instruments {name} --split train'
        )
    os.makedirs(records_dir(runs, name, settings), exist_ok=True)
    _run(
        [
            _tool('ddsp_prepare_tfrecord'),
            '--input_audio_filepatterns',
            pattern,
            '--output_tfrecord_path',
            os.path.join(records_dir(runs, name, settings), RECORDS),
            '--num_shards',
            '4',
            '--example_secs',
            str(settings['example_secs']),
            '--hop_secs',
            str(settings['hop_secs']),
            '--eval_split_fraction',
            str(settings['eval_split_fraction']),
            '--crepe_capacity',
            settings['crepe_capacity'],
            '--frame_rate',
            str(settings['frame_rate']),
            f'--center={str(bool(settings["centred"])).lower()}',
        ]
    )


def save_dir(runs: Text, name: Text) -> Text:
    return os.path.join(runs, name, 'run')


def _train_command(runs: Text, name: Text, settings: Dict, num_steps: int) -> List[Text]:
    pattern = os.path.join(records_dir(runs, name, settings), f'{RECORDS}-train-*')
    params = {
        'TFRecordProvider.file_pattern': repr(pattern),
        'TFRecordProvider.frame_rate': settings['frame_rate'],
        # Centred records have one frame more than the model's; trimming it keeps frame k at
        # sample k * hop, as the synthesizers place it (resampling would stretch them).
        'TFRecordProvider.centered': bool(settings['centred']),
        'F0LoudnessPreprocessor.trim_frames': bool(settings['centred']),
        'batch_size': settings['batch_size'],
        'learning_rate': settings['learning_rate'],
        'Trainer.lr_decay_steps': settings['lr_decay_steps'],
        'Trainer.lr_decay_rate': settings['lr_decay_rate'],
        'Trainer.checkpoints_to_keep': 2,
        'train_util.train.num_steps': num_steps,
        'train_util.train.steps_per_save': settings['steps_per_save'],
        'train_util.train.steps_per_summary': settings['steps_per_summary'],
    }
    if settings['random_gain']:
        # A share of the examples played quieter (augmentation.RandomGainProvider).
        gain = settings['random_gain']
        params.update(
            {
                'train_util.train.data_provider': '@augmentation.RandomGainProvider()',
                'RandomGainProvider.data_provider': '@data.TFRecordProvider()',
                'RandomGainProvider.min_gain_db': float(gain['min_db']),
                'RandomGainProvider.probability': float(gain['probability']),
                'RandomGainProvider.seed': int(gain['seed']),
            }
        )
    command = [
        _tool('ddsp_run'),
        '--mode=train',
        f'--save_dir={save_dir(runs, name)}',
        f'--gin_file={settings["gin_file"]}',
        '--gin_file=datasets/tfrecord.gin',
    ]
    return command + [f'--gin_param={key} = {value}' for key, value in params.items()]


def round_means(losses: Dict[int, float], round_steps: int, done: int) -> Dict[int, float]:
    """Mean summarised loss of each round completed by step `done`, keyed by its last step
    (a summary at step s belongs to the round (s - 1) // round_steps: steps 1..1000 are the
    first round of 1000)."""
    rounds = {}
    for step, loss in losses.items():
        end = (max(step, 1) - 1) // round_steps * round_steps + round_steps
        rounds.setdefault(end, []).append(loss)
    return {end: sum(v) / len(v) for end, v in sorted(rounds.items()) if end <= done}


def plateau_reached(means: Dict[int, float], settings: Dict) -> Dict:
    """Whether training has plateaued: the last round improved on the one before by less than
    `plateau_tolerance` (relative), after `min_steps`; or `max_steps` is reached."""
    ends = sorted(means)
    last = ends[-1] if ends else 0
    verdict = {'step': last, 'round_means': {str(k): round(v, 4) for k, v in means.items()}}
    if last >= settings['max_steps']:
        return dict(verdict, stopped=True, reason=f'max_steps {settings["max_steps"]} reached')
    if len(ends) < 2 or last < settings['min_steps']:
        return dict(verdict, stopped=False, reason='too early')
    before, now = means[ends[-2]], means[ends[-1]]
    gain = (before - now) / abs(before)
    verdict['last_round_gain'] = round(gain, 5)
    if gain < settings['plateau_tolerance']:
        reason = f'plateau: the round to step {last} improved the mean loss by {100 * gain:.2f} %'
        return dict(
            verdict, stopped=True, reason=reason + f' (< {settings["plateau_tolerance"]:.0%})'
        )
    return dict(verdict, stopped=False, reason=f'still improving ({100 * gain:.2f} % a round)')


def train(runs: Text, name: Text, settings: Dict) -> Dict:
    from ddsp.training import checkpoints, summaries

    log_dir = os.path.join(save_dir(runs, name), 'summaries', 'train')
    while True:
        try:
            newest = checkpoints.get_latest_checkpoint(save_dir(runs, name))
            done = int(newest.rsplit('-', 1)[1])
        except FileNotFoundError:
            done = 0
        losses = summaries.read_scalars(log_dir, [LOSS_TAG])[LOSS_TAG]
        means = round_means(
            {s: v for s, v in losses.items() if s <= done}, settings['round_steps'], done
        )
        verdict = plateau_reached(means, settings)
        _log(f'{name}: step {done}: {verdict["reason"]}')
        with open(os.path.join(runs, name, 'plateau.json'), 'w') as f:
            json.dump(verdict, f, indent=1)
        if verdict['stopped']:
            return verdict
        target = (done // settings['round_steps'] + 1) * settings['round_steps']
        _run(_train_command(runs, name, settings, target))


def export(runs: Text, name: Text, settings: Dict, export_dir: Text, recipe: Dict):
    verdict_path = os.path.join(runs, name, 'plateau.json')
    with open(verdict_path) as f:
        verdict = json.load(f)
    spec = recipe['instruments'][name]
    sf = recipe['train_soundfont']
    card = {
        'instrument': f'{name} ({sf} General MIDI program {spec["program"]})',
        'description': (
            f'DDSP solo-instrument autoencoder (no z encoder; {settings["gin_file"]}) trained '
            f'on the {name} of the {sf} soundfont.'
        ),
        'training_data': (
            f'recipes/instruments: human-composed folk tunes of the music21 corpus '
            f"(Ryan, O'Neill, Aird) rendered by FluidSynth with {sf} program {spec['program']}, "
            f'with vibrato and dynamics; 5 reserved tunes held out.'
        ),
        'training_data_license': recipe['soundfonts'][sf]['licence'] + ' (soundfont); music21 '
        'corpus tunes are public domain',
        'training_hardware': cpu_name(),
        'notes': f'Trained in rounds of {settings["round_steps"]} steps; {verdict["reason"]}.',
        'metrics': {'training_loss_by_round': verdict['round_means']},
    }
    card_path = os.path.join(runs, name, 'card.json')
    with open(card_path, 'w') as f:
        json.dump(card, f, indent=1)
    _run(
        [
            _tool('ddsp_export_model'),
            f'--save_dir={save_dir(runs, name)}',
            f'--dataset_statistics={train_statistics(runs, name, settings)}',
            f'--output={os.path.join(export_dir, name)}',
            f'--name={name}',
            f'--card_json={card_path}',
            '--overwrite',
        ]
    )


def instrument_settings(recipe: Dict, name: Text) -> Dict:
    """The recipe's `training` settings with the instrument's own `training` entry over them."""
    own = recipe['instruments'][name].get('training', {})
    unknown = sorted(set(own) - set(recipe['training']))
    if unknown:
        raise SystemExit(f'train: {name}: unknown training settings {unknown} in recipe.json')
    return dict(recipe['training'], **own)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instruments', default='all', help='comma-separated names, or all')
    parser.add_argument('--audio', default='build/instruments', help='render.py --output')
    parser.add_argument('--runs', default='build/instruments', help='records and runs go here')
    parser.add_argument('--export', default=PRETRAINED_DIR, help='model directories go here')
    parser.add_argument('--stage', default='all', choices=['all', 'records', 'train', 'export'])
    args = parser.parse_args(argv)
    recipe = tunes.load_recipe()
    names = (
        list(recipe['instruments']) if args.instruments == 'all' else args.instruments.split(',')
    )
    for name in names:
        if name not in recipe['instruments']:
            raise SystemExit(
                f'train: unknown instrument {name!r}; known: {", ".join(recipe["instruments"])}'
            )
        settings = instrument_settings(recipe, name)
        if args.stage in ('all', 'records'):
            make_records(args.audio, args.runs, name, settings)
        if args.stage in ('all', 'train'):
            train(args.runs, name, settings)
        if args.stage in ('all', 'export'):
            export(args.runs, name, settings, args.export, recipe)


if __name__ == '__main__':
    main()
