"""`ModDelay`: a modulated delay line (chorus, flanger, vibrato)."""

from typing import Text

import tensorflow as tf

from ddsp import core, dags, processors, validation
from ddsp.effects import _checks
from ddsp.effects._checks import ScaleFn, tf_float32
from ddsp.serialization import keras_serializable


@keras_serializable
class ModDelay(processors.Processor):
    """Modulated delay line: chorus, flanger and vibrato effects.

    The delay of each sample is `center_ms + phase * depth_ms` milliseconds
    for a phase in [0, 1], read with linear interpolation
    (`core.variable_length_delay`), scaled by a per-sample gain and added to
    the dry signal if `add_dry`. Phase 1 is the longest delay (the original
    wrapped it to no delay at all); phases outside [0, 1] are clipped. Not
    registered with gin in the original.

    Args:
        center_ms: Shortest delay (phase 0), in milliseconds.
        depth_ms: Range of the modulation, in milliseconds.
        sample_rate: Audio sample rate in Hz.
        gain_scale_fn: Maps the raw gain to the wet level (None: identity).
        phase_scale_fn: Maps the raw phase to [0, 1] (None: identity).
        add_dry: Return wet + dry audio; otherwise only the wet signal.
        name: Layer name.

    Example:
        >>> ModDelay()(audio, gain, phase)  # gain and phase [B, N, 1].
    """

    def __init__(
        self,
        center_ms: float = 15.0,
        depth_ms: float = 10.0,
        sample_rate: int = 16000,
        gain_scale_fn: ScaleFn = core.exp_sigmoid,
        phase_scale_fn: ScaleFn = tf.nn.sigmoid,
        add_dry: bool = True,
        name: Text = 'mod_delay',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.center_ms = validation.check_number(owner, 'center_ms', center_ms, minimum=0.0)
        self.depth_ms = validation.check_number(owner, 'depth_ms', depth_ms, minimum=0.0)
        validation.check_positive_number(owner, 'sample_rate', sample_rate)
        self.sample_rate = sample_rate  # Kept as given: an int stays an int in the config.
        if self.max_length < 1:
            validation.fail(
                owner,
                'center_ms + depth_ms',
                f'at least {1000.0 / sample_rate} ms, a longest delay of one '
                f'sample at sample_rate={sample_rate}',
                self.center_ms + self.depth_ms,
            )
        self.gain_scale_fn = _checks.check_scale_fn(owner, 'gain_scale_fn', gain_scale_fn)
        self.phase_scale_fn = _checks.check_scale_fn(owner, 'phase_scale_fn', phase_scale_fn)
        self.add_dry = bool(add_dry)

    @property
    def max_length(self) -> int:
        """Longest delay in samples, `int(sample_rate / 1000 * (center + depth))`."""
        return int(self.sample_rate / 1000.0 * (self.center_ms + self.depth_ms))

    def get_controls(self, audio, gain, phase) -> processors.TensorDict:
        """Scales the raw controls.

        Args:
            audio: `[B, N]` dry audio.
            gain: `[B, N, 1]` raw wet gain, mapped by `gain_scale_fn`.
            phase: `[B, N, 1]` raw delay phase, mapped by `phase_scale_fn`.

        Returns:
            `{'audio': [B, N], 'gain': [B, N, 1], 'phase': [B, N, 1]}`.
        """
        audio = _checks.check_audio(_checks.owner(self), audio)
        gain = _checks.apply(self.gain_scale_fn, tf_float32(gain))
        phase = _checks.apply(self.phase_scale_fn, tf_float32(phase))
        return {'audio': audio, 'gain': gain, 'phase': phase}

    def get_signal(self, audio, gain, phase) -> tf.Tensor:
        """Delayed audio times gain (plus dry), `[B, N]`."""
        audio, gain, phase = tf_float32(audio), tf_float32(gain), tf_float32(phase)
        if gain.shape.rank == 3:
            gain = gain[..., 0]
        # variable_length_delay reads a periodic table: a delay of its whole length wraps to
        # zero. Two entries beyond the longest delay (its fractional part and the upper
        # interpolation neighbour) keep every delay in [center, center + depth] off the wrap.
        table = self.max_length + 2
        delay = (self.center_ms + tf.clip_by_value(phase, 0.0, 1.0) * self.depth_ms) * (
            self.sample_rate / 1000.0
        )
        wet = core.variable_length_delay(delay / table, audio, max_length=table) * gain
        return wet + audio if self.add_dry else wet

    def get_config(self):
        config = super().get_config()
        config.update(
            center_ms=self.center_ms,
            depth_ms=self.depth_ms,
            sample_rate=self.sample_rate,
            gain_scale_fn=dags.serialize_function(self.gain_scale_fn),
            phase_scale_fn=dags.serialize_function(self.phase_scale_fn),
            add_dry=self.add_dry,
        )
        return config
