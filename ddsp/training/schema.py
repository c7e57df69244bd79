"""The TFRecord feature schema of DDSP training examples: one definition for both sides.

`ddsp_prepare_tfrecord` (`data_preparation.prepare_tfrecord_lib`) writes, and
`data.TFRecordProvider` reads, `tf.train.Example`s of float-list features whose lengths
follow from the sample rate, the frame rate and the example length:

| feature                                  | length                                      |
|------------------------------------------|---------------------------------------------|
| `audio`                                  | round(example_secs * sample_rate)           |
| `audio_16k`                              | round(example_secs * 16000)                 |
| `f0_hz`, `f0_confidence`, `loudness_db`  | frames of `audio_16k` at hop 16000 / frame_rate |

The frame-wise features are computed from the 16 kHz audio (`ddsp.crepe.SAMPLE_RATE`, the
rate CREPE and the loudness run at), so a frame count is that of framing `n` 16 kHz samples
with hop `h`: `ceil(n / h)` (`'same'` padding), or `n // h + 1` centred (`--center`); for an
example of a whole number of frames that is `example_secs * frame_rate` (+1 centred). A frame
rate of 0 means audio only (no frame-wise features).

Samples and frames of a training example must align exactly, so the frame rate must divide
both the sample rate and 16000 (`validation.hop_size`).

Example:
    >>> example_lengths(16000, 250, example_secs=4)
    {'audio': 64000, 'audio_16k': 64000, 'f0_hz': 1000, 'f0_confidence': 1000,
     'loudness_db': 1000}
    >>> feature_spec(48000, 100, 4, centered=True)['f0_hz'].shape  # [401]
"""

from typing import Dict, Optional, Text

import numpy as np
import tensorflow as tf

from ddsp import crepe, spectral_ops, validation

# f0 and loudness are computed from audio at this rate.
FEATURE_SAMPLE_RATE = crepe.SAMPLE_RATE
AUDIO_KEYS = ('audio', 'audio_16k')
FRAME_KEYS = ('f0_hz', 'f0_confidence', 'loudness_db')
FEATURE_KEYS = AUDIO_KEYS + FRAME_KEYS


def feature_hop(frame_rate, owner: Text = '') -> int:
    """The hop, in samples of the 16 kHz audio, of the frame-wise features.

    Raises:
        ValueError: `frame_rate` is not a whole number of Hz dividing 16000.
    """
    try:
        return validation.hop_size(FEATURE_SAMPLE_RATE, frame_rate, owner)
    except ValueError:
        pass
    validation.fail(
        owner,
        'frame_rate',
        f'a whole number of Hz dividing {FEATURE_SAMPLE_RATE}, '
        'the rate f0 and loudness are computed at (their frames must align with '
        'its samples); 250, 200, 100 or 50 Hz work for 16, 24, 32 and 48 kHz audio, '
        '50 Hz for 22.05 kHz, 100 or 50 Hz for 44.1 kHz',
        frame_rate,
    )


def n_frames(example_secs, frame_rate, centered: bool = False, owner: Text = '') -> int:
    """Frames of the frame-wise features of an example of `example_secs` seconds.

    Example: 1000 for 4 s at 250 Hz, 1001 centred; 201 for 4 s at 50 Hz centred.
    """
    n_16k = int(round(example_secs * FEATURE_SAMPLE_RATE))
    padding = 'center' if centered else 'same'
    return spectral_ops.get_framed_lengths(
        n_16k, crepe.FRAME_SIZE, feature_hop(frame_rate, owner), padding
    )[0]


def example_lengths(
    sample_rate, frame_rate, example_secs, centered: bool = False, owner: Text = ''
) -> Dict[Text, int]:
    """`{feature: length}` of an example (see the module docstring).

    Args:
        sample_rate: rate of `audio`, Hz.
        frame_rate: frames per second of the frame-wise features; 0 or None: audio only.
        example_secs: seconds per example (0: no fixed length, as when examples are whole
            chunks).
        centered: centred frames (one more frame).
        owner: who asks, for the error messages.

    Raises:
        ValueError: a frame rate that does not divide `sample_rate` and 16000, or a negative
            example length.
    """
    validation.check_number(owner, 'example_secs', example_secs, minimum=0)
    if frame_rate:
        validation.hop_size(sample_rate, frame_rate, owner)
    else:
        validation.check_number(owner, 'sample_rate', sample_rate, positive=True)
    lengths = {
        'audio': int(round(example_secs * sample_rate)),
        'audio_16k': int(round(example_secs * FEATURE_SAMPLE_RATE)),
    }
    if frame_rate:
        lengths.update(
            dict.fromkeys(FRAME_KEYS, n_frames(example_secs, frame_rate, centered, owner))
        )
    return lengths


def feature_spec(
    sample_rate, frame_rate, example_secs, centered: bool = False, owner: Text = ''
) -> Dict[Text, tf.io.FixedLenFeature]:
    """The `tf.io.parse_single_example` spec of the examples (`example_lengths`)."""
    return {
        key: tf.io.FixedLenFeature([length], dtype=tf.float32)
        for key, length in example_lengths(
            sample_rate, frame_rate, example_secs, centered, owner
        ).items()
    }


_KINDS = {tf.float32: 'float_list', tf.int64: 'int64_list', tf.string: 'bytes_list'}


def check_example(
    example: tf.train.Example, spec: dict, path: Text, owner: Text, settings: Optional[Text] = None
):
    """Raises ValueError naming a missing feature, a wrong type or a wrong length.

    Only the fixed-length features of `spec` without a default value are checked.

    Args:
        example: one record, parsed (`tf.train.Example.FromString`).
        spec: the features expected, as for `tf.io.parse_single_example`.
        path: the file the record comes from (for the message).
        owner: the reader (for the message).
        settings: the reader's settings that determine the lengths (for the message).
    """
    present = example.features.feature
    for key, feature_spec_ in spec.items():
        if (
            not isinstance(feature_spec_, tf.io.FixedLenFeature)
            or feature_spec_.default_value is not None
        ):
            continue
        if key not in present:
            hint = ''
            if key == 'audio_16k':
                hint = (
                    ' Datasets prepared before April 2022 have no audio_16k: read them with '
                    'LegacyTFRecordProvider.'
                )
            raise ValueError(
                f'{owner}: the records in {path} have no feature {key!r}; they have '
                f'{sorted(present)}.{hint}'
            )
        feature = present[key]
        kind = feature.WhichOneof('kind')
        if kind and kind != _KINDS.get(feature_spec_.dtype, kind):
            raise ValueError(
                f'{owner}: feature {key!r} in {path} is stored as {kind}, expected '
                f'{_KINDS[feature_spec_.dtype]} ({feature_spec_.dtype.name}).'
            )
        n_values = len(getattr(feature, kind).value) if kind else 0
        expected = int(np.prod(feature_spec_.shape))
        if n_values != expected:
            raise ValueError(
                f'{owner}: feature {key!r} in {path} has {n_values} values, expected '
                f'{expected} ({settings}). Set example_secs, sample_rate, frame_rate and '
                'centered to those the dataset was prepared with (--center gives one extra '
                'frame).'
            )
