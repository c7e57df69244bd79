"""The per-file and per-chunk stages of ddsp_prepare_tfrecord's pipeline (NumPy, Beam workers).

`load_audio` reads a file (mono, at the dataset's rate and at 16 kHz) or raises `SkipFile`
with the reason; `chunk_audio` cuts it into overlapping chunks so that every window is one
example; `add_features` adds CREPE f0 and confidence and loudness; `split_examples` cuts the
windows; `to_tf_example` serialises one. `prepare_tfrecord_lib` wires them into the pipeline
(and re-exports them). Lengths follow `ddsp.training.schema`.

Example:
    >>> sizes = prepare_tfrecord_lib.check_config(16000, 50, example_secs=4, hop_secs=1)
    >>> ex, notes = load_audio('violin.flac', sizes)
    >>> chunks = [add_features(c, sizes, False, True, 'tiny') for c in chunk_audio(ex, sizes)]
    >>> examples = [e for c in chunks for e in split_examples(c, sizes, False)]
"""

import numpy as np

from ddsp import audio_io
from ddsp.training import schema

CREPE_SAMPLE_RATE = schema.FEATURE_SAMPLE_RATE  # CREPE and loudness run on 16 kHz audio.
# The loudness window (samples at 16 kHz). Without --center, frame k's window starts at k * hop.
LOUDNESS_N_FFT = 512
FEATURE_KEYS = schema.FEATURE_KEYS
_OWNER = 'prepare_tfrecord'


class SkipFile(Exception):
    """A file that is skipped, with the reason as the message and a short `kind`."""

    def __init__(self, reason, kind='unreadable'):
        super().__init__(reason)
        self.kind = kind


resample = audio_io.resample


def load_audio(path, sizes):
    """Reads one file -> (dict(path, audio, audio_16k), notes); raises SkipFile.

    `notes` lists what was done to the file: 'downmixed' and/or 'resampled'.
    """
    try:
        audio, file_rate, notes = audio_io.read_audio(path)
    except audio_io.AudioFileError as e:
        raise SkipFile(str(e), e.kind) from e
    if not np.any(audio):
        raise SkipFile('digital silence: every sample is 0 (skipped, see the module doc)', 'silent')
    if file_rate != sizes['sample_rate']:
        notes.append('resampled')
        audio = resample(audio, file_rate, sizes['sample_rate'])
    min_samples = sizes['example_samples']
    if min_samples and len(audio) < min_samples:
        raise SkipFile(
            f'too short: {len(audio) / sizes["sample_rate"]:.3f} s < example_secs '
            f'{sizes["example_secs"]:g} s',
            'too_short',
        )
    # Zero-pad to whole frames, so the 16 kHz copy has exactly the same duration.
    hop = sizes['hop']
    audio = np.pad(audio, (0, -len(audio) % hop)).astype(np.float32)
    audio_16k = resample(audio, sizes['sample_rate'], CREPE_SAMPLE_RATE)
    n_16k = len(audio) * CREPE_SAMPLE_RATE // sizes['sample_rate']
    audio_16k = np.pad(audio_16k, (0, max(0, n_16k - len(audio_16k))))[:n_16k]
    return {'path': path, 'audio': audio, 'audio_16k': audio_16k}, notes


def chunk_audio(ex, sizes):
    """Chunks of at most `chunk_secs` (whole files when `chunk_secs` is 0).

    With examples (`example_secs > 0`) the chunks follow the grid of example windows (one
    every `hop_secs` from the start of the file): each chunk holds `per_chunk = (chunk -
    example) // hop + 1` windows, starts `per_chunk` hops after the previous one and is
    `(per_chunk - 1) * hop + example` long, so it overlaps the next chunk by `example - hop`.
    Every window of the file then lies in exactly one chunk. The last chunk runs to the end of
    the file; the frames of a chunk that the next chunk also covers are left out of the
    statistics (`own_frames`), so each frame is counted once.

    Each chunk's `start` is its first sample's offset in the file. Without examples (each
    chunk is an example), chunks do not overlap and a last piece shorter than a quarter chunk
    joins the previous chunk, so no audio is dropped.
    """
    n = sizes['chunk_samples']
    audio, audio_16k = ex['audio'], ex['audio_16k']
    win = sizes['example_samples']
    if not n or len(audio) <= n:
        return [dict(ex, chunk=0, start=0)]
    n16 = sizes['chunk_samples_16k']
    if not win:
        starts = list(range(0, len(audio), n))
        if len(audio) - starts[-1] < n // 4 and len(starts) > 1:
            starts.pop()
        chunks = []
        for i, start in enumerate(starts):  # start == i * n.
            last = i + 1 == len(starts)
            stop, stop16 = (len(audio), len(audio_16k)) if last else ((i + 1) * n, (i + 1) * n16)
            chunks.append(
                dict(
                    ex,
                    chunk=i,
                    start=start,
                    audio=audio[start:stop],
                    audio_16k=audio_16k[i * n16 : stop16],
                )
            )
        return chunks
    hop, hop16 = sizes['hop_samples'], sizes['hop_samples_16k']
    win16 = sizes['example_samples_16k']
    per_chunk = (n - win) // hop + 1
    n_windows = (len(audio) - win) // hop + 1
    if n_windows <= per_chunk:
        return [dict(ex, chunk=0, start=0)]
    chunks = []
    firsts = list(range(0, n_windows, per_chunk))  # Index of each chunk's first window.
    for i, first in enumerate(firsts):
        start, start16 = first * hop, first * hop16
        if i + 1 == len(firsts):
            stop, stop16, own = len(audio), len(audio_16k), None
        else:
            stop = start + (per_chunk - 1) * hop + win
            stop16 = start16 + (per_chunk - 1) * hop16 + win16
            own = per_chunk * sizes['hop_frames'] if sizes['frame_rate'] else None
        chunks.append(
            dict(
                ex,
                chunk=i,
                start=start,
                audio=audio[start:stop],
                audio_16k=audio_16k[start16:stop16],
                own_frames=own,
            )
        )
    return chunks


def statistics_frames(chunk):
    """The chunk's frame-wise features without the frames the next chunk also covers."""
    own = chunk.get('own_frames')
    keys = ('f0_hz', 'f0_confidence', 'loudness_db')
    if own is None:
        return {key: chunk[key] for key in keys}
    return {key: chunk[key][:own] for key in keys}


def add_features(ex, sizes, center, viterbi, crepe_capacity):
    """Adds f0_hz, f0_confidence (CREPE) and loudness_db at frame_rate to a chunk."""
    from ddsp import spectral_ops

    padding = 'center' if center else 'same'
    frame_rate = sizes['frame_rate']
    f0_hz, f0_confidence = spectral_ops.compute_f0(
        ex['audio_16k'],
        frame_rate,
        viterbi=viterbi,
        padding=padding,
        model_capacity=crepe_capacity,
        sample_rate=CREPE_SAMPLE_RATE,
    )
    loudness_db = spectral_ops.compute_loudness(
        ex['audio_16k'],
        CREPE_SAMPLE_RATE,
        frame_rate,
        n_fft=LOUDNESS_N_FFT,
        use_tf=False,
        padding=padding,
    )
    n_frames = len(ex['audio']) // sizes['hop'] + (1 if center else 0)
    out = dict(ex)
    for key, value in (
        ('f0_hz', f0_hz),
        ('f0_confidence', f0_confidence),
        ('loudness_db', loudness_db),
    ):
        value = np.asarray(value, np.float32).reshape(-1)
        if len(value) != n_frames:
            raise AssertionError(f'{key} has {len(value)} frames, expected {n_frames}')
        out[key] = value
    return out


def split_examples(ex, sizes, center):
    """Sliding windows of example_secs every hop_secs; the end is not padded.

    The windows have the lengths of `schema.example_lengths`, which the reader expects.
    """
    if not sizes['example_samples']:
        return [ex]
    lengths = schema.example_lengths(
        sizes['sample_rate'], sizes['frame_rate'], sizes['example_secs'], center, _OWNER
    )
    win, win16, win_f = lengths['audio'], lengths['audio_16k'], lengths.get('f0_hz', 0)
    hop, hop16, hop_f = sizes['hop_samples'], sizes['hop_samples_16k'], sizes['hop_frames']
    n = (len(ex['audio']) - win) // hop + 1
    examples = []
    for i in range(max(n, 0)):
        out = {
            'audio': ex['audio'][i * hop : i * hop + win],
            'audio_16k': ex['audio_16k'][i * hop16 : i * hop16 + win16],
        }
        if sizes['frame_rate']:
            for key in ('f0_hz', 'f0_confidence', 'loudness_db'):
                out[key] = ex[key][i * hop_f : i * hop_f + win_f]
        examples.append(out)
    return examples


def to_tf_example(ex):
    """Serialized `tf.train.Example` with float-list features (deterministic bytes)."""
    import tensorflow as tf

    feature = {
        key: tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(ex[key], np.float32)))
        for key in FEATURE_KEYS
        if key in ex
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # Deterministic: the same example gives the same bytes in every process (the order of a
    # protobuf map is otherwise free).
    return example.SerializeToString(deterministic=True)


def feature_spec(sample_rate=16000, frame_rate=250, example_secs=4, center=False):
    """The `tf.io.parse_single_example` spec of the records written with these settings.

    The same as the reader's (`schema.feature_spec`, `data.TFRecordProvider.features_dict`).
    """
    return schema.feature_spec(
        sample_rate, frame_rate, example_secs, centered=center, owner='feature_spec'
    )
