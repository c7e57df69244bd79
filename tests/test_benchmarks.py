"""Smoke tests for benchmarks/run.py: the CLI, the table and the JSON schema.

No timing is asserted; `--smoke` shrinks the inputs to batch 1 and 0.5 s.
"""

import json
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = REPO_ROOT / 'benchmarks' / 'run.py'
REQUIRED = ['harmonic_fwd', 'harmonic_fwd_bwd', 'frequency_filter',
            'fft_convolve', 'compute_loudness', 'floor_sin', 'train_step_solo',
            'train_step_solo_b4', 'train_step_solo_jit'] + [
                f'compute_mag_{s}' for s in (2048, 1024, 512, 256, 128, 64)]
RESULT_KEYS = {'name': str, 'description': str, 'first_call_s': float,
               'median_s': float, 'min_s': float, 'max_s': float,
               'times_s': list, 'inner_loops': int, 'peak_rss_mb': float,
               'rss_after_import_mb': float}


def _run(*args):
    return subprocess.run([sys.executable, str(RUN), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600,
                          check=True)


def test_list_names_every_required_workload():
    listed = [line.split()[0] for line in _run('--list').stdout.splitlines()]
    assert set(REQUIRED) <= set(listed)


def test_unknown_workload_is_an_error():
    proc = subprocess.run([sys.executable, str(RUN), '--only', 'nope'],
                          capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 2
    assert 'unknown workload' in proc.stderr


def test_smoke_run_writes_table_and_json(tmp_path):
    out = tmp_path / 'bench.json'
    proc = _run('--only', 'harmonic_fwd', '--repeats', '1', '--warmup', '0',
                '--smoke', '--json', str(out))
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


def test_smoke_train_step_row_reports_steps_per_second(tmp_path):
    # The solo-instrument train step at --smoke sizes (batch 1, 0.5 s, 125 frames, 6000-tap
    # reverb); the decoder keeps its full 4,801,150 weights.
    out = tmp_path / 'train.json'
    proc = _run('--only', 'train_step_solo_b4', '--repeats', '1', '--warmup', '0',
                '--smoke', '--json', str(out))
    result = json.loads(out.read_text())['results']['train_step_solo_b4']
    assert 'error' not in result, result.get('traceback')
    assert result['unit'] == 'steps'
    assert result['rate_per_s'] == 1.0 / result['median_s']
    assert 'batch 1 x 0.5 s, 125 frames, 4,801,150 decoder weights' in result['description']
    assert f'({result["rate_per_s"]:.3g} steps/s)' in proc.stdout
