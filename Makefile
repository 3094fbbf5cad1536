# Quickstart: `make demo` runs the offline demo, `make test` runs the whole test suite.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench previews

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

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

previews: $(STAMP)
	BOTOCORE_OTEL_RENDER_PREVIEWS=1 $(BIN)/python -m pytest -q tests/test_dashboards_prometheus.py
