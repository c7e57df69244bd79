"""EXPERIMENTAL: random synthetic notes as synthesizer controls (NumPy).

Both generators return a dict of float32 arrays (B = n_batch, T = n_timesteps,
H = n_harmonics, M = n_mags):

* `f0_hz` [B, T, 1]: fundamental frequency in Hz (0 in silent frames of `generate_notes_v2`).
* `harm_amp` [B, T, 1]: overall harmonic amplitude in [0, 1].
* `harm_dist` [B, T, H]: harmonic distribution, >= 0.
* `sin_amps` [B, T, H]: per-harmonic amplitudes, `harm_amp * harm_dist`.
* `sin_freqs` [B, T, H]: per-harmonic frequencies, `f0_hz * k` for k = 1..H.
* `noise_magnitudes` [B, T, M]: filtered-noise magnitudes in [0, 1].

With `get_controls=True` (the default) the harmonic distribution is a synthesizer control:
harmonics at or above Nyquist (`sample_rate / 2`) are zeroed and each frame's distribution is
normalised to sum to 1 (or is all zeros where nothing is left), so `sin_amps` sums to
`harm_amp`. With `get_controls=False` the distribution is the raw one (all harmonics, in
[0, 1], not normalised).

Randomness comes from a `numpy.random.Generator`: every function takes `rng`, a Generator, an
integer seed or None (a fresh, unseeded Generator), so results are reproducible with a seed.
"""

import warnings

import numpy as np

from ddsp import core, validation

warnings.warn(
    'ddsp.training.data_preparation.synthetic_data is experimental; its outputs and '
    'arguments may change.',
    FutureWarning,
    stacklevel=2,
)

DEFAULT_SAMPLE_RATE = 16000
MIN_MIDI = 24.0  # C1, ~32.7 Hz.
MAX_MIDI = 84.0  # C6, ~1047 Hz.


def _rng(rng=None):
    """A numpy Generator from a Generator, a seed (int or sequence) or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def flip(p=0.5, rng=None):
    """True with probability `p`."""
    return bool(_rng(rng).random() < p)


def uniform_int(minval=0, maxval=10, rng=None):
    """An integer drawn uniformly from [minval, maxval], both ends included."""
    if maxval < minval:
        validation.fail('uniform_int', 'maxval', f'>= minval ({minval})', maxval)
    return int(_rng(rng).integers(minval, maxval, endpoint=True))


def uniform_float(minval=0.0, maxval=10.0, rng=None):
    """A float drawn uniformly from [minval, maxval)."""
    return float(_rng(rng).uniform(minval, maxval))


def uniform_generator(sample_shape, n_timesteps, minval, maxval, n_features=None, rng=None):
    """Random values drawn uniformly from [minval, maxval), held constant over time.

    Args:
        sample_shape: leading shape, e.g. `[n_batch]` (an int is accepted).
        n_timesteps: T, the number of frames the values are repeated over.
        minval, maxval: range of the values.
        n_features: if given, a trailing feature axis of this size.
        rng: Generator or seed.

    Returns:
        float32 array [*sample_shape, T] or [*sample_shape, T, n_features].
    """
    sample_shape = (sample_shape,) if np.isscalar(sample_shape) else tuple(sample_shape)
    feat = () if n_features is None else (n_features,)
    values = _rng(rng).uniform(minval, maxval, size=sample_shape + (1,) + feat)
    return np.broadcast_to(values, sample_shape + (n_timesteps,) + feat).astype(np.float32)


def normal_generator(sample_shape, n_timesteps, mean, stddev, n_features=None, rng=None):
    """Like `uniform_generator`, with values drawn from N(mean, stddev**2)."""
    sample_shape = (sample_shape,) if np.isscalar(sample_shape) else tuple(sample_shape)
    feat = () if n_features is None else (n_features,)
    values = _rng(rng).normal(mean, stddev, size=sample_shape + (1,) + feat)
    return np.broadcast_to(values, sample_shape + (n_timesteps,) + feat).astype(np.float32)


def _modulation(n_batch, n_t, maxval, rng, frame_rate=250.0, rate_hz=(3.0, 8.0)):
    """The factors `1 + depth * sin(2 pi f t + phase)` of `modulate`, float64 [n_batch, n_t]."""
    depth = rng.uniform(0.0, maxval, size=(n_batch, 1))
    rate = rng.uniform(rate_hz[0], rate_hz[1], size=(n_batch, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n_batch, 1))
    t = np.arange(n_t)[np.newaxis, :] / float(frame_rate)
    return 1.0 + depth * np.sin(2.0 * np.pi * rate * t + phase)


def modulate(x, maxval=0.5, n_t=None, rng=None, frame_rate=250.0, rate_hz=(3.0, 8.0)):
    """Multiplies `x` by `1 + depth * sin(2 pi f t + phase)` along its time axis (axis 1).

    Depth is drawn from [0, maxval), the rate `f` from `rate_hz` (Hz at `frame_rate` frames
    per second) and the phase from [0, 2 pi), one draw per batch element. `x` is [B, T, ...];
    `n_t` overrides T (for broadcasting a [B, 1, ...] input).
    """
    x = np.asarray(x, np.float32)
    n_t = x.shape[1] if n_t is None else n_t
    mod = _modulation(x.shape[0], n_t, maxval, _rng(rng), frame_rate, rate_hz)
    mod = mod.reshape(mod.shape + (1,) * (x.ndim - 2))
    return (x * mod).astype(np.float32)


def random_blend(length, env_start=1.0, env_end=0.0, exp_max=2.0, rng=None):
    """A monotone curve of `length` points from `env_start` to `env_end` with a random shape.

    The blend weight is `s ** e` for s in [0, 1] and an exponent e drawn log-uniformly from
    [1 / exp_max, exp_max], so the curve can be convex, linear or concave.
    """
    rng = _rng(rng)
    log_e = rng.uniform(-np.log(exp_max), np.log(exp_max)) if exp_max > 1 else 0.0
    s = np.linspace(0.0, 1.0, length) ** np.exp(log_e)
    return (env_start + (env_end - env_start) * s).astype(np.float32)


def _random_spectrum(n_harmonics, rng):
    """One random harmonic spectrum in [0, 1]: a power-law roll-off, some harmonics muted."""
    k = np.arange(1, n_harmonics + 1, dtype=np.float64)
    rolloff = rng.uniform(0.5, 2.5)
    spectrum = k**-rolloff * rng.uniform(0.3, 1.0, size=n_harmonics)
    if flip(0.3, rng):  # Odd harmonics only (clarinet-like).
        spectrum[1::2] *= rng.uniform(0.0, 0.2)
    return spectrum / spectrum.max()


def random_harm_dist(n_timesteps, n_harmonics=100, low_pass=True, rng=None):
    """A harmonic distribution [T, H] in [0, 1] that moves between two random spectra.

    The blend follows `random_blend`; with `low_pass` a random cut-off harmonic (beyond which
    the distribution falls off exponentially) is also swept over the note.
    """
    rng = _rng(rng)
    start, end = _random_spectrum(n_harmonics, rng), _random_spectrum(n_harmonics, rng)
    w = random_blend(n_timesteps, 1.0, 0.0, rng=rng)[:, np.newaxis]
    dist = w * start[np.newaxis] + (1.0 - w) * end[np.newaxis]
    if low_pass:
        k = np.arange(1, n_harmonics + 1, dtype=np.float64)[np.newaxis]
        cut = random_blend(
            n_timesteps,
            uniform_float(2.0, n_harmonics, rng),
            uniform_float(2.0, n_harmonics, rng),
            rng=rng,
        )[:, np.newaxis]
        dist = dist * np.exp(-np.maximum(k - cut, 0.0) / 4.0)
    return np.clip(dist, 0.0, 1.0).astype(np.float32)


def _envelope(n_timesteps, rng):
    """Attack-decay-sustain-release amplitude envelope in [0, 1] over one note."""
    attack = uniform_int(1, max(1, n_timesteps // 4), rng)
    release = uniform_int(1, max(1, n_timesteps // 4), rng)
    sustain_level = uniform_float(0.3, 1.0, rng)
    body = max(n_timesteps - attack - release, 0)
    env = np.concatenate(
        [
            random_blend(attack, 0.0, 1.0, rng=rng),
            random_blend(body, 1.0, sustain_level, rng=rng),
            random_blend(release, sustain_level if body else 1.0, 0.0, rng=rng),
        ]
    )
    return env[:n_timesteps]


def _finish(f0_hz, harm_amp, harm_dist, noise_magnitudes, get_controls, sample_rate):
    """Builds the output dict ([B, T, ...] float32) from the note parameters."""
    n_harmonics = harm_dist.shape[-1]
    k = np.arange(1, n_harmonics + 1, dtype=np.float32)
    sin_freqs = f0_hz * k
    if get_controls:
        harm_dist = np.where(sin_freqs < sample_rate / 2.0, harm_dist, 0.0)
        total = harm_dist.sum(axis=-1, keepdims=True)
        harm_dist = np.where(total > 0, harm_dist / np.maximum(total, 1e-12), 0.0)
    out = {
        'harm_amp': harm_amp,
        'harm_dist': harm_dist,
        'f0_hz': f0_hz,
        'sin_amps': harm_amp * harm_dist,
        'sin_freqs': sin_freqs,
        'noise_magnitudes': noise_magnitudes,
    }
    return {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in out.items()}


def generate_notes(
    n_batch,
    n_timesteps,
    n_harmonics=100,
    n_mags=65,
    get_controls=True,
    rng=None,
    sample_rate=DEFAULT_SAMPLE_RATE,
):
    """One random note per example, lasting the whole example.

    Each note has a random pitch (MIDI 24-84) with optional vibrato, an ADSR amplitude
    envelope, a harmonic distribution moving between two random spectra, and a noise floor
    following the envelope. See the module docstring for the outputs and `get_controls`.
    """
    rng = _rng(rng)
    f0 = np.asarray(core.midi_to_hz(rng.uniform(MIN_MIDI, MAX_MIDI, size=(n_batch, 1, 1))))
    f0_hz = np.broadcast_to(f0, (n_batch, n_timesteps, 1))
    f0_hz = modulate(f0_hz, maxval=0.02, rng=rng)
    harm_amp = np.stack([_envelope(n_timesteps, rng) for _ in range(n_batch)])[..., None]
    harm_amp = np.clip(harm_amp * rng.uniform(0.2, 1.0, size=(n_batch, 1, 1)), 0.0, 1.0)
    harm_dist = np.stack(
        [random_harm_dist(n_timesteps, n_harmonics, rng=rng) for _ in range(n_batch)]
    )
    noise_level = rng.uniform(0.0, 0.1, size=(n_batch, 1, 1))
    noise_shape = random_blend(n_mags, 1.0, uniform_float(0.0, 1.0, rng), rng=rng)
    noise_magnitudes = np.clip(
        noise_level * noise_shape[np.newaxis, np.newaxis] * (0.2 + 0.8 * harm_amp), 0.0, 1.0
    )
    return _finish(
        f0_hz.astype(np.float32), harm_amp, harm_dist, noise_magnitudes, get_controls, sample_rate
    )


def generate_notes_v2(
    n_batch=1,
    n_timesteps=125,
    n_harmonics=100,
    n_mags=65,
    min_note_length=5,
    max_note_length=25,
    p_silent=0.1,
    p_vibrato=0.5,
    get_controls=True,
    rng=None,
    sample_rate=DEFAULT_SAMPLE_RATE,
):
    """A sequence of random notes per example.

    Notes last `min_note_length`..`max_note_length` frames (the last one is cut at
    `n_timesteps`). Each note is silent with probability `p_silent` (f0, amplitudes and noise
    all 0) and has vibrato with probability `p_vibrato`; otherwise it has its own pitch (MIDI
    24-84), ADSR envelope, evolving harmonic distribution and noise. See the module docstring
    for the outputs and `get_controls`.
    """
    owner = 'generate_notes_v2'
    validation.check_int(owner, 'min_note_length', min_note_length)
    if max_note_length < min_note_length:
        validation.fail(
            owner, 'max_note_length', f'>= min_note_length ({min_note_length})', max_note_length
        )
    rng = _rng(rng)
    # Pitch (MIDI) and vibrato factor per frame; converted to Hz once at the end.
    f0_midi = np.zeros((n_batch, n_timesteps, 1), np.float64)
    vibrato = np.ones((n_batch, n_timesteps, 1), np.float64)
    harm_amp = np.zeros((n_batch, n_timesteps, 1), np.float32)
    harm_dist = np.zeros((n_batch, n_timesteps, n_harmonics), np.float32)
    noise_magnitudes = np.zeros((n_batch, n_timesteps, n_mags), np.float32)
    for b in range(n_batch):
        start = 0
        while start < n_timesteps:
            length = min(uniform_int(min_note_length, max_note_length, rng), n_timesteps - start)
            stop = start + length
            if not flip(p_silent, rng):
                f0_midi[b, start:stop] = uniform_float(MIN_MIDI, MAX_MIDI, rng)
                if flip(p_vibrato, rng):
                    vibrato[b, start:stop, 0] = _modulation(1, length, 0.03, rng)[0]
                amp = _envelope(length, rng) * uniform_float(0.2, 1.0, rng)
                harm_amp[b, start:stop, 0] = amp
                harm_dist[b, start:stop] = random_harm_dist(length, n_harmonics, rng=rng)
                noise_shape = random_blend(n_mags, 1.0, uniform_float(0.0, 1.0, rng), rng=rng)
                noise_magnitudes[b, start:stop] = (
                    uniform_float(0.0, 0.1, rng)
                    * noise_shape[np.newaxis]
                    * (0.2 + 0.8 * amp[:, np.newaxis])
                )
            start = stop
    f0_hz = np.asarray(core.midi_to_hz(f0_midi), np.float64) * vibrato
    f0_hz = np.where(f0_midi > 0, f0_hz, 0.0).astype(np.float32)  # Silent notes: 0 Hz.
    return _finish(
        f0_hz,
        np.clip(harm_amp, 0.0, 1.0),
        harm_dist,
        np.clip(noise_magnitudes, 0.0, 1.0),
        get_controls,
        sample_rate,
    )
