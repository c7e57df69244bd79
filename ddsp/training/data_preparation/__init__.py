"""Dataset preparation: the `ddsp_prepare_tfrecord` Apache Beam pipeline and its statistics.

Importing this package is light; Apache Beam (`pip install "ddsp[data_preparation]"`) is
imported only when a pipeline runs.
"""
