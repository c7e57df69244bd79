"""Tests for ddsp.losses.base: the distance functions, Loss and LossGroup.

References: NumPy re-statements of each documented formula (tests/losses_reference.py),
`scipy.stats.wasserstein_distance` / `energy_distance`, and loss names written out by hand.
"""

import json
import math

import gin
import keras
import librosa
from losses_reference import (
    AUDIO,
    TARGET,
    harmonic_controls,
    make_loss_group,
    noise,
    np_mean_difference,
)
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from ddsp import losses


# ------------------------------------------------------------------------------------------------
# mean_difference, amp_loss, freq_loss.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('loss_type', ['L1', 'L2', 'COSINE'])
@pytest.mark.parametrize('with_weights', [False, True])
def test_mean_difference_matches_numpy(loss_type, with_weights):
    target, value = noise([3, 5, 8], 3), noise([3, 5, 8], 4)
    shape = [3, 5, 1] if loss_type == 'COSINE' else [3, 5, 8]
    weights = np.random.default_rng(5).uniform(0, 2, shape).astype(np.float32)
    weights = weights if with_weights else None
    np.testing.assert_allclose(
        losses.mean_difference(target, value, loss_type, weights),
        np_mean_difference(target, value, loss_type, weights),
        rtol=1e-5,
    )


def test_cosine_distance_is_defined_on_the_last_axis():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], np.float32)
    same_direction = losses.mean_difference(x, 5.0 * x, 'COSINE')
    np.testing.assert_allclose(same_direction, 0.0, atol=1e-6)
    orthogonal = losses.mean_difference([[1.0, 0.0]], [[0.0, 3.0]], 'COSINE')
    np.testing.assert_allclose(orthogonal, 1.0, atol=1e-6)
    opposite = losses.mean_difference([[1.0, 2.0]], [[-1.0, -2.0]], 'COSINE')
    np.testing.assert_allclose(opposite, 2.0, atol=1e-6)
    # Mean over vectors: distances 0, 1 and 2.
    mixed = losses.mean_difference(
        [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], [[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], 'COSINE'
    )
    np.testing.assert_allclose(mixed, 1.0, atol=1e-6)
    # Equal to 1 - cos for any non-zero vectors.
    t, v = noise([4, 7], 40), noise([4, 7], 41)
    cos = np.sum(t * v, -1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(v, axis=-1)
    np.testing.assert_allclose(
        losses.mean_difference(t, v, 'COSINE'), np.mean(1.0 - cos), rtol=1e-5
    )
    # Zero vectors: identical ones are at 0, a zero and a non-zero one at 0.5.
    np.testing.assert_allclose(losses.mean_difference([[0.0, 0.0]], [[0.0, 0.0]], 'COSINE'), 0.0)
    np.testing.assert_allclose(losses.mean_difference([[0.0, 0.0]], [[0.0, 3.0]], 'COSINE'), 0.5)


def test_mean_difference_rejects_unknown_loss_type_and_accepts_any_case():
    with pytest.raises(ValueError, match="'L1', 'L2', 'COSINE'"):
        losses.mean_difference([1.0], [2.0], 'L3')
    np.testing.assert_allclose(losses.mean_difference([1.0], [3.0], 'l2'), 4.0)


def test_amp_loss_linear_and_log():
    amp, target = np.array([1.0, 100.0, 0.0], np.float32), np.array([10.0, 1.0, 1e-3], np.float32)
    np.testing.assert_allclose(
        losses.amp_loss(amp, target), np.mean(np.abs(amp - target)), rtol=1e-6
    )
    log_amp = np.log10(np.maximum(1e-5, amp))
    log_target = np.log10(np.maximum(1e-5, target))
    np.testing.assert_allclose(
        losses.amp_loss(amp, target, log=True), np.mean(np.abs(log_amp - log_target)), rtol=1e-5
    )
    np.testing.assert_allclose(
        losses.amp_loss(amp, target, 'L2', log=True, amin=1e-2),
        np.mean((np.log10(np.maximum(1e-2, amp)) - np.log10(np.maximum(1e-2, target))) ** 2),
        rtol=1e-5,
    )


def test_freq_loss_is_in_midi():
    np.testing.assert_allclose(losses.freq_loss([440.0], [880.0]), 12.0, rtol=1e-6)
    f, f_target = np.array([100.0, 300.0], np.float32), np.array([150.0, 200.0], np.float32)
    midi, midi_target = librosa.hz_to_midi(f), librosa.hz_to_midi(f_target)
    weights = np.array([1.0, 0.5], np.float32)
    np.testing.assert_allclose(
        losses.freq_loss(f, f_target, 'L2', weights),
        np.mean((midi - midi_target) ** 2 * weights),
        rtol=1e-5,
    )


# ------------------------------------------------------------------------------------------------
# wasserstein_distance.
# ------------------------------------------------------------------------------------------------
def _distributions(seed, shape=(3, 4), n_u=5, n_v=7):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=shape + (n_u,)).astype(np.float32)
    v = rng.normal(0.5, 2.0, size=shape + (n_v,)).astype(np.float32)
    u[..., 1] = u[..., 0]  # Ties inside a distribution.
    v[..., 2] = u[..., 3]  # And across the two.
    return (
        u,
        v,
        rng.uniform(0.1, 3.0, u.shape).astype(np.float32),
        rng.uniform(0.1, 3.0, v.shape).astype(np.float32),
    )


@pytest.mark.parametrize('weighted', [False, True])
def test_wasserstein_distance_matches_scipy(weighted):
    u, v, uw, vw = _distributions(6)
    if not weighted:
        uw = vw = None
    result = losses.wasserstein_distance(u, v, uw, vw).numpy()
    assert result.shape == (3, 4)
    for i in np.ndindex(3, 4):
        expected = scipy.stats.wasserstein_distance(
            u[i], v[i], None if uw is None else uw[i], None if vw is None else vw[i]
        )
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
    with pytest.raises(ValueError, match='p must be a positive number'):
        losses.wasserstein_distance([0.0], [1.0], p=0)


# ------------------------------------------------------------------------------------------------
# LossGroup.
# ------------------------------------------------------------------------------------------------
def test_loss_group_returns_a_flat_dict():
    amp, dist, f0 = harmonic_controls()
    outputs = {
        'audio': TARGET,
        'synth': {'audio': AUDIO},
        'f0_pred': f0 * 1.1,
        'f0_hz': f0,
        'amp': amp,
        'dist': dist,
    }
    spectral = losses.SpectralLoss(fft_sizes=(64,))
    param = losses.ParamLoss(weight=2.0, name='f0_loss')
    harmonic = losses.HarmonicConsistencyLoss()
    group = losses.LossGroup(
        dag=[
            (spectral, ['audio', 'synth/audio']),
            ('f0_loss', ['f0_pred', 'f0_hz']),
            (harmonic, ['amp', 'amp', 'dist', 'dist', 'f0_pred', 'f0_hz']),
        ],
        f0_loss=param,
    )
    result = group(outputs, training=True)
    assert set(result) == {
        'spectral_loss',
        'f0_loss',
        'harm_amp_loss',
        'harm_dist_loss',
        'f0_hz_loss',
    }
    assert all(np.shape(v) == () for v in result.values())
    np.testing.assert_allclose(result['spectral_loss'], spectral(TARGET, AUDIO), rtol=1e-6)
    np.testing.assert_allclose(result['f0_loss'], 2.0 * np.mean(np.abs(1.1 * f0 - f0)), rtol=1e-5)
    np.testing.assert_allclose(group.get_losses_dict(outputs)['f0_loss'], result['f0_loss'])
    # Serialisation: the group and its losses come back from the config.
    config = json.loads(json.dumps(group.get_config()))
    restored = losses.LossGroup.from_config(config)(outputs)
    for key, value in result.items():
        np.testing.assert_allclose(restored[key], value, rtol=1e-6)


def test_loss_group_rejects_clashing_loss_names():
    amp, dist, f0 = harmonic_controls()
    group = losses.LossGroup(
        dag=[
            (losses.HarmonicConsistencyLoss(), ['amp', 'amp', 'dist', 'dist', 'f0', 'f0']),
            (losses.ParamLoss(name='f0_hz_loss'), ['f0', 'f0']),
        ]
    )
    with pytest.raises(ValueError, match='f0_hz_loss'):
        group({'amp': amp, 'dist': dist, 'f0': f0})


def test_loss_get_losses_dict_and_abstract_call():
    loss = losses.ParamLoss(name='my_loss')
    result = loss.get_losses_dict([1.0, 2.0], [1.0, 4.0])
    assert list(result) == ['my_loss']
    np.testing.assert_allclose(result['my_loss'], 1.0)
    with pytest.raises(NotImplementedError):
        losses.Loss()(tf.ones([1]))


# A LossGroup in the style of the original's MIDI-autoencoder reconstruction losses: a spectral
# loss renamed, and scoped ParamLosses on the synthesizer controls.
RECON_LOSS_GROUP_GIN = """
    SpectralLoss.name = 'spectral_loss_synth'
    SpectralLoss.fft_sizes = (256, 64)
    f0/ParamLoss.name = 'f0_midi_loss'
    f0/ParamLoss.loss_type = 'L2'
    f0/ParamLoss.weight = 50.0
    amps/ParamLoss.name = 'amps_loss'
    amps/ParamLoss.weight = 0.5
    LossGroup.dag = [
        (@losses.SpectralLoss(), ['audio', 'synth_audio']),
        (@f0/losses.ParamLoss(), ['f0_midi_pred', 'f0_midi']),
        (@amps/losses.ParamLoss(), ['amps_pred', 'amps']),
    ]
    make_loss_group.group = @losses.LossGroup()
"""


def test_loss_group_loss_names_and_losses_from_gin():
    gin.clear_config()
    try:
        gin.parse_config(RECON_LOSS_GROUP_GIN)
        group = make_loss_group()
    finally:
        gin.clear_config()
    expected_names = ['spectral_loss_synth', 'f0_midi_loss', 'amps_loss']  # Read off the config.
    assert group.loss_names == expected_names
    assert [type(loss) for loss in group.losses] == [
        losses.SpectralLoss,
        losses.ParamLoss,
        losses.ParamLoss,
    ]
    assert [loss.name for loss in group.losses] == expected_names
    assert [(loss.weight, loss.loss_type) for loss in group.losses[1:]] == [
        (50.0, 'L2'),
        (0.5, 'L1'),
    ]
    rng = np.random.default_rng(40)
    f0, amps = rng.uniform(40, 80, [2, 5, 1]), rng.uniform(0, 1, [2, 5, 1])
    outputs = {
        'audio': TARGET,
        'synth_audio': AUDIO,
        'f0_midi': f0,
        'f0_midi_pred': f0 + 0.5,
        'amps': amps,
        'amps_pred': 0.5 * amps,
    }
    result = group(outputs)
    assert list(result) == expected_names  # The keys of a call are the same names.
    np.testing.assert_allclose(result['f0_midi_loss'], 50.0 * 0.25, rtol=1e-5)
    np.testing.assert_allclose(result['amps_loss'], 0.5 * np.mean(0.5 * amps), rtol=1e-5)
    # The names survive serialisation.
    restored = losses.LossGroup.from_config(json.loads(json.dumps(group.get_config())))
    assert restored.loss_names == expected_names


def test_loss_group_loss_names_are_attribute_names_of_losses_only():
    amp, dist, f0 = harmonic_controls()
    rectify = keras.layers.Activation('relu', name='rectify')  # A DAG layer that is no loss.
    harmonic = losses.HarmonicConsistencyLoss()
    group = losses.LossGroup(
        dag=[
            (rectify, ['f0']),
            ('f0_loss', ['rectify/rectify', 'f0']),
            (harmonic, ['amp', 'amp', 'dist', 'dist', 'f0', 'f0']),
        ],
        f0_loss=losses.ParamLoss(weight=2.0, name='param_loss'),
    )
    # Keyword losses first, then the DAG's; a keyword loss under its keyword.
    assert group.loss_names == ['f0_loss', 'harmonic_consistency_loss']
    assert group.losses == [group.f0_loss, harmonic]
    # A call reports each loss's own names: a layer name, or a multi-term loss's terms.
    assert set(group({'amp': amp, 'dist': dist, 'f0': f0})) == {
        'param_loss',
        'harm_amp_loss',
        'harm_dist_loss',
        'f0_hz_loss',
    }
