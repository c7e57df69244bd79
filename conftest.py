"""pytest configuration shared by the whole suite."""

import gc

# `pytester` runs small inner test sessions (tests/test_isolated.py uses it).
pytest_plugins = ['pytester']


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a long test (still run by `make test` and CI).')


def pytest_collection_finish(session):
    """Once every test module (and with them TensorFlow, Keras, librosa, ...) is imported, move
    what exists now out of the garbage collector's sight. Those objects live until the end of
    the session anyway, but every full collection would walk all of them again (about half a
    million): about 0.3 s each, a few percent of the suite. `gc.freeze` changes no object; the
    collector keeps finding cycles among everything created from here on."""
    gc.collect()
    gc.freeze()
