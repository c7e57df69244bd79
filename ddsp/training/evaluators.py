"""Evaluators: turn a model's outputs on evaluation batches into metrics and summaries.

`eval_util.evaluate_or_sample` builds each evaluator class with the data provider's
`(sample_rate, frame_rate)`, then per checkpoint calls `evaluate(batch, outputs, losses)` and/or
`sample(batch, outputs, step)` on every batch and `flush(step)` at the end. Summaries go to the
default summary writer. `outputs['audio_gen']` is the model's synthesized audio `[b, n]`.

Registered with gin (`evaluate.evaluator_classes = [@BasicEvaluator, @F0LdEvaluator]`).
"""

from typing import Dict, Text

import gin
import keras
import numpy as np

from ddsp import losses as ddsp_losses
from ddsp import validation
from ddsp.training import metrics, summaries


class BaseEvaluator:
    """Base class: does nothing; subclasses override `evaluate`, `sample` and `flush`.

    Args:
        sample_rate: audio sample rate, Hz.
        frame_rate: feature frames per second.
    """

    def __init__(self, sample_rate: int, frame_rate: int):
        # The evaluated batches are training examples, whose frames align exactly with their
        # samples: the frame rate must divide the sample rate (`validation.hop_size`).
        validation.hop_size(sample_rate, frame_rate, owner=type(self).__name__)
        self._sample_rate = int(sample_rate)
        self._frame_rate = int(frame_rate)

    def evaluate(self, batch, outputs, losses):
        """Accumulates metrics of one batch. `losses`: `{name: scalar}`."""

    def sample(self, batch, outputs, step):
        """Writes example summaries (audio, plots) of one batch."""

    def flush(self, step):
        """Writes the accumulated metrics as summaries at `step` and resets them."""


def _audio_gen(outputs):
    if 'audio_gen' not in outputs:
        raise KeyError(
            f"The evaluators need outputs['audio_gen'] (the synthesized audio); "
            f'available outputs: {sorted(outputs)}.'
        )
    return np.asarray(outputs['audio_gen'])


@gin.register
class BasicEvaluator(BaseEvaluator):
    """Mean losses (`losses/{name}`); audio, waveform and spectrogram summaries of samples.

    `sample` writes `audio_original` / `audio_generated` clips and `waveform/`,
    `waveform_125ms/` and `spectrogram/` images for each example of the batch.

    Example:
        >>> ev = BasicEvaluator(16000, 250)
        >>> ev.evaluate(batch, outputs, {'total_loss': 1.0}); ev.flush(step)
    """

    def __init__(self, sample_rate: int, frame_rate: int):
        super().__init__(sample_rate, frame_rate)
        self._avg_losses: Dict[Text, keras.metrics.Mean] = {}

    def evaluate(self, batch, outputs, losses):
        del batch, outputs
        for name, value in losses.items():
            if name not in self._avg_losses:
                self._avg_losses[name] = keras.metrics.Mean(name=name)
            self._avg_losses[name].update_state(value)

    def sample(self, batch, outputs, step):
        audio = np.asarray(batch['audio'])
        audio_gen = _audio_gen(outputs)
        summaries.audio_summary(audio_gen, step, self._sample_rate, name='audio_generated')
        summaries.audio_summary(audio, step, self._sample_rate, name='audio_original')
        summaries.waveform_summary(audio, audio_gen, step, sample_rate=self._sample_rate)
        summaries.spectrogram_summary(audio, audio_gen, step)

    def flush(self, step):
        for name, metric in self._avg_losses.items():
            summaries.scalar_summary(f'losses/{name}', metric.result(), step=int(step))
            metric.reset_state()

    def results(self) -> Dict[Text, float]:
        """The current mean of each loss."""
        return {k: float(m.result()) for k, m in self._avg_losses.items()}


@gin.register
class F0LdEvaluator(BaseEvaluator):
    """Loudness distance, and pitch distance/accuracy of the generated audio.

    * `metrics/loudness/loudness_db`: loudness L1 (dB) of `audio_gen` vs `batch['loudness_db']`.
    * If both outputs and batch carry `f0_hz`: `F0Metrics` on `outputs['f0_hz']`
      (`metrics/f0/...`); otherwise, with `run_f0_crepe`, CREPE on `audio_gen`
      (`F0CrepeMetrics`, `metrics/f0_crepe/...`).

    Args:
        run_f0_crepe: run CREPE when the model predicts no f0 (slow).
        crepe_capacity: CREPE size for that ('full' as in the original).
    """

    def __init__(
        self,
        sample_rate: int,
        frame_rate: int,
        run_f0_crepe: bool = True,
        crepe_capacity: Text = 'full',
    ):
        super().__init__(sample_rate, frame_rate)
        self._run_f0_crepe = bool(run_f0_crepe)
        self._loudness_metrics = metrics.LoudnessMetrics(sample_rate, frame_rate)
        self._f0_metrics = metrics.F0Metrics(sample_rate, frame_rate)
        self._f0_crepe_metrics = metrics.F0CrepeMetrics(
            sample_rate, frame_rate, model_capacity=crepe_capacity
        )

    def _has_f0(self, batch, outputs):
        return 'f0_hz' in outputs and 'f0_hz' in batch

    def evaluate(self, batch, outputs, losses):
        del losses
        audio_gen = _audio_gen(outputs)
        self._loudness_metrics.update_state(batch, audio_gen)
        if self._has_f0(batch, outputs):
            self._f0_metrics.update_state(batch, outputs['f0_hz'])
        elif self._run_f0_crepe:
            self._f0_crepe_metrics.update_state(batch, audio_gen)

    def sample(self, batch, outputs, step):
        if self._has_f0(batch, outputs):
            summaries.f0_summary(batch['f0_hz'], outputs['f0_hz'], step, name='f0_harmonic')

    def flush(self, step):
        self._loudness_metrics.flush(step)
        if any(m.count.numpy() for m in self._f0_metrics.metrics.values()):
            self._f0_metrics.flush(step)
        if any(m.count.numpy() for m in self._f0_crepe_metrics.metrics.values()):
            self._f0_crepe_metrics.flush(step)


@gin.register
class TWMEvaluator(BaseEvaluator):
    """Pitch of a sinusoidal model's output by two-way mismatch (`losses.TWMLoss.predict_f0`).

    Every sinusoid frequency of a frame is an f0 candidate; the candidate that best explains
    the sinusoids (weighted by amplitude) is the frame's f0, compared with the batch's f0 by
    `F0Metrics` (`metrics/f0_twm/...`).

    Args:
        processor_name: the outputs key of the sinusoidal processor, whose controls hold
            `frequencies` and `amplitudes` `[b, n_frames, n_sinusoids]`.
        noisy: the sinusoids include noise-like components: sinusoids quieter than 1% of
            their frame's loudest are ignored (neither candidates nor evidence).
    """

    def __init__(
        self,
        sample_rate: int,
        frame_rate: int,
        processor_name: Text = 'sinusoidal',
        noisy: bool = False,
    ):
        super().__init__(sample_rate, frame_rate)
        self._processor_name = str(processor_name)
        self._noisy = bool(noisy)
        self._f0_twm_metrics = metrics.F0Metrics(sample_rate, frame_rate, name='f0_twm')
        self._twm = ddsp_losses.TWMLoss(sample_rate=self._sample_rate)

    def compute_twm_f0(self, outputs) -> np.ndarray:
        """The TWM f0 `[b, n_frames]` (Hz) of the sinusoidal processor's controls."""
        if self._processor_name not in outputs:
            raise KeyError(
                f'TWMEvaluator: no outputs[{self._processor_name!r}]; set '
                f'processor_name to one of {sorted(outputs)}.'
            )
        controls = outputs[self._processor_name]
        controls = controls.get('controls', controls)
        freqs = np.asarray(controls['frequencies'], np.float32)
        amps = np.asarray(controls['amplitudes'], np.float32)
        if self._noisy:
            quiet = amps < 0.01 * np.max(amps, axis=-1, keepdims=True)
            amps = np.where(quiet, 0.0, amps)
            freqs = np.where(quiet, 0.0, freqs)  # 0 Hz is never a valid candidate.
        return self._twm.predict_f0(freqs, freqs, amps)[..., 0]

    def evaluate(self, batch, outputs, losses):
        del losses
        self._f0_twm_metrics.update_state(batch, self.compute_twm_f0(outputs))

    def sample(self, batch, outputs, step):
        summaries.f0_summary(batch['f0_hz'], self.compute_twm_f0(outputs), step, name='f0_twm')

    def flush(self, step):
        self._f0_twm_metrics.flush(step)
