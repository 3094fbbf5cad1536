"""The OTLP receiver: what the real SDK OTLP/HTTP exporters send arrives decoded."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.support.otlp_receiver import OTLPReceiver

RESOURCE = Resource.create({"service.name": "otlp-receiver-test", "deployment.environment": "ci"})


def _tracer_provider(exporter: OTLPSpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_sdk_span_exporter_spans_arrive_decoded(otlp_receiver: OTLPReceiver) -> None:
    assert otlp_receiver.endpoint.startswith("http://127.0.0.1:")
    provider = _tracer_provider(OTLPSpanExporter(endpoint=otlp_receiver.traces_endpoint))
    tracer = provider.get_tracer("receiver.test", "1.2.3")
    child_attributes = {
        "rpc.system": "aws-api",
        "server.port": 4566,
        "ratio": 0.5,
        "ok": True,
        "tags": ["a", "b"],
    }
    with (
        tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent,
        tracer.start_as_current_span(
            "S3.GetObject", kind=SpanKind.CLIENT, attributes=child_attributes
        ) as child,
    ):
        child.add_event("exception", {"exception.type": "NoSuchKey"})
        child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()

    spans = otlp_receiver.wait_for_spans(2)
    by_name = {s["name"]: s for s in spans}
    p, c = by_name["parent"], by_name["S3.GetObject"]
    ctx = child.get_span_context()
    assert c["trace_id"] == f"{ctx.trace_id:032x}"
    assert c["span_id"] == f"{ctx.span_id:016x}"
    assert c["parent_span_id"] == p["span_id"] == f"{parent.get_span_context().span_id:016x}"
    assert p["parent_span_id"] == ""
    assert (c["kind"], p["kind"]) == (SpanKind.CLIENT.name, SpanKind.SERVER.name)
    assert c["attributes"] == {
        "rpc.system": "aws-api",
        "server.port": 4566,
        "ratio": 0.5,
        "ok": True,
        "tags": ["a", "b"],
    }
    assert c["events"][0]["name"] == "exception"
    assert c["events"][0]["attributes"] == {"exception.type": "NoSuchKey"}
    assert (c["status_code"], c["status_message"]) == ("ERROR", "boom")
    assert p["status_code"] == "UNSET"
    assert c["resource"]["service.name"] == "otlp-receiver-test"
    assert (c["scope_name"], c["scope_version"]) == ("receiver.test", "1.2.3")
    assert c["end_time_unix_nano"] >= c["start_time_unix_nano"] > 0
    assert otlp_receiver.spans("parent") == [p]


def test_gzip_exports_are_decoded(otlp_receiver: OTLPReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=otlp_receiver.traces_endpoint, compression=Compression.Gzip)
    provider = _tracer_provider(exporter)
    provider.get_tracer("gz").start_span("zipped").end()
    provider.shutdown()

    (span,) = otlp_receiver.wait_for_spans(lambda s: s["name"] == "zipped")
    assert span["scope_name"] == "gz"
    (req,) = otlp_receiver.requests()
    assert req.headers["content-encoding"] == "gzip"
    assert req.headers["content-type"] == "application/x-protobuf"
    assert (req.path, req.status) == ("/v1/traces", 200)


def test_sdk_metric_exporter_metrics_arrive_decoded(otlp_receiver: OTLPReceiver) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=otlp_receiver.metrics_endpoint),
        export_interval_millis=60_000,
    )
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("botocore_otel", "0.1.0")
    hist = meter.create_histogram(
        "rpc.client.call.duration",
        unit="s",
        explicit_bucket_boundaries_advisory=[0.01, 0.1, 1.0],
    )
    counter = meter.create_counter("botocore.otel.test.calls", unit="{call}")
    attrs = {"rpc.system": "aws-api", "rpc.service": "S3"}
    for value in (0.005, 0.05, 0.05, 2.0):
        hist.record(value, attrs)
    counter.add(3, attrs)
    counter.add(1, {"rpc.system": "aws-api", "rpc.service": "SQS"})
    provider.force_flush()

    h = otlp_receiver.wait_for_metric("rpc.client.call.duration")
    assert (h["type"], h["unit"], h["temporality"]) == ("histogram", "s", "CUMULATIVE")
    (point,) = h["data_points"]
    assert point["attributes"] == attrs
    assert point["count"] == 4
    assert point["sum"] == pytest.approx(2.105)
    assert point["explicit_bounds"] == [0.01, 0.1, 1.0]
    assert point["bucket_counts"] == [1, 2, 0, 1]
    assert (point["min"], point["max"]) == (0.005, 2.0)

    c = otlp_receiver.last_metric("botocore.otel.test.calls")
    assert c is not None
    assert (c["type"], c["is_monotonic"], c["unit"]) == ("sum", True, "{call}")
    values = {p["attributes"]["rpc.service"]: p["value"] for p in c["data_points"]}
    assert values == {"S3": 3, "SQS": 1}
    assert c["resource"]["service.name"] == "otlp-receiver-test"
    assert c["scope_name"] == "botocore_otel"
    provider.shutdown()


def test_logs_arrive_decoded(otlp_receiver: OTLPReceiver) -> None:
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=otlp_receiver.logs_endpoint))
    )
    provider.get_logger("otlp-receiver-test").emit(
        LogRecord(
            body="hello receiver",
            severity_text="WARN",
            severity_number=SeverityNumber.WARN,
            attributes={"aws.request_id": "r-1"},
        )
    )
    provider.shutdown()

    (log,) = otlp_receiver.wait_for_logs(1)
    assert log["body"] == "hello receiver"
    assert (log["severity_text"], log["severity_number"]) == ("WARN", SeverityNumber.WARN.value)
    assert log["attributes"] == {"aws.request_id": "r-1"}
    assert log["resource"]["service.name"] == "otlp-receiver-test"
    assert log["scope_name"] == "otlp-receiver-test"


def test_forced_failures_and_clear(otlp_receiver: OTLPReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=otlp_receiver.traces_endpoint)
    provider = TracerProvider(resource=RESOURCE)
    tracer = provider.get_tracer("t")
    otlp_receiver.fail_next(1, status=400)  # 400 is not retried by the exporter
    span = tracer.start_span("dropped")
    span.end()
    assert exporter.export([span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert otlp_receiver.spans() == []
    assert [r.status for r in otlp_receiver.requests()] == [400]

    kept = tracer.start_span("kept")
    kept.end()
    assert exporter.export([kept]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
    assert [s["name"] for s in otlp_receiver.spans()] == ["kept"]
    exporter.shutdown()

    otlp_receiver.clear()
    assert otlp_receiver.spans() == [] and otlp_receiver.requests() == []
    with pytest.raises(AssertionError, match="timed out"):
        otlp_receiver.wait_for_spans(1, timeout=0.2)


def test_chunked_deflate_and_bad_requests(otlp_receiver: OTLPReceiver) -> None:
    import http.client
    import zlib

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    req = trace_service_pb2.ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.name, span.trace_id, span.span_id = "raw", b"\x01" * 16, b"\x02" * 8
    span.kind = trace_pb2.Span.SPAN_KIND_PRODUCER
    body = zlib.compress(req.SerializeToString())

    def post(path: str, data: bytes, headers: dict[str, str], chunked: bool = False) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", otlp_receiver.port, timeout=10)
        try:
            chunks = iter([data[:5], data[5:]]) if chunked else data
            conn.request("POST", path, body=chunks, headers=headers, encode_chunked=chunked)
            return conn.getresponse().status
        finally:
            conn.close()

    proto = {"Content-Type": "application/x-protobuf"}
    assert post("/v1/traces", body, {**proto, "Content-Encoding": "deflate"}, chunked=True) == 200
    (got,) = otlp_receiver.spans()
    assert (got["name"], got["kind"], got["trace_id"]) == ("raw", "PRODUCER", "01" * 16)
    assert post("/v1/nope", body, proto) == 404
    assert post("/v1/traces", b"{}", {"Content-Type": "application/json"}) == 415
    assert post("/v1/traces", b"\xff\xff\xff", proto) == 400
    assert len(otlp_receiver.spans()) == 1
