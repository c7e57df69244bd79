"""Tests of DAGLayer routing, key naming and module detection."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import dags, processors


class Split(keras.layers.Layer):
    """A plain Keras layer returning a tuple (named by the node's output keys)."""

    def call(self, x):
        return x[:, :2], x[:, 2:]


def test_is_module_detects_keras_3_layers():
    assert dags.is_module(keras.layers.Dense(3))
    assert dags.is_module(processors.Add())
    assert not dags.is_module(tf.Module())
    assert not dags.is_module('add')


def test_duck_typing_of_processors_and_losses():
    assert dags.is_processor(processors.Add())
    assert not dags.is_processor(keras.layers.Dense(2))

    class FakeLoss:
        def get_losses_dict(self):
            return {}

    assert dags.is_loss(FakeLoss())


def test_plain_layers_output_keys_and_nested_lookup():
    dag = dags.DAGLayer(
        [
            (Split(name='split'), ['audio'], ['low', 'high']),
            (processors.Add(), ['split/low', 'split/low']),
        ]
    )
    audio = np.arange(8, dtype=np.float32).reshape(2, 4)
    outputs = dag({'audio': audio})
    np.testing.assert_array_equal(outputs['split']['low'], audio[:, :2])
    np.testing.assert_array_equal(outputs['split']['high'], audio[:, 2:])
    np.testing.assert_array_equal(outputs['out']['signal'], 2.0 * audio[:, :2])
    assert 'audio' in outputs and 'audio' in outputs['inputs']


def test_nodes_can_name_keyword_layers():
    dag = dags.DAGLayer([('adder', ['a', 'b'])], adder=processors.Add())
    out = dag({'a': tf.ones([1, 2]), 'b': tf.ones([1, 2])})
    np.testing.assert_allclose(out['adder']['signal'], [[2.0, 2.0]])
    assert dag.module_names == ['adder']


@pytest.mark.parametrize(
    'node',
    [
        ('add',),  # no input keys
        (3, ['a']),  # neither a layer nor a name
    ],
)
def test_malformed_nodes_are_rejected(node):
    with pytest.raises(ValueError, match='DAG node'):
        dags.DAGLayer([node])


def test_unknown_layer_name_is_reported():
    dag = dags.DAGLayer([('nothing', ['a'])])
    with pytest.raises(KeyError, match='nothing'):
        dag({'a': tf.ones([1])})


def test_function_serialization_round_trip():
    from ddsp import core

    path = dags.serialize_function(core.exp_sigmoid)
    assert path == 'ddsp.core.exp_sigmoid'
    assert dags.deserialize_function(path) is core.exp_sigmoid
    with pytest.raises(ValueError, match='named module-level function'):
        dags.serialize_function(lambda x: x)
    with pytest.raises(ValueError, match='cannot be found'):
        dags.deserialize_function('ddsp.core.no_such_function')
