# The botocore-otel demo: installs the repository (build context = repository root) and runs
# `botocore-otel demo --loop`, which exports over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
# Package versions: the ones CI tests together (constraints.txt), not the newest of the day.
#   docker build -f deploy/demo.Dockerfile -t botocore-otel-demo .
FROM python:3.12.7-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

WORKDIR /src
COPY . .
RUN pip install -c constraints.txt ".[demo]" \
    && useradd --create-home --uid 10001 demo

USER demo
ENTRYPOINT ["botocore-otel"]
CMD ["demo", "--loop"]
