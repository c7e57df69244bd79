"""Encoders of synthesizer controls and notes (the inverse-synthesis and MIDI models).

* `ResnetSinusoidalEncoder` predicts sinusoidal and noise controls from a spectrogram with a
  ResNet; `SinusoidalToHarmonicEncoder` turns sinusoidal parameters into harmonic ones.
* `MidiEncoder` and `HarmonicToMidiEncoder` encode f0 and loudness (or harmonic controls)
  into note pitch and velocity latents, `z_pitch` and `z_vel`.

They are registered with gin under the module of the other encoders, `encoders.<Name>`, and
`ddsp.training.encoders.<Name>` imports them too.

Example:
    >>> encoder = MidiEncoder(net=nn.FcStack(32, 2))
    >>> z_pitch, z_vel = encoder(f0_midi, loudness)  # [B, T, 1] each
"""

from typing import Callable, Optional, Text

import gin
import keras
import tensorflow as tf

from ddsp import core, dags, spectral_ops, validation
from ddsp.serialization import keras_serializable
from ddsp.training import nn
from ddsp.training.preprocessing import at_least_3d

GIN_MODULE = 'ddsp.training.encoders'


def _deserialize(config):
    """Restores a serialized `net` and `*_fn` dotted paths in a config."""
    return dags.deserialize_functions(nn.deserialize_layers(config))


@keras_serializable
@gin.register(module=GIN_MODULE)
class ResnetSinusoidalEncoder(nn.OutputSplitsLayer):
    """Predicts raw sinusoidal (and noise) controls from audio (EXPERIMENTAL, DDSP-inv).

    `audio` -> `spectral_fn` (a log-mel spectrogram `[B, T, F]`) -> `nn.ResNet(size)`
    (`[B, T, F', C]`, every stride is along frequency, so T is kept) -> flattened per frame
    to `[B, T, F' * C]` -> Dense(sum of the split sizes) -> split by `output_splits`.

    The outputs are raw network values with one frame per spectrogram frame; the model scales
    them (see `models.InverseSynthesis`): with the default splits, `frequencies` holds 64
    softmax logits per sinusoid (100 sinusoids; `core.frequencies_softmax` with depth 64),
    `amplitudes` one value per sinusoid (`core.exp_sigmoid`) and `noise_magnitudes` one per
    noise band.

    Args:
        output_splits: `((key, size), ...)` of the outputs.
        spectral_fn: `audio [B, N] -> [B, T, F]`; default `spectral_ops.compute_logmel`
            (64 bins, 80-7600 Hz, 2048-point frames with hop 512: 125 frames for 4 s at
            16 kHz). The icml2020 configs bind 229 bins from 0 to 8 kHz.
        size: ResNet size: 'tiny' (the original's default, which its ResNet lacked; defined
            here as 16 channels and one block per stage), 'small', 'medium' or 'large'.
        **kwargs: `nn.OutputSplitsLayer` arguments (`input_keys`, `name`, ...).

    Example:
        >>> encoder = ResnetSinusoidalEncoder(size='tiny')
        >>> out = encoder({'audio': audio})  # audio [B, 64000]
        >>> out['frequencies'].shape, out['amplitudes'].shape  # [B, 125, 6400], [B, 125, 100]
    """

    def __init__(
        self,
        output_splits=(('frequencies', 6400), ('amplitudes', 100), ('noise_magnitudes', 60)),
        spectral_fn: Callable = spectral_ops.compute_logmel,
        size: Text = 'tiny',
        **kwargs,
    ):
        super().__init__(output_splits=output_splits, **kwargs)
        owner = type(self).__name__
        if not callable(spectral_fn):
            validation.fail(
                owner, 'spectral_fn', 'a callable audio -> [batch, time, freq]', spectral_fn
            )
        self.spectral_fn = spectral_fn
        self.size = validation.check_choice(owner, 'size', size, tuple(nn.ResNet.SIZES))
        self.resnet = nn.ResNet(self.size, name='resnet')

    def compute_output(self, audio):
        spectrogram = core.tf_float32(self.spectral_fn(audio))
        if len(spectrogram.shape) != 3:
            raise ValueError(
                f'{type(self).__name__}: spectral_fn must return [batch, time, '
                f'freq]; it returned shape {spectrogram.shape}.'
            )
        x = self.resnet(spectrogram)
        n_features = x.shape[2] * x.shape[3]
        return tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], n_features])

    def get_config(self):
        config = super().get_config()
        config.update(spectral_fn=dags.serialize_function(self.spectral_fn), size=self.size)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialize(config))


def f0_softmax_20_1200(freqs):
    """The default `freq_scale_fn` of `SinusoidalToHarmonicEncoder`:
    `frequencies_softmax(freqs [B, T, depth], depth, hz_min=20, hz_max=1200)` -> `[B, T, 1]` Hz.
    """
    return core.frequencies_softmax(freqs, depth=freqs.shape[-1], hz_min=20.0, hz_max=1200.0)


@keras_serializable
@gin.register(module=GIN_MODULE)
class SinusoidalToHarmonicEncoder(nn.DictLayer):
    """Predicts harmonic synthesizer controls from sinusoidal ones (EXPERIMENTAL).

    `[hz_to_unit(sin_freqs, 0, sample_rate / 2), sin_amps]` -> `net` -> three Dense heads:
    f0 (`f0_depth` logits -> `freq_scale_fn` -> Hz), harmonic amplitude (1 -> `amp_scale_fn`)
    and harmonic distribution (`n_harmonics` -> `amp_scale_fn`).

    Inputs: `sin_freqs` `[B, T, N]` (Hz), `sin_amps` `[B, T, N]`.
    Outputs: `harm_amp` `[B, T, 1]`, `harm_dist` `[B, T, n_harmonics]`, `f0_hz` `[B, T, 1]`.

    Args:
        net: A Keras layer `[B, T, 2N] -> [B, T, C]`, e.g. `nn.RnnSandwich()` (None: none).
        n_harmonics: Channels of the harmonic distribution.
        f0_depth: Logits of the f0 distribution.
        amp_scale_fn: Scaling of both amplitude heads (default `core.exp_sigmoid`).
        freq_scale_fn: Logits `[B, T, f0_depth]` -> f0 `[B, T, 1]` in Hz (default: a softmax
            expectation over `f0_depth` bins spaced in MIDI from 20 to 1200 Hz).
        sample_rate: Audio sample rate, Hz (sets the Nyquist frequency of the input scaling).
        **kwargs: `nn.DictLayer` arguments.
    """

    def __init__(
        self,
        net: Optional[keras.layers.Layer] = None,
        n_harmonics: int = 100,
        f0_depth: int = 64,
        amp_scale_fn: Callable = core.exp_sigmoid,
        freq_scale_fn: Callable = f0_softmax_20_1200,
        sample_rate: int = 16000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.net = nn.check_net(owner, net)
        self.n_harmonics = validation.check_int(owner, 'n_harmonics', n_harmonics)
        self.f0_depth = validation.check_int(owner, 'f0_depth', f0_depth)
        for name, fn in (('amp_scale_fn', amp_scale_fn), ('freq_scale_fn', freq_scale_fn)):
            if not callable(fn):
                raise ValueError(f'{owner}: {name} must be a callable; received {name}={fn!r}.')
        self.amp_scale_fn = amp_scale_fn
        self.freq_scale_fn = freq_scale_fn
        validation.check_positive_number(owner, 'sample_rate', sample_rate)
        self.sample_rate = sample_rate
        self.dense_f0 = keras.layers.Dense(self.f0_depth, name='dense_f0')
        self.dense_amp = keras.layers.Dense(1, name='dense_amp')
        self.dense_dist = keras.layers.Dense(self.n_harmonics, name='dense_dist')

    def call(self, sin_freqs, sin_amps) -> ['harm_amp', 'harm_dist', 'f0_hz']:  # noqa: F821
        freqs_unit = core.hz_to_unit(sin_freqs, hz_min=0.0, hz_max=self.sample_rate / 2.0)
        x = tf.concat([freqs_unit, core.tf_float32(sin_amps)], axis=-1)
        if self.net is not None:
            x = self.net(x)
            x = x['out'] if isinstance(x, dict) else x
        f0_hz = self.freq_scale_fn(self.dense_f0(x))
        if len(f0_hz.shape) == 2:
            f0_hz = f0_hz[..., tf.newaxis]
        harm_amp = self.amp_scale_fn(self.dense_amp(x))
        harm_dist = self.amp_scale_fn(self.dense_dist(x))
        return harm_amp, harm_dist, f0_hz

    def get_config(self):
        config = super().get_config()
        config.update(
            net=nn.serialize_layer(self.net),
            n_harmonics=self.n_harmonics,
            f0_depth=self.f0_depth,
            amp_scale_fn=dags.serialize_function(self.amp_scale_fn),
            freq_scale_fn=dags.serialize_function(self.freq_scale_fn),
            sample_rate=self.sample_rate,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialize(config))


# ------------------------------------------------------------------------------------------------
# MIDI encoders.
# ------------------------------------------------------------------------------------------------
class _ToMidiEncoder(nn.DictLayer):
    """Concatenated features -> `net` -> Dense(2) -> `z_pitch` (MIDI) and `z_vel`."""

    def __init__(
        self, net: Optional[keras.layers.Layer] = None, f0_residual: bool = True, **kwargs
    ):
        super().__init__(**kwargs)
        self.net = nn.check_net(type(self).__name__, net)
        self.f0_residual = bool(f0_residual)
        self.dense_out = keras.layers.Dense(2, name='dense_out')

    def _encode(self, f0_midi, *features):
        f0_midi = at_least_3d(core.tf_float32(f0_midi))
        x = tf.concat([f0_midi] + [at_least_3d(core.tf_float32(f)) for f in features], -1)
        if self.net is not None:
            x = self.net(x)
        x = self.dense_out(x)
        z_pitch, z_vel = x[..., 0:1], x[..., 1:2]
        if self.f0_residual:
            z_pitch = z_pitch + f0_midi
        return z_pitch, z_vel

    def get_config(self):
        config = super().get_config()
        config.update(net=nn.serialize_layer(self.net), f0_residual=self.f0_residual)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialize(config))


@keras_serializable
@gin.register(module=GIN_MODULE)
class MidiEncoder(_ToMidiEncoder):
    """Encodes f0 and loudness into note pitch and velocity latents.

    `[f0_midi, loudness]` -> `net` -> Dense(2): `z_pitch` (an offset from `f0_midi` when
    `f0_residual`) and `z_vel`.

    Inputs: `f0_midi` `[B, T, 1]` (MIDI), `loudness` `[B, T, 1]`.
    Outputs: `z_pitch`, `z_vel`, each `[B, T, 1]`.

    Args:
        net: A Keras layer `[B, T, 2] -> [B, T, C]` (None: none).
        f0_residual: Predict `z_pitch` as an offset from `f0_midi`.
        **kwargs: `nn.DictLayer` arguments.
    """

    def call(self, f0_midi, loudness) -> ['z_pitch', 'z_vel']:  # noqa: F821
        return self._encode(f0_midi, loudness)


@keras_serializable
@gin.register(module=GIN_MODULE)
class HarmonicToMidiEncoder(_ToMidiEncoder):
    """Encodes harmonic-plus-noise controls into note pitch and velocity latents.

    `[f0_midi, amps, hd, noise]` -> `net` -> Dense(2): `z_pitch` (an offset from `f0_midi`
    when `f0_residual`) and `z_vel`.

    Inputs: `f0_midi` `[B, T, 1]`, `amps` `[B, T, 1]`, `hd` `[B, T, H]`, `noise` `[B, T, M]`.
    Outputs: `z_pitch`, `z_vel`, each `[B, T, 1]`.

    Args:
        net: A Keras layer `[B, T, 2 + H + M] -> [B, T, C]` (None: none).
        f0_residual: Predict `z_pitch` as an offset from `f0_midi`.
        **kwargs: `nn.DictLayer` arguments.
    """

    def call(self, f0_midi, amps, hd, noise) -> ['z_pitch', 'z_vel']:  # noqa: F821
        return self._encode(f0_midi, amps, hd, noise)
