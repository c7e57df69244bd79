"""Plotting helpers (spectrograms, impulse responses, piano rolls) with matplotlib.

matplotlib is optional: it is imported when a plot is drawn, and figures are pyplot-free
(`matplotlib.figure.Figure` on an Agg canvas), so nothing here changes pyplot's state or
needs a display. Pass `ax=` to draw into an existing (e.g. pyplot) axes instead.

This module draws; `ddsp.training.summaries` writes the figures to TensorBoard and depends on
it (never the other way round).
"""

import sys
from typing import Optional, Sequence, Tuple

import numpy as np

from ddsp import core, spectral_ops, validation

DEFAULT_SAMPLE_RATE = 16000


def _matplotlib():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(
            'Plotting needs matplotlib, which is not installed: pip install matplotlib'
        ) from e
    return matplotlib


def figure(**kwargs):
    """A matplotlib `Figure` on an Agg canvas, not registered with pyplot.

    Example: `fig = figure(figsize=(8, 4)); ax = fig.subplots()`.
    """
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def ensure_canvas(fig):
    """The figure's canvas, attaching an Agg canvas if it has none that can print PNG."""
    canvas = getattr(fig, 'canvas', None)
    if canvas is None or not hasattr(canvas, 'print_png'):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
    return canvas


def close(fig):
    """Releases a pyplot-managed figure (pyplot-free figures need nothing)."""
    pyplot = sys.modules.get('matplotlib.pyplot')
    number = getattr(fig, 'number', None)
    if pyplot is not None and number is not None and pyplot.fignum_exists(number):
        pyplot.close(fig)


def get_spectrogram(audio, rotate: bool = False, size: int = 1024) -> np.ndarray:
    """Log magnitude spectrogram `[(batch,) n_frames, size // 2 + 1]` (`compute_logmag`).

    With `rotate`, the last two axes are rotated 90 degrees (frequency up, time to the right).

    Example: `get_spectrogram(np.zeros(16000), size=1024).shape` -> `(63, 513)`.
    """
    logmag = np.asarray(spectral_ops.compute_logmag(core.tf_float32(audio), size=size))
    return np.rot90(logmag, axes=(-2, -1)) if rotate else logmag


def specplot(
    audio,
    vmin: float = -5,
    vmax: float = 1,
    rotate: bool = True,
    size: int = 768,
    ax=None,
    **matshow_kwargs,
):
    """Plots the log magnitude spectrogram of one example (magma colormap, no ticks).

    Args:
        audio: `[n_samples]` (or `[1, n_samples]`).
        vmin, vmax: colour range in log magnitude (natural log units).
        rotate: frequency up and time to the right.
        size: FFT size.
        ax: axes to draw into; None draws into a new pyplot-free figure.
        **matshow_kwargs: passed to `ax.matshow`.

    Returns:
        The `Figure` drawn into.

    Example: `fig = specplot(audio[0]); fig.savefig('spec.png')`.
    """
    logmag = get_spectrogram(np.asarray(audio, np.float32).reshape(-1), rotate=rotate, size=size)
    if ax is None:
        ax = figure(figsize=(8, 4)).subplots()
    matshow_kwargs.setdefault('cmap', 'magma')
    matshow_kwargs.setdefault('aspect', 'auto')
    ax.matshow(logmag, vmin=vmin, vmax=vmax, **matshow_kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel('Time')
    ax.set_ylabel('Frequency')
    return ax.figure


def plot_spectrogram(
    audio,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    ax=None,
    title: str = '',
    size: int = 1024,
    vmin: float = -5,
    vmax: float = 1,
):
    """Plots a log magnitude spectrogram on time (s) and frequency (Hz) axes.

    Frames are `size` samples at a hop of `size // 4`; each column is drawn over the hop
    around its frame's centre, so that features line up with the audio's time axis. Unlike
    `specplot` (the original's unlabelled thumbnail), the axes carry units.

    Args:
        audio: `[n_samples]` (or `[1, n_samples]`).
        sample_rate: of `audio`, in Hz.
        ax: axes to draw into; None draws into a new pyplot-free figure.
        title: axes title.
        size: FFT size in samples.
        vmin, vmax: colour range in log magnitude (natural log units).

    Returns:
        The axes drawn into.

    Example: `plot_spectrogram(audio, 16000, ax=axes[0], title='input')`.
    """
    sample_rate = validation.check_positive_number('plot_spectrogram', 'sample_rate', sample_rate)
    size = validation.check_int('plot_spectrogram', 'size', size, minimum=4)
    audio = np.asarray(audio, np.float32).reshape(-1)
    hop = size // 4
    logmag = np.asarray(spectral_ops.compute_logmag(audio, size=size, pad_end=False))
    if ax is None:
        ax = figure(figsize=(8, 4)).subplots()
    # Frame k is centred on sample size / 2 + hop * k.
    first, last = size / 2 - hop / 2, size / 2 + hop * (len(logmag) - 0.5)
    extent = (first / sample_rate, last / sample_rate, 0.0, sample_rate / 2)
    ax.imshow(
        logmag.T, origin='lower', aspect='auto', cmap='magma', vmin=vmin, vmax=vmax, extent=extent
    )
    ax.set(
        xlim=(0, len(audio) / sample_rate), xlabel='time (s)', ylabel='frequency (Hz)', title=title
    )
    return ax


def transfer_function(ir, sample_rate: int = DEFAULT_SAMPLE_RATE) -> Tuple[np.ndarray, np.ndarray]:
    """Frequencies and magnitude response of impulse responses.

    The FFT size is the next power of two >= the IR length (zero padding).

    Args:
        ir: `[..., ir_size]` impulse response(s).
        sample_rate: Hz.

    Returns:
        `(frequencies [n_fft // 2 + 1] Hz, magnitudes [..., n_fft // 2 + 1] = |rfft(ir)|)`.

    Example: a unit impulse `[1, 0, 0, 0]` gives magnitudes all 1.
    """
    ir = np.asarray(ir, np.float64)
    if ir.ndim == 0 or ir.shape[-1] == 0:
        validation.fail(
            'transfer_function', 'ir.shape', 'a shape [..., ir_size] with ir_size > 0', ir.shape
        )
    n_fft = core.get_fft_size(1, ir.shape[-1], True)  # The next power of 2 >= ir_size.
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return frequencies, np.abs(np.fft.rfft(ir, n_fft, axis=-1))


def plot_impulse_responses(
    impulse_response, desired_magnitudes, sample_rate: int = DEFAULT_SAMPLE_RATE
):
    """Plots a desired magnitude response, the impulse response, and its actual response.

    Args:
        impulse_response: `[ir_size]` (or `[1, ir_size]`).
        desired_magnitudes: `[n_bins]`, linear, spanning 0 .. Nyquist.
        sample_rate: Hz.

    Returns:
        The pyplot-free `Figure` (three panels).

    Example: `plot_impulse_responses(ir[0], magnitudes[0, 0]).savefig('ir.png')`.
    """
    ir = np.asarray(impulse_response, np.float64).reshape(-1)
    desired = np.asarray(desired_magnitudes, np.float64).reshape(-1)
    frequencies, magnitudes = transfer_function(ir, sample_rate)
    fig = figure(figsize=(12, 3))
    axes = fig.subplots(1, 3)
    axes[0].plot(np.linspace(0, sample_rate / 2, desired.size), desired)
    axes[0].set_title('Desired magnitudes')
    axes[0].set_xlabel('Hz')
    axes[1].plot(ir)
    axes[1].set_title('Impulse response')
    axes[1].set_xlabel('samples')
    axes[2].plot(frequencies, magnitudes)
    axes[2].set_title('Transfer function')
    axes[2].set_xlabel('Hz')
    return fig


_BLACK_KEYS = (1, 3, 6, 8, 10)  # Pitch classes of the black keys (C = 0).


def pianoroll_plot_setup(
    figsize: Optional[Sequence[float]] = None,
    side_piano_ratio: float = 0.025,
    faint_pr: bool = True,
    xlim: Optional[Sequence[float]] = None,
):
    """A figure with a piano keyboard on the left and an empty piano-roll axes beside it.

    Args:
        figsize: the figure size in inches (default (12, 6)).
        side_piano_ratio: the keyboard's share of the width, in (0, 1).
        faint_pr: shade the black-key rows of the piano roll faintly.
        xlim: x limits of the piano roll (frames or seconds).

    Returns:
        `(fig, ax)`: the pyplot-free figure and the piano-roll axes (y = MIDI pitch 0..127).

    Example: `fig, ax = pianoroll_plot_setup(); ax.plot(frames, f0_midi)`.
    """
    if not 0.0 < side_piano_ratio < 1.0:
        validation.fail(
            'pianoroll_plot_setup', 'side_piano_ratio', 'a number in (0, 1)', side_piano_ratio
        )
    fig = figure(figsize=figsize or (12, 6))
    piano_ax, ax = fig.subplots(
        1,
        2,
        sharey=True,
        gridspec_kw={'width_ratios': [side_piano_ratio, 1.0 - side_piano_ratio], 'wspace': 0.0},
    )
    pitches = np.arange(128)
    black = np.isin(pitches % 12, _BLACK_KEYS)
    piano_ax.imshow(
        np.where(black, 0.0, 1.0)[:, np.newaxis],
        cmap='gray',
        aspect='auto',
        origin='lower',
        extent=(0, 1, -0.5, 127.5),
        vmin=0,
        vmax=1,
    )
    piano_ax.set_xticks([])
    piano_ax.set_ylabel('MIDI pitch')
    if faint_pr:
        for pitch in pitches[black]:
            ax.axhspan(pitch - 0.5, pitch + 0.5, color='0.5', alpha=0.1, linewidth=0)
    ax.set_ylim(-0.5, 127.5)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.tick_params(left=False)
    return fig, ax
