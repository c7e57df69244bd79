"""Apache Beam pipeline that turns audio files into DDSP training TFRecords.

Stages: read each file (WAV, FLAC, OGG; MP3 where libsndfile decodes it),
downmix to mono, resample to `sample_rate` and to 16 kHz, cut into chunks of `chunk_secs`, add
CREPE f0 and confidence and A-weighted loudness at `frame_rate`, optionally split chunks into
train and eval sets, cut examples of `example_secs` every `hop_secs`, and write sharded
`tf.train.Example` TFRecords with float features `audio`, `audio_16k`, `f0_hz`,
`f0_confidence` and `loudness_db`.

Lengths follow `ddsp.training.schema`, which `data.TFRecordProvider` reads with: with
`padding='center'` (`center=True`) an example of `n` samples at hop `h = sample_rate //
frame_rate` has `n // h + 1` frames, otherwise (`'same'`) `n // h` (`n_frames * h ==
n_samples`); `audio_16k` has the same duration. The frame rate must divide both `sample_rate`
and 16000 (CREPE and loudness run on the 16 kHz audio); other combinations raise `ValueError`
before any work starts.

Chunks overlap by `example_secs - hop_secs` (`chunk_audio`), so every window of a file, every
`hop_secs`, becomes exactly one example: a 30-s file with 20-s chunks, 4-s examples and a 1-s
hop gives (30 - 4) / 1 + 1 = 27 examples, none lost at the chunk boundary. The train/eval
split assigns whole chunks, so no window is in both splits; an eval window next to a chunk
boundary can still share up to `example_secs - hop_secs` of audio with a train window, as
neighbouring windows of one split do.

Bad inputs never stop a run: unreadable, empty, truncated, non-finite and too-short files are
skipped, counted in the Beam metrics `skipped_files` and named with their reason in
`<dir>/skipped.<base>.json` and in the summary returned (and printed) at the end. Files of
digital silence (every sample 0) are skipped too, with a warning, and counted in
`silent_files` as well: a whole silent file is almost always a failed export or a muted
track, its CREPE f0 is noise, and its frames would pull the loudness statistics (and the
quantiles timbre transfer matches against) towards the floor; silent passages inside a file
are kept. Stereo files are downmixed (`downmixed_files`), other rates resampled
(`resampled_files`).

Output: side files are named by `outputs.side_file_path`, `<dir>/statistics.<base>.json` (or
`statistics.<base>-train.json` and `statistics.<base>-eval.json` when splitting; computed on
the chunks, each frame counted once) and `<dir>/skipped.<base>.json`, so the glob
`<prefix>*` matches the records only. A run writes everything into a staging directory
beside the output and replaces the previous output for the same prefix only when it has
finished, through a journal that makes the replacement crash-safe (`outputs`); it first
finishes any replacement a killed run left (`outputs.recover`). A run whose inputs give no
example at all raises `EmptyDatasetError` and leaves the existing output as it was, unless
`allow_empty=True`.
"""

import hashlib
import json
import math
import os
import sys
import time

import numpy as np

from ddsp import crepe, validation
from ddsp.training import schema
from ddsp.training.data_preparation import outputs as outputs_lib
from ddsp.training.data_preparation.file_stages import (  # noqa: F401 -- re-exported.
    SkipFile,
    add_features,
    chunk_audio,
    feature_spec,
    load_audio,
    resample,
    split_examples,
    statistics_frames,
    to_tf_example,
)

CREPE_SAMPLE_RATE = schema.FEATURE_SAMPLE_RATE  # CREPE and loudness run on 16 kHz audio.
METRICS_NAMESPACE = 'ddsp_prepare_tfrecord'
FEATURE_KEYS = schema.FEATURE_KEYS
_OWNER = 'prepare_tfrecord'


# ----------------------------------------------------------------------------------------------
# Argument checks (run before any work).
# ----------------------------------------------------------------------------------------------


def _whole_hz(name, value, minimum):
    """A rate as an int (an integral float such as 16000.0 is accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    hint = '(Hz; 0: audio only, no features)' if minimum == 0 else '(Hz)'
    return validation.check_int(_OWNER, name, value, minimum=minimum, hint=hint)


def _whole_units(name, secs, rate, what):
    """`secs * rate` as an int, if it is (within 1e-6) a whole number (of `what`)."""
    units = int(round(secs * rate))
    if abs(secs * rate - units) > 1e-6:
        validation.fail(_OWNER, name, f'a number of seconds that is a whole number of {what}', secs)
    return units


def check_config(
    sample_rate=16000,
    frame_rate=250,
    example_secs=4,
    hop_secs=1,
    chunk_secs=20.0,
    eval_split_fraction=0.0,
    num_shards=None,
):
    """Validates the rates and lengths; returns a dict of derived integer sizes.

    Raises:
        ValueError: with the reason, e.g. a frame rate that does not divide the sample rate.
    """
    sample_rate = _whole_hz('sample_rate', sample_rate, minimum=1)
    frame_rate = _whole_hz('frame_rate', frame_rate or 0, minimum=0)
    if frame_rate:
        hop = validation.hop_size(sample_rate, frame_rate, _OWNER)
        hop_16k = schema.feature_hop(frame_rate, _OWNER)
    else:
        hop, hop_16k = 1, 1
    eval_split_fraction = validation.check_number(
        _OWNER, 'eval_split_fraction', eval_split_fraction, minimum=0
    )
    if eval_split_fraction >= 1:
        validation.fail(_OWNER, 'eval_split_fraction', 'a number in [0, 1)', eval_split_fraction)
    if num_shards is not None:
        validation.check_int(
            _OWNER, 'num_shards', num_shards, minimum=0, hint='(0 or None: chosen by the runner)'
        )
    # Lengths must be whole frames (or samples).
    unit, what = (
        (frame_rate, f'frames at frame_rate={frame_rate}')
        if frame_rate
        else (sample_rate, f'samples at sample_rate={sample_rate}')
    )
    sizes = {'sample_rate': sample_rate, 'frame_rate': frame_rate, 'hop': hop, 'hop_16k': hop_16k}
    for name, secs in (
        ('example_secs', example_secs),
        ('hop_secs', hop_secs),
        ('chunk_secs', chunk_secs),
    ):
        secs = validation.check_number(_OWNER, name, secs or 0.0, minimum=0)
        units = _whole_units(name, secs, unit, what)
        sizes[name] = secs
        sizes[name.replace('_secs', '_samples')] = units * hop
        sizes[name.replace('_secs', '_samples_16k')] = (
            units * hop_16k
            if frame_rate
            else _whole_units(name, secs, CREPE_SAMPLE_RATE, f'samples at {CREPE_SAMPLE_RATE} Hz')
        )
        sizes[name.replace('_secs', '_frames')] = units if frame_rate else 0
    if sizes['example_samples'] and not sizes['hop_samples']:
        validation.fail(_OWNER, 'hop_secs', 'a positive number when example_secs > 0', hop_secs)
    if sizes['chunk_samples'] and sizes['example_samples'] > sizes['chunk_samples']:
        validation.fail(_OWNER, 'chunk_secs', f'0 or >= example_secs ({example_secs})', chunk_secs)
    return sizes


def expand_filepatterns(patterns):
    """Sorted unique paths matching the comma list / list of globs."""
    import tensorflow as tf

    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(',') if p.strip()]
    paths = set()
    for pattern in patterns:
        paths.update(tf.io.gfile.glob(pattern.strip()))
    return sorted(p for p in paths if not tf.io.gfile.isdir(p))


def default_pipeline_options(pipeline_options=()):
    """The options list: the caller's, passed through unchanged, plus local DirectRunner
    defaults (all cores, multi-processing) when the runner is the DirectRunner."""
    if isinstance(pipeline_options, str):
        pipeline_options = [o for o in pipeline_options.split(',') if o]
    options = list(pipeline_options)
    runner = 'DirectRunner'
    for opt in options:
        if opt.startswith('--runner='):
            runner = opt.split('=', 1)[1]
    if runner in ('DirectRunner', 'direct'):
        if not any(o.startswith('--runner') for o in options):
            options.append('--runner=DirectRunner')
        if not any(o.startswith('--direct_num_workers') for o in options):
            options.append(f'--direct_num_workers={os.cpu_count() or 1}')
        if not any(o.startswith('--direct_running_mode') for o in options):
            options.append('--direct_running_mode=multi_processing')
    return options


# ----------------------------------------------------------------------------------------------
# Per-file and per-chunk work: file_stages (re-exported here).
# ----------------------------------------------------------------------------------------------


class EmptyDatasetError(ValueError):
    """The inputs gave no example: the run refused to replace the output with an empty one."""


# ----------------------------------------------------------------------------------------------
# The pipeline.
# ----------------------------------------------------------------------------------------------


def _log(message):
    print(
        f'[ddsp_prepare_tfrecord {time.strftime("%H:%M:%S")}] {message}',
        file=sys.stderr,
        flush=True,
    )


def split_key(audio, path) -> str:
    """The key that orders chunks for the train/eval split: a hash of the audio and file name.

    The file's name, not its path, so a dataset splits the same wherever it is stored.

    Example: `split_key(a, '/x/violin.wav') == split_key(a, '/y/violin.wav')`.
    """
    h = hashlib.md5(np.ascontiguousarray(audio).tobytes())
    h.update(os.path.basename(path).encode())
    return h.hexdigest()


def _build_pipeline(
    pipeline,
    paths,
    staging,
    sizes,
    num_shards,
    eval_split_fraction,
    center,
    viterbi,
    crepe_capacity,
):
    import apache_beam as beam
    from apache_beam.metrics import Metrics

    from ddsp.training.data_preparation import statistics

    files_done = Metrics.counter(METRICS_NAMESPACE, 'files_done')
    skipped_files = Metrics.counter(METRICS_NAMESPACE, 'skipped_files')
    silent_files = Metrics.counter(METRICS_NAMESPACE, 'silent_files')
    downmixed = Metrics.counter(METRICS_NAMESPACE, 'downmixed_files')
    resampled = Metrics.counter(METRICS_NAMESPACE, 'resampled_files')
    audio_ms = Metrics.counter(METRICS_NAMESPACE, 'audio_milliseconds')
    n_examples = Metrics.counter(METRICS_NAMESPACE, 'examples')

    class LoadAudio(beam.DoFn):
        def process(self, path):
            try:
                ex, notes = load_audio(path, sizes)
            except SkipFile as e:
                skipped_files.inc()
                if e.kind == 'silent':
                    silent_files.inc()
                    _log(f'warning: {path} is digital silence (every sample is 0); skipped')
                else:
                    _log(f'skipped {path}: {e}')
                yield beam.pvalue.TaggedOutput(
                    'skipped', {'path': path, 'reason': str(e), 'kind': e.kind}
                )
                return
            if 'downmixed' in notes:
                downmixed.inc()
            if 'resampled' in notes:
                resampled.inc()
            yield ex

    class Features(beam.DoFn):
        def process(self, chunk):
            start = time.time()
            if sizes['frame_rate']:
                chunk = add_features(chunk, sizes, center, viterbi, crepe_capacity)
            secs = len(chunk['audio']) / sizes['sample_rate']
            audio_ms.inc(int(round(1000 * secs)))
            _log(
                f'features for {os.path.basename(chunk["path"])} chunk {chunk["chunk"]}: '
                f'{secs:.1f} s of audio in {time.time() - start:.1f} s'
            )
            yield chunk

    class MarkFileDone(beam.DoFn):
        def process(self, path):
            files_done.inc()
            _log(f'file done: {path}')
            yield path

    loaded = (
        pipeline
        | 'Create' >> beam.Create(paths)
        | 'ReshuffleFiles' >> beam.Reshuffle()
        | 'LoadAudio' >> beam.ParDo(LoadAudio()).with_outputs('skipped', main='audio')
    )
    chunks = (
        loaded.audio
        | 'Chunk' >> beam.FlatMap(chunk_audio, sizes)
        | 'ReshuffleChunks' >> beam.Reshuffle()
        | 'Features' >> beam.ParDo(Features())
    )
    _ = (
        chunks
        | 'ChunkPath' >> beam.Map(lambda c: (c['path'], 1))
        | 'ChunksPerFile' >> beam.CombinePerKey(sum)
        | 'FileDone' >> beam.Map(lambda kv: kv[0])
        | 'CountFiles' >> beam.ParDo(MarkFileDone())
    )
    _ = (
        loaded.skipped
        | 'SkippedJson' >> beam.Map(json.dumps)
        | 'WriteSkipped'
        >> beam.io.WriteToText(_skipped_lines(staging), num_shards=1, shard_name_template='')
    )

    if eval_split_fraction:

        def chunk_key(c):
            return dict(c, key=split_key(c['audio'], c['path']))

        keyed = chunks | 'Key' >> beam.Map(chunk_key)
        keys = keyed | 'Keys' >> beam.Map(lambda c: c['key']) | 'AllKeys' >> beam.combiners.ToList()

        def route(c, all_keys):
            ordered = sorted(all_keys)
            eval_keys = set(ordered[: int(len(ordered) * eval_split_fraction)])
            yield beam.pvalue.TaggedOutput('eval' if c['key'] in eval_keys else 'train', c)

        split = keyed | 'Split' >> beam.ParDo(route, beam.pvalue.AsSingleton(keys)).with_outputs(
            'train', 'eval'
        )
        parts = {'train': split.train, 'eval': split.eval}
    else:
        parts = {None: chunks}

    for split_name, part in parts.items():
        suffix = f'-{split_name}' if split_name else ''
        name = suffix or '-all'
        if sizes['frame_rate']:
            _ = (
                part
                | f'StatsFrames{name}' >> beam.Map(statistics_frames)
                | f'Stats{name}' >> beam.CombineGlobally(statistics.statistics_combine_fn())
                | f'StatsJson{name}'
                >> beam.Map(
                    lambda s: statistics.to_json(
                        dict(
                            s,
                            sample_rate=sizes['sample_rate'],
                            frame_rate=sizes['frame_rate'],
                            center=center,
                        )
                    )
                )
                | f'WriteStats{name}'
                >> beam.io.WriteToText(
                    outputs_lib.side_file_path(staging.new_prefix, 'statistics', split_name),
                    num_shards=1,
                    shard_name_template='',
                )
            )

        def count(ex):
            n_examples.inc()
            return ex

        _ = (
            part
            | f'Examples{name}' >> beam.FlatMap(split_examples, sizes, center)
            | f'Count{name}' >> beam.Map(count)
            | f'ReshuffleExamples{name}' >> beam.Reshuffle()
            | f'Serialize{name}' >> beam.Map(to_tf_example)
            | f'Write{name}'
            >> beam.io.WriteToTFRecord(staging.new_prefix + suffix, num_shards=num_shards or 0)
        )


def _skipped_lines(staging):
    """Where the pipeline lists the skipped files, one JSON line each (outside `new/`)."""
    return os.path.join(staging.dir, 'skipped.jsonl')


def counter_values(result, namespace=METRICS_NAMESPACE):
    """`{name: value}` of a finished pipeline's Beam counters in `namespace`."""
    from apache_beam.metrics.metric import MetricsFilter

    values = {}
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(namespace))
        for counter in query['counters']:
            name = counter.key.metric.name
            value = counter.committed if counter.committed is not None else counter.attempted
            values[name] = values.get(name, 0) + (value or 0)
    except Exception:  # noqa: BLE001 -- some runners do not report metrics.
        pass
    return values


def _staged_record_bytes(staging):
    """Total size of the record shards written to the staging directory (0: no example)."""
    import tensorflow as tf

    return sum(
        tf.io.gfile.stat(path).length for path in outputs_lib.record_files(staging.new_prefix)
    )


def _refuse_empty(paths, skipped, output_path, input_audio_paths):
    """Raises EmptyDatasetError: the inputs gave no example."""
    existing = outputs_lib.existing_outputs(output_path)
    reasons = '; '.join(f'{os.path.basename(s["path"])}: {s["reason"]}' for s in skipped[:3]) + (
        '; ...' if len(skipped) > 3 else ''
    )
    kept = (
        f'the {len(existing)} existing files of {output_path} are left unchanged'
        if existing
        else f'nothing was written to {output_path}'
    )
    raise EmptyDatasetError(
        validation.message(
            _OWNER,
            'input_audio_paths',
            f'audio that gives at least one example (all {len(paths)} files were skipped or '
            f'too short: {reasons}); {kept}; fix the inputs, or pass allow_empty=True '
            '(--allow_empty) to write an empty dataset',
            input_audio_paths,
        )
    )


def prepare_tfrecord(
    input_audio_paths,
    output_tfrecord_path,
    num_shards=None,
    sample_rate=16000,
    frame_rate=250,
    example_secs=4,
    hop_secs=1,
    eval_split_fraction=0.0,
    chunk_secs=20.0,
    center=False,
    viterbi=True,
    pipeline_options=(),
    crepe_capacity='full',
    allow_empty=False,
):
    """Runs the pipeline; returns a summary dict (also printed to stderr).

    Args:
        input_audio_paths: paths or globs (a list, or a comma-separated string).
        output_tfrecord_path: prefix of the shards `<prefix>-0000i-of-0000N`; with
            `eval_split_fraction` the shards are `<prefix>-train-*` and `<prefix>-eval-*`. Side
            files go beside them (`outputs.side_file_path`).
        num_shards: number of shards per split; None or 0 lets the runner decide.
        sample_rate: rate of the `audio` feature (and of the lengths), Hz.
        frame_rate: feature frames per second (0: audio only).
        example_secs: example length (0: one example per chunk).
        hop_secs: step between examples.
        eval_split_fraction: share of chunks (by hash) that go to the eval split.
        chunk_secs: chunk length for long files (0: whole files).
        center: centre-padded frames (n_samples // hop + 1 frames) instead of 'same'.
        viterbi: CREPE Viterbi smoothing.
        pipeline_options: Beam options (list or comma-separated string), passed through; the
            DirectRunner gets all local cores in multi-processing mode unless told otherwise.
        crepe_capacity: CREPE model size ('tiny' ... 'full').
        allow_empty: write (and replace the existing output with) a dataset of 0 examples
            when no input gives an example; by default that raises `EmptyDatasetError`.

    Returns:
        dict with `outputs` (final file paths), `skipped` ([{path, reason, kind}]),
        `silent_files` (how many were digital silence), `counters` (Beam metrics),
        `recovered` (what `outputs.recover` did first), `seconds` (wall time) and
        `audio_seconds_per_second`.

    Raises:
        ValueError: invalid rates or lengths, no input file matches, or an output directory
            that cannot be written (before any work).
        EmptyDatasetError: (a ValueError) no input gave an example and `allow_empty` is
            False; the existing output is left unchanged.
        outputs.UnfinishedReplacementError: another run is replacing this output right now.
        ImportError: Apache Beam, or (local runs) the CREPE weights, are not installed.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    import tensorflow as tf

    sizes = check_config(
        sample_rate, frame_rate, example_secs, hop_secs, chunk_secs, eval_split_fraction, num_shards
    )
    output_tfrecord_path = str(output_tfrecord_path)
    for kind, split in (('statistics', 'train'), ('skipped', None)):  # Names are usable.
        try:
            outputs_lib.side_file_path(output_tfrecord_path, kind, split)
        except ValueError as e:
            validation.fail(
                _OWNER, 'output_tfrecord_path', f'a usable prefix ({e})', output_tfrecord_path
            )
    paths = expand_filepatterns(input_audio_paths)
    if not paths:
        validation.fail(
            _OWNER,
            'input_audio_paths',
            'paths or globs that match at least one file',
            input_audio_paths,
        )
    options = default_pipeline_options(pipeline_options)
    if sizes['frame_rate']:
        validation.check_choice(_OWNER, 'crepe_capacity', crepe_capacity, crepe.CAPACITIES)
        if '--direct_running_mode=multi_processing' in options or not any(
            o.startswith('--runner=') and 'Direct' not in o for o in options
        ):
            crepe.weights_path(crepe_capacity)  # Local run: fail now if weights are missing.
    recovered = outputs_lib.recover(output_tfrecord_path)
    _log(f'{len(paths)} files -> {output_tfrecord_path} ({" ".join(options)})')
    start = time.time()
    with outputs_lib.Staging(output_tfrecord_path, _OWNER) as staging:
        with beam.Pipeline(options=PipelineOptions(options)) as pipeline:
            _build_pipeline(
                pipeline,
                paths,
                staging,
                sizes,
                num_shards,
                eval_split_fraction,
                center,
                viterbi,
                crepe_capacity,
            )
        result = pipeline.result
        seconds = time.time() - start
        counters = counter_values(result)
        skipped = []
        lines = _skipped_lines(staging)
        if tf.io.gfile.exists(lines):
            with tf.io.gfile.GFile(lines) as f:
                skipped = sorted(
                    (json.loads(line) for line in f if line.strip()), key=lambda s: s['path']
                )
        if not _staged_record_bytes(staging):
            if not allow_empty:
                _refuse_empty(paths, skipped, output_tfrecord_path, input_audio_paths)
            _log(f'warning: writing an EMPTY dataset (0 examples) to {output_tfrecord_path}')
        with tf.io.gfile.GFile(outputs_lib.side_file_path(staging.new_prefix, 'skipped'), 'w') as f:
            f.write(json.dumps(skipped, indent=1))
        outputs = staging.commit()
    audio_seconds = counters.get('audio_milliseconds', 0) / 1000.0
    silent = sum(1 for s in skipped if s.get('kind') == 'silent')
    summary = {
        'outputs': outputs,
        'skipped': skipped,
        'silent_files': silent,
        'counters': counters,
        'recovered': recovered,
        'n_files': len(paths),
        'seconds': seconds,
        'audio_seconds_per_second': audio_seconds / seconds if seconds else math.nan,
    }
    _log(
        f'done in {seconds:.1f} s: {counters.get("files_done", 0)} of {len(paths)} files, '
        f'{audio_seconds:.1f} s of audio ({summary["audio_seconds_per_second"]:.2f} s/s), '
        f'{counters.get("examples", 0)} examples, {counters.get("downmixed_files", 0)} '
        f'downmixed, {counters.get("resampled_files", 0)} resampled, {len(skipped)} skipped '
        f'({silent} silent)'
    )
    for item in skipped:
        _log(f'  skipped {item["path"]}: {item["reason"]}')
    return summary
