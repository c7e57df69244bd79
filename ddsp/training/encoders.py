"""Encoders: networks that turn audio or features into latent codes and other features.

* `ZEncoder` subclasses compute a latent `z` and resample it to the frames of `f0_scaled`:
  `MfccTimeDistributedRnnEncoder` (the autoencoder's z, from MFCCs), `MfccRnnEncoder` and
  `AggregateFeaturesEncoder` (one vector per example, held over time) and `OneHotEncoder`
  (an embedding of an integer id, e.g. the instrument).
* `MfccEncoder` returns normalized multi-resolution MFCCs; `ExpressionEncoder` encodes
  features (and MFCCs of audio) into a z.
* The encoders of synthesizer controls and notes (`ResnetSinusoidalEncoder`,
  `SinusoidalToHarmonicEncoder`, `MidiEncoder`, `HarmonicToMidiEncoder`) live in
  `control_encoders` and are importable from here; gin names all of them `encoders.<Name>`.
"""

import numbers
from typing import Optional, Sequence, Text

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
    return dags.deserialize_functions(nn.deserialize_layers(config))


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
            validation.fail(owner, 'one_hot_key', 'a non-empty string', one_hot_key)
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
        validation.fail(owner, name, 'a positive integer or a sequence of them', values)
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
        input_keys = validation.check_keys(owner, 'input_keys', input_keys, non_empty=True)
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


# Imported last: the control encoders are part of this module's public names (and its gin
# module), and they import nothing from it.
from ddsp.training.control_encoders import (  # noqa: E402
    HarmonicToMidiEncoder,
    MidiEncoder,
    ResnetSinusoidalEncoder,
    SinusoidalToHarmonicEncoder,
    f0_softmax_20_1200,
)

__all__ = [
    'AggregateFeaturesEncoder',
    'ExpressionEncoder',
    'HarmonicToMidiEncoder',
    'MfccEncoder',
    'MfccRnnEncoder',
    'MfccTimeDistributedRnnEncoder',
    'MidiEncoder',
    'OneHotEncoder',
    'ResnetSinusoidalEncoder',
    'SinusoidalToHarmonicEncoder',
    'ZEncoder',
    'f0_softmax_20_1200',
]
