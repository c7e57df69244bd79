"""A ResNet over spectrograms that keeps every time frame (pre-activation bottleneck blocks).

`NormReluConv` -> `ResidualLayer` (one bottleneck block) -> `ResidualStack` (stages of
blocks) -> `ResNet` (stem, max pool and three stages). Every stride applies to the frequency
axis only, so the output has one frame per input frame. With `conditional`, the norms are FiLM
layers conditioned on z.

Example:
    >>> ResNet('tiny')(tf.zeros([2, 125, 229])).shape  # [2, 125, 15, 256]
"""

import numbers
from typing import Callable, Optional, Sequence, Text, Union

import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.conditioning import get_norm, require_z
from ddsp.training.nn.layer_utils import get_nonlinearity, serialize_nonlinearity, set_sublayers
from ddsp.training.nn.normalization import NORM_TYPES
from ddsp.training.nn.registration import gin_register

_NORM_TYPES_OR_NONE = (None,) + NORM_TYPES


def _check_norm_type(owner, norm_type):
    return validation.check_choice(owner, 'norm_type', norm_type, _NORM_TYPES_OR_NONE)


def _freq_conv(ch, k, stride, name):
    """Conv2D `(k, k)` striding only the frequency axis (axis 2) of `[B, T, F, C]`."""
    return keras.layers.Conv2D(ch, (k, k), strides=(1, stride), padding='same', name=name)


def _strided_shape(shape, stride, ch):
    """`[B, T, F, C]` -> `[B, T, ceil(F / stride), ch]` (None stays None)."""
    n_freq = shape[2] if shape[2] is None else -(-int(shape[2]) // stride)
    return (shape[0], shape[1], n_freq, ch)


@keras_serializable
@gin_register
class NormReluConv(keras.layers.Layer):
    """Normalize -> ReLU -> Conv2D: `[B, T, F, C]` -> `[B, T, ceil(F / s), ch]`.

    The convolution has a `k x k` kernel and 'same' padding; its stride `s` applies to the
    frequency axis only, so the number of time frames is kept (see `ResNet`).

    Args:
        ch: Output channels.
        k: Kernel size (time and frequency).
        s: Frequency stride.
        norm_type: 'instance', 'layer', 'group' (see `normalize_op`) or None for no norm.

    Example:
        >>> NormReluConv(8, 3, 2, 'layer')(tf.zeros([1, 10, 16, 4])).shape  # [1, 10, 8, 8]
    """

    def __init__(self, ch: int, k: int, s: int, norm_type: Optional[Text] = 'layer', **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = validation.check_int(owner, 'ch', ch)
        self.k = validation.check_int(owner, 'k', k)
        self.s = validation.check_int(owner, 's', s)
        self.norm_type = _check_norm_type(owner, norm_type)
        self.norm = get_norm(self.norm_type)
        self.conv = _freq_conv(self.ch, self.k, self.s, name='conv')

    def build(self, x_shape):
        if self.norm is not None:
            self.norm.build(x_shape)
        self.conv.build(x_shape)

    def call(self, x):
        if self.norm is not None:
            x = self.norm(x)
        return self.conv(tf.nn.relu(x))

    def get_config(self):
        config = super().get_config()
        config.update(ch=self.ch, k=self.k, s=self.s, norm_type=self.norm_type)
        return config


@keras_serializable
@gin_register
class ResidualLayer(keras.layers.Layer):
    """A pre-activation bottleneck block: `[B, T, F, C]` -> `[B, T, ceil(F / stride), 4 ch]`.

    `h = relu(norm(x))`, then `Conv2D 1x1 (ch)` -> `NormReluConv 3x3 (ch, stride)` ->
    `NormReluConv 1x1 (4 ch)`, plus the residual: `x` itself, or with `shortcut` a projection
    `Conv2D 1x1 (4 ch, stride)` of `h`. Strides apply to frequency only. Without `shortcut`
    the input must already have `4 ch` channels and `stride` must be 1. With `conditional`,
    the input norm is a FiLM `ConditionalNorm` and the layer is called as `(x, z)` with
    z `[B, C_z]` or `[B, T_z, C_z]`.

    Args:
        ch: Bottleneck channels (the output has `4 * ch`).
        stride: Frequency stride.
        shortcut: Project the residual (needed when the channels or the stride change).
        norm_type: 'instance', 'layer', 'group' or None.
        conditional: Condition the input norm on z.
        shift_only: FiLM shifts only.

    Example:
        >>> ResidualLayer(8, 2, True, 'layer')(tf.zeros([1, 10, 16, 4])).shape  # [1, 10, 8, 32]
    """

    def __init__(
        self,
        ch: int,
        stride: int,
        shortcut: bool,
        norm_type: Optional[Text],
        conditional: bool = False,
        shift_only: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = validation.check_int(owner, 'ch', ch)
        self.stride = validation.check_int(owner, 'stride', stride)
        self.shortcut = bool(shortcut)
        self.norm_type = _check_norm_type(owner, norm_type)
        self.conditional = bool(conditional)
        self.shift_only = bool(shift_only)
        if self.stride != 1 and not self.shortcut:
            validation.fail(
                owner,
                'shortcut',
                f'True for stride={stride!r} (a stride changes the frequency size, '
                f'so the residual needs a projection)',
                shortcut,
            )
        self.norm_input = get_norm(self.norm_type, self.conditional, self.shift_only)
        self.conv_proj = (
            _freq_conv(4 * self.ch, 1, self.stride, name='conv_proj') if self.shortcut else None
        )
        self.conv_in = _freq_conv(self.ch, 1, 1, name='conv_in')
        self.norm_relu_conv_1 = NormReluConv(
            self.ch, 3, self.stride, self.norm_type, name='norm_relu_conv_1'
        )
        self.norm_relu_conv_2 = NormReluConv(
            4 * self.ch, 1, 1, self.norm_type, name='norm_relu_conv_2'
        )

    def build(self, x_shape, z_shape=None):
        if not self.shortcut and x_shape[-1] is not None and x_shape[-1] != 4 * self.ch:
            validation.fail(
                type(self).__name__,
                'x.shape[-1]',
                f'4 * ch = {4 * self.ch} (without a shortcut projection the residual is x itself)',
                x_shape[-1],
            )
        x_shape = tuple(x_shape)
        if self.norm_input is not None:
            if not self.conditional:
                self.norm_input.build(x_shape)
            elif z_shape is not None:
                self.norm_input.build([x_shape, tuple(z_shape)])
        if self.conv_proj is not None:
            self.conv_proj.build(x_shape)
        self.conv_in.build(x_shape)
        self.norm_relu_conv_1.build(x_shape[:3] + (self.ch,))
        self.norm_relu_conv_2.build(_strided_shape(x_shape, self.stride, self.ch))

    def call(self, x, z=None):
        if self.conditional:
            require_z(self, z)
        h = x
        if self.norm_input is not None:
            h = self.norm_input([h, z]) if self.conditional else self.norm_input(h)
        h = tf.nn.relu(h)
        residual = self.conv_proj(h) if self.shortcut else x
        h = self.norm_relu_conv_2(self.norm_relu_conv_1(self.conv_in(h)))
        return h + residual

    def get_config(self):
        config = super().get_config()
        config.update(
            ch=self.ch,
            stride=self.stride,
            shortcut=self.shortcut,
            norm_type=self.norm_type,
            conditional=self.conditional,
            shift_only=self.shift_only,
        )
        return config


def _int_list(owner, name, values, minimum=1):
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        validation.fail(owner, name, 'a non-empty sequence of integers', values)
    return [validation.check_int(owner, f'{name}[{i}]', v, minimum) for i, v in enumerate(values)]


@keras_serializable
@gin_register
class ResidualStack(keras.layers.Layer):
    """Stages of `ResidualLayer`s, then a final norm and nonlinearity.

    Stage i has `block_sizes[i]` bottleneck blocks of `filters[i]` channels (output
    `4 * filters[i]`); its first block has a projection shortcut and the frequency stride
    `strides[i]`, the others stride 1 and identity residuals. The blocks are pre-activation,
    so the stack ends with `norm -> nonlinearity`.

    `[B, T, F, C]` -> `[B, T, F / prod(strides) (rounded up per stage), 4 * filters[-1]]`.

    Args:
        filters: Bottleneck channels per stage (a single int is used for every stage).
        block_sizes: Blocks per stage.
        strides: Frequency stride of each stage.
        norm_type: 'instance', 'layer', 'group' or None.
        conditional: Condition every block's input norm (and the final norm) on z: call
            `(x, z)`.
        shift_only: FiLM shifts only.
        nonlinearity: Final activation (a Keras activation name, `tf.nn` name or callable).

    Example:
        >>> stack = ResidualStack([4, 8], [1, 2], [1, 2], 'layer')
        >>> stack(tf.zeros([1, 10, 16, 3])).shape  # [1, 10, 8, 32]
    """

    def __init__(
        self,
        filters,
        block_sizes: Sequence[int],
        strides: Sequence[int],
        norm_type: Optional[Text],
        conditional: bool = False,
        shift_only: bool = False,
        nonlinearity: Union[Text, Callable] = 'relu',
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.block_sizes = _int_list(owner, 'block_sizes', block_sizes)
        self.strides = _int_list(owner, 'strides', strides)
        if isinstance(filters, numbers.Integral) and not isinstance(filters, bool):
            filters = [filters] * len(self.block_sizes)
        self.filters = _int_list(owner, 'filters', filters)
        n_stages = len(self.block_sizes)
        for name, values in (('filters', self.filters), ('strides', self.strides)):
            if len(values) != n_stages:
                validation.fail(
                    owner,
                    name,
                    f'{n_stages} integers, one entry per stage as in block_sizes',
                    values,
                )
        self.norm_type = _check_norm_type(owner, norm_type)
        self.conditional = bool(conditional)
        self.shift_only = bool(shift_only)
        self.nonlinearity = nonlinearity
        self._nonlinearity_fn = get_nonlinearity(nonlinearity)
        names, blocks = [], []
        for i, (ch, n_blocks, stride) in enumerate(
            zip(self.filters, self.block_sizes, self.strides)
        ):
            for j in range(n_blocks):
                names.append(f'residual_{i}_{j}')
                blocks.append(
                    ResidualLayer(
                        ch,
                        stride if j == 0 else 1,
                        j == 0,
                        self.norm_type,
                        self.conditional,
                        self.shift_only,
                        name=names[-1],
                    )
                )
        self._block_names = set_sublayers(self, names, blocks)
        self.norm_out = get_norm(self.norm_type, self.conditional, self.shift_only)

    @property
    def residual_layers(self) -> list:
        """The `ResidualLayer`s, stage by stage."""
        return [getattr(self, name) for name in self._block_names]

    def build(self, x_shape, z_shape=None):
        shape = tuple(x_shape)
        for layer in self.residual_layers:
            layer.build(shape, z_shape)
            shape = _strided_shape(shape, layer.stride, 4 * layer.ch)
        if self.norm_out is not None:
            if not self.conditional:
                self.norm_out.build(shape)
            elif z_shape is not None:
                self.norm_out.build([shape, tuple(z_shape)])

    def call(self, x, z=None):
        if self.conditional:
            require_z(self, z)
        for layer in self.residual_layers:
            x = layer(x, z) if self.conditional else layer(x)
        if self.norm_out is not None:
            x = self.norm_out([x, z]) if self.conditional else self.norm_out(x)
        return self._nonlinearity_fn(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            block_sizes=self.block_sizes,
            strides=self.strides,
            norm_type=self.norm_type,
            conditional=self.conditional,
            shift_only=self.shift_only,
            nonlinearity=serialize_nonlinearity(self.nonlinearity),
        )
        return config


@keras_serializable
@gin_register
class ResNet(keras.layers.Layer):
    """A ResNet over spectrogram-like inputs that keeps every time frame.

    Layout (the usual ResNet-50-style stem and bottleneck stages, with every stride applied
    to the frequency axis only, so that the output has one frame per input frame):
      1. stem: Conv2D 7x7, `2 ch` channels, frequency stride 2;
      2. MaxPool 3x3, frequency stride 2;
      3. `ResidualStack([ch, 2 ch, 4 ch], blocks, strides [1, 2, 2])`, ending with
         norm -> ReLU.
    The frequency axis shrinks by 16 in all: F -> ceil(ceil(ceil(ceil(F/2)/2)/2)/2);
    the output has `16 ch` channels.

    Sizes `(ch, blocks)`: 'tiny' (16, [1, 1, 1]; added here, see below), 'small'
    (32, [2, 3, 4]), 'medium' (32, [3, 4, 6]), 'large' (64, [3, 4, 6]). The original's
    `ResnetSinusoidalEncoder` defaults to size 'tiny', which its ResNet did not define.

    Input `[B, T, F]` (one channel) or `[B, T, F, C]`; output `[B, T, F', 16 ch]`.
    With `conditional`, call `(x, z)`: every block's input norm is FiLM-conditioned on z.

    Args:
        size: 'tiny', 'small', 'medium' or 'large'.
        norm_type: 'instance', 'layer', 'group' or None.
        conditional: Condition the norms on z.
        shift_only: FiLM shifts only.

    Example:
        >>> ResNet('tiny')(tf.zeros([2, 125, 229])).shape  # [2, 125, 15, 256]
    """

    SIZES = {
        'tiny': (16, (1, 1, 1)),
        'small': (32, (2, 3, 4)),
        'medium': (32, (3, 4, 6)),
        'large': (64, (3, 4, 6)),
    }
    STRIDES = (1, 2, 2)
    FREQ_STRIDE = 16  # Stem 2 x pool 2 x stage strides 1 * 2 * 2.

    def __init__(
        self,
        size: Text = 'large',
        norm_type: Optional[Text] = 'layer',
        conditional: bool = False,
        shift_only: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.size = validation.check_choice(owner, 'size', size, tuple(self.SIZES))
        self.norm_type = _check_norm_type(owner, norm_type)
        self.conditional = bool(conditional)
        self.shift_only = bool(shift_only)
        ch, blocks = self.SIZES[self.size]
        self.conv_stem = _freq_conv(2 * ch, 7, 2, name='conv_stem')
        self.max_pool = keras.layers.MaxPooling2D(
            (3, 3), strides=(1, 2), padding='same', name='max_pool'
        )
        self.residual_stack = ResidualStack(
            [ch, 2 * ch, 4 * ch],
            list(blocks),
            list(self.STRIDES),
            self.norm_type,
            self.conditional,
            self.shift_only,
            name='residual_stack',
        )

    @property
    def out_channels(self) -> int:
        """Channels of the output, `16 ch`."""
        return 16 * self.SIZES[self.size][0]

    def build(self, x_shape, z_shape=None):
        x_shape = tuple(x_shape)
        if len(x_shape) == 3:
            x_shape = x_shape + (1,)
        if len(x_shape) != 4:
            return  # call() raises the error.
        self.conv_stem.build(x_shape)
        shape = _strided_shape(x_shape, 2, 2 * self.SIZES[self.size][0])
        self.residual_stack.build(_strided_shape(shape, 2, shape[-1]), z_shape)

    @classmethod
    def output_freq_size(cls, n_freq: int) -> int:
        """Frequency size of the output for `n_freq` input bins (each stride rounds up)."""
        for stride in (2, 2) + cls.STRIDES:
            n_freq = -(-n_freq // stride)
        return n_freq

    def call(self, x, z=None):
        if self.conditional:
            require_z(self, z)
        x = core.tf_float32(x)
        if len(x.shape) == 3:
            x = x[..., tf.newaxis]
        elif len(x.shape) != 4:
            validation.fail(
                type(self).__name__,
                'x.shape',
                'a spectrogram [batch, time, freq] or [batch, time, freq, channels]',
                tuple(x.shape),
            )
        x = self.max_pool(self.conv_stem(x))
        return self.residual_stack(x, z) if self.conditional else self.residual_stack(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            size=self.size,
            norm_type=self.norm_type,
            conditional=self.conditional,
            shift_only=self.shift_only,
        )
        return config
