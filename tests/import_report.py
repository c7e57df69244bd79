"""What a fresh interpreter imports, step by step; run as a script, prints one JSON object.

Several tests check that importing ddsp pulls in no heavy optional dependency (test_import,
test_spectral_ops, test_crepe, training/test_data). Each used to start its own interpreter and
import TensorFlow (~6 s); this script takes the same steps once, in the order the checks need,
and reports the modules each step added (`tests/conftest.py` runs it in the background),
after those the interpreter had loaded before the first step ('startup'):

  1. `import tensorflow`;
  2. `import ddsp` (which imports ddsp.spectral_ops and the rest of the core library);
  3. `import ddsp.spectral_ops` (adds nothing more; reported for the spectral_ops check);
  4. `from ddsp import crepe`, and the state of its model caches right after;
  5. `import ddsp.training.data`.

A step can only add modules, so checking "X is not loaded after step n" against the cumulative
set is at least as strict as the same check in an interpreter that took only the steps up to n.
"""

import json
import sys


def _modules():
    return set(sys.modules)


def main():
    start = _modules()
    steps = {'startup': sorted(start)}  # Already there when the script starts.
    import tensorflow  # noqa: F401

    after_tf = _modules()
    steps['tensorflow'] = sorted(after_tf - start)
    import ddsp  # noqa: F401

    after_ddsp = _modules()
    steps['ddsp'] = sorted(after_ddsp - after_tf)
    import ddsp.spectral_ops  # noqa: F401

    after_spectral = _modules()
    steps['ddsp.spectral_ops'] = sorted(after_spectral - after_ddsp)
    from ddsp import crepe

    after_crepe = _modules()
    steps['ddsp.crepe'] = sorted(after_crepe - after_spectral)
    crepe_caches = {'_MODELS': repr(crepe._MODELS), '_RUNNERS': repr(crepe._RUNNERS)}
    import ddsp.training.data  # noqa: F401

    after_data = _modules()
    steps['ddsp.training.data'] = sorted(after_data - after_crepe)
    print(
        json.dumps(
            {'order': list(steps), 'added': steps, 'crepe_caches_after_import': crepe_caches}
        )
    )


if __name__ == '__main__':
    main()
