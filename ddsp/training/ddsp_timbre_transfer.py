r"""ddsp_timbre_transfer: play monophonic recordings on a trained instrument.

Each input file (WAV, FLAC, OGG, MP3; any sample rate; stereo is averaged to mono) has its
pitch (CREPE) and loudness taken, adjusted to the model's training data (notes detected, an
octave shift toward the instrument's range, loudness matched, note-offs turned down,
optional autotune), shifted by --pitch_shift octaves and --loudness_shift dB, and rendered by
the model. The output is a WAV at the input's sample rate, with a PNG beside it (note mask,
loudness and f0 before and after adjustment, input and output spectrograms).

  ddsp_timbre_transfer data/voice/londonderry_air_sung.flac --model=violin --output=out.wav
  ddsp_timbre_transfer a.wav b.mp3 --model=models/my_cello --output=out_dir --autotune=0.5

--output is a .wav file for one input, or a directory (created if needed) for any number:
there each output is named <input stem>.<model>.wav. --model is a pretrained name
(violin, flute, ... as listed by an unknown name) or a model directory (ddsp_export_model).
Each stage's time is printed (features, restore, prediction), as the original demo does.

Outputs are written whole or not at all; an existing output is replaced only when the new
one is complete. Errors end with one line, `ddsp_timbre_transfer: error: ...`, naming the
file and the problem, and exit status 1; with several inputs, the others are still done.
"""

import os
import sys
import time
from typing import List, Sequence, Text

from absl import flags, logging

_PROG = 'ddsp_timbre_transfer'


def _define_flags() -> flags.FlagValues:
    fv = flags.FlagValues()
    flags.DEFINE_string('model', 'violin', 'Pretrained name or model directory.', flag_values=fv)
    flags.DEFINE_string(
        'output', None, 'Output .wav (one input) or directory (any number).', flag_values=fv
    )
    flags.DEFINE_float(
        'threshold', 1.0, 'Note detection threshold (higher: fewer notes).', flag_values=fv
    )
    flags.DEFINE_float(
        'quiet', 20.0, 'dB by which note-off frames are turned down.', flag_values=fv
    )
    flags.DEFINE_float(
        'autotune', 0.0, '0..1: how far f0 is pulled onto the scale.', flag_values=fv
    )
    flags.DEFINE_float('pitch_shift', 0.0, 'Octaves, after the adjustment.', flag_values=fv)
    flags.DEFINE_float('loudness_shift', 0.0, 'dB, after the adjustment.', flag_values=fv)
    flags.DEFINE_boolean(
        'no_adjust', False, 'Skip the auto-adjust (manual shifts only).', flag_values=fv
    )
    flags.DEFINE_boolean('no_reverb', False, "Render without the model's reverb.", flag_values=fv)
    flags.DEFINE_boolean('no_plot', False, 'Do not write the PNG.', flag_values=fv)
    flags.DEFINE_enum(
        'crepe_model',
        'full',
        ['tiny', 'small', 'medium', 'large', 'full'],
        'CREPE size for the input f0 (full: as the models were trained).',
        flag_values=fv,
    )
    return fv


def output_paths(inputs: Sequence[Text], output: Text, model: Text) -> List[Text]:
    """Where each input's WAV goes: `output` itself for one input ending in .wav, else
    `<output>/<input stem>.<model name>.wav` (two inputs with one stem are an error)."""
    if len(inputs) == 1 and output.lower().endswith('.wav') and not os.path.isdir(output):
        return [output]
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(
            f'--output {output} is a file; with {len(inputs)} inputs give a directory '
            f'(or one input and a .wav path)'
        )
    label = os.path.basename(os.path.normpath(model))
    paths = [
        os.path.join(output, f'{os.path.splitext(os.path.basename(p))[0]}.{label}.wav')
        for p in inputs
    ]
    if len(set(paths)) < len(paths):
        raise ValueError('two inputs share a file name; give them separate runs or --output')
    return paths


def _fmt_timings(timings) -> Text:
    return '  '.join(f'{k} {timings[k]:.2f} s' for k in ('features', 'restore', 'prediction'))


def run(argv: Sequence[Text]) -> int:
    """Runs the command on `argv` (without the program name); the exit status."""
    fv = _define_flags()
    if any(arg in ('-h', '--help', '-help', '--helpfull') for arg in argv):
        print(__doc__)
        print(fv.get_help())
        return 0

    def error(message) -> int:
        print(f'{_PROG}: error: {" ".join(str(message).split())}', file=sys.stderr)
        return 1

    try:
        inputs = fv([_PROG] + list(argv))[1:]
        if not inputs:
            raise flags.Error('give one or more input audio files (see --help)')
        if not fv.output:
            raise flags.Error('--output must be given: a .wav file or a directory')
        outputs = output_paths(inputs, fv.output, fv.model)
    except (flags.Error, ValueError) as e:
        return error(e)

    import tensorflow as tf

    from ddsp import audio_io
    from ddsp.training import instrument as instrument_lib
    from ddsp.training import timbre_transfer

    start = time.perf_counter()
    try:
        instrument = instrument_lib.load_model(fv.model)
    except (ValueError, OSError, tf.errors.OpError) as e:
        return error(e)
    restore_s = time.perf_counter() - start
    status = 0
    for path, out_path in zip(inputs, outputs):
        try:
            result = timbre_transfer.transfer_file(
                path,
                instrument,
                threshold=fv.threshold,
                quiet=fv.quiet,
                autotune=fv.autotune,
                pitch_shift=fv.pitch_shift,
                loudness_shift=fv.loudness_shift,
                adjust=not fv.no_adjust,
                reverb=not fv.no_reverb,
                crepe_model=fv.crepe_model,
            )
            result.timings['restore'] = restore_s
            directory = os.path.dirname(os.path.abspath(out_path))
            os.makedirs(directory, exist_ok=True)
            audio_io.write_wav(out_path, result.audio, result.sample_rate)
            png = os.path.splitext(out_path)[0] + '.png'
            if not fv.no_plot:
                timbre_transfer.plot_transfer(result, png)
        except (ValueError, OSError, tf.errors.OpError) as e:
            status = error(e)
            continue
        note = timbre_transfer.log_no_notes(result)
        seconds = len(result.audio) / result.sample_rate
        print(f'{path}: {seconds:.1f} s at {result.sample_rate} Hz -> {out_path}')
        print(f'  {_fmt_timings(result.timings)}')
        if note:
            print(f'  note: {note}')
        restore_s = 0.0  # Loaded once for all inputs.
    return status


def console_entry_point():
    """Entry point of the `ddsp_timbre_transfer` console script."""
    logging.set_verbosity(logging.WARNING)
    sys.exit(run(sys.argv[1:]))


if __name__ == '__main__':
    console_entry_point()
