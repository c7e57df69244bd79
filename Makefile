# Every target creates (once) and reuses the local virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The extras the tests and demos need; later work adds to this list.
EXTRAS ?= test
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: venv test demo bench lint clean instruments-audio pretrained notebooks notebooks-html

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

# librosa's numba kernels (those pYIN uses, among them the localmin gufunc) are compiled once
# into numba's on-disk cache, by this one process, before any test runs: the tests start
# processes that load them at the same time (pYIN's reference child, Beam workers), and two
# first compilations at once can leave the cache inconsistent, so that every later call
# segfaults (numba/numba#10128). Redone after each reinstall (the cache index changes with it).
NUMBA_WARM := $(VENV)/.numba-warm

$(NUMBA_WARM): $(STAMP)
	$(PY) -c "import numpy as np, librosa; librosa.pyin(np.random.default_rng(0).standard_normal(8000).astype(np.float32), fmin=65.0, fmax=2000.0, sr=16000, frame_length=1024, hop_length=160)"
	@touch $@

test: $(STAMP) $(NUMBA_WARM)
	$(PY) -m pytest tests $(PYTEST_ARGS)

# Synthesis, the violin dataset, ~4 minutes of training on CPU, held-out resynthesis and
# metrics, all in demo_output/ (a second run reuses the dataset and resumes training). The demo
# is the package examples/demo (one module a stage), run from the repository root.
# E.g. make demo DEMO_ARGS='--train_steps 1000' trains on; DEMO_ARGS=--restart starts again.
demo: $(STAMP)
	$(PY) -m examples.demo --output_dir demo_output $(DEMO_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)
	$(PY) benchmarks/timbre_transfer.py

lint: $(STAMP)
	$(VENV)/bin/ruff check ddsp tests benchmarks examples recipes colab conftest.py
	$(VENV)/bin/ruff format --check ddsp tests benchmarks examples recipes colab conftest.py

# Training and evaluation audio of the pretrained instruments (recipes/instruments/README.md);
# needs Debian's fluidsynth, fluid-soundfont-gm and musescore-general-soundfont.
INSTRUMENTS_OUT ?= build/instruments
RENDER_STAMP := $(VENV)/.render-installed

$(RENDER_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[render]'
	@touch $@

instruments-audio: $(RENDER_STAMP)
	$(PY) -m recipes.instruments.render --output $(INSTRUMENTS_OUT)

# Every pretrained instrument from scratch into ddsp/training/pretrained/: render the audio,
# prepare the records, train each to its plateau in rounds (resumable: rerun after a kill),
# export it with its model card, then write the held-out and transfer metrics into the cards.
# About 45 minutes an instrument on 2 idle cores of an AMD EPYC Zen 4 (trumpet: 3.5 min of
# records, 39 min of training; violin and flute took 2 hours on a session's 3x slower machine).
# E.g. make pretrained INSTRUMENTS=violin,flute
INSTRUMENTS ?= all
pretrained: instruments-audio
	$(PY) -m recipes.instruments.train --instruments $(INSTRUMENTS) --audio $(INSTRUMENTS_OUT) --runs $(INSTRUMENTS_OUT)
	$(PY) -m recipes.instruments.evaluate --instruments $(INSTRUMENTS) --audio $(INSTRUMENTS_OUT) --write_cards

# The notebooks in colab/: Jupyter with the .venv kernel, or executed copies as HTML for reading
# (the stored notebooks carry no outputs).
NOTEBOOKS_STAMP := $(VENV)/.notebooks-installed
NOTEBOOKS_HTML ?= build/notebooks-html

$(NOTEBOOKS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[notebooks]'
	@touch $@

notebooks: $(NOTEBOOKS_STAMP)
	$(VENV)/bin/jupyter notebook --notebook-dir=colab

notebooks-html: $(NOTEBOOKS_STAMP)
	$(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=7200 \
		--output-dir $(NOTEBOOKS_HTML) colab/tutorials/*.ipynb colab/demos/*.ipynb

clean:
	rm -rf $(VENV) demo_output .pytest_cache
