"""Tests for ddsp.losses.embedding: EmbeddingLoss, the CREPE embedding layer and its loss.

The CREPE tests here use a tiny stand-in Keras model with CREPE's layer names, passed
explicitly, and check framing, normalisation, layer cutting and the weight arithmetic; the
tests with the real pretrained weights are in tests/test_crepe.py.
"""

import json

import keras
from losses_reference import N_SAMPLES, noise
import numpy as np
import pytest
import tensorflow as tf

from ddsp import crepe, losses


# ------------------------------------------------------------------------------------------------
# Embedding losses and the CREPE embedding layer, with a stand-in CREPE model.
# ------------------------------------------------------------------------------------------------
def _stand_in_crepe():
    """A tiny untrained model with the original CREPE's layer names and shapes in and out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(1024,), name='input')
    x = keras.layers.Reshape((1024, 1, 1), name='input-reshape')(inputs)
    for i in range(1, 7):
        x = keras.layers.Conv2D(
            2,
            (8, 1),
            strides=(4, 1) if i == 1 else (1, 1),
            padding='same',
            activation='relu',
            name=f'conv{i}',
        )(x)
        x = keras.layers.BatchNormalization(name=f'conv{i}-BN')(x)
        x = keras.layers.MaxPooling2D((2, 1), name=f'conv{i}-maxpool')(x)
        x = keras.layers.Dropout(0.25, name=f'conv{i}-dropout')(x)
    x = keras.layers.Permute((2, 1, 3), name='transpose')(x)
    x = keras.layers.Flatten(name='flatten')(x)
    outputs = keras.layers.Dense(360, activation='sigmoid', name='classifier')(x)
    return keras.Model(inputs, outputs, name='stand_in_crepe')


@pytest.fixture(scope='module')
def crepe_model():
    return _stand_in_crepe()


def _np_frames(audio, hop, center):
    if center:
        audio = np.pad(audio, [(0, 0), (512, 512)])
    n_frames = 1 + (audio.shape[-1] - 1024) // hop
    frames = np.stack([audio[:, i * hop : i * hop + 1024] for i in range(n_frames)], axis=1)
    frames = frames - frames.mean(-1, keepdims=True)
    return frames / (frames.std(-1, keepdims=True) + 1e-5)


@pytest.mark.parametrize('hop, center', [(1024, True), (256, True), (512, False)])
def test_crepe_frame_audio(hop, center):
    audio = noise([2, N_SAMPLES], 28)
    frames = losses.PretrainedCREPE.frame_audio(audio, hop_length=hop, center=center)
    expected = _np_frames(audio.astype(np.float64), hop, center)
    assert frames.shape == expected.shape
    if center:
        assert frames.shape[1] == 1 + N_SAMPLES // hop
    np.testing.assert_allclose(frames, expected, rtol=1e-4, atol=1e-4)
    silent = losses.PretrainedCREPE.frame_audio(np.zeros([1, 2048], np.float32))
    assert np.all(np.asarray(silent) == 0.0)


def test_pretrained_crepe_cuts_the_model(crepe_model):
    audio = noise([2, N_SAMPLES], 29)
    layer = losses.PretrainedCREPE(activation_layer='conv6-maxpool', crepe_model=crepe_model)
    embedding = layer(audio)
    cut = keras.Model(crepe_model.input, crepe_model.get_layer('conv6-maxpool').output)
    frames = _np_frames(audio.astype(np.float64), 1024, True).astype(np.float32)
    expected = np.asarray(cut(frames.reshape(-1, 1024))).reshape(2, frames.shape[1], -1)
    assert embedding.shape == expected.shape == (2, 3, 8)
    np.testing.assert_allclose(embedding, expected, rtol=1e-4, atol=1e-5)
    assert layer.trainable_weights == [] and layer.non_trainable_weights
    classifier = losses.PretrainedCREPE(activation_layer='classifier', crepe_model=crepe_model)
    assert classifier(audio[0]).shape == (1, 3, 360)


def test_crepe_embedding_loss_weight_arithmetic(crepe_model):
    assert losses.CREPE_EMBEDDING_SCALES == {
        'conv1-BN': 1.3,
        'conv6-maxpool': 25.0,
        'classifier': 130.0,
    }
    target, audio = noise([2, N_SAMPLES], 30), noise([2, N_SAMPLES], 31)
    for layer_name, scale in losses.CREPE_EMBEDDING_SCALES.items():
        loss = losses.PretrainedCREPEEmbeddingLoss(
            weight=0.5, activation_layer=layer_name, crepe_model=crepe_model
        )
        np.testing.assert_allclose(loss.weight, 20.0 * scale * 0.5)
        embed = loss.pretrained_model
        expected = (
            20.0
            * scale
            * 0.5
            * np.mean(np.abs(np.asarray(embed(target)) - np.asarray(embed(audio))))
        )
        np.testing.assert_allclose(loss(target, audio), expected, rtol=1e-5)
        np.testing.assert_allclose(loss(target, target), 0.0)
        assert loss.get_config()['weight'] == 0.5
    zero = losses.PretrainedCREPEEmbeddingLoss(weight=0.0, crepe_model=crepe_model)
    assert float(zero(target, audio)) == 0.0


def test_crepe_embedding_loss_gradient_is_finite_with_silence(crepe_model):
    loss = losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv1-BN', crepe_model=crepe_model)
    audio = np.zeros([1, 4096], np.float32)
    audio[0, :1500] = noise([1500], 34)  # Noise, then frames of pure silence.
    audio = tf.Variable(audio)
    with tf.GradientTape() as tape:
        value = loss(noise([1, 4096], 35), audio)
    grad = tape.gradient(value, audio).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_crepe_arguments_are_checked():
    with pytest.raises(ValueError, match='model_capacity'):
        losses.PretrainedCREPE(model_capacity='huge')
    with pytest.raises(ValueError, match='activation_layer'):
        losses.PretrainedCREPE(activation_layer='conv7')
    with pytest.raises(
        ValueError, match='activation_layer must be one of the CREPE layers with a known scale'
    ):
        losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv3-BN')


def test_crepe_model_is_loaded_from_ddsp_crepe_when_first_called(monkeypatch, crepe_model):
    calls = []

    def fake(kind):
        return lambda capacity: calls.append((kind, capacity)) or crepe_model

    monkeypatch.setattr(crepe, 'get_model', fake('shared'))
    monkeypatch.setattr(
        crepe, 'load_model', lambda capacity: calls.append(('copy', capacity)) or _stand_in_crepe()
    )  # Not the fixture, which must stay frozen.
    frozen = losses.PretrainedCREPE(model_capacity='small')
    trainable = losses.PretrainedCREPE(model_capacity='full', trainable=True)
    loss = losses.PretrainedCREPEEmbeddingLoss(model_capacity='medium')
    assert calls == []  # Construction loads nothing.
    frozen(np.zeros([1, 2048], np.float32))
    trainable(np.zeros([1, 2048], np.float32))
    loss(np.zeros([1, 2048], np.float32), np.zeros([1, 2048], np.float32))
    # The frozen layers share ddsp.crepe's cached model; a trainable one gets its own copy.
    assert calls == [('shared', 'small'), ('copy', 'full'), ('shared', 'medium')]


def test_embedding_loss_with_any_model(crepe_model):
    model = losses.PretrainedCREPE(activation_layer='flatten', crepe_model=crepe_model)
    target, audio = noise([1, 2048], 32), noise([1, 2048], 33)
    loss = losses.EmbeddingLoss(weight=2.0, loss_type='L2', pretrained_model=model)
    expected = 2.0 * np.mean((np.asarray(model(target)) - np.asarray(model(audio))) ** 2)
    np.testing.assert_allclose(loss(target, audio), expected, rtol=1e-5)
    assert float(losses.EmbeddingLoss(weight=0.0)(target, audio)) == 0.0
    with pytest.raises(ValueError, match='pretrained_model'):
        losses.EmbeddingLoss()(target, audio)
    with pytest.raises(ValueError, match='pretrained_model must be a Keras layer'):
        losses.EmbeddingLoss(pretrained_model='crepe')


def test_embedding_loss_config_keeps_its_model(crepe_model):
    model = losses.PretrainedCREPE(activation_layer='flatten', name='embedder')
    loss = losses.EmbeddingLoss(weight=2.0, pretrained_model=model)
    restored = losses.EmbeddingLoss.from_config(json.loads(json.dumps(loss.get_config())))
    assert isinstance(restored.pretrained_model, losses.PretrainedCREPE)
    assert restored.pretrained_model.get_config() == model.get_config()
