"""One way to register a layer for Keras serialization.

A layer saved by `keras.saving` is named `<package>>ClassName` in its config: `ddsp>Harmonic`
for the core library, `ddsp.training>RnnFcDecoder` for the training library. The package is
derived from the module that defines the class, so moving a class between modules of the
same library never renames it in saved models.

Example:
    >>> from ddsp.serialization import keras_serializable
    >>> @keras_serializable
    ... class Gain(keras.layers.Layer): ...
    >>> keras.saving.get_registered_name(Gain)  # 'ddsp>Gain'
"""

import keras

CORE_PACKAGE = 'ddsp'
TRAINING_PACKAGE = 'ddsp.training'


def package_of(cls) -> str:
    """`ddsp.training` for classes of the training library, else `ddsp`."""
    module = cls.__module__
    in_training = module == TRAINING_PACKAGE or module.startswith(TRAINING_PACKAGE + '.')
    return TRAINING_PACKAGE if in_training else CORE_PACKAGE


def keras_serializable(cls):
    """Class decorator: registers `cls` with `keras.saving` as `<package>>ClassName`."""
    return keras.saving.register_keras_serializable(package=package_of(cls))(cls)
