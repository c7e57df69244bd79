"""The package's version, written once: in `pyproject.toml` (`[project] version`).

In a checkout (`pyproject.toml` beside the package, as with `make venv`'s editable install)
it is read from there, so it can never disagree with the file; an installed wheel reads the
metadata that was built from it.
"""

import importlib.metadata
import os
import tomllib


def _read_version() -> str:
    pyproject = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'pyproject.toml')
    if os.path.isfile(pyproject):
        with open(pyproject, 'rb') as f:
            project = tomllib.load(f).get('project', {})
        if project.get('name') == 'ddsp':
            return project['version']
    return importlib.metadata.version('ddsp')


__version__ = _read_version()
