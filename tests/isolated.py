"""Run a third-party reference computation in a child process.

Some references the tests compare against run native code that can crash the interpreter:
`librosa.pyin` calls numba gufuncs (`librosa.util.localmin`), and numba's on-disk cache of
gufuncs has a race (numba/numba#10128): two processes that import `librosa.util` at the same
time on an empty or stale cache can leave a kernel whose wrapper calls a symbol that does not
exist, and the first call segfaults. In the pytest process that kills the whole run, hundreds of
tests in. `run_isolated` runs the computation in a fresh interpreter instead, so a crash fails the
one test that needed it, with a message that names the signal and the computation.

    from isolated import run_isolated
    f0, voiced, prob = run_isolated(_pyin_reference, args=(audio, 'cello'),
                                    name="librosa.pyin('cello')")

`func` must be picklable by reference (a module-level function) and its module importable
without TensorFlow (the child checks that TensorFlow stayed out unless `forbid_modules=()`);
arguments and the result travel by pickle. The child starts with `python -X faulthandler`, so
a crash's Python stack is in the failure message.

Cost: one interpreter per call (about 0.1 s bare, plus the imports the computation needs, e.g.
about 1-2 s for numpy + librosa); use it for expensive references, or batch cheap ones into one
call.
"""

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = ['run_isolated', 'ChildError']

_DEFAULT_TIMEOUT_S = 600.0
_STDERR_TAIL = 4000


class ChildError(RuntimeError):
    """An exception in the child that could not be pickled back as itself."""


def _describe(func, args, name):
    if name:
        return name
    shown = ', '.join(_short_repr(a) for a in args)
    return f'{getattr(func, "__module__", "?")}.{getattr(func, "__qualname__", func)}({shown})'


def _short_repr(value):
    shape = getattr(value, 'shape', None)
    if shape is not None:
        return f'<{type(value).__name__} {tuple(shape)} {getattr(value, "dtype", "")}>'
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def _tail(text, limit=_STDERR_TAIL):
    text = text.decode('utf-8', 'replace') if isinstance(text, bytes) else (text or '')
    text = text.strip()
    return text if len(text) <= limit else '...' + text[-limit:]


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f'signal {number}'


def run_isolated(
    func,
    args=(),
    kwargs=None,
    *,
    name=None,
    timeout=_DEFAULT_TIMEOUT_S,
    env=None,
    forbid_modules=('tensorflow',),
    crash_hint=None,
):
    """`func(*args, **kwargs)` in a fresh Python process; returns its result.

    Args:
        func: a module-level function (pickled by reference; the child imports its module).
        args, kwargs: picklable arguments.
        name: how failure messages name the computation (default: module.function(args)).
        timeout: seconds; past it the child is killed and the test fails.
        env: extra environment variables for the child (on top of this process's).
        forbid_modules: modules the child must not have imported by the end of the call
            (default TensorFlow: a reference computation should not need it).
        crash_hint: a line added to the failure message when the child dies by a signal.

    Fails the calling test (`pytest.fail`) when the child dies by a signal, exits without a
    result or times out; re-raises an exception raised in the child (the same type when it
    unpickles, else `ChildError`), with the child's traceback attached as a note.
    """
    import pytest

    label = _describe(func, args, name)
    payload = pickle.dumps(
        {
            'sys_path': list(sys.path),
            'call': pickle.dumps(
                (func, tuple(args), dict(kwargs or {})), protocol=pickle.HIGHEST_PROTOCOL
            ),
            'forbid_modules': tuple(forbid_modules),
        },
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env['PYTHONFAULTHANDLER'] = '1'
    with tempfile.TemporaryDirectory(prefix='ddsp-isolated-') as tmp:
        result_path = os.path.join(tmp, 'result.pickle')
        command = [sys.executable, '-X', 'faulthandler', os.path.abspath(__file__), result_path]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                command, input=payload, capture_output=True, env=child_env, timeout=timeout
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(
                f'reference computation {label} did not finish within {timeout:g} s in '
                f'its subprocess (killed).\nchild stderr:\n{_tail(e.stderr)}',
                pytrace=False,
            )
        seconds = time.perf_counter() - start
        if proc.stdout:  # What the computation printed (shown with `pytest -s`).
            sys.stdout.write(proc.stdout.decode('utf-8', 'replace'))
        if proc.returncode < 0:
            hint = f'\n{crash_hint}' if crash_hint else ''
            pytest.fail(
                f'reference computation {label} died with '
                f'{_signal_name(-proc.returncode)} in its subprocess after {seconds:.1f} s'
                f'{hint}\nchild stderr:\n{_tail(proc.stderr)}',
                pytrace=False,
            )
        if not os.path.exists(result_path):
            pytest.fail(
                f'reference computation {label} exited with status {proc.returncode} '
                f'without a result\nchild stderr:\n{_tail(proc.stderr)}',
                pytrace=False,
            )
        with open(result_path, 'rb') as f:
            outcome = pickle.load(f)

    if outcome['forbidden']:
        pytest.fail(
            f'reference computation {label} imported {", ".join(outcome["forbidden"])} '
            f'in its subprocess; keep its module free of that import, or pass '
            f'forbid_modules=()',
            pytrace=False,
        )
    if outcome['ok']:
        return pickle.loads(outcome['value'])
    error = None
    if outcome['exception'] is not None:
        try:
            error = pickle.loads(outcome['exception'])
        except Exception:  # The type is not importable here, or does not unpickle.
            error = None
    if not isinstance(error, BaseException):
        error = ChildError(outcome['summary'])
    error.add_note(
        f'(raised in the subprocess of reference computation {label}; '
        f'child traceback:)\n{outcome["traceback"].rstrip()}'
    )
    raise error


def _child_main(result_path):
    """Child side: read the call from stdin, run it, pickle the outcome to `result_path`."""
    header = pickle.loads(sys.stdin.buffer.read())
    sys.path[:] = header['sys_path']
    outcome = {
        'ok': False,
        'value': None,
        'exception': None,
        'summary': '',
        'traceback': '',
        'forbidden': (),
    }
    try:
        func, args, kwargs = pickle.loads(header['call'])
        value = func(*args, **kwargs)
        outcome['value'] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        outcome['ok'] = True
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent.
        outcome['summary'] = f'{type(e).__module__}.{type(e).__qualname__}: {e}'
        outcome['traceback'] = traceback.format_exc()
        try:
            outcome['exception'] = pickle.dumps(e, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(outcome['exception'])  # Must round-trip, or the parent gets a summary.
        except Exception:
            outcome['exception'] = None
    outcome['forbidden'] = tuple(m for m in header['forbid_modules'] if m in sys.modules)
    tmp_path = result_path + '.tmp'
    with open(tmp_path, 'wb') as f:
        pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp_path, result_path)  # Only a complete outcome counts as a result.
    sys.stdout.flush()


if __name__ == '__main__':
    # Run as a script, this file's directory (tests/) leads sys.path until the parent's path
    # replaces it; nothing here imports more than the standard library.
    _child_main(sys.argv[1])
    # Skip interpreter teardown (atexit handlers, native library destructors) once the result is
    # safely on disk: a crash there would be noise, not a property of the computation.
    os._exit(0)
