"""The Processor contract, and processors that combine signals.

A processor is a Keras layer that turns raw network outputs into audio in two
steps: `get_controls` scales and constrains the raw values (e.g. squashing
amplitudes to be positive), and `get_signal` renders audio from the controls.
Calling it does both: `processor(*inputs) == get_signal(**get_controls(
*inputs))`.
"""

from typing import Dict, Text

import gin
import keras
import tensorflow as tf

from ddsp import core, dags, gin_keras, validation
from ddsp.serialization import keras_serializable

TensorDict = Dict[Text, tf.Tensor]

_CROP_LOCATIONS = ('back', 'front', 'center')


class Processor(keras.layers.Layer):
    """Base class of synthesizers and effects.

    Subclasses implement `get_controls(*inputs) -> dict` and
    `get_signal(**controls) -> tensor`.

    Args:
        name: Layer name; also the processor's key in a `ProcessorGroup`.
        trainable: Whether the processor's weights (if any) are trained.
    """

    def __init__(self, name: Text = None, trainable: bool = False, **kwargs):
        super().__init__(name=name, trainable=trainable, autocast=False, **kwargs)
        # Controls may be Python numbers or None (e.g. Reverb's optional IR).
        self._allow_non_tensor_positional_args = True

    def build(self, input_shape=None):
        """Most processors have no weights; those that do override this."""
        self.built = True

    @classmethod
    def from_config(cls, config):
        """Restores callables (`*_fn` arguments) saved as dotted paths."""
        return super().from_config(dags.deserialize_functions(config))

    def call(self, *args, return_outputs_dict: bool = False, **kwargs):
        """`get_signal(**get_controls(*args))`; or the signal and controls.

        With `return_outputs_dict=True` returns `{'signal': audio,
        'controls': controls}`.
        """
        kwargs.pop('training', None)
        kwargs.pop('mask', None)
        controls = self.get_controls(*args, **kwargs)
        signal = self.get_signal(**controls)
        if return_outputs_dict:
            return {'signal': signal, 'controls': controls}
        return signal

    def get_controls(self, *args, **kwargs) -> TensorDict:
        """Converts raw inputs to synthesizer controls."""
        raise NotImplementedError(f'{type(self).__name__} must implement get_controls().')

    def get_signal(self, *args, **kwargs) -> tf.Tensor:
        """Renders a signal from controls."""
        raise NotImplementedError(f'{type(self).__name__} must implement get_signal().')


@keras_serializable
@gin_keras.configurable
class ProcessorGroup(dags.DAGLayer):
    """Runs a DAG of processors and returns the last one's signal.

    Args:
        dag: A list of `(processor, [input keys])` nodes (see `dags.DAGLayer`).
        **kwarg_processors: Processors named by attribute, and Keras layer
            arguments.

    Example:
        >>> group = ProcessorGroup(dag=[
        ...     (ddsp.synths.Harmonic(), ['amps', 'harmonic_distribution',
        ...                               'f0_hz']),
        ...     (ddsp.effects.Reverb(trainable=True), ['harmonic/signal'])])
        >>> audio = group(controls)  # [batch, n_samples]
    """

    def __init__(self, dag: dags.DAG, **kwarg_processors):
        kwarg_processors.setdefault('name', 'processor_group')
        super().__init__(dag=dag, **kwarg_processors)

    @property
    def processor_names(self):
        return self.module_names

    @property
    def processors(self):
        return self.modules

    def call(self, inputs: TensorDict, return_outputs_dict: bool = False, **kwargs):
        """The DAG's final signal; or `{'signal', 'controls': all outputs}`."""
        outputs = self.get_controls(inputs, **kwargs)
        signal = self.get_signal(outputs)
        if return_outputs_dict:
            return {'signal': signal, 'controls': outputs}
        return signal

    def get_controls(self, inputs: TensorDict, **kwargs) -> TensorDict:
        """Runs the DAG; returns the nested dict of every node's outputs."""
        self.built = True
        return self.run_dag(inputs, **kwargs)

    def get_signal(self, outputs: TensorDict) -> tf.Tensor:
        """The last node's signal: `outputs['out']['signal']`."""
        return outputs['out']['signal']


@keras_serializable
@gin.register
class Add(Processor):
    """Sums two signals. Example: `Add()(harmonic_audio, noise_audio)`."""

    def __init__(self, name: Text = 'add', **kwargs):
        super().__init__(name=name, **kwargs)

    def get_controls(self, signal_one, signal_two) -> TensorDict:
        """The two signals, passed through."""
        return {'signal_one': signal_one, 'signal_two': signal_two}

    def get_signal(self, signal_one, signal_two) -> tf.Tensor:
        """Their sum (broadcasting as `+` does)."""
        return signal_one + signal_two


@keras_serializable
@gin.register
class Mix(Processor):
    """Crossfades two signals with a time-varying mix level.

    `get_controls(signal_one, signal_two, nn_out_mix_level)`: signals `[B, N]`
    or `[B, N, C]` of equal length and raw mix levels `[B, T, 1]` (or `[B, T]`),
    squashed by a sigmoid and upsampled linearly to N; with `[B, N, C]` signals the
    level `[B, N, 1]` applies to every channel. `get_signal` returns
    `sqrt(m) s1 + sqrt(1 - m) s2`, an equal-power crossfade: `m = 1` gives `s1`,
    `m = 0` gives `s2`.

    Example:
        >>> mixed = Mix()(harmonic_audio, noise_audio, raw_levels)  # [B, N], [B, T, 1]
    """

    def __init__(self, name: Text = 'mix', **kwargs):
        super().__init__(name=name, **kwargs)

    def get_controls(self, signal_one, signal_two, nn_out_mix_level) -> TensorDict:
        """`{'signal_one', 'signal_two', 'mix_level'}`, the level in [0, 1] at audio rate."""
        signal_one = core.tf_float32(signal_one)
        signal_two = core.tf_float32(signal_two)
        n_samples = signal_one.shape[1]
        if n_samples != signal_two.shape[1]:
            validation.fail(
                'Mix',
                'signal_two.shape',
                f'of equal length to signal_one ({n_samples} samples)',
                signal_two.shape,
            )
        mix_level = tf.nn.sigmoid(core.tf_float32(nn_out_mix_level))
        mix_level = core.resample(mix_level, n_samples)
        if signal_one.shape.rank == 2 and mix_level.shape.rank == 3:
            mix_level = mix_level[..., 0]  # [B, N] signals: a [B, N] level.
        elif signal_one.shape.rank == 3 and mix_level.shape.rank == 2:
            mix_level = mix_level[..., tf.newaxis]  # One level for every channel.
        return {'signal_one': signal_one, 'signal_two': signal_two, 'mix_level': mix_level}

    def get_signal(self, signal_one, signal_two, mix_level) -> tf.Tensor:
        """The crossfade, shaped like the signals."""
        mix_level = tf.clip_by_value(mix_level, 0.0, 1.0)
        return tf.sqrt(mix_level) * signal_one + tf.sqrt(1.0 - mix_level) * signal_two


@keras_serializable
@gin.register
class Crop(Processor):
    """Removes samples from the back, front, or both ends of audio.

    Args:
        frame_size: `'back'`/`'front'` remove `2 * (frame_size // 2)` samples
            from that end; `'center'` removes `frame_size // 2` from each end
            (undoing centre padding).
        crop_location: 'back', 'front' or 'center'.

    Example:
        >>> Crop(frame_size=1024, crop_location='center')(audio)  # [B, N] -> [B, N - 1024]
    """

    def __init__(
        self, frame_size: int, crop_location: Text = 'back', name: Text = 'crop', **kwargs
    ):
        super().__init__(name=name, **kwargs)
        validation.check_choice('Crop', 'crop_location', crop_location, _CROP_LOCATIONS)
        self.frame_size = validation.check_int('Crop', 'frame_size', frame_size, minimum=0)
        self.crop_location = crop_location

    def get_controls(self, audio) -> TensorDict:
        """`{'audio': [B, N]}` as float32."""
        return {'audio': core.tf_float32(audio)}

    def get_signal(self, audio) -> tf.Tensor:
        """The cropped `[B, N - 2 * (frame_size // 2)]` audio."""
        half = self.frame_size // 2
        n = audio.shape[1]
        if self.crop_location == 'back':
            return audio[:, : n - 2 * half]
        if self.crop_location == 'front':
            return audio[:, 2 * half :]
        return audio[:, half : n - half]

    def get_config(self):
        config = super().get_config()
        config.update(frame_size=self.frame_size, crop_location=self.crop_location)
        return config
