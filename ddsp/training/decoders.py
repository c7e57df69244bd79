"""Decoders: networks that map conditioning features to synthesizer controls.

Decoders are `nn.OutputSplitsLayer`s: they read features such as `ld_scaled`, `f0_scaled` and
`z` from a dict and return the synthesizer controls named by `output_splits`, e.g.
`{'amps': [B, T, 1], 'harmonic_distribution': [B, T, 60], 'noise_magnitudes': [B, T, 65]}`.
"""

from typing import Optional, Sequence, Text

import gin
import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.serialization import keras_serializable
from ddsp.training import nn


def _as_3d(x):
    """`[B, T]` -> `[B, T, 1]`; other tensors are returned as float32 unchanged."""
    x = core.tf_float32(x)
    return x[..., tf.newaxis] if len(x.shape) == 2 else x


def _shape_3d(shape):
    shape = tuple(shape)
    return shape + (1,) if len(shape) == 2 else shape


@keras_serializable
@gin.register
class RnnFcDecoder(nn.OutputSplitsLayer):
    """Per-input FcStacks, an RNN over their concatenation, then an FcStack and a Dense layer.

    1. One `FcStack(ch, layers_per_stack)` per input key.
    2. Their outputs are concatenated and run through an RNN (`StatelessRnn` if stateless).
    3. `[stack outputs..., RNN output]` are concatenated -> `FcStack(ch, layers_per_stack)` ->
       `Dense(sum of split sizes)` -> `split_to_dict(output_splits)`.

    Inputs: one `[B, T, C_k]` tensor per input key (`[B, T]` is taken as one channel), plus
    `state` `[B, rnn_channels]` (`[B, 2 * rnn_channels]` for an LSTM) last when stateless.
    Outputs: `{key: [B, T, size]}` per output split, plus `state` when stateless.

    Weights (GRU, Keras 3 `reset_after=True`), for input channels `C_k` and K inputs:
    stacks `sum_k [(C_k ch + ch + 2 ch) + (L - 1)(ch^2 + 3 ch)]`, RNN
    `3 (K ch rnn + rnn^2 + 2 rnn)`, output stack `((K ch + rnn) ch + 3 ch) + (L - 1)(ch^2 + 3 ch)`
    and Dense `(ch + 1) n_out`.

    Args:
        rnn_channels: Units of the RNN.
        rnn_type: 'gru' or 'lstm'.
        ch: Channels of the FcStacks.
        layers_per_stack: Fc layers per stack (0: no stacks).
        stateless: Take the RNN state as the last input and return the new one.
        input_keys: Features to decode.
        output_splits: `((key, size), ...)` of the outputs.
        **kwargs: Keras layer arguments.

    Example:
        >>> decoder = RnnFcDecoder(input_keys=('ld_scaled', 'f0_scaled'),
        ...                        output_splits=(('amps', 1), ('harmonic_distribution', 60)))
        >>> decoder({'ld_scaled': ld, 'f0_scaled': f0})['harmonic_distribution']  # [B, T, 60]
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: Text = 'gru',
        ch: int = 512,
        layers_per_stack: int = 3,
        stateless: bool = False,
        input_keys: Sequence[Text] = ('ld_scaled', 'f0_scaled', 'z'),
        output_splits: nn.Splits = (('amps', 1), ('harmonic_distribution', 40)),
        **kwargs,
    ):
        owner = type(self).__name__
        input_keys = validation.check_keys(owner, 'input_keys', input_keys, non_empty=True)
        self.stateless = bool(stateless)
        self._feature_keys = list(input_keys)
        keys = self._feature_keys + (['state'] if self.stateless else [])
        super().__init__(input_keys=keys, output_splits=output_splits, **kwargs)
        if self.stateless:
            self.output_keys = self.output_keys + ['state']
        self.rnn_channels = validation.check_int(owner, 'rnn_channels', rnn_channels)
        self.rnn_type = validation.check_choice(owner, 'rnn_type', rnn_type, ('gru', 'lstm'))
        self.ch = validation.check_int(owner, 'ch', ch)
        self.layers_per_stack = validation.check_int(
            owner, 'layers_per_stack', layers_per_stack, minimum=0
        )
        names = [f'input_stack_{i}' for i in range(len(self._feature_keys))]
        self._input_stack_names = nn.set_sublayers(
            self, names, [nn.FcStack(self.ch, self.layers_per_stack, name=n) for n in names]
        )
        if self.stateless:
            self.rnn = nn.StatelessRnn(self.rnn_channels, self.rnn_type, name='rnn')
        else:
            self.rnn = nn.Rnn(self.rnn_channels, self.rnn_type, name='rnn')
        self.out_stack = nn.FcStack(self.ch, self.layers_per_stack, name='out_stack')

    @property
    def input_stacks(self) -> list:
        """One `FcStack` per input feature, in input-key order."""
        return [getattr(self, name) for name in self._input_stack_names]

    def build(self, input_shapes):
        feature_shapes = [_shape_3d(s) for s in input_shapes[: len(self._feature_keys)]]
        stack_shapes = []
        for stack, shape in zip(self.input_stacks, feature_shapes):
            stack.build(shape)
            stack_shapes.append(stack.compute_output_shape(shape))
        batch_time = stack_shapes[0][:-1]
        rnn_in = sum(s[-1] for s in stack_shapes)
        self.rnn.build(batch_time + (rnn_in,))
        out_in = batch_time + (rnn_in + self.rnn_channels,)
        self.out_stack.build(out_in)
        self.dense_out.build(self.out_stack.compute_output_shape(out_in))

    def compute_output(self, *inputs):
        """The output stack's features `[B, T, ch]` (and the new state when stateless)."""
        features = inputs[: len(self._feature_keys)]
        stacks = [stack(_as_3d(x)) for stack, x in zip(self.input_stacks, features)]
        x = tf.concat(stacks, axis=-1)
        new_state = None
        if self.stateless:
            state = inputs[-1]
            x, new_state = self.rnn(x, None if state is None else core.tf_float32(state))
        else:
            x = self.rnn(x)
        x = self.out_stack(tf.concat(stacks + [x], axis=-1))
        return (x, new_state) if self.stateless else x

    def call(self, *inputs, **unused_kwargs) -> nn.TensorDict:
        if not self.stateless:
            return super().call(*inputs)
        x, new_state = self.compute_output(*inputs)
        outputs = nn.split_to_dict(self.dense_out(x), self.output_splits)
        outputs['state'] = new_state
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            rnn_channels=self.rnn_channels,
            rnn_type=self.rnn_type,
            ch=self.ch,
            layers_per_stack=self.layers_per_stack,
            stateless=self.stateless,
            input_keys=list(self._feature_keys),
        )
        return config


def _expand_to_time(z, n_time):
    """z `[B, C]` or `[B, 1, C]` tiled to `[B, n_time, C]`; `[B, T, C]` is unchanged."""
    z = core.tf_float32(z)
    if len(z.shape) == 2:
        z = z[:, tf.newaxis, :]
    if z.shape[1] == 1:
        z = tf.tile(z, [1, n_time, 1])
    return z


def _midi_trunk(layer, z_pitch, z_vel, z):
    """`[z_pitch, z_vel, z]` (those given; z tiled over time) -> `layer.net` -> `layer.norm`."""
    features = [z_pitch]
    if z_vel is not None:
        features.append(_as_3d(z_vel))
    if z is not None:
        features.append(_expand_to_time(z, z_pitch.shape[1]))
    x = tf.concat(features, axis=-1)
    if layer.net is not None:
        x = layer.net(x)
    if layer.norm is not None:
        x = layer.norm(x)
    return x


@keras_serializable
@gin.register
class MidiDecoder(nn.DictLayer):
    """Decodes note pitch (and velocity, and a latent z) to f0 and loudness.

    `[z_pitch, z_vel, z]` (those given; z is tiled over time if it has none) are concatenated,
    run through `net`, normalized with `nn.Normalize('layer')` (`norm`), and projected by a
    Dense layer to 2 channels: f0 in MIDI (plus `z_pitch` when `f0_residual`) and loudness
    (mapped with `30 x - 70` dB when `center_loudness`).

    Inputs: `z_pitch` `[B, T, 1]` (MIDI), optional `z_vel` `[B, T, C]`, `z` `[B, (T,) C]`.
    Outputs: `f0_midi` `[B, T, 1]`, `loudness` `[B, T, 1]` (dB when `center_loudness`).

    Args:
        net: A Keras layer `[B, T, C] -> [B, T, C']` (None: no network).
        f0_residual: Predict f0 as an offset from `z_pitch`.
        center_loudness: Map the loudness output to `30 x - 70`.
        norm: Normalize the network output (`nn.Normalize('layer')`) before the Dense layer.
        **kwargs: `nn.DictLayer` arguments.
    """

    def __init__(
        self,
        net: Optional[keras.layers.Layer] = None,
        f0_residual: bool = True,
        center_loudness: bool = True,
        norm: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.net = nn.check_net(type(self).__name__, net)
        self.f0_residual = bool(f0_residual)
        self.center_loudness = bool(center_loudness)
        self.norm = nn.Normalize('layer', name='norm') if norm else None
        self.dense_out = keras.layers.Dense(2, name='dense_out')

    def call(self, z_pitch, z_vel=None, z=None) -> ['f0_midi', 'loudness']:  # noqa: F821
        z_pitch = _as_3d(z_pitch)
        x = _midi_trunk(self, z_pitch, z_vel, z)
        x = self.dense_out(x)
        f0_midi, loudness = x[..., 0:1], x[..., 1:2]
        if self.f0_residual:
            f0_midi = f0_midi + z_pitch
        if self.center_loudness:
            loudness = loudness * 30.0 - 70.0
        return f0_midi, loudness

    def get_config(self):
        config = super().get_config()
        config.update(
            net=nn.serialize_layer(self.net),
            f0_residual=self.f0_residual,
            center_loudness=self.center_loudness,
            norm=self.norm is not None,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**nn.deserialize_layers(config, ('net', 'precondition_stack')))


@keras_serializable
@gin.register
class MidiToHarmonicDecoder(nn.DictLayer):
    """Decodes note pitch (and velocity, and z) to the controls of a harmonic-plus-noise synth.

    `[z_pitch, z_vel, z]` are concatenated, run through `net`, normalized with
    `nn.Normalize('layer')` (`norm`) and projected to `output_splits`. With `f0_residual` the
    `f0_midi` split is an offset from `z_pitch`. `f0_hz = midi_to_hz(f0_midi,
    midi_zero_silence)` is added to the outputs.

    Inputs: `z_pitch` `[B, T, 1]` (MIDI), optional `z_vel` `[B, T, C]`, `z` `[B, (T,) C]`.
    Outputs: the splits (by default `f0_midi` 1, `amplitudes` 1, `harmonic_distribution` 60,
    `magnitudes` 65), plus `f0_hz` `[B, T, 1]`.

    Args:
        net: A Keras layer `[B, T, C] -> [B, T, C']` (None: no network).
        f0_residual: Predict f0 as an offset from `z_pitch`.
        norm: Normalize the network output (`nn.Normalize('layer')`) before the Dense layer.
        output_splits: `((key, size), ...)`; must include `('f0_midi', 1)`.
        midi_zero_silence: MIDI 0 gives 0 Hz.
        **kwargs: `nn.DictLayer` arguments.
    """

    def __init__(
        self,
        net: Optional[keras.layers.Layer] = None,
        f0_residual: bool = True,
        norm: bool = True,
        output_splits: nn.Splits = (
            ('f0_midi', 1),
            ('amplitudes', 1),
            ('harmonic_distribution', 60),
            ('magnitudes', 65),
        ),
        midi_zero_silence: bool = True,
        **kwargs,
    ):
        owner = type(self).__name__
        self.output_splits = validation.check_output_splits(owner, output_splits)
        if dict(self.output_splits).get('f0_midi') != 1:
            validation.fail(
                owner, 'output_splits', 'splits that include ("f0_midi", 1)', output_splits
            )
        kwargs.pop('output_keys', None)
        super().__init__(output_keys=[k for k, _ in self.output_splits] + ['f0_hz'], **kwargs)
        self.net = nn.check_net(owner, net)
        self.f0_residual = bool(f0_residual)
        self.midi_zero_silence = bool(midi_zero_silence)
        self.norm = nn.Normalize('layer', name='norm') if norm else None
        self.dense_out = keras.layers.Dense(sum(v for _, v in self.output_splits), name='dense_out')

    def call(self, z_pitch, z_vel=None, z=None) -> nn.TensorDict:
        z_pitch = _as_3d(z_pitch)
        x = _midi_trunk(self, z_pitch, z_vel, z)
        outputs = nn.split_to_dict(self.dense_out(x), self.output_splits)
        if self.f0_residual:
            outputs['f0_midi'] = outputs['f0_midi'] + z_pitch
        outputs['f0_hz'] = core.midi_to_hz(
            outputs['f0_midi'], midi_zero_silence=self.midi_zero_silence
        )
        return outputs

    def get_config(self):
        config = super().get_config()
        config.pop('output_keys', None)
        config.update(
            net=nn.serialize_layer(self.net),
            f0_residual=self.f0_residual,
            norm=self.norm is not None,
            output_splits=[list(s) for s in self.output_splits],
            midi_zero_silence=self.midi_zero_silence,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**nn.deserialize_layers(config, ('net', 'precondition_stack')))


@keras_serializable
@gin.register
class DilatedConvDecoder(nn.OutputSplitsLayer):
    """An `nn.DilatedConvStack` over the concatenated inputs, split into named outputs.

    The input features are concatenated (and run through `precondition_stack`, if any), then
    through a `DilatedConvStack(ch, layers_per_stack, stacks, kernel_size, dilation,
    norm_type)`. With conditioning keys the stack is FiLM-conditioned on their concatenation
    (`conditional=True`). With `resample_stride > 1` the stack upsamples time by
    `resample_stride` every `stacks_per_resample` stacks. Then `Dense(sum of split sizes)`.

    Inputs: `input_keys` features `[B, T, C_k]`, then `conditioning_keys` features
    `[B, (T_z,) C]`. Outputs: `{key: [B, T', size]}`.

    Args:
        ch, kernel_size, layers_per_stack, stacks, dilation, norm_type, resample_stride,
            stacks_per_resample, resample_after_convolve, spectral_norm, ortho_init: see
            `nn.DilatedConvStack`.
        input_keys: Features concatenated as the stack's input.
        output_splits: `((key, size), ...)`.
        conditioning_keys: Features for FiLM conditioning; a single string is one key (the
            original's default `'z'`); None or () for none.
        precondition_stack: Optional layer run on the inputs first.
        **kwargs: Keras layer arguments.
    """

    def __init__(
        self,
        ch: int = 256,
        kernel_size: int = 3,
        layers_per_stack: int = 5,
        stacks: int = 2,
        dilation: int = 2,
        norm_type: Optional[Text] = 'layer',
        resample_stride: int = 1,
        stacks_per_resample: int = 1,
        resample_after_convolve: bool = True,
        input_keys: Sequence[Text] = ('ld_scaled', 'f0_scaled'),
        output_splits: nn.Splits = (('amps', 1), ('harmonic_distribution', 60)),
        conditioning_keys: Optional[Sequence[Text]] = ('z'),
        precondition_stack: Optional[keras.layers.Layer] = None,
        spectral_norm: bool = False,
        ortho_init: bool = False,
        **kwargs,
    ):
        owner = type(self).__name__
        self._feature_keys = validation.check_keys(owner, 'input_keys', input_keys, non_empty=True)
        self.conditioning_keys = (
            validation.check_keys(owner, 'conditioning_keys', conditioning_keys) or []
        )
        super().__init__(
            input_keys=self._feature_keys + self.conditioning_keys,
            output_splits=output_splits,
            **kwargs,
        )
        self.precondition_stack = nn.check_net(owner, precondition_stack, 'precondition_stack')
        self.stack_kwargs = dict(
            ch=ch,
            layers_per_stack=layers_per_stack,
            stacks=stacks,
            kernel_size=kernel_size,
            dilation=dilation,
            norm_type=norm_type,
            resample_stride=resample_stride,
            stacks_per_resample=stacks_per_resample,
            resample_after_convolve=resample_after_convolve,
            spectral_norm=spectral_norm,
            ortho_init=ortho_init,
        )
        resample_type = 'upsample' if resample_stride > 1 else None
        self.dilated_conv_stack = nn.DilatedConvStack(
            resample_type=resample_type,
            conditional=bool(self.conditioning_keys),
            name='dilated_conv_stack',
            **self.stack_kwargs,
        )

    def compute_output(self, *inputs):
        n = len(self._feature_keys)
        x = tf.concat([_as_3d(v) for v in inputs[:n]], axis=-1)
        if self.precondition_stack is not None:
            x = self.precondition_stack(x)
        if not self.conditioning_keys:
            return self.dilated_conv_stack(x)
        z = [core.tf_float32(v) for v in inputs[n:]]
        z = [v[:, tf.newaxis, :] if len(v.shape) == 2 else v for v in z]
        z = tf.concat(z, axis=-1) if len(z) > 1 else z[0]
        return self.dilated_conv_stack(x, z)

    def get_config(self):
        config = super().get_config()
        config.update(self.stack_kwargs)
        config.update(
            input_keys=list(self._feature_keys),
            conditioning_keys=list(self.conditioning_keys),
            precondition_stack=nn.serialize_layer(self.precondition_stack),
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**nn.deserialize_layers(config, ('net', 'precondition_stack')))
