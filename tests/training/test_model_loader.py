"""`instrument.load_model`: a model directory rendered at any length, against references.

The model is the short training run of test_model_dir.py, exported once. References: the
training-time model object itself (4 s, the length it was trained at) and the model rebuilt
from the run's operative config with its lengths bound for the clip at hand and restored from
the run's checkpoint, as the original's notebooks did. The noise synthesizer draws fresh noise
on every pass, so eager comparisons reset TensorFlow's global seed before each pass.
"""

import math
import os
import shutil

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp import core, spectral_ops
from ddsp.training import checkpoints, instrument, model_dir, models

from .test_model_dir import HOP, TRAIN_STEPS, copy_dir, excerpt, exported_dir, trained_run

SEED = 7


@pytest.fixture(scope='module')
def run():
    return trained_run()


@pytest.fixture(scope='module')
def violin():
    return instrument.load_model(exported_dir())


def operative_config(run):
    return checkpoints.get_latest_operative_config(run.save_dir)


def parse_run_config(run, bindings=()):
    gin.clear_config()
    gin.parse_config_file(operative_config(run), skip_unknown=True)
    gin.parse_config(list(bindings))


def training_model_outputs(run, clip):
    """The training-time model on a 4-s clip, under the run's gin config (it recomputes the
    loudness from the audio, as in training)."""
    parse_run_config(run)
    try:
        tf.random.set_seed(SEED)
        return run.model(batch(clip), training=False)
    finally:
        gin.clear_config()


def reference_outputs(run, clip, compute_loudness=True):
    """The run's model rebuilt for the clip's length (its gin bindings changed) and restored."""
    n_frames = len(clip['f0_hz']) - 1
    lengths = [
        f'Harmonic.n_samples = {n_frames * HOP}',
        f'FilteredNoise.n_samples = {n_frames * HOP}',
        f'F0LoudnessPreprocessor.time_steps = {n_frames}',
        f'F0LoudnessPreprocessor.compute_loudness = {compute_loudness}',
    ]
    parse_run_config(run, lengths)
    try:
        model = models.get_model()
        model(batch(clip), training=False)  # Creates the weights.
        model.restore(run.save_dir, verbose=False)
        tf.random.set_seed(SEED)
        return model(batch(clip), training=False)
    finally:
        gin.clear_config()


def batch(clip):
    return {k: tf.convert_to_tensor(v[np.newaxis]) for k, v in clip.items()}


def render(violin, features, **kwargs):
    """The instrument, eagerly, with the seed reset: `(audio [n], outputs)`."""
    tf.random.set_seed(SEED)
    audio, outputs = violin.synthesize(features, outputs=True, **kwargs)
    return audio.numpy()[0], outputs


def frame_features(clip):
    return {k: clip[k] for k in ('f0_hz', 'loudness_db')}


def own_loudness(clip):
    """The clip with the loudness the preprocessor computes from its audio (the excerpt's
    edges differ from the loudness of the whole recording there)."""
    loudness = spectral_ops.compute_loudness(clip['audio'][None], 16000, 250).numpy()[0]
    return dict(clip, loudness_db=loudness)


def assert_close(actual, expected, rtol=1e-5):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, atol=rtol * scale, rtol=0)


# ------------------------------------------------------------------------------------------------
# Loading.
# ------------------------------------------------------------------------------------------------
def test_load_reads_the_directory(violin):
    assert (violin.sample_rate, violin.frame_rate, violin.hop_size) == (16000, 250, HOP)
    assert violin.trained_n_samples == 64000 and violin.has_reverb
    assert violin.card.name == 'violin' and violin.card.training_steps == TRAIN_STEPS
    assert violin.statistics['format'] == 'ddsp-dataset-statistics-v1'
    assert violin.config_value('RnnFcDecoder.rnn_channels') == 16


def test_loudness_of_uncentred_records_is_read_16_ms_later(run, violin):
    # This run trained on centred features made in-process; its config names no records.
    text = open(operative_config(run)).read()
    assert 'TFRecordProvider' not in text and violin.loudness_lead == 0.0
    # As if trained on uncentred records: the decoder learned a 16 ms delay (4 frames at 250 Hz).
    loaded = instrument.Instrument(text + '\nTFRecordProvider.centered = False\n')
    loaded.restore(model_dir.validate_model_dir(exported_dir()).checkpoint)
    assert loaded.loudness_lead == 4.0
    clip = excerpt(run.features, 16, 2)
    frames = np.arange(len(clip['loudness_db']))
    for lead in (4.0, 0.8):  # A fractional lead interpolates linearly.
        loaded.loudness_lead = lead
        audio, _ = render(loaded, frame_features(clip))
        read = np.interp(frames + lead, frames, clip['loudness_db'])  # The last frame held.
        expected, _ = render(violin, dict(frame_features(clip), loudness_db=read))
        assert_close(audio, expected)
    # A model of centred records (`--center`) reads the loudness as given.
    centred = instrument.Instrument(text + '\nTFRecordProvider.centered = True\n')
    assert centred.loudness_lead == 0.0


def test_a_model_of_trimmed_centred_records_keeps_frame_k_at_sample_k_hop(run, violin):
    # Trained on centred records whose extra frame was trimmed (`--center`, `trim_frames`): the
    # n // hop + 1 frames of a clip lose their last frame instead of being stretched onto
    # n / hop, and the loudness is read as given.
    text = open(operative_config(run)).read()
    bindings = '\nTFRecordProvider.centered = True\nF0LoudnessPreprocessor.trim_frames = True\n'
    trimmed = instrument.Instrument(text + bindings)
    trimmed.restore(model_dir.validate_model_dir(exported_dir()).checkpoint)
    assert trimmed.loudness_lead == 0.0
    clip = frame_features(excerpt(run.features, 16, 2))
    n_samples = (len(clip['f0_hz']) - 1) * HOP
    audio, _ = render(trimmed, clip)
    assert audio.shape == (n_samples,)
    # The same weights given n / hop frames, which the preprocessor passes on unchanged.
    first = {key: value[:-1] for key, value in clip.items()}
    expected, _ = render(violin, first, n_samples=n_samples)
    assert_close(audio, expected)
    stretched, _ = render(violin, clip)
    assert np.max(np.abs(stretched - expected)) > 1e-3 * np.max(np.abs(expected))


def test_weights_are_the_training_runs(run, violin):
    # Built by the same config, so in the same order (Keras numbers the names: autoencoder_2).
    trained, loaded = run.model.trainable_variables, violin.model.trainable_variables
    assert len(trained) == len(loaded) == 18
    for a, b in zip(trained, loaded):
        assert a.path.rsplit('/', 1)[1] == b.path.rsplit('/', 1)[1]
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=b.path)


# ------------------------------------------------------------------------------------------------
# Rendering.
# ------------------------------------------------------------------------------------------------
def test_a_4s_clip_equals_the_training_time_model(run, violin):
    clip = own_loudness(excerpt(run.features, 16, 4))  # After the 12 s trained on.
    expected = training_model_outputs(run, clip)
    # The loudness that the training-time model computed from the audio, given as a feature.
    audio, outputs = render(violin, frame_features(clip))
    assert audio.shape == (64000,)
    assert_close(audio, expected['audio_synth'].numpy()[0])
    assert_close(outputs['harmonic']['signal'], expected['harmonic']['signal'])


def test_resynthesize_returns_numpy_at_the_model_rate(run, violin):
    clip = excerpt(run.features, 20, 2)
    for features in (
        frame_features(clip),
        {k: v[np.newaxis] for k, v in frame_features(clip).items()},
        dict(frame_features(clip), f0_confidence=clip['f0_confidence'], audio=clip['audio']),
    ):
        audio = violin.resynthesize(features)
        assert isinstance(audio, np.ndarray) and audio.dtype == np.float32
        assert audio.shape == ((len(clip['f0_hz']) - 1) * HOP,) == (32000,)
        assert np.all(np.isfinite(audio))
    # The frame <-> sample relation: n frames centred -> (n - 1) * hop samples; an explicit
    # length within one hop of n * hop is rendered and cut to size.
    assert violin.clip_length(251) == 16000
    assert violin.clip_length(250, n_samples=16000) == 16000
    longer = violin.resynthesize(frame_features(clip), n_samples=32000 + 30)
    assert longer.shape == (32030,)


@pytest.mark.parametrize('seconds', [10.0, 1.3])
def test_any_length_renders_in_one_pass(run, violin, seconds):
    clip = own_loudness(excerpt(run.features, 16, seconds))
    n_samples = int(round(seconds * 16000))
    audio, outputs = render(violin, frame_features(clip))
    assert audio.shape == (n_samples,)
    expected = reference_outputs(run, clip)
    assert_close(audio, expected['audio_synth'].numpy()[0])
    harmonic = outputs['harmonic']['signal'].numpy()[0]
    assert_close(harmonic, expected['harmonic']['signal'].numpy()[0])
    # No click where 4-s chunks would have been joined: the step across each join is no larger
    # than the largest step in the 10 ms on either side.
    steps = np.abs(np.diff(harmonic))
    for join in range(64000, n_samples, 64000):
        around = np.concatenate([steps[join - 161 : join - 1], steps[join : join + 160]])
        assert steps[join - 1] <= 1.5 * np.max(around)


def test_the_loudness_given_is_the_loudness_used(run, violin):
    clip = excerpt(run.features, 16, 4)
    quieter = dict(frame_features(clip), loudness_db=clip['loudness_db'] - 10.0)
    # With the audio given too: the loudness is still not recomputed from it.
    audio, outputs = render(violin, dict(quieter, audio=clip['audio']))
    heard = outputs['loudness_db'].numpy()[0, :, 0]
    expected_heard = core.resample(clip['loudness_db'][None, :, None] - 10.0, 1000)
    np.testing.assert_allclose(heard, expected_heard.numpy()[0, :, 0], atol=1e-4)
    np.testing.assert_allclose(
        outputs['ld_scaled'].numpy()[0, :, 0],
        (expected_heard.numpy()[0, :, 0]) / 80.0 + 1.0,
        atol=1e-6,
    )
    # The same as the run's model set not to recompute loudness, fed the shifted loudness.
    reference = reference_outputs(run, quieter, compute_loudness=False)
    assert_close(audio, reference['audio_synth'].numpy()[0])
    louder, _ = render(violin, frame_features(clip))
    assert np.max(np.abs(louder - audio)) > 1e-4 * np.max(np.abs(louder))


def test_without_reverb_is_the_signal_entering_the_reverb(run, violin):
    clip = excerpt(run.features, 16, 2)
    wet, outputs = render(violin, frame_features(clip))
    dry, _ = render(violin, frame_features(clip), reverb=False)
    np.testing.assert_array_equal(dry, outputs['add']['signal'].numpy()[0])
    assert np.max(np.abs(wet - dry)) > 1e-3 * np.max(np.abs(wet))
    tf.random.set_seed(SEED)
    numpy_dry = violin.resynthesize(frame_features(clip), reverb=False)
    np.testing.assert_array_equal(numpy_dry, dry)  # Eager by default, as `render`.
    traced_dry = violin.resynthesize(frame_features(clip), reverb=False, traced=True)
    assert traced_dry.shape == dry.shape


def test_one_trace_serves_every_clip_of_a_shape(run, violin):
    first, second = excerpt(run.features, 13, 3), excerpt(run.features, 17, 3)
    before = violin._render.experimental_get_tracing_count()
    a = violin.resynthesize(frame_features(first), traced=True)
    b = violin.resynthesize(frame_features(second), traced=True)
    assert violin._render.experimental_get_tracing_count() == before + 1
    assert a.shape == b.shape == (48000,) and not np.array_equal(a, b)
    violin.resynthesize(frame_features(excerpt(run.features, 13, 2.5)), traced=True)  # New shape.
    assert violin._render.experimental_get_tracing_count() == before + 2

    # A caller's own tf.function around `synthesize`: traced once, same result as eager.
    traces = []

    def harmonic(features):
        traces.append(1)
        _, outputs = violin.synthesize(features, outputs=True)
        return outputs['harmonic']['signal']

    traced = tf.function(harmonic)
    for clip in (first, second):
        tensors = {k: tf.constant(v) for k, v in frame_features(clip).items()}
        _, eager = render(violin, frame_features(clip))
        assert_close(traced(tensors).numpy(), eager['harmonic']['signal'].numpy())
    assert len(traces) == 1


def test_resynthesize_audio_at_another_rate(run, violin):
    import scipy.signal

    clip = excerpt(run.features, 16, 1.3)
    audio_44k = scipy.signal.resample_poly(clip['audio'], 441, 160).astype(np.float32)
    features = violin.compute_features(audio_44k, 44100, crepe_model='tiny')
    n = len(features['audio'])
    assert n == math.ceil(len(audio_44k) * 160 / 441)
    for key in ('f0_hz', 'f0_confidence', 'loudness_db'):
        assert features[key].shape == (n // HOP + 1,)
    # CREPE finds the violin's pitch on the confident frames (vs the MIDI ground truth).
    confident = features['f0_confidence'] > 0.85
    cents = 1200 * np.abs(np.log2(features['f0_hz'][confident] / clip['f0_hz'][confident]))
    assert confident.mean() > 0.5 and np.median(cents) < 50
    out = violin.resynthesize_audio(audio_44k, 44100, crepe_model='tiny')
    assert out.shape == (n,) and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_the_callers_gin_config_is_left_alone(run):
    gin.clear_config()
    gin.parse_config('core.exp_sigmoid.max_value = 5.0')
    try:
        before = gin.config_str()
        loaded = instrument.load_model(exported_dir())
        clip = excerpt(run.features, 16, 1)
        with_user_binding, _ = render(loaded, frame_features(clip))
        assert gin.config_str() == before
        assert gin.query_parameter('exp_sigmoid.max_value') == 5.0
    finally:
        gin.clear_config()
    without, _ = render(loaded, frame_features(clip))
    np.testing.assert_array_equal(with_user_binding, without)


# ------------------------------------------------------------------------------------------------
# Errors.
# ------------------------------------------------------------------------------------------------
def one_line(error):
    text = str(error.value)
    assert '\n' not in text, text
    return text


def test_a_bad_directory_gives_the_validation_error(tmp_path):
    directory = copy_dir(exported_dir(), str(tmp_path))
    os.remove(os.path.join(directory, f'ckpt-{TRAIN_STEPS}.index'))
    with pytest.raises(model_dir.ModelDirectoryError) as expected:
        model_dir.validate_model_dir(directory)
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        instrument.load_model(directory)
    assert one_line(error) == str(expected.value)


def test_a_gin_config_of_another_size_names_the_variable(tmp_path):
    directory = copy_dir(exported_dir(), str(tmp_path))
    path = os.path.join(directory, 'operative_config.gin')
    with open(path) as f:
        text = f.read()
    assert 'RnnFcDecoder.rnn_channels = 16' in text
    with open(path, 'w') as f:
        f.write(text.replace('RnnFcDecoder.rnn_channels = 16', 'RnnFcDecoder.rnn_channels = 24'))
    with pytest.raises(instrument.ModelMismatchError) as error:
        instrument.load_model(directory)
    message = one_line(error)
    assert 'does not fit the model' in message and 'shape' in message and 'rnn' in message


def test_an_unparsable_gin_config(tmp_path):
    directory = copy_dir(exported_dir(), str(tmp_path))
    with open(os.path.join(directory, 'operative_config.gin'), 'a') as f:
        f.write('\nRnnFcDecoder.rnn_channels = = 3\n')
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        instrument.load_model(directory)
    assert 'cannot be parsed' in one_line(error)


def test_an_unknown_name_lists_the_pretrained_models():
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        instrument.load_model('no_such_instrument')
    message = one_line(error)
    assert 'no_such_instrument' in message and 'available: ' in message
    available = instrument.available_models()
    for name in available:
        assert name in message
    if not available:
        assert 'none are installed' in message


def test_pretrained_names_resolve_in_the_package_directory(monkeypatch, tmp_path):
    shutil.copytree(exported_dir(), os.path.join(str(tmp_path), 'violin'))
    os.makedirs(os.path.join(str(tmp_path), 'not_a_model'))
    monkeypatch.setattr(model_dir, 'PRETRAINED_DIR', str(tmp_path))
    assert instrument.available_models() == ['violin']
    loaded = instrument.load_model('violin')
    assert loaded.directory == os.path.join(str(tmp_path), 'violin')
    with pytest.raises(model_dir.ModelDirectoryError) as error:
        instrument.load_model('flute')
    assert 'available: violin' in one_line(error)
    monkeypatch.setattr(model_dir, 'PRETRAINED_DIR', os.path.join(str(tmp_path), 'absent'))
    assert instrument.available_models() == []


@pytest.mark.parametrize(
    'change, fragment',
    [
        (lambda f: {'f0_hz': f['f0_hz']}, "'loudness_db' too"),
        (lambda f: [f['f0_hz']], "a dict with 'f0_hz'"),
        (lambda f: dict(f, loudness_db=f['loudness_db'][:-3]), 'as many frames as f0_hz'),
        (lambda f: dict(f, audio=np.zeros(4 * 16000, np.float32)), "the model's frame rate"),
        (lambda f: {k: np.stack([v, v]) for k, v in f.items()}, 'one clip'),
        (lambda f: {k: v[:1] for k, v in f.items()}, 'at least 2 frames'),
        (lambda f: dict(f, f0_hz=np.where(np.arange(len(f['f0_hz'])) == 5, np.nan, 1.0)), 'NaN'),
    ],
)
def test_bad_features_are_one_line_errors(run, violin, change, fragment):
    features = change(frame_features(excerpt(run.features, 16, 1)))
    with pytest.raises(ValueError) as error:
        violin.resynthesize(features)
    assert fragment in one_line(error)
