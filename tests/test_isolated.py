"""tests/isolated.py: a crash in a reference computation fails one test, not the run.

The computations here are tiny standard-library calls, so each child costs an interpreter start
(~0.1-0.2 s) and nothing else.
"""

import importlib
import os
import textwrap
import time

from isolated import ChildError, run_isolated
import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def test_a_segfault_fails_only_its_own_test_with_the_signal_named(pytester):
    pytester.syspathinsert(TESTS_DIR)  # The inner session imports tests/isolated.py.
    pytester.makepyfile(
        test_inner=textwrap.dedent("""
        import ctypes

        from isolated import run_isolated


        def test_reference_segfaults():
            run_isolated(ctypes.string_at, args=(0,), name="ctypes.string_at(0)")


        def test_reference_after_the_crash_still_runs():
            assert run_isolated(divmod, args=(7, 2)) == (3, 1)
    """)
    )
    result = pytester.runpytest_inprocess('-p', 'no:cacheprovider')
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            '*test_reference_segfaults*',
            '*reference computation ctypes.string_at(0) died with SIGSEGV in its subprocess*',
        ]
    )
    # faulthandler's report from the child says where it crashed.
    result.stdout.fnmatch_lines(['*Fatal Python error: Segmentation fault*'])
    result.stdout.fnmatch_lines(['*string_at*'])


def test_result_comes_back():
    assert run_isolated(divmod, args=(7, 2)) == (3, 1)
    assert run_isolated(sorted, args=([3, 1, 2],), kwargs={'reverse': True}) == [3, 2, 1]


def test_other_signals_and_exits_are_named():
    with pytest.raises(
        pytest.fail.Exception, match=r'reference computation abort\(\) died with SIGABRT'
    ) as e:
        run_isolated(os.abort, name='abort()', crash_hint='What to try next.')
    assert '\nWhat to try next.\n' in str(e.value)
    with pytest.raises(pytest.fail.Exception, match=r'exited with status 3 without a result'):
        run_isolated(os._exit, args=(3,), name='os._exit(3)')


def test_an_exception_in_the_child_is_raised_with_its_message_and_traceback():
    with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'x'") as e:
        run_isolated(int, args=('x',), name="int('x')")
    note = '\n'.join(e.value.__notes__)
    assert "raised in the subprocess of reference computation int('x')" in note
    assert 'Traceback (most recent call last)' in note


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError('not picklable')


def raise_unpicklable():
    """Module-level, so that the child can import it by name."""
    raise _Unpicklable('the message survives')


def test_an_exception_that_does_not_pickle_is_reported_by_its_text():
    with pytest.raises(ChildError, match='_Unpicklable: the message survives'):
        run_isolated(raise_unpicklable)


def test_timeout_kills_the_child_and_fails():
    start = time.perf_counter()
    with pytest.raises(
        pytest.fail.Exception, match=r'reference computation sleep\(60\) did not finish within 1 s'
    ):
        run_isolated(time.sleep, args=(60,), name='sleep(60)', timeout=1)
    assert time.perf_counter() - start < 30


def test_forbidden_modules_are_reported():
    # The default forbids TensorFlow; any module name works the same way.
    with pytest.raises(pytest.fail.Exception, match='imported json in its subprocess'):
        run_isolated(importlib.import_module, args=('json',), forbid_modules=('json',))


def test_a_crash_in_a_background_job_fails_the_test_that_reads_it(pytester):
    """Through tests/conftest.py's background jobs too (pyin runs that way)."""
    pytester.syspathinsert(TESTS_DIR)
    pytester.makeconftest(
        textwrap.dedent("""
        from background import (  # noqa: F401
            _background_jobs,
            background_result,
            pytest_collection_modifyitems,
            pytest_configure,
        )
    """)
    )
    pytester.makepyfile(
        test_inner=textwrap.dedent("""
        import ctypes

        import pytest

        from isolated import run_isolated

        BACKGROUND_JOBS = {
            'crash': lambda tmp: lambda: run_isolated(ctypes.string_at, args=(0,),
                                                      name='crash job'),
            'fine': lambda tmp: lambda: run_isolated(divmod, args=(7, 2)),
        }


        @pytest.mark.background_job('crash')
        def test_reads_the_crash(background_result):
            background_result('crash')


        @pytest.mark.background_job('fine')
        def test_reads_the_other(background_result):
            assert background_result('fine') == (3, 1)


        def test_without_jobs():
            pass
    """)
    )
    result = pytester.runpytest_inprocess('-p', 'no:cacheprovider')
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(['*reference computation crash job died with SIGSEGV*'])
