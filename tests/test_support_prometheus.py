"""The real Prometheus server scrapes the real OTel Prometheus exporter and answers PromQL.

These tests pin down the exact metric and label names the SDK exporter produces in
Prometheus (the dashboards are written against them)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

import tests.support.prometheus as prom
from tests.support.prometheus import (
    MetricsEndpoint,
    PrometheusServer,
    SharedPrometheus,
    serve_registry,
)

RESOURCE = Resource.create({"service.name": "prom-test", "deployment.environment": "ci"})
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


@pytest.fixture
def sdk(metrics_endpoint: MetricsEndpoint) -> Iterator[MeterProvider]:
    reader = PrometheusMetricReader(registry=metrics_endpoint.registry)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    yield provider
    provider.shutdown()


def _record(provider: MeterProvider, calls: int = 3) -> None:
    meter = provider.get_meter("botocore_otel", "0.1.0")
    duration = meter.create_histogram(
        "rpc.client.call.duration",
        unit="s",
        description="AWS API call duration",
        explicit_bucket_boundaries_advisory=BOUNDS,
    )
    calls_counter = meter.create_counter("botocore.otel.test.calls", unit="{call}")
    bytes_counter = meter.create_counter("botocore.otel.test.sent", unit="By")
    inflight = meter.create_up_down_counter("botocore.otel.test.inflight", unit="{call}")
    ok = {"rpc.system": "aws-api", "rpc.service": "S3", "http.response.status_code": 200}
    for _ in range(calls):
        duration.record(0.2, ok)
        calls_counter.add(1, ok)
    duration.record(3.0, {**ok, "error.type": "SlowDown", "retried": True})
    bytes_counter.add(512, {"aws.region": "us-east-1"})
    inflight.add(2)


def test_prometheus_scrapes_the_sdk_exporter_and_answers_promql(
    prometheus: Callable[..., PrometheusServer],
    metrics_endpoint: MetricsEndpoint,
    sdk: MeterProvider,
) -> None:
    _record(sdk)
    server = prometheus([metrics_endpoint.target], job="naming")
    assert server.url.startswith("http://127.0.0.1:")

    (count,) = server.wait_for('rpc_client_call_duration_seconds_count{rpc_service="S3", error_type=""}')
    labels = count["metric"]
    assert count["value"] == 3
    # exact label set: attribute keys with dots -> underscores, scope labels, job/instance
    assert labels == {
        "__name__": "rpc_client_call_duration_seconds_count",
        "rpc_system": "aws-api",
        "rpc_service": "S3",
        "http_response_status_code": "200",
        "otel_scope_name": "botocore_otel",
        "otel_scope_version": "0.1.0",
        "job": "naming",
        "instance": metrics_endpoint.target,
    }
    names = set(server.series_names())
    assert {
        "rpc_client_call_duration_seconds_bucket",
        "rpc_client_call_duration_seconds_sum",
        "rpc_client_call_duration_seconds_count",
        "botocore_otel_test_calls_total",
        "botocore_otel_test_sent_bytes_total",
        "botocore_otel_test_inflight",
        "target_info",
        "up",
    } <= names

    # histogram buckets: `le` keeps the exporter's float spelling
    buckets = server.query('rpc_client_call_duration_seconds_bucket{error_type=""}')
    by_le = {b["metric"]["le"]: b["value"] for b in buckets}
    assert by_le["0.1"] == 0 and by_le["0.25"] == 3 and by_le["+Inf"] == 3
    assert set(by_le) == {*(str(b) for b in BOUNDS), "+Inf"}
    (p50,) = server.query(
        'histogram_quantile(0.5, sum by (le) (rpc_client_call_duration_seconds_bucket{error_type=""}))'
    )
    assert 0.1 < p50["value"] <= 0.25
    # non-string attribute values are JSON-encoded
    (slow,) = server.query('rpc_client_call_duration_seconds_count{error_type="SlowDown"}')
    assert slow["metric"]["retried"] == "true"

    (calls,) = server.query("botocore_otel_test_calls_total")
    assert calls["value"] == 3
    (sent,) = server.query("botocore_otel_test_sent_bytes_total")
    assert (sent["value"], sent["metric"]["aws_region"]) == (512, "us-east-1")
    (inflight,) = server.query("botocore_otel_test_inflight")
    assert inflight["value"] == 2

    # resource attributes are not on the series, only on target_info
    (info,) = server.query("target_info")
    assert info["metric"]["service_name"] == "prom-test"
    assert info["metric"]["deployment_environment"] == "ci"
    assert "service_name" not in labels

    (up,) = server.query('up{job="naming"}')
    assert up["value"] == 1
    now = time.time()
    (series,) = server.query_range("botocore_otel_test_calls_total", now - 30, now, step=1)
    assert series["values"][-1][1] == 3


def test_shared_prometheus_follows_the_current_target(
    shared_prometheus: SharedPrometheus,
) -> None:
    endpoints = []
    try:
        for value in (1, 2):
            registry = CollectorRegistry()
            provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
            provider.get_meter("m").create_counter("relay.check").add(value)
            endpoints.append((serve_registry(registry), provider))

        shared_prometheus.scrape(endpoints[0][0].target)
        (first,) = shared_prometheus.wait_for("relay_check_total")
        assert first["value"] == 1
        assert first["metric"]["instance"] == shared_prometheus.instance
        assert first["metric"]["job"] == shared_prometheus.job

        shared_prometheus.scrape(endpoints[1][0].target)
        # the previous target's series went stale at that scrape: only the new value is left
        assert [s["value"] for s in shared_prometheus.query("relay_check_total")] == [2]

        shared_prometheus.scrape(None)
        assert shared_prometheus.query("relay_check_total") == []
    finally:
        for endpoint, provider in endpoints:
            endpoint.stop()
            provider.shutdown()


def test_missing_binary_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prom.shutil, "which", lambda _name: None)
    monkeypatch.setattr(prom.os, "access", lambda *_a: False)
    with pytest.raises(prom.PrometheusMissing, match=r"\.ci/install-system-deps"):
        prom.find_prometheus()


def test_only_loopback_targets_are_accepted() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        PrometheusServer(["10.1.2.3:9100"]).start()
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        prom.ScrapeRelay().set_upstream("http://192.168.0.1:9100/metrics")
