"""Runs one notebook top to bottom in a real Jupyter kernel; writes what happened as JSON.

    python tests/notebooks/execute.py colab/tutorials/0_processor.ipynb --cwd /tmp/run \
        --output /tmp/run/result.json --parameters '{"SECONDS": 1.0}' \
        --readback '{"min_amplitude": "float(amplitudes.min())"}'

* `--parameters`: `{name: value}` assigned in a cell inserted right after the notebook's one
  cell tagged `parameters`, so every later cell sees the smaller values.
* `--readback`: `{key: Python expression}` evaluated in a cell appended at the end, in the
  notebook's namespace, after the code of `--setup` (if any); the values (JSON) come back
  under `readback`.

The output JSON holds `seconds` (kernel start to the last cell), `kernel_cpu_seconds` (CPU
time of the kernel and the processes it ran), `slowest_cells` (index and seconds of the slowest
few), `readback`, and `error`: None, or the failing cell's index (in the notebook as run, with
the inserted cell), the start of its source, the exception and the end of its traceback. The
exit status is 0 when the JSON was written, whether or not the notebook failed. The kernel runs
with TF_CPP_MIN_LOG_LEVEL=3 and MPLBACKEND=Agg (figures are drawn, never shown).
"""

import argparse
from datetime import datetime
import json
import os
import re
import resource
import sys
import time

# jsonschema (under nbformat) imports rfc3987_syntax, if installed, for format checks that
# nbformat never uses; it builds a grammar at import (2-8 s). None makes that import fail,
# which jsonschema expects of an optional dependency.
sys.modules.setdefault('rfc3987_syntax', None)

import nbclient  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # noqa: E402
import nbformat  # noqa: E402

MARKER = '@@readback@@'
_ANSI = re.compile(r'\x1b\[[0-9;]*m')


def parameters_index(nb) -> int:
    """The index of the notebook's one code cell tagged `parameters`."""
    found = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == 'code' and 'parameters' in cell.metadata.get('tags', [])
    ]
    if len(found) != 1:
        raise ValueError(f'expected one code cell tagged "parameters", found {len(found)}')
    return found[0]


def prepare(nb, parameters: dict, readback: dict, setup: str = ''):
    """Inserts the parameter overrides and appends the read-back cell (in place)."""
    lines = [f'{name} = {value!r}' for name, value in parameters.items()]
    if lines:
        index = parameters_index(nb) + 1
        nb.cells.insert(index, nbformat.v4.new_code_cell('\n'.join(lines)))
    items = ', '.join(f'{key!r}: ({expression})' for key, expression in readback.items())
    printed = f'print({MARKER!r} + _json.dumps({{{items}}}, default=float))'
    source = f'{setup}\nimport json as _json\n{printed}'
    nb.cells.append(nbformat.v4.new_code_cell(source))


def _short(text: str, head: int = 0, tail: int = 0) -> str:
    lines = _ANSI.sub('', text).rstrip().splitlines()
    if head and len(lines) > head:
        return '\n'.join(lines[:head] + ['...'])
    if tail and len(lines) > tail:
        return '\n'.join(['...'] + lines[-tail:])
    return '\n'.join(lines)


def failure(nb, error: Exception) -> dict:
    """What went wrong, short: the cell, its source, the exception, the traceback's end."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get('outputs', []):
            if output.get('output_type') == 'error':
                return {
                    'cell': index,
                    'source': _short(cell.source, head=15),
                    'error': f'{output["ename"]}: {_short(output["evalue"], head=5)}',
                    'traceback': _short('\n'.join(output.get('traceback', [])), tail=12),
                }
    return {'cell': None, 'source': '', 'error': f'{type(error).__name__}: {error}'[:2000]}


def _seconds(cell) -> float:
    """How long a cell ran (nbclient's timing metadata), 0 if unknown."""
    timing = cell.get('metadata', {}).get('execution', {})
    start, end = timing.get('iopub.execute_input'), timing.get('shell.execute_reply')
    if not (start and end):
        return 0.0
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 2)


def read_back(nb) -> dict:
    """The JSON printed by the appended cell."""
    for output in nb.cells[-1].get('outputs', []):
        if output.get('output_type') == 'stream' and MARKER in output.get('text', ''):
            text = output['text'].split(MARKER, 1)[1].splitlines()[0]
            return json.loads(text)
    raise ValueError('the read-back cell printed nothing')


def execute(
    path: str, cwd: str, parameters: dict, readback: dict, setup: str = '', timeout: int = 600
) -> dict:
    """Runs the notebook at `path` in `cwd`; the result dict described in the module doc."""
    nb = nbformat.read(path, as_version=4)
    prepare(nb, parameters, readback, setup)
    os.environ.update(TF_CPP_MIN_LOG_LEVEL='3', MPLBACKEND='Agg')
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': cwd}}
    )
    result = {'notebook': path, 'error': None, 'readback': None}
    start = time.perf_counter()
    try:
        client.execute()
        result['readback'] = read_back(nb)
    except (CellExecutionError, CellTimeoutError, DeadKernelError, ValueError) as e:
        result['error'] = failure(nb, e)
    result['seconds'] = round(time.perf_counter() - start, 2)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # The kernel and what it started.
    result['kernel_cpu_seconds'] = round(used.ru_utime + used.ru_stime, 2)
    cells = sorted(((_seconds(c), i) for i, c in enumerate(nb.cells)), reverse=True)[:5]
    result['slowest_cells'] = [[i, s] for s, i in cells]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('notebook')
    parser.add_argument('--cwd', required=True, help='working directory of the kernel')
    parser.add_argument('--output', required=True, help='the result JSON')
    parser.add_argument('--parameters', default='{}', help='JSON {name: value}')
    parser.add_argument('--readback', default='{}', help='JSON {key: expression}')
    parser.add_argument('--setup', default='', help='code run before the read-back')
    parser.add_argument('--timeout', type=int, default=600, help='seconds per cell')
    args = parser.parse_args(argv)
    result = execute(
        os.path.abspath(args.notebook),
        args.cwd,
        json.loads(args.parameters),
        json.loads(args.readback),
        args.setup,
        args.timeout,
    )
    with open(args.output, 'w') as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
