"""Data providers: `tf.data` pipelines of feature dicts for training and evaluation.

Every provider has `sample_rate`, `frame_rate`, `get_dataset(shuffle=True)` (one pass over
the data; `shuffle` shuffles the order of *files*, there is no example-level shuffle buffer)
and `get_batch(batch_size, shuffle=True, repeats=-1, drop_remainder=True)`.

Records written by `ddsp_prepare_tfrecord` follow `ddsp.training.schema` (float lists of
`audio`, `audio_16k`, `f0_hz`, `f0_confidence` and `loudness_db`; 4 s examples by default), the
one definition of their feature lengths that the writer uses too.

`tensorflow_datasets` is imported only by the TFDS providers, when they are built.
"""

import logging
import os

import gin
import numpy as np
import tensorflow as tf

from ddsp import validation
from ddsp.training import schema
from ddsp.training.data_preparation import outputs as prepared_outputs

_AUTOTUNE = tf.data.AUTOTUNE
_PUBLIC_TFDS_DIR = 'gs://tfds-data/datasets'


# ------------------------------------------------------------------------------------------
# Base classes.
# ------------------------------------------------------------------------------------------
class DataProvider:
    """Base class: a dataset of feature dicts at a given sample rate and frame rate.

    Args:
        sample_rate: Audio sample rate (Hz).
        frame_rate: Rate of the frame-wise features (Hz).
    """

    def __init__(self, sample_rate, frame_rate):
        self._sample_rate = sample_rate
        self._frame_rate = frame_rate

    @property
    def sample_rate(self):
        """Audio sample rate (Hz)."""
        return self._sample_rate

    @property
    def frame_rate(self):
        """Rate of the frame-wise features (Hz)."""
        return self._frame_rate

    def get_dataset(self, shuffle=True):
        """One pass over the examples, a `tf.data.Dataset` of feature dicts.

        Args:
            shuffle: Shuffle the order of the files read (not of the examples).
        """
        raise NotImplementedError(f'{type(self).__name__} must implement get_dataset().')

    def get_batch(self, batch_size, shuffle=True, repeats=-1, drop_remainder=True):
        """Batches: `get_dataset(shuffle)` -> `repeat(repeats)` -> `batch` -> `prefetch`.

        Args:
            batch_size: Examples per batch.
            shuffle: Shuffle the order of the files read.
            repeats: Passes over the data; -1 repeats forever.
            drop_remainder: Drop a last, smaller batch.

        Returns:
            A `tf.data.Dataset` of dicts of `[batch_size, ...]` tensors.
        """
        dataset = self.get_dataset(shuffle)
        dataset = dataset.repeat(repeats)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        return dataset.prefetch(buffer_size=_AUTOTUNE)


@gin.register
class ExperimentalDataProvider(DataProvider):
    """A dataset saved with `tf.data.Dataset.save` (formerly `tf.data.experimental.save`).

    Args:
        data_dir: Directory the dataset was saved to.
        sample_rate: Audio sample rate (Hz).
        frame_rate: Rate of the frame-wise features (Hz).
    """

    def __init__(self, data_dir, sample_rate, frame_rate):
        super().__init__(sample_rate, frame_rate)
        self.data_dir = data_dir

    def get_dataset(self, shuffle=True):
        del shuffle  # A saved dataset is read in its saved order.
        if not tf.io.gfile.exists(self.data_dir):
            raise FileNotFoundError(f'No saved dataset at data_dir={self.data_dir!r}.')
        return tf.data.Dataset.load(self.data_dir)


class TfdsProvider(DataProvider):
    """A dataset from `tensorflow_datasets`, which must be prepared already (no download).

    Args:
        name: TFDS name, with config and version, e.g. 'nsynth/gansynth_subset:2.3.0'.
        split: Split, e.g. 'train'.
        data_dir: TFDS data directory.
        sample_rate: Audio sample rate (Hz).
        frame_rate: Rate of the frame-wise features (Hz).
    """

    def __init__(self, name, split, data_dir, sample_rate, frame_rate):
        super().__init__(sample_rate, frame_rate)
        self._name = name
        self._split = split
        self._data_dir = data_dir

    def get_dataset(self, shuffle=True):
        tfds = _import_tfds()
        return tfds.load(
            self._name,
            data_dir=self._data_dir,
            split=self._split,
            shuffle_files=shuffle,
            download=False,
        )


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(
            'The TFDS providers (TfdsProvider, NSynthTfds) need tensorflow-datasets: '
            'pip install tensorflow-datasets'
        ) from e
    return tfds


@gin.register
class NSynthTfds(TfdsProvider):
    """NSynth from TFDS, with precomputed f0 and loudness.

    Examples are dicts with `audio` [64000], `f0_hz`, `f0_confidence`, `loudness_db` [1000]
    and, with `include_note_labels`, `pitch`, `instrument_source`, `instrument_family` and
    `instrument` (int64 scalars).

    Args:
        name: TFDS name of the NSynth configuration.
        split: Split, e.g. 'train', 'valid' or 'test'.
        data_dir: TFDS data directory; the default is the public bucket (slow outside GCP).
        sample_rate: Audio sample rate (Hz).
        frame_rate: Rate of the frame-wise features (Hz).
        include_note_labels: Also return the note and instrument labels.
    """

    def __init__(
        self,
        name='nsynth/gansynth_subset.f0_and_loudness:2.3.0',
        split='train',
        data_dir=_PUBLIC_TFDS_DIR,
        sample_rate=16000,
        frame_rate=250,
        include_note_labels=True,
    ):
        if data_dir == _PUBLIC_TFDS_DIR:
            logging.warning(
                'Reading NSynth from the public bucket %s is slow and may be billed outside '
                'Google Cloud; copy it to your own bucket or disk and set data_dir.',
                _PUBLIC_TFDS_DIR,
            )
        super().__init__(name, split, data_dir, sample_rate, frame_rate)
        self._include_note_labels = include_note_labels

    def get_dataset(self, shuffle=True):
        include_note_labels = self._include_note_labels

        def preprocess(ex):
            out = {
                'audio': ex['audio'],
                'f0_hz': ex['f0']['hz'],
                'f0_confidence': ex['f0']['confidence'],
                'loudness_db': ex['loudness']['db'],
            }
            if include_note_labels:
                out.update(
                    {
                        'pitch': ex['pitch'],
                        'instrument_source': ex['instrument']['source'],
                        'instrument_family': ex['instrument']['family'],
                        'instrument': ex['instrument']['label'],
                    }
                )
            return out

        dataset = super().get_dataset(shuffle)
        return dataset.map(preprocess, num_parallel_calls=_AUTOTUNE)


# ------------------------------------------------------------------------------------------
# TFRecord providers.
# ------------------------------------------------------------------------------------------
@gin.register
class TFRecordProvider(DataProvider):
    """TFRecords written by `ddsp_prepare_tfrecord` (with `audio_16k`, since April 2022).

    Features (float32, lengths from `schema.example_lengths`): `audio` [sample_rate *
    example_secs], `audio_16k` [16000 * example_secs], `f0_hz`, `f0_confidence`,
    `loudness_db` [n_frames], where n_frames is 1000 for 4 s at 250 Hz, or 1001 when the
    dataset was prepared with `--center` (`centered=True`). The frame rate must divide the
    sample rate and 16000 (samples and frames of an example align exactly). Datasets without
    `audio_16k` need `LegacyTFRecordProvider`.

    Args:
        file_pattern: Glob of the TFRecord files, e.g. '/data/train.tfrecord*'.
        example_secs: Seconds per example.
        sample_rate: Sample rate of `audio` (Hz).
        frame_rate: Rate of the frame-wise features (Hz).
        centered: Whether the features were computed with centred frames (one extra frame).

    Example:
        >>> provider = TFRecordProvider('/data/violin.tfrecord*')
        >>> batch = next(iter(provider.get_batch(16)))  # batch['audio']: [16, 64000]
    """

    # Whether the records follow `schema` (and so the rates must suit it).
    _schema_records = True

    def __init__(
        self, file_pattern=None, example_secs=4, sample_rate=16000, frame_rate=250, centered=False
    ):
        super().__init__(sample_rate, frame_rate)
        self._file_pattern = file_pattern or self.default_file_pattern
        self._example_secs = example_secs
        self._centered = centered
        self._lengths = (
            schema.example_lengths(
                sample_rate, frame_rate, example_secs, centered, owner=type(self).__name__
            )
            if self._schema_records
            else {}
        )
        self._audio_length = self._lengths.get('audio')
        self._audio_16k_length = self._lengths.get('audio_16k')
        self._feature_length = self._lengths.get('f0_hz')

    @property
    def default_file_pattern(self):
        """Used when no file_pattern is given; only subclasses define one."""
        name = type(self).__name__
        validation.fail(
            name,
            'file_pattern',
            f'a glob of record files ({name} has no default; '
            f'pass file_pattern= or bind {name}.file_pattern in gin)',
            None,
        )

    @property
    def file_pattern(self):
        return self._file_pattern

    @property
    def features_dict(self):
        """The `tf.io.FixedLenFeature`s parsed from each record (`schema.example_lengths`)."""
        return {
            key: tf.io.FixedLenFeature([length], dtype=tf.float32)
            for key, length in self._lengths.items()
        }

    def _list_files(self):
        """The record files matching `file_pattern`.

        Left out: the JSON side files `ddsp_prepare_tfrecord` writes beside its shards
        (`statistics.<base>.json`, `skipped.<base>.json`, and the earlier names
        `<prefix>.statistics.json`, `<prefix>.skipped.json`, which patterns like
        `train.tfrecord*` match), replacement journals and staging directories
        (`outputs.is_side_file`).

        Raises:
            FileNotFoundError: no record file matches.
            outputs.UnfinishedReplacementError: a rerun of `ddsp_prepare_tfrecord` into these
                files was interrupted (the directory may hold a mix of two datasets).
        """
        matches = tf.io.gfile.glob(self.file_pattern)
        prepared_outputs.check_no_unfinished_replacement(self.file_pattern, type(self).__name__)
        files = sorted(f for f in matches if not prepared_outputs.is_side_file(f))
        if not files:
            raise FileNotFoundError(
                f'{type(self).__name__}: no record files match '
                f'file_pattern={self.file_pattern!r}'
                + (f' (only {len(matches)} JSON side files).' if matches else '.')
            )
        return files

    def _settings(self):
        return (
            f'example_secs={self._example_secs}, sample_rate={self.sample_rate}, '
            f'frame_rate={self.frame_rate}, centered={self._centered}'
        )

    def _check_first_record(self, files):
        """Checks one record against `features_dict`, so a mismatch fails early and clearly.

        Raises:
            ValueError: the first record does not match, or no file holds a record.
        """
        for path in files:
            for record in tf.data.TFRecordDataset(path).take(1):
                schema.check_example(
                    tf.train.Example.FromString(record.numpy()),
                    self.features_dict,
                    path,
                    type(self).__name__,
                    self._settings(),
                )
                return
        validation.fail(
            type(self).__name__,
            'file_pattern',
            f'a glob of record files holding at least one example (the {len(files)} '
            f'matching files are all empty, e.g. {files[0]}); prepare the dataset again with '
            'ddsp_prepare_tfrecord from audio that gives examples, or fix the pattern',
            self.file_pattern,
        )

    def get_dataset(self, shuffle=True):
        files = self._list_files()
        self._check_first_record(files)
        features_dict = self.features_dict

        def parse_tfexample(record):
            return tf.io.parse_single_example(record, features_dict)

        filenames = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            filenames = filenames.shuffle(len(files))
        dataset = filenames.interleave(
            map_func=tf.data.TFRecordDataset,
            cycle_length=40,
            num_parallel_calls=_AUTOTUNE,
            deterministic=not shuffle,
        )
        return dataset.map(parse_tfexample, num_parallel_calls=_AUTOTUNE)


@gin.register
class LegacyTFRecordProvider(TFRecordProvider):
    """`TFRecordProvider` for datasets prepared before April 2022, which lack `audio_16k`."""

    @property
    def features_dict(self):
        features = dict(super().features_dict)
        del features['audio_16k']
        return features


# ------------------------------------------------------------------------------------------
# Combining providers.
# ------------------------------------------------------------------------------------------
@gin.register
class BaseMultiProvider(DataProvider):
    """Several providers with the same sample and frame rates.

    Args:
        data_providers: The providers.
        batch_size_ratios: Optional relative share of each provider (normalised to sum to 1).
    """

    def __init__(self, data_providers, batch_size_ratios=()):
        owner = type(self).__name__
        data_providers = list(data_providers)
        if not data_providers:
            validation.fail(
                owner, 'data_providers', 'a non-empty sequence of data providers', data_providers
            )
        rates = {(dp.sample_rate, dp.frame_rate) for dp in data_providers}
        if len(rates) > 1:
            validation.fail(
                owner, '(sample_rate, frame_rate)', 'the same for all data_providers', sorted(rates)
            )
        super().__init__(data_providers[0].sample_rate, data_providers[0].frame_rate)
        self._data_providers = data_providers
        if batch_size_ratios:
            ratios = np.asarray(batch_size_ratios, dtype=np.float64)
            if len(ratios) != len(data_providers) or np.any(ratios < 0) or ratios.sum() <= 0:
                validation.fail(
                    owner,
                    'batch_size_ratios',
                    f'one non-negative share per provider ({len(data_providers)}), not all zero',
                    tuple(batch_size_ratios),
                )
            self._batch_size_ratios = [float(r) for r in ratios / ratios.sum()]
        else:
            self._batch_size_ratios = []

    @property
    def data_providers(self):
        return self._data_providers

    @property
    def batch_size_ratios(self):
        """The normalised ratios, or [] when none were given."""
        return self._batch_size_ratios


@gin.register
class ZippedProvider(BaseMultiProvider):
    """Zips the providers' datasets: each element is a tuple with one dict per provider."""

    def get_dataset(self, shuffle=True):
        return tf.data.Dataset.zip(tuple(dp.get_dataset(shuffle) for dp in self.data_providers))

    def batch_sizes(self, batch_size):
        """Per-provider batch sizes for `batch_size`: shares of the ratios that sum to it."""
        shares = np.asarray(self.batch_size_ratios) * batch_size
        sizes = np.floor(shares).astype(int)
        for i in np.argsort(-(shares - sizes), kind='stable')[: batch_size - sizes.sum()]:
            sizes[i] += 1
        if np.any(sizes < 1):
            validation.fail(
                type(self).__name__,
                'batch_size',
                f'large enough to give every '
                f'provider an example with batch_size_ratios '
                f'{self.batch_size_ratios} (batch sizes {sizes.tolist()})',
                batch_size,
            )
        return [int(s) for s in sizes]

    def get_batch(self, batch_size, shuffle=True, repeats=-1, drop_remainder=False):
        """Tuples of batches; with ratios, provider i's batch has `batch_sizes(batch_size)[i]`.

        Args:
            batch_size: Examples per batch (in total, when ratios are given).
            shuffle: Shuffle the order of the files read.
            repeats: Passes over the data; -1 repeats forever.
            drop_remainder: Drop last, smaller batches.
        """
        if not self.batch_size_ratios:
            return super().get_batch(batch_size, shuffle, repeats, drop_remainder)
        datasets = []
        for dp, size in zip(self.data_providers, self.batch_sizes(batch_size)):
            dataset = dp.get_dataset(shuffle).repeat(repeats)
            datasets.append(dataset.batch(size, drop_remainder=drop_remainder))
        return tf.data.Dataset.zip(tuple(datasets)).prefetch(buffer_size=_AUTOTUNE)


@gin.register
class MixedProvider(BaseMultiProvider):
    """Samples examples from the providers, with `batch_size_ratios` as the probabilities.

    The providers' datasets must have the same features. Without ratios they are equally
    likely. When one provider runs out, sampling goes on from the others.
    """

    def get_dataset(self, shuffle=True):
        datasets = [dp.get_dataset(shuffle) for dp in self.data_providers]
        specs = [ds.element_spec for ds in datasets]
        if any(spec != specs[0] for spec in specs[1:]):
            described = '; '.join(
                f'{type(dp).__name__}: {sorted(spec) if isinstance(spec, dict) else spec}'
                for dp, spec in zip(self.data_providers, specs)
            )
            raise ValueError(
                'MixedProvider needs providers whose examples have the same features, shapes '
                f'and dtypes; got {described}.'
            )
        weights = self.batch_size_ratios or None
        return tf.data.Dataset.sample_from_datasets(datasets, weights=weights)


# ------------------------------------------------------------------------------------------
# Synthetic and URMP datasets.
# ------------------------------------------------------------------------------------------
@gin.register
class SyntheticNotes(TFRecordProvider):
    """EXPERIMENTAL: TFRecords of synthetic note controls (`ddsp_generate_synthetic_dataset`).

    Features (float32): `f0_hz` and `harm_amp` [T, 1]; `harm_dist`, `sin_amps` and
    `sin_freqs` [T, H]; `noise_magnitudes` [T, M]. Records hold them flattened.

    Args:
        n_timesteps: Frames T per example.
        n_harmonics: Harmonics H.
        n_mags: Noise magnitudes M.
        file_pattern: Glob of the TFRecord files.
        sample_rate: Audio sample rate (Hz).
    """

    def __init__(self, n_timesteps, n_harmonics, n_mags, file_pattern=None, sample_rate=16000):
        self._n_timesteps = n_timesteps
        self._n_harmonics = n_harmonics
        self._n_mags = n_mags
        super().__init__(file_pattern=file_pattern, sample_rate=sample_rate)

    @property
    def _shapes(self):
        t, h, m = self._n_timesteps, self._n_harmonics, self._n_mags
        return {
            'f0_hz': (t, 1),
            'harm_amp': (t, 1),
            'harm_dist': (t, h),
            'sin_amps': (t, h),
            'sin_freqs': (t, h),
            'noise_magnitudes': (t, m),
        }

    def _settings(self):
        return (
            f'n_timesteps={self._n_timesteps}, n_harmonics={self._n_harmonics}, '
            f'n_mags={self._n_mags}'
        )

    @property
    def features_dict(self):
        return {
            k: tf.io.FixedLenFeature([int(np.prod(s))], dtype=tf.float32)
            for k, s in self._shapes.items()
        }

    def get_dataset(self, shuffle=True):
        shapes = self._shapes

        def reshape(ex):
            return {k: tf.reshape(v, shapes[k]) for k, v in ex.items()}

        return super().get_dataset(shuffle).map(reshape, num_parallel_calls=_AUTOTUNE)


URMP_INSTRUMENTS = (
    'bn',
    'cl',
    'db',
    'fl',
    'hn',
    'ob',
    'sax',
    'tba',
    'tbn',
    'tpt',
    'va',
    'vc',
    'vn',
)
_URMP_KEYS = ('all',) + URMP_INSTRUMENTS


def _urmp_file_pattern(base_dir, instrument_key, split, suffix):
    validation.check_choice('Urmp', 'instrument_key', instrument_key, _URMP_KEYS)
    tail = f'{split}_{suffix}' if suffix else split
    if instrument_key == 'all':
        name = f'all_instruments_{tail}.tfrecord*'
    else:
        name = f'urmp_{instrument_key}_solo_ddsp_conditioning_{tail}.tfrecord*'
    return os.path.join(base_dir, name)


@gin.register
class Urmp(LegacyTFRecordProvider):
    """URMP solo-instrument TFRecords (4 s at 16 kHz, 250 Hz features, no `audio_16k`).

    Args:
        base_dir: Directory of the URMP TFRecords.
        instrument_key: One of 'all', 'bn', 'cl', 'db', 'fl', 'hn', 'ob', 'sax', 'tba',
            'tbn', 'tpt', 'va', 'vc', 'vn'.
        split: 'train' or 'test'.
        suffix: Optional file-name suffix after the split.
    """

    def __init__(self, base_dir, instrument_key='tpt', split='train', suffix=None):
        self._base_dir = base_dir
        self._instrument_key = instrument_key
        self._split = split
        self._suffix = suffix
        super().__init__(file_pattern=None)

    @property
    def default_file_pattern(self):
        return _urmp_file_pattern(self._base_dir, self._instrument_key, self._split, self._suffix)


_MIDI_PITCHES = 128


@gin.register
class UrmpMidi(Urmp):
    """URMP with note annotations: MIDI piano rolls, onsets, offsets and instrument ids.

    Adds to `Urmp`'s features: `power_db` [T]; `note_active_velocities`,
    `note_active_frame_indices`, `note_onsets`, `note_offsets` [T, 128]; `instrument_id`
    (int64 index into `URMP_INSTRUMENTS`) and `recording_id` (string). Derived: `midi`
    (argmax of the active notes, int64 [T]), `onsets` and `offsets` (int64 [T], 1 where any
    note starts or ends). `f0_hz`, `f0_confidence`, `loudness_db` and `power_db` are [T, 1].
    """

    _unsegmented = False

    @property
    def features_dict(self):
        if self._unsegmented:

            def frames(n=1):
                del n
                return tf.io.VarLenFeature(dtype=tf.float32)

            audio = tf.io.VarLenFeature(dtype=tf.float32)
        else:

            def frames(n=1):
                return tf.io.FixedLenFeature([self._feature_length * n], dtype=tf.float32)

            audio = tf.io.FixedLenFeature([self._audio_length], dtype=tf.float32)
        features = {
            'audio': audio,
            'f0_hz': frames(),
            'f0_confidence': frames(),
            'loudness_db': frames(),
            'power_db': frames(),
            'note_active_velocities': frames(_MIDI_PITCHES),
            'note_active_frame_indices': frames(_MIDI_PITCHES),
            'note_onsets': frames(_MIDI_PITCHES),
            'note_offsets': frames(_MIDI_PITCHES),
            'instrument_id': tf.io.FixedLenFeature([], dtype=tf.string),
            'recording_id': tf.io.FixedLenFeature([], dtype=tf.string),
        }
        return features

    def get_dataset(self, shuffle=True):
        vocab = tf.constant(URMP_INSTRUMENTS)
        unsegmented = self._unsegmented

        def derive(ex):
            if unsegmented:
                ex = {
                    k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v
                    for k, v in ex.items()
                }
            for key in (
                'note_active_velocities',
                'note_active_frame_indices',
                'note_onsets',
                'note_offsets',
            ):
                ex[key] = tf.reshape(ex[key], [-1, _MIDI_PITCHES])
            for key in ('f0_hz', 'f0_confidence', 'loudness_db', 'power_db'):
                ex[key] = ex[key][:, tf.newaxis]
            ex['instrument_id'] = tf.argmax(
                tf.cast(tf.equal(vocab, ex['instrument_id']), tf.int64), output_type=tf.int64
            )
            ex['midi'] = tf.argmax(ex['note_active_frame_indices'], axis=-1, output_type=tf.int64)
            ex['onsets'] = tf.cast(tf.reduce_max(ex['note_onsets'], axis=-1) > 0, tf.int64)
            ex['offsets'] = tf.cast(tf.reduce_max(ex['note_offsets'], axis=-1) > 0, tf.int64)
            return ex

        return super().get_dataset(shuffle).map(derive, num_parallel_calls=_AUTOTUNE)


class UrmpMidiUnsegmented(UrmpMidi):
    """`UrmpMidi` for whole recordings: features of any length (VarLen)."""

    _unsegmented = True


__all__ = [
    'BaseMultiProvider',
    'DataProvider',
    'ExperimentalDataProvider',
    'LegacyTFRecordProvider',
    'MixedProvider',
    'NSynthTfds',
    'SyntheticNotes',
    'TFRecordProvider',
    'TfdsProvider',
    'Urmp',
    'UrmpMidi',
    'UrmpMidiUnsegmented',
    'ZippedProvider',
]
