"""Data augmentation: providers that wrap another provider and change its examples.

`RandomGainProvider` plays a share of the examples quieter by a random gain, so that a model
hears its instrument at levels its recordings rarely reach (a soundfont's note releases 60 dB
below the notes, a quiet singer in timbre transfer) and keeps rendering pitched sound there.
Loudness is a level, so it moves by the gain exactly; f0 and its confidence do not move
(CREPE normalises each frame).

  train_util.train.data_provider = @augmentation.RandomGainProvider()
  RandomGainProvider.data_provider = @data.TFRecordProvider()
  RandomGainProvider.min_gain_db = -30.0
  RandomGainProvider.probability = 0.3
"""

import gin
import tensorflow as tf

from ddsp import validation
from ddsp.core import units
from ddsp.training import data

# Keys of audio (scaled by the gain) and of loudness in dB (moved by it, floored at -DB_RANGE,
# the floor `compute_loudness` gives silence).
AUDIO_KEYS = ('audio', 'audio_16k')
LOUDNESS_KEYS = ('loudness_db',)


@gin.register
class RandomGainProvider(data.DataProvider):
    """Another provider's examples, a random share of them made quieter by a random gain.

    Each example, with probability `probability`, has its audio (`audio`, `audio_16k`)
    multiplied by 10 ** (g / 20) and its `loudness_db` [n_frames] raised by g (at least
    -80 dB, the loudness of silence), with g drawn uniformly from [min_gain_db, max_gain_db];
    the other examples and every other feature pass unchanged. The draws differ from one
    pass over the data to the next.

    Args:
        data_provider: The provider wrapped (its rates are this one's).
        min_gain_db, max_gain_db: Range of the gain, dB, min_gain_db <= max_gain_db <= 0.
        probability: Share of the examples changed, in [0, 1].
        seed: Seed of the draws (None: a new one each run).

    Example:
        >>> provider = RandomGainProvider(TFRecordProvider('/data/train.tfrecord*'),
        ...                               min_gain_db=-30.0, probability=0.3)
        >>> batch = next(iter(provider.get_batch(8)))  # as the wrapped provider's
    """

    def __init__(
        self, data_provider=None, min_gain_db=-30.0, max_gain_db=0.0, probability=0.5, seed=None
    ):
        owner = type(self).__name__
        if not isinstance(data_provider, data.DataProvider):
            validation.fail(
                owner,
                'data_provider',
                'a DataProvider (bind RandomGainProvider.data_provider in gin)',
                data_provider,
            )
        max_gain_db = validation.check_number(owner, 'max_gain_db', max_gain_db)
        if max_gain_db > 0:
            validation.fail(
                owner, 'max_gain_db', 'a gain <= 0 dB (this makes examples quieter)', max_gain_db
            )
        min_gain_db = validation.check_number(owner, 'min_gain_db', min_gain_db)
        if min_gain_db > max_gain_db:
            validation.fail(owner, 'min_gain_db', f'<= max_gain_db ({max_gain_db} dB)', min_gain_db)
        probability = validation.check_number(owner, 'probability', probability, minimum=0.0)
        if probability > 1:
            validation.fail(owner, 'probability', 'a probability in [0, 1]', probability)
        if seed is not None:
            seed = validation.check_int(owner, 'seed', seed, minimum=0)
        super().__init__(data_provider.sample_rate, data_provider.frame_rate)
        self.data_provider = data_provider
        self.min_gain_db = min_gain_db
        self.max_gain_db = max_gain_db
        self.probability = probability
        self.seed = seed

    def get_dataset(self, shuffle=True):
        draws = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True)
        examples = tf.data.Dataset.zip(self.data_provider.get_dataset(shuffle), draws)
        return examples.map(self._apply, num_parallel_calls=tf.data.AUTOTUNE)

    def _apply(self, example, draw):
        """`example` with the gain drawn from the int64 `draw` (0 dB when not chosen)."""
        seed = tf.stack([draw, tf.constant(0, tf.int64)])
        chosen, gain = tf.unstack(tf.random.stateless_uniform([2], seed=seed))
        gain_db = self.min_gain_db + (self.max_gain_db - self.min_gain_db) * gain
        gain_db = tf.where(chosen < self.probability, gain_db, 0.0)
        changed = dict(example)
        for key in AUDIO_KEYS:
            if key in changed:
                changed[key] = changed[key] * tf.pow(10.0, gain_db / 20.0)
        for key in LOUDNESS_KEYS:
            if key in changed:
                changed[key] = tf.maximum(changed[key] + gain_db, -units.DB_RANGE)
        return changed
