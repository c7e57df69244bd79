"""The package's gin config files (datasets/, models/, optimization/, papers/).

`GIN_PATH` is this directory; add it to gin's search path to parse the configs by their
relative names::

    gin.add_config_file_search_path(GIN_PATH)
    gin.parse_config_file('models/solo_instrument.gin')
"""

import os

GIN_PATH = os.path.dirname(os.path.abspath(__file__))

__all__ = ['GIN_PATH']
