"""Bad input to the DSP layer: clear errors, no aborts, and NaN that stays where it started.

Three tables a reader can extend by adding a row:

- `ERROR_ROWS`: `ErrorRow(name, call, error, fragments)`. `call()` makes one bad call; it must
  raise `error` whose message holds every fragment and has exactly one line in the package's
  format `<Owner>: <name> must be <expected>; received <name>=<value>.` Rows whose problem is
  a shape known while tracing (`graph=True`) must raise the same inside `tf.function` too.
- `NAN_ROWS`: `NanRow(name, render, expect)`. `render()` runs a synth, effect, feature or loss
  on input with one bad (NaN or infinite) frame or sample and returns the output as NumPy;
  `expect(output)` asserts what the rule in `ddsp.synths` / `ddsp.losses.base` says happens.
- `PCM_ROWS`: integer PCM against the float audio it stands for.

The calls that used to abort the whole interpreter (a zero-sized FFT) also run in a child
process (`test_no_call_aborts_the_process`), so that a regression fails one test instead of
killing the session.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
from typing import Any, Callable, Sequence

import numpy as np
import pytest
import tensorflow as tf

from ddsp import core, effects, losses, spectral_ops, synths
from ddsp.spectral_ops import framing

SR = 16000
N_SAMPLES = 4000
N_FRAMES = 50
HOP = N_SAMPLES // N_FRAMES  # 80
BAD_FRAME = 20  # The frame made NaN or infinite in the NaN rows.


def _ones(*shape):
    return np.ones(shape, np.float32)


def _zeros(*shape):
    return np.zeros(shape, np.float32)


def _noise(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-0.5, 0.5, shape).astype(np.float32)


def _sine(freq_hz, n, sample_rate=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / sample_rate)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Errors.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ErrorRow:
    """One bad call and the error it must give.

    name: the case, shown as the test id.
    call: makes the bad call.
    error: the exception type.
    fragments: substrings the message must hold (what is wrong, and the fix where there is
        one).
    graph: the problem is a static shape, so `tf.function(call)` must raise it too (at trace
        time). False for value checks, which only run on NumPy arrays and eager tensors.
    """

    name: str
    call: Callable[[], Any]
    error: type = ValueError
    fragments: Sequence[str] = ()
    graph: bool = True


_TWO_BANDS = 'with n_bands >= 2'
_STEREO = 'this looks like [n_samples, channels] audio'

ERROR_ROWS = [
    # 1. One (or no) frequency band: a zero-sized inverse FFT, which aborted the process.
    ErrorRow(
        'frequency_impulse_response, 1 band',
        lambda: core.frequency_impulse_response(_ones(1, 10, 1)),
        fragments=(
            'frequency_impulse_response: magnitudes.shape must be',
            _TWO_BANDS,
            'received magnitudes.shape=(1, 10, 1)',
        ),
    ),
    ErrorRow(
        'frequency_impulse_response, 0 bands',
        lambda: core.frequency_impulse_response(_ones(1, 10, 0)),
        fragments=(_TWO_BANDS, 'received magnitudes.shape=(1, 10, 0)'),
    ),
    ErrorRow(
        'frequency_impulse_response, [B, K] with 1 band',
        lambda: core.frequency_impulse_response(_ones(2, 1)),
        fragments=(_TWO_BANDS, 'received magnitudes.shape=(2, 1)'),
    ),
    ErrorRow(
        'frequency_filter, 1 band',
        lambda: core.frequency_filter(_noise(1, 1000), _ones(1, 10, 1)),
        fragments=('frequency_filter: magnitudes.shape must be', _TWO_BANDS),
    ),
    ErrorRow(
        'FilteredNoise, 1 band',
        lambda: synths.FilteredNoise(n_samples=1000)(_ones(1, 10, 1)),
        fragments=('FilteredNoise: magnitudes.shape must be', _TWO_BANDS),
    ),
    ErrorRow(
        'FilteredNoise, 0 bands (used to return uninitialised memory)',
        lambda: synths.FilteredNoise(n_samples=1000)(_ones(1, 10, 0)),
        fragments=('FilteredNoise: magnitudes.shape must be', _TWO_BANDS),
    ),
    ErrorRow(
        'FilteredNoise.get_signal, 1 band',
        lambda: synths.FilteredNoise(n_samples=1000).get_signal(_ones(1, 10, 1)),
        fragments=('FilteredNoise: magnitudes.shape must be', _TWO_BANDS),
    ),
    ErrorRow(
        'FIRFilter, 1 band',
        lambda: effects.FIRFilter(scale_fn=None)(_noise(1, 1000), _ones(1, 10, 1)),
        fragments=('FIRFilter "fir_filter": magnitudes.shape must be', _TWO_BANDS),
    ),
    ErrorRow(
        'FilteredNoiseReverb, given magnitudes of 1 band',
        lambda: effects.FilteredNoiseReverb(reverb_length=1000)(_noise(1, 1000), _ones(1, 10, 1)),
        fragments=('FilteredNoiseReverb "filtered_noise_reverb": magnitudes.shape', _TWO_BANDS),
    ),
    ErrorRow(
        'harmonic_distribution_to_wavetable, n_wavetable=1',
        lambda: core.harmonic_distribution_to_wavetable(_ones(1, 1, 0), n_wavetable=1),
        fragments=('n_wavetable must be an integer >= 2', 'received n_wavetable=1'),
    ),
    ErrorRow(
        'harmonic_distribution_to_wavetable, more harmonics than the table holds',
        lambda: core.harmonic_distribution_to_wavetable(_ones(1, 1, 40), n_wavetable=64),
        fragments=('n_wavetable must be at least 2 * n_harmonics = 80', 'received n_wavetable=64'),
    ),
    # 4. The spectral loss compares two signals sample for sample.
    ErrorRow(
        'SpectralLoss, batch 2 against batch 1 (was silently broadcast)',
        lambda: losses.SpectralLoss()(_noise(2, 4000), _noise(1, 4000)),
        fragments=(
            'SpectralLoss: audio.shape must be the shape of target_audio, (2, 4000)',
            'received audio.shape=(1, 4000)',
        ),
    ),
    ErrorRow(
        'SpectralLoss, different lengths (was "Incompatible shapes")',
        lambda: losses.SpectralLoss()(_noise(1, 4000), _noise(1, 3000)),
        fragments=(
            'the shape of target_audio, (1, 4000)',
            'trimmed or padded to its length',
            'received audio.shape=(1, 3000)',
        ),
    ),
    ErrorRow(
        'EmbeddingLoss, different lengths',
        lambda: losses.EmbeddingLoss(pretrained_model=tf.identity)(_noise(1, 400), _noise(1, 300)),
        fragments=('EmbeddingLoss: audio.shape must be the shape of target_audio, (1, 400)',),
    ),
    ErrorRow(
        'compute_mag(pad_end=False) of audio shorter than a frame (gave 0 frames)',
        lambda: spectral_ops.compute_mag(_noise(1, 100), size=2048, pad_end=False),
        fragments=(
            'compute_mag: audio.shape must be at least one frame long, 2048 samples',
            'pass pad_end=True',
            'received audio.shape=(1, 100)',
        ),
    ),
    ErrorRow(
        'compute_logmel(pad_end=False) of audio shorter than a frame',
        lambda: spectral_ops.compute_logmel(_noise(1, 100), pad_end=False),
        fragments=('compute_mag: audio.shape must be at least one frame long',),
    ),
    ErrorRow(
        'stft_np(pad_end=False) of audio shorter than a frame',
        lambda: spectral_ops.stft_np(_noise(100), frame_size=256, pad_end=False),
        fragments=('stft_np: audio.shape must be at least one frame long, 256 samples',),
    ),
    ErrorRow(
        "compute_loudness(padding='valid') of audio shorter than a frame (gave 0 frames)",
        lambda: spectral_ops.compute_loudness(_noise(1, 100), padding='valid'),
        fragments=(
            'compute_loudness: audio.shape must be at least one frame long, 512 samples',
            "pass padding='center'",
            'received audio.shape=(1, 100)',
        ),
    ),
    ErrorRow(
        "compute_loudness(padding='valid', use_tf=False) of short audio (a librosa error)",
        lambda: spectral_ops.compute_loudness(_noise(100), padding='valid', use_tf=False),
        fragments=('compute_loudness: audio.shape must be at least one frame long, 512 samples',),
    ),
    ErrorRow(
        "compute_power(padding='valid') of audio shorter than a frame (gave 0 frames)",
        lambda: spectral_ops.compute_power(_noise(1, 100), frame_size=256, padding='valid'),
        fragments=('compute_rms_energy: audio.shape must be at least one frame long, 256',),
    ),
    ErrorRow(
        'compute_loudness of empty audio (gave one frame of -80 dB)',
        lambda: spectral_ops.compute_loudness(_zeros(1, 0)),
        fragments=(
            'compute_loudness: audio.shape must be non-empty',
            'received audio.shape=(1, 0)',
        ),
    ),
    ErrorRow(
        'compute_loudness(use_tf=False) of empty audio',
        lambda: spectral_ops.compute_loudness(_zeros(0), use_tf=False),
        fragments=('compute_loudness: audio.shape must be non-empty', 'received audio.shape=(0,)'),
    ),
    ErrorRow(
        'compute_mag of empty audio',
        lambda: spectral_ops.compute_mag(_zeros(2, 0)),
        fragments=('compute_mag: audio.shape must be non-empty',),
    ),
    ErrorRow(
        'compute_rms_energy of empty audio',
        lambda: spectral_ops.compute_rms_energy(_zeros(0)),
        fragments=('compute_rms_energy: audio.shape must be non-empty',),
    ),
    # 3. [n_samples, channels] audio was read as n clips of a few samples.
    ErrorRow(
        'compute_loudness of stereo [n, 2]',
        lambda: spectral_ops.compute_loudness(_noise(16000, 2)),
        fragments=(
            'compute_loudness: audio.shape must be [n_samples] or [batch, n_samples]',
            _STEREO,
            'audio.mean(axis=1)',
            'received audio.shape=(16000, 2)',
        ),
    ),
    ErrorRow(
        'compute_loudness(use_tf=False) of stereo [n, 2]',
        lambda: spectral_ops.compute_loudness(_noise(16000, 2), use_tf=False),
        fragments=(_STEREO, 'audio.mean(axis=1)'),
    ),
    ErrorRow(
        'compute_mag of 6-channel [n, 6]',
        lambda: spectral_ops.compute_mag(_noise(8000, 6)),
        fragments=('compute_mag: audio.shape', _STEREO, '6 entries on the last axis'),
    ),
    ErrorRow(
        'compute_rms_energy of a mono column [n, 1]',
        lambda: spectral_ops.compute_rms_energy(_noise(16000, 1)),
        fragments=(_STEREO, 'audio[:, 0]'),
    ),
    ErrorRow(
        'SpectralLoss of stereo audio',
        lambda: losses.SpectralLoss()(_noise(8000, 2), _noise(8000, 2)),
        fragments=('SpectralLoss: target_audio.shape', 'target_audio.mean(axis=1)'),
    ),
    ErrorRow(
        'compute_f0 of stereo [n, 2]',
        lambda: spectral_ops.compute_f0(_noise(16000, 2), 100, model_capacity='tiny'),
        fragments=('compute_f0: audio.shape must be one mono example', 'audio.mean(axis=1)'),
        graph=False,  # NumPy in and out.
    ),
    ErrorRow(
        'compute_loudness of int64 (not a PCM format)',
        lambda: spectral_ops.compute_loudness(np.zeros(4000, np.int64)),
        fragments=(
            'compute_loudness: audio.dtype must be float audio, or integer PCM',
            "received audio.dtype='int64'",
        ),
    ),
    ErrorRow(
        'compute_f0 of uint16 (not a PCM format)',
        lambda: spectral_ops.compute_f0(np.zeros(4000, np.uint16), 100, model_capacity='tiny'),
        fragments=('compute_f0: audio.dtype must be', "received audio.dtype='uint16'"),
        graph=False,
    ),
    # 5. Shape mismatches that gave cryptic TensorFlow errors.
    ErrorRow(
        'Harmonic, f0 and amplitudes on different frame counts',
        lambda: synths.Harmonic(n_samples=1000)(_ones(1, 10, 1), _ones(1, 10, 5), _ones(1, 20, 1)),
        fragments=(
            'Harmonic: f0_hz.shape must be of n_frames 10 (axis 1) as amplitudes.shape',
            'received f0_hz.shape=(1, 20, 1)',
        ),
    ),
    ErrorRow(
        'Harmonic, amplitudes and distribution on different frame counts',
        lambda: synths.Harmonic(n_samples=1000)(_ones(1, 10, 1), _ones(1, 20, 5), _ones(1, 10, 1)),
        fragments=('Harmonic: harmonic_distribution.shape must be of n_frames 10',),
    ),
    ErrorRow(
        'Harmonic, batches that differ',
        lambda: synths.Harmonic(n_samples=1000)(_ones(2, 10, 1), _ones(1, 10, 5), _ones(3, 10, 1)),
        fragments=('Harmonic: f0_hz.shape must be of batch 2 (axis 0)', 'or 1'),
    ),
    ErrorRow(
        'Harmonic, 0 frames',
        lambda: synths.Harmonic(n_samples=1000)(_ones(1, 0, 1), _ones(1, 0, 5), _ones(1, 0, 1)),
        fragments=('Harmonic: amplitudes.shape must be a control with at least one frame',),
    ),
    ErrorRow(
        'harmonic_synthesis, batches that differ',
        lambda: core.harmonic_synthesis(
            _ones(2, 10, 1), _ones(3, 10, 1), harmonic_distribution=_ones(3, 10, 4), n_samples=1000
        ),
        fragments=(
            'harmonic_synthesis: amplitudes.shape must be of batch 2 (axis 0) as '
            'frequencies.shape=(2, 10, 1), or 1',
        ),
    ),
    ErrorRow(
        'harmonic_synthesis, amplitudes and distribution frames differ',
        lambda: core.harmonic_synthesis(
            _ones(1, 10, 1), _ones(1, 10, 1), harmonic_distribution=_ones(1, 20, 4), n_samples=1000
        ),
        fragments=('harmonic_distribution.shape must be of n_frames 10 (axis 1) as amplitudes',),
    ),
    ErrorRow(
        'harmonic_synthesis, shifts off the f0 frames',
        lambda: core.harmonic_synthesis(
            _ones(1, 10, 1), _ones(1, 10, 1), harmonic_shifts=_zeros(1, 7, 4), n_samples=1000
        ),
        fragments=('harmonic_shifts.shape must be of n_frames 10 (axis 1) as frequencies',),
    ),
    ErrorRow(
        'harmonic_synthesis, n_samples=0',
        lambda: core.harmonic_synthesis(_ones(1, 10, 1), _ones(1, 10, 1), n_samples=0),
        fragments=(
            'harmonic_synthesis: n_samples must be a positive integer',
            'received n_samples=0',
        ),
    ),
    ErrorRow(
        'harmonic_synthesis, 0 frames',
        lambda: core.harmonic_synthesis(_ones(1, 0, 1), _ones(1, 0, 1), n_samples=1000),
        fragments=('frequencies.shape must be [batch, frames, channels] with at least one frame',),
    ),
    ErrorRow(
        'oscillator_bank, batches that differ',
        lambda: core.oscillator_bank(_ones(2, 100, 3), _ones(3, 100, 3)),
        fragments=('oscillator_bank: amplitude_envelopes.shape must be of batch 2 (axis 0)',),
    ),
    ErrorRow(
        'oscillator_bank, sample counts that differ',
        lambda: core.oscillator_bank(_ones(1, 100, 3), _ones(1, 50, 3)),
        fragments=(
            'amplitude_envelopes.shape must be of samples 100 (axis 1)',
            'upsample both to audio rate',
        ),
    ),
    ErrorRow(
        'frequency_filter, batches that differ',
        lambda: core.frequency_filter(_noise(2, 1000), _ones(3, 10, 65)),
        fragments=('frequency_filter: magnitudes.shape must be of batch 2 (axis 0) as audio',),
    ),
    ErrorRow(
        'frequency_filter, 0 frames',
        lambda: core.frequency_filter(_noise(1, 1000), _ones(1, 0, 65)),
        fragments=('frequency_filter: magnitudes.shape must be', 'n_frames >= 1'),
    ),
    ErrorRow(
        'fft_convolve, empty audio',
        lambda: core.fft_convolve(_zeros(1, 0), _ones(1, 10)),
        fragments=('fft_convolve: audio.shape must be [batch, samples] with at least one sample',),
    ),
    ErrorRow(
        'fft_convolve, an IR of 0 taps',
        lambda: core.fft_convolve(_noise(1, 100), _ones(1, 0)),
        fragments=('fft_convolve: impulse_response.shape', 'at least one frame and one tap'),
    ),
    ErrorRow(
        'fft_convolve, batches that differ',
        lambda: core.fft_convolve(_noise(2, 100), _ones(3, 10)),
        fragments=('fft_convolve: impulse_response.shape must be of batch 2',),
    ),
    ErrorRow(
        'FilteredNoise, 0 frames',
        lambda: synths.FilteredNoise(n_samples=1000)(_ones(1, 0, 65)),
        fragments=('FilteredNoise: magnitudes.shape', 'n_frames >= 1'),
    ),
    ErrorRow(
        'Sinusoidal, batches that differ',
        lambda: synths.Sinusoidal(n_samples=1000, freq_scale_fn=None)(
            _ones(2, 10, 3), _ones(3, 10, 3)
        ),
        fragments=('Sinusoidal: frequencies.shape must be of batch 2 (axis 0)',),
    ),
    ErrorRow(
        'Sinusoidal, frame counts that differ',
        lambda: synths.Sinusoidal(n_samples=1000, freq_scale_fn=None)(
            _ones(1, 10, 3), _ones(1, 20, 3)
        ),
        fragments=('Sinusoidal: frequencies.shape must be of n_frames 10 (axis 1)',),
    ),
    ErrorRow(
        'Wavetable, batches that differ',
        lambda: synths.Wavetable(n_samples=1000)(
            _ones(2, 10, 1), _ones(2, 10, 64), _ones(3, 10, 1)
        ),
        fragments=('Wavetable: amplitudes.shape must be of batch 3 (axis 0) as f0_hz.shape',),
    ),
    ErrorRow(
        'wavetable_synthesis, n_samples=0',
        lambda: core.wavetable_synthesis(
            _ones(1, 10, 1), _ones(1, 10, 1), _ones(1, 64), n_samples=0
        ),
        fragments=('wavetable_synthesis: n_samples must be a positive integer',),
    ),
    ErrorRow(
        'Reverb, an IR per example of another batch',
        lambda: effects.Reverb()(_noise(2, 1000), _noise(3, 100)),
        fragments=('Reverb "reverb": ir.shape must be of batch 2 (axis 0) as audio.shape',),
    ),
    ErrorRow(
        'Reverb, an IR of 0 taps',
        lambda: effects.Reverb()(_noise(1, 1000), _zeros(1, 0)),
        fragments=('Reverb "reverb": ir.shape must be [batch, ir_size] with ir_size >= 1',),
    ),
    # 2. Non-finite values at the boundaries that check them (values at hand only).
    ErrorRow(
        'SpectralLoss, one NaN sample in the prediction (NumPy)',
        lambda: losses.SpectralLoss()(_noise(2, 4000), _with(_noise(2, 4000), (1, 100), np.nan)),
        fragments=(
            'SpectralLoss: audio must be free of NaN and infinite samples',
            'received audio=<1 non-finite samples (1 NaN, 0 infinite), the first at '
            'index (1, 100)>',
        ),
        graph=False,
    ),
    ErrorRow(
        'SpectralLoss, an infinite sample in the target (eager tensor)',
        lambda: losses.SpectralLoss()(
            tf.constant(_with(_noise(2, 4000), (0, 7), np.inf)), tf.constant(_noise(2, 4000))
        ),
        fragments=(
            'SpectralLoss: target_audio must be free of NaN',
            '(0 NaN, 1 infinite), the first at index (0, 7)',
        ),
        graph=False,
    ),
    ErrorRow(
        'EmbeddingLoss, NaN in the prediction',
        lambda: losses.EmbeddingLoss(pretrained_model=tf.identity)(
            _noise(1, 400), _with(_noise(1, 400), (0, 3), np.nan)
        ),
        fragments=('EmbeddingLoss: audio must be free of NaN', 'index (0, 3)'),
        graph=False,
    ),
    ErrorRow(
        'compute_loudness, NaN sample (NumPy)',
        lambda: spectral_ops.compute_loudness(_with(_noise(4000), (123,), np.nan)),
        fragments=(
            'compute_loudness: audio must be free of NaN and infinite samples',
            'np.nan_to_num',
            'the first at index (123,)',
        ),
        graph=False,
    ),
    ErrorRow(
        'compute_loudness(use_tf=False), NaN sample',
        lambda: spectral_ops.compute_loudness(_with(_noise(4000), (5,), np.nan), use_tf=False),
        fragments=('compute_loudness: audio must be free of NaN', 'index (5,)'),
        graph=False,
    ),
    ErrorRow(
        'compute_mag, infinite sample (eager tensor)',
        lambda: spectral_ops.compute_mag(tf.constant(_with(_noise(1, 4000), (0, 9), -np.inf))),
        fragments=('compute_mag: audio must be free of NaN', '1 infinite'),
        graph=False,
    ),
    ErrorRow(
        'compute_mfcc, NaN sample',
        lambda: spectral_ops.compute_mfcc(_with(_noise(1, 4000), (0, 9), np.nan)),
        fragments=('compute_mag: audio must be free of NaN',),
        graph=False,
    ),
    ErrorRow(
        'compute_power, NaN sample',
        lambda: spectral_ops.compute_power(_with(_noise(4000), (9,), np.nan)),
        fragments=('compute_power: audio must be free of NaN',),
        graph=False,
    ),
    ErrorRow(
        'compute_f0, NaN sample (as before)',
        lambda: spectral_ops.compute_f0(
            _with(_noise(4000), (9,), np.nan), 100, model_capacity='tiny'
        ),
        fragments=('compute_f0: audio must be free of NaN', 'CREPE cannot track pitch'),
        graph=False,
    ),
]


def _with(array, index, value):
    """`array` with `array[index] = value`."""
    array = array.copy()
    array[index] = value
    return array


_FORMAT = re.compile(r'(?:^|\s)(?:[\w]+(?: "[\w]+")?: )?(\S+) must be .*; received (\S+?)=.*\.$')


def _the_message_line(message):
    """The one line of the message in the package's format (Keras adds lines around it)."""
    lines = [re.sub(r'\x1b\[[0-9;]*m', '', line) for line in message.splitlines()]
    matches = [m for m in map(_FORMAT.search, lines) if m]
    assert len(matches) == 1, f'not one formatted line in: {message!r}'
    name, received_name = matches[0].groups()
    assert name == received_name, matches[0].group(0)  # '<name> must be ...; received <name>='
    return matches[0].group(0)


@pytest.mark.parametrize('row', ERROR_ROWS, ids=[r.name for r in ERROR_ROWS])
def test_bad_call_raises_a_one_line_error_naming_the_problem(row):
    with pytest.raises(row.error) as info:
        row.call()
    line = _the_message_line(str(info.value))
    for fragment in row.fragments:
        assert fragment in line, f'{fragment!r} not in {line!r}'


_GRAPH_ROWS = [r for r in ERROR_ROWS if r.graph]


@pytest.mark.parametrize('row', _GRAPH_ROWS, ids=[r.name for r in _GRAPH_ROWS])
def test_static_shape_errors_are_raised_while_tracing_too(row):
    with pytest.raises(row.error) as info:
        tf.function(row.call, autograph=False)()
    line = _the_message_line(str(info.value))
    for fragment in row.fragments:
        assert fragment in line


def test_value_checks_cost_nothing_inside_tf_function():
    # Inside a graph a NaN sample is not checked: it reaches the output, and only the frames
    # that contain it. Loudness frame k covers samples [64 k - 256, 64 k + 256) of the
    # original audio (centre padding n_fft // 2 = 256, hop 64); all are NaN there, even at a
    # window weight of 0 (NaN * 0 is NaN), and finite elsewhere.
    sample = 1000
    audio = _with(_noise(1, 4000), (0, sample), np.nan)
    loudness = tf.function(spectral_ops.compute_loudness)(tf.constant(audio)).numpy()[0]
    frames = np.arange(loudness.size)
    covering = (64 * frames - 256 <= sample) & (sample < 64 * frames + 256)
    assert covering.sum() == 8
    np.testing.assert_array_equal(np.isnan(loudness), covering)


# ------------------------------------------------------------------------------------------------
# Processes that abort.
# ------------------------------------------------------------------------------------------------
_ABORT_CASES = {
    'frequency_impulse_response': 'core.frequency_impulse_response(np.ones([1, 10, 1], "f4"))',
    'frequency_filter': (
        'core.frequency_filter(np.zeros([1, 1000], "f4"), np.ones([1, 10, 1], "f4"))'
    ),
    'FilteredNoise': 'synths.FilteredNoise(n_samples=1000)(np.ones([1, 10, 1], "f4"))',
    'FilteredNoise in tf.function': (
        'tf.function(synths.FilteredNoise(n_samples=1000))(np.ones([1, 10, 1], "f4"))'
    ),
    'FIRFilter': 'effects.FIRFilter()(np.zeros([1, 1000], "f4"), np.ones([1, 10, 1], "f4"))',
}

_CHILD = """
import json, sys
import numpy as np
import tensorflow as tf
from ddsp import core, effects, synths
results = {}
for name, call in json.loads(sys.argv[1]).items():
    print('calling', name, flush=True)  # The last one printed is the one that aborted.
    try:
        eval(call)
        results[name] = 'no error'
    except Exception as e:
        results[name] = f'{type(e).__name__}: {e}'
print(json.dumps(results))
"""


def _abort_job(tmp_path_factory):
    del tmp_path_factory
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')

    def run():
        return subprocess.run(
            [sys.executable, '-c', _CHILD, json.dumps(_ABORT_CASES)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


BACKGROUND_JOBS = {'zero_sized_fft': _abort_job}


@pytest.mark.background_job('zero_sized_fft')
def test_no_call_aborts_the_process(background_result):
    result = background_result('zero_sized_fft')
    calls = [line for line in result.stdout.splitlines() if line.startswith('calling')]
    assert result.returncode == 0, (
        f'exit status {result.returncode} (-6 is SIGABRT) after "{calls[-1] if calls else ""}"'
        f': {result.stderr[-2000:]}'
    )
    results = json.loads(result.stdout.splitlines()[-1])
    assert set(results) == set(_ABORT_CASES)
    for name, outcome in results.items():
        assert outcome.startswith('ValueError') and 'n_bands >= 2' in outcome, (name, outcome)


# ------------------------------------------------------------------------------------------------
# NaN and infinite values.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class NanRow:
    """One call on input with a bad frame or sample, and what must happen.

    name: the case, shown as the test id.
    render: makes the call and returns the output as a NumPy array.
    expect: asserts on that output.
    """

    name: str
    render: Callable[[], np.ndarray]
    expect: Callable[[np.ndarray], None]


def _linear_envelope(frames, n_samples):
    """Frames `[T]` interpolated linearly to `n_samples`, as the synths upsample frequencies.

    Frame j sits at sample j * n_samples / T and the last frame is held to the end (core's
    `resample`, add_endpoint=True). Sample n reads frames floor(n T / N) and the next one,
    with weights (1 - f, f); a weight of 0 still reads its frame (NaN * 0 is NaN).
    """
    n_frames = frames.size
    position = np.arange(n_samples) * n_frames / n_samples
    lower = np.floor(position).astype(int)
    fraction = position - lower
    upper = np.minimum(lower + 1, n_frames - 1)
    return frames[lower] * (1.0 - fraction) + frames[upper] * fraction


def _bad_span(bad_frame=BAD_FRAME, hop=HOP):
    """Samples that read frame t in `_linear_envelope`: [(t - 1) hop, (t + 1) hop)."""
    span = np.zeros(N_SAMPLES, bool)
    span[(bad_frame - 1) * hop : (bad_frame + 1) * hop] = True
    return span


def _f0_frames(bad_value):
    """A 220 -> 330 Hz glide over N_FRAMES frames, frame BAD_FRAME set to `bad_value`."""
    f0 = np.linspace(220.0, 330.0, N_FRAMES)
    f0[BAD_FRAME] = bad_value
    return f0


def _reference_harmonics(f0_frames, weights, exclusive=False, span=None):
    """Sum of `weights[k] sin(2 pi (k + 1) phase)`, float64, from the rule of `core`.

    A non-finite frame counts as 0 Hz; phase is the running sum of f / SR in cycles
    (inclusive, or exclusive as the wavetable oscillator); harmonics at or above Nyquist are
    silent; if a frame was not finite, the samples that read it are NaN.
    """
    clean = np.where(np.isfinite(f0_frames), f0_frames, 0.0)
    f0_env = _linear_envelope(clean, N_SAMPLES)
    cycles = np.cumsum(f0_env / SR)
    if exclusive:
        cycles = np.concatenate([[0.0], cycles[:-1]])
    audio = np.zeros(N_SAMPLES)
    for k, weight in enumerate(weights, start=1):
        audible = k * f0_env < SR / 2
        audio += np.where(audible, weight * np.sin(2 * np.pi * k * cycles), 0.0)
    if not np.all(np.isfinite(f0_frames)):
        audio[_bad_span() if span is None else span] = np.nan
    return audio


def _matches_the_rule(reference, atol=1e-4, n_nan=2 * HOP):
    """The output is NaN exactly on the bad frame's two hops, and the reference elsewhere.

    Two hops of 80 samples are 4 % of the clip; the phase used to carry the NaN to the end
    (61 % of this clip, 78 % of the 4 s clip of the issue).
    """

    def expect(audio):
        audio = audio.reshape(-1)
        np.testing.assert_array_equal(np.isnan(audio), np.isnan(reference))
        assert np.isnan(audio).sum() == n_nan
        finite = ~np.isnan(reference)
        np.testing.assert_allclose(audio[finite], reference[finite], atol=atol)

    return expect


_DIST = np.array([0.5, 0.3, 0.2])  # Harmonic weights, summing to 1.


def _harmonic_synth(bad_value):
    f0 = _f0_frames(bad_value)[np.newaxis, :, np.newaxis].astype(np.float32)
    harmonic = synths.Harmonic(n_samples=N_SAMPLES, sample_rate=SR, scale_fn=None)
    dist = np.broadcast_to(_DIST, (1, N_FRAMES, 3)).astype(np.float32)
    return harmonic(_ones(1, N_FRAMES, 1), dist, f0).numpy()


def _harmonic_general_path(bad_value):
    """Detuned by 0: the oscillator-bank path of `harmonic_synthesis`."""
    f0 = _f0_frames(bad_value)[np.newaxis, :, np.newaxis].astype(np.float32)
    dist = np.broadcast_to(_DIST, (1, N_FRAMES, 3)).astype(np.float32)
    return core.harmonic_synthesis(
        f0,
        _ones(1, N_FRAMES, 1),
        harmonic_shifts=_zeros(1, N_FRAMES, 3),
        harmonic_distribution=dist,
        n_samples=N_SAMPLES,
        sample_rate=SR,
    ).numpy()


def _traced(bad_value):
    """`harmonic_synthesis` of the glide, for `tf.function` (the controls are constants)."""
    f0 = _f0_frames(bad_value)[np.newaxis, :, np.newaxis].astype(np.float32)
    dist = np.broadcast_to(_DIST, (1, N_FRAMES, 3)).astype(np.float32)
    return core.harmonic_synthesis(
        f0, _ones(1, N_FRAMES, 1), harmonic_distribution=dist, n_samples=N_SAMPLES
    )


# f0 on its own grid of 100 frames (hop 40), amplitudes on 50: the fast path still applies.
_FINE_FRAMES, _FINE_BAD = 100, 37
_FINE_HOP = N_SAMPLES // _FINE_FRAMES


def _fine_f0_frames():
    f0 = np.linspace(220.0, 330.0, _FINE_FRAMES)
    f0[_FINE_BAD] = np.nan
    return f0


def _harmonic_separate_grids():
    f0 = _fine_f0_frames()[np.newaxis, :, np.newaxis].astype(np.float32)
    dist = np.broadcast_to(_DIST, (1, N_FRAMES, 3)).astype(np.float32)
    return core.harmonic_synthesis(
        f0, _ones(1, N_FRAMES, 1), harmonic_distribution=dist, n_samples=N_SAMPLES
    ).numpy()


def _wavetable(bad_value):
    f0 = _f0_frames(bad_value)[np.newaxis, :, np.newaxis].astype(np.float32)
    sine = np.sin(2 * np.pi * np.arange(2048) / 2048)[np.newaxis].astype(np.float32)
    return synths.Wavetable(n_samples=N_SAMPLES, sample_rate=SR, scale_fn=None)(
        _ones(1, N_FRAMES, 1), sine, f0
    ).numpy()


def _sinusoidal(bad_value):
    """Three sinusoids at 1, 2 and 3 times the glide; the bad frame in the second only."""
    f0 = _f0_frames(330.0)
    freqs = np.stack([f0, 2 * f0, 3 * f0], axis=-1)
    freqs[BAD_FRAME, 1] = bad_value
    amps = np.broadcast_to(_DIST, (N_FRAMES, 3))
    sinusoidal = synths.Sinusoidal(
        n_samples=N_SAMPLES, sample_rate=SR, amp_scale_fn=None, freq_scale_fn=None
    )
    return sinusoidal(amps[np.newaxis].astype(np.float32), freqs[np.newaxis].astype(np.float32))


def _reference_sinusoids(bad_value):
    f0 = _f0_frames(330.0)
    audio = np.zeros(N_SAMPLES)
    for k, weight in enumerate(_DIST, start=1):
        frames = k * f0
        if k == 2:
            frames[BAD_FRAME] = 0.0  # The bad frame counts as 0 Hz.
        cycles = np.cumsum(_linear_envelope(frames, N_SAMPLES) / SR)
        audio += weight * np.sin(2 * np.pi * cycles)
    audio[_bad_span()] = np.nan  # The second sinusoid's amplitude is NaN there.
    return audio


def _filtered_noise_frames():
    """`[1, N_FRAMES, 17]` magnitudes, frame BAD_FRAME NaN; with its window the filter has
    2 (17 - 1) = 32 taps."""
    magnitudes = _ones(1, N_FRAMES, 17)
    magnitudes[0, BAD_FRAME, 3] = np.nan
    return magnitudes


def _filtered_noise_is_local(audio):
    # Frame t's 80 noise samples convolved with its 32 taps (111 samples) spill over into
    # frame t + 1 (the overlap-add), and the filter's delay, (32 - 1) // 2 - 1 = 14 samples,
    # is removed: NaN can only be in [80 t - 14, 80 t - 14 + 160), and fills at least a hop.
    audio = audio.reshape(-1)
    nan = np.flatnonzero(np.isnan(audio))
    start = HOP * BAD_FRAME - ((32 - 1) // 2 - 1)
    assert nan.size >= HOP
    assert nan.min() >= start and nan.max() < start + 2 * HOP


def _streaming_two_blocks(bad_value):
    """Two blocks of `streaming_harmonic_synthesis`, one harmonic: the glide with a bad frame,
    then 50 frames at 330 Hz continuing its phase. Returns the `[2 N_SAMPLES]` audio."""
    f0 = _f0_frames(bad_value)[np.newaxis, :, np.newaxis].astype(np.float32)
    first, phase = core.streaming_harmonic_synthesis(f0, _ones(1, N_FRAMES, 1), n_samples=N_SAMPLES)
    second, _ = core.streaming_harmonic_synthesis(
        np.full([1, N_FRAMES, 1], 330.0, np.float32),
        _ones(1, N_FRAMES, 1),
        initial_phase=phase,
        n_samples=N_SAMPLES,
    )
    return np.concatenate([first.numpy()[0], second.numpy()[0]])


def _streaming_is_local(audio):
    # Block 1 follows the rule (the bad frame at 0 Hz, its two hops NaN); block 2 continues the
    # phase of block 1 at 330 Hz, with no NaN: the bad frame never reaches it.
    _matches_the_rule(_reference_harmonics(_f0_frames(np.nan), [1.0]))(audio[:N_SAMPLES])
    clean = np.where(np.isfinite(_f0_frames(np.nan)), _f0_frames(np.nan), 0.0)
    end = np.cumsum(_linear_envelope(clean, N_SAMPLES) / SR)[-1]
    cycles = end + np.arange(1, N_SAMPLES + 1) * 330.0 / SR
    np.testing.assert_allclose(audio[N_SAMPLES:], np.sin(2 * np.pi * cycles), atol=2e-3)


def _huge_f0_synthesis():
    """`harmonic_synthesis`, one harmonic, the glide with frame BAD_FRAME at 1e30 Hz."""
    f0 = _f0_frames(1e30)[np.newaxis, :, np.newaxis].astype(np.float32)
    return core.harmonic_synthesis(
        f0, _ones(1, N_FRAMES, 1), harmonic_distribution=_ones(1, N_FRAMES, 1), n_samples=N_SAMPLES
    ).numpy()


def _keeps_playing_after_a_huge_frame(audio):
    # The samples around the huge frame are above Nyquist (silent), and the float32 rounding
    # of their frequencies sets an unknown phase step; before them the output is the
    # reference, after them a sine of the glide at some phase offset. (The phase used to
    # freeze there: a 1e30 Hz step swamped the float64 sum, and the rest of the clip was 0.)
    audio = audio.reshape(-1)
    reference = _reference_harmonics(_f0_frames(330.0), [1.0])  # The phase without the frame.
    before, after = slice(0, (BAD_FRAME - 1) * HOP), slice((BAD_FRAME + 1) * HOP, N_SAMPLES)
    np.testing.assert_allclose(audio[before], reference[before], atol=1e-4)
    theta = 2 * np.pi * np.cumsum(_linear_envelope(_f0_frames(330.0), N_SAMPLES) / SR)[after]
    # sin(theta + phi) e^{-i theta} averages to e^{i phi} / 2i: estimate phi, then compare.
    phi = np.angle(2j * np.mean(audio[after] * np.exp(-1j * theta)))
    np.testing.assert_allclose(audio[after], np.sin(theta + phi), atol=2e-2)


def _spectral_loss_in_graph(jit_compile, **weights):
    loss = losses.SpectralLoss(fft_sizes=(256, 64), **weights)
    target = _noise(2, 2000)
    audio = _with(_noise(2, 2000, seed=1), (1, 700), np.nan)
    return np.asarray(tf.function(loss, jit_compile=jit_compile)(target, audio))


_TERMS = (
    'mag_weight',
    'delta_time_weight',
    'delta_freq_weight',
    'cumsum_freq_weight',
    'logmag_weight',
    'loudness_weight',
)


def _is_nan(value):
    assert np.isnan(value), value


NAN_ROWS = [
    NanRow(
        'Harmonic, NaN f0 frame',
        lambda: _harmonic_synth(np.nan),
        _matches_the_rule(_reference_harmonics(_f0_frames(np.nan), _DIST)),
    ),
    NanRow(
        'Harmonic, +inf f0 frame',
        lambda: _harmonic_synth(np.inf),
        _matches_the_rule(_reference_harmonics(_f0_frames(np.inf), _DIST)),
    ),
    NanRow(
        'harmonic_synthesis general path, -inf f0 frame',
        lambda: _harmonic_general_path(-np.inf),
        _matches_the_rule(_reference_harmonics(_f0_frames(-np.inf), _DIST)),
    ),
    NanRow(
        'harmonic_synthesis, NaN f0 frame, f0 and amplitudes on different frame grids',
        _harmonic_separate_grids,
        _matches_the_rule(
            _reference_harmonics(_fine_f0_frames(), _DIST, span=_bad_span(_FINE_BAD, _FINE_HOP)),
            n_nan=2 * _FINE_HOP,
        ),
    ),
    NanRow(
        'harmonic_synthesis in tf.function, NaN f0 frame',
        lambda: tf.function(lambda: _traced(np.nan))().numpy(),
        _matches_the_rule(_reference_harmonics(_f0_frames(np.nan), _DIST)),
    ),
    NanRow(
        'harmonic_synthesis under XLA, NaN f0 frame',
        lambda: tf.function(lambda: _traced(np.nan), jit_compile=True)().numpy(),
        _matches_the_rule(_reference_harmonics(_f0_frames(np.nan), _DIST)),
    ),
    NanRow(
        'Wavetable, NaN f0 frame',
        lambda: _wavetable(np.nan),
        _matches_the_rule(_reference_harmonics(_f0_frames(np.nan), [1.0], exclusive=True)),
    ),
    NanRow(
        'Sinusoidal, NaN frequency frame in one sinusoid',
        lambda: np.asarray(_sinusoidal(np.nan)),
        _matches_the_rule(_reference_sinusoids(np.nan)),
    ),
    NanRow(
        'streaming_harmonic_synthesis, NaN f0 frame: this block only, not the next',
        lambda: _streaming_two_blocks(np.nan),
        _streaming_is_local,
    ),
    NanRow(
        'harmonic_synthesis, one finite f0 frame of 1e30 Hz: the phase goes on after it',
        _huge_f0_synthesis,
        _keeps_playing_after_a_huge_frame,
    ),
    NanRow(
        'FilteredNoise, NaN magnitude frame',
        lambda: synths.FilteredNoise(n_samples=N_SAMPLES, scale_fn=None, window_size=0)(
            _filtered_noise_frames()
        ).numpy(),
        _filtered_noise_is_local,
    ),
    NanRow(
        'Reverb, NaN audio sample: visible in the output (one FFT mixes every sample)',
        lambda: effects.Reverb()(_with(_noise(1, 1000), (0, 500), np.nan), _noise(1, 100)).numpy(),
        lambda audio: np.testing.assert_array_equal(np.isnan(audio), True),
    ),
    *[
        NanRow(
            f'SpectralLoss in tf.function, NaN sample, {term} only: the loss is NaN',
            lambda term=term: _spectral_loss_in_graph(
                False, **{**dict.fromkeys(_TERMS, 0.0), term: 1.0}
            ),
            _is_nan,
        )
        for term in _TERMS
    ],
    NanRow(
        'SpectralLoss under XLA, NaN sample: the loss is NaN',
        lambda: _spectral_loss_in_graph(True, logmag_weight=1.0),
        _is_nan,
    ),
]


@pytest.mark.parametrize('row', NAN_ROWS, ids=[r.name for r in NAN_ROWS])
def test_a_bad_frame_or_sample_does_what_the_rule_says(row):
    row.expect(row.render())


def test_without_bad_frames_the_rule_changes_nothing():
    # The same reference with a finite frame: no NaN, and the same audio everywhere.
    glide = _f0_frames(275.0)
    reference = _reference_harmonics(glide, _DIST)
    assert np.all(np.isfinite(reference))
    np.testing.assert_allclose(_harmonic_synth(275.0).reshape(-1), reference, atol=1e-4)
    np.testing.assert_allclose(_harmonic_general_path(275.0).reshape(-1), reference, atol=1e-4)
    wavetable = _reference_harmonics(glide, [1.0], exclusive=True)
    np.testing.assert_allclose(_wavetable(275.0).reshape(-1), wavetable, atol=1e-4)


# ------------------------------------------------------------------------------------------------
# Integer PCM.
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PcmRow:
    """Integer PCM and the float audio it encodes: `(pcm - offset) / full_scale`."""

    dtype: Any
    offset: int
    full_scale: int


PCM_ROWS = [
    PcmRow(np.int16, 0, 2**15),
    PcmRow(np.int32, 0, 2**31),
    PcmRow(np.int8, 0, 2**7),
    PcmRow(np.uint8, 2**7, 2**7),
]


def _pcm(row, float_audio):
    info = np.iinfo(row.dtype)
    pcm = np.round(float_audio.astype(np.float64) * row.full_scale + row.offset)
    return np.clip(pcm, info.min, info.max).astype(row.dtype)


@pytest.mark.parametrize('row', PCM_ROWS, ids=[np.dtype(r.dtype).name for r in PCM_ROWS])
def test_integer_pcm_is_read_at_its_full_scale(row):
    pcm = _pcm(row, _sine(440.0, 8000, amp=0.5))
    as_float = ((pcm.astype(np.float64) - row.offset) / row.full_scale).astype(np.float32)
    np.testing.assert_array_equal(framing.pcm_to_float(pcm), as_float)
    np.testing.assert_array_equal(framing.pcm_to_float(tf.constant(pcm)).numpy(), as_float)
    for fn in (
        spectral_ops.compute_loudness,
        spectral_ops.compute_rms_energy,
        spectral_ops.compute_power,
        spectral_ops.compute_mag,
    ):
        np.testing.assert_allclose(fn(pcm), fn(as_float), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(
        spectral_ops.compute_loudness(pcm, use_tf=False),
        spectral_ops.compute_loudness(as_float, use_tf=False),
        atol=1e-5,
    )


def test_int16_loudness_is_no_longer_90_db_off():
    # Read unscaled, int16 samples are 32768 times too large: 20 log10(32768) = 90.3 dB.
    audio = _sine(440.0, 16000, amp=0.5)
    pcm = _pcm(PCM_ROWS[0], audio)
    unscaled = spectral_ops.compute_loudness(pcm.astype(np.float32)).numpy()
    scaled = spectral_ops.compute_loudness(pcm).numpy()
    reference = spectral_ops.compute_loudness(audio).numpy()
    np.testing.assert_allclose(np.median(unscaled - reference), 20 * np.log10(2**15), atol=0.1)
    np.testing.assert_allclose(scaled, reference, atol=1e-3)


@pytest.mark.parametrize(
    'shape, channels_last',
    [
        ((16000, 2), True),
        ((2, 16000), False),
        ((16, 1), True),  # 16 = 16 x 1.
        ((15, 1), False),
        ((128, 8), True),
        ((127, 8), False),
        ((1000, 9), False),  # More than 8 channels: a batch.
        ((None, 2), False),  # Unknown while tracing: not rejected.
        ((16000,), False),
    ],
)
def test_channels_last_rule(shape, channels_last):
    assert framing.looks_channels_last(shape) == channels_last


def test_a_batch_of_short_clips_is_still_a_batch():
    # [batch, n_samples] with few samples and a small batch is not mistaken for channels.
    audio = _noise(4, 8)
    rms = spectral_ops.compute_rms_energy(audio, frame_size=8, frame_rate=2000, padding='valid')
    np.testing.assert_allclose(rms.numpy()[:, 0], np.sqrt(np.mean(audio**2, axis=1)), rtol=1e-6)


def test_spectral_loss_shape_check_runs_when_sizes_are_known_at_run_time_only():
    loss = losses.SpectralLoss(fft_sizes=(64,))
    fn = tf.function(loss, input_signature=[tf.TensorSpec([None, None])] * 2)
    target, audio = _noise(2, 500), _noise(2, 500, seed=1)
    np.testing.assert_allclose(fn(target, audio), loss(target, audio), rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match='SpectralLoss: audio.shape must be'):
        fn(_noise(2, 500), _noise(2, 400))
