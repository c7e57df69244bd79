"""Tests of ddsp.training.preprocessing: scaling, resampling and the preprocessors."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp import core, spectral_ops
from ddsp.training import preprocessing as pp


def _audio(n=8000, seed=0, batch=2):
    t = np.arange(n) / 16000.0
    noise = np.random.default_rng(seed).standard_normal((batch, n))
    return (0.3 * np.sin(2 * np.pi * 330.0 * t) + 0.01 * noise).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------
def test_constants():
    assert pp.F0_RANGE == 127
    assert pp.DB_RANGE == 80


@pytest.mark.parametrize(
    'shape, expected',
    [((), (1, 1, 1)), ((5,), (1, 5, 1)), ((2, 5), (2, 5, 1)), ((2, 5, 3), (2, 5, 3))],
)
def test_at_least_3d(shape, expected):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    y = pp.at_least_3d(x)
    assert tuple(y.shape) == expected
    np.testing.assert_array_equal(np.ravel(y), np.ravel(x))


def test_scale_db_formula_and_inverse():
    db = np.array([-80.0, -40.0, -10.0, 0.0], np.float32)
    np.testing.assert_allclose(pp.scale_db(db), [0.0, 0.5, 0.875, 1.0], rtol=1e-6)
    np.testing.assert_allclose(pp.inv_scale_db(pp.scale_db(db)), db, atol=1e-5)


def test_scale_f0_hz_formula_and_inverse():
    f0 = np.array([27.5, 110.0, 440.0, 1234.5], np.float32)
    midi = 69.0 + 12.0 * np.log2(f0 / 440.0)
    np.testing.assert_allclose(pp.scale_f0_hz(f0), midi / 127.0, rtol=1e-5)
    np.testing.assert_allclose(pp.scale_f0_hz([0.0, -3.0]), [0.0, 0.0])  # Unvoiced -> 0.
    np.testing.assert_allclose(pp.inv_scale_f0_hz(midi / 127.0), f0, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# F0LoudnessPreprocessor.
# ------------------------------------------------------------------------------------------------
def test_f0_loudness_recomputes_loudness_from_audio():
    audio = _audio()  # 0.5 s: 126 centred loudness frames at 250 Hz.
    f0 = np.linspace(100.0, 400.0, 125, dtype=np.float32)[np.newaxis].repeat(2, 0)
    features = {'audio': audio, 'f0_hz': f0, 'loudness_db': np.full([2, 125], 123.0, np.float32)}
    pre = pp.F0LoudnessPreprocessor(time_steps=50)
    out = pre(features)
    assert list(out) == ['f0_hz', 'loudness_db', 'f0_scaled', 'ld_scaled']
    for value in out.values():
        assert value.shape == (2, 50, 1)
    loudness = spectral_ops.compute_loudness(audio, 16000, 250)
    assert loudness.shape == (2, 126)
    np.testing.assert_allclose(
        out['loudness_db'], core.resample(loudness[..., np.newaxis], 50), atol=1e-4
    )
    np.testing.assert_allclose(out['f0_hz'], core.resample(f0[..., np.newaxis], 50), rtol=1e-5)
    np.testing.assert_allclose(out['ld_scaled'], out['loudness_db'] / 80.0 + 1.0, atol=1e-6)
    np.testing.assert_allclose(out['f0_scaled'], pp.scale_f0_hz(out['f0_hz']), atol=1e-6)
    # The dataset's loudness (123 dB here) was ignored.
    assert np.max(out['loudness_db']) < 20.0


def test_f0_loudness_uses_features_without_audio():
    pre = pp.F0LoudnessPreprocessor(time_steps=8, compute_loudness=False)
    # Linear resampling of a ramp of 4 frames to 8 steps, frame k at step 2k, last frame held.
    ramp = np.array([[0.0, -10.0, -20.0, -30.0]], np.float32)
    out = pre({'f0_hz': [[440.0] * 4], 'loudness_db': ramp})
    np.testing.assert_allclose(
        out['loudness_db'][0, :, 0], [0, -5, -10, -15, -20, -25, -30, -30], atol=1e-5
    )
    np.testing.assert_allclose(out['f0_hz'], np.full([1, 8, 1], 440.0), rtol=1e-6)
    np.testing.assert_allclose(out['f0_scaled'], np.full([1, 8, 1], 69.0 / 127.0), rtol=1e-5)
    f0_hz, ld = pre.invert_scaling(out['f0_scaled'], out['ld_scaled'])
    np.testing.assert_allclose(f0_hz, out['f0_hz'], rtol=1e-4)
    np.testing.assert_allclose(ld, out['loudness_db'], atol=1e-4)
    np.testing.assert_allclose(pre.resample(np.ones(4, np.float32)), np.ones([1, 8, 1]))


def test_f0_loudness_needs_audio_when_computing_loudness():
    with pytest.raises(ValueError, match='got no "audio" input'):
        pp.F0LoudnessPreprocessor()({'f0_hz': np.ones([1, 4]), 'loudness_db': np.ones([1, 4])})
    with pytest.raises(KeyError, match="Missing keys: \\['f0_hz'\\]"):
        pp.F0LoudnessPreprocessor()({'loudness_db': np.ones([1, 4]), 'audio': np.ones([1, 64])})


def test_f0_loudness_tf_function_matches_eager():
    pre = pp.F0LoudnessPreprocessor(time_steps=40)
    features = {
        'audio': tf.constant(_audio(4000)),
        'f0_hz': tf.fill([2, 63], 220.0),
        'loudness_db': tf.zeros([2, 63]),
    }
    eager = pre(features)
    traced = tf.function(pre)(features)
    for key in eager:
        np.testing.assert_allclose(traced[key], eager[key], atol=1e-5)


def test_trim_frames_keeps_frame_k_at_sample_k_hop():
    # A 4 s clip at 50 frames/s (hop 320), silent until a tone starts at sample 40,000 (frame
    # 125). Centred loudness has 201 frames; the synthesizers place frame k at sample k * 320.
    n, hop = 64000, 320
    audio = np.zeros([1, n], np.float32)
    t = np.arange(n - 40000) / 16000.0
    audio[0, 40000:] = 0.3 * np.sin(2 * np.pi * 330.0 * t)
    centred = spectral_ops.compute_loudness(audio, 16000, 50, use_tf=False)[0]  # librosa path
    assert centred.shape == (n // hop + 1,)
    features = {'audio': audio, 'f0_hz': np.full([1, 201], 330.0, np.float32)}
    features['loudness_db'] = centred[np.newaxis]
    trimmed = pp.F0LoudnessPreprocessor(time_steps=200, frame_rate=50, trim_frames=True)
    np.testing.assert_allclose(trimmed(features)['loudness_db'][0, :, 0], centred[:200], atol=0.02)
    # Resampling stretches: output frame k reads centred frame k * 201 / 200, which runs ahead
    # of the audio by k / 200 frames, so the onset arrives early in the frames after 125.
    stretched = pp.F0LoudnessPreprocessor(time_steps=200, frame_rate=50, compute_loudness=False)
    read = np.interp(np.arange(200) * 201 / 200, np.arange(201), centred)
    np.testing.assert_allclose(stretched(features)['loudness_db'][0, :, 0], read, atol=1e-3)
    assert stretched(features)['loudness_db'][0, 124, 0] > centred[124] + 3.0
    # Other counts (uncentred records, fewer, another frame rate): resampled as before.
    trim_given = pp.F0LoudnessPreprocessor(
        time_steps=200, frame_rate=50, compute_loudness=False, trim_frames=True
    )
    for frames in (200, 120, 1001):
        other = {
            'f0_hz': np.geomspace(100.0, 200.0, frames)[np.newaxis],
            'loudness_db': np.linspace(-60.0, -10.0, frames)[np.newaxis],
        }
        for key, value in trim_given(other).items():
            np.testing.assert_allclose(value, stretched(other)[key], rtol=1e-6, err_msg=key)


# ------------------------------------------------------------------------------------------------
# F0PowerPreprocessor.
# ------------------------------------------------------------------------------------------------
def test_f0_power_from_feature_or_audio():
    pre = pp.F0PowerPreprocessor(time_steps=20)
    assert pre.input_keys == ['f0_hz'] and pre.default_input_keys == ['power_db', 'audio']
    f0 = np.full([2, 10], 330.0, np.float32)
    power = np.linspace(-60.0, -10.0, 10, dtype=np.float32)[np.newaxis].repeat(2, 0)
    out = pre({'f0_hz': f0, 'power_db': power, 'audio': _audio()})
    assert list(out) == ['f0_hz', 'pw_db', 'f0_scaled', 'pw_scaled']
    np.testing.assert_allclose(out['pw_db'], core.resample(power[..., np.newaxis], 20), atol=1e-5)
    np.testing.assert_allclose(out['pw_scaled'], out['pw_db'] / 80.0 + 1.0, atol=1e-6)

    audio = _audio()
    out = pre({'f0_hz': f0, 'audio': audio})
    power = spectral_ops.compute_power(audio, sample_rate=16000, frame_rate=250, frame_size=64)
    np.testing.assert_allclose(out['pw_db'], core.resample(power[..., np.newaxis], 20), atol=1e-4)
    with pytest.raises(ValueError, match='needs either a "power_db" feature or "audio"'):
        pre({'f0_hz': f0})


# ------------------------------------------------------------------------------------------------
# OnlineF0PowerPreprocessor (CREPE is not exercised here: compute_f0=False).
# ------------------------------------------------------------------------------------------------
def test_online_f0_power_computes_power_without_resampling():
    pre = pp.OnlineF0PowerPreprocessor(frame_rate=250, frame_size=512, compute_f0=False)
    assert pre.crepe is None and pre.hop_size == 64
    audio = _audio(8000)
    n_frames = spectral_ops.get_framed_lengths(8000, 512, 64, 'center')[0]
    assert n_frames == 8000 // 64 + 1
    f0 = np.full([2, n_frames], 200.0, np.float32)
    out = pre({'audio': audio, 'f0_hz': f0})
    assert list(out) == ['f0_hz', 'pw_db', 'f0_scaled', 'pw_scaled', 'f0_confidence']
    assert out['f0_confidence'] is None
    power = spectral_ops.compute_power(
        audio, sample_rate=16000, frame_rate=250, frame_size=512, padding='center'
    )
    np.testing.assert_allclose(out['pw_db'][..., 0], power, atol=1e-5)
    np.testing.assert_allclose(out['pw_scaled'], out['pw_db'] / 80.0 + 1.0, atol=1e-6)
    np.testing.assert_allclose(out['f0_hz'][..., 0], f0)
    # audio_16k replaces audio; given confidences pass through as [B, T, 1].
    out = pre(
        {
            'audio': np.zeros([2, 3]),
            'audio_16k': audio,
            'f0_hz': f0,
            'f0_confidence': np.ones_like(f0),
        }
    )
    np.testing.assert_allclose(out['pw_db'][..., 0], power, atol=1e-5)
    assert out['f0_confidence'].shape == (2, n_frames, 1)


def test_online_f0_power_validates_frame_counts_and_inputs():
    pre = pp.OnlineF0PowerPreprocessor(frame_rate=50, frame_size=1024, compute_f0=False)
    audio = _audio(16000)  # 1 s: 16000 // 320 + 1 = 51 centred frames at 50 Hz.
    with pytest.raises(ValueError, match='"f0_hz" has 50 frames, .* give 51'):
        pre({'audio': audio, 'f0_hz': np.zeros([2, 50], np.float32)})
    with pytest.raises(ValueError, match='an "f0_hz" input is needed'):
        pre({'audio': audio})
    no_power = pp.OnlineF0PowerPreprocessor(compute_power=False, compute_f0=False)
    with pytest.raises(ValueError, match='a "pw_db" input is needed'):
        no_power({'audio': audio, 'f0_hz': np.zeros([2, 251], np.float32)})
    with pytest.raises(ValueError, match='needs crepe_saved_model_path'):
        pp.OnlineF0PowerPreprocessor(crepe_saved_model_path=None)


def test_online_power_has_no_gradient():
    pre = pp.OnlineF0PowerPreprocessor(frame_size=256, compute_f0=False)
    audio = tf.constant(_audio(2048))
    with tf.GradientTape() as tape:
        tape.watch(audio)
        out = pre({'audio': audio, 'f0_hz': tf.zeros([2, 33])})
    assert tape.gradient(out['pw_db'], audio) is None


# ------------------------------------------------------------------------------------------------
# Configuration.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'layer',
    [
        pp.F0LoudnessPreprocessor(time_steps=20, compute_loudness=False, trim_frames=True),
        pp.F0PowerPreprocessor(time_steps=30, frame_size=128),
        pp.OnlineF0PowerPreprocessor(
            frame_rate=50, padding='same', compute_f0=False, crepe_saved_model_path=None
        ),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize(
    'make, message',
    [
        (lambda: pp.F0LoudnessPreprocessor(time_steps=0), 'time_steps must be a positive integer'),
        (
            lambda: pp.F0LoudnessPreprocessor(frame_rate=300),
            'frame_rate must be a divisor of sample_rate=16000',
        ),
        (lambda: pp.F0PowerPreprocessor(frame_size=-1), 'received frame_size=-1'),
        (
            lambda: pp.OnlineF0PowerPreprocessor(padding='full', compute_f0=False),
            "padding must be one of \\['center', 'same', 'valid'\\]",
        ),
    ],
)
def test_argument_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@gin.configurable
def _gin_preprocessors(preprocessor=None, online=None):
    return preprocessor, online


def test_gin_names_of_the_original_configs():
    gin.clear_config()
    try:
        gin.parse_config("""
            import ddsp.training.preprocessing
            _gin_preprocessors.preprocessor = @preprocessing.F0LoudnessPreprocessor()
            preprocessing.F0LoudnessPreprocessor.time_steps = 1000
            _gin_preprocessors.online = @OnlineF0PowerPreprocessor()
            OnlineF0PowerPreprocessor.frame_rate = 50
            OnlineF0PowerPreprocessor.padding = 'center'
            OnlineF0PowerPreprocessor.compute_f0 = False
            OnlineF0PowerPreprocessor.crepe_saved_model_path = None
            ddsp.training.preprocessing.F0PowerPreprocessor.frame_size = 64
        """)
        pre, online = _gin_preprocessors()
    finally:
        gin.clear_config()
    assert isinstance(pre, pp.F0LoudnessPreprocessor) and pre.time_steps == 1000
    assert isinstance(online, pp.OnlineF0PowerPreprocessor) and online.frame_rate == 50
    assert online.crepe is None
