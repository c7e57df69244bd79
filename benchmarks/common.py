"""Shared pieces of the benchmark workloads: sizes, the Workload tuple, inputs.

A workload module defines `WORKLOADS`, a dict mapping a row name to a builder.
A builder takes a `Sizes` and returns a `Workload`; `run.py` wraps `fn` in
`tf.function` and times `fn(*args)`. Builders do all input preparation, so
only the operation itself is timed. The builder's docstring is what
`run.py --list` prints.
"""

import collections
import dataclasses
import math

import tensorflow as tf

Workload = collections.namedtuple(
    'Workload', ['fn', 'args', 'description', 'floor', 'unit'], defaults=(None,)
)
Workload.__doc__ = """What one row times.

fn: the function timed (wrapped in `tf.function` by the runner).
args: a tuple of tensors passed to `fn`.
description: one line for the table's notes.
floor: name of the floor workload this row is compared with, or None for a
    floor itself.
unit: optional name of what one call does (e.g. 'steps'): the runner then
    also reports calls per second as `rate_per_s` ('steps/s').
"""


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes shared by all workloads (default: the full benchmark)."""

    batch: int = 16
    n_samples: int = 64000  # 4 s at 16 kHz.
    n_frames: int = 250
    sample_rate: int = 16000
    ir_samples: int = 48000  # Reverb-length impulse response.

    @classmethod
    def smoke(cls):
        """Tiny sizes (batch 1, 0.5 s) that check the plumbing, not speed."""
        return cls(batch=1, n_samples=8000, n_frames=250, ir_samples=6000)

    @property
    def seconds(self):
        return self.n_samples / self.sample_rate


def f0_contour(sizes):
    """Per-example f0 drawn from 200-600 Hz with a 1 %, 5 Hz vibrato: [B, T, 1]."""
    base = tf.random.uniform([sizes.batch, 1, 1], 200.0, 600.0)
    t = tf.range(sizes.n_frames, dtype=tf.float32) * (sizes.seconds / sizes.n_frames)
    vibrato = 1.0 + 0.01 * tf.sin(2.0 * math.pi * 5.0 * t)
    return base * vibrato[tf.newaxis, :, tf.newaxis]


def noise(shape, scale=0.1):
    """Gaussian noise of standard deviation `scale`, float32."""
    return scale * tf.random.normal(shape)
