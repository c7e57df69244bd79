r"""`ddsp_generate_synthetic_dataset`: random synthetic notes -> sharded TFRecords (Beam).

EXPERIMENTAL. Each example is one draw of `synthetic_data.generate_notes_v2` (default) or
`generate_notes` with `n_batch=1`, written as a `tf.train.Example` of flattened float
features `f0_hz`, `harm_amp` [T*1], `harm_dist`, `sin_amps`, `sin_freqs` [T*H] and
`noise_magnitudes` [T*M], which `ddsp.training.data.SyntheticNotes(n_timesteps, n_harmonics,
n_mags, file_pattern)` reads back. Example `i` is drawn from
`numpy.random.default_rng([random_seed, i])`, so the set of records depends only on the seed
and the settings, not on the runner or the number of workers.

    ddsp_generate_synthetic_dataset --output_tfrecord_path=/tmp/synth/train.tfrecord \
        --num_shards=8 --num_examples=100000

The pipeline machinery is `prepare_tfrecord_lib`'s: the DirectRunner on all local cores by
default, `--pipeline_options` (comma list) passed through unchanged to other runners, shards
written to a staging directory and moved into place at the end with `outputs.Staging` (a
crash-safe replacement of the files of an earlier run with the same prefix, which
`outputs.recover` finishes if a run was killed), progress logged while it runs and counted in
Beam metrics.
"""

import argparse
import sys
import time

import numpy as np

from ddsp import validation
from ddsp.training.data_preparation import outputs as outputs_lib
from ddsp.training.data_preparation import prepare_tfrecord_lib as lib

METRICS_NAMESPACE = 'ddsp_generate_synthetic_dataset'
GENERATORS = ('generate_notes_v2', 'generate_notes')
FEATURE_KEYS = ('f0_hz', 'harm_amp', 'harm_dist', 'sin_amps', 'sin_freqs', 'noise_magnitudes')
EXAMPLES_PER_SEED_BLOCK = 256  # Unit of work handed to a worker.


def _log(message):
    print(
        f'[ddsp_generate_synthetic_dataset {time.strftime("%H:%M:%S")}] {message}',
        file=sys.stderr,
        flush=True,
    )


def generate_example(index, random_seed, generator='generate_notes_v2', **settings):
    """Example `index`: dict of float32 arrays [T, ...] (no batch axis)."""
    from ddsp.training.data_preparation import synthetic_data

    fn = getattr(synthetic_data, generator)
    out = fn(n_batch=1, rng=np.random.default_rng([int(random_seed), int(index)]), **settings)
    return {key: value[0] for key, value in out.items()}


def to_tf_example(ex):
    """Serialized `tf.train.Example` with the flattened float features."""
    import tensorflow as tf

    feature = {
        key: tf.train.Feature(
            float_list=tf.train.FloatList(value=np.asarray(ex[key], np.float32).reshape(-1))
        )
        for key in FEATURE_KEYS
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _build_pipeline(
    pipeline, tmp_prefix, num_examples, num_shards, random_seed, generator, settings
):
    import apache_beam as beam
    from apache_beam.metrics import Metrics

    examples = Metrics.counter(METRICS_NAMESPACE, 'examples')
    blocks_done = Metrics.counter(METRICS_NAMESPACE, 'blocks_done')

    class GenerateExampleFn(beam.DoFn):
        """A block of example indices -> serialized examples."""

        def process(self, block):
            start, stop = block
            begin = time.time()
            for index in range(start, stop):
                ex = generate_example(index, random_seed, generator, **settings)
                examples.inc()
                yield to_tf_example(ex)
            blocks_done.inc()
            _log(
                f'examples {start}..{stop - 1} of {num_examples} generated in '
                f'{time.time() - begin:.1f} s'
            )

    blocks = [
        (s, min(s + EXAMPLES_PER_SEED_BLOCK, num_examples))
        for s in range(0, num_examples, EXAMPLES_PER_SEED_BLOCK)
    ]
    _ = (
        pipeline
        | 'Create' >> beam.Create(blocks)
        | 'ReshuffleBlocks' >> beam.Reshuffle()
        | 'Generate' >> beam.ParDo(GenerateExampleFn())
        | 'ReshuffleExamples' >> beam.Reshuffle()
        | 'Write' >> beam.io.WriteToTFRecord(tmp_prefix, num_shards=num_shards or 0)
    )


def generate_synthetic_dataset(
    output_tfrecord_path,
    num_examples=1000000,
    num_shards=None,
    random_seed=42,
    pipeline_options=(),
    generator='generate_notes_v2',
    **settings,
):
    """Runs the pipeline; returns a summary dict (`outputs`, `counters`, `seconds`).

    Args:
        output_tfrecord_path: prefix of the shards `<prefix>-0000i-of-0000N`.
        num_examples: number of examples.
        num_shards: number of shards; None or 0 lets the runner decide.
        random_seed: seed; example i uses `default_rng([random_seed, i])`.
        pipeline_options: Beam options (list or comma-separated string), passed through; the
            DirectRunner gets all local cores in multi-processing mode unless told otherwise.
        generator: 'generate_notes_v2' or 'generate_notes' (in `synthetic_data`).
        **settings: keyword arguments of the generator (n_timesteps, n_harmonics, ...).

    Raises:
        ValueError: bad arguments (checked by generating one example before any work).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    owner = 'generate_synthetic_dataset'
    validation.check_choice(owner, 'generator', generator, GENERATORS)
    validation.check_int(owner, 'num_examples', num_examples)
    if num_shards is not None:
        validation.check_int(
            owner, 'num_shards', num_shards, minimum=0, hint='(0 or None: chosen by the runner)'
        )
    try:
        generate_example(0, random_seed, generator, **settings)
    except TypeError as e:
        raise ValueError(
            validation.message(
                owner, 'settings', f'keyword arguments of {generator} ({e})', settings
            )
        ) from e
    options = lib.default_pipeline_options(pipeline_options)
    output_tfrecord_path = str(output_tfrecord_path)
    outputs_lib.split_prefix(output_tfrecord_path, owner)
    outputs_lib.recover(output_tfrecord_path)
    _log(
        f'{num_examples} synthetic examples ({generator}, {settings}) -> '
        f'{output_tfrecord_path} ({" ".join(options)})'
    )
    start = time.time()
    with outputs_lib.Staging(output_tfrecord_path, owner) as staging:
        with beam.Pipeline(options=PipelineOptions(options)) as pipeline:
            _build_pipeline(
                pipeline,
                staging.new_prefix,
                num_examples,
                num_shards,
                random_seed,
                generator,
                settings,
            )
        seconds = time.time() - start
        counters = lib.counter_values(pipeline.result, METRICS_NAMESPACE)
        outputs = staging.commit()
    _log(
        f'done in {seconds:.1f} s: {counters.get("examples", num_examples)} examples in '
        f'{len(outputs)} shards'
    )
    return {'outputs': outputs, 'counters': counters, 'seconds': seconds}


def build_parser():
    p = argparse.ArgumentParser(
        prog='ddsp_generate_synthetic_dataset', description=__doc__.split('\n')[0]
    )
    p.add_argument(
        '--output_tfrecord_path',
        required=True,
        help='Output prefix; shards are <prefix>-0000i-of-0000N.',
    )
    p.add_argument(
        '--num_shards',
        type=int,
        default=None,
        help='Number of shards (default: chosen by the runner).',
    )
    p.add_argument('--num_examples', type=int, default=1000000, help='Number of examples.')
    p.add_argument(
        '--random_seed',
        type=int,
        default=42,
        help='Seed; example i is drawn from default_rng([seed, i]).',
    )
    p.add_argument(
        '--pipeline_options',
        default='--runner=DirectRunner',
        help='Comma-separated Beam pipeline options, passed through unchanged.',
    )
    p.add_argument(
        '--generator',
        default='generate_notes_v2',
        choices=GENERATORS,
        help='synthetic_data function drawing the notes.',
    )
    p.add_argument('--n_timesteps', type=int, default=125, help='Frames T per example.')
    p.add_argument('--n_harmonics', type=int, default=100, help='Harmonics H.')
    p.add_argument('--n_mags', type=int, default=65, help='Noise magnitudes M.')
    p.add_argument(
        '--sample_rate',
        type=int,
        default=16000,
        help='Audio rate; harmonics at or above Nyquist get zero weight.',
    )
    p.add_argument(
        '--min_note_length', type=int, default=5, help='Shortest note, frames (generate_notes_v2).'
    )
    p.add_argument(
        '--max_note_length', type=int, default=25, help='Longest note, frames (generate_notes_v2).'
    )
    p.add_argument(
        '--p_silent',
        type=float,
        default=0.1,
        help='Probability of a silent note (generate_notes_v2).',
    )
    p.add_argument(
        '--p_vibrato',
        type=float,
        default=0.5,
        help='Probability of vibrato on a note (generate_notes_v2).',
    )
    return p


def run(argv=None):
    args = build_parser().parse_args(argv)
    settings = {
        'n_timesteps': args.n_timesteps,
        'n_harmonics': args.n_harmonics,
        'n_mags': args.n_mags,
        'sample_rate': args.sample_rate,
    }
    if args.generator == 'generate_notes_v2':
        settings.update(
            min_note_length=args.min_note_length,
            max_note_length=args.max_note_length,
            p_silent=args.p_silent,
            p_vibrato=args.p_vibrato,
        )
    try:
        summary = generate_synthetic_dataset(
            args.output_tfrecord_path,
            num_examples=args.num_examples,
            num_shards=args.num_shards,
            random_seed=args.random_seed,
            pipeline_options=args.pipeline_options,
            generator=args.generator,
            **settings,
        )
    except (ValueError, ImportError, outputs_lib.UnfinishedReplacementError) as e:
        print(f'ddsp_generate_synthetic_dataset: error: {e}', file=sys.stderr)
        return 2
    return 0 if summary['outputs'] else 1


def console_entry_point():
    sys.exit(run())


if __name__ == '__main__':
    console_entry_point()
