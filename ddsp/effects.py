"""Processors that transform audio: reverbs, FIR filtering and modulated delay.

Every effect is a `processors.Processor`: `effect(audio, *controls)` is
`get_signal(**get_controls(audio, *controls))`, and in a `ProcessorGroup` DAG
its outputs are `'<name>/signal'` and `'<name>/controls/...'`.

* `Reverb` convolves audio with an impulse response (IR), either given as an
  input or learned as the weight `ir` (`trainable=True`).
* `ExpDecayReverb` and `FilteredNoiseReverb` parameterise the IR as
  exponentially decaying noise or as filtered noise; fresh noise is drawn on
  every call.
* `FIRFilter` filters audio with time-varying FIR filters designed from
  frequency-response magnitudes.
* `ModDelay` is a modulated delay line (chorus, flanger, vibrato).

Shapes are checked in Python before any FFT: FIR magnitudes need at least 2 bands (one band
would be a zero-sized FFT, which aborts TensorFlow), impulse responses at least one tap, and
batches must agree (1 broadcasts). Values are not checked here (see `ddsp.synths` for the
rule): a NaN in one frame of time-varying filter magnitudes stays in that frame and the next,
but a NaN audio sample makes the whole output of `Reverb` NaN, since one FFT convolves every
sample with every tap. The losses and feature functions report it.

The effects that learn their controls (`trainable=True`) create their weights
in `build`, which ignores the input shape, so `effect.build()` creates them
before the first call (e.g. to `set_weights` on a `from_config` clone).

Old names kept working: `TrainableReverb` and `FixedReverb` are
`Reverb(trainable=True)`, `TrainableExpDecayReverb` is
`ExpDecayReverb(trainable=True)`, and `Reverb(reverb_only=True)` is
`Reverb(add_dry=False)` (with a `DeprecationWarning`).
"""

from typing import Callable, Optional, Text, Union
import warnings

import gin
import keras
import tensorflow as tf

from ddsp import core, dags, processors, synths, validation
from ddsp.serialization import keras_serializable

tf_float32 = core.tf_float32

ScaleFn = Optional[Union[Callable, Text]]


# ------------------------------------------------------------------------------
# Argument checks and helpers
# ------------------------------------------------------------------------------
def _check_scale_fn(owner: Text, name: Text, fn: ScaleFn) -> Optional[Callable]:
    """A callable or None; dotted paths (from `get_config`) are imported."""
    if isinstance(fn, str):
        fn = dags.deserialize_function(fn)
    return validation.check_callable(owner, name, fn)


def _apply(fn: Optional[Callable], x):
    """`fn(x)`, or `x` itself when `fn` is None."""
    return x if fn is None else fn(x)


def _owner(layer: keras.layers.Layer) -> Text:
    """Who received a control, for messages: `Reverb "reverb"`."""
    return f'{type(layer).__name__} "{layer.name}"'


def _check_audio(owner: Text, audio) -> tf.Tensor:
    """`audio` as float32 `[batch, n_samples]`, or a ValueError."""
    audio = tf_float32(audio)
    if audio.shape.rank != 2:
        validation.fail(owner, 'audio.shape', '[batch, n_samples]', audio.shape)
    return audio


def _tile_to_batch(weight: tf.Variable, audio: tf.Tensor) -> tf.Tensor:
    """`weight` with a new leading axis repeated to the batch size of audio."""
    weight = tf.convert_to_tensor(weight)
    batch_size = tf.shape(audio)[0]
    multiples = tf.concat([[batch_size], tf.ones([weight.shape.rank], tf.int32)], axis=0)
    return tf.tile(weight[tf.newaxis], multiples)


def _batch_scalar(owner: Text, name: Text, x) -> tf.Tensor:
    """A per-example scalar control, `[B]`, `[B, 1]` or `[B, 1, 1]`, as `[B, 1]`."""
    x = tf_float32(x)
    if x.shape.rank == 1:
        x = x[:, tf.newaxis]
    elif x.shape.rank == 3 and x.shape[1:] == (1, 1):
        x = x[..., 0]
    if x.shape.rank != 2 or x.shape[1] != 1:
        validation.fail(owner, f'{name}.shape', '[batch, 1] (or [batch] or [batch, 1, 1])', x.shape)
    return x


# ------------------------------------------------------------------------------
# Reverbs
# ------------------------------------------------------------------------------
@keras_serializable
@gin.register
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
                _owner(self), 'learned_ir', 'a reverb created with trainable=True', 'a given IR'
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
        audio = _check_audio(_owner(self), audio)
        if self._learns_controls:
            ir = _tile_to_batch(self.learned_ir, audio)
        elif ir is None:
            validation.fail(
                _owner(self),
                'ir',
                'an impulse response of shape [batch, ir_size], as in '
                '`reverb(audio, ir)`, unless the reverb is created with '
                'trainable=True to learn it',
                ir,
            )
        else:
            ir = self._check_ir(ir)
            validation.check_axes_match(
                _owner(self),
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
                _owner(self), 'ir.shape', '[batch, ir_size] or [batch, ir_size, 1]', ir.shape
            )
        if ir.shape[1] == 0:
            validation.fail(
                _owner(self), 'ir.shape', '[batch, ir_size] with ir_size >= 1', tuple(ir.shape)
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
@gin.register
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
        self.scale_fn = _check_scale_fn(type(self).__name__, 'scale_fn', scale_fn)

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
        gain = _apply(self.scale_fn, gain)
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
        audio = _check_audio(_owner(self), audio)
        if self._learns_controls:
            gain = _tile_to_batch(self.gain, audio)
            decay = _tile_to_batch(self.decay, audio)
        elif gain is None or decay is None:
            name, value = ('gain', gain) if gain is None else ('decay', decay)
            validation.fail(
                _owner(self),
                name,
                'of shape [batch, 1], as in `reverb(audio, gain, decay)`, unless '
                'the reverb is created with trainable=True to learn gain and decay',
                value,
            )
        else:
            gain = _batch_scalar(_owner(self), 'gain', gain)
            decay = _batch_scalar(_owner(self), 'decay', decay)
        return {'audio': audio, 'ir': self._get_ir(gain, decay)}

    def get_config(self):
        config = super().get_config()
        config.update(scale_fn=dags.serialize_function(self.scale_fn))
        return config


@keras_serializable
@gin.register
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
        self.scale_fn = _check_scale_fn(owner, 'scale_fn', scale_fn)
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
        audio = _check_audio(_owner(self), audio)
        if self._learns_controls:
            magnitudes = _tile_to_batch(self.magnitudes, audio)
        elif magnitudes is None:
            validation.fail(
                _owner(self),
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
                    _owner(self),
                    'magnitudes.shape',
                    '[batch, n_frames, n_filter_banks]',
                    magnitudes.shape,
                )
            core.filtering.check_magnitudes(_owner(self), magnitudes)
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


# ------------------------------------------------------------------------------
# Old names (2019-2020 releases)
# ------------------------------------------------------------------------------
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
@gin.register
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
@gin.register
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
@gin.register
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


# ------------------------------------------------------------------------------
# Filtering and delay
# ------------------------------------------------------------------------------
@keras_serializable
@gin.register
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
        self.scale_fn = _check_scale_fn(type(self).__name__, 'scale_fn', scale_fn)

    def get_controls(self, audio, magnitudes) -> processors.TensorDict:
        """`{'audio': [B, N], 'magnitudes': scale_fn(magnitudes)}`.

        `magnitudes` are `[B, T, K]` raw gains from 0 Hz to Nyquist, K >= 2; T must
        split N into equal frames.
        """
        audio = _check_audio(_owner(self), audio)
        magnitudes = self._check_magnitudes(audio, magnitudes)
        magnitudes = _apply(self.scale_fn, magnitudes)
        return {'audio': audio, 'magnitudes': magnitudes}

    def _check_magnitudes(self, audio, magnitudes) -> tf.Tensor:
        """`[B, T, K]` (or `[B, K]`) magnitudes with K >= 2 bands, of the audio's batch or 1."""
        magnitudes = core.filtering.check_magnitudes(_owner(self), magnitudes)
        validation.check_axes_match(
            _owner(self),
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
        audio = _check_audio(_owner(self), audio)
        magnitudes = self._check_magnitudes(audio, magnitudes)
        return core.frequency_filter(audio, magnitudes, window_size=self.window_size)

    def get_config(self):
        config = super().get_config()
        config.update(window_size=self.window_size, scale_fn=dags.serialize_function(self.scale_fn))
        return config


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
        self.gain_scale_fn = _check_scale_fn(owner, 'gain_scale_fn', gain_scale_fn)
        self.phase_scale_fn = _check_scale_fn(owner, 'phase_scale_fn', phase_scale_fn)
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
        audio = _check_audio(_owner(self), audio)
        gain = _apply(self.gain_scale_fn, tf_float32(gain))
        phase = _apply(self.phase_scale_fn, tf_float32(phase))
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
