"""TensorFlow's CPU allocators on ddsp's heavy workloads: the default one against BFC.

`import ddsp` sets `TF_CPU_ALLOCATOR_USE_BFC=true` unless the variable is set already (see
`ddsp/__init__.py`). This script runs each workload in a fresh process with the variable
`false` (TensorFlow's default allocator, malloc-backed) and `true` (BFC), alternating, and
prints one row per workload and allocator:

    train_step   one `Trainer.train_step` of the pretrained instruments' model
                 (`models/pretrained_instrument.gin`), batch 8 x 4 s: steps/s
    render_10s   `Instrument.resynthesize` of 10 s with a pretrained instrument, traced and
                 warm (the prediction stage of timbre transfer): renders/s

with the process's user and system CPU seconds per call, minor page faults per call (a fault
is a page of memory the kernel maps, and zeroes, again) and its peak resident memory (MiB).

    .venv/bin/python benchmarks/cpu_allocator.py [--calls 10] [--repeats 2]

Read the rows of one run against each other: the shared 2-core machines drift between runs.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

ALLOCATORS = ('false', 'true')  # TF_CPU_ALLOCATOR_USE_BFC
WORKLOADS = ('train_step', 'render_10s')

# The child: builds one workload, warms it up, then times `calls` calls.
_CHILD = r"""
import json, math, resource, sys, time
sys.path.insert(0, '.')
import ddsp  # Sets the allocator default (the parent set the variable explicitly).
import tensorflow as tf

workload, calls = sys.argv[1], int(sys.argv[2])
if workload == 'train_step':
    import gin, keras
    from ddsp.training import models, trainers
    from ddsp.training.gin import GIN_PATH
    gin.add_config_file_search_path(GIN_PATH)
    gin.parse_config_files_and_bindings(['models/pretrained_instrument.gin'], [])
    keras.utils.set_random_seed(0)
    trainer = trainers.Trainer(models.get_model(), tf.distribute.get_strategy(), learning_rate=1e-4)
    b, sr, fr = 8, 16000, 50
    rng = tf.random.Generator.from_seed(0)
    base = rng.uniform([b, 1], 200.0, 600.0)
    t = tf.range(4 * sr, dtype=tf.float32) / sr
    tf_ = tf.range(4 * fr, dtype=tf.float32) / fr
    batch = {
        'audio': 0.3 * tf.sin(2 * math.pi * base * t) + 0.01 * rng.normal([b, 4 * sr]),
        'f0_hz': base * (1 + 0.01 * tf.sin(2 * math.pi * 5 * tf_)),
        'f0_confidence': tf.ones([b, 4 * fr]),
        'loudness_db': rng.uniform([b, 4 * fr], -60.0, -20.0),
    }
    call = lambda: float(trainer.train_step(batch)['total_loss'])
else:
    import numpy as np
    from ddsp.training import instrument
    model = instrument.load_model('flute')
    n = 10 * model.frame_rate
    f0 = 440.0 * 2 ** (np.sin(np.linspace(0, 20, n)) / 12)
    features = {'f0_hz': f0.astype(np.float32), 'loudness_db': np.full(n, -30.0, np.float32)}
    call = lambda: model.resynthesize(features, traced=True)
for _ in range(3):
    call()
r0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(calls):
    call()
seconds = time.perf_counter() - start
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    'per_s': calls / seconds,
    'user': (r1.ru_utime - r0.ru_utime) / calls,
    'sys': (r1.ru_stime - r0.ru_stime) / calls,
    'faults': (r1.ru_minflt - r0.ru_minflt) / calls,
    'peak_mib': r1.ru_maxrss / 1024,
}))
"""


def run_child(workload, allocator, calls):
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC=allocator, TF_CPP_MIN_LOG_LEVEL='2')
    out = subprocess.run(
        [sys.executable, '-c', _CHILD, workload, str(calls)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--calls', type=int, default=10, help='Timed calls per process.')
    p.add_argument('--repeats', type=int, default=2, help='Processes per row (alternating).')
    p.add_argument('--workloads', default=','.join(WORKLOADS))
    args = p.parse_args(argv)
    print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs')
    print(
        '| workload | TF_CPU_ALLOCATOR_USE_BFC | calls/s (median) | user s/call | sys s/call '
        '| minor faults/call | peak RSS MiB |'
    )
    print('|---|---|---|---|---|---|---|')
    for workload in args.workloads.split(','):
        runs = {a: [] for a in ALLOCATORS}
        for _ in range(args.repeats):
            for allocator in ALLOCATORS:
                runs[allocator].append(run_child(workload, allocator, args.calls))
        for allocator in ALLOCATORS:
            rows = runs[allocator]
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            rates = ', '.join(f'{r["per_s"]:.2f}' for r in rows)
            print(
                f'| {workload} | {allocator} | {med["per_s"]:.2f} ({rates}) | {med["user"]:.2f} '
                f'| {med["sys"]:.2f} | {med["faults"]:,.0f} | {med["peak_mib"]:,.0f} |'
            )


if __name__ == '__main__':
    main()
