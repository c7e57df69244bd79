"""Tests for ddsp.synths: Harmonic (and its old name Additive), FilteredNoise,
Wavetable, Sinusoidal and TensorToAudio.

Every expected signal comes from a float64 NumPy reference that implements the math of
the API spec (sections 1.1, 1.5 and 6.1) directly: exp_sigmoid, Nyquist removal and
normalisation, Hann overlap-add upsampling of amplitudes, linear upsampling of
frequencies (last frame held), inclusive phase sums for oscillators and exclusive ones
for wavetables. FilteredNoise is random, so its averaged output spectrum is compared with
the requested filter magnitudes.
"""

import gin
import keras
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

import ddsp
from ddsp import core, processors, synths
import ddsp.synths  # `import ddsp` does not import synths yet.

SR = 16000
NYQUIST = SR / 2.0


# ------------------------------------------------------------------------------
# Float64 NumPy references, written from the spec.
# ------------------------------------------------------------------------------
def _np(x):
    return np.asarray(x.numpy() if hasattr(x, 'numpy') else x, dtype=np.float64)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _np_exp_sigmoid(x, exponent=10.0, max_value=2.0, threshold=1e-7):
    """Spec 6.1.1: max_value * sigmoid(x)^ln(exponent) + threshold."""
    return max_value * _np_sigmoid(x) ** np.log(exponent) + threshold


def _np_inverse_exp_sigmoid(y):
    """Raw value x with exp_sigmoid(x) = y, for 1e-7 < y < 2 + 1e-7."""
    s = ((np.asarray(y, np.float64) - 1e-7) / 2.0) ** (1.0 / np.log(10.0))
    return np.log(s / (1.0 - s))


def _np_hz_to_midi(hz):
    hz = np.asarray(hz, np.float64)
    with np.errstate(divide='ignore'):
        midi = 12.0 * np.log2(hz / 440.0) + 69.0
    return np.where(hz <= 0.0, 0.0, midi)


def _np_midi_to_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, np.float64) - 69.0) / 12.0)


def _np_frequencies_sigmoid(x, hz_min=0.0, hz_max=8000.0):
    """frequencies_sigmoid with depth 1: unit_to_hz(sigmoid(x)), linear in MIDI."""
    m_min, m_max = _np_hz_to_midi(hz_min), _np_hz_to_midi(hz_max)
    return _np_midi_to_hz(m_min + (m_max - m_min) * _np_sigmoid(x))


def _np_window_upsample(x, n_samples):
    """Hann overlap-add (spec 6.1.2): hop = N / T, windows of 2 hop (50 % overlap).

    The last frame is repeated once (endpoint); frame k's window spans output steps
    [(k - 1) hop, (k + 1) hop), peaking at k hop; the one-hop ramps at both ends are
    trimmed.
    """
    x = np.asarray(x, np.float64)
    batch, n_frames, channels = x.shape
    hop = n_samples // n_frames
    window = scipy.signal.get_window('hann', 2 * hop)  # Periodic Hann.
    frames = np.concatenate([x, x[:, -1:]], axis=1)
    out = np.zeros((batch, (n_frames + 2) * hop, channels))
    for k in range(n_frames + 1):
        out[:, k * hop : (k + 2) * hop] += frames[:, k : k + 1] * window[None, :, None]
    return out[:, hop : hop + n_samples]


def _np_linear_upsample(x, n_samples):
    """Frame k lands on step k N / T; the last frame is held (spec 6.1.2)."""
    x = np.asarray(x, np.float64)
    n_frames = x.shape[1]
    positions = np.arange(n_samples) * n_frames / n_samples
    frames = np.arange(n_frames)
    out = np.empty((x.shape[0], n_samples, x.shape[2]))
    for b in range(x.shape[0]):
        for c in range(x.shape[2]):
            out[b, :, c] = np.interp(positions, frames, x[b, :, c])
    return out


def _np_oscillator_bank(freqs, amps, sample_rate=SR):
    """Sum of sines with inclusive phase sums of 2 pi f / sr; silent at >= Nyquist."""
    phases = np.cumsum(2.0 * np.pi * freqs / sample_rate, axis=1)
    amps = np.where(freqs >= sample_rate / 2.0, 0.0, amps)
    return np.sum(amps * np.sin(phases), axis=-1)


def _np_harmonic_controls(amps, hd, f0, scale=True, below_nyquist=True, sample_rate=SR):
    amps, hd, f0 = (np.asarray(v, np.float64) for v in (amps, hd, f0))
    if scale:
        amps, hd = _np_exp_sigmoid(amps), _np_exp_sigmoid(hd)
    if below_nyquist:
        harmonic_freqs = f0 * np.arange(1, hd.shape[-1] + 1)
        hd = np.where(harmonic_freqs >= sample_rate / 2.0, 0.0, hd)
    return amps, hd / np.sum(hd, axis=-1, keepdims=True)


def _np_harmonic(
    amps, hd, f0, n_samples, amp_upsample=_np_window_upsample, sample_rate=SR, **control_kwargs
):
    """Harmonic synth: harmonic k at k f0 with amplitude amps * hd_k."""
    amps, hd = _np_harmonic_controls(amps, hd, f0, sample_rate=sample_rate, **control_kwargs)
    harmonics = np.arange(1, hd.shape[-1] + 1)
    freqs = _np_linear_upsample(f0, n_samples) * harmonics
    return _np_oscillator_bank(freqs, amp_upsample(amps * hd, n_samples), sample_rate)


def _np_wavetable(amps, tables, f0, n_samples, sample_rate=SR):
    """Tables interpolated linearly between frames; phase = exclusive sum of f/sr mod 1."""
    amps_n = _np_window_upsample(amps, n_samples)[..., 0]
    f0_n = _np_linear_upsample(f0, n_samples)[..., 0]
    tables_n = _np_linear_upsample(tables, n_samples)
    phase = np.cumsum(f0_n / sample_rate, axis=1) - f0_n / sample_rate
    phase -= np.floor(phase)
    n_table = tables.shape[-1]
    position = phase * n_table
    lower = np.floor(position).astype(int)
    frac = position - lower
    lower_value = np.take_along_axis(tables_n, (lower % n_table)[..., None], -1)[..., 0]
    upper_value = np.take_along_axis(tables_n, ((lower + 1) % n_table)[..., None], -1)[..., 0]
    return amps_n * ((1.0 - frac) * lower_value + frac * upper_value)


def _rand(shape, seed, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (offset + scale * rng.standard_normal(shape)).astype(np.float32)


def _harmonic_inputs(n_frames=40, n_harmonics=12, seed=0):
    """Raw amps/distribution and two f0 tracks that never cross Nyquist mid-signal.

    Example 0 glides 300 -> 600 Hz: all 12 harmonics stay below 8 kHz (12 * 600 = 7200).
    Example 1 wobbles 1050 +- 40 Hz: harmonic 7 stays below (7 * 1090 = 7630) and
    harmonic 8 above (8 * 1010 = 8080), so Nyquist removal matters but no harmonic
    switches on or off mid-signal (where float32 and float64 might disagree by a sample).
    """
    t = np.linspace(0.0, 1.0, n_frames)
    f0 = np.stack([300.0 + 300.0 * t, 1050.0 + 40.0 * np.sin(2 * np.pi * 3 * t)])
    amps = _rand((2, n_frames, 1), seed)
    hd = _rand((2, n_frames, n_harmonics), seed + 1)
    return amps, hd, f0[..., None].astype(np.float32)


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


# ------------------------------------------------------------------------------
# TensorToAudio
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'convert', [np.asarray, tf.constant, lambda x: x.tolist()], ids=['numpy', 'tensor', 'list']
)
def test_tensor_to_audio_squeezes_channel_axis(convert):
    samples = _rand((2, 100, 1), seed=0)
    to_audio = synths.TensorToAudio()
    audio = to_audio(convert(samples))
    assert to_audio.name == 'tensor_to_audio'
    assert audio.shape == (2, 100)
    np.testing.assert_array_equal(audio.numpy(), samples[..., 0])


# ------------------------------------------------------------------------------
# Harmonic
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'normalize_below_nyquist, amp_resample_method',
    [(True, 'window'), (False, 'window'), (True, 'linear')],
)
def test_harmonic_matches_numpy_reference(normalize_below_nyquist, amp_resample_method):
    amps, hd, f0 = _harmonic_inputs()
    n_samples = 4000  # 100 samples per frame.
    harmonic = synths.Harmonic(
        n_samples=n_samples,
        sample_rate=SR,
        normalize_below_nyquist=normalize_below_nyquist,
        amp_resample_method=amp_resample_method,
    )
    outputs = harmonic(amps, hd, f0, return_outputs_dict=True)
    upsample = {'window': _np_window_upsample, 'linear': _np_linear_upsample}
    expected = _np_harmonic(
        amps,
        hd,
        f0,
        n_samples,
        amp_upsample=upsample[amp_resample_method],
        below_nyquist=normalize_below_nyquist,
    )
    audio = _np(outputs['signal'])
    assert audio.shape == (2, n_samples)
    # float32 synthesis of amplitudes of order 1: compare relative to the peak.
    np.testing.assert_allclose(audio, expected, atol=2e-5 * np.max(np.abs(expected)))

    expected_amps, expected_hd = _np_harmonic_controls(
        amps, hd, f0, below_nyquist=normalize_below_nyquist
    )
    controls = outputs['controls']
    assert set(controls) == {'amplitudes', 'harmonic_distribution', 'f0_hz'}
    np.testing.assert_allclose(_np(controls['amplitudes']), expected_amps, rtol=1e-5)
    np.testing.assert_allclose(
        _np(controls['harmonic_distribution']), expected_hd, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(np.sum(_np(controls['harmonic_distribution']), -1), 1.0, rtol=1e-5)
    above = _np(f0) * np.arange(1, hd.shape[-1] + 1) >= NYQUIST
    assert above.any()
    removed = _np(controls['harmonic_distribution'])[above]
    assert np.all(removed == 0.0) == normalize_below_nyquist


def test_harmonic_scale_fn_none_uses_controls_as_given():
    amps, hd, f0 = _harmonic_inputs()
    amps, hd = np.abs(amps), np.abs(hd)
    harmonic = synths.Harmonic(n_samples=4000, scale_fn=None)
    controls = harmonic.get_controls(amps, hd, f0)
    np.testing.assert_array_equal(_np(controls['amplitudes']), _np(amps))
    _, expected_hd = _np_harmonic_controls(amps, hd, f0, scale=False)
    np.testing.assert_allclose(_np(controls['harmonic_distribution']), expected_hd, rtol=1e-5)
    expected = _np_harmonic(amps, hd, f0, 4000, scale=False)
    np.testing.assert_allclose(
        _np(harmonic(amps, hd, f0)), expected, atol=2e-5 * np.max(np.abs(expected))
    )


def test_harmonic_passes_use_angular_cumsum_to_harmonic_synthesis(monkeypatch):
    seen = {}
    original = core.harmonic_synthesis

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(synths.core, 'harmonic_synthesis', spy)
    amps, hd, f0 = _harmonic_inputs()
    synths.Harmonic(
        n_samples=4000, sample_rate=SR, amp_resample_method='linear', use_angular_cumsum=True
    )(amps, hd, f0)
    assert seen['use_angular_cumsum'] is True
    assert seen['n_samples'] == 4000 and seen['sample_rate'] == SR
    assert seen['amp_resample_method'] == 'linear'


# ------------------------------------------------------------------------------
# Sinusoidal
# ------------------------------------------------------------------------------
def test_sinusoidal_default_scaling_matches_numpy_reference():
    n_frames, n_sinusoids, n_samples = 40, 6, 4000
    amps = _rand((2, n_frames, n_sinusoids), seed=3)
    # Logits in about [-1.5, 2]: 0.5 to 3.5 kHz, clear of Nyquist (the sigmoid would
    # saturate to exactly 8 kHz in float32 only for logits above ~17).
    freqs = _rand((2, n_frames, n_sinusoids), seed=4, scale=0.5, offset=0.25)
    sinusoidal = synths.Sinusoidal(n_samples=n_samples, sample_rate=SR)
    outputs = sinusoidal(amps, freqs, return_outputs_dict=True)

    expected_amps = _np_exp_sigmoid(amps)
    expected_freqs = _np_frequencies_sigmoid(freqs)
    np.testing.assert_allclose(_np(outputs['controls']['amplitudes']), expected_amps, rtol=1e-5)
    np.testing.assert_allclose(_np(outputs['controls']['frequencies']), expected_freqs, rtol=1e-4)
    # The synthesis is checked from the float32 frequencies: a relative error of 1e-6
    # in a 3.5 kHz tone (float32 midi_to_hz) is already 5e-3 rad of phase after 4000
    # samples, more than the synthesis error being tested.
    expected = _np_oscillator_bank(
        _np_linear_upsample(_np(outputs['controls']['frequencies']), n_samples),
        _np_window_upsample(expected_amps, n_samples),
    )
    np.testing.assert_allclose(
        _np(outputs['signal']), expected, atol=1e-5 * np.max(np.abs(expected))
    )


@pytest.mark.parametrize('amp_resample_method', ['window', 'linear'])
def test_sinusoidal_removes_components_above_nyquist(amp_resample_method):
    n_frames, n_samples = 20, 2000
    t = np.linspace(0.0, 1.0, n_frames)[None, :, None]
    # A glide, a steady tone, and a component above Nyquist that must be silent.
    freqs = np.concatenate(
        [200.0 + 2800.0 * t, 1000.0 + 0.0 * t, NYQUIST + 1000.0 + 0.0 * t], axis=-1
    ).astype(np.float32)
    amps = np.concatenate([0.5 + 0.0 * t, 0.2 + 0.1 * t, 0.3 + 0.0 * t], axis=-1).astype(np.float32)
    sinusoidal = synths.Sinusoidal(
        n_samples=n_samples,
        amp_scale_fn=None,
        freq_scale_fn=None,
        amp_resample_method=amp_resample_method,
    )
    outputs = sinusoidal(amps, freqs, return_outputs_dict=True)
    np.testing.assert_array_equal(_np(outputs['controls']['amplitudes'])[..., 2], 0.0)
    np.testing.assert_array_equal(_np(outputs['controls']['frequencies']), _np(freqs))
    upsample = {'window': _np_window_upsample, 'linear': _np_linear_upsample}
    kept = np.where(freqs >= NYQUIST, 0.0, amps)
    expected = _np_oscillator_bank(
        _np_linear_upsample(freqs, n_samples), upsample[amp_resample_method](kept, n_samples)
    )
    # float32 frequency envelopes put ~1e-4 rad of phase error into the 3 kHz glide.
    np.testing.assert_allclose(
        _np(outputs['signal']), expected, atol=1e-4 * np.max(np.abs(expected))
    )


# ------------------------------------------------------------------------------
# Wavetable
# ------------------------------------------------------------------------------
def test_wavetable_sine_table_gives_a_sine_of_the_right_frequency_and_amplitude():
    n_table, n_frames, n_samples = 256, 10, 8000
    frequency, amplitude = 440.0, 0.7
    sine = np.sin(2.0 * np.pi * np.arange(n_table) / n_table).astype(np.float32)
    amps = np.full((1, n_frames, 1), amplitude, np.float32)
    f0 = np.full((1, n_frames, 1), frequency, np.float32)
    wavetable = synths.Wavetable(n_samples=n_samples, sample_rate=SR, scale_fn=None)
    audio = _np(wavetable(amps, sine[None, :], f0))[0]

    # The phase starts at 0 (exclusive sum): sample n is at n f / sr cycles. Linear
    # interpolation of a 256-point sine errs by at most (2 pi / 256)^2 / 8 ~ 8e-5.
    n = np.arange(n_samples)
    expected = amplitude * np.sin(2.0 * np.pi * frequency * n / SR)
    np.testing.assert_allclose(audio, expected, atol=amplitude * (2 * np.pi / n_table) ** 2)
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * SR / n_samples  # 2 Hz bins; 440 Hz is a bin.
    assert peak_hz == frequency
    np.testing.assert_allclose(np.max(np.abs(audio)), amplitude, rtol=1e-3)


def test_wavetable_morphing_tables_match_numpy_reference():
    n_frames, n_table, n_samples = 20, 64, 2000
    amps = _rand((2, n_frames, 1), seed=5)
    tables = _rand((2, n_frames, n_table), seed=6)
    f0 = np.linspace(200.0, 900.0, 2 * n_frames, dtype=np.float32).reshape(2, n_frames, 1)
    wavetable = synths.Wavetable(n_samples=n_samples, sample_rate=SR)
    outputs = wavetable(amps, tables, f0, return_outputs_dict=True)
    controls = outputs['controls']
    # The default scale_fn (exp_sigmoid) applies to amplitudes and tables alike.
    np.testing.assert_allclose(_np(controls['wavetables']), _np_exp_sigmoid(tables), rtol=1e-5)
    assert np.all(_np(controls['wavetables']) > 0.0)
    expected = _np_wavetable(_np_exp_sigmoid(amps), _np_exp_sigmoid(tables), f0, n_samples)
    np.testing.assert_allclose(
        _np(outputs['signal']), expected, atol=1e-4 * np.max(np.abs(expected))
    )


# ------------------------------------------------------------------------------
# FilteredNoise
# ------------------------------------------------------------------------------
def _butterworth_2(freqs, cutoff_hz=2000.0):
    """|H| of a 2nd-order Butterworth low-pass: 0 dB at DC, -24 dB at 8 kHz."""
    return 1.0 / np.sqrt(1.0 + (freqs / cutoff_hz) ** 4)


@pytest.mark.parametrize('shape', ['flat', 'lowpass'])
def test_filtered_noise_spectrum_follows_requested_magnitudes(shape):
    n_bands, n_frames, n_samples, n_draws = 65, 16, 16000, 64
    band_hz = np.linspace(0.0, NYQUIST, n_bands)
    gains = np.ones(n_bands) if shape == 'flat' else _butterworth_2(band_hz)
    # Raw network outputs that the default scaling turns into exactly these gains:
    # scale_fn(raw + initial_bias) = gains.
    noise = synths.FilteredNoise(n_samples=n_samples)
    raw = _np_inverse_exp_sigmoid(gains) - noise.initial_bias
    magnitudes = np.tile(raw, (n_draws, n_frames, 1)).astype(np.float32)
    tf.random.set_seed(0)
    outputs = noise(magnitudes, return_outputs_dict=True)
    np.testing.assert_allclose(_np(outputs['controls']['magnitudes'])[0, 0], gains, rtol=1e-4)
    audio = _np(outputs['signal'])
    assert audio.shape == (n_draws, n_samples)
    assert np.all(np.isfinite(audio))

    # Expected power spectrum. Uniform noise on [-1, 1] is white with variance
    # sigma^2 = integral of x^2 / 2 over [-1, 1] = 1/3 per sample. Filtering by H gives
    # a segment y of length L, windowed by w, the expected periodogram
    # E|Y(f)|^2 = sigma^2 * sum(w^2) * |H(f)|^2 (for H smooth on the scale of the
    # window's main lobe). Dividing the averaged periodogram by sigma^2 * sum(w^2)
    # therefore estimates |H(f)|^2, which the filter design should match at the band
    # centres. The all-equal frames make the time-varying filter time-invariant.
    # 256-sample segments, twice the filters' 2 (K - 1) = 128-point frequency grid, so
    # band j is FFT bin 2 j.
    segment = 4 * (n_bands - 1)
    skip = segment  # Skip the filter's start-up transient.
    window = scipy.signal.get_window('hann', segment)
    frames = np.lib.stride_tricks.sliding_window_view(audio[:, skip:], segment, axis=1)[
        :, :: segment // 2
    ]
    periodogram = np.mean(np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2, axis=(0, 1))
    power_gain = periodogram / ((1.0 / 3.0) * np.sum(window**2))
    measured_db = 10.0 * np.log10(power_gain[::2])
    requested_db = 20.0 * np.log10(gains)
    np.testing.assert_allclose(measured_db, requested_db, atol=1.0)


def test_filtered_noise_controls_and_fresh_noise():
    magnitudes = _rand((2, 10, 33), seed=7)
    noise = synths.FilteredNoise(n_samples=1000, window_size=31, initial_bias=-3.0)
    controls = noise.get_controls(magnitudes)
    np.testing.assert_allclose(
        _np(controls['magnitudes']), _np_exp_sigmoid(magnitudes - 3.0), rtol=1e-5
    )
    unscaled = synths.FilteredNoise(n_samples=1000, scale_fn=None, initial_bias=-3.0)
    # Without scale_fn the magnitudes are used as given: the bias belongs to scaling.
    np.testing.assert_array_equal(_np(unscaled.get_controls(magnitudes)['magnitudes']), magnitudes)
    first, second = noise(magnitudes), noise(magnitudes)
    assert first.shape == (2, 1000)
    assert not np.allclose(first, second)  # Fresh noise on every call.
    tf.random.set_seed(1)
    seeded = noise(magnitudes)
    tf.random.set_seed(1)
    np.testing.assert_array_equal(seeded, noise(magnitudes))


@pytest.mark.parametrize('noise_fade_fn', [None, core.exp_sigmoid])
def test_filtered_noise_rejects_removed_noise_fade_fn(noise_fade_fn):
    with pytest.raises(TypeError, match='noise_fade_fn.*removed'):
        synths.FilteredNoise(noise_fade_fn=noise_fade_fn)


# ------------------------------------------------------------------------------
# Serialisation, tf.function / XLA, gradients
# ------------------------------------------------------------------------------
def _synth_cases():
    amps, hd, f0 = _harmonic_inputs(n_frames=20, n_harmonics=6)
    tables = _rand((2, 20, 32), seed=8)
    sin_freqs = _rand((2, 20, 6), seed=9, scale=0.5)
    return {
        'harmonic': (
            lambda: synths.Harmonic(
                n_samples=2000,
                sample_rate=22050,
                scale_fn=tf.nn.softplus,
                normalize_below_nyquist=False,
                amp_resample_method='linear',
                use_angular_cumsum=True,
                name='my_harmonic',
            ),
            (amps, hd, f0),
        ),
        'additive': (
            lambda: synths.Additive(n_samples=2000, amp_scale_fn=None),
            (np.abs(amps), np.abs(hd), f0),
        ),
        'wavetable': (
            lambda: synths.Wavetable(n_samples=2000, sample_rate=SR, scale_fn=None),
            (amps, tables, f0),
        ),
        'sinusoidal': (
            lambda: synths.Sinusoidal(
                n_samples=2000,
                sample_rate=SR,
                amp_scale_fn=core.exp_sigmoid,
                amp_resample_method='linear',
                freq_scale_fn=core.frequencies_critical_bands,
            ),
            (hd, sin_freqs),
        ),
        'filtered_noise': (
            lambda: synths.FilteredNoise(
                n_samples=2000, window_size=0, scale_fn=None, initial_bias=-2.0
            ),
            (np.abs(hd),),
        ),
        'tensor_to_audio': (
            lambda: synths.TensorToAudio(name='raw'),
            (_rand((2, 50, 1), seed=10),),
        ),
    }


@pytest.mark.parametrize('case', sorted(_synth_cases()))
def test_get_config_round_trip(case):
    make, inputs = _synth_cases()[case]
    synth = make()
    config = synth.get_config()
    for key in (
        'n_samples',
        'sample_rate',
        'scale_fn',
        'window_size',
        'initial_bias',
        'amp_scale_fn',
        'freq_scale_fn',
        'amp_resample_method',
        'normalize_below_nyquist',
        'use_angular_cumsum',
    ):
        if hasattr(synth, key):
            assert key in config, key
    clone = type(synth).from_config(config)
    assert clone.get_config() == config
    # Through Keras's registry, as a ProcessorGroup's get_config does.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(synth))
    assert type(restored) is type(synth)
    assert restored.get_config() == config
    for other in (clone, restored):
        tf.random.set_seed(2)
        expected = synth(*inputs)
        tf.random.set_seed(2)
        np.testing.assert_array_equal(other(*inputs), expected)


def test_get_config_names_scale_fns_by_dotted_path():
    config = synths.Sinusoidal(amp_scale_fn=None).get_config()
    assert config['amp_scale_fn'] is None
    assert config['freq_scale_fn'] == 'ddsp.core.frequencies_sigmoid'
    assert synths.Harmonic().get_config()['scale_fn'] == 'ddsp.core.exp_sigmoid'
    with pytest.raises(ValueError, match='serialize'):
        synths.Harmonic(scale_fn=lambda x: x).get_config()


@pytest.mark.parametrize('case', ['harmonic', 'wavetable', 'sinusoidal'])
def test_tf_function_and_xla_match_eager(case):
    make, inputs = _synth_cases()[case]
    synth = make()
    inputs = [tf.constant(x) for x in inputs]
    eager = _np(synth(*inputs))
    graph = _np(tf.function(lambda *x: synth(*x))(*inputs))
    xla = _np(tf.function(lambda *x: synth(*x), jit_compile=True)(*inputs))
    scale = np.max(np.abs(eager))
    # Graph and XLA may reorder float32 sums (e.g. einsum), so allow rounding noise.
    np.testing.assert_allclose(graph, eager, atol=1e-5 * scale)
    np.testing.assert_allclose(xla, eager, atol=1e-4 * scale)


@pytest.mark.parametrize(
    'case, differentiable',
    [('harmonic', (0, 1)), ('wavetable', (0, 1)), ('sinusoidal', (0, 1)), ('filtered_noise', (0,))],
)
def test_gradients_reach_the_inputs(case, differentiable):
    make, inputs = _synth_cases()[case]
    synth = make()
    inputs = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        for i in differentiable:
            tape.watch(inputs[i])
        loss = tf.reduce_sum(synth(*inputs) ** 2)
    grads = tape.gradient(loss, [inputs[i] for i in differentiable])
    for i, grad in zip(differentiable, grads):
        assert grad is not None, i
        grad = _np(grad)
        assert np.all(np.isfinite(grad)), i
        assert np.any(grad != 0.0), i


# ------------------------------------------------------------------------------
# Additive (the first release's name of Harmonic)
# ------------------------------------------------------------------------------
def _readme_outputs(n_frames=1000, n_harmonics=8):
    """Network outputs as the README uses them, for 4 s at the default 64000 samples."""
    amps, hd, f0 = _harmonic_inputs(n_frames=n_frames, n_harmonics=n_harmonics)
    return {'amplitudes': amps[:1], 'harmonic_distribution': hd[:1], 'f0_hz': f0[:1]}


def test_additive_readme_program():
    outputs = _readme_outputs()
    # The README's program, verbatim:
    additive = ddsp.synths.Additive()
    audio = additive(outputs['amplitudes'], outputs['harmonic_distribution'], outputs['f0_hz'])

    assert audio.shape == (1, 64000)
    assert additive.name == 'additive'
    assert isinstance(additive, synths.Harmonic)
    expected = synths.Harmonic()(
        outputs['amplitudes'], outputs['harmonic_distribution'], outputs['f0_hz']
    )
    np.testing.assert_array_equal(audio, expected)


def test_additive_outputs_use_additive_keys_in_a_processor_group():
    outputs = _readme_outputs(n_frames=20)
    group = processors.ProcessorGroup(
        dag=[(synths.Additive(n_samples=2000), ['amplitudes', 'harmonic_distribution', 'f0_hz'])]
    )
    dag_outputs = group.get_controls(outputs)
    signal = core.nested_lookup('additive/signal', dag_outputs)
    assert signal.shape == (1, 2000)
    np.testing.assert_array_equal(core.nested_lookup('out/signal', dag_outputs), signal)
    np.testing.assert_allclose(
        _np(core.nested_lookup('additive/controls/amplitudes', dag_outputs)),
        _np_exp_sigmoid(outputs['amplitudes']),
        rtol=1e-5,
    )
    assert 'harmonic' not in dag_outputs


def test_additive_accepts_old_argument_names():
    amps, hd, f0 = _harmonic_inputs(n_frames=20)
    assert synths.Additive().scale_fn is core.exp_sigmoid
    assert synths.Additive(amp_scale_fn=None).scale_fn is None
    assert synths.Additive(amp_scale_fn=tf.nn.softplus).scale_fn is tf.nn.softplus
    assert synths.Additive(scale_fn=None).scale_fn is None
    with pytest.raises(ValueError, match='amp_scale_fn.*old name of scale_fn'):
        synths.Additive(scale_fn=None, amp_scale_fn=core.exp_sigmoid)
    additive = synths.Additive(n_samples=2000)
    by_old_names = additive.get_controls(
        nn_out_amplitudes=amps, nn_out_harmonic_distribution=hd, f0_hz=f0
    )
    by_position = additive.get_controls(amps, hd, f0)
    for key, value in by_position.items():
        np.testing.assert_array_equal(by_old_names[key], value)
    with pytest.raises(TypeError, match='both amplitudes and its old name'):
        additive.get_controls(amps, hd, f0, nn_out_amplitudes=amps)


# ------------------------------------------------------------------------------
# ProcessorGroup and gin
# ------------------------------------------------------------------------------
def test_harmonic_plus_noise_group_keys_and_config_round_trip():
    amps, hd, f0 = _harmonic_inputs(n_frames=20)
    inputs = {'amps': amps, 'hd': hd, 'f0_hz': f0, 'noise': _rand((2, 20, 17), seed=11)}
    group = processors.ProcessorGroup(
        dag=[
            (synths.Harmonic(n_samples=2000), ['amps', 'hd', 'f0_hz']),
            (synths.FilteredNoise(n_samples=2000), ['noise']),
            (processors.Add(), ['filtered_noise/signal', 'harmonic/signal']),
        ]
    )
    outputs = group.get_controls(inputs)
    for key in (
        'harmonic/signal',
        'harmonic/controls/harmonic_distribution',
        'filtered_noise/signal',
        'filtered_noise/controls/magnitudes',
        'add/signal',
        'out/signal',
    ):
        assert core.nested_lookup(key, outputs).shape[0] == 2, key
    restored = processors.ProcessorGroup.from_config(group.get_config())
    np.testing.assert_array_equal(
        core.nested_lookup('harmonic/signal', restored.get_controls(inputs)),
        core.nested_lookup('harmonic/signal', outputs),
    )


@pytest.mark.parametrize('scale_fn_ref', ['@core.exp_sigmoid', '@exp_sigmoid'])
def test_gin_bindings_under_original_names(clean_gin, scale_fn_ref):
    gin.parse_config(f"""
        Harmonic.n_samples = 2000
        synths.Harmonic.sample_rate = 22050
        Harmonic.scale_fn = {scale_fn_ref}
        Harmonic.amp_resample_method = 'linear'
        ddsp.synths.FilteredNoise.window_size = 0
        FilteredNoise.n_samples = 2000
        processors.ProcessorGroup.dag = [
            (@synths.Harmonic(), ['amps', 'hd', 'f0_hz']),
            (@synths.FilteredNoise(), ['noise']),
            (@processors.Add(), ['harmonic/signal', 'filtered_noise/signal']),
        ]
    """)
    assert gin.query_parameter('Harmonic.n_samples') == 2000
    group = processors.ProcessorGroup()
    harmonic, noise = group.harmonic, group.filtered_noise
    assert isinstance(harmonic, synths.Harmonic)
    assert (harmonic.n_samples, harmonic.sample_rate) == (2000, 22050)
    assert harmonic.amp_resample_method == 'linear'
    assert harmonic.get_config()['scale_fn'] == 'ddsp.core.exp_sigmoid'
    assert (noise.n_samples, noise.window_size) == (2000, 0)
    amps, hd, f0 = _harmonic_inputs(n_frames=20)
    audio = group({'amps': amps, 'hd': hd, 'f0_hz': f0, 'noise': _rand((2, 20, 9), seed=12)})
    assert audio.shape == (2, 2000)
    # gin.register: direct Python construction ignores the bindings.
    assert synths.Harmonic().n_samples == 64000


def test_gin_bindings_for_the_other_synths(clean_gin):
    gin.parse_config("""
        Wavetable.scale_fn = None
        Sinusoidal.freq_scale_fn = @core.frequencies_softmax
        Sinusoidal.amp_scale_fn = None
        Additive.amp_scale_fn = None
        Additive.n_samples = 2000
        TensorToAudio.name = 'raw_audio'
        processors.ProcessorGroup.dag = [
            (@synths.Wavetable(), ['a', 'w', 'f']),
            (@synths.Sinusoidal(), ['a', 'w']),
            (@synths.Additive(), ['a', 'w', 'f']),
            (@synths.TensorToAudio(), ['x']),
        ]
    """)
    group = processors.ProcessorGroup()
    assert group.wavetable.scale_fn is None
    assert group.sinusoidal.amp_scale_fn is None
    assert group.sinusoidal.get_config()['freq_scale_fn'] == 'ddsp.core.frequencies_softmax'
    assert group.additive.scale_fn is None and group.additive.n_samples == 2000
    assert group.raw_audio.name == 'raw_audio'


# ------------------------------------------------------------------------------
# Argument and input validation
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'make, match',
    [
        (lambda: synths.Harmonic(n_samples=0), 'n_samples must be a positive integer'),
        (lambda: synths.Harmonic(n_samples=1.5), 'n_samples must be a positive integer'),
        (lambda: synths.Harmonic(n_samples=True), 'n_samples must be a positive integer'),
        (lambda: synths.Harmonic(sample_rate=-1), 'sample_rate must be a positive'),
        (
            lambda: synths.Harmonic(amp_resample_method='bogus'),
            "amp_resample_method must be one of .*'window'.*received amp_resample_method='bogus'",
        ),
        (lambda: synths.Harmonic(scale_fn='exp_sigmoid'), 'scale_fn must be a callable'),
        (lambda: synths.Additive(amp_scale_fn=3), 'scale_fn must be a callable'),
        (lambda: synths.FilteredNoise(window_size=-1), r'window_size must be an integer >= 0'),
        (lambda: synths.FilteredNoise(window_size=2.5), r'window_size must be an integer >= 0'),
        (lambda: synths.FilteredNoise(n_samples=-5), 'n_samples must be a positive integer'),
        (lambda: synths.FilteredNoise(initial_bias='low'), 'initial_bias must be a finite number'),
        (lambda: synths.Wavetable(sample_rate=0), 'sample_rate must be a positive'),
        (lambda: synths.Sinusoidal(amp_resample_method='area'), 'amp_resample_method'),
        (lambda: synths.Sinusoidal(freq_scale_fn=1.0), 'freq_scale_fn must be a callable'),
    ],
    ids=lambda x: x if isinstance(x, str) else '',
)
def test_constructor_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _bad_inputs():
    amps, hd, f0 = _harmonic_inputs(n_frames=20, n_harmonics=4)
    return {
        'harmonic f0 [B, T]': (
            synths.Harmonic(n_samples=2000),
            (amps, hd, f0[..., 0]),
            r'f0_hz.shape must be \[batch, n_frames, 1\]',
        ),
        'harmonic amps [B, T, 4]': (
            synths.Harmonic(n_samples=2000),
            (hd, hd, f0),
            r'amplitudes.shape must be \[batch, n_frames, 1\]',
        ),
        'harmonic hd [B, H]': (
            synths.Harmonic(n_samples=2000),
            (amps, hd[:, 0], f0),
            'harmonic_distribution.shape must be',
        ),
        'wavetable 4-D tables': (
            synths.Wavetable(n_samples=2000),
            (amps, hd[..., None], f0),
            'wavetables.shape must be',
        ),
        'sinusoidal [B, T] amps': (
            synths.Sinusoidal(n_samples=2000),
            (hd[..., 0], hd),
            'amplitudes.shape must be',
        ),
        'sinusoidal count mismatch': (
            synths.Sinusoidal(n_samples=2000),
            (hd, hd[..., :3]),
            r'frequencies.shape must be \[batch, n_frames, 4\].*'
            r'received frequencies.shape=TensorShape\(\[2, 20, 3\]\)',
        ),
        'noise [B, K]': (
            synths.FilteredNoise(n_samples=2000),
            (hd[:, 0],),
            'magnitudes.shape must be',
        ),
        'tensor_to_audio [B, N]': (
            synths.TensorToAudio(),
            (hd[..., 0],),
            r'samples.shape must be \[batch, n_samples, 1\]',
        ),
        'tensor_to_audio [B, N, 4]': (
            synths.TensorToAudio(),
            (hd,),
            r'samples.shape must be \[batch, n_samples, 1\]',
        ),
    }


@pytest.mark.parametrize('case', sorted(_bad_inputs()))
def test_wrong_input_shapes_raise_value_error(case):
    synth, inputs, match = _bad_inputs()[case]
    with pytest.raises(ValueError, match=match):
        synth(*inputs)
