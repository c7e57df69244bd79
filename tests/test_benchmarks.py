"""Smoke tests for benchmarks/run.py (the CLI, the table and the JSON schema),
benchmarks/timbre_transfer.py and benchmarks/cpu_allocator.py (their tables).

No timing is asserted; `--smoke` shrinks the inputs to batch 1 and 0.5 s. Every check runs the
script in its own processes (each imports TensorFlow), so the runs are background jobs
(tests/background.py): they start with the session and the tests read their results.
"""

import json
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = REPO_ROOT / 'benchmarks' / 'run.py'
REQUIRED = [
    'harmonic_fwd',
    'harmonic_fwd_bwd',
    'frequency_filter',
    'fft_convolve',
    'compute_loudness',
    'floor_sin',
    'train_step_solo',
    'train_step_solo_b4',
    'train_step_solo_jit',
] + [f'compute_mag_{s}' for s in (2048, 1024, 512, 256, 128, 64)]
RESULT_KEYS = {
    'name': str,
    'description': str,
    'first_call_s': float,
    'median_s': float,
    'min_s': float,
    'max_s': float,
    'times_s': list,
    'inner_loops': int,
    'peak_rss_mb': float,
    'rss_after_import_mb': float,
}


def _run(*args):
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )


def _smoke_job(workload, json_name):
    def factory(tmp_path_factory):
        out = tmp_path_factory.mktemp('bench') / json_name
        return lambda: (
            _run(
                '--only', workload, '--repeats', '1', '--warmup', '0', '--smoke', '--json', str(out)
            ),
            out,
        )

    return factory


def _script_job(script, *args):
    """A job running benchmarks/`script` with `args` and one repeat."""
    command = [sys.executable, str(REPO_ROOT / 'benchmarks' / script), *args, '--repeats', '1']
    return lambda tmp_path_factory: (
        lambda: subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=True
        )
    )


BACKGROUND_JOBS = {
    'list': lambda tmp_path_factory: lambda: _run('--list'),
    'unknown': lambda tmp_path_factory: (
        lambda: subprocess.run(
            [sys.executable, str(RUN), '--only', 'nope'],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    ),
    'smoke_harmonic': _smoke_job('harmonic_fwd', 'bench.json'),
    'smoke_train': _smoke_job('train_step_solo_b4', 'train.json'),
    # The timbre-transfer stages on 1 s of the sung melody, CREPE tiny beside the reference.
    'stages': _script_job('timbre_transfer.py', '--seconds', '1', '--capacities', 'tiny'),
    # One 10 s render per allocator, each in its own process.
    'allocator': _script_job('cpu_allocator.py', '--workloads', 'render_10s', '--calls', '1'),
}


@pytest.mark.background_job('list')
def test_list_names_every_required_workload(background_result):
    listed = [line.split()[0] for line in background_result('list').stdout.splitlines()]
    assert set(REQUIRED) <= set(listed)


@pytest.mark.background_job('unknown')
def test_unknown_workload_is_an_error(background_result):
    proc = background_result('unknown')
    assert proc.returncode == 2
    assert 'unknown workload' in proc.stderr


@pytest.mark.background_job('smoke_harmonic')
def test_smoke_run_writes_table_and_json(background_result):
    # benchmarks/run.py --only harmonic_fwd --repeats 1 --warmup 0 --smoke --json <tmp>/bench.json
    proc, out = background_result('smoke_harmonic')
    assert '| harmonic_fwd |' in proc.stdout
    assert '| floor_sin |' in proc.stdout

    data = json.loads(out.read_text())
    assert data['meta']['smoke'] is True
    assert data['meta']['sizes']['batch'] == 1
    assert data['meta']['repeats'] == 1
    # The floor is run automatically; rows come back in registry order.
    assert list(data['results']) == ['harmonic_fwd', 'floor_sin']
    op, floor = data['results']['harmonic_fwd'], data['results']['floor_sin']
    for result in (op, floor):
        assert 'error' not in result, result.get('traceback')
        for key, kind in RESULT_KEYS.items():
            assert isinstance(result[key], kind), key
        assert len(result['times_s']) == 1
        assert result['min_s'] <= result['median_s'] <= result['max_s']
    assert op['floor'] == 'floor_sin' and floor['floor'] is None
    assert op['floor_median_s'] == floor['median_s']
    assert op['ratio_to_floor'] > 0


@pytest.mark.background_job('smoke_train')
def test_smoke_train_step_row_reports_steps_per_second(background_result):
    # The solo-instrument train step at --smoke sizes (batch 1, 0.5 s, 125 frames, 6000-tap
    # reverb); the decoder keeps its full 4,801,150 weights.
    # benchmarks/run.py --only train_step_solo_b4 --repeats 1 --warmup 0 --smoke --json ...
    proc, out = background_result('smoke_train')
    result = json.loads(out.read_text())['results']['train_step_solo_b4']
    assert 'error' not in result, result.get('traceback')
    assert result['unit'] == 'steps'
    assert result['rate_per_s'] == 1.0 / result['median_s']
    assert 'batch 1 x 0.5 s, 125 frames, 4,801,150 decoder weights' in result['description']
    assert f'({result["rate_per_s"]:.3g} steps/s)' in proc.stdout


@pytest.mark.background_job('stages')
def test_timbre_transfer_stages_table(background_result):
    lines = background_result('stages').stdout.splitlines()
    rows = {line.split(' | ')[0].lstrip('| '): line for line in lines if line.startswith('| ')}
    for stage in (
        'restore',
        "features full @250 (the original's setting)",
        'features tiny @50',
        'predict eager, first call',
        'predict traced, later calls',
    ):
        assert stage in rows, (stage, lines)
        assert float(rows[stage].split(' | ')[1]) > 0, rows[stage]
    assert 'vs full @250: median' in rows['features tiny @50']


@pytest.mark.background_job('allocator')
def test_cpu_allocator_table(background_result):
    lines = background_result('allocator').stdout.splitlines()
    rows = [line.split(' | ') for line in lines if line.startswith('| render_10s')]
    assert [row[1] for row in rows] == ['false', 'true'], lines
    for row in rows:
        assert float(row[2].split()[0]) > 0, row  # calls/s
        assert int(row[5].replace(',', '')) >= 0 and float(row[6].rstrip(' |').replace(',', '')) > 0
