"""The loss contract: distance functions, the `Loss` base class and `LossGroup`.

A loss is a Keras layer whose `call` returns a scalar (or, for a loss with several terms, a
dict of named scalars) and whose `get_losses_dict(*inputs)` returns `{name: value}`; that
method is how DAGs recognise a loss (`dags.is_loss`). `LossGroup` runs a DAG of losses on a
dict of model outputs and returns one flat `{loss name: scalar}` dict.

The distance functions `mean_difference` (L1, L2 or cosine), `amp_loss`, `freq_loss` and
`wasserstein_distance` are the building blocks of every loss class in `ddsp.losses`.

The audio losses (`SpectralLoss`, `EmbeddingLoss` and its CREPE subclass) read their two
signals with `prepare_audio_pair`, a boundary for bad values:

- Shapes: the target and the prediction must have the same shape. A batch of 2 is not
  broadcast against a batch of 1, and different lengths are a `ValueError` naming both shapes
  (before, a cryptic `Incompatible shapes` from deep inside the loss). Static shapes are
  compared in Python; sizes known only at run time by an assertion.
- NaN and infinite samples, when the values are at hand (NumPy arrays, eager tensors): a
  `ValueError` naming the input (`target_audio` or `audio`), how many samples are bad and
  where the first one is. Inside `tf.function` (the training step) nothing is checked, which
  costs nothing: a non-finite input gives a non-finite loss (no term hides it, tested), and
  the trainer stops on that step with `TrainingDivergedError` without applying it. An
  in-graph assertion would pre-empt that handling and is compiled out under XLA anyway.

Example:
    >>> from ddsp import losses
    >>> losses.mean_difference([1.0, 2.0], [1.0, 4.0], 'L2')  # 2.0
    >>> group = losses.LossGroup(dag=[(losses.SpectralLoss(), ['audio', 'audio_synth'])])
    >>> group.loss_names  # ['spectral_loss']
"""

import math
from typing import Dict, Optional, Text

import gin
import keras
import tensorflow as tf

from ddsp import core, dags, validation
from ddsp.serialization import keras_serializable
from ddsp.spectral_ops import framing

TensorDict = Dict[Text, tf.Tensor]

# The module every loss class is registered under with gin, whichever file defines it: gin
# names a configurable after its module, and the shipped and the original's configs say
# `losses.SpectralLoss`, `@losses.SpectralLoss()`.
GIN_MODULE = 'ddsp.losses'

LOSS_TYPES = ('L1', 'L2', 'COSINE')


def check_loss_type(owner: Text, loss_type) -> Text:
    """The loss type in upper case (any case is accepted), or a ValueError listing the valid ones.

    Example:
        >>> check_loss_type('ParamLoss', 'l2')  # 'L2'
    """
    if isinstance(loss_type, str) and loss_type.upper() in LOSS_TYPES:
        return loss_type.upper()
    validation.fail(owner, 'loss_type', f'one of {list(LOSS_TYPES)} (any case)', loss_type)


_AUDIO_FINITE = (
    'free of NaN and infinite samples (the loss would be NaN: for generated audio check the '
    "synthesizer's controls, for the target the data; the first bad sample is named here)"
)


def prepare_audio_pair(owner: Text, target_audio, audio, as_features: bool = True):
    """The two audio inputs of a loss, checked: same shape, and finite when eager.

    Args:
        owner: the loss, for the messages.
        target_audio: the target, e.g. `[batch, n_samples]`.
        audio: the prediction, the same shape.
        as_features: read both as the feature functions do (`framing.prepare_audio`: integer
            PCM scaled, a trailing channel of 1 squeezed, `[n_samples, channels]` and empty
            audio rejected); otherwise only convert them to float32.

    Returns:
        `(target_audio, audio)`, float32 tensors.

    Raises:
        ValueError: shapes that differ (static), NaN or infinite samples (NumPy or eager
            input), and with `as_features` what `framing.prepare_audio` rejects. Inside
            `tf.function`, sizes known only at run time are compared by an assertion
            (`InvalidArgumentError`); values are not checked there (see the module doc).
    """
    if as_features:
        target_audio = framing.prepare_audio(target_audio, owner, 'target_audio', _AUDIO_FINITE)
        audio = framing.prepare_audio(audio, owner, 'audio', _AUDIO_FINITE)
    else:
        target_audio = framing.check_finite(
            core.tf_float32(target_audio), owner, 'target_audio', _AUDIO_FINITE
        )
        audio = framing.check_finite(core.tf_float32(audio), owner, 'audio', _AUDIO_FINITE)
    target_shape = validation.shape_tuple(target_audio.shape)
    shape = validation.shape_tuple(audio.shape)
    expected = (
        f'the shape of target_audio, {target_shape} (the loss compares the two signals '
        'sample for sample: pass one prediction per target, trimmed or padded to its length)'
    )
    if target_audio.shape.rank is None or audio.shape.rank is None:
        return target_audio, audio
    if len(shape) != len(target_shape) or any(
        None not in (a, b) and a != b for a, b in zip(shape, target_shape)
    ):
        validation.fail(owner, 'audio.shape', expected, shape)
    if None in shape or None in target_shape:  # Known at run time only: a cheap assertion.
        check = tf.debugging.assert_equal(
            tf.shape(audio),
            tf.shape(target_audio),
            message=validation.message(owner, 'audio.shape', expected, 'see below'),
        )
        with tf.control_dependencies([check]):
            audio = tf.identity(audio)
    return target_audio, audio


# ------------------------------------------------------------------------------------------------
# Distance functions.
# ------------------------------------------------------------------------------------------------
def mean_difference(target, value, loss_type='L1', weights=None):
    """The mean difference between two tensors, optionally weighted.

    - `'L1'`: `mean(|(target - value) * weights|)`.
    - `'L2'`: `mean((target - value)^2 * weights)`.
    - `'COSINE'`: the cosine distance between the vectors along the **last axis**,
      `1 - <t, v> / (|t| |v|)`: 0 for vectors pointing the same way, 1 for orthogonal ones, 2
      for opposite ones, whatever their lengths. It is computed as `|t/|t| - v/|v||^2 / 2`
      (equal, and accurate when the distance is small), per vector `[..., 1]`, then
      `mean(distance * weights)`. A zero vector is normalised to zero, so two zero vectors
      are at distance 0 (identical inputs always give 0) and a zero vector is at 0.5 from any
      other. (The 3.7.0 original called `tf.losses.cosine_distance`, which does not exist in
      TF2, so it never worked.)

    Every mean is over all elements of the (broadcast) product, so `weights` must broadcast
    against `target - value` (for L1 and L2) or against the per-vector distances `[..., 1]`
    (for COSINE).

    Args:
        target: The target tensor, any shape.
        value: The predicted tensor, the same shape as `target`.
        loss_type: `'L1'`, `'L2'` or `'COSINE'` (any case).
        weights: Optional weights, e.g. a mask of the frames to count.

    Returns:
        A scalar float32 tensor, in the units of the inputs (squared for L2; unitless for
        COSINE).

    Raises:
        ValueError: for an unknown `loss_type`.

    Example:
        >>> mean_difference([1., 2.], [1., 4.], 'L2')  # 2.0
    """
    loss_type = check_loss_type('mean_difference', loss_type)
    target = core.tf_float32(target)
    value = core.tf_float32(value)
    weights = 1.0 if weights is None else core.tf_float32(weights)
    if loss_type == 'L1':
        return tf.reduce_mean(tf.abs((target - value) * weights))
    if loss_type == 'L2':
        return tf.reduce_mean(tf.square(target - value) * weights)
    target_unit = tf.math.l2_normalize(target, axis=-1)
    value_unit = tf.math.l2_normalize(value, axis=-1)
    distance = 0.5 * tf.reduce_sum(tf.square(target_unit - value_unit), axis=-1, keepdims=True)
    return tf.reduce_mean(distance * weights)


def _log10_clipped(x, amin):
    return tf.math.log(tf.maximum(core.tf_float32(x), amin)) / math.log(10.0)


def amp_loss(amp, amp_target, loss_type='L1', weights=None, log=False, amin=1e-5):
    """`mean_difference` of amplitudes, optionally of `log10(max(amin, amp))`.

    Args:
        amp: Amplitudes, any shape (linear, e.g. `[batch, n_frames, 1]`).
        amp_target: Target amplitudes, the same shape.
        loss_type: `'L1'`, `'L2'` or `'COSINE'`.
        weights: Optional weights (see `mean_difference`).
        log: Compare `log10` of the amplitudes (decades, i.e. dB / 20).
        amin: The floor of the amplitudes before the log.

    Returns:
        A scalar float32 tensor.

    Example:
        >>> amp_loss([1.0], [10.0], log=True)  # 1.0
    """
    if log:
        amp = _log10_clipped(amp, amin)
        amp_target = _log10_clipped(amp_target, amin)
    return mean_difference(amp, amp_target, loss_type, weights)


def freq_loss(f_hz, f_hz_target, loss_type='L1', weights=None):
    """`mean_difference` of frequencies in MIDI (semitones); 0 Hz is MIDI 0.

    Args:
        f_hz: Frequencies in Hz, any shape (e.g. `[batch, n_frames, 1]`).
        f_hz_target: Target frequencies in Hz, the same shape.
        loss_type: `'L1'`, `'L2'` or `'COSINE'`.
        weights: Optional weights (see `mean_difference`).

    Returns:
        A scalar float32 tensor, in semitones (squared for L2).

    Example:
        >>> freq_loss([440.0], [880.0])  # 12.0
    """
    return mean_difference(core.hz_to_midi(f_hz), core.hz_to_midi(f_hz_target), loss_type, weights)


def wasserstein_distance(u_values, v_values, u_weights=None, v_weights=None, p=1.0):
    """Distance between two weighted 1-D distributions, over the last axis.

    The L^p distance between the two cumulative distribution functions,
    `(integral |U(x) - V(x)|^p dx)^(1/p)`, as `scipy.stats.wasserstein_distance` computes it
    (p=1, the 1-Wasserstein or earth mover's distance). The weights of each distribution are
    normalised to sum to one, so only their proportions matter. (The 3.7.0 original discarded
    that normalisation and compared unnormalised CDFs; fixed here.)

    With p=2 this is the Cramér distance, `scipy.stats.energy_distance / sqrt(2)`; for p != 1
    the gradient is infinite where the distance is 0.

    Args:
        u_values: `[..., n_u]` values (points) of the first distribution.
        v_values: `[..., n_v]` values of the second; the leading dims match.
        u_weights: `[..., n_u]` non-negative weights, or None for equal ones.
        v_weights: `[..., n_v]` non-negative weights, or None.
        p: The order of the norm, > 0.

    Returns:
        float32 `[...]`: one distance per leading index (a scalar for 1-D inputs), in the
        units of the values.

    Example:
        >>> wasserstein_distance([0., 1.], [1., 2.])  # 1.0
    """
    if isinstance(p, (int, float)) and p <= 0:
        validation.fail('wasserstein_distance', 'p', 'a positive number', p)
    u_values = core.tf_float32(u_values)
    v_values = core.tf_float32(v_values)
    batch_dims = u_values.shape.rank - 1
    all_values = tf.sort(tf.concat([u_values, v_values], axis=-1), axis=-1)
    deltas = all_values[..., 1:] - all_values[..., :-1]
    points = all_values[..., :-1]

    def cdf(values, weights):
        """The distribution's CDF, evaluated at `points`."""
        order = tf.argsort(values, axis=-1, stable=True)
        sorted_values = tf.gather(values, order, axis=-1, batch_dims=batch_dims)
        counts = tf.searchsorted(sorted_values, points, side='right')
        if weights is None:
            n = tf.cast(tf.shape(values)[-1], tf.float32)
            return tf.cast(counts, tf.float32) / n
        weights = tf.broadcast_to(core.tf_float32(weights), tf.shape(values))
        sorted_weights = tf.gather(weights, order, axis=-1, batch_dims=batch_dims)
        cumulative = tf.cumsum(sorted_weights, axis=-1)
        cumulative = tf.concat([tf.zeros_like(cumulative[..., :1]), cumulative], axis=-1)
        cdf_values = tf.gather(cumulative, counts, axis=-1, batch_dims=batch_dims)
        return core.safe_divide(cdf_values, cumulative[..., -1:])

    cdf_difference = tf.abs(cdf(u_values, u_weights) - cdf(v_values, v_weights))
    if isinstance(p, (int, float)) and p == 1:
        return tf.reduce_sum(cdf_difference * deltas, axis=-1)
    if isinstance(p, (int, float)) and p == 2:
        return tf.sqrt(tf.reduce_sum(tf.square(cdf_difference) * deltas, axis=-1))
    p = core.tf_float32(p)
    return tf.pow(tf.reduce_sum(tf.pow(cdf_difference, p) * deltas, axis=-1), 1.0 / p)


# ------------------------------------------------------------------------------------------------
# Base classes.
# ------------------------------------------------------------------------------------------------
@keras_serializable
class Loss(keras.layers.Layer):
    """Base class of losses: a Keras layer with `get_losses_dict`.

    Subclasses implement `call(...)`, returning a scalar loss (or a dict of named scalars, in
    which case they override `get_losses_dict` too).

    Args:
        name: The layer name, and the key of the loss in `get_losses_dict`.
        trainable: Whether the loss's weights (if any) are trained.
        **kwargs: Other Keras layer arguments.

    Example:
        >>> class Gap(Loss):
        ...     def call(self, target, value):
        ...         return mean_difference(target, value)
        >>> Gap(name='gap').get_losses_dict([1.0], [3.0])  # {'gap': 2.0}
    """

    def __init__(self, name: Optional[Text] = None, trainable: bool = False, **kwargs):
        super().__init__(name=name, trainable=trainable, autocast=False, **kwargs)
        # Inputs may be Python numbers or None (e.g. optional weights).
        self._allow_non_tensor_positional_args = True

    def build(self, input_shape=None):
        # Nothing to create: sub-layers (e.g. an embedding network) build themselves when
        # first called.
        self.built = True

    def call(self, *args, **kwargs):
        raise NotImplementedError(f'{type(self).__name__} must implement call().')

    def get_losses_dict(self, *args, **kwargs) -> TensorDict:
        """`{self.name: self(*args, **kwargs)}`."""
        return {self.name: self(*args, **kwargs)}

    def get_config(self):
        config = super().get_config()
        config['name'] = self.name
        return config


@keras_serializable
@gin.register(module=GIN_MODULE)
class LossGroup(dags.DAGLayer):
    """Runs a DAG of losses on a dict of outputs; returns one flat dict.

    Args:
        dag: A list of `(loss or attribute name, [input keys])` nodes. Input keys are nested
            lookups into the outputs dict, e.g. `'audio'` or `'harmonic/controls/f0_hz'`.
        **kwarg_losses: Losses to attach as attributes (to name in the DAG), and Keras layer
            arguments (`name`, ...).

    Attributes:
        dag: The nodes `(attribute name, [input keys], output keys or None)`.
        loss_names: The attribute names of the group's losses, keyword losses first, then the
            DAG's in order (see the property).
        losses: The loss layers, in the order of `loss_names`.

    Returns (when called): `{loss name: scalar}`, with the entries of losses that return
    several terms (e.g. `HarmonicConsistencyLoss`) merged in.

    Example:
        >>> group = LossGroup(dag=[
        ...     (SpectralLoss(), ['audio', 'audio_synth']),
        ...     (ParamLoss(name='f0_loss'), ['f0_pred', 'f0_hz'])])
        >>> group.loss_names  # ['spectral_loss', 'f0_loss']
        >>> group(outputs)  # {'spectral_loss': ..., 'f0_loss': ...}
    """

    def __init__(self, dag: dags.DAG, **kwarg_losses):
        super().__init__(dag=dag, **kwarg_losses)

    @property
    def loss_names(self) -> list:
        """The names under which the group holds its losses, as the original's `loss_names`.

        They are the attribute names of the losses (`group.<name>`): a loss's layer name when
        it was given as a DAG node, the keyword when given as `name=loss`. A single-term loss
        reports its value under its layer name; a multi-term one (`HarmonicConsistencyLoss`)
        under the names of its terms.
        """
        return [name for name in self.module_names if dags.is_loss(getattr(self, name))]

    @property
    def losses(self) -> list:
        """The loss layers of the group, in the order of `loss_names`.

        As in the original, this replaces Keras's `Layer.losses` (the `add_loss` terms) on a
        LossGroup; a model that contains the group still collects those terms as before.
        """
        return [getattr(self, name) for name in self.loss_names]

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
                        f'give the losses unique names.'
                    )
                losses[loss_name] = loss_value
        return losses

    def get_losses_dict(self, outputs: TensorDict, **kwargs) -> TensorDict:
        """An alias of calling the group."""
        return self(outputs, **kwargs)
