"""Renders the pretrained instruments' training and evaluation audio (see README.md here).

    .venv/bin/python -m recipes.instruments.render --output build/instruments \
        [--instruments violin,flute] [--split train|eval|all] [--force]

For every instrument of recipe.json and every tune of tunes.json, writes

    <output>/<instrument>/train/<tune>.flac            FluidR3_GM (the training soundfont)
    <output>/<instrument>/eval/<soundfont>/<tune>.flac  the reserved tunes, both soundfonts

16 kHz mono 16-bit FLAC, each with `<tune>.npz` (ground truth, fields below) and `<tune>.mid`
(the MIDI file FluidSynth played), plus `<output>/<instrument>/summary.json`. Every file is
written whole (temp file + os.replace) and only if its bytes change; a tune whose .npz carries
the same `recipe_hash` (the tune's entry, the soundfont file, the rendering code) is skipped
without rendering. `--force` renders everything again (and still rewrites only what changed).

Level: one gain per instrument and soundfont, the same for all its tunes, so that pp tunes stay
quiet: a reference phrase (six mf notes spread over the range, no vibrato) is rendered and the
gain sets its RMS to the instrument's `reference_dbfs` (recipe.json: chosen so that the loudest
ff note of its tunes, on either soundfont, peaks near -1 dBFS). A tune that would clip is an
error.

Ground truth in each .npz (arrays at 100 frames/s, frame t at t / 100 s), as in
tests/data/render_instruments.py: f0_hz, mask, held, bend_cents, expression, velocity, notes
[N, 4] (onset_s, offset_s, midi, velocity); and level (the dynamic level 0-1 per frame), phrases
[P, 2] (s), frame_rate, sample_rate, n_samples, gain, program, transpose, tempo_qpm, seed,
release_timecents, end_quarter (-1: whole tune), strings title, corpus, number, instrument,
soundfont, dynamic, articulation, recipe_hash.

Release: an instrument's optional `release` entry in recipe.json lengthens the release of its
notes in a share of its training tunes (`tunes.release_offset`, `midi_render.release_nrpn`; why:
README.md here, "Release"). Evaluation audio keeps each soundfont's own.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

from recipes.instruments import expression, midi_render, tunes

CLIP_LIMIT = 0.999  # A rendered peak above this (after the gain) is an error.
SPLITS = ('train', 'eval')


def check_requirements(recipe, soundfonts):
    """[problem lines]: fluidsynth, the soundfonts and the Python packages this needs."""
    import importlib.util
    import shutil

    problems = []
    apt = set()
    if shutil.which('fluidsynth') is None:
        problems.append('fluidsynth is not installed')
        apt.add('fluidsynth')
    for name in soundfonts:
        info = recipe['soundfonts'][name]
        if not os.path.exists(info['path']):
            problems.append(f'soundfont {name} ({info["path"]}) is not installed')
            apt.add(info['debian_package'])
    if apt:
        problems.append(
            'install with: apt-get install -y --no-install-recommends ' + ' '.join(sorted(apt))
        )
    missing = [m for m in ('mido', 'music21') if importlib.util.find_spec(m) is None]
    if missing:
        problems.append(f'{", ".join(missing)} missing: .venv/bin/pip install mido music21')
    return problems


def recipe_hash(spec, soundfont_path, reference_dbfs):
    """Identity of one rendering: the tune spec, the soundfont file, the level and the code."""
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode())
    digest.update(f'{reference_dbfs}'.encode())
    real = os.path.realpath(soundfont_path)
    digest.update(f'{os.path.basename(real)}:{os.path.getsize(real)}'.encode())
    for module in (midi_render, expression):
        digest.update(pathlib.Path(module.__file__).read_bytes())
    return digest.hexdigest()[:20]


def _render(
    program, events, velocities, bend_ms, expression_ms, n_samples, soundfont, release_timecents=0
):
    """(audio float64 [n_samples] before the gain, MIDI file bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = pathlib.Path(tmp) / 'tune.mid'
        midi_render.write_midi(
            midi_path, program, events, velocities, bend_ms, expression_ms, release_timecents
        )
        audio = midi_render.render_midi(midi_path, n_samples, soundfont)
        return audio, midi_path.read_bytes()


_GAINS = {}


def calibrated_gain(program, pitch_range, soundfont, reference_dbfs):
    """Gain that puts the mf reference phrase at reference_dbfs RMS (cached per process)."""
    key = (program, tuple(pitch_range), os.path.realpath(soundfont), reference_dbfs)
    if key not in _GAINS:
        lo, hi = pitch_range
        pitches = np.round(np.linspace(lo + 3, hi - 3, 6)).astype(int)
        events = [(0.3 + 1.5 * i, 1.5 + 1.5 * i, int(p)) for i, p in enumerate(pitches)]
        velocity, cc11 = expression.level_to_controls(expression.DYNAMIC_LEVELS['mf'])
        n_ms = int(1000 * (events[-1][1] + 1.0))
        n_samples = n_ms * midi_render.SAMPLE_RATE // 1000
        audio, _ = _render(
            program,
            events,
            [int(velocity)] * len(events),
            np.zeros(n_ms),
            np.full(n_ms, int(cc11)),
            n_samples,
            soundfont,
        )
        sr = midi_render.SAMPLE_RATE
        inside = np.concatenate(
            [audio[int((on + 0.1) * sr) : int(off * sr)] for on, off, _ in events]
        )
        rms = float(np.sqrt(np.mean(inside**2)))
        if rms == 0:
            raise RuntimeError(f'{soundfont}: program {program} rendered silence')
        _GAINS[key] = 10 ** (reference_dbfs / 20) / rms
    return _GAINS[key]


def render_tune(spec, soundfont_name, soundfont_path, reference_dbfs, out_dir, force=False):
    """Renders one tune to out_dir/<name>.{flac,npz,mid}; returns 'rendered' | 'unchanged' |
    'skipped' (the .npz already carries this recipe_hash)."""
    out_dir = pathlib.Path(out_dir)
    flac_path, npz_path, mid_path = (out_dir / f'{spec.name}.{x}' for x in ('flac', 'npz', 'mid'))
    digest = recipe_hash(spec, soundfont_path, reference_dbfs)
    if not force and flac_path.exists() and mid_path.exists() and npz_path.exists():
        try:
            with np.load(npz_path) as old:
                if str(old['recipe_hash']) == digest:
                    return 'skipped'
        except Exception:  # noqa: BLE001  An unreadable .npz is rendered again.
            pass
    tune = midi_render.load_tune(spec.corpus, spec.number)
    perf = expression.perform(tune, spec)
    audio, midi_bytes = _render(
        spec.program,
        perf.events,
        perf.velocities,
        perf.bend_cents_ms,
        perf.expression_ms,
        perf.n_samples,
        soundfont_path,
        spec.release_timecents,
    )
    gain = calibrated_gain(spec.program, spec.pitch_range, soundfont_path, reference_dbfs)
    audio = audio * gain
    peak = float(np.max(np.abs(audio)))
    if peak > CLIP_LIMIT:
        raise RuntimeError(f'{spec.name}: peak {peak:.3f} would clip; lower reference_dbfs')
    truth = midi_render.ground_truth(
        perf.events, perf.velocities, perf.bend_cents_ms, perf.expression_ms, perf.n_samples
    )
    ms = np.minimum(np.arange(len(truth['f0_hz'])) * 10, len(perf.level_ms) - 1)
    notes = np.array(
        [(on, off, p, v) for (on, off, p), v in zip(perf.events, perf.velocities)], np.float64
    )
    arrays = dict(
        **truth,
        level=perf.level_ms[ms].astype(np.float32),
        notes=notes,
        phrases=np.array(perf.phrases, np.float64),
        frame_rate=np.int32(midi_render.FRAME_RATE),
        sample_rate=np.int32(midi_render.SAMPLE_RATE),
        n_samples=np.int64(perf.n_samples),
        gain=np.float64(gain),
        program=np.int32(spec.program),
        transpose=np.int32(spec.transpose),
        tempo_qpm=np.float64(spec.tempo_qpm),
        seed=np.int64(spec.seed),
        release_timecents=np.int32(spec.release_timecents),
        end_quarter=np.float64(-1 if spec.end_quarter is None else spec.end_quarter),
        title=np.str_(tune.title),
        corpus=np.str_(spec.corpus),
        number=np.str_('' if spec.number is None else str(spec.number)),
        instrument=np.str_(spec.instrument),
        soundfont=np.str_(soundfont_name),
        dynamic=np.str_(spec.dynamic),
        articulation=np.str_(spec.articulation),
        recipe_hash=np.str_(digest),
    )
    changed = midi_render.write_if_changed(
        flac_path, midi_render.flac_bytes(midi_render.to_pcm16(audio))
    )
    changed |= midi_render.write_if_changed(mid_path, midi_bytes)
    changed |= midi_render.write_if_changed(npz_path, midi_render.npz_bytes(arrays))
    return 'rendered' if changed else 'unchanged'


def audio_summary(flac_paths):
    """Minutes, RMS levels (dBFS, 64 ms frames every 10 ms inside notes: 5/50/95th percentile)
    and MIDI pitch range of rendered files (read back from disk)."""
    import soundfile as sf

    seconds, levels, pitches, gains = 0.0, [], [], []
    for path in flac_paths:
        audio, sr = sf.read(path, dtype='float32')
        seconds += len(audio) / sr
        with np.load(pathlib.Path(path).with_suffix('.npz')) as truth:
            held = truth['held']
            pitches.extend(truth['notes'][:, 2].astype(int).tolist())
            gains.append(float(truth['gain']))
        hop, win = sr // 100, 1024
        padded = np.pad(audio, (win // 2, win // 2))
        n = min(len(held), (len(padded) - win) // hop + 1)
        frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:n]
        rms_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        levels.append(rms_db[held[:n]])
    levels = np.concatenate(levels) if levels else np.zeros(1)
    return dict(
        minutes=round(seconds / 60, 2),
        files=len(flac_paths),
        pitch_min=int(min(pitches)) if pitches else None,
        pitch_max=int(max(pitches)) if pitches else None,
        gain_db=round(20 * float(np.log10(gains[0])), 2) if gains else None,
        level_dbfs_p5_p50_p95=[round(float(np.percentile(levels, q)), 1) for q in (5, 50, 95)],
    )


def main(argv=None):
    recipe = tunes.load_recipe()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--output', default='build/instruments', help='Output directory.')
    parser.add_argument(
        '--instruments',
        default=','.join(recipe['instruments']),
        help='Comma-separated (default: all of recipe.json).',
    )
    parser.add_argument('--split', default='all', choices=('train', 'eval', 'all'))
    parser.add_argument('--force', action='store_true', help='Render even if up to date.')
    args = parser.parse_args(argv)
    instruments = [i for i in args.instruments.split(',') if i]
    unknown = sorted(set(instruments) - set(recipe['instruments']))
    if unknown:
        parser.error(f'unknown instruments {unknown}; known: {", ".join(recipe["instruments"])}')
    splits = SPLITS if args.split == 'all' else (args.split,)
    soundfonts = set()
    if 'train' in splits:
        soundfonts.add(recipe['train_soundfont'])
    if 'eval' in splits:
        soundfonts.update(recipe['eval_soundfonts'])
    problems = check_requirements(recipe, sorted(soundfonts))
    if problems:
        print('render: cannot render:\n  ' + '\n  '.join(problems), file=sys.stderr)
        return 2
    tune_lists = tunes.load_tunes()
    started = time.perf_counter()
    for instrument in instruments:
        t0 = time.perf_counter()
        jobs = []  # (split label, soundfont name, out_dir, specs)
        root = pathlib.Path(args.output) / instrument
        if 'train' in splits:
            specs = tunes.specs(instrument, 'train', recipe, tune_lists)
            jobs.append(('train', recipe['train_soundfont'], root / 'train', specs))
        if 'eval' in splits:
            specs = tunes.specs(instrument, 'eval', recipe, tune_lists)
            for name in recipe['eval_soundfonts']:
                jobs.append((f'eval/{name}', name, root / 'eval' / name, specs))
        summary = {}
        for label, sf_name, out_dir, specs in jobs:
            sf_path = recipe['soundfonts'][sf_name]['path']
            counts = {}
            for spec in specs:
                reference = recipe['instruments'][instrument]['reference_dbfs']
                status = render_tune(spec, sf_name, sf_path, reference, out_dir, args.force)
                counts[status] = counts.get(status, 0) + 1
            stats = audio_summary([out_dir / f'{s.name}.flac' for s in specs])
            stats['status'] = counts
            summary[label] = stats
            lo, hi = stats['level_dbfs_p5_p50_p95'][0], stats['level_dbfs_p5_p50_p95'][2]
            print(
                f'{instrument:9s} {label:24s} {stats["minutes"]:6.2f} min in {stats["files"]:2d} '
                f'files, MIDI {stats["pitch_min"]}-{stats["pitch_max"]}, level {lo:.1f} to '
                f'{hi:.1f} dBFS (5-95 %), '
                + ', '.join(f'{v} {k}' for k, v in sorted(counts.items())),
                flush=True,
            )
        summary_path = root / 'summary.json'
        old = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        for stats in summary.values():
            stats.pop('status')
        old.update(summary)
        midi_render.write_if_changed(summary_path, (json.dumps(old, indent=1) + '\n').encode())
        print(f'{instrument:9s} done in {time.perf_counter() - t0:.1f} s', flush=True)
    print(f'render: {time.perf_counter() - started:.1f} s in all')
    return 0


if __name__ == '__main__':
    sys.exit(main())
