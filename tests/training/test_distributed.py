"""Multi-worker training through `ddsp_run --cluster_config` with two local processes."""

import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from .test_ddsp_run import (
    DDSP_RUN,
    ITERATIONS,
    REPO,
    ckpt_steps,
    read_checkpoint,
    subprocess_env,
    write_dataset,
    write_tiny_gin,
)

# Runs the ddsp_run console entry point, with Trainer.save also dumping this worker's model
# weights and optimizer variables (in a fixed order) to $DDSP_TEST_DUMP, so that the two
# workers' states can be compared (the non-chief's own checkpoints are deleted by design).
_WORKER = textwrap.dedent("""
    import os
    import sys
    import tempfile
    import numpy as np
    from ddsp.training import ddsp_run, trainers
    original_mkdtemp = tempfile.mkdtemp
    def mkdtemp(*args, **kwargs):  # Records the temporary directories made.
        path = original_mkdtemp(*args, **kwargs)
        with open(os.environ['DDSP_TEST_DUMP'] + '.tmpdirs', 'a') as f:
            f.write(path + chr(10))
        return path
    tempfile.mkdtemp = mkdtemp
    original_save = trainers.Trainer.save
    def save(self, save_dir):
        path = original_save(self, save_dir)
        values = [v.numpy() for v in self.model.weights + self.optimizer.variables]
        np.savez(os.environ['DDSP_TEST_DUMP'], *values)
        return path
    trainers.Trainer.save = save
    sys.argv = ['ddsp_run'] + sys.argv[1:]
    ddsp_run.console_entry_point()
""")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _cluster_config(ports, index):
    workers = ', '.join(f'"127.0.0.1:{p}"' for p in ports)
    return (
        f'{{"cluster": {{"worker": [{workers}]}}, "task": {{"type": "worker", "index": {index}}}}}'
    )


def _two_workers_job(tmp_path_factory):
    """Writes the data and config here; the returned job trains two local workers to step 4."""
    tmp_path = tmp_path_factory.mktemp('two_workers')
    pattern = write_dataset(str(tmp_path / 'data'))
    gin_file = write_tiny_gin(tmp_path / 'tiny.gin', pattern, num_steps=4, steps_per_save=2)
    save_dir = str(tmp_path / 'run')
    tmp_dirs = [tmp_path / f'tmp{i}' for i in range(2)]
    for d in tmp_dirs:
        d.mkdir()

    def run():
        ports = _free_ports(2)  # Chosen right before the workers start.
        procs, logs = [], []
        for i in range(2):
            logs.append(open(tmp_path / f'worker{i}.log', 'w'))
            env = subprocess_env(
                DDSP_TEST_DUMP=str(tmp_path / f'worker{i}.npz'), TMPDIR=str(tmp_dirs[i])
            )
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        '-c',
                        _WORKER,
                        '--mode=train',
                        f'--save_dir={save_dir}',
                        f'--gin_file={gin_file}',
                        f'--cluster_config={_cluster_config(ports, i)}',
                        '--gin_param=get_strategy.cluster_timeout_secs = 120',
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=logs[-1],
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            for proc in procs:
                proc.wait(timeout=240)
        finally:
            for proc, log in zip(procs, logs):
                if proc.poll() is None:
                    proc.kill()  # SIGKILL: a worker waiting on a collective ignores SIGTERM.
                    proc.wait()
                log.close()
        return procs, tmp_path, save_dir, tmp_dirs

    return run


def _no_peers_job(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('no_peers')
    pattern = write_dataset(str(tmp_path / 'data'), n_files=1)
    gin_file = write_tiny_gin(tmp_path / 'tiny.gin', pattern)

    def run():
        ports = _free_ports(2)
        # Worker 1 alone: worker 0 never starts. Without the bound it would wait forever (the
        # subprocess timeout is only a safety net for the test itself).
        result = subprocess.run(
            [
                DDSP_RUN,
                f'--save_dir={tmp_path / "run"}',
                f'--gin_file={gin_file}',
                f'--cluster_config={_cluster_config(ports, 1)}',
                '--gin_param=get_strategy.cluster_timeout_secs = 2',
            ],
            cwd=REPO,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result, ports, tmp_path

    return run


# Both runs only start processes and are read afterwards: background jobs
# (tests/background.py) that start with the session, beside the other tests.
BACKGROUND_JOBS = {'two_workers': _two_workers_job, 'no_peers': _no_peers_job}


@pytest.mark.background_job('two_workers')
def test_two_workers_train_in_lockstep(background_result):
    procs, tmp_path, save_dir, tmp_dirs = background_result('two_workers')
    texts = [(tmp_path / f'worker{i}.log').read_text() for i in range(2)]
    for proc, text in zip(procs, texts):
        assert proc.returncode == 0, text[-4000:]
        assert 'Training finished at step 4.' in text

    # Both workers end with identical weights, Adam moments and step counters: every update
    # applies the same all-reduced gradient to the same (broadcast) initial weights.
    dumps = [np.load(tmp_path / f'worker{i}.npz') for i in range(2)]
    assert len(dumps[0].files) == len(dumps[1].files) > 20
    for name in dumps[0].files:
        np.testing.assert_array_equal(dumps[0][name], dumps[1][name], err_msg=name)
    # The losses they log are the global (all-reduced) ones, hence equal too.
    loss_lines = [
        [
            line.split('loss ')[1].split()[0]
            for line in text.splitlines()
            if ' steps/s  loss ' in line
        ]
        for text in texts
    ]
    assert loss_lines[0] and loss_lines[0] == loss_lines[1]

    # Only the chief wrote to save_dir: saved when the step read is a multiple of 2 (1, 3)
    # and at the end (4); one operative config, one summary writer. Its newest checkpoint
    # holds the final state of both workers.
    assert ckpt_steps(save_dir) == [1, 3, 4]
    assert sorted(n for n in os.listdir(save_dir) if n.endswith('.gin')) == [
        'operative_config-0.gin'
    ]
    assert len(os.listdir(os.path.join(save_dir, 'summaries', 'train'))) == 1
    final = read_checkpoint(os.path.join(save_dir, 'ckpt-4'))
    assert int(final[ITERATIONS]) == 4
    checkpoint_values = sorted(float(np.sum(v)) for v in final.values() if np.ndim(v) > 0)
    dump_values = sorted(
        float(np.sum(dumps[1][n])) for n in dumps[1].files if np.ndim(dumps[1][n]) > 0
    )
    # Every array of the chief's checkpoint is one of worker 1's (compared by their sums).
    for value in checkpoint_values:
        assert np.isclose(dump_values, value, rtol=0, atol=1e-6).any(), value
    # The non-chief wrote its checkpoints to private temporary directories (one per save),
    # since deleted; the chief made none.
    made = (tmp_path / 'worker1.npz.tmpdirs').read_text().split()
    assert len([p for p in made if 'ddsp_worker_ckpt_' in p]) == 3
    assert all(p.startswith(str(tmp_dirs[1])) and not os.path.exists(p) for p in made)
    assert not os.path.exists(tmp_path / 'worker0.npz.tmpdirs')


@pytest.mark.background_job('no_peers')
def test_worker_without_peers_stops_with_a_clear_error(background_result):
    result, ports, tmp_path = background_result('no_peers')
    assert result.returncode == -signal.SIGKILL  # By the watchdog.
    assert 'ERROR: Timed out after 2 s waiting for the other workers' in result.stderr
    assert f'127.0.0.1:{ports[0]}' in result.stderr
    assert not os.path.exists(tmp_path / 'run' / 'checkpoint')
