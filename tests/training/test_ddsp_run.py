"""End-to-end tests of the `ddsp_run` CLI: gin resolution, errors, kill/resume, eval."""

import os
import shutil
import signal
import subprocess
import sys
import time

from absl import flags
from absl.testing import flagsaver
import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import ddsp_run, models
from ddsp.training.gin import GIN_PATH

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DDSP_RUN = os.path.join(os.path.dirname(sys.executable), 'ddsp_run')

N_SAMPLES = 4000  # 0.25 s at 16 kHz.
N_FRAMES = 40  # 0.25 s at 160 Hz: ceil(4000 / 100) CREPE-hop frames ('same' padding).

TINY_GIN = """
import ddsp
import ddsp.training

get_model.model = @models.Autoencoder()
models.Autoencoder.preprocessor = @preprocessing.F0LoudnessPreprocessor()
F0LoudnessPreprocessor.time_steps = {n_frames}
models.Autoencoder.encoder = None
models.Autoencoder.decoder = @decoders.RnnFcDecoder()
RnnFcDecoder.rnn_channels = 8
RnnFcDecoder.ch = 8
RnnFcDecoder.layers_per_stack = 1
RnnFcDecoder.input_keys = ('ld_scaled', 'f0_scaled')
RnnFcDecoder.output_splits = (('amps', 1), ('harmonic_distribution', 8))
models.Autoencoder.losses = [@losses.SpectralLoss()]
SpectralLoss.fft_sizes = (256,)
SpectralLoss.logmag_weight = 1.0
models.Autoencoder.processor_group = @processors.ProcessorGroup()
ProcessorGroup.dag = [(@synths.Harmonic(), ['amps', 'harmonic_distribution', 'f0_hz'])]
Harmonic.n_samples = {n_samples}
Harmonic.sample_rate = 16000

train_util.train.data_provider = @data.TFRecordProvider()
TFRecordProvider.file_pattern = '{pattern}'
TFRecordProvider.example_secs = 0.25
TFRecordProvider.frame_rate = 160
train_util.train.batch_size = 2
train_util.train.num_steps = {num_steps}
train_util.train.steps_per_save = {steps_per_save}
train_util.train.steps_per_summary = {steps_per_save}
Trainer.learning_rate = 0.003
"""


def write_dataset(directory, n_files=2, per_file=4, seed=0, nan_audio=False):
    """TFRecords in the ddsp_prepare_tfrecord format (data.TFRecordProvider); their pattern.

    Each example is a decaying three-harmonic tone at a random f0 in 220-440 Hz (with one NaN
    sample if `nan_audio`).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(N_SAMPLES) / 16000.0
    os.makedirs(directory, exist_ok=True)
    for i in range(n_files):
        path = os.path.join(directory, f'train.tfrecord-0000{i}-of-0000{n_files}')
        with tf.io.TFRecordWriter(path) as writer:
            for _ in range(per_file):
                f0 = rng.uniform(220.0, 440.0)
                audio = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in (1, 2, 3))
                audio = audio * np.linspace(1.0, 0.3, N_SAMPLES)
                if nan_audio:
                    audio[100] = np.nan
                features = {
                    'audio': audio,
                    'audio_16k': audio,
                    'f0_hz': np.full(N_FRAMES, f0),
                    'f0_confidence': np.ones(N_FRAMES),
                    'loudness_db': np.full(N_FRAMES, -30.0),
                }
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            k: tf.train.Feature(
                                float_list=tf.train.FloatList(value=np.asarray(v, np.float32))
                            )
                            for k, v in features.items()
                        }
                    )
                )
                writer.write(example.SerializeToString())
    return os.path.join(directory, 'train.tfrecord*')


def write_tiny_gin(path, pattern, num_steps=6, steps_per_save=2):
    with open(path, 'w') as f:
        f.write(
            TINY_GIN.format(
                n_frames=N_FRAMES,
                n_samples=N_SAMPLES,
                pattern=pattern,
                num_steps=num_steps,
                steps_per_save=steps_per_save,
            )
        )
    return str(path)


def subprocess_env(**extra):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    env.pop('TF_CONFIG', None)
    env.update(extra)
    return env


def run_cli(args, timeout=240, **env):
    """Runs `ddsp_run args` to completion; the CompletedProcess (stdout and stderr as text)."""
    return subprocess.run(
        [DDSP_RUN] + list(args),
        cwd=REPO,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ckpt_steps(directory):
    """Steps of the checkpoints with an index file in `directory`, ascending."""
    return sorted(
        int(name[len('ckpt-') : -len('.index')])
        for name in os.listdir(directory)
        if name.startswith('ckpt-') and name.endswith('.index')
    )


def read_checkpoint(prefix):
    """{name: array} of a checkpoint's variables (tf.train.load_checkpoint)."""
    reader = tf.train.load_checkpoint(prefix)
    return {
        name: reader.get_tensor(name)
        for name, _ in tf.train.list_variables(prefix)
        if name != '_CHECKPOINTABLE_OBJECT_GRAPH'
    }


ITERATIONS = 'optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE'


# In-process: flags and gin parsing --------------------------------------------------------------
@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_parse_gin_order_later_wins(tmp_path, clean_gin):
    # base.gin sets learning_rate 0.0003 (via a macro) and batch_size 32; the operative
    # config of the run being resumed overrides both and holds an unknown configurable
    # (skipped); the user's --gin_param overrides the operative config again.
    restore_dir = tmp_path / 'run'
    restore_dir.mkdir()
    (restore_dir / 'operative_config-3.gin').write_text('Trainer.learning_rate = 0.5\n')
    (restore_dir / 'operative_config-12.gin').write_text(
        'Trainer.learning_rate = 0.125\ntrain_util.train.batch_size = 7\nNoSuchConfigurable.x = 1\n'
    )
    ddsp_run.parse_gin(
        str(restore_dir),
        gin_files=[],
        search_paths=[],
        tpu=False,
        gin_params=['train_util.train.batch_size = 3'],
    )
    assert gin.query_parameter('Trainer.learning_rate') == 0.125  # operative_config-12.
    assert gin.query_parameter('train_util.train.batch_size') == 3  # --gin_param.
    assert gin.query_parameter('train_util.train.steps_per_save') == 300  # base.gin.
    # eval/basic.gin is parsed too.
    assert gin.query_parameter('evaluate.evaluator_classes')


def test_parse_gin_tpu_uses_base_tpu(tmp_path, clean_gin):
    # base.gin sets the macro batch_size = 32; base_tpu.gin includes it and sets 64.
    ddsp_run.parse_gin(str(tmp_path), gin_files=[], gin_params=[], search_paths=[], tpu=False)
    assert gin.query_parameter('%batch_size') == 32
    gin.clear_config()
    ddsp_run.parse_gin(str(tmp_path), gin_files=[], gin_params=[], search_paths=[], tpu=True)
    assert gin.query_parameter('%batch_size') == 64


def test_solo_instrument_resolves_from_the_package(tmp_path, clean_gin):
    # The name is relative to ddsp/training/gin; models/solo_instrument.gin includes
    # models/ae.gin through the search path. The 4.8 M-parameter model is built (not run).
    ddsp_run.parse_gin(
        str(tmp_path),
        gin_files=['models/solo_instrument.gin'],
        gin_params=[],
        search_paths=[],
        tpu=False,
    )
    assert gin.query_parameter('RnnFcDecoder.output_splits') == (
        ('amps', 1),
        ('harmonic_distribution', 60),
        ('noise_magnitudes', 65),
    )
    model = models.get_model()
    assert isinstance(model, models.Autoencoder) and model.encoder is None
    names = [type(m).__name__ for m in model.processor_group.modules]
    assert names == ['Harmonic', 'FilteredNoise', 'Add', 'Reverb']


def test_gin_search_path_and_url_copy(tmp_path, clean_gin):
    user_dir = tmp_path / 'configs'
    user_dir.mkdir()
    (user_dir / 'mine.gin').write_text('Trainer.lr_decay_steps = 77\n')
    ddsp_run.parse_gin(
        str(tmp_path),
        gin_files=['mine.gin'],
        gin_params=[],
        search_paths=[str(user_dir)],
        tpu=False,
    )
    assert gin.query_parameter('Trainer.lr_decay_steps') == 77
    # A URL is copied with tf.io.gfile before parsing. gs:// cannot be reached here; file://
    # takes the same path (_is_remote -> _copy_to_local).
    (tmp_path / 'remote.gin').write_text('Trainer.lr_decay_steps = 88\n')
    url = 'file://' + str(tmp_path / 'remote.gin')
    local = ddsp_run.resolve_gin_file(url, [], str(tmp_path / 'local'))
    assert local == str(tmp_path / 'local' / 'remote.gin') and os.path.isfile(local)
    ddsp_run.parse_gin(str(tmp_path), gin_files=[url], gin_params=[], search_paths=[], tpu=False)
    assert gin.query_parameter('Trainer.lr_decay_steps') == 88
    with pytest.raises(ddsp_run.ConfigError, match='does not exist'):
        ddsp_run.resolve_gin_file('file://' + str(tmp_path / 'missing.gin'), [])


def test_unknown_gin_file_names_file_and_search_path(tmp_path, clean_gin):
    with pytest.raises(ddsp_run.ConfigError) as info:
        ddsp_run.parse_gin(
            str(tmp_path),
            gin_files=['models/nope.gin'],
            gin_params=[],
            search_paths=[str(tmp_path)],
            tpu=False,
        )
    message = str(info.value)
    assert "'models/nope.gin' not found" in message
    assert GIN_PATH in message and str(tmp_path) in message


@pytest.mark.parametrize(
    'binding, expected',
    [
        ('Trainer.learning_rat = 0.1', 'learning_rat'),  # No such parameter.
        ('Trainer.learning_rate = (0.1', 'learning_rate'),  # Syntax error.
    ],
)
def test_bad_binding_is_named(tmp_path, clean_gin, binding, expected):
    with pytest.raises(ddsp_run.ConfigError) as info:
        ddsp_run.parse_gin(
            str(tmp_path), gin_files=[], gin_params=[binding], search_paths=[], tpu=False
        )
    assert f'--gin_param={binding!r}' in str(info.value) and expected in str(info.value)


def test_bad_mode_is_refused():
    with pytest.raises(flags.IllegalFlagValueError, match=r'one of <train\|eval\|sample>'):
        flags.FLAGS['mode'].parse('fit')
    assert flags.FLAGS['mode'].value == 'train'


def test_cluster_config_validator():
    assert ddsp_run._check_cluster_config('')
    assert ddsp_run._check_cluster_config('{"cluster": {"worker": ["a:1"]}, "task": {}}')
    with pytest.raises(flags.ValidationError, match='not valid JSON'):
        ddsp_run._check_cluster_config('{cluster')
    with pytest.raises(flags.ValidationError, match='"cluster" and "task"'):
        ddsp_run._check_cluster_config('{"worker": []}')


def test_delay_start(monkeypatch):
    slept = []
    monkeypatch.setattr(ddsp_run.time, 'sleep', slept.append)
    ddsp_run.delay_start(12)
    ddsp_run.delay_start(0)
    assert slept == [12]


def test_allow_memory_growth_sets_every_gpu(monkeypatch):
    # No GPU here: the device list and the setter are replaced by recorders.
    gpus = ['GPU:0', 'GPU:1']
    calls = []
    monkeypatch.setattr(
        tf.config, 'list_physical_devices', lambda kind=None: gpus if kind == 'GPU' else []
    )
    monkeypatch.setattr(
        tf.config.experimental, 'set_memory_growth', lambda gpu, enable: calls.append((gpu, enable))
    )
    assert ddsp_run.allow_memory_growth() == gpus
    assert calls == [('GPU:0', True), ('GPU:1', True)]


# Subprocesses: the console script ----------------------------------------------------------------
# The console-script checks that only read a finished run are background jobs
# (tests/background.py): they start with the session, beside the other tests.
def _unknown_gin_job(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('unknown_gin')
    return lambda: run_cli([f'--save_dir={tmp_path}', '--gin_file=models/nope.gin'])


def _diverged_job(tmp_path_factory):
    # Every example holds a NaN sample: step 1 diverges, nothing is saved, exit status 1.
    tmp_path = tmp_path_factory.mktemp('diverged')
    pattern = write_dataset(str(tmp_path / 'data'), n_files=1, per_file=2, nan_audio=True)
    gin_file = write_tiny_gin(tmp_path / 'tiny.gin', pattern, num_steps=4, steps_per_save=1)
    save_dir = tmp_path / 'run'
    return lambda: (run_cli([f'--save_dir={save_dir}', f'--gin_file={gin_file}']), save_dir)


BACKGROUND_JOBS = {
    'help': lambda tmp_path_factory: lambda: run_cli(['--help']),
    'unknown_gin': _unknown_gin_job,
    'diverged': _diverged_job,
}


@pytest.mark.background_job('help')
def test_help_lists_every_flag_and_examples(background_result):
    result = background_result('help')  # ddsp_run --help
    assert result.returncode == 1, result.stderr[-3000:]  # absl exits 1 after --help.
    text = result.stdout
    for flag in (
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
    ):
        assert f'--{flag}:' in text or f'--[no]{flag}:' in text, flag  # [no]: booleans.
    for example in (
        '--mode=train',
        '--mode=eval',
        '--mode=sample',
        '--cluster_config=',
        'models/solo_instrument.gin',
        'TFRecordProvider.file_pattern',
    ):
        assert example in text, example


@pytest.mark.background_job('unknown_gin')
def test_unknown_gin_file_is_a_one_line_error(background_result):
    result = background_result('unknown_gin')  # --save_dir=<tmp> --gin_file=models/nope.gin
    assert result.returncode == 1
    assert "ddsp_run: error: Gin file 'models/nope.gin' not found" in result.stderr
    assert 'Traceback' not in result.stderr


@pytest.mark.background_job('diverged')
def test_diverged_training_is_a_one_line_error(background_result):
    # Every example holds a NaN sample: step 1 diverges, nothing is saved, exit status 1
    # (the dataset, gin file and run are in _diverged_job).
    result, save_dir = background_result('diverged')
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        'ddsp_run: error: Training diverged at step 1: expected a finite '
        'total loss and gradient norm, got total_loss = nan'
    ), last
    assert 'no checkpoint was saved' in last and 'learning rate' in last
    assert 'Traceback' not in result.stderr and 'Training finished' not in result.stderr
    assert ckpt_steps(save_dir) == []


def test_missing_binding_exits_with_its_name(tmp_path, clean_gin):
    # main() in this process (the flags at their defaults but save_dir): no model config at
    # all, so the missing binding is named, with a hint, as the exit message.
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(['ddsp_run'])
    with flagsaver.flagsaver(save_dir=str(tmp_path / 'run')):
        with pytest.raises(SystemExit) as info:
            ddsp_run.main(['ddsp_run'])
    message = str(info.value.code)
    assert message.startswith(
        'ddsp_run: error: Required bindings for `get_model` not '
        "provided in config: ['model']. Bind it with --gin_file"
    ), message
    assert 'In call to configurable' not in message


# Kill / resume -----------------------------------------------------------------------------------
def _wait_for_checkpoints(proc, save_dir, n, timeout):
    """Polls until `save_dir` holds `n` checkpoints (the process must still be running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if os.path.isdir(save_dir) and len(ckpt_steps(save_dir)) >= n:
            return True
        time.sleep(0.1)
    return False


def _kill_resume_job(tmp_path_factory):
    """The four console-script runs of the kill/resume test, one after the other, as a
    background job (tests/background.py): only subprocesses and file operations here; the test
    reads the checkpoints and summaries they leave. Returns a dict of what each run gave (up to
    the first run that makes the next ones pointless)."""
    tmp_path = tmp_path_factory.mktemp('kill_resume')
    pattern = write_dataset(str(tmp_path / 'data'))
    gin_file = write_tiny_gin(tmp_path / 'tiny.gin', pattern, num_steps=100000, steps_per_save=5)
    save_dir = str(tmp_path / 'run')
    args = [f'--save_dir={save_dir}', f'--gin_file={gin_file}']

    def run():
        job = {'tmp_path': tmp_path, 'save_dir': save_dir}
        # 1. Train, and SIGKILL the process once it has written three checkpoints.
        with open(tmp_path / 'run1.log', 'w') as log:
            proc = subprocess.Popen(
                [DDSP_RUN] + args,
                cwd=REPO,
                env=subprocess_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                job['ok'] = _wait_for_checkpoints(proc, save_dir, 3, timeout=150)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
        job['log1'] = (tmp_path / 'run1.log').read_text()
        job['returncode1'] = proc.returncode
        job['steps1'] = steps = ckpt_steps(save_dir)
        if not job['ok'] or len(steps) < 2:
            return job
        newest, previous = steps[-1], steps[-2]
        # The newest checkpoint and the operative config as the killed run left them, for the
        # test to read (step 3 truncates that checkpoint).
        killed = tmp_path / 'killed'
        killed.mkdir()
        for name in (f'ckpt-{newest}.index', f'ckpt-{newest}.data-00000-of-00001'):
            shutil.copy(os.path.join(save_dir, name), killed)
        shutil.copy(os.path.join(save_dir, 'operative_config-0.gin'), killed)

        # 2. Resume from the killed run into a new directory without training (num_steps = the
        # newest step).
        copy_dir = str(tmp_path / 'copy')
        job['copy_dir'] = copy_dir
        job['result2'] = run_cli(
            [
                f'--save_dir={copy_dir}',
                f'--restore_dir={save_dir}',
                f'--gin_file={gin_file}',
                f'--gin_param=train_util.train.num_steps={newest}',
            ]
        )

        # 3. Truncate the newest checkpoint's data and run the same command again.
        data_file = os.path.join(save_dir, f'ckpt-{newest}.data-00000-of-00001')
        with open(data_file, 'r+b') as f:
            f.truncate(os.path.getsize(data_file) // 2)
        job['result3'] = run_cli(args + [f'--gin_param=train_util.train.num_steps={previous + 2}'])

        # 4. Evaluate the newest checkpoint once.
        job['result4'] = run_cli(
            args
            + [
                '--mode=eval',
                '--run_once',
                '--gin_param=evaluate.data_provider = @data.TFRecordProvider()',
                '--gin_param=evaluate.batch_size = 2',
                '--gin_param=evaluate.num_batches = 1',
            ]
        )
        return job

    return run


BACKGROUND_JOBS['kill_resume'] = _kill_resume_job


@pytest.mark.background_job('kill_resume')
def test_kill_resume_and_fallback_end_to_end(background_result):
    # The runs are in _kill_resume_job (a background job); the checks, in the same order:
    job = background_result('kill_resume')
    tmp_path, save_dir = job['tmp_path'], job['save_dir']

    # 1. Train, and SIGKILL the process once it has written three checkpoints.
    log1 = job['log1']
    assert job['ok'], log1[-3000:]
    assert job['returncode1'] == -signal.SIGKILL and 'Training finished' not in log1
    steps = job['steps1']
    newest, previous = steps[-1], steps[-2]
    assert newest > previous > 0
    killed = tmp_path / 'killed'  # Copies of what the killed run left, made right after it.
    saved = read_checkpoint(str(killed / f'ckpt-{newest}'))
    assert int(saved[ITERATIONS]) == newest
    # The operative config written at step 0 is complete (written atomically) and parses.
    with gin.unlock_config():
        gin.parse_config_file(str(killed / 'operative_config-0.gin'))
    try:
        assert gin.query_parameter('train_util.train.steps_per_save') == 5
    finally:
        gin.clear_config()

    # 2. Resume from the killed run into a new directory without training (num_steps = the
    # newest step): the final save there is the restored state, which must equal the newest
    # checkpoint exactly -- weights, Adam's moments and the step counter.
    copy_dir, result = job['copy_dir'], job['result2']
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'Resuming training at step {newest} ' in result.stderr
    assert os.path.join(save_dir, 'operative_config-0.gin') in result.stderr  # Parsed.
    assert ckpt_steps(copy_dir) == [newest]
    restored = read_checkpoint(os.path.join(copy_dir, f'ckpt-{newest}'))
    restored.pop('save_counter/.ATTRIBUTES/VARIABLE_VALUE')  # Counts saves per directory.
    saved.pop('save_counter/.ATTRIBUTES/VARIABLE_VALUE')
    assert sorted(restored) == sorted(saved)
    assert sum(name.startswith('optimizer/_variables/') for name in saved) >= 20  # Adam m, v.
    for name, value in saved.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    assert os.path.isfile(os.path.join(copy_dir, f'operative_config-{newest}.gin'))

    # 3. Truncate the newest checkpoint's data and run the same command again: it warns,
    # falls back to the previous checkpoint and continues from its step (not 0).
    result = job['result3']
    assert result.returncode == 0, result.stderr[-3000:]
    log3 = result.stderr
    assert f'Could not restore checkpoint {save_dir}/ckpt-{newest}' in log3
    assert f'Resuming training at step {previous} ' in log3
    # The progress line of each summary step, and the end (a log line when not a terminal).
    assert f'step {previous + 2}/{previous + 2}' in log3 and 'steps/s' in log3
    assert f'step 1/{previous + 2}' not in log3
    final = read_checkpoint(os.path.join(save_dir, f'ckpt-{previous + 2}'))
    assert int(final[ITERATIONS]) == previous + 2

    # 4. Evaluate the newest checkpoint once: eval summaries appear in save_dir.
    result = job['result4']
    assert result.returncode == 0, result.stderr[-3000:]
    eval_dir = os.path.join(save_dir, 'summaries', 'eval')
    tags = set()
    for event_file in tf.io.gfile.glob(os.path.join(eval_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update((value.tag, event.step) for value in event.summary.value)
    assert tags and all(step == previous + 2 for _, step in tags), tags
