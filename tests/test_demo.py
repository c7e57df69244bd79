"""Tests for ddsp.demo: the files it writes decode and sound as described."""

import os
import sys

import numpy as np
import pytest
import soundfile as sf

from ddsp import demo

SR = 16000


@pytest.fixture(scope='module')
def demo_paths(tmp_path_factory):
    """Runs the demo once into a temporary directory; `{name: path}`."""
    out_dir = tmp_path_factory.mktemp('demo')
    return demo.main(['--output_dir', str(out_dir), '--sample_rate', str(SR), '--no_dataset'])


def _read(path):
    audio, sample_rate = sf.read(path, dtype='float32')
    assert sample_rate == SR
    return audio


def _dominant_hz(segment):
    """Frequency of the largest peak of a Hann-windowed, zero-padded FFT."""
    n_fft = 16 * len(segment)
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n_fft))
    return np.fft.rfftfreq(n_fft, 1.0 / SR)[np.argmax(spectrum)]


@pytest.mark.parametrize('name, seconds', [('harmonic', 3.0),
                                           ('filtered_noise', 3.0),
                                           ('reverb', 4.0)])
def test_wav_decodes_finite_and_not_silent(demo_paths, name, seconds):
    audio = _read(demo_paths[name])
    assert audio.ndim == 1
    assert len(audio) == int(seconds * SR)
    assert np.all(np.isfinite(audio))
    assert np.sqrt(np.mean(audio**2)) > 0.01
    assert np.max(np.abs(audio)) <= 1.0


def test_harmonic_tone_follows_the_glide(demo_paths):
    audio = _read(demo_paths['harmonic'])
    quarter = SR // 4
    assert _dominant_hz(audio[:quarter]) == pytest.approx(220.0, rel=0.03)
    assert _dominant_hz(audio[-quarter:]) == pytest.approx(440.0, rel=0.03)


def test_noise_band_sweeps_upwards(demo_paths):
    audio = _read(demo_paths['filtered_noise'])
    half = SR // 2
    start, end = _dominant_hz(audio[:half]), _dominant_hz(audio[-half:])
    assert start < 1000.0
    assert end > 2000.0


def test_reverb_keeps_a_decaying_tail(demo_paths):
    audio = _read(demo_paths['reverb'])
    tail = audio[3 * SR:]
    rms = [np.sqrt(np.mean(x**2)) for x in np.split(tail, 4)]
    assert rms[0] > 0.01
    assert rms[0] > rms[1] > rms[2] > rms[3]


def test_spectrogram_png_written(demo_paths):
    with open(demo_paths['spectrograms'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_missing_matplotlib_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)
    with pytest.raises(ImportError, match='pip install matplotlib'):
        demo.plot_spectrograms(str(tmp_path / 'x.png'),
                               [('x', np.zeros([1, SR]))], SR)


@pytest.mark.slow
def test_dataset_stage_prepares_the_shipped_violin(tmp_path):
    """The demo's data stage on one shipped file: shards that read back."""
    import glob

    from ddsp.training import data
    files = sorted(glob.glob(demo.DATASET_GLOB))
    assert len(files) >= 5, 'the shipped dataset is missing'
    summary = demo.prepare_dataset(str(tmp_path), audio_glob=files[0])
    assert summary['skipped'] == []
    train = [p for p in summary['outputs'] if '-train-' in p]
    assert train and all(os.path.getsize(p) > 0 for p in train)
    pattern = os.path.join(str(tmp_path), 'violin', 'violin.tfrecord-train*')
    provider = data.TFRecordProvider(pattern)
    example = next(iter(provider.get_dataset(shuffle=False)))
    assert example['audio'].shape == (64000,) and example['f0_hz'].shape == (1000,)
    assert float(np.median(example['f0_hz'])) > 150.0  # A violin, not silence.
