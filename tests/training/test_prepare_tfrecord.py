"""End-to-end tests of the ddsp_prepare_tfrecord Beam pipeline (real DirectRunner, 2 workers).

Inputs are 6-s excerpts of the shipped violin dataset (data/violin/, rendered by
tests/data/render_instruments.py with MIDI ground truth in the .npz files), one of them turned
into a 44.1 kHz stereo file, plus a corrupt, an empty, a truncated and a too-short file.
CREPE tiny keeps the runs short.
"""

import json
import os
import pathlib
import time

import numpy as np
import pytest
import tensorflow as tf

from ddsp.training.data_preparation import ddsp_prepare_tfrecord, outputs, statistics
from ddsp.training.data_preparation import prepare_tfrecord_lib as lib

beam = pytest.importorskip('apache_beam')
sf = pytest.importorskip('soundfile')

DATA = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'violin'
EXCERPT_S = 6
# (clip, start second): excerpts with notes and vibrato.
EXCERPTS = [('heathy_hill', 2), ('dark_woman', 10), ('friars_hill', 2)]
# Beam's in-memory runner, in this process: the pipeline is the same, without a worker process
# that imports TensorFlow and loads CREPE again (half the CPU time). The default runner (one
# worker process per core) prepares the records of test_train_real_audio.py and the demo's.
PIPELINE_OPTIONS = [
    '--runner=DirectRunner',
    '--direct_num_workers=1',
    '--direct_running_mode=in_memory',
]


def _excerpt(name, start):
    audio, sr = sf.read(DATA / f'{name}.flac', dtype='float32')
    assert sr == 16000
    truth = np.load(DATA / f'{name}.npz')
    fr = int(truth['frame_rate'])
    frames = slice(start * fr, (start + EXCERPT_S) * fr + 1)
    return (
        audio[start * sr : (start + EXCERPT_S) * sr],
        {k: truth[k][frames] for k in ('f0_hz', 'mask', 'expression', 'velocity')},
    )


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """Input directory; returns (dir, {stem: (audio_16k, truth)}, expected skip reasons)."""
    import scipy.signal

    d = tmp_path_factory.mktemp('audio_in')
    sources = {}
    for name, start in EXCERPTS[:2]:
        audio, truth = _excerpt(name, start)
        sf.write(d / f'{name}.wav', audio, 16000, subtype='PCM_16')
        sources[name] = (audio, truth)
    name, start = EXCERPTS[2]
    audio, truth = _excerpt(name, start)
    audio_44k = scipy.signal.resample_poly(audio, 441, 160)
    sf.write(
        d / f'{name}_44k_stereo.flac',
        np.stack([audio_44k, 0.8 * audio_44k], 1),
        44100,
        subtype='PCM_24',
    )
    sources[f'{name}_44k_stereo'] = (0.9 * audio, truth)
    (d / 'corrupt.wav').write_bytes(np.random.default_rng(0).bytes(5000))
    (d / 'empty.flac').write_bytes(b'')
    sf.write(d / 'full.flac', audio, 16000, subtype='PCM_16')
    data = (d / 'full.flac').read_bytes()
    (d / 'truncated.flac').write_bytes(data[: len(data) // 3])
    (d / 'full.flac').unlink()
    sf.write(d / 'short.wav', audio[:16000], 16000, subtype='PCM_16')
    return d, sources


def _records(pattern, spec=None):
    files = sorted(tf.io.gfile.glob(pattern))
    assert files, pattern
    ds = tf.data.TFRecordDataset(files)
    if spec is None:  # Variable-length features.
        spec = {k: tf.io.VarLenFeature(tf.float32) for k in lib.FEATURE_KEYS}
        return [
            {
                k: tf.sparse.to_dense(v).numpy()
                for k, v in tf.io.parse_single_example(r, spec).items()
            }
            for r in ds
        ]
    return [{k: v.numpy() for k, v in tf.io.parse_single_example(r, spec).items()} for r in ds]


@pytest.fixture(scope='module')
def whole_file_run(inputs, tmp_path_factory):
    """One example per file (no chunks, no splitting) at 100 Hz centred frames: comparable
    frame by frame with the MIDI ground truth."""
    d, _ = inputs
    out = tmp_path_factory.mktemp('whole') / 'whole.tfrecord'
    summary = lib.prepare_tfrecord(
        [str(d / '*.wav'), str(d / '*.flac')],
        str(out),
        num_shards=1,
        frame_rate=100,
        example_secs=0,
        chunk_secs=0,
        center=True,
        viterbi=True,
        crepe_capacity='tiny',
        pipeline_options=PIPELINE_OPTIONS,
    )
    return out, summary


@pytest.fixture(scope='module')
def example_run(inputs, tmp_path_factory):
    """Default-like settings (16 kHz, 250 Hz, 'same' padding), 2-s examples, eval split, and
    leftovers of an earlier run in the output that must disappear."""
    d, _ = inputs
    out_dir = tmp_path_factory.mktemp('examples')
    out = out_dir / 'ds.tfrecord'
    stale = [
        out_dir / 'ds.tfrecord-00000-of-00005',
        out_dir / 'ds.tfrecord-train-00004-of-00005',
        out_dir / 'ds.tfrecord.statistics.json',
    ]
    for path in stale:
        path.write_bytes(b'old run')
    start = time.time()
    summary = ddsp_prepare_tfrecord.run(
        [
            f'--input_audio_filepatterns={d}/*.wav,{d}/*.flac',
            f'--output_tfrecord_path={out}',
            '--num_shards=2',
            '--example_secs=2',
            '--hop_secs=1',
            '--chunk_secs=4',
            '--eval_split_fraction=0.3',
            '--crepe_capacity=tiny',
            '--noviterbi',
            '--pipeline_options=' + ','.join(PIPELINE_OPTIONS),
        ]
    )
    return out, summary, stale, time.time() - start


def test_skipped_files_reported_with_reasons(whole_file_run):
    _, summary = whole_file_run
    reasons = {os.path.basename(s['path']): s['reason'] for s in summary['skipped']}
    assert set(reasons) == {'corrupt.wav', 'empty.flac', 'truncated.flac'}
    assert 'empty' in reasons['empty.flac']
    assert 'unreadable' in reasons['corrupt.wav']
    assert 'truncated' in reasons['truncated.flac']
    counters = summary['counters']
    assert counters['skipped_files'] == 3
    assert counters['files_done'] == 4  # Three excerpts and the (unsplit) short file.
    assert counters['downmixed_files'] == 1 and counters['resampled_files'] == 1
    on_disk = json.loads(
        pathlib.Path(outputs.side_file_path(str(whole_file_run[0]), 'skipped')).read_text()
    )
    assert [s['reason'] for s in on_disk] == [s['reason'] for s in summary['skipped']]


def test_f0_and_loudness_match_the_rendered_performance(inputs, whole_file_run):
    _, sources = inputs
    out, _ = whole_file_run
    records = _records(f'{out}-?????-of-?????')
    assert len(records) == 4
    matched = set()
    for rec in records:
        audio = rec['audio']
        assert len(rec['audio_16k']) == len(audio)
        n_frames = len(audio) // 160 + 1  # Centred, 100 Hz.
        assert all(len(rec[k]) == n_frames for k in ('f0_hz', 'f0_confidence', 'loudness_db'))
        if len(audio) != EXCERPT_S * 16000:
            continue  # The 1-s file.
        name = max(sources, key=lambda s: np.dot(sources[s][0][:8000], audio[:8000]))
        matched.add(name)
        source, truth = sources[name]
        assert np.corrcoef(audio, source)[0, 1] > 0.99, name
        mask = truth['mask'] & (rec['f0_confidence'] > 0.5)
        assert mask.mean() > 0.5, name
        cents = 1200 * np.log2(rec['f0_hz'][mask] / truth['f0_hz'][mask])
        assert np.median(np.abs(cents)) < 20, (name, np.median(np.abs(cents)))
        # Level follows ~40 log10(CC11/127) + 40 log10(velocity/127) dB in the renderer.
        m = truth['mask']
        expected_db = 40 * np.log10(truth['expression'][m] / 127) + 40 * np.log10(
            truth['velocity'][m] / 127
        )
        assert np.corrcoef(rec['loudness_db'][m], expected_db)[0, 1] > 0.6, name
    assert matched == set(sources)


def test_examples_shapes_split_statistics_and_rerun(example_run):
    out, rc, stale, seconds = example_run
    assert rc == 0
    for path in stale:
        assert not path.exists(), path
    spec = lib.feature_spec(16000, 250, example_secs=2, center=False)
    assert spec['f0_hz'].shape == [500] and spec['audio'].shape == [32000]
    counts = {}
    for split in ('train', 'eval'):
        shards = sorted(tf.io.gfile.glob(f'{out}-{split}-*'))
        assert [s[-15:] for s in shards] == ['-00000-of-00002', '-00001-of-00002']
        records = _records(f'{out}-{split}-?????-of-?????', spec)
        counts[split] = len(records)
        for rec in records:
            for key, feature in spec.items():
                assert rec[key].shape == tuple(feature.shape)
                assert np.all(np.isfinite(rec[key]))
    # The data provider reads them with the same shapes.
    from ddsp.training import data

    provider = data.TFRecordProvider(
        f'{out}-train-?????-of-?????',
        example_secs=2,
        sample_rate=16000,
        frame_rate=250,
        centered=False,
    )
    batch = next(iter(provider.get_batch(2, shuffle=False, repeats=1)))
    assert batch['audio'].shape == (2, 32000) and batch['audio_16k'].shape == (2, 32000)
    assert all(batch[k].shape == (2, 500) for k in ('f0_hz', 'f0_confidence', 'loudness_db'))
    # 3 files x 6 s: every 2-s window every 1 s, (6 - 2) / 1 + 1 = 5 per file (chunks of 4 s
    # overlap by 2 - 1 = 1 s, so no window is lost at the chunk boundary); each file has 2
    # chunks, at least one of the 6 goes to eval (int(6 * 0.3) = 1).
    assert counts['train'] + counts['eval'] == 3 * ((6 - 2) // 1 + 1)
    assert counts['eval'] >= 1
    stats = statistics.load_dataset_statistics(outputs.side_file_path(out, 'statistics', 'train'))
    assert 60 < stats['pitch_note']['mean_'] < 90
    ld = stats['loudness_note']
    assert -80 <= ld['min_'] < ld['mean_min_'] < ld['mean_'] < ld['mean_max_'] <= ld['max_'] < 20
    assert len(stats['loudness_note']['quantiles']) == 101
    assert np.all(np.diff(stats['loudness_note']['quantiles']) >= 0)
    skipped = json.loads(pathlib.Path(outputs.side_file_path(out, 'skipped')).read_text())
    assert {os.path.basename(s['path']) for s in skipped} == {
        'corrupt.wav',
        'empty.flac',
        'truncated.flac',
        'short.wav',
    }
    assert not list(out.parent.glob('.*tmp-*'))  # The temporary directory is gone.
    assert not list(out.parent.glob('.*'))  # So are the staging directory and the journal.


VALID = [
    (16000, 250),
    (16000, 200),
    (16000, 100),
    (16000, 50),
    (22050, 50),
    (24000, 250),
    (24000, 200),
    (24000, 100),
    (24000, 50),
    (32000, 250),
    (32000, 200),
    (32000, 100),
    (32000, 50),
    (44100, 100),
    (44100, 50),
    (48000, 250),
    (48000, 200),
    (48000, 100),
    (48000, 50),
]


@pytest.mark.parametrize('center', [False, True])
def test_lengths_consistent_for_all_rate_combinations(tmp_path, center):
    t = np.arange(int(2.37 * 22050)) / 22050
    path = tmp_path / 'tone.wav'
    sf.write(path, 0.5 * np.sin(2 * np.pi * 330 * t), 22050)
    for sample_rate, frame_rate in VALID:
        sizes = lib.check_config(
            sample_rate, frame_rate, example_secs=1, hop_secs=0.5, chunk_secs=2
        )
        hop = sample_rate // frame_rate
        ex, _ = lib.load_audio(str(path), sizes)
        assert len(ex['audio']) % hop == 0
        assert len(ex['audio_16k']) * sample_rate == len(ex['audio']) * 16000
        for chunk in lib.chunk_audio(ex, sizes):
            n_frames = len(chunk['audio']) // hop + int(center)
            for key in ('f0_hz', 'f0_confidence', 'loudness_db'):
                chunk[key] = np.zeros(n_frames, np.float32)
            for example in lib.split_examples(chunk, sizes, center):
                n = len(example['audio'])
                assert n == sample_rate and len(example['audio_16k']) == 16000
                assert (len(example['f0_hz']) - int(center)) * hop == n
                assert len(example['f0_hz']) == frame_rate + int(center)
        # Features really come out at these lengths (CREPE tiny on the first chunk).
        if (sample_rate, frame_rate) in ((44100, 100), (48000, 250)):
            chunk = lib.chunk_audio(ex, sizes)[0]
            feats = lib.add_features(chunk, sizes, center, False, 'tiny')
            assert len(feats['f0_hz']) == len(chunk['audio']) // hop + int(center)


@pytest.mark.parametrize(
    'sample_rate,frame_rate',
    [(22050, 250), (44100, 200), (16000, 300), (48000, 150), (16000, 62.5)],
)
def test_invalid_combination_errors_before_any_work(tmp_path, sample_rate, frame_rate):
    out = tmp_path / 'out' / 'x.tfrecord'
    with pytest.raises(ValueError, match='frame_rate|whole number'):
        lib.prepare_tfrecord(
            [str(DATA / '*.flac')],
            str(out),
            sample_rate=sample_rate,
            frame_rate=frame_rate,
            pipeline_options=PIPELINE_OPTIONS,
        )
    assert not (tmp_path / 'out').exists()


def test_cli_reports_invalid_combination(tmp_path, capsys):
    rc = ddsp_prepare_tfrecord.run(
        [
            f'--input_audio_filepatterns={DATA}/*.flac',
            f'--output_tfrecord_path={tmp_path}/x',
            '--sample_rate=44100',
            '--frame_rate=250',
        ]
    )
    assert rc == 2
    assert 'a divisor of sample_rate=44100' in capsys.readouterr().err


def test_mp3_stereo_44k_is_read_when_libsndfile_decodes_it(tmp_path):
    if 'MP3' not in sf.available_formats():
        pytest.skip('this libsndfile has no MP3 support')
    t = np.arange(44100 * 2) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / 'tone.mp3'
    sf.write(path, np.stack([tone, tone], 1), 44100, format='MP3')
    sizes = lib.check_config(16000, 250, example_secs=1, hop_secs=1, chunk_secs=0)
    ex, notes = lib.load_audio(str(path), sizes)
    assert set(notes) == {'downmixed', 'resampled'}
    assert len(ex['audio']) % 64 == 0 and abs(len(ex['audio']) - 32000) < 2000


def test_statistics_pickle_needs_explicit_permission(tmp_path):
    path = tmp_path / 'dataset_statistics.pkl'
    path.write_bytes(b'not read')
    with pytest.raises(ValueError, match='allow_pickle=True'):
        statistics.load_dataset_statistics(str(path))


def test_default_pipeline_options():
    opts = lib.default_pipeline_options('--runner=DirectRunner')
    assert '--direct_running_mode=multi_processing' in opts
    assert any(o.startswith('--direct_num_workers=') for o in opts)
    other = ['--runner=DataflowRunner', '--project=p']
    assert lib.default_pipeline_options(','.join(other)) == other


def test_split_does_not_depend_on_where_the_data_is():
    audio = np.random.default_rng(0).standard_normal(1600).astype(np.float32)
    key = lib.split_key(audio, '/data/a/violin.flac')
    assert key == lib.split_key(audio, '/elsewhere/violin.flac')
    assert key != lib.split_key(audio, '/data/a/cello.flac')
    assert key != lib.split_key(audio[::-1], '/data/a/violin.flac')
