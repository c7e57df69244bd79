"""Tests for ddsp.losses against independent references.

References: NumPy re-statements of each documented formula, librosa STFTs (periodic Hann,
center=False, end zero-padded to ceil(n / hop) frames as tf.signal.stft's pad_end does),
`spectral_ops.compute_loudness(use_tf=False)` (librosa) for the loudness term,
`scipy.stats.wasserstein_distance` / `energy_distance`, and a NumPy forward algorithm and
Viterbi decoder for the HMM.

The CREPE model is not part of the package yet (a later issue adds `ddsp.crepe`); the CREPE
tests here use a tiny stand-in Keras model with CREPE's layer names, passed explicitly, and
check only framing, normalisation, layer cutting and the weight arithmetic. Tests with the
real pretrained weights belong to the CREPE issue.
"""

import json
import math
import sys

import gin
import keras
import librosa
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from ddsp import losses, spectral_ops

RNG = np.random.default_rng(0)
N_SAMPLES = 3000  # Not a multiple of any hop, so the end padding matters.
FFT_SIZES = (512, 128, 64)
TERMS = ('mag_weight', 'delta_time_weight', 'delta_freq_weight', 'cumsum_freq_weight',
         'logmag_weight', 'loudness_weight')


def _noise(shape, seed, scale=0.3):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


TARGET = _noise([2, N_SAMPLES], 1)
AUDIO = (0.7 * TARGET + _noise([2, N_SAMPLES], 2, 0.1)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# NumPy references.
# ------------------------------------------------------------------------------------------------
def np_mag(audio, size):
    """|STFT| [batch, frames, bins]: periodic Hann, hop size // 4, end padded to ceil(n/hop)."""
    hop = size // 4
    n = audio.shape[-1]
    n_frames = -(-n // hop)
    extra = (n_frames - 1) * hop + size - n
    padded = np.pad(audio.astype(np.float64), [(0, 0), (0, extra)])
    spec = librosa.stft(padded, n_fft=size, hop_length=hop, center=False, window='hann')
    return np.swapaxes(np.abs(spec), -1, -2)


def np_mean_difference(target, value, loss_type, weights=None):
    target = np.asarray(target, np.float64)
    value = np.asarray(value, np.float64)
    w = 1.0 if weights is None else np.asarray(weights, np.float64)
    if loss_type == 'L1':
        return np.mean(np.abs((target - value) * w))
    if loss_type == 'L2':
        return np.mean((target - value) ** 2 * w)
    # Cosine distance per vector on the last axis: 1 - cos = |t/|t| - v/|v||^2 / 2 (the
    # accurate form); zero vectors stay zero when normalised.
    def unit(x):
        return x / np.sqrt(np.maximum(np.sum(x ** 2, -1, keepdims=True), 1e-12))
    distance = 0.5 * np.sum((unit(target) - unit(value)) ** 2, -1, keepdims=True)
    return np.mean(distance * w)


def np_spectral_loss(target, audio, loss_type, fft_sizes=FFT_SIZES, weights=None, **term_weights):
    """The documented multi-scale formula, term by term."""
    def logmag(m):  # Floored at 1e-5 (the original replaced only m <= 0).
        return np.log(np.maximum(m, 1e-5))

    transforms = {
        'mag_weight': lambda m: m,
        'delta_time_weight': lambda m: np.diff(m, axis=-2),
        'delta_freq_weight': lambda m: np.diff(m, axis=-1),
        'cumsum_freq_weight': lambda m: np.cumsum(m, axis=-1),
        'logmag_weight': logmag,
    }
    total = 0.0
    for size in fft_sizes:
        mt, mv = np_mag(target, size), np_mag(audio, size)
        for term, transform in transforms.items():
            w = term_weights.get(term, 0.0)
            if w:
                total += w * np_mean_difference(transform(mt), transform(mv), loss_type, weights)
    if term_weights.get('loudness_weight', 0.0):
        lt = spectral_ops.compute_loudness(target, n_fft=2048, use_tf=False)
        lv = spectral_ops.compute_loudness(audio, n_fft=2048, use_tf=False)
        lw = None if weights is None else np.asarray(weights)[..., 0]
        total += term_weights['loudness_weight'] * np_mean_difference(lt, lv, loss_type, lw)
    return total


def _only(term, value=1.0):
    """Term weights with just `term` on (mag_weight defaults to 1 in the class)."""
    weights = {t: 0.0 for t in TERMS}
    weights[term] = value
    return weights


# ------------------------------------------------------------------------------------------------
# mean_difference, amp_loss, freq_loss.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('loss_type', ['L1', 'L2', 'COSINE'])
@pytest.mark.parametrize('with_weights', [False, True])
def test_mean_difference_matches_numpy(loss_type, with_weights):
    target, value = _noise([3, 5, 8], 3), _noise([3, 5, 8], 4)
    shape = [3, 5, 1] if loss_type == 'COSINE' else [3, 5, 8]
    weights = np.random.default_rng(5).uniform(0, 2, shape).astype(np.float32)
    weights = weights if with_weights else None
    np.testing.assert_allclose(losses.mean_difference(target, value, loss_type, weights),
                               np_mean_difference(target, value, loss_type, weights), rtol=1e-5)


def test_cosine_distance_is_defined_on_the_last_axis():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], np.float32)
    same_direction = losses.mean_difference(x, 5.0 * x, 'COSINE')
    np.testing.assert_allclose(same_direction, 0.0, atol=1e-6)
    orthogonal = losses.mean_difference([[1.0, 0.0]], [[0.0, 3.0]], 'COSINE')
    np.testing.assert_allclose(orthogonal, 1.0, atol=1e-6)
    opposite = losses.mean_difference([[1.0, 2.0]], [[-1.0, -2.0]], 'COSINE')
    np.testing.assert_allclose(opposite, 2.0, atol=1e-6)
    # Mean over vectors: distances 0, 1 and 2.
    mixed = losses.mean_difference([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]],
                                   [[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], 'COSINE')
    np.testing.assert_allclose(mixed, 1.0, atol=1e-6)
    # Equal to 1 - cos for any non-zero vectors.
    t, v = _noise([4, 7], 40), _noise([4, 7], 41)
    cos = np.sum(t * v, -1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(v, axis=-1)
    np.testing.assert_allclose(losses.mean_difference(t, v, 'COSINE'), np.mean(1.0 - cos),
                               rtol=1e-5)
    # Zero vectors: identical ones are at 0, a zero and a non-zero one at 0.5.
    np.testing.assert_allclose(losses.mean_difference([[0.0, 0.0]], [[0.0, 0.0]], 'COSINE'), 0.0)
    np.testing.assert_allclose(losses.mean_difference([[0.0, 0.0]], [[0.0, 3.0]], 'COSINE'), 0.5)


def test_mean_difference_rejects_unknown_loss_type_and_accepts_any_case():
    with pytest.raises(ValueError, match="'L1', 'L2', 'COSINE'"):
        losses.mean_difference([1.0], [2.0], 'L3')
    np.testing.assert_allclose(losses.mean_difference([1.0], [3.0], 'l2'), 4.0)


def test_amp_loss_linear_and_log():
    amp, target = np.array([1.0, 100.0, 0.0], np.float32), np.array([10.0, 1.0, 1e-3], np.float32)
    np.testing.assert_allclose(losses.amp_loss(amp, target), np.mean(np.abs(amp - target)),
                               rtol=1e-6)
    log_amp = np.log10(np.maximum(1e-5, amp))
    log_target = np.log10(np.maximum(1e-5, target))
    np.testing.assert_allclose(losses.amp_loss(amp, target, log=True),
                               np.mean(np.abs(log_amp - log_target)), rtol=1e-5)
    np.testing.assert_allclose(losses.amp_loss(amp, target, 'L2', log=True, amin=1e-2),
                               np.mean((np.log10(np.maximum(1e-2, amp))
                                        - np.log10(np.maximum(1e-2, target))) ** 2), rtol=1e-5)


def test_freq_loss_is_in_midi():
    np.testing.assert_allclose(losses.freq_loss([440.0], [880.0]), 12.0, rtol=1e-6)
    f, f_target = np.array([100.0, 300.0], np.float32), np.array([150.0, 200.0], np.float32)
    midi, midi_target = librosa.hz_to_midi(f), librosa.hz_to_midi(f_target)
    weights = np.array([1.0, 0.5], np.float32)
    np.testing.assert_allclose(losses.freq_loss(f, f_target, 'L2', weights),
                               np.mean((midi - midi_target) ** 2 * weights), rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# wasserstein_distance.
# ------------------------------------------------------------------------------------------------
def _distributions(seed, shape=(3, 4), n_u=5, n_v=7):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=shape + (n_u,)).astype(np.float32)
    v = rng.normal(0.5, 2.0, size=shape + (n_v,)).astype(np.float32)
    u[..., 1] = u[..., 0]  # Ties inside a distribution.
    v[..., 2] = u[..., 3]  # And across the two.
    return u, v, rng.uniform(0.1, 3.0, u.shape).astype(np.float32), rng.uniform(
        0.1, 3.0, v.shape).astype(np.float32)


@pytest.mark.parametrize('weighted', [False, True])
def test_wasserstein_distance_matches_scipy(weighted):
    u, v, uw, vw = _distributions(6)
    if not weighted:
        uw = vw = None
    result = losses.wasserstein_distance(u, v, uw, vw).numpy()
    assert result.shape == (3, 4)
    for i in np.ndindex(3, 4):
        expected = scipy.stats.wasserstein_distance(
            u[i], v[i], None if uw is None else uw[i], None if vw is None else vw[i])
        np.testing.assert_allclose(result[i], expected, rtol=1e-5, atol=1e-6)


def test_wasserstein_distance_p2_is_the_cramer_distance():
    u, v, uw, vw = _distributions(7, shape=(2,))
    result = losses.wasserstein_distance(u, v, uw, vw, p=2).numpy()
    for i in range(2):
        expected = scipy.stats.energy_distance(u[i], v[i], uw[i], vw[i]) / math.sqrt(2.0)
        np.testing.assert_allclose(result[i], expected, rtol=1e-5)
    # A general p: the L^p norm of the CDF difference, for two point masses 0 and 1 it is 1.
    np.testing.assert_allclose(losses.wasserstein_distance([0.0], [1.0], p=3.0), 1.0, rtol=1e-6)


def test_wasserstein_distance_normalises_weights():
    u, v, uw, vw = _distributions(8)
    base = losses.wasserstein_distance(u, v, uw, vw)
    scaled = losses.wasserstein_distance(u, v, 7.0 * uw, 0.01 * vw)
    np.testing.assert_allclose(scaled, base, rtol=1e-5)
    # 1-D input gives a scalar; a shift of every point by 2 costs exactly 2.
    x = np.array([0.0, 1.0, 5.0], np.float32)
    np.testing.assert_allclose(losses.wasserstein_distance(x, x + 2.0), 2.0, rtol=1e-6)


def test_wasserstein_distance_gradients_and_bad_p():
    u, v, uw, vw = (tf.constant(a) for a in _distributions(9))
    with tf.GradientTape() as tape:
        tape.watch([u, uw])
        d = tf.reduce_sum(losses.wasserstein_distance(u, v, uw, vw))
    grads = tape.gradient(d, [u, uw])
    for g in grads:
        assert np.all(np.isfinite(g)) and np.any(g != 0)
    with pytest.raises(ValueError, match='p must be > 0'):
        losses.wasserstein_distance([0.0], [1.0], p=0)


# ------------------------------------------------------------------------------------------------
# SpectralLoss.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('term', TERMS)
@pytest.mark.parametrize('loss_type', ['L1', 'L2', 'COSINE'])
def test_spectral_loss_term_matches_numpy(loss_type, term):
    term_weights = _only(term, 0.7)
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
    target, audio = _noise([1, 4096], 10), _noise([1, 4096], 11)
    expected = np_spectral_loss(target, audio, 'L1', fft_sizes=loss.fft_sizes, mag_weight=1.0)
    np.testing.assert_allclose(loss(target, audio), expected, rtol=2e-4)


def test_spectral_loss_is_zero_for_identical_audio_and_positive_otherwise():
    all_terms = dict.fromkeys(TERMS, 1.0)
    for loss_type in losses.LOSS_TYPES:
        loss = losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type=loss_type, **all_terms)
        np.testing.assert_allclose(loss(TARGET, TARGET), 0.0, atol=1e-6)
        for term in TERMS:
            single = losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type=loss_type, **_only(term))
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
                value = sum(tf.reduce_mean(tf.abs(
                    log_fn(spectral_ops.compute_mag(tone, s))
                    - log_fn(spectral_ops.compute_mag(audio, s)))) for s in (256, 64))
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


@pytest.mark.parametrize('kwargs, message', [
    (dict(loss_type='L3'), "'L1', 'L2', 'COSINE'"),
    (dict(fft_sizes=[]), 'non-empty'),
    (dict(fft_sizes=64), 'non-empty'),
    (dict(fft_sizes=[64, 0]), 'positive integers'),
    (dict(fft_sizes=[-64]), 'positive integers'),
    (dict(fft_sizes=[64.0]), 'positive integers'),
    (dict(fft_sizes=['64']), 'positive integers'),
    (dict(fft_sizes=[True]), 'positive integers'),
    (dict(mag_weight=-1.0), 'mag_weight must be >= 0'),
    (dict(logmag_weight='1'), 'logmag_weight must be a finite number'),
    (dict(loudness_weight=float('nan')), 'loudness_weight must be a finite number'),
])
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
            _make_loss_group.group = @losses.LossGroup()
        """)
        group = _make_loss_group()
        loss = group.spectral_loss
        assert (loss.loss_type, loss.mag_weight, loss.logmag_weight) == ('L1', 1.0, 1.0)
        result = group({'audio': TARGET, 'audio_synth': AUDIO})
        expected = np_spectral_loss(TARGET, AUDIO, 'L1', fft_sizes=(128, 64), mag_weight=1.0,
                                    logmag_weight=1.0)
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
            _make_loss_group.group = @losses.SpectralLoss()
        """)
        with pytest.raises(TypeError, match='July 2020'):
            _make_loss_group()
    finally:
        gin.clear_config()


@gin.configurable
def _make_loss_group(group=None):
    return group


# ------------------------------------------------------------------------------------------------
# LossGroup.
# ------------------------------------------------------------------------------------------------
def _harmonic_controls(seed=12):
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0, 1, [2, 6, 1]).astype(np.float32)
    amp[:, :2] = 0.0  # Silent frames.
    dist = rng.uniform(0, 1, [2, 6, 4]).astype(np.float32)
    f0 = rng.uniform(100, 400, [2, 6, 1]).astype(np.float32)
    return amp, dist, f0


def test_loss_group_returns_a_flat_dict():
    amp, dist, f0 = _harmonic_controls()
    outputs = {'audio': TARGET, 'synth': {'audio': AUDIO},
               'f0_pred': f0 * 1.1, 'f0_hz': f0,
               'amp': amp, 'dist': dist}
    spectral = losses.SpectralLoss(fft_sizes=(64,))
    param = losses.ParamLoss(weight=2.0, name='f0_loss')
    harmonic = losses.HarmonicConsistencyLoss()
    group = losses.LossGroup(dag=[
        (spectral, ['audio', 'synth/audio']),
        ('f0_loss', ['f0_pred', 'f0_hz']),
        (harmonic, ['amp', 'amp', 'dist', 'dist', 'f0_pred', 'f0_hz']),
    ], f0_loss=param)
    result = group(outputs, training=True)
    assert set(result) == {'spectral_loss', 'f0_loss', 'harm_amp_loss', 'harm_dist_loss',
                           'f0_hz_loss'}
    assert all(np.shape(v) == () for v in result.values())
    np.testing.assert_allclose(result['spectral_loss'], spectral(TARGET, AUDIO), rtol=1e-6)
    np.testing.assert_allclose(result['f0_loss'],
                               2.0 * np.mean(np.abs(1.1 * f0 - f0)), rtol=1e-5)
    np.testing.assert_allclose(group.get_losses_dict(outputs)['f0_loss'], result['f0_loss'])
    # Serialisation: the group and its losses come back from the config.
    config = json.loads(json.dumps(group.get_config()))
    restored = losses.LossGroup.from_config(config)(outputs)
    for key, value in result.items():
        np.testing.assert_allclose(restored[key], value, rtol=1e-6)


def test_loss_group_rejects_clashing_loss_names():
    amp, dist, f0 = _harmonic_controls()
    group = losses.LossGroup(dag=[
        (losses.HarmonicConsistencyLoss(), ['amp', 'amp', 'dist', 'dist', 'f0', 'f0']),
        (losses.ParamLoss(name='f0_hz_loss'), ['f0', 'f0'])])
    with pytest.raises(ValueError, match='f0_hz_loss'):
        group({'amp': amp, 'dist': dist, 'f0': f0})


def test_loss_get_losses_dict_and_abstract_call():
    loss = losses.ParamLoss(name='my_loss')
    result = loss.get_losses_dict([1.0, 2.0], [1.0, 4.0])
    assert list(result) == ['my_loss']
    np.testing.assert_allclose(result['my_loss'], 1.0)
    with pytest.raises(NotImplementedError):
        losses.Loss()(tf.ones([1]))


# ------------------------------------------------------------------------------------------------
# Consistency losses and ParamLoss.
# ------------------------------------------------------------------------------------------------
def test_filtered_noise_consistency_loss():
    a, b = np.abs(_noise([2, 5, 8], 13)), np.abs(_noise([2, 5, 8], 14))
    np.testing.assert_allclose(losses.FilteredNoiseConsistencyLoss(weight=3.0)(a, b),
                               3.0 * np.mean(np.abs(a - b)), rtol=1e-5)
    np.testing.assert_allclose(losses.FilteredNoiseConsistencyLoss()(a, a), 0.0)


def test_harmonic_consistency_loss_values_and_masking():
    amp_target, dist_target, f0_target = _harmonic_controls(15)
    amp, dist, f0 = _harmonic_controls(16)
    loss = losses.HarmonicConsistencyLoss(amp_weight=2.0, dist_weight=3.0, f0_weight=0.5)
    result = loss(amp, amp_target, dist, dist_target, f0, f0_target)
    mask = (amp_target >= 1e-4).astype(np.float64)
    np.testing.assert_allclose(result['harm_amp_loss'], 2.0 * np.mean(np.abs(amp - amp_target)),
                               rtol=1e-5)
    np.testing.assert_allclose(result['harm_dist_loss'],
                               3.0 * np.mean(np.abs((dist - dist_target) * mask)), rtol=1e-5)
    midi_diff = librosa.hz_to_midi(f0) - librosa.hz_to_midi(f0_target)
    np.testing.assert_allclose(result['f0_hz_loss'], 0.5 * np.mean(np.abs(midi_diff * mask)),
                               rtol=1e-5)
    # Whatever the prediction does on silent target frames, dist and f0 losses do not change.
    dist2, f02, amp2 = dist.copy(), f0.copy(), amp.copy()
    dist2[:, :2] += 5.0
    f02[:, :2] *= 3.0
    amp2[:, :2] += 1.0
    changed = loss(amp2, amp_target, dist2, dist_target, f02, f0_target)
    np.testing.assert_allclose(changed['harm_dist_loss'], result['harm_dist_loss'], rtol=1e-6)
    np.testing.assert_allclose(changed['f0_hz_loss'], result['f0_hz_loss'], rtol=1e-6)
    assert changed['harm_amp_loss'] > result['harm_amp_loss']
    same = loss(amp, amp, dist, dist, f0, f0)
    assert all(float(v) == 0.0 for v in same.values())
    assert set(loss.get_losses_dict(amp, amp, dist, dist, f0, f0)) == set(result)


def _sinusoids(seed, n=6):
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(100.0, 2000.0, [2, 3, n]).astype(np.float32)
    amps = rng.uniform(0.0, 1.0, [2, 3, n]).astype(np.float32)
    return amps, freqs


@pytest.mark.parametrize('midi', [True, False])
def test_wasserstein_consistency_loss_matches_scipy(midi):
    amps_a, freqs_a = _sinusoids(17)
    amps_b, freqs_b = _sinusoids(18, n=4)
    convert = librosa.hz_to_midi if midi else (lambda f: f)
    expected = np.mean([scipy.stats.wasserstein_distance(
        convert(freqs_a[i]), convert(freqs_b[i]), amps_a[i], amps_b[i])
        for i in np.ndindex(2, 3)])
    loss = losses.WassersteinConsistencyLoss(weight=0.5, midi=midi)
    result = loss(amps_a, freqs_a, amps_b, freqs_b)
    np.testing.assert_allclose(result, 0.5 * expected, rtol=1e-4)
    assert result > 0.0
    np.testing.assert_allclose(loss(amps_a, freqs_a, amps_a, freqs_a), 0.0, atol=1e-6)


def _np_kde_nll(amps, midi, amps_target, midi_target, scale):
    weights = amps_target / amps_target.sum(-1, keepdims=True)
    log_n = scipy.stats.norm.logpdf(midi[..., :, None], midi_target[..., None, :], scale)
    log_p = scipy.special.logsumexp(log_n + np.log(weights[..., None, :]), axis=-1)
    return np.mean(np.sum(-log_p * amps, -1) / np.sum(amps, -1))


def test_kde_consistency_loss_matches_numpy():
    amps_a, freqs_a = _sinusoids(19)
    amps_b, freqs_b = _sinusoids(20, n=5)
    loss = losses.KDEConsistencyLoss(weight_a=1.0, weight_b=0.5, weight_mean_amp=2.0,
                                     scale_a=0.3, scale_b=0.7)
    midi_a, midi_b = librosa.hz_to_midi(freqs_a), librosa.hz_to_midi(freqs_b)
    expected = (1.0 * _np_kde_nll(amps_a, midi_a, amps_b, midi_b, 0.7)
                + 0.5 * _np_kde_nll(amps_b, midi_b, amps_a, midi_a, 0.3)
                + 2.0 * np.mean(np.abs(amps_a.mean(-1) - amps_b.mean(-1))))
    np.testing.assert_allclose(loss(amps_a, freqs_a, amps_b, freqs_b), expected, rtol=1e-4)


def test_kde_consistency_loss_behaviour():
    amps, freqs = _sinusoids(21)
    loss = losses.KDEConsistencyLoss()
    same = loss(amps, freqs, amps, freqs)
    shifted = loss(amps, freqs, amps, freqs * 2 ** (0.5 / 12))  # A quarter tone up.
    assert shifted > same
    # Symmetric when both directions are weighted and scaled alike.
    amps_b, freqs_b = _sinusoids(22)
    np.testing.assert_allclose(loss(amps, freqs, amps_b, freqs_b),
                               loss(amps_b, freqs_b, amps, freqs), rtol=1e-5)
    # Zero-amplitude sinusoids neither count as points nor as kernels.
    amps0, freqs0 = amps.copy(), freqs.copy()
    amps0[..., -1] = 0.0
    moved = freqs0.copy()
    moved[..., -1] = 50.0
    np.testing.assert_allclose(loss(amps0, freqs0, amps_b, freqs_b),
                               loss(amps0, moved, amps_b, freqs_b), rtol=1e-5)
    log_prob = loss.kernel_density_estimate([[1.0, 1.0]], [[60.0, 72.0]], 0.5)([[60.0, 66.0]])
    expected = np.log(0.5 * scipy.stats.norm.pdf(60.0, 60.0, 0.5)
                      + 0.5 * scipy.stats.norm.pdf(60.0, 72.0, 0.5))
    np.testing.assert_allclose(log_prob[0, 0], expected, rtol=1e-5)


def _harmonic_set(f0_hz, n_harmonics=12):
    """Sinusoids at the harmonics of f0 [frames] with 1/k amplitudes: [1, frames, K]."""
    k = np.arange(1, n_harmonics + 1, dtype=np.float32)
    freqs = np.asarray(f0_hz, np.float32)[:, None] * k
    amps = np.broadcast_to(1.0 / k, freqs.shape)
    return amps[None].astype(np.float32), freqs[None].astype(np.float32)


def test_twm_predict_f0_recovers_f0():
    f0 = np.array([220.0, 311.1, 150.0, 97.0], np.float32)
    amps, freqs = _harmonic_set(f0)
    ratios = np.array([0.25, 1 / 3, 0.5, 2 / 3, 1.0, 1.5, 2.0, 3.0, 1.13], np.float32)
    candidates = (f0[:, None] * ratios)[None]
    twm = losses.TWMLoss()
    predicted = twm.predict_f0(candidates, freqs, amps)
    assert predicted.shape == (1, 4, 1)
    np.testing.assert_allclose(predicted[0, :, 0], f0, rtol=1e-6)
    # Invalid candidates (0 Hz, above Nyquist) are ignored; a frame with none valid gives 0.
    candidates = np.array([[[0.0, 220.0, 9000.0], [0.0, -1.0, 8000.0]]], np.float32)
    amps2, freqs2 = _harmonic_set([220.0, 220.0])
    tensors = twm.get_loss_tensors(candidates, freqs2, amps2)
    assert set(tensors) == {'sinusoids', 'harmonics', 'total'}
    assert np.isnan(tensors['total'][0, 0, 0]) and not np.isnan(tensors['total'][0, 0, 1])
    np.testing.assert_allclose(twm.predict_f0(candidates, freqs2, amps2)[0, :, 0], [220.0, 0.0])


def test_twm_loss_is_differentiable_and_prefers_the_right_f0():
    f0 = np.array([220.0, 150.0], np.float32)
    amps, freqs = _harmonic_set(f0)
    twm = losses.TWMLoss()
    right = twm(f0[None, :, None], freqs, amps)
    octave_up = twm(2 * f0[None, :, None], freqs, amps)
    octave_down = twm(0.5 * f0[None, :, None], freqs, amps)
    assert right < octave_up and right < octave_down
    candidates = tf.Variable(f0[None, :, None] * np.array([0.97, 1.5], np.float32))
    with tf.GradientTape() as tape:
        value = twm(candidates, freqs, amps)
    grad = tape.gradient(value, candidates).numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(grad[..., 0] < 0)  # Raising the slightly-flat candidate lowers the loss.
    harmonics = twm.get_candidate_harmonics(f0[None, :, None], as_midi=False)
    assert harmonics.shape == (1, 2, 1, 30)
    np.testing.assert_allclose(harmonics[0, 0, 0, :3], [220.0, 440.0, 660.0])


def test_param_loss():
    pred, target = _noise([2, 4, 3], 23), _noise([2, 4, 3], 24)
    weights = np.random.default_rng(25).uniform(0, 1, [2, 4, 1]).astype(np.float32)
    for loss_type in losses.LOSS_TYPES:
        loss = losses.ParamLoss(weight=0.5, loss_type=loss_type)
        np.testing.assert_allclose(loss(pred, target, weights),
                                   0.5 * np_mean_difference(pred, target, loss_type, weights),
                                   rtol=1e-5)
    with pytest.raises(ValueError, match='COSINE'):
        losses.ParamLoss(loss_type='huber')


# ------------------------------------------------------------------------------------------------
# HmmTranscriber (tensorflow-probability).
# ------------------------------------------------------------------------------------------------
def _np_hmm_parameters(n, avg_length, midi_std, on_c, on_s, off_c, off_s):
    """The documented model, built directly."""
    p_stay = 1.0 - 1.0 / avg_length
    transition = np.where(np.eye(n, dtype=bool), p_stay, (1.0 - p_stay) / (n - 1))
    loc = np.array([[(n - 1) / 2.0, off_c]] + [[s, on_c] for s in range(1, n)])
    scale = np.array([[n, off_s]] + [[midi_std, on_s]] * (n - 1))
    return np.full(n, 1.0 / n), transition, loc, scale


def _np_log_emissions(obs, loc, scale):
    """[T, S] log N(obs_t; loc_s, diag(scale_s^2))."""
    return scipy.stats.norm.logpdf(obs[:, None, :], loc[None], scale[None]).sum(-1)


def _np_forward_log_prob(obs, initial, transition, loc, scale):
    log_e = _np_log_emissions(obs, loc, scale)
    log_t = np.log(transition)
    alpha = np.log(initial) + log_e[0]
    for t in range(1, len(obs)):
        alpha = scipy.special.logsumexp(alpha[:, None] + log_t, axis=0) + log_e[t]
    return scipy.special.logsumexp(alpha)


def _np_viterbi(obs, initial, transition, loc, scale):
    log_e = _np_log_emissions(obs, loc, scale)
    log_t = np.log(transition)
    delta = np.log(initial) + log_e[0]
    pointers = []
    for t in range(1, len(obs)):
        scores = delta[:, None] + log_t
        pointers.append(np.argmax(scores, axis=0))
        delta = scores.max(axis=0) + log_e[t]
    path = [int(np.argmax(delta))]
    for back in reversed(pointers):
        path.append(int(back[path[-1]]))
    return np.array(path[::-1])


def _note_sequence(seed, n_frames=24):
    """Observations of off, note 3, note 5, off, with noise: pitch and amps [2, T, 1]."""
    rng = np.random.default_rng(seed)
    states = np.repeat([0, 3, 5, 0], n_frames // 4)
    pitch = np.where(states > 0, states, rng.uniform(0, 7, n_frames)) + 0.2 * rng.normal(
        size=n_frames)
    amps = np.where(states > 0, 1.5, 0.0) + 0.05 * rng.normal(size=n_frames)
    pitch = np.stack([pitch, pitch[::-1]])[..., None].astype(np.float32)
    amps = np.stack([amps, amps[::-1]])[..., None].astype(np.float32)
    return pitch, amps, np.stack([states, states[::-1]])


def test_hmm_transcriber_nll_and_viterbi_match_numpy():
    pytest.importorskip('tensorflow_probability', exc_type=ImportError)
    args = dict(avg_length=5.0, midi_std=0.4, amps_on_center=1.5, amps_on_scale=0.5,
                amps_off_center=0.0, amps_off_scale=0.1)
    hmm = losses.HmmTranscriber(n_pitches=8, n_timesteps=24, weight=2.0, **args)
    pitch, amps, states = _note_sequence(26)
    params = _np_hmm_parameters(8, args['avg_length'], args['midi_std'], args['amps_on_center'],
                                args['amps_on_scale'], args['amps_off_center'],
                                args['amps_off_scale'])
    obs = np.concatenate([pitch, amps], -1).astype(np.float64)
    log_probs = np.array([_np_forward_log_prob(o, *params) for o in obs])
    expected = -2.0 * log_probs / 24
    np.testing.assert_allclose(hmm.nll(pitch, amps, per_example_loss=True), expected, rtol=1e-4)
    np.testing.assert_allclose(hmm(pitch, amps), expected.mean(), rtol=1e-4)
    np.testing.assert_allclose(hmm(pitch[..., 0], amps[..., 0]), expected.mean(), rtol=1e-4)

    paths = np.array([_np_viterbi(o, *params) for o in obs])
    np.testing.assert_array_equal(paths, states)  # The clean sequence is recovered.
    midi = hmm.predict_midi(pitch, amps)
    assert midi.shape == (2, 24, 1) and midi.dtype == tf.float32
    np.testing.assert_array_equal(midi[..., 0], paths)
    as_int = hmm.predict_midi(pitch, amps, channel_dim=False, dtype=tf.int32)
    assert as_int.shape == (2, 24) and as_int.dtype == tf.int32


def test_hmm_transcriber_straight_through_and_gradients():
    pytest.importorskip('tensorflow_probability', exc_type=ImportError)
    x = tf.Variable([0.2, 1.7, 3.4])
    with tf.GradientTape() as tape:
        y = losses.HmmTranscriber.straight_through(x, tf.round(x))
        value = tf.reduce_sum(3.0 * y)
    np.testing.assert_allclose(y, [0.0, 2.0, 3.0])
    np.testing.assert_allclose(tape.gradient(value, x), [3.0, 3.0, 3.0])
    hmm = losses.HmmTranscriber(n_pitches=8, n_timesteps=24, avg_length=5.0)
    pitch, amps, _ = _note_sequence(27)
    pitch = tf.Variable(pitch)
    with tf.GradientTape() as tape:
        nll = hmm(pitch, amps)
    grad = tape.gradient(nll, pitch).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_hmm_transcriber_without_tensorflow_probability_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorflow_probability', None)  # Makes the import fail.
    hmm = losses.HmmTranscriber(n_pitches=4, n_timesteps=5)  # Construction needs no tfp.
    with pytest.raises(ImportError, match='pip install "tensorflow-probability'):
        hmm(np.zeros([1, 5, 1], np.float32), np.zeros([1, 5, 1], np.float32))


def test_hmm_transcriber_validates_arguments():
    with pytest.raises(ValueError, match='n_pitches'):
        losses.HmmTranscriber(n_pitches=1)
    with pytest.raises(ValueError, match='midi_std must be positive'):
        losses.HmmTranscriber(midi_std=0.0)
    with pytest.raises(ValueError, match='avg_length'):
        losses.HmmTranscriber(avg_length=0.5)


# ------------------------------------------------------------------------------------------------
# Embedding losses and the CREPE embedding layer, with a stand-in CREPE model.
# ------------------------------------------------------------------------------------------------
def _stand_in_crepe():
    """A tiny untrained model with the original CREPE's layer names and shapes in and out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(1024,), name='input')
    x = keras.layers.Reshape((1024, 1, 1), name='input-reshape')(inputs)
    for i in range(1, 7):
        x = keras.layers.Conv2D(2, (8, 1), strides=(4, 1) if i == 1 else (1, 1), padding='same',
                                activation='relu', name=f'conv{i}')(x)
        x = keras.layers.BatchNormalization(name=f'conv{i}-BN')(x)
        x = keras.layers.MaxPooling2D((2, 1), name=f'conv{i}-maxpool')(x)
        x = keras.layers.Dropout(0.25, name=f'conv{i}-dropout')(x)
    x = keras.layers.Permute((2, 1, 3), name='transpose')(x)
    x = keras.layers.Flatten(name='flatten')(x)
    outputs = keras.layers.Dense(360, activation='sigmoid', name='classifier')(x)
    return keras.Model(inputs, outputs, name='stand_in_crepe')


@pytest.fixture(scope='module')
def crepe_model():
    return _stand_in_crepe()


def _np_frames(audio, hop, center):
    if center:
        audio = np.pad(audio, [(0, 0), (512, 512)])
    n_frames = 1 + (audio.shape[-1] - 1024) // hop
    frames = np.stack([audio[:, i * hop:i * hop + 1024] for i in range(n_frames)], axis=1)
    frames = frames - frames.mean(-1, keepdims=True)
    return frames / (frames.std(-1, keepdims=True) + 1e-5)


@pytest.mark.parametrize('hop, center', [(1024, True), (256, True), (512, False)])
def test_crepe_frame_audio(hop, center):
    audio = _noise([2, N_SAMPLES], 28)
    frames = losses.PretrainedCREPE.frame_audio(audio, hop_length=hop, center=center)
    expected = _np_frames(audio.astype(np.float64), hop, center)
    assert frames.shape == expected.shape
    if center:
        assert frames.shape[1] == 1 + N_SAMPLES // hop
    np.testing.assert_allclose(frames, expected, rtol=1e-4, atol=1e-4)
    silent = losses.PretrainedCREPE.frame_audio(np.zeros([1, 2048], np.float32))
    assert np.all(np.asarray(silent) == 0.0)


def test_pretrained_crepe_cuts_the_model(crepe_model):
    audio = _noise([2, N_SAMPLES], 29)
    layer = losses.PretrainedCREPE(activation_layer='conv6-maxpool', crepe_model=crepe_model)
    embedding = layer(audio)
    cut = keras.Model(crepe_model.input, crepe_model.get_layer('conv6-maxpool').output)
    frames = _np_frames(audio.astype(np.float64), 1024, True).astype(np.float32)
    expected = np.asarray(cut(frames.reshape(-1, 1024))).reshape(2, frames.shape[1], -1)
    assert embedding.shape == expected.shape == (2, 3, 8)
    np.testing.assert_allclose(embedding, expected, rtol=1e-4, atol=1e-5)
    assert layer.trainable_weights == [] and layer.non_trainable_weights
    classifier = losses.PretrainedCREPE(activation_layer='classifier', crepe_model=crepe_model)
    assert classifier(audio[0]).shape == (1, 3, 360)


def test_crepe_embedding_loss_weight_arithmetic(crepe_model):
    assert losses.CREPE_EMBEDDING_SCALES == {'conv1-BN': 1.3, 'conv6-maxpool': 25.0,
                                             'classifier': 130.0}
    target, audio = _noise([2, N_SAMPLES], 30), _noise([2, N_SAMPLES], 31)
    for layer_name, scale in losses.CREPE_EMBEDDING_SCALES.items():
        loss = losses.PretrainedCREPEEmbeddingLoss(weight=0.5, activation_layer=layer_name,
                                                   crepe_model=crepe_model)
        np.testing.assert_allclose(loss.weight, 20.0 * scale * 0.5)
        embed = loss.pretrained_model
        expected = 20.0 * scale * 0.5 * np.mean(np.abs(np.asarray(embed(target))
                                                       - np.asarray(embed(audio))))
        np.testing.assert_allclose(loss(target, audio), expected, rtol=1e-5)
        np.testing.assert_allclose(loss(target, target), 0.0)
        assert loss.get_config()['weight'] == 0.5
    zero = losses.PretrainedCREPEEmbeddingLoss(weight=0.0, crepe_model=crepe_model)
    assert float(zero(target, audio)) == 0.0


def test_crepe_embedding_loss_gradient_is_finite_with_silence(crepe_model):
    loss = losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv1-BN',
                                               crepe_model=crepe_model)
    audio = np.zeros([1, 4096], np.float32)
    audio[0, :1500] = _noise([1500], 34)  # Noise, then frames of pure silence.
    audio = tf.Variable(audio)
    with tf.GradientTape() as tape:
        value = loss(_noise([1, 4096], 35), audio)
    grad = tape.gradient(value, audio).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_crepe_arguments_are_checked():
    with pytest.raises(ValueError, match='model_capacity'):
        losses.PretrainedCREPE(model_capacity='huge')
    with pytest.raises(ValueError, match='activation_layer'):
        losses.PretrainedCREPE(activation_layer='conv7')
    with pytest.raises(ValueError, match='no scale'):
        losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv3-BN')


def test_crepe_without_ddsp_crepe_says_it_is_not_available(monkeypatch):
    monkeypatch.setitem(sys.modules, 'ddsp.crepe', None)  # Makes the import fail.
    layer = losses.PretrainedCREPE()  # Construction is lazy and works.
    with pytest.raises(ImportError, match='CREPE support is not available yet'):
        layer(np.zeros([1, 2048], np.float32))
    loss = losses.PretrainedCREPEEmbeddingLoss()
    with pytest.raises(ImportError, match='CREPE support is not available yet'):
        loss(np.zeros([1, 2048], np.float32), np.zeros([1, 2048], np.float32))


def test_embedding_loss_with_any_model(crepe_model):
    model = losses.PretrainedCREPE(activation_layer='flatten', crepe_model=crepe_model)
    target, audio = _noise([1, 2048], 32), _noise([1, 2048], 33)
    loss = losses.EmbeddingLoss(weight=2.0, loss_type='L2', pretrained_model=model)
    expected = 2.0 * np.mean((np.asarray(model(target)) - np.asarray(model(audio))) ** 2)
    np.testing.assert_allclose(loss(target, audio), expected, rtol=1e-5)
    assert float(losses.EmbeddingLoss(weight=0.0)(target, audio)) == 0.0
    with pytest.raises(ValueError, match='pretrained_model'):
        losses.EmbeddingLoss()(target, audio)
    with pytest.raises(ValueError, match='pretrained_model must be a Keras layer'):
        losses.EmbeddingLoss(pretrained_model='crepe')


# ------------------------------------------------------------------------------------------------
# Configs.
# ------------------------------------------------------------------------------------------------
CONFIG_CASES = [
    (losses.SpectralLoss, dict(fft_sizes=(256, 64), loss_type='COSINE', mag_weight=0.5,
                               delta_time_weight=0.1, delta_freq_weight=0.2,
                               cumsum_freq_weight=0.3, logmag_weight=1.0, loudness_weight=0.4,
                               name='spec')),
    (losses.EmbeddingLoss, dict(weight=3.0, loss_type='L2', name='emb')),
    (losses.PretrainedCREPEEmbeddingLoss, dict(weight=2.0, loss_type='L2',
                                               model_capacity='full',
                                               activation_layer='conv6-maxpool', name='crepe')),
    (losses.PretrainedCREPE, dict(model_capacity='small', activation_layer='conv2-BN',
                                  name='crepe_layer')),
    (losses.HmmTranscriber, dict(avg_length=50, midi_std=0.3, amps_on_center=1.0,
                                 amps_on_scale=0.4, amps_off_center=0.1, amps_off_scale=0.2,
                                 n_timesteps=250, n_pitches=64, weight=0.5, name='hmm')),
    (losses.FilteredNoiseConsistencyLoss, dict(weight=2.0, name='fn')),
    (losses.HarmonicConsistencyLoss, dict(amp_weight=0.1, dist_weight=0.2, f0_weight=0.3,
                                          amp_threshold=1e-3, name='hc')),
    (losses.WassersteinConsistencyLoss, dict(weight=0.5, midi=False, name='wc')),
    (losses.KDEConsistencyLoss, dict(weight_a=0.1, weight_b=0.2, weight_mean_amp=0.3,
                                     scale_a=0.4, scale_b=0.5, name='kde')),
    (losses.TWMLoss, dict(sinusoids_weight=0.1, harmonics_weight=0.2, sinusoids_scale=0.3,
                          harmonics_scale=0.4, n_harmonic_points=5, n_harmonic_gaussians=7,
                          softmin_temperature=0.5, sample_rate=44100, name='twm')),
    (losses.ParamLoss, dict(weight=0.5, loss_type='L2', name='pl')),
]


@pytest.mark.parametrize('cls, kwargs', CONFIG_CASES, ids=[c[0].__name__ for c in CONFIG_CASES])
def test_get_config_round_trips(cls, kwargs):
    layer = cls(**kwargs)
    config = json.loads(json.dumps(layer.get_config()))
    for key, value in kwargs.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    assert cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is cls and restored.get_config() == config


def test_embedding_loss_config_keeps_its_model(crepe_model):
    model = losses.PretrainedCREPE(activation_layer='flatten', name='embedder')
    loss = losses.EmbeddingLoss(weight=2.0, pretrained_model=model)
    restored = losses.EmbeddingLoss.from_config(json.loads(json.dumps(loss.get_config())))
    assert isinstance(restored.pretrained_model, losses.PretrainedCREPE)
    assert restored.pretrained_model.get_config() == model.get_config()


def test_registered_gin_names():
    for name in ['LossGroup', 'SpectralLoss', 'HmmTranscriber', 'EmbeddingLoss',
                 'PretrainedCREPEEmbeddingLoss', 'FilteredNoiseConsistencyLoss',
                 'HarmonicConsistencyLoss', 'WassersteinConsistencyLoss', 'KDEConsistencyLoss',
                 'TWMLoss', 'ParamLoss']:
        gin.clear_config()
        try:
            gin.parse_config(f'_make_loss_group.group = @losses.{name}')
            assert issubclass(_make_loss_group(), getattr(losses, name))
        finally:
            gin.clear_config()
