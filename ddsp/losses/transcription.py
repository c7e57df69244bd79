"""Note transcription prior: `HmmTranscriber`, a hidden Markov model of notes as a loss.

The model's states are "off" and the MIDI pitches; each frame emits a (pitch, amplitude)
pair. Its negative log likelihood is a loss that pulls pitch and amplitude curves towards
note-like shapes, and its Viterbi path is a transcription. The distribution is a
`tensorflow_probability` `HiddenMarkovModel`, built when first needed: tensorflow-probability
(with its companion `tf-keras`) is imported only then, never by `import ddsp`.

Example:
    >>> from ddsp import losses
    >>> hmm = losses.HmmTranscriber(n_pitches=128, n_timesteps=250)
    >>> hmm(pitch_midi, amps)  # [batch, n_frames, 1] each -> scalar
    >>> hmm.predict_midi(pitch_midi, amps)  # [batch, n_frames, 1], 0 where no note plays
"""

from typing import Optional, Text

import gin
import numpy as np
import tensorflow as tf

from ddsp import core, validation
from ddsp.losses.base import GIN_MODULE, Loss
from ddsp.serialization import keras_serializable


def _import_tfp():
    try:
        import tensorflow_probability as tfp
    except ImportError as e:
        raise ImportError(
            'HmmTranscriber needs tensorflow-probability: pip install '
            '"tensorflow-probability>=0.25" tf-keras'
        ) from e
    return tfp


@keras_serializable
@gin.register(module=GIN_MODULE)
class HmmTranscriber(Loss):
    """Hidden Markov model of notes, as a loss on (pitch, amplitude) curves.

    `n_pitches` states: state 0 is "off" (no note), state `s >= 1` is a note at MIDI pitch
    `s`. Each frame emits `(pitch, amp)` from a diagonal Gaussian:

    - note state `s`: pitch ~ N(s, midi_std), amp ~ N(amps_on_center, amps_on_scale);
    - off state: amp ~ N(amps_off_center, amps_off_scale), and the pitch is nearly
      uninformative, N((n_pitches - 1) / 2, n_pitches).

    The initial state is uniform. A state lasts `avg_length` frames on average: it is kept
    with probability `1 - 1 / avg_length`, otherwise the model moves to one of the other
    states, uniformly.

    Calling the layer is `nll`: the negative log likelihood per frame times `weight` (a prior
    that pulls curves towards note-like shapes); `predict_midi` is the Viterbi (most likely)
    state sequence.

    The 3.7.0 original subclasses tensorflow_probability's `HiddenMarkovModel`. Here it is a
    Keras layer (a `Loss`) that builds that distribution on demand (`get_distribution`);
    tensorflow-probability is imported only then.

    Args:
        avg_length: Average number of frames a state lasts (>= 1).
        midi_std: Std (semitones) of the pitch around a note's MIDI number.
        amps_on_center: Mean amplitude of note states.
        amps_on_scale: Std of the amplitude of note states.
        amps_off_center: Mean amplitude of the off state.
        amps_off_scale: Std of the amplitude of the off state.
        n_timesteps: Frames per example, used when the input's length is not known
            statically.
        n_pitches: Number of states (off + notes 1 .. n_pitches - 1).
        weight: Loss weight.
        name: The layer name.

    Example:
        >>> hmm = HmmTranscriber(n_pitches=8, n_timesteps=24, avg_length=5.0)
        >>> hmm(pitch, amps)  # MIDI pitch and amplitude [batch, 24, 1] -> scalar
    """

    def __init__(
        self,
        avg_length: float = 200,
        midi_std: float = 0.5,
        amps_on_center: float = 1.5,
        amps_on_scale: float = 0.5,
        amps_off_center: float = 0.0,
        amps_off_scale: float = 0.1,
        n_timesteps: int = 1000,
        n_pitches: int = 128,
        weight: float = 1.0,
        name: Text = 'hmm_transcriber',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        number, positive = validation.check_number, validation.check_positive_number
        self.avg_length = number(owner, 'avg_length', avg_length, minimum=1)
        self.midi_std = positive(owner, 'midi_std', midi_std)
        self.amps_on_center = number(owner, 'amps_on_center', amps_on_center)
        self.amps_on_scale = positive(owner, 'amps_on_scale', amps_on_scale)
        self.amps_off_center = number(owner, 'amps_off_center', amps_off_center)
        self.amps_off_scale = positive(owner, 'amps_off_scale', amps_off_scale)
        self.n_timesteps = validation.check_int(owner, 'n_timesteps', n_timesteps)
        self.n_pitches = validation.check_int(owner, 'n_pitches', n_pitches, minimum=2)
        self.weight = number(owner, 'weight', weight)

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
        loc = np.stack(
            [np.arange(n, dtype=np.float32), np.full(n, self.amps_on_center, np.float32)], axis=-1
        )
        scale = np.stack(
            [np.full(n, self.midi_std, np.float32), np.full(n, self.amps_on_scale, np.float32)],
            axis=-1,
        )
        loc[0] = [(n - 1) / 2.0, self.amps_off_center]
        scale[0] = [float(n), self.amps_off_scale]
        return loc, scale

    def get_distribution(self, num_steps: Optional[int] = None):
        """The model as a `tfp.distributions.HiddenMarkovModel` of `num_steps` frames."""
        tfd = _import_tfp().distributions
        loc, scale = self.emission_parameters()
        return tfd.HiddenMarkovModel(
            initial_distribution=tfd.Categorical(logits=tf.zeros([self.n_pitches])),
            transition_distribution=tfd.Categorical(probs=self.transition_matrix()),
            observation_distribution=tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale),
            num_steps=int(num_steps or self.n_timesteps),
        )

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

        Returns:
            float32 scalar (or `[batch]`), nats per frame times `weight`.
        """
        observations = self._observations(pitch, amps)
        n_frames = observations.shape[1] or self.n_timesteps
        log_prob = self.get_distribution(n_frames).log_prob(observations)
        nll = -self.weight * log_prob / float(n_frames)
        return nll if per_example_loss else tf.reduce_mean(nll)

    def predict_midi(self, pitch, amps, channel_dim=True, dtype=tf.float32):
        """The most likely states (0 = off, else MIDI pitch), by Viterbi.

        Returns:
            `[batch, n_frames, 1]` (or `[batch, n_frames]` without `channel_dim`) of
            `dtype`.
        """
        observations = self._observations(pitch, amps)
        n_frames = observations.shape[1] or self.n_timesteps
        states = self.get_distribution(n_frames).posterior_mode(observations)
        states = tf.cast(states, dtype)
        return states[..., tf.newaxis] if channel_dim else states

    @staticmethod
    def straight_through(continuous, discrete):
        """`discrete` forward, the identity gradient to `continuous`.

        Example:
            >>> HmmTranscriber.straight_through(x, tf.round(x))  # round(x), dy/dx = 1
        """
        continuous = core.tf_float32(continuous)
        discrete = tf.cast(discrete, continuous.dtype)
        return continuous + tf.stop_gradient(discrete - continuous)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                'avg_length': self.avg_length,
                'midi_std': self.midi_std,
                'amps_on_center': self.amps_on_center,
                'amps_on_scale': self.amps_on_scale,
                'amps_off_center': self.amps_off_center,
                'amps_off_scale': self.amps_off_scale,
                'n_timesteps': self.n_timesteps,
                'n_pitches': self.n_pitches,
                'weight': self.weight,
            }
        )
        return config
