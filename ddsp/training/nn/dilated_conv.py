"""Stacks of residual dilated convolutions over time (`DilatedConvStack`).

Each layer is `x += norm(conv_dilated(relu(x)))`, optionally FiLM-conditioned on z, with
resampling by strided convolutions between stacks; `SpectralNormalization` can wrap every
convolution.

Example:
    >>> DilatedConvStack(ch=128, layers_per_stack=5, stacks=2)(tf.zeros([2, 1000, 2])).shape
    ... # [2, 1000, 128]
"""

import numbers
from typing import Optional, Text

import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.conditioning import get_norm, require_z
from ddsp.training.nn.layer_utils import ensure_4d, set_sublayers
from ddsp.training.nn.normalization import NORM_TYPES
from ddsp.training.nn.registration import gin_register

_RESAMPLE_TYPES = (None, 'downsample', 'upsample')


@keras_serializable
class SpectralNormalization(keras.layers.SpectralNormalization):
    """Spectral normalization of a wrapped layer's kernel (Keras 3's implementation).

    The original copied TF-Addons' version, which read `keras.backend.learning_phase()`
    (removed in Keras 3). Here the power iteration and kernel update run when the layer is
    called with `training=True`, given directly or inherited from an outer layer's call.

    Args:
        layer: A layer with a `kernel` (Conv2D, Dense, ...).
        power_iterations: Power-iteration steps per training call.

    Example:
        >>> conv = SpectralNormalization(keras.layers.Conv2D(8, (3, 1), padding='same'))
        >>> conv(tf.zeros([2, 100, 1, 4]), training=True).shape  # [2, 100, 1, 8]
    """


def _conv(
    ch, kernel_size, spectral_norm=False, ortho_init=False, transpose=False, name=None, **kwargs
):
    conv_class = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    init = 'orthogonal' if ortho_init else 'glorot_uniform'
    conv = conv_class(ch, kernel_size, padding='same', kernel_initializer=init, name=name, **kwargs)
    return SpectralNormalization(conv, name=f'{name}_sn') if spectral_norm else conv


@keras_serializable
@gin_register
class DilatedConvStack(keras.layers.Layer):
    """Stacks of residual dilated convolutions over time, optionally FiLM-conditioned.

    `[B, T, C]` -> input Conv2D `(kernel_size, 1)` to `ch` channels -> for each of `stacks`
    stacks, `layers_per_stack` residual layers `x += norm(conv_dilated(relu(x)))` with dilation
    rate `dilation ** j` for layer j (a negative dilation counts down: `|dilation| **
    (layers_per_stack - 1 - j)`). With `conditional`, `call(x, z)` and the norm is a FiLM
    `ConditionalNorm([y, z])` (or FiLM alone when `norm_type` is None).

    Resampling (`resample_type` 'downsample' or 'upsample', by `resample_stride`) is a strided
    Conv2D or Conv2DTranspose `(resample_stride, 1)` every `stacks_per_resample` stacks, after
    (or before) their convolutions. Output `[B, T', ch]`, `T' = T / stride^n` or `T * stride^n`.

    Args:
        ch: Channels.
        layers_per_stack: Residual layers per stack.
        stacks: Number of stacks.
        kernel_size: Kernel length in time.
        dilation: Dilation base (see above; 1 for none).
        norm_type: None, 'instance', 'layer' or 'group'.
        resample_type: None, 'downsample' or 'upsample'.
        resample_stride: Time stride of each resampling.
        stacks_per_resample: Stacks between resamplings.
        resample_after_convolve: Resample after a stack's convolutions (else before).
        spectral_norm: Wrap the convolutions in `SpectralNormalization`.
        ortho_init: Orthogonal kernel initialization.
        shift_only: FiLM shifts only.
        conditional: Condition every layer on z (`call(x, z)`).

    Example:
        >>> stack = DilatedConvStack(64, 3, 2, resample_type='downsample', resample_stride=2)
        >>> stack(tf.zeros([2, 100, 2])).shape  # [2, 25, 64]
    """

    def __init__(
        self,
        ch: int = 256,
        layers_per_stack: int = 5,
        stacks: int = 2,
        kernel_size: int = 3,
        dilation: int = 2,
        norm_type: Optional[Text] = None,
        resample_type: Optional[Text] = None,
        resample_stride: int = 1,
        stacks_per_resample: int = 1,
        resample_after_convolve: bool = True,
        spectral_norm: bool = False,
        ortho_init: bool = False,
        shift_only: bool = False,
        conditional: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.ch = validation.check_int(owner, 'ch', ch)
        self.layers_per_stack = validation.check_int(owner, 'layers_per_stack', layers_per_stack)
        self.stacks = validation.check_int(owner, 'stacks', stacks)
        self.kernel_size = validation.check_int(owner, 'kernel_size', kernel_size)
        if (
            isinstance(dilation, bool)
            or not isinstance(dilation, numbers.Integral)
            or dilation == 0
        ):
            validation.fail(owner, 'dilation', 'a non-zero integer', dilation)
        self.dilation = int(dilation)
        if norm_type is not None:
            validation.check_choice(owner, 'norm_type', norm_type, NORM_TYPES)
        self.norm_type = norm_type
        self.resample_type = validation.check_choice(
            owner, 'resample_type', resample_type, _RESAMPLE_TYPES
        )
        self.resample_stride = validation.check_int(owner, 'resample_stride', resample_stride)
        self.stacks_per_resample = validation.check_int(
            owner, 'stacks_per_resample', stacks_per_resample
        )
        self.resample_after_convolve = bool(resample_after_convolve)
        self.spectral_norm = bool(spectral_norm)
        self.ortho_init = bool(ortho_init)
        self.shift_only = bool(shift_only)
        self.conditional = bool(conditional)

        conv = dict(spectral_norm=self.spectral_norm, ortho_init=self.ortho_init)
        self.conv_in = _conv(self.ch, (self.kernel_size, 1), name='conv_in', **conv)
        convs, norms, resamplers = [], [], []
        for i in range(self.stacks):
            for j in range(self.layers_per_stack):
                convs.append(
                    _conv(
                        self.ch,
                        (self.kernel_size, 1),
                        name=f'conv_{i}_{j}',
                        dilation_rate=(self.rate(j), 1),
                        **conv,
                    )
                )
                norms.append(get_norm(norm_type, self.conditional, self.shift_only))
            if self._resamples_after(i):
                resamplers.append(
                    _conv(
                        self.ch,
                        (self.resample_stride, 1),
                        name=f'resample_{i}',
                        strides=(self.resample_stride, 1),
                        transpose=self.resample_type == 'upsample',
                        **conv,
                    )
                )
            else:
                resamplers.append(None)
        layer_ids = [f'{i}_{j}' for i in range(self.stacks) for j in range(self.layers_per_stack)]
        self._conv_names = set_sublayers(self, [f'conv_{k}' for k in layer_ids], convs)
        self._norm_names = set_sublayers(self, [f'norm_{k}' for k in layer_ids], norms)
        self._resample_names = set_sublayers(
            self, [f'resample_{i}' for i in range(self.stacks)], resamplers
        )

    @property
    def convs(self) -> list:
        """The dilated convolutions, stack by stack."""
        return [getattr(self, name) for name in self._conv_names]

    @property
    def norms(self) -> list:
        """The norm after each dilated convolution (None for none)."""
        return [getattr(self, name) for name in self._norm_names]

    @property
    def resamplers(self) -> list:
        """The resampling convolution of each stack (None for none)."""
        return [getattr(self, name) for name in self._resample_names]

    def rate(self, j: int) -> int:
        """Dilation rate of layer j of a stack."""
        if self.dilation > 0:
            return self.dilation**j
        return (-self.dilation) ** (self.layers_per_stack - 1 - j)

    def _resamples_after(self, i):
        return self.resample_type is not None and (i + 1) % self.stacks_per_resample == 0

    def _resample(self, i, x):
        layer = self.resamplers[i]
        return x if layer is None else layer(x)

    def call(self, x, z=None):
        if self.conditional:
            require_z(self, z)
        x = self.conv_in(ensure_4d(core.tf_float32(x)))
        for i in range(self.stacks):
            if not self.resample_after_convolve:
                x = self._resample(i, x)
            for j in range(self.layers_per_stack):
                k = i * self.layers_per_stack + j
                y = self.convs[k](tf.nn.relu(x))
                norm = self.norms[k]
                if norm is not None:
                    y = norm([y, z]) if self.conditional else norm(y)
                x = x + y
            if self.resample_after_convolve:
                x = self._resample(i, x)
        return x[:, :, 0, :]

    def get_config(self):
        config = super().get_config()
        config.update(
            ch=self.ch,
            layers_per_stack=self.layers_per_stack,
            stacks=self.stacks,
            kernel_size=self.kernel_size,
            dilation=self.dilation,
            norm_type=self.norm_type,
            resample_type=self.resample_type,
            resample_stride=self.resample_stride,
            stacks_per_resample=self.stacks_per_resample,
            resample_after_convolve=self.resample_after_convolve,
            spectral_norm=self.spectral_norm,
            ortho_init=self.ortho_init,
            shift_only=self.shift_only,
            conditional=self.conditional,
        )
        return config
