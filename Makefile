# Quickstart: `make demo` runs the offline demo, `make test` runs the whole test suite.
# Both create .venv and install the project into it on first use. `make test-all` is what CI
# runs (.ci/run) plus the slow extras: the 100k-call soak and botocore's full suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-all aiobotocore-suite lint bench previews

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
	$(MAKE) aiobotocore-suite

# aiobotocore's own tests (its test dependencies, pinned like its pyproject's "test" group).
AIO_VENV := .venv-aiobotocore
$(AIO_VENV)/.installed-stamp: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(AIO_VENV)
	$(AIO_VENV)/bin/python -m pip install -q -c constraints.txt -e '.[aio]' opentelemetry-sdk \
	  pytest pytest-xdist pytest-timeout 'anyio>=4.11,<5' 'dill>=0.3.3,<0.5' 'docker>=7.1,<8' \
	  'moto[server,s3,sqs,awslambda,dynamodb,cloudformation,sns,batch,ec2,rds]' 'packaging>=24.1' \
	  'pytest-mock>=3.14.1,<4' 'time-machine>=2.15,<4' 'tiny-proxy>=0.3,<0.4' 'trio>=0.27,<1' \
	  'trustme>=1.2.1,<2'
	touch $@

aiobotocore-suite: $(AIO_VENV)/.installed-stamp
	PATH="$(CURDIR)/$(AIO_VENV)/bin:$$PATH" bash .ci/peer-suite aiobotocore

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

previews: $(STAMP)
	BOTOCORE_OTEL_RENDER_PREVIEWS=1 $(BIN)/python -m pytest -q tests/test_dashboards_prometheus.py
