"""Tests for ddsp.losses.spectral: SpectralLoss and its floored log magnitude.

References: the documented multi-scale formula restated in NumPy over librosa STFTs, and
librosa loudness (tests/losses_reference.py).
"""

import gin
from losses_reference import (
    AUDIO,
    FFT_SIZES,
    TARGET,
    TERMS,
    make_loss_group,
    noise,
    np_spectral_loss,
    only,
)
import numpy as np
import pytest
import tensorflow as tf

from ddsp import losses, spectral_ops


# ------------------------------------------------------------------------------------------------
# SpectralLoss.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('term', TERMS)
@pytest.mark.parametrize('loss_type', ['L1', 'L2', 'COSINE'])
def test_spectral_loss_term_matches_numpy(loss_type, term):
    term_weights = only(term, 0.7)
    loss = losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type=loss_type, **term_weights)
    expected = np_spectral_loss(TARGET, AUDIO, loss_type, **term_weights)
    np.testing.assert_allclose(loss(TARGET, AUDIO), expected, rtol=2e-4, atol=1e-7)


@pytest.mark.parametrize('loss_type', ['L1', 'L2', 'COSINE'])
def test_spectral_loss_all_terms_with_per_example_weights(loss_type):
    term_weights = dict(zip(TERMS, (1.0, 0.5, 0.25, 0.1, 2.0, 0.3)))
    weights = np.array([0.5, 2.0], np.float32).reshape(2, 1, 1)
    loss = losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type=loss_type, **term_weights)
    expected = np_spectral_loss(TARGET, AUDIO, loss_type, weights=weights, **term_weights)
    np.testing.assert_allclose(loss(TARGET, AUDIO, weights=weights), expected, rtol=2e-4)


def test_spectral_loss_defaults_are_the_documented_ones():
    loss = losses.SpectralLoss()
    assert loss.fft_sizes == (2048, 1024, 512, 256, 128, 64)
    assert (loss.loss_type, loss.mag_weight, loss.logmag_weight) == ('L1', 1.0, 0.0)
    assert loss.name == 'spectral_loss'
    target, audio = noise([1, 4096], 10), noise([1, 4096], 11)
    expected = np_spectral_loss(target, audio, 'L1', fft_sizes=loss.fft_sizes, mag_weight=1.0)
    np.testing.assert_allclose(loss(target, audio), expected, rtol=2e-4)


def test_spectral_loss_is_zero_for_identical_audio_and_positive_otherwise():
    all_terms = dict.fromkeys(TERMS, 1.0)
    for loss_type in losses.LOSS_TYPES:
        loss = losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type=loss_type, **all_terms)
        np.testing.assert_allclose(loss(TARGET, TARGET), 0.0, atol=1e-6)
        for term in TERMS:
            single = losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type=loss_type, **only(term))
            assert single(TARGET, AUDIO) > 0.0, (loss_type, term)


def test_spectral_loss_accepts_unbatched_and_channel_audio():
    loss = losses.SpectralLoss(fft_sizes=(128, 64), **dict.fromkeys(TERMS, 1.0))
    batched = loss(TARGET[:1], AUDIO[:1])
    np.testing.assert_allclose(loss(TARGET[0], AUDIO[0]), batched, rtol=1e-5)
    np.testing.assert_allclose(loss(TARGET[:1, :, None], AUDIO[:1, :, None]), batched, rtol=1e-5)


def test_spectral_loss_gradient_is_finite_and_nonzero():
    loss = losses.SpectralLoss(fft_sizes=FFT_SIZES, **dict.fromkeys(TERMS, 1.0))
    for loss_type in losses.LOSS_TYPES:
        loss.loss_type = loss_type
        audio = tf.Variable(AUDIO)
        with tf.GradientTape() as tape:
            value = loss(TARGET, audio)
        grad = tape.gradient(value, audio).numpy()
        assert np.all(np.isfinite(grad)), loss_type
        assert np.mean(np.abs(grad) > 0) > 0.99, loss_type


def test_log_magnitude_term_ignores_bins_below_the_floor():
    """Near-silent generated audio: the log term's gradient must not depend on how quiet.

    The target is a tone that stops halfway; the generated audio is the same tone with noise
    at 1e-30 or 1e-20 of full scale in the second half (and 2 dB quieter in the first).
    Every magnitude of that noise is far
    below the 1e-5 floor, where the floored log is constant, so the two gradients agree. With
    the unfloored log (the original's `safe_log`, which replaces only values <= 0) the
    gradient goes as 1 / magnitude^2 through the STFT magnitude, overflows float32 and
    turns into NaN: one such batch made every weight of a model NaN after clipping.
    """
    n = 4096
    t = np.arange(n) / 16000.0
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t) * (t < t[n // 2])).astype(np.float32)[None]
    noise = np.random.default_rng(0).standard_normal([1, n]).astype(np.float32)
    quiet = (t >= t[n // 2])[None]
    loss = losses.SpectralLoss(fft_sizes=(256, 64), mag_weight=0.0, logmag_weight=1.0)

    def gradient(level, log_fn=None):
        audio = tf.Variable(np.where(quiet, level * noise, 0.8 * tone))
        with tf.GradientTape() as tape:
            if log_fn is None:
                value = loss(tone, audio)
            else:
                value = sum(
                    tf.reduce_mean(
                        tf.abs(
                            log_fn(spectral_ops.compute_mag(tone, s))
                            - log_fn(spectral_ops.compute_mag(audio, s))
                        )
                    )
                    for s in (256, 64)
                )
        return tape.gradient(value, audio).numpy()

    floored = [gradient(level) for level in (1e-30, 1e-20)]
    assert all(np.all(np.isfinite(g)) for g in floored)
    np.testing.assert_allclose(floored[0], floored[1], rtol=1e-5, atol=1e-9)
    # The loss still follows the audible part, and the unfloored log explodes in the tail.
    assert np.max(np.abs(floored[0][~quiet])) > 1e-4
    from ddsp import core

    for level in (1e-30, 1e-20):
        assert not np.all(np.isfinite(gradient(level, core.safe_log))), level


def test_spectral_loss_graph_and_xla_match_eager():
    loss = losses.SpectralLoss(fft_sizes=FFT_SIZES, **dict.fromkeys(TERMS, 1.0))
    eager = loss(TARGET, AUDIO).numpy()
    graph = tf.function(lambda t, a: loss(t, a))(TARGET, AUDIO).numpy()
    xla = tf.function(lambda t, a: loss(t, a), jit_compile=True)(TARGET, AUDIO).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-5)
    np.testing.assert_allclose(xla, eager, rtol=1e-4)


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(loss_type='L3'), "'L1', 'L2', 'COSINE'"),
        (dict(fft_sizes=[]), 'non-empty'),
        (dict(fft_sizes=64), 'non-empty'),
        (dict(fft_sizes=[64, 0]), 'positive integers'),
        (dict(fft_sizes=[-64]), 'positive integers'),
        (dict(fft_sizes=[64.0]), 'positive integers'),
        (dict(fft_sizes=['64']), 'positive integers'),
        (dict(fft_sizes=[True]), 'positive integers'),
        (dict(mag_weight=-1.0), 'mag_weight must be a number >= 0'),
        (
            dict(logmag_weight='1'),
            "logmag_weight must be a number >= 0; received logmag_weight='1'",
        ),
        (
            dict(loudness_weight=float('nan')),
            'loudness_weight must be a number >= 0; received loudness_weight=nan',
        ),
    ],
)
def test_spectral_loss_validates_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        losses.SpectralLoss(**kwargs)


@pytest.mark.parametrize('old_name', ['delta_delta_time_weight', 'delta_delta_freq_weight'])
def test_spectral_loss_removed_delta_delta_arguments(old_name):
    with pytest.raises(TypeError, match=r'removed from ddsp in July 2020.*gin configs'):
        losses.SpectralLoss(**{old_name: 1.0})


def test_spectral_loss_from_gin():
    gin.clear_config()
    try:
        gin.parse_config("""
            SpectralLoss.loss_type = 'L1'
            SpectralLoss.mag_weight = 1.0
            SpectralLoss.logmag_weight = 1.0
            SpectralLoss.fft_sizes = (128, 64)
            LossGroup.dag = [(@losses.SpectralLoss(), ['audio', 'audio_synth'])]
            make_loss_group.group = @losses.LossGroup()
        """)
        group = make_loss_group()
        loss = group.spectral_loss
        assert (loss.loss_type, loss.mag_weight, loss.logmag_weight) == ('L1', 1.0, 1.0)
        result = group({'audio': TARGET, 'audio_synth': AUDIO})
        expected = np_spectral_loss(
            TARGET, AUDIO, 'L1', fft_sizes=(128, 64), mag_weight=1.0, logmag_weight=1.0
        )
        np.testing.assert_allclose(result['spectral_loss'], expected, rtol=2e-4)
        # Direct Python calls ignore the bindings of a gin.register'ed class.
        assert losses.SpectralLoss().logmag_weight == 0.0
    finally:
        gin.clear_config()


def test_gin_binding_of_a_removed_argument_fails_clearly():
    gin.clear_config()
    try:
        gin.parse_config("""
            SpectralLoss.delta_delta_time_weight = 1.0
            make_loss_group.group = @losses.SpectralLoss()
        """)
        with pytest.raises(TypeError, match='July 2020'):
            make_loss_group()
    finally:
        gin.clear_config()
