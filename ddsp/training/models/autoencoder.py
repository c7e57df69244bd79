"""`Autoencoder`: preprocessor -> encoder -> decoder -> processor group, with losses."""

from typing import Any, Optional, Sequence

import keras

from ddsp import core, gin_keras, validation
from ddsp.training import nn
from ddsp.training.models import model as model_lib


@gin_keras.configurable(module='ddsp.training.models')
class Autoencoder(model_lib.Model):
    """Preprocess features, encode them, decode synthesizer controls and render audio.

    `call(features, training=True)`:
      1. `features.update(preprocessor(features, training=training))`;
      2. `features.update(encoder(features))`;
      3. `features.update(decoder(features, training=training))`;
      4. runs `processor_group` on the features; the outputs are its whole DAG dict (the
         features at the top level, `'inputs'`, one sub-dict per processor such as
         `'harmonic/signal'`, and `'out'`), plus `'audio_synth'`, the final signal;
      5. computes each loss as `loss.get_losses_dict(features['audio'], audio_synth)`
         (target first) when training or when losses are asked for (`return_losses=True`,
         also with `training=False`).
    Missing stages (None) are skipped.

    Args:
        preprocessor: DictLayer adding e.g. `f0_scaled`, `ld_scaled`.
        encoder: DictLayer adding e.g. `z`.
        decoder: DictLayer producing the synthesizer controls.
        processor_group: `ddsp.processors.ProcessorGroup` rendering the audio.
        losses: A loss or list of losses (objects with `get_losses_dict`).
        **kwargs: Keras model arguments (`name`, ...).

    Example:
        >>> ae = Autoencoder(preprocessor, None, decoder, processor_group,
        ...                  losses=[ddsp.losses.SpectralLoss()])
        >>> outputs, losses = ae(batch, return_losses=True, training=False)
        >>> losses['spectral_loss'], outputs['audio_synth']
    """

    def __init__(
        self,
        preprocessor: Optional[keras.layers.Layer] = None,
        encoder: Optional[keras.layers.Layer] = None,
        decoder: Optional[keras.layers.Layer] = None,
        processor_group: Optional[keras.layers.Layer] = None,
        losses: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor
        self.encoder = encoder
        self.decoder = decoder
        self.processor_group = processor_group
        loss_objs = list(core.make_iterable(losses)) if losses is not None else []
        for i, loss in enumerate(loss_objs):
            if not hasattr(loss, 'get_losses_dict'):
                validation.fail(
                    'Autoencoder',
                    f'losses[{i}]',
                    'a ddsp.losses.Loss or LossGroup (every loss needs a get_losses_dict method)',
                    loss,
                )
        # Attributes, not a list: checkpoints follow attributes only (see nn.set_sublayers).
        self._set_untracked(
            '_loss_names',
            nn.set_sublayers(self, [f'loss_{i}' for i in range(len(loss_objs))], loss_objs),
        )

    @property
    def loss_objs(self) -> Sequence[Any]:
        """The loss objects, in the order given."""
        return [getattr(self, name) for name in self._loss_names]

    def encode(self, features, training=True):
        """Runs the preprocessor and encoder; returns the updated features."""
        features = dict(features)
        if self.preprocessor is not None:
            features.update(self.preprocessor(features, training=training))
        if self.encoder is not None:
            features.update(self.encoder(features))
        return features

    def decode(self, features, training=True):
        """Runs the decoder and the processor group; returns only the audio."""
        features = dict(features)
        features.update(self.decoder(features, training=training))
        return self.processor_group(features)

    def get_audio_from_outputs(self, outputs):
        return outputs['audio_synth']

    def call(self, features, training=True):
        features = self.encode(features, training=training)
        features.update(self.decoder(features, training=training))
        pg_out = self.processor_group(features, return_outputs_dict=True)
        outputs = dict(pg_out['controls'])
        outputs['audio_synth'] = pg_out['signal']
        if self.loss_objs and self.losses_wanted(training):
            if 'audio' not in features:
                raise KeyError(
                    f'{type(self).__name__}: the losses compare the synthesized '
                    f'audio with features["audio"], which is missing; available '
                    f'features: {sorted(features)}.'
                )
            self._update_losses_dict(self.loss_objs, features['audio'], outputs['audio_synth'])
        return outputs
