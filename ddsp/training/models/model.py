"""`Model`: the base class of DDSP models (a Keras model that also reports its losses)."""

from typing import Dict, Optional, Sequence, Text

from absl import logging
import keras
import tensorflow as tf

from ddsp import core
from ddsp.training import checkpoints

TensorDict = Dict[Text, tf.Tensor]


class Model(keras.Model):
    """A Keras model whose forward pass also computes a dict of named losses.

    Subclasses implement `call(features, training=...)`, returning a dict of outputs, and
    record their losses with `_update_losses_dict(loss_objs, *args)`.

    Calling the model: `model(features, training=True)` returns the outputs;
    `model(features, return_losses=True, training=False)` returns `(outputs, losses)` with
    `losses['total_loss']` the sum of the other losses. Losses are computed whenever they are
    asked for (`return_losses=True`) or when training, so evaluation reports real losses.

    Sub-layers must be attributes (not only list items): `tf.train.Checkpoint` saves the
    weights it reaches through attributes.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._set_untracked('_losses_dict', {})
        self._set_untracked('_losses_requested', False)

    def _set_untracked(self, name, value):
        """Sets an attribute that Keras and checkpoints do not track."""
        object.__setattr__(self, name, value)

    def build(self, input_shape=None):
        # Sub-layers build themselves when the forward pass first runs.
        self.built = True

    def __call__(self, *args, return_losses: bool = False, **kwargs):
        args = [core.copy_if_tf_function(a) if isinstance(a, dict) else a for a in args]
        self._set_untracked('_losses_dict', {})
        self._set_untracked('_losses_requested', bool(return_losses))
        try:
            outputs = super().__call__(*args, **kwargs)
        finally:
            self._set_untracked('_losses_requested', False)
        if not return_losses:
            return outputs
        losses = dict(self._losses_dict)
        losses['total_loss'] = self.sum_losses(losses)
        return outputs, losses

    @property
    def losses_dict(self) -> TensorDict:
        """The named losses of the last forward pass that computed them."""
        return dict(self._losses_dict)

    def losses_wanted(self, training) -> bool:
        """Whether the current forward pass should compute its losses."""
        return bool(training) or self._losses_requested

    @staticmethod
    def sum_losses(losses_dict: TensorDict) -> tf.Tensor:
        """The sum of the values of a losses dict (0.0 for an empty dict)."""
        if not losses_dict:
            return tf.constant(0.0)
        return tf.add_n([tf.cast(v, tf.float32) for v in losses_dict.values()])

    def _update_losses_dict(self, loss_objs, *args, **kwargs):
        """Adds `loss.get_losses_dict(*args, **kwargs)` of every loss to the losses dict."""
        for loss_obj in core.make_iterable(loss_objs):
            if loss_obj is None:
                continue
            for name, value in loss_obj.get_losses_dict(*args, **kwargs).items():
                if name in self._losses_dict:
                    raise ValueError(
                        f'{type(self).__name__}: two losses are both named '
                        f'"{name}"; give the losses unique names.'
                    )
                self._losses_dict[name] = value

    def restore(
        self,
        checkpoint_path: Text,
        verbose: bool = True,
        restore_keys: Optional[Sequence[Text]] = None,
    ):
        """Restores the model's weights from a checkpoint (the trainer's `model/` branch).

        Args:
            checkpoint_path: A checkpoint prefix, its `.index` file, or a directory (its newest
                checkpoint is used).
            verbose: Log what is restored, and warn about checkpoint values left unused
                (e.g. the optimizer's). False silences that (`expect_partial`).
            restore_keys: Names of the sub-modules to restore (e.g. `['encoder']`); all
                of them must be found in the checkpoint. None restores the whole model.

        Raises:
            FileNotFoundError: no checkpoint at `checkpoint_path`.
            checkpoints.CheckpointMismatchError: the checkpoint's variables differ from the
                model's in shape or structure (the config differs from the run's).
        """
        path = checkpoints.get_latest_checkpoint(checkpoint_path)
        with checkpoints.explain_mismatch(path):
            if restore_keys:
                modules = {key: getattr(self, key) for key in restore_keys}
                status = tf.train.Checkpoint(model=tf.train.Checkpoint(**modules)).restore(path)
                status.expect_partial()
                status.assert_existing_objects_matched()
            else:
                status = tf.train.Checkpoint(model=self).restore(path)
                if not verbose:
                    status.expect_partial()
        if verbose:
            logging.info(
                'Restored %s from %s.', restore_keys or f'the whole {type(self).__name__}', path
            )
        return status

    def get_audio_from_outputs(self, outputs: TensorDict) -> tf.Tensor:
        """The synthesized audio in the outputs of `call`."""
        raise NotImplementedError(f'{type(self).__name__} must implement get_audio_from_outputs().')

    def call(self, *args, training=False, **kwargs):
        raise NotImplementedError(f'{type(self).__name__} must implement call().')
