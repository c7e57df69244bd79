"""Times ddsp operations against the bare TensorFlow kernels they build on.

Usage (from the repository root; `make bench BENCH_ARGS='...'` does the same):

    .venv/bin/python benchmarks/run.py [--only a,b] [--repeats 5] [--warmup 2]
                                       [--json out.json] [--smoke] [--list]

Each workload runs in its own Python process, inside `tf.function`: one
tracing call (reported as "first call"), `--warmup` untimed calls, then
`--repeats` timed repeats. A repeat loops the call enough times to last at
least 0.2 s and counts as the mean of those calls. Workloads are registered
in `WORKLOADS` dicts of modules listed in `WORKLOAD_MODULES`
(see benchmarks/common.py for how to add one).

Reading the table:
  * median / min (s): seconds per call over the repeats; prefer the median,
    the min is the least disturbed by other processes.
  * first call (s): tracing plus one call.
  * peak RSS (MiB): the process's peak resident memory, TensorFlow's own
    (about 0.5-0.7 GiB, the "import" value in the JSON) included.
  * floor: the bare kernel the operation cannot avoid (e.g. `tf.sin` over
    every harmonic sample, or the FFTs of a convolution) on inputs of the
    same shape. Floors are run automatically with the rows that need them.
  * x floor: op median / floor median; 1.0x would be a perfect op, large
    values show where time goes beyond the kernel.
Timings on shared machines drift between runs: compare ratios and rows
measured in the same run rather than absolute seconds across runs.
"""

import argparse
import dataclasses
import datetime
import inspect
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # This checkout's ddsp first.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # Before TF is imported.

import common  # noqa: E402 (needs the sys.path entry above)
import core_workloads  # noqa: E402
import crepe_workloads  # noqa: E402
import pipeline_workloads  # noqa: E402
import processor_workloads  # noqa: E402
import training_workloads  # noqa: E402

WORKLOAD_MODULES = (
    core_workloads,
    processor_workloads,
    crepe_workloads,
    pipeline_workloads,
    training_workloads,
)
MIN_REPEAT_S = 0.2
MAX_INNER = 50


def registry():
    """All workloads: name -> builder(Sizes) -> Workload, in table order."""
    workloads = {}
    for module in WORKLOAD_MODULES:
        workloads.update(module.WORKLOADS)
    return workloads


def _summary(builder):
    """First line of a builder's docstring (partials use their function's)."""
    doc = inspect.getdoc(getattr(builder, 'func', builder)) or ''
    return doc.splitlines()[0] if doc else ''


def _peak_rss_mb():
    """Peak resident memory of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2.0**20 if sys.platform == 'darwin' else 1024.0)


# ------------------------------------------------------------------------------
# Child process: build one workload and time it.
# ------------------------------------------------------------------------------
def _block(outputs):
    """Waits until every output is computed by fetching one element of each."""
    import tensorflow as tf

    for t in tf.nest.flatten(outputs):
        tf.reshape(t, [-1])[-1].numpy()


def _call_s(fn, args, n=1):
    """Mean wall-clock seconds of `n` calls of `fn(*args)`."""
    start = time.perf_counter()
    for _ in range(n):
        _block(fn(*args))
    return (time.perf_counter() - start) / n


def measure(name, sizes, repeats, warmup):
    """Builds and times one workload; returns its result dict."""
    import tensorflow as tf

    tf.random.set_seed(0)
    result = {'name': name, 'rss_after_import_mb': _peak_rss_mb()}
    workload = registry()[name](sizes)
    fn = tf.function(workload.fn)
    result.update(
        description=workload.description,
        floor=workload.floor,
        first_call_s=_call_s(fn, workload.args),
    )
    last = result['first_call_s']
    for _ in range(warmup):
        last = _call_s(fn, workload.args)
    inner = max(1, min(MAX_INNER, math.ceil(MIN_REPEAT_S / max(last, 1e-6))))
    times = [_call_s(fn, workload.args, inner) for _ in range(repeats)]
    result.update(
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        times_s=times,
        inner_loops=inner,
        peak_rss_mb=_peak_rss_mb(),
    )
    if workload.unit:
        result.update(unit=workload.unit, rate_per_s=1.0 / result['median_s'])
    return result


def _child_main(name, args, out_path):
    """Entry point of a child process; writes the result (or error) as JSON."""
    sizes = common.Sizes.smoke() if args.smoke else common.Sizes()
    try:
        result = measure(name, sizes, args.repeats, args.warmup)
    except Exception as e:  # Reported in the table and the JSON.
        result = {
            'name': name,
            'error': f'{type(e).__name__}: {e}',
            'traceback': traceback.format_exc()[-3000:],
            'peak_rss_mb': _peak_rss_mb(),
        }
    with open(out_path, 'w') as f:
        json.dump(result, f)


# ------------------------------------------------------------------------------
# Parent process: one child per workload, then the table.
# ------------------------------------------------------------------------------
def run_in_child(name, args):
    """Runs `name` in a fresh interpreter so that its peak RSS is its own."""
    fd, out_path = tempfile.mkstemp(prefix='ddsp-bench-', suffix='.json')
    os.close(fd)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        '--_child',
        name,
        '--_out',
        out_path,
        '--repeats',
        str(args.repeats),
        '--warmup',
        str(args.warmup),
    ] + (['--smoke'] if args.smoke else [])
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=args.timeout
        )
        with open(out_path) as f:
            return json.load(f)
    except subprocess.TimeoutExpired:
        return {'name': name, 'error': f'timed out after {args.timeout} s'}
    except (OSError, ValueError):
        return {
            'name': name,
            'error': f'child exited {proc.returncode} without a result',
            'log_tail': proc.stderr[-3000:],
        }
    finally:
        os.remove(out_path)


def run_all(names, args):
    """Runs the named workloads, each followed by its floor; name -> result.

    A floor runs right after the first row that needs it, so that the two
    are measured close in time; results come back in registry order.
    """
    queue, results = list(names), {}
    while queue:
        name = queue.pop(0)
        print(f'[{time.strftime("%H:%M:%S")}] {name} ...', end=' ', file=sys.stderr, flush=True)
        results[name] = result = run_in_child(name, args)
        print(result.get('error') or f'{result["median_s"]:.4g} s', file=sys.stderr, flush=True)
        floor = result.get('floor')
        if floor and floor not in results and floor not in queue:
            queue.insert(0, floor)
    for result in results.values():
        floor = results.get(result.get('floor')) or {}
        if 'median_s' in result and 'median_s' in floor:
            result['floor_median_s'] = floor['median_s']
            result['ratio_to_floor'] = result['median_s'] / floor['median_s']
    rank = {name: i for i, name in enumerate(registry())}
    ordered = sorted(results, key=lambda name: rank.get(name, len(rank)))
    return {name: results[name] for name in ordered}


def _fmt(value, spec='.4g', suffix=''):
    return '' if value is None else f'{value:{spec}}{suffix}'


def markdown_table(results):
    """The results as a Markdown table plus a note per row."""
    lines = [
        (
            '| workload | median (s) | min (s) | first call (s) | '
            'peak RSS (MiB) | floor | floor median (s) | x floor |'
        ),
        '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
    ]
    for name, r in results.items():
        if 'error' in r:
            lines.append(f'| {name} | ERROR: {r["error"][:80]} |||||||')
            continue
        lines.append(
            f'| {name} | {_fmt(r["median_s"])} | {_fmt(r["min_s"])} | '
            f'{_fmt(r["first_call_s"], ".3g")} | '
            f'{_fmt(r["peak_rss_mb"], ".0f")} | {r["floor"] or "-"} | '
            f'{_fmt(r.get("floor_median_s"))} | '
            f'{_fmt(r.get("ratio_to_floor"), ".1f", "x")} |'
        )
    lines.append('')
    lines += [
        f'- `{name}`: {r.get("description", "")}'
        + (f' ({r["rate_per_s"]:.3g} {r["unit"]}/s)' if 'rate_per_s' in r else '')
        for name, r in results.items()
    ]
    return '\n'.join(lines)


def _meta(args, sizes):
    """Run settings and machine facts stored beside the results."""
    import tensorflow as tf

    return {
        'argv': sys.argv,
        'started': datetime.datetime.now().astimezone().isoformat(),
        'python': platform.python_version(),
        'tensorflow': tf.__version__,
        'platform': platform.platform(),
        'cpu_count': os.cpu_count(),
        'repeats': args.repeats,
        'warmup': args.warmup,
        'smoke': args.smoke,
        'sizes': dataclasses.asdict(sizes),
    }


def parse_args(argv=None):
    workloads = registry()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        '--only',
        default='',
        help='Comma-separated workload names (default: all '
        'non-floor rows; floors follow automatically).',
    )
    p.add_argument('--repeats', type=int, default=5, help='Timed repeats per workload (default 5).')
    p.add_argument(
        '--warmup', type=int, default=2, help='Untimed calls after the tracing call (default 2).'
    )
    p.add_argument('--json', help='Also write the results to this JSON file.')
    p.add_argument(
        '--smoke', action='store_true', help='Tiny sizes (batch 1, 0.5 s): checks, not timings.'
    )
    p.add_argument(
        '--timeout', type=float, default=1800, help='Seconds allowed per workload process.'
    )
    p.add_argument('--list', action='store_true', help='List the workloads and exit.')
    p.add_argument('--_child', help=argparse.SUPPRESS)
    p.add_argument('--_out', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(',') if n.strip()]
    unknown = [n for n in names if n not in workloads]
    if unknown:
        p.error(f'unknown workload(s) {", ".join(unknown)}; see --list')
    args.names = names or [n for n in workloads if not n.startswith('floor_')]
    if args.repeats < 1 or args.warmup < 0:
        p.error('--repeats must be >= 1 and --warmup >= 0')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args._child:
        _child_main(args._child, args, args._out)
        return 0
    if args.list:
        for name, builder in registry().items():
            print(f'{name:26s} {_summary(builder)}')
        return 0
    sizes = common.Sizes.smoke() if args.smoke else common.Sizes()
    meta = _meta(args, sizes)
    results = run_all(args.names, args)
    print(
        f'batch {sizes.batch}, {sizes.seconds:g} s at {sizes.sample_rate} '
        f'Hz, {sizes.n_frames} frames; {args.repeats} repeats after '
        f'{args.warmup} warm-up calls\n'
    )
    print(markdown_table(results))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump({'meta': meta, 'results': results}, f, indent=1)
        print(f'\nwrote {args.json}')
    return 1 if any('error' in r for r in results.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
