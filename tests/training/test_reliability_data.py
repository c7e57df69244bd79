"""Reliability of data preparation: bad inputs, faults and crashes, as tables to extend.

`CASES`: one row per bad input or fault. A row is a `Case`: its name, `make(env)` (builds the
bad input and returns the action to run) and the expected outcome: `raises` (an exception
type) with `match` (fragments the one-line message must contain), or `exit_code` (the CLI's
exit status) with `match` (fragments of its stderr); `on_disk(env, result)` then checks the
files. `env` holds a fresh copy of a good dataset at `env.prefix` (`env.old` is its snapshot)
and the input files (`env.good`, `env.bad`).

`FAULTS`: `ddsp_prepare_tfrecord` reruns SIGKILLed at a named point of the replacement
(`outputs.FAULT_POINTS`, through `DDSP_PREPARE_PAUSE_AT`), with what a reader sees before
recovery, how recovery happens (a call of `outputs.recover`, or the next run, which recovers
first) and which complete dataset must be there afterwards.

Runs are audio only (no CREPE) on the in-memory DirectRunner, except the chunk-boundary test,
which runs CREPE tiny on one 30-s file.
"""

import contextlib
import dataclasses
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from typing import Any, Callable, Optional, Tuple

import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import data
from ddsp.training.data_preparation import ddsp_prepare_tfrecord, outputs, statistics
from ddsp.training.data_preparation import prepare_tfrecord_lib as lib

from . import prepare_faults as pf

beam = pytest.importorskip('apache_beam')

BASE = 'ds.tfrecord'
# Old and new datasets (a good dataset, then a rerun with other inputs): 1 shard, then 2, so
# the shard names differ while skipped.<base>.json is in both.
OLD_SHARDS, NEW_SHARDS = 1, 2


# ----------------------------------------------------------------------------------------------
# Fixtures: inputs, the old and the new dataset.
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp('inputs')
    return {
        'old': [
            pf.write_noise(d / 'a1.wav', 3, seed=1),
            pf.write_noise(d / 'a2.wav', 2.5, seed=2),
            pf.write_corrupt(d / 'a_bad.wav'),
        ],
        'new': [
            pf.write_noise(d / 'b1.wav', 4, seed=3),
            pf.write_noise(d / 'b2.wav', 2, seed=4),
            pf.write_corrupt(d / 'b_bad.wav'),
        ],
        # Unreadable, shorter than one 1-s example, and digital silence.
        'bad': [
            pf.write_corrupt(d / 'c_corrupt.wav'),
            pf.write_noise(d / 'c_short.wav', 0.5, seed=5),
            pf.write_silence(d / 'c_silent.wav', 2),
        ],
        'silent': pf.write_silence(d / 'silent.wav', 3),
        'dir': d,
    }


def _prepare(paths, prefix, num_shards, **kwargs):
    return lib.prepare_tfrecord(
        paths,
        str(prefix),
        num_shards=num_shards,
        pipeline_options=pf.CHEAP_OPTIONS,
        **pf.CHEAP,
        **kwargs,
    )


@pytest.fixture(scope='module')
def datasets(inputs, tmp_path_factory):
    """`template`: a directory holding the old dataset; snapshots of the old and new one."""
    template = tmp_path_factory.mktemp('template')
    _prepare(inputs['old'], template / BASE, OLD_SHARDS)
    old = pf.snapshot(template / BASE)
    rerun = tmp_path_factory.mktemp('rerun')
    shutil.copytree(template, rerun, dirs_exist_ok=True)
    _prepare(inputs['new'], rerun / BASE, NEW_SHARDS)
    new = pf.snapshot(rerun / BASE)
    assert old['hidden'] == [] and new['hidden'] == []
    assert old['records'] and new['records'] and set(old['records']).isdisjoint(new['records'])
    return {'template': template, 'old': pf.dataset(old), 'new': pf.dataset(new)}


@dataclasses.dataclass
class Env:
    tmp: Any
    prefix: str
    old: dict
    new: dict
    good: list
    bad: list
    silent: str


@pytest.fixture
def env(tmp_path, inputs, datasets):
    out = tmp_path / 'out'
    shutil.copytree(datasets['template'], out)
    return Env(
        tmp=tmp_path,
        prefix=str(out / BASE),
        old=datasets['old'],
        new=datasets['new'],
        good=inputs['new'],
        bad=inputs['bad'],
        silent=inputs['silent'],
    )


# ----------------------------------------------------------------------------------------------
# The table of bad inputs and faults.
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    name: str
    make: Callable[[Env], Callable[[], Any]]
    raises: Optional[type] = None
    exit_code: Optional[int] = None
    match: Tuple[str, ...] = ()
    on_disk: Optional[Callable[[Env, Any], None]] = None


def _cli_in_process(args):
    """Runs the CLI here; returns (exit code, stderr). argparse errors exit with SystemExit."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = ddsp_prepare_tfrecord.run(args)
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


def _with_stderr(fn):
    """`fn()`'s result, with what it printed to stderr under `result['stderr']`."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = fn()
    return dict(result, stderr=err.getvalue())


def _unchanged(env, _):
    snap = pf.snapshot(env.prefix)
    assert pf.dataset(snap) == env.old
    assert snap['hidden'] == []


def _nothing_written(env, _):
    out_dir = os.path.dirname(_fresh_prefix(env))
    assert not os.path.exists(out_dir) or os.listdir(out_dir) == []


def _stats_file(text):
    def make(env):
        path = env.tmp / 'statistics.x.tfrecord.json'
        path.write_text(text)
        return lambda: statistics.load_dataset_statistics(str(path))

    return make


def _fresh_prefix(env):
    return str(env.tmp / 'fresh' / BASE)


def _write_journal(env, pid, host=None, text=None):
    journal = {
        'format': outputs.JOURNAL_FORMAT,
        'prefix': env.prefix,
        'staging': f'.{BASE}.staging-x-{pid}-00000000',
        'host': host or socket.gethostname(),
        'pid': pid,
        'old': [os.path.basename(p) for p in outputs.existing_outputs(env.prefix)],
        'new': [f'{BASE}-00000-of-00002', f'{BASE}-00001-of-00002'],
    }
    path = outputs.journal_path(env.prefix)
    with open(path, 'w') as f:
        f.write(text if text is not None else json.dumps(journal))
    return path


def _journal_kept(env, _):
    assert os.path.exists(outputs.journal_path(env.prefix))
    assert pf.records(outputs.record_files(env.prefix)) == env.old['records']


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def _reader(env, pattern=None, **kwargs):
    settings = dict(example_secs=1, sample_rate=pf.SR, frame_rate=0)
    settings.update(kwargs)
    return data.TFRecordProvider(pattern or env.prefix + '*', **settings)


def _allow_empty_on_disk(env, result):
    rc, _ = result
    assert rc == 0
    shards = outputs.record_files(env.prefix)
    # The old (non-empty) shard is replaced by an empty one: 0 bytes is 0 records.
    assert shards and all(os.path.getsize(p) == 0 for p in shards)
    with open(outputs.side_file_path(env.prefix, 'skipped')) as f:
        assert len(json.load(f)) == len(env.bad)


def _silent_on_disk(env, summary):
    assert summary['silent_files'] == 1
    assert summary['counters']['silent_files'] == 1
    assert [s['kind'] for s in summary['skipped']] == ['silent']
    assert 'digital silence' in summary['stderr']
    # Only the good 4-s file gives examples: (4 - 1) / 0.5 + 1 windows.
    shards = outputs.record_files(env.prefix)
    expected = int((4 - pf.CHEAP['example_secs']) / pf.CHEAP['hop_secs']) + 1
    assert len(pf.records(shards)) == expected


def _staging_dirs(env):
    out_dir = os.path.dirname(env.prefix)
    return sorted(n for n in os.listdir(out_dir) if outputs.STAGING_TAG in n)


def _make_staging(env, pid):
    path = os.path.join(
        os.path.dirname(env.prefix),
        f'.{BASE}{outputs.STAGING_TAG}{socket.gethostname()}-{pid}-0123abcd',
    )
    os.makedirs(os.path.join(path, 'new'))
    with open(os.path.join(path, 'new', f'{BASE}-00000-of-00001'), 'wb') as f:
        f.write(b'partial')
    return path


def _dead_and_live_staging(env):
    env.dead = _make_staging(env, _dead_pid())
    env.live = _make_staging(env, os.getppid())
    return lambda: outputs.recover(env.prefix)


def _dead_and_live_on_disk(env, result):
    assert result == {'action': 'none', 'removed_staging': [env.dead]}
    assert _staging_dirs(env) == [os.path.basename(env.live)]
    assert pf.dataset(pf.snapshot(env.prefix)) == env.old


def _records_with_250_hz(env):
    path = env.tmp / 'rates' / 'r.tfrecord-00000-of-00001'
    path.parent.mkdir()
    n = 4 * pf.SR
    ex = {k: np.zeros(n, np.float32) for k in ('audio', 'audio_16k')}
    ex.update({k: np.zeros(4 * 250, np.float32) for k in ('f0_hz', 'f0_confidence', 'loudness_db')})
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(lib.to_tf_example(ex))
    return str(path.parent / 'r.tfrecord*')


def _empty_shard(env):
    path = env.tmp / 'empty' / 'e.tfrecord-00000-of-00001'
    path.parent.mkdir()
    path.write_bytes(b'')
    return str(path.parent / 'e.tfrecord*')


CASES = [
    # Item 1: an empty result never replaces a dataset unless asked.
    Case(
        'rerun_with_only_bad_inputs_cli_keeps_the_dataset',
        lambda env: lambda: pf.run_cli(pf.cli_args(env.bad, env.prefix, 1)),
        exit_code=1,
        match=('input_audio_paths', 'at least one example', 'left unchanged', '--allow_empty'),
        on_disk=_unchanged,
    ),
    Case(
        'rerun_with_only_bad_inputs_api_keeps_the_dataset',
        lambda env: lambda: _prepare(env.bad, env.prefix, 1),
        raises=lib.EmptyDatasetError,
        match=('all 3 files were skipped', 'c_corrupt.wav', 'allow_empty=True', 'left unchanged'),
        on_disk=_unchanged,
    ),
    Case(
        'first_run_with_only_bad_inputs_writes_nothing',
        lambda env: lambda: _prepare(env.bad, _fresh_prefix(env), 1),
        raises=lib.EmptyDatasetError,
        match=('nothing was written', 'allow_empty=True'),
        on_disk=_nothing_written,
    ),
    Case(
        'allow_empty_replaces_with_an_empty_dataset',
        lambda env: lambda: _cli_in_process(pf.cli_args(env.bad, env.prefix, 1, ['--allow_empty'])),
        on_disk=_allow_empty_on_disk,
    ),
    # Item 4: digital silence is skipped with a warning and counted.
    Case(
        'silent_file_is_skipped_with_a_warning_and_counted',
        lambda env: (
            lambda: _with_stderr(lambda: _prepare([env.good[0], env.silent], env.prefix, 1))
        ),
        on_disk=_silent_on_disk,
    ),
    # Item 3: statistics JSON with NaN, Infinity, truncated or not JSON; never written.
    Case(
        'statistics_with_nan',
        _stats_file('{"pitch": {"mean_": NaN}}'),
        raises=ValueError,
        match=('statistics.x.tfrecord.json', 'NaN', 'finite'),
    ),
    Case(
        'statistics_with_infinity',
        _stats_file('{"loudness": {"min_": -Infinity}}'),
        raises=ValueError,
        match=('statistics.x.tfrecord.json', 'Infinity'),
    ),
    Case(
        'statistics_with_an_overflowing_number',
        _stats_file('{"loudness": {"min_": -1e999}}'),
        raises=ValueError,
        match=('statistics.x.tfrecord.json', '1e999', 'finite'),
    ),
    Case(
        'statistics_truncated',
        _stats_file('{"pitch": {"mean_": 61.5, "quantiles": [1, 2'),
        raises=ValueError,
        match=('statistics.x.tfrecord.json', 'truncated', 'ddsp_prepare_tfrecord'),
    ),
    Case(
        'statistics_not_json',
        _stats_file('pitch: 61.5\n'),
        raises=ValueError,
        match=('statistics.x.tfrecord.json', 'not valid JSON'),
    ),
    Case(
        'statistics_not_an_object',
        _stats_file('[1, 2]'),
        raises=ValueError,
        match=('statistics.x.tfrecord.json', 'holds a list'),
    ),
    Case(
        'statistics_missing',
        lambda env: lambda: statistics.load_dataset_statistics(str(env.tmp / 'none.json')),
        raises=FileNotFoundError,
        match=('none.json', 'statistics.<base>.json'),
    ),
    Case(
        'statistics_writer_refuses_nan',
        lambda env: lambda: statistics.to_json({'pitch': {'mean_': float('nan')}}),
        raises=ValueError,
        match=('not JSON compliant',),
    ),
    # Item 7: unwritable outputs, empty shards, wrong frame rates.
    Case(
        'output_under_proc',
        lambda env: lambda: _prepare(env.good, '/proc/ddsp-test/x.tfrecord', 1),
        raises=ValueError,
        match=('output_tfrecord_path', 'writable', '/proc/ddsp-test'),
    ),
    Case(
        'output_under_proc_cli',
        lambda env: lambda: _cli_in_process(pf.cli_args(env.good, '/proc/ddsp-test/x', 1)),
        exit_code=2,
        match=('output_tfrecord_path', 'writable'),
    ),
    Case(
        'output_directory_is_a_file',
        lambda env: lambda: _prepare(env.good, env.prefix + '-00000-of-00001/x', 1),
        raises=ValueError,
        match=('output_tfrecord_path', 'writable'),
        on_disk=_unchanged,
    ),
    Case(
        'output_path_is_a_directory',
        lambda env: lambda: _prepare(env.good, str(env.tmp) + '/', 1),
        raises=ValueError,
        match=('output_tfrecord_path', 'file prefix'),
    ),
    Case(
        'output_name_begins_its_side_files',
        lambda env: lambda: _prepare(env.good, str(env.tmp / 'stat'), 1),
        raises=ValueError,
        match=('output_tfrecord_path', "'statistics.stat-train.json'"),
    ),
    Case(
        'provider_pattern_matches_only_an_empty_shard',
        lambda env: lambda: _reader(env, _empty_shard(env)).get_dataset(),
        raises=ValueError,
        match=('TFRecordProvider', 'file_pattern', 'all empty', 'ddsp_prepare_tfrecord'),
    ),
    Case(
        'provider_frame_rate_not_dividing_16000',
        lambda env: lambda: _reader(env, frame_rate=300),
        raises=ValueError,
        match=('TFRecordProvider', 'frame_rate', '300'),
    ),
    Case(
        'provider_frame_rate_other_than_the_dataset',
        lambda env: (
            lambda: _reader(
                env, _records_with_250_hz(env), example_secs=4, frame_rate=100
            ).get_dataset()
        ),
        raises=ValueError,
        match=('f0_hz', '1000 values, expected 400', 'frame_rate=100'),
    ),
    Case(
        'prepare_frame_rate_not_dividing_the_sample_rate',
        lambda env: lambda: lib.prepare_tfrecord(env.good, env.prefix, frame_rate=300),
        raises=ValueError,
        match=('frame_rate', '300'),
        on_disk=_unchanged,
    ),
    Case(
        'cli_frame_rate_not_a_number',
        lambda env: (
            lambda: _cli_in_process(pf.cli_args(env.good, env.prefix, 1, ['--frame_rate=abc']))
        ),
        exit_code=2,
        match=('--frame_rate', "invalid int value: 'abc'"),
        on_disk=_unchanged,
    ),
    # Item 2: unfinished replacements, staging directories of dead runs.
    Case(
        'reader_refuses_an_unfinished_replacement',
        lambda env: (_write_journal(env, _dead_pid()), lambda: _reader(env).get_dataset())[1],
        raises=outputs.UnfinishedReplacementError,
        match=('file_pattern', 'interrupted', 'rerun ddsp_prepare_tfrecord', 'outputs.recover('),
    ),
    Case(
        'recover_refuses_a_live_replacement',
        lambda env: (_write_journal(env, os.getppid()), lambda: outputs.recover(env.prefix))[1],
        raises=outputs.UnfinishedReplacementError,
        match=('replacing it now', str(os.getppid())),
        on_disk=_journal_kept,
    ),
    Case(
        'recover_refuses_a_damaged_journal',
        lambda env: (
            _write_journal(env, 1, text='{"format": '),
            lambda: outputs.recover(env.prefix),
        )[1],
        raises=outputs.UnfinishedReplacementError,
        match=('journal', 'unreadable', 'by hand'),
    ),
    Case(
        'staging_of_dead_runs_removed_live_kept',
        _dead_and_live_staging,
        on_disk=_dead_and_live_on_disk,
    ),
]


@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_bad_input_or_fault(case, env):
    act = case.make(env)
    if case.raises is not None:
        with pytest.raises(case.raises) as err:
            act()
        message = str(err.value)
        assert '\n' not in message.strip(), message
        for fragment in case.match:
            assert fragment in message, (fragment, message)
        result = err.value
    else:
        result = act()
        if case.exit_code is not None:
            rc, stderr = result
            assert rc == case.exit_code, stderr[-2000:]
            for fragment in case.match:
                assert fragment in stderr, (fragment, stderr[-2000:])
    if case.on_disk is not None:
        case.on_disk(env, result)


# ----------------------------------------------------------------------------------------------
# SIGKILL during a rerun (item 2).
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Fault:
    name: str
    point: str  # Where the rerun is killed (outputs.FAULT_POINTS).
    reader: str  # What TFRecordProvider sees before recovery: 'error', 'old' or 'new'.
    recovery: str  # 'call' (outputs.recover) or 'run' (the next run, which recovers first).
    expect: str  # The complete dataset afterwards: 'old' or 'new'.
    action: Optional[str] = None  # recover()'s action, for 'call'.
    tamper: Optional[Callable[[str], None]] = None  # Done to the directory after the kill.


def _lose_a_staged_new_file(prefix):
    journal = json.load(open(outputs.journal_path(prefix)))
    staging = os.path.join(os.path.dirname(prefix), journal['staging'], 'new')
    os.remove(os.path.join(staging, journal['new'][-1]))


FAULTS = [
    Fault('staged', 'staged', reader='old', recovery='call', expect='old', action='none'),
    Fault('journal_written', 'journal_written', 'error', 'call', 'new', 'rolled_forward'),
    Fault('old_moving', 'old_moving', 'error', 'run', 'new'),
    Fault('old_moved', 'old_moved', 'error', 'call', 'new', 'rolled_forward'),
    Fault('old_moved_run', 'old_moved', 'error', 'run', 'new'),
    Fault(
        'old_moved_new_lost',
        'old_moved',
        'error',
        'call',
        'old',
        'rolled_back',
        tamper=_lose_a_staged_new_file,
    ),
    Fault('new_moving', 'new_moving', 'error', 'run', 'new'),
    Fault('new_moving_call', 'new_moving', 'error', 'call', 'new', 'rolled_forward'),
    Fault('new_moved', 'new_moved', 'error', 'call', 'new', 'rolled_forward'),
    Fault('journal_removed', 'journal_removed', 'new', 'run', 'new'),
]


@pytest.fixture(scope='module')
def killed_runs(inputs, datasets, tmp_path_factory):
    """Each fault's rerun SIGKILLed at its point: {name: (prefix, exit code)}.

    One rerun per point, all started together (7 CLI processes for the 10 faults). A fault
    that shares its point with an earlier one gets a copy of that run's directory, made right
    after the kill and before any test touches it: the run was stopped at the point when it
    was killed, so the copy is the state a second kill there leaves (the journal names the
    staging directory and the files relative to the directory; readers and `recover` take
    the directory from the path they are given).
    """
    by_point = {}
    for fault in FAULTS:
        by_point.setdefault(fault.point, []).append(fault)
    runs = {}
    procs = []
    try:
        for point, faults in by_point.items():
            d = tmp_path_factory.mktemp(faults[0].name)
            shutil.copytree(datasets['template'], d, dirs_exist_ok=True)
            marker = str(d.parent / f'{faults[0].name}.paused')
            args = pf.cli_args(inputs['new'], str(d / BASE), NEW_SHARDS)
            procs.append((faults, d, marker, pf.start_paused(args, point, marker)))
        for faults, d, marker, proc in procs:
            rc = pf.kill_when_paused(proc, faults[0].point, marker)
            runs[faults[0].name] = (str(d / BASE), rc)
            for fault in faults[1:]:
                copy = tmp_path_factory.mktemp(fault.name)
                shutil.copytree(d, copy, dirs_exist_ok=True, symlinks=True)
                runs[fault.name] = (str(copy / BASE), rc)
    finally:
        for *_, proc in procs:
            pf.stop(proc)
    return runs


@pytest.mark.parametrize('fault', FAULTS, ids=[f.name for f in FAULTS])
def test_sigkill_during_rerun_leaves_old_or_new_dataset(fault, killed_runs, datasets, inputs):
    prefix, rc = killed_runs[fault.name]
    assert rc == -signal.SIGKILL
    if fault.tamper:
        fault.tamper(prefix)
    # Before recovery: a reader gets a clear error or one whole dataset, never a mix.
    provider = data.TFRecordProvider(prefix + '*', example_secs=1, sample_rate=pf.SR, frame_rate=0)
    if fault.reader == 'error':
        with pytest.raises(outputs.UnfinishedReplacementError) as err:
            provider.get_dataset()
        message = str(err.value)
        assert '\n' not in message and 'rerun ddsp_prepare_tfrecord' in message
        assert f'outputs.recover({prefix!r})' in message
    else:
        expected = datasets[fault.reader]['records']
        assert pf.records(outputs.record_files(prefix)) == expected
        assert len(list(provider.get_dataset(shuffle=False))) == len(expected)
    # Recovery: a call, or the next run (here one that refuses to write an empty dataset, so
    # that what it recovered stays to be checked).
    if fault.recovery == 'call':
        result = outputs.recover(prefix)
        assert result['action'] == fault.action
    else:
        rc, stderr = _cli_in_process(pf.cli_args(inputs['bad'], prefix, 1))
        assert rc == 1 and 'allow_empty' in stderr, stderr[-2000:]
    after = pf.snapshot(prefix)
    assert after['hidden'] == []  # No journal, no staging directory left.
    assert pf.dataset(after) == datasets[fault.expect]
    assert pf.records(outputs.record_files(prefix)) == datasets[fault.expect]['records']
    assert len(list(provider.get_dataset(shuffle=False))) == len(datasets[fault.expect]['records'])


# ----------------------------------------------------------------------------------------------
# Every window once across chunk boundaries (item 5), side-file names (item 6).
# ----------------------------------------------------------------------------------------------

LONG_S, CHUNK_S, EXAMPLE_S, HOP_S = 30, 20, 4, 1
N_WINDOWS = (LONG_S - EXAMPLE_S) // HOP_S + 1  # 27 windows, one every second.
PER_CHUNK = (CHUNK_S - EXAMPLE_S) // HOP_S + 1  # 17 windows in a 20-s chunk.


@pytest.mark.parametrize('center', [False, True])
def test_chunks_give_every_window_exactly_once(center):
    sizes = lib.check_config(pf.SR, 250, example_secs=EXAMPLE_S, hop_secs=HOP_S, chunk_secs=CHUNK_S)
    audio = np.random.default_rng(0).standard_normal(LONG_S * pf.SR).astype(np.float32)
    ex = {'path': 'long.wav', 'audio': audio, 'audio_16k': audio.copy()}
    hop = sizes['hop']
    examples, own = [], []
    chunks = lib.chunk_audio(ex, sizes)
    assert len(chunks) == 2
    for chunk in chunks:
        # Frame-wise features that are the frame's index in the file.
        n_frames = len(chunk['audio']) // hop + int(center)
        index = (chunk['start'] // hop + np.arange(n_frames)).astype(np.float32)
        for key in ('f0_hz', 'f0_confidence', 'loudness_db'):
            chunk[key] = index
        own.append(lib.statistics_frames(chunk)['f0_hz'])
        examples.extend(lib.split_examples(chunk, sizes, center))
    assert len(examples) == N_WINDOWS
    win, win_f = EXAMPLE_S * pf.SR, EXAMPLE_S * 250 + int(center)
    for k, example in enumerate(examples):
        start = k * HOP_S * pf.SR
        np.testing.assert_array_equal(example['audio'], audio[start : start + win])
        np.testing.assert_array_equal(example['audio_16k'], audio[start : start + win])
        first = k * HOP_S * 250
        np.testing.assert_array_equal(example['f0_hz'], np.arange(first, first + win_f))
    # Statistics count every frame of the file once.
    np.testing.assert_array_equal(np.concatenate(own), np.arange(LONG_S * 250 + int(center)))


@pytest.fixture(scope='module')
def long_run(tmp_path_factory):
    """One 30-s file through the real pipeline (CREPE tiny at 50 Hz), with an eval split."""
    d = tmp_path_factory.mktemp('long')
    path = pf.write_noise(d / 'long.wav', LONG_S, seed=7)
    prefix = str(d / 'out' / 'long.tfrecord')
    summary = lib.prepare_tfrecord(
        [path],
        prefix,
        num_shards=1,
        frame_rate=50,
        example_secs=EXAMPLE_S,
        hop_secs=HOP_S,
        chunk_secs=CHUNK_S,
        eval_split_fraction=0.5,
        viterbi=False,
        crepe_capacity='tiny',
        pipeline_options=pf.CHEAP_OPTIONS,
    )
    import soundfile as sf

    audio, _ = sf.read(path, dtype='float32')
    return prefix, summary, audio


def _window_indices(prefix, split, audio):
    spec = lib.feature_spec(pf.SR, 50, EXAMPLE_S)
    found = []
    for record in tf.data.TFRecordDataset(tf.io.gfile.glob(f'{prefix}-{split}-*')):
        ex = tf.io.parse_single_example(record, spec)
        rec = ex['audio'].numpy()
        assert ex['f0_hz'].shape == (EXAMPLE_S * 50,)
        k = int(np.argmin([abs(rec[0] - audio[i * pf.SR]) for i in range(N_WINDOWS)]))
        np.testing.assert_array_equal(rec, audio[k * pf.SR : k * pf.SR + EXAMPLE_S * pf.SR])
        found.append(k)
    return found


def test_long_file_gives_every_window_once_and_splits_disjoint(long_run):
    prefix, summary, audio = long_run
    train = _window_indices(prefix, 'train', audio)
    evals = _window_indices(prefix, 'eval', audio)
    assert sorted(train + evals) == list(range(N_WINDOWS))  # 27, each once.
    assert not set(train) & set(evals)
    # Two chunks, one per split (int(2 * 0.5) = 1 to eval): 17 windows and the other 10.
    assert sorted([len(train), len(evals)]) == sorted([PER_CHUNK, N_WINDOWS - PER_CHUNK])
    # Statistics count each frame of the file once: 30 s at 50 Hz.
    frames = 0
    for split in ('train', 'eval'):
        stats = statistics.load_dataset_statistics(
            outputs.side_file_path(prefix, 'statistics', split)
        )
        frames += stats['pitch']['n_frames']
    assert frames == LONG_S * 50


def test_prefix_glob_matches_records_only(long_run):
    prefix, summary, _ = long_run
    side = [outputs.side_file_path(prefix, 'skipped')] + [
        outputs.side_file_path(prefix, 'statistics', s) for s in ('train', 'eval')
    ]
    assert all(os.path.isfile(p) for p in side)
    assert sorted(summary['outputs']) == sorted(tf.io.gfile.glob(prefix + '*') + side)
    n = sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(prefix + '*')))
    assert n == N_WINDOWS
    assert side[1] == os.path.join(os.path.dirname(prefix), 'statistics.long.tfrecord-train.json')


def test_statistics_json_is_finite_and_null_only_without_frames():
    frames = {
        'f0_hz': np.array([220.0, np.nan, 440.0]),
        'f0_confidence': np.ones(3),
        'loudness_db': np.array([-30.0, -np.inf, -20.0]),
    }
    stats = statistics.compute_statistics([frames])
    text = statistics.to_json(stats)
    loaded = json.loads(text, parse_constant=lambda c: pytest.fail(f'{c} written'))
    assert loaded['pitch']['n_frames'] == 2  # The NaN frame is left out.
    assert loaded['loudness']['min_'] == -30.0  # So is -inf.
    empty = json.loads(statistics.to_json(statistics.compute_statistics([])))
    assert all(empty[name] is None for name in statistics.STAT_NAMES)
