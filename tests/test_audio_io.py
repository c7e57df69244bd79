"""`ddsp.audio_io` and `ddsp.atomic_files`: reading real files in every format, resampling
against scipy and the tone's own frequency, writing whole or not at all."""

import os

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from ddsp import atomic_files, audio_io

RATE = 44100


def tone(freq=440.0, seconds=0.5, rate=RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * rate / len(audio)


@pytest.mark.parametrize(
    'fmt, subtype, atol',
    [
        ('WAV', 'PCM_16', 1e-4),
        ('FLAC', 'PCM_24', 1e-6),
        ('OGG', 'VORBIS', None),
        ('MP3', None, None),
    ],
)
def test_reads_every_format_as_mono_float(tmp_path, fmt, subtype, atol):
    audio = tone()
    path = str(tmp_path / f'tone.{fmt.lower()}')
    sf.write(path, audio, RATE, format=fmt, subtype=subtype)
    read, rate, notes = audio_io.read_audio(path)
    assert rate == RATE and read.dtype == np.float32 and read.ndim == 1 and notes == []
    if atol is not None:
        np.testing.assert_allclose(read, audio, atol=atol)
    else:  # Lossy codecs (and MP3's encoder delay): the tone's pitch survives.
        assert abs(peak_frequency(read, rate) - 440.0) < 3.0


def test_stereo_is_averaged(tmp_path):
    left, right = tone(440.0), tone(660.0)
    path = str(tmp_path / 'stereo.wav')
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype='FLOAT')
    read, _, notes = audio_io.read_audio(path)
    np.testing.assert_allclose(read, (left + right) / 2, atol=1e-7)
    assert notes == ['downmixed']
    both, _, _ = audio_io.read_audio(path, mono=False)
    assert both.shape == (len(left), 2)


def _bad_files(tmp_path):
    empty = tmp_path / 'empty.wav'
    empty.write_bytes(b'')
    text = tmp_path / 'notes.wav'
    text.write_text('these are not audio samples\n' * 20)
    full = tmp_path / 'full.wav'
    sf.write(str(full), tone(), RATE)
    truncated = tmp_path / 'truncated.wav'
    truncated.write_bytes(full.read_bytes()[:2000])
    nan = tmp_path / 'nan.wav'
    audio = tone()
    audio[100] = np.nan
    sf.write(str(nan), audio, RATE, subtype='FLOAT')
    return {
        'missing': (str(tmp_path / 'nope.wav'), 'missing', 'no such file'),
        'empty': (str(empty), 'empty', '0 bytes'),
        'not audio': (str(text), 'unreadable', 'unreadable'),
        'truncated': (str(truncated), 'truncated', 'truncated'),
        'nan': (str(nan), 'non_finite', 'NaN'),
    }


@pytest.mark.parametrize('case', ['missing', 'empty', 'not audio', 'truncated', 'nan'])
def test_bad_files_are_one_line_errors_with_a_kind(tmp_path, case):
    path, kind, fragment = _bad_files(tmp_path)[case]
    with pytest.raises(audio_io.AudioFileError) as info:
        audio_io.read_audio(path)
    assert info.value.kind == kind
    assert fragment in str(info.value) and '\n' not in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize('from_rate, to_rate', [(44100, 16000), (16000, 48000), (22050, 16000)])
def test_resample_matches_scipy_and_keeps_the_pitch(from_rate, to_rate):
    audio = tone(523.25, 1.0, from_rate)
    out = audio_io.resample(audio, from_rate, to_rate)
    assert len(out) == int(np.ceil(len(audio) * to_rate / from_rate)) and out.dtype == np.float32
    g = np.gcd(from_rate, to_rate)
    reference = scipy.signal.resample_poly(audio.astype(np.float64), to_rate // g, from_rate // g)
    np.testing.assert_allclose(out, reference, atol=1e-6)
    assert abs(peak_frequency(out, to_rate) - 523.25) < 1.5


def test_resample_to_the_same_rate_is_a_copy_in_float32():
    audio = np.arange(10, dtype=np.float64)
    out = audio_io.resample(audio, 16000, 16000)
    np.testing.assert_array_equal(out, audio) and out.dtype == np.float32


def test_write_wav_round_trips_at_16_bits(tmp_path):
    path = str(tmp_path / 'out.wav')
    audio = tone(rate=16000)
    audio_io.write_wav(path, np.concatenate([audio, [1.5, -1.5]]), 16000)
    read, rate, _ = audio_io.read_audio(path)
    assert rate == 16000 and sf.info(path).subtype == 'PCM_16'
    np.testing.assert_allclose(read[:-2], audio, atol=1 / 32768)
    assert read[-2] == pytest.approx(1.0, abs=1e-4) and read[-1] == pytest.approx(-1.0, abs=1e-4)
    assert os.listdir(tmp_path) == ['out.wav']


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / 'keep.txt')
    with atomic_files.write_whole(path, 'w') as f:
        f.write('good')
    with pytest.raises(RuntimeError):
        with atomic_files.write_whole(path, 'w') as f:
            f.write('half')
            raise RuntimeError('killed mid-write')
    assert open(path).read() == 'good' and os.listdir(tmp_path) == ['keep.txt']
    mode = os.stat(path).st_mode & 0o777
    assert mode == 0o666 & ~atomic_files.umask()
