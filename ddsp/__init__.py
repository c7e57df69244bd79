"""ddsp: Differentiable Digital Signal Processing for TensorFlow 2 and Keras 3.

`import ddsp` gives the core library: `core` (DSP functions),
`spectral_ops` (STFT and audio features) and, as they land, the processors,
DAGs, synths, effects and losses. Heavy optional dependencies (Apache Beam,
CREPE weights, tensorflow-datasets, matplotlib) are imported only where used.
"""

from ddsp import core
from ddsp import spectral_ops
from ddsp.version import __version__

__all__ = ['core', 'spectral_ops', '__version__']
