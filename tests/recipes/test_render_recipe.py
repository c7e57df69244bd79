"""The pretrained instruments' rendering recipe (recipes/instruments/), without FluidSynth.

The tune lists keep the reserved evaluation tunes and the sung melody out of training (by
identity, title and melody); the performance has the vibrato, dynamics, articulation and rests
that recipes/instruments/README.md promises, and is deterministic from its seed. Tests that
parse the music21 corpus or write MIDI skip without the `render` extra (mido, music21).
"""

import collections
import functools
import json
import zlib

import numpy as np
import pytest

from recipes.instruments import expression, midi_render, tunes
from recipes.instruments.midi_render import FLUID_BLOCK_MS, Tune

RECIPE = tunes.load_recipe()
TUNES = tunes.load_tunes()


def _tune(n_bars=24, seed=0):
    """A made-up monophonic tune in 4/4: quarters, eighths, halves and a rest or two."""
    rng = np.random.default_rng(seed)
    notes, t = [], 0.0
    for bar in range(n_bars):
        t = 4.0 * bar
        for duration in [[1, 1, 2], [0.5, 0.5, 1, 2], [2, 2], [1, 0.5, 0.5, 1, 1]][bar % 4]:
            if not (bar % 6 == 5 and duration == 2):  # Leave a half-bar rest now and then.
                notes.append((t, float(duration), int(rng.integers(60, 73))))
            t += duration
    return Tune(
        notes=tuple(notes),
        title='Test Tune',
        bar_starts=tuple(4.0 * b for b in range(n_bars)),
        bar_quarters=4.0,
        compound=False,
    )


def _spec(**overrides):
    fields = dict(
        name='test',
        instrument='violin',
        program=40,
        pitch_range=(55, 93),
        corpus='made/up.abc',
        number=None,
        transpose=0,
        tempo_qpm=72.0,
        seed=1,
        dynamic='mf',
        articulation='mixed',
        vibrato_probability=0.9,
    )
    fields.update(overrides)
    return expression.TuneSpec(**fields)


# ----------------------------------------------------------------------------------------------
# Held-out tunes.
# ----------------------------------------------------------------------------------------------


def test_no_training_tune_is_a_reserved_or_sung_tune_by_identity_or_title():
    held = RECIPE['reserved'] + [RECIPE['sung']]
    keys = {tunes.tune_key(t['corpus'], t['number']) for t in held}
    titles = {tunes.normal_title(t['title']) for t in held}
    assert len(keys) == 6
    for instrument, entries in TUNES['train'].items():
        for entry in entries:
            assert tunes.tune_key(entry['corpus'], entry['number']) not in keys, entry
            assert tunes.normal_title(entry['title']) not in titles, entry
            assert not entry['corpus'].startswith('essenFolksong'), entry  # Non-commercial.


def test_reserved_identities_are_the_issue_s_tunes():
    by_key = {tunes.tune_key(t['corpus'], t['number']): t['source'] for t in RECIPE['reserved']}
    assert by_key == {
        ('oneills1850', 7): "O'Neill's Music of Ireland (1903) no. 7",
        ('oneills1850', 29): "O'Neill's Music of Ireland (1903) no. 29",
        ('oneills1850', 45): "O'Neill's Music of Ireland (1903) no. 45",
        ('airdsAirs/book1.abc', 2): (
            "Aird's Selection of Scotch, English, Irish and Foreign Airs, vol. 1 (1778) no. 2"
        ),
        ('ryansMammoth/MorningfairHornpipe.abc', None): (
            "Ryan's Mammoth Collection (1883), Morningfair Hornpipe"
        ),
    }
    # O'Neill's numbers are identities across files (some are transcribed in two files).
    assert tunes.tune_key('oneills1850/0732-0758_mh.abc', 7) == ('oneills1850', 7)


def _fake_parse(corpus, number):
    rng = np.random.default_rng(zlib.crc32(f'{corpus}:{number}'.encode()))
    pitches = rng.integers(60, 80, 40)
    return Tune(tuple((i, 1.0, int(p)) for i, p in enumerate(pitches)), 'x', (0.0,), 4.0, False)


def test_held_out_refuses_identity_title_and_the_same_melody_renamed():
    held_out = tunes.HeldOut(RECIPE, parse=_fake_parse)
    assert 'reserved' in held_out.reason('oneills1850/0001-0050.abc', 29)
    assert 'reserved' in held_out.reason('oneills1850/9999.abc', 45)
    assert 'sung' in held_out.reason('oneills1850/0101-0200.abc', 188)
    # O'Neill's no. 8 is the second setting of no. 7, under the same title.
    assert 'title' in held_out.reason('oneills1850/0001-0050.abc', 8, 'The Little Fair Child')
    assert 'title' in held_out.reason('ryansMammoth/X.abc', None, 'Morning Fair Hornpipe')
    # The melody of a reserved tune, transposed and retitled, is found by its intervals.
    reserved = _fake_parse('airdsAirs/book1.abc', 2).notes
    renamed = [(o, d, p + 5) for o, d, p in reserved[10:30]]
    assert 'intervals' in held_out.reason('ryansMammoth/Other.abc', None, 'Other', renamed)
    # A different tune passes.
    other = _fake_parse('ryansMammoth/Unrelated.abc', None).notes
    assert held_out.reason('ryansMammoth/Unrelated.abc', None, 'Unrelated', other) is None


@functools.lru_cache(maxsize=None)
def _parsed_tune(corpus, number):
    """`midi_render.load_tune`, each tune parsed once per session: the two corpus tests below
    read the same ~120 tunes, and `tunes.generate` reads each reserved tune once per instrument.
    Sound because `load_tune` is deterministic (a fixed corpus file) and returns a frozen
    `Tune` of tuples; an exception is not cached (raised again on the next call)."""
    return midi_render.load_tune(corpus, number)


@pytest.mark.slow
def test_no_training_tune_shares_a_melody_with_a_held_out_tune():
    pytest.importorskip('music21')
    held_out = tunes.HeldOut(RECIPE, parse=_parsed_tune)
    for instrument, entries in TUNES['train'].items():
        for entry in entries:
            tune = _parsed_tune(entry['corpus'], entry['number'])
            assert tune.title == entry['title']
            reason = held_out.reason(entry['corpus'], entry['number'], tune.title, tune.notes)
            assert reason is None, (instrument, entry['name'], reason)


@pytest.mark.slow
def test_tunes_json_is_what_the_recipe_generates(monkeypatch):
    music21 = pytest.importorskip('music21')
    if music21.__version__ != TUNES['music21_version']:
        pytest.skip(f'tunes.json was made with music21 {TUNES["music21_version"]}')
    # The whole recipe, parsing through the session's cache (the tunes the test above read are
    # not parsed again). Most of the time left is `expression.perform` in `tunes.fit_length`.
    monkeypatch.setattr(tunes, 'load_tune', _parsed_tune)
    generated = json.loads(json.dumps(tunes.generate(RECIPE)))
    assert generated == TUNES


# ----------------------------------------------------------------------------------------------
# The tune lists.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize('instrument', sorted(RECIPE['instruments']))
def test_tune_lists_cover_the_instrument(instrument):
    info = RECIPE['instruments'][instrument]
    lo, hi = info['range']
    train, evaluation = TUNES['train'][instrument], TUNES['eval'][instrument]
    assert sum(e['duration_s'] for e in train) >= 12 * 60
    assert sum(e['duration_s'] for e in evaluation) >= 30
    assert len(evaluation) == len(RECIPE['reserved'])
    for entry in train + evaluation:
        assert entry['transpose'] % 12 == 0
        assert lo <= entry['pitches'][0] <= entry['pitches'][1] <= hi
    pitches = [e['pitches'] for e in train]
    assert min(p[0] for p in pitches) <= lo + 3 and max(p[1] for p in pitches) >= hi - 3
    assert len({e['name'] for e in train}) == len(train)
    assert len({tunes.tune_key(e['corpus'], e['number']) for e in train}) == len(train)
    # Every dynamic level and articulation is used, and the tempi vary.
    assert set(e['dynamic'] for e in train) == set(expression.DYNAMIC_LEVELS)
    assert set(e['articulation'] for e in train) == set(expression.ARTICULATIONS)
    tempi = [e['tempo_qpm'] for e in train]
    assert max(tempi) / min(tempi) > 2.5
    # The evaluation renderings are the reserved tunes, in order.
    for entry, reserved in zip(evaluation, RECIPE['reserved']):
        assert (entry['corpus'], entry['number']) == (reserved['corpus'], reserved['number'])


def test_specs_come_from_tunes_json():
    specs = tunes.specs('cello', 'train', RECIPE, TUNES)
    assert [s.name for s in specs] == [e['name'] for e in TUNES['train']['cello']]
    assert all(s.program == 42 and s.pitch_range == (36, 81) for s in specs)


# ----------------------------------------------------------------------------------------------
# The performance.
# ----------------------------------------------------------------------------------------------


def test_performance_is_deterministic_from_its_seed():
    tune = _tune()
    a, b = expression.perform(tune, _spec()), expression.perform(tune, _spec())
    assert a.events == b.events and a.velocities == b.velocities
    np.testing.assert_array_equal(a.bend_cents_ms, b.bend_cents_ms)
    np.testing.assert_array_equal(a.expression_ms, b.expression_ms)
    c = expression.perform(tune, _spec(seed=2))
    assert c.events != a.events or not np.array_equal(c.bend_cents_ms, a.bend_cents_ms)


def test_events_are_monophonic_on_fluidsynth_s_grid_and_in_range():
    perf = expression.perform(_tune(), _spec(transpose=12))
    ms = np.array([[on, off] for on, off, _ in perf.events]) * 1000
    np.testing.assert_allclose(ms, np.round(ms), atol=1e-6)
    assert np.all(np.round(ms).astype(int) % FLUID_BLOCK_MS == 0)
    assert np.all(ms[1:, 0] >= ms[:-1, 1] - 1e-6)
    assert np.all(ms[:, 1] - ms[:, 0] >= 40 - 1e-6)
    assert all(72 <= p <= 84 for *_, p in perf.events)
    assert perf.duration_s >= perf.events[-1][1] + expression.TAIL_S - 0.004
    with pytest.raises(ValueError, match='leave the range'):
        expression.perform(_tune(), _spec(transpose=-12))


def _note_bends(perf):
    for on, off, _ in perf.events:
        yield on, off, perf.bend_cents_ms[int(round(on * 1000)) : int(round(off * 1000))]


def test_vibrato_rate_depth_and_delayed_onset():
    perf = expression.perform(_tune(48), _spec(tempo_qpm=60.0))
    rates, depths, long_with, long_all = [], [], 0, 0
    for on, off, bend in _note_bends(perf):
        length = off - on
        assert bend[0] == 0 and np.all(bend[-60:] == 0)  # Back to 0 before the note-off.
        if length >= expression.LONG_NOTE_S:
            long_all += 1
            long_with += np.any(bend != 0)
            assert np.all(bend[:180] == 0)  # Delayed onset on long notes.
        if np.any(bend != 0):
            assert length >= expression.MIN_VIBRATO_NOTE_S
            depth = np.max(np.abs(bend))
            assert depth <= 45.0 + 1e-9
            depths.append(depth)
            crossings = np.flatnonzero(np.diff(np.signbit(bend[bend != 0])))
            if len(crossings) > 6:
                rates.append((len(crossings) - 1) / 2 / ((crossings[-1] - crossings[0]) / 1000))
    assert long_all > 10 and long_with / long_all > 0.7
    assert 4.8 <= min(rates) and max(rates) <= 6.75
    assert min(depths) >= 10 and np.ptp(depths) > 8  # Varied per note.
    assert np.all(np.abs(perf.bend_cents_ms) <= 45.0 + 1e-9)


def test_vibrato_probability_zero_gives_no_bend():
    perf = expression.perform(_tune(), _spec(vibrato_probability=0.0))
    assert not np.any(perf.bend_cents_ms)


def test_dynamics_span_pp_to_ff_with_phrase_shapes_and_accents():
    tune = _tune(48)
    quiet = expression.perform(tune, _spec(dynamic='pp'))
    loud = expression.perform(tune, _spec(dynamic='ff'))
    assert np.mean(loud.velocities) - np.mean(quiet.velocities) > 45
    for perf in (quiet, loud):
        assert 1 <= perf.expression_ms.min() and perf.expression_ms.max() <= 127
        assert np.ptp(perf.expression_ms) > 15  # Crescendi and diminuendi.
        on = [int(round(e[0] * 1000)) for e in perf.events]
        steady, _ = expression.level_to_controls(perf.level_ms[on])
        assert np.any(np.array(perf.velocities) - steady >= 12)  # Some accents.
    # Level in dB follows 40 log10(CC11 / 127): the curve spans 22 dB from d = 0 to 1.
    _, lo = expression.level_to_controls(0.0)
    _, hi = expression.level_to_controls(1.0)
    assert 40 * np.log10(hi / lo) == pytest.approx(22.0, abs=0.5)


def test_articulation_legato_and_detached():
    tune = _tune(48)

    def gaps(articulation):
        events = expression.perform(tune, _spec(articulation=articulation)).events
        return np.array([b[0] - a[1] for a, b in zip(events, events[1:])])

    assert np.median(gaps('legato')) <= 0.016 + 1e-9
    assert np.median(gaps('detached')) > 0.1
    mixed = gaps('mixed')
    assert np.mean(mixed <= 0.016 + 1e-9) > 0.1 and np.mean(mixed > 0.1) > 0.1


def test_rests_give_silence_and_onsets():
    long_rests = 0
    for seed in range(8):
        perf = expression.perform(_tune(32), _spec(seed=seed))
        gaps = [b[0] - a[1] for a, b in zip(perf.events, perf.events[1:])]
        long_rests += sum(g >= 0.9 for g in gaps)
        assert perf.events[0][0] >= 0.3  # Lead-in silence.
    assert long_rests >= 3


def test_phrase_tempo_stays_near_the_given_tempo():
    tune = _tune(32)
    perf = expression.perform(tune, _spec(tempo_qpm=90.0))
    # Without rests the tune lasts 128 quarters at 90 qpm; phrases vary +-5 %, rests add time.
    played = perf.events[-1][1] - perf.events[0][0]
    assert 128 * 60 / 90 * 0.94 < played < 128 * 60 / 90 * 1.05 + 2.0 * 8


def test_midi_file_carries_bend_expression_and_notes(tmp_path):
    mido = pytest.importorskip('mido')
    from recipes.instruments.midi_render import write_midi

    perf = expression.perform(_tune(), _spec())
    path = tmp_path / 'tune.mid'
    sent = write_midi(
        path, 40, perf.events, perf.velocities, perf.bend_cents_ms, perf.expression_ms
    )
    messages = [m for m in mido.MidiFile(path) if not m.is_meta]
    kinds = collections.Counter(m.type for m in messages)
    assert kinds['note_on'] == kinds['note_off'] == len(perf.events)
    assert kinds['pitchwheel'] > 100 and np.max(np.abs(sent)) > 0
    controls = collections.Counter(m.control for m in messages if m.type == 'control_change')
    assert controls[11] > 50 and controls[101] == 2 and controls[6] == 1  # CC11; RPN 0 = 2.
    assert [m.program for m in messages if m.type == 'program_change'] == [40]
    velocities = [m.velocity for m in messages if m.type == 'note_on']
    assert velocities == perf.velocities


# ----------------------------------------------------------------------------------------------
# The release offset (recipe.json's `release`: the clarinet's training tunes ring on).
# ----------------------------------------------------------------------------------------------


def test_release_offsets_only_where_the_recipe_asks_and_only_for_training():
    setting = RECIPE['instruments']['clarinet']['release']
    lo, hi = setting['timecents']
    offsets = [s.release_timecents for s in tunes.specs('clarinet', 'train', RECIPE, TUNES)]
    assert offsets == [tunes.release_offset(setting, e['seed']) for e in TUNES['train']['clarinet']]
    longer = [o for o in offsets if o]
    assert 0 < len(longer) < len(offsets)  # Some of each, with probability 0.6.
    assert all(lo <= o <= hi and o % 2 == 0 for o in longer)
    assert all(s.release_timecents == 0 for s in tunes.specs('clarinet', 'eval', RECIPE, TUNES))
    assert all(s.release_timecents == 0 for s in tunes.specs('violin', 'train', RECIPE, TUNES))


def test_release_offset_draws_its_share_and_range():
    setting = {'probability': 0.6, 'timecents': [8400, 10400]}
    offsets = np.array([tunes.release_offset(setting, seed) for seed in range(2000)])
    assert abs(np.mean(offsets > 0) - 0.6) < 0.04  # 3.6 binomial standard deviations.
    assert offsets[offsets > 0].min() >= 8400 and offsets.max() <= 10400
    assert abs(np.mean(offsets[offsets > 0]) - 9400) < 60
    assert tunes.release_offset(dict(setting, probability=0.0), 5) == 0


def test_midi_file_carries_the_release_nrpn(tmp_path):
    mido = pytest.importorskip('mido')
    events, n_ms = [(0.2, 0.6, 62)], 1000
    path = tmp_path / 'note.mid'
    midi_render.write_midi(path, 71, events, [90], np.zeros(n_ms), np.full(n_ms, 100), 9000)
    controls = [(m.control, m.value) for m in mido.MidiFile(path) if m.type == 'control_change']
    # SF2.01 9.6: NRPN 120/38 (releaseVolEnv), data 8192 + 9000 / 2 = 12692 = 99 * 128 + 20.
    i = controls.index((99, 120))
    assert controls[i : i + 6] == [(99, 120), (98, 38), (38, 20), (6, 99), (99, 127), (98, 127)]
    midi_render.write_midi(path, 71, events, [90], np.zeros(n_ms), np.full(n_ms, 100))
    assert (99, 120) not in [
        (m.control, m.value) for m in mido.MidiFile(path) if m.type == 'control_change'
    ]
    with pytest.raises(ValueError, match='release offset'):
        midi_render.release_nrpn(0, 20000)


def _decay_db_per_10ms(audio, offset_s, sr=midi_render.SAMPLE_RATE):
    """Mean level drop (dB per 10 ms) over the 60 ms after a note-off, from 10 ms RMS frames."""
    hop = sr // 100
    start = int(offset_s * sr)
    frames = audio[start : start + 7 * hop].reshape(7, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    return (db[0] - db[-1]) / 6


def test_a_release_offset_makes_fluidsynth_s_clarinet_ring_on(tmp_path):
    """Rendered by FluidSynth: FluidR3's clarinet falls silent within about 20 ms of its
    note-off; with +9000 timecents its release decays at a few dB per 10 ms."""
    from recipes.instruments import render

    missing = render.check_requirements(RECIPE, ['FluidR3_GM'])
    if missing:
        pytest.skip('; '.join(missing))
    sf2, sr = RECIPE['soundfonts']['FluidR3_GM']['path'], midi_render.SAMPLE_RATE
    events, n_ms = [(0.2, 0.8, 62)], 1400
    rates = []
    for release in (0, 9000):
        path = tmp_path / f'note_{release}.mid'
        midi_render.write_midi(path, 71, events, [90], np.zeros(n_ms), np.full(n_ms, 100), release)
        audio = midi_render.render_midi(path, n_ms * sr // 1000, sf2)
        rates.append(_decay_db_per_10ms(audio, 0.8))
        held = audio[int(0.4 * sr) : int(0.7 * sr)]
        assert np.sqrt(np.mean(held**2)) > 1e-3  # The note sounds either way.
    assert rates[0] > 10.0  # Stops dead: more than 60 dB down in 60 ms.
    assert 1.0 < rates[1] < 8.0  # Rings on, as a played clarinet in a room.
