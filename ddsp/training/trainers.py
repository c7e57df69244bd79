"""`Trainer`: the optimizer, the distributed train step, and checkpoint save / restore."""

import os
import tempfile
from typing import Dict, Optional, Sequence, Text

from absl import logging
import gin
import keras
import tensorflow as tf

from ddsp import validation
from ddsp.training import checkpoints, train_util

get_strategy = train_util.get_strategy  # Convenience alias; defined in train_util.


@gin.configurable
class Trainer:
    """Trains a `models.Model` with Adam under a `tf.distribute` strategy.

    The learning rate decays exponentially (not staircase):
    `learning_rate * lr_decay_rate ** (step / lr_decay_steps)`. Gradients are clipped to a
    global norm of `grad_clip_norm` before each update. Checkpoints hold
    `tf.train.Checkpoint(model=..., optimizer=...)` (the optimizer includes the step counter
    `iterations` and Adam's moments) and are named `ckpt-{step}`.

    A step whose total loss or gradient norm is not finite (NaN or inf, on any replica) is
    not applied: the weights, Adam's moments and `iterations` stay exactly as they were, and
    its outputs show the non-finite values (`train_util.train` then stops with
    `train_util.TrainingDivergedError`). Finite loss spikes are applied as usual.

    Args:
        model: The model; called as `model(batch, return_losses=True, training=True)`.
        strategy: A `tf.distribute.Strategy` (see `train_util.get_strategy`).
        checkpoints_to_keep: How many checkpoints `save` keeps (older ones are deleted).
        learning_rate: Initial learning rate.
        lr_decay_steps: Steps over which the learning rate decays by `lr_decay_rate`.
        lr_decay_rate: Decay factor per `lr_decay_steps`.
        grad_clip_norm: Global norm gradients are clipped to.
        restore_keys: Sub-modules of the model to restore (e.g. `['encoder']`); None restores
            the model and the optimizer.
        jit_compile: Compile each replica's whole step (forward, gradient, clipping, update)
            with XLA.

    Example:
        >>> trainer = Trainer(model, train_util.get_strategy())
        >>> trainer.build(batch)
        >>> outputs = trainer.train_step(batch)
        >>> sorted(outputs)  # ['grad_norm', 'spectral_loss', 'total_loss']
        >>> trainer.save('/tmp/ddsp')  # /tmp/ddsp/ckpt-1 (ckpt-0 had the step been NaN)
    """

    def __init__(
        self,
        model,
        strategy: tf.distribute.Strategy,
        checkpoints_to_keep: int = 100,
        learning_rate: float = 0.001,
        lr_decay_steps: int = 10000,
        lr_decay_rate: float = 0.98,
        grad_clip_norm: float = 3.0,
        restore_keys: Optional[Sequence[Text]] = None,
        jit_compile: bool = False,
    ):
        self.model = model
        self.strategy = strategy
        self.checkpoints_to_keep = validation.check_int(
            'Trainer', 'checkpoints_to_keep', checkpoints_to_keep
        )
        self.grad_clip_norm = grad_clip_norm
        self.restore_keys = restore_keys
        self.jit_compile = bool(jit_compile)
        self._xla_step = tf.function(self._step, jit_compile=True)
        self._managers = {}
        self._built = False
        with self.strategy.scope():
            schedule = keras.optimizers.schedules.ExponentialDecay(
                initial_learning_rate=learning_rate,
                decay_steps=lr_decay_steps,
                decay_rate=lr_decay_rate,
                staircase=False,
            )
            self.optimizer = keras.optimizers.Adam(learning_rate=schedule)

    # Checkpoints -------------------------------------------------------------------------------
    def get_checkpoint(self, model=None) -> tf.train.Checkpoint:
        """`tf.train.Checkpoint(model=model or self.model, optimizer=self.optimizer)`."""
        return tf.train.Checkpoint(model=model or self.model, optimizer=self.optimizer)

    def save(self, save_dir: Text) -> Text:
        """Writes `save_dir/ckpt-{step}`, keeping the newest `checkpoints_to_keep`; its path.

        In a multi-worker cluster every worker must call `save` (writing variables is a
        collective operation), but only the chief writes to `save_dir`: the others write to a
        private temporary directory that is deleted right after (TensorFlow's documented
        pattern), and return the chief's path.
        """
        save_dir = checkpoints.expand_path(save_dir)
        step = int(self.step.numpy())
        if not train_util.is_chief(self.strategy):
            worker_dir = tempfile.mkdtemp(prefix='ddsp_worker_ckpt_')
            try:
                tf.train.CheckpointManager(
                    self.get_checkpoint(),
                    directory=worker_dir,
                    max_to_keep=1,
                    checkpoint_name='ckpt',
                ).save(checkpoint_number=step)
            finally:
                tf.io.gfile.rmtree(worker_dir)
            return os.path.join(save_dir, f'ckpt-{step}')
        manager = self._managers.get(save_dir)
        if manager is None:
            manager = tf.train.CheckpointManager(
                self.get_checkpoint(),
                directory=save_dir,
                max_to_keep=self.checkpoints_to_keep,
                checkpoint_name='ckpt',
            )
            self._managers[save_dir] = manager
        path = manager.save(checkpoint_number=step)
        logging.info('Saved checkpoint %s.', path)
        return path

    def restore(self, checkpoint_path: Text, restore_keys: Optional[Sequence[Text]] = None):
        """Restores the model and optimizer (or only the model's `restore_keys` sub-modules).

        Args:
            checkpoint_path: A checkpoint prefix, its `.index` file, or a directory (its newest
                checkpoint).
            restore_keys: Sub-modules to restore; default `self.restore_keys`.

        Raises:
            FileNotFoundError: no checkpoint there.
            checkpoints.CheckpointMismatchError: the checkpoint's variables differ from the
                model's in shape or structure (the config differs from the run's).
            tf.errors.OpError / ValueError: an unreadable checkpoint.
        """
        restore_keys = restore_keys or self.restore_keys
        path = checkpoints.get_latest_checkpoint(checkpoint_path)
        with self.strategy.scope():
            if restore_keys:
                self.model.restore(path, verbose=False, restore_keys=restore_keys)
            else:
                with checkpoints.explain_mismatch(path):
                    self.get_checkpoint().restore(path).assert_existing_objects_matched()
        logging.info(
            'Restored %s from %s at step %d.',
            restore_keys or 'model and optimizer',
            path,
            int(self.step.numpy()),
        )
        return path

    # Training ----------------------------------------------------------------------------------
    @property
    def step(self):
        """The optimizer's step counter (a variable; `int(trainer.step.numpy())`)."""
        return self.optimizer.iterations

    def run(self, fn, *args, **kwargs):
        """`strategy.run(fn, args, kwargs)`."""
        return self.strategy.run(fn, args=args, kwargs=kwargs)

    def distribute_dataset(self, dataset: tf.data.Dataset):
        """The dataset split over the replicas (its batch size is the global batch size)."""
        return self.strategy.experimental_distribute_dataset(dataset)

    def build(self, batch):
        """Creates the model's weights (one forward pass) and the optimizer's slots, once:
        later calls (each `train_util.train` on this trainer makes one) return at once."""
        if self._built:
            return
        self.run(tf.function(self.model.__call__), batch)
        with self.strategy.scope():
            self.optimizer.build(self.model.trainable_variables)
        try:
            self.model.summary(print_fn=lambda line, **_: logging.info('%s', line))
        except ValueError as e:  # Cosmetic only.
            logging.info('No model summary: %s', e)
        self._built = True

    @tf.function
    def train_step(self, inputs) -> Dict[Text, tf.Tensor]:
        """One optimizer step on a batch (or the next batch of an iterator).

        Returns the losses of the batch before the update, averaged over replicas, and
        `grad_norm`: the global norm of the gradient before clipping, which is what
        `grad_clip_norm` bounds (with N replicas: the norm of each replica's gradient of
        `total_loss / N`, averaged). When the total loss or the gradient norm is not finite
        on any replica, no replica applies the update (see the class docstring).

        Example:
            >>> outputs = trainer.train_step(batch)
            >>> float(outputs['total_loss']), float(outputs['grad_norm'])  # (6.58, 5.42)
        """
        batch = next(inputs) if hasattr(inputs, 'get_next') else inputs
        outputs = self.run(self.step_fn, batch)
        return {
            name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in outputs.items()
        }

    @tf.function
    def step_fn(self, batch) -> Dict[Text, tf.Tensor]:
        """Per-replica step: forward pass, gradient of `total_loss`, clipping, update."""
        return self._xla_step(batch) if self.jit_compile else self._step(batch)

    def _step(self, batch) -> Dict[Text, tf.Tensor]:
        """The body of `step_fn`: the update is applied only if the step is finite."""
        with tf.GradientTape() as tape:
            _, losses = self.model(batch, return_losses=True, training=True)
            # Replica gradients are summed by the optimizer: scale for their mean.
            scaled = losses['total_loss'] / self.strategy.num_replicas_in_sync
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        grads, grad_norm = tf.clip_by_global_norm(grads, self.grad_clip_norm)
        finite = self._finite_on_every_replica(losses['total_loss'], grad_norm)
        self._apply_if(finite, grads, variables)
        return {**losses, train_util.GRAD_NORM: grad_norm}

    def _finite_on_every_replica(self, total_loss, grad_norm) -> tf.Tensor:
        """A scalar bool: the loss and gradient norm are finite on every replica."""
        finite = tf.logical_and(tf.math.is_finite(total_loss), tf.math.is_finite(grad_norm))
        if self.strategy.num_replicas_in_sync == 1:
            return finite
        # All replicas must take the same branch: one skipping the update while the others
        # all-reduce their gradients would leave them waiting for it forever.
        n_bad = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32)
        )
        return tf.equal(n_bad, 0.0)

    def _apply_if(self, finite, grads, variables):
        """Applies `grads` when `finite`; otherwise leaves variables, moments and step alone.

        Zeroed gradients would not do: Adam's moments decay and `iterations` counts the step.
        """

        def apply(grads):
            self.optimizer.apply_gradients(zip(grads, variables))

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            # One device or MultiWorkerMirroredStrategy (or MirroredStrategy under XLA on
            # GPUs): the update needs no merge_call, so a cond in this replica context can
            # hold it.
            tf.cond(finite, lambda: apply(grads), lambda: None)
            return

        # MirroredStrategy otherwise updates variables through merge_call, which cannot run
        # inside a cond built in a replica context: branch in the cross-replica context
        # instead (as Keras's LossScaleOptimizer does), running the update for each replica.
        def cross_replica(strategy, finite, grads):
            finite = strategy.experimental_local_results(finite)[0]  # All replicas agree.
            tf.cond(
                finite,
                lambda: strategy.extended.call_for_each_replica(apply, args=(grads,)),
                lambda: None,
            )

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, grads))


@gin.configurable
def get_trainer_class(trainer_class=Trainer):
    """The trainer class bound in gin (default `Trainer`)."""
    return trainer_class
