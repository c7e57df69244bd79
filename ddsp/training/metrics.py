"""Evaluation metrics: loudness and pitch distances between original and generated audio.

Each `*Metrics` object accumulates per-example values with `update_state` and writes their
means as TensorBoard scalars `metrics/{name}/{metric}` with `flush(step)` (to the default
summary writer), then resets.

* `LoudnessMetrics`: mean |loudness(original) - loudness(generated)| in dB.
* `F0CrepeMetrics`: CREPE is run on the generated audio; mean |MIDI(f0) - MIDI(f0_gen)| over
  confidently pitched ground-truth frames, and the ratio of examples where that is undefined.
* `F0Metrics`: the same pitch distance for a predicted f0 (no CREPE), plus raw pitch and raw
  chroma accuracy (the MIREX melody measures, as in `mir_eval.melody`).

CREPE (`ddsp.spectral_ops.compute_f0`) is imported only when pitch is computed.
"""

import dataclasses
from typing import Dict, Optional, Sequence, Text

from absl import logging
import keras
import numpy as np

from ddsp import core, spectral_ops, validation
from ddsp.spectral_ops import framing
from ddsp.training import summaries

# Frames whose ground-truth CREPE confidence is below this are not pitch-evaluated.
MIN_F0_CONFIDENCE = 0.85
# Pitch errors (MIDI) above this count as outliers.
OUTLIER_MIDI_THRESH = 12


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------
def squeeze(input_vector) -> np.ndarray:
    """A NumPy copy of `input_vector` without its size-1 dimensions (`[1, n, 1]` -> `[n]`).

    Example: `squeeze(np.zeros([1, 5, 1])).shape` -> `(5,)`.
    """
    return np.squeeze(np.asarray(input_vector))


def l1_distance(prediction, ground_truth) -> np.ndarray:
    """Element-wise |prediction - ground_truth| over the shorter of the two lengths.

    Args:
        prediction: `[n]` (size-1 dimensions are squeezed).
        ground_truth: `[m]`.

    Returns:
        `[min(n, m)]` absolute differences, in the inputs' units.

    Example: `l1_distance([1., 2., 3.], [1., 1.])` -> `[0., 1.]`.
    """
    prediction = np.atleast_1d(squeeze(prediction))
    ground_truth = np.atleast_1d(squeeze(ground_truth))
    for name, value in (('prediction', prediction), ('ground_truth', ground_truth)):
        if value.ndim != 1:
            validation.fail(
                'l1_distance',
                f'{name}.shape',
                'a 1-D shape [n] (after squeezing size-1 dimensions)',
                value.shape,
            )
    n = min(prediction.shape[0], ground_truth.shape[0])
    return np.abs(prediction[:n] - ground_truth[:n])


def is_outlier(ground_truth_f0_conf) -> bool:
    """Whether an example is never confidently pitched: max(confidence) < MIN_F0_CONFIDENCE.

    Example: `is_outlier([0.1, 0.9])` -> `False`.
    """
    conf = np.asarray(ground_truth_f0_conf, np.float32)
    if conf.size == 0:
        return True
    return bool(np.max(conf) < MIN_F0_CONFIDENCE)


def compute_audio_features(
    audio,
    frame_rate: int = 250,
    sample_rate: int = 16000,
    n_fft: int = 512,
    model_capacity: Text = 'full',
    viterbi: bool = True,
) -> Dict[Text, np.ndarray]:
    """Loudness and CREPE pitch of one example.

    Args:
        audio: `[n_samples]` (or `[1, n_samples]`) at `sample_rate` Hz, float or integer PCM
            (int16 etc., scaled to [-1, 1) as `spectral_ops.framing.pcm_to_float` does).
        frame_rate: feature frames per second; must divide 16000 and `sample_rate`.
        sample_rate: audio sample rate, Hz (CREPE resamples to 16 kHz itself).
        n_fft: loudness FFT size.
        model_capacity: CREPE size, 'tiny' ... 'full' (default as in the original).
        viterbi: smooth the CREPE pitch path.

    Returns:
        `{'audio': [n_samples], 'loudness_db': [n_frames] (dB), 'f0_hz': [n_frames] (Hz),
        'f0_confidence': [n_frames] (0..1)}`, NumPy float32; n_frames = n_samples // hop + 1.

    Example:
        >>> t = np.arange(16000) / 16000
        >>> feats = compute_audio_features(np.sin(2 * np.pi * 440 * t), model_capacity='tiny')
        >>> feats['f0_hz'].shape  # (251,)
    """
    audio = framing.pcm_to_float(squeeze(audio), 'compute_audio_features')
    audio = np.atleast_1d(np.asarray(audio, np.float32))
    if audio.ndim != 1:
        validation.fail(
            'compute_audio_features', 'audio.shape', 'one mono example [n_samples]', audio.shape
        )
    loudness_db = spectral_ops.compute_loudness(
        audio, sample_rate=sample_rate, frame_rate=frame_rate, n_fft=n_fft, use_tf=False
    )
    f0_hz, f0_confidence = spectral_ops.compute_f0(
        audio, frame_rate, viterbi=viterbi, model_capacity=model_capacity, sample_rate=sample_rate
    )
    return {
        'audio': audio,
        'loudness_db': np.asarray(loudness_db, np.float32),
        'f0_hz': f0_hz,
        'f0_confidence': f0_confidence,
    }


def resynthesis_metrics(
    original_features: Sequence[Dict[Text, np.ndarray]],
    generated: Sequence[np.ndarray],
    sample_rate: int = 16000,
    frame_rate: int = 250,
    crepe_capacity: Text = 'full',
) -> Dict[Text, Optional[float]]:
    """How closely generated clips follow the loudness and pitch of their originals.

    Args:
        original_features: `compute_audio_features` of each original clip (same rates).
        generated: each generated clip, `[n_samples]` at `sample_rate`.
        sample_rate, frame_rate: Hz.
        crepe_capacity: CREPE size for the generated clips' f0 (that of the originals').

    Returns:
        `loudness_l1_db`: mean |dB| over all frames of all clips; `f0_l1_midi`: mean over clips
        of the MIDI distance on frames where the original's confidence >= 0.85
        (`f0_dist_conf_thresh`; None if no clip has one); `f0_outlier_ratio`: share of clips
        where that distance is undefined (as `F0CrepeMetrics`); `f0_confident_ratio`: share of
        the original's confident frames where the generated clip is confidently pitched too;
        on those frames, `f0_median_cents` (median |error|) and `f0_within_50_cents`
        (`raw_pitch_accuracy`).

    Example:
        >>> truth = [compute_audio_features(a, model_capacity='tiny') for a in clips]
        >>> resynthesis_metrics(truth, rendered, crepe_capacity='tiny')['loudness_l1_db']
    """
    loudness, f0_dists, confident, outliers = [], [], [], 0
    ref_cents, gen_cents, voiced = [], [], []
    for truth, audio in zip(original_features, generated, strict=True):
        gen = compute_audio_features(
            audio, frame_rate=frame_rate, sample_rate=sample_rate, model_capacity=crepe_capacity
        )
        loudness.append(l1_distance(gen['loudness_db'], truth['loudness_db']))
        dist = f0_dist_conf_thresh(truth['f0_hz'], gen['f0_hz'], truth['f0_confidence'])
        if dist is None or not np.isfinite(dist):
            outliers += 1
        else:
            f0_dists.append(dist)
        n = min(len(gen['f0_confidence']), len(truth['f0_confidence']))
        keep = truth['f0_confidence'][:n] >= MIN_F0_CONFIDENCE
        confident.append(gen['f0_confidence'][:n][keep] >= MIN_F0_CONFIDENCE)
        # Per frame, for the median and the raw pitch accuracy: the mean above is pulled up by
        # the few frames where the tracker reads another pitch.
        ref_cents.append(hz_to_cents(truth['f0_hz'][:n]))
        gen_cents.append(hz_to_cents(gen['f0_hz'][:n]))
        voiced.append(keep)
    confident = np.concatenate(confident)
    ref_cents, gen_cents = np.concatenate(ref_cents), np.concatenate(gen_cents)
    voiced = np.concatenate(voiced)
    errors = np.abs(gen_cents - ref_cents)[voiced]
    return {
        'loudness_l1_db': float(np.mean(np.concatenate(loudness))),
        'f0_l1_midi': float(np.mean(f0_dists)) if f0_dists else None,
        'f0_outlier_ratio': outliers / len(original_features),
        'f0_confident_ratio': float(np.mean(confident)) if confident.size else None,
        'f0_median_cents': float(np.median(errors)) if errors.size else None,
        'f0_within_50_cents': raw_pitch_accuracy(voiced, ref_cents, gen_cents),
    }


def _hz_to_midi_np(f0_hz) -> np.ndarray:
    """Hz -> MIDI with 0 Hz (and below) mapped to MIDI 0, in NumPy."""
    return np.asarray(core.hz_to_midi(np.asarray(f0_hz, np.float32)), np.float32)


def f0_dist_conf_thresh(
    f0_hz, f0_hz_gen, f0_confidence, f0_confidence_thresh: float = MIN_F0_CONFIDENCE
) -> Optional[float]:
    """Mean |MIDI(f0_hz) - MIDI(f0_hz_gen)| over frames with confidence >= threshold.

    Args:
        f0_hz: ground-truth f0 `[n_frames]`, Hz (0 Hz counts as MIDI 0).
        f0_hz_gen: f0 of the generated audio `[n_frames']`, Hz; both are cut to the shorter.
        f0_confidence: ground-truth confidence `[n_frames]`, 0..1.
        f0_confidence_thresh: frames below it are ignored.

    Returns:
        The mean distance in semitones (MIDI), or None when no frame is confident enough.

    Example: a whole example one semitone sharp with confidence 1 gives ~1.0.
    """
    conf = np.atleast_1d(squeeze(f0_confidence)).astype(np.float32)
    if conf.size == 0 or np.max(conf) < f0_confidence_thresh:
        return None
    dist = l1_distance(_hz_to_midi_np(f0_hz), _hz_to_midi_np(f0_hz_gen))
    keep = conf[: dist.shape[0]] >= f0_confidence_thresh
    if not np.any(keep):
        return None
    return float(np.mean(dist[keep]))


def hz_to_cents(f0_hz) -> np.ndarray:
    """Hz -> cents above 10 Hz (`1200 log2(f / 10)`), 0 for f <= 0 (mir_eval's convention).

    Example: `hz_to_cents([0., 20.])` -> `[0., 1200.]`.
    """
    f0_hz = np.asarray(f0_hz, np.float64)
    cents = np.zeros_like(f0_hz)
    positive = f0_hz > 0
    cents[positive] = 1200.0 * np.log2(f0_hz[positive] / 10.0)
    return cents


def _pitch_errors(ref_voicing, ref_cent, est_cent, owner):
    """Frames where both pitches are nonzero, and their |cent| differences there."""
    ref_voicing = np.asarray(ref_voicing, np.float64)
    ref_cent, est_cent = np.asarray(ref_cent, np.float64), np.asarray(est_cent, np.float64)
    if not ref_voicing.shape == ref_cent.shape == est_cent.shape:
        validation.fail(
            owner,
            '(ref_voicing, ref_cent, est_cent) shapes',
            'equal (one length for the voicing and both pitch sequences)',
            (ref_voicing.shape, ref_cent.shape, est_cent.shape),
        )
    both = (ref_cent != 0) & (est_cent != 0)
    return ref_voicing, both, np.abs(ref_cent - est_cent)[both]


def raw_pitch_accuracy(ref_voicing, ref_cent, est_cent, cent_tolerance: float = 50) -> float:
    """Fraction of reference-voiced frames whose estimate is within `cent_tolerance` cents.

    Estimated voicing is ignored; frames where either pitch is 0 cents never count as right.

    Args:
        ref_voicing: `[n]` reference voicing, 0/1 (or weights in [0, 1]).
        ref_cent: `[n]` reference pitch, cents (see `hz_to_cents`).
        est_cent: `[n]` estimated pitch, cents.
        cent_tolerance: strict upper bound on a correct frame's |error|, cents.

    Returns:
        A float in [0, 1] (0 when no frame is voiced).

    Example: an estimate 100 cents off everywhere gives 0.0 at tolerance 50.
    """
    ref_voicing, both, diff = _pitch_errors(ref_voicing, ref_cent, est_cent, 'raw_pitch_accuracy')
    if ref_voicing.sum() == 0 or not np.any(both):
        return 0.0
    return float(np.sum(ref_voicing[both] * (diff < cent_tolerance)) / np.sum(ref_voicing))


def raw_chroma_accuracy(ref_voicing, ref_cent, est_cent, cent_tolerance: float = 50) -> float:
    """As `raw_pitch_accuracy`, with errors folded to the nearest octave (octave errors pass).

    Example: an estimate exactly one octave (1200 cents) off gives 1.0.
    """
    ref_voicing, both, diff = _pitch_errors(ref_voicing, ref_cent, est_cent, 'raw_chroma_accuracy')
    if ref_voicing.sum() == 0 or not np.any(both):
        return 0.0
    folded = np.abs(diff - 1200.0 * np.floor(diff / 1200.0 + 0.5))
    return float(np.sum(ref_voicing[both] * (folded < cent_tolerance)) / np.sum(ref_voicing))


def _batch_numpy(x, name, owner) -> np.ndarray:
    """`x` as a NumPy float32 `[batch, n]` array (trailing size-1 channel dims dropped)."""
    x = np.asarray(x, np.float32)
    while x.ndim > 2 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 1:
        x = x[np.newaxis]
    if x.ndim != 2:
        validation.fail(owner, f'{name}.shape', 'a shape [batch, time]', x.shape)
    return x


# ------------------------------------------------------------------------------------------------
# Metrics objects.
# ------------------------------------------------------------------------------------------------
class BaseMetrics:
    """Named running means, written as `metrics/{name}/{metric}` scalars by `flush(step)`.

    Args:
        sample_rate: audio sample rate, Hz.
        frame_rate: feature frames per second.
        name: the summary namespace.

    Subclasses fill `self.metrics` (a dict of `keras.metrics.Metric`) and implement
    `update_state`.
    """

    def __init__(self, sample_rate: int, frame_rate: int, name: Text):
        # Batches are training examples: their frames align exactly with their samples.
        validation.hop_size(sample_rate, frame_rate, owner=type(self).__name__)
        self._sample_rate = int(sample_rate)
        self._frame_rate = int(frame_rate)
        self._name = str(name)
        self.metrics: Dict[Text, keras.metrics.Metric] = {}

    @property
    def name(self) -> Text:
        return self._name

    def _batch(self, x, name) -> np.ndarray:
        return _batch_numpy(x, name, owner=type(self).__name__)

    def update_state(self, batch, *args, **kwargs):
        raise NotImplementedError(f'{type(self).__name__} must implement update_state().')

    def results(self) -> Dict[Text, float]:
        """The current means, as floats (NaN for a metric never updated)."""
        return {
            k: (float(m.result().numpy()) if self._count(m) else float('nan'))
            for k, m in self.metrics.items()
        }

    @staticmethod
    def _count(metric) -> float:
        count = getattr(metric, 'count', None)
        return float(count.numpy()) if count is not None else 1.0

    def flush(self, step: int):
        """Writes each metric that has values to the default summary writer, logs, resets."""
        results = self.results()
        for k, value in results.items():
            if not np.isnan(value):
                summaries.scalar_summary(f'metrics/{self._name}/{k}', value, step=int(step))
        logging.info(
            '%s at step %d: %s',
            self._name,
            int(step),
            ', '.join(f'{k} {v:.4f}' for k, v in results.items()),
        )
        for metric in self.metrics.values():
            metric.reset_state()


class LoudnessMetrics(BaseMetrics):
    """Mean L1 distance (dB) between the batch's `loudness_db` and the generated audio's.

    Example:
        >>> m = LoudnessMetrics(16000, 250)
        >>> m.update_state(batch, audio_gen)  # batch['loudness_db'] [b, n_frames]
        >>> m.flush(step)  # metrics/loudness/loudness_db
    """

    def __init__(self, sample_rate: int, frame_rate: int, name: Text = 'loudness'):
        super().__init__(sample_rate, frame_rate, name)
        self.metrics = {'loudness_db': keras.metrics.Mean(name=f'{name}_loudness_db')}

    def update_state(self, batch, audio_gen):
        """Args: batch with `loudness_db` `[b, n_frames]`; audio_gen `[b, n_samples]`."""
        loudness_gen = np.asarray(
            spectral_ops.compute_loudness(
                self._batch(audio_gen, 'audio_gen'),
                sample_rate=self._sample_rate,
                frame_rate=self._frame_rate,
            )
        )
        loudness = self._batch(batch['loudness_db'], "batch['loudness_db']")
        for original, generated in zip(loudness, loudness_gen):
            self.metrics['loudness_db'].update_state(np.mean(l1_distance(generated, original)))


class F0CrepeMetrics(BaseMetrics):
    """CREPE pitch of the generated audio against the batch's `f0_hz` / `f0_confidence`.

    `f0_dist`: mean MIDI distance over confident frames (`f0_dist_conf_thresh`), for examples
    that are not outliers; `outlier_ratio`: fraction of examples where it is undefined
    (ground truth never confident, or no confident frame). CREPE's cached network is freed
    on `flush`.

    Args:
        model_capacity: CREPE size ('full' as in the original; 'tiny' is ~50x faster).
    """

    def __init__(
        self,
        sample_rate: int,
        frame_rate: int,
        name: Text = 'f0_crepe',
        model_capacity: Text = 'full',
    ):
        super().__init__(sample_rate, frame_rate, name)
        self._model_capacity = model_capacity
        self.metrics = {
            'f0_dist': keras.metrics.Mean(name=f'{name}_f0_dist'),
            'outlier_ratio': keras.metrics.Mean(name=f'{name}_outlier_ratio'),
        }

    def update_state(self, batch, audio_gen):
        """Args: batch with `f0_hz`, `f0_confidence` `[b, n_frames]`; audio_gen `[b, n]`."""
        audio_gen = self._batch(audio_gen, 'audio_gen')
        f0_hz = self._batch(batch['f0_hz'], "batch['f0_hz']")
        f0_conf = self._batch(batch['f0_confidence'], "batch['f0_confidence']")
        for audio, f0, conf in zip(audio_gen, f0_hz, f0_conf):
            dist = None
            if not is_outlier(conf):
                f0_gen, _ = spectral_ops.compute_f0(
                    audio,
                    self._frame_rate,
                    viterbi=True,
                    model_capacity=self._model_capacity,
                    sample_rate=self._sample_rate,
                )
                dist = f0_dist_conf_thresh(f0, f0_gen, conf)
            outlier = dist is None or np.isnan(dist)
            self.metrics['outlier_ratio'].update_state(float(outlier))
            if not outlier:
                self.metrics['f0_dist'].update_state(dist)

    def flush(self, step: int):
        super().flush(step)
        spectral_ops.reset_crepe()


class F0Metrics(BaseMetrics):
    """A predicted f0 against the batch's `f0_hz` / `f0_confidence` (no CREPE).

    Per non-outlier example: `f0_dist` (mean MIDI distance over confident frames),
    `raw_pitch_accuracy` and `raw_chroma_accuracy` with reference voicing = confidence >=
    MIN_F0_CONFIDENCE and tolerance `rpa_tolerance` cents (`mir_eval.melody`'s definitions).

    Args:
        rpa_tolerance: cents.

    Example:
        >>> m = F0Metrics(16000, 250)
        >>> m.update_state(batch, f0_hz_predict)  # [b, n_frames] Hz
    """

    def __init__(
        self, sample_rate: int, frame_rate: int, rpa_tolerance: float = 50, name: Text = 'f0'
    ):
        super().__init__(sample_rate, frame_rate, name)
        self._rpa_tolerance = validation.check_positive_number(
            type(self).__name__, 'rpa_tolerance', rpa_tolerance, hint='(cents)'
        )
        # Each metric's Keras name matches its key (the original swapped rpa/rca names).
        self.metrics = {
            key: keras.metrics.Mean(name=f'{name}_{key}')
            for key in ('f0_dist', 'raw_pitch_accuracy', 'raw_chroma_accuracy')
        }

    def update_state(self, batch, f0_hz_predict):
        """Args: batch with `f0_hz`, `f0_confidence` `[b, n]`; f0_hz_predict `[b, n']`, Hz."""
        f0_predict = self._batch(f0_hz_predict, 'f0_hz_predict')
        f0_hz = self._batch(batch['f0_hz'], "batch['f0_hz']")
        f0_conf = self._batch(batch['f0_confidence'], "batch['f0_confidence']")
        for predict, f0, conf in zip(f0_predict, f0_hz, f0_conf):
            if is_outlier(conf):
                continue
            dist = f0_dist_conf_thresh(f0, predict, conf)
            if dist is not None:
                self.metrics['f0_dist'].update_state(dist)
            n = min(len(predict), len(f0))
            voicing = (conf[:n] >= MIN_F0_CONFIDENCE).astype(np.float64)
            ref_cent, est_cent = hz_to_cents(f0[:n]), hz_to_cents(predict[:n])
            self.metrics['raw_pitch_accuracy'].update_state(
                raw_pitch_accuracy(voicing, ref_cent, est_cent, self._rpa_tolerance)
            )
            self.metrics['raw_chroma_accuracy'].update_state(
                raw_chroma_accuracy(voicing, ref_cent, est_cent, self._rpa_tolerance)
            )


# ------------------------------------------------------------------------------------------------
# Note and frame transcription counts (MIDI).
# ------------------------------------------------------------------------------------------------
def _import_mir_eval():
    try:
        import mir_eval
    except ImportError as e:
        raise ImportError(
            'Note metrics need mir_eval, which is not installed: pip install mir_eval'
        ) from e
    return mir_eval


@dataclasses.dataclass
class EvalCounts:
    """True positive, false positive and false negative counts, and the measures from them.

    Example:
        >>> counts = EvalCounts(tp=2, fp=1, fn=1)
        >>> counts.precision, counts.recall, counts.f1  # 2/3, 2/3, 2/3
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: 'EvalCounts'):
        """Adds another example's counts to these (in place)."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall; 0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def sequence2intervals(sequence):
    """Note intervals, pitches and velocities of a note sequence.

    Args:
        sequence: anything with `.notes`, each with `start_time`, `end_time` (seconds), `pitch`
            (MIDI) and `velocity`, e.g. a `note_seq.NoteSequence`.

    Returns:
        `(intervals [n, 2] seconds, pitches [n] MIDI, velocities [n])`, NumPy.

    Example: one note C4 from 0 to 1 s -> `([[0., 1.]], [60], [velocity])`.
    """
    notes = list(sequence.notes)
    intervals = np.array([[n.start_time, n.end_time] for n in notes], np.float64).reshape(-1, 2)
    pitches = np.array([n.pitch for n in notes], np.float64)
    velocities = np.array([n.velocity for n in notes], np.float64)
    return intervals, pitches, velocities


def compute_note_metrics(gt_sequence, pred_sequence) -> Dict[Text, EvalCounts]:
    """Note-level transcription counts (`mir_eval.transcription.match_notes`).

    A predicted note matches a ground-truth note when its onset is within 50 ms and its pitch
    within 50 cents ('onset'), and for 'full' also its offset within 20% of the note's
    duration (at least 50 ms). Each note matches at most once.

    Args:
        gt_sequence, pred_sequence: note sequences (see `sequence2intervals`).

    Returns:
        `{'onset': EvalCounts, 'full': EvalCounts}`.

    Raises:
        ImportError: mir_eval is not installed (`pip install mir_eval`).
    """
    mir_eval = _import_mir_eval()
    ref_intervals, ref_pitches, _ = sequence2intervals(gt_sequence)
    est_intervals, est_pitches, _ = sequence2intervals(pred_sequence)
    ref_hz, est_hz = (
        np.asarray(core.midi_to_hz(p), np.float64) for p in (ref_pitches, est_pitches)
    )
    results = {}
    for key, offset_ratio in (('onset', None), ('full', 0.2)):
        if len(ref_pitches) and len(est_pitches):
            n_matched = len(
                mir_eval.transcription.match_notes(
                    ref_intervals, ref_hz, est_intervals, est_hz, offset_ratio=offset_ratio
                )
            )
        else:
            n_matched = 0
        results[key] = EvalCounts(
            tp=n_matched, fp=len(est_pitches) - n_matched, fn=len(ref_pitches) - n_matched
        )
    return results


def compute_frame_metrics(gt_pianoroll, pred_pianoroll) -> EvalCounts:
    """Frame-level counts between two binary piano rolls (active pitch per frame).

    Args:
        gt_pianoroll, pred_pianoroll: `[n_frames, n_pitches]` (nonzero = active); cut to the
            shorter number of frames.

    Returns:
        `EvalCounts` over all (frame, pitch) cells.

    Example: gt `[[1, 0]]`, pred `[[1, 1]]` -> `EvalCounts(tp=1, fp=1, fn=0)`.
    """
    gt = np.asarray(gt_pianoroll) != 0
    pred = np.asarray(pred_pianoroll) != 0
    if gt.ndim != 2 or pred.ndim != 2 or gt.shape[1] != pred.shape[1]:
        validation.fail(
            'compute_frame_metrics',
            '(gt_pianoroll, pred_pianoroll) shapes',
            '[n_frames, n_pitches] with the same pitches',
            (gt.shape, pred.shape),
        )
    n = min(gt.shape[0], pred.shape[0])
    gt, pred = gt[:n], pred[:n]
    return EvalCounts(
        tp=int(np.sum(gt & pred)), fp=int(np.sum(~gt & pred)), fn=int(np.sum(gt & ~pred))
    )
