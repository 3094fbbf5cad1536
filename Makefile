# Quickstart: `make demo` runs the offline demo, `make test` runs the whole test suite.
# Both create .venv and install the project into it on first use. `make test-all` is what CI
# runs (.ci/run) plus the slow extras: the 100k-call soak and botocore's full suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-all lint bench previews

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[demo,test,aio,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/botocore-otel demo

test: $(STAMP)
	bash .ci/install-system-deps
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-all: $(STAMP)
	bash .ci/run
	$(BIN)/python -m pytest -q -p no:cacheprovider -m soak tests/test_soak.py -s
	PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/botocore-suite --full

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

previews: $(STAMP)
	BOTOCORE_OTEL_RENDER_PREVIEWS=1 $(BIN)/python -m pytest -q tests/test_dashboards_prometheus.py
