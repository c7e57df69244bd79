"""Functions that saved layer configs name, for tests/training/test_reliability_training.py.

`recording_sigmoid` is a plain module function (not registered for Keras serialisation): a
saved model naming it must not load in Keras's safe mode, and loading it with
`safe_mode=False` calls it (the Sequential model runs its layers when rebuilt), which `CALLS`
records. `registered_sigmoid` is registered, so it loads in safe mode.
"""

import keras
import tensorflow as tf

CALLS = []


def recording_sigmoid(x):
    """`sigmoid(x)`, recording that it ran."""
    CALLS.append('recording_sigmoid')
    return tf.sigmoid(x)


@keras.saving.register_keras_serializable(package='ddsp_reliability_tests')
def registered_sigmoid(x):
    """`2 sigmoid(x)`, registered with `keras.saving.register_keras_serializable`."""
    return 2.0 * tf.sigmoid(x)
