# aiva: set-up, demo and tests.  Only Python 3.11, pip and make are needed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean bench

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU PyTorch, pinned: this version is the one whose CPU wheel is available offline here.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/aiva demo --out demo_output

test: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --config pyproject.toml
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/mc_speed.py

clean:
	rm -rf $(VENV) demo_output build *.egg-info src/*.egg-info
