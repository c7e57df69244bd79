"""Encoders: networks that turn audio or features into latent codes and other features.

* `ZEncoder` subclasses compute a latent `z` and resample it to the frames of `f0_scaled`:
  `MfccTimeDistributedRnnEncoder` (the autoencoder's z, from MFCCs), `MfccRnnEncoder` and
  `AggregateFeaturesEncoder` (one vector per example, held over time) and `OneHotEncoder`
  (an embedding of an integer id, e.g. the instrument).
* `MfccEncoder` returns normalized multi-resolution MFCCs; `ExpressionEncoder` encodes
  features (and MFCCs of audio) into a z; `ResnetSinusoidalEncoder` predicts sinusoidal and
  noise controls from a spectrogram with a ResNet; `SinusoidalToHarmonicEncoder` turns
  sinusoidal parameters into harmonic ones.
* `MidiEncoder` and `HarmonicToMidiEncoder` encode f0 and loudness (or harmonic controls)
  into note pitch and velocity latents, `z_pitch` and `z_vel`.
"""

import numbers
from typing import Callable, Optional, Sequence, Text

import gin
import keras
import tensorflow as tf

from ddsp import core, dags, spectral_ops, validation
from ddsp.serialization import keras_serializable
from ddsp.training import nn
from ddsp.training.preprocessing import at_least_3d

# z_time_steps -> (fft_size, overlap) of the MFCCs: 4 s at 16 kHz give z_time_steps frames.
Z_TIME_STEPS_TO_MFCC = {
    63: (2048, 0.5),
    125: (1024, 0.5),
    250: (1024, 0.75),
    500: (512, 0.75),
    1000: (256, 0.75),
}
_MFCC_KWARGS = dict(lo_hz=20.0, hi_hz=8000.0, mel_bins=128, mfcc_bins=30, pad_end=True)


def _deserialize(config):
    """Restores a serialized `net` and `*_fn` dotted paths in a config."""
    config = nn.deserialize_layers(config)
    for key, value in config.items():
        if key.endswith('_fn'):
            config[key] = dags.deserialize_function(value)
    return config


# ------------------------------------------------------------------------------------------------
# Z encoders.
# ------------------------------------------------------------------------------------------------
class ZEncoder(nn.DictLayer):
    """Base class of encoders that compute `z` and resample it to the frames of `f0_scaled`.

    Subclasses implement `compute_z(*inputs) -> [B, C]` or `[B, T_z, C]`; its arguments give
    the input keys, to which `'f0_scaled'` (used only for its number of frames T) is appended.
    The output is `{'z': [B, T, C]}`: z is linearly resampled to T frames (a single vector is
    held for all T).

    Args:
        input_keys: Keys of `compute_z`'s inputs (default: its argument names).
        **kwargs: Keras layer arguments.
    """

    _key_method = 'compute_z'

    def __init__(self, input_keys: Optional[Sequence[Text]] = None, **kwargs):
        kwargs.pop('output_keys', None)
        super().__init__(input_keys=input_keys, output_keys=['z'], **kwargs)
        self.input_keys = list(self.input_keys) + ['f0_scaled']

    def compute_z(self, *inputs):
        """The latent code, `[B, C]` or `[B, T_z, C]`."""
        raise NotImplementedError(f'{type(self).__name__} must implement compute_z().')

    def call(self, *inputs, **unused_kwargs):
        n_keys = len(self.input_keys) - 1
        f0_scaled = inputs[n_keys]
        z = self.compute_z(*inputs[:n_keys], *inputs[n_keys + 1 :])
        return self.expand_z(z, f0_scaled.shape[1])

    @staticmethod
    def expand_z(z, time_steps: int):
        """`[B, C]` -> `[B, 1, C]`, then linearly resampled to `[B, time_steps, C]`."""
        if len(z.shape) == 2:
            z = z[:, tf.newaxis, :]
        if z.shape[1] != time_steps:
            z = core.resample(z, time_steps)
        return z

    def get_config(self):
        config = super().get_config()
        config.pop('output_keys', None)
        return config


def _mfcc(audio, fft_size, overlap, mfcc_bins=30, mel_bins=128):
    kwargs = dict(_MFCC_KWARGS, mfcc_bins=mfcc_bins, mel_bins=mel_bins)
    return spectral_ops.compute_mfcc(
        core.tf_float32(audio), fft_size=fft_size, overlap=overlap, **kwargs
    )


@keras_serializable
@gin.register
class MfccTimeDistributedRnnEncoder(ZEncoder):
    """z from MFCCs: 30 MFCCs -> instance Normalize -> RNN -> Dense(z_dims) -> resampled to T.

    The MFCCs (128 mel bins, 20-8000 Hz, end padding) use the FFT size and overlap that give
    `z_time_steps` frames for 4 s of 16 kHz audio (`Z_TIME_STEPS_TO_MFCC`): 63: (2048, 0.5),
    125: (1024, 0.5), 250: (1024, 0.75), 500: (512, 0.75), 1000: (256, 0.75).

    Inputs: `audio` `[B, n_samples]`, `f0_scaled` `[B, T, 1]`. Output: `z` `[B, T, z_dims]`.
    Weights: Normalize `2 * 30`, RNN (GRU: `3 (30 r + r^2 + 2 r)`), Dense `(r + 1) z_dims`.

    Args:
        rnn_channels: Units of the RNN.
        rnn_type: 'gru' or 'lstm'.
        z_dims: Channels of z.
        z_time_steps: MFCC frames per 4 s: 63, 125, 250, 500 or 1000.
        **kwargs: `ZEncoder` arguments.
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: Text = 'gru',
        z_dims: int = 32,
        z_time_steps: int = 250,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rnn_channels = validation.check_int(owner, 'rnn_channels', rnn_channels)
        self.rnn_type = validation.check_choice(owner, 'rnn_type', rnn_type, ('gru', 'lstm'))
        self.z_dims = validation.check_int(owner, 'z_dims', z_dims)
        self.z_time_steps = validation.check_choice(
            owner, 'z_time_steps', z_time_steps, tuple(Z_TIME_STEPS_TO_MFCC)
        )
        self.fft_size, self.overlap = Z_TIME_STEPS_TO_MFCC[z_time_steps]
        self.z_norm = nn.Normalize('instance', name='z_norm')
        self.rnn = nn.Rnn(self.rnn_channels, self.rnn_type, name='rnn')
        self.dense_out = keras.layers.Dense(self.z_dims, name='dense_out')

    def build(self, input_shapes):
        n_mfcc = _MFCC_KWARGS['mfcc_bins']
        self.z_norm.build((None, None, n_mfcc))
        self.rnn.build((None, None, n_mfcc))
        self.dense_out.build((None, None, self.rnn_channels))

    def compute_z(self, audio):
        mfccs = _mfcc(audio, self.fft_size, self.overlap)
        return self.dense_out(self.rnn(self.z_norm(mfccs)))

    def get_config(self):
        config = super().get_config()
        config.update(
            rnn_channels=self.rnn_channels,
            rnn_type=self.rnn_type,
            z_dims=self.z_dims,
            z_time_steps=self.z_time_steps,
        )
        return config


@keras_serializable
@gin.register
class MfccRnnEncoder(ZEncoder):
    """One z vector per example from MFCCs, held over all frames.

    30 MFCCs (FFT 1024, overlap 0.75, 128 mel bins, 20-8000 Hz) -> instance Normalize -> RNN ->
    the last step (or, with `mean_aggregate`, the mean over time) -> Dense(z_dims).

    Inputs: `audio` `[B, n_samples]`, `f0_scaled` `[B, T, 1]`. Output: `z` `[B, T, z_dims]`
    (the same vector at every frame).

    Args:
        rnn_channels: Units of the RNN.
        rnn_type: 'gru' or 'lstm'.
        z_dims: Channels of z.
        mean_aggregate: Average the RNN outputs over time instead of taking the last one.
        **kwargs: `ZEncoder` arguments.
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: Text = 'gru',
        z_dims: int = 512,
        mean_aggregate: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rnn_channels = validation.check_int(owner, 'rnn_channels', rnn_channels)
        self.rnn_type = validation.check_choice(owner, 'rnn_type', rnn_type, ('gru', 'lstm'))
        self.z_dims = validation.check_int(owner, 'z_dims', z_dims)
        self.mean_aggregate = bool(mean_aggregate)
        self.z_norm = nn.Normalize('instance', name='z_norm')
        self.rnn = nn.Rnn(
            self.rnn_channels, self.rnn_type, return_sequences=self.mean_aggregate, name='rnn'
        )
        self.dense_z = keras.layers.Dense(self.z_dims, name='dense_z')

    def build(self, input_shapes):
        n_mfcc = _MFCC_KWARGS['mfcc_bins']
        self.z_norm.build((None, None, n_mfcc))
        self.rnn.build((None, None, n_mfcc))
        self.dense_z.build((None, self.rnn_channels))

    def compute_z(self, audio):
        x = self.rnn(self.z_norm(_mfcc(audio, 1024, 0.75)))
        if self.mean_aggregate:
            x = tf.reduce_mean(x, axis=1)
        return self.dense_z(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            rnn_channels=self.rnn_channels,
            rnn_type=self.rnn_type,
            z_dims=self.z_dims,
            mean_aggregate=self.mean_aggregate,
        )
        return config


@keras_serializable
@gin.register
class AggregateFeaturesEncoder(ZEncoder):
    """One z vector per example: Dense(ch) on `[f0_scaled, ld_scaled]`, averaged over time.

    Inputs: `f0_scaled`, `ld_scaled` `[B, T, 1]` (and `f0_scaled` again for the length).
    Output: `z` `[B, T, ch]` (the same vector at every frame).

    Args:
        ch: Channels of z.
        **kwargs: `ZEncoder` arguments.
    """

    def __init__(self, ch: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.ch = validation.check_int(type(self).__name__, 'ch', ch)
        self.dense = keras.layers.Dense(self.ch, name='dense')

    def compute_z(self, f0_scaled, ld_scaled):
        x = tf.concat(
            [at_least_3d(core.tf_float32(f0_scaled)), at_least_3d(core.tf_float32(ld_scaled))],
            axis=-1,
        )
        return tf.reduce_mean(self.dense(x), axis=1)

    def get_config(self):
        config = super().get_config()
        config['ch'] = self.ch
        return config


@keras_serializable
@gin.register
class OneHotEncoder(ZEncoder):
    """A learned embedding of an integer id (e.g. the instrument): z `[B, 1, n_dims]`.

    With `skip_expand` (the default) z keeps one frame, `[B, 1, n_dims]`, and `f0_scaled` is
    not needed; otherwise it is held over the frames of `f0_scaled`, `[B, T, n_dims]`.

    Inputs: `one_hot_key` ids, int `[B]` or `[B, 1]` in `[0, vocab_size)`.

    Args:
        one_hot_key: Key of the ids.
        vocab_size: Number of ids.
        n_dims: Channels of z.
        skip_expand: Keep z at one frame.
        **kwargs: Keras layer arguments.
    """

    def __init__(
        self,
        one_hot_key: Text = 'instrument',
        vocab_size: int = 1024,
        n_dims: int = 256,
        skip_expand: bool = True,
        **kwargs,
    ):
        kwargs.pop('input_keys', None)
        owner = type(self).__name__
        if not isinstance(one_hot_key, str) or not one_hot_key:
            raise ValueError(
                f'{owner}: one_hot_key must be a non-empty string; received '
                f'one_hot_key={one_hot_key!r}.'
            )
        super().__init__(input_keys=[one_hot_key], **kwargs)
        self.one_hot_key = one_hot_key
        self.vocab_size = validation.check_int(owner, 'vocab_size', vocab_size)
        self.n_dims = validation.check_int(owner, 'n_dims', n_dims)
        self.skip_expand = bool(skip_expand)
        if self.skip_expand:
            self.input_keys = [one_hot_key]
        self.embedding = nn.get_embedding(self.vocab_size, self.n_dims)

    def build(self, input_shapes):
        self.embedding.build((None, 1))

    def compute_z(self, one_hot):
        ids = tf.reshape(tf.cast(one_hot, tf.int32), [-1, 1])
        return self.embedding(ids)

    def call(self, *inputs, **unused_kwargs):
        if self.skip_expand:
            return self.compute_z(inputs[0])
        return super().call(*inputs)

    def get_config(self):
        config = super().get_config()
        config.pop('input_keys', None)
        config.update(
            one_hot_key=self.one_hot_key,
            vocab_size=self.vocab_size,
            n_dims=self.n_dims,
            skip_expand=self.skip_expand,
        )
        return config


# ------------------------------------------------------------------------------------------------
# Feature encoders.
# ------------------------------------------------------------------------------------------------
def _check_int_sequence(owner, name, values):
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if not values or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values
    ):
        raise ValueError(
            f'{owner}: {name} must be a positive integer or a sequence of them; '
            f'received {name}={values!r}.'
        )
    return tuple(int(v) for v in values)


@keras_serializable
@gin.register
class MfccEncoder(nn.DictLayer):
    """Multi-resolution MFCCs, resampled to `time_steps` frames and instance-normalized.

    For each `(fft_size, mel_bins, mfcc_bins)` the MFCCs (overlap 0.75, 20-8000 Hz, end
    padding) are linearly resampled to `time_steps` frames; they are concatenated and
    normalized per coefficient over time (`nn.Normalize('instance')`; the original's
    `self.nom_out` typo made this layer unusable).

    Inputs: `audio` `[B, n_samples]`. Output: `z` `[B, time_steps, sum(mfcc_bins)]`.

    Args:
        fft_sizes: FFT size of each resolution.
        mel_bins: Mel bands of each resolution.
        mfcc_bins: Coefficients kept at each resolution.
        time_steps: Output frames.
        **kwargs: `nn.DictLayer` arguments.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (1024,),
        mel_bins: Sequence[int] = (128,),
        mfcc_bins: Sequence[int] = (30,),
        time_steps: int = 250,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.fft_sizes = _check_int_sequence(owner, 'fft_sizes', fft_sizes)
        self.mel_bins = _check_int_sequence(owner, 'mel_bins', mel_bins)
        self.mfcc_bins = _check_int_sequence(owner, 'mfcc_bins', mfcc_bins)
        if not len(self.fft_sizes) == len(self.mel_bins) == len(self.mfcc_bins):
            raise ValueError(
                f'{owner}: fft_sizes, mel_bins and mfcc_bins need one entry per '
                f'resolution; received {len(self.fft_sizes)}, '
                f'{len(self.mel_bins)} and {len(self.mfcc_bins)} entries.'
            )
        for mels, mfccs in zip(self.mel_bins, self.mfcc_bins):
            if mfccs > mels:
                raise ValueError(f'{owner}: mfcc_bins ({mfccs}) cannot exceed mel_bins ({mels}).')
        self.time_steps = validation.check_int(owner, 'time_steps', time_steps)
        self.norm_out = nn.Normalize('instance', name='norm_out')

    def build(self, input_shapes):
        self.norm_out.build((None, self.time_steps, sum(self.mfcc_bins)))

    def call(self, audio) -> ['z']:  # noqa: F821
        features = []
        for fft_size, mels, mfccs in zip(self.fft_sizes, self.mel_bins, self.mfcc_bins):
            x = _mfcc(audio, fft_size, 0.75, mfcc_bins=mfccs, mel_bins=mels)
            features.append(core.resample(x, self.time_steps))
        return self.norm_out(tf.concat(features, axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update(
            fft_sizes=list(self.fft_sizes),
            mel_bins=list(self.mel_bins),
            mfcc_bins=list(self.mfcc_bins),
            time_steps=self.time_steps,
        )
        return config


@keras_serializable
@gin.register
class ExpressionEncoder(nn.DictLayer):
    """Encodes frame features (and MFCCs of audio) into a latent z.

    Each input is made `[B, T, C]`; an `'audio'` input becomes its MFCCs (`mfcc_bins`,
    `fft_size`, `mel_bins`, overlap 0.75) resampled to the frames of the first other input
    (or kept at their own frame rate if audio is the only input). The features are
    concatenated, run through `net` (if any) and projected by Dense(z_dims); with `pool_time`
    z is averaged over time.

    Output: `z` `[B, 1, z_dims]` with `pool_time`, else `[B, T, z_dims]`.

    Args:
        net: A Keras layer `[B, T, C] -> [B, T, C']` (None: no network).
        z_dims: Channels of z.
        input_keys: Features to encode; include 'audio' for MFCCs.
        mfcc_bins, fft_size, mel_bins: MFCC settings for 'audio'.
        pool_time: Average z over time.
        **kwargs: `nn.DictLayer` arguments (e.g. `output_keys=['z_global']`).
    """

    def __init__(
        self,
        net: Optional[keras.layers.Layer] = None,
        z_dims: int = 128,
        input_keys: Sequence[Text] = ('f0_scaled', 'ld_scaled'),
        mfcc_bins: int = 60,
        fft_size: int = 1024,
        mel_bins: int = 128,
        pool_time: bool = True,
        **kwargs,
    ):
        kwargs.setdefault('output_keys', ['z'])
        owner = type(self).__name__
        input_keys = validation.check_keys(owner, 'input_keys', input_keys)
        if not input_keys:
            raise ValueError(
                f'{owner}: input_keys must name at least one feature; received '
                f'input_keys={input_keys!r}.'
            )
        super().__init__(input_keys=input_keys, **kwargs)
        self.net = nn.check_net(owner, net)
        self.z_dims = validation.check_int(owner, 'z_dims', z_dims)
        self.mfcc_bins = validation.check_int(owner, 'mfcc_bins', mfcc_bins)
        self.fft_size = validation.check_int(owner, 'fft_size', fft_size)
        self.mel_bins = validation.check_int(owner, 'mel_bins', mel_bins)
        if self.mfcc_bins > self.mel_bins:
            raise ValueError(
                f'{owner}: mfcc_bins ({mfcc_bins}) cannot exceed mel_bins ({mel_bins}).'
            )
        self.pool_time = bool(pool_time)
        self.dense_out = keras.layers.Dense(self.z_dims, name='dense_out')

    def call(self, *inputs, **unused_kwargs):
        keys = self.input_keys
        frames = [at_least_3d(core.tf_float32(x)) for k, x in zip(keys, inputs) if k != 'audio']
        n_frames = frames[0].shape[1] if frames else None
        features = []
        for key, x in zip(keys, inputs):
            if key == 'audio':
                x = _mfcc(x, self.fft_size, 0.75, mfcc_bins=self.mfcc_bins, mel_bins=self.mel_bins)
                if n_frames is not None and x.shape[1] != n_frames:
                    x = core.resample(x, n_frames)
            else:
                x = at_least_3d(core.tf_float32(x))
            features.append(x)
        x = tf.concat(features, axis=-1)
        if self.net is not None:
            x = self.net(x)
        z = self.dense_out(x)
        if self.pool_time:
            z = tf.reduce_mean(z, axis=1, keepdims=True)
        return z

    def get_config(self):
        config = super().get_config()
        config.update(
            net=nn.serialize_layer(self.net),
            z_dims=self.z_dims,
            mfcc_bins=self.mfcc_bins,
            fft_size=self.fft_size,
            mel_bins=self.mel_bins,
            pool_time=self.pool_time,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialize(config))


# ------------------------------------------------------------------------------------------------
# Audio -> sinusoids, and sinusoidal -> harmonic.
# ------------------------------------------------------------------------------------------------
@keras_serializable
@gin.register
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
            raise ValueError(
                f'{owner}: spectral_fn must be a callable audio -> [batch, time, '
                f'freq]; received spectral_fn={spectral_fn!r}.'
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
@gin.register
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
@gin.register
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
@gin.register
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
