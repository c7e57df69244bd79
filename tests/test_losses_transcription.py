"""Tests for ddsp.losses.transcription: HmmTranscriber.

References: a NumPy forward algorithm and Viterbi decoder over the documented model.
"""

import sys

import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from ddsp import losses


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
        size=n_frames
    )
    amps = np.where(states > 0, 1.5, 0.0) + 0.05 * rng.normal(size=n_frames)
    pitch = np.stack([pitch, pitch[::-1]])[..., None].astype(np.float32)
    amps = np.stack([amps, amps[::-1]])[..., None].astype(np.float32)
    return pitch, amps, np.stack([states, states[::-1]])


def test_hmm_transcriber_nll_and_viterbi_match_numpy():
    pytest.importorskip('tensorflow_probability', exc_type=ImportError)
    args = dict(
        avg_length=5.0,
        midi_std=0.4,
        amps_on_center=1.5,
        amps_on_scale=0.5,
        amps_off_center=0.0,
        amps_off_scale=0.1,
    )
    hmm = losses.HmmTranscriber(n_pitches=8, n_timesteps=24, weight=2.0, **args)
    pitch, amps, states = _note_sequence(26)
    params = _np_hmm_parameters(
        8,
        args['avg_length'],
        args['midi_std'],
        args['amps_on_center'],
        args['amps_on_scale'],
        args['amps_off_center'],
        args['amps_off_scale'],
    )
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
    with pytest.raises(ValueError, match='midi_std must be a positive number'):
        losses.HmmTranscriber(midi_std=0.0)
    with pytest.raises(ValueError, match='avg_length'):
        losses.HmmTranscriber(avg_length=0.5)
