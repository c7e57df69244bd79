"""Helpers of the data-preparation reliability tests: small inputs, cheap runs, SIGKILL at a
named point of the replacement, and snapshots of a dataset directory.

Runs are audio only (`frame_rate=0`: no CREPE) on the in-memory DirectRunner with one worker,
so a whole `ddsp_prepare_tfrecord` run, in a subprocess, takes seconds.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import soundfile as sf
import tensorflow as tf

from ddsp.training.data_preparation import outputs

SR = 16000
CHEAP_OPTIONS = [
    '--runner=DirectRunner',
    '--direct_num_workers=1',
    '--direct_running_mode=in_memory',
]
# Audio-only settings: 1-s examples every 0.5 s.
CHEAP = dict(frame_rate=0, example_secs=1, hop_secs=0.5, chunk_secs=0)
CLI = 'ddsp.training.data_preparation.ddsp_prepare_tfrecord'


def write_noise(path, secs, seed, sample_rate=SR):
    """A file of `secs` seconds of low-level noise (distinct per seed, never silent)."""
    rng = np.random.default_rng(seed)
    audio = 0.1 * rng.standard_normal(int(round(secs * sample_rate)))
    sf.write(str(path), audio.astype(np.float32), sample_rate, subtype='FLOAT')
    return str(path)


def write_silence(path, secs, sample_rate=SR):
    sf.write(str(path), np.zeros(int(round(secs * sample_rate)), np.float32), sample_rate)
    return str(path)


def write_corrupt(path):
    with open(path, 'wb') as f:
        f.write(np.random.default_rng(1).bytes(3000))
    return str(path)


def cli_args(inputs, prefix, num_shards, extra=()):
    """Arguments of a cheap `ddsp_prepare_tfrecord` run."""
    return [
        f'--input_audio_filepatterns={",".join(inputs)}',
        f'--output_tfrecord_path={prefix}',
        f'--num_shards={num_shards}',
        f'--frame_rate={CHEAP["frame_rate"]}',
        f'--example_secs={CHEAP["example_secs"]}',
        f'--hop_secs={CHEAP["hop_secs"]}',
        f'--chunk_secs={CHEAP["chunk_secs"]}',
        '--pipeline_options=' + ','.join(CHEAP_OPTIONS),
        *extra,
    ]


def run_cli(args, env=None, timeout=300):
    """Runs the CLI in a subprocess; returns (exit code, stderr)."""
    proc = subprocess.run(
        [sys.executable, '-m', CLI, *args],
        env=dict(os.environ, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stderr


def start_paused(args, point, marker):
    """Starts the CLI so that it stops at `point` (`outputs.FAULT_POINTS`); returns the
    process. It writes its pid to `marker` when it gets there, its stderr to `marker.log`."""
    assert point in outputs.FAULT_POINTS, point
    env = dict(os.environ, **{outputs.PAUSE_ENV: point, outputs.PAUSE_FILE_ENV: str(marker)})
    with open(str(marker) + '.log', 'w') as log:
        return subprocess.Popen([sys.executable, '-m', CLI, *args], env=env, stderr=log)


def kill_when_paused(proc, point, marker, timeout=300):
    """Waits until `proc` (from `start_paused`) is stopped at its point, then SIGKILLs it.

    Returns the exit code (-9). Raises AssertionError if the run ends before the point.
    """
    try:
        deadline = time.monotonic() + timeout
        while not os.path.exists(marker):
            if proc.poll() is not None:
                with open(str(marker) + '.log') as f:
                    tail = f.read()[-3000:]
                raise AssertionError(
                    f'the run ended (rc {proc.returncode}) before {point}:\n{tail}'
                )
            if time.monotonic() > deadline:
                raise AssertionError(f'the run did not reach {point} in {timeout} s')
            time.sleep(0.05)
        with open(marker) as f:
            assert int(f.read()) == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=60)
    finally:
        stop(proc)


def stop(proc):
    """SIGKILLs `proc` if it is still running, and reaps it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def records(files):
    """Sorted digests of every record in `files`, of its parsed features (the serialized
    bytes of a record may order its feature map differently), order-free."""
    digests = []
    for r in tf.data.TFRecordDataset(sorted(files)):
        example = tf.train.Example.FromString(r.numpy())
        h = hashlib.sha1()
        for key in sorted(example.features.feature):
            values = example.features.feature[key].float_list.value
            h.update(key.encode() + b'=' + np.asarray(values, np.float32).tobytes())
        digests.append(h.hexdigest())
    return sorted(digests)


def snapshot(prefix):
    """What the dataset at `prefix` is: its visible files, its records and its side files.

    Shard contents depend on Beam's random sharding, so records are compared as a multiset.
    Hidden entries (a staging directory, a journal) are listed apart.
    """
    out_dir, base = os.path.split(str(prefix))
    names = sorted(os.listdir(out_dir))
    visible = [n for n in names if not n.startswith('.')]
    shards = outputs.record_files(prefix)
    side = {}
    for path in outputs.all_side_file_paths(prefix):
        if os.path.exists(path):
            with open(path) as f:
                side[os.path.basename(path)] = json.load(f)
    return {
        'files': visible,
        'records': records(shards),
        'side': side,
        'hidden': [n for n in names if n.startswith('.')],
    }


def dataset(snap):
    """The parts of a snapshot that identify a dataset (hidden entries left out)."""
    return {k: v for k, v in snap.items() if k != 'hidden'}
