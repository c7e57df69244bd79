"""DDSP models: `Model` (the base class), `Autoencoder`, `InverseSynthesis`, and `get_model`.

The models are gin-configurable as `models.Autoencoder` and `models.InverseSynthesis` (full
names `ddsp.training.models.<Name>`); `get_model(model=@models.Autoencoder())` returns the
model bound in gin.
"""

import gin

from ddsp.training.models.autoencoder import Autoencoder
from ddsp.training.models.inverse_synthesis import InverseSynthesis
from ddsp.training.models.model import Model


@gin.configurable
def get_model(model=gin.REQUIRED):
    """The model bound in gin, e.g. `get_model.model = @models.Autoencoder()`."""
    return model


__all__ = ['Autoencoder', 'InverseSynthesis', 'Model', 'get_model']
