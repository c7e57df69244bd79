"""Tests for the DSP half of ddsp.core: oscillators, wavetables, delay and FIR filtering.

Every expectation comes from an independent float64 NumPy/SciPy reference that implements
the behaviour described in the API spec (section 1.1 and the conventions of section 6.1)
literally, or from a closed form (sine peaks, filter gains, exact sample delays).
"""

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import tensorflow as tf

from ddsp import core

SR = 16000
NYQUIST = SR / 2.0


# ------------------------------------------------------------------------------
# Float64 NumPy references, written from the spec.
# ------------------------------------------------------------------------------
def _np(x):
    return np.asarray(x.numpy() if hasattr(x, 'numpy') else x, dtype=np.float64)


def _wrapped_abs_diff(a, b):
    """|a - b| measured on the circle (radians)."""
    return np.abs(np.mod(np.asarray(a) - np.asarray(b) + np.pi, 2 * np.pi) - np.pi)


def _raised_cosine(n, a0):
    """tf.signal.{hann,hamming}_window(n, periodic=True), which the spec names.

    TF's `periodic` flag only affects even lengths (denominator n instead of n - 1); odd
    lengths, e.g. every sinc IR (2h + 1 taps) and odd FIR windows, get the symmetric window.
    """
    if n == 1:
        return np.ones(1)
    denominator = n if n % 2 == 0 else n - 1
    return a0 - (1.0 - a0) * np.cos(2 * np.pi * np.arange(n) / denominator)


def _periodic_hann(n):
    return _raised_cosine(n, 0.5)


def _periodic_hamming(n):
    return _raised_cosine(n, 0.54)


def _np_resample_linear(x, n_out):
    """Legacy resize (no half-pixel centres, add_endpoint): source = i * T / n_out, last held."""
    x = np.asarray(x, np.float64)
    n_in = x.shape[1]
    pos = np.arange(n_out) * n_in / n_out
    lower = np.floor(pos).astype(int)
    t = (pos - lower)[None, :, None]
    upper = np.minimum(lower + 1, n_in - 1)
    return x[:, lower] * (1.0 - t) + x[:, upper] * t


def _np_resample_nearest(x, n_out):
    x = np.asarray(x, np.float64)
    n_in = x.shape[1]
    index = np.minimum(np.floor(np.arange(n_out) * n_in / n_out).astype(int), n_in - 1)
    return x[:, index]


def _np_upsample_windows(x, n_out):
    """Literal Hann overlap-add: append the last frame, window 2*hop, add at hop, trim hop."""
    x = np.asarray(x, np.float64)
    x = np.concatenate([x, x[:, -1:]], axis=1)
    n_frames = x.shape[1]
    hop = n_out // (n_frames - 1)
    window = _periodic_hann(2 * hop)[None, :, None]
    out = np.zeros((x.shape[0], (n_frames + 1) * hop, x.shape[2]))
    for k in range(n_frames):
        out[:, k * hop : k * hop + 2 * hop] += x[:, k : k + 1] * window
    return out[:, hop:-hop]


_NP_RESAMPLERS = {
    'linear': _np_resample_linear,
    'nearest': _np_resample_nearest,
    'window': _np_upsample_windows,
}


def _np_oscillator_bank(freqs, amps, sample_rate=SR, sum_sinusoids=True):
    freqs = np.asarray(freqs, np.float64)
    amps = np.where(freqs >= sample_rate / 2.0, 0.0, np.asarray(amps, np.float64))
    phase = np.cumsum(2 * np.pi * freqs / sample_rate, axis=1)  # inclusive
    audio = amps * np.sin(phase)
    return audio.sum(-1) if sum_sinusoids else audio


def _np_harmonic_envelopes(f0, amps, shifts, dist, n_samples, method):
    """Step 1-3 of harmonic_synthesis in float64: sample-rate [B, N, H] envelopes."""
    f0 = np.asarray(f0, np.float64)
    n_harmonics = dist.shape[-1] if dist is not None else shifts.shape[-1]
    freqs = f0 * np.arange(1, n_harmonics + 1)
    if shifts is not None:
        freqs = freqs * (1.0 + np.asarray(shifts, np.float64))
    harm_amps = np.asarray(amps, np.float64)
    if dist is not None:
        harm_amps = harm_amps * np.asarray(dist, np.float64)
    return (_np_resample_linear(freqs, n_samples), _NP_RESAMPLERS[method](harm_amps, n_samples))


def _np_dense_lookup(phase, tables):
    """linear_lookup as the spec states it: dense relu(1 - |phase - linspace| * W) weights."""
    phase = np.asarray(phase, np.float64)
    if phase.ndim == 3:
        phase = phase[..., 0]
    tables = np.asarray(tables, np.float64)
    tables = np.concatenate([tables, tables[..., :1]], axis=-1)
    n_entries = tables.shape[-1] - 1
    grid = np.linspace(0.0, 1.0, n_entries + 1)
    weights = np.maximum(1.0 - np.abs(phase[..., None] - grid) * n_entries, 0.0)
    if tables.ndim == 2:
        tables = tables[:, None, :]
    return np.sum(weights * tables, axis=-1)


def _np_variable_length_delay(phase, audio, max_length):
    """Front-pad, frame with hop 1, reverse each frame, then the dense lookup."""
    audio = np.asarray(audio, np.float64)
    n = audio.shape[1]
    padded = np.pad(audio, [(0, 0), (max_length - 1, 0)])
    frames = np.stack([padded[:, i : i + max_length] for i in range(n)], axis=1)
    return _np_dense_lookup(phase, frames[..., ::-1])


def _np_apply_window(ir, window_size=0, causal=False):
    """apply_window_to_impulse_response, literally from the spec."""
    ir = np.asarray(ir, np.float64)
    if causal:
        ir = np.fft.fftshift(ir, axes=-1)
    size = ir.shape[-1]
    if window_size <= 0 or window_size > size:
        window_size = size
    window = _periodic_hann(window_size)
    if window_size < size:
        half = (window_size + 1) // 2
        window = np.concatenate([window[half:], np.zeros(size - window_size), window[:half]])
        windowed = ir * window
        return np.concatenate([windowed[..., size - half + 2 :], windowed[..., : half + 1]], -1)
    return np.fft.fftshift(ir * np.fft.fftshift(window), axes=-1)


def _np_crop(full, audio_size, ir_size, padding, delay_compensation):
    """crop_and_compensate_delay on a zero-extended full convolution."""
    length = audio_size if padding == 'same' else audio_size + ir_size - 1
    start = (ir_size - 1) // 2 - 1 if delay_compensation < 0 else delay_compensation
    start = max(start, 0)  # 1- and 2-tap IRs, see TestCropAndCompensateDelay
    full = np.pad(full, [(0, 0), (0, max(0, start + length - full.shape[-1]))])
    return full[:, start : start + length]


def _np_time_varying_convolve(audio, irs):
    """Cut audio into F frames of ceil(N/F), convolve each with its IR, overlap-add."""
    audio = np.asarray(audio, np.float64)
    irs = np.asarray(irs, np.float64)
    n_batch, n = audio.shape
    n_frames, ir_size = irs.shape[1:]
    frame = -(-n // n_frames)
    padded = np.pad(audio, [(0, 0), (0, n_frames * frame - n)])
    out = np.zeros((n_batch, n_frames * frame + ir_size - 1))
    for b in range(n_batch):
        for k in range(n_frames):
            seg = padded[b, k * frame : (k + 1) * frame]
            out[b, k * frame : k * frame + frame + ir_size - 1] += np.convolve(seg, irs[b, k])
    return out


def _rng(seed=0):
    return np.random.default_rng(seed)


def _f32(x):
    return np.asarray(x, np.float32)


def _central_difference_check(fn, inputs, index, eps, rtol, n_probe=None, seed=0):
    """Compares tape gradients of a random projection of fn(*inputs) w.r.t. inputs[index]
    with float32 central differences."""
    inputs = [tf.constant(_f32(x)) for x in inputs]
    out_shape = fn(*inputs).shape
    projection = tf.constant(_f32(_rng(seed + 1).standard_normal(out_shape)))

    def loss(*args):
        return tf.reduce_sum(fn(*args) * projection)

    with tf.GradientTape() as tape:
        tape.watch(inputs[index])
        value = loss(*inputs)
    analytic = tape.gradient(value, inputs[index]).numpy().ravel()
    base = inputs[index].numpy()
    flat_indices = np.arange(base.size)
    if n_probe is not None and n_probe < base.size:
        flat_indices = _rng(seed + 2).choice(base.size, n_probe, replace=False)
    numeric = []
    for i in flat_indices:
        values = []
        for sign in (1.0, -1.0):
            moved = base.copy().ravel()
            moved[i] += sign * eps
            args = list(inputs)
            args[index] = tf.constant(moved.reshape(base.shape))
            values.append(float(loss(*args)))
        numeric.append((values[0] - values[1]) / (2 * eps))
    numeric = np.array(numeric)
    scale = np.max(np.abs(numeric)) + 1e-12
    np.testing.assert_allclose(analytic[flat_indices], numeric, rtol=0, atol=rtol * scale)


# ------------------------------------------------------------------------------
# Oscillators
# ------------------------------------------------------------------------------
class TestAngularCumsum:
    @pytest.mark.parametrize('f_start, f_end', [(100.0, 1000.0), (440.0, 440.0), (3000.0, 3000.0)])
    def test_long_signal_matches_float64_cumsum(self, f_start, f_end):
        # 64000 samples (the default 4 s). A float32 running sum drifts by 1e-2..1e1 rad here.
        # The chunk sums are accumulated in float64, so the only error left is rounding the
        # wrapped phase (< 2 pi) to float32: ulp 4.8e-7. Constant frequencies are the hard
        # case: with float32 chunk sums their rounding repeats in every chunk and the phase
        # drifted linearly (0.1 rad at 440 Hz, 0.2 rad at 3 kHz after 64000 samples).
        n = 64000
        omega = _f32(2 * np.pi * np.linspace(f_start, f_end, n) / SR)[None, :, None]
        expected = np.mod(np.cumsum(omega.astype(np.float64), axis=1), 2 * np.pi)
        phase = core.angular_cumsum(omega).numpy()
        assert phase.shape == omega.shape and phase.dtype == np.float32
        assert phase.min() >= 0.0 and phase.max() <= np.float32(2 * np.pi)
        err = _wrapped_abs_diff(phase, expected).max()
        naive = tf.math.floormod(tf.cumsum(omega, axis=1), 2 * np.pi).numpy()
        naive_err = _wrapped_abs_diff(naive, expected).max()
        assert err < 2e-6
        assert err < naive_err / 100

    @pytest.mark.parametrize('chunk_size', [1, 7, 100, 1000, 5000])
    def test_chunk_sizes_and_padding(self, chunk_size):
        # Lengths that are not multiples of the chunk exercise the padding and crop.
        omega = _f32(_rng(1).uniform(0, np.pi, (2, 1234, 3)))
        expected = np.mod(np.cumsum(omega.astype(np.float64), axis=1), 2 * np.pi)
        phase = core.angular_cumsum(omega, chunk_size=chunk_size).numpy()
        assert phase.shape == omega.shape
        assert _wrapped_abs_diff(phase, expected).max() < 2e-6

    def test_rejects_wrong_rank(self):
        with pytest.raises(ValueError):
            core.angular_cumsum(tf.ones([10, 3]))


class TestNyquistAndNormalisation:
    def test_remove_above_nyquist_masks_at_and_above(self):
        freqs = _f32([[[100.0, 7999.0, 7999.99, 8000.0, 8000.5, 12000.0]]])
        amps = _f32(_rng(2).uniform(0.1, 1.0, freqs.shape))
        out = core.remove_above_nyquist(freqs, amps, SR).numpy()
        np.testing.assert_array_equal(out, np.where(freqs >= NYQUIST, 0.0, amps))
        assert out[0, 0, 3] == 0.0 and out[0, 0, 2] == amps[0, 0, 2]
        # A different sample rate moves the boundary.
        out = core.remove_above_nyquist(freqs, amps, sample_rate=2 * 7999.0).numpy()
        np.testing.assert_array_equal(out, np.where(freqs >= 7999.0, 0.0, amps))

    def test_normalize_harmonics_sums_to_one(self):
        dist = _f32(_rng(3).uniform(0, 1, (2, 5, 12)))
        out = core.normalize_harmonics(dist).numpy()
        np.testing.assert_allclose(out, dist / dist.sum(-1, keepdims=True), rtol=1e-6)

    def test_normalize_harmonics_removes_above_nyquist_first(self):
        dist = _f32(_rng(4).uniform(0.1, 1, (1, 3, 20)))
        f0 = _f32([[[500.0], [1000.0], [7000.0]]])
        out = core.normalize_harmonics(dist, f0, SR).numpy()
        freqs = f0 * np.arange(1, 21)
        kept = np.where(freqs >= NYQUIST, 0.0, dist)
        np.testing.assert_allclose(out, kept / kept.sum(-1, keepdims=True), rtol=1e-6)
        # f0 = 1000 Hz: harmonic 8 is exactly at Nyquist and is removed.
        assert out[0, 1, 7] == 0.0 and out[0, 1, 6] > 0.0
        # Only f0 (or only the sample rate) means no band-limiting.
        np.testing.assert_allclose(
            core.normalize_harmonics(dist, f0, None).numpy(),
            dist / dist.sum(-1, keepdims=True),
            rtol=1e-6,
        )

    def test_normalize_harmonics_all_zero_is_safe(self):
        out = core.normalize_harmonics(tf.zeros([1, 2, 4])).numpy()
        assert np.all(np.isfinite(out)) and np.all(out == 0.0)

    def test_get_harmonic_frequencies(self):
        f0 = _f32(_rng(5).uniform(50, 500, (2, 7, 1)))
        out = core.get_harmonic_frequencies(f0, 9).numpy()
        assert out.shape == (2, 7, 9)
        np.testing.assert_allclose(out, f0 * np.arange(1, 10), rtol=1e-6)


class TestOscillatorBank:
    def _controls(self, n=4000, k=5, seed=6):
        rng = _rng(seed)
        freqs = np.stack(
            [np.linspace(rng.uniform(50, 3000), rng.uniform(50, 3000), n) for _ in range(k)],
            axis=-1,
        )
        return _f32(freqs[None]), _f32(rng.uniform(0.0, 1.0, (1, n, k)))

    @pytest.mark.parametrize('use_angular_cumsum', [False, True])
    def test_matches_float64_reference(self, use_angular_cumsum):
        freqs, amps = self._controls()
        out = core.oscillator_bank(freqs, amps, SR, use_angular_cumsum=use_angular_cumsum)
        assert out.shape == (1, freqs.shape[1])
        # Both phase paths accumulate in float64; the default one is left with float32 sin()
        # and the float32 wrapped phase (~5e-7 rad) times the summed amplitudes (<= 5). The
        # angular path first rounds omega = 2 pi f / sr to float32 (relative 6e-8), which
        # over this 4000-sample sum (~5e3 rad) can reach ~3e-4 rad.
        atol = 5e-4 if use_angular_cumsum else 2e-5
        np.testing.assert_allclose(out.numpy(), _np_oscillator_bank(freqs, amps), atol=atol)

    def test_first_sample_phase_is_omega0(self):
        # Inclusive cumsum: sample 0 already carries one step of phase.
        freqs = _f32(np.full((1, 8, 1), 1000.0))
        out = core.oscillator_bank(freqs, np.ones_like(freqs), SR).numpy()[0]
        omega = 2 * np.pi * 1000.0 / SR
        np.testing.assert_allclose(out, np.sin(omega * np.arange(1, 9)), atol=1e-6)
        assert abs(out[0] - np.sin(omega)) < 1e-6

    def test_no_sum(self):
        freqs, amps = self._controls(n=500, k=4)
        out = core.oscillator_bank(freqs, amps, SR, sum_sinusoids=False).numpy()
        assert out.shape == (1, 500, 4)
        np.testing.assert_allclose(
            out, _np_oscillator_bank(freqs, amps, sum_sinusoids=False), atol=1e-5
        )

    def test_nyquist_masking(self):
        n = 256
        freqs = _f32(
            np.stack(
                [
                    np.full(n, 440.0),
                    np.full(n, NYQUIST),
                    np.full(n, 9000.0),
                    np.linspace(7900.0, 8100.0, n),
                ],
                -1,
            )[None]
        )
        out = core.oscillator_bank(freqs, np.ones_like(freqs), SR, sum_sinusoids=False).numpy()
        assert np.all(out[..., 1] == 0.0) and np.all(out[..., 2] == 0.0)
        assert np.all(out[0, freqs[0, :, 3] >= NYQUIST, 3] == 0.0)
        np.testing.assert_allclose(
            out, _np_oscillator_bank(freqs, np.ones_like(freqs), sum_sinusoids=False), atol=1e-5
        )


class TestHarmonicOscillatorBank:
    def test_matches_float64_reference_without_nyquist_removal(self):
        n, h = 2000, 6
        f0 = _f32(np.linspace(1000.0, 1800.0, n))[None, :, None]  # harmonics 5, 6 > Nyquist
        amps = _f32(_rng(7).uniform(0, 1, (1, n, h)))
        init = _f32([[[0.7]]])
        audio, final = core.harmonic_oscillator_bank(f0, amps, initial_phase=init)
        phase = np.cumsum(2 * np.pi * f0.astype(np.float64) / SR, axis=1) + 0.7
        expected = np.sum(amps * np.sin(phase * np.arange(1, h + 1)), axis=-1)
        np.testing.assert_allclose(audio.numpy(), expected, atol=5e-4)
        assert final.shape == (1, 1, 1)
        assert _wrapped_abs_diff(final.numpy()[0, 0, 0], phase[0, -1, 0]) < 1e-4

    @pytest.mark.parametrize('use_angular_cumsum', [True, False])
    def test_two_blocks_equal_one_long_block(self, use_angular_cumsum):
        n, h = 3000, 8
        f0 = _f32(220.0 + 150.0 * np.sin(np.linspace(0, 7, n)))[None, :, None]
        amps = _f32(_rng(8).uniform(0, 1, (1, n, h)))
        kwargs = dict(use_angular_cumsum=use_angular_cumsum)
        whole, final_whole = core.harmonic_oscillator_bank(f0, amps, **kwargs)
        split = 1234
        first, phase = core.harmonic_oscillator_bank(f0[:, :split], amps[:, :split], **kwargs)
        second, final = core.harmonic_oscillator_bank(
            f0[:, split:], amps[:, split:], initial_phase=phase, **kwargs
        )
        joined = np.concatenate([first.numpy(), second.numpy()], axis=1)
        np.testing.assert_allclose(joined, whole.numpy(), atol=2e-4)
        assert _wrapped_abs_diff(final.numpy(), final_whole.numpy()).max() < 1e-4

    def test_streaming_harmonic_synthesis_blocks(self):
        # Constant controls make the per-block resampling identical to the long block's, so
        # two blocks that pass final_phase must reproduce one long block.
        frames, hop, h = 8, 250, 12
        f0 = np.full((1, frames, 1), 330.0, np.float32)
        amps = np.full((1, frames, 1), 0.8, np.float32)
        dist = np.tile(_f32(_rng(9).uniform(0, 1, (1, 1, h))), (1, frames, 1))
        n = frames * hop
        whole, _ = core.streaming_harmonic_synthesis(f0, amps, dist, n_samples=n)
        half = frames // 2
        first, phase = core.streaming_harmonic_synthesis(
            f0[:, :half], amps[:, :half], dist[:, :half], n_samples=n // 2
        )
        second, _ = core.streaming_harmonic_synthesis(
            f0[:, half:], amps[:, half:], dist[:, half:], initial_phase=phase, n_samples=n // 2
        )
        joined = np.concatenate([first.numpy(), second.numpy()], axis=1)
        np.testing.assert_allclose(joined, whole.numpy(), atol=1e-4)
        # The distribution is normalised and band-limited (330 * 25 > 8000 is irrelevant
        # here; all 12 harmonics are audible), so the amplitude sums to 0.8.
        d = dist[0, 0] / dist[0, 0].sum()
        phase_ref = 2 * np.pi * 330.0 / SR * np.arange(1, n + 1)
        expected = 0.8 * np.sum(d * np.sin(phase_ref[:, None] * np.arange(1, h + 1)), -1)
        np.testing.assert_allclose(whole.numpy()[0], expected, atol=2e-4)

    def test_streaming_band_limits_distribution(self):
        f0 = np.full((1, 4, 1), 3000.0, np.float32)  # harmonics 3, 4 are >= Nyquist
        dist = np.ones((1, 4, 4), np.float32)
        audio, _ = core.streaming_harmonic_synthesis(f0, np.ones_like(f0), dist, n_samples=400)
        phase = 2 * np.pi * 3000.0 / SR * np.arange(1, 401)
        expected = 0.5 * (np.sin(phase) + np.sin(2 * phase))
        np.testing.assert_allclose(audio.numpy()[0], expected, atol=1e-4)


# ------------------------------------------------------------------------------
# harmonic_synthesis against the literal float64 spec.
# ------------------------------------------------------------------------------
def _harmonic_case(f0_kind, n_harmonics, with_shifts, n_frames=250, seed=10):
    rng = _rng(seed)
    if f0_kind == 'constant':
        f0 = np.full((1, n_frames, 1), 170.0)
    else:  # glide 100 -> 1000 Hz: harmonics 8..80 cross Nyquist mid-signal
        f0 = np.linspace(100.0, 1000.0, n_frames)[None, :, None]
    amps = rng.uniform(0.2, 1.0, (1, n_frames, 1))
    dist = rng.uniform(0.0, 1.0, (1, n_frames, n_harmonics)) * (2.0 / n_harmonics)
    shifts = rng.uniform(-0.02, 0.02, (1, n_frames, n_harmonics)) if with_shifts else None
    return (_f32(f0), _f32(amps), None if shifts is None else _f32(shifts), _f32(dist))


# Tolerances, relative to the reference's full scale. The implementation accumulates phase
# in float64 and rounds only the wrapped phase, the interpolated controls and sin() to
# float32. Integer harmonics share the fundamental's phase: measured max error 1e-5 of full
# scale, so 5e-5. With harmonic_shifts each partial's frequency f0 * k * (1 + shift) is
# itself rounded to float32 (relative ~1e-7, i.e. ~1e-3 Hz near Nyquist), a fixed detuning
# whose phase error grows to ~1e-2 rad over 4 s: measured 1.6e-4 of full scale, so 5e-4.
# Either still catches a one-sample phase or control misalignment (>1e-2 of full scale).
HARMONIC_REL_TOL = 5e-5
HARMONIC_SHIFTED_REL_TOL = 5e-4


@pytest.mark.parametrize('amp_resample_method', ['window', 'linear', 'nearest'])
@pytest.mark.parametrize('with_shifts', [False, True])
@pytest.mark.parametrize('f0_kind', ['constant', 'glide'])
def test_harmonic_synthesis_matches_float64_reference(f0_kind, with_shifts, amp_resample_method):
    n_samples = 64000
    n_harmonics = 60 if with_shifts else 100
    f0, amps, shifts, dist = _harmonic_case(f0_kind, n_harmonics, with_shifts)
    audio = core.harmonic_synthesis(
        f0,
        amps,
        harmonic_shifts=shifts,
        harmonic_distribution=dist,
        n_samples=n_samples,
        sample_rate=SR,
        amp_resample_method=amp_resample_method,
    ).numpy()
    assert audio.shape == (1, n_samples)
    freqs, harm_amps = _np_harmonic_envelopes(
        f0, amps, shifts, dist, n_samples, amp_resample_method
    )
    expected = _np_oscillator_bank(freqs, harm_amps)
    # Samples where a partial sits within 0.1 Hz of Nyquist may be masked on one side of the
    # >= test and not the other purely from float32 rounding of the interpolated frequency.
    ambiguous = np.any(np.abs(freqs - NYQUIST) < 0.1, axis=-1)
    assert ambiguous.mean() < 0.01
    if f0_kind == 'glide':  # some partials really do cross Nyquist mid-signal
        audible = freqs < NYQUIST
        crossings = np.any(audible[:, :1] & ~audible[:, -1:], axis=1)
        assert crossings.sum() >= 50
    full_scale = np.abs(expected).max()
    err = np.abs(audio - expected)[~ambiguous].max()
    tol = HARMONIC_SHIFTED_REL_TOL if with_shifts else HARMONIC_REL_TOL
    assert err < tol * full_scale, (err, full_scale)


def test_harmonic_synthesis_with_angular_cumsum():
    # use_angular_cumsum switches the detuned path to the chunked angular_cumsum (wrapped
    # per partial instead of per fundamental); measured 1.2e-4 of full scale, so 5e-4 as
    # for the other detuned cases.
    f0, amps, shifts, dist = _harmonic_case('glide', 40, True, n_frames=100)
    audio = core.harmonic_synthesis(
        f0, amps, shifts, dist, n_samples=16000, use_angular_cumsum=True
    ).numpy()
    freqs, harm_amps = _np_harmonic_envelopes(f0, amps, shifts, dist, 16000, 'window')
    expected = _np_oscillator_bank(freqs, harm_amps)
    ambiguous = np.any(np.abs(freqs - NYQUIST) < 0.1, axis=-1)
    err = np.abs(audio - expected)[~ambiguous].max()
    assert err < HARMONIC_SHIFTED_REL_TOL * np.abs(expected).max()


def test_harmonic_synthesis_defaults_and_single_harmonic_peak():
    # One harmonic at 440 Hz for 1 s: the spectral peak is the 440 Hz bin (1 Hz bins).
    frames = 100
    f0 = np.full((1, frames, 1), 440.0, np.float32)
    amps = np.full((1, frames, 1), 0.5, np.float32)
    audio = core.harmonic_synthesis(f0, amps, n_samples=SR, sample_rate=SR).numpy()[0]
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(SR, 1.0 / SR)
    assert freqs[np.argmax(spectrum)] == 440.0
    np.testing.assert_allclose(
        audio, 0.5 * np.sin(2 * np.pi * 440.0 / SR * np.arange(1, SR + 1)), atol=1e-5
    )


def test_harmonic_synthesis_samples_not_multiple_of_frames():
    # 'linear' resampling does not need an integer hop (the general oscillator_bank path).
    f0, amps, _, dist = _harmonic_case('glide', 20, False, n_frames=30)
    audio = core.harmonic_synthesis(
        f0, amps, harmonic_distribution=dist, n_samples=1000, amp_resample_method='linear'
    ).numpy()
    freqs, harm_amps = _np_harmonic_envelopes(f0, amps, None, dist, 1000, 'linear')
    np.testing.assert_allclose(audio, _np_oscillator_bank(freqs, harm_amps), atol=2e-5)


@pytest.mark.parametrize('with_shifts', [False, True])
def test_harmonic_synthesis_gradients(with_shifts):
    # Float32 central differences; eps is chosen so that rounding (~1e-7 |loss| / eps) and
    # truncation (~eps^2 * (d phase / d f)^2, with d phase / d f <= 2 pi * 64 * 8 / SR) are
    # both below 1e-3 of the largest gradient. Frequencies stay far from Nyquist.
    rng = _rng(11)
    frames, n, h = 4, 64, 8
    f0 = rng.uniform(200.0, 600.0, (1, frames, 1))
    amps = rng.uniform(0.2, 1.0, (1, frames, 1))
    dist = rng.uniform(0.1, 1.0, (1, frames, h))
    shifts = rng.uniform(-0.05, 0.05, (1, frames, h)) if with_shifts else None

    def synth(f, a, d):
        return core.harmonic_synthesis(
            f, a, harmonic_shifts=shifts, harmonic_distribution=d, n_samples=n, sample_rate=SR
        )

    inputs = (f0, amps, dist)
    _central_difference_check(synth, inputs, 0, eps=0.25, rtol=1e-2)
    _central_difference_check(synth, inputs, 1, eps=1e-2, rtol=1e-2)
    _central_difference_check(synth, inputs, 2, eps=1e-2, rtol=1e-2)


# ------------------------------------------------------------------------------
# Wavetables and delay
# ------------------------------------------------------------------------------
class TestLinearLookup:
    @pytest.mark.parametrize('phase_rank', [2, 3])
    def test_single_table_matches_dense_weights(self, phase_rank):
        rng = _rng(12)
        n_batch, n, w = 2, 300, 16
        # Phases inside [0, 1], exactly on grid points, at 1 and slightly outside.
        phase = rng.uniform(-0.03, 1.03, (n_batch, n))
        phase[:, :5] = [0.0, 1.0, 0.25, 1.0 - 1e-3, -1e-3]
        phase = _f32(phase)
        tables = _f32(rng.standard_normal((n_batch, w)))
        ph = phase[..., None] if phase_rank == 3 else phase
        out = core.linear_lookup(ph, tables).numpy()
        assert out.shape == (n_batch, n)
        np.testing.assert_allclose(out, _np_dense_lookup(phase, tables), atol=1e-5)
        # Phase 1 wraps to the first entry.
        np.testing.assert_allclose(out[:, 1], tables[:, 0], atol=1e-6)

    def test_per_sample_tables(self):
        rng = _rng(13)
        phase = _f32(rng.uniform(-0.02, 1.02, (2, 50, 1)))
        tables = _f32(rng.standard_normal((2, 50, 10)))
        out = core.linear_lookup(phase, tables).numpy()
        np.testing.assert_allclose(out, _np_dense_lookup(phase, tables), atol=1e-5)

    def test_sine_table_interpolation(self):
        w = 512
        table = _f32(np.sin(2 * np.pi * np.arange(w) / w))[None]
        phase = _f32(np.linspace(0.0, 1.0, 1001))[None]
        out = core.linear_lookup(phase, table).numpy()
        # Linear interpolation error of a sine is <= (2 pi / W)^2 / 8.
        assert np.abs(out - np.sin(2 * np.pi * phase)).max() < (2 * np.pi / w) ** 2 / 8 + 1e-6

    @pytest.mark.parametrize('table_shape', [(2, 1, 16), (1, 16), (1, 1, 16), (1, 200, 16)])
    def test_single_frame_and_batch_one_tables_broadcast(self, table_shape):
        # One table for every sample ([B, 1, W]) or for the whole batch ([1, ...]): the
        # spec's dense weights [B, N, W + 1] times the table, with NumPy broadcasting.
        rng = _rng(40)
        phase = _f32(rng.uniform(-0.02, 1.02, (2, 200)))
        tables = _f32(rng.standard_normal(table_shape))
        for ph in (phase, phase[..., None]):
            out = core.linear_lookup(ph, tables).numpy()
            assert out.shape == (2, 200)
            np.testing.assert_allclose(out, _np_dense_lookup(phase, tables), atol=1e-5)
        # A single frame reads as its table given once per sample.
        np.testing.assert_allclose(
            core.linear_lookup(phase, tables).numpy(),
            core.linear_lookup(
                phase, np.broadcast_to(tables.reshape((tables.shape[0], -1, 16)), (2, 200, 16))
            ).numpy(),
            atol=1e-6,
        )

    def test_table_frames_must_match_the_phase(self):
        with pytest.raises(ValueError, match=r'wavetables.shape must be .*\[batch, 200, '):
            core.linear_lookup(tf.zeros([2, 200]), tf.zeros([2, 7, 16]))


def test_harmonic_distribution_to_wavetable_is_cosine_sum():
    rng = _rng(14)
    dist = _f32(rng.uniform(0, 1, (2, 3, 10)))
    for w in (64, 2048):
        table = core.harmonic_distribution_to_wavetable(dist, n_wavetable=w).numpy()
        assert table.shape == (2, 3, w)
        n = np.arange(w)
        expected = np.einsum(
            'btk,kn->btn', dist, np.cos(2 * np.pi * np.outer(np.arange(1, 11), n) / w)
        )
        np.testing.assert_allclose(table, expected, atol=1e-5)


class TestWavetableSynthesis:
    def test_sine_table_constant_frequency(self):
        # Exclusive cumsum of f / sr: the phase starts at 0, so sample 0 is sin(0) = 0.
        frames, n, w, f = 50, 16000, 2048, 441.0
        table = _f32(np.sin(2 * np.pi * np.arange(w) / w))[None]
        freqs = np.full((1, frames, 1), f, np.float32)
        amps = np.full((1, frames, 1), 0.75, np.float32)
        out = core.wavetable_synthesis(freqs, amps, table, n_samples=n, sample_rate=SR).numpy()
        assert out.shape == (1, n)
        expected = 0.75 * np.sin(2 * np.pi * f / SR * np.arange(n))
        # (2 pi / 2048)^2 / 8 ~ 1.2e-6 interpolation error plus float32 rounding.
        np.testing.assert_allclose(out[0], expected, atol=2e-5)
        assert abs(out[0, 0]) < 1e-6

    @pytest.mark.parametrize('table_shape', ['[B,W]', '[B,1,W]', '[B,T,W]'])
    def test_matches_float64_reference(self, table_shape):
        rng = _rng(15)
        frames, n, w = 10, 1000, 32
        freqs = _f32(np.linspace(200.0, 900.0, frames)[None, :, None])
        amps = _f32(rng.uniform(0.2, 1.0, (1, frames, 1)))
        if table_shape == '[B,T,W]':
            tables = _f32(rng.standard_normal((1, frames, w)))
            per_sample = _np_resample_linear(tables, n)
        elif table_shape == '[B,1,W]':
            tables = _f32(rng.standard_normal((1, 1, w)))
            per_sample = tables[:, 0]
        else:
            tables = _f32(rng.standard_normal((1, w)))
            per_sample = tables
        out = core.wavetable_synthesis(freqs, amps, tables, n_samples=n).numpy()
        freq_env = _np_resample_linear(freqs, n)[..., 0]
        cycles = np.cumsum(freq_env / SR, axis=1) - freq_env / SR  # exclusive
        phase = np.mod(cycles, 1.0)
        expected = _np_dense_lookup(phase, per_sample) * _np_upsample_windows(amps, n)[..., 0]
        np.testing.assert_allclose(out, expected, atol=5e-5)

    @pytest.mark.parametrize('table_shape', ['[1,W]', '[1,1,W]', '[B,1,W]', '[1,T,W]'])
    def test_tables_broadcast_over_samples_and_batch(self, table_shape):
        rng = _rng(41)
        frames, n, w = 10, 1000, 32
        freqs = _f32(rng.uniform(200.0, 900.0, (2, frames, 1)))
        amps = _f32(rng.uniform(0.2, 1.0, (2, frames, 1)))
        shape = {
            '[1,W]': (1, w),
            '[1,1,W]': (1, 1, w),
            '[B,1,W]': (2, 1, w),
            '[1,T,W]': (1, frames, w),
        }[table_shape]
        tables = _f32(rng.standard_normal(shape))
        out = core.wavetable_synthesis(freqs, amps, tables, n_samples=n).numpy()
        assert out.shape == (2, n)
        per_sample = _np_resample_linear(tables, n) if table_shape == '[1,T,W]' else tables
        freq_env = _np_resample_linear(freqs, n)[..., 0]
        cycles = np.cumsum(freq_env / SR, axis=1) - freq_env / SR  # exclusive
        expected = (
            _np_dense_lookup(np.mod(cycles, 1.0), per_sample)
            * _np_upsample_windows(amps, n)[..., 0]
        )
        np.testing.assert_allclose(out, expected, atol=5e-5)


class TestVariableLengthDelay:
    @pytest.mark.parametrize('phase_rank', [2, 3])
    def test_matches_literal_framing_reference(self, phase_rank):
        rng = _rng(16)
        n_batch, n, max_length = 2, 200, 16
        audio = _f32(rng.standard_normal((n_batch, n)))
        phase = rng.uniform(-0.02, 1.02, (n_batch, n))
        phase[:, :4] = [0.0, 1.0, 0.5, 1.0 / 3.0]
        phase = _f32(phase)
        ph = phase[..., None] if phase_rank == 3 else phase
        out = core.variable_length_delay(ph, audio, max_length=max_length).numpy()
        assert out.shape == (n_batch, n)
        expected = _np_variable_length_delay(phase, audio, max_length)
        np.testing.assert_allclose(out, expected, atol=2e-5)

    @pytest.mark.parametrize('delay', [0, 1, 5, 31])
    def test_constant_integer_delay_shifts_audio(self, delay):
        max_length = 32
        audio = _f32(_rng(17).standard_normal((1, 100)))
        phase = np.full((1, 100), delay / max_length, np.float32)
        out = core.variable_length_delay(phase, audio, max_length=max_length).numpy()
        expected = np.pad(audio, [(0, 0), (delay, 0)])[:, :100]
        np.testing.assert_allclose(out, expected, atol=1e-6)

    def test_fractional_delay_interpolates(self):
        max_length = 8
        audio = _f32(_rng(18).standard_normal((1, 50)))
        phase = np.full((1, 50), 2.5 / max_length, np.float32)
        out = core.variable_length_delay(phase, audio, max_length=max_length).numpy()
        shifted = np.pad(audio, [(0, 0), (3, 0)])
        expected = 0.5 * shifted[:, 1:51] + 0.5 * shifted[:, :50]
        np.testing.assert_allclose(out, expected, atol=1e-6)


# ------------------------------------------------------------------------------
# FIR filtering
# ------------------------------------------------------------------------------
def _is_5_smooth(n):
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


@pytest.mark.parametrize(
    'frame_size, ir_size',
    [(1, 1), (1000, 65), (1024, 1), (64000, 1), (257, 256), (16000, 4096), (333, 77)],
)
def test_get_fft_size(frame_size, ir_size):
    needed = frame_size + ir_size - 1
    size = core.get_fft_size(frame_size, ir_size)
    assert size >= needed and size & (size - 1) == 0 and size < 2 * needed
    size = core.get_fft_size(frame_size, ir_size, power_of_2=False)
    assert size >= needed and _is_5_smooth(size)
    assert not any(_is_5_smooth(m) for m in range(needed, size))
    assert size == scipy.fft.next_fast_len(needed, real=True)


class TestCropAndCompensateDelay:
    @pytest.mark.parametrize('padding', ['same', 'valid'])
    @pytest.mark.parametrize('delay_compensation', [-1, 0, 3])
    @pytest.mark.parametrize('ir_size', [1, 2, 7, 64, 65])
    def test_matches_spec_slicing(self, padding, delay_compensation, ir_size):
        audio_size, total = 100, 300
        audio = _f32(_rng(19).standard_normal((2, total)))
        out = core.crop_and_compensate_delay(
            tf.constant(audio), audio_size, ir_size, padding, delay_compensation
        ).numpy()
        length = audio_size if padding == 'same' else audio_size + ir_size - 1
        start = (ir_size - 1) // 2 - 1 if delay_compensation < 0 else delay_compensation
        # For 1- and 2-tap IRs the formula gives -1, which the literal slice would turn into
        # an empty output; the implementation clamps it to 0 (no compensation).
        start = max(start, 0)
        end = total - length - start  # the spec's audio[:, start:-end], end > 0 here
        assert end > 0
        np.testing.assert_array_equal(out, audio[:, start:-end])
        assert out.shape == (2, length)

    def test_unknown_padding(self):
        with pytest.raises(ValueError):
            core.crop_and_compensate_delay(tf.zeros([1, 10]), 5, 3, 'full', 0)


class TestFftConvolve:
    @pytest.mark.parametrize('padding', ['same', 'valid'])
    @pytest.mark.parametrize('delay_compensation', [-1, 0, 5])
    @pytest.mark.parametrize('ir_batch', [3, 1])
    def test_time_invariant_vs_scipy(self, padding, delay_compensation, ir_batch):
        rng = _rng(20)
        n, ir_size = 1000, 65
        audio = _f32(rng.standard_normal((3, n)))
        ir = _f32(rng.standard_normal((ir_batch, ir_size)) * np.exp(-np.arange(ir_size) / 10))
        out = core.fft_convolve(
            audio, ir, padding=padding, delay_compensation=delay_compensation
        ).numpy()
        irs = np.broadcast_to(ir, (3, ir_size))
        full = np.stack(
            [scipy.signal.fftconvolve(audio[b].astype(np.float64), irs[b]) for b in range(3)]
        )
        expected = _np_crop(full, n, ir_size, padding, delay_compensation)
        assert out.shape == expected.shape
        assert out.shape[1] == (n if padding == 'same' else n + ir_size - 1)
        np.testing.assert_allclose(out, expected, atol=2e-5)

    @pytest.mark.parametrize('ir_size', [1, 2])
    def test_one_and_two_tap_irs_keep_the_audio(self, ir_size):
        # (L-1)//2 - 1 is -1 here; it must not wrap to an empty slice (clamped to 0).
        audio = _f32(_rng(32).standard_normal((2, 50)))
        ir = _f32(_rng(33).standard_normal((1, ir_size)))
        for padding in ('same', 'valid'):
            out = core.fft_convolve(audio, ir, padding=padding).numpy()
            full = np.stack([np.convolve(a, ir[0]) for a in audio.astype(np.float64)])
            np.testing.assert_allclose(out, _np_crop(full, 50, ir_size, padding, -1), atol=1e-5)
            assert out.shape[1] == (50 if padding == 'same' else 50 + ir_size - 1)

    def test_auto_compensation_value(self):
        # A delta at tap d is a d-sample delay; auto compensation removes (L-1)//2 - 1 of it.
        n = 200
        audio = _f32(_rng(21).standard_normal((1, n)))
        for ir_size, d in [(64, 40), (65, 40), (9, 8)]:
            ir = np.zeros((1, ir_size), np.float32)
            ir[0, d] = 1.0
            out = core.fft_convolve(audio, ir).numpy()
            shift = d - ((ir_size - 1) // 2 - 1)
            np.testing.assert_allclose(out, np.pad(audio, [(0, 0), (shift, 0)])[:, :n], atol=1e-5)

    @pytest.mark.parametrize('padding', ['same', 'valid'])
    @pytest.mark.parametrize('n, n_frames', [(1000, 10), (1000, 8), (1003, 17), (64, 64)])
    def test_time_varying_vs_overlap_add(self, padding, n, n_frames):
        rng = _rng(22)
        ir_size = 33
        audio = _f32(rng.standard_normal((2, n)))
        irs = _f32(rng.standard_normal((2, n_frames, ir_size)))
        out = core.fft_convolve(audio, irs, padding=padding).numpy()
        expected = _np_crop(_np_time_varying_convolve(audio, irs), n, ir_size, padding, -1)
        np.testing.assert_allclose(out, expected, atol=5e-5)

    def test_time_varying_batch_one_ir_is_tiled(self):
        rng = _rng(23)
        audio = _f32(rng.standard_normal((3, 400)))
        irs = _f32(rng.standard_normal((1, 4, 17)))
        out = core.fft_convolve(audio, irs, delay_compensation=0).numpy()
        expected = _np_time_varying_convolve(audio, np.repeat(irs, 3, 0))[:, :400]
        np.testing.assert_allclose(out, expected, atol=5e-5)

    def test_errors(self):
        audio = tf.zeros([2, 10])
        with pytest.raises(ValueError):  # batch mismatch
            core.fft_convolve(audio, tf.zeros([3, 5]))
        with pytest.raises(ValueError):  # 6 frames of ceil(10/6)=2 samples only need 5
            core.fft_convolve(audio, tf.zeros([2, 6, 5]))
        with pytest.raises(ValueError):  # audio rank
            core.fft_convolve(tf.zeros([2, 10, 1]), tf.zeros([2, 5]))
        with pytest.raises(ValueError):  # IR rank (rank 1 is one IR for the batch)
            core.fft_convolve(audio, tf.zeros([]))
        with pytest.raises(ValueError):
            core.fft_convolve(audio, tf.zeros([2, 1, 1, 5]))
        with pytest.raises(ValueError):  # padding
            core.fft_convolve(audio, tf.zeros([2, 5]), padding='full')

    @pytest.mark.parametrize('padding', ['same', 'valid'])
    @pytest.mark.parametrize('delay_compensation', [-1, 0])
    def test_rank_one_ir_filters_every_example_vs_scipy(self, padding, delay_compensation):
        rng = _rng(42)
        n, ir_size = 500, 33
        audio = _f32(rng.standard_normal((3, n)))
        ir = _f32(rng.standard_normal(ir_size))
        out = core.fft_convolve(audio, ir, padding, delay_compensation).numpy()
        full = np.stack(
            [scipy.signal.fftconvolve(a.astype(np.float64), ir.astype(np.float64)) for a in audio]
        )
        expected = _np_crop(full, n, ir_size, padding, delay_compensation)
        assert out.shape == expected.shape == (3, n if padding == 'same' else n + ir_size - 1)
        np.testing.assert_allclose(out, expected, atol=2e-5)


class TestApplyWindow:
    def _zero_phase_ir(self, size, seed=24):
        # irfft of smooth positive magnitudes: a real, even IR that peaks at index 0.
        k = size // 2 + 1
        mags = 1.0 + 0.5 * np.cos(np.linspace(0, 3, k)) + _rng(seed).uniform(0, 0.1, k)
        return _f32(np.fft.irfft(mags, n=size))[None, None]

    @pytest.mark.parametrize('window_size', [5, 6, 31, 32, 63, 64, 127])
    def test_window_smaller_than_ir(self, window_size):
        ir = self._zero_phase_ir(128)
        out = core.apply_window_to_impulse_response(ir, window_size).numpy()
        half = (window_size + 1) // 2
        assert out.shape[-1] == 2 * half - 1
        assert out.shape[-1] == (window_size if window_size % 2 else window_size - 1)
        assert np.argmax(out[0, 0]) == half - 2
        np.testing.assert_allclose(out, _np_apply_window(ir, window_size), atol=1e-6)

    @pytest.mark.parametrize('window_size', [0, -3, 128, 500])
    def test_full_window(self, window_size):
        ir = self._zero_phase_ir(128)
        out = core.apply_window_to_impulse_response(ir, window_size).numpy()
        assert out.shape[-1] == 128
        assert np.argmax(out[0, 0]) == 64
        np.testing.assert_allclose(out, _np_apply_window(ir, 0), atol=1e-6)

    @pytest.mark.parametrize('window_size', [0, 33, 64])
    def test_causal_input(self, window_size):
        zero_phase = self._zero_phase_ir(128)
        causal_ir = np.fft.ifftshift(zero_phase, axes=-1)  # peak at L/2
        out = core.apply_window_to_impulse_response(causal_ir, window_size, causal=True).numpy()
        np.testing.assert_allclose(
            out, _np_apply_window(causal_ir, window_size, causal=True), atol=1e-6
        )
        # Rotating the causal IR back to zero phase gives the same design.
        np.testing.assert_allclose(
            out, core.apply_window_to_impulse_response(zero_phase, window_size).numpy(), atol=1e-6
        )


class TestFrequencyImpulseResponse:
    def test_shapes(self):
        assert core.frequency_impulse_response(tf.ones([2, 5, 65])).shape == (2, 5, 128)
        assert core.frequency_impulse_response(tf.ones([2, 65])).shape == (2, 128)
        assert core.frequency_impulse_response(tf.ones([2, 65]), 32).shape == (2, 31)
        assert core.frequency_impulse_response(tf.ones([2, 65]), 33).shape == (2, 33)

    def test_full_window_response_at_sampled_bins(self):
        # window_size=0 still applies a full-length Hann, which multiplies the zero-phase IR by
        # 0.5 + 0.5 cos(2 pi n / L): in frequency that is the [1/4, 1/2, 1/4] smoothing of the
        # (real, even) requested spectrum. So |rfft(ir)| at the K sampled bins is exactly
        # 0.5 m[k] + 0.25 (m[k-1] + m[k+1]) with mirrored ends, and equals the request
        # wherever the request is locally linear (all-pass, ramps).
        rng = _rng(25)
        k = 129
        mags = rng.uniform(0, 1, (2, 3, k))
        ir = core.frequency_impulse_response(_f32(mags)).numpy()
        measured = np.abs(np.fft.rfft(ir.astype(np.float64), axis=-1))
        assert measured.shape[-1] == k
        padded = np.concatenate([mags[..., 1:2], mags, mags[..., -2:-1]], axis=-1)
        smoothed = 0.5 * padded[..., 1:-1] + 0.25 * (padded[..., :-2] + padded[..., 2:])
        np.testing.assert_allclose(measured, smoothed, atol=2e-6)
        for request in (np.ones(k), np.linspace(0.0, 2.0, k), 1.0 + np.linspace(1, 0, k)):
            ir = core.frequency_impulse_response(_f32(request)[None]).numpy()[0]
            measured = np.abs(np.fft.rfft(ir.astype(np.float64)))
            np.testing.assert_allclose(measured[1:-1], request[1:-1], atol=2e-6)

    def test_small_window_approximates_smooth_response(self):
        k = 257
        f = np.linspace(0, 1, k)
        request = 0.1 + np.exp(-0.5 * ((f - 0.3) / 0.08) ** 2) + 0.5 / (1 + (f / 0.05) ** 2)
        ir = core.frequency_impulse_response(_f32(request)[None], window_size=128).numpy()[0]
        assert ir.shape == (127,)
        measured = np.abs(np.fft.rfft(ir.astype(np.float64), n=2 * (k - 1)))
        # A 127-tap Hann-windowed design smears by ~2 bins of 2 (K-1) / 128 = 4 each.
        assert np.abs(measured - request).max() < 0.05 * request.max()


class TestFrequencyFilter:
    def test_all_pass_is_two_sample_delay(self):
        audio = _f32(_rng(26).standard_normal((2, 1000)))
        out = core.frequency_filter(audio, tf.ones([2, 10, 65])).numpy()
        np.testing.assert_allclose(out, np.pad(audio, [(0, 0), (2, 0)])[:, :1000], atol=1e-5)
        # The same holds for a time-invariant [B, K] design.
        out = core.frequency_filter(audio, tf.ones([2, 33])).numpy()
        np.testing.assert_allclose(out, np.pad(audio, [(0, 0), (2, 0)])[:, :1000], atol=1e-5)

    def test_matches_design_plus_convolution(self):
        rng = _rng(27)
        audio = _f32(rng.standard_normal((1, 640)))
        mags = _f32(rng.uniform(0, 1, (1, 10, 33)))
        for window_size, padding in [(0, 'same'), (16, 'same'), (17, 'valid')]:
            out = core.frequency_filter(audio, mags, window_size, padding).numpy()
            irs = _np_apply_window(np.fft.irfft(mags.astype(np.float64), axis=-1), window_size)
            expected = _np_crop(
                _np_time_varying_convolve(audio, irs), 640, irs.shape[-1], padding, -1
            )
            np.testing.assert_allclose(out, expected, atol=1e-5)

    def test_low_pass_attenuates_high_sine(self):
        n, k = 8000, 65
        t = np.arange(n) / SR
        low, high = np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 6000 * t)
        cutoff_bin = int(2000 / NYQUIST * (k - 1))
        mags = np.zeros((1, 50, k), np.float32)
        mags[..., :cutoff_bin] = 1.0
        rms = lambda x: np.sqrt(np.mean(x[200:-200] ** 2))  # noqa: E731
        out_high = core.frequency_filter(_f32(high)[None], mags).numpy()[0]
        out_low = core.frequency_filter(_f32(low)[None], mags).numpy()[0]
        assert rms(out_high) < 1e-2 * rms(high)
        assert abs(rms(out_low) / rms(low) - 1.0) < 0.02

    def test_gradient_wrt_magnitudes(self):
        # The filter is linear in the magnitudes, so central differences are exact up to
        # float32 rounding of the loss (~1e-6 relative).
        rng = _rng(28)
        audio = _f32(rng.standard_normal((1, 64)))
        mags = rng.uniform(0.2, 1.0, (1, 4, 9))

        def filt(m):
            return core.frequency_filter(audio, m, window_size=0)

        _central_difference_check(filt, (mags,), 0, eps=1e-2, rtol=1e-3)


class TestSinc:
    def test_sinc_vs_numpy(self):
        x = _f32(np.concatenate([np.linspace(-5, 5, 101), [0.0, 1e-25, -1e-25]]))
        np.testing.assert_allclose(core.sinc(x).numpy(), np.sinc(x.astype(np.float64)), atol=1e-6)
        assert core.sinc(tf.constant(0.0)).numpy() == pytest.approx(1.0)

    @pytest.mark.parametrize('window_size', [64, 65, 511, 512])
    def test_impulse_response_matches_spec_and_unit_dc(self, window_size):
        cutoff = _f32(_rng(29).uniform(0.05, 0.9, (2, 3)))
        ir = core.sinc_impulse_response(cutoff, window_size).numpy()
        half = window_size // 2
        assert ir.shape == (2, 3, 2 * half + 1)
        taps = np.arange(-half, half + 1)
        c = cutoff[..., None].astype(np.float64)
        expected = c * np.sinc(c * taps) * _periodic_hamming(2 * half + 1)
        expected /= expected.sum(-1, keepdims=True)
        np.testing.assert_allclose(ir, expected, atol=1e-6)
        np.testing.assert_allclose(ir.sum(-1), 1.0, atol=1e-5)
        # [B, T, 1] cutoffs give the same result.
        np.testing.assert_allclose(
            core.sinc_impulse_response(cutoff[..., None], window_size), ir, atol=1e-7
        )

    def test_high_pass_has_zero_dc(self):
        cutoff = np.full((1, 2), 0.25, np.float32)
        low = core.sinc_impulse_response(cutoff, 128).numpy()
        high = core.sinc_impulse_response(cutoff, 128, high_pass=True).numpy()
        np.testing.assert_allclose(high.sum(-1), 0.0, atol=1e-5)
        delta = np.zeros(129)
        delta[64] = 1.0
        np.testing.assert_allclose(high, delta - low, atol=1e-7)

    @pytest.mark.parametrize('cutoff_hz', [1000.0, 3000.0, 6000.0])
    def test_cutoff_is_minus_six_db(self, cutoff_hz):
        # A windowed sinc has half its passband gain (-6 dB) at the cutoff.
        ir = core.sinc_impulse_response(_f32([[cutoff_hz]]), 512, sample_rate=SR).numpy()[0, 0]
        n_fft = 2**16
        response = np.abs(np.fft.rfft(ir.astype(np.float64), n_fft))
        freqs = np.fft.rfftfreq(n_fft, 1.0 / SR)
        gain_db = 20 * np.log10(np.interp(cutoff_hz, freqs, response))
        assert abs(gain_db + 6.02) < 0.2
        assert response[0] == pytest.approx(1.0, abs=1e-5)
        assert response[freqs >= cutoff_hz + 200].max() < 1e-2  # stop band
        # Normalised cutoffs (no sample_rate) are fractions of Nyquist.
        normalised = core.sinc_impulse_response(_f32([[cutoff_hz / NYQUIST]]), 512).numpy()
        np.testing.assert_allclose(normalised[0, 0], ir, atol=1e-7)

    def test_sinc_filter_one_sample_delay(self):
        rng = _rng(30)
        audio = _f32(rng.standard_normal((1, 1000)))
        # Full-band cutoff: the IR is a centred delta, so the output is the input delayed 1.
        out = core.sinc_filter(audio, np.ones((1, 10), np.float32), window_size=64).numpy()
        np.testing.assert_allclose(out, np.pad(audio, [(0, 0), (1, 0)])[:, :1000], atol=1e-5)
        # Any cutoff: full convolution cropped from (L-1)//2 - 1 = half - 1.
        cutoff = _f32(rng.uniform(0.1, 0.9, (1, 10)))
        out = core.sinc_filter(audio, cutoff, window_size=64).numpy()
        irs = core.sinc_impulse_response(cutoff, 64).numpy()
        expected = _np_time_varying_convolve(audio, irs)[:, 31:1031]
        np.testing.assert_allclose(out, expected, atol=1e-5)
        high = core.sinc_filter(audio, cutoff, window_size=64, high_pass=True).numpy()
        np.testing.assert_allclose(high + out, np.pad(audio, [(0, 0), (1, 0)])[:, :1000], atol=1e-5)

    @pytest.mark.parametrize('cutoff_kind', ['scalar', 'per example', 'time-varying'])
    @pytest.mark.parametrize('padding', ['same', 'valid'])
    @pytest.mark.parametrize('high_pass', [False, True])
    @pytest.mark.parametrize('window_size', [64, 65])
    def test_sinc_filter_sizes_and_values(self, window_size, high_pass, padding, cutoff_kind):
        # Even and odd windows both give 2 * (window_size // 2) + 1 = 65 taps; 'same' keeps
        # the length, 'valid' adds 64. A scalar cutoff is one IR for the whole batch.
        rng = _rng(43)
        n, taps = 400, 65
        audio = _f32(rng.standard_normal((2, n)))
        cutoff = {
            'scalar': np.float32(0.3),
            'per example': _f32([0.2, 0.6]),
            'time-varying': _f32(rng.uniform(0.1, 0.9, (2, 4))),
        }[cutoff_kind]
        out = core.sinc_filter(
            audio, cutoff, window_size, padding=padding, high_pass=high_pass
        ).numpy()
        assert out.shape == (2, n if padding == 'same' else n + taps - 1)
        # Float64 reference: [B, F] cutoffs -> [B, F, 65] windowed sincs, unit DC gain.
        c = np.asarray(cutoff, np.float64)
        c = np.full((2, 1), c) if c.ndim == 0 else c.reshape(2, -1)
        k = np.arange(taps) - taps // 2
        irs = c[..., None] * np.sinc(c[..., None] * k) * _periodic_hamming(taps)
        irs /= irs.sum(-1, keepdims=True)
        if high_pass:
            irs = (k == 0) - irs
        expected = _np_crop(_np_time_varying_convolve(audio, irs), n, taps, padding, -1)
        np.testing.assert_allclose(out, expected, atol=1e-5)


# ------------------------------------------------------------------------------
# Eager, tf.function and XLA agree.
# ------------------------------------------------------------------------------
def _graph_cases():
    rng = _rng(31)
    frames, n = 20, 2000
    f0 = _f32(np.linspace(150.0, 900.0, frames)[None, :, None])
    amps = _f32(rng.uniform(0.2, 1.0, (1, frames, 1)))
    dist = _f32(rng.uniform(0, 1, (1, frames, 30)) / 30)
    shifts = _f32(rng.uniform(-0.02, 0.02, (1, frames, 30)))
    audio = _f32(rng.standard_normal((2, n)))
    table = _f32(np.sin(2 * np.pi * np.arange(64) / 64))[None]
    return {
        'harmonic_synthesis': (
            lambda f, a, d: core.harmonic_synthesis(f, a, harmonic_distribution=d, n_samples=n),
            (f0, amps, dist),
        ),
        'harmonic_synthesis_shifts': (
            lambda f, a, d, s: core.harmonic_synthesis(
                f, a, s, d, n_samples=n, amp_resample_method='nearest'
            ),
            (f0, amps, dist, shifts),
        ),
        'fft_convolve': (
            lambda x, ir: core.fft_convolve(x, ir),
            (audio, _f32(rng.standard_normal((2, 10, 33)))),
        ),
        'frequency_filter': (
            lambda x, m: core.frequency_filter(x, m, window_size=32),
            (audio, _f32(rng.uniform(0, 1, (2, 10, 65)))),
        ),
        'wavetable_synthesis': (
            lambda f, a, t: core.wavetable_synthesis(f, a, t, n_samples=n),
            (f0, amps, table),
        ),
        'variable_length_delay': (
            lambda p, x: core.variable_length_delay(p, x, max_length=64),
            (_f32(rng.uniform(0, 1, (2, n))), audio),
        ),
        'angular_cumsum': (
            lambda w: core.angular_cumsum(w, chunk_size=300),
            (_f32(rng.uniform(0, 0.5, (2, n, 3))),),
        ),
    }


@pytest.mark.parametrize('name', list(_graph_cases()))
def test_eager_graph_and_xla_agree(name):
    fn, args = _graph_cases()[name]
    args = [tf.constant(a) for a in args]
    eager = fn(*args).numpy()
    graph = tf.function(fn)(*args).numpy()
    xla = tf.function(fn, jit_compile=True)(*args).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-5)
    if name == 'angular_cumsum':  # values near 2 pi may wrap to ~0 under a reordered sum
        assert _wrapped_abs_diff(xla, eager).max() < 1e-4
    else:
        np.testing.assert_allclose(xla, eager, atol=1e-4)


def test_harmonic_synthesis_f0_and_amplitudes_on_different_frame_grids():
    # The fast path splits audio by the amplitudes' frames; f0 is resampled on
    # its own grid. Compare with the general (detuned, shift 0) path.
    f0 = 440.0 * np.ones((1, 100, 1), np.float32)
    amps = np.ones((1, 40, 1), np.float32)
    dist = np.ones((1, 40, 4), np.float32)
    fast = core.harmonic_synthesis(f0, amps, harmonic_distribution=dist, n_samples=1000)
    general = core.harmonic_synthesis(
        f0,
        amps,
        harmonic_shifts=np.zeros((1, 100, 4), np.float32),
        harmonic_distribution=dist,
        n_samples=1000,
    )
    np.testing.assert_allclose(fast, general, atol=1e-4)
