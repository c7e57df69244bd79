"""Unit conversions: decibels, MIDI notes, Hz, the unit interval, Bark, mel and ERB.

Amplitudes are linear and frequencies in Hz everywhere in `ddsp`; these functions move
between those and the perceptual scales that features and network outputs use. Every
function takes tensors, arrays or Python numbers and returns float32 tensors (except
`power_to_db(use_tf=False)`, which stays in NumPy).

Example:
    >>> from ddsp import core
    >>> core.midi_to_hz(69.0), core.hz_to_midi(440.0)  # 440.0, 69.0
    >>> core.power_to_db(0.01)  # -20.0
"""

import math
from typing import TypeVar

import numpy as np
import tensorflow as tf

from ddsp.core.safe_math import logb
from ddsp.core.tensors import tf_float32

Number = TypeVar('Number', int, float, np.ndarray, tf.Tensor)

DB_RANGE = 80.0  # Dynamic range of decibel features, in dB.


def amplitude_to_db(amplitude, ref_db=0.0, range_db=DB_RANGE, use_tf=True):
    """Linear amplitude -> dB, floored at `-range_db` (see `power_to_db`).

    Example: `amplitude_to_db(0.1)` -> `-20.0`.
    """
    return power_to_db(amplitude**2.0, ref_db=ref_db, range_db=range_db, use_tf=use_tf)


def power_to_db(power, ref_db=0.0, range_db=DB_RANGE, use_tf=True):
    """Power -> decibels: `10 log10(max(power, 10^(-range/10))) - ref_db`.

    The result is then floored at `-range_db`. The floor is absolute (0 dB is a
    power of 1), unlike librosa's `top_db`, which is relative to the maximum.

    Example: `power_to_db(0.01)` -> `-20.0`.
    """
    if use_tf:
        maximum, log_10 = tf.maximum, lambda p: tf.math.log(p) / math.log(10.0)
        power = tf_float32(power)
    else:
        maximum, log_10 = np.maximum, np.log10
    amin = 10.0 ** (-range_db / 10.0)
    db = 10.0 * log_10(maximum(amin, power)) - ref_db
    return maximum(db, -range_db)


def db_to_amplitude(db):
    """Decibels -> linear amplitude: `10^(db / 20)`. Example: `-20.0` -> `0.1`."""
    return 10.0 ** (tf_float32(db) / 20.0)


def db_to_power(db):
    """Decibels -> power: `10^(db / 10)`. Example: `-20.0` -> `0.01`."""
    return 10.0 ** (tf_float32(db) / 10.0)


def midi_to_hz(notes: Number, midi_zero_silence: bool = False) -> Number:
    """MIDI note number -> Hz: `440 * 2^((m - 69) / 12)`.

    With `midi_zero_silence`, MIDI 0 gives 0 Hz instead of 8.18 Hz.
    Example: `midi_to_hz(69.0)` -> `440.0`.
    """
    notes = tf_float32(notes)
    hz = 440.0 * (2.0 ** ((notes - 69.0) / 12.0))
    if midi_zero_silence:
        hz = tf.where(tf.equal(notes, 0.0), tf.zeros_like(hz), hz)
    return hz


def hz_to_midi(frequencies: Number) -> Number:
    """Hz -> MIDI note number; frequencies `<= 0` give MIDI 0.

    Example: `hz_to_midi(440.0)` -> `69.0`.
    """
    frequencies = tf_float32(frequencies)
    notes = 12.0 * (logb(frequencies, 2.0) - math.log2(440.0)) + 69.0
    return tf.where(frequencies <= 0.0, tf.zeros_like(notes), notes)


def _float64(x):
    """`x` as a float64 tensor (exact for float32 and Python inputs)."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return tf.cast(x, tf.float64)
    return tf.convert_to_tensor(x, tf.float64)


def unit_to_midi(
    unit: Number, midi_min: Number = 20.0, midi_max: Number = 90.0, clip: bool = False
) -> Number:
    """Linearly maps [0, 1] onto [midi_min, midi_max]: `midi_min + (midi_max - midi_min) u`.

    The formula is evaluated in float64 and rounded to float32 once, so the result is the
    float32 nearest to the exact value (a float32 product then sum rounds twice and can
    land on the float32 one step away).

    Args:
        unit: values in [0, 1] (any shape); outside it they extrapolate unless `clip`.
        midi_min, midi_max: MIDI notes that 0 and 1 map to.
        clip: clip `unit` to [0, 1] first.

    Returns:
        float32 MIDI notes, the shape of `unit`.

    Example: `unit_to_midi(0.5)` -> `55.0`.
    """
    unit = _float64(unit)
    if clip:
        unit = tf.clip_by_value(unit, 0.0, 1.0)
    midi_min, midi_max = _float64(midi_min), _float64(midi_max)
    return tf.cast(midi_min + (midi_max - midi_min) * unit, tf.float32)


def midi_to_unit(
    midi: Number, midi_min: Number = 20.0, midi_max: Number = 90.0, clip: bool = False
) -> Number:
    """Linearly maps [midi_min, midi_max] onto [0, 1]. Example: `midi_to_unit(55.0)` -> `0.5`."""
    unit = (tf_float32(midi) - midi_min) / (midi_max - midi_min)
    return tf.clip_by_value(unit, 0.0, 1.0) if clip else unit


def unit_to_hz(unit: Number, hz_min: Number, hz_max: Number, clip: bool = False) -> Number:
    """Maps [0, 1] onto [hz_min, hz_max], linearly in MIDI (log frequency).

    `hz_min=0` means MIDI 0 (8.18 Hz). Example: `unit_to_hz(0.5, 220, 880)`
    -> `440.0`.
    """
    midi = unit_to_midi(unit, midi_min=hz_to_midi(hz_min), midi_max=hz_to_midi(hz_max), clip=clip)
    return midi_to_hz(midi)


def hz_to_unit(hz: Number, hz_min: Number, hz_max: Number, clip: bool = False) -> Number:
    """Inverse of `unit_to_hz`. Example: `hz_to_unit(440.0, 220, 880)` -> `0.5`."""
    return midi_to_unit(
        hz_to_midi(hz), midi_min=hz_to_midi(hz_min), midi_max=hz_to_midi(hz_max), clip=clip
    )


def hz_to_bark(hz):
    """Hz -> Bark (Traunmueller 1990): `26.81 / (1 + 1960 / f) - 0.53`."""
    return 26.81 / (1.0 + 1960.0 / tf_float32(hz)) - 0.53


def bark_to_hz(bark):
    """Bark -> Hz, the inverse of `hz_to_bark`."""
    return 1960.0 / (26.81 / (tf_float32(bark) + 0.53) - 1.0)


def hz_to_mel(hz):
    """Hz -> mel (HTK): `2595 log10(1 + f / 700)`. Example: `hz_to_mel(700.)` -> 781.2."""
    return 2595.0 * tf.math.log(1.0 + tf_float32(hz) / 700.0) / math.log(10.0)


def mel_to_hz(mel):
    """Mel (HTK) -> Hz, the inverse of `hz_to_mel`."""
    return 700.0 * (10.0 ** (tf_float32(mel) / 2595.0) - 1.0)


def hz_to_erb(hz):
    """Equivalent rectangular bandwidth in Hz at frequency `hz`: `0.108 f + 24.7`."""
    return 0.108 * tf_float32(hz) + 24.7
