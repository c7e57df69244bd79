"""Timbre transfer: a monophonic clip resynthesized by a trained instrument, in one call.

The flow of the original timbre-transfer demo, as library functions:

1. features: the clip is resampled to the model's rate, then CREPE f0 and confidence and
   A-weighted loudness are taken at the model's frame rate (`Instrument.compute_features`);
2. restore: the model directory (or pretrained name) is loaded (`instrument.load_model`);
3. adjustment: note detection, octave shift, loudness matching to the model's training data,
   quieter note-offs, autotune, then the manual pitch and loudness shifts
   (`postprocessing.adjust_features`);
4. prediction: the model renders the adjusted features for the whole clip in one pass, and
   the result is resampled back to the input's rate.

`transfer(audio, sample_rate, 'violin')` does all four and returns a `Transfer` with the audio,
both feature sets, the note mask and each stage's time; `plot_transfer` draws them.
`ddsp_timbre_transfer` is the command-line tool over it.

Example:
    >>> from ddsp import audio_io
    >>> from ddsp.training import timbre_transfer
    >>> voice, rate, _ = audio_io.read_audio('data/voice/londonderry_air_sung.flac')
    >>> result = timbre_transfer.transfer(voice, rate, 'violin', pitch_shift=1)
    >>> result.audio.shape == voice.shape, result.timings
"""

import dataclasses
import logging
import time
from typing import Dict, Optional, Text, Union

import numpy as np

from ddsp import atomic_files, audio_io, validation
from ddsp.training import instrument as instrument_lib
from ddsp.training import postprocessing

_OWNER = 'timbre_transfer'
# Shorter clips give too few frames for CREPE and note detection to mean anything.
MIN_SECONDS = 0.25


@dataclasses.dataclass
class Transfer:
    """What `transfer` returns.

    Attributes:
        audio: `[n]` float32 resynthesis at `sample_rate`, as long as the input.
        sample_rate: Hz of `audio` (the input's).
        model_audio: `[n']` the resynthesis at the model's rate (`model_sample_rate`).
        model_sample_rate, frame_rate: the model's rates (Hz).
        features: the input's features at the model's rates (`audio`, `f0_hz`,
            `f0_confidence`, `loudness_db`; frames `[T]`).
        adjusted: the features the model was given (`f0_hz`, `loudness_db` adjusted).
        mask_on: `[T]` bool note mask (`detect_notes`).
        notes_detected: whether any frame is note-on (False: auto-adjust was skipped).
        timings: seconds per stage: 'features', 'restore', 'prediction' (and 'adjust').
        model_name: the model's card name, or its directory.
    """

    audio: np.ndarray
    sample_rate: int
    model_audio: np.ndarray
    model_sample_rate: int
    frame_rate: int
    features: Dict[Text, np.ndarray]
    adjusted: Dict[Text, np.ndarray]
    mask_on: np.ndarray
    notes_detected: bool
    timings: Dict[Text, float]
    model_name: Text


def _check_clip(audio, sample_rate) -> np.ndarray:
    sample_rate = validation.check_int(_OWNER, 'sample_rate', sample_rate)
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        validation.fail(
            _OWNER,
            'audio.shape',
            '[n_samples] mono audio (downmix stereo first: audio.mean(axis=-1))',
            audio.shape,
        )
    if audio.size < MIN_SECONDS * sample_rate:
        validation.fail(
            _OWNER,
            'audio',
            f'a clip of at least {MIN_SECONDS:g} s',
            validation.Described(f'{audio.size / sample_rate:.3f} s ({audio.size} samples)'),
        )
    if not np.all(np.isfinite(audio)):
        validation.fail(
            _OWNER,
            'audio',
            'finite samples',
            validation.Described(f'{int(np.sum(~np.isfinite(audio)))} NaN or infinite samples'),
        )
    return audio


def transfer(
    audio,
    sample_rate: int,
    model: Union[Text, instrument_lib.Instrument] = 'violin',
    threshold: float = 1.0,
    quiet: float = 20.0,
    autotune: float = 0.0,
    pitch_shift: float = 0.0,
    loudness_shift: float = 0.0,
    adjust: bool = True,
    reverb: bool = True,
    crepe_model: Text = 'full',
    traced: bool = False,
    features: Optional[Dict[Text, np.ndarray]] = None,
) -> Transfer:
    """Resynthesizes a monophonic clip with a trained instrument.

    Args:
        audio: `[n]` mono float audio in [-1, 1] (`audio_io.read_audio` gives it).
        sample_rate: Hz of `audio`; the result is at the same rate.
        model: a pretrained name (`model_dir.available_models()`), a model directory, or an
            `Instrument` already loaded (then 'restore' takes no time).
        threshold, quiet, autotune: the auto-adjust settings (`adjust_features`): note
            threshold, dB by which note-off frames are turned down, 0..1 pull onto the grid.
        pitch_shift: octaves; loudness_shift: dB; applied after the auto-adjust.
        adjust: False: only the manual shifts.
        reverb: False renders without the model's learned reverb.
        crepe_model: CREPE size for f0 ('tiny' ... 'full'; 'full' as in training).
        traced: render through one `tf.function` (faster for many clips of one length).
        features: the `features` of an earlier `Transfer` of this clip with this model, to try
            other settings without computing f0 again (then 'features' takes no time).

    Returns:
        A `Transfer`. Silence gives silence: no note is detected, the auto-adjust is
        skipped (logged), and the model renders the (quiet) loudness it is given.

    Raises:
        ValueError: audio that is not mono, shorter than 0.25 s, or not finite; bad settings;
            `ModelDirectoryError` for a model that cannot be loaded (one line each).

    Example:
        >>> result = transfer(voice, 44100, 'violin', autotune=0.5)
        >>> result.timings  # {'features': ..., 'restore': ..., 'prediction': ...}
    """
    audio = _check_clip(audio, sample_rate)
    timings = {}
    start = time.perf_counter()
    if isinstance(model, instrument_lib.Instrument):
        instrument = model
    else:
        instrument = instrument_lib.load_model(model)
    timings['restore'] = time.perf_counter() - start

    start = time.perf_counter()
    if features is None:
        features = instrument.compute_features(audio, sample_rate, crepe_model=crepe_model)
    timings['features'] = time.perf_counter() - start

    start = time.perf_counter()
    statistics = instrument.statistics if adjust else None
    adjusted, mask_on = postprocessing.adjust_features(
        features,
        statistics,
        threshold=threshold,
        quiet=quiet,
        autotune=autotune,
        pitch_shift=pitch_shift,
        loudness_shift=loudness_shift,
        adjust=adjust,
    )
    timings['adjust'] = time.perf_counter() - start

    start = time.perf_counter()
    model_audio = instrument.resynthesize(
        {'f0_hz': adjusted['f0_hz'], 'loudness_db': adjusted['loudness_db']},
        reverb=reverb,
        n_samples=len(features['audio']),
        traced=traced,
    )
    out = audio_io.resample(model_audio, instrument.sample_rate, sample_rate)
    out = np.pad(out, (0, max(0, len(audio) - len(out))))[: len(audio)]
    timings['prediction'] = time.perf_counter() - start

    card = instrument.card
    return Transfer(
        audio=out.astype(np.float32),
        sample_rate=int(sample_rate),
        model_audio=model_audio,
        model_sample_rate=instrument.sample_rate,
        frame_rate=instrument.frame_rate,
        features=features,
        adjusted=adjusted,
        mask_on=np.asarray(mask_on, bool).reshape(-1),
        notes_detected=bool(np.any(mask_on)),
        timings=timings,
        model_name=card.name if card is not None else str(instrument.directory),
    )


def transfer_file(
    input_path: Text, model: Union[Text, instrument_lib.Instrument] = 'violin', **kwargs
) -> Transfer:
    """`transfer` of an audio file (any format `audio_io.read_audio` reads; stereo is
    averaged to mono). Raises `audio_io.AudioFileError` naming the file for a file that cannot
    be used, and the `transfer` errors prefixed with the file name."""
    try:
        audio, rate, _ = audio_io.read_audio(input_path)
    except audio_io.AudioFileError as e:
        raise audio_io.AudioFileError(f'{input_path}: {e}', e.kind) from e
    try:
        return transfer(audio, rate, model, **kwargs)
    except instrument_lib.ModelDirectoryError:
        raise
    except ValueError as e:
        raise ValueError(f'{input_path}: {e}') from e


def log_no_notes(result: Transfer, logger=logging.getLogger(__name__)) -> Optional[Text]:
    """The note to show when no notes were detected (silence, or a threshold set too high)."""
    if result.notes_detected:
        return None
    message = (
        'no notes detected (silence, or --threshold too high): auto-adjust skipped; the '
        'output follows the input loudness'
    )
    logger.info(message)
    return message


def plot_transfer(result: Transfer, path: Optional[Text] = None):
    """Draws the note mask, loudness and f0 before and after adjustment, and the input and
    output spectrograms, in one figure; saves it as PNG at `path` (written whole) if given.

    Returns:
        The matplotlib `Figure` (pyplot-free).

    Example:
        >>> plot_transfer(result, 'out.png')
    """
    from ddsp.training import plotting

    frames = len(result.features['loudness_db'])
    times = np.arange(frames) / result.frame_rate
    fig = plotting.figure(figsize=(11, 11), constrained_layout=True)
    axes = fig.subplots(5, 1, sharex=True, height_ratios=[0.5, 1.2, 1.2, 1.3, 1.3])
    axes[0].fill_between(times, result.mask_on.astype(float), step='mid', alpha=0.6)
    axes[0].set_ylabel('note on')
    axes[0].set_yticks([0, 1])
    axes[0].set_title(f'Timbre transfer to {result.model_name}')
    axes[1].plot(times, result.features['loudness_db'], label='input')
    axes[1].plot(times, result.adjusted['loudness_db'], label='adjusted')
    axes[1].set_ylabel('loudness (dB)')
    axes[1].legend(loc='upper right')
    for key, label in (('features', 'input'), ('adjusted', 'adjusted')):
        f0 = np.asarray(getattr(result, key)['f0_hz'], np.float64).reshape(-1)
        midi = np.where(f0 > 0, 69.0 + 12.0 * np.log2(np.maximum(f0, 1e-9) / 440.0), np.nan)
        axes[2].plot(times, midi, label=label)
    axes[2].set_ylabel('f0 (MIDI note)')
    axes[2].legend(loc='upper right')
    for ax, audio, rate, title in (
        (axes[3], result.features['audio'], result.model_sample_rate, 'input'),
        (axes[4], result.model_audio, result.model_sample_rate, 'output'),
    ):
        plotting.plot_spectrogram(audio, rate, ax=ax)
        ax.set_ylabel(f'{title}: frequency (Hz)')
    axes[3].set_xlabel('')
    if path is not None:
        _save_png(fig, path)
    return fig


def _save_png(fig, path: Text):
    with atomic_files.write_whole(path) as f:
        fig.savefig(f, format='png', dpi=80)
