"""`InverseSynthesis` (DDSP-inv, EXPERIMENTAL): audio -> sinusoids -> harmonics, with
consistency losses against synthetic notes whose controls are known.

Engel, Swavely, Hantrakul, Roberts and Hawthorne, "Self-supervised Pitch Detection by Inverse
Audio Synthesis" (ICML 2020 SAS workshop). Formerly `TranscribingAutoencoder`.
"""

from typing import Any, Callable, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from ddsp import core, effects, gin_keras, processors, synths, validation
from ddsp.training import nn
from ddsp.training.models import model as model_lib

# Features of a `data.SyntheticNotes` example (targets of the consistency losses).
SYNTHETIC_KEYS = ('f0_hz', 'harm_amp', 'harm_dist', 'sin_amps', 'sin_freqs', 'noise_magnitudes')
NOISE_BIAS = -5.0  # Added to the raw noise magnitudes before exp_sigmoid, as FilteredNoise does.
F0_SOFTMAX_HZ_MIN = 20.0


def _is_synthetic(features) -> bool:
    return isinstance(features, dict) and all(k in features for k in SYNTHETIC_KEYS)


def _match_frames(x, n_frames):
    """`[B, T, C]` linearly resampled to `n_frames` frames (unchanged if T already is)."""
    if x.shape[1] is not None and x.shape[1] == n_frames:
        return x
    return core.resample(x, n_frames, method='linear')


def _loss_list(owner, name, losses) -> list:
    """`losses` (None, one loss or a sequence) as a list of objects with `get_losses_dict`."""
    losses = [] if losses is None else list(core.make_iterable(losses))
    for i, loss in enumerate(losses):
        if not hasattr(loss, 'get_losses_dict'):
            validation.fail(
                owner,
                f'{name}[{i}]',
                f'a ddsp.losses.Loss (every entry of {name} needs a get_losses_dict method)',
                loss,
            )
    return losses


@gin_keras.configurable(module='ddsp.training.models')
class InverseSynthesis(model_lib.Model):
    """Infers sinusoidal, noise and harmonic controls from audio by resynthesizing it.

    Data: a batch is a features dict with `'audio'` (real audio), a dict of
    `data.SyntheticNotes` controls (`SYNTHETIC_KEYS`; its audio is rendered with
    `generate_synthetic_audio`), or a zipped tuple `(synthetic, real)` from
    `data.ZippedProvider` (in either order): the synthetic examples come first in the
    concatenated batch.

    Forward pass (`forward`):
      1. `sinusoidal_encoder(features)` (e.g. `encoders.ResnetSinusoidalEncoder`) gives raw
         `frequencies`, `amplitudes` and `noise_magnitudes` per frame. They are scaled here:
         `sin_amps = exp_sigmoid(amplitudes)`, `noise_magnitudes =
         exp_sigmoid(noise_magnitudes - 5)`, and `sin_freqs = freq_scale_fn(frequencies)`
         in Hz; the default `freq_scale_fn` is `core.frequencies_softmax` with depth
         `frequencies channels / amplitudes channels` (64 for 6400 and 100) over 20 Hz to
         Nyquist.
      2. The internal processor group (`Sinusoidal` and `FilteredNoise(window_size=0)`, both
         without scaling, then `Add`) renders `sin_audio`.
      3. With a `harmonic_encoder` (e.g. `encoders.SinusoidalToHarmonicEncoder`), the
         sinusoids (gradients stopped when `stop_gradient`) give `harm_amp`, `harm_dist` and
         `f0_hz`; `harm_audio` is an unscaled `Harmonic` synth of them plus the same filtered
         noise. `harm_dist` in the outputs is the distribution the synth used (zeroed above
         Nyquist, normalized); `harm_freqs`/`harm_amps` are the harmonics as sinusoids.
      4. With `reverb`, a trainable `FilteredNoiseReverb` (2 s, 500 frames, 16 banks) is
         applied to `sin_audio` and `harm_audio`.

    Losses (`append_losses`; when training or with `return_losses=True`):
      * `losses` compare `audio` with `sin_audio` (names as given) and with `harm_audio`
        (names prefixed `harm_`);
      * `twm_loss(f0_hz, sin_freqs, sin_amps)` and `harmonic_distribution_prior(harm_dist)`
        on every example;
      * on the synthetic examples only, against their true controls (predictions resampled
        to the synthetic frame count if it differs): `sinusoidal_consistency_losses(sin_amps,
        sin_freqs, true sin_amps, true sin_freqs)`, `filtered_noise_consistency_loss(
        noise_magnitudes, true noise_magnitudes)` and `harmonic_consistency_losses(harm_amp,
        true harm_amp, harm_dist, true harm_dist, f0_hz, true f0_hz)`.

    Outputs: `audio` (the target audio of the whole batch), `sin_audio`, `sin_amps`,
    `sin_freqs`, `noise_magnitudes`, the processor group's outputs (`sinusoidal`,
    `filtered_noise`, `add`, `out`, ...), and with a harmonic encoder `harm_audio`,
    `harm_amp`, `harm_dist`, `f0_hz`, `harm_freqs`, `harm_amps`.

    Args:
        sinusoidal_encoder: DictLayer `features -> {'frequencies', 'amplitudes',
            'noise_magnitudes'}` (raw), one frame per control frame.
        harmonic_encoder: DictLayer `{'sin_freqs', 'sin_amps'} -> {'harm_amp', 'harm_dist',
            'f0_hz'}`, or None.
        losses: Reconstruction losses `(target audio, audio)`, e.g. `losses.SpectralLoss`.
        sinusoidal_consistency_losses: e.g. `losses.KDEConsistencyLoss`.
        harmonic_consistency_losses: e.g. `losses.HarmonicConsistencyLoss`.
        filtered_noise_consistency_loss: e.g. `losses.FilteredNoiseConsistencyLoss`.
        twm_loss: e.g. `losses.TWMLoss` (needs a harmonic encoder).
        harmonic_distribution_prior: A loss on `harm_dist` (needs a harmonic encoder).
        freq_scale_fn: Raw frequencies `[B, T, K * depth]` -> `[B, T, K]` Hz (None: default).
        reverb: Add a trainable reverb.
        n_samples: Samples of the synthesized audio (and of the input audio).
        sample_rate: Audio sample rate, Hz.
        stop_gradient: Stop the gradients from the harmonic encoder into the sinusoids.
        **kwargs: Keras model arguments.

    Example:
        >>> model = InverseSynthesis(encoders.ResnetSinusoidalEncoder(size='small'),
        ...                          encoders.SinusoidalToHarmonicEncoder(),
        ...                          losses=[ddsp.losses.SpectralLoss()], reverb=False,
        ...                          harmonic_consistency_losses=[
        ...                              ddsp.losses.HarmonicConsistencyLoss()])
        >>> outputs, losses = model((synthetic_batch, real_batch), return_losses=True)
        >>> outputs['f0_hz'].shape  # [B_synthetic + B_real, 125, 1]
    """

    def __init__(
        self,
        sinusoidal_encoder: Optional[keras.layers.Layer] = None,
        harmonic_encoder: Optional[keras.layers.Layer] = None,
        losses: Any = None,
        sinusoidal_consistency_losses: Any = None,
        harmonic_consistency_losses: Any = None,
        filtered_noise_consistency_loss: Any = None,
        twm_loss: Any = None,
        harmonic_distribution_prior: Any = None,
        freq_scale_fn: Optional[Callable] = None,
        reverb: bool = True,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        stop_gradient: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if sinusoidal_encoder is None:
            validation.fail(
                owner,
                'sinusoidal_encoder',
                'a Keras layer, e.g. '
                'encoders.ResnetSinusoidalEncoder() (a sinusoidal_encoder is '
                'required)',
                sinusoidal_encoder,
            )
        for name, net in (
            ('sinusoidal_encoder', sinusoidal_encoder),
            ('harmonic_encoder', harmonic_encoder),
        ):
            validation.check_callable(owner, name, net, 'a Keras layer (or None for none)')
        validation.check_callable(owner, 'freq_scale_fn', freq_scale_fn)
        self.n_samples = validation.check_int(owner, 'n_samples', n_samples)
        self.sample_rate = validation.check_int(owner, 'sample_rate', sample_rate)
        self.stop_gradient = bool(stop_gradient)
        self.freq_scale_fn = freq_scale_fn
        self.sinusoidal_encoder = sinusoidal_encoder
        self.harmonic_encoder = harmonic_encoder

        single = {
            'filtered_noise_consistency_loss': filtered_noise_consistency_loss,
            'twm_loss': twm_loss,
            'harmonic_distribution_prior': harmonic_distribution_prior,
        }
        for name, loss in single.items():
            _loss_list(owner, name, loss)
        for name in ('twm_loss', 'harmonic_distribution_prior'):
            if single[name] is not None and harmonic_encoder is None:
                validation.fail(
                    owner,
                    'harmonic_encoder',
                    f'a Keras layer when {name} is set '
                    f"({name} applies to the harmonic encoder's outputs; or set "
                    f'{name}=None)',
                    harmonic_encoder,
                )
        lists = {
            'loss': _loss_list(owner, 'losses', losses),
            'sin_consistency': _loss_list(
                owner, 'sinusoidal_consistency_losses', sinusoidal_consistency_losses
            ),
            'harm_consistency': _loss_list(
                owner, 'harmonic_consistency_losses', harmonic_consistency_losses
            ),
        }
        if lists['harm_consistency'] and harmonic_encoder is None:
            validation.fail(
                owner,
                'harmonic_encoder',
                'a Keras layer when '
                'harmonic_consistency_losses are given (they need a '
                'harmonic_encoder)',
                harmonic_encoder,
            )
        # Attributes, not lists: checkpoints follow attributes only (see nn.set_sublayers).
        names = {
            prefix: nn.set_sublayers(self, [f'{prefix}_{i}' for i in range(len(objs))], objs)
            for prefix, objs in lists.items()
        }
        self._set_untracked('_loss_list_names', names)
        self.filtered_noise_consistency_loss = filtered_noise_consistency_loss
        self.twm_loss = twm_loss
        self.harmonic_distribution_prior = harmonic_distribution_prior

        self.processor_group = processors.ProcessorGroup(
            dag=[
                (
                    synths.Sinusoidal(
                        self.n_samples,
                        self.sample_rate,
                        amp_scale_fn=None,
                        freq_scale_fn=None,
                        name='sinusoidal',
                    ),
                    ['amplitudes', 'frequencies'],
                ),
                (
                    synths.FilteredNoise(
                        self.n_samples, window_size=0, scale_fn=None, name='filtered_noise'
                    ),
                    ['noise_magnitudes'],
                ),
                (processors.Add(name='add'), ['filtered_noise/signal', 'sinusoidal/signal']),
            ],
            name='processor_group',
        )
        self.harmonic = (
            synths.Harmonic(self.n_samples, self.sample_rate, scale_fn=None, name='harmonic')
            if harmonic_encoder is not None
            else None
        )
        self.reverb_module = (
            effects.FilteredNoiseReverb(
                trainable=True,
                reverb_length=2 * self.sample_rate,
                n_frames=500,
                n_filter_banks=16,
                name='reverb',
            )
            if reverb
            else None
        )

    def _loss_group(self, prefix) -> list:
        return [getattr(self, name) for name in self._loss_list_names[prefix]]

    @property
    def loss_objs(self) -> Sequence[Any]:
        """The reconstruction losses, in the order given."""
        return self._loss_group('loss')

    @property
    def sinusoidal_consistency_losses(self) -> Sequence[Any]:
        return self._loss_group('sin_consistency')

    @property
    def harmonic_consistency_losses(self) -> Sequence[Any]:
        return self._loss_group('harm_consistency')

    # ---------------------------------------------------------------------------------------
    # Data.
    # ---------------------------------------------------------------------------------------
    def generate_synthetic_audio(self, features) -> tf.Tensor:
        """Renders synthetic controls (`sin_amps`, `sin_freqs` Hz, `noise_magnitudes`, all
        `[B, T, ...]`, already scaled) with the internal processor group: `[B, n_samples]`.
        No gradients flow through it, and no reverb is applied.
        """
        audio = self.processor_group(
            {
                'amplitudes': features['sin_amps'],
                'frequencies': features['sin_freqs'],
                'noise_magnitudes': features['noise_magnitudes'],
            }
        )
        return tf.stop_gradient(audio)

    def parse_zipped_features(self, features) -> Tuple[dict, Optional[dict]]:
        """Splits a batch into the model's inputs and the synthetic targets.

        Args:
            features: A dict of real features (with `'audio'`), a dict of synthetic controls,
                or a tuple/list of one synthetic dict and at most one real dict.

        Returns:
            `(features, synthetic)`: `features['audio']` is `[B, n_samples]` with the
            synthetic examples first (their audio from `generate_synthetic_audio` unless
            given); `synthetic` is the synthetic dict with its `'audio'`, or None.
        """
        owner = type(self).__name__
        if isinstance(features, dict):
            parts = [features]
        elif isinstance(features, (tuple, list)) and all(isinstance(f, dict) for f in features):
            parts = list(features)
        else:
            raise ValueError(
                f'{owner}: a batch is a features dict or a tuple of dicts (from '
                f'data.ZippedProvider); received {type(features).__name__}.'
            )
        synthetic = [dict(f) for f in parts if _is_synthetic(f)]
        real = [dict(f) for f in parts if not _is_synthetic(f)]
        if len(synthetic) > 1 or len(real) > 1:
            raise ValueError(
                f'{owner}: a zipped batch holds at most one synthetic and one real '
                f'dict; received {len(synthetic)} synthetic and {len(real)} real.'
            )
        for part in real:
            if 'audio' not in part:
                raise KeyError(
                    f'{owner}: a real batch needs "audio"; it has {sorted(part)}. '
                    f'Synthetic batches need all of {list(SYNTHETIC_KEYS)}.'
                )
        if not synthetic:
            return real[0], None
        synthetic = synthetic[0]
        if 'audio' not in synthetic:
            synthetic['audio'] = self.generate_synthetic_audio(synthetic)
        if not real:
            return synthetic, synthetic
        audio = [core.tf_float32(synthetic['audio']), core.tf_float32(real[0]['audio'])]
        if audio[0].shape[-1] != audio[1].shape[-1]:
            raise ValueError(
                f'{owner}: the real audio has {audio[1].shape[-1]} samples but the '
                f'synthetic audio {audio[0].shape[-1]} (n_samples); make them '
                f'equal.'
            )
        return {'audio': tf.concat(audio, axis=0)}, synthetic

    # ---------------------------------------------------------------------------------------
    # Forward pass and losses.
    # ---------------------------------------------------------------------------------------
    def _scale_frequencies(self, frequencies, n_sinusoids):
        if self.freq_scale_fn is not None:
            return self.freq_scale_fn(frequencies)
        n_channels = frequencies.shape[-1]
        if n_channels % n_sinusoids:
            raise ValueError(
                f'{type(self).__name__}: the encoder gives {n_channels} frequency '
                f'channels for {n_sinusoids} amplitudes; the default '
                f'freq_scale_fn needs a whole number of logits per sinusoid.'
            )
        return core.frequencies_softmax(
            frequencies,
            depth=n_channels // n_sinusoids,
            hz_min=F0_SOFTMAX_HZ_MIN,
            hz_max=self.sample_rate / 2.0,
        )

    def _reverb(self, audio):
        return audio if self.reverb_module is None else self.reverb_module(audio)

    def forward(self, features, training=True) -> dict:
        """The outputs for a features dict with `'audio'` (see the class docs)."""
        raw = self.sinusoidal_encoder(features, training=training)
        sin_amps = core.exp_sigmoid(raw['amplitudes'])
        sin_freqs = self._scale_frequencies(core.tf_float32(raw['frequencies']), sin_amps.shape[-1])
        noise_magnitudes = core.exp_sigmoid(raw['noise_magnitudes'] + NOISE_BIAS)
        pg_out = self.processor_group(
            {
                'amplitudes': sin_amps,
                'frequencies': sin_freqs,
                'noise_magnitudes': noise_magnitudes,
            },
            return_outputs_dict=True,
        )
        outputs = dict(pg_out['controls'])
        outputs.update(
            audio=core.tf_float32(features['audio']),
            sin_audio=self._reverb(pg_out['signal']),
            sin_amps=sin_amps,
            sin_freqs=sin_freqs,
            noise_magnitudes=noise_magnitudes,
        )
        if self.harmonic_encoder is None:
            return outputs
        harm_in = {'sin_freqs': sin_freqs, 'sin_amps': sin_amps}
        if self.stop_gradient:
            harm_in = {k: tf.stop_gradient(v) for k, v in harm_in.items()}
        harm = self.harmonic_encoder(harm_in, training=training)
        controls = self.harmonic.get_controls(harm['harm_amp'], harm['harm_dist'], harm['f0_hz'])
        harm_audio = self.harmonic.get_signal(**controls) + outputs['filtered_noise']['signal']
        harm_dist = controls['harmonic_distribution']
        outputs.update(
            harm_audio=self._reverb(harm_audio),
            harm_amp=controls['amplitudes'],
            harm_dist=harm_dist,
            f0_hz=controls['f0_hz'],
            harm_freqs=core.get_harmonic_frequencies(controls['f0_hz'], harm_dist.shape[-1]),
            harm_amps=controls['amplitudes'] * harm_dist,
        )
        return outputs

    def _add_losses(self, loss_obj, *args, prefix=''):
        """Adds `loss_obj.get_losses_dict(*args)` (names prefixed) to the losses dict."""
        for name, value in loss_obj.get_losses_dict(*args).items():
            name = prefix + name
            if name in self._losses_dict:
                raise ValueError(
                    f'{type(self).__name__}: two losses are both named "{name}"; '
                    f'give the losses unique names.'
                )
            self._losses_dict[name] = value

    def append_losses(self, outputs, synthetic_features=None):
        """Computes every loss (see the class docs) into the model's losses dict."""
        audio = outputs['audio']
        has_harmonics = self.harmonic_encoder is not None
        for loss in self.loss_objs:
            self._add_losses(loss, audio, outputs['sin_audio'])
            if has_harmonics:
                self._add_losses(loss, audio, outputs['harm_audio'], prefix='harm_')
        if self.twm_loss is not None:
            sin_freqs, sin_amps = outputs['sin_freqs'], outputs['sin_amps']
            if self.stop_gradient:
                sin_freqs, sin_amps = tf.stop_gradient(sin_freqs), tf.stop_gradient(sin_amps)
            self._add_losses(self.twm_loss, outputs['f0_hz'], sin_freqs, sin_amps)
        if self.harmonic_distribution_prior is not None:
            self._add_losses(self.harmonic_distribution_prior, outputs['harm_dist'])
        if synthetic_features is None:
            return
        target = synthetic_features
        n_batch = tf.shape(target['sin_amps'])[0]
        n_frames = target['sin_amps'].shape[1]

        def predicted(key):
            return _match_frames(outputs[key][:n_batch], n_frames)

        for loss in self.sinusoidal_consistency_losses:
            self._add_losses(
                loss,
                predicted('sin_amps'),
                predicted('sin_freqs'),
                target['sin_amps'],
                target['sin_freqs'],
            )
        if self.filtered_noise_consistency_loss is not None:
            n_pred, n_true = (
                outputs['noise_magnitudes'].shape[-1],
                target['noise_magnitudes'].shape[-1],
            )
            if n_pred != n_true:
                raise ValueError(
                    f'{type(self).__name__}: the encoder predicts {n_pred} noise '
                    f'magnitudes but the synthetic data has {n_true}; make the '
                    f'noise_magnitudes output split match.'
                )
            self._add_losses(
                self.filtered_noise_consistency_loss,
                predicted('noise_magnitudes'),
                target['noise_magnitudes'],
            )
        for loss in self.harmonic_consistency_losses:
            self._add_losses(
                loss,
                predicted('harm_amp'),
                target['harm_amp'],
                predicted('harm_dist'),
                target['harm_dist'],
                predicted('f0_hz'),
                target['f0_hz'],
            )

    def get_audio_from_outputs(self, outputs):
        """`harm_audio` with a harmonic encoder, else `sin_audio`."""
        return outputs['harm_audio'] if 'harm_audio' in outputs else outputs['sin_audio']

    def call(self, features, training=True):
        features, synthetic = self.parse_zipped_features(features)
        outputs = self.forward(features, training=training)
        if self.losses_wanted(training):
            self.append_losses(outputs, synthetic)
        return outputs
