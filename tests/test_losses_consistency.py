"""Tests for ddsp.losses.consistency: the losses on synthesizer controls and sinusoids.

References: NumPy re-statements of each documented formula, librosa's hz_to_midi,
`scipy.stats.wasserstein_distance` and scipy's normal log density.
"""

import librosa
from losses_reference import harmonic_controls, noise, np_mean_difference
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from ddsp import losses


# ------------------------------------------------------------------------------------------------
# Consistency losses and ParamLoss.
# ------------------------------------------------------------------------------------------------
def test_filtered_noise_consistency_loss():
    a, b = np.abs(noise([2, 5, 8], 13)), np.abs(noise([2, 5, 8], 14))
    np.testing.assert_allclose(
        losses.FilteredNoiseConsistencyLoss(weight=3.0)(a, b),
        3.0 * np.mean(np.abs(a - b)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(losses.FilteredNoiseConsistencyLoss()(a, a), 0.0)


def test_harmonic_consistency_loss_values_and_masking():
    amp_target, dist_target, f0_target = harmonic_controls(15)
    amp, dist, f0 = harmonic_controls(16)
    loss = losses.HarmonicConsistencyLoss(amp_weight=2.0, dist_weight=3.0, f0_weight=0.5)
    result = loss(amp, amp_target, dist, dist_target, f0, f0_target)
    mask = (amp_target >= 1e-4).astype(np.float64)
    np.testing.assert_allclose(
        result['harm_amp_loss'], 2.0 * np.mean(np.abs(amp - amp_target)), rtol=1e-5
    )
    np.testing.assert_allclose(
        result['harm_dist_loss'], 3.0 * np.mean(np.abs((dist - dist_target) * mask)), rtol=1e-5
    )
    midi_diff = librosa.hz_to_midi(f0) - librosa.hz_to_midi(f0_target)
    np.testing.assert_allclose(
        result['f0_hz_loss'], 0.5 * np.mean(np.abs(midi_diff * mask)), rtol=1e-5
    )
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
    expected = np.mean(
        [
            scipy.stats.wasserstein_distance(
                convert(freqs_a[i]), convert(freqs_b[i]), amps_a[i], amps_b[i]
            )
            for i in np.ndindex(2, 3)
        ]
    )
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
    loss = losses.KDEConsistencyLoss(
        weight_a=1.0, weight_b=0.5, weight_mean_amp=2.0, scale_a=0.3, scale_b=0.7
    )
    midi_a, midi_b = librosa.hz_to_midi(freqs_a), librosa.hz_to_midi(freqs_b)
    expected = (
        1.0 * _np_kde_nll(amps_a, midi_a, amps_b, midi_b, 0.7)
        + 0.5 * _np_kde_nll(amps_b, midi_b, amps_a, midi_a, 0.3)
        + 2.0 * np.mean(np.abs(amps_a.mean(-1) - amps_b.mean(-1)))
    )
    np.testing.assert_allclose(loss(amps_a, freqs_a, amps_b, freqs_b), expected, rtol=1e-4)


def test_kde_consistency_loss_behaviour():
    amps, freqs = _sinusoids(21)
    loss = losses.KDEConsistencyLoss()
    same = loss(amps, freqs, amps, freqs)
    shifted = loss(amps, freqs, amps, freqs * 2 ** (0.5 / 12))  # A quarter tone up.
    assert shifted > same
    # Symmetric when both directions are weighted and scaled alike.
    amps_b, freqs_b = _sinusoids(22)
    np.testing.assert_allclose(
        loss(amps, freqs, amps_b, freqs_b), loss(amps_b, freqs_b, amps, freqs), rtol=1e-5
    )
    # Zero-amplitude sinusoids neither count as points nor as kernels.
    amps0, freqs0 = amps.copy(), freqs.copy()
    amps0[..., -1] = 0.0
    moved = freqs0.copy()
    moved[..., -1] = 50.0
    np.testing.assert_allclose(
        loss(amps0, freqs0, amps_b, freqs_b), loss(amps0, moved, amps_b, freqs_b), rtol=1e-5
    )
    log_prob = loss.kernel_density_estimate([[1.0, 1.0]], [[60.0, 72.0]], 0.5)([[60.0, 66.0]])
    expected = np.log(
        0.5 * scipy.stats.norm.pdf(60.0, 60.0, 0.5) + 0.5 * scipy.stats.norm.pdf(60.0, 72.0, 0.5)
    )
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
    pred, target = noise([2, 4, 3], 23), noise([2, 4, 3], 24)
    weights = np.random.default_rng(25).uniform(0, 1, [2, 4, 1]).astype(np.float32)
    for loss_type in losses.LOSS_TYPES:
        loss = losses.ParamLoss(weight=0.5, loss_type=loss_type)
        np.testing.assert_allclose(
            loss(pred, target, weights),
            0.5 * np_mean_difference(pred, target, loss_type, weights),
            rtol=1e-5,
        )
    with pytest.raises(ValueError, match='COSINE'):
        losses.ParamLoss(loss_type='huber')
