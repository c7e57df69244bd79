"""The README's code runs as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / 'README.md'


def _python_blocks():
    return re.findall(r'```python\n(.*?)```', README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_setup_commands():
    head = README.read_text().split('\n## ')[0]
    assert 'make demo' in head and 'make test' in head


def test_core_tour_runs():
    namespace = {}
    exec(compile(_python_blocks()[0], 'README.md', 'exec'), namespace)  # noqa: S102
    assert namespace['wet'].shape == (1, 64000)
    assert namespace['loudness_db'].shape == (1, 1001)
    assert np.all(np.isfinite(namespace['magnitudes']))


def test_processor_programs_are_the_tested_ones():
    # tests/test_solo_instrument.py runs these two programs verbatim.
    tested = (pathlib.Path(__file__).parent / 'test_solo_instrument.py').read_text()
    for block in _python_blocks()[2:4]:
        for line in block.splitlines():
            if line.strip() and not line.startswith(('import', 'outputs =')):
                assert line.strip() in tested, line


def test_pitch_example_runs():
    namespace = {
        'ddsp': __import__('ddsp'),
        'audio_np': np.sin(2 * np.pi * 440.0 * np.arange(16000) / 16000.0),
    }
    exec(compile(_python_blocks()[1], 'README.md', 'exec'), namespace)  # noqa: S102
    f0_hz = namespace['f0_hz']
    assert f0_hz.shape == (251,)
    assert abs(1200 * np.log2(np.median(f0_hz) / 440.0)) < 10.0
