"""The multi-scale spectral loss: `SpectralLoss`, and the floored log magnitude it uses.

`SpectralLoss` compares two signals through their magnitude spectrograms at several FFT
sizes (and optionally their derivatives, cumulative sums, log magnitudes and loudness); it is
the reconstruction loss of every DDSP autoencoder. `log_magnitude` is its log term, floored
at `LOG_MAGNITUDE_FLOOR` so that near-silent bins of generated audio cannot dominate the
gradient.

Example:
    >>> from ddsp import losses
    >>> loss = losses.SpectralLoss(mag_weight=1.0, logmag_weight=1.0)
    >>> loss(target_audio, audio)  # scalar; the target comes first
"""

import numbers
from typing import Sequence, Text

import gin
import tensorflow as tf

from ddsp import core, spectral_ops, validation
from ddsp.losses.base import (
    GIN_MODULE,
    Loss,
    check_loss_type,
    mean_difference,
    prepare_audio_pair,
)
from ddsp.serialization import keras_serializable
from ddsp.spectral_ops.stft import magnitude_of_prepared

# The arguments SpectralLoss lost in July 2020, and gin configs still carry.
_REMOVED_SPECTRAL_LOSS_ARGS = ('delta_delta_time_weight', 'delta_delta_freq_weight')

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


def _check_fft_sizes(fft_sizes) -> tuple:
    """FFT sizes as a tuple of ints >= 4 (the hop is size // 4)."""
    sizes = list(fft_sizes) if isinstance(fft_sizes, (list, tuple)) else []
    is_size = lambda s: isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 4
    if not sizes or not all(is_size(s) for s in sizes):
        validation.fail(
            'SpectralLoss',
            'fft_sizes',
            'a non-empty sequence of positive integers of at least 4 (the hop is a '
            'quarter of the size), like (2048, 1024, 512)',
            fft_sizes,
        )
    return tuple(int(s) for s in sizes)


@keras_serializable
@gin.register(module=GIN_MODULE)
class SpectralLoss(Loss):
    """Multi-scale spectrogram loss.

    `call(target_audio, audio, weights=None)`: **the target comes first** (since March 2020;
    before that the order was `(audio, target_audio)`).

    For each FFT size `s`, with `M = compute_mag(x, s)` (hop `s // 4`, the end zero-padded,
    periodic Hann, FFT length the next power of 2), and
    `D = mean_difference(·, ·, loss_type, weights)`:

        loss += mag_weight         * D(M_target, M_audio)
              + delta_time_weight  * D(diff_time(M_target), diff_time(M_audio))
              + delta_freq_weight  * D(diff_freq(M_target), diff_freq(M_audio))
              + cumsum_freq_weight * D(cumsum_freq(M_target), cumsum_freq(M_audio))
              + logmag_weight      * D(log M_target, log M_audio)

    where `diff` is a forward difference, `cumsum_freq` a cumulative sum over the frequency
    bins and `log` is the natural log of the magnitude floored at `LOG_MAGNITUDE_FLOOR` (1e-5,
    about 150 dB below a full-scale sine's peak bin at size 2048). After the loop, once:

        loss += loudness_weight * D(compute_loudness(target, n_fft=2048),
                                    compute_loudness(audio, n_fft=2048))

    (computed as for 16 kHz audio at 250 frames per second, whatever the rate of the audio).
    Each term is a mean over all its elements; the terms are summed
    over the scales, with no normalisation by their number. Terms with weight 0 are not
    computed.

    The gin configs of the papers set `mag_weight = 1.0` and `logmag_weight = 1.0` (the class
    default for `logmag_weight` is 0).

    Args:
        fft_sizes: FFT sizes (integers >= 4), one spectrogram per size.
        loss_type: `'L1'`, `'L2'` or `'COSINE'` (see `mean_difference`).
        mag_weight: Weight of the magnitude difference.
        delta_time_weight: Weight of the difference of time derivatives.
        delta_freq_weight: Weight of the difference of frequency derivatives.
        cumsum_freq_weight: Weight of the difference of cumulative sums over frequency.
        logmag_weight: Weight of the log-magnitude difference.
        loudness_weight: Weight of the A-weighted loudness (dB) difference.
        name: The layer name.
        **kwargs: Keras layer arguments. `delta_delta_time_weight` and
            `delta_delta_freq_weight` were removed in July 2020 and raise a TypeError saying
            so.

    Example:
        >>> loss = SpectralLoss(loss_type='L1', mag_weight=1.0, logmag_weight=1.0)
        >>> loss(target_audio, audio)  # audio [batch, n_samples] -> scalar
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
        loss_type: Text = 'L1',
        mag_weight: float = 1.0,
        delta_time_weight: float = 0.0,
        delta_freq_weight: float = 0.0,
        cumsum_freq_weight: float = 0.0,
        logmag_weight: float = 0.0,
        loudness_weight: float = 0.0,
        name: Text = 'spectral_loss',
        **kwargs,
    ):
        removed = [k for k in _REMOVED_SPECTRAL_LOSS_ARGS if k in kwargs]
        if removed:
            raise TypeError(
                f'SpectralLoss got {", ".join(removed)}: the delta-delta terms were removed '
                f'from ddsp in July 2020. Drop the argument; in gin configs, delete the '
                f'SpectralLoss.delta_delta_time_weight and '
                f'SpectralLoss.delta_delta_freq_weight bindings.'
            )
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.fft_sizes = _check_fft_sizes(fft_sizes)
        self.loss_type = check_loss_type(owner, loss_type)

        def weight(name, value):
            return validation.check_number(owner, name, value, minimum=0)

        self.mag_weight = weight('mag_weight', mag_weight)
        self.delta_time_weight = weight('delta_time_weight', delta_time_weight)
        self.delta_freq_weight = weight('delta_freq_weight', delta_freq_weight)
        self.cumsum_freq_weight = weight('cumsum_freq_weight', cumsum_freq_weight)
        self.logmag_weight = weight('logmag_weight', logmag_weight)
        self.loudness_weight = weight('loudness_weight', loudness_weight)

    def call(self, target_audio, audio, weights=None):
        """The loss between `target_audio` and `audio`, `[batch, n_samples]`.

        Args:
            target_audio: The target (e.g. the dataset's audio).
            audio: The prediction (e.g. the synthesized audio).
            weights: Optional weights, broadcast against every term: the `[batch, frames,
                bins]` spectrograms (whose frames differ from scale to scale) and the
                `[batch, frames]` loudness. A scalar, or per-example `[batch, 1, 1]` (its
                last axis is dropped for the loudness term), fits them all.

        Returns:
            A scalar float32 tensor.

        Raises:
            ValueError: the two signals differ in shape (no broadcasting of the batch), or
                (NumPy or eager input) hold NaN or infinite samples: the message names
                `target_audio` or `audio`. Inside `tf.function` a non-finite input gives a
                non-finite loss, which the trainer stops on (see `losses.base`).
        """
        target_audio, audio = prepare_audio_pair(type(self).__name__, target_audio, audio)
        loss = tf.constant(0.0)

        def difference(target, value):
            return mean_difference(target, value, self.loss_type, weights)

        for size in self.fft_sizes:
            # Read and checked once above, not once per size (`compute_mag` without that).
            target_mag = magnitude_of_prepared(target_audio, size=size)
            value_mag = magnitude_of_prepared(audio, size=size)
            # Axes counted from the end, so unbatched audio works too.
            if self.mag_weight > 0:
                loss += self.mag_weight * difference(target_mag, value_mag)
            if self.delta_time_weight > 0:
                loss += self.delta_time_weight * difference(
                    core.diff(target_mag, axis=-2), core.diff(value_mag, axis=-2)
                )
            if self.delta_freq_weight > 0:
                loss += self.delta_freq_weight * difference(
                    core.diff(target_mag, axis=-1), core.diff(value_mag, axis=-1)
                )
            if self.cumsum_freq_weight > 0:
                loss += self.cumsum_freq_weight * difference(
                    tf.cumsum(target_mag, axis=-1), tf.cumsum(value_mag, axis=-1)
                )
            if self.logmag_weight > 0:
                loss += self.logmag_weight * difference(
                    log_magnitude(target_mag), log_magnitude(value_mag)
                )

        if self.loudness_weight > 0:
            target_loudness = spectral_ops.compute_loudness(target_audio, n_fft=2048)
            value_loudness = spectral_ops.compute_loudness(audio, n_fft=2048)
            # Loudness is [batch, frames]: [batch, 1, 1] weights lose an axis.
            loudness_weights = weights
            if weights is not None:
                loudness_weights = core.tf_float32(weights)
                if loudness_weights.shape.rank == 3 and loudness_weights.shape[-1] == 1:
                    loudness_weights = loudness_weights[..., 0]
            loss += self.loudness_weight * mean_difference(
                target_loudness, value_loudness, self.loss_type, loudness_weights
            )
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                'fft_sizes': list(self.fft_sizes),
                'loss_type': self.loss_type,
                'mag_weight': self.mag_weight,
                'delta_time_weight': self.delta_time_weight,
                'delta_freq_weight': self.delta_freq_weight,
                'cumsum_freq_weight': self.cumsum_freq_weight,
                'logmag_weight': self.logmag_weight,
                'loudness_weight': self.loudness_weight,
            }
        )
        return config
