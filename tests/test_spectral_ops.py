"""Tests for ddsp.spectral_ops against independent references: librosa, scipy and closed forms."""

import pathlib

import gin
import librosa
import numpy as np
import pytest
import scipy.fft
import tensorflow as tf

from ddsp import core, spectral_ops

SR = 16000
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _noise(shape, scale=0.3, seed=0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _sine(freq_hz, n_samples, amp=1.0, sample_rate=SR, phase=0.3):
    t = np.arange(n_samples) / sample_rate
    return (amp * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32)


def _pad_end_np(audio, frame_size, hop_size):
    """Zero-pads the end so that ceil(n / hop) frames fit ('same' framing), written directly."""
    n = audio.shape[-1]
    n_frames = int(np.ceil(n / hop_size))
    extra = (n_frames - 1) * hop_size + frame_size - n
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, extra)])


def _librosa_mag(audio, frame_size, hop_size):
    """|STFT| [..., frames, bins] with a periodic Hann window and end padding, via librosa."""
    padded = _pad_end_np(audio, frame_size, hop_size)
    spec = librosa.stft(padded, n_fft=frame_size, hop_length=hop_size, center=False, window='hann')
    return np.swapaxes(np.abs(spec), -1, -2)


def _htk_mel_matrix(n_mels, n_freqs, sample_rate, lo_hz, hi_hz):
    """[n_freqs, n_mels] triangular filters, equally spaced on the HTK mel scale, peak 1.

    Each filter rises linearly (in mel) from its left edge to 1 at its centre and falls to 0 at
    its right edge; the FFT bins are linearly spaced from 0 to Nyquist.
    """

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    bin_mels = hz_to_mel(np.linspace(0.0, sample_rate / 2.0, n_freqs))[:, None]
    edges = np.linspace(hz_to_mel(lo_hz), hz_to_mel(hi_hz), n_mels + 2)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mels - left) / (centre - left)
    falling = (right - bin_mels) / (right - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def _max_abs_err(actual, expected):
    return float(np.max(np.abs(np.asarray(actual) - np.asarray(expected))))


# ------------------------------------------------------------------------------------------------
# Module surface.
# ------------------------------------------------------------------------------------------------
def test_constants_and_aliases():
    assert spectral_ops.CREPE_SAMPLE_RATE == 16000
    assert spectral_ops.CREPE_FRAME_SIZE == 1024
    assert spectral_ops.F0_RANGE == 127.0
    assert spectral_ops.DB_RANGE == 80.0 == core.DB_RANGE
    assert spectral_ops.calc_mag is spectral_ops.compute_mag
    assert spectral_ops.calc_mel is spectral_ops.compute_mel
    assert spectral_ops.calc_logmag is spectral_ops.compute_logmag
    assert spectral_ops.calc_logmel is spectral_ops.compute_logmel
    assert spectral_ops.calc_mfcc is spectral_ops.compute_mfcc
    assert spectral_ops.diff is core.diff


@pytest.mark.background_job('import_report')
def test_import_does_not_pull_heavy_optional_dependencies(background_result):
    # Keras 3 itself imports matplotlib (keras.src.visualization) when it is installed, so the
    # check is on what importing ddsp.spectral_ops adds on top of tensorflow: in a fresh
    # interpreter, `import tensorflow`, then `import ddsp` and `import ddsp.spectral_ops`
    # (tests/import_report.py, run once in the background for all the import checks).
    report = background_result('import_report')
    added = report['added']['ddsp'] + report['added']['ddsp.spectral_ops']
    heavy = {'matplotlib', 'apache_beam', 'tensorflow_datasets', 'crepe', 'librosa'}
    assert sorted(m for m in added if m.split('.')[0] in heavy) == [], added


@pytest.mark.background_job('import_report')
def test_feature_extraction_does_not_import_the_pitch_network(background_result):
    # CREPE pitch lives in ddsp.crepe.pitch; spectral_ops re-exports it on first use, and takes
    # only CREPE's constants (tests/import_report.py: `import ddsp`, `import ddsp.spectral_ops`).
    report = background_result('import_report')
    added = report['added']['ddsp'] + report['added']['ddsp.spectral_ops']
    pitch_modules = (
        'ddsp.crepe.network',
        'ddsp.crepe.inference',
        'ddsp.crepe.decoding',
        'ddsp.crepe.pitch',
    )
    assert sorted(m for m in added if m in pitch_modules) == []


def test_pitch_names_are_re_exported_from_ddsp_crepe():
    from ddsp.crepe import pitch

    assert spectral_ops.compute_f0 is pitch.compute_f0
    assert spectral_ops.PretrainedCREPE is pitch.PretrainedCREPE
    assert spectral_ops.reset_crepe is pitch.reset_crepe
    assert {'compute_f0', 'PretrainedCREPE', 'reset_crepe'} <= set(dir(spectral_ops))
    with pytest.raises(AttributeError, match='no_such_feature'):
        spectral_ops.no_such_feature  # noqa: B018


@gin.configurable
def _spectral_consumer(fn=None, audio=None):
    return fn(audio)


def test_gin_references_resolve_with_and_without_module():
    audio = _noise([1, 2048])
    gin.clear_config()
    try:
        gin.parse_config("""
            _spectral_consumer.fn = @spectral_ops.compute_mag
            compute_mag.size = 256
        """)
        mag = _spectral_consumer(audio=audio)
        assert mag.shape == (1, 2048 // 64, 129)  # size 256 -> hop 64, 129 bins.
        gin.clear_config()
        gin.parse_config('_spectral_consumer.fn = @compute_loudness')
        assert _spectral_consumer(audio=audio).shape == (1, 2048 // 64 + 1)
        for name in ('compute_mel', 'compute_logmag', 'compute_logmel', 'compute_mfcc'):
            gin.clear_config()
            gin.parse_config(f'_spectral_consumer.fn = @ddsp.spectral_ops.{name}')
            assert _spectral_consumer(audio=audio).shape[0] == 1, name
    finally:
        gin.clear_config()


# ------------------------------------------------------------------------------------------------
# STFT and magnitudes.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('pad_end', [True, False])
def test_stft_matches_librosa(pad_end):
    audio = _noise([2, 3000])
    frame_size, hop_size = 512, 128
    padded = _pad_end_np(audio, frame_size, hop_size) if pad_end else audio
    expected = np.swapaxes(
        librosa.stft(padded, n_fft=frame_size, hop_length=hop_size, center=False), -1, -2
    )
    n_frames = int(np.ceil(3000 / hop_size)) if pad_end else (3000 - frame_size) // hop_size + 1
    assert expected.shape == (2, n_frames, 257)

    actual = spectral_ops.stft(audio, frame_size=frame_size, overlap=0.75, pad_end=pad_end)
    assert actual.dtype == tf.complex64
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    assert _max_abs_err(actual, expected) < 1e-4 * scale

    np_out = spectral_ops.stft_np(audio, frame_size=frame_size, overlap=0.75, pad_end=pad_end)
    assert np_out.shape == expected.shape
    assert _max_abs_err(np_out, expected) < 1e-5 * scale
    mag = spectral_ops.compute_mag(audio, size=frame_size, overlap=0.75, pad_end=pad_end)
    assert _max_abs_err(mag, np.abs(expected)) < 1e-4 * scale


def test_stft_fft_length_is_next_power_of_two():
    mag = spectral_ops.compute_mag(_noise([1, 2000]), size=400, overlap=0.5)
    assert mag.shape == (1, 10, 257)  # hop 200 -> ceil(2000/200) frames; fft 512.


def test_stft_ranks():
    audio = _noise([2, 1024])
    batched = spectral_ops.stft(audio, frame_size=256)
    np.testing.assert_array_equal(spectral_ops.stft(audio[..., None], frame_size=256), batched)
    single = spectral_ops.stft(audio[0], frame_size=256)
    assert single.shape == batched.shape[1:]
    np.testing.assert_array_equal(single, batched[0])
    assert spectral_ops.stft_np(audio[0], frame_size=256).shape == tuple(batched.shape[1:])
    for bad in (np.zeros([2, 1024, 2], np.float32), np.zeros([1, 2, 1024, 1], np.float32)):
        with pytest.raises(ValueError, match=r'\[batch, n_samples\]'):
            spectral_ops.stft(bad, frame_size=256)
        with pytest.raises(ValueError, match=r'\[batch, n_samples\]'):
            spectral_ops.compute_loudness(bad)
        with pytest.raises(ValueError, match=r'\[batch, n_samples\]'):
            spectral_ops.compute_loudness(bad, use_tf=False)
        with pytest.raises(ValueError, match=r'\[batch, n_samples\]'):
            spectral_ops.compute_rms_energy(bad)


def test_stft_rejects_zero_hop():
    with pytest.raises(ValueError, match='overlap'):
        spectral_ops.stft(_noise([1, 512]), frame_size=256, overlap=1.0)


@pytest.mark.parametrize('freq_hz, expected_bin', [(20 * SR / 512, 20), (1240.0, 40)])
def test_sine_peak_lands_in_its_bin(freq_hz, expected_bin):
    # Bin k is centred on k * sr / fft_size = k * 31.25 Hz; 1240 Hz is bin 39.7 -> 40.
    mag = spectral_ops.compute_mag(_sine(freq_hz, 4096), size=512, overlap=0.75).numpy()
    interior = mag[2:-6]  # Skip frames that reach into the end padding.
    np.testing.assert_array_equal(np.argmax(interior, axis=-1), expected_bin)


def test_compute_mag_gradient_matches_float64_finite_differences():
    """TF's gradient of |STFT| against central differences of an independent float64 |STFT|."""
    frame_size, hop_size = 32, 16
    x0 = _noise([1, 64], scale=1.0, seed=3).astype(np.float64)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_size) / frame_size)  # Periodic.

    def mag_ref(x):
        padded = _pad_end_np(x, frame_size, hop_size)[0]
        n_frames = (padded.size - frame_size) // hop_size + 1
        frames = np.stack(
            [padded[i * hop_size : i * hop_size + frame_size] for i in range(n_frames)]
        )
        return np.abs(np.fft.rfft(frames * window, axis=-1)).ravel()

    eps = 1e-6
    numeric = np.stack(
        [
            (mag_ref(x0 + eps * e) - mag_ref(x0 - eps * e)) / (2 * eps)
            for e in np.eye(x0.size).reshape(-1, 1, x0.size)
        ],
        axis=-1,
    )

    x = tf.constant(x0, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        mag = spectral_ops.compute_mag(x, size=frame_size, overlap=0.5)
    analytic = tape.jacobian(mag, x).numpy().reshape(numeric.shape)
    np.testing.assert_allclose(tf.reshape(mag, [-1]), mag_ref(x0), atol=1e-5)
    assert np.all(np.isfinite(analytic))
    np.testing.assert_allclose(analytic, numeric, atol=1e-4 * np.abs(numeric).max())


# ------------------------------------------------------------------------------------------------
# Mel, log and MFCC.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('lo_hz, hi_hz, bins', [(0.0, 8000.0, 40), (80.0, 7600.0, 64)])
def test_compute_mel_matches_htk_filterbank_on_librosa_magnitude(lo_hz, hi_hz, bins):
    audio = _noise([2, 4000])
    fft_size, hop_size = 1024, 256
    mag = _librosa_mag(audio, fft_size, hop_size)
    expected = mag @ _htk_mel_matrix(bins, fft_size // 2 + 1, SR, lo_hz, hi_hz)
    actual = spectral_ops.compute_mel(
        audio, lo_hz=lo_hz, hi_hz=hi_hz, bins=bins, fft_size=fft_size, overlap=0.75, sample_rate=SR
    )
    assert actual.shape == expected.shape == (2, 16, bins)
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-4 * expected.max())

    logmel = spectral_ops.compute_logmel(
        audio, lo_hz=lo_hz, hi_hz=hi_hz, bins=bins, fft_size=fft_size, overlap=0.75
    )
    np.testing.assert_allclose(logmel, np.log(expected), atol=2e-3)


def test_compute_logmag_is_log_of_librosa_magnitude():
    audio = _noise([1, 3000])
    expected = np.log(_librosa_mag(audio, 512, 128))
    actual = spectral_ops.compute_logmag(audio, size=512, overlap=0.75)
    np.testing.assert_allclose(actual, expected, atol=2e-3)
    # safe_log: silent frames give log(1e-5), not -inf.
    silent = spectral_ops.compute_logmag(np.zeros([1, 1024], np.float32), size=256)
    np.testing.assert_allclose(silent, np.log(1e-5), rtol=1e-6)


def test_compute_mfcc_is_scaled_dct_of_numpy_logmel():
    audio = _noise([1, 4000]) + _sine(440.0, 4000, amp=0.5)
    fft_size, mel_bins, mfcc_bins = 1024, 64, 13
    mel = _librosa_mag(audio, fft_size, fft_size // 4) @ _htk_mel_matrix(
        mel_bins, fft_size // 2 + 1, SR, 20.0, 8000.0
    )
    # tf.signal.mfccs_from_log_mel_spectrograms scales every DCT-II coefficient by sqrt(2/M);
    # the orthonormal DCT uses sqrt(1/M) for coefficient 0, so that one differs by sqrt(2).
    expected = scipy.fft.dct(np.log(mel), type=2, norm='ortho', axis=-1)[..., :mfcc_bins]
    expected[..., 0] *= np.sqrt(2.0)
    actual = spectral_ops.compute_mfcc(
        audio, lo_hz=20.0, hi_hz=8000.0, fft_size=fft_size, mel_bins=mel_bins, mfcc_bins=mfcc_bins
    )
    assert actual.shape == (1, 16, mfcc_bins)
    np.testing.assert_allclose(actual, expected, atol=5e-3)
    assert spectral_ops.compute_mfcc(audio).shape == (1, 16, 13)  # Defaults: 128 mel bins.


def test_mel_matrix_is_cached_and_safe_to_build_inside_a_graph():
    spectral_ops._mel_weight_matrix.cache_clear()
    audio = _noise([1, 2048])
    # First build while tracing: the cached value must still work eagerly afterwards.
    in_graph = tf.function(lambda a: spectral_ops.compute_mel(a, bins=32))(tf.constant(audio))
    eager = spectral_ops.compute_mel(audio, bins=32)
    np.testing.assert_allclose(in_graph, eager, rtol=1e-6)
    spectral_ops.compute_mel(audio, bins=32)
    info = spectral_ops._mel_weight_matrix.cache_info()
    assert info.misses == 1 and info.hits >= 2


# ------------------------------------------------------------------------------------------------
# Framing arithmetic and padding.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'length, frame, hop, padding, expected',
    [
        (64000, 512, 64, 'valid', (993, 64000)),
        (64000, 512, 64, 'center', (1001, 64512)),
        (64000, 512, 64, 'same', (1000, 64448)),
        (100, 16, 4, 'valid', (22, 100)),
        (100, 16, 4, 'center', (26, 116)),
        (100, 16, 4, 'same', (25, 112)),
        (101, 16, 4, 'valid', (22, 101)),
        (101, 16, 4, 'center', (26, 117)),
        (101, 16, 4, 'same', (26, 116)),
        (10, 16, 4, 'valid', (0, 10)),
        (10, 16, 4, 'center', (3, 26)),
        (10, 16, 4, 'same', (3, 24)),
    ],
)
def test_get_framed_lengths_table(length, frame, hop, padding, expected):
    assert spectral_ops.get_framed_lengths(length, frame, hop, padding) == expected


@pytest.mark.parametrize('padding', ['valid', 'center', 'same'])
@pytest.mark.parametrize('frame, hop', [(16, 4), (15, 4), (8, 8), (512, 64)])
def test_pad_then_frame_agrees_with_get_framed_lengths(padding, frame, hop):
    for length in (frame, frame + 1, 3 * hop, 1000, 1001, 1003):
        padded = spectral_ops.pad(np.ones([2, length], np.float32), frame, hop, padding)
        n_frames, padded_length = spectral_ops.get_framed_lengths(length, frame, hop, padding)
        assert padded.shape == (2, padded_length)
        assert tf.signal.frame(padded, frame, hop).shape[1] == n_frames


def test_pad_modes_and_axes():
    x = np.arange(10, dtype=np.float32)[None]  # [1, 10]
    np.testing.assert_array_equal(spectral_ops.pad(x, 4, 2, 'center'), [[0, 0, *range(10), 0, 0]])
    np.testing.assert_array_equal(spectral_ops.pad(x, 4, 2, 'same'), [[*range(10), 0, 0]])
    np.testing.assert_array_equal(spectral_ops.pad(x, 4, 2, 'valid'), x)
    np.testing.assert_array_equal(
        spectral_ops.pad(x, 5, 2, 'center'), [[0, 0, *range(10), 0, 0, 0]]
    )  # Odd frame: L + F total.
    np.testing.assert_array_equal(
        spectral_ops.pad(x, 4, 2, 'center', mode='REFLECT'), [[2, 1, *range(10), 8, 7]]
    )
    np.testing.assert_array_equal(
        spectral_ops.pad(x, 4, 2, 'same', constant_values=-1), [[*range(10), -1, -1]]
    )
    # 1-D input pads axis 0 whatever `axis` says; other axes can be chosen.
    np.testing.assert_array_equal(
        spectral_ops.pad(x[0], 4, 2, 'center', axis=1), [0, 0, *range(10), 0, 0]
    )
    assert spectral_ops.pad(np.zeros([2, 10, 3]), 4, 2, 'center', axis=1).shape == (2, 14, 3)
    assert spectral_ops.pad(np.zeros([2, 3, 10]), 4, 2, 'same', axis=-1).shape == (2, 3, 12)


def test_padding_errors_name_the_fix():
    with pytest.raises(ValueError, match="'valid', 'center', 'same'"):
        spectral_ops.get_framed_lengths(100, 16, 4, 'causal')
    with pytest.raises(ValueError, match="'valid', 'center', 'same'"):
        spectral_ops.pad(np.zeros([1, 100]), 16, 4, 'full')
    with pytest.raises(ValueError, match="'valid', 'center', 'same'"):
        spectral_ops.compute_loudness(np.zeros([1, 1000], np.float32), padding='reflect')
    with pytest.raises(ValueError, match=r'hop_size must be <= frame_size=16 .*hop_size=32'):
        spectral_ops.pad(np.zeros([1, 100]), 16, 32, 'center')


# ------------------------------------------------------------------------------------------------
# RMS, power, A-weighting, loudness.
# ------------------------------------------------------------------------------------------------
def test_rms_energy_of_sine_is_amplitude_over_root_two():
    # 1 kHz at 16 kHz has a 16-sample period, so each 512-sample frame holds whole periods.
    amp, n = 0.5, 4000
    rms = spectral_ops.compute_rms_energy(_sine(1000.0, n, amp=amp), frame_size=512).numpy()
    assert rms.shape == (n // 64 + 1,)
    interior = rms[4 : (n - 256) // 64 + 1]  # Frames lying wholly inside the signal.
    np.testing.assert_allclose(interior, amp / np.sqrt(2.0), rtol=1e-5)
    assert rms[0] < amp / np.sqrt(2.0)  # The first frame is half zero padding.


def test_compute_power_is_rms_in_db():
    audio = np.stack([_sine(300.0, 3000, amp=0.2), np.zeros(3000, np.float32)])
    rms = spectral_ops.compute_rms_energy(audio, frame_size=256).numpy()
    power = spectral_ops.compute_power(audio, frame_size=256).numpy()
    expected = np.maximum(20.0 * np.log10(np.maximum(rms, 1e-30)), -80.0)
    np.testing.assert_allclose(power, expected, atol=1e-3)
    np.testing.assert_allclose(power, core.amplitude_to_db(rms), atol=1e-5)
    np.testing.assert_array_equal(power[1], -80.0)
    shifted = spectral_ops.compute_power(audio, frame_size=256, ref_db=10.0).numpy()
    np.testing.assert_allclose(shifted[0, 4:-4], power[0, 4:-4] - 10.0, atol=1e-4)


def test_a_weighting_matches_librosa():
    freqs = np.concatenate([np.fft.rfftfreq(512, 1.0 / SR), np.logspace(0, 4.5, 300)])
    with np.errstate(divide='ignore'):  # librosa takes log10(0) at DC before clipping.
        expected = librosa.A_weighting(freqs)
    np.testing.assert_allclose(spectral_ops._a_weighting_db(freqs), expected, atol=1e-6)
    assert spectral_ops._a_weighting_db(np.array([0.0]))[0] == -80.0
    positive = freqs[freqs > 0]
    np.testing.assert_allclose(
        spectral_ops._a_weighting_db(positive, min_db=None),
        librosa.A_weighting(positive, min_db=None),
        atol=1e-6,
    )
    assert abs(spectral_ops._a_weighting_db(1000.0)) < 0.01


def test_loudness_weights_are_cached():
    spectral_ops._loudness_weights.cache_clear()
    audio = _noise([1, 2000])
    spectral_ops.compute_loudness(audio)
    spectral_ops.compute_loudness(audio, use_tf=False)
    info = spectral_ops._loudness_weights.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    weights = spectral_ops._loudness_weights(SR, 512)
    assert weights.shape == (257,)
    assert weights[0] == pytest.approx(1e-8)  # DC: the -80 dB floor, not 0.
    assert weights[32] == pytest.approx(1.0, abs=1e-3)  # 1 kHz.


def test_loudness_of_full_scale_1khz_sine_matches_parseval():
    """Closed form for an on-bin sine under a periodic Hann window (N = n_fft = 512).

    The periodic Hann window w[n] = 1/2 - 1/2 cos(2 pi n / N) has DFT W[0] = N/2,
    W[+-1] = -N/4 and 0 elsewhere. A sine of amplitude A sitting exactly on bin k0
    (1000 Hz = 32 * 31.25 Hz) therefore has |X[k0]| = A N / 4 and |X[k0 +- 1]| = A N / 8, and
    nothing else on the positive-frequency side. Check with Parseval: the one-sided energy is
    half of N sum(x^2 w^2) = N/2 * A^2/2 * 3N/8 = 3 A^2 N^2 / 32 = (A N/4)^2 + 2 (A N/8)^2.
    Loudness is the mean of the A-weighted powers over the N/2 + 1 bins, in dB.
    """
    n_fft, amp = 512, 1.0
    loudness = spectral_ops.compute_loudness(_sine(1000.0, 4000, amp=amp), n_fft=n_fft).numpy()
    interior = loudness[4 : (4000 - n_fft // 2) // 64 + 1]

    bin_hz = SR / n_fft
    a_lin = 10.0 ** (
        librosa.A_weighting(np.array([1000.0 - bin_hz, 1000.0, 1000.0 + bin_hz])) / 10.0
    )
    weighted_sum = (amp * n_fft / 4) ** 2 * a_lin[1] + (amp * n_fft / 8) ** 2 * (
        a_lin[0] + a_lin[2]
    )
    expected_db = 10.0 * np.log10(weighted_sum / (n_fft // 2 + 1))
    np.testing.assert_allclose(interior, expected_db, atol=0.01)
    # Without the weighting (A is within ~0.1 dB of 0 around 1 kHz) the Parseval value is close.
    unweighted_db = 10.0 * np.log10(3 * amp**2 * n_fft**2 / 32 / (n_fft // 2 + 1))
    np.testing.assert_allclose(interior, unweighted_db, atol=0.1)


@pytest.mark.parametrize('use_tf', [True, False])
def test_loudness_silence_doubling_and_floor(use_tf):
    silence = spectral_ops.compute_loudness(np.zeros([2, 3000], np.float32), use_tf=use_tf)
    np.testing.assert_array_equal(silence, -80.0)

    audio = _noise([1, 3000], scale=0.05) + _sine(700.0, 3000, amp=0.1)
    quiet = np.asarray(spectral_ops.compute_loudness(audio, use_tf=use_tf))
    loud = np.asarray(spectral_ops.compute_loudness(2.0 * audio, use_tf=use_tf))
    assert np.all(quiet > -60.0)
    np.testing.assert_allclose(loud - quiet, 20.0 * np.log10(2.0), atol=1e-3)

    shifted = np.asarray(spectral_ops.compute_loudness(audio, ref_db=5.0, use_tf=use_tf))
    np.testing.assert_allclose(shifted, quiet - 5.0, atol=1e-3)
    floored = np.asarray(spectral_ops.compute_loudness(1e-3 * audio, range_db=30.0, use_tf=use_tf))
    assert floored.min() == -30.0


def test_loudness_four_seconds_gives_1001_frames():
    audio = _noise([2, 4 * SR], scale=0.1)
    loudness = spectral_ops.compute_loudness(audio, sample_rate=SR, frame_rate=250)
    assert loudness.shape == (2, 1001)
    single = spectral_ops.compute_loudness(audio[0])
    assert single.shape == (1001,)
    np.testing.assert_allclose(single, loudness[0], atol=1e-4)
    np_single = spectral_ops.compute_loudness(audio[0], use_tf=False)
    assert isinstance(np_single, np.ndarray) and np_single.shape == (1001,)


@pytest.mark.parametrize('padding', ['center', 'same', 'valid'])
def test_loudness_tf_and_numpy_paths_agree(padding):
    audio = np.concatenate(
        [
            _noise([1, 1500], scale=0.2),
            np.zeros([1, 500], np.float32),
            _sine(2500.0, 1000, amp=0.3)[None],
        ],
        axis=1,
    )
    for sample_rate, frame_rate, n_fft in ((SR, 250, 512), (48000, 100, 2048), (44100, 250, 1024)):
        n_frames = spectral_ops.get_framed_lengths(
            audio.shape[-1], n_fft, sample_rate // frame_rate, padding
        )[0]
        kwargs = {
            'sample_rate': sample_rate,
            'frame_rate': frame_rate,
            'n_fft': n_fft,
            'padding': padding,
        }
        tf_out = spectral_ops.compute_loudness(audio, use_tf=True, **kwargs).numpy()
        np_out = spectral_ops.compute_loudness(audio, use_tf=False, **kwargs)
        assert tf_out.shape == np_out.shape == (1, n_frames)
        above_floor = np_out > -79.0
        assert above_floor.sum() > n_frames // 2
        np.testing.assert_allclose(tf_out[above_floor], np_out[above_floor], atol=0.1)


# ------------------------------------------------------------------------------------------------
# Any sample rate and frame rate: frames at exact (fractional) times.
# ------------------------------------------------------------------------------------------------
SR_44K1, RATE_250 = 44100, 250  # Hop 176.4 samples; the original rounded it down to 176.


def _original_frame_count(length, frame_size, padding, whole_hop=176):
    """The original library's count, written out: its hop was sample_rate // frame_rate."""
    return {
        'center': length // whole_hop + 1,
        'same': -(-length // whole_hop),
        'valid': max(0, (length - frame_size) // whole_hop + 1),
    }[padding]


def _loudness_from_the_definition(audio, sample_rate, frame_rate, n_fft, n_frames):
    """Loudness of each frame written from its definition, one frame at a time (float64).

    Frame k is a periodic Hann window of length n_fft centred at exactly k / frame_rate
    seconds, evaluated at every sample it covers (zero outside the audio); its DFT is summed
    directly over those samples, A-weighted with librosa's curve, averaged, in dB.
    """
    with np.errstate(divide='ignore'):  # librosa takes log10(0) at DC before clipping.
        a_weights = 10.0 ** (librosa.A_weighting(np.fft.rfftfreq(n_fft, 1.0 / sample_rate)) / 10)
    bins = np.arange(n_fft // 2 + 1)
    loudness = []
    for k in range(n_frames):
        window_start = k * sample_rate / frame_rate - n_fft / 2  # In samples, fractional.
        index = np.arange(int(np.floor(window_start)), int(np.ceil(window_start + n_fft)) + 1)
        t = index - window_start
        window = np.where((t >= 0) & (t < n_fft), 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft), 0)
        inside = (index >= 0) & (index < audio.size)
        samples = np.where(inside, audio[np.clip(index, 0, audio.size - 1)], 0.0)
        spectrum = np.exp(-2j * np.pi * np.outer(bins, t) / n_fft) @ (samples * window)
        power = np.mean(np.abs(spectrum) ** 2 * a_weights)
        loudness.append(max(10 * np.log10(max(power, 1e-8)), -80.0))
    return np.array(loudness)


@pytest.mark.parametrize('padding', ['center', 'same', 'valid'])
def test_any_rate_gives_the_originals_frame_count(padding):
    for length in (176400, 44100, 1001, 300):
        expected = _original_frame_count(length, 512, padding)
        audio = _noise([2, length], seed=length)
        if expected == 0:  # 'valid' on less than a frame: an error, not an empty result.
            with pytest.raises(ValueError, match='at least one frame long, 512 samples'):
                spectral_ops.compute_loudness(audio, SR_44K1, RATE_250, padding=padding)
            continue
        for fn in (
            spectral_ops.compute_loudness,
            spectral_ops.compute_rms_energy,
            spectral_ops.compute_power,
        ):
            out = fn(audio, sample_rate=SR_44K1, frame_rate=RATE_250, padding=padding)
            assert out.shape == (2, expected), (fn.__name__, length)
        np_out = spectral_ops.compute_loudness(
            audio[0], SR_44K1, RATE_250, padding=padding, use_tf=False
        )
        assert np_out.shape == (expected,)
    # Four seconds: 1003 frames as in the original (frames 1001 and 1002 lie past the end).
    assert _original_frame_count(176400, 512, 'center') == 1003


def test_loudness_at_44k1_equals_windows_centred_at_k_over_frame_rate():
    audio = np.concatenate(
        [_noise([6000], seed=1), _sine(3000.0, 3000, amp=0.5, sample_rate=SR_44K1)]
    )
    expected = _loudness_from_the_definition(
        audio.astype(np.float64),
        SR_44K1,
        RATE_250,
        512,
        _original_frame_count(audio.size, 512, 'center'),
    )
    actual = spectral_ops.compute_loudness(audio, SR_44K1, RATE_250).numpy()
    assert actual.shape == expected.shape == (9000 // 176 + 1,)
    np.testing.assert_allclose(actual, expected, atol=1e-3)
    np_path = spectral_ops.compute_loudness(audio, SR_44K1, RATE_250, use_tf=False)
    np.testing.assert_allclose(np_path, expected, atol=1e-3)
    # A non-integer frame rate too: 100.5 frames/s at 44.1 kHz (hop 438.8 samples).
    expected = _loudness_from_the_definition(
        audio.astype(np.float64),
        SR_44K1,
        100.5,
        1024,
        _original_frame_count(audio.size, 1024, 'center', whole_hop=438),
    )
    actual = spectral_ops.compute_loudness(audio, SR_44K1, 100.5, n_fft=1024).numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-3)


def test_loudness_step_lands_on_the_frame_of_its_time_at_44k1():
    """A 1 kHz tone 20 dB louder from `t0` on: the frame centred on t0 reads the midway power.

    With frames centred at k / 250 s, frame round(250 t0) straddles the step symmetrically, so
    it holds half the quiet and half the loud power, at every t0. With the original's hop of
    176 samples the step drifts: at 3.5 s it fell on frame 877 rather than 875.
    """
    t = np.arange(4 * SR_44K1) / SR_44K1
    around = []
    for step_s in (1.0, 2.5, 3.5, 3.9):
        audio = np.where(t < step_s, 0.1, 1.0) * np.sin(2 * np.pi * 1000.0 * t)
        loudness = spectral_ops.compute_loudness(
            audio.astype(np.float32), SR_44K1, RATE_250
        ).numpy()
        k = round(step_s * RATE_250)
        quiet, loud = 10 ** (loudness[k - 20] / 10), 10 ** (loudness[k + 10] / 10)
        assert abs(loudness[k] - 10 * np.log10((quiet + loud) / 2)) < 0.3
        assert (
            int(np.argmin(np.abs(loudness[k - 10 : k + 10] - 10 * np.log10((quiet + loud) / 2))))
            == 10
        )
        around.append(loudness[k - 3 : k + 4])
    # The same shape around every step time: no drift along the 4 s.
    np.testing.assert_allclose(around, np.broadcast_to(around[0], np.shape(around)), atol=0.05)


@pytest.mark.parametrize('padding', ['center', 'same', 'valid'])
def test_rms_frames_cover_exactly_k_over_frame_rate(padding):
    """A unit step down at sample N: each frame's mean square is the share of its span before N.

    Frame k spans [s_k, s_k + F) with s_k = k * 44100 / 250 (- F / 2 when centred), exactly;
    the span is measured against the signal (1 on [0, N), 0 elsewhere) by the continuous
    overlap, which a frame rounded to whole samples cannot match to better than 1/F.
    """
    frame_size, n_step, length = 512, 30_011, 60_000
    audio = (np.arange(length) < n_step).astype(np.float32)
    rms = spectral_ops.compute_rms_energy(
        audio, SR_44K1, RATE_250, frame_size=frame_size, padding=padding
    ).numpy()
    k = np.arange(rms.size)
    start = k * SR_44K1 / RATE_250 - (frame_size / 2 if padding == 'center' else 0.0)
    overlap = np.clip(np.minimum(start + frame_size, n_step) - np.maximum(start, 0.0), 0.0, None)
    np.testing.assert_allclose(rms**2, overlap / frame_size, atol=2e-6)
    assert rms.size == _original_frame_count(length, frame_size, padding)
    power = spectral_ops.compute_power(
        audio, SR_44K1, RATE_250, frame_size=frame_size, padding=padding
    ).numpy()
    np.testing.assert_allclose(power, core.amplitude_to_db(rms), atol=1e-5)


def test_whole_hops_keep_whole_sample_frames():
    # 48 kHz at 250 frames/s is a hop of 192: frames on whole samples, as before.
    audio = _noise([1, 4800], seed=2)
    rms = spectral_ops.compute_rms_energy(audio, 48000, 250, frame_size=384).numpy()
    padded = np.pad(audio[0], (192, 192))
    expected = [np.sqrt(np.mean(padded[i * 192 : i * 192 + 384] ** 2)) for i in range(26)]
    np.testing.assert_allclose(rms[0], expected, rtol=1e-5)


def test_rates_are_checked():
    audio = np.zeros([1, 4410], np.float32)
    for fn in (
        spectral_ops.compute_loudness,
        spectral_ops.compute_rms_energy,
        spectral_ops.compute_power,
    ):
        with pytest.raises(ValueError, match=f'{fn.__name__}: frame_rate must be a positive'):
            fn(audio, sample_rate=44100, frame_rate=0)
        with pytest.raises(ValueError, match=f'{fn.__name__}: sample_rate must be a positive'):
            fn(audio, sample_rate=-44100, frame_rate=250)
        with pytest.raises(ValueError, match=r'frame_rate must be at most sample_rate=44100'):
            fn(audio, sample_rate=44100, frame_rate=50000)
    assert spectral_ops.compute_loudness(
        audio, sample_rate=44100, frame_rate=50, n_fft=2048
    ).shape == (1, 6)


# ------------------------------------------------------------------------------------------------
# Graph mode and XLA.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'name, fn, tol',
    [
        ('stft', lambda a: spectral_ops.stft(a, frame_size=256), 1e-3),
        ('compute_mag', lambda a: spectral_ops.compute_mag(a, size=256), 1e-3),
        ('compute_mel', lambda a: spectral_ops.compute_mel(a, fft_size=512, bins=32), 1e-3),
        ('compute_loudness', spectral_ops.compute_loudness, 1e-3),
        ('compute_rms_energy', spectral_ops.compute_rms_energy, 1e-5),
        ('compute_loudness_44k1', lambda a: spectral_ops.compute_loudness(a, 44100, 250), 1e-3),
        ('compute_rms_energy_44k1', lambda a: spectral_ops.compute_rms_energy(a, 44100, 250), 1e-5),
    ],
)
def test_tf_function_and_xla_match_eager(name, fn, tol):
    audio = tf.constant(_noise([2, 1600]) + _sine(440.0, 1600))
    eager = fn(audio).numpy()
    graph = tf.function(fn)(audio).numpy()
    xla = tf.function(fn, jit_compile=True)(audio).numpy()
    scale = max(1.0, float(np.abs(eager).max()))
    assert graph.shape == xla.shape == eager.shape, name
    assert _max_abs_err(graph, eager) <= tol * scale, name
    assert _max_abs_err(xla, eager) <= tol * scale, name


@pytest.mark.parametrize('padding', ['center', 'same', 'valid'])
@pytest.mark.parametrize('sample_rate', [SR, 44100])
def test_loudness_with_unknown_static_length(padding, sample_rate):
    fn = tf.function(
        lambda a: spectral_ops.compute_loudness(a, sample_rate, padding=padding),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    audio = _noise([1, 1234])
    np.testing.assert_allclose(
        fn(audio), spectral_ops.compute_loudness(audio, sample_rate, padding=padding), atol=1e-4
    )
    rms = tf.function(
        lambda a: spectral_ops.compute_rms_energy(a, sample_rate, padding=padding),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    np.testing.assert_allclose(
        rms(audio), spectral_ops.compute_rms_energy(audio, sample_rate, padding=padding), atol=1e-6
    )


# ------------------------------------------------------------------------------------------------
# pad_or_trim_to_expected_length.
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('use_tf', [False, True])
def test_pad_or_trim(use_tf):
    def call(vector, expected_len, **kwargs):
        out = spectral_ops.pad_or_trim_to_expected_length(
            vector, expected_len, use_tf=use_tf, **kwargs
        )
        assert isinstance(out, tf.Tensor) == use_tf
        return np.asarray(out)

    v = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(call(v, 7), [0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(call(v, 7, pad_value=-1), [0, 1, 2, 3, 4, -1, -1])
    np.testing.assert_array_equal(call(v, 3), [0, 1, 2])
    np.testing.assert_array_equal(call(v, 5), v)
    np.testing.assert_array_equal(
        call(np.stack([v, v + 1]), 6, pad_value=9), [[0, 1, 2, 3, 4, 9], [1, 2, 3, 4, 5, 9]]
    )
    with pytest.raises(ValueError, match=r'expected_len=30 .*shape\[-1\]=5'):
        call(v, 30)
    with pytest.raises(ValueError, match=r'expected_len=0 .*shape\[-1\]=5'):
        call(v, 0, len_tolerance=4)


def test_pad_or_trim_tf_with_dynamic_length():
    fn = tf.function(
        lambda v: spectral_ops.pad_or_trim_to_expected_length(v, 6, pad_value=-1, use_tf=True),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    np.testing.assert_array_equal(fn(tf.ones([2, 4])), [[1, 1, 1, 1, -1, -1]] * 2)
    np.testing.assert_array_equal(fn(tf.ones([1, 9])), [[1] * 6])
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(tf.ones([1, 40]))


@pytest.mark.parametrize(
    'size, pad_end, shape',
    [
        (2048, True, (2, 4000)),
        (512, False, (2, 4000)),
        (100, True, (3001,)),
        (64, False, (1, 1000)),
    ],
)
def test_compute_mag_gradient_equals_autodiff_of_stft(size, pad_end, shape):
    # compute_mag has a hand-written gradient; autodiff through tf.signal.stft
    # and tf.abs is the independent reference (FFT sizes > frame included).
    x = tf.random.stateless_normal(shape, seed=[3, size])
    weights = tf.random.stateless_normal(
        tf.shape(spectral_ops.compute_mag(x, size, pad_end=pad_end)), seed=[4, size]
    )
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(weights * spectral_ops.compute_mag(x, size, pad_end=pad_end))
        reference = tf.reduce_sum(weights * tf.abs(spectral_ops.stft(x, size, pad_end=pad_end)))
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    grad, grad_ref = tape.gradient(ours, x), tape.gradient(reference, x)
    np.testing.assert_allclose(grad, grad_ref, atol=1e-4 * float(tf.reduce_max(tf.abs(grad_ref))))


def test_compute_mag_gradient_of_silence_is_zero_not_nan():
    x = tf.zeros([1, 2048])
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(spectral_ops.compute_mag(x, 512))
    np.testing.assert_array_equal(tape.gradient(total, x), np.zeros([1, 2048]))
