"""The pretrained instruments' training recipe: rounds, the plateau rule and the tables."""

import os
import re

import numpy as np
import pytest

from recipes.instruments import evaluate, train, tunes

SETTINGS = {'round_steps': 1000, 'min_steps': 3000, 'max_steps': 6000, 'plateau_tolerance': 0.01}


def _losses(per_round, summaries_at=(1, 51, 951, 1000)):
    """Summaries at steps 1, 51, ... of each round, every one equal to that round's loss."""
    return {
        round_index * 1000 + step: loss
        for round_index, loss in enumerate(per_round)
        for step in summaries_at
        if round_index * 1000 + step > 0
    }


def test_rounds_are_steps_1_to_1000_and_count_only_when_done():
    losses = _losses([10.0, 6.0, 5.0])
    assert train.round_means(losses, 1000, done=3000) == {1000: 10.0, 2000: 6.0, 3000: 5.0}
    # A round still running is not a round yet, whatever summaries it has.
    assert train.round_means(losses, 1000, done=2500) == {1000: 10.0, 2000: 6.0}


def test_plateau_when_a_round_gains_less_than_the_tolerance():
    means = train.round_means(_losses([10.0, 6.0, 5.0, 4.98]), 1000, done=4000)
    verdict = train.plateau_reached(means, SETTINGS)
    assert verdict['stopped'] and verdict['step'] == 4000
    assert abs(verdict['last_round_gain'] - 0.004) < 1e-9


def test_still_improving_and_too_early_and_max_steps():
    improving = train.round_means(_losses([10.0, 6.0, 5.0, 4.5]), 1000, done=4000)
    assert not train.plateau_reached(improving, SETTINGS)['stopped']
    early = train.round_means(_losses([10.0, 10.0]), 1000, done=2000)
    assert train.plateau_reached(early, SETTINGS)['reason'] == 'too early'
    long = train.round_means(_losses([10.0 - i for i in range(6)]), 1000, done=6000)
    verdict = train.plateau_reached(long, SETTINGS)
    assert verdict['stopped'] and 'max_steps' in verdict['reason']


def test_an_instrument_overrides_the_recipes_training_settings():
    recipe = {
        'training': dict(SETTINGS, batch_size=8),
        'instruments': {'violin': {}, 'clarinet': {'training': {'max_steps': 9000}}},
    }
    assert train.instrument_settings(recipe, 'violin') == recipe['training']
    assert train.instrument_settings(recipe, 'clarinet') == dict(recipe['training'], max_steps=9000)
    recipe['instruments']['violin']['training'] = {'max_step': 9000}
    with pytest.raises(SystemExit, match=r"violin: unknown training settings \['max_step'\]"):
        train.instrument_settings(recipe, 'violin')


@pytest.mark.parametrize('centred', [False, True])
def test_centred_records_are_prepared_and_read_as_centred(tmp_path, monkeypatch, centred):
    import gin

    import ddsp.training  # noqa: F401  (registers the configurables)
    from ddsp.training.data_preparation import ddsp_prepare_tfrecord

    settings = dict(tunes.load_recipe()['training'], centred=centred)
    audio = tmp_path / 'audio' / 'flute' / 'train'
    audio.mkdir(parents=True)
    (audio / 'a.flac').write_bytes(b'')
    commands = []
    monkeypatch.setattr(train, '_run', commands.append)  # The command line, not the tool.
    train.make_records(str(tmp_path / 'audio'), str(tmp_path), 'flute', settings)
    args = ddsp_prepare_tfrecord.build_parser().parse_args(commands[0][1:])
    assert args.center is centred
    folder = 'tfrecord_centred' if centred else 'tfrecord'
    assert args.output_tfrecord_path == str(tmp_path / 'flute' / folder / train.RECORDS)
    bindings = [
        a.split('=', 1)[1]
        for a in train._train_command('r', 'flute', settings, 10)
        if a.startswith('--gin_param=')
    ]
    with gin.unlock_config():
        gin.parse_config(bindings, skip_unknown=False)
    try:
        assert gin.query_parameter('TFRecordProvider.centered') is centred
        assert gin.query_parameter('F0LoudnessPreprocessor.trim_frames') is centred
    finally:
        gin.clear_config()


@pytest.mark.parametrize('random_gain', [None, {'min_db': -30.0, 'probability': 0.3, 'seed': 7}])
def test_random_gain_wraps_the_records_provider(random_gain):
    import gin

    from ddsp.training import augmentation
    from ddsp.training.gin import GIN_PATH

    settings = dict(tunes.load_recipe()['training'], centred=True, random_gain=random_gain)
    bindings = [
        a.split('=', 1)[1]
        for a in train._train_command('r', 'flute', settings, 10)
        if a.startswith('--gin_param=')
    ]
    gin.clear_config()
    gin.add_config_file_search_path(GIN_PATH)
    with gin.unlock_config():
        gin.parse_config(['include "datasets/tfrecord.gin"'] + bindings, skip_unknown=False)
    try:
        provider = gin.query_parameter('train_util.train.data_provider')
        if random_gain is None:
            assert provider.selector == 'data.TFRecordProvider'
            return
        assert provider.selector == 'augmentation.RandomGainProvider'
        built = gin.get_configurable('augmentation.RandomGainProvider')()
        assert isinstance(built, augmentation.RandomGainProvider)
        assert (built.min_gain_db, built.max_gain_db, built.probability, built.seed) == (
            -30.0,
            0.0,
            0.3,
            7,
        )
        assert built.data_provider.file_pattern == 'r/flute/tfrecord_centred/train.tfrecord-train-*'
        assert built.frame_rate == settings['frame_rate']
    finally:
        gin.clear_config()


def test_tables_format_the_cards_metrics():
    from ddsp.training import model_dir

    card = model_dir.ModelCard(
        name='violin',
        parameter_count=1234,
        size_bytes=2_500_000,
        training_steps=7000,
        training_seconds=6600.0,
        metrics={
            'held_out': {'FluidR3_GM': {'loudness_l1_db': 1.234, 'f0_confident_ratio': 0.97}},
            'transfer': {'pitch_shift_+1_median_cents': 1199.6, 'pitch_shift_+1_frames': 232},
            'reverb': {'length_ms': 50.0, 'decay_db': 23.44},
        },
    )
    text = evaluate.tables([card])
    assert '| violin | 1,234 | 2.50 | 7000 | 110 |' in text
    assert '| violin | FluidR3_GM | - | 1.23 | - | - | 97.0% | - |' in text
    assert '| +1200 | 232 | - |' in text
    assert '| 50 | 23.4 |' in text


def test_octave_shifts_are_measured_where_crepe_reads_the_pitch():
    # CREPE's bins span MIDI 23.46-95.26; a semitone inside either end is readable.
    midi = np.array([23.0, 24.4, 24.5, 60.0, 94.2, 94.3, 96.0, np.nan])
    cents = (midi - 69) * 100
    readable = evaluate._readable_by_crepe(cents)
    np.testing.assert_array_equal(readable, [False, False, True, True, True, False, False, False])


def test_reverb_decay_of_an_exponential_ir():
    # 800 samples of a**n with a = 10**(-1/600): the last quarter starts 600 samples after
    # the first, so each of its samples is a**600 = 1/10 of its counterpart's amplitude:
    # 20 dB less energy. The whole IR's energy is sum(a**2n) = (1 - a**1600) / (1 - a**2).
    a = 10.0 ** (-1 / 600)
    ir = a ** np.arange(800)
    decay = evaluate.reverb_decay(ir, 16000)
    assert decay['length_ms'] == 50.0
    assert decay['decay_db'] == pytest.approx(20.0, abs=0.01)
    expected = 10 * np.log10((1 - a**1600) / (1 - a**2))
    assert decay['energy_db'] == pytest.approx(expected, abs=0.01)
    assert decay['quarters_db'][0] - decay['quarters_db'][1] == pytest.approx(20 / 3, abs=0.01)


def test_paste_tables_replaces_only_the_marked_region():
    readme = 'intro\n<!-- pretrained-tables -->\nold\n<!-- /pretrained-tables -->\nafter\n'
    pasted = evaluate.paste_tables(readme, '| new |\n')
    assert (
        pasted == 'intro\n<!-- pretrained-tables -->\n| new |\n<!-- /pretrained-tables -->\nafter\n'
    )


def test_readme_and_pretrained_readme_carry_the_shipped_cards_tables():
    import os

    from ddsp.training import model_dir

    names = model_dir.available_models()
    cards = [model_dir.read_model_card(model_dir.resolve_model_dir(n)) for n in names]
    expected = evaluate.tables(cards)
    with open(os.path.join(train.ROOT, 'README.md')) as f:
        readme = f.read()
    assert evaluate.paste_tables(readme, expected) == readme, 'rerun evaluate --write_cards'
    with open(os.path.join(train.PRETRAINED_DIR, 'README.md')) as f:
        assert f.read() == evaluate.TABLES_HEADER + expected


@pytest.mark.skipif(not os.path.exists('/proc/cpuinfo'), reason='reads /proc/cpuinfo (Linux)')
def test_cpu_name_gives_family_and_model():
    # The model name alone ('AMD EPYC') may not tell Zen 1 from Zen 4; the card needs both.
    with open('/proc/cpuinfo') as f:
        text = f.read()
    family = re.search(r'^cpu family\s*:\s*(\d+)', text, re.M)
    model = re.search(r'^model\s*:\s*(\d+)', text, re.M)
    name = train.cpu_name()
    assert name.endswith(f'{os.cpu_count()} cores)'), name
    if family and model:
        assert f'(family {family.group(1)}, model {model.group(1)};' in name, name
