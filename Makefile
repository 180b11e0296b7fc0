# Developer entry points; `.ci/run` drives the same targets. See README.
PYTHON ?= $(if $(shell command -v python3.11 2>/dev/null),python3.11,python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv jars run test faults lint demo bench schemas clean

venv: $(STAMP)

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The Kafka broker jars, cached outside the repo ($$GVI_CACHE_DIR or ~/.cache/gvi).
jars: venv
	$(BIN)/python -m devtools.broker fetch

run: venv jars
	$(BIN)/python -m devtools.run

test: venv jars
	$(BIN)/pytest $(PYTEST_ARGS)

# The fault tier alone (make test runs it too): GVI_FAULT_* sizes the scenarios, see tests/faults.
faults: venv jars
	$(BIN)/pytest tests/faults $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check services devtools tests
	$(BIN)/mypy

demo: venv
	$(BIN)/python -m devtools.demo

bench: venv jars
	$(BIN)/python -m devtools.bench

schemas: venv
	$(BIN)/python -m services.contracts.schema

clean:
	rm -rf var/
