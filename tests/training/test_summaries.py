"""Summaries written without the tensorboard package are read back by TensorBoard's reader."""

import io
import wave

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
import tensorflow as tf

from ddsp import spectral_ops
from ddsp.training import plotting, summaries, train_util


def read_summaries(summary_dir):
    """{tag: [(step, ndarray), ...]} and {tag: plugin name}, via TensorBoard's EventAccumulator."""
    acc = event_accumulator.EventAccumulator(
        str(summary_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    values, plugins = {}, {}
    for tag in acc.Tags()['tensors']:
        values[tag] = [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        plugins[tag] = acc.SummaryMetadata(tag).plugin_data.plugin_name
    return values, plugins


def decode_wav(data):
    """(samples float in [-1, 1], sample_rate) of 16-bit mono WAV bytes (stdlib reader)."""
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        frames = np.frombuffer(w.readframes(w.getnframes()), '<i2')
        return frames.astype(np.float64) / 32768.0, w.getframerate()


def decode_png(data):
    return tf.io.decode_png(data).numpy()


def _write(tmp_path, fn):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        fn()
    writer.flush()
    return read_summaries(tmp_path)


def test_scalar_and_text(tmp_path):
    values, plugins = _write(
        tmp_path,
        lambda: (
            summaries.scalar_summary('a/b', 2.5, step=3),
            train_util.text_summary('t', 'hi', step=4),
        ),
    )
    assert values['a/b'] == [(3, pytest.approx(2.5))]
    assert plugins['a/b'] == 'scalars' and plugins['t'] == 'text'
    assert values['t'][0][1] == b'hi'
    assert train_util.scalar_summary is summaries.scalar_summary


def test_audio_summary_round_trips_through_wav(tmp_path):
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.9, 0.9, size=(3, 800)).astype(np.float32)
    audio[2, :10] = 1.5  # Clipped to 1.
    values, plugins = _write(
        tmp_path,
        lambda: summaries.audio_summary(audio, step=7, sample_rate=8000, name='audio_generated'),
    )
    assert plugins['audio_generated'] == 'audio'
    [(step, clips)] = values['audio_generated']
    assert step == 7 and clips.shape == (3, 2)
    for clip, (wav, label) in zip(np.clip(audio, -1, 1), clips):
        decoded, rate = decode_wav(wav)
        assert rate == 8000 and label == b''
        # 16-bit quantization: within one step of 1/32768 (plus rounding).
        np.testing.assert_allclose(decoded, clip, atol=2.0 / 32768)
    # The plugin metadata says WAV (AudioPluginData.encoding == WAV == 11).
    from tensorboard.plugins.audio import metadata as audio_metadata

    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    content = acc.SummaryMetadata('audio_generated').plugin_data.content
    assert audio_metadata.parse_plugin_metadata(content).encoding == audio_metadata.Encoding.Value(
        'WAV'
    )


def test_image_and_fig_summaries(tmp_path):
    image = np.zeros([2, 5, 7, 3], np.uint8)
    image[1, 2, 3] = [255, 0, 10]

    def write():
        summaries.image_summary('img', image, step=1)
        fig = plotting.figure(figsize=(2, 1), dpi=50)  # 100 x 50 pixels.
        fig.subplots().plot([0, 1])
        summaries.fig_summary('fig', fig, step=2)

    values, plugins = _write(tmp_path, write)
    assert plugins['img'] == plugins['fig'] == 'images'
    [(_, img)] = values['img']
    assert img[:2].tolist() == [b'7', b'5']  # width, height
    np.testing.assert_array_equal(np.stack([decode_png(p) for p in img[2:]]), image)
    [(_, fig)] = values['fig']
    assert decode_png(fig[2]).shape[:2] == (50, 100) and fig[:2].tolist() == [b'100', b'50']


def test_plot_summaries(tmp_path):
    t = np.arange(4000) / 16000
    audio = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t)])
    f0 = np.full([2, 20], 440.0)

    def write():
        summaries.waveform_summary(audio, 0.5 * audio, step=5, name='x')
        summaries.spectrogram_summary(audio, 0.5 * audio, step=5, name='x')
        summaries.f0_summary(f0, 2 * f0, step=5)

    values, _ = _write(tmp_path, write)
    for i in (1, 2):
        for tag in ('waveform', 'waveform_125ms', 'spectrogram'):
            [(step, png)] = values[f'{tag}/x_{i}']
            assert step == 5 and decode_png(png[2]).ndim == 3
        assert f'f0_midi/f0_midi_{i}' in values


def test_get_spectrogram_matches_compute_logmag():
    audio = np.random.default_rng(1).normal(size=4096).astype(np.float32)
    logmag = np.asarray(spectral_ops.compute_logmag(audio[np.newaxis], size=512))[0]
    np.testing.assert_allclose(summaries.get_spectrogram(audio[np.newaxis], size=512)[0], logmag)
    rotated = summaries.get_spectrogram(audio[np.newaxis], rotate=True, size=512)
    rotated = rotated[0]
    assert rotated.shape == logmag.shape[::-1]
    # np.rot90: the top row is the highest frequency bin.
    np.testing.assert_allclose(rotated[0], logmag[:, -1])


def test_transfer_function_of_delta_and_two_tap_filter():
    freqs, mags = plotting.transfer_function(np.array([1.0, 0, 0, 0, 0]), sample_rate=8000)
    # 5 taps -> FFT size 8 -> 5 bins from 0 to 4000 Hz; a unit impulse is flat.
    np.testing.assert_allclose(freqs, [0, 1000, 2000, 3000, 4000])
    np.testing.assert_allclose(mags, 1.0)
    # [0.5, 0.5]: |H(f)| = |cos(pi f / fs)|.
    freqs, mags = plotting.transfer_function(np.array([[0.5, 0.5]]), sample_rate=8000)
    np.testing.assert_allclose(mags[0], np.abs(np.cos(np.pi * freqs / 8000)), atol=1e-12)
    with pytest.raises(ValueError, match='ir_size'):
        plotting.transfer_function(np.zeros([0]))


def test_plots_are_pyplot_free():
    import matplotlib.pyplot as plt

    n_before = len(plt.get_fignums())
    fig = plotting.specplot(np.random.default_rng(0).normal(size=8000))
    assert len(fig.axes) == 1
    fig = plotting.plot_impulse_responses(np.hanning(64), np.ones(33))
    assert len(fig.axes) == 3
    fig, ax = plotting.pianoroll_plot_setup(xlim=(0, 10))
    assert ax.get_xlim() == (0, 10) and ax.get_ylim() == (-0.5, 127.5)
    assert len(plt.get_fignums()) == n_before
    with pytest.raises(ValueError, match='side_piano_ratio'):
        plotting.pianoroll_plot_setup(side_piano_ratio=1.5)


def test_plot_spectrogram_axes_are_in_seconds_and_hertz():
    # Silence, then a 1 kHz tone from 0.5 s: in data coordinates, the bright rows sit at
    # 1 kHz and the bright columns start where the tone does (within half a frame).
    rate, size = 8000, 256
    t = np.arange(rate) / rate
    audio = np.where(t >= 0.5, np.sin(2 * np.pi * 1000.0 * t), 0.0)
    ax = plotting.plot_spectrogram(audio, rate, size=size, title='burst')
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        'time (s)',
        'frequency (Hz)',
        'burst',
    )
    assert ax.get_xlim() == (0.0, 1.0)
    image = ax.images[0]
    logmag = np.asarray(image.get_array())  # [n_bins, n_frames], origin lower.
    left, right, bottom, top = image.get_extent()
    assert (bottom, top) == (0.0, rate / 2)
    n_bins, n_frames = logmag.shape
    freqs = bottom + (np.arange(n_bins) + 0.5) * (top - bottom) / n_bins
    times = left + (np.arange(n_frames) + 0.5) * (right - left) / n_frames
    assert abs(freqs[np.argmax(logmag.max(axis=1))] - 1000.0) <= rate / size
    loud = logmag.max(axis=0) > logmag.max() - 3.0
    half_frame = size / 2 / rate
    assert not loud[times < 0.5 - half_frame].any() and loud[times > 0.5 + half_frame].all()
    with pytest.raises(ValueError, match='sample_rate'):
        plotting.plot_spectrogram(audio, 0)


def test_bad_inputs():
    with pytest.raises(ValueError, match='batch'):
        summaries.audio_summary(np.zeros([0, 10]), step=0)
    with pytest.raises(ValueError, match='at least one'):
        summaries.png_summary('x', [], step=0)
    with pytest.raises(ValueError, match='PNG'):
        summaries.png_summary('x', [b'not a png' * 4], step=0)
    with pytest.raises(ValueError, match='height, width'):
        summaries.image_summary('x', np.zeros([4, 4]), step=0)


def test_fig_summary_closes_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1), dpi=20)
    assert fig.number in plt.get_fignums()
    values, _ = _write(tmp_path, lambda: summaries.fig_summary('p', fig, step=0))
    assert fig.number not in plt.get_fignums()
    assert values['p'][0][1][:2].tolist() == [b'20', b'20']
