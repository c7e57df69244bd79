"""Processors that transform audio: reverbs, FIR filtering and modulated delay.

Every effect is a `processors.Processor`: `effect(audio, *controls)` is
`get_signal(**get_controls(audio, *controls))`, and in a `ProcessorGroup` DAG
its outputs are `'<name>/signal'` and `'<name>/controls/...'`.

* `Reverb` convolves audio with an impulse response (IR), either given as an
  input or learned as the weight `ir` (`trainable=True`).
* `ExpDecayReverb` and `FilteredNoiseReverb` parameterise the IR as
  exponentially decaying noise or as filtered noise; fresh noise is drawn on
  every call.
* `FIRFilter` filters audio with time-varying FIR filters designed from
  frequency-response magnitudes.
* `ModDelay` is a modulated delay line (chorus, flanger, vibrato).

Shapes are checked in Python before any FFT: FIR magnitudes need at least 2 bands (one band
would be a zero-sized FFT, which aborts TensorFlow), impulse responses at least one tap, and
batches must agree (1 broadcasts). Values are not checked here (see `ddsp.synths` for the
rule): a NaN in one frame of time-varying filter magnitudes stays in that frame and the next,
but a NaN audio sample makes the whole output of `Reverb` NaN, since one FFT convolves every
sample with every tap. The losses and feature functions report it.

The effects that learn their controls (`trainable=True`) create their weights
in `build`, which ignores the input shape, so `effect.build()` creates them
before the first call (e.g. to `set_weights` on a `from_config` clone).

Homes: `reverb` (the three reverbs and their old names), `fir_filter`, `mod_delay`; `_checks`
holds the argument checks they share. Gin and Keras know every class by its `ddsp.effects`
name (`effects.Reverb`, `ddsp>Reverb`), whichever module defines it.

Old names kept working: `TrainableReverb` and `FixedReverb` are
`Reverb(trainable=True)`, `TrainableExpDecayReverb` is
`ExpDecayReverb(trainable=True)`, and `Reverb(reverb_only=True)` is
`Reverb(add_dry=False)` (with a `DeprecationWarning`).
"""

from ddsp.effects._checks import tf_float32
from ddsp.effects.fir_filter import FIRFilter
from ddsp.effects.mod_delay import ModDelay
from ddsp.effects.reverb import (
    ExpDecayReverb,
    FilteredNoiseReverb,
    FixedReverb,
    Reverb,
    TrainableExpDecayReverb,
    TrainableReverb,
)

__all__ = [
    'ExpDecayReverb',
    'FIRFilter',
    'FilteredNoiseReverb',
    'FixedReverb',
    'ModDelay',
    'Reverb',
    'TrainableExpDecayReverb',
    'TrainableReverb',
    'tf_float32',
]
