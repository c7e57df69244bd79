"""Reliability of training, the `ddsp_run` CLI, gin configs and saved layer configs.

Two tables; each row is one case, and a new case is one new row:

* `CLI_CASES`: a real `ddsp_run` subprocess on real TFRecords (0.25 s examples, a 985-weight
  model). A row gives the command-line arguments (placeholders `{save_dir}`, `{gin}` (the tiny
  training config for the row's `data`), `{dir}` (the row's directory, which also holds
  `typo.gin` and `a_file`)), an optional run that must succeed first (`before`), the exit code,
  fragments that the one `ddsp_run: error: ...` line of stderr must contain (all of stderr
  for exit code 0), text that must not appear in stderr, and the check of the files left in
  `{save_dir}` (a key of `FILE_CHECKS`). The runs are background jobs (tests/background.py):
  they start with the session and run beside the other tests.
* `CALL_CASES`: an in-process call. A row gives the call (a function of a `Context`), the
  exception type it must raise (None: none), fragments of its message, and a check of the
  result and the files left (a function of the result and the `Context`).

No case asserts a time.
"""

import dataclasses
import hashlib
import logging as std_logging
import os
import sys
from typing import Any, Callable, Optional, Tuple
import zipfile

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import core, dags, effects, processors
from ddsp.training import checkpoints, control_encoders, ddsp_run, train_util, trainers

from . import model_fixtures as mf
from . import reliability_functions as rf
from .test_ddsp_run import ckpt_steps, read_checkpoint, run_cli, write_dataset, write_tiny_gin

# Keras's numpy conversion of TF tensors when a model is saved (as in tests/test_effects.py).
pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')


# ------------------------------------------------------------------------------------------------
# The ddsp_run table.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CliCase:
    """One `ddsp_run` run and what it must do."""

    name: str
    args: Tuple[str, ...]  # With `--save_dir={save_dir}` added unless it names --save_dir.
    exit_code: int
    fragments: Tuple[str, ...]  # All in the error line (in all of stderr when exit_code 0).
    files: str  # A key of FILE_CHECKS.
    data: str = 'clean'  # 'clean', 'nan' (every example holds a NaN) or 'mixed' (one does).
    before: Tuple[str, ...] = ()  # A run that must succeed first, in the same --save_dir.
    absent: Tuple[str, ...] = ('Traceback',)  # Never in stderr.


_SIZE_CHANGED = '--gin_param=RnnFcDecoder.rnn_channels=16'

CLI_CASES = (
    CliCase(
        'nan_audio_stops_at_the_first_step',
        ('--gin_file={gin}',),
        1,
        (
            'ddsp_run: error: Training diverged at step 1: expected a finite total loss',
            'Its batch holds NaN or inf in audio (2 of 2 examples)',
            'train.tfrecord-00000-of-00001 (2 of 2 records read)',
            'no checkpoint was saved before it',
        ),
        'no_checkpoint',
        data='nan',
        absent=('Traceback', 'Training finished'),
    ),
    CliCase(
        'nan_records_among_clean_ones_keep_the_last_finite_checkpoint',
        ('--gin_file={gin}', '--gin_param=train_util.train.num_steps=40'),
        1,
        (
            'ddsp_run: error: Training diverged at step',
            'Its batch holds NaN or inf in audio',
            'train.tfrecord-bad (1 of 1 records read): fix or remove those records',
        ),
        'newest_checkpoint_finite',
        data='mixed',
        absent=('Traceback', 'Training finished', 'train.tfrecord-clean ('),
    ),
    CliCase(
        'misspelled_configurable_in_gin_param',
        ('--gin_file={gin}', '--gin_param=RnnFcDecodr.rnn_channels=8'),
        1,
        (
            "ddsp_run: error: --gin_param must be bindings of known configurables; 'RnnFcDecodr'",
            "did you mean 'RnnFcDecoder'",
            "received --gin_param='RnnFcDecodr.rnn_channels=8'.",
        ),
        'nothing_written',
    ),
    CliCase(
        'misspelled_configurable_in_gin_file',
        ('--gin_file={gin}', '--gin_file={dir}/typo.gin'),
        1,
        (
            "--gin_file must be bindings of known configurables; 'RnnFcDecodr' (line 2 of ",
            "typo.gin) is not one (did you mean 'RnnFcDecoder'",
        ),
        'nothing_written',
    ),
    CliCase(
        'misspelled_keyword_of_a_keras_layer',
        ('--gin_file={gin}', '--gin_param=RnnFcDecoder.rnn_chanels=8'),
        1,
        (
            "RnnFcDecoder has no parameter 'rnn_chanels'",
            "did you mean 'rnn_channels'",
            "received --gin_param='RnnFcDecoder.rnn_chanels=8'.",
        ),
        'nothing_written',
    ),
    CliCase(
        'misspelled_keyword_gin_checks',
        ('--gin_file={gin}', '--gin_param=Trainer.learning_rat=0.1'),
        1,
        ("Trainer has no parameter 'learning_rat'", "did you mean 'learning_rate'"),
        'nothing_written',
    ),
    CliCase(
        'unknown_keyword_refused_when_the_layer_is_built',
        ('--gin_file={gin}', '--gin_param=Harmonic.colour=3'),
        1,
        (
            'ddsp_run: error: Harmonic.colour must be a parameter Harmonic takes',
            'fix or remove that --gin_file / --gin_param binding; received Harmonic.colour=3.',
        ),
        'nothing_written',
    ),
    CliCase(
        'save_dir_under_a_file',
        ('--save_dir={dir}/a_file/run', '--gin_file={gin}'),
        1,
        (
            'ddsp_run: error: --save_dir must be a directory this process can create and write',
            'a_file is a file, not a directory',
            "received --save_dir='",
        ),
        'save_dir_not_created',
    ),
    CliCase(
        'save_dir_in_a_read_only_file_system',
        ('--save_dir=/proc/ddsp_reliability_run', '--gin_file={gin}'),
        1,
        ('--save_dir must be a directory this process can create and write', 'in /proc'),
        'save_dir_not_created',
    ),
    CliCase(
        'model_size_changed_on_resume',
        ('--gin_file={gin}', _SIZE_CHANGED, '--gin_param=train_util.train.num_steps=4'),
        1,
        (
            'does not fit the model built from this config: variable ',
            'rnn_fc_decoder/',
            ' in the checkpoint but ',
            "The config differs from the run's",
            'operative_config-0.gin',
            'the checkpoints are fine',
        ),
        'checkpoints_untouched',
        before=('--gin_file={gin}',),
        absent=('Traceback', 'Move them away', 'Could not restore'),
    ),
    CliCase(
        'frame_rate_of_another_dataset',
        ('--gin_file={gin}', '--gin_param=TFRecordProvider.frame_rate=250'),
        1,
        ("feature 'f0_hz'", 'has 40 values, expected 63', 'frame_rate=250'),
        'nothing_written',
    ),
    CliCase(
        'frame_rate_not_dividing_the_sample_rate',
        ('--gin_file={gin}', '--gin_param=TFRecordProvider.frame_rate=170'),
        1,
        ('frame_rate must be a divisor of sample_rate=16000', 'received frame_rate=170.'),
        'nothing_written',
    ),
    CliCase(
        'package_includes_log_no_errors',
        ('--gin_file=datasets/tfrecord.gin', '--gin_file={gin}'),
        0,
        ('Training finished at step 2.',),
        'trained',
        absent=('Traceback', 'Path not found', 'ddsp_run: error'),
    ),
)


def _write_inputs(directory, data):
    """The row's dataset and files; the tiny gin config's path."""
    if data == 'mixed':  # Four clean records in one file, one with a NaN sample in another.
        write_dataset(os.path.join(directory, 'data'), n_files=1, per_file=4, seed=1)
        os.rename(
            os.path.join(directory, 'data', 'train.tfrecord-00000-of-00001'),
            os.path.join(directory, 'data', 'train.tfrecord-clean'),
        )
        bad = write_dataset(os.path.join(directory, 'bad'), n_files=1, per_file=1, nan_audio=True)
        os.rename(
            bad.replace('*', '-00000-of-00001'),
            os.path.join(directory, 'data', 'train.tfrecord-bad'),
        )
        pattern = os.path.join(directory, 'data', 'train.tfrecord*')
    else:
        pattern = write_dataset(
            os.path.join(directory, 'data'), n_files=1, per_file=2, nan_audio=data == 'nan'
        )
    with open(os.path.join(directory, 'typo.gin'), 'w') as f:
        f.write('# A typo on line 2.\nRnnFcDecodr.ch = 8\n')
    with open(os.path.join(directory, 'a_file'), 'w') as f:
        f.write('not a directory\n')
    return write_tiny_gin(
        os.path.join(directory, 'tiny.gin'), pattern, num_steps=2, steps_per_save=1
    )


def _snapshot(save_dir):
    """`{file name: sha256}` of the checkpoint files in `save_dir`."""
    if not os.path.isdir(save_dir):
        return {}
    return {
        name: hashlib.sha256(open(os.path.join(save_dir, name), 'rb').read()).hexdigest()
        for name in sorted(os.listdir(save_dir))
        if name.startswith('ckpt-') or name == 'checkpoint'
    }


def _cli_job(case):
    def factory(tmp_path_factory):
        directory = str(tmp_path_factory.mktemp(case.name))
        values = dict(dir=directory, save_dir=os.path.join(directory, 'run'))
        values['gin'] = _write_inputs(directory, case.data)

        def expand(args):
            args = [a.format(**values) for a in args]
            if not any(a.startswith('--save_dir=') for a in args):
                args.insert(0, f'--save_dir={values["save_dir"]}')
            return args

        named = [a for a in expand(case.args) if a.startswith('--save_dir=')]

        def run():
            job = dict(values, save_dir=named[0].split('=', 1)[1], before=None, snapshot={})
            if case.before:
                job['before'] = run_cli(expand(case.before))
                job['snapshot'] = _snapshot(values['save_dir'])
            job['result'] = run_cli(expand(case.args))
            return job

        return run

    return factory


BACKGROUND_JOBS = {case.name: _cli_job(case) for case in CLI_CASES}


# Checks of the files a run leaves in --save_dir: `check(job)`; `job` holds the `result`, the
# `save_dir`, the `before` run and the `snapshot` of the checkpoint files after it.
def _nothing_written(job):
    save_dir = job['save_dir']
    left = os.listdir(save_dir) if os.path.isdir(save_dir) else []
    assert not [n for n in left if n.startswith(('ckpt-', 'operative_config-'))], left


def _no_checkpoint(job):
    assert ckpt_steps(job['save_dir']) == []


def _newest_checkpoint_finite(job):
    # The newest checkpoint (if any) holds only finite values and is the one the message
    # names; none was written at or after the diverged step.
    last = [
        line for line in job['result'].stderr.splitlines() if line.startswith('ddsp_run: error: ')
    ][0]
    steps = ckpt_steps(job['save_dir'])
    if not steps:
        assert 'no checkpoint was saved before it' in last
        return
    newest = checkpoints.get_latest_checkpoint(job['save_dir'])
    assert newest.endswith(f'ckpt-{steps[-1]}')
    assert f'the newest checkpoint, {newest}, holds the last finite state' in last
    diverged = int(last.split('Training diverged at step ')[1].split(':')[0])
    assert steps[-1] < diverged
    for name, value in read_checkpoint(newest).items():
        assert np.all(np.isfinite(value)), name


def _checkpoints_untouched(job):
    assert job['before'].returncode == 0, job['before'].stderr[-3000:]
    assert job['snapshot'] and _snapshot(job['save_dir']) == job['snapshot']
    assert sorted(n for n in os.listdir(job['save_dir']) if n.startswith('operative_config-')) == [
        'operative_config-0.gin'
    ]


def _save_dir_not_created(job):
    assert not os.path.exists(job['save_dir'])
    with open(os.path.join(job['dir'], 'a_file')) as f:
        assert f.read() == 'not a directory\n'


def _trained(job):
    assert ckpt_steps(job['save_dir']) == [1, 2]
    newest = checkpoints.get_latest_checkpoint(job['save_dir'])
    for name, value in read_checkpoint(newest).items():
        assert np.all(np.isfinite(value)), name


FILE_CHECKS = {
    'nothing_written': _nothing_written,
    'no_checkpoint': _no_checkpoint,
    'newest_checkpoint_finite': _newest_checkpoint_finite,
    'checkpoints_untouched': _checkpoints_untouched,
    'save_dir_not_created': _save_dir_not_created,
    'trained': _trained,
}


@pytest.mark.parametrize(
    'case',
    [
        pytest.param(case, marks=pytest.mark.background_job(case.name), id=case.name)
        for case in CLI_CASES
    ],
)
def test_ddsp_run_case(case, background_result):
    job = background_result(case.name)
    result = job['result']
    assert result.returncode == case.exit_code, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith('ddsp_run: error: ')]
    if case.exit_code:
        # One error line (TensorFlow may still log warnings while the process exits).
        assert len(errors) == 1, result.stderr[-3000:]
        checked = errors[0]
    else:
        assert errors == []
        checked = result.stderr
    for fragment in case.fragments:
        assert fragment in checked, f'{fragment!r} not in {checked[-3000:]!r}'
    for text in case.absent:
        assert text not in result.stderr, f'{text!r} in {result.stderr[-3000:]!r}'
    FILE_CHECKS[case.files](job)


# ------------------------------------------------------------------------------------------------
# The in-process table.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Context:
    tmp_path: Any
    monkeypatch: Any
    calls: list = dataclasses.field(default_factory=list)  # What a stand-in recorded.


@dataclasses.dataclass(frozen=True)
class CallCase:
    """One in-process call and what it must do."""

    name: str
    call: Callable[[Context], Any]
    raises: Optional[type]  # None: returns.
    fragments: Tuple[str, ...] = ()  # All in the exception's message.
    check: Optional[Callable[[Any, Context], None]] = None  # (result or None, context).


# Saved models -----------------------------------------------------------------------------------
def _reverb_file(ctx, scale_fn, name='reverb.keras'):
    """A saved Sequential model of an `ExpDecayReverb` whose `scale_fn` is `scale_fn`."""
    model = keras.Sequential(
        [keras.Input((256,)), effects.ExpDecayReverb(True, reverb_length=32, scale_fn=scale_fn)]
    )
    path = str(ctx.tmp_path / name)
    model.save(path)
    return path


def _edited(path, old, new):
    """A copy of the .keras file `path` whose config.json names `new` instead of `old`."""
    edited = path.replace('.keras', '_edited.keras')
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, 'w') as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == 'config.json':
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            target.writestr(item, data)
    return edited


def _load_naming(path_in_config, **load_kwargs):
    """Saves a reverb with `core.exp_sigmoid`, edits the file to name `path_in_config`, loads."""

    def call(ctx):
        ctx.monkeypatch.setattr(os, 'system', lambda *args: ctx.calls.append(args) or 0)
        rf.CALLS.clear()
        path = _edited(_reverb_file(ctx, core.exp_sigmoid), 'ddsp.core.exp_sigmoid', path_in_config)
        return keras.saving.load_model(path, **load_kwargs)

    return call


def _reloaded(scale_fn, **load_kwargs):
    def call(ctx):
        rf.CALLS.clear()
        return keras.saving.load_model(_reverb_file(ctx, scale_fn), **load_kwargs)

    return call


def _nothing_called(result, ctx):
    assert ctx.calls == [] and rf.CALLS == []


def _scale_fn_is(fn, called=None):
    def check(model, ctx):
        assert model.layers[0].scale_fn is fn
        assert ctx.calls == []
        if called is not None:
            assert (rf.CALLS != []) == called

    return check


_RECORDING_PATH = dags.serialize_function(rf.recording_sigmoid)


def _encoder_round_trip(ctx):
    encoder = control_encoders.SinusoidalToHarmonicEncoder(net=None, n_harmonics=4)
    inputs = {name: keras.Input((10, 3), name=name) for name in ('sin_freqs', 'sin_amps')}
    path = str(ctx.tmp_path / 'encoder.keras')
    keras.Model(inputs, encoder(inputs)).save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True, Keras's default.
    return [layer for layer in loaded.layers if isinstance(layer, type(encoder))][0]


def _encoder_functions(encoder, ctx):
    assert encoder.amp_scale_fn is core.exp_sigmoid
    assert encoder.freq_scale_fn is control_encoders.f0_softmax_20_1200


def _deserialize(path):
    return lambda ctx: dags.deserialize_function(path)


def _not_imported(module):
    def check(result, ctx):
        assert module not in sys.modules

    return check


# DAGs -------------------------------------------------------------------------------------------
def _dag_layer(dag):
    return lambda ctx: dags.DAGLayer(dag)


# Gin --------------------------------------------------------------------------------------------
def _parse_operative_config(ctx):
    # The run being resumed was made by a version with another configurable and parameter.
    run = ctx.tmp_path / 'run'
    run.mkdir()
    (run / 'operative_config-5.gin').write_text(
        'import ddsp.training\n\n'
        'NoSuchConfigurable.x = 1\n'
        'Trainer.learning_rat = 0.5\n'
        'Trainer.learning_rate = 0.25\n'
        'Trainer.lr_decay_steps = \\\n    77\n'
    )
    ddsp_run.parse_gin(str(run), gin_files=[], gin_params=[], search_paths=[], tpu=False)
    return gin.query_parameter('Trainer.learning_rate'), gin.query_parameter(
        'Trainer.lr_decay_steps'
    )


def _learning_rate_and_decay_steps(*expected):
    def check(values, ctx):
        assert values == expected

    return check


def _user_gin_file(text):
    def call(ctx):
        path = ctx.tmp_path / 'user.gin'
        path.write_text(text)
        ddsp_run.parse_gin(
            str(ctx.tmp_path), gin_files=[str(path)], gin_params=[], search_paths=[], tpu=False
        )

    return call


# Training ---------------------------------------------------------------------------------------
class _PoisoningTrainer(trainers.Trainer):
    """A trainer whose second step leaves a NaN weight behind with a finite loss (as a
    forward-pass state update or a custom update rule could)."""

    def train_step(self, inputs):
        outputs = super().train_step(inputs)
        if int(self.step.numpy()) == 2:
            variable = self.model.trainable_variables[0]
            variable.assign(tf.fill(variable.shape, np.nan))
        return outputs


def _train_poisoned(ctx):
    trainer = _PoisoningTrainer(
        mf.make_autoencoder(ch=8, noise=False, fft_sizes=(256,)), tf.distribute.get_strategy()
    )
    save_dir = str(ctx.tmp_path / 'run')
    return train_util.train(
        mf.Provider(),
        trainer,
        batch_size=2,
        num_steps=5,
        steps_per_save=1,
        steps_per_summary=1,
        save_dir=save_dir,
        restore_dir=save_dir,
    )


def _only_ckpt_1_finite(result, ctx):
    save_dir = str(ctx.tmp_path / 'run')
    assert ckpt_steps(save_dir) == [1]
    for name, value in read_checkpoint(os.path.join(save_dir, 'ckpt-1')).items():
        assert np.all(np.isfinite(value)), name


CALL_CASES = (
    # Saved layer configs name functions: only ddsp's, TF/Keras math, or registered ones.
    CallCase(
        'keras_file_naming_os_system_is_refused',
        _load_naming('os.system'),
        ValueError,
        ("received path='os.system'", 'safe_mode=False', 'register_keras_serializable'),
        _nothing_called,
    ),
    CallCase(
        'keras_file_naming_builtins_print_is_refused',
        _load_naming('builtins.print'),
        ValueError,
        ("received path='builtins.print'", 'enable_unsafe_deserialization'),
        _nothing_called,
    ),
    CallCase(
        'keras_file_naming_an_unregistered_function_is_refused',
        _load_naming(_RECORDING_PATH),
        ValueError,
        (f'received path={_RECORDING_PATH!r}',),
        _nothing_called,
    ),
    CallCase(
        'keras_file_naming_an_unregistered_function_loads_when_unsafe_is_asked',
        _load_naming(_RECORDING_PATH, safe_mode=False),
        None,
        check=_scale_fn_is(rf.recording_sigmoid, called=True),
    ),
    CallCase(
        'keras_file_naming_it_loads_with_custom_objects',
        _load_naming(_RECORDING_PATH, custom_objects={'recording_sigmoid': rf.recording_sigmoid}),
        None,
        check=_scale_fn_is(rf.recording_sigmoid),
    ),
    CallCase(
        'keras_file_with_a_registered_function_loads_in_safe_mode',
        _reloaded(rf.registered_sigmoid),
        None,
        check=_scale_fn_is(rf.registered_sigmoid),
    ),
    CallCase(
        'keras_file_with_core_exp_sigmoid_loads_in_safe_mode',
        _reloaded(core.exp_sigmoid),
        None,
        check=_scale_fn_is(core.exp_sigmoid),
    ),
    CallCase(
        'keras_file_with_tf_nn_softplus_loads_in_safe_mode',
        _reloaded(tf.nn.softplus),
        None,
        check=_scale_fn_is(tf.nn.softplus),
    ),
    CallCase(
        'keras_file_with_a_keras_activation_loads_in_safe_mode',
        _reloaded(keras.activations.softplus),
        None,
        check=_scale_fn_is(keras.activations.softplus),
    ),
    CallCase(
        'keras_file_with_encoder_functions_loads_in_safe_mode',
        _encoder_round_trip,
        None,
        check=_encoder_functions,
    ),
    CallCase(
        'config_naming_an_unloaded_module_imports_nothing',
        _deserialize('antigravity.geohash'),
        ValueError,
        ("received path='antigravity.geohash'",),
        _not_imported('antigravity'),
    ),
    CallCase(
        'config_naming_a_keras_function_that_is_not_math_is_refused',
        _deserialize('keras.src.saving.saving_api.load_model'),
        ValueError,
        ('keras.activations, keras.ops',),
    ),
    CallCase(
        'config_naming_a_module_of_ddsp_is_refused',
        _deserialize('ddsp.training.train_util.subprocess'),
        ValueError,
        ("received path='ddsp.training.train_util.subprocess'",),
    ),
    # DAGs.
    CallCase(
        'empty_dag',
        _dag_layer([]),
        ValueError,
        ('DAGLayer: dag must be a non-empty list of nodes', 'received dag=[].'),
    ),
    CallCase(
        'empty_processor_group',
        lambda ctx: processors.ProcessorGroup(dag=[]),
        ValueError,
        ('ProcessorGroup: dag must be a non-empty list of nodes',),
    ),
    CallCase('dag_that_is_not_a_list', _dag_layer(None), ValueError, ('received dag=None.',)),
    # Gin: lenient for the operative config of a run being resumed, strict for the user.
    CallCase(
        'operative_config_skips_what_no_longer_exists',
        _parse_operative_config,
        None,
        check=_learning_rate_and_decay_steps(0.25, 77),
    ),
    CallCase(
        'user_gin_file_with_an_unknown_configurable',
        _user_gin_file('Trainer.learning_rate = 0.1\nRnnFcDecodr.ch = 8\n'),
        ddsp_run.ConfigError,
        ("'RnnFcDecodr' (line 2 of ", "did you mean 'RnnFcDecoder'"),
    ),
    CallCase(
        'user_gin_file_with_an_unknown_keyword',
        _user_gin_file('Trainer.learning_rate = 0.1\nTrainer.grad_clip = 3.0\n'),
        ddsp_run.ConfigError,
        ("Trainer has no parameter 'grad_clip' (line 2 of ", "did you mean 'grad_clip_norm'"),
    ),
    # Training: a weight that is not finite is never saved.
    CallCase(
        'non_finite_weight_is_not_saved',
        _train_poisoned,
        train_util.TrainingDivergedError,
        (
            'Training diverged at step 2: expected finite weights before saving, got NaN or inf',
            'ckpt-1, holds the last finite state saved',
        ),
        _only_ckpt_1_finite,
    ),
)


@pytest.mark.parametrize('case', CALL_CASES, ids=[case.name for case in CALL_CASES])
def test_call_case(case, tmp_path, monkeypatch):
    ctx = Context(tmp_path, monkeypatch)
    gin.clear_config()
    try:
        if case.raises is None:
            result = case.call(ctx)
        else:
            with pytest.raises(case.raises) as info:
                case.call(ctx)
            result = None
            message = str(info.value).split('\n  In call to configurable')[0]
            assert '\n' not in message.strip(), message
            for fragment in case.fragments:
                assert fragment in message, f'{fragment!r} not in {message!r}'
        if case.check is not None:
            case.check(result, ctx)
    finally:
        gin.clear_config()


def test_every_case_name_is_unique():
    names = [case.name for case in CLI_CASES + CALL_CASES]
    assert len(names) == len(set(names))
    assert all(case.files in FILE_CHECKS for case in CLI_CASES)


def test_gin_path_lookups_are_not_logged_but_other_errors_are(caplog):
    # gin's resource reader logs "Path not found" (an ERROR, on the root logger) for every
    # search-path lookup that is not a Python package; ddsp_run drops those lines, and only
    # those, while it parses.
    from gin import resource_reader

    with caplog.at_level(std_logging.INFO):
        with ddsp_run._quiet_gin_lookups():
            assert not resource_reader.system_path_file_exists('models/no_such.gin')
            std_logging.error('Another error.')
        assert not resource_reader.system_path_file_exists('models/no_such.gin')
    messages = [r.getMessage() for r in caplog.records if r.levelname == 'ERROR']
    assert messages == ['Another error.', 'Path not found: models/no_such.gin'], messages
