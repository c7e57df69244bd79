r"""Held-out and timbre-transfer evaluation of the pretrained instruments; fills their cards.

Held-out resynthesis: each reserved tune (never in training), on the training soundfont and
on a second one, has its f0 (CREPE) and loudness taken as in training and is rendered by the
model; `metrics.resynthesis_metrics` compares the rendering with the original: loudness L1
(dB, all frames), f0 L1 (semitones, frames where the original's CREPE confidence >= 0.85),
outliers, the share of those frames confidently pitched in the output, the median error.

Timbre transfer: the sung melody (data/voice, not used in training) through
`timbre_transfer.transfer` with the default adjustment, then with pitch_shift +1 and -1,
loudness_shift -10 and quiet 0: the output's CREPE f0 against the adjusted input f0 on
note-on frames, the shifts measured on the outputs against the unshifted output (the octave
shifts on the note-on frames whose adjusted pitch, shifted and not, CREPE can read: a
semitone inside its bins, 31.70-2005.50 Hz, see `_readable_by_crepe`); the note-off
attenuation on the note-off frames loud enough at quiet 0 for 20 dB less to stay above the
loudness floor (the pauses of a clip are not).

  python -m recipes.instruments.evaluate --instruments violin --write_cards
  python -m recipes.instruments.evaluate --crepe tiny          # quicker, coarser

Prints one table row per instrument and soundfont, and per instrument for the transfer;
--write_cards stores them in each model card's `metrics` (`held_out`, `transfer`), with the
learned reverb's length and decay (`reverb`, see `reverb_decay`).
"""

import argparse
import glob
import json
import os
import time
from typing import Dict, Sequence, Text

import numpy as np

from recipes.instruments import train, tunes

VOICE = os.path.join(train.ROOT, 'data', 'voice', 'londonderry_air_sung.flac')
DEFAULT_TRANSFER = {'threshold': 1.0, 'quiet': 20.0, 'autotune': 0.0}


def held_out(instrument, paths: Sequence[Text], crepe: Text = 'full') -> Dict:
    """`resynthesis_metrics` of the model's renderings of `paths` (their f0 and loudness)."""
    from ddsp import audio_io
    from ddsp.training import metrics

    truths, renders, seconds = [], [], 0.0
    for path in paths:
        audio, rate, _ = audio_io.read_audio(path)
        truth = instrument.compute_features(audio, rate, crepe_model=crepe)
        renders.append(instrument.resynthesize(truth, n_samples=len(truth['audio'])))
        truths.append(truth)
        seconds += len(truth['audio']) / instrument.sample_rate
    result = metrics.resynthesis_metrics(
        truths, renders, instrument.sample_rate, instrument.frame_rate, crepe
    )
    result['f0_l1_semitones'] = result.pop('f0_l1_midi')
    return dict(result, files=len(paths), seconds=round(seconds, 1))


def reverb_decay(ir, sample_rate: int) -> Dict:
    """How the learned reverb's impulse response `ir` [n] decays: its length (ms), its energy
    (dB, 0 dB = a unit impulse, i.e. as loud as the direct sound it is added to) and that of
    each quarter, and `decay_db`, the first quarter's energy minus the last's."""
    ir = np.asarray(ir, np.float64).reshape(-1)
    quarters = [10.0 * np.log10(np.sum(q**2) + 1e-12) for q in np.array_split(ir, 4)]
    return {
        'length_ms': round(1000.0 * len(ir) / sample_rate, 1),
        'energy_db': round(float(10.0 * np.log10(np.sum(ir**2) + 1e-12)), 2),
        'quarters_db': [round(float(q), 2) for q in quarters],
        'decay_db': round(float(quarters[0] - quarters[-1]), 2),
    }


def _cents(f0_hz) -> np.ndarray:
    f0 = np.asarray(f0_hz, np.float64).reshape(-1)
    return np.where(f0 > 0, 1200.0 * np.log2(np.maximum(f0, 1e-9) / 440.0), np.nan)


# Within a semitone of CREPE's first or last bin its weighted average loses the bins past the
# end and reads the pitch too close to the middle; outside them it reads another pitch.
CREPE_EDGE_CENTS = 100.0


def _readable_by_crepe(cents) -> np.ndarray:
    """Whether each pitch (cents above A4, NaN for none) lies inside CREPE's bins by at least
    `CREPE_EDGE_CENTS`."""
    from ddsp.crepe import constants

    low, high = _cents(constants.bin_range_hz())
    with np.errstate(invalid='ignore'):
        return (cents >= low + CREPE_EDGE_CENTS) & (cents <= high - CREPE_EDGE_CENTS)


def _output_features(result, crepe: Text) -> Dict:
    from ddsp.training import metrics

    return metrics.compute_audio_features(
        result.model_audio,
        frame_rate=result.frame_rate,
        sample_rate=result.model_sample_rate,
        model_capacity=crepe,
    )


def transfer_checks(
    instrument, audio, rate: int, crepe: Text = 'full', input_crepe: Text = 'full'
) -> Dict:
    """The transfer measures of the module doc for one instrument (an `Instrument`): the
    input's f0 by CREPE `input_crepe` (once), the outputs' by CREPE `crepe`."""
    from ddsp.core import DB_RANGE
    from ddsp.training import timbre_transfer

    features = None

    def run(**settings):
        result = timbre_transfer.transfer(
            audio,
            rate,
            instrument,
            crepe_model=input_crepe,
            features=features,
            **dict(DEFAULT_TRANSFER, **settings),
        )
        return result, _output_features(result, crepe)

    base, base_out = run()
    features = base.features
    on = base.mask_on[: len(base_out['f0_hz'])]
    target = _cents(base.adjusted['f0_hz'])[: len(on)]
    error = np.abs(_cents(base_out['f0_hz'])[: len(on)] - target)[on]
    row = {
        'note_on_frames': int(on.sum()),
        'f0_within_50_cents_of_adjusted': float(np.mean(error < 50)),
        'f0_median_error_cents': float(np.nanmedian(error)),
    }
    base_cents = _cents(base_out['f0_hz'])[: len(on)]
    readable = _readable_by_crepe(target)
    for shift in (1, -1):
        shifted, out = run(pitch_shift=shift)
        # Frames whose pitch CREPE can read before and after the shift (an octave up puts the
        # flute's transfer at MIDI 90-100, and CREPE reads nothing above MIDI 95.26).
        measured = on & readable & _readable_by_crepe(_cents(shifted.adjusted['f0_hz'])[: len(on)])
        moved = (_cents(out['f0_hz'])[: len(on)] - base_cents)[measured]
        row[f'pitch_shift_{shift:+d}_median_cents'] = float(np.nanmedian(moved))
        row[f'pitch_shift_{shift:+d}_frames'] = int(measured.sum())
    _, quieter = run(loudness_shift=-10.0)
    drop = (quieter['loudness_db'][: len(on)] - base_out['loudness_db'][: len(on)])[on]
    row['loudness_shift_-10_db'] = float(np.mean(drop))
    f0_moved = np.abs(_cents(quieter['f0_hz'])[: len(on)] - base_cents)[on]
    row['loudness_shift_-10_f0_median_cents'] = float(np.nanmedian(f0_moved))
    loud_off, loud_off_out = run(quiet=0.0)
    # Note-off frames where the attenuation can be measured: loudness has a floor at -DB_RANGE
    # dB, and most note-off frames of a clip (pauses) already sit 10-15 dB above it at quiet 0,
    # so turning them down by 20 dB cannot show. Measured: frames whose quiet-0 output is at
    # least quiet + 10 dB above the floor.
    quiet = DEFAULT_TRANSFER['quiet']
    off = ~on & (loud_off_out['loudness_db'][: len(on)] >= quiet + 10.0 - DB_RANGE)
    row['quiet_20_frames'] = int(off.sum())
    row['quiet_20_input_db'] = float(
        np.mean((base.adjusted['loudness_db'] - loud_off.adjusted['loudness_db'])[: len(on)][off])
    )
    row['quiet_20_output_db'] = float(
        np.mean((base_out['loudness_db'] - loud_off_out['loudness_db'])[: len(on)][off])
    )
    row['notes_detected'] = base.notes_detected
    return row


def _fmt(value) -> Text:
    if isinstance(value, float):
        return f'{value:.3f}'
    return str(value)


HELD_OUT_COLUMNS = (
    ('seconds', 'audio (s)', '{:.0f}'),
    ('loudness_l1_db', 'loudness L1 (dB)', '{:.2f}'),
    ('f0_l1_semitones', 'f0 L1 (semitones)', '{:.3f}'),
    ('f0_outlier_ratio', 'outliers', '{:.3f}'),
    ('f0_confident_ratio', 'confidently pitched', '{:.1%}'),
    ('f0_median_cents', 'median f0 error (c)', '{:.1f}'),
)
TRANSFER_COLUMNS = (
    ('f0_within_50_cents_of_adjusted', 'f0 within 50 c of adjusted', '{:.1%}'),
    ('pitch_shift_+1_median_cents', 'pitch_shift +1 (c)', '{:+.0f}'),
    ('pitch_shift_+1_frames', 'on frames', '{:d}'),
    ('pitch_shift_-1_median_cents', 'pitch_shift -1 (c)', '{:+.0f}'),
    ('pitch_shift_-1_frames', 'on frames', '{:d}'),
    ('loudness_shift_-10_db', 'loudness_shift -10 (dB)', '{:+.1f}'),
    ('loudness_shift_-10_f0_median_cents', 'f0 moved by it (c)', '{:.1f}'),
    ('quiet_20_input_db', 'note-offs, quiet 20: input (dB)', '{:+.1f}'),
    ('quiet_20_output_db', 'output (dB)', '{:+.1f}'),
)


def _cell(row: Dict, key: Text, fmt: Text) -> Text:
    value = row.get(key)
    return fmt.format(value) if isinstance(value, (int, float)) else '-'


def tables(cards: Sequence) -> Text:
    """Markdown tables of the cards' held-out and transfer metrics, size and training."""
    lines = [
        '| model | parameters | size (MB) | steps | training (min) | hardware '
        '| reverb IR (ms) | IR decay (dB) |'
    ]
    lines.append('|---|---|---|---|---|---|---|---|')
    for card in cards:
        minutes = f'{card.training_seconds / 60:.0f}' if card.training_seconds else '-'
        reverb = card.metrics.get('reverb') or {}
        lines.append(
            f'| {card.name} | {card.parameter_count:,} | {card.size_bytes / 1e6:.2f} | '
            f'{card.training_steps} | {minutes} | {card.training_hardware} | '
            f'{_cell(reverb, "length_ms", "{:.0f}")} | {_cell(reverb, "decay_db", "{:.1f}")} |'
        )
    lines += ['', '| model | soundfont | ' + ' | '.join(c[1] for c in HELD_OUT_COLUMNS) + ' |']
    lines.append('|---|---|' + '---|' * len(HELD_OUT_COLUMNS))
    for card in cards:
        held_out_rows = card.metrics.get('held_out') or {}
        for soundfont, row in held_out_rows.items():
            if isinstance(row, dict):
                cells = ' | '.join(_cell(row, k, f) for k, _, f in HELD_OUT_COLUMNS)
                lines.append(f'| {card.name} | {soundfont} | {cells} |')
    lines += ['', '| model | ' + ' | '.join(c[1] for c in TRANSFER_COLUMNS) + ' |']
    lines.append('|---|' + '---|' * len(TRANSFER_COLUMNS))
    for card in cards:
        row = card.metrics.get('transfer') or {}
        cells = ' | '.join(_cell(row, k, f) for k, _, f in TRANSFER_COLUMNS)
        lines.append(f'| {card.name} | {cells} |')
    return '\n'.join(lines) + '\n'


README_MARKERS = ('<!-- pretrained-tables -->\n', '<!-- /pretrained-tables -->')


def paste_tables(readme: Text, text: Text) -> Text:
    """`readme`'s text with `text` in place of what stands between the README_MARKERS."""
    start, end = README_MARKERS
    head, rest = readme.split(start, 1)
    return head + start + text + end + rest.split(end, 1)[1]


def write_tables(models: Text, readme: Text = os.path.join(train.ROOT, 'README.md')) -> Text:
    """Writes `<models>/README.md`, every model card's metrics as tables, and pastes the same
    tables into `readme` (between README_MARKERS; None: not). Returns the first's path."""
    from ddsp import atomic_files
    from ddsp.training import model_dir

    names = sorted(
        n
        for n in os.listdir(models)
        if os.path.exists(os.path.join(models, n, model_dir.MODEL_CARD))
    )
    cards = [model_dir.read_model_card(os.path.join(models, n)) for n in names]
    path = os.path.join(models, 'README.md')
    with atomic_files.write_whole(path, 'w') as f:
        f.write(TABLES_HEADER + tables(cards))
    if readme:
        with open(readme) as f:
            pasted = paste_tables(f.read(), tables(cards))
        with atomic_files.write_whole(readme, 'w') as f:
            f.write(pasted)
    return path


TABLES_HEADER = """# Pretrained instruments

Each directory is a model directory (docs/model_directory.md) that `instrument.load_model(name)`
and `ddsp_timbre_transfer --model NAME` load. Rebuilt from scratch by `make pretrained`
(recipes/instruments); these tables are written from the model cards by
`python -m recipes.instruments.evaluate --write_cards`.

Held-out resynthesis: reserved tunes never used in training, on the training soundfont
(FluidR3_GM) and a second one (MuseScore_General); f0 by CREPE on input and output, on frames
where the input's confidence is at least 0.85. Timbre transfer: the sung melody of data/voice
with the default adjustment (threshold 1, quiet 20 dB, autotune 0); shifts measured on the
outputs against the unshifted output; note-offs: the loudness change from quiet 0 to quiet 20
on the note-off frames loud enough to show it (at least 30 dB above the -80 dB floor).

"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instruments', default='all')
    parser.add_argument('--audio', default='build/instruments', help='render.py --output')
    parser.add_argument('--models', default=train.PRETRAINED_DIR)
    parser.add_argument('--crepe', default='full', help='CREPE size for the outputs')
    parser.add_argument('--write_cards', action='store_true')
    parser.add_argument('--skip_held_out', action='store_true')
    args = parser.parse_args(argv)

    from ddsp import audio_io
    from ddsp.training import instrument as instrument_lib
    from ddsp.training import model_dir

    recipe = tunes.load_recipe()
    names = (
        list(recipe['instruments']) if args.instruments == 'all' else args.instruments.split(',')
    )
    voice, voice_rate, _ = audio_io.read_audio(VOICE)
    results = {}
    for name in names:
        path = os.path.join(args.models, name)
        model = instrument_lib.load_model(path)
        start = time.time()
        rows = {}
        if not args.skip_held_out:
            for soundfont in recipe['eval_soundfonts']:
                files = sorted(
                    glob.glob(os.path.join(args.audio, name, 'eval', soundfont, '*.flac'))
                )
                if not files:
                    raise SystemExit(f'evaluate: no evaluation audio for {name} on {soundfont}')
                rows[soundfont] = held_out(model, files, args.crepe)
                print(name, soundfont, json.dumps({k: _fmt(v) for k, v in rows[soundfont].items()}))
        transfer = transfer_checks(model, voice, voice_rate, args.crepe)
        print(name, 'transfer', json.dumps({k: _fmt(v) for k, v in transfer.items()}))
        print(f'{name}: evaluated in {time.time() - start:.0f} s')
        reverb = reverb_decay(model.reverb_ir, model.sample_rate) if model.has_reverb else None
        print(name, 'reverb', json.dumps(reverb))
        results[name] = {'held_out': rows, 'transfer': transfer, 'reverb': reverb}
        if args.write_cards:
            card = model_dir.read_model_card(path)
            if rows:
                card.metrics['held_out'] = dict(rows, crepe=args.crepe)
            card.metrics['reverb'] = reverb
            card.metrics['transfer'] = dict(transfer, crepe=args.crepe, settings=DEFAULT_TRANSFER)
            model_dir.write_model_card(path, card)
    if args.write_cards:
        print('tables:', write_tables(args.models))
    return results


if __name__ == '__main__':
    main()
