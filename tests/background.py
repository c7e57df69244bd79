"""Background jobs: subprocess checks that start early and are read by their tests later.

(The fixtures and hooks here are imported by tests/conftest.py.)

About a fifth of the suite's time is spent in child processes that import TensorFlow and run a
command whose output a test then inspects (`ddsp_run --help`, a two-worker training run,
`benchmarks/run.py --smoke`, the fresh-interpreter import checks, ...). The pytest process
itself spends much of its time in single-threaded Python, so those children can run beside it.

A test that needs such a result is marked `@pytest.mark.background_job('name')` and asks the
`background_result` fixture for it: `background_result('name')`. The job is looked up in its
module's `BACKGROUND_JOBS` dict (or `SHARED_JOBS` below): `name -> factory(tmp_path_factory)`
(modules that list the same factory function under the same name share one run of it);
the factory runs in the main thread when the session starts (write input files there, with
TensorFlow if need be) and returns a zero-argument callable that the background thread runs
(subprocesses only: no TensorFlow, gin or other global state of this process). Its return
value, or the exception it raised, is what `background_result` gives the test.

Jobs run one at a time, in the order of the tests that need them, and the modules of those
tests run after the others (`pytest_collection_modifyitems`) so that their results are
usually ready when they are read. A job that has not started when its test asks for it runs
right then, in the foreground, so a selection of a few tests (`-k`, one file) costs what it
did before. The commands, their environment, their timeouts and every assertion on their
output are the tests' own, unchanged.
"""

import concurrent.futures
import os
import pathlib
import subprocess
import sys
import threading

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
_MARK = 'background_job'


def _import_report_job(tmp_path_factory):
    """The fresh-interpreter import report (tests/import_report.py), as a dict."""
    del tmp_path_factory
    source = (pathlib.Path(__file__).parent / 'import_report.py').read_text()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')

    def run():
        import json

        # `python -c`, from the repository root: the same interpreter setup as the checks
        # this replaces (the checkout's ddsp first on sys.path).
        result = subprocess.run(
            [sys.executable, '-c', source],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    return run


# Jobs shared by several modules (looked up when a module's BACKGROUND_JOBS lacks the name).
SHARED_JOBS = {'import_report': _import_report_job}


def _timed(job, key):
    """`job`, logging its start and end (seconds since the epoch) to the file named by
    $DDSP_TEST_JOB_LOG, if set: how long the queue runs beside the suite."""
    log = os.environ.get('DDSP_TEST_JOB_LOG')
    if not log:
        return job

    def run():
        import time

        start = time.time()
        try:
            return job()
        finally:
            with open(log, 'a') as f:
                f.write(f'{key} {start:.1f} {time.time():.1f}\n')

    return run


class _Key(tuple):
    """`(module, name, factory)`; logged as `('module', 'name')`."""

    def __new__(cls, module, name, factory):
        return super().__new__(cls, (module, name, factory))

    def __str__(self):
        return str(self[:2])


class _BackgroundJobs:
    """Runs jobs one at a time in a daemon thread; hands results (or exceptions) back."""

    def __init__(self, tmp_path_factory):
        self._tmp_path_factory = tmp_path_factory
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix='background-job'
        )
        self._lock = threading.Lock()
        self._futures = {}
        self._jobs = {}

    @staticmethod
    def _factory(module, name):
        jobs = getattr(module, 'BACKGROUND_JOBS', {})
        if name in jobs:
            factory = jobs[name]
            # Keyed by the factory function itself: modules whose BACKGROUND_JOBS hold the same
            # factory (one defined in a helper module they share) share one job, run once.
            module_name = getattr(factory, '__module__', None) or module.__name__
            return _Key(module_name, name, factory), factory
        if name in SHARED_JOBS:
            return ('', name), SHARED_JOBS[name]
        raise KeyError(
            f'no background job {name!r} in {module.__name__}.BACKGROUND_JOBS or '
            f'tests/conftest.py SHARED_JOBS'
        )

    def _prepare(self, factory, key=None):
        try:
            return _timed(factory(self._tmp_path_factory), key)
        except Exception as e:  # Fails only the tests that read this job.

            def raise_it(error=e):
                raise error

            return raise_it

    def submit(self, module, name):
        key, factory = self._factory(module, name)
        with self._lock:
            if key not in self._futures:
                job = self._prepare(factory, key)
                self._jobs[key] = job
                self._futures[key] = self._executor.submit(job)

    def result(self, module, name):
        key, factory = self._factory(module, name)
        with self._lock:
            future = self._futures.get(key)
            if future is None:  # Never submitted (e.g. the marker is missing): run it now.
                job = self._prepare(factory, key)
                self._jobs[key] = job
                future = self._futures[key] = concurrent.futures.Future()
                future.set_running_or_notify_cancel()
                run_here = True
            else:
                run_here = future.cancel()  # Not started yet: run it here instead of waiting.
                if run_here:
                    future = self._futures[key] = concurrent.futures.Future()
                    future.set_running_or_notify_cancel()
        if run_here:
            try:
                future.set_result(self._jobs[key]())
            except BaseException as e:  # noqa: BLE001 - the test sees it via future.result().
                future.set_exception(e)
        return future.result()

    def close(self):
        self._executor.shutdown(wait=True, cancel_futures=True)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', f'{_MARK}(*names): the test reads these background jobs (tests/conftest.py).'
    )


def pytest_collection_modifyitems(session, config, items):
    """Modules with background-job tests run last (in their usual order), so that the jobs
    started at the beginning of the session have time to finish beside the other tests."""
    uses_jobs = {
        item.module
        for item in items
        if item.get_closest_marker(_MARK) is not None and hasattr(item, 'module')
    }
    if uses_jobs:
        items[:] = [i for i in items if getattr(i, 'module', None) not in uses_jobs] + [
            i for i in items if getattr(i, 'module', None) in uses_jobs
        ]


@pytest.fixture(scope='session', autouse=True)
def _background_jobs(request, tmp_path_factory):
    jobs = _BackgroundJobs(tmp_path_factory)
    for item in request.session.items:
        for mark in item.iter_markers(_MARK):
            for name in mark.args:
                jobs.submit(item.module, name)
    yield jobs
    jobs.close()


@pytest.fixture
def background_result(request, _background_jobs):
    """`background_result(name)`: the return value of this module's background job `name`
    (re-raises its exception)."""
    return lambda name: _background_jobs.result(request.module, name)
