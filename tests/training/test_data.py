"""Tests of ddsp.training.data: real TFRecords in the prepared format, read by each provider."""

import logging
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from ddsp.training import data


def _float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values)))


def _bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _write_records(path, examples):
    """Writes dicts of float arrays (or bytes) as tf.train.Examples to one TFRecord file."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ex in examples:
            feature = {
                k: _bytes_feature(v) if isinstance(v, bytes) else _float_feature(v)
                for k, v in ex.items()
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )


def _examples(n, n_samples, n_frames, n_16k=None, start=0, seed=0):
    """Examples whose audio[0] is their index, so they can be told apart after reading."""
    rng = np.random.default_rng(seed + start)
    out = []
    for i in range(start, start + n):
        ex = {
            'audio': rng.uniform(-1, 1, n_samples).astype(np.float32),
            'f0_hz': rng.uniform(50, 1000, n_frames).astype(np.float32),
            'f0_confidence': rng.uniform(0, 1, n_frames).astype(np.float32),
            'loudness_db': rng.uniform(-80, 0, n_frames).astype(np.float32),
        }
        ex['audio'][0] = i
        if n_16k:
            ex['audio_16k'] = rng.uniform(-1, 1, n_16k).astype(np.float32)
        out.append(ex)
    return out


def _read_all(dataset):
    return [{k: v.numpy() for k, v in ex.items()} for ex in dataset]


def _by_index(examples):
    return {int(ex['audio'][0]): ex for ex in examples}


# ------------------------------------------------------------------------------------------
# TFRecordProvider and LegacyTFRecordProvider.
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'secs, frame_rate, centered, n_frames',
    [
        (4, 250, False, 1000),
        (4, 250, True, 1001),
        (4, 50, True, 201),
        (4, 100, False, 400),
        (4, 100, True, 401),
        (2, 200, False, 400),
    ],
)
def test_frame_counts_follow_the_framing_arithmetic(secs, frame_rate, centered, n_frames):
    provider = data.TFRecordProvider(
        'unused*', example_secs=secs, frame_rate=frame_rate, centered=centered
    )
    shapes = {k: v.shape for k, v in provider.features_dict.items()}
    assert shapes == {
        'audio': [16000 * secs],
        'audio_16k': [16000 * secs],
        'f0_hz': [n_frames],
        'f0_confidence': [n_frames],
        'loudness_db': [n_frames],
    }


@pytest.mark.parametrize(
    'sample_rate, frame_rate, centered, n_frames',
    [
        (16000, 250, False, 1000),
        (16000, 250, True, 1001),
        (48000, 100, False, 400),
        (48000, 100, True, 401),
    ],
)
def test_tfrecord_round_trip(tmp_path, sample_rate, frame_rate, centered, n_frames):
    written = _examples(2, 4 * sample_rate, n_frames, n_16k=64000) + _examples(
        1, 4 * sample_rate, n_frames, n_16k=64000, start=2
    )
    _write_records(tmp_path / 'train.tfrecord-00000-of-00002', written[:2])
    _write_records(tmp_path / 'train.tfrecord-00001-of-00002', written[2:])
    provider = data.TFRecordProvider(
        str(tmp_path / 'train.tfrecord*'),
        sample_rate=sample_rate,
        frame_rate=frame_rate,
        centered=centered,
    )
    assert (provider.sample_rate, provider.frame_rate) == (sample_rate, frame_rate)
    read = _by_index(_read_all(provider.get_dataset(shuffle=False)))
    assert sorted(read) == [0, 1, 2]
    for ex in written:
        got = read[int(ex['audio'][0])]
        assert got.keys() == ex.keys()
        for key, value in ex.items():
            assert got[key].dtype == np.float32
            np.testing.assert_array_equal(got[key], value, err_msg=key)
    assert read[0]['audio'].shape == (4 * sample_rate,)
    assert read[0]['audio_16k'].shape == (64000,)
    assert read[0]['f0_hz'].shape == (n_frames,)


@pytest.mark.parametrize(
    'sample_rate, frame_rate, example_secs, centered',
    [
        (16000, 250, 1, False),
        (16000, 250, 1, True),
        (22050, 50, 0.5, False),
        (24000, 200, 0.5, True),
        (32000, 100, 0.25, True),
        (44100, 100, 1, True),
        (48000, 50, 0.2, False),
    ],
)
def test_prepared_records_parse_with_the_provider_spec(
    tmp_path, sample_rate, frame_rate, example_secs, centered
):
    # The writer (ddsp_prepare_tfrecord's example cutting and serialization) and the reader
    # share one schema: what one writes, the other parses, at every rate it accepts.
    from ddsp.training.data_preparation import prepare_tfrecord_lib as lib

    sizes = lib.check_config(
        sample_rate, frame_rate, example_secs=example_secs, hop_secs=example_secs, chunk_secs=0
    )
    n = 3 * sizes['example_samples']
    rng = np.random.default_rng(frame_rate)
    n_frames = n // (sample_rate // frame_rate) + int(centered)  # As add_features gives.
    chunk = {
        'audio': rng.uniform(-1, 1, n).astype(np.float32),
        'audio_16k': rng.uniform(-1, 1, n * 16000 // sample_rate).astype(np.float32),
        **{
            k: rng.uniform(size=n_frames).astype(np.float32)
            for k in ('f0_hz', 'f0_confidence', 'loudness_db')
        },
    }
    written = lib.split_examples(chunk, sizes, centered)
    assert len(written) == 3
    path = tmp_path / 'prepared.tfrecord'
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ex in written:
            writer.write(lib.to_tf_example(ex))
    provider = data.TFRecordProvider(
        str(path),
        example_secs=example_secs,
        sample_rate=sample_rate,
        frame_rate=frame_rate,
        centered=centered,
    )
    assert provider.features_dict == lib.feature_spec(
        sample_rate, frame_rate, example_secs, center=centered
    )
    read = _read_all(provider.get_dataset(shuffle=False))
    assert len(read) == 3
    for got, ex in zip(read, written):
        assert sorted(got) == sorted(ex)
        for key in ex:
            np.testing.assert_array_equal(got[key], ex[key], err_msg=key)


def test_legacy_provider_reads_records_without_audio_16k(tmp_path):
    written = _examples(2, 64000, 1000)
    _write_records(tmp_path / 'old.tfrecord', written)
    provider = data.LegacyTFRecordProvider(str(tmp_path / 'old.tfrecord'))
    read = _read_all(provider.get_dataset(shuffle=False))
    assert [sorted(ex) for ex in read] == [['audio', 'f0_confidence', 'f0_hz', 'loudness_db']] * 2
    for got, ex in zip(read, written):
        for key in ex:
            np.testing.assert_array_equal(got[key], ex[key])


def test_missing_feature_is_named_with_the_features_present(tmp_path):
    _write_records(tmp_path / 'old.tfrecord', _examples(1, 64000, 1000))
    with pytest.raises(ValueError) as info:
        data.TFRecordProvider(str(tmp_path / 'old.tfrecord')).get_dataset()
    message = str(info.value)
    assert "no feature 'audio_16k'" in message
    assert "['audio', 'f0_confidence', 'f0_hz', 'loudness_db']" in message
    assert 'LegacyTFRecordProvider' in message


def test_wrong_lengths_are_reported_with_the_settings(tmp_path):
    _write_records(tmp_path / 'same.tfrecord', _examples(1, 64000, 1000, n_16k=64000))
    provider = data.TFRecordProvider(str(tmp_path / 'same.tfrecord'), centered=True)
    with pytest.raises(
        ValueError,
        match=r"'f0_hz'.*has 1000 values, expected 1001.*"
        r'centered=True',
    ):
        provider.get_dataset()
    provider = data.TFRecordProvider(str(tmp_path / 'same.tfrecord'), sample_rate=48000)
    with pytest.raises(ValueError, match=r"'audio'.*64000 values, expected 192000"):
        provider.get_dataset()


def test_wrong_feature_type_is_reported(tmp_path):
    ex = _examples(1, 64000, 1000, n_16k=64000)[0]
    with tf.io.TFRecordWriter(str(tmp_path / 'ints.tfrecord')) as writer:
        feature = {k: _float_feature(v) for k, v in ex.items()}
        feature['f0_hz'] = tf.train.Feature(int64_list=tf.train.Int64List(value=[1] * 1000))
        writer.write(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    with pytest.raises(ValueError, match=r"'f0_hz'.*is stored as int64_list, expected float_list"):
        data.TFRecordProvider(str(tmp_path / 'ints.tfrecord')).get_dataset()


def test_file_pattern_matching_nothing_is_named(tmp_path):
    pattern = str(tmp_path / 'nothing-here*.tfrecord')
    with pytest.raises(FileNotFoundError, match='nothing-here'):
        data.TFRecordProvider(pattern).get_dataset()
    with pytest.raises(ValueError, match='file_pattern must be'):
        data.TFRecordProvider()


# ------------------------------------------------------------------------------------------
# get_batch: batching, repeats, drop_remainder and file shuffling.
# ------------------------------------------------------------------------------------------
SMALL_SECS = 0.01  # 160 samples at 16 kHz and 3 frames at 250 Hz: quick records.


def _small_provider(path, n, start=0, n_files=1, cls=data.LegacyTFRecordProvider):
    per_file = -(-n // n_files)
    for f in range(n_files):
        first = start + f * per_file
        count = min(per_file, start + n - first)
        _write_records(f'{path}-{f:05d}', _examples(count, 160, 3, n_16k=160, start=first))
    return cls(f'{path}-*', example_secs=SMALL_SECS)


def test_get_batch_repeats_and_drop_remainder(tmp_path):
    provider = _small_provider(tmp_path / 'five', 5)
    assert provider.features_dict['f0_hz'].shape == [3]
    batches = list(provider.get_batch(2, shuffle=False, repeats=1))
    assert [b['audio'].shape.as_list() for b in batches] == [[2, 160], [2, 160]]
    assert batches[0]['f0_hz'].shape == (2, 3)
    batches = list(provider.get_batch(2, shuffle=False, repeats=1, drop_remainder=False))
    assert [int(b['audio'].shape[0]) for b in batches] == [2, 2, 1]
    batches = list(provider.get_batch(2, shuffle=False, repeats=2, drop_remainder=False))
    assert [int(b['audio'].shape[0]) for b in batches] == [2, 2, 2, 2, 2]
    indices = np.concatenate([b['audio'][:, 0].numpy() for b in batches]).astype(int)
    assert indices.tolist() == [0, 1, 2, 3, 4] * 2
    forever = provider.get_batch(4, shuffle=False)  # repeats=-1
    assert forever.element_spec['audio'].shape.as_list() == [4, 160]
    assert len(list(forever.take(6))) == 6


def test_side_json_files_of_the_pipeline_are_not_read_as_records(tmp_path):
    # ddsp_prepare_tfrecord wrote <prefix>-train.statistics.json and <prefix>.skipped.json
    # beside the shards before (now statistics.<base>.json, ...); the natural pattern
    # '<prefix>*' matches those earlier names too.
    provider = _small_provider(tmp_path / 'prefix-train', 4)
    (tmp_path / 'prefix-train.statistics.json').write_text('{"mean_pitch": 60.0}')
    (tmp_path / 'prefix.skipped.json').write_text('[]')
    provider = data.LegacyTFRecordProvider(str(tmp_path / 'prefix*'), example_secs=SMALL_SECS)
    indices = sorted(int(ex['audio'][0]) for ex in provider.get_dataset(shuffle=True))
    assert indices == [0, 1, 2, 3]
    only_json = data.TFRecordProvider(str(tmp_path / '*.json'))
    with pytest.raises(FileNotFoundError, match='only 2 JSON side files'):
        only_json.get_dataset()


def test_shuffle_shuffles_file_order_not_examples(tmp_path):
    provider = _small_provider(tmp_path / 'files', 12, n_files=6)
    in_order = [int(ex['audio'][0]) for ex in provider.get_dataset(shuffle=False)]
    assert sorted(in_order) == list(range(12))
    tf.random.set_seed(1)
    dataset = provider.get_dataset(shuffle=True)
    orders = [[int(ex['audio'][0]) for ex in dataset] for _ in range(4)]
    assert all(sorted(order) == list(range(12)) for order in orders)
    assert any(order != in_order for order in orders)
    # Examples of one file stay in their written order: only the file order changes.
    for order in orders:
        for first in range(0, 12, 2):
            assert order.index(first) < order.index(first + 1)


# ------------------------------------------------------------------------------------------
# Combining providers.
# ------------------------------------------------------------------------------------------
def test_zipped_provider(tmp_path):
    a = _small_provider(tmp_path / 'a', 8)
    b = _small_provider(tmp_path / 'b', 8, start=100, cls=data.TFRecordProvider)
    zipped = data.ZippedProvider([a, b])
    assert (zipped.sample_rate, zipped.frame_rate) == (16000, 250)
    ex_a, ex_b = next(iter(zipped.get_dataset(shuffle=False)))
    assert 'audio_16k' not in ex_a and 'audio_16k' in ex_b
    assert (int(ex_a['audio'][0]), int(ex_b['audio'][0])) == (0, 100)
    batch_a, batch_b = next(iter(zipped.get_batch(4, shuffle=False)))
    assert batch_a['audio'].shape == (4, 160) and batch_b['audio'].shape == (4, 160)

    weighted = data.ZippedProvider([a, b], batch_size_ratios=(1, 3))
    assert weighted.batch_size_ratios == [0.25, 0.75]
    assert weighted.batch_sizes(8) == [2, 6]
    assert weighted.batch_sizes(5) == [1, 4]
    batch_a, batch_b = next(iter(weighted.get_batch(8, shuffle=False)))
    assert batch_a['audio'].shape == (2, 160) and batch_b['audio'].shape == (6, 160)
    with pytest.raises(ValueError, match='large enough to give every provider an example'):
        data.ZippedProvider([a, b], batch_size_ratios=(1, 99)).batch_sizes(4)
    # drop_remainder defaults to False for ZippedProvider; zip stops with the shortest.
    batches = list(weighted.get_batch(8, shuffle=False, repeats=1))
    assert [int(x['audio'].shape[0]) for x, _ in batches] == [2, 2]
    assert [int(y['audio'].shape[0]) for _, y in batches] == [6, 2]


def test_multi_provider_checks_rates_and_ratios():
    a = data.TFRecordProvider('x*')
    with pytest.raises(ValueError, match=r'\(sample_rate, frame_rate\) must be the same'):
        data.MixedProvider([a, data.TFRecordProvider('y*', sample_rate=48000)])
    with pytest.raises(ValueError, match='one non-negative share per provider'):
        data.BaseMultiProvider([a, a], batch_size_ratios=(1,))
    assert data.BaseMultiProvider([a, a], batch_size_ratios=(2, 6)).batch_size_ratios == [
        0.25,
        0.75,
    ]


def test_mixed_provider_samples_with_the_ratios(tmp_path):
    a = _small_provider(tmp_path / 'a', 300)
    b = _small_provider(tmp_path / 'b', 300, start=1000)
    tf.random.set_seed(123)
    mixed = data.MixedProvider([a, b], batch_size_ratios=(1, 3))
    batch = next(iter(mixed.get_batch(400, shuffle=False)))
    from_b = float(np.mean(batch['audio'][:, 0].numpy() >= 1000))
    assert abs(from_b - 0.75) < 0.07  # 3 standard deviations for 400 draws.
    tf.random.set_seed(123)
    even = data.MixedProvider([a, b])
    batch = next(iter(even.get_batch(400, shuffle=False)))
    assert abs(float(np.mean(batch['audio'][:, 0].numpy() >= 1000)) - 0.5) < 0.08
    with pytest.raises(ValueError, match=r"same features.*'audio_16k'"):
        data.MixedProvider(
            [a, _small_provider(tmp_path / 'c', 2, cls=data.TFRecordProvider)]
        ).get_dataset()
    # One pass gives every example once: sampling goes on from the others when one ends.
    seen = sorted(int(ex['audio'][0]) for ex in mixed.get_dataset(shuffle=False))
    assert seen == list(range(300)) + list(range(1000, 1300))


# ------------------------------------------------------------------------------------------
# Other providers.
# ------------------------------------------------------------------------------------------
def test_synthetic_notes_shapes_and_values(tmp_path):
    t, h, m = 5, 4, 3
    rng = np.random.default_rng(0)
    shapes = {
        'f0_hz': (t, 1),
        'harm_amp': (t, 1),
        'harm_dist': (t, h),
        'sin_amps': (t, h),
        'sin_freqs': (t, h),
        'noise_magnitudes': (t, m),
    }
    written = [
        {k: rng.uniform(size=s).astype(np.float32) for k, s in shapes.items()} for _ in range(2)
    ]
    _write_records(tmp_path / 'synth.tfrecord', written)
    provider = data.SyntheticNotes(t, h, m, file_pattern=str(tmp_path / 'synth.tfrecord'))
    read = _read_all(provider.get_dataset(shuffle=False))
    for got, ex in zip(read, written):
        assert {k: v.shape for k, v in got.items()} == shapes
        for key in ex:
            np.testing.assert_array_equal(got[key], ex[key])
    batch = next(iter(provider.get_batch(2, shuffle=False)))
    assert batch['harm_dist'].shape == (2, t, h)
    with pytest.raises(ValueError, match=r"'harm_dist'.*has 20 values, expected 25.*n_harmonics"):
        data.SyntheticNotes(t, 5, m, file_pattern=str(tmp_path / 'synth.tfrecord')).get_dataset()


def test_experimental_data_provider_loads_a_saved_dataset(tmp_path):
    saved = tf.data.Dataset.from_tensor_slices({'audio': np.arange(12.0).reshape(3, 4)})
    saved.save(str(tmp_path / 'saved'))
    provider = data.ExperimentalDataProvider(str(tmp_path / 'saved'), 16000, 250)
    read = _read_all(provider.get_dataset())
    np.testing.assert_array_equal(
        np.stack([ex['audio'] for ex in read]), np.arange(12.0).reshape(3, 4)
    )
    with pytest.raises(FileNotFoundError, match='missing'):
        data.ExperimentalDataProvider(str(tmp_path / 'missing'), 16000, 250).get_dataset()


def test_nsynth_tfds_with_mock_data(caplog):
    tfds = pytest.importorskip('tensorflow_datasets')
    with caplog.at_level(logging.WARNING):
        provider = data.NSynthTfds()
    assert 'public bucket' in caplog.text
    with tfds.testing.mock_data(num_examples=3):
        examples = _read_all(provider.get_dataset(shuffle=False))
        plain = next(
            iter(
                data.NSynthTfds(data_dir='/nowhere', include_note_labels=False).get_batch(
                    2, shuffle=False
                )
            )
        )
    assert len(examples) == 3
    ex = examples[0]
    assert sorted(ex) == [
        'audio',
        'f0_confidence',
        'f0_hz',
        'instrument',
        'instrument_family',
        'instrument_source',
        'loudness_db',
        'pitch',
    ]
    assert ex['audio'].shape == (64000,)
    assert ex['f0_hz'].shape == ex['f0_confidence'].shape == ex['loudness_db'].shape == (1000,)
    assert ex['pitch'].shape == () and ex['instrument'].dtype == np.int64
    assert sorted(plain) == ['audio', 'f0_confidence', 'f0_hz', 'loudness_db']
    assert plain['audio'].shape == (2, 64000)


def test_urmp_file_patterns():
    urmp = data.Urmp('/data/urmp', instrument_key='vn', split='test')
    assert urmp.file_pattern == '/data/urmp/urmp_vn_solo_ddsp_conditioning_test.tfrecord*'
    urmp = data.Urmp('/data/urmp', instrument_key='all', suffix='v2')
    assert urmp.file_pattern == '/data/urmp/all_instruments_train_v2.tfrecord*'
    assert 'audio_16k' not in urmp.features_dict
    assert len(data.URMP_INSTRUMENTS) == 13
    with pytest.raises(
        ValueError, match="instrument_key must be one of .*received instrument_key='violin'"
    ):
        data.Urmp('/data/urmp', instrument_key='violin')


def _urmp_midi_example(n_frames, n_samples, rng):
    notes = np.zeros((n_frames, 128), np.float32)
    notes[:, 60] = 1.0
    notes[n_frames // 2 :, 60], notes[n_frames // 2 :, 67] = 0.0, 1.0
    onsets = np.zeros_like(notes)
    onsets[0, 60] = onsets[n_frames // 2, 67] = 1.0
    offsets = np.zeros_like(notes)
    offsets[n_frames // 2 - 1, 60] = 1.0
    return {
        'audio': rng.uniform(-1, 1, n_samples).astype(np.float32),
        **{
            k: rng.uniform(size=n_frames).astype(np.float32)
            for k in ('f0_hz', 'f0_confidence', 'loudness_db', 'power_db')
        },
        'note_active_velocities': notes * 100,
        'note_active_frame_indices': notes,
        'note_onsets': onsets,
        'note_offsets': offsets,
        'instrument_id': b'vc',
        'recording_id': b'01_Jupiter_vn_vc',
    }


@pytest.mark.parametrize(
    'cls, n_frames, n_samples', [(data.UrmpMidi, 1000, 64000), (data.UrmpMidiUnsegmented, 10, 640)]
)
def test_urmp_midi_features(tmp_path, cls, n_frames, n_samples):
    ex = _urmp_midi_example(n_frames, n_samples, np.random.default_rng(0))
    _write_records(tmp_path / 'urmp_vc_solo_ddsp_conditioning_train.tfrecord', [ex])
    got = _read_all(cls(str(tmp_path), instrument_key='vc').get_dataset(shuffle=False))[0]
    assert got['note_onsets'].shape == (n_frames, 128)
    np.testing.assert_array_equal(got['note_active_velocities'], ex['note_active_velocities'])
    for key in ('f0_hz', 'f0_confidence', 'loudness_db', 'power_db'):
        np.testing.assert_array_equal(got[key], ex[key][:, np.newaxis])
    np.testing.assert_array_equal(got['audio'], ex['audio'])
    assert got['instrument_id'] == data.URMP_INSTRUMENTS.index('vc')
    assert got['recording_id'] == b'01_Jupiter_vn_vc'
    half = n_frames // 2
    np.testing.assert_array_equal(got['midi'], [60] * half + [67] * (n_frames - half))
    assert got['midi'].dtype == got['onsets'].dtype == got['offsets'].dtype == np.int64
    assert np.flatnonzero(got['onsets']).tolist() == [0, half]
    assert np.flatnonzero(got['offsets']).tolist() == [half - 1]


# ------------------------------------------------------------------------------------------
# Gin and imports.
# ------------------------------------------------------------------------------------------
@gin.configurable
def _provider_consumer(data_provider=None, eval_provider=None):
    return data_provider, eval_provider


def test_gin_bindings_and_scopes(tmp_path):
    gin.clear_config()
    try:
        gin.parse_config(f"""
            TFRecordProvider.file_pattern = '{tmp_path}/train*'
            TFRecordProvider.centered = True
            eval/TFRecordProvider.file_pattern = '{tmp_path}/eval*'
            eval/TFRecordProvider.frame_rate = 50
            _provider_consumer.data_provider = @TFRecordProvider()
            _provider_consumer.eval_provider = @eval/TFRecordProvider()
        """)
        train, evaluation = _provider_consumer()
    finally:
        gin.clear_config()
    assert isinstance(train, data.TFRecordProvider)
    assert train.file_pattern == f'{tmp_path}/train*'
    assert train.features_dict['f0_hz'].shape == [1001]
    assert evaluation.file_pattern == f'{tmp_path}/eval*'
    assert evaluation.frame_rate == 50
    assert evaluation.features_dict['f0_hz'].shape == [201]
    for name in (
        'ExperimentalDataProvider',
        'NSynthTfds',
        'TFRecordProvider',
        'LegacyTFRecordProvider',
        'BaseMultiProvider',
        'ZippedProvider',
        'MixedProvider',
        'SyntheticNotes',
        'Urmp',
        'UrmpMidi',
    ):
        assert gin.config._REGISTRY.get_match(f'ddsp.training.data.{name}') is not None, name


def test_base_provider_and_missing_tfds(monkeypatch):
    provider = data.DataProvider(22050, 100)
    assert (provider.sample_rate, provider.frame_rate) == (22050, 100)
    with pytest.raises(NotImplementedError, match='get_dataset'):
        provider.get_batch(2)
    monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)
    with pytest.raises(ImportError, match='pip install tensorflow-datasets'):
        data.NSynthTfds(data_dir='/nowhere').get_dataset()


@pytest.mark.background_job('import_report')
def test_public_classes_and_lazy_tfds_import(background_result):
    classes = [
        n
        for n in dir(data)
        if not n.startswith('_')
        and isinstance(getattr(data, n), type)
        and getattr(data, n).__module__ == data.__name__
    ]
    assert len(classes) == 13, classes
    # A fresh interpreter that imported ddsp.training.data (after tensorflow, ddsp and
    # ddsp.crepe: tests/import_report.py, run once in the background for all the import
    # checks) has not imported tensorflow_datasets.
    report = background_result('import_report')
    loaded = set().union(*report['added'].values())
    assert report['order'][-1] == 'ddsp.training.data'
    assert 'tensorflow_datasets' not in loaded
