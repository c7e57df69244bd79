"""`models.InverseSynthesis`, `encoders.ResnetSinusoidalEncoder` and the icml2020 gin configs,
on small synthetic-note and real TFRecords written here (0.5 s of 16 kHz audio)."""

import warnings

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp import losses, spectral_ops
import ddsp.training  # noqa: F401  (registers the configurables)
from ddsp.training import data, encoders, models, nn, train_util, trainers

with warnings.catch_warnings():
    warnings.simplefilter('ignore', FutureWarning)
    from ddsp.training.data_preparation import synthetic_data

SR = 16000
N_SAMPLES = 8000  # 0.5 s.
# compute_logmel's default frames: 2048 points, hop 512 -> ceil(8000 / 512) = 16 frames.
T, H, M = 16, 100, 65
N_SYN = 3  # Synthetic examples per batch (zipped batches have as many real ones).
EXAMPLE_SECS = N_SAMPLES / SR


def _write(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ex in examples:
            feature = {
                k: tf.train.Feature(
                    float_list=tf.train.FloatList(value=np.asarray(v, np.float32).ravel())
                )
                for k, v in ex.items()
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    """Synthetic notes (T=16, H=100, M=65) and real examples (0.5 s of harmonic tones)."""
    root = tmp_path_factory.mktemp('icml2020')
    notes = synthetic_data.generate_notes_v2(4, T, H, M, rng=0)
    _write(root / 'notes.tfrecord', [{k: v[i] for k, v in notes.items()} for i in range(4)])
    provider = data.TFRecordProvider(str(root / 'real.tfrecord'), example_secs=EXAMPLE_SECS)
    t = np.arange(N_SAMPLES) / SR
    real = []
    for f0 in (220.0, 330.0, 440.0):
        audio = sum(0.2 / k * np.sin(2 * np.pi * k * f0 * t) for k in (1, 2, 3))
        example = {
            k: np.full(spec.shape, f0 if k == 'f0_hz' else 0.0)
            for k, spec in provider.features_dict.items()
        }
        example['audio'] = audio
        example['audio_16k'] = audio
        real.append(example)
    _write(root / 'real.tfrecord', real)
    return {'notes': str(root / 'notes.tfrecord'), 'real': str(root / 'real.tfrecord')}


def _synthetic_provider(records):
    return data.SyntheticNotes(T, H, M, file_pattern=records['notes'])


def _real_provider(records):
    return data.TFRecordProvider(records['real'], example_secs=EXAMPLE_SECS)


def _synthetic_batch(records, n=N_SYN):
    return next(iter(_synthetic_provider(records).get_batch(n, shuffle=False)))


def _zipped_batch(records):
    zipped = data.ZippedProvider([_synthetic_provider(records), _real_provider(records)])
    return next(iter(zipped.get_batch(N_SYN, shuffle=False)))


def _spectrogram(audio):
    """A small log-mel (32 bins) with the default 2048/512 framing."""
    return spectral_ops.compute_logmel(audio, lo_hz=0.0, hi_hz=8000.0, bins=32)


def _small_model(reverb=False, harmonic=True, **kwargs):
    tf.random.set_seed(0)
    encoder = encoders.ResnetSinusoidalEncoder(
        output_splits=(('frequencies', H * 8), ('amplitudes', H), ('noise_magnitudes', M)),
        spectral_fn=_spectrogram,
        size='tiny',
    )
    harmonic_encoder = (
        encoders.SinusoidalToHarmonicEncoder(net=nn.FcStack(32, 1), n_harmonics=H, f0_depth=32)
        if harmonic
        else None
    )
    settings = dict(
        losses=[losses.SpectralLoss(fft_sizes=(1024, 256, 64), mag_weight=1.0, logmag_weight=1.0)],
        sinusoidal_consistency_losses=[losses.KDEConsistencyLoss(weight_a=0.01, weight_b=0.01)],
        harmonic_consistency_losses=([losses.HarmonicConsistencyLoss()] if harmonic else None),
        filtered_noise_consistency_loss=losses.FilteredNoiseConsistencyLoss(),
        twm_loss=losses.TWMLoss() if harmonic else None,
        reverb=reverb,
        n_samples=N_SAMPLES,
        sample_rate=SR,
    )
    settings.update(kwargs)
    return models.InverseSynthesis(encoder, harmonic_encoder, **settings)


CONSISTENCY_LOSSES = {
    'kde_consistency_loss',
    'filtered_noise_consistency_loss',
    'harm_amp_loss',
    'harm_dist_loss',
    'f0_hz_loss',
}
AUDIO_LOSSES = {'spectral_loss', 'harm_spectral_loss', 'twm_loss'}


# ------------------------------------------------------------------------------------------------
# Forward pass, losses, training.
# ------------------------------------------------------------------------------------------------
def test_forward_on_synthetic_notes(records):
    model = _small_model()
    batch = _synthetic_batch(records)
    outputs, loss_values = model(batch, return_losses=True, training=False)
    shapes = {
        'audio': (N_SYN, N_SAMPLES),
        'sin_audio': (N_SYN, N_SAMPLES),
        'harm_audio': (N_SYN, N_SAMPLES),
        'sin_amps': (N_SYN, T, H),
        'sin_freqs': (N_SYN, T, H),
        'noise_magnitudes': (N_SYN, T, M),
        'harm_amp': (N_SYN, T, 1),
        'harm_dist': (N_SYN, T, H),
        'f0_hz': (N_SYN, T, 1),
        'harm_freqs': (N_SYN, T, H),
        'harm_amps': (N_SYN, T, H),
    }
    for key, shape in shapes.items():
        assert tuple(outputs[key].shape) == shape, key
        assert np.all(np.isfinite(outputs[key].numpy())), key
    assert {'sinusoidal', 'filtered_noise', 'add', 'out'} <= set(outputs)
    np.testing.assert_array_equal(
        outputs['add']['signal'].numpy(), outputs['sin_audio'].numpy()
    )  # No reverb.
    assert model.get_audio_from_outputs(outputs) is outputs['harm_audio']
    # Frequencies: a softmax expectation between 20 Hz and Nyquist; harmonics are multiples.
    sin_freqs = outputs['sin_freqs'].numpy()
    assert np.all((sin_freqs >= 20.0) & (sin_freqs <= SR / 2))
    np.testing.assert_allclose(
        outputs['harm_freqs'].numpy(), outputs['f0_hz'].numpy() * np.arange(1, H + 1), rtol=1e-5
    )
    np.testing.assert_allclose(
        outputs['harm_amps'].numpy(),
        outputs['harm_amp'].numpy() * outputs['harm_dist'].numpy(),
        rtol=1e-5,
    )
    # Losses are reported in evaluation too (training=False, return_losses=True).
    assert set(loss_values) == AUDIO_LOSSES | CONSISTENCY_LOSSES | {'total_loss'}
    total = sum(float(v) for k, v in loss_values.items() if k != 'total_loss')
    assert float(loss_values['total_loss']) == pytest.approx(total, rel=1e-5)
    assert all(float(v) > 0 for v in loss_values.values())


def test_synthetic_audio_is_the_analytic_sinusoid():
    """One constant sinusoid and no noise: a * sin(2 pi f (n + 1) / sr) (the oscillator bank's
    inclusive phase cumsum)."""
    model = _small_model(harmonic=False)
    amps = np.zeros((1, T, H), np.float32)
    amps[..., 0] = 0.5
    freqs = np.full((1, T, H), 9000.0, np.float32)  # Others above Nyquist: silenced.
    freqs[..., 0] = 440.0
    audio = model.generate_synthetic_audio(
        {'sin_amps': amps, 'sin_freqs': freqs, 'noise_magnitudes': np.zeros((1, T, M), np.float32)}
    ).numpy()[0]
    expected = 0.5 * np.sin(2 * np.pi * 440.0 * (np.arange(N_SAMPLES) + 1) / SR)
    np.testing.assert_allclose(audio, expected, atol=2e-3)


def test_trainer_adam_steps_on_a_zipped_batch_lower_the_total_loss(records):
    """`trainers.Trainer` (Adam, compiled with tf.function) on one zipped (synthetic, real)
    batch. Without the TWM loss: with stopped gradients its targets (the sinusoids) move as
    the sinusoidal encoder learns, so it need not fall in a few steps (pretraining does not
    use it)."""
    model = _small_model(twm_loss=None)
    zipped = data.ZippedProvider([_synthetic_provider(records), _real_provider(records)])
    batch = next(iter(zipped.get_batch(1, shuffle=False)))
    trainer = trainers.Trainer(
        model, train_util.get_strategy(), learning_rate=1e-3, grad_clip_norm=100.0
    )
    trainer.build(batch)
    before = [w.numpy() for w in model.trainable_variables]
    totals = [float(trainer.train_step(batch)['total_loss']) for _ in range(5)]
    assert totals[-1] < 0.8 * totals[0], totals
    # Every trainable weight moved: gradients reach all of them.
    for w, b in zip(model.trainable_variables, before):
        assert not np.array_equal(w.numpy(), b), w.path


def test_stop_gradient_keeps_harmonic_losses_out_of_the_sinusoidal_encoder(records):
    batch = _synthetic_batch(records, 1)
    for stop, expect_grad in ((True, False), (False, True)):
        model = _small_model(
            stop_gradient=stop,
            losses=None,
            sinusoidal_consistency_losses=None,
            filtered_noise_consistency_loss=None,
            twm_loss=None,
        )
        with tf.GradientTape() as tape:
            _, loss_values = model(batch, return_losses=True, training=True)
        assert set(loss_values) == {'harm_amp_loss', 'harm_dist_loss', 'f0_hz_loss', 'total_loss'}
        grads = tape.gradient(
            loss_values['total_loss'], model.sinusoidal_encoder.trainable_variables
        )
        reached = any(g is not None and np.any(g.numpy() != 0) for g in grads)
        assert reached == expect_grad


def test_zipped_batches(records):
    model = _small_model(reverb=True)
    zipped = _zipped_batch(records)
    assert isinstance(zipped, tuple) and 'sin_amps' in zipped[0] and 'audio' in zipped[1]
    outputs, loss_values = model(zipped, return_losses=True, training=False)
    n = 2 * N_SYN
    assert outputs['audio'].shape == (n, N_SAMPLES)
    assert outputs['f0_hz'].shape == (n, T, 1)
    # The real examples follow the synthetic ones, unchanged.
    np.testing.assert_array_equal(outputs['audio'].numpy()[N_SYN:], zipped[1]['audio'].numpy())
    assert set(loss_values) == AUDIO_LOSSES | CONSISTENCY_LOSSES | {'total_loss'}
    # With reverb the dry sum is no longer the output.
    assert not np.allclose(outputs['add']['signal'].numpy(), outputs['sin_audio'].numpy())

    features, synthetic = model.parse_zipped_features((zipped[1], zipped[0]))  # Any order.
    assert features['audio'].shape == (n, N_SAMPLES)
    np.testing.assert_array_equal(synthetic['f0_hz'].numpy(), zipped[0]['f0_hz'].numpy())

    # Real audio alone: no consistency losses.
    _, real_losses = model(zipped[1], return_losses=True, training=False)
    assert set(real_losses) == AUDIO_LOSSES | {'total_loss'}
    # Synthetic targets with another frame count: predictions are resampled to it.
    short = {k: v[:, ::2] for k, v in zipped[0].items()}
    _, short_losses = model(short, return_losses=True, training=False)
    assert CONSISTENCY_LOSSES <= set(short_losses)


def test_bad_batches_and_arguments_raise_clear_errors(records):
    model = _small_model()
    zipped = _zipped_batch(records)
    with pytest.raises(ValueError, match='at most one synthetic and one real'):
        model((zipped[1], zipped[1]), training=False)
    with pytest.raises(ValueError, match='real audio has 4000 samples'):
        model((zipped[0], {'audio': zipped[1]['audio'][:, :4000]}), training=False)
    with pytest.raises(KeyError, match='needs "audio"'):
        model({'f0_hz': zipped[1]['f0_hz']}, training=False)
    with pytest.raises(ValueError, match='features dict or a tuple of dicts'):
        model.parse_zipped_features(zipped[1]['audio'])
    encoder = encoders.ResnetSinusoidalEncoder(size='tiny')
    with pytest.raises(ValueError, match='sinusoidal_encoder is required'):
        models.InverseSynthesis()
    with pytest.raises(ValueError, match='twm_loss applies to the harmonic encoder'):
        models.InverseSynthesis(encoder, twm_loss=losses.TWMLoss())
    with pytest.raises(ValueError, match='needs a get_losses_dict method'):
        models.InverseSynthesis(encoder, losses=['spectral'])
    with pytest.raises(ValueError, match='n_samples must be a positive integer'):
        models.InverseSynthesis(encoder, n_samples=0)
    with pytest.raises(ValueError, match="size must be one of .*'huge'"):
        encoders.ResnetSinusoidalEncoder(size='huge')
    with pytest.raises(ValueError, match='spectral_fn must be a callable'):
        encoders.ResnetSinusoidalEncoder(spectral_fn='logmel')


def test_encoder_frames_match_the_spectrogram_and_config_round_trips():
    encoder = encoders.ResnetSinusoidalEncoder(
        output_splits=(('frequencies', 8), ('amplitudes', 2)), size='tiny'
    )
    audio = np.random.default_rng(0).normal(size=(2, N_SAMPLES)).astype(np.float32)
    out = encoder({'audio': audio})
    n_frames = spectral_ops.compute_logmel(audio).shape[1]
    assert n_frames == T
    assert out['frequencies'].shape == (2, T, 8) and out['amplitudes'].shape == (2, T, 2)
    clone = encoders.ResnetSinusoidalEncoder.from_config(encoder.get_config())
    assert clone.get_config() == encoder.get_config()
    assert clone.spectral_fn is spectral_ops.compute_logmel
    clone({'audio': audio})
    clone.set_weights(encoder.get_weights())
    np.testing.assert_allclose(
        clone({'audio': audio})['amplitudes'].numpy(),
        out['amplitudes'].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_restore_from_checkpoint_gives_identical_outputs(records, tmp_path):
    batch = _synthetic_batch(records, 2)
    model = _small_model(reverb=True)
    outputs = model(batch, training=False)
    # Perturb every weight so that a fresh model cannot match by chance of initialisation.
    for w in model.trainable_variables:
        w.assign_add(0.01 * tf.ones_like(w))
    outputs = model(batch, training=False)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / 'ckpt'))

    restored = _small_model(reverb=True)
    restored(batch, training=False)
    restored.restore(str(tmp_path), verbose=False)
    assert len(restored.weights) == len(model.weights)
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    again = restored(batch, training=False)
    for key in ('sin_amps', 'sin_freqs', 'noise_magnitudes', 'f0_hz', 'harm_amp', 'harm_dist'):
        np.testing.assert_array_equal(again[key].numpy(), outputs[key].numpy())
    assert path.startswith(str(tmp_path))


# ------------------------------------------------------------------------------------------------
# The icml2020 gin configs.
# ------------------------------------------------------------------------------------------------
def _local_bindings(records):
    return [
        f"SyntheticNotes.file_pattern = '{records['notes']}'",
        f'SyntheticNotes.n_timesteps = {T}',
        f"train_data/TFRecordProvider.file_pattern = '{records['real']}'",
        f'train_data/TFRecordProvider.example_secs = {EXAMPLE_SECS}',
        f'InverseSynthesis.n_samples = {N_SAMPLES}',
    ]


@pytest.mark.usefixtures('gin_package_path')
def test_icml2020_pretrain_configs_build_the_documented_model(records):
    gin.parse_config_files_and_bindings(
        ['papers/icml2020/pretrain_dataset.gin', 'papers/icml2020/pretrain_model.gin'],
        _local_bindings(records),
        skip_unknown=['evaluate', 'sample'],
    )
    assert gin.query_parameter('SyntheticNotes.n_harmonics') == 100
    model = models.get_model()
    assert isinstance(model, models.InverseSynthesis)
    assert model.reverb_module is None
    assert model.sinusoidal_encoder.size == 'small'
    assert isinstance(model.harmonic_encoder.net, nn.RnnSandwich)
    assert [type(x) for x in model.sinusoidal_consistency_losses] == [losses.KDEConsistencyLoss]
    assert model.loss_objs[0].mag_weight == 0.0 and model.loss_objs[0].logmag_weight == 0.0

    batch = _synthetic_batch(records, 1)
    outputs, loss_values = model(batch, return_losses=True, training=False)
    # 229 mel bins -> 15 ResNet bins x 512 channels ('small') per frame; one frame per
    # spectrogram frame; 100 sinusoids, 65 noise bands.
    assert model.sinusoidal_encoder.dense_out.kernel.shape == (15 * 512, 6400 + 100 + 65)
    assert outputs['sin_freqs'].shape == (1, T, 100)
    assert outputs['noise_magnitudes'].shape == (1, T, 65)
    assert float(loss_values['spectral_loss']) == 0.0
    assert CONSISTENCY_LOSSES <= set(loss_values)


@pytest.mark.usefixtures('gin_package_path')
def test_icml2020_finetune_configs_train_on_zipped_local_data(records):
    gin.parse_config_files_and_bindings(
        ['papers/icml2020/finetune_dataset.gin', 'papers/icml2020/finetune_model.gin'],
        _local_bindings(records) + ["ResnetSinusoidalEncoder.size = 'tiny'"],
        skip_unknown=['evaluate', 'sample'],
    )
    assert gin.query_parameter('HarmonicConsistencyLoss.dist_weight') == 100.0
    reference = gin.query_parameter('train_util.train.data_provider')
    assert 'train_data/' in str(reference) and 'ZippedProvider' in str(reference)
    with gin.config_scope('train_data'):
        provider = gin.get_configurable('data.ZippedProvider')()
    batch = next(iter(provider.get_batch(2, shuffle=False)))
    assert isinstance(batch, tuple) and len(batch) == 2
    model = models.get_model()
    assert model.loss_objs[0].mag_weight == 1.0
    outputs, loss_values = model(batch, return_losses=True, training=True)
    assert outputs['audio'].shape == (4, N_SAMPLES)
    assert float(loss_values['spectral_loss']) > 0
    assert CONSISTENCY_LOSSES | {'spectral_loss', 'harm_spectral_loss'} <= set(loss_values)


@pytest.mark.usefixtures('gin_package_path')
@pytest.mark.parametrize(
    'name', ['pretrain_dataset', 'pretrain_model', 'finetune_dataset', 'finetune_model']
)
def test_icml2020_configs_parse_alone_with_the_original_defaults(name):
    gin.parse_config_files_and_bindings(
        [f'papers/icml2020/{name}.gin'], [], skip_unknown=['evaluate', 'sample']
    )
    if 'dataset' in name:  # The gs:// defaults stay; users override them.
        assert gin.query_parameter('SyntheticNotes.file_pattern').startswith('gs://ddsp-inv/')
    if name == 'finetune_dataset':
        assert (
            gin.query_parameter('train_data/TFRecordProvider.file_pattern')
            == 'gs://ddsp-inv/datasets/all_instruments_train.tfrecord*'
        )
    if 'model' in name:
        assert gin.query_parameter('InverseSynthesis.reverb') is False
        assert gin.query_parameter('f0_spectral/compute_logmel.bins') == 229
