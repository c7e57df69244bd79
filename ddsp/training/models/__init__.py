"""DDSP models: `Model` (the base class), `Autoencoder`, and `get_model` for gin.

The models are gin-configurable as `models.Autoencoder` (full name
`ddsp.training.models.Autoencoder`); `get_model(model=@models.Autoencoder())` returns the model
bound in gin.
"""

import gin

from ddsp.training.models.autoencoder import Autoencoder
from ddsp.training.models.model import Model


@gin.configurable
def get_model(model=gin.REQUIRED):
    """The model bound in gin, e.g. `get_model.model = @models.Autoencoder()`."""
    return model


__all__ = ['Autoencoder', 'Model', 'get_model']
