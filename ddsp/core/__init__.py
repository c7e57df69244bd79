"""Core DSP functions: pure TensorFlow, stateless, differentiable.

Conventions: audio is `[batch, n_samples]`, frame-rate controls are
`[batch, n_frames, channels]`, everything is float32, frequencies are in Hz
and amplitudes are linear. Every function runs eagerly, inside `tf.function`
and under XLA (`jit_compile=True`).

One concept a module; `ddsp.core.<name>` is the public address of every function:

* `tensors`: float32 conversion, nested dicts of outputs, single-axis pad/slice/diff.
* `safe_math`: logs and divisions that stay finite, soft limits, log scales.
* `units`: dB, MIDI, Hz, the unit interval, Bark, mel and ERB.
* `scaling`: raw network outputs -> amplitudes and frequencies (`exp_sigmoid`, ...).
* `resampling`: frame-rate controls -> audio rate (`resample`, `upsample_with_windows`).
* `oscillators`: sinusoids and harmonic synthesis, harmonic <-> sinusoidal controls.
* `wavetables`: wavetable lookup and synthesis, variable-length delay.
* `filtering`: FFT convolution, FIR design by frequency sampling, windowed sinc.

The public functions carry `__module__ == 'ddsp.core'` (see `_public`), and the
gin-registered ones are registered under the module `ddsp.core`, so saved configs
(`'ddsp.core.exp_sigmoid'`) and gin files (`@core.exp_sigmoid`,
`oscillator_bank.sum_sinusoids`) name them as before.

Example:
    >>> from ddsp import core
    >>> audio = core.harmonic_synthesis(f0_hz, core.exp_sigmoid(raw_amps),
    ...                                 harmonic_distribution=dist, n_samples=64000)
"""

from ddsp.core._public import PACKAGE, publish
from ddsp.core.filtering import (
    apply_window_to_impulse_response,
    crop_and_compensate_delay,
    equal_frames,
    fft_convolve,
    frequency_filter,
    frequency_impulse_response,
    get_fft_size,
    sinc,
    sinc_filter,
    sinc_impulse_response,
)
from ddsp.core.oscillators import (
    angular_cumsum,
    get_harmonic_frequencies,
    harmonic_oscillator_bank,
    harmonic_synthesis,
    harmonic_to_sinusoidal,
    normalize_harmonics,
    oscillator_bank,
    remove_above_nyquist,
    sinusoidal_to_harmonic,
    streaming_harmonic_synthesis,
)
from ddsp.core.resampling import RESAMPLE_METHODS, center_crop, resample, upsample_with_windows
from ddsp.core.safe_math import (
    gradient_reversal,
    log10,
    log_scale,
    logb,
    nan_to_num,
    safe_divide,
    safe_log,
    soft_limit,
)
from ddsp.core.scaling import (
    exp_sigmoid,
    frequencies_critical_bands,
    frequencies_sigmoid,
    frequencies_softmax,
    sym_exp_sigmoid,
)
from ddsp.core.tensors import (
    MissingKeyError,
    copy_if_tf_function,
    diff,
    f32,
    leaf_key,
    make_iterable,
    map_shape,
    nested_keys,
    nested_lookup,
    pad_axis,
    slice_axis,
    tf_float32,
    to_dict,
)
from ddsp.core.units import (
    DB_RANGE,
    Number,
    amplitude_to_db,
    bark_to_hz,
    db_to_amplitude,
    db_to_power,
    hz_to_bark,
    hz_to_erb,
    hz_to_mel,
    hz_to_midi,
    hz_to_unit,
    mel_to_hz,
    midi_to_hz,
    midi_to_unit,
    power_to_db,
    unit_to_hz,
    unit_to_midi,
)
from ddsp.core.wavetables import (
    harmonic_distribution_to_wavetable,
    linear_lookup,
    variable_length_delay,
    wavetable_synthesis,
)

_RESAMPLE_METHODS = RESAMPLE_METHODS  # The name before the package split.

__all__ = [
    # tensors
    'tf_float32',
    'f32',
    'make_iterable',
    'to_dict',
    'copy_if_tf_function',
    'nested_keys',
    'MissingKeyError',
    'nested_lookup',
    'leaf_key',
    'map_shape',
    'pad_axis',
    'slice_axis',
    'diff',
    # safe_math
    'nan_to_num',
    'safe_divide',
    'safe_log',
    'logb',
    'log10',
    'log_scale',
    'soft_limit',
    'gradient_reversal',
    # units
    'Number',
    'DB_RANGE',
    'amplitude_to_db',
    'power_to_db',
    'db_to_amplitude',
    'db_to_power',
    'midi_to_hz',
    'hz_to_midi',
    'unit_to_midi',
    'midi_to_unit',
    'unit_to_hz',
    'hz_to_unit',
    'hz_to_bark',
    'bark_to_hz',
    'hz_to_mel',
    'mel_to_hz',
    'hz_to_erb',
    # scaling
    'exp_sigmoid',
    'sym_exp_sigmoid',
    'frequencies_softmax',
    'frequencies_sigmoid',
    'frequencies_critical_bands',
    # resampling
    'RESAMPLE_METHODS',
    'resample',
    'upsample_with_windows',
    'center_crop',
    # oscillators
    'sinusoidal_to_harmonic',
    'harmonic_to_sinusoidal',
    'angular_cumsum',
    'remove_above_nyquist',
    'normalize_harmonics',
    'oscillator_bank',
    'harmonic_oscillator_bank',
    'get_harmonic_frequencies',
    'harmonic_synthesis',
    'streaming_harmonic_synthesis',
    # wavetables
    'linear_lookup',
    'harmonic_distribution_to_wavetable',
    'wavetable_synthesis',
    'variable_length_delay',
    # filtering
    'get_fft_size',
    'equal_frames',
    'crop_and_compensate_delay',
    'fft_convolve',
    'apply_window_to_impulse_response',
    'frequency_impulse_response',
    'sinc',
    'sinc_impulse_response',
    'frequency_filter',
    'sinc_filter',
]


for _name in __all__:  # Every public function and class lives at `ddsp.core.<name>`.
    if callable(globals()[_name]) and globals()[_name].__module__.startswith(PACKAGE + '.'):
        publish(globals()[_name])
del _name
