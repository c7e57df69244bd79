"""Evaluators and the evaluation loop, end to end on a tiny trained Autoencoder."""

import numpy as np
import pytest
import tensorflow as tf

from ddsp import spectral_ops
from ddsp.training import eval_util, evaluators, train_util, trainers

from . import model_fixtures as mf
from .test_summaries import decode_png, decode_wav, read_summaries

FRAME_RATE = mf.N_FRAMES * mf.SAMPLE_RATE // mf.N_SAMPLES  # 40 frames in 0.25 s: 160 Hz.


class Provider(mf.Provider):
    """The fixture provider with rates and a (fully confident) f0_confidence."""

    sample_rate = mf.SAMPLE_RATE
    frame_rate = FRAME_RATE

    def __init__(self):
        super().__init__(n_examples=4)
        self.features['f0_confidence'] = np.ones_like(self.features['f0_hz'])


def _make_model():
    # No noise synth: the losses are deterministic, so they can be recomputed exactly.
    return mf.make_autoencoder(noise=False, fft_sizes=(256,))


def _summaries(save_dir):
    return read_summaries(f'{save_dir}/summaries/eval')


@pytest.fixture(scope='module')
def trained_dir(tmp_path_factory):
    save_dir = str(tmp_path_factory.mktemp('run'))
    trainer = trainers.Trainer(_make_model(), tf.distribute.get_strategy(), learning_rate=3e-3)
    train_util.train(
        Provider(), trainer, batch_size=2, num_steps=2, save_dir=save_dir, restore_dir=save_dir
    )
    return save_dir


def test_evaluate_writes_real_losses_and_metrics(trained_dir, tmp_path):
    provider = Provider()
    step = eval_util.evaluate(
        provider,
        _make_model(),
        [evaluators.BasicEvaluator, evaluators.F0LdEvaluator],
        save_dir=str(tmp_path),
        restore_dir=trained_dir,
        batch_size=2,
        num_batches=2,
        run_once=True,
    )
    assert step == 2  # The newest checkpoint, ckpt-2.
    values, plugins = _summaries(tmp_path)

    # The same checkpoint and batches, computed directly.
    model = _make_model()
    model.restore(train_util.get_latest_checkpoint(trained_dir))
    direct_losses, direct_ld = [], []
    for batch in provider.get_batch(2, shuffle=False, repeats=1).take(2):
        outputs, losses = model(batch, return_losses=True, training=False)
        direct_losses.append(float(losses['total_loss']))
        audio_gen = model.get_audio_from_outputs(outputs)
        ld_gen = spectral_ops.compute_loudness(
            audio_gen.numpy(), frame_rate=FRAME_RATE, use_tf=False
        )[:, : mf.N_FRAMES]
        direct_ld += list(np.mean(np.abs(ld_gen - batch['loudness_db'].numpy()), axis=1))
    [(summary_step, total_loss)] = values['losses/total_loss']
    assert summary_step == 2 and plugins['losses/total_loss'] == 'scalars'
    assert float(total_loss) > 0
    assert float(total_loss) == pytest.approx(np.mean(direct_losses), rel=1e-5)
    # ... and the checkpoint was really restored: the untrained model's loss differs.
    untrained = [
        float(_make_model()(batch, return_losses=True, training=False)[1]['total_loss'])
        for batch in provider.get_batch(2, shuffle=False, repeats=1).take(2)
    ]
    assert abs(np.mean(untrained) - float(total_loss)) > 1e-3 * float(total_loss)
    assert float(values['metrics/loudness/loudness_db'][0][1]) == pytest.approx(
        np.mean(direct_ld), abs=1e-2
    )
    # The outputs carry the (ground-truth) f0 the model synthesized with: F0Metrics, perfect.
    assert float(values['metrics/f0/raw_pitch_accuracy'][0][1]) == pytest.approx(1.0)
    assert float(values['metrics/f0/f0_dist'][0][1]) == pytest.approx(0.0, abs=1e-4)
    # Eval mode writes no samples.
    assert not any(tag.startswith('audio') for tag in values)


def test_sample_writes_audio_and_images(trained_dir, tmp_path):
    provider = Provider()
    eval_util.sample(
        provider,
        _make_model(),
        [evaluators.BasicEvaluator],
        save_dir=str(tmp_path),
        restore_dir=trained_dir,
        batch_size=2,
        run_until_step=2,
    )  # checkpoints_iterator, stopped at step 2.
    values, plugins = _summaries(tmp_path)
    [(step, clips)] = values['audio_original']
    assert step == 2 and plugins['audio_original'] == 'audio' and clips.shape == (2, 2)
    decoded, rate = decode_wav(clips[0][0])
    assert rate == mf.SAMPLE_RATE
    np.testing.assert_allclose(decoded, provider.features['audio'][0], atol=2 / 32768)
    assert values['audio_generated'][0][1].shape == (2, 2)
    for tag in ('waveform/_1', 'waveform_125ms/_2', 'spectrogram/_1'):
        assert plugins[tag] == 'images'
        assert decode_png(values[tag][0][1][2]).shape[-1] in (3, 4)
    assert 'losses/total_loss' not in values  # Sampling computes no loss means.


def test_basic_evaluator_averages_losses(tmp_path):
    ev = evaluators.BasicEvaluator(16000, 250)
    ev.evaluate({}, {}, {'total_loss': 1.0, 'spectral_loss': 0.5})
    ev.evaluate({}, {}, {'total_loss': 3.0, 'spectral_loss': 0.5})
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        ev.flush(7)
    writer.flush()
    values, _ = read_summaries(tmp_path)
    assert values['losses/total_loss'] == [(7, pytest.approx(2.0))]
    assert values['losses/spectral_loss'] == [(7, pytest.approx(0.5))]
    assert ev.results() == {'total_loss': 0.0, 'spectral_loss': 0.0}  # Reset by flush.


@pytest.mark.parametrize('noisy', [False, True])
def test_twm_evaluator_finds_the_fundamental(noisy):
    n_frames, f0 = 6, 220.0
    freqs = np.tile(f0 * np.arange(1, 9), [1, n_frames, 1])
    amps = np.tile(1.0 / np.arange(1, 9), [1, n_frames, 1])
    if noisy:  # Quiet spurious sinusoids (below 1% of the loudest) at subharmonics.
        freqs = np.concatenate([freqs, np.tile([[[55.0, 73.3, 110.0]]], [1, n_frames, 1])], -1)
        amps = np.concatenate([amps, np.full([1, n_frames, 3], 0.005)], -1)
    outputs = {'sinusoidal': {'controls': {'frequencies': freqs, 'amplitudes': amps}}}
    if noisy:  # Taken at face value, they make 110 Hz the better explanation.
        np.testing.assert_allclose(
            evaluators.TWMEvaluator(16000, 250).compute_twm_f0(outputs), 110.0, rtol=1e-5
        )
    ev = evaluators.TWMEvaluator(16000, 250, noisy=noisy)
    np.testing.assert_allclose(ev.compute_twm_f0(outputs), f0, rtol=1e-5)
    batch = {'f0_hz': np.full([1, n_frames], f0), 'f0_confidence': np.ones([1, n_frames])}
    ev.evaluate(batch, outputs, {})
    results = ev._f0_twm_metrics.results()
    assert results['raw_pitch_accuracy'] == 1.0 and results['f0_dist'] < 1e-4
    with pytest.raises(KeyError, match='processor_name'):
        evaluators.TWMEvaluator(16000, 250, processor_name='other').compute_twm_f0(outputs)


def test_errors_instead_of_endless_waits(tmp_path):
    provider, model = Provider(), _make_model()
    kwargs = dict(save_dir=str(tmp_path / 'eval'), batch_size=2, num_batches=1)
    with pytest.raises(FileNotFoundError, match='restore_dir'):
        eval_util.evaluate(provider, model, [], restore_dir=str(tmp_path / 'missing'), **kwargs)
    with pytest.raises(FileNotFoundError, match='restore_dir'):
        eval_util.evaluate(provider, model, [], **kwargs)
    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        eval_util.evaluate(provider, model, [], restore_dir=str(tmp_path), run_once=True, **kwargs)
    with pytest.raises(ValueError, match='mode'):
        eval_util.evaluate_or_sample(provider, model, [], mode='train', restore_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r'data_provider\.sample_rate must be set'):
        eval_util.evaluate(mf.Provider(), model, [], restore_dir=str(tmp_path), **kwargs)
    with pytest.raises(ValueError, match='sample_rate'):
        evaluators.BasicEvaluator(0, 250)
    with pytest.raises(KeyError, match='audio_gen'):
        evaluators.F0LdEvaluator(16000, 250).evaluate({'loudness_db': np.zeros([1, 3])}, {}, {})


def test_synthetic_notes_batches_get_audio_confidence_and_loudness():
    t = np.arange(4000) / 16000
    audio = np.sin(2 * np.pi * 440 * t)[np.newaxis].astype(np.float32)

    class Synthesizer:
        def generate_synthetic_audio(self, features):
            del features
            return tf.constant(audio)

    batch = {'f0_hz': tf.fill([1, 16, 1], 440.0)}
    out = eval_util._synthetic_notes_features(Synthesizer(), batch)
    np.testing.assert_array_equal(out['audio'], audio)
    np.testing.assert_array_equal(out['f0_confidence'], np.ones([1, 16]))
    np.testing.assert_allclose(
        out['loudness_db'], spectral_ops.compute_loudness(audio, use_tf=False), atol=1e-3
    )
    with pytest.raises(TypeError, match='generate_synthetic_audio'):
        eval_util._synthetic_notes_features(object(), batch)
