"""The offline demo: a small boto3 app under botocore-otel, every call answered by rules.

No AWS account and no network: clients point at a closed port on 127.0.0.1, so a call the
rules did not answer would fail at once instead of reaching AWS.
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TextIO

DEMO_RULES = "demo_rules.json"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _otlp_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def required_modules() -> tuple[str, ...]:
    """What the demo imports (the ``demo`` extra), so the CLI can name one that is missing."""
    otlp = ("opentelemetry.exporter.otlp.proto.http",) if _otlp_configured() else ()
    return ("boto3", "opentelemetry.sdk", *otlp)


@dataclass
class Telemetry:
    """The demo's OTel SDK: in memory for the table, plus OTLP when configured."""

    tracer_provider: Any
    meter_provider: Any
    spans: Any
    metrics: Any

    @classmethod
    def create(cls) -> Telemetry:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "botocore-otel-demo")}
        )
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        metrics = InMemoryMetricReader()
        readers: list[Any] = [metrics]
        if _otlp_configured():
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=5000))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        return cls(tracer_provider, meter_provider, spans, metrics)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def make_session(rules: Any, telemetry: Telemetry) -> Any:
    import boto3

    from botocore_otel import Instrumentor

    session = boto3.session.Session(
        aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1"
    )
    Instrumentor().instrument(
        session,
        synthetic=rules,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    return session


_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/demo"
_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def request_steps(key: str) -> list[tuple[str, str, dict[str, Any]]]:
    """What one request of the sample app does: ``(service, method, params)``."""
    item = {"id": {"S": key}}
    return [
        ("s3", "put_object", {"Bucket": "demo-bucket", "Key": key, "Body": b'{"order": 1}'}),
        ("s3", "get_object", {"Bucket": "demo-bucket", "Key": key}),
        ("s3", "list_objects_v2", {"Bucket": "demo-bucket", "Prefix": "orders/"}),
        ("dynamodb", "put_item", {"TableName": "orders", "Item": item}),
        ("dynamodb", "get_item", {"TableName": "orders", "Key": item}),
        (
            "dynamodb",
            "query",
            {
                "TableName": "orders",
                "KeyConditionExpression": "id = :id",
                "ExpressionAttributeValues": {":id": item["id"]},
            },
        ),
        ("sqs", "send_message", {"QueueUrl": _QUEUE, "MessageBody": "order"}),
        ("sqs", "receive_message", {"QueueUrl": _QUEUE}),
        ("sts", "get_caller_identity", {}),
        ("bedrock-runtime", "converse", _prompt(f"Summarize order {key}.")),
        ("bedrock-runtime", "converse_stream", _prompt(f"Draft a shipping note for order {key}.")),
    ]


def _prompt(text: str) -> dict[str, Any]:
    return {
        "modelId": _MODEL,
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.2},
    }


def run_app(session: Any, tracer: Any, iterations: int) -> int:
    """The sample application: each "request" touches S3, DynamoDB, SQS and STS, and asks a
    Bedrock model twice (Converse, and ConverseStream read to its end)."""
    from botocore.config import Config
    from botocore.exceptions import ClientError

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1)
    clients = {
        name: session.client(name, endpoint_url=endpoint, config=config)
        for name in ("s3", "dynamodb", "sqs", "sts", "bedrock-runtime")
    }
    failures = 0
    for index in range(iterations):
        with tracer.start_as_current_span("handle-request"):
            for service, method, params in request_steps(f"orders/{index % 7}.json"):
                try:
                    result = getattr(clients[service], method)(**params)
                    if "Body" in result:
                        result["Body"].read()
                    for _event in result.get("stream", ()):  # the span ends with the stream
                        pass
                except ClientError:
                    failures += 1  # injected errors that outlived their retries
    return failures


@dataclass
class Row:
    calls: int = 0
    errors: int = 0
    throttles: int = 0
    retries: int = 0
    durations_ms: list[float] = field(default_factory=list)
    input_tokens: int | None = None  # GenAI calls only (the spans' gen_ai.usage.*)
    output_tokens: int | None = None


def _points(reader: Any, name: str) -> Iterator[Any]:
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    yield from metric.data.data_points


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


_TOKENS = (("gen_ai.usage.input_tokens", "input_tokens"), ("gen_ai.usage.output_tokens", "output_tokens"))


def summarize(telemetry: Telemetry) -> dict[str, Row]:
    """Per ``Service.Operation``: counts from the metrics, percentiles from span durations."""
    rows: dict[str, Row] = defaultdict(Row)

    def key(attributes: Any) -> str:
        return f"{attributes['rpc.service']}.{attributes['rpc.method']}"

    for point in _points(telemetry.metrics, "rpc.client.call.duration"):
        rows[key(point.attributes)].calls += point.count
    for name, attr in (
        ("client.call.errors", "errors"),
        ("botocore_otel.throttles", "throttles"),
        ("botocore_otel.retries", "retries"),
    ):
        for point in _points(telemetry.metrics, name):
            row = rows[key(point.attributes)]
            setattr(row, attr, getattr(row, attr) + point.value)
    for span in telemetry.spans.get_finished_spans():
        if span.attributes.get("rpc.system") == "aws-api":
            row = rows[key(span.attributes)]
            row.durations_ms.append((span.end_time - span.start_time) / 1e6)
            for attribute, name in _TOKENS:
                if attribute in span.attributes:
                    setattr(row, name, (getattr(row, name) or 0) + span.attributes[attribute])
    return dict(sorted(rows.items()))


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def print_table(rows: dict[str, Row], out: TextIO) -> None:
    header = (
        f"{'operation':<32}{'calls':>7}{'errors':>8}{'throttles':>11}{'retries':>9}{'p50 ms':>9}"
        f"{'p95 ms':>9}{'in tokens':>11}{'out tokens':>12}"
    )
    out.write(header + "\n" + "-" * len(header) + "\n")
    for name, row in rows.items():
        out.write(
            f"{name:<32}{row.calls:>7}{row.errors:>8}{row.throttles:>11}{row.retries:>9}"
            f"{_percentile(row.durations_ms, 0.5):>9.1f}{_percentile(row.durations_ms, 0.95):>9.1f}"
            f"{_count(row.input_tokens):>11}{_count(row.output_tokens):>12}\n"
        )


def default_rules_path() -> str:
    return str(resources.files("botocore_otel").joinpath(DEMO_RULES))


def run(
    out: TextIO, iterations: int = 40, rules: str | None = None, loop: bool = False, pause_s: float = 0.5
) -> dict[str, Row]:
    telemetry = Telemetry.create()
    session = make_session(rules or default_rules_path(), telemetry)
    tracer = telemetry.tracer_provider.get_tracer("botocore_otel.demo")
    try:
        started = time.monotonic()
        failures = run_app(session, tracer, iterations)
        while loop:  # the deploy/ stack's traffic generator
            time.sleep(pause_s)
            failures += run_app(session, tracer, iterations)
            telemetry.spans.clear()
        rows = summarize(telemetry)
        out.write(
            f"botocore-otel demo: {sum(r.calls for r in rows.values())} AWS calls answered by synthetic "
            f"rules in {time.monotonic() - started:.1f} s, no network used "
            f"({failures} calls failed after retries, as the rules intend)\n\n"
        )
        print_table(rows, out)
        return rows
    finally:
        telemetry.shutdown()
