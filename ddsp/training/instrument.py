"""`Instrument`: a trained model loaded from its directory, rendering clips of any length.

`load_model(path_or_name)` reads a model directory (`model_dir`), or a pretrained model shipped
in `ddsp/training/pretrained/<name>/`, builds the model from its gin config, restores its
weights once and returns an `Instrument` (docs/model_directory.md has the whole story):

    >>> violin = load_model('violin')
    >>> audio = violin.resynthesize({'f0_hz': f0, 'loudness_db': loudness})  # NumPy [n_samples]
    >>> audio = violin.resynthesize_audio(singing, sample_rate=44100)  # f0 + loudness, then render

* Any length, in one pass: the gin of a trained model fixes the synthesizers' `n_samples` and
  the preprocessor's `time_steps`; before each forward pass (or each trace of one) the
  instrument sets them for the clip at hand. No chunks, no joins; the weights, which do not
  depend on the length, are restored once.
* Frames and samples: T centred frames (n // hop + 1 for n samples, as the data pipeline and
  `metrics.compute_audio_features` make them) are a clip of (T - 1) * hop samples, unless
  `n_samples` or an `audio` feature says otherwise. The model sees ceil(n / hop) frames, as
  in training: the T frames resampled (1001 of a 4 s example onto `time_steps` = 1000) or,
  with `trim_frames`, the first ceil(n / hop) of them.
* Timing learned in training. The synthesizers play frame k at sample k * hop. A model of
  uncentred records (`ddsp_prepare_tfrecord` without `--center`, the default) heard f0 1.6
  frames early in training (CREPE's window for frame k starts at k * hop) and loudness up to a
  frame early (201 centred frames stretched onto 200 `time_steps`); its decoder learned to
  delay the loudness. So such an instrument reads the centred loudness `loudness_lead` later
  (16 ms, 0.8 frames at 50 frames/s, the best of a sweep on held-out audio; f0 untouched):
  without it a trumpet trained so had held-out loudness L1 1.7 dB, with it 0.9 dB (the shipped
  cello is such a model; the violin, flute, trumpet and clarinet are centred). A model of
  centred records whose extra frame was trimmed (`F0LoudnessPreprocessor.trim_frames`) heard
  both features where the audio was; its loudness is read as given (`loudness_lead = 0`).
* The features given are the ones used: `F0LoudnessPreprocessor(compute_loudness=True)`
  would recompute loudness from the audio; an instrument turns that off.
* Gin: configurable functions read their bindings when they run (e.g. `exp_sigmoid`'s, on
  every pass), so each instrument keeps its own gin configuration and puts it in place only
  while its model is built or run; the caller's gin config is left as it was.
* Eager or traced: `synthesize` takes and returns tensors, also inside `tf.function`;
  `resynthesize(..., traced=True)` reuses one trace for every clip of a shape. An instrument
  is not thread-safe.
"""

import contextlib
import math
import re
from typing import Dict, List, Optional, Text

import gin
import numpy as np
import tensorflow as tf

from ddsp import audio_io, core, effects, processors, validation
from ddsp.training import checkpoints, model_dir, models, preprocessing
from ddsp.training.nn import fast_gru

_OWNER = 'Instrument'
_FRAME_KEYS = ('f0_hz', 'loudness_db', 'f0_confidence')
_BUILD_FRAMES = 4  # Frames of the silent clip that creates the weights before restoring.
# The lead (seconds) given to models of uncentred records: a sweep of the held-out loudness L1 of
# the pretrained instruments (50 frames/s, docs/model_directory.md) was best at 0.8-1.0 frames.
UNCENTRED_LOUDNESS_LEAD_S = 0.016
# The binding, in an operative config, of a model trained on uncentred records (`ddsp_run` with
# `TFRecordProvider`, whose default it is; `ddsp_prepare_tfrecord` without `--center`). Read from
# the text: the config is parsed leniently, and `ddsp.training.data` may not be imported.
_UNCENTRED_RECORDS = re.compile(r'^\s*(?:[\w.]+\.)?TFRecordProvider\.centered\s*=\s*False\b', re.M)

ModelDirectoryError = model_dir.ModelDirectoryError
available_models = model_dir.available_models


class ModelMismatchError(ModelDirectoryError):
    """A checkpoint's weights do not fit the model that the gin config builds (a size differs)."""


# ------------------------------------------------------------------------------------------------
# A gin configuration of one's own.
# ------------------------------------------------------------------------------------------------
# The module-level state of gin that a parsed config lives in (bindings, imported modules, what
# the configurables used, singletons); gin reads these names from its module on every access.
_GIN_STATE = ('_CONFIG', '_IMPORTS', '_OPERATIVE_CONFIG', '_SINGLETONS')


class _GinConfig:
    """A gin configuration kept aside, put in place only inside `active()`."""

    def __init__(self):
        missing = [name for name in _GIN_STATE if not hasattr(gin.config, name)]
        if missing:
            raise ImportError(
                f'This version of gin-config ({getattr(gin, "__version__", "?")}) lacks '
                f'{missing}, which model loading keeps per model; install gin-config 0.5.'
            )
        self._state = {name: type(getattr(gin.config, name))() for name in _GIN_STATE}

    @contextlib.contextmanager
    def active(self):
        saved = {name: getattr(gin.config, name) for name in _GIN_STATE}
        for name, value in self._state.items():
            setattr(gin.config, name, value)
        try:
            with gin.unlock_config():
                yield
        finally:
            for name, value in saved.items():
                setattr(gin.config, name, value)

    def parse(self, text: Text, source: Text):
        """Parses an operative config leniently (bindings of unknown configurables skipped)."""
        with self.active():
            try:
                gin.parse_config(text, skip_unknown=True)
            except Exception as e:  # noqa: BLE001 -- gin raises many types.
                detail = ' '.join(str(e).split())[:300]
                raise ModelDirectoryError(
                    f'The gin config {source} cannot be parsed ({type(e).__name__}: {detail}); '
                    f'restore the operative config the model was trained with.'
                ) from e


# ------------------------------------------------------------------------------------------------
# The instrument.
# ------------------------------------------------------------------------------------------------
class Instrument:
    """A trained `Autoencoder` that renders f0 and loudness (or audio) of any length.

    Usually made by `load_model`. Made directly, it is built from an operative gin config
    with fresh weights; `restore` then loads a checkpoint into it.

    Args:
        operative_config: the text of the training run's operative gin config.
        source: where the config comes from, for error messages.
        files: the model directory it comes from (`model_dir.validate_model_dir`), if any.

    Attributes:
        model: the `models.Autoencoder`, its preprocessor set to use the loudness given.
        sample_rate: Hz of the audio rendered. frame_rate: Hz of the features.
        hop_size: samples per frame. trained_n_samples: length of the training examples.
        loudness_lead: frames by which the loudness is read later than given: the delay a
            model of uncentred records learned (0 for centred records or features from
            elsewhere); see the module doc.
        has_reverb: whether the last processor is a reverb (`reverb=False` skips it).
        card, directory, statistics: of the model directory (None without one).

    Raises:
        ModelDirectoryError: the config does not parse, or builds a model the loader cannot
            run at any length (not an Autoencoder with an `F0LoudnessPreprocessor`).

    Example:
        >>> instrument = Instrument(open('run/operative_config-0.gin').read())
        >>> instrument.restore('run/ckpt-800')
        >>> instrument.synthesize({'f0_hz': f0, 'loudness_db': ld})  # [1, n_samples]
    """

    def __init__(
        self,
        operative_config: Text,
        source: Text = 'the operative config',
        files: Optional[model_dir.ModelFiles] = None,
    ):
        self.files = files
        self._statistics = None
        self._gin = _GinConfig()
        self._gin.parse(operative_config, source)
        self._uncentred_records = bool(_UNCENTRED_RECORDS.search(operative_config))
        with self._gin.active():
            try:
                self.model = models.get_model()
            except Exception as e:  # noqa: BLE001 -- gin wraps the constructors' errors.
                detail = ' '.join(str(e).split('\n  In call to configurable')[0].split())
                raise ModelDirectoryError(
                    f'The model of {source} cannot be built ({type(e).__name__}: '
                    f'{detail[:300]}); restore the operative config it was trained with.'
                ) from e
        self._check_supported(source)
        self._render = tf.function(self.synthesize)
        # Creates the weights (a silent clip), so that a restore can match them all.
        self.synthesize(
            {
                'f0_hz': tf.zeros([1, _BUILD_FRAMES + 1]),
                'loudness_db': tf.fill([1, _BUILD_FRAMES + 1], -core.DB_RANGE),
            }
        )

    # -- Set-up ---------------------------------------------------------------------------------
    def _check_supported(self, source: Text):
        model = self.model
        preprocessor = getattr(model, 'preprocessor', None)
        if (
            not isinstance(model, models.Autoencoder)
            or not isinstance(preprocessor, preprocessing.F0LoudnessPreprocessor)
            or isinstance(preprocessor, preprocessing.F0PowerPreprocessor)
        ):
            raise ModelDirectoryError(
                f'{source} builds a {type(model).__name__} with preprocessor '
                f'{type(preprocessor).__name__}; the loader runs Autoencoder models that take '
                f'f0 and loudness (preprocessing.F0LoudnessPreprocessor, as '
                f'models/solo_instrument.gin).'
            )
        self.sample_rate = int(preprocessor.sample_rate)
        self.frame_rate = int(preprocessor.frame_rate)
        self.hop_size = validation.hop_size(self.sample_rate, self.frame_rate, owner=source)
        self._trained_time_steps = preprocessor.time_steps
        self._synths = _length_processors(model.processor_group)
        for synth in self._synths:
            rate = getattr(synth, 'sample_rate', self.sample_rate)
            if synth.n_samples != self._trained_time_steps * self.hop_size or rate != (
                self.sample_rate
            ):
                raise ModelDirectoryError(
                    f'{source}: {synth.name} renders {synth.n_samples} samples at {rate} Hz, but '
                    f'the preprocessor makes {self._trained_time_steps} frames at '
                    f'{self.frame_rate} Hz of {self.sample_rate} Hz audio (hop {self.hop_size}); '
                    f'the loader needs n_samples = time_steps * sample_rate / frame_rate.'
                )
        self.trained_n_samples = self._trained_time_steps * self.hop_size
        lead = UNCENTRED_LOUDNESS_LEAD_S * self.frame_rate
        self.loudness_lead = lead if self._uncentred_records else 0.0
        # The loudness given is the one used (see the module doc).
        preprocessor.compute_loudness = False
        group = model.processor_group
        last, input_keys, _ = group.dag[-1]
        self.has_reverb = isinstance(getattr(group, last), effects.Reverb)
        self._dry_key = input_keys[0] if self.has_reverb else None

    def restore(self, checkpoint: Text):
        """Loads the weights of `checkpoint` (a prefix, or a directory's newest checkpoint).

        A weights-only checkpoint must match the model exactly; one of training (with the
        optimizer's slots) must hold every weight of the model.

        Raises:
            ModelMismatchError: the checkpoint does not fit the model built from the gin
                config (a size changed: names the variable and both shapes).
            ModelDirectoryError: it holds NaN or infinite weights.
            tf.errors.OpError: it cannot be read (truncated, corrupt).
        """
        prefix = checkpoints.get_latest_checkpoint(checkpoint)
        has_optimizer = any(
            name.startswith('optimizer/') for name, _ in tf.train.list_variables(prefix)
        )
        try:
            with checkpoints.explain_mismatch(prefix):
                status = tf.train.Checkpoint(model=self.model).restore(prefix)
                status.expect_partial()  # Only silences TF's warnings; the asserts still check.
                if has_optimizer:
                    status.assert_existing_objects_matched()
                else:
                    status.assert_consumed()
        except checkpoints.CheckpointMismatchError as e:
            if e.variable:
                detail = (
                    f'variable {e.variable} has shape {e.checkpoint_shape} in the checkpoint '
                    f'but {e.model_shape} in the model'
                )
            else:
                detail = 'the model and the checkpoint hold different variables'
            raise ModelMismatchError(
                f'Checkpoint {prefix} does not fit the model its gin config builds: {detail}. '
                f'The gin config is not the one the weights were trained with; put back the '
                f'operative config of that run (or export the model again).'
            ) from e
        bad = checkpoints.non_finite_variables(self.model.variables)
        if bad:
            raise ModelDirectoryError(
                f'Checkpoint {prefix} holds NaN or infinite weights ({bad[0]}'
                f'{f" and {len(bad) - 1} more" if len(bad) > 1 else ""}); export an earlier '
                f'checkpoint of the run.'
            )
        return prefix

    def config_value(self, binding: Text, default=None):
        """The value the model's gin config binds to `binding` (e.g. 'train.batch_size').

        A macro (`train.batch_size = %batch_size`) gives the macro's value.
        """
        with self._gin.active():
            try:
                value = gin.query_parameter(binding)
                while getattr(value, 'config_key', (None, None))[1] == 'gin.macro':
                    value = gin.query_parameter(f'%{value.config_key[0]}')
                return value
            except (ValueError, KeyError):
                return default

    @property
    def reverb_ir(self) -> Optional[np.ndarray]:
        """The learned reverb's impulse response as used (`Reverb.learned_ir`: under its
        `decay_db` envelope, if any), float32 [reverb_length] (None if the model's reverb does
        not learn one IR, or it has no reverb)."""
        if not self.has_reverb:
            return None
        group = self.model.processor_group
        reverb = getattr(group, group.dag[-1][0])
        if getattr(reverb, 'ir', None) is None:  # Not a learned IR weight (or not built).
            return None
        return np.asarray(reverb.learned_ir).reshape(-1)

    # -- Properties of the model directory -------------------------------------------------------
    @property
    def card(self) -> Optional[model_dir.ModelCard]:
        """The model card (None when not loaded from a directory)."""
        return self.files.card if self.files else None

    @property
    def directory(self) -> Optional[Text]:
        return self.files.directory if self.files else None

    @property
    def statistics(self) -> Optional[dict]:
        """The training split's dataset statistics (read on first use)."""
        if self._statistics is None and self.files is not None:
            from ddsp.training.data_preparation import statistics as statistics_lib

            self._statistics = statistics_lib.load_dataset_statistics(self.files.dataset_statistics)
        return self._statistics

    # -- Rendering ------------------------------------------------------------------------------
    def clip_length(self, n_frames: int, n_samples: Optional[int] = None) -> int:
        """The samples of a clip of `n_frames` feature frames (see the module doc).

        `(n_frames - 1) * hop_size` unless `n_samples` is given, which must be within one hop
        of `n_frames * hop_size`.

        Example:
            >>> instrument.clip_length(1001)  # 64000 at 16 kHz and 250 frames/s
        """
        owner = _OWNER
        if n_samples is None:
            if n_frames < 2:
                validation.fail(
                    owner,
                    'f0_hz',
                    f'at least 2 frames at {self.frame_rate} Hz (a clip of n samples has n // '
                    f'{self.hop_size} + 1 centred frames)',
                    validation.Described(f'{n_frames} frame(s)'),
                )
            return (n_frames - 1) * self.hop_size
        n_samples = validation.check_int(owner, 'n_samples', n_samples)
        if abs(n_frames - n_samples / self.hop_size) > 1.0:
            validation.fail(
                owner,
                'the number of frames',
                f'n_samples // {self.hop_size} + 1 (centred) or ceil(n_samples / '
                f"{self.hop_size}) for n_samples={n_samples}: features at the model's frame "
                f'rate, {self.frame_rate} Hz, of audio at {self.sample_rate} Hz',
                n_frames,
            )
        return n_samples

    def _set_length(self, time_steps: int):
        """Makes the preprocessor and the synthesizers work on `time_steps` frames."""
        self.model.preprocessor.time_steps = time_steps
        for synth in self._synths:
            synth.n_samples = time_steps * self.hop_size

    def _inputs(self, features, n_samples):
        """`(model inputs, frames for the model, samples out)` from a features dict."""
        if not isinstance(features, dict) or 'f0_hz' not in features:
            validation.fail(
                _OWNER,
                'features',
                "a dict with 'f0_hz' and 'loudness_db' (optionally 'f0_confidence', 'audio')",
                validation.Described(type(features).__name__ + _keys(features)),
            )
        if 'loudness_db' not in features:
            validation.fail(
                _OWNER,
                'features',
                "a dict with 'loudness_db' too (the model takes f0 and loudness)",
                validation.Described('keys ' + _keys(features)),
            )
        inputs = {k: v for k, v in features.items() if k not in _FRAME_KEYS + ('audio',)}
        n_frames = None
        for key in _FRAME_KEYS:
            if features.get(key) is None:
                continue
            value = _as_clip(key, features[key], 'n_frames')
            if n_frames is not None and value.shape[1] != n_frames:
                validation.fail(
                    _OWNER,
                    f'{key}.shape',
                    f'[1, {n_frames}] (as many frames as f0_hz)',
                    tuple(value.shape),
                )
            n_frames = value.shape[1]
            inputs[key] = value
        if n_frames is None:
            validation.fail(_OWNER, 'f0_hz', 'a static number of frames', None)
        audio = features.get('audio')
        if audio is not None:
            audio = _as_clip('audio', audio, 'n_samples')
            if n_samples is None:
                n_samples = audio.shape[1]
        n_samples = self.clip_length(n_frames, n_samples)
        time_steps = math.ceil(n_samples / self.hop_size)
        if self.loudness_lead:
            inputs['loudness_db'] = _read_later(inputs['loudness_db'], self.loudness_lead)
        if audio is not None:
            pad = time_steps * self.hop_size - audio.shape[1]
            audio = tf.pad(audio, [[0, 0], [0, pad]]) if pad > 0 else audio
            inputs['audio'] = audio[:, : time_steps * self.hop_size]
        elif self.model.encoder is not None:
            validation.fail(
                _OWNER,
                'features',
                "a dict with 'audio' too: this model's encoder "
                f'({type(self.model.encoder).__name__}) reads the audio',
                validation.Described('keys ' + _keys(features)),
            )
        return inputs, time_steps, n_samples

    def synthesize(
        self, features, reverb: bool = True, n_samples: Optional[int] = None, outputs=False
    ):
        """Renders one clip; tensors in and out, eager or inside `tf.function`.

        Args:
            features: `{'f0_hz': [n_frames] (Hz), 'loudness_db': [n_frames] (dB), optional
                'f0_confidence': [n_frames], 'audio': [n_samples]}` (or each `[1, ...]`),
                at the model's frame rate and sample rate. The number of frames must be static
                (known when traced).
            reverb: False returns the signal that enters the reverb (the last processor), when
                the model has one.
            n_samples: the clip's length in samples (default: from `audio`, else
                `(n_frames - 1) * hop_size`).
            outputs: also return the model's outputs (the processors' signals and controls,
                e.g. `outputs['harmonic']['signal']`, for the `ceil(n_samples / hop)` frames
                rendered).

        Returns:
            float32 `[1, n_samples]` audio, or `(audio, outputs)`.

        Example:
            >>> render = tf.function(instrument.synthesize)
            >>> render({'f0_hz': f0, 'loudness_db': ld})  # One trace for each shape.
        """
        inputs, time_steps, n_samples = self._inputs(features, n_samples)
        # One clip at a time, of any length: graph loops, not an XLA compile per length.
        with self._gin.active(), fast_gru.xla_loops(False):
            self._set_length(time_steps)
            model_outputs = self.model(inputs, training=False)
        if reverb or not self.has_reverb:
            audio = model_outputs['audio_synth']
        else:
            audio = core.nested_lookup(self._dry_key, model_outputs)
        audio = audio[:, :n_samples]
        return (audio, model_outputs) if outputs else audio

    def resynthesize(
        self,
        features,
        reverb: bool = True,
        n_samples: Optional[int] = None,
        traced: bool = False,
    ):
        """Renders one clip: NumPy in, NumPy `[n_samples]` float32 out (see `synthesize`).

        Eager by default: the first clip returns soonest. With `traced`, runs one
        `tf.function`, traced once for each shape of the features and reused for every clip of
        that shape: the first clip of a shape pays for the trace (about 1 s more on 2 CPU
        cores), later ones run somewhat faster than eagerly (10 s of audio of a GRU-256 model:
        0.08 s against 0.12 s on 2 AMD EPYC cores). The features must be finite.

        Example:
            >>> audio = instrument.resynthesize({'f0_hz': f0, 'loudness_db': ld})
            >>> audio.shape  # ((len(f0) - 1) * instrument.hop_size,)
        """
        if not isinstance(features, dict):
            return self.synthesize(features)  # Its one-line error.
        checked = {}
        for key, value in features.items():
            if key in _FRAME_KEYS + ('audio',) and value is not None:
                array = np.asarray(value, np.float32)
                if not np.all(np.isfinite(array)):
                    bad = np.argwhere(~np.isfinite(array))
                    validation.fail(
                        _OWNER,
                        key,
                        'finite values',
                        validation.Described(
                            f'{len(bad)} NaN or infinite values, the first at {tuple(bad[0])}'
                        ),
                    )
                value = tf.convert_to_tensor(array)
            checked[key] = value
        self._inputs(checked, n_samples)  # Bad features: a one-line error, not a traced one.
        render = self._render if traced else self.synthesize
        audio = render(checked, reverb=bool(reverb), n_samples=n_samples)
        return audio.numpy()[0]

    def compute_features(
        self, audio, sample_rate: int, crepe_model: Text = 'full', viterbi: bool = True
    ) -> Dict[Text, np.ndarray]:
        """f0 (CREPE) and loudness of mono audio at the model's rates, as the model was trained.

        The audio is resampled to the model's sample rate (`scipy.signal.resample_poly`);
        loudness is `spectral_ops.compute_loudness` (A-weighted, n_fft 512, centred frames),
        f0 and confidence `spectral_ops.compute_f0` (`metrics.compute_audio_features`).

        Args:
            audio: `[n]` (or `[1, n]`) float audio in [-1, 1] at `sample_rate`.
            sample_rate: Hz of `audio`.
            crepe_model: CREPE size, 'tiny' ... 'full'.
            viterbi: smooth the pitch path.

        Returns:
            `{'audio': [n'] at the model's rate, 'f0_hz', 'f0_confidence', 'loudness_db':
            [n' // hop + 1]}`, NumPy float32.

        Example:
            >>> features = violin.compute_features(voice, 44100, crepe_model='tiny')
        """
        from ddsp.training import metrics

        audio = np.asarray(audio, np.float32)
        if audio.ndim == 2 and audio.shape[0] == 1:
            audio = audio[0]
        if audio.ndim != 1 or audio.size < self.hop_size:
            validation.fail(
                'compute_features',
                'audio.shape',
                f'[n_samples] mono audio of at least one frame ({self.hop_size} samples)',
                audio.shape,
            )
        if not np.all(np.isfinite(audio)):
            validation.fail(
                'compute_features',
                'audio',
                'finite samples',
                validation.Described(f'{int(np.sum(~np.isfinite(audio)))} NaN or inf samples'),
            )
        validation.check_int('compute_features', 'sample_rate', sample_rate)
        audio = audio_io.resample(audio, int(sample_rate), self.sample_rate)
        return metrics.compute_audio_features(
            audio,
            frame_rate=self.frame_rate,
            sample_rate=self.sample_rate,
            model_capacity=crepe_model,
            viterbi=viterbi,
        )

    def resynthesize_audio(
        self,
        audio,
        sample_rate: int,
        reverb: bool = True,
        crepe_model: Text = 'full',
        viterbi: bool = True,
        traced: bool = False,
    ) -> np.ndarray:
        """`compute_features` then `resynthesize`, with no adjustment of the features.

        Returns:
            `[n']` float32 audio at the model's sample rate, as long as the input.

        Example:
            >>> out = violin.resynthesize_audio(voice, 44100)  # at violin.sample_rate
        """
        features = self.compute_features(audio, sample_rate, crepe_model, viterbi)
        return self.resynthesize(features, reverb=reverb, traced=traced)


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------
def _keys(features) -> Text:
    return str(sorted(features)) if isinstance(features, dict) else ''


def _read_later(frames: tf.Tensor, lead: float) -> tf.Tensor:
    """`[1, T]` frames read `lead` frames later (linear interpolation, the last one held)."""
    whole = int(math.floor(lead))
    frac = lead - whole
    n = frames.shape[1]
    padded = tf.concat([frames, tf.repeat(frames[:, -1:], whole + 1, axis=1)], axis=1)
    return (1.0 - frac) * padded[:, whole : whole + n] + frac * padded[:, whole + 1 : whole + 1 + n]


def _as_clip(key: Text, value, axis_name: Text) -> tf.Tensor:
    """`[n]`, `[1, n]` or `[1, n, 1]` -> float32 `[1, n]` with a static n."""
    value = core.tf_float32(value)
    shape = validation.shape_tuple(value.shape)
    if len(shape) == 3 and shape[2] == 1:
        value, shape = value[..., 0], shape[:2]
    if len(shape) == 1:
        value, shape = value[tf.newaxis], (1,) + shape
    if len(shape) != 2 or shape[0] != 1 or shape[1] is None or shape[1] < 1:
        validation.fail(
            _OWNER,
            f'{key}.shape',
            f'[{axis_name}] or [1, {axis_name}] with a static {axis_name} >= 1 (one clip)',
            shape,
        )
    return value


def _length_processors(group) -> List:
    """The processors of `group` (and of groups inside it) with an `n_samples` length."""
    found = []
    for processor in group.processors:
        if isinstance(processor, processors.ProcessorGroup):
            found += _length_processors(processor)
        elif isinstance(getattr(processor, 'n_samples', None), int):
            found.append(processor)
    return found


# ------------------------------------------------------------------------------------------------
# Loading models.
# ------------------------------------------------------------------------------------------------
def load_model(path_or_name: Text) -> Instrument:
    """Loads a model directory, or a pretrained model by name, ready to render.

    Checks the directory (`model_dir.validate_model_dir`), builds the model from its gin
    config and restores its weights, once.

    Args:
        path_or_name: a model directory, or the name of a pretrained model
            (`model_dir.available_models()`, also importable from here).

    Returns:
        An `Instrument`.

    Raises:
        ModelDirectoryError: an unknown name (listing the available ones), a directory missing
            a file or holding an unreadable one, or a checkpoint that does not fit the gin
            config; one line each.

    Example:
        >>> violin = load_model('violin')
        >>> violin.resynthesize({'f0_hz': f0, 'loudness_db': ld}, reverb=False)
    """
    files = model_dir.validate_model_dir(model_dir.resolve_model_dir(path_or_name))
    with tf.io.gfile.GFile(files.operative_config) as f:
        text = f.read()
    instrument = Instrument(text, source=files.operative_config, files=files)
    instrument.restore(files.checkpoint)
    return instrument
