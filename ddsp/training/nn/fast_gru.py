"""A fast GRU for CPUs: one input projection, then an XLA-compiled loop with its own gradient.

`gru_sequence` computes exactly what a Keras-3-default `keras.layers.GRU` (reset_after=True,
tanh, sigmoid gates, gate order z, r, h) computes with the same weights. The inputs of every
time step are projected in one matmul; the time loop holds only the recurrent part. Both loops
(forward, and the hand-written backward) are compiled with XLA from `XLA_MIN_STEPS` steps on.
Keras' generic RNN loop on a CPU projects the input inside each of the T steps and runs the
step's small ops one by one, which made the solo-instrument decoder's GRU most of a train step.

`Rnn` and `StatelessRnn` (`ddsp.training.nn.rnn`) keep a Keras GRU's weights and use this
path whenever `fast_rnn_applies` says it computes what the Keras layer would.

Example:
    >>> gru = keras.layers.GRU(512, return_sequences=True)
    >>> y = gru(x)  # x [16, 1000, 1024] -> [16, 1000, 512]
    >>> gru_sequence(x, gru.cell.kernel, gru.cell.recurrent_kernel, gru.cell.bias)  # == y
"""

import contextlib

import keras
import tensorflow as tf

from ddsp import validation

_FORWARD_UNROLL = 8  # Time steps per loop iteration of the forward pass.


def _gru_forward_loop(xp, h0, recurrent_kernel, recurrent_bias):
    """Time-major recurrence: xp `[T, B, 3U]` (inputs already projected), h0 `[B, U]`.

    Returns `(h, z, r, hh, rh)`, each `[T, B, U]`: the states and what the backward loop needs
    (update gate, reset gate, candidate state, recurrent candidate term before the reset gate).
    The loop runs `_FORWARD_UNROLL` steps per iteration (the sequence is zero-padded to a
    multiple of it and the padding's outputs dropped): one step's work is small, so fewer
    iterations save much of the loop's overhead (about 18 % of the forward pass; unrolling the
    backward loop did not help). The steps and their results are the same.
    """
    n_steps = tf.shape(xp)[0]
    unroll = _FORWARD_UNROLL
    padding = (unroll - n_steps % unroll) % unroll
    xp = tf.pad(xp, [[0, padding], [0, 0], [0, 0]])
    xp = tf.reshape(xp, tf.concat([[-1, unroll], tf.shape(xp)[1:]], axis=0))

    def step(h, xp_t):
        rz, rr, rh = tf.split(tf.matmul(h, recurrent_kernel) + recurrent_bias, 3, axis=-1)
        xz, xr, xh = tf.split(xp_t, 3, axis=-1)
        z = tf.sigmoid(xz + rz)
        r = tf.sigmoid(xr + rr)
        hh = tf.tanh(xh + r * rh)
        return z * h + (1.0 - z) * hh, z, r, hh, rh

    def steps(carry, xp_block):
        h, outputs = carry[0], []
        for i in range(unroll):
            outputs.append(step(h, xp_block[i]))
            h = outputs[-1][0]
        return (h,) + tuple(tf.stack(column) for column in zip(*outputs))

    zeros = tf.zeros(tf.concat([[unroll], tf.shape(h0)], axis=0), dtype=h0.dtype)
    blocks = tf.scan(steps, xp, initializer=(h0,) + (zeros,) * 5)[1:]
    return tuple(
        tf.reshape(b, tf.concat([[-1], tf.shape(b)[2:]], axis=0))[:n_steps] for b in blocks
    )


def _gru_backward_loop(dh_out, h_prev, z, r, hh, rh, recurrent_kernel):
    """Reverse-time loop of the GRU's gradient; all `[T, B, U]` but the kernel `[U, 3U]`.

    Returns `(dh0 [B, U], dxp [T, B, 3U], d_recurrent [T, B, 3U])`: gradients w.r.t. the initial
    state, the projected inputs (pre-activation gradients of the z, r and candidate terms) and
    the recurrent term `h U + c` (the same, but the candidate's is multiplied by the reset gate).
    """
    kernel_t = tf.transpose(recurrent_kernel)

    def step(carry, elems):
        dh_out_t, h_prev_t, z_t, r_t, hh_t, rh_t = elems
        dh = dh_out_t + carry[0]
        dz = dh * (h_prev_t - hh_t) * z_t * (1.0 - z_t)
        dhh = dh * (1.0 - z_t) * (1.0 - hh_t * hh_t)
        dr = dhh * rh_t * r_t * (1.0 - r_t)
        d_recurrent = tf.concat([dz, dr, dhh * r_t], axis=-1)
        return (
            dh * z_t + tf.matmul(d_recurrent, kernel_t),
            tf.concat([dz, dr, dhh], axis=-1),
            d_recurrent,
        )

    zeros = tf.zeros_like(dh_out[0])
    zeros3 = tf.concat([zeros, zeros, zeros], axis=-1)
    dh, dxp, d_recurrent = tf.scan(
        step, (dh_out, h_prev, z, r, hh, rh), initializer=(zeros, zeros3, zeros3), reverse=True
    )
    return dh[0], dxp, d_recurrent


_gru_forward_xla = tf.function(_gru_forward_loop, jit_compile=True, autograph=False)
_gru_backward_xla = tf.function(_gru_backward_loop, jit_compile=True, autograph=False)

# One graph serves every length (the loops read it with tf.shape): no retrace per clip.
_gru_forward_graph = tf.function(_gru_forward_loop, autograph=False, reduce_retracing=True)
_gru_backward_graph = tf.function(_gru_backward_loop, autograph=False, reduce_retracing=True)

# Sequences shorter than this run the same loops op by op. XLA compiles them once per sequence
# length, about a second each on a 2-core CPU, which a few steps never win back: building a
# model's weights with a 5-frame call made most of the time to restore a pretrained instrument
# (benchmarks/timbre_transfer.py, `restore`).
XLA_MIN_STEPS = 16
_use_xla = [True]


@contextlib.contextmanager
def xla_loops(enabled: bool):
    """Within it, whether sequences of `XLA_MIN_STEPS` or more run the XLA-compiled loops.

    True (the default) suits training: the fastest step, compiled once per sequence length.
    False runs the same loops as TensorFlow graphs: about 3x cheaper to prepare for a new
    length, about 2x slower per call, which suits rendering one clip of any length
    (`instrument.Instrument` renders this way). Read when a call runs or is traced.

    Example:
        >>> with xla_loops(False):
        ...     y = gru_sequence(x, kernel, recurrent_kernel, bias)
    """
    previous = _use_xla[0]
    _use_xla[0] = bool(enabled)
    try:
        yield
    finally:
        _use_xla[0] = previous


def _loops(n_steps):
    """The (forward, backward) loops for a sequence of `n_steps` (None: unknown)."""
    if n_steps is not None and n_steps < XLA_MIN_STEPS:
        return _gru_forward_loop, _gru_backward_loop
    if not _use_xla[0]:
        return _gru_forward_graph, _gru_backward_graph
    return _gru_forward_xla, _gru_backward_xla


@tf.custom_gradient
def _gru_recurrence(xp, h0, recurrent_kernel, recurrent_bias):
    """States `[T, B, U]` of the recurrence, with the gradient of `_gru_backward_loop`.

    First-order gradients only. The XLA loops get `stop_gradient` inputs: a tape watching them
    would ask for the loops' own (TensorList) gradients, which cannot cross the XLA boundary.
    """
    forward, backward = _loops(xp.shape[0])
    h, z, r, hh, rh = forward(
        *[tf.stop_gradient(t) for t in (xp, h0, recurrent_kernel, recurrent_bias)]
    )

    def grad(dh_out):
        h_prev = tf.concat([h0[tf.newaxis], h[:-1]], axis=0)
        dh0, dxp, d_recurrent = backward(
            *[tf.stop_gradient(t) for t in (dh_out, h_prev, z, r, hh, rh, recurrent_kernel)]
        )
        units = tf.shape(h0)[-1]
        d_kernel = tf.matmul(
            tf.reshape(h_prev, [-1, units]),
            tf.reshape(d_recurrent, [-1, 3 * units]),
            transpose_a=True,
        )
        return dxp, dh0, d_kernel, tf.reduce_sum(d_recurrent, axis=[0, 1])

    return h, grad


def _shape(t):
    return None if t.shape.rank is None else tuple(t.shape.as_list())


def gru_sequence(x, kernel, recurrent_kernel, bias=None, initial_state=None):
    """Runs a Keras-3-default GRU (`reset_after=True`) over time, fast on CPU.

    Computes exactly what `keras.layers.GRU(units, return_sequences=True)` computes with the
    same weights (gates z, r, h in that order; `z = sigmoid(x Wz + bz + h Uz + cz)`,
    `r = sigmoid(...)`, `hh = tanh(x Wh + bh + r * (h Uh + ch))`, `h' = z h + (1 - z) hh`), but
    projects the inputs of all time steps in one matmul and runs the recurrence (and its
    hand-written gradient) as an XLA-compiled loop. Works eagerly, in `tf.function`, under XLA
    and in replica contexts of `tf.distribute` strategies.

    Args:
        x: Inputs `[B, T, C]`, T >= 1.
        kernel: Input kernel `[C, 3U]` (the GRU cell's `kernel`).
        recurrent_kernel: `[U, 3U]` (the cell's `recurrent_kernel`).
        bias: `[2, 3U]` (input bias, then recurrent bias: the cell's `bias`), or None for none.
        initial_state: `[B, U]`, or None for zeros.

    Returns:
        `[B, T, U]`: the state after every step (the last one is the final state).

    Example:
        >>> gru = keras.layers.GRU(512, return_sequences=True)
        >>> y = gru(x)  # Builds the weights; x [16, 1000, 1024].
        >>> c = gru.cell
        >>> y_fast = gru_sequence(x, c.kernel, c.recurrent_kernel, c.bias)  # == y
    """
    owner = 'gru_sequence'
    x = tf.convert_to_tensor(x, dtype_hint=tf.float32)
    kernel = tf.convert_to_tensor(kernel, dtype=x.dtype)
    recurrent_kernel = tf.convert_to_tensor(recurrent_kernel, dtype=x.dtype)
    if x.shape.rank != 3:
        validation.fail(owner, 'x.shape', '[batch, time, channels]', _shape(x))
    n_channels = x.shape[-1]
    if (
        kernel.shape.rank != 2
        or kernel.shape[-1] % 3
        or (n_channels is not None and kernel.shape[0] != n_channels)
    ):
        validation.fail(
            owner, 'kernel.shape', f'[C, 3U] with C={n_channels}, the channels of x', _shape(kernel)
        )
    units = kernel.shape[-1] // 3
    if _shape(recurrent_kernel) != (units, 3 * units):
        validation.fail(
            owner,
            'recurrent_kernel.shape',
            f'[U, 3U] = [{units}, {3 * units}] (U from kernel [C, 3U])',
            _shape(recurrent_kernel),
        )
    if bias is None:
        bias = tf.zeros([2, 3 * units], dtype=x.dtype)
    bias = tf.convert_to_tensor(bias, dtype=x.dtype)
    if bias.shape != (2, 3 * units):
        validation.fail(
            owner,
            'bias.shape',
            f'[2, {3 * units}] (input and recurrent bias, reset_after=True)',
            _shape(bias),
        )
    if initial_state is None:
        initial_state = tf.zeros([tf.shape(x)[0], units], dtype=x.dtype)
    initial_state = tf.convert_to_tensor(initial_state, dtype=x.dtype)
    # Time-major before the projection: transposing x moves C channels, not 3U, and one 2-D
    # matmul (rather than a broadcast batch matmul) has a cheap gradient for the kernel.
    x_tm = tf.transpose(x, [1, 0, 2])  # [T, B, C]
    shape = tf.shape(x_tm)
    xp = tf.matmul(tf.reshape(x_tm, [-1, shape[2]]), kernel) + bias[0]
    xp = tf.reshape(xp, [shape[0], shape[1], 3 * units])  # [T, B, 3U]
    h = _gru_recurrence(xp, initial_state, recurrent_kernel, bias[1])
    return tf.transpose(h, [1, 0, 2])


def fast_gru_supported(layer) -> bool:
    """Whether `gru_sequence` computes what this built `keras.layers.GRU` layer computes.

    Example:
        >>> gru = keras.layers.GRU(8, return_sequences=True)
        >>> gru.build((None, None, 4))
        >>> fast_gru_supported(gru)  # True; False with dropout, an LSTM or an unbuilt layer.
    """
    cell = getattr(layer, 'cell', None)
    return (
        type(layer) is keras.layers.GRU
        and type(cell) is keras.layers.GRUCell
        and layer.built
        and cell.reset_after
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and not cell.dropout
        and not cell.recurrent_dropout
        and not layer.stateful
        and not layer.unroll
        and layer.compute_dtype == layer.variable_dtype
    )


def run_fast_gru(layer, x, initial_state=None):
    """`layer(x, initial_state)` of a supported GRU as `(sequence [B, T, U], last [B, U])`.

    The sequence is in processing order (reversed for `go_backwards`), as Keras returns it.

    Example:
        >>> y, last = run_fast_gru(gru, x)  # x [B, T, C]; y [B, T, U] == gru(x), last [B, U]
    """
    cell = layer.cell
    if layer.go_backwards:
        x = tf.reverse(x, axis=[1])
    y = gru_sequence(
        x, cell.kernel, cell.recurrent_kernel, cell.bias if cell.use_bias else None, initial_state
    )
    return y, y[:, -1]


def fast_rnn_applies(rnn, x, mask) -> bool:
    """Whether `Rnn` / `StatelessRnn` may run their Keras layer `rnn` on `x` by `run_fast_gru`.

    True for unmasked `[B, T, C]` inputs (T >= 1) to a supported GRU, or to a bidirectional
    pair of them merged by concatenation.

    Example:
        >>> fast_rnn_applies(rnn_layer.rnn, x, mask=None)  # True for a built Rnn(8, 'gru').
    """
    if mask is not None or x.shape.rank != 3 or x.shape[1] == 0:
        return False
    if isinstance(rnn, keras.layers.Bidirectional):
        return (
            rnn.merge_mode == 'concat'
            and fast_gru_supported(rnn.forward_layer)
            and fast_gru_supported(rnn.backward_layer)
        )
    return fast_gru_supported(rnn)
