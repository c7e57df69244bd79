"""Gradient clipping in `Trainer`: every variable's update sees the globally clipped gradient."""

import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import trainers

from . import model_fixtures as mf


@pytest.mark.parametrize('jit_compile', [False, True])
def test_every_variable_is_clipped_by_the_global_norm(jit_compile):
    """Adam's first moment after one step is `(1 - beta_1) * g * clip / |g|` for every variable.

    The gradient `g` of the same model on the same batch (no noise synthesizer, so the
    forward pass is deterministic) is taken independently with a tape; the clip norm is set
    to a tenth of its global norm, so clipping is active. Adam's first moment starts at 0, so
    after one step it holds exactly `(1 - beta_1)` times the clipped gradient: a variable
    whose gradient escaped the clipping (or got none) would show a 10x (or a zero) moment.
    """
    features = {k: tf.constant(v) for k, v in mf.make_features().items()}
    # One FFT size in the loss (the three of mf.FFT_SIZES add nothing here: every variable still
    # gets a gradient, checked below) makes the graph and the XLA program smaller to build.
    model = mf.make_autoencoder(seed=0, noise=False, fft_sizes=(256,))
    model(features, training=True)
    with tf.GradientTape() as tape:
        _, losses = model(features, return_losses=True, training=True)
    variables = model.trainable_variables
    grads = tape.gradient(losses['total_loss'], variables)
    assert all(g is not None for g in grads), [
        v.path for v, g in zip(variables, grads) if g is None
    ]
    norm = float(tf.linalg.global_norm(grads))
    clip = norm / 10.0

    trainer = trainers.Trainer(
        model, tf.distribute.get_strategy(), grad_clip_norm=clip, jit_compile=jit_compile
    )
    trainer.build(features)
    out = trainer.train_step(features)
    np.testing.assert_allclose(float(out['grad_norm']), norm, rtol=1e-3)  # Before clipping.
    optimizer = trainer.optimizer
    for variable, grad in zip(variables, grads):
        moment = optimizer._momentums[optimizer._get_variable_index(variable)].numpy()
        expected = (1.0 - optimizer.beta_1) * grad.numpy() * clip / norm
        # Per variable, as a whole: the graph and XLA paths round differently from the eager
        # tape (measured up to 2e-3 relative on single elements, 2e-4 on the norm), while an
        # unclipped or missing gradient would be off by 900 % or 100 %.
        error = np.linalg.norm(moment - expected) / np.linalg.norm(expected)
        assert error < 1e-2, (variable.path, error)
