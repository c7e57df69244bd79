r"""`ddsp_prepare_tfrecord`: audio files -> sharded DDSP training TFRecords (Apache Beam).

Example (all local cores, DirectRunner):

    ddsp_prepare_tfrecord \
        --input_audio_filepatterns='data/violin/*.flac' \
        --output_tfrecord_path=/tmp/violin/train.tfrecord \
        --num_shards=4 --eval_split_fraction=0.1 --crepe_capacity=tiny

Other runners: `--pipeline_options=--runner=DataflowRunner,--project=...` (comma list, passed
to Beam's `PipelineOptions` unchanged). See `prepare_tfrecord_lib` for the record format,
lengths, skipped files and rerun behaviour, and `outputs` for the side files' names and the
crash-safe replacement of an earlier output.

Exit status: 0 when the dataset was written; 1 when nothing was written because the inputs
gave no example (pass --allow_empty to write an empty dataset anyway) or another run is
replacing the same output; 2 for invalid arguments (before any work). In every non-zero case
an existing dataset at the output is left unchanged.
"""

import argparse
import sys

from ddsp.training.data_preparation import outputs, prepare_tfrecord_lib


def _bool(value):
    if isinstance(value, bool):
        return value
    if value.lower() in ('1', 'true', 't', 'yes', 'y'):
        return True
    if value.lower() in ('0', 'false', 'f', 'no', 'n'):
        return False
    raise argparse.ArgumentTypeError(f'expected a boolean, got {value!r}')


def _add_bool(parser, name, default, help_text):
    # --flag, --noflag and --flag=true/false, as absl boolean flags accept.
    parser.add_argument(
        f'--{name}',
        nargs='?',
        const=True,
        default=default,
        type=_bool,
        help=f'{help_text} (default {default})',
    )
    parser.add_argument(f'--no{name}', dest=name, action='store_false', help=argparse.SUPPRESS)


def build_parser():
    p = argparse.ArgumentParser(prog='ddsp_prepare_tfrecord', description=__doc__.split('\n')[0])
    p.add_argument(
        '--input_audio_filepatterns',
        required=True,
        help='Comma-separated list of globs of audio files.',
    )
    p.add_argument(
        '--output_tfrecord_path',
        required=True,
        help='Output prefix; shards are <prefix>-0000i-of-0000N, side files '
        '<dir>/statistics.<base>.json and <dir>/skipped.<base>.json.',
    )
    p.add_argument(
        '--num_shards',
        type=int,
        default=None,
        help='Shards per split (default: chosen by the runner).',
    )
    p.add_argument('--sample_rate', type=int, default=16000, help='Audio rate, Hz.')
    p.add_argument(
        '--frame_rate',
        type=int,
        default=250,
        help='Feature frames per second; 0 writes audio only.',
    )
    p.add_argument(
        '--example_secs',
        type=float,
        default=4,
        help='Example length in seconds; 0 means no splitting.',
    )
    p.add_argument('--hop_secs', type=float, default=1, help='Step between examples, s.')
    p.add_argument(
        '--eval_split_fraction',
        type=float,
        default=0.0,
        help='Share of chunks written to <prefix>-eval (rest to <prefix>-train).',
    )
    p.add_argument(
        '--chunk_secs',
        type=float,
        default=20.0,
        help='Cut long files into chunks of this many seconds (0: whole files).',
    )
    _add_bool(p, 'center', False, 'Centre-padded frames (n_samples // hop + 1 per example)')
    _add_bool(p, 'viterbi', True, 'CREPE Viterbi smoothing')
    p.add_argument(
        '--crepe_capacity',
        default='full',
        choices=['tiny', 'small', 'medium', 'large', 'full'],
        help='CREPE model size (default full, as the original).',
    )
    _add_bool(
        p,
        'allow_empty',
        False,
        'Write an empty dataset (replacing an existing one) when no input gives an example',
    )
    p.add_argument(
        '--pipeline_options',
        default='--runner=DirectRunner',
        help='Comma-separated Beam pipeline options, passed through unchanged.',
    )
    return p


def run(argv=None):
    args = build_parser().parse_args(argv)
    try:
        summary = prepare_tfrecord_lib.prepare_tfrecord(
            input_audio_paths=args.input_audio_filepatterns,
            output_tfrecord_path=args.output_tfrecord_path,
            num_shards=args.num_shards,
            sample_rate=args.sample_rate,
            frame_rate=args.frame_rate,
            example_secs=args.example_secs,
            hop_secs=args.hop_secs,
            eval_split_fraction=args.eval_split_fraction,
            chunk_secs=args.chunk_secs,
            center=args.center,
            viterbi=args.viterbi,
            pipeline_options=args.pipeline_options,
            crepe_capacity=args.crepe_capacity,
            allow_empty=args.allow_empty,
        )
    except (prepare_tfrecord_lib.EmptyDatasetError, outputs.UnfinishedReplacementError) as e:
        print(f'ddsp_prepare_tfrecord: error: {e}', file=sys.stderr)
        return 1
    except (ValueError, ImportError) as e:
        print(f'ddsp_prepare_tfrecord: error: {e}', file=sys.stderr)
        return 2
    return 0 if summary['outputs'] else 1


def console_entry_point():
    sys.exit(run())


if __name__ == '__main__':
    console_entry_point()
