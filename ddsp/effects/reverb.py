"""Reverbs: audio convolved with an impulse response, given, learned or parameterised.

`Reverb` takes the IR as an input or learns it as the weight `ir` (`trainable=True`);
`ExpDecayReverb` and `FilteredNoiseReverb` build it from exponentially decaying noise or from
filtered noise, with fresh noise on every call. The old trainable-only names (`TrainableReverb`,
`FixedReverb`, `TrainableExpDecayReverb`) are kept at the end.
"""

from typing import Optional, Text
import warnings

import gin
import keras
import tensorflow as tf

from ddsp import core, dags, processors, synths, validation
from ddsp.effects import _checks
from ddsp.effects._checks import ScaleFn, tf_float32
from ddsp.serialization import keras_serializable


@keras_serializable
@gin.register(module='ddsp.effects')
class Reverb(processors.Processor):
    """Convolutional reverb with a given or a learned impulse response.

    The first IR sample is zeroed (the direct path is the dry signal, added
    when `add_dry`), then the audio is convolved with the IR by FFT without
    delay compensation and cropped to the input length.

    Args:
        trainable: Learn a single IR as the weight `ir` (`[reverb_length]`,
            initialised from N(0, 1e-6)) and use it for every example; then any
            `ir` passed to `get_controls` is ignored. Otherwise the IR is an
            input of `get_controls`.
        reverb_length: Length of the learned IR in samples (trainable only).
        add_dry: Return wet + dry audio; otherwise only the wet signal.
        name: Layer name, and the processor's key in a `ProcessorGroup`.
        decay_db: Trainable only: the IR used is the weight `ir` times a fixed
            exponential envelope that falls from 0 dB at the first sample to
            -decay_db at the last, so that the learned IR decays like a
            room's (60: an RT60 of `reverb_length` samples). None: no envelope.
        **kwargs: Keras layer arguments. The deprecated `reverb_only=True` of
            the first releases means `add_dry=False`.

    Example:
        >>> reverb = Reverb(trainable=True, reverb_length=16000)
        >>> wet_and_dry = reverb(audio)  # [batch, n_samples]
        >>> Reverb()(audio, ir)  # A given IR, [batch, ir_size].
        >>> Reverb(trainable=True, reverb_length=800, decay_db=60.0).learned_ir  # [800]
    """

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        add_dry: bool = True,
        name: Text = 'reverb',
        decay_db: Optional[float] = None,
        **kwargs,
    ):
        reverb_only = kwargs.pop('reverb_only', None)
        super().__init__(name=name, trainable=trainable, **kwargs)
        if reverb_only is not None:
            warnings.warn(
                f'Reverb(reverb_only=...) is deprecated; use add_dry={not reverb_only} instead.',
                DeprecationWarning,
                stacklevel=2,
            )
            if not reverb_only and add_dry is False:
                validation.fail(
                    type(self).__name__,
                    'reverb_only',
                    'omitted with add_dry=False (conflicting arguments: '
                    'reverb_only is the deprecated opposite of add_dry; pass only '
                    'add_dry)',
                    reverb_only,
                )
            add_dry = not reverb_only
        self._learns_controls = bool(trainable)
        self.reverb_length = validation.check_int(
            type(self).__name__, 'reverb_length', reverb_length
        )
        self.add_dry = bool(add_dry)
        self.decay_db = None
        if decay_db is not None:
            owner = type(self).__name__
            if not trainable:
                expected = 'None unless trainable=True (it shapes a learned IR)'
                validation.fail(owner, 'decay_db', expected, decay_db)
            self.decay_db = validation.check_number(owner, 'decay_db', decay_db, minimum=0.0)

    def build(self, input_shape=None):
        """Creates the weight `ir` (trainable only); the shape is not used."""
        if self._learns_controls:
            self.ir = self.add_weight(
                name='ir',
                shape=(self.reverb_length,),
                initializer=keras.initializers.RandomNormal(mean=0.0, stddev=1e-6),
            )

    @property
    def learned_ir(self) -> tf.Tensor:
        """The learned IR as used, `[reverb_length]`: the weight `ir` under the `decay_db`
        envelope, if any. Trainable reverbs only (builds the layer if needed)."""
        if not self._learns_controls:
            validation.fail(
                _checks.owner(self),
                'learned_ir',
                'a reverb created with trainable=True',
                'a given IR',
            )
        if not self.built:
            self.build()
        if self.decay_db is None:
            return tf.convert_to_tensor(self.ir)
        envelope = core.db_to_amplitude(-self.decay_db * tf.linspace(0.0, 1.0, self.reverb_length))
        return self.ir * envelope

    def get_controls(self, audio, ir=None) -> processors.TensorDict:
        """Pairs the audio with its IR: the learned one, or `ir` as `[B, L]`.

        Args:
            audio: `[B, N]` dry audio.
            ir: `[B, L]` or `[B, L, 1]` impulse responses; required unless the
                reverb is trainable, in which case it is ignored.

        Returns:
            `{'audio': [B, N], 'ir': [B, L]}`.
        """
        audio = _checks.check_audio(_checks.owner(self), audio)
        if self._learns_controls:
            ir = _checks.tile_to_batch(self.learned_ir, audio)
        elif ir is None:
            validation.fail(
                _checks.owner(self),
                'ir',
                'an impulse response of shape [batch, ir_size], as in '
                '`reverb(audio, ir)`, unless the reverb is created with '
                'trainable=True to learn it',
                ir,
            )
        else:
            ir = self._check_ir(ir)
            validation.check_axes_match(
                _checks.owner(self),
                'ir',
                ir.shape,
                'audio',
                audio.shape,
                {0: 'batch'},
                hint='one impulse response per example, or one for the whole batch',
            )
        return {'audio': audio, 'ir': ir}

    def _check_ir(self, ir) -> tf.Tensor:
        ir = tf_float32(ir)
        if ir.shape.rank == 3 and ir.shape[-1] == 1:
            ir = ir[..., 0]
        if ir.shape.rank != 2:
            validation.fail(
                _checks.owner(self), 'ir.shape', '[batch, ir_size] or [batch, ir_size, 1]', ir.shape
            )
        if ir.shape[1] == 0:
            validation.fail(
                _checks.owner(self),
                'ir.shape',
                '[batch, ir_size] with ir_size >= 1',
                tuple(ir.shape),
            )
        return ir

    def get_signal(self, audio, ir) -> tf.Tensor:
        """Wet (plus dry) audio, `[B, N]`, for audio `[B, N]` and IR `[B, L]`."""
        audio = tf_float32(audio)
        ir = self._check_ir(ir)
        # Sample 0 is the direct path: zero it so that the wet signal is all
        # reflections, and the dry level is fixed by `add_dry`.
        ir = core.pad_axis(core.slice_axis(ir, 1, axis=1), (1, 0), axis=1)
        wet = core.fft_convolve(audio, ir, padding='same', delay_compensation=0)
        return wet + audio if self.add_dry else wet

    def get_config(self):
        config = super().get_config()
        # `trainable` records whether the layer owns weights (its structure),
        # not whether they are currently frozen with `layer.trainable = False`.
        config.update(
            trainable=self._learns_controls,
            reverb_length=self.reverb_length,
            add_dry=self.add_dry,
            decay_db=self.decay_db,
        )
        return config


@keras_serializable
@gin.register(module='ddsp.effects')
class ExpDecayReverb(Reverb):
    """Reverb whose IR is noise under an exponentially decaying envelope.

    `ir = scale_fn(gain) * exp(-(2 + exp(decay)) * t) * noise`, with
    `t = linspace(0, 1, reverb_length)` and uniform noise in [-1, 1] drawn
    afresh on every call, so the output is random.

    Args:
        trainable: Learn `gain` and `decay` as weights of shape [1]
            (initialised to 2.0 and 4.0), shared by every example. Otherwise
            they are inputs of `get_controls`.
        reverb_length: IR length in samples.
        scale_fn: Maps the raw gain to a positive amplitude (None: identity).
        add_dry: Return wet + dry audio; otherwise only the wet signal.
        name: Layer name.

    Example:
        >>> ExpDecayReverb(reverb_length=16000)(audio, gain, decay)  # [B, 1]s
    """

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        scale_fn: ScaleFn = core.exp_sigmoid,
        add_dry: bool = True,
        name: Text = 'exp_decay_reverb',
        **kwargs,
    ):
        super().__init__(
            trainable=trainable, reverb_length=reverb_length, add_dry=add_dry, name=name, **kwargs
        )
        self.scale_fn = _checks.check_scale_fn(type(self).__name__, 'scale_fn', scale_fn)

    def build(self, input_shape=None):
        """Creates the weights `gain` and `decay` (trainable only)."""
        if self._learns_controls:
            self.gain = self.add_weight(
                name='gain', shape=(1,), initializer=keras.initializers.Constant(2.0)
            )
            self.decay = self.add_weight(
                name='decay', shape=(1,), initializer=keras.initializers.Constant(4.0)
            )

    def _get_ir(self, gain: tf.Tensor, decay: tf.Tensor) -> tf.Tensor:
        """`[B, reverb_length]` IRs for gain and decay of shape `[B, 1]`."""
        gain = _checks.apply(self.scale_fn, gain)
        decay_rate = 2.0 + tf.exp(decay)
        time = tf.linspace(0.0, 1.0, self.reverb_length)[tf.newaxis, :]
        noise = tf.random.uniform([tf.shape(gain)[0], self.reverb_length], minval=-1.0, maxval=1.0)
        return gain * tf.exp(-decay_rate * time) * noise

    def get_controls(self, audio, gain=None, decay=None) -> processors.TensorDict:
        """Draws an IR from the learned or given gain and decay.

        Args:
            audio: `[B, N]` dry audio.
            gain: `[B, 1]` raw gain (before `scale_fn`); required unless
                trainable, then ignored.
            decay: `[B, 1]` log of the decay rate minus 2; as `gain`.

        Returns:
            `{'audio': [B, N], 'ir': [B, reverb_length]}`.
        """
        audio = _checks.check_audio(_checks.owner(self), audio)
        if self._learns_controls:
            gain = _checks.tile_to_batch(self.gain, audio)
            decay = _checks.tile_to_batch(self.decay, audio)
        elif gain is None or decay is None:
            name, value = ('gain', gain) if gain is None else ('decay', decay)
            validation.fail(
                _checks.owner(self),
                name,
                'of shape [batch, 1], as in `reverb(audio, gain, decay)`, unless '
                'the reverb is created with trainable=True to learn gain and decay',
                value,
            )
        else:
            gain = _checks.batch_scalar(_checks.owner(self), 'gain', gain)
            decay = _checks.batch_scalar(_checks.owner(self), 'decay', decay)
        return {'audio': audio, 'ir': self._get_ir(gain, decay)}

    def get_config(self):
        config = super().get_config()
        config.update(scale_fn=dags.serialize_function(self.scale_fn))
        return config


@keras_serializable
@gin.register(module='ddsp.effects')
class FilteredNoiseReverb(Reverb):
    """Reverb whose IR is filtered noise with time-varying spectral shape.

    The IR is `synths.FilteredNoise(n_samples=reverb_length, window_size,
    scale_fn, initial_bias)` applied to the magnitudes: uniform noise in
    [-1, 1], drawn afresh on every call, filtered by FIRs whose gains are
    `scale_fn(magnitudes + initial_bias)`.

    Args:
        trainable: Learn the magnitudes as the weight `magnitudes`
            (`[n_frames, n_filter_banks]`, initialised from N(0, 0.01)), shared
            by every example. Otherwise they are an input of `get_controls`.
        reverb_length: IR length in samples.
        window_size: Length of each frame's FIR filter (see
            `core.frequency_filter`).
        n_frames: Frames of the learned magnitudes (trainable only); they must
            split `reverb_length` into equal frames.
        n_filter_banks: Frequency bands of the learned magnitudes (>= 2).
        scale_fn: Maps raw magnitudes to linear gains (None: identity).
        initial_bias: Added to the magnitudes before `scale_fn`.
        add_dry: Return wet + dry audio; otherwise only the wet signal.
        name: Layer name.
    """

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        window_size: int = 257,
        n_frames: int = 1000,
        n_filter_banks: int = 16,
        scale_fn: ScaleFn = core.exp_sigmoid,
        initial_bias: float = -3.0,
        add_dry: bool = True,
        name: Text = 'filtered_noise_reverb',
        **kwargs,
    ):
        super().__init__(
            trainable=trainable, reverb_length=reverb_length, add_dry=add_dry, name=name, **kwargs
        )
        owner = type(self).__name__
        self.window_size = validation.check_int(owner, 'window_size', window_size)
        self.n_frames = validation.check_int(owner, 'n_frames', n_frames)
        self.n_filter_banks = validation.check_int(
            owner, 'n_filter_banks', n_filter_banks, minimum=2
        )
        # Only the learned magnitudes have n_frames frames; given magnitudes
        # are checked by `core.frequency_filter` when the IR is drawn.
        if self._learns_controls and (
            self.n_frames > self.reverb_length
            or core.equal_frames(self.reverb_length, self.n_frames)[1] != self.n_frames
        ):
            validation.fail(
                owner,
                'n_frames',
                f'a number of frames that cuts reverb_length={reverb_length} '
                'into that many equal frames, such as a divisor of it',
                n_frames,
            )
        self.scale_fn = _checks.check_scale_fn(owner, 'scale_fn', scale_fn)
        self.initial_bias = validation.check_number(owner, 'initial_bias', initial_bias)
        self._noise = synths.FilteredNoise(
            n_samples=self.reverb_length,
            window_size=self.window_size,
            scale_fn=self.scale_fn,
            initial_bias=self.initial_bias,
            name='filtered_noise',
        )

    def build(self, input_shape=None):
        """Creates the weight `magnitudes` (trainable only)."""
        if self._learns_controls:
            self.magnitudes = self.add_weight(
                name='magnitudes',
                shape=(self.n_frames, self.n_filter_banks),
                initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.01),
            )

    def get_controls(self, audio, magnitudes=None) -> processors.TensorDict:
        """Draws a filtered-noise IR from the learned or given magnitudes.

        Args:
            audio: `[B, N]` dry audio.
            magnitudes: `[B, T, K]` raw filter magnitudes (before
                `initial_bias` and `scale_fn`); T must split reverb_length
                into equal frames. Required unless trainable, then ignored.

        Returns:
            `{'audio': [B, N], 'ir': [B, reverb_length]}`.
        """
        audio = _checks.check_audio(_checks.owner(self), audio)
        if self._learns_controls:
            magnitudes = _checks.tile_to_batch(self.magnitudes, audio)
        elif magnitudes is None:
            validation.fail(
                _checks.owner(self),
                'magnitudes',
                'of shape [batch, n_frames, n_filter_banks], as in '
                '`reverb(audio, magnitudes)`, unless the reverb is created with '
                'trainable=True to learn them',
                magnitudes,
            )
        else:
            magnitudes = tf_float32(magnitudes)
            if magnitudes.shape.rank != 3:
                validation.fail(
                    _checks.owner(self),
                    'magnitudes.shape',
                    '[batch, n_frames, n_filter_banks]',
                    magnitudes.shape,
                )
            core.filtering.check_magnitudes(_checks.owner(self), magnitudes)
        ir = self._noise(magnitudes)
        return {'audio': audio, 'ir': ir}

    def get_config(self):
        config = super().get_config()
        config.update(
            window_size=self.window_size,
            n_frames=self.n_frames,
            n_filter_banks=self.n_filter_banks,
            scale_fn=dags.serialize_function(self.scale_fn),
            initial_bias=self.initial_bias,
        )
        return config


# ----------------------------------------------------------------------------------------------
# Old names (2019-2020 releases)
# ----------------------------------------------------------------------------------------------
def _check_always_trainable(cls_name: Text, base: Text, trainable) -> None:
    """The old trainable-only names accept only `trainable=True`."""
    if not trainable:
        validation.fail(
            cls_name,
            'trainable',
            f'True: {cls_name} always learns its controls (use '
            f'{base}(trainable=False) for controls given as inputs)',
            trainable,
        )


@keras_serializable
@gin.register(module='ddsp.effects')
class TrainableReverb(Reverb):
    """Old name of `Reverb(trainable=True)`: a learned IR, the weight `ir`.

    Example (the original README):
        >>> reverb = ddsp.effects.TrainableReverb()
        >>> dag = [..., (reverb, ['add/signal'])]  # Outputs 'reverb/signal'.
    """

    def __init__(
        self,
        reverb_length: int = 48000,
        add_dry: bool = True,
        name: Text = 'reverb',
        trainable: bool = True,
        **kwargs,
    ):
        _check_always_trainable(type(self).__name__, 'Reverb', trainable)
        super().__init__(
            trainable=True, reverb_length=reverb_length, add_dry=add_dry, name=name, **kwargs
        )


@keras_serializable
@gin.register(module='ddsp.effects')
class FixedReverb(Reverb):
    """Old name (first release) of `Reverb(trainable=True)`.

    "Fixed" meant one IR for the whole dataset, learned as a weight rather
    than predicted per example; the 3.7.0 equivalent is a trainable `Reverb`.
    """

    def __init__(
        self,
        reverb_length: int = 48000,
        add_dry: bool = True,
        name: Text = 'reverb',
        trainable: bool = True,
        **kwargs,
    ):
        _check_always_trainable(type(self).__name__, 'Reverb', trainable)
        super().__init__(
            trainable=True, reverb_length=reverb_length, add_dry=add_dry, name=name, **kwargs
        )


@keras_serializable
@gin.register(module='ddsp.effects')
class TrainableExpDecayReverb(ExpDecayReverb):
    """Old name of `ExpDecayReverb(trainable=True)`: weights `gain`, `decay`."""

    def __init__(
        self,
        reverb_length: int = 48000,
        scale_fn: ScaleFn = core.exp_sigmoid,
        add_dry: bool = True,
        name: Text = 'exp_decay_reverb',
        trainable: bool = True,
        **kwargs,
    ):
        _check_always_trainable(type(self).__name__, 'ExpDecayReverb', trainable)
        super().__init__(
            trainable=True,
            reverb_length=reverb_length,
            scale_fn=scale_fn,
            add_dry=add_dry,
            name=name,
            **kwargs,
        )
