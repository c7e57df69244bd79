"""The version is written once, in pyproject.toml, and ddsp.__version__ is that string."""

import importlib.metadata
import pathlib
import tomllib

import ddsp


def test_version_comes_from_pyproject():
    pyproject = pathlib.Path(__file__).resolve().parents[1] / 'pyproject.toml'
    with open(pyproject, 'rb') as f:
        written = tomllib.load(f)['project']['version']
    assert ddsp.__version__ == written
    # The installed metadata (make venv installs this checkout) agrees.
    assert importlib.metadata.version('ddsp') == written


def test_no_other_file_writes_the_version():
    root = pathlib.Path(__file__).resolve().parents[1]
    for path in list((root / 'ddsp').rglob('*.py')) + [root / 'README.md']:
        assert f"'{ddsp.__version__}'" not in path.read_text(), path
