"""Preprocessors: turn dataset features into the scaled inputs of the networks.

The preprocessors are `nn.DictLayer`s: they read features such as `f0_hz`, `loudness_db` and
`audio` from a dict and add their outputs under fixed keys:

* `F0LoudnessPreprocessor`: `f0_hz`, `loudness_db`, `f0_scaled`, `ld_scaled`, each
  `[batch, time_steps, 1]`.
* `F0PowerPreprocessor`: `f0_hz`, `pw_db`, `f0_scaled`, `pw_scaled`.
* `OnlineF0PowerPreprocessor`: frame power (and CREPE f0) computed from audio, with no
  resampling; adds `f0_confidence`.

Scaling: `f0_scaled = hz_to_midi(f0_hz) / 127` and `ld_scaled = loudness_db / 80 + 1`, both
about [0, 1].
"""

from typing import Text

import gin
import tensorflow as tf

from ddsp import core, spectral_ops, validation
from ddsp.serialization import keras_serializable
from ddsp.training import nn, schema

# Ranges used to scale features to about [0, 1].
F0_RANGE = 127.0  # MIDI.
DB_RANGE = core.DB_RANGE  # dB (80.0).


# ------------------------------------------------------------------------------------------------
# Scaling helpers.
# ------------------------------------------------------------------------------------------------
def at_least_3d(x):
    """Adds the missing time, batch and channel axes: `[]` -> `[1, 1, 1]`, `[T]` -> `[1, T, 1]`,
    `[B, T]` -> `[B, T, 1]`; tensors of rank >= 3 are unchanged.
    """
    x = x if isinstance(x, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(x)
    if len(x.shape) == 0:
        x = x[tf.newaxis]  # Time.
    if len(x.shape) == 1:
        x = x[tf.newaxis]  # Batch.
    if len(x.shape) == 2:
        x = x[..., tf.newaxis]  # Channel.
    return x


def scale_db(db):
    """dB in [-80, 0] -> [0, 1]: `db / 80 + 1`."""
    return core.tf_float32(db) / DB_RANGE + 1.0


def inv_scale_db(db_scaled):
    """Inverse of `scale_db`: `(db_scaled - 1) * 80`."""
    return (core.tf_float32(db_scaled) - 1.0) * DB_RANGE


def scale_f0_hz(f0_hz):
    """Hz -> MIDI / 127, about [0, 1] (0 Hz and below give 0)."""
    return core.hz_to_midi(f0_hz) / F0_RANGE


def inv_scale_f0_hz(f0_scaled):
    """Inverse of `scale_f0_hz`: `midi_to_hz(f0_scaled * 127)`."""
    return core.midi_to_hz(core.tf_float32(f0_scaled) * F0_RANGE)


# ------------------------------------------------------------------------------------------------
# Preprocessors.
# ------------------------------------------------------------------------------------------------
@keras_serializable
@gin.register
class F0LoudnessPreprocessor(nn.DictLayer):
    """Resamples f0 and loudness to `time_steps` frames and scales them to about [0, 1].

    By default loudness is recomputed from `audio` with `spectral_ops.compute_loudness`
    (n_fft 512, centre padding: 1001 frames for 4 s at 250 Hz) and the dataset's
    `loudness_db` is ignored; both features are then linearly resampled (`core.resample`) to
    `time_steps` frames. Resampling stretches: centred features have one frame more than
    `time_steps` (n // hop + 1 for n samples), and 201 frames resampled onto 200 read frame
    k * 201 / 200, so the features drift up to a frame ahead of the synthesizers, which place
    frame k at sample k * hop. `trim_frames=True` drops the extra frame instead, so frame k
    stays at sample k * hop; other frame counts (e.g. features at another frame rate) are still
    resampled.

    Inputs: `loudness_db` `[B, T]` (dB), `f0_hz` `[B, T]` (Hz), optional `audio` `[B, n]`.
    Outputs: `f0_hz`, `loudness_db`, `f0_scaled`, `ld_scaled`, each `[B, time_steps, 1]`.

    Args:
        time_steps: Output frames.
        frame_rate: Frames per second of the recomputed loudness.
        sample_rate: Audio sample rate, Hz.
        compute_loudness: Recompute loudness from `audio` (which is then required).
        trim_frames: Drop the last of `time_steps + 1` frames instead of resampling them.
        **kwargs: `nn.DictLayer` arguments (`input_keys`, `name`, ...).

    Example:
        >>> pre = F0LoudnessPreprocessor(time_steps=200, frame_rate=50, trim_frames=True)
        >>> pre({'f0_hz': f0, 'loudness_db': ld, 'audio': audio})['f0_scaled']  # [B, 200, 1]
    """

    def __init__(
        self,
        time_steps: int = 1000,
        frame_rate: int = 250,
        sample_rate: int = 16000,
        compute_loudness: bool = True,
        trim_frames: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.time_steps = validation.check_int(owner, 'time_steps', time_steps)
        validation.hop_size(sample_rate, frame_rate, owner=owner)
        self.sample_rate = sample_rate
        self.frame_rate = frame_rate
        self.compute_loudness = bool(compute_loudness)
        self.trim_frames = bool(trim_frames)

    def call(
        self, loudness_db, f0_hz, audio=None
    ) -> ['f0_hz', 'loudness_db', 'f0_scaled', 'ld_scaled']:  # noqa: F821
        if self.compute_loudness:
            if audio is None:
                raise ValueError(
                    f'{type(self).__name__} recomputes loudness from audio '
                    f'(compute_loudness=True) but got no "audio" input; pass '
                    f'audio or set compute_loudness=False.'
                )
            loudness_db = spectral_ops.compute_loudness(audio, self.sample_rate, self.frame_rate)
        f0_hz = self.resample(core.tf_float32(f0_hz))
        loudness_db = self.resample(core.tf_float32(loudness_db))
        return f0_hz, loudness_db, scale_f0_hz(f0_hz), scale_db(loudness_db)

    @staticmethod
    def invert_scaling(f0_scaled, ld_scaled):
        """`(f0_hz, loudness_db)` from the scaled features."""
        return inv_scale_f0_hz(f0_scaled), inv_scale_db(ld_scaled)

    def resample(self, x):
        """`at_least_3d(x)` linearly resampled to `[B, time_steps, C]` (with `trim_frames`,
        `time_steps + 1` centred frames lose their last one instead)."""
        x = at_least_3d(x)
        if self.trim_frames and x.shape[1] == self.time_steps + 1:
            return x[:, : self.time_steps]
        return core.resample(x, self.time_steps)

    def get_config(self):
        config = super().get_config()
        config.update(
            time_steps=self.time_steps,
            frame_rate=self.frame_rate,
            sample_rate=self.sample_rate,
            compute_loudness=self.compute_loudness,
            trim_frames=self.trim_frames,
        )
        return config


@keras_serializable
@gin.register
class F0PowerPreprocessor(F0LoudnessPreprocessor):
    """Like `F0LoudnessPreprocessor`, with frame power in dB instead of loudness.

    Power comes from the `power_db` feature when present, else from
    `spectral_ops.compute_power(audio, sample_rate, frame_rate, frame_size)`.

    Inputs: `f0_hz` `[B, T]`, optional `power_db` `[B, T]` (dB), optional `audio` `[B, n]`.
    Outputs: `f0_hz`, `pw_db`, `f0_scaled`, `pw_scaled`, each `[B, time_steps, 1]`.

    Args:
        time_steps: Output frames.
        frame_rate: Frames per second of the computed power.
        sample_rate: Audio sample rate, Hz.
        frame_size: Frame length (samples) of the power computation.
        **kwargs: `nn.DictLayer` arguments.

    Raises (when called):
        ValueError: if neither `power_db` nor `audio` is given.
    """

    def __init__(
        self,
        time_steps: int = 1000,
        frame_rate: int = 250,
        sample_rate: int = 16000,
        frame_size: int = 64,
        **kwargs,
    ):
        kwargs.pop('compute_loudness', None)
        super().__init__(
            time_steps=time_steps,
            frame_rate=frame_rate,
            sample_rate=sample_rate,
            compute_loudness=False,
            **kwargs,
        )
        self.frame_size = validation.check_int(type(self).__name__, 'frame_size', frame_size)

    def call(
        self, f0_hz, power_db=None, audio=None
    ) -> ['f0_hz', 'pw_db', 'f0_scaled', 'pw_scaled']:  # noqa: F821
        if power_db is None:
            if audio is None:
                raise ValueError(
                    f'{type(self).__name__} needs either a "power_db" feature or '
                    f'"audio" to compute power from; got neither.'
                )
            power_db = spectral_ops.compute_power(
                audio,
                sample_rate=self.sample_rate,
                frame_rate=self.frame_rate,
                frame_size=self.frame_size,
            )
        f0_hz = self.resample(core.tf_float32(f0_hz))
        pw_db = self.resample(core.tf_float32(power_db))
        return f0_hz, pw_db, scale_f0_hz(f0_hz), scale_db(pw_db)

    def get_config(self):
        config = super().get_config()
        config.pop('compute_loudness', None)
        config['frame_size'] = self.frame_size
        return config


@keras_serializable
@gin.register
class OnlineF0PowerPreprocessor(nn.DictLayer):
    """Computes frame power (and CREPE f0) from 16 kHz audio, without resampling.

    The hop is `16000 // frame_rate` samples. Power is
    `compute_power(audio, 16000, frame_rate, frame_size, padding=padding)`; f0 and its
    confidence come from `spectral_ops.PretrainedCREPE` (built only when `compute_f0` is on,
    and imported then). Both are computed under a stop-gradient. Every output must have
    `get_framed_lengths(n_samples, frame_size, hop, padding)[0]` frames.

    Inputs: `audio` `[B, n]`, optional `f0_hz`, `f0_confidence`, `pw_db` `[B, T]`, optional
    `audio_16k` (replaces `audio` when given).
    Outputs: `f0_hz`, `pw_db`, `f0_scaled`, `pw_scaled`, `f0_confidence`, each `[B, T, 1]`
    (`f0_confidence` is None when neither computed nor given).

    Args:
        frame_rate: Frames per second.
        frame_size: Frame length in samples (power and the expected frame count).
        padding: 'center', 'same' or 'valid' framing.
        compute_power: Compute `pw_db` from audio (else the `pw_db` input is used).
        compute_f0: Compute `f0_hz` and `f0_confidence` with CREPE (else the inputs are used).
        crepe_saved_model_path: CREPE size ('tiny' ... 'full') or weights path; needed when
            `compute_f0`.
        viterbi: Viterbi-smooth the CREPE pitch.
        **kwargs: `nn.DictLayer` arguments.
    """

    def __init__(
        self,
        frame_rate: int = 250,
        frame_size: int = 1024,
        padding: Text = 'center',
        compute_power: bool = True,
        compute_f0: bool = True,
        crepe_saved_model_path: Text = 'full',
        viterbi: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.hop_size = validation.hop_size(schema.FEATURE_SAMPLE_RATE, frame_rate, owner=owner)
        self.frame_rate = frame_rate
        self.frame_size = validation.check_int(owner, 'frame_size', frame_size)
        self.padding = validation.check_choice(
            owner, 'padding', padding, ('center', 'same', 'valid')
        )
        self.compute_power = bool(compute_power)
        self.compute_f0 = bool(compute_f0)
        self.crepe_saved_model_path = crepe_saved_model_path
        self.viterbi = bool(viterbi)
        self.crepe = None
        if self.compute_f0:
            if not crepe_saved_model_path:
                raise ValueError(
                    f'{owner}: compute_f0=True needs crepe_saved_model_path (a '
                    f'CREPE size like "full" or a weights file); received '
                    f'crepe_saved_model_path={crepe_saved_model_path!r}.'
                )
            self.crepe = spectral_ops.PretrainedCREPE(
                crepe_saved_model_path, hop_size=self.hop_size
            )

    def call(
        self, audio, f0_hz=None, f0_confidence=None, audio_16k=None, pw_db=None
    ) -> ['f0_hz', 'pw_db', 'f0_scaled', 'pw_scaled', 'f0_confidence']:  # noqa: F821
        owner = type(self).__name__
        if audio_16k is not None:
            audio = audio_16k
        audio = core.tf_float32(audio)
        if self.compute_power:
            pw_db = tf.stop_gradient(
                spectral_ops.compute_power(
                    audio,
                    sample_rate=schema.FEATURE_SAMPLE_RATE,
                    frame_rate=self.frame_rate,
                    frame_size=self.frame_size,
                    padding=self.padding,
                )
            )
        if self.compute_f0:
            f0_hz, f0_confidence = self.crepe.predict_f0_and_confidence(
                audio, viterbi=self.viterbi, padding=self.padding
            )
            f0_hz, f0_confidence = tf.stop_gradient(f0_hz), tf.stop_gradient(f0_confidence)
        if pw_db is None:
            raise ValueError(f'{owner}: compute_power=False, so a "pw_db" input is needed.')
        if f0_hz is None:
            raise ValueError(f'{owner}: compute_f0=False, so an "f0_hz" input is needed.')

        f0_hz = at_least_3d(core.tf_float32(f0_hz))
        pw_db = at_least_3d(core.tf_float32(pw_db))
        if f0_confidence is not None:
            f0_confidence = at_least_3d(core.tf_float32(f0_confidence))

        n_samples = audio.shape[-1]
        if n_samples is not None:
            expected = spectral_ops.get_framed_lengths(
                n_samples, self.frame_size, self.hop_size, self.padding
            )[0]
            for key, value in (
                ('f0_hz', f0_hz),
                ('pw_db', pw_db),
                ('f0_confidence', f0_confidence),
            ):
                if value is not None and value.shape[1] != expected:
                    raise ValueError(
                        f'{owner}: "{key}" has {value.shape[1]} frames, but {n_samples} '
                        f'samples framed with frame_size={self.frame_size}, hop '
                        f'{self.hop_size} and padding "{self.padding}" give {expected}.'
                    )
        return f0_hz, pw_db, scale_f0_hz(f0_hz), scale_db(pw_db), f0_confidence

    def get_config(self):
        config = super().get_config()
        config.update(
            frame_rate=self.frame_rate,
            frame_size=self.frame_size,
            padding=self.padding,
            compute_power=self.compute_power,
            compute_f0=self.compute_f0,
            crepe_saved_model_path=self.crepe_saved_model_path,
            viterbi=self.viterbi,
        )
        return config
