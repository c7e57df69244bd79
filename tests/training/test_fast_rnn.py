"""Tests of the fast GRU path of ddsp.training.nn (`gru_sequence`, `Rnn`, `StatelessRnn`).

The reference everywhere is `keras.layers.GRU` itself, run on the very same weight variables
(the layers' Keras sublayer, called directly, takes Keras' own RNN loop), plus an independent
NumPy GRU for the forward pass.
"""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import nn, trainers

from . import model_fixtures as mf


def _rand(*shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _randomize(layer, seed=1):
    """Random (non-initializer) weights, biases included, so every term is exercised."""
    for i, v in enumerate(layer.trainable_variables):
        v.assign(_rand(*v.shape, seed=seed + i, scale=0.5))


def _numpy_gru(x, kernel, recurrent_kernel, bias, h0):
    """Textbook GRU with reset_after=True (Keras 3 defaults), gate order z, r, h."""
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    h = h0.astype(np.float64)
    units = h.shape[-1]
    out = []
    for t in range(x.shape[1]):
        xp = x[:, t].astype(np.float64) @ kernel + bias[0]
        hp = h @ recurrent_kernel + bias[1]
        z = sigmoid(xp[:, :units] + hp[:, :units])
        r = sigmoid(xp[:, units : 2 * units] + hp[:, units : 2 * units])
        hh = np.tanh(xp[:, 2 * units :] + r * hp[:, 2 * units :])
        h = z * h + (1.0 - z) * hh
        out.append(h)
    return np.stack(out, axis=1)


def _loss(y):
    # A loss with a non-constant gradient w.r.t. every output element.
    return tf.reduce_sum(tf.sin(3.0 * y) * tf.range(1.0, 1.0 + y.shape[-1]))


def _value_and_grads(fn, x, variables):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = _loss(y)
    return y, tape.gradient(loss, [x] + list(variables))


def _assert_close(a, b, atol=2e-5, rtol=2e-5):
    a, b = np.asarray(a), np.asarray(b)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    np.testing.assert_allclose(a, b, atol=atol * max(1.0, np.abs(b).max()), rtol=rtol)


@pytest.mark.parametrize('batch, time, c_in, units', [(1, 1, 1, 1), (3, 7, 5, 6), (2, 40, 9, 16)])
def test_gru_sequence_matches_numpy_and_keras(batch, time, c_in, units):
    gru = keras.layers.GRU(units, return_sequences=True)
    x = tf.constant(_rand(batch, time, c_in))
    gru.build(x.shape)
    _randomize(gru)
    h0 = _rand(batch, units, seed=7)
    cell = gru.cell
    y = nn.gru_sequence(x, cell.kernel, cell.recurrent_kernel, cell.bias, h0)
    expected = _numpy_gru(
        x.numpy(), cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy(), h0
    )
    _assert_close(y, expected, atol=1e-5)
    _assert_close(y, gru(x, initial_state=[tf.constant(h0)]), atol=1e-6)


@pytest.mark.parametrize('bidir', [False, True])
@pytest.mark.parametrize('return_sequences', [True, False])
@pytest.mark.parametrize('batch, time, c_in, units', [(3, 7, 5, 6), (2, 33, 4, 12)])
def test_rnn_outputs_and_gradients_match_keras_gru(
    bidir, return_sequences, batch, time, c_in, units
):
    rnn = nn.Rnn(units, 'gru', return_sequences=return_sequences, bidir=bidir)
    x = tf.constant(_rand(batch, time, c_in))
    rnn.build(x.shape)
    _randomize(rnn)
    variables = rnn.trainable_variables
    assert nn._fast_rnn_applies(rnn.rnn, x, None)
    y_fast, g_fast = _value_and_grads(rnn, x, variables)
    y_keras, g_keras = _value_and_grads(rnn.rnn, x, variables)  # Keras' own RNN loop.
    assert y_fast.shape == y_keras.shape
    _assert_close(y_fast, y_keras)
    for g, g_ref in zip(g_fast, g_keras):
        _assert_close(g, g_ref, atol=5e-5)


def test_stateless_rnn_with_initial_state_matches_keras_including_state_gradient():
    rnn = nn.StatelessRnn(8, 'gru')
    x = tf.constant(_rand(2, 11, 3))
    state = tf.constant(_rand(2, 8, seed=3))
    rnn.build(x.shape)
    _randomize(rnn)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, state])
        y, new_state = rnn(x, state)
        loss = _loss(y) + _loss(new_state)
        y_ref, state_ref = rnn.rnn(x, initial_state=[state])
        loss_ref = _loss(y_ref) + _loss(state_ref)
    _assert_close(y, y_ref)
    _assert_close(new_state, state_ref)
    variables = [x, state] + rnn.trainable_variables
    for g, g_ref in zip(tape.gradient(loss, variables), tape.gradient(loss_ref, variables)):
        _assert_close(g, g_ref, atol=5e-5)


def test_short_sequences_skip_xla_and_agree_with_the_compiled_loop():
    # Below XLA_MIN_STEPS the loops run uncompiled (no per-length compile when a model is
    # built with a few frames); the same loops compiled give the same states and gradients.
    from ddsp.training.nn import fast_gru

    n_steps = fast_gru.XLA_MIN_STEPS - 1
    assert fast_gru._loops(n_steps) == (fast_gru._gru_forward_loop, fast_gru._gru_backward_loop)
    assert fast_gru._loops(n_steps + 1) == (fast_gru._gru_forward_xla, fast_gru._gru_backward_xla)
    assert fast_gru._loops(None)[0] is fast_gru._gru_forward_xla
    xp, h0 = tf.constant(_rand(n_steps, 2, 3 * 5)), tf.constant(_rand(2, 5, seed=1))
    kernel, bias = tf.constant(_rand(5, 3 * 5, seed=2)), tf.constant(_rand(3 * 5, seed=3))
    plain = fast_gru._gru_forward_loop(xp, h0, kernel, bias)
    compiled = fast_gru._gru_forward_xla(xp, h0, kernel, bias)
    for a, b in zip(plain, compiled):
        _assert_close(a, b, atol=1e-6)
    dh = tf.constant(_rand(n_steps, 2, 5, seed=4))
    h_prev = tf.concat([h0[tf.newaxis], plain[0][:-1]], axis=0)
    args = (dh, h_prev) + tuple(plain[1:]) + (kernel,)
    for a, b in zip(fast_gru._gru_backward_loop(*args), fast_gru._gru_backward_xla(*args)):
        _assert_close(a, b, atol=1e-6)


def test_xla_loops_off_runs_the_graph_loops_with_the_same_results():
    from ddsp.training.nn import fast_gru

    n_steps = fast_gru.XLA_MIN_STEPS + 3
    with fast_gru.xla_loops(False):
        assert fast_gru._loops(n_steps) == (
            fast_gru._gru_forward_graph,
            fast_gru._gru_backward_graph,
        )
        assert fast_gru._loops(2)[0] is fast_gru._gru_forward_loop  # Short: op by op still.
    assert fast_gru._loops(n_steps)[0] is fast_gru._gru_forward_xla  # Restored on exit.
    gru = keras.layers.GRU(6, return_sequences=True)
    x = tf.constant(_rand(2, n_steps, 4))
    gru.build(x.shape)
    _randomize(gru)
    cell = gru.cell
    variables = [cell.kernel, cell.recurrent_kernel, cell.bias]

    def run():
        return _value_and_grads(
            lambda x: nn.gru_sequence(x, cell.kernel, cell.recurrent_kernel, cell.bias),
            x,
            variables,
        )

    y_xla, g_xla = run()
    with fast_gru.xla_loops(False):
        y_graph, g_graph = run()
    _assert_close(y_graph, y_xla, atol=1e-6)
    for a, b in zip(g_graph, g_xla):
        _assert_close(a, b, atol=1e-5)
    # Clips of many lengths share the graph after its second trace (no warning per clip).
    traces = fast_gru._gru_forward_graph.experimental_get_tracing_count()
    with fast_gru.xla_loops(False):
        for length in range(n_steps + 1, n_steps + 6):
            nn.gru_sequence(_rand(1, length, 4), cell.kernel, cell.recurrent_kernel, cell.bias)
    assert fast_gru._gru_forward_graph.experimental_get_tracing_count() - traces <= 2


def test_gradients_match_finite_differences():
    # Central differences in float32 with step 1e-2 on a tiny GRU: error O(step^2) ~ 1e-4
    # relative, float32 rounding ~ 1e-7 / 1e-2 = 1e-5; tolerance 1e-3 leaves room for both.
    gru = keras.layers.GRU(3, return_sequences=True)
    x = _rand(1, 4, 2)
    gru.build(x.shape)
    _randomize(gru)
    cell = gru.cell

    def f(x_value):
        return _loss(nn.gru_sequence(x_value, cell.kernel, cell.recurrent_kernel, cell.bias))

    theoretical, numerical = tf.test.compute_gradient(f, [tf.constant(x)], delta=1e-2)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-3, rtol=1e-3)


def test_tf_function_xla_and_mirrored_strategy_match_eager():
    rnn = nn.Rnn(6, 'gru')
    x = tf.constant(_rand(2, 9, 4))
    rnn.build(x.shape)
    _randomize(rnn)
    variables = rnn.trainable_variables
    y_eager, g_eager = _value_and_grads(rnn, x, variables)
    graph = tf.function(lambda x: _value_and_grads(rnn, x, variables))
    xla = tf.function(lambda x: _value_and_grads(rnn, x, variables), jit_compile=True)
    for y, grads in (graph(x), xla(x)):
        _assert_close(y, y_eager, atol=1e-6)
        for g, g_ref in zip(grads, g_eager):
            _assert_close(g, g_ref, atol=1e-5)
    strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
    with strategy.scope():
        mirrored = nn.Rnn(6, 'gru')
        mirrored.build(x.shape)
    for v, v_ref in zip(mirrored.trainable_variables, variables):
        v.assign(v_ref)
    step = tf.function(
        lambda x: strategy.run(
            lambda x: _value_and_grads(mirrored, x, mirrored.trainable_variables), args=(x,)
        )
    )
    y, grads = step(x)
    _assert_close(y, y_eager, atol=1e-6)
    for g, g_ref in zip(grads, g_eager):
        _assert_close(g, g_ref, atol=1e-5)


def test_masks_lstm_and_other_configurations_use_the_keras_layer(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError('the fast path was taken')

    x = tf.constant(_rand(2, 5, 3))
    masked = keras.layers.Masking()(tf.concat([x, tf.zeros([2, 2, 3])], axis=1))
    rnn = nn.Rnn(4, 'gru')
    rnn.build(masked.shape)
    _randomize(rnn)
    expected_masked = rnn.rnn(masked)  # Keras: masked steps carry the state through.
    fast_unmasked = rnn(tf.concat([x, tf.zeros([2, 2, 3])], axis=1))
    monkeypatch.setattr(nn, 'gru_sequence', fail)
    _assert_close(rnn(masked), expected_masked, atol=1e-6)
    # The fast path ignores nothing: unmasked, the padded steps change the state.
    assert np.abs(fast_unmasked[:, -1] - expected_masked[:, -1]).max() > 1e-3
    assert nn.Rnn(4, 'lstm')(x).shape == (2, 5, 4)
    assert nn.StatelessRnn(4, 'lstm')(x, None)[1].shape == (2, 8)
    for layer in (
        keras.layers.GRU(4, reset_after=False),
        keras.layers.GRU(4, dropout=0.5),
        keras.layers.GRU(4, activation='relu'),
        keras.layers.LSTM(4),
        keras.layers.GRU(4, recurrent_activation='hard_sigmoid'),
    ):
        layer.build(x.shape)
        assert not nn._fast_rnn_applies(layer, x, None), layer.get_config()
    unbuilt = keras.layers.GRU(4)
    assert not nn._fast_gru_supported(unbuilt)


def test_checkpoint_layout_is_keras_gru_and_round_trips():
    x = tf.constant(_rand(2, 6, 3))
    rnn = nn.Rnn(5, 'gru')
    rnn.build(x.shape)
    _randomize(rnn)
    # The same three variables a bare keras.layers.GRU has, under the same checkpoint paths.
    plain = keras.layers.GRU(5, name='gru')
    plain.build(x.shape)
    assert (
        [v.path.split('/', 1)[1] for v in rnn.weights]
        == [v.path for v in plain.weights]
        == ['gru/gru_cell/kernel', 'gru/gru_cell/recurrent_kernel', 'gru/gru_cell/bias']
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = tf.train.Checkpoint(net=plain).save(os.path.join(tmp, 'plain'))
        keys_plain = sorted(k for k, _ in tf.train.list_variables(path))
        path = tf.train.Checkpoint(net=rnn.rnn).save(os.path.join(tmp, 'rnn'))
        assert sorted(k for k, _ in tf.train.list_variables(path)) == keys_plain
        path = tf.train.Checkpoint(net=rnn).save(os.path.join(tmp, 'ckpt'))
        restored = nn.Rnn(5, 'gru')
        restored.build(x.shape)
        tf.train.Checkpoint(net=restored).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(restored(x), rnn(x))


@pytest.mark.parametrize(
    'args, message',
    [
        (([2, 3], [[1.0] * 6], [[1.0] * 6]), 'x.shape must be \\[batch, time, channels\\]'),
        (([[[1.0]]], [[1.0] * 5], [[1.0] * 6]), 'kernel.shape must be \\[C, 3U\\] with C=1'),
        (
            ([[[1.0, 2.0]]], [[1.0] * 6], [[1.0] * 6, [1.0] * 6]),
            'kernel.shape must be \\[C, 3U\\] with C=2',
        ),
    ],
)
def test_gru_sequence_rejects_bad_shapes(args, message):
    with pytest.raises(ValueError, match=message):
        nn.gru_sequence(*args)


def test_gru_sequence_rejects_reset_before_bias():
    with pytest.raises(ValueError, match='bias.shape must be \\[2, 6\\]'):
        nn.gru_sequence(tf.ones([1, 2, 3]), tf.ones([3, 6]), tf.ones([2, 6]), tf.ones([6]))


def test_trainer_jit_compile_step_matches_the_default_step():
    # The whole train step (forward, fast GRU, spectral loss, gradient, clipping, Adam) under
    # XLA gives the losses and updated weights of the default step, from the same weights.
    features = {k: tf.constant(v) for k, v in mf.make_features().items()}
    results = []
    for jit_compile in (False, True):
        model = mf.make_autoencoder(seed=0, noise=False)
        trainer = trainers.Trainer(
            model, tf.distribute.get_strategy(), learning_rate=3e-3, jit_compile=jit_compile
        )
        trainer.build(features)
        before = [v.numpy() for v in model.trainable_variables]
        losses = [float(trainer.train_step(features)['total_loss']) for _ in range(2)]
        after = [v.numpy() for v in model.trainable_variables]
        results.append((before, losses, after))
    (before, losses, after), (before_jit, losses_jit, after_jit) = results
    for a, b in zip(before, before_jit):
        np.testing.assert_array_equal(a, b)
    # Same weights, so the first losses differ only by float32 rounding (measured 2.3e-5).
    np.testing.assert_allclose(losses_jit[0], losses[0], rtol=1e-4)
    # The second comes after one update in which a few weights with near-zero gradients moved
    # the other way (see below): measured 1.4e-4 (4.6e-5 with an earlier LayerNorm), against a
    # loss change of 1.6 % over the step (17.91 -> 17.62), so 1e-3 still catches a wrong
    # gradient or update. (Before the log-magnitude floor the step moved the loss by 3.8 %,
    # 19.46 -> 18.72, mostly in bins below 1e-5 that no longer count.)
    np.testing.assert_allclose(losses_jit[1], losses[1], rtol=1e-3)
    assert abs(losses[1] - losses[0]) > 0.01 * losses[0]  # The first step changed the weights.
    # Adam's first steps move every weight by about +-learning rate (3e-3) whatever the size of
    # its gradient, so a near-zero gradient whose float32 rounding differs between XLA and
    # TensorFlow can move a weight the other way: bound the difference by 2 steps x 2 x 3e-3,
    # and require the typical weight to agree 100 times better than it moved (measured: moved
    # 5.7e-3, differed 1.7e-5).
    moved = np.concatenate([(a - a0).ravel() for a, a0 in zip(after, before)])
    diff = np.concatenate([(b - a).ravel() for a, b in zip(after, after_jit)])
    assert np.median(np.abs(moved)) > 1e-3
    assert np.abs(diff).max() <= 1.2e-2
    assert np.median(np.abs(diff)) < np.median(np.abs(moved)) / 100, (
        np.median(np.abs(diff)),
        np.median(np.abs(moved)),
    )
