"""Vector quantization with an exponential-moving-average codebook (VQ-VAE style).

Example:
    >>> vq = VectorQuantization(k=64, num_heads=2)
    >>> z_q, codes = vq(tf.zeros([2, 100, 16]), training=True)  # [2, 100, 16], [2, 100, 2]
"""

import numbers

import keras
import tensorflow as tf

from ddsp import core, validation
from ddsp.serialization import keras_serializable
from ddsp.training.nn.registration import gin_register


@keras_serializable
@gin_register
class VectorQuantization(keras.layers.Layer):
    """Vector quantization with an exponential-moving-average codebook (VQ-VAE style).

    x `[..., C]` is split into `num_heads` heads of `C / num_heads` channels; each head is
    replaced by its nearest of `k` codes. Gradients pass straight through to x. During
    training (`call(x, training=True)`) the codebook follows the EMA of the vectors assigned
    to each code (decay `gamma`), and codes whose EMA count falls below `restart_threshold`
    are restarted at random inputs of the batch.

    `call(x, training)` -> `(z_q [..., C], codes int [..., num_heads])`.

    Args:
        k: Codes per head.
        gamma: EMA decay.
        restart_threshold: EMA count below which a code is restarted (0: never).
        num_heads: Heads (C must be divisible by it).
        commitment_loss_weight: Weight of `committment_loss`.

    Example:
        >>> vq = VectorQuantization(k=64)
        >>> z_q, codes = vq(z)  # z [2, 100, 16] -> z_q [2, 100, 16], codes [2, 100, 1]
        >>> loss = vq.committment_loss(z, z_q)  # A scalar.
    """

    def __init__(
        self,
        k: int,
        gamma: float = 0.99,
        restart_threshold: float = 0.0,
        num_heads: int = 1,
        commitment_loss_weight: float = 0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.k = validation.check_int(owner, 'k', k)
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0 <= gamma < 1:
            validation.fail(owner, 'gamma', 'a number in [0, 1)', gamma)
        self.gamma = float(gamma)
        self.restart_threshold = float(restart_threshold)
        self.num_heads = validation.check_int(owner, 'num_heads', num_heads)
        self.commitment_loss_weight = float(commitment_loss_weight)

    def build(self, x_shape):
        ch = int(x_shape[-1])
        if ch % self.num_heads:
            validation.fail(
                type(self).__name__, 'x.shape[-1]', f'divisible by num_heads={self.num_heads}', ch
            )
        self.head_dim = ch // self.num_heads
        shape = (self.num_heads, self.k, self.head_dim)
        self.codebook = self.add_weight(
            name='codebook',
            shape=shape,
            initializer=keras.initializers.RandomNormal(),
            trainable=False,
        )
        self.ema_counts = self.add_weight(
            name='ema_counts', shape=shape[:2], initializer='ones', trainable=False
        )
        self.ema_sums = self.add_weight(
            name='ema_sums', shape=shape, trainable=False, initializer='zeros'
        )
        self.ema_sums.assign(self.codebook.value)

    def _heads(self, x):
        return tf.reshape(x, [-1, self.num_heads, self.head_dim])  # [N, H, D]

    def nearest_codes(self, x):
        """Codes `[N, H]` of flattened heads `[N, H, D]` (nearest by squared distance).

        (Not named `quantize`: Keras 3 layers reserve that name for weight quantization.)
        """
        codebook = tf.convert_to_tensor(self.codebook)
        distances = (
            tf.reduce_sum(tf.square(x), -1, keepdims=True)
            - 2.0 * tf.einsum('nhd,hkd->nhk', x, codebook)
            + tf.reduce_sum(tf.square(codebook), -1)[tf.newaxis]
        )
        return tf.argmin(distances, axis=-1, output_type=tf.int32)

    def unquantize(self, codes):
        """Code vectors of int codes `[..., H]` -> `[..., H * D]`."""
        codes = tf.cast(codes, tf.int32)
        flat = tf.reshape(codes, [-1, self.num_heads])
        vectors = tf.gather(
            tf.convert_to_tensor(self.codebook), tf.transpose(flat), batch_dims=1
        )  # [H, N, D]
        vectors = tf.reshape(tf.transpose(vectors, [1, 0, 2]), [-1, self.num_heads * self.head_dim])
        return tf.reshape(
            vectors, tf.concat([tf.shape(codes)[:-1], [self.num_heads * self.head_dim]], 0)
        )

    def call(self, x, training=False):
        x = core.tf_float32(x)
        flat = self._heads(x)
        codes = self.nearest_codes(flat)
        if training:
            self._update_codebook(flat, codes)
        z_q = tf.reshape(self.unquantize(codes), tf.shape(x))
        z_q = x + tf.stop_gradient(z_q - x)
        codes = tf.reshape(codes, tf.concat([tf.shape(x)[:-1], [self.num_heads]], 0))
        return z_q, codes

    def _update_codebook(self, flat, codes):
        one_hot = tf.one_hot(codes, self.k)  # [N, H, K]
        counts = tf.reduce_sum(one_hot, axis=0)  # [H, K]
        sums = tf.einsum('nhk,nhd->hkd', one_hot, flat)
        ema_counts = self.gamma * self.ema_counts + (1.0 - self.gamma) * counts
        ema_sums = self.gamma * self.ema_sums + (1.0 - self.gamma) * sums
        codebook = core.safe_divide(ema_sums, ema_counts[..., tf.newaxis])
        if self.restart_threshold > 0:
            dead = ema_counts < self.restart_threshold  # [H, K]
            index = tf.random.uniform(
                [self.num_heads, self.k], 0, tf.shape(flat)[0], dtype=tf.int32
            )
            restarts = tf.gather(tf.transpose(flat, [1, 0, 2]), index, batch_dims=1)
            codebook = tf.where(dead[..., tf.newaxis], restarts, codebook)
            ema_sums = tf.where(dead[..., tf.newaxis], restarts, ema_sums)
            ema_counts = tf.where(dead, tf.ones_like(ema_counts), ema_counts)
        self.ema_counts.assign(ema_counts)
        self.ema_sums.assign(ema_sums)
        self.codebook.assign(codebook)

    def committment_loss(self, z, z_q):
        """`commitment_loss_weight * mean((z - stop_gradient(z_q))^2)` (the original's
        spelling)."""
        z, z_q = core.tf_float32(z), core.tf_float32(z_q)
        return self.commitment_loss_weight * tf.reduce_mean(tf.square(z - tf.stop_gradient(z_q)))

    commitment_loss = committment_loss

    def get_losses_dict(self, z, z_q):
        """`{'commitment_loss': committment_loss(z, z_q)}`."""
        return {'commitment_loss': self.committment_loss(z, z_q)}

    def get_config(self):
        config = super().get_config()
        config.update(
            k=self.k,
            gamma=self.gamma,
            restart_threshold=self.restart_threshold,
            num_heads=self.num_heads,
            commitment_loss_weight=self.commitment_loss_weight,
        )
        return config
