"""Tests of ddsp.validation: the one message format and each check's accept/reject rule."""

import fractions
import math
import re

import numpy as np
import pytest

from ddsp import validation


def _raises(expected_message, fn, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    assert str(info.value) == expected_message
    return info.value


def test_message_format_names_owner_expectation_and_value():
    assert validation.message('Harmonic', 'n_samples', 'a positive integer', 0) == (
        'Harmonic: n_samples must be a positive integer; received n_samples=0.'
    )
    # No owner: no prefix; strings are shown quoted (repr), so '' and ' ' are visible.
    assert validation.message('', 'mode', 'one of [1]', '') == (
        "mode must be one of [1]; received mode=''."
    )


@pytest.mark.parametrize('value', [1, 64000, np.int64(7), np.int32(3)])
def test_check_int_accepts_integers_and_returns_python_ints(value):
    result = validation.check_int('X', 'n', value)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize('value', [0, -3, 1.0, 2.5, True, '4', None, math.nan])
def test_check_int_rejects_non_integers_and_values_below_the_minimum(value):
    _raises(
        f'X: n must be a positive integer; received n={value!r}.',
        validation.check_int,
        'X',
        'n',
        value,
    )


def test_check_int_minimum_and_hint():
    assert validation.check_int('Reverb', 'length', 0, minimum=0) == 0
    _raises(
        'Reverb: length must be an integer >= 0 (0 means all); received length=-1.',
        validation.check_int,
        'Reverb',
        'length',
        -1,
        minimum=0,
        hint='(0 means all)',
    )


@pytest.mark.parametrize(
    'kwargs, good, bad',
    [
        ({}, [-1.5, 0, 3], [math.inf, math.nan, 'a', None, True]),
        ({'positive': True}, [1e-9, 2], [0, -1.0, math.inf]),
        ({'minimum': 0.5}, [0.5, 9], [0.49, -math.inf]),
    ],
)
def test_check_number(kwargs, good, bad):
    for value in good:
        assert validation.check_number('F', 'x', value, **kwargs) == float(value)
    for value in bad:
        with pytest.raises(ValueError, match=re.escape(f'received x={value!r}.')):
            validation.check_number('F', 'x', value, **kwargs)
    assert validation.check_positive_number('F', 'x', 2) == 2.0


def test_check_choice_and_callable():
    assert validation.check_choice('L', 'loss_type', 'L1', ('L1', 'L2')) == 'L1'
    _raises(
        "L: loss_type must be one of ['L1', 'L2']; received loss_type='l3'.",
        validation.check_choice,
        'L',
        'loss_type',
        'l3',
        ('L1', 'L2'),
    )
    # An unhashable value against a set of choices is an error, not a TypeError.
    with pytest.raises(ValueError, match='received mode=\\[1\\]'):
        validation.check_choice('L', 'mode', [1], {'a', 'b'})
    assert validation.check_callable('H', 'scale_fn', None) is None
    assert validation.check_callable('H', 'scale_fn', abs) is abs
    with pytest.raises(ValueError, match='H: scale_fn must be a callable or None'):
        validation.check_callable('H', 'scale_fn', 'exp')


def test_check_keys():
    assert validation.check_keys('D', 'input_keys', 'f0_hz') == ['f0_hz']
    assert validation.check_keys('D', 'input_keys', ('a', 'b')) == ['a', 'b']
    assert validation.check_keys('D', 'input_keys', (k for k in 'ab')) == ['a', 'b']
    assert validation.check_keys('D', 'input_keys', None) is None
    assert validation.check_keys('D', 'input_keys', []) == []
    for bad in [['a', ''], [1], 5]:
        with pytest.raises(ValueError, match='a sequence of non-empty strings'):
            validation.check_keys('D', 'input_keys', bad)
    for empty in [None, [], ()]:
        _raises(
            f'D: input_keys must be at least one feature name; received input_keys={empty!r}.',
            validation.check_keys,
            'D',
            'input_keys',
            empty,
            non_empty=True,
        )


def test_check_output_splits():
    splits = [['amps', 1], ('harmonic_distribution', np.int64(60))]
    assert validation.check_output_splits('D', splits) == (
        ('amps', 1),
        ('harmonic_distribution', 60),
    )
    for bad in [(), [('amps', 0)], [('amps', 1), ('amps', 2)], [('', 1)], 'amps', [('a', 1.5)]]:
        with pytest.raises(ValueError, match=r'^D: output_splits must be a non-empty sequence'):
            validation.check_output_splits('D', bad)


@pytest.mark.parametrize(
    'sample_rate, frame_rate', [(16000, 250), (48000, 250), (16000, 50), (44100, 100), (22050, 1)]
)
def test_hop_size_is_the_exact_quotient(sample_rate, frame_rate):
    hop = validation.hop_size(sample_rate, frame_rate)
    assert fractions.Fraction(sample_rate, frame_rate) == hop


def test_hop_size_rejects_fractional_hops_and_says_what_to_do():
    error = _raises(
        'Harmonic: frame_rate must be a divisor of sample_rate=44100 (samples and frames must '
        'align exactly here); pick such a frame rate or resample the audio; received '
        'frame_rate=250.',
        validation.hop_size,
        44100,
        250,
        owner='Harmonic',
    )
    assert isinstance(error, ValueError)
    assert validation.hop_size(16000.0, 250.0) == 64  # Integral floats are whole Hz.
    for bad in [0, -16000, 16000.5, math.nan, '16000', None]:
        with pytest.raises(ValueError, match='sample_rate must be a positive whole number of Hz'):
            validation.hop_size(bad, 250)


def test_check_axes_match_names_both_shapes_and_accepts_broadcast_and_unknown_sizes():
    axes = {0: 'batch', 1: 'n_frames'}
    for shape in [(2, 10, 1), (1, 10, 4), (2, 1, 1), (None, None, 3)]:
        assert validation.check_axes_match('H', 'amps', shape, 'f0', (2, 10, 1), axes) is None
    _raises(
        'H: amps.shape must be of n_frames 10 (axis 1) as f0.shape=(2, 10, 1), or 1 '
        '(share frames); received amps.shape=(2, 20, 1).',
        validation.check_axes_match,
        'H',
        'amps',
        (2, 20, 1),
        'f0',
        (2, 10, 1),
        axes,
        hint='share frames',
    )
    # Without broadcasting a 1 is a mismatch too.
    _raises(
        'H: amps.shape must be of batch 2 (axis 0) as f0.shape=(2, 10, 1); '
        'received amps.shape=(1, 10, 1).',
        validation.check_axes_match,
        'H',
        'amps',
        (1, 10, 1),
        'f0',
        (2, 10, 1),
        {0: 'batch'},
        broadcast=False,
    )
    # An axis beyond either rank is left to the rank checks.
    assert validation.check_axes_match('H', 'a', (2,), 'b', (3, 4), {1: 'n_frames'}) is None


def test_shape_tuple_and_described_values():
    import tensorflow as tf

    assert validation.shape_tuple(tf.TensorShape([None, 3])) == (None, 3)
    assert validation.shape_tuple(tf.TensorShape(None)) == ()
    assert validation.shape_tuple(np.zeros([2, 0]).shape) == (2, 0)
    described = validation.Described('3 NaN samples')
    assert validation.message('f', 'audio', 'finite', described) == (
        'f: audio must be finite; received audio=<3 NaN samples>.'
    )
