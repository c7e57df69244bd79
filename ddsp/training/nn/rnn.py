"""Recurrent layers over `[batch, time, channels]`: `Rnn`, `StatelessRnn` and their stacks.

The weights are those of `keras.layers.GRU` / `LSTM` sublayers (checkpoints and parameter
counts are Keras'); unmasked GRUs run through the fast path of `ddsp.training.nn.fast_gru`.
`RnnFc` and `RnnSandwich` stack them with dense layers; `SingleGru` is a plain Keras GRU.

Example:
    >>> Rnn(512, 'gru')(tf.zeros([16, 1000, 1024])).shape  # [16, 1000, 512]
"""

from typing import Callable, Text, Union

import keras
import tensorflow as tf

from ddsp import validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.dense import FcStack
from ddsp.training.nn.fast_gru import fast_rnn_applies, run_fast_gru
from ddsp.training.nn.layer_utils import get_nonlinearity, serialize_nonlinearity, set_sublayers
from ddsp.training.nn.registration import gin_register

RNN_TYPES = ('gru', 'lstm')


def _rnn_class(owner, rnn_type):
    validation.check_choice(owner, 'rnn_type', rnn_type, RNN_TYPES)
    return keras.layers.GRU if rnn_type == 'gru' else keras.layers.LSTM


@keras_serializable
@gin_register
class Rnn(keras.layers.Layer):
    """A GRU or LSTM over time: `[B, T, C_in]` -> `[B, T, dims]` (`[B, dims]` without
    `return_sequences`; twice the channels when bidirectional, forward then backward).

    Keras 3 GRUs use `reset_after=True`: `3 * (C_in * dims + dims * dims + 2 * dims)` weights.
    LSTMs have `4 * (C_in * dims + dims * dims + dims)`.

    The weights are those of a `keras.layers.GRU` / `LSTM` sublayer (checkpoints and parameter
    counts are Keras'), but unmasked GRUs run through `gru_sequence`: the same numbers as the
    Keras layer, several times faster on CPU. LSTMs and masked inputs use the Keras layer.

    Args:
        dims: Units of the recurrent cell.
        rnn_type: 'gru' or 'lstm'.
        return_sequences: Return every step (True) or only the last one.
        bidir: Also run backwards in time and concatenate.

    Example:
        >>> Rnn(512, 'gru')(x).shape  # x [16, 1000, 1024] -> [16, 1000, 512]
    """

    def __init__(
        self,
        dims: int,
        rnn_type: Text,
        return_sequences: bool = True,
        bidir: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.dims = validation.check_int(owner, 'dims', dims)
        self.rnn_type = rnn_type
        self.return_sequences = bool(return_sequences)
        self.bidir = bool(bidir)
        rnn_class = _rnn_class(owner, rnn_type)
        layer = rnn_class(self.dims, return_sequences=self.return_sequences, name=rnn_type)
        if self.bidir:
            layer = keras.layers.Bidirectional(layer, name=f'bidirectional_{rnn_type}')
        self.rnn = layer

    def build(self, input_shape):
        self.rnn.build(tuple(input_shape))

    def call(self, x, mask=None):
        if not fast_rnn_applies(self.rnn, x, mask):  # LSTM, masks, other configurations.
            return self.rnn(x, mask=mask)
        if not self.bidir:
            y, last = run_fast_gru(self.rnn, x)
            return y if self.return_sequences else last
        y_fwd, last_fwd = run_fast_gru(self.rnn.forward_layer, x)
        y_bwd, last_bwd = run_fast_gru(self.rnn.backward_layer, x)
        if self.return_sequences:
            return tf.concat([y_fwd, tf.reverse(y_bwd, axis=[1])], axis=-1)
        return tf.concat([last_fwd, last_bwd], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            dims=self.dims,
            rnn_type=self.rnn_type,
            return_sequences=self.return_sequences,
            bidir=self.bidir,
        )
        return config


@keras_serializable
@gin_register
class StatelessRnn(keras.layers.Layer):
    """A GRU or LSTM that takes its state as an input and returns the new state.

    `call(x [B, T, C], state)` -> `(y [B, T, dims], new_state)`. The state is `[B, dims]` for a
    GRU and `[B, 2 * dims]` for an LSTM (hidden then cell state, concatenated). Run it on
    consecutive chunks of a sequence, feeding back the state, for streaming.

    Args:
        dims: Units of the recurrent cell.
        rnn_type: 'gru' or 'lstm'.

    Example:
        >>> rnn = StatelessRnn(64, 'gru')
        >>> y, state = rnn(x[:, :50], None)  # x [2, 100, 8]; y [2, 50, 64], state [2, 64]
        >>> y_next, state = rnn(x[:, 50:], state)  # Continues the sequence.
    """

    def __init__(self, dims: int, rnn_type: Text, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.dims = validation.check_int(owner, 'dims', dims)
        self.rnn_type = rnn_type
        rnn_class = _rnn_class(owner, rnn_type)
        self.rnn = rnn_class(self.dims, return_sequences=True, return_state=True, name=rnn_type)

    @property
    def state_size(self) -> int:
        """Channels of the state tensor."""
        return self.dims * (2 if self.rnn_type == 'lstm' else 1)

    def build(self, x_shape, state_shape=None):
        self.rnn.build(tuple(x_shape))

    def call(self, x, state):
        if state is None:
            state = tf.zeros([tf.shape(x)[0], self.state_size], dtype=x.dtype)
        if fast_rnn_applies(self.rnn, x, None):
            return run_fast_gru(self.rnn, x, state)
        if self.rnn_type == 'lstm':
            initial_state = tf.split(state, 2, axis=-1)
        else:
            initial_state = [state]
        outputs = self.rnn(x, initial_state=initial_state)
        y, new_states = outputs[0], outputs[1:]
        new_state = tf.concat(new_states, axis=-1) if self.rnn_type == 'lstm' else new_states[0]
        return y, new_state

    def get_config(self):
        config = super().get_config()
        config.update(dims=self.dims, rnn_type=self.rnn_type)
        return config


@keras_serializable
@gin_register
class RnnFc(keras.layers.Layer):
    """`n_rnn` RNNs, then Dense(out_feat) and a nonlinearity: `[B, T, C]` -> `[B, T, out_feat]`.

    Unlike the original, `bidir` makes the RNNs bidirectional (the original passed it into
    `return_sequences`, so `bidir=True` gave unidirectional full sequences and `bidir=False`
    only the last step).

    Args:
        rnn_feat: Units of each RNN.
        out_feat: Output channels.
        rnn_type: 'gru' or 'lstm'.
        nonlinearity: Activation after the Dense layer.
        bidir: Bidirectional RNNs (channels `2 * rnn_feat`).
        n_rnn: Number of stacked RNNs.

    Example:
        >>> RnnFc(32, 8, 'gru')(tf.zeros([2, 100, 4])).shape  # [2, 100, 8], values in (0, 1)
    """

    def __init__(
        self,
        rnn_feat: int,
        out_feat: int,
        rnn_type: Text = 'lstm',
        nonlinearity: Union[Text, Callable] = 'sigmoid',
        bidir: bool = False,
        n_rnn: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rnn_feat = validation.check_int(owner, 'rnn_feat', rnn_feat)
        self.out_feat = validation.check_int(owner, 'out_feat', out_feat)
        self.rnn_type = validation.check_choice(owner, 'rnn_type', rnn_type, RNN_TYPES)
        self.nonlinearity = nonlinearity
        self._nonlinearity_fn = get_nonlinearity(nonlinearity)
        self.bidir = bool(bidir)
        self.n_rnn = validation.check_int(owner, 'n_rnn', n_rnn)
        self._rnn_names = set_sublayers(
            self,
            [f'rnn_{i}' for i in range(self.n_rnn)],
            [
                Rnn(
                    self.rnn_feat,
                    rnn_type,
                    return_sequences=True,
                    bidir=self.bidir,
                    name=f'rnn_{i}',
                )
                for i in range(self.n_rnn)
            ],
        )
        self.dense = keras.layers.Dense(self.out_feat, name='dense')

    @property
    def rnns(self) -> list:
        """The `Rnn` layers, in order."""
        return [getattr(self, name) for name in self._rnn_names]

    def build(self, input_shape):
        shape = tuple(input_shape)
        rnn_out = self.rnn_feat * (2 if self.bidir else 1)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = shape[:-1] + (rnn_out,)
        self.dense.build(shape)

    def call(self, x):
        for rnn in self.rnns:
            x = rnn(x)
        return self._nonlinearity_fn(self.dense(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            rnn_feat=self.rnn_feat,
            out_feat=self.out_feat,
            rnn_type=self.rnn_type,
            nonlinearity=serialize_nonlinearity(self.nonlinearity),
            bidir=self.bidir,
            n_rnn=self.n_rnn,
        )
        return config


@keras_serializable
@gin_register
class RnnSandwich(keras.layers.Layer):
    """FcStack -> Rnn -> FcStack: `[B, T, C]` -> `[B, T, fc_stack_ch]`.

    Args:
        fc_stack_ch: Channels of both FcStacks.
        fc_stack_layers: Layers of each FcStack.
        rnn_ch: Units of the RNN.
        rnn_type: 'gru' or 'lstm'.

    Example:
        >>> RnnSandwich(256, 2, 512)(tf.zeros([2, 100, 200])).shape  # [2, 100, 256]
    """

    def __init__(
        self,
        fc_stack_ch: int = 256,
        fc_stack_layers: int = 2,
        rnn_ch: int = 512,
        rnn_type: Text = 'gru',
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.fc_stack_ch = fc_stack_ch
        self.fc_stack_layers = fc_stack_layers
        self.rnn_ch = rnn_ch
        self.rnn_type = rnn_type
        self.fc_in = FcStack(fc_stack_ch, fc_stack_layers, name='fc_stack_in')
        self.rnn = Rnn(rnn_ch, rnn_type, name='rnn')
        self.fc_out = FcStack(fc_stack_ch, fc_stack_layers, name='fc_stack_out')

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.fc_in.build(shape)
        shape = self.fc_in.compute_output_shape(shape)
        self.rnn.build(shape)
        self.fc_out.build(shape[:-1] + (self.rnn.dims,))

    def call(self, x):
        return self.fc_out(self.rnn(self.fc_in(x)))

    def get_config(self):
        config = super().get_config()
        config.update(
            fc_stack_ch=self.fc_stack_ch,
            fc_stack_layers=self.fc_stack_layers,
            rnn_ch=self.rnn_ch,
            rnn_type=self.rnn_type,
        )
        return config


@keras_serializable
@gin_register
class SingleGru(keras.layers.Layer):
    """One Keras GRU over time returning every step: `[B, T, C]` -> `[B, T, gru_dim]`.

    Args:
        gru_dim: Units of the GRU.

    Example:
        >>> SingleGru(64)(tf.zeros([2, 100, 8])).shape  # [2, 100, 64]
    """

    def __init__(self, gru_dim: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.gru_dim = validation.check_int(type(self).__name__, 'gru_dim', gru_dim)
        self.gru = keras.layers.GRU(self.gru_dim, return_sequences=True, name='gru')

    def build(self, input_shape):
        self.gru.build(tuple(input_shape))

    def call(self, x):
        return self.gru(x)

    def get_config(self):
        config = super().get_config()
        config['gru_dim'] = self.gru_dim
        return config
