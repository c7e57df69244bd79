"""Losses, as Keras layers: multi-scale spectral, embedding, consistency and more.

Every loss is a Keras layer whose `call` returns a scalar (or, for losses with several terms,
a dict of scalars), and whose `get_losses_dict(*inputs)` returns `{name: value}`; that method
is how DAGs recognise a loss (see `dags.is_loss`). `LossGroup` runs a DAG of losses on a dict
of model outputs and returns one flat `{loss name: scalar}` dict.

Argument order: losses that compare a prediction with a target take the **target first**,
e.g. `SpectralLoss()(target_audio, audio)`; this has been the order since March 2020 (before
that it was `(audio, target_audio)`). `ParamLoss` is the exception: `(pred, target)`.

Every name is used as `ddsp.losses.<Name>`, and in gin as `losses.<Name>`; the modules hold
one concept each:

- `base`: the distance functions (`mean_difference`, `amp_loss`, `freq_loss`,
  `wasserstein_distance`), `Loss` and `LossGroup`;
- `spectral`: `SpectralLoss` and its floored `log_magnitude`;
- `embedding`: `EmbeddingLoss`, the CREPE embedding layer `CrepeEmbeddingModel` (first named
  `PretrainedCREPE`, still an alias) and `PretrainedCREPEEmbeddingLoss`;
- `transcription`: `HmmTranscriber` (needs `tensorflow-probability`, imported when used);
- `consistency`: losses on synthesizer controls and sinusoids (`FilteredNoise-`, `Harmonic-`,
  `Wasserstein-` and `KDEConsistencyLoss`, `TWMLoss`) and `ParamLoss`.

Example:
    >>> from ddsp import losses
    >>> group = losses.LossGroup(dag=[
    ...     (losses.SpectralLoss(logmag_weight=1.0), ['audio', 'audio_synth']),
    ...     (losses.ParamLoss(name='f0_loss'), ['f0_pred', 'f0_hz'])])
    >>> group(outputs)  # {'spectral_loss': ..., 'f0_loss': ...}
"""

from ddsp.losses.base import (
    LOSS_TYPES,
    Loss,
    LossGroup,
    TensorDict,
    amp_loss,
    freq_loss,
    mean_difference,
    wasserstein_distance,
)
from ddsp.losses.consistency import (
    FilteredNoiseConsistencyLoss,
    HarmonicConsistencyLoss,
    KDEConsistencyLoss,
    ParamLoss,
    TWMLoss,
    WassersteinConsistencyLoss,
)
from ddsp.losses.embedding import (
    CREPE_EMBEDDING_SCALES,
    CREPE_EMBEDDING_WEIGHT,
    CREPE_EPSILON,
    CREPE_FRAME_SIZE,
    CREPE_LAYER_NAMES,
    CREPE_MODEL_CAPACITIES,
    CrepeEmbeddingModel,
    EmbeddingLoss,
    PretrainedCREPE,
    PretrainedCREPEEmbeddingLoss,
)
from ddsp.losses.spectral import LOG_MAGNITUDE_FLOOR, SpectralLoss, log_magnitude
from ddsp.losses.transcription import HmmTranscriber

__all__ = [
    'Loss',
    'LossGroup',
    'mean_difference',
    'amp_loss',
    'freq_loss',
    'wasserstein_distance',
    'SpectralLoss',
    'EmbeddingLoss',
    'PretrainedCREPEEmbeddingLoss',
    'CrepeEmbeddingModel',
    'PretrainedCREPE',
    'HmmTranscriber',
    'FilteredNoiseConsistencyLoss',
    'HarmonicConsistencyLoss',
    'WassersteinConsistencyLoss',
    'KDEConsistencyLoss',
    'TWMLoss',
    'ParamLoss',
    'log_magnitude',
    'LOG_MAGNITUDE_FLOOR',
    'LOSS_TYPES',
    'TensorDict',
    'CREPE_EMBEDDING_SCALES',
    'CREPE_EMBEDDING_WEIGHT',
    'CREPE_EPSILON',
    'CREPE_FRAME_SIZE',
    'CREPE_LAYER_NAMES',
    'CREPE_MODEL_CAPACITIES',
]
