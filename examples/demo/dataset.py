"""Stage 2 of the demo: the shipped solo-violin dataset, prepared once and then reused.

`data/violin` (3.4 minutes of FLAC) goes through the `ddsp_prepare_tfrecord` Beam pipeline into
`violin/` (TFRecord shards, a train and an eval split, f0 and confidence from CREPE, A-weighted
loudness, statistics as JSON beside them: `violin/statistics.violin.tfrecord-train.json`, see
`dataset_statistics_path`). A manifest (`violin/demo_manifest.json`: SHA-256 of every input
file and the settings) lets a second run reuse the records when nothing changed.
"""

import glob
import hashlib
import os

from ddsp.training.data_preparation import outputs as prepared_outputs
from ddsp.training.data_preparation import prepare_tfrecord_lib
from examples.demo.outputs import read_json, write_json

# The dataset shipped in the repository: data/violin beside examples/ at the root of the checkout.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET_GLOB = os.path.join(REPO_ROOT, 'data', 'violin', '*.flac')
DATASET_CREPE = 'tiny'  # 5x faster than 'full' here, within 10 cents on this violin.
DATASET_NAME = 'violin'
EXAMPLE_SECS, HOP_SECS = 4, 1  # The pipeline's defaults: 4-s examples every second.
EVAL_SPLIT_FRACTION = 0.1
MANIFEST = 'demo_manifest.json'


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def dataset_manifest(audio_paths, crepe_capacity, eval_split_fraction):
    """What the prepared records depend on: every input's SHA-256 and the settings."""
    return {
        'inputs': {os.path.basename(p): _sha256(p) for p in sorted(audio_paths)},
        'crepe_capacity': crepe_capacity,
        'eval_split_fraction': eval_split_fraction,
        'example_secs': EXAMPLE_SECS,
        'hop_secs': HOP_SECS,
        'sample_rate': 16000,
        'frame_rate': 250,
    }


def dataset_prefix(output_dir):
    """The prefix the records are written to: `output_dir/violin/violin.tfrecord`."""
    return os.path.join(output_dir, DATASET_NAME, f'{DATASET_NAME}.tfrecord')


def dataset_patterns(output_dir):
    """`(train, eval)` TFRecord globs of the prepared dataset (shards only, not the JSON)."""
    prefix = dataset_prefix(output_dir)
    return f'{prefix}-train-*-of-*', f'{prefix}-eval-*-of-*'


def dataset_statistics_path(output_dir, split='train'):
    """The statistics JSON of a split ('train' or 'eval') of the prepared dataset."""
    return prepared_outputs.side_file_path(dataset_prefix(output_dir), 'statistics', split)


def prepare_dataset(
    output_dir,
    audio_glob=DATASET_GLOB,
    crepe_capacity=DATASET_CREPE,
    eval_split_fraction=EVAL_SPLIT_FRACTION,
    reuse=True,
):
    """Runs the data-preparation pipeline on the shipped dataset; returns its summary.

    Args:
        output_dir: the records go to `output_dir/violin/violin.tfrecord-{train,eval}-*`.
        audio_glob: audio files to prepare (default: the shipped `data/violin/*.flac`).
        crepe_capacity: CREPE size for the f0 labels ('tiny' ... 'full').
        eval_split_fraction: share of the 20-s chunks held out in the eval split.
        reuse: keep existing records whose manifest (inputs' SHA-256 and settings) matches.

    Returns:
        The pipeline's summary (`outputs`, `skipped`, ...) plus `reused` (bool) and
        `manifest`; None when no audio matches `audio_glob`.

    Example:
        >>> summary = prepare_dataset('demo_output')  # ~1 minute on 2 cores
        >>> summary['outputs'][0]  # 'demo_output/violin/violin.tfrecord-eval-00000-of-00002'
    """
    paths = sorted(glob.glob(audio_glob))
    if not paths:
        print(f'No audio matches {audio_glob}; skipping the dataset stage.')
        return None
    manifest = dataset_manifest(paths, crepe_capacity, eval_split_fraction)
    dataset_dir = os.path.join(output_dir, DATASET_NAME)
    manifest_path = os.path.join(dataset_dir, MANIFEST)
    previous = read_json(manifest_path)
    if (
        reuse
        and previous is not None
        and previous.get('manifest') == manifest
        and previous.get('outputs')
        and all(os.path.isfile(p) for p in previous['outputs'])
    ):
        print(
            f'dataset: reusing {dataset_dir} (same {len(paths)} inputs and settings; '
            f'delete {manifest_path} to prepare again)'
        )
        return dict(previous, reused=True)

    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # Stale until the new records are complete.
    prefix = dataset_prefix(output_dir)
    summary = prepare_tfrecord_lib.prepare_tfrecord(
        paths,
        prefix,
        num_shards=2,
        eval_split_fraction=eval_split_fraction,
        example_secs=EXAMPLE_SECS,
        hop_secs=HOP_SECS,
        crepe_capacity=crepe_capacity,
    )
    for path in summary['outputs']:
        print(f'{path}: {os.path.getsize(path) / 1e6:.1f} MB')
    print(
        f'dataset: {summary["audio_seconds_per_second"]:.1f} s of audio per second, '
        f'{len(summary["skipped"])} files skipped'
    )
    record = {
        'manifest': manifest,
        'outputs': summary['outputs'],
        'skipped': summary['skipped'],
        'seconds': summary['seconds'],
    }
    write_json(manifest_path, record)
    return dict(summary, reused=False, manifest=manifest)
