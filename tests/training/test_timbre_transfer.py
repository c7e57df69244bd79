"""Timbre transfer: `timbre_transfer.transfer` and the `ddsp_timbre_transfer` command.

The command's file handling, outputs and errors run against the short training run that
test_model_dir.py exports (`MODEL`: a real model directory, 3 training steps); the quality
checks below run against every shipped pretrained instrument (`SHIPPED`, parametrized).

The input is the sung melody of data/voice (never used in training). Its f0 is taken once per
model with CREPE tiny (the tool's default is full; tiny keeps the suite short) and reused for
the other settings (`transfer(features=...)`); the outputs' f0 is CREPE tiny too. What is
asserted is what the issue asks of each instrument: the output follows the adjusted f0, the
octave shifts move it by 1200 cents, a -10 dB loudness shift lowers it by 10 dB without moving
the pitch, and quieter note-offs are quieter. The measures are the evaluation recipe's
(`recipes.instruments.evaluate.transfer_checks`), so the model cards' table and these tests
agree by construction. Each shipped instrument is measured in its own child process, a
background job (tests/background.py) that runs beside the other tests: loading the model, five
transfers and their CREPE cost 10-15 s an instrument. Bad inputs go through the command
in-process (`run(argv)`); one real console-script run checks the entry point.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ddsp import audio_io
from ddsp.training import ddsp_timbre_transfer, instrument, model_dir, timbre_transfer
from recipes.instruments import evaluate

VOICE = evaluate.VOICE
SHIPPED = model_dir.available_models()
REPO = pathlib.Path(__file__).resolve().parents[2]

# What the tests below read of one shipped instrument, measured in a fresh process.
_MEASURE = """
import json, sys
from ddsp import audio_io
from ddsp.training import instrument
from recipes.instruments import evaluate
model = instrument.load_model(sys.argv[1])
audio, rate, _ = audio_io.read_audio(evaluate.VOICE)
decay = evaluate.reverb_decay(model.reverb_ir, model.sample_rate) if model.has_reverb else None
print(json.dumps({
    'has_reverb': model.has_reverb,
    'decay': decay,
    'card_reverb': model.card.metrics.get('reverb'),
    'checks': evaluate.transfer_checks(model, audio, rate, crepe='tiny', input_crepe='tiny'),
}, default=lambda value: value.item()))  # NumPy scalars.
"""


def _measure_job(name):
    def factory(tmp_path_factory):
        del tmp_path_factory

        def run():
            result = subprocess.run(
                [sys.executable, '-c', _MEASURE, name],
                cwd=REPO,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            return json.loads(result.stdout.strip().splitlines()[-1])

        return run

    return factory


BACKGROUND_JOBS = {f'measure_{name}': _measure_job(name) for name in SHIPPED}


def _shipped(below_target, names=SHIPPED, measured=True):
    """`names` as parameters, each reading its background job if `measured`; strict xfails
    where a model is known to miss the target (`below_target[name]` says by how much)."""
    params = []
    for name in names:
        marks = [pytest.mark.background_job(f'measure_{name}')] if measured else []
        if name in below_target:
            marks.append(pytest.mark.xfail(strict=True, reason=below_target[name]))
        params.append(pytest.param(name, marks=marks))
    return params


@pytest.fixture(scope='module')
def model_path():
    from .test_model_dir import exported_dir

    return exported_dir()


@pytest.mark.parametrize('name', SHIPPED)
def test_a_shipped_instrument_is_small_and_carries_its_metrics(name):
    files = model_dir.validate_model_dir(model_dir.resolve_model_dir(name))
    assert files.card.name == name
    size = sum(
        os.path.getsize(os.path.join(files.directory, f)) for f in os.listdir(files.directory)
    )
    assert size <= 5_000_000, f'{name}: {size} bytes'
    assert files.card.metrics.get('held_out'), f'{name}: no held-out metrics in its card'


# Models whose held-out resynthesis misses a target of the issue (their cards hold the values).
HELD_OUT_BELOW_TARGET = {}


@pytest.mark.parametrize('name', _shipped(HELD_OUT_BELOW_TARGET, measured=False))
def test_held_out_resynthesis_meets_the_targets(name):
    """The card's held-out measures (`recipes.instruments.evaluate`, CREPE full, on the reserved
    tunes in two soundfonts) against the issue's targets. The held-out audio is rendered with
    FluidSynth and is not shipped, so this reads what `evaluate --write_cards` measured; the
    reverb test above checks that the cards match their weights."""
    held_out = model_dir.validate_model_dir(model_dir.resolve_model_dir(name)).card.metrics[
        'held_out'
    ]
    assert held_out['crepe'] == 'full', held_out['crepe']
    soundfonts = {key: value for key, value in held_out.items() if isinstance(value, dict)}
    assert len(soundfonts) == 2, sorted(soundfonts)
    for soundfont, row in soundfonts.items():
        assert row['seconds'] >= 30, (soundfont, row)
        assert row['loudness_l1_db'] <= 1.5, (soundfont, row)
        assert row['f0_l1_semitones'] <= 0.1, (soundfont, row)
        assert row['f0_outlier_ratio'] == 0, (soundfont, row)
        assert row['f0_confident_ratio'] >= 0.95, (soundfont, row)


# The recipe's instruments (recipes/instruments/recipe.json: the violin, flute, trumpet
# and cello, and the clarinet) all ship; strict xfails name those still to train.
RECIPE_INSTRUMENTS = sorted(
    json.loads((REPO / 'recipes' / 'instruments' / 'recipe.json').read_text())['instruments']
)
NOT_TRAINED_YET = {}


@pytest.mark.parametrize('name', _shipped(NOT_TRAINED_YET, RECIPE_INSTRUMENTS, measured=False))
def test_every_instrument_of_the_recipe_ships(name):
    assert name in SHIPPED, f'{name} is in recipes/instruments/recipe.json but not shipped'


# Models whose learned reverb decays by less than the test asks (the cards hold the measures).
REVERB_BELOW_TARGET = {}


@pytest.mark.parametrize('name', _shipped(REVERB_BELOW_TARGET))
def test_a_shipped_instrument_has_a_decaying_reverb(background_result, name):
    """The learned reverb behaves like a (dry) room: its last quarter holds at least 10 dB
    less energy than its first, and the card carries the same measure."""
    measured = background_result(f'measure_{name}')
    assert measured['has_reverb'], name
    decay = measured['decay']
    assert decay['decay_db'] >= 10, decay
    assert measured['card_reverb'] == decay, f'{name}: rerun evaluate --write_cards'


@pytest.fixture(scope='module')
def voice():
    audio, rate, _ = audio_io.read_audio(VOICE)
    return audio, rate


@pytest.fixture(scope='module')
def models():
    return {}


def load(models, name):
    if name not in models:
        models[name] = instrument.load_model(name)
    return models[name]


@pytest.fixture(scope='module')
def small_model(models, model_path):
    return load(models, model_path)


# Models known to miss the target for following the adjusted f0 (95 % of note-on frames
# within 50 cents); the model cards hold the measured values. Strict, so that a mark goes once
# its model reaches the target.
BELOW_TARGET = {}


@pytest.mark.parametrize('name', _shipped(BELOW_TARGET))
def test_transfer_follows_the_adjusted_f0(background_result, name):
    checks = background_result(f'measure_{name}')['checks']
    assert checks['f0_within_50_cents_of_adjusted'] >= 0.95, checks


# Models whose note-offs miss that target (the cards hold the measured values).
NOTE_OFFS_BELOW_TARGET = {}


@pytest.mark.parametrize('name', _shipped(NOTE_OFFS_BELOW_TARGET))
def test_transfer_turns_note_offs_down_by_the_quiet_amount(background_result, name):
    """On the note-off frames where it can show (see `evaluate.transfer_checks`), the output is
    turned down as the input is, within 2 dB (the loudness-shift tolerance)."""
    checks = background_result(f'measure_{name}')['checks']
    assert checks['quiet_20_frames'] >= 10, checks
    assert checks['quiet_20_input_db'] < -5, checks
    assert abs(checks['quiet_20_output_db'] - checks['quiet_20_input_db']) <= 2, checks


@pytest.mark.parametrize('name', _shipped({}))
def test_transfer_of_the_sung_melody(background_result, name):
    checks = background_result(f'measure_{name}')['checks']
    assert checks['notes_detected']
    for shift in (1, -1):
        # Measured where CREPE can read the pitch before and after the shift.
        assert checks[f'pitch_shift_{shift:+d}_frames'] >= 100, checks
        assert abs(checks[f'pitch_shift_{shift:+d}_median_cents'] - 1200 * shift) <= 20, checks
    assert abs(checks['loudness_shift_-10_db'] + 10) <= 2, checks
    assert checks['loudness_shift_-10_f0_median_cents'] <= 10, checks


def test_transfer_keeps_the_input_rate_and_length(small_model, voice):
    audio, rate = voice
    stereo_44k = audio_io.resample(audio, rate, 44100)[: 44100 * 3]
    result = timbre_transfer.transfer(stereo_44k, 44100, small_model, crepe_model='tiny')
    assert result.sample_rate == 44100 and result.audio.shape == stereo_44k.shape
    assert set(result.timings) >= {'features', 'restore', 'prediction'}
    assert np.all(np.isfinite(result.audio)) and np.max(np.abs(result.audio)) > 0.01


def test_silence_gives_silence_and_a_note(small_model):
    result = timbre_transfer.transfer(np.zeros(16000), 16000, small_model, crepe_model='tiny')
    assert not result.notes_detected
    assert 'no notes detected' in timbre_transfer.log_no_notes(result)


# ------------------------------------------------------------------------------------------------
# The command.
# ------------------------------------------------------------------------------------------------
def cli(*argv):
    return ddsp_timbre_transfer.run([str(a) for a in argv])


def test_cli_writes_wav_at_the_input_rate_and_a_png(tmp_path, voice, capsys, model_path):
    audio, rate = voice
    source = tmp_path / 'voice_22k.wav'
    clip = audio_io.resample(audio[: rate * 3], rate, 22050)
    sf.write(str(source), np.stack([clip, clip], axis=1), 22050)
    out = tmp_path / 'out' / 'violin.wav'
    assert cli(source, f'--model={model_path}', f'--output={out}', '--crepe_model=tiny') == 0
    printed = capsys.readouterr().out
    for stage in ('features', 'restore', 'prediction'):
        assert stage in printed
    info = sf.info(str(out))
    assert info.samplerate == 22050 and info.frames == len(clip) and info.channels == 1
    assert (tmp_path / 'out' / 'violin.png').stat().st_size > 10_000
    assert sorted(os.listdir(tmp_path / 'out')) == ['violin.png', 'violin.wav']


def test_cli_silence_says_no_notes(tmp_path, capsys, model_path):
    source = tmp_path / 'silence.wav'
    sf.write(str(source), np.zeros(16000, np.float32), 16000)
    out = tmp_path / 'out'
    argv = [source, f'--model={model_path}', f'--output={out}', '--no_plot', '--crepe_model=tiny']
    assert cli(*argv) == 0
    assert 'no notes detected' in capsys.readouterr().out
    assert os.listdir(out) == [f'silence.{os.path.basename(model_path)}.wav']


def bad_inputs(tmp_path):
    good = np.sin(np.arange(16000) * 0.1).astype(np.float32) * 0.3
    (tmp_path / 'empty.wav').write_bytes(b'')
    nan = good.copy()
    nan[10] = np.nan
    sf.write(str(tmp_path / 'nan.wav'), nan, 16000, subtype='FLOAT')
    sf.write(str(tmp_path / 'full.wav'), good, 16000)
    (tmp_path / 'truncated.wav').write_bytes((tmp_path / 'full.wav').read_bytes()[:3000])
    (tmp_path / 'notes.txt').write_text('not audio\n' * 50)
    sf.write(str(tmp_path / 'short.wav'), good[:3200], 16000)
    return {
        'empty.wav': '0 bytes',
        'nan.wav': 'NaN',
        'truncated.wav': 'truncated',
        'notes.txt': 'unreadable',
        'short.wav': 'at least 0.25 s',
    }


def test_cli_bad_inputs_are_one_line_errors_and_leave_no_output(tmp_path, capsys, model_path):
    cases = bad_inputs(tmp_path)
    out_dir = tmp_path / 'out'
    for name, fragment in cases.items():
        status = cli(tmp_path / name, f'--model={model_path}', f'--output={out_dir}')
        err = capsys.readouterr().err.strip()
        assert status == 1, name
        assert err.count('\n') == 0 and err.startswith('ddsp_timbre_transfer: error:'), err
        assert name in err and fragment in err, err
    assert not out_dir.exists() or os.listdir(out_dir) == []


def test_cli_an_existing_output_survives_a_failed_run(tmp_path, capsys, model_path):
    bad_inputs(tmp_path)
    out = tmp_path / 'keep.wav'
    out.write_bytes(b'old')
    assert cli(tmp_path / 'nan.wav', f'--model={model_path}', f'--output={out}') == 1
    assert out.read_bytes() == b'old' and os.listdir(tmp_path).count('keep.wav') == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    'remove, fragment',
    [('ckpt-', 'checkpoint'), ('dataset_statistics', 'statistics'), ('operative_config', 'gin')],
)
def test_cli_a_broken_model_directory_names_what_is_missing(
    tmp_path, capsys, model_path, remove, fragment
):
    broken = tmp_path / 'broken'
    shutil.copytree(model_path, broken)
    for name in os.listdir(broken):
        if name.startswith(remove):
            os.remove(broken / name)
    bad_inputs(tmp_path)
    out = tmp_path / 'out.wav'
    assert cli(tmp_path / 'full.wav', f'--model={broken}', f'--output={out}') == 1
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and str(broken) in err and fragment in err, err
    assert not out.exists()


def test_cli_an_unknown_model_lists_the_available_ones(tmp_path, capsys):
    bad_inputs(tmp_path)
    assert cli(tmp_path / 'full.wav', '--model=tuba', f'--output={tmp_path / "o.wav"}') == 1
    err = capsys.readouterr().err
    assert 'tuba' in err and all(name in err for name in SHIPPED)


def test_cli_flags_errors(tmp_path, capsys):
    assert cli('--model=violin') == 1
    assert 'input' in capsys.readouterr().err
    assert cli(VOICE) == 1
    assert '--output' in capsys.readouterr().err
    (tmp_path / 'a.wav').write_bytes(b'x')
    assert cli(VOICE, VOICE, f'--output={tmp_path / "a.wav"}') == 1
    assert 'directory' in capsys.readouterr().err


def test_console_script_runs(tmp_path, model_path):
    out = tmp_path / 'o.wav'
    script = os.path.join(os.path.dirname(sys.executable), 'ddsp_timbre_transfer')
    result = subprocess.run(
        [script, VOICE, f'--model={model_path}', f'--output={out}', '--crepe_model=tiny'],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'prediction' in result.stdout and sf.info(str(out)).samplerate == 16000
