"""Synthesizers: processors that turn frame-rate controls into audio.

Each synthesizer is a `processors.Processor`: `get_controls` scales raw
network outputs into valid synthesis parameters (positive amplitudes, a
normalised harmonic distribution, frequencies below Nyquist), and `get_signal`
renders `[batch, n_samples]` audio from them. Calling the layer does both.

* `Harmonic`: a harmonic (additive) oscillator driven by f0, an overall
  amplitude and a distribution over harmonics. `Additive` is its first-release
  name.
* `FilteredNoise`: white noise shaped by time-varying FIR filters.
* `Wavetable`: an oscillator reading one period from (time-varying) tables.
* `Sinusoidal`: a bank of freely tuned sinusoids.
* `TensorToAudio`: turns `[batch, n_samples, 1]` network outputs into audio.

Shapes are checked in Python, where they are known while tracing, so the checks cost nothing
per step: controls need at least one frame, batches and frame counts must agree (a size of 1
broadcasts), and noise filters need at least 2 bands (`core.filtering.MIN_BANDS`). Each is a
one-line `ValueError` naming the synth, the argument and the shapes.

NaN and infinite controls. The synthesizers run inside the training step, so they never look
at values (no check, no cost); instead a bad frame stays where it is. Amplitudes,
distributions, noise magnitudes and wavetables only reach the samples their frame is blended
into, and the oscillators accumulate phase over finite frequencies only (a non-finite f0 or
sinusoid frequency counts as 0 Hz there, see `core.oscillators`) and give NaN exactly where
the upsampled frequency is not finite. So one NaN frame of f0 gives about two frames of NaN
samples, not NaN to the end of the clip, and the NaN is still visible to the boundaries that
do check values: the feature functions (`ddsp.spectral_ops`), the losses (`ddsp.losses`), the
data pipeline and the command line.
"""

from typing import Callable, Optional, Text

import gin
import numpy as np
import tensorflow as tf

from ddsp import core, dags, processors, validation
from ddsp.serialization import keras_serializable

Processor = processors.Processor
TensorDict = processors.TensorDict
ScaleFn = Optional[Callable[[tf.Tensor], tf.Tensor]]

_SCALE_FN = 'a callable (e.g. ddsp.core.exp_sigmoid) or None for no scaling'


# ------------------------------------------------------------------------------
# Argument and input checks
# ------------------------------------------------------------------------------
def _check_sample_rate(owner, value):
    """A positive number of samples per second, kept as given (an int stays an int)."""
    validation.check_positive_number(owner, 'sample_rate', value)
    return value


def _as_controls(owner, name, x, shape_doc, ranks=(3,), channels=None):
    """`x` as a float32 tensor, or a ValueError naming the expected shape."""
    x = core.tf_float32(x)
    if x.shape.rank not in ranks or (channels is not None and x.shape[-1] not in (None, channels)):
        validation.fail(owner, f'{name}.shape', shape_doc, x.shape)
    return x


def _scale(fn: ScaleFn, x):
    return x if fn is None else fn(x)


def _check_frames(owner, controls, same_frames=True):
    """Each control has >= 1 frame; batches (and frames) agree, 1 broadcasting.

    Args:
        controls: `{name: tensor}`, the first entry is the reference the others must match.
        same_frames: also compare axis 1, the frames.
    """
    names = list(controls)
    for name, x in controls.items():
        if x.shape.rank == 3 and x.shape[1] == 0:
            validation.fail(
                owner, f'{name}.shape', 'a control with at least one frame', tuple(x.shape)
            )
    reference = names[0]
    if same_frames:
        axes, hint = {0: 'batch', 1: 'n_frames'}, 'the controls of one call share batch and frames'
    else:
        axes, hint = {0: 'batch'}, 'the controls of one call share the batch'
    for name in names[1:]:
        validation.check_axes_match(
            owner, name, controls[name].shape, reference, controls[reference].shape, axes, hint=hint
        )


def _check_noise_magnitudes(owner, magnitudes, n_samples):
    """`[B, T, K]` magnitudes: K >= 2 bands, 1 <= T <= n_samples frames."""
    magnitudes = core.filtering.check_magnitudes(owner, magnitudes)
    n_frames = magnitudes.shape[1] if magnitudes.shape.rank == 3 else None
    if n_frames is not None and n_frames > n_samples:
        validation.fail(
            owner,
            'magnitudes.shape',
            f'[batch, n_frames, n_bands] with at most n_samples={n_samples} frames (one '
            'filter per frame of samples)',
            tuple(magnitudes.shape),
        )
    return magnitudes


# ------------------------------------------------------------------------------
# Synthesizers
# ------------------------------------------------------------------------------
@keras_serializable
@gin.register
class TensorToAudio(Processor):
    """Turns `[batch, n_samples, 1]` network outputs into `[batch, n_samples]`.

    For networks that output audio directly (e.g. a WaveNet) in a
    `ProcessorGroup`. `get_controls(samples)` passes the samples through;
    `get_signal(samples)` drops the channel axis.

    Example:
        >>> audio = TensorToAudio()(tf.zeros([2, 16000, 1]))  # [2, 16000]
    """

    def __init__(self, name: Text = 'tensor_to_audio', **kwargs):
        super().__init__(name=name, **kwargs)

    def get_controls(self, samples) -> TensorDict:
        """`samples` `[batch, n_samples, 1]` -> `{'samples': samples}`."""
        samples = _as_controls(
            type(self).__name__, 'samples', samples, '[batch, n_samples, 1]', channels=1
        )
        return {'samples': samples}

    def get_signal(self, samples) -> tf.Tensor:
        """`[batch, n_samples, 1]` -> `[batch, n_samples]`."""
        return tf.squeeze(core.tf_float32(samples), axis=2)


@keras_serializable
@gin.register
class Harmonic(Processor):
    """Harmonic synthesizer: a sum of sinusoids at integer multiples of f0.

    Harmonic k (1-based) has frequency `k * f0` and amplitude `amplitude *
    harmonic_distribution[k]`. Frequencies are upsampled to audio rate
    linearly and amplitudes with `amp_resample_method`; harmonics at or above
    Nyquist are silent.

    `get_controls(amplitudes, harmonic_distribution, f0_hz)`:
        * `amplitudes` `[B, T, 1]` and `harmonic_distribution` `[B, T, H]` are
          raw network outputs; `scale_fn` is applied to both.
        * The distribution is then normalised to sum to one over the
          harmonics, after zeroing those at or above Nyquist if
          `normalize_below_nyquist` (so the audible ones keep the energy).
        * `f0_hz` `[B, T, 1]` is in Hz and is passed through.
        * Returns `{'amplitudes', 'harmonic_distribution', 'f0_hz'}`.

    `get_signal(amplitudes, harmonic_distribution, f0_hz)` renders
    `[B, n_samples]` audio with `core.harmonic_synthesis`.

    The three controls share B and T (a size of 1 broadcasts), T >= 1; anything else is a
    `ValueError` naming the shapes. A NaN or infinite f0 frame gives NaN only in the samples
    next to it (see the module doc).

    Args:
        n_samples: Length of the output audio, in samples. With the 'window'
            method it must be a multiple of the number of frames T.
        sample_rate: Samples per second.
        scale_fn: Scales the raw amplitudes and harmonic distribution, or None
            for controls that are already positive.
        normalize_below_nyquist: Remove harmonics at or above Nyquist before
            normalising the distribution.
        amp_resample_method: How amplitudes are upsampled to audio rate: one of
            'window' (Hann overlap-add, smooth), 'linear', 'cubic', 'nearest'.
        use_angular_cumsum: Accumulate phase with `core.angular_cumsum` when
            the oscillator-bank path of `core.harmonic_synthesis` is used (the
            binding `oscillator_bank.use_angular_cumsum` has no effect here).
        name: Layer name, and key of the outputs in a `ProcessorGroup`
            ('harmonic/signal', 'harmonic/controls/amplitudes', ...).

    Example:
        >>> harmonic = Harmonic(n_samples=64000, sample_rate=16000)
        >>> audio = harmonic(amps, harmonic_distribution, f0_hz)  # [B, 64000]
    """

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        scale_fn: ScaleFn = core.exp_sigmoid,
        normalize_below_nyquist: bool = True,
        amp_resample_method: Text = 'window',
        use_angular_cumsum: bool = False,
        name: Text = 'harmonic',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.n_samples = validation.check_int(owner, 'n_samples', n_samples)
        self.sample_rate = _check_sample_rate(owner, sample_rate)
        self.scale_fn = validation.check_callable(owner, 'scale_fn', scale_fn, _SCALE_FN)
        self.normalize_below_nyquist = bool(normalize_below_nyquist)
        self.amp_resample_method = validation.check_choice(
            owner, 'amp_resample_method', amp_resample_method, core.RESAMPLE_METHODS
        )
        self.use_angular_cumsum = bool(use_angular_cumsum)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            scale_fn=dags.serialize_function(self.scale_fn),
            normalize_below_nyquist=self.normalize_below_nyquist,
            amp_resample_method=self.amp_resample_method,
            use_angular_cumsum=self.use_angular_cumsum,
        )
        return config

    def get_controls(self, amplitudes, harmonic_distribution, f0_hz) -> TensorDict:
        """Scales the raw amplitudes and distribution; see the class docs."""
        owner = type(self).__name__
        amplitudes = _as_controls(
            owner, 'amplitudes', amplitudes, '[batch, n_frames, 1]', channels=1
        )
        harmonic_distribution = _as_controls(
            owner, 'harmonic_distribution', harmonic_distribution, '[batch, n_frames, n_harmonics]'
        )
        f0_hz = _as_controls(owner, 'f0_hz', f0_hz, '[batch, n_frames, 1]', channels=1)
        _check_frames(
            owner,
            {
                'amplitudes': amplitudes,
                'harmonic_distribution': harmonic_distribution,
                'f0_hz': f0_hz,
            },
        )
        amplitudes = _scale(self.scale_fn, amplitudes)
        harmonic_distribution = _scale(self.scale_fn, harmonic_distribution)
        harmonic_distribution = core.normalize_harmonics(
            harmonic_distribution, f0_hz if self.normalize_below_nyquist else None, self.sample_rate
        )
        return {
            'amplitudes': amplitudes,
            'harmonic_distribution': harmonic_distribution,
            'f0_hz': f0_hz,
        }

    def get_signal(self, amplitudes, harmonic_distribution, f0_hz) -> tf.Tensor:
        """Renders `[batch, n_samples]` audio from the controls."""
        return core.harmonic_synthesis(
            frequencies=f0_hz,
            amplitudes=amplitudes,
            harmonic_distribution=harmonic_distribution,
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            amp_resample_method=self.amp_resample_method,
            use_angular_cumsum=self.use_angular_cumsum,
        )


class _Unset:
    """Marks an argument the caller did not pass (None is a real value)."""

    def __init__(self, default_name):
        self._default_name = default_name

    def __repr__(self):
        return self._default_name


_EXP_SIGMOID_BY_DEFAULT = _Unset('exp_sigmoid')

_OLD_CONTROL_NAMES = {
    'nn_out_amplitudes': 'amplitudes',
    'nn_out_harmonic_distribution': 'harmonic_distribution',
}


@keras_serializable
@gin.register
class Additive(Harmonic):
    """The first release's name of `Harmonic`; prefer `Harmonic` in new code.

    Identical to `Harmonic`, except that:
        * the default name is 'additive', so `ProcessorGroup` keys are
          'additive/signal', 'additive/controls/amplitudes', ...;
        * the old keyword `amp_scale_fn` is accepted as `scale_fn` (pass one
          or the other, not both);
        * `get_controls` also accepts the old keywords `nn_out_amplitudes` and
          `nn_out_harmonic_distribution` (the positional order is unchanged).

    Gin bindings use this name, e.g. `Additive.n_samples = 64000`.

    Example:
        >>> additive = Additive()
        >>> audio = additive(amplitudes, harmonic_distribution, f0_hz)
    """

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        scale_fn: ScaleFn = _EXP_SIGMOID_BY_DEFAULT,
        normalize_below_nyquist: bool = True,
        amp_resample_method: Text = 'window',
        use_angular_cumsum: bool = False,
        name: Text = 'additive',
        amp_scale_fn: ScaleFn = _EXP_SIGMOID_BY_DEFAULT,
        **kwargs,
    ):
        given_scale = scale_fn is not _EXP_SIGMOID_BY_DEFAULT
        given_amp_scale = amp_scale_fn is not _EXP_SIGMOID_BY_DEFAULT
        if given_scale and given_amp_scale:
            validation.fail(
                'Additive',
                'amp_scale_fn',
                f'omitted when scale_fn={scale_fn!r} is given (amp_scale_fn is '
                'the old name of scale_fn; pass only scale_fn)',
                amp_scale_fn,
            )
        if given_amp_scale:
            scale_fn = amp_scale_fn
        elif not given_scale:
            scale_fn = core.exp_sigmoid
        super().__init__(
            n_samples=n_samples,
            sample_rate=sample_rate,
            scale_fn=scale_fn,
            normalize_below_nyquist=normalize_below_nyquist,
            amp_resample_method=amp_resample_method,
            use_angular_cumsum=use_angular_cumsum,
            name=name,
            **kwargs,
        )

    def get_controls(
        self, amplitudes=None, harmonic_distribution=None, f0_hz=None, **old_names
    ) -> TensorDict:
        """`Harmonic.get_controls`, also under the first release's names."""
        given = {'amplitudes': amplitudes, 'harmonic_distribution': harmonic_distribution}
        for old, new in _OLD_CONTROL_NAMES.items():
            if old not in old_names:
                continue
            if given[new] is not None:
                raise TypeError(
                    f'Additive.get_controls() got both {new} and '
                    f'its old name {old}; pass one of them.'
                )
            given[new] = old_names.pop(old)
        if old_names:
            raise TypeError(
                f'Additive.get_controls() got unexpected keyword arguments {sorted(old_names)}.'
            )
        missing = [k for k, v in dict(given, f0_hz=f0_hz).items() if v is None]
        if missing:
            raise TypeError(
                f'Additive.get_controls() is missing {missing}; it '
                f'takes (amplitudes, harmonic_distribution, '
                f'f0_hz).'
            )
        return super().get_controls(given['amplitudes'], given['harmonic_distribution'], f0_hz)


@keras_serializable
@gin.register
class FilteredNoise(Processor):
    """Uniform white noise shaped by time-varying FIR filters.

    `get_controls(magnitudes)`: raw `[B, T, K]` network outputs become linear
    filter gains `scale_fn(magnitudes + initial_bias)` at K frequencies
    evenly spaced from 0 Hz to Nyquist (with `scale_fn=None` the magnitudes
    are used as given and `initial_bias` is not added). Returns
    `{'magnitudes'}`.

    `get_signal(magnitudes)` draws fresh noise uniform in [-1, 1] of shape
    `[B, n_samples]` on every call, and filters it with
    `core.frequency_filter`: T filters of `2 (K - 1)` taps, each applied to
    `n_samples / T` samples (T must divide n_samples evenly). K must be at least 2 (one band
    would be a filter of no taps, an FFT of size 0, which aborts TensorFlow) and T at least
    1: both are `ValueError`s before any FFT.

    Args:
        n_samples: Length of the output audio, in samples.
        window_size: Hann window length of the filters' impulse responses
            (shorter windows give smoother, lower-resolution filters); 0, or
            more than the impulse response length `2 (K - 1)`, windows the
            whole response.
        scale_fn: Scales the biased raw magnitudes, or None.
        initial_bias: Added to the raw magnitudes before `scale_fn`; the
            negative default starts training with quiet noise.
        name: Layer name ('filtered_noise/signal' in a `ProcessorGroup`).

    The first release's `noise_fade_fn` argument was removed: shape the noise
    level through the magnitudes instead.

    Example:
        >>> noise = FilteredNoise(n_samples=64000)
        >>> audio = noise(magnitudes)  # [B, 250, 65] -> [B, 64000]
    """

    def __init__(
        self,
        n_samples: int = 64000,
        window_size: int = 257,
        scale_fn: ScaleFn = core.exp_sigmoid,
        initial_bias: float = -5.0,
        name: Text = 'filtered_noise',
        **kwargs,
    ):
        if 'noise_fade_fn' in kwargs:
            raise TypeError(
                'FilteredNoise: the noise_fade_fn argument was removed. Set the '
                'noise level through the magnitudes, which are scaled by '
                'scale_fn(magnitudes + initial_bias), or multiply the signal '
                'by an envelope yourself.'
            )
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.n_samples = validation.check_int(owner, 'n_samples', n_samples)
        self.window_size = validation.check_int(
            owner, 'window_size', window_size, minimum=0, hint='(0 means the full impulse response)'
        )
        self.scale_fn = validation.check_callable(owner, 'scale_fn', scale_fn, _SCALE_FN)
        self.initial_bias = validation.check_number(owner, 'initial_bias', initial_bias)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_samples=self.n_samples,
            window_size=self.window_size,
            scale_fn=dags.serialize_function(self.scale_fn),
            initial_bias=self.initial_bias,
        )
        return config

    def get_controls(self, magnitudes) -> TensorDict:
        """Scales raw `[B, T, K]` magnitudes; see the class docs."""
        owner = type(self).__name__
        magnitudes = _as_controls(owner, 'magnitudes', magnitudes, '[batch, n_frames, n_bands]')
        _check_noise_magnitudes(owner, magnitudes, self.n_samples)
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes + self.initial_bias)
        return {'magnitudes': magnitudes}

    def get_signal(self, magnitudes) -> tf.Tensor:
        """Filters fresh uniform noise; `[batch, n_samples]`."""
        magnitudes = _check_noise_magnitudes(type(self).__name__, magnitudes, self.n_samples)
        batch_size = tf.shape(magnitudes)[0]
        noise = tf.random.uniform([batch_size, self.n_samples], minval=-1.0, maxval=1.0)
        return core.frequency_filter(noise, magnitudes, window_size=self.window_size)


@keras_serializable
@gin.register
class Wavetable(Processor):
    """Wavetable oscillator: reads one period of a waveform at f0.

    `get_controls(amplitudes, wavetables, f0_hz)`:
        * `amplitudes` `[B, T, 1]` and `wavetables` `[B, T, W]` (or `[B, W]`,
          one table per example) are raw network outputs; `scale_fn` is
          applied to both, so with the default `exp_sigmoid` the tables are
          positive. Pass `scale_fn=None` for signed tables (e.g. a sine) and
          amplitudes that are already scaled.
        * `f0_hz` `[B, T, 1]` is in Hz.
        * Returns `{'amplitudes', 'wavetables', 'f0_hz'}`.

    `get_signal` upsamples amplitudes with Hann windows, f0 and the tables
    linearly (tables morph between frames), and renders `[B, n_samples]`
    with `core.wavetable_synthesis` (phase starting at 0).

    Args:
        n_samples: Length of the output audio, in samples.
        sample_rate: Samples per second.
        scale_fn: Scales the raw amplitudes and wavetables, or None.
        name: Layer name ('wavetable/signal' in a `ProcessorGroup`).

    Example:
        >>> sine = tf.sin(tf.linspace(0.0, 2 * np.pi, 2049)[:-1])
        >>> wavetable = Wavetable(n_samples=16000, scale_fn=None)
        >>> audio = wavetable(amps, sine[tf.newaxis, :], f0_hz)
    """

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        scale_fn: ScaleFn = core.exp_sigmoid,
        name: Text = 'wavetable',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.n_samples = validation.check_int(owner, 'n_samples', n_samples)
        self.sample_rate = _check_sample_rate(owner, sample_rate)
        self.scale_fn = validation.check_callable(owner, 'scale_fn', scale_fn, _SCALE_FN)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            scale_fn=dags.serialize_function(self.scale_fn),
        )
        return config

    def get_controls(self, amplitudes, wavetables, f0_hz) -> TensorDict:
        """Scales the raw amplitudes and wavetables; see the class docs."""
        owner = type(self).__name__
        amplitudes = _as_controls(
            owner, 'amplitudes', amplitudes, '[batch, n_frames, 1]', channels=1
        )
        wavetables = _as_controls(
            owner,
            'wavetables',
            wavetables,
            '[batch, n_frames, n_wavetable] or [batch, n_wavetable]',
            ranks=(2, 3),
        )
        f0_hz = _as_controls(owner, 'f0_hz', f0_hz, '[batch, n_frames, 1]', channels=1)
        _check_frames(owner, {'f0_hz': f0_hz, 'amplitudes': amplitudes}, same_frames=False)
        _check_frames(owner, {'f0_hz': f0_hz, 'wavetables': wavetables}, same_frames=False)
        amplitudes = _scale(self.scale_fn, amplitudes)
        wavetables = _scale(self.scale_fn, wavetables)
        return {'amplitudes': amplitudes, 'wavetables': wavetables, 'f0_hz': f0_hz}

    def get_signal(self, amplitudes, wavetables, f0_hz) -> tf.Tensor:
        """Renders `[batch, n_samples]` audio from the controls."""
        # wavetable_synthesis upsamples frame-wise tables to audio rate.
        return core.wavetable_synthesis(
            frequencies=f0_hz,
            amplitudes=amplitudes,
            wavetables=wavetables,
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
        )


@keras_serializable
@gin.register
class Sinusoidal(Processor):
    """A bank of K sinusoids with free, time-varying frequencies.

    `get_controls(amplitudes, frequencies)`:
        * `amplitudes` `[B, T, K]` are scaled by `amp_scale_fn`;
        * `frequencies` `[B, T, K * depth]` by `freq_scale_fn`, which must
          return `[B, T, K]` in Hz (with `freq_scale_fn=None` they must
          already be `[B, T, K]` Hz);
        * amplitudes of components at or above Nyquist are zeroed;
        * returns `{'amplitudes', 'frequencies'}`.

    `get_signal` upsamples amplitudes with `amp_resample_method` and
    frequencies linearly, then renders `[B, n_samples]` with
    `core.oscillator_bank` (so `oscillator_bank.*` gin bindings apply).

    Args:
        n_samples: Length of the output audio, in samples.
        sample_rate: Samples per second.
        amp_scale_fn: Scales the raw amplitudes, or None.
        amp_resample_method: 'window', 'linear', 'cubic' or 'nearest'.
        freq_scale_fn: Maps raw frequencies to Hz, or None.
        name: Layer name ('sinusoidal/signal' in a `ProcessorGroup`).

    Example:
        >>> sinusoidal = Sinusoidal(n_samples=16000, freq_scale_fn=None)
        >>> audio = sinusoidal(amps, freqs_hz)  # [B, T, K] each -> [B, 16000]
    """

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        amp_scale_fn: ScaleFn = core.exp_sigmoid,
        amp_resample_method: Text = 'window',
        freq_scale_fn: ScaleFn = core.frequencies_sigmoid,
        name: Text = 'sinusoidal',
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.n_samples = validation.check_int(owner, 'n_samples', n_samples)
        self.sample_rate = _check_sample_rate(owner, sample_rate)
        self.amp_scale_fn = validation.check_callable(
            owner, 'amp_scale_fn', amp_scale_fn, _SCALE_FN
        )
        self.amp_resample_method = validation.check_choice(
            owner, 'amp_resample_method', amp_resample_method, core.RESAMPLE_METHODS
        )
        self.freq_scale_fn = validation.check_callable(
            owner, 'freq_scale_fn', freq_scale_fn, _SCALE_FN
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            amp_scale_fn=dags.serialize_function(self.amp_scale_fn),
            amp_resample_method=self.amp_resample_method,
            freq_scale_fn=dags.serialize_function(self.freq_scale_fn),
        )
        return config

    def get_controls(self, amplitudes, frequencies) -> TensorDict:
        """Scales amplitudes and frequencies; see the class docs."""
        owner = type(self).__name__
        amplitudes = _as_controls(owner, 'amplitudes', amplitudes, '[batch, n_frames, n_sinusoids]')
        frequencies = core.tf_float32(frequencies)
        amplitudes = _scale(self.amp_scale_fn, amplitudes)
        frequencies = _as_controls(
            owner,
            'frequencies',
            _scale(self.freq_scale_fn, frequencies),
            '[batch, n_frames, n_sinusoids] in Hz (after freq_scale_fn)',
        )
        n_amps, n_freqs = amplitudes.shape[-1], frequencies.shape[-1]
        if None not in (n_amps, n_freqs) and n_amps != n_freqs:
            validation.fail(
                owner,
                'frequencies.shape',
                f'[batch, n_frames, {n_amps}] after freq_scale_fn, one frequency '
                f'per amplitude (with a freq_scale_fn of depth d, pass d raw '
                f'values per sinusoid)',
                frequencies.shape,
            )
        _check_frames(owner, {'amplitudes': amplitudes, 'frequencies': frequencies})
        amplitudes = core.remove_above_nyquist(frequencies, amplitudes, self.sample_rate)
        return {'amplitudes': amplitudes, 'frequencies': frequencies}

    def get_signal(self, amplitudes, frequencies) -> tf.Tensor:
        """Renders `[batch, n_samples]` audio from the controls.

        A non-finite frequency is synthesised at 0 Hz with a NaN amplitude, at frame rate
        (cheap): the NaN reaches only the samples its frame is blended into, instead of the
        oscillator's running phase carrying it to the end of the clip.
        """
        owner = type(self).__name__
        amplitudes = core.tf_float32(amplitudes)
        frequencies = core.tf_float32(frequencies)
        _check_frames(owner, {'amplitudes': amplitudes, 'frequencies': frequencies})
        finite = tf.math.is_finite(frequencies)
        frequencies = tf.where(finite, frequencies, 0.0)
        amplitudes = tf.where(finite, amplitudes, np.nan)
        amplitude_envelopes = core.resample(
            amplitudes, self.n_samples, method=self.amp_resample_method
        )
        frequency_envelopes = core.resample(frequencies, self.n_samples)
        return core.oscillator_bank(
            frequency_envelopes, amplitude_envelopes, sample_rate=self.sample_rate
        )
