"""Tests for ddsp.core utilities, math, unit conversions, scaling and resampling.

Oscillators, wavetables, delay and FIR filtering are covered in test_core_dsp.py.
Every expected value comes from an independent reference: NumPy / SciPy / librosa,
TF's legacy image-resize kernels, or a closed form derived in a comment.
"""

import math

import gin
import librosa
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from ddsp import core, dags

SR = 16000


def _rand(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _np_softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))


def _np_hz_to_midi(hz):
    return librosa.hz_to_midi(np.asarray(hz, np.float64))


def _np_midi_to_hz(midi):
    return librosa.midi_to_hz(np.asarray(midi, np.float64))


def _np_unit_to_hz(unit, hz_min, hz_max):
    """Linear interpolation in MIDI between the limits; hz <= 0 counts as MIDI 0 (spec)."""
    m_min = 0.0 if hz_min <= 0 else _np_hz_to_midi(hz_min)
    m_max = _np_hz_to_midi(hz_max)
    return _np_midi_to_hz(m_min + (m_max - m_min) * np.asarray(unit, np.float64))


def _np_exp_sigmoid(x, exponent=10.0, max_value=2.0, threshold=1e-7):
    return max_value * _np_sigmoid(x) ** np.log(exponent) + threshold


# ------------------------------------------------------------------------------
# Utilities
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'value',
    [
        [1, 2, 3],
        np.array([1.5, -2.0], np.float64),
        np.array([[1, 2]], np.int64),
        tf.constant([4, 5], tf.int32),
        tf.constant([1.0], tf.float64),
        tf.Variable([2.0, 3.0], dtype=tf.float64),
        3,
    ],
)
def test_tf_float32(value):
    out = core.tf_float32(value)
    assert isinstance(out, tf.Tensor)
    assert out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), np.asarray(value, np.float32))


def test_make_iterable():
    assert core.make_iterable(None) == []
    assert core.make_iterable(3) == [3]
    arr = np.zeros([4, 2])
    wrapped = core.make_iterable(arr)
    assert isinstance(wrapped, list) and len(wrapped) == 1 and wrapped[0] is arr
    tensor = tf.zeros([4, 2])
    wrapped = core.make_iterable(tensor)
    assert len(wrapped) == 1 and wrapped[0] is tensor
    for iterable in ('abc', {'a': 1}, [1, 2], (1, 2)):
        assert core.make_iterable(iterable) is iterable


def test_to_dict():
    d = {'a': 1}
    assert core.to_dict(d, ['x', 'y']) is d
    assert core.to_dict((1, 2), ['amps', 'f0_hz']) == {'amps': 1, 'f0_hz': 2}
    tensor = tf.ones([2, 3])
    out = core.to_dict(tensor, ['amps'])
    assert list(out) == ['amps'] and out['amps'] is tensor
    with pytest.raises(ValueError):
        core.to_dict((1, 2, 3), ['a', 'b'])
    with pytest.raises(ValueError):
        core.to_dict(tensor, ['a', 'b'])


def test_copy_if_tf_function_eager_is_identity():
    d = {'a': 1}
    assert core.copy_if_tf_function(d) is d


def test_copy_if_tf_function_copies_in_graph():
    seen = {}

    @tf.function
    def fn(x):
        d = {'a': x}
        c = core.copy_if_tf_function(d)
        seen['same'] = c is d
        seen['shallow'] = c['a'] is d['a']
        c['b'] = 2.0 * x
        seen['original_keys'] = sorted(d)
        return c['a'] + c['b']

    np.testing.assert_allclose(fn(tf.constant(1.0)).numpy(), 3.0)
    assert seen == {'same': False, 'shallow': True, 'original_keys': ['a']}


NESTED = {'a': {'b': {'c': 1, 'd': 2}, 'e': 3}, 'f': 4}


def test_nested_keys():
    assert sorted(core.nested_keys(NESTED)) == ['a/b/c', 'a/b/d', 'a/e', 'f']
    assert sorted(core.nested_keys(NESTED, delimiter='.')) == ['a.b.c', 'a.b.d', 'a.e', 'f']
    assert sorted(core.nested_keys({'x': {'y': 1}, 'z': 2}, prefix='p')) == ['p/x/y', 'p/z']
    assert core.nested_keys({}) == []


def test_nested_lookup():
    assert core.nested_lookup('a/b/c', NESTED) == 1
    assert core.nested_lookup('a/e', NESTED) == 3
    assert core.nested_lookup('a/b', NESTED) == {'c': 1, 'd': 2}
    assert core.nested_lookup('a.b.d', NESTED, delimiter='.') == 2


@pytest.mark.parametrize('missing', ['a/b/x', 'g', 'a/e/z', 'a/b/c/d'])
def test_nested_lookup_missing_lists_available_keys(missing):
    with pytest.raises(KeyError) as info:
        core.nested_lookup(missing, NESTED)
    message = str(info.value)
    assert missing in message
    for key in ('a/b/c', 'a/b/d', 'a/e', 'f'):
        assert key in message


def test_leaf_key():
    assert core.leaf_key('a/b/c') == 'c'
    assert core.leaf_key('c') == 'c'
    assert core.leaf_key('a.b', delimiter='.') == 'b'


def test_map_shape():
    x = {'a': tf.zeros([2, 3]), 'b': {'c': tf.zeros([4]), 'd': tf.zeros([1, 2, 5])}}
    out = core.map_shape(x)
    assert [int(v) for v in out['a']] == [2, 3]
    assert [int(v) for v in out['b']['c']] == [4]
    assert [int(v) for v in out['b']['d']] == [1, 2, 5]


@pytest.mark.parametrize('axis', [0, 1, 2, -1, -2])
@pytest.mark.parametrize('padding', [(0, 0), (2, 0), (1, 3)])
def test_pad_axis(axis, padding):
    x = _rand([2, 3, 4])
    pads = [(0, 0)] * 3
    pads[axis] = padding
    np.testing.assert_array_equal(core.pad_axis(x, padding, axis=axis).numpy(), np.pad(x, pads))


def test_pad_axis_kwargs():
    x = _rand([2, 3])
    out = core.pad_axis(x, (1, 2), axis=1, constant_values=7.0)
    np.testing.assert_array_equal(out.numpy(), np.pad(x, [(0, 0), (1, 2)], constant_values=7.0))
    out = core.pad_axis(x, (2, 2), axis=1, mode='REFLECT')
    np.testing.assert_array_equal(out.numpy(), np.pad(x, [(0, 0), (2, 2)], mode='reflect'))


@pytest.mark.parametrize('axis', [0, 1, 2, -1])
@pytest.mark.parametrize('start, size', [(0, 2), (1, -1), (2, 1), (4, -1)])
def test_slice_axis_matches_indexing_and_its_gradient(axis, start, size):
    x = _rand([5, 6, 7])
    index = [slice(None)] * 3
    index[axis] = slice(start, None if size < 0 else start + size)
    index = tuple(index)
    np.testing.assert_array_equal(core.slice_axis(x, start, size, axis).numpy(), x[index])
    # The gradient scatters the upstream gradient back into zeros at the slice.
    xt = tf.constant(x)
    upstream = _rand(list(x[index].shape), seed=1)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = core.slice_axis(xt, start, size, axis)
    expected = np.zeros_like(x)
    expected[index] = upstream
    np.testing.assert_array_equal(tape.gradient(y, xt, output_gradients=upstream).numpy(), expected)


@pytest.mark.parametrize('axis', [0, 1, 2, -1, -3])
def test_diff(axis):
    x = _rand([3, 4, 5])
    out = core.diff(x, axis=axis)
    np.testing.assert_allclose(out.numpy(), np.diff(x, axis=axis), rtol=1e-6, atol=1e-6)


def test_diff_default_axis_and_errors():
    np.testing.assert_allclose(core.diff([[1.0, 4.0, 9.0]]).numpy(), [[3.0, 5.0]])
    for axis in (3, -4):
        with pytest.raises(ValueError):
            core.diff(tf.zeros([2, 3, 4]), axis=axis)


# ------------------------------------------------------------------------------
# Math
# ------------------------------------------------------------------------------
@pytest.mark.parametrize('value', [0.0, -3.5])
def test_nan_to_num(value):
    x = np.array([[1.0, np.nan], [np.nan, -2.0]], np.float32)
    np.testing.assert_array_equal(core.nan_to_num(x, value).numpy(), np.nan_to_num(x, nan=value))


def test_safe_divide():
    num = np.array([1.0, 2.0, -3.0, 0.5], np.float32)
    den = np.array([2.0, 0.0, 4.0, 0.0], np.float32)
    expected = num / np.where(den == 0.0, 1e-7, den)
    np.testing.assert_allclose(core.safe_divide(num, den).numpy(), expected, rtol=1e-6)
    expected = num / np.where(den == 0.0, 0.5, den)
    np.testing.assert_allclose(core.safe_divide(num, den, eps=0.5).numpy(), expected, rtol=1e-6)
    # Tiny but non-zero denominators are divided by as they are.
    np.testing.assert_allclose(core.safe_divide(1e-20, 1e-10).numpy(), 1e-10, rtol=1e-5)


def test_safe_log():
    x = np.array([2.0, 1.0, 0.0, -1.0, 1e-30], np.float32)
    expected = np.log(np.where(x <= 0.0, 1e-5, x).astype(np.float64))
    np.testing.assert_allclose(core.safe_log(x).numpy(), expected, rtol=1e-6)
    # log(1e-30) = -69.08 < log(1e-5): small positives are not clipped.
    assert core.safe_log(1e-30).numpy() < np.log(1e-5) - 50.0
    np.testing.assert_allclose(core.safe_log(0.0, eps=1e-3).numpy(), np.log(1e-3), rtol=1e-6)


@pytest.mark.parametrize('base', [2.0, 10.0, math.e, 3.0])
def test_logb(base):
    x = np.array([0.5, 1.0, 7.0, 1000.0], np.float32)
    np.testing.assert_allclose(core.logb(x, base).numpy(), np.log(x) / np.log(base), rtol=1e-5)
    np.testing.assert_allclose(core.logb(0.0, base).numpy(), np.log(1e-5) / np.log(base), rtol=1e-5)


def test_log10():
    x = np.array([1e-3, 0.5, 1.0, 10.0, 12345.0], np.float32)
    np.testing.assert_allclose(core.log10(x).numpy(), np.log10(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(core.log10(-1.0).numpy(), -5.0, rtol=1e-5)  # log10(1e-5)


def test_log_scale():
    x = np.linspace(-1.0, 1.0, 9).astype(np.float32)
    lo, hi = 20.0, 8000.0
    u = (x.astype(np.float64) + 1.0) / 2.0
    expected = np.exp((1.0 - u) * np.log(lo) + u * np.log(hi))
    out = core.log_scale(x, lo, hi).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    # Ends map onto the limits; 0 maps onto the geometric mean.
    np.testing.assert_allclose(out[[0, 4, -1]], [lo, np.sqrt(lo * hi), hi], rtol=1e-5)


@pytest.mark.parametrize('x_min,x_max', [(0.0, 1.0), (20.0, 8000.0), (-5.0, 5.0)])
def test_soft_limit_formula(x_min, x_max):
    x = np.linspace(x_min - 3 * (x_max - x_min), x_max + 3 * (x_max - x_min), 41)
    expected = x_min + _np_softplus(x - x_min) - _np_softplus(x - x_max)
    out = core.soft_limit(x.astype(np.float32), x_min, x_max).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4 * (x_max - x_min))
    assert np.all(out >= x_min - 1e-4) and np.all(out <= x_max + 1e-3)
    assert np.all(np.diff(out) >= 0.0)


def test_soft_limit_mid_range_passes_unchanged():
    # Far (>> 1) from both limits the softplus terms are x - x_min and ~0, so the
    # output is x itself, not x + x_min (the 3.7.0 bug, fixed here, see spec 6.3).
    x = np.array([100.0, 1000.0, 4000.0, 7900.0], np.float32)
    np.testing.assert_allclose(core.soft_limit(x, 20.0, 8000.0).numpy(), x, rtol=1e-6)
    # Far outside, it tends to the limits.
    np.testing.assert_allclose(
        core.soft_limit([-1e4, 1e5], 20.0, 8000.0).numpy(), [20.0, 8000.0], rtol=1e-6
    )
    # softplus(x) - softplus(x - 1) at x = 0.5 is softplus(0.5) - softplus(-0.5) = 0.5.
    np.testing.assert_allclose(core.soft_limit(0.5).numpy(), 0.5, rtol=1e-6)


def test_gradient_reversal():
    x = tf.constant(_rand([3, 4]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = core.gradient_reversal(x)
        loss = tf.reduce_sum(y * x)
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)
    # d/dx sum(g(x) * x) with g(x) forward = x, g'(x) = -1: x + (-1) * x = 0.
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(grad, np.zeros_like(grad), atol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(3.0 * core.gradient_reversal(x))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -3.0 * np.ones([3, 4]))


# ------------------------------------------------------------------------------
# Unit conversions
# ------------------------------------------------------------------------------
POWERS = np.array([[1e-12, 1e-9, 1e-8, 1e-4, 0.01, 1.0, 3.0, 0.0]], np.float32)


@pytest.mark.parametrize('use_tf', [True, False])
@pytest.mark.parametrize('ref_db,range_db', [(0.0, 80.0), (20.0, 80.0), (0.0, 60.0)])
def test_power_to_db(use_tf, ref_db, range_db):
    amin = 10.0 ** (-range_db / 10.0)
    expected = librosa.power_to_db(POWERS.astype(np.float64), ref=1.0, amin=amin, top_db=None)
    expected = np.maximum(expected - ref_db, -range_db)
    out = np.asarray(core.power_to_db(POWERS, ref_db=ref_db, range_db=range_db, use_tf=use_tf))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(core.power_to_db(0.01, use_tf=use_tf), -20.0, rtol=1e-6)


@pytest.mark.parametrize('use_tf', [True, False])
def test_amplitude_to_db(use_tf):
    amps = np.array([0.0, 1e-6, 1e-4, 0.1, 0.5, 1.0, 2.0], np.float32)
    # librosa: 20 log10(max(amin, |a|)) = 10 log10(max(amin^2, a^2)); amin = 1e-4 = 10^(-80/20).
    expected = librosa.amplitude_to_db(amps.astype(np.float64), ref=1.0, amin=1e-4, top_db=None)
    out = np.asarray(core.amplitude_to_db(amps, use_tf=use_tf))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('use_tf', [True, False])
def test_db_floor_is_absolute(use_tf):
    # A quiet signal peaking at -40 dB: librosa's top_db=80 floors relative to the max,
    # at -120 dB; ddsp floors at -80 dB regardless of the max.
    power = np.array([1e-4, 1e-7, 1e-10, 1e-13], np.float32)
    relative = librosa.power_to_db(power.astype(np.float64), ref=1.0, amin=1e-20, top_db=80.0)
    np.testing.assert_allclose(relative, [-40.0, -70.0, -100.0, -120.0], atol=1e-6)
    out = np.asarray(core.power_to_db(power, use_tf=use_tf))
    np.testing.assert_allclose(out, np.maximum(relative, -80.0), atol=1e-4)


def test_db_to_amplitude_and_power():
    db = np.linspace(-80.0, 20.0, 11).astype(np.float32)
    np.testing.assert_allclose(core.db_to_amplitude(db).numpy(), 10.0 ** (db / 20.0), rtol=1e-5)
    np.testing.assert_allclose(core.db_to_power(db).numpy(), 10.0 ** (db / 10.0), rtol=1e-5)
    # Inverses of the dB conversions above the floor.
    amps = np.array([1e-3, 0.2, 1.0, 5.0], np.float32)
    np.testing.assert_allclose(
        core.db_to_amplitude(core.amplitude_to_db(amps)).numpy(), amps, rtol=1e-4
    )
    np.testing.assert_allclose(core.db_to_power(core.power_to_db(amps)).numpy(), amps, rtol=1e-4)


def test_midi_to_hz():
    notes = np.array([0.0, 21.0, 60.0, 69.0, 69.5, 127.0], np.float32)
    np.testing.assert_allclose(core.midi_to_hz(notes).numpy(), librosa.midi_to_hz(notes), rtol=1e-5)
    np.testing.assert_allclose(core.midi_to_hz(69).numpy(), 440.0, rtol=1e-7)
    # MIDI 0 is 440 * 2^(-69/12) = 8.1758 Hz, unless it means silence.
    np.testing.assert_allclose(
        core.midi_to_hz([0.0, 69.0]).numpy(), [440.0 * 2.0 ** (-69.0 / 12.0), 440.0], rtol=1e-6
    )
    np.testing.assert_allclose(
        core.midi_to_hz([0.0, 69.0, 12.0], midi_zero_silence=True).numpy(),
        [0.0, 440.0, 440.0 * 2.0 ** (-57.0 / 12.0)],
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    'value',
    [
        [440.0, 880.0, 27.5, 1000.0, 0.0, -5.0],
        np.array([[261.63, 0.0], [-1.0, 8000.0]], np.float64),
        [440, 0, 220],
        tf.constant([440.0, 0.0], tf.float64),
    ],
)
def test_hz_to_midi(value):
    out = core.hz_to_midi(value)
    assert isinstance(out, tf.Tensor) and out.dtype == tf.float32
    hz = np.asarray(value, np.float64)
    expected = np.where(hz > 0.0, librosa.hz_to_midi(np.maximum(hz, 1e-3)), 0.0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-4)


def test_hz_to_midi_scalars():
    np.testing.assert_allclose(core.hz_to_midi(440.0).numpy(), 69.0, rtol=1e-6)
    assert core.hz_to_midi(0.0).numpy() == 0.0
    assert core.hz_to_midi(-100.0).numpy() == 0.0
    assert core.hz_to_midi(np.float64(880.0)).dtype == tf.float32


@pytest.mark.parametrize('midi_min,midi_max', [(20.0, 90.0), (0.0, 127.0), (30.5, 40.0)])
def test_unit_midi_round_trip(midi_min, midi_max):
    unit = np.linspace(0.0, 1.0, 11).astype(np.float32)
    midi = core.unit_to_midi(unit, midi_min, midi_max).numpy()
    np.testing.assert_allclose(midi, midi_min + (midi_max - midi_min) * unit, rtol=1e-6)
    np.testing.assert_allclose(core.midi_to_unit(midi, midi_min, midi_max).numpy(), unit, atol=1e-5)


def test_unit_midi_clip():
    unit = np.array([-0.5, 0.5, 1.5], np.float32)
    np.testing.assert_allclose(core.unit_to_midi(unit).numpy(), [-15.0, 55.0, 125.0], rtol=1e-6)
    np.testing.assert_allclose(core.unit_to_midi(unit, clip=True).numpy(), [20.0, 55.0, 90.0])
    midi = np.array([0.0, 55.0, 100.0], np.float32)
    np.testing.assert_allclose(core.midi_to_unit(midi).numpy(), (midi - 20.0) / 70.0, rtol=1e-6)
    np.testing.assert_allclose(core.midi_to_unit(midi, clip=True).numpy(), [0.0, 0.5, 1.0])


_UNITS = np.concatenate(
    [np.linspace(0.0, 1.0, n) for n in (4, 7, 11, 16, 101, 1001)] + [[-0.25, 1.5]]
)  # clip=False extrapolates linearly.


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize(
    'midi_min,midi_max', [(20.0, 90.0), (0.0, 127.0), (30.5, 40.0), (24.0, 84.0)]
)
def test_unit_to_midi_is_the_float32_rounding_of_the_formula(dtype, midi_min, midi_max):
    # The reference formula midi_min + (midi_max - midi_min) * unit evaluated exactly (in
    # float64 every product and sum of these inputs is exact) and rounded once to float32.
    unit = _UNITS.astype(dtype)
    expected = np.float32(midi_min + (midi_max - midi_min) * unit.astype(np.float64))
    out = core.unit_to_midi(unit, midi_min, midi_max).numpy()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        core.unit_to_midi(unit, midi_min, midi_max, clip=True).numpy(),
        np.float32(midi_min + (midi_max - midi_min) * np.clip(unit.astype(np.float64), 0, 1)),
    )


def test_unit_to_midi_rounds_once():
    # Float32 units 1/15 and 13/15 (linspace(0, 1, 16)) on the default [20, 90]: a float32
    # product then sum rounds twice and lands one float32 step from the nearest float32 of
    # the exact value; a single rounding does not.
    unit = np.linspace(0.0, 1.0, 16).astype(np.float32)[[1, 13]]
    exact = 20.0 + 70.0 * unit.astype(np.float64)
    twice = np.float32(20.0) + np.float32(70.0) * unit
    assert np.all(twice != np.float32(exact))
    np.testing.assert_array_equal(core.unit_to_midi(unit).numpy(), np.float32(exact))
    # Tensor bounds (as unit_to_hz passes them) take the same path.
    lo, hi = core.hz_to_midi(20.0), core.hz_to_midi(8000.0)
    exact = np.float64(lo) + (np.float64(hi) - np.float64(lo)) * unit.astype(np.float64)
    np.testing.assert_array_equal(core.unit_to_midi(unit, lo, hi).numpy(), np.float32(exact))


@pytest.mark.parametrize('hz_min,hz_max', [(20.0, 8000.0), (0.0, 8000.0), (55.0, 1760.0)])
def test_unit_hz(hz_min, hz_max):
    unit = np.linspace(0.0, 1.0, 11).astype(np.float32)
    hz = core.unit_to_hz(unit, hz_min, hz_max).numpy()
    np.testing.assert_allclose(hz, _np_unit_to_hz(unit, hz_min, hz_max), rtol=1e-4)
    np.testing.assert_allclose(core.hz_to_unit(hz, hz_min, hz_max).numpy(), unit, atol=1e-5)
    freqs = np.array([30.0, 100.0, 440.0, 5000.0], np.float32)
    back = core.unit_to_hz(core.hz_to_unit(freqs, hz_min, hz_max), hz_min, hz_max).numpy()
    np.testing.assert_allclose(back, freqs, rtol=1e-4)


def test_unit_hz_anchors_and_clip():
    # The MIDI midpoint of 220 and 880 Hz is the geometric mean, 440 Hz.
    np.testing.assert_allclose(core.unit_to_hz(0.5, 220.0, 880.0).numpy(), 440.0, rtol=1e-5)
    # hz_min = 0 means MIDI 0, i.e. 8.1758 Hz.
    np.testing.assert_allclose(
        core.unit_to_hz(0.0, 0.0, 8000.0).numpy(), 440.0 * 2.0 ** (-69.0 / 12.0), rtol=1e-5
    )
    out = core.unit_to_hz([-1.0, 2.0], 20.0, 8000.0, clip=True).numpy()
    np.testing.assert_allclose(out, [20.0, 8000.0], rtol=1e-4)
    out = core.unit_to_hz([-1.0, 2.0], 20.0, 8000.0).numpy()
    assert out[0] < 19.0 and out[1] > 8100.0
    out = core.hz_to_unit([5.0, 20000.0], 20.0, 8000.0, clip=True).numpy()
    np.testing.assert_allclose(out, [0.0, 1.0])


def test_bark():
    hz = np.array([20.0, 100.0, 500.0, 1960.0, 4000.0, 8000.0], np.float32)
    # Traunmueller (1990): z = 26.81 f / (1960 + f) - 0.53; at f = 1960, z = 26.81/2 - 0.53.
    expected = 26.81 * hz.astype(np.float64) / (1960.0 + hz) - 0.53
    bark = core.hz_to_bark(hz).numpy()
    np.testing.assert_allclose(bark, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bark[3], 26.81 / 2 - 0.53, rtol=1e-6)
    np.testing.assert_allclose(core.bark_to_hz(bark).numpy(), hz, rtol=1e-4)


def test_mel_htk():
    hz = np.array([0.0, 20.0, 440.0, 1000.0, 4000.0, 8000.0], np.float32)
    mel = core.hz_to_mel(hz).numpy()
    np.testing.assert_allclose(
        mel, librosa.hz_to_mel(hz.astype(np.float64), htk=True), rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(
        core.mel_to_hz(mel).numpy(),
        librosa.mel_to_hz(mel.astype(np.float64), htk=True),
        rtol=1e-5,
        atol=1e-3,
    )
    np.testing.assert_allclose(core.mel_to_hz(mel).numpy(), hz, rtol=1e-4, atol=1e-3)


def test_erb():
    hz = np.array([0.0, 100.0, 1000.0, 8000.0], np.float32)
    np.testing.assert_allclose(core.hz_to_erb(hz).numpy(), 0.108 * hz + 24.7, rtol=1e-6)
    # Glasberg & Moore (1990): 24.7 (4.37 f / 1000 + 1), whose slope 0.10794 rounds to 0.108.
    glasberg_moore = 24.7 * (4.37 * hz.astype(np.float64) / 1000.0 + 1.0)
    np.testing.assert_allclose(core.hz_to_erb(hz).numpy(), glasberg_moore, rtol=1e-3)


# ------------------------------------------------------------------------------
# Scaling nonlinearities
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'kwargs',
    [
        {},
        {'exponent': 2.0},
        {'max_value': 1.0, 'threshold': 1e-3},
        {'exponent': 20.0, 'max_value': 5.0, 'threshold': 0.0},
    ],
)
def test_exp_sigmoid(kwargs):
    x = np.linspace(-8.0, 8.0, 33).astype(np.float32)
    np.testing.assert_allclose(
        core.exp_sigmoid(x, **kwargs).numpy(), _np_exp_sigmoid(x, **kwargs), rtol=1e-5, atol=1e-7
    )


def test_exp_sigmoid_defaults():
    # 2 * 0.5^ln(10) + 1e-7; the range is [1e-7, 2 + 1e-7].
    np.testing.assert_allclose(
        core.exp_sigmoid(0.0).numpy(), 2.0 * 0.5 ** np.log(10.0) + 1e-7, rtol=1e-6
    )
    np.testing.assert_allclose(
        core.exp_sigmoid([-200.0, 200.0]).numpy(), [1e-7, 2.0 + 1e-7], rtol=1e-6
    )


def test_sym_exp_sigmoid():
    x = np.linspace(-6.0, 6.0, 25).astype(np.float32)
    for width in (8.0, 3.0):
        expected = _np_exp_sigmoid(width * (np.abs(x) / 2.0 - 1.0))
        out = core.sym_exp_sigmoid(x, width=width).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(out, out[::-1], rtol=1e-6)


def _np_frequencies_softmax(logits, depth, hz_min, hz_max):
    b, t, nd = logits.shape
    x = logits.reshape(b, t, nd // depth, depth).astype(np.float64)
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    unit = (p * np.linspace(0.0, 1.0, depth)).sum(-1)
    return _np_unit_to_hz(unit, hz_min, hz_max)


@pytest.mark.parametrize('depth', [1, 4])
@pytest.mark.parametrize('hz_min,hz_max', [(20.0, 8000.0), (0.0, 2000.0)])
def test_frequencies_softmax(depth, hz_min, hz_max):
    logits = _rand([2, 3, 5 * depth], seed=1, scale=2.0)
    expected = _np_frequencies_softmax(logits, depth, hz_min, hz_max)
    out3 = core.frequencies_softmax(logits, depth=depth, hz_min=hz_min, hz_max=hz_max)
    out4 = core.frequencies_softmax(
        logits.reshape(2, 3, 5, depth), depth=depth, hz_min=hz_min, hz_max=hz_max
    )
    assert out3.shape == (2, 3, 5) and out4.shape == (2, 3, 5)
    np.testing.assert_allclose(out3.numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(out4.numpy(), expected, rtol=1e-4)


def _np_frequencies_sigmoid(logits4, hz_min, hz_max):
    """Spec: sum of unit_to_hz(sigmoid(x_d)) over widths R(1 - 1/s)/s^d, last [hz_min, ...]."""
    depth = logits4.shape[-1]
    s = _np_sigmoid(logits4)
    width = hz_max - hz_min
    scale = width ** (1.0 / depth)
    total = 0.0
    for d in range(depth - 1):
        total = total + _np_unit_to_hz(s[..., d], 0.0, width * (1.0 - 1.0 / scale) / scale**d)
    return total + _np_unit_to_hz(s[..., -1], hz_min, hz_min + width / scale ** (depth - 1))


@pytest.mark.parametrize('depth', [1, 2, 3])
@pytest.mark.parametrize('hz_min,hz_max', [(0.0, 8000.0), (20.0, 4000.0)])
def test_frequencies_sigmoid(depth, hz_min, hz_max):
    logits = _rand([2, 3, 4 * depth], seed=2, scale=3.0)
    expected = _np_frequencies_sigmoid(logits.reshape(2, 3, 4, depth), hz_min, hz_max)
    for x in (logits, logits.reshape(2, 3, 4, depth)):
        out = core.frequencies_sigmoid(x, depth=depth, hz_min=hz_min, hz_max=hz_max)
        assert out.shape == (2, 3, 4)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4)
    if depth == 1:
        np.testing.assert_allclose(
            core.frequencies_sigmoid(logits, hz_min=hz_min, hz_max=hz_max).numpy(),
            _np_unit_to_hz(_np_sigmoid(logits), hz_min, hz_max),
            rtol=1e-4,
        )


@pytest.mark.parametrize('depth', [1, 2, 4])
def test_frequencies_sigmoid_range(depth):
    hz_min, hz_max = 20.0, 8000.0
    # Saturated high: each component reaches the top of its sub-range, and the widths
    # R(1 - 1/s)(1 + 1/s + ... + 1/s^(depth-2)) + R/s^(depth-1) sum to R, so the total is hz_max.
    high = core.frequencies_sigmoid(
        np.full([1, 1, depth], 50.0, np.float32), depth=depth, hz_min=hz_min, hz_max=hz_max
    ).numpy()
    np.testing.assert_allclose(high, [[[hz_max]]], rtol=1e-4)
    # Saturated low: each coarse component gives unit_to_hz(0, 0, w) = MIDI 0 = 8.1758 Hz
    # (hz_min = 0 means MIDI 0), the last gives hz_min.
    low = core.frequencies_sigmoid(
        np.full([1, 1, depth], -50.0, np.float32), depth=depth, hz_min=hz_min, hz_max=hz_max
    ).numpy()
    midi_zero_hz = 440.0 * 2.0 ** (-69.0 / 12.0)
    np.testing.assert_allclose(low, [[[hz_min + (depth - 1) * midi_zero_hz]]], rtol=1e-4)
    out = core.frequencies_sigmoid(
        _rand([2, 50, 3 * depth], seed=3, scale=5.0), depth=depth, hz_min=hz_min, hz_max=hz_max
    ).numpy()
    assert out.min() >= hz_min - 1e-3 and out.max() <= hz_max * (1 + 1e-5)


def _np_critical_bands(x4, depth_scale, bandwidth_scale, hz_min, hz_max, scale):
    if scale == 'bark':
        to_s = lambda f: 26.81 * f / (1960.0 + f) - 0.53
        from_s = lambda z: 1960.0 * (z + 0.53) / (26.81 - 0.53 - z)
    else:
        to_s = lambda f: librosa.hz_to_mel(f, htk=True)
        from_s = lambda m: librosa.mel_to_hz(m, htk=True)
    n, depth = x4.shape[2], x4.shape[3]
    centres = from_s(np.linspace(to_s(hz_min), to_s(hz_max), n))
    erb = 24.7 + 0.108 * centres
    offsets = (np.tanh(x4.astype(np.float64)) * depth_scale ** -np.arange(depth)).sum(-1)
    f = centres + bandwidth_scale * erb * offsets
    return hz_min + _np_softplus(f - hz_min) - _np_softplus(f - hz_max)


@pytest.mark.parametrize('scale', ['bark', 'mel'])
@pytest.mark.parametrize('depth,depth_scale,bandwidth_scale', [(1, 10.0, 1.0), (3, 4.0, 2.5)])
def test_frequencies_critical_bands(scale, depth, depth_scale, bandwidth_scale):
    hz_min, hz_max = 20.0, 8000.0
    x = _rand([2, 3, 6 * depth], seed=4, scale=2.0)
    expected = _np_critical_bands(
        x.reshape(2, 3, 6, depth), depth_scale, bandwidth_scale, hz_min, hz_max, scale
    )
    for inputs in (x, x.reshape(2, 3, 6, depth)):
        out = core.frequencies_critical_bands(
            inputs,
            depth=depth,
            depth_scale=depth_scale,
            bandwidth_scale=bandwidth_scale,
            hz_min=hz_min,
            hz_max=hz_max,
            scale=scale,
        )
        assert out.shape == (2, 3, 6)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4)
    # Extreme inputs stay inside the soft limits.
    out = core.frequencies_critical_bands(
        100.0 * x, depth=depth, depth_scale=depth_scale, bandwidth_scale=50.0, scale=scale
    ).numpy()
    assert out.min() >= hz_min - 1e-3 and out.max() <= hz_max + 1e-2


def test_frequencies_critical_bands_zero_input_is_even_on_bark():
    # With tanh(0) = 0 the bands are the centres; away from the edges soft_limit is the
    # identity, so the Bark values of the interior bands are evenly spaced.
    out = core.frequencies_critical_bands(np.zeros([1, 1, 10], np.float32)).numpy()[0, 0]
    bark = 26.81 * out / (1960.0 + out) - 0.53
    expected = np.linspace(26.81 * 20 / 1980 - 0.53, 26.81 * 8000 / 9960 - 0.53, 10)
    np.testing.assert_allclose(bark[1:-1], expected[1:-1], rtol=1e-4)


def test_frequencies_critical_bands_invalid_scale():
    with pytest.raises(ValueError):
        core.frequencies_critical_bands(np.zeros([1, 1, 4], np.float32), scale='erb')


# ------------------------------------------------------------------------------
# Resampling
# ------------------------------------------------------------------------------
_RAW_RESIZE = {
    'nearest': tf.raw_ops.ResizeNearestNeighbor,
    'linear': tf.raw_ops.ResizeBilinear,
    'cubic': tf.raw_ops.ResizeBicubic,
}
_V1_METHOD = {'nearest': 'nearest', 'linear': 'bilinear', 'cubic': 'bicubic'}


def _reference_resize(x, n_out, method, add_endpoint):
    """Resizes axis 1 of `x` (rank 1-4) with TF's legacy image kernels (independent path)."""
    x = np.asarray(x, np.float32)
    rank = x.ndim
    if rank == 1:
        image = x[None, :, None, None]
    elif rank == 2:
        image = x[:, :, None, None]
    elif rank == 3:
        image = x[:, :, None, :]
    else:
        image = x  # [B, T, F, C] is an image of height T and width F; resize height only.
    size = [n_out, image.shape[2]]
    raw = _RAW_RESIZE[method](
        images=image, size=size, align_corners=not add_endpoint, half_pixel_centers=False
    ).numpy()
    v1 = tf.compat.v1.image.resize(
        image, size, method=_V1_METHOD[method], align_corners=not add_endpoint
    ).numpy()
    np.testing.assert_allclose(raw, v1, rtol=1e-6, atol=1e-6)
    if rank == 1:
        return raw[0, :, 0, 0]
    if rank == 2:
        return raw[:, :, 0, 0]
    if rank == 3:
        return raw[:, :, 0, :]
    return raw


_SHAPES = {1: [7], 2: [2, 7], 3: [2, 7, 3], 4: [2, 7, 4, 3]}


@pytest.mark.parametrize('method', ['nearest', 'linear', 'cubic'])
@pytest.mark.parametrize('add_endpoint', [True, False])
@pytest.mark.parametrize('rank', [1, 2, 3, 4])
@pytest.mark.parametrize('n_out', [28, 16, 7, 5])
def test_resample_matches_legacy_resize(method, add_endpoint, rank, n_out):
    x = _rand(_SHAPES[rank], seed=rank)
    out = core.resample(x, n_out, method=method, add_endpoint=add_endpoint)
    expected = _reference_resize(x, n_out, method, add_endpoint)
    assert out.shape == expected.shape
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=3e-6)


@pytest.mark.parametrize('method', ['nearest', 'linear', 'cubic'])
def test_resample_frames_land_on_hops_and_last_frame_held(method):
    n_frames, hop = 6, 5
    x = _rand([2, n_frames, 3], seed=5)
    out = core.resample(x, n_frames * hop, method=method).numpy()
    # Source coordinate i * T_in / T_out = i / hop: frame k sits exactly at sample k * hop.
    np.testing.assert_allclose(out[:, ::hop], x, rtol=1e-6, atol=1e-6)
    # Beyond the last frame there is nothing to interpolate towards: it is held. (The legacy
    # cubic kernel clamps taps at the edge but still reads frame T-2 through its -1 tap, so it
    # only holds the last frame on the hop itself; the resize test above covers its values.)
    if method != 'cubic':
        np.testing.assert_allclose(
            out[:, -hop:], np.repeat(x[:, -1:], hop, axis=1), rtol=1e-6, atol=1e-6
        )


@pytest.mark.parametrize('method', ['nearest', 'linear', 'cubic'])
def test_resample_align_corners_endpoints(method):
    x = _rand([1, 5, 2], seed=6)
    out = core.resample(x, 17, method=method, add_endpoint=False).numpy()
    # i * (T_in - 1) / (T_out - 1) with hop 4: frame k at sample 4 k, last frame at the end.
    np.testing.assert_allclose(out[:, ::4], x, rtol=1e-6, atol=1e-6)


def test_resample_linear_analytic():
    # A ramp is reproduced exactly by linear interpolation at the source coordinates.
    x = np.arange(5, dtype=np.float32)[None, :, None]
    out = core.resample(x, 20, 'linear').numpy()[0, :, 0]
    np.testing.assert_allclose(out, np.minimum(np.arange(20) / 4.0, 4.0), rtol=1e-6)
    out = core.resample(x, 9, 'linear', add_endpoint=False).numpy()[0, :, 0]
    np.testing.assert_allclose(out, np.arange(9) / 2.0, rtol=1e-6)


def test_resample_window_delegates_and_errors():
    x = np.abs(_rand([2, 4, 3], seed=7))
    np.testing.assert_allclose(
        core.resample(x, 16, 'window').numpy(), core.upsample_with_windows(x, 16).numpy()
    )
    np.testing.assert_allclose(
        core.resample(x, 15, 'window', add_endpoint=False).numpy(),
        core.upsample_with_windows(x, 15, add_endpoint=False).numpy(),
    )
    with pytest.raises(ValueError):
        core.resample(x, 16, method='sinc')
    with pytest.raises(ValueError):
        core.resample(np.zeros([1, 2, 3, 4, 5], np.float32), 8)
    with pytest.raises(ValueError):
        core.resample(np.zeros([2, 4], np.float32), 16, method='window')


def _np_upsample_with_windows(x, n_timesteps, add_endpoint=True):
    """The spec, literally: append, Hann-window every frame, overlap-add at hop, trim."""
    x = np.asarray(x, np.float64)
    if add_endpoint:
        x = np.concatenate([x, x[:, -1:]], axis=1)
    n_frames = x.shape[1]
    hop = n_timesteps // (n_frames - 1)
    window = scipy.signal.get_window('hann', 2 * hop, fftbins=True)  # periodic
    out = np.zeros([x.shape[0], (n_frames + 1) * hop, x.shape[2]])
    for k in range(n_frames):
        out[:, k * hop : k * hop + 2 * hop] += x[:, k : k + 1] * window[None, :, None]
    return out[:, hop:-hop]


@pytest.mark.parametrize(
    'n_frames,n_timesteps,add_endpoint',
    [
        (4, 16, True),
        (5, 5, True),
        (3, 30, True),
        (1, 8, True),
        (4, 15, False),
        (5, 8, False),
        (2, 10, False),
    ],
)
def test_upsample_with_windows_matches_overlap_add(n_frames, n_timesteps, add_endpoint):
    x = _rand([2, n_frames, 3], seed=8)
    out = core.upsample_with_windows(x, n_timesteps, add_endpoint=add_endpoint)
    expected = _np_upsample_with_windows(x, n_timesteps, add_endpoint)
    assert out.shape == (2, n_timesteps, 3) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_upsample_with_windows_numpy_hann_is_periodic():
    # Guard on the reference itself: periodic Hann == np.hanning(2 hop + 1)[:-1].
    np.testing.assert_allclose(
        scipy.signal.get_window('hann', 8, fftbins=True), np.hanning(9)[:-1], atol=1e-12
    )


def test_upsample_with_windows_frames_on_hops_and_constants():
    x = _rand([1, 5, 2], seed=9)
    out = core.upsample_with_windows(x, 20).numpy()
    # The window peaks (1) at the frame's own hop, where the neighbours' windows are 0.
    np.testing.assert_allclose(out[:, ::4], x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[:, -4:], np.repeat(x[:, -1:], 4, axis=1), rtol=1e-6)
    for add_endpoint, n in ((True, 64), (False, 60)):
        const = core.upsample_with_windows(
            np.full([2, 4, 3], 0.7, np.float32), n, add_endpoint=add_endpoint
        ).numpy()
        # Periodic Hann windows at 50 % overlap sum to one.
        np.testing.assert_allclose(const, np.full([2, n, 3], 0.7), rtol=1e-6)


def test_upsample_with_windows_errors():
    with pytest.raises(ValueError):
        core.upsample_with_windows(np.zeros([4, 16], np.float32), 64)
    with pytest.raises(ValueError):
        core.upsample_with_windows(np.zeros([1, 4, 16, 1], np.float32), 64)
    with pytest.raises(ValueError, match=r'(?s)(?=.*\b10\b)(?=.*\b5\b)'):
        core.upsample_with_windows(np.zeros([1, 10, 1], np.float32), 5)
    # Three frames with the endpoint appended give three intervals, which do not divide 10.
    with pytest.raises(ValueError, match=r'(?s)(?=.*\b10\b)(?=.*\b3\b)'):
        core.upsample_with_windows(np.zeros([1, 3, 1], np.float32), 10)
    # Without it four frames give three intervals: 9 works, 8 does not.
    assert core.upsample_with_windows(
        np.zeros([1, 4, 1], np.float32), 9, add_endpoint=False
    ).shape == (1, 9, 1)
    with pytest.raises(ValueError, match=r'(?s)(?=.*\b8\b)(?=.*\b3\b)'):
        core.upsample_with_windows(np.zeros([1, 4, 1], np.float32), 8, add_endpoint=False)


@pytest.mark.parametrize('frame_size', [1, 4, 5, 64])
def test_center_crop(frame_size):
    audio = _rand([2, 100], seed=10)
    crop = frame_size // 2
    out = core.center_crop(tf.constant(audio), frame_size)
    assert out.shape == (2, 100 - 2 * crop)
    np.testing.assert_array_equal(out.numpy(), audio[:, crop : 100 - crop])


# ------------------------------------------------------------------------------
# Synth-control conversions
# ------------------------------------------------------------------------------
def _np_sinusoidal_to_harmonic(amps, freqs, f0, width, n_harmonics, sample_rate, normalize):
    amps, freqs, f0 = (np.asarray(v, np.float64) for v in (amps, freqs, f0))
    harm_freqs = f0 * np.arange(1, n_harmonics + 1)  # [B, T, H]
    distance = np.abs(freqs[:, :, None, :] - harm_freqs[..., None]) / f0[..., None]
    weights = np.exp(-((distance / width) ** 2))  # [B, T, H, N]
    if normalize:
        weights = weights / np.maximum(weights.sum(-1, keepdims=True), 1.0)
    harm_amps = (weights * amps[:, :, None, :]).sum(-1)
    harm_amps = np.where(harm_freqs >= sample_rate / 2, 0.0, harm_amps)
    total = harm_amps.sum(-1, keepdims=True)
    return total, harm_amps / np.where(total == 0.0, 1e-7, total)


@pytest.mark.parametrize('normalize', [False, True])
@pytest.mark.parametrize('width', [0.1, 0.6])
def test_sinusoidal_to_harmonic_matches_numpy(normalize, width):
    rng = np.random.default_rng(11)
    f0 = rng.uniform(200.0, 1500.0, [2, 3, 1]).astype(np.float32)
    freqs = rng.uniform(100.0, 9000.0, [2, 3, 6]).astype(np.float32)
    amps = rng.uniform(0.0, 1.0, [2, 3, 6]).astype(np.float32)
    amp, dist = core.sinusoidal_to_harmonic(
        amps, freqs, f0, harmonic_width=width, n_harmonics=12, normalize=normalize
    )
    e_amp, e_dist = _np_sinusoidal_to_harmonic(amps, freqs, f0, width, 12, SR, normalize)
    assert amp.shape == (2, 3, 1) and dist.shape == (2, 3, 12)
    np.testing.assert_allclose(amp.numpy(), e_amp, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dist.numpy(), e_dist, rtol=1e-4, atol=1e-5)


def test_sinusoid_on_third_harmonic():
    f0 = np.full([1, 2, 1], 220.0, np.float32)
    amps = np.full([1, 2, 1], 0.8, np.float32)
    freqs = 3.0 * f0
    amp, dist = core.sinusoidal_to_harmonic(amps, freqs, f0, n_harmonics=10)
    # Weight exp(0) = 1 on harmonic 3; its neighbours are 1/width = 10 widths away,
    # weight exp(-100), below float32 resolution.
    np.testing.assert_allclose(amp.numpy(), amps, rtol=1e-6)
    np.testing.assert_allclose(dist.numpy(), np.eye(10)[2][None, None].repeat(2, 1), atol=1e-6)


def test_sinusoidal_to_harmonic_normalize_caps_weights():
    f0 = np.full([1, 1, 1], 300.0, np.float32)
    freqs = np.full([1, 1, 2], 600.0, np.float32)  # Both exactly on harmonic 2.
    amps = np.array([[[0.2, 0.6]]], np.float32)
    amp, _ = core.sinusoidal_to_harmonic(amps, freqs, f0, n_harmonics=4)
    np.testing.assert_allclose(amp.numpy(), [[[0.8]]], rtol=1e-6)  # Sum of weights 1 + 1.
    amp, _ = core.sinusoidal_to_harmonic(amps, freqs, f0, n_harmonics=4, normalize=True)
    np.testing.assert_allclose(amp.numpy(), [[[0.4]]], rtol=1e-6)  # Weights capped: 1/2 each.


def test_sinusoidal_to_harmonic_drops_above_nyquist():
    f0 = np.full([1, 1, 1], 3000.0, np.float32)
    freqs = np.array([[[6000.0, 9000.0]]], np.float32)  # Harmonics 2 and 3; 9 kHz > 8 kHz.
    amps = np.array([[[0.5, 0.7]]], np.float32)
    amp, dist = core.sinusoidal_to_harmonic(amps, freqs, f0, n_harmonics=4, sample_rate=SR)
    np.testing.assert_allclose(amp.numpy(), [[[0.5]]], rtol=1e-6)
    np.testing.assert_allclose(dist.numpy(), [[[0.0, 1.0, 0.0, 0.0]]], atol=1e-6)
    amp, dist = core.sinusoidal_to_harmonic(amps[..., 1:], freqs[..., 1:], f0, n_harmonics=4)
    np.testing.assert_allclose(amp.numpy(), [[[0.0]]])
    np.testing.assert_allclose(dist.numpy(), np.zeros([1, 1, 4]))


def test_harmonic_to_sinusoidal():
    rng = np.random.default_rng(12)
    f0 = np.array([[[1500.0], [700.0]]], np.float32)
    harm_amp = np.array([[[0.3], [0.9]]], np.float32)
    dist = rng.uniform(0.1, 1.0, [1, 2, 8]).astype(np.float32)
    amps, freqs = core.harmonic_to_sinusoidal(harm_amp, dist, f0, sample_rate=SR)
    k = np.arange(1, 9)
    np.testing.assert_allclose(freqs.numpy(), f0 * k, rtol=1e-6)
    kept = np.where(f0 * k >= SR / 2, 0.0, dist)  # 1500 Hz: harmonics 6-8 are >= 8 kHz.
    expected = harm_amp * kept / kept.sum(-1, keepdims=True)
    np.testing.assert_allclose(amps.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert np.all(amps.numpy()[0, 0, 5:] == 0.0)


def test_harmonic_sinusoidal_round_trip():
    rng = np.random.default_rng(13)
    f0 = np.array([[[1500.0], [440.0], [2100.0]]], np.float32)
    harm_amp = rng.uniform(0.1, 1.0, [1, 3, 1]).astype(np.float32)
    dist = rng.uniform(0.05, 1.0, [1, 3, 10]).astype(np.float32)
    dist /= dist.sum(-1, keepdims=True)
    amps, freqs = core.harmonic_to_sinusoidal(harm_amp, dist, f0)
    amp2, dist2 = core.sinusoidal_to_harmonic(amps, freqs, f0, n_harmonics=10)
    kept = np.where(f0 * np.arange(1, 11) >= SR / 2, 0.0, dist)
    np.testing.assert_allclose(amp2.numpy(), harm_amp, rtol=1e-5)
    np.testing.assert_allclose(
        dist2.numpy(), kept / kept.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7
    )


# ------------------------------------------------------------------------------
# Gin
# ------------------------------------------------------------------------------
@gin.configurable('apply_scale_fn', module='test_core')
def apply_scale_fn(x, scale_fn=None):
    return scale_fn(x)


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


@pytest.mark.parametrize(
    'name,args',
    [
        ('exp_sigmoid', {}),
        ('sym_exp_sigmoid', {}),
        ('frequencies_softmax', {}),
        ('frequencies_sigmoid', {}),
        ('frequencies_critical_bands', {}),
    ],
)
def test_registered_scale_functions_referenced_from_gin(clean_gin, name, args):
    gin.parse_config(f'test_core.apply_scale_fn.scale_fn = @core.{name}')
    x = _rand([1, 2, 4], seed=14)
    np.testing.assert_allclose(apply_scale_fn(x).numpy(), getattr(core, name)(x).numpy(), rtol=1e-6)


def test_registered_binding_applies_only_through_reference(clean_gin):
    gin.parse_config("""
        apply_scale_fn.scale_fn = @exp_sigmoid
        core.exp_sigmoid.max_value = 4.0
    """)
    x = np.array([-3.0, 0.0, 50.0], np.float32)
    np.testing.assert_allclose(
        apply_scale_fn(x).numpy(), _np_exp_sigmoid(x, max_value=4.0), rtol=1e-5
    )
    # gin.register: a direct Python call ignores the binding.
    np.testing.assert_allclose(core.exp_sigmoid(x).numpy(), _np_exp_sigmoid(x), rtol=1e-5)


_GIN_REGISTERED = [
    'exp_sigmoid',
    'sym_exp_sigmoid',
    'frequencies_softmax',
    'frequencies_sigmoid',
    'frequencies_critical_bands',
]
_GIN_CONFIGURABLE = ['angular_cumsum', 'oscillator_bank', 'harmonic_oscillator_bank']


@pytest.mark.parametrize('prefix', ['', 'core.', 'ddsp.core.'])
def test_gin_names_resolve_under_ddsp_core(clean_gin, prefix):
    # The functions live in submodules of the package, but gin knows them as ddsp.core.*.
    for name in _GIN_REGISTERED:
        gin.parse_config(f'test_core.apply_scale_fn.scale_fn = @{prefix}{name}')
        assert apply_scale_fn(np.zeros([1, 2, 4], np.float32)).shape[:2] == (1, 2)
    gin.parse_config(
        '\n'.join(f'{prefix}{name}.sample_rate = 8000' for name in _GIN_CONFIGURABLE[1:])
        + f'\n{prefix}angular_cumsum.chunk_size = 7'
    )
    for name in _GIN_CONFIGURABLE[1:]:
        assert gin.query_parameter(f'ddsp.core.{name}.sample_rate') == 8000
    assert gin.query_parameter('ddsp.core.angular_cumsum.chunk_size') == 7


def test_public_names_serialize_under_ddsp_core():
    # Saved configs name functions by module and name: the package is their address.
    for name in core.__all__:
        obj = getattr(core, name)
        if callable(obj):  # (f32 is an alias: it saves as tf_float32.)
            path = dags.serialize_function(obj)
            assert path == f'ddsp.core.{obj.__name__}', name
            assert dags.deserialize_function(path) is obj


def test_oscillator_bank_configurable(clean_gin):
    freqs = np.array([[[100.0, 300.0]] * 8], np.float32)
    amps = np.full([1, 8, 2], 0.5, np.float32)
    summed = core.oscillator_bank(freqs, amps)
    assert summed.shape == (1, 8)
    gin.parse_config('oscillator_bank.sum_sinusoids = False')
    # gin.configurable: the binding applies to a direct call ...
    separate = core.oscillator_bank(freqs, amps)
    assert separate.shape == (1, 8, 2)
    np.testing.assert_allclose(tf.reduce_sum(separate, -1).numpy(), summed.numpy(), atol=1e-6)
    # ... and a caller-supplied argument still wins.
    assert core.oscillator_bank(freqs, amps, sum_sinusoids=True).shape == (1, 8)


# ------------------------------------------------------------------------------
# Graph and XLA equal eager
# ------------------------------------------------------------------------------
_GRAPH_CASES = {
    'resample_nearest': (lambda x: core.resample(x, 20, 'nearest'), [2, 5, 3]),
    'resample_linear': (lambda x: core.resample(x, 20, 'linear'), [2, 5, 3]),
    'resample_cubic': (lambda x: core.resample(x, 20, 'cubic'), [2, 5, 3]),
    'resample_linear_no_endpoint_4d': (
        lambda x: core.resample(x, 17, 'linear', False),
        [2, 5, 2, 3],
    ),
    'resample_cubic_1d': (lambda x: core.resample(x, 13, 'cubic', False), [5]),
    'resample_window': (lambda x: core.resample(x, 20, 'window'), [2, 5, 3]),
    'upsample_with_windows': (lambda x: core.upsample_with_windows(x, 16, False), [2, 5, 3]),
    'exp_sigmoid': (core.exp_sigmoid, [2, 5, 3]),
    'hz_to_midi': (lambda x: core.hz_to_midi(300.0 * x), [2, 5, 3]),
}


@pytest.mark.parametrize('jit_compile', [False, True])
@pytest.mark.parametrize('name', sorted(_GRAPH_CASES))
def test_graph_and_xla_equal_eager(name, jit_compile):
    fn, shape = _GRAPH_CASES[name]
    x = tf.constant(_rand(shape, seed=15))  # hz_to_midi gets negative inputs too (-> 0).
    eager = fn(x).numpy()
    graph = tf.function(fn, jit_compile=jit_compile)(x).numpy()
    assert graph.shape == eager.shape
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-6)
