"""Neural-network building blocks of the training library, one concept a module.

* `dict_layer`: `DictLayer` (dicts of features in and out, keys bound to arguments),
  `OutputSplitsLayer`, `split_to_dict`;
* `layer_utils`: `ensure_4d`, `get_nonlinearity`, `set_sublayers`, layer (de)serialization,
  `check_net`, `get_embedding`, `Identity`;
* `normalization`: `normalize_op` / `Normalize` (group norm over time), `layer_norm`,
  `dense_layer_norm`;
* `dense`: `Fc` (Dense -> LayerNormalization -> nonlinearity), `FcStack`, `FcStackOut`;
* `rnn`: `Rnn`, `StatelessRnn`, `RnnFc`, `RnnSandwich`, `SingleGru`;
* `fast_gru`: `gru_sequence`, the XLA GRU with its hand-written backward pass;
* `conditioning`: FiLM (`ConditionalScaleAndShift`), `ConditionalNorm`, `get_norm`;
* `dilated_conv`: `DilatedConvStack`, `SpectralNormalization`;
* `resnet`: `NormReluConv`, `ResidualLayer`, `ResidualStack`, `ResNet`;
* `polyphase`: `polyphase_resample`, `PolyphaseResample`;
* `straight_through`: straight-through estimators;
* `quantization`: `VectorQuantization`;
* `registration`: gin names (`gin_register`, `gin_register_keras_layers`, `Dense`).

Every name is importable from `ddsp.training.nn` itself, as are the note masks of
`ddsp.training.note_masks` (`nn.get_note_mask`, `nn.pool_over_notes`, ...). Gin knows every
configurable here as `nn.<Name>` (`@nn.FcStack()`, `nn.RnnFc.rnn_type = 'gru'`), whichever
submodule defines it, and Keras' layers as `tf.keras.layers.<Name>`: importing this package
registers them (see `registration`). Keras serialization names are `ddsp.training>ClassName`.

Example:
    >>> from ddsp.training import nn
    >>> stack = nn.FcStack(ch=256, layers=2)
    >>> stack(tf.zeros([16, 1000, 2])).shape  # [16, 1000, 256]
"""

from ddsp.training.nn import fast_gru
from ddsp.training.nn.conditioning import ConditionalNorm, ConditionalScaleAndShift, get_norm
from ddsp.training.nn.dense import Fc, FcStack, FcStackOut
from ddsp.training.nn.dict_layer import (
    DictLayer,
    DictLayerInputError,
    OutputSplitsLayer,
    Splits,
    TensorDict,
    split_to_dict,
)
from ddsp.training.nn.dilated_conv import DilatedConvStack, SpectralNormalization
from ddsp.training.nn.fast_gru import gru_sequence
from ddsp.training.nn.layer_utils import (
    Identity,
    check_net,
    deserialize_layers,
    ensure_4d,
    get_embedding,
    get_nonlinearity,
    inv_ensure_4d,
    serialize_layer,
    set_sublayers,
)
from ddsp.training.nn.normalization import Normalize, dense_layer_norm, layer_norm, normalize_op
from ddsp.training.nn.polyphase import PolyphaseResample, polyphase_resample
from ddsp.training.nn.quantization import VectorQuantization
from ddsp.training.nn.registration import Dense, gin_register, gin_register_keras_layers
from ddsp.training.nn.resnet import NormReluConv, ResidualLayer, ResidualStack, ResNet
from ddsp.training.nn.rnn import Rnn, RnnFc, RnnSandwich, SingleGru, StatelessRnn
from ddsp.training.nn.straight_through import (
    straight_through_choice,
    straight_through_int_quantization,
    straight_through_softmax,
)
from ddsp.training.note_masks import (
    get_note_lengths,
    get_note_mask,
    get_note_mask_from_onset,
    get_note_moments,
    get_short_note_loss_mask,
    pool_over_notes,
)

# The fast GRU path under the names the tests have always used.
_fast_gru = fast_gru.run_fast_gru
_fast_gru_supported = fast_gru.fast_gru_supported
_fast_rnn_applies = fast_gru.fast_rnn_applies

__all__ = [
    # Dict layers.
    'DictLayer',
    'DictLayerInputError',
    'OutputSplitsLayer',
    'Splits',
    'TensorDict',
    'split_to_dict',
    # Layer helpers.
    'Identity',
    'check_net',
    'deserialize_layers',
    'ensure_4d',
    'get_embedding',
    'get_nonlinearity',
    'inv_ensure_4d',
    'serialize_layer',
    'set_sublayers',
    # Normalization and dense layers.
    'Fc',
    'FcStack',
    'FcStackOut',
    'Normalize',
    'dense_layer_norm',
    'layer_norm',
    'normalize_op',
    # Recurrent layers.
    'Rnn',
    'RnnFc',
    'RnnSandwich',
    'SingleGru',
    'StatelessRnn',
    'gru_sequence',
    # Conditioning and convolutions.
    'ConditionalNorm',
    'ConditionalScaleAndShift',
    'DilatedConvStack',
    'NormReluConv',
    'ResNet',
    'ResidualLayer',
    'ResidualStack',
    'SpectralNormalization',
    'get_norm',
    # Resampling, straight-through estimators and quantization.
    'PolyphaseResample',
    'VectorQuantization',
    'polyphase_resample',
    'straight_through_choice',
    'straight_through_int_quantization',
    'straight_through_softmax',
    # Note masks (ddsp.training.note_masks).
    'get_note_lengths',
    'get_note_mask',
    'get_note_mask_from_onset',
    'get_note_moments',
    'get_short_note_loss_mask',
    'pool_over_notes',
    # Gin.
    'Dense',
    'gin_register',
    'gin_register_keras_layers',
]
