"""Training library: preprocessing, network building blocks, encoders and decoders.

Importing it stays light (TensorFlow, Keras and gin only); data pipelines, plotting and
cloud tools import their heavy dependencies where they are used.
"""

from ddsp.training import data, decoders, encoders, nn, preprocessing

__all__ = ['data', 'decoders', 'encoders', 'nn', 'preprocessing']
