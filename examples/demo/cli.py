"""The demo's command line: flags, the four stages in order, and the exit status.

`main` runs the stages (`synthesis`, `dataset`, `training`, `evaluation`) and returns what they
wrote; `cli` (what `python -m examples.demo` calls) turns a diverged training or a FAILED
verdict into exit status 1.
"""

import argparse
import os
import time

from absl import logging as absl_logging
import numpy as np

from ddsp.training import train_util
from examples import demo as demo_package
from examples.demo.dataset import (
    DATASET_GLOB,
    EVAL_SPLIT_FRACTION,
    dataset_patterns,
    prepare_dataset,
)
from examples.demo.evaluation import (
    HELD_OUT_CLIPS,
    METRICS_CREPE,
    METRICS_FRAME_RATE,
    audio_metrics,
    held_out_clips,
    held_out_metrics,
    metrics_table,
    resynthesize,
    training_verdict,
    write_held_out,
)
from examples.demo.outputs import write_json
from examples.demo.synthesis import FRAME_RATE, run_synthesis
from examples.demo.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LEARNING_RATE,
    DEFAULT_TRAIN_STEPS,
    MODEL_GIN,
    TINY_BINDINGS,
    TRAIN_DIR,
    build_model,
    checkpoint_step,
    prepare_train_dir,
    train,
    train_config,
)
from examples.demo.transfer import run_transfer


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer; got {text}')
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'expected a positive number; got {text}')
    return value


def parse_args(argv=None):
    """The demo's flags (see `--help`)."""
    parser = argparse.ArgumentParser(
        prog='python -m examples.demo',
        description=demo_package.__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        '--output_dir',
        default='demo_output',
        help='Directory for every output (default demo_output).',
    )
    parser.add_argument(
        '--sample_rate',
        type=int,
        default=16000,
        help='Sample rate of the synthesis stage in Hz (default 16000).',
    )
    parser.add_argument(
        '--no_dataset', action='store_true', help='Synthesis only: no dataset, no training.'
    )
    parser.add_argument(
        '--no_transfer',
        action='store_true',
        help='Skip the timbre transfer of the sung melody on the pretrained instruments.',
    )
    parser.add_argument('--no_train', action='store_true', help='Stop after preparing the dataset.')
    parser.add_argument(
        '--audio_glob',
        default=DATASET_GLOB,
        help='Audio to prepare and train on (default: the shipped violin).',
    )
    parser.add_argument(
        '--eval_split_fraction',
        type=float,
        default=EVAL_SPLIT_FRACTION,
        help='Share of 20-s chunks held out for evaluation (default 0.1).',
    )
    parser.add_argument(
        '--train_steps',
        type=_positive_int,
        default=DEFAULT_TRAIN_STEPS,
        help=f'Train up to this step (default {DEFAULT_TRAIN_STEPS}: '
        f'a few minutes on 2 CPU cores).',
    )
    parser.add_argument(
        '--batch_size',
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f'Examples per step (default {DEFAULT_BATCH_SIZE}).',
    )
    parser.add_argument(
        '--learning_rate',
        type=_positive_float,
        default=DEFAULT_LEARNING_RATE,
        help=f'Adam learning rate (default {DEFAULT_LEARNING_RATE}).',
    )
    parser.add_argument('--seed', type=int, default=0, help='Initialisation seed.')
    parser.add_argument(
        '--restart',
        action='store_true',
        help='Delete the checkpoints in OUTPUT_DIR/train and train anew.',
    )
    parser.add_argument(
        '--held_out_clips',
        type=_positive_int,
        default=HELD_OUT_CLIPS,
        help=f'4-s held-out clips to resynthesize (default {HELD_OUT_CLIPS}).',
    )
    parser.add_argument(
        '--metrics_crepe',
        default=METRICS_CREPE,
        choices=['tiny', 'small', 'medium', 'large', 'full'],
        help=f'CREPE size for the f0 metrics (default {METRICS_CREPE}).',
    )
    args = parser.parse_args(argv)
    if args.sample_rate < 2 * FRAME_RATE:
        parser.error(f'--sample_rate must be at least {2 * FRAME_RATE} Hz; got {args.sample_rate}.')
    if not 0.0 < args.eval_split_fraction < 1.0:
        parser.error(f'--eval_split_fraction must be in (0, 1); got {args.eval_split_fraction}.')
    return args


def run_training(args, dataset):
    """Stages 3 and 4; `{name: path}` of the held-out WAVs, PNG and metrics JSON.

    Also `'verdict'`: `training_verdict` of the held-out metrics, printed under the table.

    Raises:
        train_util.TrainingDivergedError: a training step's loss or gradient was not finite.
    """
    absl_logging.set_verbosity(absl_logging.INFO)  # train_util's progress when not on a TTY.
    train_pattern, eval_pattern = dataset_patterns(args.output_dir)
    clips = held_out_clips(eval_pattern, args.held_out_clips)
    seconds = clips['audio'].size / 16000
    print(f'held out: {len(clips["audio"])} clips, {seconds:.0f} s of the eval split')

    model = build_model(TINY_BINDINGS, seed=args.seed)
    untrained_audio, untrained_loss = resynthesize(model, clips)
    n_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    train_dir = os.path.join(args.output_dir, TRAIN_DIR)
    state = prepare_train_dir(
        train_dir, train_config(TINY_BINDINGS, args.seed, dataset['manifest']), args.restart
    )
    start = checkpoint_step(train_dir)
    why = '--restart' if args.restart else 'the model, seed or dataset changed'
    print(
        f'training: {n_params:,} parameters, batch {args.batch_size}, '
        + {
            'fresh': f'from scratch to step {args.train_steps}',
            'restart': f'checkpoints deleted ({why}); from scratch to step {args.train_steps}',
            'resume': (
                f'resuming at step {start} up to step {args.train_steps}'
                if start < args.train_steps
                else f'step {start} already reached: evaluating only '
                f'(raise --train_steps to train on, or --restart)'
            ),
        }[state]
    )
    run = train(
        model, train_pattern, train_dir, args.train_steps, args.batch_size, args.learning_rate
    )
    print(
        f'trained steps {run["start_step"]} -> {run["end_step"]} in {run["seconds"]:.0f} s; '
        f'checkpoints in {train_dir}'
    )
    trained_audio, trained_loss = resynthesize(model, clips)

    t0 = time.time()
    untrained, truth = audio_metrics(
        clips['audio'], untrained_audio, crepe_capacity=args.metrics_crepe
    )
    untrained.update(spectral_loss=untrained_loss, audio_finite=True)
    trained = held_out_metrics(
        clips['audio'], trained_audio, trained_loss, args.metrics_crepe, truth
    )
    verdict = training_verdict(untrained, trained)
    results = {
        'untrained': untrained,
        'trained': trained,
        'verdict': verdict,
        'train': {
            'state': state,
            'start_step': run['start_step'],
            'end_step': run['end_step'],
            'seconds': run['seconds'],
            'batch_size': args.batch_size,
            'learning_rate': args.learning_rate,
            'seed': args.seed,
            'n_parameters': n_params,
            'bindings': list(TINY_BINDINGS),
            'model_gin': MODEL_GIN,
        },
        'held_out': {
            'clips': len(clips['audio']),
            'seconds': seconds,
            'metrics_frame_rate': METRICS_FRAME_RATE,
            'metrics_crepe': args.metrics_crepe,
            'metrics_seconds': time.time() - t0,
        },
        'dataset': {'reused': dataset['reused'], 'outputs': dataset['outputs']},
    }
    paths = write_held_out(
        args.output_dir, clips['audio'], untrained_audio, trained_audio, run['end_step']
    )
    paths['metrics'] = os.path.join(args.output_dir, 'metrics.json')
    write_json(paths['metrics'], results)
    print(f'{paths["metrics"]}:\n' + metrics_table(results, run['end_step']))
    print(verdict['line'])
    paths['verdict'] = verdict
    return paths


def main(argv=None):
    """Runs the demo's stages; returns `{name: path}` of what it wrote (see the package doc).

    After training, `'verdict'` holds `training_verdict`'s result; a failed verdict is
    returned, not raised (`cli` turns it into exit status 1).

    Example:
        >>> main(['--output_dir', '/tmp/demo', '--no_dataset'])['harmonic']  # '/tmp/demo/...'
    """
    args = parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    paths = {}
    if not args.no_transfer:
        paths['transfer'] = run_transfer(args.output_dir)
    paths.update(run_synthesis(args.output_dir, args.sample_rate))
    if args.no_dataset:
        return paths
    dataset = prepare_dataset(
        args.output_dir, audio_glob=args.audio_glob, eval_split_fraction=args.eval_split_fraction
    )
    paths['dataset'] = dataset
    if dataset is None or args.no_train:
        return paths
    paths.update(run_training(args, dataset))
    return paths


def cli(argv=None):
    """`python -m examples.demo`: `main`, exiting with status 1 when training failed.

    A run whose training diverged (`train_util.TrainingDivergedError`) ends with one plain
    line on stderr; one whose trained model is worse than the untrained one has printed its
    FAILED line under the metrics table. Otherwise returns `main`'s paths.

    Example:
        >>> cli(['--output_dir', 'demo_output'])  # SystemExit(1) on a failure
    """
    try:
        paths = main(argv)
    except train_util.TrainingDivergedError as e:
        # Gin appends "In call to configurable" lines; the first line says it all.
        raise SystemExit(
            f'demo: FAILED: {str(e).splitlines()[0]} In the demo, '
            f'--learning_rate sets the learning rate and --restart trains from '
            f'scratch.'
        ) from e
    verdict = paths.get('verdict')
    if verdict is not None and not verdict['ok']:
        raise SystemExit(1)  # The FAILED line is printed under the metrics table.
    return paths
