"""Metrics against analytic values and mir_eval.melody as the independent reference."""

import mir_eval
import numpy as np
import pytest
import tensorflow as tf

from ddsp import spectral_ops
from ddsp.training import metrics

from .test_summaries import read_summaries

SEMITONE = 2.0 ** (1.0 / 12.0)


def _flush(metric, tmp_path, step=10):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        metric.flush(step)
    writer.flush()
    values, _ = read_summaries(tmp_path)
    return {tag: float(v[0][1]) for tag, v in values.items() if v[0][0] == step}


def test_helpers():
    assert metrics.squeeze(np.zeros([1, 5, 1])).shape == (5,)
    np.testing.assert_array_equal(metrics.l1_distance([1.0, 2.0, 3.0], [[1.0, 1.0]]), [0, 1])
    with pytest.raises(ValueError, match='1-D'):
        metrics.l1_distance(np.zeros([2, 3]), np.zeros(3))
    assert metrics.is_outlier([0.1, 0.84]) and not metrics.is_outlier([0.1, 0.85])
    assert metrics.MIN_F0_CONFIDENCE == 0.85 and metrics.OUTLIER_MIDI_THRESH == 12


def test_f0_dist_conf_thresh():
    f0 = np.full(10, 440.0)
    conf = np.ones(10)
    # One semitone sharp: |69 - 70| = 1 MIDI on every frame (the generated one is longer).
    assert metrics.f0_dist_conf_thresh(f0, np.full(12, 440.0 * SEMITONE), conf) == pytest.approx(
        1.0, abs=1e-5
    )
    # Unconfident frames are ignored, however wrong.
    f0_gen = np.full(10, 440.0 * SEMITONE)
    f0_gen[:4], conf[:4] = 10000.0, 0.5
    assert metrics.f0_dist_conf_thresh(f0, f0_gen, conf) == pytest.approx(1.0, abs=1e-5)
    assert metrics.f0_dist_conf_thresh(f0, f0_gen, np.full(10, 0.8)) is None


def _random_tracks(rng, n=400):
    ref = rng.uniform(80, 1000, n)
    cents_error = rng.choice([0, 20, 49, 51, 120, 1200, -1200, 2410, -30], n) + rng.normal(0, 3, n)
    est = ref * 2.0 ** (cents_error / 1200)
    ref[rng.random(n) < 0.1] = 0.0
    est[rng.random(n) < 0.1] = 0.0
    voicing = (rng.random(n) < 0.8).astype(float)
    return voicing, ref, est


@pytest.mark.parametrize('tolerance', [50, 25])
def test_pitch_accuracies_match_mir_eval(tolerance):
    rng = np.random.default_rng(tolerance)
    for _ in range(5):
        voicing, ref, est = _random_tracks(rng)
        ref_cent, est_cent = metrics.hz_to_cents(ref), metrics.hz_to_cents(est)
        np.testing.assert_allclose(ref_cent, mir_eval.melody.hz2cents(ref))
        args = (voicing, ref_cent, np.ones_like(voicing), est_cent)
        assert metrics.raw_pitch_accuracy(voicing, ref_cent, est_cent, tolerance) == pytest.approx(
            mir_eval.melody.raw_pitch_accuracy(*args, cent_tolerance=tolerance)
        )
        assert metrics.raw_chroma_accuracy(voicing, ref_cent, est_cent, tolerance) == pytest.approx(
            mir_eval.melody.raw_chroma_accuracy(*args, cent_tolerance=tolerance)
        )
    assert metrics.raw_pitch_accuracy(np.zeros(3), np.ones(3), np.ones(3)) == 0.0
    with pytest.raises(ValueError, match='one length'):
        metrics.raw_pitch_accuracy(np.ones(3), np.ones(3), np.ones(4))


def test_f0_metrics_on_known_offsets(tmp_path):
    n = 50
    batch = {
        'f0_hz': np.full([3, n], 440.0, np.float32),
        'f0_confidence': np.ones([3, n], np.float32),
    }
    batch['f0_confidence'][2] = 0.5  # An outlier example: skipped entirely.
    # Example 0 one semitone sharp (100 cents: wrong pitch and chroma at 50 cents);
    # example 1 one octave up (12 MIDI; wrong pitch, right chroma).
    predict = np.stack([np.full(n, 440.0 * SEMITONE), np.full(n, 880.0), np.full(n, 440.0)])
    m = metrics.F0Metrics(16000, 250)
    m.update_state(batch, predict)
    results = _flush(m, tmp_path)
    assert results['metrics/f0/f0_dist'] == pytest.approx((1 + 12) / 2, abs=1e-4)
    assert results['metrics/f0/raw_pitch_accuracy'] == pytest.approx(0.0)
    assert results['metrics/f0/raw_chroma_accuracy'] == pytest.approx(0.5)  # (0 + 1) / 2
    # Keras metric names match their keys (the original swapped rpa/rca).
    assert all(metric.name == f'f0_{key}' for key, metric in m.metrics.items())
    # Flushing resets.
    assert all(metric.count.numpy() == 0 for metric in m.metrics.values())
    with pytest.raises(ValueError, match='rpa_tolerance'):
        metrics.F0Metrics(16000, 250, rpa_tolerance=-1)
    with pytest.raises(ValueError, match='sample_rate'):
        metrics.F0Metrics(16000.5, 250)


def _sine(f0_hz, seconds=0.5, amplitude=0.5, sample_rate=16000):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * f0_hz * t)).astype(np.float32)


def test_loudness_metrics_against_numpy(tmp_path):
    audio = np.stack([_sine(440), _sine(300, amplitude=0.2)])
    audio_gen = np.stack([0.5 * audio[0], audio[1]])
    batch = {'loudness_db': spectral_ops.compute_loudness(audio, frame_rate=50, use_tf=False)}
    m = metrics.LoudnessMetrics(16000, 50)
    m.update_state(batch, audio_gen)
    results = _flush(m, tmp_path)
    # Halving the amplitude scales every frame's power by 1/4: 10 log10(4) = 6.02 dB (no frame
    # is at the -80 dB floor); the second example is unchanged (0 dB). Mean over examples.
    expected_0 = np.mean(
        np.abs(
            spectral_ops.compute_loudness(audio_gen[0], frame_rate=50, use_tf=False)
            - batch['loudness_db'][0]
        )
    )
    assert expected_0 == pytest.approx(10 * np.log10(4), abs=1e-3)
    assert results['metrics/loudness/loudness_db'] == pytest.approx(expected_0 / 2, abs=1e-2)


def test_compute_audio_features_and_f0_crepe_metrics(tmp_path):
    feats = metrics.compute_audio_features(_sine(440.0), frame_rate=50, model_capacity='tiny')
    assert sorted(feats) == ['audio', 'f0_confidence', 'f0_hz', 'loudness_db']
    # 0.5 s at 50 frames/s, centred: 25 + 1 frames.
    assert {k: v.shape for k, v in feats.items() if k != 'audio'} == {
        'f0_confidence': (26,),
        'f0_hz': (26,),
        'loudness_db': (26,),
    }
    assert np.median(feats['f0_hz']) == pytest.approx(440.0, rel=0.01)

    # int16 PCM of the same tone: the same features (read unscaled, loudness was 90 dB high).
    pcm = np.round(_sine(440.0) * 32767).astype(np.int16)
    from_pcm = metrics.compute_audio_features(pcm, frame_rate=50, model_capacity='tiny')
    np.testing.assert_allclose(from_pcm['audio'], pcm / 32768.0, atol=1e-7)
    np.testing.assert_allclose(from_pcm['loudness_db'], feats['loudness_db'], atol=0.01)
    np.testing.assert_allclose(from_pcm['f0_hz'], feats['f0_hz'], rtol=1e-3)

    # Ground truth one semitone above the generated 440 Hz tone: f0_dist ~ 1 MIDI. The second
    # example's ground truth is never confident: an outlier (ratio 1/2).
    batch = {
        'f0_hz': np.full([2, 26], 440.0 * SEMITONE, np.float32),
        'f0_confidence': np.stack([np.ones(26), np.full(26, 0.2)]).astype(np.float32),
    }
    m = metrics.F0CrepeMetrics(16000, 50, model_capacity='tiny')
    m.update_state(batch, np.stack([_sine(440.0), _sine(440.0)]))
    results = _flush(m, tmp_path)
    assert results['metrics/f0_crepe/f0_dist'] == pytest.approx(1.0, abs=0.1)
    assert results['metrics/f0_crepe/outlier_ratio'] == pytest.approx(0.5)


def test_eval_counts():
    counts = metrics.EvalCounts(tp=2, fp=1, fn=3)
    # precision 2/3, recall 2/5, f1 = 2 * (2/3)(2/5) / (2/3 + 2/5) = 1/2.
    assert (counts.precision, counts.recall, counts.f1) == pytest.approx((2 / 3, 0.4, 0.5))
    counts.add(metrics.EvalCounts(tp=1, fp=0, fn=0))
    assert (counts.tp, counts.fp, counts.fn) == (3, 1, 3)
    empty = metrics.EvalCounts()
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)


class _Note:
    def __init__(self, start_time, end_time, pitch, velocity=100):
        self.start_time, self.end_time = start_time, end_time
        self.pitch, self.velocity = pitch, velocity


class _Sequence:
    def __init__(self, *notes):
        self.notes = [_Note(*n) for n in notes]


def test_note_metrics_by_hand():
    gt = _Sequence((0.0, 1.0, 60), (1.0, 2.0, 62), (2.0, 3.0, 64))
    # Note 1: onset 10 ms late, same offset -> onset and full match.
    # Note 2: onset 20 ms late (< 50 ms), offset 0.5 s early (> 20% of 1 s) -> onset only.
    # Note 3: a semitone off (100 cents > 50) -> no match.
    pred = _Sequence((0.01, 1.0, 60), (1.02, 1.5, 62), (2.0, 3.0, 65))
    intervals, pitches, velocities = metrics.sequence2intervals(pred)
    np.testing.assert_allclose(intervals, [[0.01, 1.0], [1.02, 1.5], [2.0, 3.0]])
    assert pitches.tolist() == [60, 62, 65] and velocities.tolist() == [100] * 3
    results = metrics.compute_note_metrics(gt, pred)
    assert results['onset'] == metrics.EvalCounts(tp=2, fp=1, fn=1)
    assert results['full'] == metrics.EvalCounts(tp=1, fp=2, fn=2)
    # Nothing predicted: everything missed.
    assert metrics.compute_note_metrics(gt, _Sequence())['full'] == metrics.EvalCounts(
        tp=0, fp=0, fn=3
    )
    assert metrics.sequence2intervals(_Sequence())[0].shape == (0, 2)


def test_frame_metrics():
    gt = np.zeros([4, 3])
    pred = np.zeros([5, 3])  # One extra frame, ignored.
    gt[:2, 0] = 1  # Frames 0-1 pitch 0 ...
    pred[1:3, 0] = 1  # ... predicted at frames 1-2: tp 1 (frame 1), fp 1 (2), fn 1 (0).
    pred[4, 2] = 1  # Beyond the ground truth's length.
    assert metrics.compute_frame_metrics(gt, pred) == metrics.EvalCounts(tp=1, fp=1, fn=1)
    with pytest.raises(ValueError, match='same pitches'):
        metrics.compute_frame_metrics(np.zeros([2, 3]), np.zeros([2, 4]))


def test_note_metrics_without_mir_eval(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, 'mir_eval', None)  # Makes `import mir_eval` fail.
    with pytest.raises(ImportError, match='pip install mir_eval'):
        metrics.compute_note_metrics(_Sequence(), _Sequence())
