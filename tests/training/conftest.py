"""Fixtures shared by the training tests."""

import gin
import pytest

from ddsp.training.gin import GIN_PATH


@pytest.fixture
def gin_package_path():
    """A clean gin config whose includes resolve in the package's gin directory."""
    gin.clear_config()
    gin.add_config_file_search_path(GIN_PATH)
    yield
    gin.clear_config()
