"""The recipe's performance of a tune: timing, articulation, rests, vibrato and dynamics.

Everything here is deterministic: one `numpy.random.default_rng(spec.seed)` drives, in a fixed
order, the schedule (`schedule`), then the vibrato (`vibrato_curve`), then the dynamics
(`dynamics_curves`). Times are seconds, curves are on a 1 ms grid, pitches are MIDI notes,
bends are cents, levels are CC11 values (0-127; level ~ 40*log10(CC11/127) dB) and velocities.

How a tune is played (the numbers are the recipe):
    tempo      `spec.tempo_qpm` quarter notes per minute, varied +-5 % per phrase (phrases of 2,
               4 or 8 bars), the last 2 bars 10 % slower.
    rests      at each phrase boundary: a breath of 0.12-0.5 s (probability 0.5) or a long rest
               of 0.9-2.0 s (probability 0.12); the tune's own rests are kept.
    articulation  per phrase, legato (gap to the next note 0-16 ms), normal (85-93 % of the
               written length, gap at most 90 ms) or detached (50-72 %, at least 70 ms held); the
               mix depends on `spec.articulation` ('legato', 'mixed', 'detached').
    vibrato    on notes of 0.22 s or more with probability `spec.vibrato_probability`: rate
               5.0-6.5 Hz and depth 15-45 cents drawn per note around a per-tune centre, +-3 %
               rate drift; onset delayed 0.05-0.12 s, or 0.18-0.45 s on notes of 0.7 s or more
               (whose depth then grows by up to 30 % over the note); faded out 60 ms before
               the note-off.
    dynamics   a level d in [0, 1]: the tune's base (pp 0.08, p 0.24, mp 0.40, mf 0.56, f 0.72,
               ff 0.88) + a slow arc (12-30 s period) + a shape per phrase (arch, crescendo,
               diminuendo or flat) + a swell or fade on some long notes. velocity = 36 + 91 d
               (+12-25 on accented notes, 12 %), CC11 = 127 * 10^(-(1 - d) * 22 dB / 40).
"""

import dataclasses

import numpy as np

from recipes.instruments.midi_render import on_grid

DYNAMIC_LEVELS = {'pp': 0.08, 'p': 0.24, 'mp': 0.40, 'mf': 0.56, 'f': 0.72, 'ff': 0.88}
ARTICULATIONS = ('legato', 'mixed', 'detached')
EXPRESSION_SPAN_DB = 22.0  # CC11 span from d = 0 to d = 1.
VIBRATO_RATE_HZ = (5.0, 6.5)
VIBRATO_DEPTH_CENTS = (15.0, 45.0)
MIN_VIBRATO_NOTE_S = 0.22
LONG_NOTE_S = 0.7
TAIL_S = 1.0  # Silence after the last note-off (releases end within about 0.5 s).


@dataclasses.dataclass(frozen=True)
class TuneSpec:
    """One rendering of one tune (an entry of tunes.json plus its instrument)."""

    name: str  # File stem.
    instrument: str
    program: int  # General MIDI program, 0-based.
    pitch_range: tuple  # (lowest, highest) sounding MIDI note; checked.
    corpus: str  # music21 corpus path.
    number: int | None  # ABC X: number in a multi-tune file; None for a one-tune file.
    transpose: int  # Semitones (whole octaves in this recipe).
    tempo_qpm: float  # Quarter notes per minute.
    seed: int
    dynamic: str = 'mf'  # Key of DYNAMIC_LEVELS: the tune's base level.
    articulation: str = 'mixed'  # One of ARTICULATIONS.
    vibrato_probability: float = 0.85
    end_quarter: float | None = None  # Notes starting at or after this offset are left out.
    # Added to the soundfont's volume-envelope release (SF2 timecents; 0: the soundfont's own).
    release_timecents: int = 0

    def __post_init__(self):
        if self.dynamic not in DYNAMIC_LEVELS:
            raise ValueError(f'{self.name}: dynamic {self.dynamic!r} not in {DYNAMIC_LEVELS}')
        if self.articulation not in ARTICULATIONS:
            raise ValueError(f'{self.name}: articulation {self.articulation!r}')


@dataclasses.dataclass(frozen=True)
class Performance:
    """A tune as played: note events, curves, and the phrase layout (all in seconds)."""

    events: list  # [(onset_s, offset_s, midi_pitch)] on the 4 ms grid.
    velocities: list  # Per event, 1-127.
    bend_cents_ms: np.ndarray  # float [n_ms].
    expression_ms: np.ndarray  # int [n_ms], CC11.
    level_ms: np.ndarray  # float [n_ms], the dynamic level in [0, 1] behind velocity and CC11.
    phrases: list  # [(start_s, end_s)] of each phrase.
    duration_s: float
    n_samples: int


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _phrase_boundaries(tune, rng, end_quarter):
    """Offsets (quarters) where phrases start after the first: every 2, 4 or 8 whole bars."""
    bars = [b for b in tune.bar_starts if end_quarter is None or b < end_quarter]
    if len(bars) > 1 and bars[1] - bars[0] < tune.bar_quarters - 1e-6:
        bars = bars[1:]  # A pickup bar belongs to the first phrase.
    phrase_bars = int(rng.choice([2, 4, 4, 4, 8]))
    return bars[phrase_bars::phrase_bars]


def schedule(tune, spec, rng):
    """(events, phrases, duration_s): note times with tempo, articulation and rests.

    events: [(onset_s, offset_s, midi_pitch)] on FluidSynth's 4 ms grid, monophonic.
    phrases: [(start_s, end_s)] covering the notes, used to shape the dynamics.
    """
    notes = [n for n in tune.notes if spec.end_quarter is None or n[0] < spec.end_quarter - 1e-6]
    if len(notes) < 2:
        raise ValueError(f'{spec.name}: fewer than 2 notes')
    for (o0, d0, _), (o1, _, _) in zip(notes, notes[1:]):
        if o0 + d0 > o1 + 1e-6:
            raise ValueError(f'{spec.name}: notes overlap; the melody is not monophonic.')
    boundaries = _phrase_boundaries(tune, rng, spec.end_quarter)
    boundaries = [b for b in boundaries if notes[0][0] < b <= notes[-1][0]]
    n_phrases = len(boundaries) + 1
    factors = rng.uniform(0.95, 1.05, n_phrases)
    gaps = np.zeros(n_phrases)  # Pause before phrase k (k >= 1).
    for k in range(1, n_phrases):
        u = rng.uniform()
        if u < 0.12:
            gaps[k] = rng.uniform(0.9, 2.0)
        elif u < 0.62:
            gaps[k] = rng.uniform(0.12, 0.5)
    styles = _phrase_styles(spec.articulation, n_phrases, rng)
    spq = 60.0 / spec.tempo_qpm
    last_bars_from = notes[-1][0] + notes[-1][1] - 2 * tune.bar_quarters

    def phrase_of(q):
        return int(np.searchsorted(boundaries, q, side='right'))

    def seconds_per_quarter(q):
        slow = 1.1 if q >= last_bars_from else 1.0
        return spq * slow / factors[phrase_of(q)]

    lead_in = rng.uniform(0.3, 0.8)
    onsets = [lead_in]
    for (o0, _, _), (o1, _, _) in zip(notes, notes[1:]):
        t = onsets[-1] + (o1 - o0) * seconds_per_quarter(o0)
        onsets.append(t + (gaps[phrase_of(o1)] if phrase_of(o1) != phrase_of(o0) else 0.0))
    events, phrases = [], {}
    for i, ((offset_q, duration_q, pitch), onset) in enumerate(zip(notes, onsets)):
        written = duration_q * seconds_per_quarter(offset_q)
        style = styles[phrase_of(offset_q)]
        if style == 'legato':
            held = written - rng.uniform(0.0, 0.016)
        elif style == 'normal':
            held = max(written * rng.uniform(0.85, 0.93), written - 0.09)
        else:
            held = max(written * rng.uniform(0.5, 0.72), min(0.07, written - 0.02))
        start = on_grid(onset)
        end = on_grid(onset + held)
        if i + 1 < len(notes):
            end = min(end, on_grid(onsets[i + 1]))
        end = max(end, start + 0.04)
        events.append((start, end, pitch + spec.transpose))
        phrases.setdefault(phrase_of(offset_q), [start, end])[1] = end
    for (_, end, _), (nxt, _, _) in zip(events, events[1:]):
        if end > nxt + 1e-9:
            raise ValueError(f'{spec.name}: notes overlap after scheduling.')
    lo, hi = spec.pitch_range
    pitches = [p for _, _, p in events]
    if min(pitches) < lo or max(pitches) > hi:
        raise ValueError(
            f'{spec.name}: pitches {min(pitches)}-{max(pitches)} leave the range {lo}-{hi}'
        )
    duration_s = on_grid(events[-1][1] + TAIL_S)
    return events, [tuple(phrases[k]) for k in sorted(phrases)], duration_s


def _phrase_styles(articulation, n_phrases, rng):
    """'legato' | 'normal' | 'detached' per phrase."""
    weights = {
        'legato': [0.8, 0.2, 0.0],
        'mixed': [0.35, 0.4, 0.25],
        'detached': [0.0, 0.3, 0.7],
    }[articulation]
    return [str(s) for s in rng.choice(['legato', 'normal', 'detached'], n_phrases, p=weights)]


def vibrato_curve(events, spec, rng, n_ms):
    """Bend in cents on a 1 ms grid [n_ms]; 0 outside notes and in the last 60 ms of each."""
    bend = np.zeros(n_ms)
    depth_centre = rng.uniform(20.0, 38.0)
    rate_centre = rng.uniform(5.2, 6.2)
    for onset, offset, _ in events:
        length = offset - onset
        draws = rng.uniform(size=6)  # Always six draws a note: the stream stays aligned.
        if length < MIN_VIBRATO_NOTE_S or draws[0] >= spec.vibrato_probability:
            continue
        rate = np.clip(rate_centre + 0.25 * _normal(draws[1]), *VIBRATO_RATE_HZ)
        depth = np.clip(depth_centre + 7.0 * _normal(draws[2]), *VIBRATO_DEPTH_CENTS)
        long_note = length >= LONG_NOTE_S
        delay = 0.18 + 0.27 * draws[3] if long_note else 0.05 + 0.07 * draws[3]
        stop = length - 0.06  # The envelope is 0 from here on.
        if stop - delay < 0.1:
            continue
        attack = min(0.35 if long_note else 0.15, 0.5 * (stop - delay))
        release = min(0.12, 0.3 * (stop - delay))
        i0, i1 = int(round(onset * 1000)), int(round(offset * 1000))
        t = np.arange(i1 - i0) / 1000.0
        envelope = _smoothstep((t - delay) / attack) * _smoothstep((stop - t) / release)
        envelope[i1 - i0 - 60 :] = 0.0  # Exactly 0 (not 1e-29) in the last 60 ms.
        if long_note:  # Intensifying vibrato: depth grows over the note, within the range.
            grow = 1.0 + 0.3 * draws[4] * np.clip((t - delay) / (stop - delay), 0, 1)
            envelope = envelope * np.minimum(grow, VIBRATO_DEPTH_CENTS[1] / depth)
        drift = 1 + 0.03 * np.sin(2 * np.pi * (0.3 + 0.5 * draws[5]) * t + 6.28 * draws[4])
        phase = 2 * np.pi * np.cumsum(rate * drift) / 1000.0
        bend[i0:i1] = depth * envelope * np.sin(phase)
    return bend


def _normal(u):
    """A standard-normal-like value from a uniform draw u in [0, 1) (clipped at +-2.5)."""
    from scipy.special import ndtri

    return float(np.clip(ndtri(np.clip(u, 1e-6, 1 - 1e-6)), -2.5, 2.5))


def level_to_controls(level):
    """(velocity, CC11) for a dynamic level in [0, 1] (arrays or scalars)."""
    level = np.clip(level, 0.0, 1.0)
    velocity = np.clip(np.round(36 + 91 * level), 1, 127)
    cc11 = 127.0 * 10 ** (-(1 - level) * EXPRESSION_SPAN_DB / 40.0)
    return velocity, np.clip(np.round(cc11), 1, 127)


def dynamics_curves(events, phrases, spec, rng, n_ms):
    """(velocities [n_events], CC11 [n_ms] int, level [n_ms] float): the tune's dynamics."""
    t = np.arange(n_ms) / 1000.0
    level = np.full(n_ms, DYNAMIC_LEVELS[spec.dynamic])
    level += rng.uniform(0.05, 0.15) * np.sin(
        2 * np.pi * t / rng.uniform(12, 30) + rng.uniform(0, 6.3)
    )
    for start, end in phrases:
        shape = rng.choice(['arch', 'crescendo', 'diminuendo', 'flat'], p=[0.4, 0.2, 0.2, 0.2])
        amount = rng.uniform(0.1, 0.28)
        i0, i1 = int(round(start * 1000)), min(n_ms, int(round(end * 1000)))
        u = np.linspace(0.0, 1.0, max(i1 - i0, 1))
        curve = {
            'arch': np.sin(np.pi * u) - 0.5,
            'crescendo': u - 0.5,
            'diminuendo': 0.5 - u,
            'flat': 0.0 * u,
        }[str(shape)]
        level[i0:i1] += amount * curve[: i1 - i0]
    velocities = []
    for onset, offset, _ in events:
        draws = rng.uniform(size=4)
        i0, i1 = int(round(onset * 1000)), int(round(offset * 1000))
        if offset - onset >= 0.5 and draws[0] < 0.5:  # Swell (messa di voce) or fade.
            u = np.linspace(0.0, 1.0, i1 - i0)
            amount = 0.05 + 0.1 * draws[1]
            level[i0:i1] += amount * ((np.sin(np.pi * u) - 0.5) if draws[2] < 0.6 else (0.5 - u))
        velocity, _ = level_to_controls(level[i0])
        if draws[3] < 0.12:  # Accent.
            velocity += 12 + 13 * draws[1]
        velocities.append(int(np.clip(round(float(velocity)), 1, 127)))
    level = np.clip(level, 0.0, 1.0)
    _, cc11 = level_to_controls(level)
    return velocities, cc11.astype(int), level


def perform(tune, spec):
    """The whole performance of `tune` (a `midi_render.Tune`) as `spec` says."""
    from recipes.instruments.midi_render import SAMPLE_RATE

    rng = np.random.default_rng(spec.seed)
    events, phrases, duration_s = schedule(tune, spec, rng)
    n_ms = int(round(duration_s * 1000))
    bend = vibrato_curve(events, spec, rng, n_ms)
    velocities, cc11, level = dynamics_curves(events, phrases, spec, rng, n_ms)
    return Performance(
        events=events,
        velocities=velocities,
        bend_cents_ms=bend,
        expression_ms=cc11,
        level_ms=level,
        phrases=phrases,
        duration_s=duration_s,
        n_samples=int(round(duration_s * SAMPLE_RATE)),
    )
