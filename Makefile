# Two commands matter on a fresh machine: `make run` and `make test`.
# Each creates the virtual environment it needs on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The older SDK line (still sends anthropic-version: 2023-06-01), for compatibility tests.
COMPAT_SDK ?= anthropic==1.17.0
COMPAT_VENV := .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed-stamp
PORT ?= 8787

.PHONY: run test test-fast compat contract bench fuzz-long schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(COMPAT_STAMP):
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install --quiet '$(COMPAT_SDK)' 'pytest>=8'
	touch $(COMPAT_STAMP)

run: $(STAMP)
	$(BIN)/mockserver serve --port $(PORT)

test: $(STAMP) $(COMPAT_STAMP)
	$(BIN)/python -m pytest -q -n 2
	$(BIN)/python -m tests.compat.run --python $(COMPAT_VENV)/bin/python

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m 'not slow'

clean:
	rm -rf $(VENV) $(COMPAT_VENV) .pytest_cache .hypothesis build *.egg-info
