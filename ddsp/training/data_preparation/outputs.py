"""The files a data-preparation run writes, replaced whole or not at all.

A run writes into a private temporary directory beside its output
(`make_temporary_output`); only when it has finished are the previous run's files for the same
prefix (`existing_outputs`) removed and the new ones moved into place (`replace_outputs`).

Example:
    >>> out_dir, tmp_dir, tmp_prefix = make_temporary_output('/data/violin')
    >>> ...  # Write '/data/.violin.tmp-1a2b3c4d/violin-00000-of-00001', ...
    >>> replace_outputs(tmp_dir, out_dir, existing_outputs('/data/violin'))
"""

import os
import uuid


def existing_outputs(prefix):
    """Existing files that belong to a run written to `prefix`."""
    import tensorflow as tf

    patterns = [
        f'{prefix}-?????-of-?????',
        f'{prefix}-train-?????-of-?????',
        f'{prefix}-eval-?????-of-?????',
        f'{prefix}.statistics.json',
        f'{prefix}-train.statistics.json',
        f'{prefix}-eval.statistics.json',
        f'{prefix}.skipped.json',
    ]
    found = []
    for pattern in patterns:
        found.extend(tf.io.gfile.glob(pattern))
    return sorted(set(found))


def make_temporary_output(output_path):
    """Creates a private directory beside `output_path` for a run to write into.

    Returns `(out_dir, tmp_dir, tmp_prefix)`: the output's directory (created if missing), the
    new temporary directory in it, and `output_path`'s name inside that directory. The run's
    files move to `out_dir` only when it succeeds (`replace_outputs`).
    """
    import tensorflow as tf

    out_dir = os.path.dirname(output_path) or '.'
    base = os.path.basename(output_path)
    tf.io.gfile.makedirs(out_dir)
    tmp_dir = os.path.join(out_dir, f'.{base}.tmp-{uuid.uuid4().hex[:8]}')
    tf.io.gfile.makedirs(tmp_dir)
    return out_dir, tmp_dir, os.path.join(tmp_dir, base)


def replace_outputs(tmp_dir, out_dir, old_files):
    """Removes a previous run's `old_files`, then moves `tmp_dir`'s files into `out_dir`.

    Both steps happen only once the new run has finished, so a failed run leaves the old
    output as it was and a finished one never mixes old and new shards. Returns the new
    paths.
    """
    import tensorflow as tf

    for old in old_files:
        tf.io.gfile.remove(old)
    outputs = []
    for name in sorted(tf.io.gfile.listdir(tmp_dir)):
        src = os.path.join(tmp_dir, name)
        if tf.io.gfile.isdir(src):
            continue
        dst = os.path.join(out_dir, name)
        tf.io.gfile.rename(src, dst, overwrite=True)
        outputs.append(dst)
    return outputs
