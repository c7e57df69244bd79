"""The demo's files: float WAVs, spectrogram figures and JSON written atomically."""

import json
import os

import numpy as np
import soundfile as sf


def kib(path):
    """The size of the file at `path` in KiB, as text."""
    return f'{os.path.getsize(path) / 1024:.0f} KiB'


def write_wav(path, audio, sample_rate):
    """Writes `[1, n]` audio as 32-bit float WAV; returns a description."""
    sf.write(path, audio[0], sample_rate, subtype='FLOAT')
    return f'{audio.shape[-1] / sample_rate:.2f} s, {kib(path)}'


def _pyplot_free_figure(**kwargs):
    """A matplotlib Figure drawn by the Agg backend (pyplot is left alone)."""
    # Imported here: matplotlib is optional, and its absence is reported with the fix.
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            'The demo plots spectrograms with matplotlib, which '
            'is not installed: pip install matplotlib'
        ) from e
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def plot_spectrograms(path, signals, sample_rate):
    """Saves one log-magnitude spectrogram per `(title, [1, n] audio)` pair."""
    figure = _pyplot_free_figure(figsize=(10, 2.6 * len(signals)), layout='constrained')
    axes = figure.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, audio) in zip(axes, signals, strict=True):
        with np.errstate(divide='ignore'):  # Exact silence is -inf dB: drawn black.
            ax.specgram(
                audio[0], NFFT=1024, Fs=sample_rate, noverlap=768, cmap='magma', vmin=-110, vmax=-20
            )
        ax.set(
            title=title, ylabel='Hz', ylim=(0, sample_rate / 2), facecolor='black'
        )  # Shorter signals end in silence.
    axes[-1].set_xlabel('seconds')
    figure.savefig(path, dpi=80)
    return kib(path)


def read_json(path):
    """The JSON value stored at `path`; None if it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, value):
    """Writes `value` as indented JSON through a temporary file and a rename."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(tmp, path)  # A reader never sees half a file.
