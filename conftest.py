"""pytest configuration shared by the whole suite."""


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: a long test (still run by `make test` and CI).')
