"""Tests of ddsp.training.augmentation.RandomGainProvider on real records of real audio."""

import gin
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from ddsp import audio_io
from ddsp.spectral_ops import loudness as loudness_lib
from ddsp.training import augmentation, data
from ddsp.training.data_preparation import prepare_tfrecord_lib as lib

RATE, FRAME_RATE, SECS = 16000, 50, 1
VIOLIN = 'data/violin/arkansas_traveller.flac'


def _loudness(audio):
    return loudness_lib.compute_loudness(
        audio, RATE, FRAME_RATE, use_tf=False, padding='center'
    ).astype(np.float32)


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    """Records of 1 s examples of a real violin clip, written as ddsp_prepare_tfrecord does,
    with the loudness of the data pipeline (centred frames)."""
    audio, rate, _ = audio_io.read_audio(VIOLIN)
    assert rate == RATE
    audio = audio[: 6 * RATE].astype(np.float32)
    sizes = lib.check_config(RATE, FRAME_RATE, example_secs=SECS, hop_secs=SECS, chunk_secs=0)
    n_frames = len(audio) // (RATE // FRAME_RATE) + 1
    chunk = {
        'audio': audio,
        'audio_16k': audio,
        'f0_hz': np.linspace(200, 400, n_frames).astype(np.float32),
        'f0_confidence': np.linspace(0, 1, n_frames).astype(np.float32),
        'loudness_db': _loudness(audio)[:n_frames],
    }
    path = tmp_path_factory.mktemp('records') / 'violin.tfrecord'
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ex in lib.split_examples(chunk, sizes, True):
            writer.write(lib.to_tf_example(ex))
    return data.TFRecordProvider(
        str(path), example_secs=SECS, sample_rate=RATE, frame_rate=FRAME_RATE, centered=True
    )


def _read(dataset):
    return [{k: v.numpy() for k, v in ex.items()} for ex in dataset]


def _gains_db(provider, augmented):
    """The gain each augmented example got, from its audio against the original's."""
    originals = _read(provider.get_dataset(shuffle=False))
    return np.array(
        [
            20 * np.log10(np.sum(np.abs(a['audio'])) / np.sum(np.abs(o['audio'])))
            for a, o in zip(augmented, originals, strict=True)
        ]
    )


def test_loudness_moves_as_the_loudness_of_the_quieter_audio(records):
    # The claim that makes the shift right: the loudness recomputed from the scaled audio is
    # the recorded loudness plus the gain (floored where the pipeline floors silence).
    provider = augmentation.RandomGainProvider(records, min_gain_db=-40.0, probability=1.0, seed=3)
    augmented = _read(provider.get_dataset(shuffle=False))
    gains = _gains_db(records, augmented)
    assert len(augmented) == 6 and np.all((gains >= -40.0) & (gains <= 0.0))
    for ex, gain in zip(augmented, gains):
        # Frames whose window lies inside the example (the first and last reach into the
        # neighbouring examples of the clip the records were cut from).
        recomputed = _loudness(ex['audio'])[1:-1]
        np.testing.assert_allclose(ex['loudness_db'][1:-1], recomputed, atol=2e-3)
        assert np.mean(recomputed > -80.0) > 0.5  # Mostly above the floor: a real test.
        np.testing.assert_allclose(ex['audio_16k'], ex['audio'])
        assert np.min(ex['loudness_db']) >= -80.0
    originals = _read(records.get_dataset(shuffle=False))
    for ex, original in zip(augmented, originals):
        np.testing.assert_array_equal(ex['f0_hz'], original['f0_hz'])
        np.testing.assert_array_equal(ex['f0_confidence'], original['f0_confidence'])


class _Indexed(data.DataProvider):
    """n examples of constant audio 1 and loudness -20 dB: the gain reads off directly."""

    def __init__(self, n):
        super().__init__(RATE, FRAME_RATE)
        self.n = n

    def get_dataset(self, shuffle=True):
        return tf.data.Dataset.from_tensor_slices(
            {
                'audio': np.ones((self.n, 4), np.float32),
                'loudness_db': np.full((self.n, 2), -20.0, np.float32),
            }
        )


def test_share_and_distribution_of_the_gains():
    n, p = 4000, 0.3
    provider = augmentation.RandomGainProvider(
        _Indexed(n), min_gain_db=-30.0, max_gain_db=-6.0, probability=p, seed=11
    )
    batch = next(iter(provider.get_batch(n, repeats=1)))
    gains = 20 * np.log10(batch['audio'].numpy()[:, 0])
    np.testing.assert_allclose(batch['loudness_db'].numpy()[:, 0], -20.0 + gains, atol=1e-4)
    chosen = gains < -1e-4
    # Binomial share within 4 standard deviations.
    assert abs(chosen.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    # The chosen gains are uniform on [-30, -6] dB (Kolmogorov-Smirnov).
    assert scipy.stats.kstest(gains[chosen], scipy.stats.uniform(-30.0, 24.0).cdf).pvalue > 1e-3
    np.testing.assert_array_equal(gains[~chosen], 0.0)


def test_draws_change_each_pass_and_repeat_with_the_seed():
    def passes(seed):
        provider = augmentation.RandomGainProvider(
            _Indexed(50), min_gain_db=-30.0, probability=0.5, seed=seed
        )
        return [b['audio'].numpy()[:, 0] for b in provider.get_batch(50, repeats=2)]

    first, second = passes(5)
    assert not np.allclose(first, second)
    for a, b in zip(passes(5), (first, second)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(passes(6)[0], first)


def test_probability_zero_passes_examples_unchanged(records):
    provider = augmentation.RandomGainProvider(records, probability=0.0, seed=0)
    for got, original in zip(
        _read(provider.get_dataset(shuffle=False)), _read(records.get_dataset(shuffle=False))
    ):
        for key in original:
            np.testing.assert_array_equal(got[key], original[key])
    assert (provider.sample_rate, provider.frame_rate) == (RATE, FRAME_RATE)


@pytest.mark.parametrize(
    'kwargs, message',
    [
        ({'data_provider': None}, 'data_provider must be a DataProvider'),
        ({'max_gain_db': 3.0}, 'max_gain_db must be a gain <= 0 dB'),
        ({'min_gain_db': -3.0, 'max_gain_db': -6.0}, 'min_gain_db must be <= max_gain_db'),
        ({'min_gain_db': float('nan')}, 'min_gain_db must be a finite number'),
        ({'probability': 1.5}, 'probability must be a probability in [0, 1]'),
        ({'probability': -0.1}, 'probability must be a number >= 0.0'),
        ({'seed': -1}, 'seed must be an integer >= 0'),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    kwargs = {'data_provider': _Indexed(2), **kwargs}
    with pytest.raises(ValueError, match='RandomGainProvider: ' + message.replace('[', r'\[')):
        augmentation.RandomGainProvider(**kwargs)


def test_gin_wraps_the_bound_provider(records):
    # As the pretrained-instrument recipe binds it for training.
    with gin.unlock_config():
        gin.parse_config(
            [
                'RandomGainProvider.data_provider = @data.TFRecordProvider()',
                f'TFRecordProvider.file_pattern = {records.file_pattern!r}',
                f'TFRecordProvider.example_secs = {SECS}',
                f'TFRecordProvider.frame_rate = {FRAME_RATE}',
                'TFRecordProvider.centered = True',
                'RandomGainProvider.probability = 1.0',
                'RandomGainProvider.min_gain_db = -12.0',
                'RandomGainProvider.max_gain_db = -12.0',
            ]
        )
    try:
        provider = gin.get_configurable('augmentation.RandomGainProvider')()
        batch = next(iter(provider.get_batch(2, shuffle=False)))
    finally:
        gin.clear_config()
    original = next(iter(records.get_batch(2, shuffle=False)))
    np.testing.assert_allclose(
        batch['audio'].numpy(), original['audio'].numpy() * 10 ** (-12 / 20), rtol=1e-5
    )
