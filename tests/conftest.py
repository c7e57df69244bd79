"""Fixtures and hooks shared by every test under tests/.

Background jobs (tests/background.py): subprocess checks that start when the session does and
are read by their tests later; see that module.
"""

from background import (  # noqa: F401 (pytest finds fixtures and hooks by name here)
    _background_jobs,
    background_result,
    pytest_collection_modifyitems,
    pytest_configure,
)
