"""TensorBoard summaries (scalars, text, audio, images) written with TensorFlow alone.

TensorBoard's own summary functions (`tf.summary.scalar`, `audio`, `image`, `text`) need the
`tensorboard` pip package; the helpers here write the same events with `tf.summary.write`
and the plugins' metadata, so the scalar, text, audio and image dashboards show them:

* scalars: a float32 scalar, plugin `scalars`;
* text: a string scalar, plugin `text`;
* audio: a `[k, 2]` string tensor of (WAV bytes, label), plugin `audio` (WAV encoding);
* images: a string vector `[width, height, png_1, ...]`, plugin `images`.

All write to the default summary writer (`with writer.as_default():`). Plots (waveforms,
spectrograms, f0) are drawn by `ddsp.training.plotting`, which imports matplotlib only when a
plot is drawn; this module depends on it, not the other way round.
"""

import io
from typing import Text

import numpy as np
import tensorflow as tf

from ddsp import core, validation
from ddsp.training import plotting

# Kept importable from here (the original's `summaries.get_spectrogram`).
get_spectrogram = plotting.get_spectrogram

# `SummaryMetadata.data_class` values (tensorboard/compat/proto/summary.proto).
_DATA_CLASS_SCALAR = 1
_DATA_CLASS_TENSOR = 2
_DATA_CLASS_BLOB_SEQUENCE = 3
# `AudioPluginData(version=0, encoding=WAV)` serialized: field 2 (varint) = 11.
_AUDIO_PLUGIN_CONTENT = b'\x10\x0b'


def _metadata(plugin_name: Text, data_class: int, content: bytes = b''):
    """A `SummaryMetadata` proto naming the TensorBoard plugin that displays a summary."""
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin_name
    metadata.plugin_data.content = content
    metadata.data_class = data_class
    return metadata


def scalar_summary(name: Text, value, step: int):
    """`tf.summary.scalar` without the tensorboard package (to the default writer).

    Example: `scalar_summary('losses/total_loss', 0.5, step=10)`.
    """
    return tf.summary.write(
        name,
        tf.cast(value, tf.float32),
        step=step,
        metadata=_metadata('scalars', _DATA_CLASS_SCALAR),
    )


def text_summary(name: Text, text: Text, step: int):
    """`tf.summary.text` without the tensorboard package (to the default writer).

    Example: `text_summary('gin/config', 'a = 1', step=0)`.
    """
    return tf.summary.write(
        name, tf.constant(text), step=step, metadata=_metadata('text', _DATA_CLASS_TENSOR)
    )


_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _png_size(png: bytes):
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != _PNG_SIGNATURE:
        validation.fail(
            'png_summary', 'pngs[0][:8]', f'the PNG signature {_PNG_SIGNATURE!r}', png[:8]
        )
    return int.from_bytes(png[16:20], 'big'), int.from_bytes(png[20:24], 'big')


def png_summary(name: Text, pngs, step: int):
    """Writes PNG-encoded images (all the same size) as one image summary.

    Args:
        name: the tag.
        pngs: a list of PNG `bytes`.
        step: the global step.
    """
    pngs = [bytes(p) for p in pngs]
    if not pngs:
        validation.fail('png_summary', 'pngs', 'a list of at least one PNG image', pngs)
    width, height = _png_size(pngs[0])
    tensor = tf.constant([str(width).encode(), str(height).encode()] + pngs)
    return tf.summary.write(
        name, tensor, step=step, metadata=_metadata('images', _DATA_CLASS_BLOB_SEQUENCE)
    )


def image_summary(name: Text, images, step: int):
    """`tf.summary.image` without tensorboard: `images` uint8 (or float in [0, 1]) `[k, h, w, c]`.

    Example: `image_summary('img', np.zeros([1, 8, 8, 3], np.uint8), step=0)`.
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        validation.fail(
            'image_summary',
            'images.shape',
            'a shape [k, height, width, channels]',
            tuple(images.shape),
        )
    if images.dtype != tf.uint8:
        images = tf.image.convert_image_dtype(images, tf.uint8, saturate=True)
    return png_summary(name, [tf.image.encode_png(im).numpy() for im in images], step)


def fig_summary(tag: Text, fig, step: int):
    """Writes a matplotlib Figure as a PNG image summary, then closes it if pyplot owns it.

    Args:
        tag: the summary tag.
        fig: a `matplotlib.figure.Figure` (from pyplot or `plotting.figure()`).
        step: the global step.
    """
    buffer = io.BytesIO()
    plotting.ensure_canvas(fig).print_png(buffer)
    plotting.close(fig)
    return png_summary(tag, [buffer.getvalue()], step)


def audio_summary(audio, step: int, sample_rate: int = 16000, name: Text = 'audio'):
    """Writes every example of a batch as a WAV clip (values clipped to [-1, 1], 16-bit).

    Args:
        audio: `[batch, n_samples]` or `[batch, n_samples, channels]`, floats in [-1, 1].
        step: the global step.
        sample_rate: Hz.
        name: the tag.

    Example: `audio_summary(audio_gen, step, name='audio_generated')`.
    """
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[np.newaxis]
    if audio.ndim == 2:
        audio = audio[:, :, np.newaxis]
    if audio.ndim != 3 or audio.shape[0] == 0:
        validation.fail(
            'audio_summary',
            'audio.shape',
            'a shape [batch, n_samples(, channels)] with batch > 0',
            audio.shape,
        )
    wavs = [tf.audio.encode_wav(np.clip(a, -1.0, 1.0), int(sample_rate)) for a in audio]
    tensor = tf.stack([tf.stack([w, tf.constant(b'')]) for w in wavs])
    return tf.summary.write(
        name,
        tensor,
        step=step,
        metadata=_metadata('audio', _DATA_CLASS_BLOB_SEQUENCE, _AUDIO_PLUGIN_CONTENT),
    )


def _batch(x):
    x = np.asarray(x, np.float32)
    while x.ndim > 2 and x.shape[-1] == 1:
        x = x[..., 0]
    return x[np.newaxis] if x.ndim == 1 else x


def waveform_summary(audio, audio_gen, step: int, name: Text = '', sample_rate: int = 16000):
    """Plots original and generated waveforms per example: full length and the first 125 ms.

    Tags `waveform/{name}_{i+1}` and `waveform_125ms/{name}_{i+1}`, i over the batch.

    Args:
        audio, audio_gen: `[batch, n_samples]`.
    """
    audio, audio_gen = _batch(audio), _batch(audio_gen)
    n_short = int(0.125 * sample_rate)
    for i, (original, generated) in enumerate(zip(audio, audio_gen)):
        for tag, n in (('waveform', None), ('waveform_125ms', n_short)):
            fig = plotting.figure(figsize=(8, 5))
            axes = fig.subplots(2, 1, sharex=True)
            for ax, signal, title in (
                (axes[0], original, 'original'),
                (axes[1], generated, 'generated'),
            ):
                ax.plot(signal[:n])
                ax.set_ylabel(title)
            fig_summary(f'{tag}/{name}_{i + 1}', fig, step)


def spectrogram_summary(audio, audio_gen, step: int, name: Text = '', tag: Text = 'spectrogram'):
    """Plots original and generated log spectrograms (size 768, vmin -5, vmax 1) per example.

    Tags `{tag}/{name}_{i+1}`.

    Args:
        audio, audio_gen: `[batch, n_samples]`.
    """
    audio, audio_gen = _batch(audio), _batch(audio_gen)
    for i, (original, generated) in enumerate(zip(audio, audio_gen)):
        fig = plotting.figure(figsize=(8, 6))
        axes = fig.subplots(2, 1)
        for ax, signal, title in (
            (axes[0], original, 'original'),
            (axes[1], generated, 'generated'),
        ):
            plotting.specplot(signal, ax=ax, size=768, vmin=-5, vmax=1)
            ax.set_title(title)
        fig_summary(f'{tag}/{name}_{i + 1}', fig, step)


def f0_summary(f0_hz, f0_hz_predict, step: int, name: Text = 'f0_midi', tag: Text = 'f0_midi'):
    """Plots ground-truth and predicted f0 (MIDI) and their difference, per example.

    Tags `{tag}/{name}_{i+1}`.

    Args:
        f0_hz, f0_hz_predict: `[batch, n_frames]`, Hz.
    """
    f0_midi = np.asarray(core.hz_to_midi(_batch(f0_hz)))
    f0_midi_predict = np.asarray(core.hz_to_midi(_batch(f0_hz_predict)))
    for i, (truth, predict) in enumerate(zip(f0_midi, f0_midi_predict)):
        n = min(len(truth), len(predict))
        fig = plotting.figure(figsize=(8, 5))
        axes = fig.subplots(2, 1, sharex=True)
        axes[0].plot(truth, label='f0')
        axes[0].plot(predict, label='f0 predicted')
        axes[0].set_ylabel('MIDI')
        axes[0].legend()
        axes[1].plot(predict[:n] - truth[:n])
        axes[1].set_ylabel('difference (semitones)')
        fig_summary(f'{tag}/{name}_{i + 1}', fig, step)


def read_scalars(log_dir: Text, tags) -> dict:
    """The scalar summaries `tags` written under `log_dir`: `{tag: {step: value}}`.

    Reads every `events.out.tfevents.*` file in `log_dir` (not its subdirectories), in name
    order, so a resumed run's later value for a step wins. A file cut short by a killed run
    gives the events before the cut. Tags never written map to `{}`.

    Example:
        >>> read_scalars('runs/violin/summaries/train', ['losses/total_loss'])
        {'losses/total_loss': {100: 12.3, 200: 9.8}}
    """
    found = {tag: {} for tag in tags}
    for run in read_runs(log_dir, tags):
        for tag, events in run['scalars'].items():
            found[tag].update({step: value for step, _, value in events})
    return found


def read_runs(log_dir: Text, tags) -> list:
    """The scalar summaries `tags` of each run (events file) under `log_dir`, with wall times.

    One dict per `events.out.tfevents.*` file, in name order (a resumed training run writes a
    new file): `start_time` (seconds since the epoch at which the file was opened, None if it
    holds no event) and `scalars`, `{tag: [(step, wall_time, value), ...]}` in file order.

    Example:
        >>> [len(r['scalars']['steps_per_sec']) for r in read_runs(log_dir, ['steps_per_sec'])]
        [20, 20]
    """
    return [_read_events_file(path, tags) for path in _events_files(log_dir)]


def _events_files(log_dir):
    return sorted(tf.io.gfile.glob(tf.io.gfile.join(log_dir, 'events.out.tfevents.*')))


def _read_events_file(path, tags) -> dict:
    from tensorflow.core.util import event_pb2

    run = {'start_time': None, 'scalars': {tag: [] for tag in tags}}
    try:
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            if run['start_time'] is None:
                run['start_time'] = float(event.wall_time)
            for value in event.summary.value:
                if value.tag in run['scalars']:
                    scalar = tf.make_ndarray(value.tensor) if value.HasField('tensor') else None
                    number = float(value.simple_value if scalar is None else scalar)
                    run['scalars'][value.tag].append((int(event.step), event.wall_time, number))
    except tf.errors.OpError:  # Cut short by a killed run: keep what was read.
        pass
    return run
