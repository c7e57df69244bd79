"""The model directory format and `ddsp_export_model`, on a real (short) training run.

`trained_run()` trains the model of `models/solo_instrument.gin` with a tiny decoder for 3
steps on real violin audio (`data/violin/dark_woman.flac`, loudness from `compute_loudness`,
f0 from the clip's MIDI ground truth) with `train_util.train`, as `ddsp_run` does: checkpoints,
operative config and summaries in a save directory. The run is made once per session and
shared with test_model_loader.py.
"""

import atexit
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types

import gin
import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from ddsp import spectral_ops
from ddsp.training import (
    checkpoints,
    data,
    ddsp_export_model,
    model_dir,
    models,
    train_util,
    trainers,
)
from ddsp.training.data_preparation import statistics
from ddsp.training.gin import GIN_PATH

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIP = os.path.join(REPO, 'data', 'violin', 'dark_woman')
SAMPLE_RATE, FRAME_RATE, HOP = 16000, 250, 64
EXAMPLE = 64000  # 4 s, as solo_instrument.gin.
TRAIN_STEPS = 3
TINY = (
    'RnnFcDecoder.rnn_channels = 16',
    'RnnFcDecoder.ch = 16',
    'RnnFcDecoder.layers_per_stack = 1',
    'train_util.train.batch_size = 2',
    f'train_util.train.num_steps = {TRAIN_STEPS}',
    'train_util.train.steps_per_save = 2',
    'train_util.train.steps_per_summary = 1',
    'Trainer.learning_rate = 0.003',
)


def clip_features():
    """The 30-s violin clip: audio and centred frame features at 250 Hz (n // 64 + 1 frames)."""
    audio, rate = sf.read(CLIP + '.flac', dtype='float32')
    assert rate == SAMPLE_RATE
    truth = np.load(CLIP + '.npz')
    f0 = truth['f0_hz'].astype(np.float64)
    voiced = np.flatnonzero(f0 > 0)
    f0 = np.interp(np.arange(len(f0)), voiced, f0[voiced])  # Held through the rests.
    frames = np.arange(len(audio) // HOP + 1) / FRAME_RATE
    f0 = np.interp(frames, np.arange(len(f0)) / float(truth['frame_rate']), f0)
    loudness = spectral_ops.compute_loudness(audio[None], SAMPLE_RATE, FRAME_RATE).numpy()[0]
    mask = truth['mask']  # Note on, at the ground truth's frame rate.
    on = mask[np.minimum(np.round(frames * float(truth['frame_rate'])).astype(int), len(mask) - 1)]
    return {
        'audio': audio,
        'f0_hz': f0.astype(np.float32),
        'f0_confidence': on.astype(np.float32),
        'loudness_db': loudness.astype(np.float32),
    }


def excerpt(features, start_s, seconds):
    """`seconds` of the clip from `start_s`: audio and its centred frames."""
    start = int(start_s * FRAME_RATE)
    n_frames = int(round(seconds * FRAME_RATE))
    out = {k: v[start : start + n_frames + 1] for k, v in features.items() if k != 'audio'}
    out['audio'] = features['audio'][start * HOP : (start + n_frames) * HOP]
    return out


class _Examples(data.DataProvider):
    """Three 4-s examples of the clip (the first 12 s)."""

    def __init__(self, features):
        super().__init__(SAMPLE_RATE, FRAME_RATE)
        examples = [excerpt(features, 4 * i, 4) for i in range(3)]
        self.examples = {k: np.stack([e[k] for e in examples]) for k in examples[0]}

    def get_dataset(self, shuffle=True):
        return tf.data.Dataset.from_tensor_slices(self.examples)


def parse_training_gin(bindings=TINY):
    gin.clear_config()
    gin.add_config_file_search_path(GIN_PATH)
    gin.parse_config_files_and_bindings(
        ['optimization/base.gin', 'models/solo_instrument.gin'], list(bindings)
    )


@functools.lru_cache(maxsize=None)
def trained_run():
    """The shared training run: a namespace with `save_dir`, `train_statistics`,
    `eval_statistics`, `model` (the trained model object), `features` (the whole clip) and
    `root` (a temporary directory for the tests' own files, removed at exit)."""
    root = tempfile.mkdtemp(prefix='ddsp_model_dir_test_')
    atexit.register(shutil.rmtree, root, True)
    features = clip_features()
    provider = _Examples(features)
    split = {k: provider.examples[k] for k in ('f0_hz', 'f0_confidence', 'loudness_db')}
    paths = {}
    for name, rows in (('train', slice(0, 3)), ('eval', slice(2, 3))):
        stats = statistics.compute_statistics(
            [{k: v[i] for k, v in split.items()} for i in range(3)[rows]]
        )
        paths[name] = os.path.join(root, f'statistics.violin.tfrecord-{name}.json')
        with open(paths[name], 'w') as f:
            f.write(statistics.to_json(stats))
    save_dir = os.path.join(root, 'run')
    parse_training_gin()
    try:
        keras.utils.set_random_seed(0)
        strategy = train_util.get_strategy()
        with strategy.scope():
            model = models.get_model()
            trainer = trainers.Trainer(model, strategy)
        train_util.train(
            data_provider=provider, trainer=trainer, save_dir=save_dir, restore_dir=save_dir
        )
    finally:
        gin.clear_config()
    return types.SimpleNamespace(
        save_dir=save_dir,
        train_statistics=paths['train'],
        eval_statistics=paths['eval'],
        model=model,
        features=features,
        root=root,
    )


@functools.lru_cache(maxsize=None)
def exported_dir():
    """The run exported once: `<root>/violin`."""
    run = trained_run()
    output = os.path.join(run.root, 'violin')
    ddsp_export_model.export_model_dir(
        run.save_dir,
        output,
        run.train_statistics,
        'violin',
        card={'instrument': 'violin', 'training_data_license': 'MIT'},
    )
    return output


@pytest.fixture(scope='module')
def run():
    return trained_run()


@pytest.fixture(scope='module')
def exported():
    return exported_dir()


def copy_dir(source, tmp_path, name='copy'):
    target = os.path.join(tmp_path, name)
    shutil.copytree(source, target)
    return target


def one_line(error):
    text = str(error.value)
    assert '\n' not in text, text
    return text


# ------------------------------------------------------------------------------------------------
# The card.
# ------------------------------------------------------------------------------------------------
def full_card():
    return model_dir.ModelCard(
        name='violin',
        instrument='violin (FluidR3_GM program 40)',
        description='A solo violin.',
        training_data='10 minutes of rendered folk tunes',
        training_data_license='MIT',
        sample_rate=16000,
        frame_rate=250,
        example_secs=4.0,
        training_steps=30000,
        batch_size=16,
        learning_rate=3e-4,
        training_seconds=3600.5,
        training_hardware='2 AMD EPYC cores',
        parameter_count=232000,
        size_bytes=1200000,
        metrics={'loudness_l1_db': 1.2, 'per_tune': {'a': [1, 2.5]}},
        ddsp_version='4.0.0',
        notes='free text',
    )


def test_card_round_trip(tmp_path):
    card = full_card()
    path = model_dir.write_model_card(str(tmp_path), card)
    assert path == os.path.join(str(tmp_path), 'model_card.json')
    assert model_dir.read_model_card(str(tmp_path)) == card
    with open(path) as f:
        on_disk = json.load(f)
    assert on_disk['format'] == model_dir.CARD_FORMAT
    assert set(on_disk) == set(model_dir.CARD_FIELDS) | {'format'}


def test_card_keeps_unknown_keys(tmp_path):
    path = os.path.join(str(tmp_path), 'model_card.json')
    with open(path, 'w') as f:
        json.dump({'name': 'flute', 'added_later': {'x': 1}}, f)
    card = model_dir.read_model_card(path)
    assert card.extra == {'added_later': {'x': 1}} and card.sample_rate == 16000
    model_dir.write_model_card(path, card)
    assert model_dir.read_model_card(path) == card


@pytest.mark.parametrize(
    'field, value, fragment',
    [
        ('name', 'a/b', 'name must be'),
        ('sample_rate', 0, 'sample_rate must be a positive integer'),
        ('batch_size', 2.5, 'batch_size must be'),
        ('metrics', {'l1': float('nan')}, 'metrics must be'),
        ('learning_rate', -1.0, 'learning_rate must be'),
        ('notes', 3, 'notes must be a string'),
    ],
)
def test_card_rejects_bad_fields(field, value, fragment):
    with pytest.raises(ValueError) as error:
        dataclasses.replace(full_card(), **{field: value})
    assert fragment in one_line(error)


@pytest.mark.parametrize(
    'text, fragment',
    [
        ('{"name": "violin",', 'is not valid JSON'),
        ('{"name": "violin", "format": "other"}', 'format must be'),
        ('{"instrument": "violin"}', 'name must be given'),
        ('[1, 2]', 'a JSON object'),
    ],
)
def test_read_card_errors_name_the_file(tmp_path, text, fragment):
    path = os.path.join(str(tmp_path), 'model_card.json')
    with open(path, 'w') as f:
        f.write(text)
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.read_model_card(path)
    message = one_line(error)
    assert fragment in message and path in message


# ------------------------------------------------------------------------------------------------
# Export.
# ------------------------------------------------------------------------------------------------
def test_export_writes_a_complete_weights_only_directory(run, exported):
    assert sorted(os.listdir(exported)) == sorted(
        [
            'checkpoint',
            f'ckpt-{TRAIN_STEPS}.data-00000-of-00001',
            f'ckpt-{TRAIN_STEPS}.index',
            'dataset_statistics.json',
            'model_card.json',
            'operative_config.gin',
        ]
    )
    files = model_dir.validate_model_dir(exported)
    assert files.checkpoint == os.path.join(exported, f'ckpt-{TRAIN_STEPS}')
    assert tf.train.latest_checkpoint(exported) == files.checkpoint  # TF tools find it.
    names = [name for name, _ in tf.train.list_variables(files.checkpoint)]
    assert not [n for n in names if n.startswith('optimizer')]
    # The weights are the trained model's.
    reader = tf.train.load_checkpoint(files.checkpoint)
    ir = reader.get_tensor('model/processor_group/reverb/ir/.ATTRIBUTES/VARIABLE_VALUE')
    np.testing.assert_array_equal(ir, run.model.processor_group.reverb.ir.numpy())
    saved = {n for n in names if n.startswith('model/')}
    assert len(saved) == len(run.model.trainable_variables)  # This model has no other weights.
    # The gin config and the statistics are copied unchanged.
    with open(checkpoints.get_latest_operative_config(run.save_dir)) as f:
        config = f.read()
    with open(files.operative_config) as f:
        assert f.read() == config
    with open(run.train_statistics, 'rb') as a, open(files.dataset_statistics, 'rb') as b:
        assert a.read() == b.read()


def test_the_directory_is_readable_by_others_as_the_umask_allows(exported):
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(exported).st_mode & 0o777 == 0o777 & ~umask
    for name in os.listdir(exported):
        assert os.stat(os.path.join(exported, name)).st_mode & 0o777 == 0o666 & ~umask, name


def test_export_fills_in_the_card(run, exported):
    import ddsp

    card = model_dir.read_model_card(exported)
    assert card.name == 'violin' and card.instrument == 'violin'
    assert card.training_data_license == 'MIT'
    assert (card.sample_rate, card.frame_rate, card.example_secs) == (16000, 250, 4.0)
    assert card.training_steps == TRAIN_STEPS
    assert (card.batch_size, card.learning_rate) == (2, 0.003)
    assert card.parameter_count == sum(int(np.prod(v.shape)) for v in run.model.trainable_variables)
    on_disk = sum(
        os.path.getsize(os.path.join(exported, f))
        for f in os.listdir(exported)
        if f != 'model_card.json'
    )
    assert card.size_bytes == on_disk
    assert card.ddsp_version == ddsp.__version__
    assert card.training_seconds is not None and card.training_seconds > 0
    assert card.metrics == {}


def test_export_refuses_a_non_empty_target_and_swaps_with_overwrite(run, exported, tmp_path):
    target = os.path.join(str(tmp_path), 'model')
    os.makedirs(target)
    with open(os.path.join(target, 'keep.txt'), 'w') as f:
        f.write('precious')
    with pytest.raises(ValueError) as error:
        ddsp_export_model.export_model_dir(run.save_dir, target, run.train_statistics, 'v')
    assert 'overwrite' in one_line(error)
    assert os.listdir(target) == ['keep.txt']

    ddsp_export_model.export_model_dir(
        run.save_dir, target, run.train_statistics, 'v', overwrite=True
    )
    assert 'keep.txt' not in os.listdir(target)
    assert model_dir.read_model_card(target).name == 'v'
    assert os.listdir(str(tmp_path)) == ['model']  # Nothing left beside it.


def test_an_empty_target_directory_is_used(run, tmp_path):
    target = os.path.join(str(tmp_path), 'empty')
    os.makedirs(target)
    files = ddsp_export_model.export_model_dir(run.save_dir, target, run.train_statistics, 'v')
    assert files.card.training_steps == TRAIN_STEPS


def test_a_failure_midway_leaves_no_partial_directory(run, exported, tmp_path):
    # The statistics are checked when they are copied, after the weights were written.
    bad = os.path.join(str(tmp_path), 'statistics.bad-train.json')
    with open(bad, 'w') as f:
        f.write('{"pitch": NaN}')
    good_files = model_dir.validate_model_dir(exported)
    model = run.model
    with open(good_files.operative_config) as f:
        config = f.read()
    card = model_dir.ModelCard(name='violin')
    parent = os.path.join(str(tmp_path), 'out')
    os.makedirs(parent)
    target = os.path.join(parent, 'violin')
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.write_model_dir(target, model, config, bad, card, step=3)
    assert bad in one_line(error)
    assert os.listdir(parent) == []

    # Over an existing directory, with overwrite: the old one stays as it was.
    shutil.copytree(exported, target)
    before = {f: open(os.path.join(target, f), 'rb').read() for f in os.listdir(target)}
    with pytest.raises(model_dir.ModelDirectoryError):
        model_dir.write_model_dir(target, model, config, bad, card, step=3, overwrite=True)
    after = {f: open(os.path.join(target, f), 'rb').read() for f in os.listdir(target)}
    assert after == before
    assert os.listdir(parent) == ['violin']


def test_export_refuses_the_eval_statistics(run, tmp_path):
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        ddsp_export_model.export_model_dir(
            run.save_dir, os.path.join(str(tmp_path), 'm'), run.eval_statistics, 'v'
        )
    message = one_line(error)
    assert "eval split's" in message and '-train.json' in message
    assert os.listdir(str(tmp_path)) == []


def test_export_errors_name_the_problem(run, tmp_path):
    empty = os.path.join(str(tmp_path), 'empty_run')
    os.makedirs(empty)
    out = os.path.join(str(tmp_path), 'm')
    cases = [
        (dict(save_dir=empty), 'holding a checkpoint'),
        (dict(save_dir=os.path.join(str(tmp_path), 'nope')), 'an existing ddsp_run save'),
        (dict(output_dir=run.root, overwrite=True), 'replace the training run'),
        (dict(output_dir=run.save_dir, overwrite=True), 'the save directory'),
        (dict(dataset_statistics=os.path.join(str(tmp_path), 'none.json')), 'existing'),
        (dict(name='my violin'), 'name must be'),
        (dict(card={'instrumnet': 'violin'}), 'did you mean instrument'),
    ]
    for override, fragment in cases:
        args = dict(
            save_dir=run.save_dir,
            output_dir=out,
            dataset_statistics=run.train_statistics,
            name='violin',
        )
        args.update(override)
        with pytest.raises(ValueError) as error:
            ddsp_export_model.export_model_dir(**args)
        assert fragment in one_line(error), (override, str(error.value))
    no_gin = copy_dir(run.save_dir, str(tmp_path), 'no_gin')
    for name in os.listdir(no_gin):
        if name.endswith('.gin'):
            os.remove(os.path.join(no_gin, name))
    with pytest.raises(ValueError) as error:
        ddsp_export_model.export_model_dir(no_gin, out, run.train_statistics, 'v')
    assert 'operative config' in one_line(error)
    assert not os.path.exists(out)


def test_export_skips_a_truncated_newest_checkpoint(run, tmp_path):
    save_dir = copy_dir(run.save_dir, str(tmp_path), 'run')
    newest = checkpoints.get_latest_checkpoint(save_dir)
    data_file = newest + '.data-00000-of-00001'
    with open(data_file, 'r+b') as f:
        f.truncate(os.path.getsize(data_file) // 2)
    files = ddsp_export_model.export_model_dir(
        save_dir, os.path.join(str(tmp_path), 'm'), run.train_statistics, 'v'
    )
    older = checkpoints.list_checkpoints(save_dir)[1]
    assert files.card.training_steps == int(older.rsplit('-', 1)[1]) < TRAIN_STEPS


# ------------------------------------------------------------------------------------------------
# Validation.
# ------------------------------------------------------------------------------------------------
PIECES = {
    'gin config': ['operative_config.gin'],
    'checkpoint': [f'ckpt-{TRAIN_STEPS}.index'],
    'training statistics': ['dataset_statistics.json'],
    'model card': ['model_card.json'],
}


@pytest.mark.parametrize('piece', sorted(PIECES))
def test_each_missing_piece_is_named(exported, tmp_path, piece):
    directory = copy_dir(exported, str(tmp_path))
    for name in PIECES[piece]:
        os.remove(os.path.join(directory, name))
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.validate_model_dir(directory)
    message = one_line(error)
    assert directory in message and f'missing its {piece}' in message
    assert 'ddsp_export_model' in message
    for other in set(PIECES) - {piece}:
        assert other not in message


def test_a_checkpoint_without_its_data_is_missing(exported, tmp_path):
    directory = copy_dir(exported, str(tmp_path))
    os.remove(os.path.join(directory, f'ckpt-{TRAIN_STEPS}.data-00000-of-00001'))
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.validate_model_dir(directory)
    assert 'missing its checkpoint' in one_line(error)


def test_every_missing_piece_in_one_line(tmp_path):
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.validate_model_dir(str(tmp_path))
    message = one_line(error)
    for piece in PIECES:
        assert piece in message
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.validate_model_dir(os.path.join(str(tmp_path), 'absent'))
    assert 'not found' in one_line(error)


def test_unreadable_statistics_and_card(exported, tmp_path):
    directory = copy_dir(exported, str(tmp_path))
    with open(os.path.join(directory, 'dataset_statistics.json'), 'w') as f:
        f.write('{"pitch": {"mean_": 1.0')
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.validate_model_dir(directory)
    assert 'dataset_statistics.json' in one_line(error) and 'truncated' in str(error.value)
    shutil.copy(os.path.join(exported, 'dataset_statistics.json'), directory)
    with open(os.path.join(directory, 'model_card.json'), 'wb') as f:
        f.write(b'\xff\xfe')
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        model_dir.validate_model_dir(directory)
    assert 'model_card.json' in one_line(error)


def test_the_originals_config_names_are_read(exported, tmp_path):
    directory = copy_dir(exported, str(tmp_path))
    os.rename(
        os.path.join(directory, 'operative_config.gin'),
        os.path.join(directory, 'operative_config-0.gin'),
    )
    shutil.copy(
        os.path.join(directory, 'operative_config-0.gin'),
        os.path.join(directory, 'operative_config-3.gin'),
    )
    files = model_dir.validate_model_dir(directory)
    assert files.operative_config.endswith('operative_config-3.gin')
    assert files.step == TRAIN_STEPS


# ------------------------------------------------------------------------------------------------
# The command.
# ------------------------------------------------------------------------------------------------
def test_command_exports_with_card_fields(run, tmp_path, capsys):
    card_json = os.path.join(str(tmp_path), 'card.json')
    with open(card_json, 'w') as f:
        json.dump({'description': 'from json', 'notes': 'json notes'}, f)
    out = os.path.join(str(tmp_path), 'violin')
    status = ddsp_export_model.run(
        [
            f'--save_dir={run.save_dir}',
            f'--dataset_statistics={run.train_statistics}',
            f'--output={out}',
            '--name=violin',
            f'--card_json={card_json}',
            '--card=notes=flag notes',
            '--card=metrics={"loudness_l1_db": 1.5}',
            '--card=training_hardware=2 cores',
            '--card=batch_size=null',
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert out in capsys.readouterr().out
    card = model_dir.read_model_card(out)
    assert card.description == 'from json' and card.notes == 'flag notes'
    assert card.metrics == {'loudness_l1_db': 1.5} and card.training_hardware == '2 cores'
    assert card.batch_size is None


@pytest.mark.parametrize(
    'args, fragment',
    [
        (['--name=v'], '--save_dir, --dataset_statistics, --output must be given'),
        (['--card=sample_rate=fast'], 'sample_rate must be'),
        (['--card=colour=red'], 'card field must be one of'),
        (['--card=notes'], 'KEY=VALUE'),
        (['--nosuchflag'], 'nosuchflag'),
        (['extra_argument'], 'unexpected arguments'),
    ],
)
def test_command_errors_are_one_line(run, tmp_path, capsys, args, fragment):
    base = {
        '--save_dir': run.save_dir,
        '--dataset_statistics': run.train_statistics,
        '--output': os.path.join(str(tmp_path), 'm'),
        '--name': 'v',
    }
    if args == ['--name=v']:
        argv = args
    else:
        argv = [f'{k}={v}' for k, v in base.items()] + args
    assert ddsp_export_model.run(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('ddsp_export_model: error: ') and '\n' not in err
    assert fragment in err
    assert not os.path.exists(os.path.join(str(tmp_path), 'm'))


def test_command_exit_status_in_a_fresh_process(run, exported, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'ddsp.training.ddsp_export_model',
            f'--save_dir={run.save_dir}',
            f'--dataset_statistics={run.train_statistics}',
            f'--output={exported}',
            '--name=violin',
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES=''),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if 'ddsp_export_model' in line]
    assert len(lines) == 1 and 'not empty' in lines[0] and '--overwrite' in lines[0]


def test_training_seconds_from_the_summaries(run):
    seconds = ddsp_export_model.training_seconds(run.save_dir)
    assert seconds is not None and 0 < seconds < 3600
    assert ddsp_export_model.training_seconds(run.root) is None
