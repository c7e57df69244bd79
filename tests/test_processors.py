"""Tests of the Processor contract, ProcessorGroup, Add, Mix and Crop, and of the Keras
registration of every processor (synths and effects included)."""

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from ddsp import effects, processors, synths


class Scale(processors.Processor):
    """A minimal processor: controls double the input, the signal adds one."""

    def __init__(self, name='scale', **kwargs):
        super().__init__(name=name, **kwargs)

    def get_controls(self, x):
        return {'doubled': 2.0 * tf.convert_to_tensor(x, tf.float32)}

    def get_signal(self, doubled):
        return doubled + 1.0


def test_processor_call_is_get_signal_of_get_controls():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    scale = Scale()
    np.testing.assert_allclose(scale(x), 2.0 * x + 1.0)
    outputs = scale(x, return_outputs_dict=True)
    assert set(outputs) == {'signal', 'controls'}
    np.testing.assert_allclose(outputs['controls']['doubled'], 2.0 * x)


def test_processor_ignores_keras_training_argument():
    x = tf.ones([1, 4])
    np.testing.assert_allclose(Scale()(x, training=True), 3.0 * np.ones([1, 4]))


def test_base_processor_methods_are_abstract():
    with pytest.raises(NotImplementedError, match='get_controls'):
        processors.Processor(name='p')(tf.ones([1, 2]))


def test_add_sums_signals():
    a = np.random.randn(2, 50).astype(np.float32)
    b = np.random.randn(2, 50).astype(np.float32)
    np.testing.assert_allclose(processors.Add()(a, b), a + b, rtol=1e-6)
    assert processors.Add().name == 'add'


def test_mix_is_an_equal_power_crossfade():
    n = 400
    s1 = np.random.randn(1, n).astype(np.float32)
    s2 = np.random.randn(1, n).astype(np.float32)
    # Raw levels: large positive -> sigmoid ~ 1 (all s1); large negative -> s2.
    all_one = processors.Mix()(s1, s2, 30.0 * np.ones([1, 10, 1], np.float32))
    all_two = processors.Mix()(s1, s2, -30.0 * np.ones([1, 10, 1], np.float32))
    np.testing.assert_allclose(all_one, s1, atol=1e-5)
    np.testing.assert_allclose(all_two, s2, atol=1e-5)
    # Raw level 0 -> m = 0.5: each gain is sqrt(0.5); powers of the two
    # uncorrelated parts sum to the average power.
    half = processors.Mix()(s1, s2, np.zeros([1, 10, 1], np.float32))
    np.testing.assert_allclose(half, np.sqrt(0.5) * (s1 + s2), rtol=1e-5, atol=1e-6)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _np_upsample_linear(x, n_out):
    """Legacy resize (add_endpoint): output i reads frame position i * T / n_out, last held."""
    x = np.asarray(x, np.float64)
    n_in = x.shape[1]
    pos = np.arange(n_out) * n_in / n_out
    lower = np.floor(pos).astype(int)
    t = (pos - lower)[None, :, None]
    return x[:, lower] * (1.0 - t) + x[:, np.minimum(lower + 1, n_in - 1)] * t


@pytest.mark.parametrize('n_channels', [1, 3])
def test_mix_multichannel_broadcasts_level_over_channels(n_channels):
    rng = np.random.default_rng(5)
    n, frames = 400, 10
    s1 = rng.standard_normal((2, n, n_channels)).astype(np.float32)
    s2 = rng.standard_normal((2, n, n_channels)).astype(np.float32)
    raw = rng.standard_normal((2, frames, 1)).astype(np.float32)
    outputs = processors.Mix()(s1, s2, raw, return_outputs_dict=True)
    m = _np_upsample_linear(_np_sigmoid(raw), n)  # [2, n, 1]
    assert outputs['controls']['mix_level'].shape == (2, n, 1)
    assert outputs['signal'].shape == (2, n, n_channels)
    np.testing.assert_allclose(
        outputs['signal'], np.sqrt(m) * s1 + np.sqrt(1.0 - m) * s2, rtol=1e-5, atol=1e-6
    )
    # Each channel is mixed as a mono [B, N] signal would be, with a [B, N] level.
    mono = processors.Mix()(s1[..., -1], s2[..., -1], raw, return_outputs_dict=True)
    assert mono['controls']['mix_level'].shape == (2, n)
    np.testing.assert_allclose(outputs['signal'][..., -1], mono['signal'], rtol=1e-6, atol=1e-7)


def test_mix_rejects_signals_of_different_length():
    with pytest.raises(ValueError, match='equal length'):
        processors.Mix()(tf.ones([1, 10]), tf.ones([1, 12]), tf.zeros([1, 2, 1]))


@pytest.mark.parametrize(
    'location, expected',
    [('back', slice(0, 12)), ('front', slice(4, 16)), ('center', slice(2, 14))],
)
def test_crop(location, expected):
    audio = np.arange(16, dtype=np.float32)[np.newaxis]
    # frame_size 5: 2 * (5 // 2) = 4 samples from one end, or 2 from each.
    cropped = processors.Crop(frame_size=5, crop_location=location)(audio)
    np.testing.assert_array_equal(cropped, audio[:, expected])


def test_crop_rejects_unknown_location():
    with pytest.raises(ValueError, match='crop_location'):
        processors.Crop(frame_size=4, crop_location='middle')


def _two_adds():
    return processors.ProcessorGroup(
        dag=[
            (processors.Add(), ['x', 'y']),
            (processors.Add(name='add2'), ['add/signal', 'inputs/x']),
        ]
    )


def test_processor_group_runs_the_dag_and_names_outputs():
    x, y = tf.ones([2, 8]), 2.0 * tf.ones([2, 8])
    group = _two_adds()
    outputs = group({'x': x, 'y': y}, return_outputs_dict=True)
    controls = outputs['controls']
    np.testing.assert_allclose(controls['add']['signal'], 3.0 * np.ones([2, 8]))
    np.testing.assert_allclose(controls['out']['signal'], 4.0 * np.ones([2, 8]))
    np.testing.assert_allclose(outputs['signal'], controls['add2']['signal'])
    np.testing.assert_allclose(controls['inputs']['y'], y)
    assert group.processor_names == ['add', 'add2']
    assert [p.name for p in group.processors] == ['add', 'add2']


def test_processor_group_missing_key_lists_available_keys():
    with pytest.raises(KeyError, match=r"Key \"y\" not found.*Available keys: \['inputs/x', 'x'\]"):
        _two_adds()({'x': tf.ones([1, 4])})


def test_processor_group_does_not_mutate_inputs_in_tf_function():
    group = _two_adds()
    inputs = {'x': tf.ones([1, 4]), 'y': tf.ones([1, 4])}

    @tf.function
    def run(features):
        return group(features)

    np.testing.assert_allclose(run(inputs), 3.0 * np.ones([1, 4]))
    assert set(inputs) == {'x', 'y'}


def test_processor_group_config_round_trip():
    group = _two_adds()
    clone = processors.ProcessorGroup.from_config(group.get_config())
    x, y = np.random.randn(2, 8), np.random.randn(2, 8)
    np.testing.assert_allclose(clone({'x': x, 'y': y}), group({'x': x, 'y': y}), rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(group))
    assert isinstance(restored, processors.ProcessorGroup)
    assert restored.processor_names == ['add', 'add2']


def test_processor_group_rejects_duplicate_names():
    with pytest.raises(ValueError, match='unique name'):
        processors.ProcessorGroup(
            dag=[(processors.Add(), ['x', 'y']), (processors.Add(), ['x', 'y'])]
        )


def test_processor_group_and_add_from_gin():
    gin.clear_config()
    try:
        gin.parse_config("""
            ProcessorGroup.dag = [(@processors.Add(), ['a', 'b'])]
            processors.Add.name = 'summed'
        """)
        group = processors.ProcessorGroup()
        assert group.processor_names == ['summed']
        np.testing.assert_allclose(
            group({'a': tf.ones([1, 2]), 'b': tf.ones([1, 2])}), [[2.0, 2.0]]
        )
    finally:
        gin.clear_config()


def test_dag_verbose_binding(capsys):
    gin.clear_config()
    try:
        gin.parse_config('DAGLayer.run_dag.verbose = True')
        _two_adds()({'x': tf.ones([1, 3]), 'y': tf.ones([1, 3])})
        assert 'DAG node add2' in capsys.readouterr().out
    finally:
        gin.clear_config()


_REGISTERED = {
    processors: ['ProcessorGroup', 'Add', 'Mix', 'Crop'],
    synths: ['TensorToAudio', 'Harmonic', 'Additive', 'FilteredNoise', 'Wavetable', 'Sinusoidal'],
    effects: [
        'Reverb',
        'ExpDecayReverb',
        'FilteredNoiseReverb',
        'TrainableReverb',
        'FixedReverb',
        'TrainableExpDecayReverb',
        'FIRFilter',
        'ModDelay',
    ],
}


@pytest.mark.parametrize('module', list(_REGISTERED), ids=lambda m: m.__name__)
def test_every_processor_is_registered_as_ddsp_name(module):
    # Saved models name layers 'ddsp>ClassName'; those names must never change.
    for name in _REGISTERED[module]:
        cls = getattr(module, name)
        assert keras.saving.get_registered_name(cls) == f'ddsp>{name}'
        assert keras.saving.get_registered_object(f'ddsp>{name}') is cls
    # And no layer class of the module is left out (the abstract base is not saved).
    layers = {
        name
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and issubclass(obj, keras.layers.Layer)
        and (obj.__module__ == module.__name__ or obj.__module__.startswith(module.__name__ + '.'))
        and obj is not processors.Processor
    }
    assert layers == set(_REGISTERED[module])
