"""Argument checks for the whole package, with one message format.

Every check returns the value it accepted (converted to a plain Python type) or raises a
ValueError that names the owner, says what was expected and what was received:

    Harmonic: n_samples must be a positive integer; received n_samples=0.

`owner` is the layer, function or command that received the argument ('' for none). The
rule that a frame rate divides a sample rate, where samples and frames must align exactly
(synthesis, training examples), lives here too, in `hop_size`.

Example:
    >>> from ddsp import validation
    >>> validation.check_int('Harmonic', 'n_samples', 64000)
    64000
    >>> validation.hop_size(16000, 250, owner='FilteredNoise')
    64
"""

import math
import numbers
from typing import Any, Callable, Optional, Sequence, Text, Tuple


def message(owner: Text, name: Text, expected: Text, value: Any) -> Text:
    """The one error format: '<owner>: <name> must be <expected>; received <name>=<value>.'"""
    prefix = f'{owner}: ' if owner else ''
    return f'{prefix}{name} must be {expected}; received {name}={value!r}.'


def fail(owner: Text, name: Text, expected: Text, value: Any):
    """Raises the ValueError `message` describes."""
    raise ValueError(message(owner, name, expected, value))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(owner: Text, name: Text, value, minimum: int = 1, hint: Text = '') -> int:
    """`value` as an int >= `minimum`.

    `hint` is added to what was expected, e.g. '(0 means the whole impulse response)'.
    """
    if not _is_int(value) or value < minimum:
        expected = 'a positive integer' if minimum == 1 else f'an integer >= {minimum}'
        fail(owner, name, f'{expected} {hint}'.strip(), value)
    return int(value)


def check_number(
    owner: Text,
    name: Text,
    value,
    minimum: Optional[float] = None,
    positive: bool = False,
    hint: Text = '',
) -> float:
    """`value` as a finite float; `positive` asks for > 0, `minimum` for >= minimum."""
    ok = _is_real(value) and math.isfinite(float(value))
    if ok and positive:
        ok = value > 0
    if ok and minimum is not None:
        ok = value >= minimum
    if not ok:
        expected = (
            'a positive number'
            if positive
            else f'a number >= {minimum}'
            if minimum is not None
            else 'a finite number'
        )
        fail(owner, name, f'{expected} {hint}'.strip(), value)
    return float(value)


def check_positive_number(owner: Text, name: Text, value, hint: Text = '') -> float:
    """`value` as a finite float > 0."""
    return check_number(owner, name, value, positive=True, hint=hint)


def check_choice(owner: Text, name: Text, value, choices: Sequence[Any]):
    """`value` if it is one of `choices`."""
    try:
        ok = value in choices
    except TypeError:  # An unhashable value against a set or dict of choices.
        ok = False
    if not ok:
        fail(owner, name, f'one of {list(choices)}', value)
    return value


def check_callable(
    owner: Text, name: Text, fn, expected: Text = 'a callable or None'
) -> Optional[Callable]:
    """`fn` if it is callable or None."""
    if fn is not None and not callable(fn):
        fail(owner, name, expected, fn)
    return fn


def check_keys(owner: Text, name: Text, keys, non_empty: bool = False) -> Optional[list]:
    """A sequence of non-empty string keys as a list (one string is one key); None stays None.

    With `non_empty`, None and an empty sequence are rejected too.
    """
    if keys is None:
        if non_empty:
            fail(owner, name, 'at least one feature name', keys)
        return None
    received = keys
    keys = [keys] if isinstance(keys, str) else keys
    try:
        keys = list(keys)
    except TypeError:
        fail(owner, name, 'a sequence of non-empty strings', keys)
    if not all(isinstance(k, str) and k for k in keys):
        fail(owner, name, 'a sequence of non-empty strings', keys)
    if non_empty and not keys:
        fail(owner, name, 'at least one feature name', received)
    return keys


def check_output_splits(owner: Text, output_splits) -> Tuple[Tuple[Text, int], ...]:
    """`((key, size), ...)` with distinct non-empty string keys and positive int sizes."""
    expected = (
        'a non-empty sequence of (key, size) pairs with distinct keys and positive '
        'integer sizes, like (("amps", 1), ("harmonic_distribution", 60))'
    )
    try:
        splits = tuple((k, v) for k, v in output_splits)
    except (TypeError, ValueError):
        splits = ()
    keys = [k for k, _ in splits]
    if (
        not splits
        or not all(isinstance(k, str) and k for k in keys)
        or not all(_is_int(v) and v >= 1 for _, v in splits)
        or len(set(keys)) != len(keys)
    ):
        fail(owner, 'output_splits', expected, output_splits)
    return tuple((str(k), int(v)) for k, v in splits)


def hop_size(sample_rate, frame_rate, owner: Text = '') -> int:
    """`sample_rate / frame_rate` as a whole number of samples.

    Where samples and frames must align exactly (synthesis controls, training examples), a
    fractional hop would make the frames drift against the samples (44.1 kHz at 250 frames/s
    drifts by 0.23 % with a rounded hop of 176), so a frame rate that does not divide the
    sample rate is an error here. Analysis features (`spectral_ops`) accept any rates.

    Args:
        sample_rate: samples per second, a positive integer (or integral float).
        frame_rate: frames per second, a positive integer (or integral float).
        owner: who asks, for the error message.

    Returns:
        The hop in samples, e.g. 64 for 16000 and 250.
    """
    for name, value in (('sample_rate', sample_rate), ('frame_rate', frame_rate)):
        if not _is_real(value) or value <= 0 or not float(value).is_integer():
            fail(owner, name, 'a positive whole number of Hz', value)
    if int(sample_rate) % int(frame_rate):
        fail(
            owner,
            'frame_rate',
            f'a divisor of sample_rate={sample_rate} (samples and frames must align exactly '
            'here); pick such a frame rate or resample the audio',
            frame_rate,
        )
    return int(sample_rate) // int(frame_rate)


class Described(str):
    """A description of a received value, shown as `<...>` in messages (not quoted).

    For values too large to print, e.g. `Described('3 NaN samples, the first at index (0, 12)')`
    gives `received audio=<3 NaN samples, the first at index (0, 12)>`.
    """

    def __repr__(self):
        return f'<{self}>'


def shape_tuple(shape) -> Tuple[Optional[int], ...]:
    """A `TensorShape`, array shape or sequence as a tuple of ints (None where unknown)."""
    dims = getattr(shape, 'dims', shape)
    if dims is None:  # A TensorShape of unknown rank.
        return ()
    values = (getattr(d, 'value', d) for d in dims)  # TF's Dimension objects hold `.value`.
    return tuple(None if v is None else int(v) for v in values)


def check_axes_match(
    owner: Text,
    name: Text,
    shape,
    reference_name: Text,
    reference_shape,
    axes,
    broadcast: bool = True,
    hint: Text = '',
) -> None:
    """Raises unless `shape` has the sizes of `reference_shape` on `axes`.

    Static shapes only: a size unknown while tracing (None) passes, so the check costs nothing
    at run time. With `broadcast`, a size of 1 on either side passes too (it is broadcast).

    Args:
        owner: who received the arguments, for the message.
        name: the argument whose shape is checked, e.g. 'amplitudes'.
        shape: its shape (`TensorShape`, tuple).
        reference_name: the argument it must agree with, e.g. 'frequencies'.
        reference_shape: that argument's shape.
        axes: `{axis: label}`, e.g. `{0: 'batch', 1: 'n_frames'}`.
        broadcast: accept a size of 1 on either side.
        hint: how to fix it, added in parentheses.

    Example:
        >>> check_axes_match('harmonic_synthesis', 'amplitudes', (3, 10, 1),
        ...                  'frequencies', (2, 10, 1), {0: 'batch'})
        ValueError: harmonic_synthesis: amplitudes.shape must be of batch 2 (axis 0) as
        frequencies.shape=(2, 10, 1), or 1; received amplitudes.shape=(3, 10, 1).
    """
    got_shape, ref_shape = shape_tuple(shape), shape_tuple(reference_shape)
    for axis, label in axes.items():
        if max(axis, -axis - 1) >= min(len(got_shape), len(ref_shape)):
            continue  # Ranks are checked elsewhere.
        got, ref = got_shape[axis], ref_shape[axis]
        if got is None or ref is None or got == ref or (broadcast and 1 in (got, ref)):
            continue
        expected = (
            f'of {label} {ref} (axis {axis}) as {reference_name}.shape={ref_shape}'
            + (', or 1' if broadcast else '')
            + (f' ({hint})' if hint else '')
        )
        fail(owner, f'{name}.shape', expected, got_shape)
