"""ddsp: Differentiable Digital Signal Processing for TensorFlow 2 and Keras 3.

`import ddsp` gives the core library: `core` (DSP functions), `spectral_ops`
(STFT and audio features), `processors` and `dags` (the Processor contract and
DAGs of layers), `synths` and `effects` (processors that make and transform
audio) and `losses`. Heavy optional dependencies (Apache Beam, CREPE weights,
tensorflow-datasets, matplotlib) are imported only where they are used.
"""

from ddsp import audio_io, core, dags, effects, losses, processors, spectral_ops, synths
from ddsp.version import __version__

__all__ = [
    'audio_io',
    'core',
    'dags',
    'effects',
    'losses',
    'processors',
    'spectral_ops',
    'synths',
    '__version__',
]
