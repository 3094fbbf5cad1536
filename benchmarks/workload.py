"""One benchmark variant in its own process: the worker side of ``benchmarks/run.py``.

    python benchmarks/workload.py VARIANT

Reads one JSON command a line on stdin and answers one JSON line on stdout:

* ``{"cmd": "measure", "op": "GetItem", "n": 1000}`` -> ``{"cpu": seconds_per_call}``
* ``{"cmd": "rss", "n": 200000, "every": 20000}`` -> ``{"rss": [[calls, bytes, blocks], ...]}``
* ``{"cmd": "quit"}``

``python benchmarks/workload.py VARIANT --windows OP[,OP...] N`` is the callgrind side (see
``instructions.py``): after a short warm-up of those operations, one counted window of N calls
per operation.

The network is taken out: a ``before-send.<service>.<Operation>`` handler returns a fresh
``AWSResponse`` built from prebuilt bytes, so the client still serializes, signs and parses
for real. Every variant has the same OpenTelemetry SDK setup: a TracerProvider with a
BatchSpanProcessor to a no-op exporter and a MeterProvider with a
PeriodicExportingMetricReader to a no-op exporter.

Variants: ``bare`` (no instrumentation); botocore-otel with its defaults (``otel``), with
``metrics="all"`` (``-all``) and with ``metrics=False`` (``-nometrics``, a reference), each
recording or under ``ParentBased(TraceIdRatioBased(0))`` (``-unsampled``); ``otel-capacity``:
``metrics="rpc,capacity"`` with ``dynamodb_consumed_capacity=True``, recording (GetItem is
then answered with its ConsumedCapacity, as DynamoDB does when asked); the official package in
both sampling modes.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

VARIANTS = (
    "bare",
    "otel",
    "otel-all",
    "otel-nometrics",
    "otel-unsampled",
    "otel-unsampled-all",
    "otel-unsampled-nometrics",
    "otel-capacity",
    "official",
    "official-unsampled",
)
# Counted only when named (``instructions.py --variants otel-xray``): the X-Ray header in
# every SQS message (``sqs_aws_trace_header=True``), on top of the defaults. "-in-request": each
# call made while a request's span is current, as in a served application (``run.py`` counts
# these four in a full run). "otel-no-exemplars": the defaults under a MeterProvider that keeps
# no exemplar (``OTEL_METRICS_EXEMPLAR_FILTER=always_off``, which the workers' environment drops).
IN_REQUEST = "-in-request"
EXTRA_VARIANTS = (
    "otel-xray",
    "otel-no-exemplars",
    "otel-in-request",
    "otel-unsampled-in-request",
    "official-in-request",
    "official-unsampled-in-request",
)
OPERATIONS = ("GetItem", "GetObject", "SendMessage", "ListObjectsV2")
# Counted only when named (``instructions.py --ops SendMessageBatch,PublishBatch``): ten
# entries a batch; "WithAttributes": one message attribute of the caller's.
EXTRA_OPERATIONS = (
    "SendMessageBatch",
    "PublishBatch",
    "SendMessageWithAttributes",
    "Publish",
    "PublishWithAttributes",
)
# operation measured -> the API operation it calls
_API_OPERATIONS = {"SendMessageWithAttributes": "SendMessage", "PublishWithAttributes": "Publish"}
CALLER_ATTRIBUTES = {"kind": {"DataType": "String", "StringValue": "order"}}
BATCH_ENTRIES = 10


def official_counterpart(variant: str) -> str:
    """The official package's variant in the same sampling mode (and request), for ratios."""
    official = "official-unsampled" if "-unsampled" in variant else "official"
    return official + IN_REQUEST if variant.endswith(IN_REQUEST) else official


def worker_env() -> dict[str, str]:
    """The environment of every child process: no AWS or OTel configuration from outside, and a
    fixed hash seed: dict and set layouts, and so the counts, repeat from one run to the next.
    The seed is 0 unless ``PYTHONHASHSEED`` is set (other seeds move a call's count by a few
    thousand instructions)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OTEL_", "BOTOCORE_OTEL_", "PYTHONPROFILE"))
        and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    }
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"),
    )
    return env


REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret/EXAMPLE/key"}
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-queue"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:bench-topic"
BUCKET = "bench-bucket"
MESSAGE = "hello from the benchmark " * 8
# The measured calls' parameters (floors.py and handlers.py give handlers the same)
GET_ITEM_PARAMS = {"TableName": "bench", "Key": {"id": {"S": "item-1"}}}
SEND_MESSAGE_PARAMS = {"QueueUrl": QUEUE_URL, "MessageBody": MESSAGE}
REQUEST_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
OBJECT = bytes(range(256)) * 4  # 1 KiB
ITEM_BODY = b'{"Item":{"id":{"S":"item-1"},"payload":{"S":"' + b"x" * 64 + b'"},"count":{"N":"7"}}}'
# What DynamoDB answers when ReturnConsumedCapacity=TOTAL was asked (the otel-capacity variant).
ITEM_BODY_WITH_CAPACITY = ITEM_BODY[:-1] + b',"ConsumedCapacity":{"TableName":"bench","CapacityUnits":0.5}}'


class _Raw(io.BytesIO):
    """What botocore reads a response body from: ``read()`` and ``stream()``."""

    def stream(self, amt: int | None = 65536, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _list_body() -> bytes:
    contents = "".join(
        f"<Contents><Key>data/object-{i:02d}.json</Key>"
        "<LastModified>2026-01-02T03:04:05.000Z</LastModified>"
        f'<ETag>"{hashlib.md5(str(i).encode()).hexdigest()}"</ETag>'
        f"<Size>{1000 + i}</Size><StorageClass>STANDARD</StorageClass></Contents>"
        for i in range(10)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{BUCKET}</Name><Prefix>data/</Prefix><KeyCount>10</KeyCount>"
        f"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
    ).encode()


def _send_message_body() -> bytes:
    digest = hashlib.md5(MESSAGE.encode()).hexdigest()
    return json.dumps({"MD5OfMessageBody": digest, "MessageId": REQUEST_ID}).encode()


def _publish_body() -> bytes:
    return (
        '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
        f"<MessageId>{REQUEST_ID}</MessageId></PublishResult>"
        f"<ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></PublishResponse>"
    ).encode()


def _publish_batch_body() -> bytes:
    members = "".join(
        f"<member><Id>{i}</Id><MessageId>{REQUEST_ID[:-2]}{i:02d}</MessageId></member>"
        for i in range(BATCH_ENTRIES)
    )
    return (
        '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
        f"<Successful>{members}</Successful><Failed/></PublishBatchResult>"
        f"<ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></PublishBatchResponse>"
    ).encode()


def _send_message_batch_body() -> bytes:
    digest = hashlib.md5(MESSAGE.encode()).hexdigest()
    entries = [
        {"Id": str(i), "MD5OfMessageBody": digest, "MessageId": f"{REQUEST_ID[:-2]}{i:02d}"}
        for i in range(BATCH_ENTRIES)
    ]
    return json.dumps({"Successful": entries, "Failed": []}).encode()


# operation -> (service, status, headers, body)
_RESPONSES: dict[str, tuple[str, dict[str, str], bytes]] = {
    "GetItem": (
        "dynamodb",
        {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": REQUEST_ID},
        ITEM_BODY,
    ),
    "GetObject": (
        "s3",
        {
            "content-type": "application/octet-stream",
            "etag": f'"{hashlib.md5(OBJECT).hexdigest()}"',
            "last-modified": "Fri, 02 Jan 2026 03:04:05 GMT",
            "accept-ranges": "bytes",
            "x-amz-request-id": "4442587FB7D0A2F9",
            "x-amz-id-2": "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=",
        },
        OBJECT,
    ),
    "SendMessage": (
        "sqs",
        {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": REQUEST_ID},
        _send_message_body(),
    ),
    "SendMessageBatch": (
        "sqs",
        {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": REQUEST_ID},
        _send_message_batch_body(),
    ),
    "Publish": (
        "sns",
        {"content-type": "text/xml", "x-amzn-requestid": REQUEST_ID},
        _publish_body(),
    ),
    "PublishBatch": (
        "sns",
        {"content-type": "text/xml", "x-amzn-requestid": REQUEST_ID},
        _publish_batch_body(),
    ),
    "ListObjectsV2": (
        "s3",
        {
            "content-type": "application/xml",
            "x-amz-request-id": "4442587FB7D0A2F9",
            "x-amz-id-2": "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=",
        },
        _list_body(),
    ),
}


def _responder(operation: str, consumed_capacity: bool = False) -> Callable[..., Any]:
    from botocore.awsrequest import AWSResponse

    _, headers, body = _RESPONSES[operation]
    if consumed_capacity and operation == "GetItem":
        body = ITEM_BODY_WITH_CAPACITY
    headers = {**headers, "content-length": str(len(body))}

    def respond(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 200, headers, _Raw(body))

    return respond


def clients(
    operations: Sequence[str] = OPERATIONS,
    *,
    session: Any = None,
    message_attributes: dict[str, Any] | None = None,
    consumed_capacity: bool = False,
) -> dict[str, Callable[[], Any]]:
    """operation -> a function making one call, its response answered in-process, on clients of
    ``session`` or of a session of their own. ``message_attributes``: what SendMessage passes as
    ``MessageAttributes`` (floors.py); ``consumed_capacity``: GetItem answers with its units."""
    import boto3

    session = session or boto3.session.Session(region_name=REGION, **CREDENTIALS)
    apis = [_API_OPERATIONS.get(operation, operation) for operation in operations]
    services = {_RESPONSES[api][0] for api in apis}
    clients = {service: session.client(service) for service in sorted(services)}
    for api in dict.fromkeys(apis):
        client = clients[_RESPONSES[api][0]]
        event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{api}"
        client.meta.events.register(event, _responder(api, consumed_capacity))
    send_extra = {"MessageAttributes": message_attributes} if message_attributes else {}

    def get_item() -> Any:
        return clients["dynamodb"].get_item(**GET_ITEM_PARAMS)

    def get_object() -> Any:
        response = clients["s3"].get_object(Bucket=BUCKET, Key="data/object.bin")
        response["Body"].read()
        return response

    def send_message() -> Any:
        return clients["sqs"].send_message(**SEND_MESSAGE_PARAMS, **send_extra)

    def send_message_batch() -> Any:
        entries = [{"Id": str(i), "MessageBody": MESSAGE} for i in range(BATCH_ENTRIES)]
        return clients["sqs"].send_message_batch(QueueUrl=QUEUE_URL, Entries=entries)

    def send_message_with_attributes() -> Any:
        return clients["sqs"].send_message(
            QueueUrl=QUEUE_URL, MessageBody=MESSAGE, MessageAttributes=CALLER_ATTRIBUTES
        )

    def publish() -> Any:
        return clients["sns"].publish(TopicArn=TOPIC_ARN, Message=MESSAGE)

    def publish_with_attributes() -> Any:
        return clients["sns"].publish(
            TopicArn=TOPIC_ARN, Message=MESSAGE, MessageAttributes=CALLER_ATTRIBUTES
        )

    def publish_batch() -> Any:
        entries = [{"Id": str(i), "Message": MESSAGE} for i in range(BATCH_ENTRIES)]
        return clients["sns"].publish_batch(TopicArn=TOPIC_ARN, PublishBatchRequestEntries=entries)

    def list_objects() -> Any:
        return clients["s3"].list_objects_v2(Bucket=BUCKET, Prefix="data/")

    made = {
        "GetItem": get_item,
        "GetObject": get_object,
        "SendMessage": send_message,
        "SendMessageBatch": send_message_batch,
        "SendMessageWithAttributes": send_message_with_attributes,
        "Publish": publish,
        "PublishWithAttributes": publish_with_attributes,
        "PublishBatch": publish_batch,
        "ListObjectsV2": list_objects,
    }
    return {operation: made[operation] for operation in operations}


def sdk(sampled: bool, exemplars: bool = True) -> None:
    """The same SDK setup in every variant, set as the global providers."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        MetricsData,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

    class NoopSpanExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class NoopMetricExporter(MetricExporter):
        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    sampler = ParentBased(ALWAYS_ON if sampled else TraceIdRatioBased(0.0))
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(NoopMetricExporter())
    if exemplars:
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    else:
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter

        metrics.set_meter_provider(
            MeterProvider(metric_readers=[reader], exemplar_filter=AlwaysOffExemplarFilter())
        )


def call_span_shapes(operations: Sequence[str] = OPERATIONS) -> dict[str, tuple[str, Any, dict[str, Any]]]:
    """operation -> (name, kind, attributes) of the span botocore-otel makes for it, captured
    on clients and a tracer provider of their own."""
    import boto3
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botocore_otel import Instrumentor

    exporter = InMemorySpanExporter()
    capture_provider = TracerProvider()
    capture_provider.add_span_processor(SimpleSpanProcessor(exporter))
    session = boto3.session.Session(region_name=REGION, **CREDENTIALS)
    instrumentor = Instrumentor()
    instrumentor.instrument(session._session, tracer_provider=capture_provider, metrics=False)
    try:
        for call in clients(operations, session=session).values():
            call()
    finally:
        instrumentor.uninstrument(session._session)
    spans = exporter.get_finished_spans()
    assert len(spans) == len(operations), [span.name for span in spans]
    return {
        operation: (span.name, span.kind, dict(span.attributes or {}))
        for operation, span in zip(operations, spans, strict=True)
    }


def setup(variant: str, operations: Sequence[str] = OPERATIONS) -> dict[str, Callable[[], Any]]:
    if variant not in VARIANTS + EXTRA_VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}: one of {', '.join(VARIANTS + EXTRA_VARIANTS)}")
    sdk(sampled="-unsampled" not in variant, exemplars=variant != "otel-no-exemplars")
    if variant.endswith(IN_REQUEST):
        from opentelemetry import context, trace

        # sampled or not as a request's span is by the same sampler; current for the whole run
        request = trace.get_tracer("benchmark").start_span("GET /orders", kind=trace.SpanKind.SERVER)
        context.attach(trace.set_span_in_context(request))
        variant = variant.removesuffix(IN_REQUEST)
    if variant.startswith("otel"):
        from botocore_otel import Instrumentor

        options: dict[str, Any] = {}  # the defaults: nothing passed
        if variant.endswith("-all"):
            options["metrics"] = "all"
        elif variant.endswith("-nometrics"):
            options["metrics"] = False
        elif variant.endswith("-capacity"):
            options.update(metrics="rpc,capacity", dynamodb_consumed_capacity=True)
        elif variant.endswith("-xray"):
            options["sqs_aws_trace_header"] = True
        Instrumentor().instrument(**options)
    elif variant.startswith("official"):
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        BotocoreInstrumentor().instrument()  # type: ignore[no-untyped-call]
    return clients(operations, consumed_capacity=variant.endswith("-capacity"))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure(call: Callable[[], Any], n: int) -> float:
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n


_FLUSH_EVERY = 1_000  # calls: well under the span queue's 2,048


def _rss_run(calls: dict[str, Callable[[], Any]], n: int, every: int) -> list[tuple[int, int, int]]:
    """(calls, RSS, allocated memory blocks) every ``every`` calls, cycling through the operations.

    ``sys.getallocatedblocks()`` counts every live object's memory blocks, strings included: a
    leak of Python objects shows there whatever the allocator does with RSS (fragmentation).
    Finished spans waiting in the BatchSpanProcessor's queue (up to 2,048) are exported before
    each point: how full the queue happens to be is not a leak. They are also exported every
    ``_FLUSH_EVERY`` calls: at thousands of calls a second the export thread falls behind,
    and a full queue drops spans, which would then be missing from what is measured.
    """
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", lambda: True)
    cycle = list(calls.values())
    flush()
    gc.collect()
    points = [(0, _rss_bytes(), sys.getallocatedblocks())]
    done = 0
    while done < n:
        for round_ in range(1, every // len(cycle) + 1):
            for call in cycle:
                call()
            if round_ * len(cycle) % _FLUSH_EVERY < len(cycle):
                flush()
        done += (every // len(cycle)) * len(cycle)
        flush()
        gc.collect()
        points.append((done, _rss_bytes(), sys.getallocatedblocks()))
    return points


def main(argv: list[str]) -> None:
    variant = argv[1] if len(argv) > 1 else ""
    if len(argv) == 5 and argv[2] == "--windows":  # python workload.py VARIANT --windows OPS N
        import instructions

        instructions.count_windows(setup(variant, argv[3].split(",")), int(argv[4]))
        return
    calls = setup(variant)
    for call in calls.values():  # warm up: caches, lazily loaded models, SDK internals
        for _ in range(200):
            call()
    out = sys.stdout
    out.write(json.dumps({"ready": variant}) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "measure":
            answer: dict[str, Any] = {"cpu": _measure(calls[command["op"]], command["n"])}
        elif command["cmd"] == "rss":
            answer = {"rss": _rss_run(calls, command["n"], command["every"])}
        elif command["cmd"] == "quit":
            break
        else:
            answer = {"error": f"unknown command {command['cmd']!r}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv)
