"""Shared pytest fixtures: real local parts (moto server, OTLP receiver, Prometheus).

Fixtures only; the helpers live in ``tests/support`` (import them as ``tests.support.X``:
the repository root is put on ``sys.path`` here so that works under plain ``pytest`` too).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.moto_server import MotoServer
from tests.support.optional import in_ci, missing
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.prometheus import (
    MetricsEndpoint,
    PrometheusMissing,
    PrometheusServer,
    SharedPrometheus,
    find_prometheus,
    serve_registry,
)


# ----------------------------------------------------------------------------- no silent skips
# Under CI=true a test or module skipped because an import failed (``pytest.importorskip``)
# fails instead: CI must not pass by running less than it claims.
def _import_skip(report: pytest.CollectReport | pytest.TestReport) -> bool:
    return bool(report.skipped) and "could not import" in str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and _import_skip(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and _import_skip(report):
        report.outcome = "failed"


# ----------------------------------------------------------------------------- telemetry
@pytest.fixture
def telemetry() -> Any:
    """OTel SDK providers with an in-memory span exporter and metric reader."""
    from telemetry import Telemetry

    return Telemetry()


@pytest.fixture
def session(telemetry: Any) -> Iterator[Any]:
    """A boto3 session instrumented with ``telemetry``'s providers and default options."""
    import boto3

    from botocore_otel import Instrumentor

    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    yield session
    Instrumentor().uninstrument(session)


# ----------------------------------------------------------------------------- moto
@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """Session-wide moto server (child process) on 127.0.0.1, recorder on, auth off."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session moto server, with all AWS state and the recorder reset for this test."""
    moto_server.reset()
    return moto_server


@pytest.fixture(scope="session")
def moto_server_with_auth() -> Iterator[MotoServer]:
    """Session-wide moto server with IAM/SigV4 auth enforced (bad signature -> 403
    SignatureDoesNotMatch). Use its ``.client()``/``.credentials``."""
    with MotoServer(auth=True) as server:
        yield server


@pytest.fixture
def moto_auth(moto_server_with_auth: MotoServer) -> MotoServer:
    """The auth-enforcing moto server, reset (state, recorder, fresh credentials)."""
    moto_server_with_auth.reset()
    return moto_server_with_auth


# ----------------------------------------------------------------------------- OTLP
@pytest.fixture(scope="session")
def otlp_receiver_session() -> Iterator[OTLPReceiver]:
    """Session-wide OTLP/HTTP receiver (stable endpoint for process-global providers)."""
    with OTLPReceiver() as receiver:
        yield receiver


@pytest.fixture
def otlp_receiver(otlp_receiver_session: OTLPReceiver) -> OTLPReceiver:
    """The session OTLP receiver, emptied for this test."""
    otlp_receiver_session.clear()
    return otlp_receiver_session


# ----------------------------------------------------------------------------- Prometheus
def _require_prometheus() -> None:
    try:
        find_prometheus()
    except PrometheusMissing:
        missing("prometheus (the real server binary)", "sudo .ci/install-system-deps")


@pytest.fixture
def prometheus() -> Iterator[Callable[..., PrometheusServer]]:
    """Factory: ``prometheus(["127.0.0.1:PORT", ...], job=..., scrape_interval="1s")``
    starts a real Prometheus scraping those targets; all are killed at teardown.
    Note: its first scrape comes ~5-10 s after start (see ``shared_prometheus``)."""
    _require_prometheus()
    started: list[PrometheusServer] = []

    def start(targets: Sequence[str], **kwargs: Any) -> PrometheusServer:
        server = PrometheusServer(list(targets), **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def _shared_prometheus_session() -> Iterator[SharedPrometheus]:
    _require_prometheus()
    shared = SharedPrometheus().start()
    yield shared
    shared.stop()


@pytest.fixture
def shared_prometheus(_shared_prometheus_session: SharedPrometheus) -> Iterator[SharedPrometheus]:
    """Session-wide real Prometheus; ``shared_prometheus.scrape("127.0.0.1:PORT")`` makes
    it scrape that endpoint (returns once a scrape of it is ingested, ~1-2 s)."""
    yield _shared_prometheus_session
    _shared_prometheus_session.relay.set_upstream(None)


@pytest.fixture
def metrics_endpoint() -> Iterator[MetricsEndpoint]:
    """A fresh ``prometheus_client.CollectorRegistry`` (``.registry``) served on a free
    127.0.0.1 port (``.target``/``.url``/``.scrape()``); for
    ``PrometheusMetricReader(registry=metrics_endpoint.registry)``."""
    from prometheus_client import CollectorRegistry

    endpoint = serve_registry(CollectorRegistry())
    yield endpoint
    endpoint.stop()
