"""ddsp: Differentiable Digital Signal Processing for TensorFlow 2 and Keras 3.

`import ddsp` gives the core library: `core` (DSP functions), `spectral_ops`
(STFT and audio features), `processors` and `dags` (the Processor contract and
DAGs of layers), `synths` and `effects` (processors that make and transform
audio) and `losses`. Heavy optional dependencies (Apache Beam, CREPE weights,
tensorflow-datasets, matplotlib) are imported only where they are used.

Importing ddsp sets `TF_CPU_ALLOCATOR_USE_BFC=true` in the environment unless it is set
already: TensorFlow's BFC allocator keeps the large buffers of each step for the next, where
the default CPU allocator returns them to the system and page-faults them back in. Set it to
`false` before importing ddsp (or TensorFlow) to keep the default allocator;
`benchmarks/cpu_allocator.py` measures both.
"""

import os

# TensorFlow reads this when it makes its first CPU device (the first tensor), not on import:
# set before any ddsp module makes one. A pretrained instrument's training step on 2 cores of
# an AMD EPYC Zen 3 spent 40 % of its time in the kernel, in 260,000 page faults a step.
os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', 'true')

from ddsp import (  # noqa: E402 (after the allocator setting)
    audio_io,
    core,
    dags,
    effects,
    losses,
    processors,
    spectral_ops,
    synths,
)
from ddsp.version import __version__  # noqa: E402

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
