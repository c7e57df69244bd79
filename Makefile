# Every target creates (once) and reuses the local virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The extras the tests and demos need; later work adds to this list.
EXTRAS ?= test
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: venv test demo bench lint clean

venv: $(STAMP)

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

# Synthesis, the violin dataset, ~4 minutes of training on CPU, held-out resynthesis and
# metrics, all in demo_output/ (a second run reuses the dataset and resumes training).
# E.g. make demo DEMO_ARGS='--train_steps 1000' trains on; DEMO_ARGS=--restart starts again.
demo: $(STAMP)
	$(PY) -m ddsp.demo --output_dir demo_output $(DEMO_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check ddsp tests benchmarks

clean:
	rm -rf $(VENV) demo_output .pytest_cache
