"""Losses on synthesizer controls and sinusoids rather than audio (experimental).

They compare what a model predicts for a synthesizer with a target for it, e.g. the
controls an inverse-synthesis model infers with those of the sinusoids it fitted:

- `FilteredNoiseConsistencyLoss`: noise magnitudes;
- `HarmonicConsistencyLoss`: harmonic amplitude, distribution and f0, masked on silence;
- `WassersteinConsistencyLoss` and `KDEConsistencyLoss`: two sets of sinusoids, as
  distributions over frequency weighted by amplitude;
- `TWMLoss`: the two-way mismatch between f0 candidates and a set of sinusoids;
- `ParamLoss`: any synthesizer parameter against its target (direct supervision).

Example:
    >>> from ddsp import losses
    >>> losses.ParamLoss(weight=0.5)(f0_pred, f0_target)  # 0.5 * mean |pred - target|
    >>> losses.WassersteinConsistencyLoss()(amps_a, freqs_a, amps_b, freqs_b)  # semitones
"""

import math
from typing import Text

import gin
import numpy as np
import tensorflow as tf

from ddsp import core, validation
from ddsp.losses.base import (
    GIN_MODULE,
    Loss,
    TensorDict,
    amp_loss,
    check_loss_type,
    freq_loss,
    mean_difference,
    wasserstein_distance,
)
from ddsp.serialization import keras_serializable


@keras_serializable
@gin.register(module=GIN_MODULE)
class FilteredNoiseConsistencyLoss(Loss):
    """`weight * amp_loss(noise_magnitudes, noise_magnitudes_target)` (L1).

    `call(noise_magnitudes, noise_magnitudes_target)`: the filter magnitudes of a
    `FilteredNoise` synth, `[batch, n_frames, n_bands]` each (linear). Experimental.

    Example:
        >>> FilteredNoiseConsistencyLoss(weight=3.0)(magnitudes, target)  # 3 * mean |m - t|
    """

    def __init__(
        self, weight: float = 1.0, name: Text = 'filtered_noise_consistency_loss', **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.weight = validation.check_number(type(self).__name__, 'weight', weight)

    def call(self, noise_magnitudes, noise_magnitudes_target):
        return self.weight * amp_loss(noise_magnitudes, noise_magnitudes_target)

    def get_config(self):
        config = super().get_config()
        config['weight'] = self.weight
        return config


@keras_serializable
@gin.register(module=GIN_MODULE)
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

    Shapes: amplitudes and f0 `[batch, n_frames, 1]` (f0 in Hz), distributions
    `[batch, n_frames, n_harmonics]`.

    Example:
        >>> loss = HarmonicConsistencyLoss()
        >>> loss(amp, amp_target, dist, dist_target, f0_hz, f0_target)  # {'harm_amp_loss': ..}
    """

    def __init__(
        self,
        amp_weight: float = 1.0,
        dist_weight: float = 1.0,
        f0_weight: float = 1.0,
        amp_threshold: float = 1e-4,
        name: Text = 'harmonic_consistency_loss',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner, number = type(self).__name__, validation.check_number
        self.amp_weight = number(owner, 'amp_weight', amp_weight)
        self.dist_weight = number(owner, 'dist_weight', dist_weight)
        self.f0_weight = number(owner, 'f0_weight', f0_weight)
        self.amp_threshold = number(owner, 'amp_threshold', amp_threshold)

    def call(self, harm_amp, harm_amp_target, harm_dist, harm_dist_target, f0_hz, f0_hz_target):
        harm_amp_target = core.tf_float32(harm_amp_target)
        mask = tf.cast(harm_amp_target >= self.amp_threshold, tf.float32)
        return {
            'harm_amp_loss': self.amp_weight * amp_loss(harm_amp, harm_amp_target),
            'harm_dist_loss': self.dist_weight
            * amp_loss(harm_dist, harm_dist_target, weights=mask),
            'f0_hz_loss': self.f0_weight * freq_loss(f0_hz, f0_hz_target, weights=mask),
        }

    def get_losses_dict(self, *args, **kwargs) -> TensorDict:
        """The three named terms (not nested under the layer name)."""
        return self(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                'amp_weight': self.amp_weight,
                'dist_weight': self.dist_weight,
                'f0_weight': self.f0_weight,
                'amp_threshold': self.amp_threshold,
            }
        )
        return config


@keras_serializable
@gin.register(module=GIN_MODULE)
class WassersteinConsistencyLoss(Loss):
    """Wasserstein distance between two sets of sinusoids' frequencies.

    `call(amps_a, freqs_a, amps_b, freqs_b)` (`[batch, n_frames, n_sinusoids]`
    each, Hz) = `weight * mean(wasserstein_distance(freqs_a, freqs_b, amps_a,
    amps_b))`: per frame, each set of sinusoids is a distribution over
    frequency weighted by amplitude. With `midi` the frequencies are compared
    in MIDI, otherwise in Hz. (In 3.7.0 `midi=False` computed nothing; fixed.)
    Experimental.

    Example:
        >>> WassersteinConsistencyLoss()(amps_a, freqs_a, amps_b, freqs_b)  # semitones
    """

    def __init__(
        self,
        weight: float = 1.0,
        midi: bool = True,
        name: Text = 'wasserstein_consistency_loss',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.weight = validation.check_number(type(self).__name__, 'weight', weight)
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
    return tf.where(positive, tf.math.log(safe), tf.fill(tf.shape(weights), -np.inf))


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
    return core.safe_divide(
        tf.reduce_sum(x * weights, axis=axis), tf.reduce_sum(weights, axis=axis)
    )


@keras_serializable
@gin.register(module=GIN_MODULE)
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

    Example:
        >>> KDEConsistencyLoss(scale_a=0.3)(amps_a, freqs_a, amps_b, freqs_b)  # scalar, nats
    """

    def __init__(
        self,
        weight_a: float = 1.0,
        weight_b: float = 1.0,
        weight_mean_amp: float = 1.0,
        scale_a: float = 0.1,
        scale_b: float = 0.1,
        name: Text = 'kde_consistency_loss',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        number, positive = validation.check_number, validation.check_positive_number
        self.weight_a = number(owner, 'weight_a', weight_a)
        self.weight_b = number(owner, 'weight_b', weight_b)
        self.weight_mean_amp = number(owner, 'weight_mean_amp', weight_mean_amp)
        self.scale_a = positive(owner, 'scale_a', scale_a)
        self.scale_b = positive(owner, 'scale_b', scale_b)

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
            return tf.reduce_logsumexp(_log_gaussian(points, centres, scale) + log_weights, axis=-1)

        return log_prob

    def nll(self, amps, freqs, amps_target, freqs_target, scale_target):
        """Mean negative log density of (amps, freqs) under the target's KDE."""
        log_prob = self.kernel_density_estimate(amps_target, freqs_target, scale_target)(freqs)
        return tf.reduce_mean(_weighted_mean(-log_prob, amps))

    def call(self, amps_a, freqs_a, amps_b, freqs_b):
        amps_a, amps_b = core.tf_float32(amps_a), core.tf_float32(amps_b)
        midi_a, midi_b = core.hz_to_midi(freqs_a), core.hz_to_midi(freqs_b)
        loss = tf.constant(0.0)
        if self.weight_a:
            loss += self.weight_a * self.nll(amps_a, midi_a, amps_b, midi_b, self.scale_b)
        if self.weight_b:
            loss += self.weight_b * self.nll(amps_b, midi_b, amps_a, midi_a, self.scale_a)
        if self.weight_mean_amp:
            loss += self.weight_mean_amp * mean_difference(
                tf.reduce_mean(amps_a, axis=-1), tf.reduce_mean(amps_b, axis=-1)
            )
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                'weight_a': self.weight_a,
                'weight_b': self.weight_b,
                'weight_mean_amp': self.weight_mean_amp,
                'scale_a': self.scale_a,
                'scale_b': self.scale_b,
            }
        )
        return config


@keras_serializable
@gin.register(module=GIN_MODULE)
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

    Example:
        >>> twm = TWMLoss(sample_rate=16000)
        >>> twm(f0_candidates, freqs, amps)  # scalar
        >>> twm.predict_f0(f0_candidates, freqs, amps)  # NumPy [batch, n_frames, 1], Hz
    """

    def __init__(
        self,
        sinusoids_weight: float = 1.0,
        harmonics_weight: float = 1.0,
        sinusoids_scale: float = 0.5,
        harmonics_scale: float = 0.2,
        n_harmonic_points: int = 10,
        n_harmonic_gaussians: int = 30,
        softmin_temperature: float = 1.0,
        sample_rate: int = 16000,
        name: Text = 'twm_loss',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        number, positive = validation.check_number, validation.check_positive_number
        self.sinusoids_weight = number(owner, 'sinusoids_weight', sinusoids_weight)
        self.harmonics_weight = number(owner, 'harmonics_weight', harmonics_weight)
        self.sinusoids_scale = positive(owner, 'sinusoids_scale', sinusoids_scale)
        self.harmonics_scale = positive(owner, 'harmonics_scale', harmonics_scale)
        self.n_harmonic_points = validation.check_int(owner, 'n_harmonic_points', n_harmonic_points)
        self.n_harmonic_gaussians = validation.check_int(
            owner, 'n_harmonic_gaussians', n_harmonic_gaussians
        )
        self.softmin_temperature = positive(owner, 'softmin_temperature', softmin_temperature)
        self.sample_rate = positive(owner, 'sample_rate', sample_rate)
        if float(sample_rate).is_integer():
            self.sample_rate = int(sample_rate)

    def _valid_candidates(self, f0_candidates):
        f0 = core.tf_float32(f0_candidates)
        return tf.logical_and(f0 > 0.0, f0 < self.sample_rate / 2.0)

    def _safe_candidates(self, f0_candidates):
        """Invalid candidates replaced by 100 Hz (no NaN gradients)."""
        f0 = core.tf_float32(f0_candidates)
        return tf.where(self._valid_candidates(f0), f0, 100.0 * tf.ones_like(f0))

    def get_candidate_harmonics(self, f0_candidates, as_midi=True, n_harmonics=None):
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
            self._below_nyquist(harmonics_hz) / self.n_harmonic_gaussians
        )
        sinusoids = core.hz_to_midi(freqs)[:, :, tf.newaxis, :, tf.newaxis]
        log_density = tf.reduce_logsumexp(
            _log_gaussian(sinusoids, harmonics[..., tf.newaxis, :], self.harmonics_scale)
            + log_weights[..., tf.newaxis, :],
            axis=-1,
        )  # [B, T, C, K]
        return _weighted_mean(log_density, core.tf_float32(amps)[:, :, tf.newaxis])

    def get_p_harmonics_given_sinusoids(self, f0_candidates, freqs, amps):
        """`[batch, n_frames, n_candidates]` log likelihood of the harmonics."""
        harmonics_hz = self.get_candidate_harmonics(
            f0_candidates, as_midi=False, n_harmonics=self.n_harmonic_points
        )
        harmonics = core.hz_to_midi(harmonics_hz)[..., tf.newaxis]
        sinusoids = core.hz_to_midi(freqs)[:, :, tf.newaxis, tf.newaxis, :]
        log_weights = _log_mixture_weights(amps)[:, :, tf.newaxis, tf.newaxis, :]
        log_density = tf.reduce_logsumexp(
            _log_gaussian(harmonics, sinusoids, self.sinusoids_scale) + log_weights, axis=-1
        )  # [B, T, C, P]
        return _weighted_mean(log_density, self._below_nyquist(harmonics_hz))

    def _mismatch(self, f0_candidates, freqs, amps):
        f0 = self._safe_candidates(f0_candidates)
        sinusoids = -self.sinusoids_weight * self.get_p_sinusoids_given_harmonics(f0, freqs, amps)
        harmonics = -self.harmonics_weight * self.get_p_harmonics_given_sinusoids(f0, freqs, amps)
        return sinusoids, harmonics

    def get_loss_tensors(self, f0_candidates, freqs, amps) -> TensorDict:
        """Per-candidate mismatches `{'sinusoids', 'harmonics', 'total'}`.

        Each `[batch, n_frames, n_candidates]`; NaN for invalid candidates.
        """
        sinusoids, harmonics = self._mismatch(f0_candidates, freqs, amps)
        valid = self._valid_candidates(f0_candidates)
        nan = tf.fill(tf.shape(sinusoids), np.nan)
        losses = {'sinusoids': sinusoids, 'harmonics': harmonics, 'total': sinusoids + harmonics}
        return {k: tf.where(valid, v, nan) for k, v in losses.items()}

    def call(self, f0_candidates, freqs, amps):
        sinusoids, harmonics = self._mismatch(f0_candidates, freqs, amps)
        total = sinusoids + harmonics
        valid = self._valid_candidates(f0_candidates)
        logits = tf.where(valid, -total / self.softmin_temperature, -1e9 * tf.ones_like(total))
        weights = tf.nn.softmax(logits, axis=-1) * tf.cast(valid, tf.float32)
        return tf.reduce_mean(tf.reduce_sum(weights * total, axis=-1))

    def predict_f0(self, f0_candidates, freqs, amps):
        """The candidate with the smallest mismatch, NumPy `[batch, n_frames, 1]`.

        Frames with no valid candidate get 0 Hz.
        """
        total = np.asarray(self.get_loss_tensors(f0_candidates, freqs, amps)['total'])
        f0_candidates = np.asarray(f0_candidates, np.float32)
        all_nan = np.all(np.isnan(total), axis=-1, keepdims=True)
        index = np.nanargmin(np.where(all_nan, 0.0, total), axis=-1)[..., None]
        f0 = np.take_along_axis(f0_candidates, index, axis=-1)
        return np.where(all_nan, 0.0, f0).astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                'sinusoids_weight': self.sinusoids_weight,
                'harmonics_weight': self.harmonics_weight,
                'sinusoids_scale': self.sinusoids_scale,
                'harmonics_scale': self.harmonics_scale,
                'n_harmonic_points': self.n_harmonic_points,
                'n_harmonic_gaussians': self.n_harmonic_gaussians,
                'softmin_temperature': self.softmin_temperature,
                'sample_rate': self.sample_rate,
            }
        )
        return config


@keras_serializable
@gin.register(module=GIN_MODULE)
class ParamLoss(Loss):
    """`weight * mean_difference(pred, target, loss_type, weights)`.

    For supervising synthesizer parameters directly. Note the order of
    `call(pred, target, weights=None)`: prediction first. Any shape, the same for both;
    `weights` broadcast as in `mean_difference`.

    Example:
        >>> ParamLoss(weight=0.5, loss_type='L2')([1.0, 2.0], [1.0, 4.0])  # 0.5 * 2.0
    """

    def __init__(
        self, weight: float = 1.0, loss_type: Text = 'L1', name: Text = 'param_loss', **kwargs
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.weight = validation.check_number(owner, 'weight', weight)
        self.loss_type = check_loss_type(owner, loss_type)

    def call(self, pred, target, weights=None):
        return self.weight * mean_difference(pred, target, self.loss_type, weights)

    def get_config(self):
        config = super().get_config()
        config.update({'weight': self.weight, 'loss_type': self.loss_type})
        return config
