"""Programs built on ddsp that are not part of the library (not installed with it).

Run them from the repository root, e.g. `python -m examples.demo`.
"""
