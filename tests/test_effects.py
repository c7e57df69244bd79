"""Tests for ddsp.effects: reverbs, FIR filtering and modulated delay.

Expectations come from independent references written from the API spec
(section 1.6): SciPy convolutions, NumPy shifts, closed-form IR envelopes and
spectra of filtered noise, and finite differences for gradients.
"""

import inspect
import os
import warnings

import gin
import keras
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from ddsp import core, dags, effects, processors

RNG_SEED = 1234


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, 'numpy') else x, dtype=np.float64)


def _np_exp_sigmoid(x):
    """`2 sigmoid(x)^ln(10) + 1e-7` (spec section 6.1 item 1)."""
    return 2.0 * (1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))) ** np.log(10.0) + 1e-7


def _np_reverb(audio, ir, add_dry=True):
    """Reference reverb: IR[0] zeroed, full convolution cropped to N, plus dry."""
    audio, ir = np.asarray(audio, np.float64), np.asarray(ir, np.float64).copy()
    ir[:, 0] = 0.0
    n = audio.shape[1]
    wet = np.stack([scipy.signal.fftconvolve(a, h)[:n] for a, h in zip(audio, ir)])
    return wet + audio if add_dry else wet


def _np_delay(audio, delay):
    """`audio` delayed by an integer number of samples, zeros shifted in."""
    out = np.zeros_like(audio)
    out[:, delay:] = audio[:, : audio.shape[1] - delay]
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(RNG_SEED)


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


# ------------------------------------------------------------------------------
# Reverb
# ------------------------------------------------------------------------------
@pytest.mark.parametrize('add_dry', [True, False])
@pytest.mark.parametrize('ir_size', [64, 700])  # Shorter and longer than audio.
def test_reverb_given_ir_matches_scipy(rng, add_dry, ir_size):
    audio = rng.standard_normal((2, 500)).astype(np.float32)
    ir = rng.standard_normal((2, ir_size)).astype(np.float32)
    reverb = effects.Reverb(add_dry=add_dry)
    expected = _np_reverb(audio, ir, add_dry)
    np.testing.assert_allclose(_np(reverb(audio, ir)), expected, atol=2e-4)
    # [B, L, 1] IRs are accepted as well.
    np.testing.assert_allclose(_np(reverb(audio, ir[..., np.newaxis])), expected, atol=2e-4)
    assert not reverb.weights


def test_reverb_ir_first_sample_is_masked(rng):
    audio = rng.standard_normal((1, 100)).astype(np.float32)
    impulse = np.zeros((1, 10), np.float32)
    impulse[0, 0] = 5.0  # Only the direct path: masked away.
    wet = effects.Reverb(add_dry=False)(audio, impulse)
    np.testing.assert_allclose(_np(wet), 0.0, atol=1e-6)
    impulse[0, 3] = 0.5  # A single reflection after 3 samples.
    out = effects.Reverb(add_dry=True)(audio, impulse)
    np.testing.assert_allclose(_np(out), audio + 0.5 * _np_delay(audio, 3), atol=1e-5)


def test_reverb_controls_and_outputs_dict(rng):
    audio = rng.standard_normal((2, 200)).astype(np.float32)
    ir = rng.standard_normal((2, 30, 1)).astype(np.float32)
    reverb = effects.Reverb()
    controls = reverb.get_controls(audio, ir)
    assert sorted(controls) == ['audio', 'ir']
    assert controls['ir'].shape == (2, 30)
    outputs = reverb(audio, ir, return_outputs_dict=True)
    assert sorted(outputs) == ['controls', 'signal']
    np.testing.assert_allclose(
        _np(outputs['signal']), _np(reverb.get_signal(**controls)), atol=1e-6
    )


def test_trainable_reverb_weight_and_tiling(rng):
    reverb = effects.Reverb(trainable=True)  # Default length 48000.
    assert not reverb.built
    audio = rng.standard_normal((3, 64)).astype(np.float32)
    reverb(audio)
    assert reverb.built
    assert [w.path for w in reverb.weights] == ['reverb/ir']
    assert [w.path for w in reverb.trainable_weights] == ['reverb/ir']
    weight = _np(reverb.ir)
    assert weight.shape == (48000,)
    assert 0.8e-6 < weight.std() < 1.2e-6 and abs(weight.mean()) < 5e-8
    controls = reverb.get_controls(audio)
    assert controls['ir'].shape == (3, 48000)
    np.testing.assert_array_equal(_np(controls['ir']), np.tile(weight, (3, 1)))


def test_trainable_reverb_matches_scipy_with_its_weight(rng):
    reverb = effects.Reverb(trainable=True, reverb_length=40)
    reverb.build()
    weight = rng.standard_normal(40).astype(np.float32)
    reverb.ir.assign(weight)
    audio = rng.standard_normal((3, 300)).astype(np.float32)
    expected = _np_reverb(audio, np.tile(weight, (3, 1)))
    np.testing.assert_allclose(_np(reverb(audio)), expected, atol=1e-4)
    # Any IR passed to a trainable reverb is ignored.
    other_ir = rng.standard_normal((3, 10)).astype(np.float32)
    np.testing.assert_allclose(_np(reverb(audio, other_ir)), expected, atol=1e-4)


def test_trainable_reverb_gradient_matches_finite_differences(rng):
    reverb = effects.Reverb(trainable=True, reverb_length=16)
    reverb.build()
    reverb.ir.assign(rng.standard_normal(16).astype(np.float32))
    audio = tf.constant(rng.standard_normal((2, 64)).astype(np.float32))
    probe = tf.constant(rng.standard_normal((2, 64)).astype(np.float32))

    def loss():
        return tf.reduce_sum(reverb(audio) * probe)

    with tf.GradientTape() as tape:
        value = loss()
    grad = _np(tape.gradient(value, reverb.ir))
    assert np.abs(grad).max() > 0.1
    assert grad[0] == 0.0  # The masked direct path gets no gradient.
    # Independent closed form (the output is linear in the IR):
    # d loss / d ir[k] = sum_{b, n} probe[b, n] audio[b, n - k], k >= 1.
    a, p = _np(audio), _np(probe)
    closed = [0.0] + [np.sum(p[:, k:] * a[:, : 64 - k]) for k in range(1, 16)]
    np.testing.assert_allclose(grad, closed, rtol=1e-4, atol=1e-4)
    # Central finite differences on a few taps.
    eps = 1e-2
    base = _np(reverb.ir).copy()
    for k in (1, 5, 15):
        values = []
        for sign in (1.0, -1.0):
            shifted = base.copy()
            shifted[k] += sign * eps
            reverb.ir.assign(shifted.astype(np.float32))
            values.append(float(loss()))
        reverb.ir.assign(base.astype(np.float32))
        fd = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(grad[k], fd, rtol=2e-3, atol=2e-3)


def test_reverb_build_variants():
    # Built explicitly without a shape, with a shape, or on the first call.
    for build in (
        lambda r: r.build(),
        lambda r: r.build((2, 100)),
        lambda r: r(tf.zeros([2, 100])),
    ):
        reverb = effects.Reverb(trainable=True, reverb_length=20)
        build(reverb)
        assert reverb.built and reverb.ir.shape == (20,)
    fixed = effects.Reverb()
    fixed(tf.zeros([1, 50]), tf.zeros([1, 5]))
    assert fixed.built and not fixed.weights


def test_frozen_trainable_reverb_still_uses_its_ir(rng):
    reverb = effects.Reverb(trainable=True, reverb_length=10, add_dry=False)
    reverb.build()
    reverb.ir.assign(np.arange(10, dtype=np.float32))
    reverb.trainable = False
    assert not reverb.trainable_weights
    audio = rng.standard_normal((1, 50)).astype(np.float32)
    np.testing.assert_allclose(
        _np(reverb(audio)), _np_reverb(audio, np.arange(10)[None], False), atol=1e-4
    )


def test_decay_db_envelope_shapes_the_learned_ir(rng):
    length, decay_db = 50, 60.0
    reverb = effects.Reverb(trainable=True, reverb_length=length, decay_db=decay_db, add_dry=False)
    reverb.build()
    weight = rng.standard_normal(length).astype(np.float32)
    reverb.ir.assign(weight)
    # The envelope falls linearly in dB: 0 dB at the first sample, -decay_db at the last.
    envelope_db = -decay_db * np.arange(length) / (length - 1)
    expected_ir = weight * 10.0 ** (envelope_db / 20.0)
    np.testing.assert_allclose(_np(reverb.learned_ir), expected_ir, rtol=1e-5, atol=1e-7)
    audio = rng.standard_normal((2, 200)).astype(np.float32)
    np.testing.assert_allclose(
        _np(reverb(audio)), _np_reverb(audio, np.tile(expected_ir, (2, 1)), False), atol=1e-4
    )
    # The checkpointed weight is still the raw IR; gradients reach it through the envelope:
    # d sum(out * probe) / d ir[k] = envelope[k] * (the plain reverb's gradient).
    probe = rng.standard_normal((2, 200)).astype(np.float32)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(reverb(audio) * probe)
    grad = _np(tape.gradient(value, reverb.ir))
    plain = [0.0] + [np.sum(probe[:, k:] * audio[:, : 200 - k]) for k in range(1, length)]
    np.testing.assert_allclose(grad, np.array(plain) * 10.0 ** (envelope_db / 20.0), atol=1e-3)
    # Without decay_db the learned IR is the weight itself.
    plain_reverb = effects.Reverb(trainable=True, reverb_length=length)
    plain_reverb.build()
    plain_reverb.ir.assign(weight)
    np.testing.assert_array_equal(_np(plain_reverb.learned_ir), weight)


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(decay_db=60.0), 'decay_db must be None unless trainable=True'),
        (dict(trainable=True, decay_db=-1.0), 'decay_db must be'),
        (dict(trainable=True, decay_db=float('nan')), 'decay_db must be'),
    ],
)
def test_decay_db_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        effects.Reverb(**kwargs)


def test_learned_ir_of_a_given_ir_reverb_is_an_error():
    with pytest.raises(ValueError, match='learned_ir must be a reverb created with trainable'):
        effects.Reverb().learned_ir


# ------------------------------------------------------------------------------
# ExpDecayReverb
# ------------------------------------------------------------------------------
@pytest.mark.parametrize('scale_fn', [core.exp_sigmoid, None])
def test_exp_decay_reverb_envelope(scale_fn):
    tf.random.set_seed(RNG_SEED)
    n_draws, length = 4000, 200
    gain, decay = 0.5, 1.0
    reverb = effects.ExpDecayReverb(reverb_length=length, scale_fn=scale_fn)
    audio = tf.zeros([n_draws, 10])
    ir = _np(
        reverb.get_controls(audio, tf.fill([n_draws, 1], gain), tf.fill([n_draws, 1], decay))['ir']
    )
    assert ir.shape == (n_draws, length)
    t = np.linspace(0.0, 1.0, length)
    amplitude = _np_exp_sigmoid(gain) if scale_fn is not None else gain
    envelope = amplitude * np.exp(-(2.0 + np.exp(decay)) * t)
    # |U(-1, 1)| has mean 1/2 and std 1/sqrt(12); the bound is ~5 standard errors.
    np.testing.assert_allclose(np.abs(ir).mean(axis=0), 0.5 * envelope, rtol=0.05)
    assert np.all(np.abs(ir) <= envelope * (1 + 1e-5))
    # Each draw has a random sign pattern: the mean tends to zero.
    assert np.abs(ir.mean(axis=0)).max() < 0.05 * envelope[0]


def test_exp_decay_reverb_draws_fresh_noise(rng):
    reverb = effects.ExpDecayReverb(reverb_length=50)
    audio = rng.standard_normal((2, 100)).astype(np.float32)
    gain, decay = np.ones((2, 1), np.float32), np.zeros((2, 1), np.float32)
    assert not np.allclose(_np(reverb(audio, gain, decay)), _np(reverb(audio, gain, decay)))


def test_trainable_exp_decay_reverb_weights_and_gradients(rng):
    reverb = effects.ExpDecayReverb(trainable=True, reverb_length=100)
    audio = tf.constant(rng.standard_normal((2, 300)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(reverb(audio) ** 2)
    assert [w.path for w in reverb.weights] == ['exp_decay_reverb/gain', 'exp_decay_reverb/decay']
    np.testing.assert_array_equal(_np(reverb.gain), [2.0])
    np.testing.assert_array_equal(_np(reverb.decay), [4.0])
    grads = tape.gradient(loss, [reverb.gain, reverb.decay])
    for grad in grads:
        assert grad is not None and grad.shape == (1,)
        assert np.isfinite(_np(grad)).all() and np.abs(_np(grad)).max() > 0
    controls = reverb.get_controls(audio)
    assert controls['ir'].shape == (2, 100)


# ------------------------------------------------------------------------------
# FilteredNoiseReverb
# ------------------------------------------------------------------------------
def test_filtered_noise_reverb_ir_length_and_gradient(rng):
    reverb = effects.FilteredNoiseReverb(
        trainable=True, reverb_length=1200, window_size=65, n_frames=30, n_filter_banks=8
    )
    audio = tf.constant(rng.standard_normal((2, 400)).astype(np.float32))
    with tf.GradientTape() as tape:
        outputs = reverb(audio, return_outputs_dict=True)
        loss = tf.reduce_sum(outputs['signal'] ** 2)
    assert outputs['controls']['ir'].shape == (2, 1200)
    assert outputs['signal'].shape == (2, 400)
    assert [w.path for w in reverb.weights] == ['filtered_noise_reverb/magnitudes']
    weight = _np(reverb.magnitudes)
    assert weight.shape == (30, 8)
    assert 0.005 < weight.std() < 0.015
    grad = _np(tape.gradient(loss, reverb.magnitudes))
    assert grad.shape == (30, 8) and np.isfinite(grad).all()
    assert np.abs(grad).max() > 0


def test_filtered_noise_reverb_spectrum_follows_magnitudes():
    tf.random.set_seed(RNG_SEED)
    n_draws, length, n_bins = 256, 2048, 33
    # A smooth profile: linear gains from 1 (0 Hz) down to 0.1 (Nyquist).
    gains = np.linspace(1.0, 0.1, n_bins)
    reverb = effects.FilteredNoiseReverb(
        reverb_length=length, window_size=257, scale_fn=None, initial_bias=0.0
    )
    magnitudes = np.tile(gains, (n_draws, 1, 1)).astype(np.float32)
    ir = _np(reverb.get_controls(tf.zeros([n_draws, 10]), magnitudes)['ir'])
    assert ir.shape == (n_draws, length)
    # Filtered white noise of variance 1/3: E|X[k]|^2 / N = |H(f_k)|^2 / 3.
    psd = (np.abs(np.fft.rfft(ir[:, 256:-256], axis=1)) ** 2).mean(axis=0)
    psd /= length - 512
    freqs = np.linspace(0.0, 1.0, psd.size)
    expected = np.interp(freqs, np.linspace(0.0, 1.0, n_bins), gains) ** 2 / 3.0
    # Compare averages over 16 bands (away from the band edges at 0 and Nyquist).
    bands = np.array_split(np.arange(8, psd.size - 8), 16)
    measured = np.array([psd[b].mean() for b in bands])
    reference = np.array([expected[b].mean() for b in bands])
    np.testing.assert_allclose(measured, reference, rtol=0.1)
    # Also through the default scale_fn and initial bias.
    default = effects.FilteredNoiseReverb(reverb_length=length)
    ir = _np(default.get_controls(tf.zeros([64, 10]), np.zeros((64, 4, 16), np.float32))['ir'])
    power = (ir[:, 256:-256] ** 2).mean()
    np.testing.assert_allclose(power, _np_exp_sigmoid(-3.0) ** 2 / 3.0, rtol=0.1)


# ------------------------------------------------------------------------------
# FIRFilter
# ------------------------------------------------------------------------------
def test_fir_filter_matches_frequency_filter(rng):
    audio = rng.standard_normal((2, 1000)).astype(np.float32)
    raw = rng.standard_normal((2, 10, 17)).astype(np.float32)
    fir = effects.FIRFilter(window_size=33)
    controls = fir.get_controls(audio, raw)
    np.testing.assert_allclose(
        _np(controls['magnitudes']), _np_exp_sigmoid(raw), rtol=1e-5, atol=1e-7
    )
    expected = core.frequency_filter(audio, _np_exp_sigmoid(raw).astype(np.float32), window_size=33)
    np.testing.assert_allclose(_np(fir(audio, raw)), _np(expected), atol=1e-5)
    unscaled = effects.FIRFilter(window_size=33, scale_fn=None)
    np.testing.assert_allclose(
        _np(unscaled(audio, raw)), _np(core.frequency_filter(audio, raw, window_size=33)), atol=1e-5
    )


def test_fir_filter_frequency_response_on_white_noise(rng):
    n_bins = 129
    gains = np.where(np.linspace(0.0, 1.0, n_bins) < 0.5, 1.0, 0.1)
    audio = rng.uniform(-1.0, 1.0, (4, 16384)).astype(np.float32)
    magnitudes = np.tile(gains, (4, 1, 1)).astype(np.float32)
    out = _np(effects.FIRFilter(window_size=257, scale_fn=None)(audio, magnitudes))
    assert out.shape == audio.shape

    def band_power(x, lo, hi):
        spectrum = np.abs(np.fft.rfft(x[:, 512:-512], axis=1)) ** 2
        freqs = np.linspace(0.0, 1.0, spectrum.shape[1])
        return spectrum[:, (freqs >= lo) & (freqs < hi)].mean()

    passband = band_power(out, 0.05, 0.4) / band_power(audio, 0.05, 0.4)
    stopband = band_power(out, 0.6, 0.95) / band_power(audio, 0.6, 0.95)
    np.testing.assert_allclose(passband, 1.0, rtol=0.05)
    np.testing.assert_allclose(stopband, 0.01, rtol=0.15)


# ------------------------------------------------------------------------------
# ModDelay
# ------------------------------------------------------------------------------
def test_mod_delay_constant_phase_is_a_constant_delay(rng):
    # center 1 ms + depth 1 ms at 16 kHz: max_length 32 samples, and phase p
    # gives a delay of (center + p * depth) / (center + depth) * 32 = 16 (1 + p).
    audio = rng.standard_normal((2, 400)).astype(np.float32)
    delay = effects.ModDelay(
        center_ms=1.0, depth_ms=1.0, sample_rate=16000, gain_scale_fn=None, phase_scale_fn=None
    )
    assert delay.max_length == 32
    gain = np.full((2, 400, 1), 0.7, np.float32)
    for phase, samples in ((0.0, 16), (0.25, 20), (0.5, 24)):
        out = delay(audio, gain, np.full((2, 400, 1), phase, np.float32))
        np.testing.assert_allclose(_np(out), audio + 0.7 * _np_delay(audio, samples), atol=1e-5)
    # Fractional delays interpolate linearly: 20.5 samples.
    out = delay(audio, gain, np.full((2, 400, 1), 0.28125, np.float32))
    expected = audio + 0.35 * (_np_delay(audio, 20) + _np_delay(audio, 21))
    np.testing.assert_allclose(_np(out), expected, atol=1e-5)


def test_mod_delay_phase_one_is_the_longest_delay_not_zero(rng):
    # center 1 ms + depth 1 ms at 16 kHz: phase 1 is 32 samples late (the original's
    # periodic lookup wrapped it to 0). With 1.03 ms of depth the longest delay, 32.48
    # samples, is fractional: 0.52 of sample 32 and 0.48 of sample 33, from the definition.
    audio = rng.standard_normal((1, 400)).astype(np.float32)
    gain = np.ones((1, 400, 1), np.float32)
    one = np.ones((1, 400, 1), np.float32)
    kwargs = dict(sample_rate=16000, gain_scale_fn=None, phase_scale_fn=None, add_dry=False)
    delay = effects.ModDelay(center_ms=1.0, depth_ms=1.0, **kwargs)
    np.testing.assert_allclose(_np(delay(audio, gain, one)), _np_delay(audio, 32), atol=1e-5)
    # Beyond 1 is clipped to the longest delay.
    np.testing.assert_allclose(_np(delay(audio, gain, 1.5 * one)), _np_delay(audio, 32), atol=1e-5)
    delay = effects.ModDelay(center_ms=1.0, depth_ms=1.03, **kwargs)
    expected = 0.52 * _np_delay(audio, 32) + 0.48 * _np_delay(audio, 33)
    np.testing.assert_allclose(_np(delay(audio, gain, one)), expected, atol=1e-4)


def test_mod_delay_default_scale_fns_and_gain(rng):
    audio = rng.standard_normal((1, 300)).astype(np.float32)
    delay = effects.ModDelay(center_ms=1.0, depth_ms=1.0, add_dry=False)
    raw_phase = np.zeros((1, 300, 1), np.float32)  # sigmoid(0) = 0.5: 24 samples.
    wet = {}
    for raw_gain in (-1.0, 1.0):
        raw = np.full((1, 300, 1), raw_gain, np.float32)
        controls = delay.get_controls(audio, raw, raw_phase)
        np.testing.assert_allclose(_np(controls['gain']), _np_exp_sigmoid(raw), rtol=1e-5)
        np.testing.assert_allclose(_np(controls['phase']), 0.5)
        wet[raw_gain] = _np(delay(audio, raw, raw_phase))
        np.testing.assert_allclose(
            wet[raw_gain], _np_exp_sigmoid(raw_gain) * _np_delay(audio, 24), atol=1e-5
        )
    # The wet signal scales linearly with the (scaled) gain.
    ratio = _np_exp_sigmoid(1.0) / _np_exp_sigmoid(-1.0)
    np.testing.assert_allclose(wet[1.0], ratio * wet[-1.0], atol=1e-5)


def test_mod_delay_time_varying_gain_and_phase_gradient(rng):
    audio = tf.constant(rng.standard_normal((1, 200)).astype(np.float32))
    gain = tf.constant(rng.uniform(0.0, 1.0, (1, 200, 1)).astype(np.float32))
    phase = tf.Variable(np.full((1, 200, 1), 0.3, np.float32))
    delay = effects.ModDelay(
        center_ms=1.0, depth_ms=1.0, gain_scale_fn=None, phase_scale_fn=None, add_dry=False
    )
    with tf.GradientTape() as tape:
        out = delay(audio, gain, phase)
        loss = tf.reduce_sum(out**2)
    # delay = 16 * 1.3 = 20.8 samples; gain varies per sample.
    a = _np(audio)
    shifted = 0.2 * _np_delay(a, 20) + 0.8 * _np_delay(a, 21)
    np.testing.assert_allclose(_np(out), _np(gain)[..., 0] * shifted, atol=1e-5)
    grad = _np(tape.gradient(loss, phase))
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0


# ------------------------------------------------------------------------------
# Serialization: get_config / from_config, Keras registration, saving
# ------------------------------------------------------------------------------
CONFIG_CASES = [
    (effects.Reverb, dict(trainable=True, reverb_length=30, add_dry=False, name='my_reverb')),
    (effects.Reverb, dict(trainable=False, reverb_length=30)),
    (effects.Reverb, dict(trainable=True, reverb_length=30, decay_db=40.0)),
    (
        effects.ExpDecayReverb,
        dict(trainable=True, reverb_length=30, scale_fn=None, add_dry=False, name='edr'),
    ),
    (
        effects.FilteredNoiseReverb,
        dict(
            trainable=True,
            reverb_length=40,
            window_size=9,
            n_frames=4,
            n_filter_banks=5,
            scale_fn=tf.nn.softplus,
            initial_bias=-1.5,
            add_dry=False,
        ),
    ),
    (effects.FIRFilter, dict(window_size=17, scale_fn=None, name='fir')),
    (
        effects.ModDelay,
        dict(
            center_ms=2.0,
            depth_ms=3.0,
            sample_rate=8000,
            gain_scale_fn=None,
            phase_scale_fn=core.exp_sigmoid,
            add_dry=False,
        ),
    ),
    (effects.TrainableReverb, dict(reverb_length=30)),
    (effects.FixedReverb, dict(reverb_length=30, add_dry=False)),
    (effects.TrainableExpDecayReverb, dict(reverb_length=30, scale_fn=None)),
]


@pytest.mark.parametrize(
    'cls,kwargs', CONFIG_CASES, ids=[f'{c.__name__}-{i}' for i, (c, _) in enumerate(CONFIG_CASES)]
)
def test_get_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    layer.build(None)
    config = layer.get_config()
    # Every constructor argument is in the config, with the given value.
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in ('self', 'kwargs')]
    assert set(params) <= set(config), set(params) - set(config)
    for key, value in kwargs.items():
        if callable(value):
            assert dags.deserialize_function(config[key]) is value
        else:
            assert config[key] == value
    clone = cls.from_config(config)
    assert type(clone) is cls
    assert clone.get_config() == config
    clone.build(None)
    assert [w.path for w in clone.weights] == [w.path for w in layer.weights]
    if layer.weights:
        layer.set_weights(
            [np.random.default_rng(0).standard_normal(w.shape) for w in layer.weights]
        )
        clone.set_weights(layer.get_weights())
        for a, b in zip(layer.get_weights(), clone.get_weights()):
            np.testing.assert_array_equal(a, b)
    # Keras's registry finds the class from its serialized form.
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is cls and rebuilt.get_config() == config


def test_from_config_clone_gives_the_same_output(rng):
    audio = rng.standard_normal((2, 128)).astype(np.float32)
    reverb = effects.Reverb(trainable=True, reverb_length=20)
    reverb(audio)
    reverb.ir.assign(rng.standard_normal(20).astype(np.float32))
    clone = effects.Reverb.from_config(reverb.get_config())
    clone.build()
    clone.set_weights(reverb.get_weights())
    np.testing.assert_allclose(_np(clone(audio)), _np(reverb(audio)), atol=1e-6)

    mags = rng.standard_normal((2, 4, 9)).astype(np.float32)
    fir = effects.FIRFilter(window_size=17)
    np.testing.assert_allclose(
        _np(effects.FIRFilter.from_config(fir.get_config())(audio, mags)),
        _np(fir(audio, mags)),
        atol=1e-6,
    )

    gain = rng.standard_normal((2, 128, 1)).astype(np.float32)
    phase = rng.standard_normal((2, 128, 1)).astype(np.float32)
    mod = effects.ModDelay(center_ms=1.0, depth_ms=2.0)
    np.testing.assert_allclose(
        _np(effects.ModDelay.from_config(mod.get_config())(audio, gain, phase)),
        _np(mod(audio, gain, phase)),
        atol=1e-6,
    )


@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
def test_keras_model_save_and_load(rng, tmp_path):
    model = keras.Sequential(
        [keras.Input((256,)), effects.Reverb(trainable=True, reverb_length=32)]
    )
    model.layers[0].ir.assign(rng.standard_normal(32).astype(np.float32))
    path = os.path.join(tmp_path, 'reverb.keras')
    model.save(path)
    loaded = keras.models.load_model(path)
    audio = rng.standard_normal((2, 256)).astype(np.float32)
    np.testing.assert_allclose(_np(loaded(audio)), _np(model(audio)), atol=1e-6)


# ------------------------------------------------------------------------------
# tf.function and XLA
# ------------------------------------------------------------------------------
def _deterministic_cases(rng):
    audio = rng.standard_normal((2, 256)).astype(np.float32)
    ir = rng.standard_normal((2, 40)).astype(np.float32)
    trainable = effects.Reverb(trainable=True, reverb_length=40)
    trainable.build()
    trainable.ir.assign(ir[0])
    mags = rng.standard_normal((2, 8, 17)).astype(np.float32)
    gain = rng.standard_normal((2, 256, 1)).astype(np.float32)
    phase = rng.standard_normal((2, 256, 1)).astype(np.float32)
    return [
        (effects.Reverb(), (audio, ir)),
        (trainable, (audio,)),
        (effects.FIRFilter(window_size=33), (audio, mags)),
        (effects.ModDelay(center_ms=1.0, depth_ms=1.0), (audio, gain, phase)),
    ]


@pytest.mark.parametrize('jit_compile', [False, True])
def test_tf_function_matches_eager(rng, jit_compile):
    for layer, args in _deterministic_cases(rng):
        eager = _np(layer(*args))
        graph = tf.function(layer.__call__, jit_compile=jit_compile)
        np.testing.assert_allclose(
            _np(graph(*args)), eager, atol=1e-5, err_msg=type(layer).__name__
        )


def test_random_reverbs_run_in_tf_function(rng):
    audio = rng.standard_normal((2, 256)).astype(np.float32)
    for layer in (
        effects.ExpDecayReverb(trainable=True, reverb_length=64),
        effects.FilteredNoiseReverb(trainable=True, reverb_length=64, window_size=17, n_frames=4),
    ):
        fn = tf.function(layer.__call__, jit_compile=True)
        out = _np(fn(audio))  # Builds the weights inside the tf.function.
        assert out.shape == (2, 256) and np.isfinite(out).all()
        assert layer.built and len(layer.trainable_weights) == len(layer.weights) > 0


def test_trainable_reverb_with_unknown_batch():
    reverb = effects.Reverb(trainable=True, reverb_length=16)
    reverb.build()
    fn = tf.function(reverb, input_signature=[tf.TensorSpec([None, 64])])
    assert fn(tf.ones([3, 64])).shape == (3, 64)


# ------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------
def test_reverb_without_ir_raises():
    with pytest.raises(ValueError, match='trainable=True'):
        effects.Reverb()(tf.zeros([1, 100]))
    with pytest.raises(ValueError, match=r'\[batch, ir_size\]'):
        effects.Reverb()(tf.zeros([1, 100]), tf.zeros([1, 2, 3, 4]))
    with pytest.raises(ValueError, match='gain'):
        effects.ExpDecayReverb(reverb_length=10)(tf.zeros([1, 100]), tf.zeros([1, 1]))
    with pytest.raises(ValueError, match='gain'):
        effects.ExpDecayReverb(reverb_length=10)(
            tf.zeros([1, 100]), tf.zeros([1, 3]), tf.zeros([1, 1])
        )
    with pytest.raises(ValueError, match='magnitudes'):
        effects.FilteredNoiseReverb(reverb_length=100, n_frames=10)(tf.zeros([1, 100]))
    with pytest.raises(ValueError, match='n_samples'):
        effects.Reverb()(tf.zeros([1, 100, 1]), tf.zeros([1, 10]))


@pytest.mark.parametrize(
    'make,match',
    [
        (lambda: effects.Reverb(reverb_length=0), 'reverb_length'),
        (lambda: effects.Reverb(reverb_length=10.5), 'reverb_length'),
        (lambda: effects.ExpDecayReverb(reverb_length=-1), 'reverb_length'),
        (lambda: effects.ExpDecayReverb(scale_fn=3.0), 'scale_fn'),
        (lambda: effects.FilteredNoiseReverb(True, reverb_length=100, n_frames=30), 'n_frames'),
        (lambda: effects.FilteredNoiseReverb(True, reverb_length=10, n_frames=20), 'n_frames'),
        (lambda: effects.FilteredNoiseReverb(n_filter_banks=1), 'n_filter_banks'),
        (lambda: effects.FilteredNoiseReverb(window_size=0), 'window_size'),
        (lambda: effects.FIRFilter(window_size=0), 'window_size'),
        (lambda: effects.FIRFilter(scale_fn='no.such.function'), 'no.such.function'),
        (lambda: effects.ModDelay(depth_ms=-1.0), 'depth_ms'),
        (lambda: effects.ModDelay(sample_rate=0), 'sample_rate'),
        (lambda: effects.ModDelay(center_ms=0.01, depth_ms=0.01), 'one sample'),
        (lambda: effects.TrainableReverb(trainable=False), 'trainable=False'),
        (lambda: effects.Reverb(reverb_only=False, add_dry=False), 'conflicting'),
    ],
)
def test_invalid_arguments_raise(make, match):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        with pytest.raises(ValueError, match=match):
            make()


# ------------------------------------------------------------------------------
# Old names and gin
# ------------------------------------------------------------------------------
def test_old_names(rng):
    audio = rng.standard_normal((2, 100)).astype(np.float32)
    for cls, base, name, weights in (
        (effects.TrainableReverb, effects.Reverb, 'reverb', ['ir']),
        (effects.FixedReverb, effects.Reverb, 'reverb', ['ir']),
        (
            effects.TrainableExpDecayReverb,
            effects.ExpDecayReverb,
            'exp_decay_reverb',
            ['gain', 'decay'],
        ),
    ):
        layer = cls(reverb_length=50)
        assert isinstance(layer, base) and layer.name == name
        assert layer.get_config()['trainable'] is True
        assert layer(audio).shape == (2, 100)
        assert [w.path for w in layer.weights] == [f'{name}/{w}' for w in weights]


def test_reverb_only_maps_to_add_dry(rng):
    audio = rng.standard_normal((1, 100)).astype(np.float32)
    ir = rng.standard_normal((1, 20)).astype(np.float32)
    with pytest.warns(DeprecationWarning, match='add_dry'):
        wet_only = effects.Reverb(reverb_only=True)
    assert wet_only.add_dry is False and 'reverb_only' not in wet_only.get_config()
    np.testing.assert_allclose(
        _np(wet_only(audio, ir)), _np_reverb(audio, ir, add_dry=False), atol=1e-4
    )
    with pytest.warns(DeprecationWarning):
        assert effects.Reverb(reverb_only=False).add_dry is True


def test_readme_dag_with_trainable_reverb(rng):
    reverb = effects.TrainableReverb()
    group = processors.ProcessorGroup(
        dag=[(processors.Add(), ['harmonic_audio', 'noise_audio']), (reverb, ['add/signal'])]
    )
    harmonic = rng.standard_normal((2, 1000)).astype(np.float32)
    noise = rng.standard_normal((2, 1000)).astype(np.float32)
    outputs = group({'harmonic_audio': harmonic, 'noise_audio': noise}, return_outputs_dict=True)
    controls = outputs['controls']
    assert outputs['signal'].shape == (2, 1000)
    assert controls['reverb']['controls']['ir'].shape == (2, 48000)
    np.testing.assert_array_equal(_np(controls['out']['signal']), _np(controls['reverb']['signal']))
    assert [w.name for w in group.trainable_weights] == ['ir']
    assert group.trainable_weights[0] is reverb.ir


def test_gin_bindings_under_original_names(clean_gin, rng):
    gin.parse_config("""
        Reverb.trainable = True
        Reverb.reverb_length = 480
        effects.Reverb.add_dry = False
        ProcessorGroup.dag = [(@effects.Reverb(), ['audio'])]
    """)
    group = processors.ProcessorGroup()
    reverb = group.reverb
    assert isinstance(reverb, effects.Reverb)
    assert reverb.reverb_length == 480 and reverb.add_dry is False
    audio = rng.standard_normal((2, 1000)).astype(np.float32)
    out = group({'audio': audio})
    assert out.shape == (2, 1000)
    np.testing.assert_allclose(
        _np(out), _np_reverb(audio, np.tile(_np(reverb.ir), (2, 1)), add_dry=False), atol=1e-5
    )
    # Registered, not configurable: direct Python calls ignore the bindings.
    assert effects.Reverb().reverb_length == 48000


def test_gin_registrations(clean_gin):
    gin.parse_config("""
        ExpDecayReverb.reverb_length = 100
        FilteredNoiseReverb.reverb_length = 100
        FilteredNoiseReverb.n_frames = 10
        FIRFilter.window_size = 33
        effects.TrainableReverb.reverb_length = 64
        ProcessorGroup.dag = [
            (@effects.ExpDecayReverb(), ['audio', 'gain', 'decay']),
            (@effects.FilteredNoiseReverb(), ['exp_decay_reverb/signal', 'mags']),
            (@effects.FIRFilter(), ['filtered_noise_reverb/signal', 'fir']),
            (@TrainableReverb(), ['fir_filter/signal']),
        ]
    """)
    group = processors.ProcessorGroup()
    assert group.fir_filter.window_size == 33
    assert group.reverb.reverb_length == 64
    out = group(
        {
            'audio': tf.zeros([1, 200]),
            'gain': tf.zeros([1, 1]),
            'decay': tf.zeros([1, 1]),
            'mags': tf.zeros([1, 10, 8]),
            'fir': tf.zeros([1, 5, 9]),
        }
    )
    assert out.shape == (1, 200)
    # ModDelay is not registered with gin in the original (spec section 1.8).
    with pytest.raises(ValueError):
        gin.parse_config('ModDelay.center_ms = 1.0')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        gin.parse_config('Reverb.reverb_only = True')
        gin.parse_config("ProcessorGroup.dag = [(@effects.Reverb(), ['a', 'ir'])]")
        assert processors.ProcessorGroup().reverb.add_dry is False
