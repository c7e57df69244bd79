"""Which tunes each instrument plays: the reserved evaluation tunes and the training selection.

`recipe.json` (hand-written) names the instruments, the soundfonts, the corpus collections to
draw from, the reserved evaluation tunes and the sung melody. This module turns it into
`tunes.json` (generated, committed): for every instrument, the training tunes and the evaluation
renderings, each with its corpus reference, octave transposition, tempo, dynamic, articulation
and seed. Regenerate (deterministic; `--check` only compares):

    .venv/bin/python -m recipes.instruments.tunes [--check]

Training tunes are drawn from the music21 corpus collections `ryansMammoth`, `oneills1850` and
`airdsAirs` (the Essen collection is left out: its encodings are licensed for non-commercial
use only). A candidate is refused, besides being unparseable, too short or not monophonic, when
it is held out (`held_out_reason`): the same tune (collection and number; for O'Neill's, any file
holding that number), the same title (other settings of a reserved air, e.g. O'Neill's no. 8,
the second setting of no. 7), or the same melody under another name (a shared run of
`fingerprint_intervals` consecutive intervals, transposition-invariant). Tunes are then
transposed by whole octaves into the instrument's range, choosing the octave whose notes fall
where the instrument has played least so far, so that the whole range gets covered.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import re
import sys

import numpy as np

from recipes.instruments import expression
from recipes.instruments.midi_render import load_tune, write_if_changed

HERE = pathlib.Path(__file__).resolve().parent
RECIPE_PATH = HERE / 'recipe.json'
TUNES_PATH = HERE / 'tunes.json'
_STOP_WORDS = {'the', 'a', 'an', 'hornpipe', 'jig', 'reel', 'air', 'no'}
RELEASE_STREAM = 38  # Second word of the release draw's seed: a stream of its own per tune.


def load_recipe(path=RECIPE_PATH):
    """The hand-written recipe data (dict)."""
    return json.loads(pathlib.Path(path).read_text())


def load_tunes(path=TUNES_PATH):
    """The generated tune lists (dict: 'train' and 'eval', each {instrument: [entry, ...]})."""
    return json.loads(pathlib.Path(path).read_text())


# ----------------------------------------------------------------------------------------------
# Identity of a tune.
# ----------------------------------------------------------------------------------------------


def tune_key(corpus, number):
    """Identity of a tune across corpus files: O'Neill's numbers are unique over the collection
    (some numbers appear in two files, transcribed twice); elsewhere, the file and number."""
    collection = corpus.split('/')[0]
    if collection == 'oneills1850':
        return (collection, int(number))
    return (corpus, None if number is None else int(number))


def normal_title(title):
    """Title reduced to letters and digits, without articles and tune-type words."""
    words = re.findall(r'[a-z0-9]+', title.lower())
    return ''.join(w for w in words if w not in _STOP_WORDS)


def interval_ngrams(notes, n):
    """Set of the tune's runs of n consecutive pitch intervals (transposition-invariant)."""
    pitches = [p for _, _, p in notes]
    intervals = tuple(b - a for a, b in zip(pitches, pitches[1:]))
    return {intervals[i : i + n] for i in range(len(intervals) - n + 1)}


class HeldOut:
    """The tunes kept out of training: the reserved evaluation tunes and the sung melody."""

    def __init__(self, recipe, parse=load_tune):
        self.n = recipe['selection']['fingerprint_intervals']
        self.tunes = [dict(t, why='reserved for evaluation') for t in recipe['reserved']]
        self.tunes.append(dict(recipe['sung'], why='the sung melody'))
        self.keys = {tune_key(t['corpus'], t['number']): t for t in self.tunes}
        self.titles = {normal_title(t['title']): t for t in self.tunes}
        self.ngrams = []
        for t in self.tunes:
            notes = parse(t['corpus'], t['number']).notes
            self.ngrams.append((interval_ngrams(notes, self.n), t))

    def reason(self, corpus, number, title=None, notes=None):
        """Why the tune may not be used for training, or None if it may."""
        held = self.keys.get(tune_key(corpus, number))
        if held is not None:
            return f'is {held["source"]} ({held["why"]})'
        if title is not None and normal_title(title) in self.titles:
            held = self.titles[normal_title(title)]
            return f'has the title of {held["source"]} ({held["why"]})'
        if notes is not None:
            mine = interval_ngrams(notes, self.n)
            for ngrams, held in self.ngrams:
                if mine & ngrams:
                    return f'shares {self.n} intervals with {held["source"]} ({held["why"]})'
        return None


# ----------------------------------------------------------------------------------------------
# Candidates and selection.
# ----------------------------------------------------------------------------------------------


def corpus_dir():
    """Directory of the music21 corpus."""
    import music21

    return pathlib.Path(music21.__file__).parent / 'corpus'


def candidates(collection):
    """[(corpus_path, number)] of a collection, one per tune identity, in file order."""
    seen, out = set(), []
    for path in sorted((corpus_dir() / collection).glob('*.abc')):
        numbers = [int(x) for x in re.findall(r'^X:\s*(\d+)', path.read_text('latin-1'), re.M)]
        rel = f'{collection}/{path.name}'
        for number in numbers:
            entry = (rel, None if len(numbers) == 1 and collection == 'ryansMammoth' else number)
            key = tune_key(*entry)
            if key not in seen:
                seen.add(key)
                out.append(entry)
    return out


def slug(text, limit=36):
    """File-name-safe lower-case words joined by underscores."""
    return '_'.join(re.findall(r'[a-z0-9]+', text.lower()))[:limit].strip('_') or 'tune'


def fitting_shifts(pitches, pitch_range):
    """Whole-octave transpositions (semitones) that put all pitches inside pitch_range."""
    lo, hi = pitch_range
    return [
        12 * k for k in range(-4, 5) if min(pitches) + 12 * k >= lo and max(pitches) + 12 * k <= hi
    ]


def _spec(name, instrument, info, entry):
    return expression.TuneSpec(
        name=name,
        instrument=instrument,
        program=info['program'],
        pitch_range=tuple(info['range']),
        corpus=entry['corpus'],
        number=entry['number'],
        transpose=entry['transpose'],
        tempo_qpm=entry['tempo_qpm'],
        seed=entry['seed'],
        dynamic=entry['dynamic'],
        articulation=entry['articulation'],
        vibrato_probability=info['vibrato_probability'],
        end_quarter=entry.get('end_quarter'),
    )


def fit_length(tune, name, instrument, info, entry, max_seconds):
    """Sets entry['end_quarter'] (a bar start) so the performance lasts at most max_seconds;
    returns the Performance."""
    entry['end_quarter'] = None
    performance = expression.perform(tune, _spec(name, instrument, info, entry))
    bars = [b for b in tune.bar_starts if b > tune.notes[0][0]]
    while performance.duration_s > max_seconds and bars:
        entry['end_quarter'] = bars.pop()
        performance = expression.perform(tune, _spec(name, instrument, info, entry))
    return performance


def _tempo(notes, rng):
    """Quarter notes per minute: a typical note lasts 0.13-0.6 s (lively, moderate or slow)."""
    median_quarters = float(np.median([d for _, d, _ in notes]))
    lo, hi = [(0.13, 0.2), (0.2, 0.35), (0.35, 0.6)][rng.choice(3, p=[0.3, 0.4, 0.3])]
    note_s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(np.clip(round(60.0 * median_quarters / note_s), 40, 220))


def select_training(instrument, info, recipe, held_out, parse_cache):
    """Training entries for one instrument, until `selection.train_seconds` are reached."""
    sel = recipe['selection']
    rng = np.random.default_rng(info['seed'])
    pools = {}
    for collection in sel['collections']:
        pool = candidates(collection)
        pools[collection] = [pool[i] for i in rng.permutation(len(pool))]
    names, weights = list(sel['collections']), np.array(list(sel['collections'].values()))
    dynamics = [d for _ in range(99) for d in rng.permutation(list(expression.DYNAMIC_LEVELS))]
    styles = ['legato', 'legato', 'mixed', 'mixed', 'mixed', 'detached']
    articulations = [a for _ in range(99) for a in rng.permutation(styles)]
    coverage = np.zeros(128)  # Seconds played per MIDI pitch.
    entries, fingerprints, total = [], set(), 0.0
    while total < sel['train_seconds']:
        collection = names[rng.choice(len(names), p=weights / weights.sum())]
        if not pools[collection]:
            raise RuntimeError(f'{instrument}: ran out of {collection} tunes')
        corpus, number = pools[collection].pop()
        if held_out.reason(corpus, number) is not None:
            continue
        key = (corpus, number)
        if key not in parse_cache:
            try:
                parse_cache[key] = load_tune(corpus, number)
            except Exception as error:  # noqa: BLE001  Unparseable ABC: skip the tune.
                parse_cache[key] = error
        tune = parse_cache[key]
        if isinstance(tune, Exception) or len(tune.notes) < sel['min_notes']:
            continue
        if held_out.reason(corpus, number, tune.title, tune.notes) is not None:
            continue
        mine = interval_ngrams(tune.notes, sel['fingerprint_intervals'])
        if mine & fingerprints:  # The same melody already chosen under another name.
            continue
        shifts = fitting_shifts([p for _, _, p in tune.notes], info['range'])
        if not shifts:
            continue
        seconds = np.array([d for _, d, _ in tune.notes])
        scores = [
            float(np.sum(coverage[[p + s for _, _, p in tune.notes]] * seconds) / seconds.sum())
            + 1e-6 * rng.uniform()
            for s in shifts
        ]
        transpose = shifts[int(np.argmin(scores))]
        index = len(entries)
        entry = dict(
            name=f'{index:02d}_{slug(tune.title)}',
            corpus=corpus,
            number=number,
            title=tune.title,
            transpose=transpose,
            tempo_qpm=_tempo(tune.notes, rng),
            seed=int(info['seed'] * 1000 + index),
            dynamic=str(dynamics[index]),
            articulation=str(articulations[index]),
        )
        try:
            performance = fit_length(
                tune, entry['name'], instrument, info, entry, sel['max_tune_seconds']
            )
        except ValueError:  # Not monophonic once scheduled.
            continue
        for on, off, p in performance.events:
            coverage[p] += off - on
        fingerprints |= mine
        entry['duration_s'] = round(performance.duration_s, 3)
        pitches = [p for _, _, p in performance.events]
        entry['pitches'] = [min(pitches), max(pitches)]
        entries.append(entry)
        total += performance.duration_s
    return entries


def eval_entries(instrument, info, recipe, index):
    """The reserved tunes for one instrument: octave nearest the middle of its range."""
    ev = recipe['eval']
    entries = []
    for i, reserved in enumerate(recipe['reserved']):
        tune = load_tune(reserved['corpus'], reserved['number'])
        pitches = [p for _, _, p in tune.notes]
        centre = 0.5 * sum(info['range'])
        shifts = fitting_shifts(pitches, info['range'])
        transpose = min(shifts, key=lambda s: (abs(np.mean(pitches) + s - centre), s))
        number = reserved['number']
        name = slug(reserved['corpus'].split('/')[0] + (f'_{number:03d}' if number else ''))
        entry = dict(
            name=f'{name}_{slug(reserved["title"], 24)}',
            corpus=reserved['corpus'],
            number=number,
            title=tune.title,
            transpose=transpose,
            tempo_qpm=float(reserved['tempo_qpm']),
            seed=int(ev['seed'] + 100 * index + i),
            dynamic=ev['dynamics'][i % len(ev['dynamics'])],
            articulation=ev['articulation'],
        )
        performance = fit_length(
            tune, entry['name'], instrument, info, entry, ev['max_tune_seconds']
        )
        entry['duration_s'] = round(performance.duration_s, 3)
        entry['pitches'] = [
            min(p for *_, p in performance.events),
            max(p for *_, p in performance.events),
        ]
        entries.append(entry)
    return entries


def generate(recipe):
    """The whole tunes.json content (dict)."""
    import music21

    held_out = HeldOut(recipe)
    cache = {}
    train, evaluation = {}, {}
    for index, (instrument, info) in enumerate(recipe['instruments'].items()):
        train[instrument] = select_training(instrument, info, recipe, held_out, cache)
        evaluation[instrument] = eval_entries(instrument, info, recipe, index)
    return {
        'about': 'Generated by `python -m recipes.instruments.tunes` from recipe.json; do not '
        'edit. tempo_qpm: quarter notes per minute; transpose: semitones; end_quarter: the '
        'tune is cut before this offset (quarters); duration_s: length of the rendered file.',
        'music21_version': music21.__version__,
        'train': train,
        'eval': evaluation,
    }


def specs(instrument, split, recipe=None, tunes=None):
    """[TuneSpec] of one instrument's 'train' or 'eval' tunes, from tunes.json."""
    recipe = recipe or load_recipe()
    tunes = tunes or load_tunes()
    info = recipe['instruments'][instrument]
    out = [_spec(e['name'], instrument, info, e) for e in tunes[split][instrument]]
    if split == 'train' and 'release' in info:
        out = [
            dataclasses.replace(s, release_timecents=release_offset(info['release'], s.seed))
            for s in out
        ]
    return out


def release_offset(setting, seed):
    """Timecents added to the soundfont's release for one training tune (0: its own release).

    `setting` is an instrument's `release` entry, {"probability": p, "timecents": [lo, hi]}:
    with probability p the tune's notes ring on after their note-off, by an offset drawn
    uniformly in [lo, hi] (even, as the NRPN carries half of it). The draw has its own random
    stream (seeded by the tune's seed and RELEASE_STREAM), so the performance is unchanged.
    """
    rng = np.random.default_rng([seed, RELEASE_STREAM])
    if rng.uniform() >= setting['probability']:
        return 0
    lo, hi = setting['timecents']
    return 2 * int(rng.integers(lo // 2, hi // 2 + 1))


def _source(entry):
    collection = entry['corpus'].split('/')[0]
    if collection == 'oneills1850':
        return f"O'Neill's no. {entry['number']}"
    if collection == 'airdsAirs':
        book = re.findall(r'\d+', entry['corpus'].split('/')[1])[0]
        return f"Aird's vol. {book} no. {entry['number']}"
    return f"Ryan's Mammoth: `{entry['corpus'].split('/')[1]}`"


def markdown(tune_lists):
    """The tune lists as Markdown tables (for README.md)."""
    lines = []
    for split, heading in (('train', 'Training tunes'), ('eval', 'Reserved evaluation tunes')):
        for instrument, entries in tune_lists[split].items():
            minutes = sum(e['duration_s'] for e in entries) / 60
            lines += [
                f'#### {heading}: {instrument} ({len(entries)} tunes, {minutes:.1f} min)',
                '',
                '| file | title | source | octaves | q/min | dynamic | articulation | s |',
                '|---|---|---|---|---|---|---|---|',
            ]
            for e in entries:
                cut = '' if e['end_quarter'] is None else f' (to quarter {e["end_quarter"]:g})'
                lines.append(
                    f'| {e["name"]} | {e["title"]}{cut} | {_source(e)} | '
                    f'{e["transpose"] // 12:+d} | {e["tempo_qpm"]:g} | {e["dynamic"]} | '
                    f'{e["articulation"]} | {e["duration_s"]:.1f} |'
                )
            lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Writes recipes/instruments/tunes.json.')
    parser.add_argument('--check', action='store_true', help='Compare only; exit 1 if different.')
    parser.add_argument('--markdown', action='store_true', help='Print the lists as Markdown.')
    parser.add_argument('--output', default=str(TUNES_PATH))
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(load_tunes(args.output)))
        return 0
    text = json.dumps(generate(load_recipe()), indent=1, ensure_ascii=False) + '\n'
    if args.check:
        same = os.path.exists(args.output) and pathlib.Path(args.output).read_text() == text
        print(f'{args.output}: {"up to date" if same else "DIFFERS from the recipe"}')
        return 0 if same else 1
    written = write_if_changed(args.output, text.encode())
    print(f'{args.output}: {"written" if written else "unchanged"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
