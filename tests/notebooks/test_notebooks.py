"""The colab/ notebooks, run top to bottom by a real Jupyter kernel with small parameters.

Each notebook is a background job (tests/background.py): a child process,
tests/notebooks/execute.py, starts an ipykernel, runs the notebook in a temporary directory
with the values of `Run.parameters` assigned right after its `parameters` cell, evaluates the
`Run.readback` expressions in the kernel's namespace and writes them, with the time taken, as
JSON. The tests assert what each notebook claims on those values. The Colab-only cells (upload,
microphone, Drive, download, TensorBoard) sit behind `IN_COLAB` and are not run here.

Thresholds come from runs on this 2-core machine (the measured values are in the comments).
`test_stored_notebooks_are_clean` needs no kernel: outputs cleared, one `parameters` cell that
assigns every value the tests override, the Colab-only imports behind `IN_COLAB`.
"""

import dataclasses
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
COLAB = REPO / 'colab'
EXECUTE = pathlib.Path(__file__).with_name('execute.py')
KERNEL_MODULES = ('nbclient', 'nbformat', 'ipykernel', 'matplotlib')
needs_kernel = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in KERNEL_MODULES),
    reason=f'running the notebooks needs {", ".join(KERNEL_MODULES)} (pip install -e .[notebooks])',
)


@dataclasses.dataclass(frozen=True)
class Run:
    """A notebook (path under colab/), the values it runs with, what is read back."""

    notebook: str
    parameters: dict
    readback: dict
    setup: str = ''


# The timbre-transfer check: CREPE (tiny) on the WAV the notebook wrote, against the f0 the
# model was given, on the note frames.
_WAV_PITCH = """
_wav, _rate, _ = audio_io.read_audio(OUTPUT_PATH)
_f0, _ = spectral_ops.compute_f0(_wav, result.frame_rate, sample_rate=_rate, model_capacity='tiny')
_n = min(len(_f0), len(result.mask_on))
_given = result.adjusted['f0_hz'][:_n]
_on = result.mask_on[:_n] & (_given > 0)
_cents = 1200 * np.abs(np.log2(np.maximum(_f0[:_n][_on], 1e-3) / _given[_on]))
"""

# The training demo's model directory checked as a whole (the notebook itself loads it with
# `instrument.load_model` and plays a melody with it through `timbre_transfer.transfer`).
_MODEL_DIR = """
import zipfile as _zipfile
from ddsp.training import model_dir
_files = model_dir.validate_model_dir(str(export_dir))
_zipped = _zipfile.ZipFile(zip_path).namelist()
"""

RUNS = {
    'processor': Run(
        'tutorials/0_processor.ipynb',
        {'SECONDS': 1.0},
        {
            'sample_rate': 'SAMPLE_RATE',
            'f0_hz': 'F0_HZ',
            'n_harmonics': 'N_HARMONICS',
            'min_amplitude': 'float(amplitudes.min())',
            'sum_error': 'float(np.abs(distribution.sum(-1) - 1).max())',
            'above_max': 'float(distribution[..., above_nyquist].max())',
            'below_min': 'float(distribution[..., ~above_nyquist].min())',
            'n_zeroed': 'int(np.all(distribution == 0, axis=(0, 1)).sum())',
            'render_difference': 'render_difference',
            'rms': 'float(np.sqrt(np.mean(np.square(audio))))',
        },
    ),
    'synths_and_effects': Run(
        'tutorials/1_synths_and_effects.ipynb',
        {'SECONDS': 1.0},
        {
            'f0_hz': 'F0_HZ',
            'strongest_hz': 'strongest_hz',
            'second_to_first': 'second_to_first',
            'third_to_first': 'third_to_first',
            'noise_hz': '[noise_start_hz, noise_end_hz]',
            'band_start_hz': '[centre_hz[0], centre_hz[n_frames // 10]]',
            'band_end_hz': '[centre_hz[-n_frames // 10], centre_hz[-1]]',
            'square_ratio': 'square_ratio',
            'sine_ratio': 'sine_ratio',
            't60': '[expected_t60, measured_t60]',
            'bend_measured': 'measured_bend_cents',
            'bend_expected': 'expected_bend_cents',
        },
    ),
    'processor_group': Run(
        'tutorials/2_processor_group.ipynb',
        {'SECONDS': 1.0, 'IR_SECONDS': 0.5},
        {
            'group_difference': 'group_difference',
            'gin_difference': 'gin_difference',
            'rms': 'float(np.sqrt(np.mean(np.square(audio_chain))))',
            'lengths': '[int(a.shape[-1]) for a in (audio_chain, audio_group, audio_gin)]',
            'n_samples': 'n_samples',
            'ir_samples': 'ir_samples',
        },
    ),
    'training': Run(
        'tutorials/3_training.ipynb',
        {'CLIP_SECONDS': 1.0, 'TRAIN_STEPS': 40, 'CREPE_MODEL': 'tiny'},
        {
            'losses': 'losses',
            'loss_ratio': 'loss_ratio',
            'weights': '[python_weights, gin_weights]',
            'resynthesis_rms': 'float(np.sqrt(np.mean(np.square(resynthesis))))',
        },
    ),
    'core_functions': Run(
        'tutorials/4_core_functions.ipynb',
        {'SECONDS': 0.5},
        {
            'seconds': 'SECONDS',
            'chord_hz': 'chord_hz.tolist()',
            'chord_peaks_hz': 'chord_peaks_hz.tolist()',
            'lookup': '[lookup_error, lookup_bound]',
            'transition_hz': '[transition_hz[w] for w in sorted(transition_hz)]',
            'upsampling': 'upsampling_rms_error',
            'linear_true': 'linear_true.tolist()',
            'linear_false': 'linear_false.tolist()',
            'window_range': 'window_range',
            'cubic_range': 'cubic_range',
            'constant_error': 'constant_error',
        },
    ),
    'timbre_transfer': Run(
        'demos/timbre_transfer.ipynb',
        {'CLIP_SECONDS': 4.0, 'CREPE_MODEL': 'tiny'},
        {
            'wav_rate': '_rate',
            'wav_samples': 'len(_wav)',
            'clip': '[clip_rate, len(clip)]',
            'wav_difference': 'float(np.max(np.abs(_wav - result.audio)))',
            'note_frames': 'int(_on.sum())',
            'within_50_cents': 'float(np.mean(_cents < 50))',
            'median_cents': 'float(np.median(_cents))',
            'notebook_within_50_cents': 'within_50_cents',
            'timings': 'timings',
        },
        setup=_WAV_PITCH,
    ),
    'train_autoencoder': Run(
        'demos/train_autoencoder.ipynb',
        {
            'AUDIO_FILES': '',  # A clip written by `_inputs`.
            'TRAIN_STEPS': 4,
            'BATCH_SIZE': 2,
            'STEPS_PER_SAVE': 4,
            'CREPE_MODEL': 'tiny',
            'PARALLEL_PREPARATION': False,
            'TRANSFER_SECONDS': 2.0,
        },
        {
            'name': 'MODEL_NAME',
            'card': '[_files.card.name, _files.card.training_steps, _files.card.frame_rate]',
            'train_steps': 'TRAIN_STEPS',
            'loaded_from': 'trained.directory',
            'export_dir': 'str(export_dir)',
            'resynthesis': '[len(resynthesis), bool(np.all(np.isfinite(resynthesis)))]',
            'transfer': '[len(transfer.audio), len(melody)]',
            'transfer_finite': 'bool(np.all(np.isfinite(transfer.audio)))',
            'transfer_rms': 'float(np.sqrt(np.mean(np.square(transfer.audio))))',
            'zipped': '_zipped',
        },
        setup=_MODEL_DIR,
    ),
}

# A 6 s violin clip for the training demo: 3 examples of 4 s, one every second.
TRAINING_CLIP = REPO / 'data' / 'violin' / 'dark_woman.flac'
TRAINING_CLIP_SECONDS = (0.3, 6.3)


def _inputs(name: str, cwd: pathlib.Path) -> dict:
    """Files a notebook reads, written into its directory; its parameter overrides."""
    parameters = dict(RUNS[name].parameters)
    if name == 'train_autoencoder':
        import soundfile

        audio, rate = soundfile.read(TRAINING_CLIP)
        start, end = (int(s * rate) for s in TRAINING_CLIP_SECONDS)
        clip = cwd / 'violin_clip.flac'
        soundfile.write(clip, audio[start:end], rate)
        parameters['AUDIO_FILES'] = str(clip)
    return parameters


def _job(name: str):
    """The background job of one notebook: the factory writes its inputs, the job runs it."""

    def factory(tmp_path_factory):
        cwd = tmp_path_factory.mktemp(f'notebook_{name}')
        parameters = _inputs(name, cwd)
        run = RUNS[name]

        def job():
            output = cwd / 'result.json'
            command = [
                sys.executable,
                str(EXECUTE),
                str(COLAB / run.notebook),
                f'--cwd={cwd}',
                f'--output={output}',
                f'--parameters={json.dumps(parameters)}',
                f'--readback={json.dumps(run.readback)}',
                f'--setup={run.setup}',
            ]
            done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0 and output.exists(), done.stderr[-3000:]
            return json.loads(output.read_text())

        return job

    return factory


BACKGROUND_JOBS = {name: _job(name) for name in RUNS}


@pytest.fixture
def readback(background_result):
    """`readback(name)`: the values read back from the executed notebook (fails with the
    failing cell's source and error if the notebook raised)."""

    def get(name):
        result = background_result(name)
        error = result['error']
        if error is not None:
            pytest.fail(
                f'{RUNS[name].notebook} failed in cell {error["cell"]}:\n{error["source"]}\n'
                f'{error["error"]}\n{error.get("traceback", "")}',
                pytrace=False,
            )
        print(
            f'{RUNS[name].notebook}: {result["seconds"]:.1f} s, kernel CPU '
            f'{result["kernel_cpu_seconds"]:.1f} s'
        )
        return result['readback']

    return get


def executed(name):
    """Marks a test that reads the run of notebook `name` (a slow background job)."""

    def mark(test):
        return pytest.mark.slow(needs_kernel(pytest.mark.background_job(name)(test)))

    return mark


# -- Tutorial 0: the Processor ---------------------------------------------------------------
@executed('processor')
def test_processor_controls_are_valid(readback):
    name = 'processor'
    values = readback(name)
    harmonics_hz = values['f0_hz'] * np.arange(1, values['n_harmonics'] + 1)
    expected_zeroed = int(np.sum(harmonics_hz >= values['sample_rate'] / 2))  # 12 of 30
    assert expected_zeroed > 0  # The example does reach past Nyquist.
    assert values['min_amplitude'] > 0
    assert values['sum_error'] < 1e-5  # Measured 0.
    assert values['above_max'] == 0.0
    assert values['n_zeroed'] == expected_zeroed
    assert values['below_min'] > 0
    assert values['render_difference'] < 1e-6  # get_signal(**controls) == __call__
    assert values['rms'] > 1e-3


# -- Tutorial 1: synthesizers and effects ----------------------------------------------------
@executed('synths_and_effects')
def test_synths_and_effects_measure_as_claimed(readback):
    name = 'synths_and_effects'
    values = readback(name)
    # Harmonic: the peak at f0 (220.0 Hz measured), harmonics at 1/k (0.500, 0.333).
    assert abs(values['strongest_hz'] - values['f0_hz']) < 1.0
    assert abs(values['second_to_first'] - 1 / 2) < 0.02
    assert abs(values['third_to_first'] - 1 / 3) < 0.02
    # FilteredNoise: the centroid follows the band (554 Hz in 500-630, 4433 Hz in 3970-4950).
    for centroid, (low, high) in zip(
        values['noise_hz'], [values['band_start_hz'], values['band_end_hz']]
    ):
        assert 0.8 * low < centroid < 1.2 * high
    # Wavetable: a square wave's third harmonic is 1/3 of the first (0.320 measured over the
    # first tenth, where 5 % of the sine is already mixed in); a sine has none (0.019 over
    # the last tenth, 5 % square).
    assert abs(values['square_ratio'] - 1 / 3) < 0.04
    assert values['sine_ratio'] < 0.05
    # ExpDecayReverb: T60 measured on the IR (1.062-1.070 s) against the formula (1.066 s).
    expected, measured = values['t60']
    assert abs(measured - expected) < 0.1 * expected
    # ModDelay vibrato: -126.4 / +117.9 cents measured, -126.9 / +118.2 expected.
    for measured, expected in zip(values['bend_measured'], values['bend_expected']):
        assert abs(measured - expected) < 0.05 * abs(expected)


# -- Tutorial 2: the ProcessorGroup ----------------------------------------------------------
@executed('processor_group')
def test_processor_group_renders_agree(readback):
    name = 'processor_group'
    values = readback(name)
    assert values['rms'] > 0.01  # 0.14: not trivially equal silence.
    assert values['group_difference'] < 1e-6  # Measured 0: the same samples.
    assert values['gin_difference'] < 1e-6
    # reverb(audio, ir): as long as the audio, not the IR (the original tutorial's bug).
    assert values['ir_samples'] != values['n_samples']
    assert values['lengths'] == [values['n_samples']] * 3


# -- Tutorial 3: training --------------------------------------------------------------------
# The notebook states: on a 1 s clip, 40 steps bring the mean of the last five losses below
# 0.75 of the mean of the first five. Measured with the notebook: 0.44, 0.47, 0.45 (SEED 0, 1,
# 2); with other initial weights (the same model built in another order) 0.51 to 0.60. The loss
# settles near 9.5 from about step 25. With the defaults (4 s, 300 steps): 0.51.
LOSS_RATIO = 0.75


@executed('training')
def test_training_loss_falls(readback):
    name = 'training'
    values = readback(name)
    assert len(values['losses']) == RUNS[name].parameters['TRAIN_STEPS']
    assert np.all(np.isfinite(values['losses']))
    assert values['loss_ratio'] < LOSS_RATIO, values['losses']
    python_weights, gin_weights = values['weights']
    assert python_weights == gin_weights > 0
    assert values['resynthesis_rms'] > 1e-3


# -- Tutorial 4: the core functions ----------------------------------------------------------
@executed('core_functions')
def test_core_functions_measure_as_claimed(readback):
    name = 'core_functions'
    values = readback(name)
    bin_hz = 1.0 / values['seconds']
    assert np.allclose(values['chord_peaks_hz'], values['chord_hz'], atol=bin_hz)
    # Linear interpolation of a 64-entry sine table: error 0.001201, bound 0.001205.
    error, bound = values['lookup']
    assert 0.5 * bound < error <= 1.001 * bound
    # Transition widths of windowed-sinc low-passes, 4x longer each: 908, 228, 58 Hz.
    widths = values['transition_hz']
    assert all(3.0 < wide / narrow < 5.0 for wide, narrow in zip(widths, widths[1:])), widths
    # 2x upsampling of a band-limited triangle, RMS error: nearest 0.047, linear 0.0053,
    # sinc 0.00013.
    errors = values['upsampling']
    assert errors['sinc'] < 0.1 * errors['linear'] < errors['linear'] < errors['nearest']
    # resample's add_endpoint: frames [0, 1, 0, 2] land on steps 0, 4, 8, 12, the last held;
    # without it, the first and last frames land on the first and last steps.
    assert values['linear_true'][::4] == [0.0, 1.0, 0.0, 2.0]
    assert values['linear_true'][12:] == [2.0] * 4
    assert np.allclose(values['linear_false'][::5], [0.0, 1.0, 0.0, 2.0], atol=1e-6)
    # Hann windows stay within the frames' range ([0, 1]); cubic overshoots (-0.19, 1.19).
    low, high = values['window_range']
    assert -1e-6 <= low and high <= 1 + 1e-6
    low, high = values['cubic_range']
    assert low < -0.05 and high > 1.05
    assert values['constant_error'] < 1e-5


# -- Demo: timbre transfer -------------------------------------------------------------------
# CREPE tiny on the written output against the adjusted f0, on the note frames of the first
# 4 s of the sung melody: 78 % within 50 cents, median error 4.8-5.0 cents (76 % on 6 s, 76 %
# on the whole clip in the violin's model card). The misses are runs of 4-8 frames at note
# changes: the voice glides between notes, the violin holds the old one and then jumps.
WITHIN_50_CENTS = 0.65
MEDIAN_CENTS = 20.0


@executed('timbre_transfer')
def test_timbre_transfer_follows_the_adjusted_pitch(readback):
    name = 'timbre_transfer'
    values = readback(name)
    clip_rate, clip_samples = values['clip']
    assert (values['wav_rate'], values['wav_samples']) == (clip_rate, clip_samples)
    assert values['wav_difference'] < 1e-3  # The WAV holds the result (16-bit).
    assert values['note_frames'] >= 100  # 176 of the 201 frames.
    assert values['within_50_cents'] >= WITHIN_50_CENTS
    assert values['median_cents'] < MEDIAN_CENTS
    assert abs(values['notebook_within_50_cents'] - values['within_50_cents']) < 0.1
    assert all(values['timings'][stage] > 0 for stage in ('features', 'restore', 'prediction'))


# -- Demo: training an autoencoder -----------------------------------------------------------
@executed('train_autoencoder')
def test_training_demo_exports_a_model_that_loads_and_runs(readback):
    name = 'train_autoencoder'
    values = readback(name)
    name_on_card, steps, frame_rate = values['card']
    assert (name_on_card, steps, frame_rate) == (values['name'], values['train_steps'], 50)
    # The notebook loaded the exported directory and played a melody with it.
    assert os.path.samefile(values['loaded_from'], values['export_dir'])
    assert values['resynthesis'][1] and values['resynthesis'][0] > 0
    assert values['transfer'][0] == values['transfer'][1]  # As long as the melody.
    assert values['transfer_finite'] and values['transfer_rms'] > 0
    assert f'{values["name"]}/model_card.json' in values['zipped']


# -- The stored notebooks --------------------------------------------------------------------
def _cells(path):
    with open(path, encoding='utf-8') as f:
        notebook = json.load(f)
    assert notebook['nbformat'] == 4
    return notebook['cells']


def _source(cell):
    return ''.join(cell['source'])


@pytest.mark.parametrize('name', sorted(RUNS))
def test_stored_notebooks_are_clean(name):
    cells = _cells(COLAB / RUNS[name].notebook)
    code = [cell for cell in cells if cell['cell_type'] == 'code']
    assert all(cell['outputs'] == [] and cell['execution_count'] is None for cell in code)
    assert "IN_COLAB = importlib.util.find_spec('google.colab') is not None" in _source(code[0])
    tagged = [cell for cell in code if 'parameters' in cell['metadata'].get('tags', [])]
    assert len(tagged) == 1
    for parameter in RUNS[name].parameters:
        assert re.search(rf'^{parameter} = ', _source(tagged[0]), re.M), parameter
    for cell in code[1:]:
        if 'google.colab' in _source(cell):
            assert 'if IN_COLAB' in _source(cell), _source(cell)
    assert len({cell['id'] for cell in cells}) == len(cells)


def test_every_notebook_is_run():
    stored = {
        str(p.relative_to(COLAB))
        for p in COLAB.rglob('*.ipynb')
        if '.ipynb_checkpoints' not in p.parts  # Jupyter's autosaves.
    }
    assert stored == {run.notebook for run in RUNS.values()}
