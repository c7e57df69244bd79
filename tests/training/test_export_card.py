"""Card fields that ddsp_export_model derives from a run: training time and gin values."""

import os

import gin
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from ddsp.training import ddsp_export_model, summaries
from ddsp.training.instrument import _GinConfig


def _write_run(log_dir, opened, summaries_at):
    """One events file as a training run writes it: a first event when the writer opens,
    then `steps_per_sec` at `(step, wall_time, rate)`."""
    path = os.path.join(log_dir, f'events.out.tfevents.{int(opened)}.host.1.v2')
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(
            event_pb2.Event(wall_time=opened, file_version='brain.Event:2').SerializeToString()
        )
        for step, wall_time, rate in summaries_at:
            event = event_pb2.Event(wall_time=wall_time, step=step)
            event.summary.value.add(tag='steps_per_sec', simple_value=rate)
            event.summary.value.add(tag='other', simple_value=-1.0)
            writer.write(event.SerializeToString())


@pytest.fixture
def two_runs(tmp_path):
    """A run of steps 0-150 (opened at t=1000 s), resumed from step 150 (opened at t=2000 s)
    and run to step 250. Each run's first summary covers one step (tracing: rate 0.125)."""
    log_dir = tmp_path / 'summaries' / 'train'
    log_dir.mkdir(parents=True)
    _write_run(str(log_dir), 1000.0, [(0, 1010.0, 0.125), (50, 1060.0, 1.0), (100, 1110.0, 1.0)])
    _write_run(str(log_dir), 2000.0, [(150, 2012.0, 0.125), (200, 2062.0, 1.0)])
    return str(tmp_path)


def test_training_seconds_counts_each_run_from_its_start_plus_its_tail(two_runs):
    # Run 1: 1110 - 1000 = 110 s to its last summary, then steps 100..150 at 1 step/s: 50 s.
    # Run 2: 2062 - 2000 = 62 s, then steps 200..250 at 1 step/s: 50 s. The 888 s between
    # the runs are not training. (Counting each summary's interval at its rate, as before,
    # charged the resumed run's first summary 50 steps at 0.125 step/s: 400 s.)
    assert ddsp_export_model.training_seconds(two_runs, final_step=250) == 110 + 50 + 62 + 50
    # Without the final step the last run's tail is unknown and left out.
    assert ddsp_export_model.training_seconds(two_runs) == 110 + 50 + 62


def test_training_seconds_is_none_without_summaries(tmp_path):
    assert ddsp_export_model.training_seconds(str(tmp_path)) is None


def test_read_runs_and_read_scalars_agree(two_runs):
    log_dir = os.path.join(two_runs, 'summaries', 'train')
    runs = summaries.read_runs(log_dir, ['steps_per_sec', 'missing'])
    assert [run['start_time'] for run in runs] == [1000.0, 2000.0]
    assert runs[1]['scalars']['steps_per_sec'] == [(150, 2012.0, 0.125), (200, 2062.0, 1.0)]
    assert runs[0]['scalars']['missing'] == []
    rates = summaries.read_scalars(log_dir, ['steps_per_sec'])['steps_per_sec']
    assert rates == pytest.approx({0: 0.125, 50: 1.0, 100: 1.0, 150: 0.125, 200: 1.0})


class _Config:
    """An object with Instrument.config_value's needs: a private gin config."""

    def __init__(self, text):
        self._gin = _GinConfig()
        self._gin.parse(text, source='test')


@gin.configurable('export_card_test_fn')
def _configurable(batch_size=1, rate=0.5):
    return batch_size, rate


def test_config_value_resolves_macros():
    from ddsp.training.instrument import Instrument

    config = _Config(
        'size = 8\n'
        'batch_size = %size\n'
        'export_card_test_fn.batch_size = %batch_size\n'
        'export_card_test_fn.rate = 0.25\n'
    )
    assert Instrument.config_value(config, 'export_card_test_fn.batch_size') == 8
    assert Instrument.config_value(config, 'export_card_test_fn.rate') == 0.25
    assert Instrument.config_value(config, 'export_card_test_fn.unbound', 'd') == 'd'
