"""Audio files in and out: reading any format libsndfile decodes, resampling, writing WAV.

One home for what the data pipeline, the model loader and the timbre-transfer tool share:

* `read_audio(path)`: mono float32 samples and the file's rate; a file that cannot be used
  (missing, empty, not audio, truncated, NaN) raises `AudioFileError` with one line naming
  the file and the problem, and a `kind` for tallies;
* `resample(audio, from_rate, to_rate)`: polyphase resampling (scipy), exact length;
* `write_wav(path, audio, sample_rate)`: 16-bit PCM, written whole or not at all.

soundfile and scipy are imported when first used, so `import ddsp` does not load them.
"""

import io
import os
import re
from typing import List, Text, Tuple

import numpy as np

from ddsp import atomic_files


class AudioFileError(ValueError):
    """An audio file that cannot be used; `kind` is 'missing', 'unreadable', 'empty',
    'truncated' or 'non_finite', the message one line naming the file and the problem."""

    def __init__(self, message: Text, kind: Text = 'unreadable'):
        super().__init__(message)
        self.kind = kind


def read_audio(path: Text, mono: bool = True) -> Tuple[np.ndarray, int, List[Text]]:
    """Reads an audio file (WAV, FLAC, OGG, MP3: what libsndfile decodes; local or gs://).

    Args:
        path: the file.
        mono: average the channels (a stereo file becomes `[n]`); else `[n, channels]`.

    Returns:
        `(audio, sample_rate, notes)`: float32 samples in [-1, 1], the file's rate in Hz, and
        `notes`, `['downmixed']` when channels were averaged.

    Raises:
        AudioFileError: missing, unreadable or truncated file, no samples, NaN or infinite
            samples (the message starts with the reason; callers prefix the path).

    Example:
        >>> audio, rate, _ = read_audio('data/voice/londonderry_air_sung.flac')
    """
    import soundfile as sf
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, 'rb') as f:
            data = f.read()
    except tf.errors.NotFoundError as e:
        raise AudioFileError('no such file', 'missing') from e
    except Exception as e:  # noqa: BLE001 -- any read error makes the file unusable.
        raise AudioFileError(f'unreadable: {type(e).__name__}: {e}') from e
    if not data:
        raise AudioFileError('empty file (0 bytes)', 'empty')
    try:
        info = sf.info(io.BytesIO(data))
        audio, sample_rate = sf.read(io.BytesIO(data), dtype='float32', always_2d=True)
    except Exception as e:  # noqa: BLE001 -- libsndfile raises several types.
        message = re.sub(r'<_io\.BytesIO object at 0x[0-9a-fA-F]+>', os.path.basename(path), str(e))
        raise AudioFileError(f'unreadable or truncated audio: {type(e).__name__}: {message}') from e
    if info.frames > 0 and len(audio) < info.frames:
        raise AudioFileError(
            f'truncated: header says {info.frames} samples, only {len(audio)} could be decoded',
            'truncated',
        )
    # A cut WAV decodes without error: libsndfile trims the data chunk to the bytes present and
    # only says so in its log ("data : 44100 (should be 1956)"). Streaming writers that could
    # not seek back put a placeholder size (0 or 2**32 - 1, or 2**31 - 1): not a cut.
    cut = re.search(r'^data\s*:\s*(\d+) \(should be (\d+)\)', info.extra_info or '', re.M)
    placeholder = cut and int(cut.group(1)) in (0, 2**31 - 1, 2**32 - 1)
    if cut and not placeholder and int(cut.group(2)) < int(cut.group(1)):
        raise AudioFileError(
            f'truncated: the header announces {cut.group(1)} bytes of samples, the file holds '
            f'{cut.group(2)}',
            'truncated',
        )
    if audio.size == 0:
        raise AudioFileError('no audio samples', 'empty')
    if not np.all(np.isfinite(audio)):
        raise AudioFileError('non-finite (NaN or infinite) samples', 'non_finite')
    notes = []
    if mono:
        if audio.shape[1] > 1:
            notes.append('downmixed')
        audio = audio.mean(axis=1)
    return audio.astype(np.float32), int(sample_rate), notes


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along the last axis (`scipy.signal.resample_poly`, its default
    Kaiser-windowed low-pass): `ceil(n * to_rate / from_rate)` float32 samples.

    Example:
        >>> resample(np.zeros(44100, np.float32), 44100, 16000).shape
        (16000,)
    """
    audio = np.asarray(audio)
    if int(from_rate) == int(to_rate):
        return audio.astype(np.float32)
    import fractions

    import scipy.signal

    ratio = fractions.Fraction(int(to_rate), int(from_rate))
    out = scipy.signal.resample_poly(
        audio.astype(np.float64), ratio.numerator, ratio.denominator, axis=-1
    )
    return out.astype(np.float32)


def write_wav(path: Text, audio, sample_rate: int):
    """Writes mono `[n]` float audio as 16-bit PCM WAV, whole or not at all.

    Samples are clipped to [-1, 1]. The file is written beside `path` under a temporary name
    and renamed over it, so a reader never sees half a file and a failed write leaves what
    was there.

    Example:
        >>> write_wav('out.wav', np.zeros(16000), 16000)
    """
    import soundfile as sf

    audio = np.clip(np.asarray(audio, np.float64).reshape(-1), -1.0, 1.0)
    with atomic_files.write_whole(path) as f:
        sf.write(f, audio, int(sample_rate), subtype='PCM_16', format='WAV')
