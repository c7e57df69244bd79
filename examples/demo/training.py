"""Stage 3 of the demo: a small solo-instrument model, trained for a few minutes on CPU.

An `Autoencoder` configured by `models/solo_instrument.gin` with the decoder of the paper's
`tiny_instrument.gin` (GRU 256, no FC layers around it; 232 k parameters, plus the 48000-tap
reverb), read by `data.TFRecordProvider` and trained by `trainers.Trainer` and
`train_util.train` (checkpoints, summaries and the operative gin config in `train/`). A second
run resumes from the newest checkpoint; a changed model, seed or dataset, or `--restart`,
starts again from scratch.
"""

import glob
import logging
import os
import re
import shutil
import time

import gin
import keras
import tensorflow as tf

from ddsp.training import data, models, train_util, trainers
from ddsp.training.gin import GIN_PATH
from examples.demo.dataset import EXAMPLE_SECS
from examples.demo.outputs import read_json, write_json

MODEL_GIN = 'models/solo_instrument.gin'
# The decoder of the paper's tiny_instrument.gin: a 256-unit GRU without FC stacks around it.
TINY_BINDINGS = ('RnnFcDecoder.rnn_channels = 256', 'RnnFcDecoder.layers_per_stack = 0')
TRAIN_DIR = 'train'
# About 3.5 minutes of training on 2 idle CPU cores (0.25-0.27 s per step of 4 examples alone,
# 0.5 s when the cores are shared). Measured on the held-out 16 s, against the untrained model's
# loudness L1 6.06 dB / f0 L1 0.122 semitone / 69 % confidently pitched: after 300 steps the
# loudness follows the original's (correlation 0.91) but 7.4 dB too quiet (L1 8.37 dB); after
# 600 steps 4.98 dB / 0.169 / 80 %; after 800 steps 4.09 dB / 0.069 / 89 % (5.35 dB / 0.058 /
# 89 % when resumed from 600: the loudness L1 varies by ~1 dB from run to run). Since the split
# hashes file names rather than paths, the held-out chunk is the same everywhere (8 s); a clean
# clone on an idle machine (4 min in all, 201 s of training): spectral loss 17.10 -> 7.08,
# loudness L1 4.23 -> 3.94 dB, f0 L1 0.142 -> 0.045 semitone, median f0 error 8.2 -> 3.2 cents,
# confidently pitched 59 % -> 92 %. (With the old path-dependent split one run's 8-s clip had
# 0.6 s of one note read 16 semitones low by CREPE: f0 L1 0.165 -> 1.664 while the median error
# fell from 13.5 to 5.7 cents, hence the median and within-50-cents rows.)
DEFAULT_TRAIN_STEPS = 800
DEFAULT_BATCH_SIZE = 4
# 10x the paper's 3e-4: a few hundred steps instead of tens of thousands.
DEFAULT_LEARNING_RATE = 3e-3


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with `prefix`."""

    def __init__(self, prefix):
        super().__init__()
        self.prefix = prefix

    def filter(self, record):
        return not record.getMessage().startswith(self.prefix)


def build_model(bindings=TINY_BINDINGS, seed=0):
    """The `Autoencoder` of `MODEL_GIN` plus `bindings`, initialised from `seed`.

    The gin config is cleared first and left holding this model's configuration (it is what
    `train_util.train` writes as the operative config).

    Example:
        >>> model = build_model()  # models.Autoencoder, decoder GRU 256
    """
    gin.clear_config()
    gin.add_config_file_search_path(GIN_PATH)
    # gin logs an error for each place it looks in before the search path; not an error here.
    quiet = _DropMessages('Path not found: ')
    logging.getLogger().addFilter(quiet)
    try:
        gin.parse_config_files_and_bindings([MODEL_GIN], list(bindings))
    finally:
        logging.getLogger().removeFilter(quiet)
    keras.utils.set_random_seed(seed)
    return models.get_model()


def train_config(bindings, seed, dataset_manifest):
    """What the checkpoints in the train directory depend on (see `prepare_train_dir`)."""
    return {
        'model_gin': MODEL_GIN,
        'bindings': list(bindings),
        'seed': seed,
        'dataset': dataset_manifest,
    }


def prepare_train_dir(train_dir, config, restart=False):
    """Keeps `train_dir`'s checkpoints if they were trained with `config`; else empties it.

    Returns 'resume' (checkpoints of the same model, seed and dataset), 'fresh' (none) or
    'restart' (deleted: `restart`, or a different config).
    """
    config_path = os.path.join(train_dir, 'demo_config.json')
    has_checkpoints = bool(glob.glob(os.path.join(train_dir, 'ckpt-*.index')))
    if has_checkpoints and not restart and read_json(config_path) == config:
        state = 'resume'
    else:
        state = 'restart' if os.path.isdir(train_dir) and has_checkpoints else 'fresh'
        if os.path.isdir(train_dir):
            shutil.rmtree(train_dir)
    os.makedirs(train_dir, exist_ok=True)
    write_json(config_path, config)
    return state


def checkpoint_step(train_dir):
    """The step of the newest checkpoint in `train_dir`, 0 if there is none."""
    try:
        path = train_util.get_latest_checkpoint(train_dir)
    except FileNotFoundError:
        return 0
    match = re.search(r'ckpt-(\d+)$', path)
    return int(match.group(1)) if match else 0


def train(
    model,
    train_pattern,
    train_dir,
    train_steps,
    batch_size,
    learning_rate,
    steps_per_summary=50,
    steps_per_save=100,
):
    """`train_util.train` of `model` on the records `train_pattern` up to step `train_steps`.

    Resumes from the newest checkpoint in `train_dir` (see `prepare_train_dir`).

    Returns:
        `{'start_step', 'end_step', 'last_losses' (floats; empty when no step ran),
        'seconds'}`.
    """
    provider = data.TFRecordProvider(train_pattern, example_secs=EXAMPLE_SECS)
    trainer = trainers.Trainer(
        model, tf.distribute.get_strategy(), learning_rate=learning_rate, checkpoints_to_keep=2
    )
    start_step = checkpoint_step(train_dir)
    t0 = time.time()
    losses = train_util.train(
        provider,
        trainer,
        batch_size=batch_size,
        num_steps=train_steps,
        steps_per_summary=steps_per_summary,
        steps_per_save=steps_per_save,
        save_dir=train_dir,
        restore_dir=train_dir,
    )
    return {
        'start_step': start_step,
        'end_step': int(trainer.step.numpy()),
        'last_losses': losses,
        'seconds': time.time() - t0,
    }
