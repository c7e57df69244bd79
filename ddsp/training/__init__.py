"""Training library: preprocessing, network building blocks, encoders and decoders.

Importing it stays light (TensorFlow, Keras and gin only); data pipelines, plotting and
cloud tools import their heavy dependencies where they are used.
"""

from ddsp.training import (
    augmentation,
    data,
    decoders,
    encoders,
    eval_util,
    evaluators,
    instrument,
    metrics,
    model_dir,
    models,
    nn,
    plotting,
    postprocessing,
    preprocessing,
    summaries,
    train_util,
    trainers,
)

__all__ = [
    'augmentation',
    'data',
    'decoders',
    'encoders',
    'eval_util',
    'evaluators',
    'instrument',
    'metrics',
    'model_dir',
    'models',
    'nn',
    'plotting',
    'postprocessing',
    'preprocessing',
    'summaries',
    'train_util',
    'trainers',
]
