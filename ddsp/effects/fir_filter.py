"""`FIRFilter`: time-varying FIR filtering of audio from frequency-response magnitudes."""

from typing import Text

import gin
import tensorflow as tf

from ddsp import core, dags, processors, validation
from ddsp.effects import _checks
from ddsp.effects._checks import ScaleFn
from ddsp.serialization import keras_serializable


@keras_serializable
@gin.register(module='ddsp.effects')
class FIRFilter(processors.Processor):
    """Time-varying FIR filtering of audio from frequency-response magnitudes.

    Args:
        window_size: Length of each frame's FIR filter (see
            `core.frequency_filter`).
        scale_fn: Maps raw magnitudes to linear gains (None: identity).
        name: Layer name.

    Example:
        >>> FIRFilter(scale_fn=None)(audio, magnitudes)  # [B, T, K] gains.
    """

    def __init__(
        self,
        window_size: int = 257,
        scale_fn: ScaleFn = core.exp_sigmoid,
        name: Text = 'fir_filter',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.window_size = validation.check_int(type(self).__name__, 'window_size', window_size)
        self.scale_fn = _checks.check_scale_fn(type(self).__name__, 'scale_fn', scale_fn)

    def get_controls(self, audio, magnitudes) -> processors.TensorDict:
        """`{'audio': [B, N], 'magnitudes': scale_fn(magnitudes)}`.

        `magnitudes` are `[B, T, K]` raw gains from 0 Hz to Nyquist, K >= 2; T must
        split N into equal frames.
        """
        audio = _checks.check_audio(_checks.owner(self), audio)
        magnitudes = self._check_magnitudes(audio, magnitudes)
        magnitudes = _checks.apply(self.scale_fn, magnitudes)
        return {'audio': audio, 'magnitudes': magnitudes}

    def _check_magnitudes(self, audio, magnitudes) -> tf.Tensor:
        """`[B, T, K]` (or `[B, K]`) magnitudes with K >= 2 bands, of the audio's batch or 1."""
        magnitudes = core.filtering.check_magnitudes(_checks.owner(self), magnitudes)
        validation.check_axes_match(
            _checks.owner(self),
            'magnitudes',
            magnitudes.shape,
            'audio',
            audio.shape,
            {0: 'batch'},
            hint='one filter series per example, or one for the whole batch',
        )
        return magnitudes

    def get_signal(self, audio, magnitudes) -> tf.Tensor:
        """Filtered audio, `[B, N]`."""
        audio = _checks.check_audio(_checks.owner(self), audio)
        magnitudes = self._check_magnitudes(audio, magnitudes)
        return core.frequency_filter(audio, magnitudes, window_size=self.window_size)

    def get_config(self):
        config = super().get_config()
        config.update(window_size=self.window_size, scale_fn=dags.serialize_function(self.scale_fn))
        return config
