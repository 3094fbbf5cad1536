"""Faults in the telemetry pipeline never change what an AWS call returns.

Each test breaks one part (exporter, meter, propagator, hooks, span processor, clock,
tracer), runs the same live calls against the moto server with and without botocore-otel,
and checks that:

* every call returns (or raises) exactly what it does without botocore-otel;
* botocore-otel logs the fault once, not once per call;
* no span is left open.
"""

from __future__ import annotations

import datetime
import gc
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import ClientError
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, NoOpMeter
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer, Tracer

import botocore_otel.lifecycle as lifecycle
from botocore_otel import errors as botocore_otel_errors
from botocore_otel.instrumentor import Instrumentor
from telemetry import call_spans
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.timeout(180)

Outcome = tuple[Any, ...]


# --------------------------------------------------------------------------- the calls
_LOADER = botocore.loaders.create_loader()  # models parsed once for every session below


def new_session() -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core)


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "ResponseMetadata":
                item = {k: item.get(k) for k in ("HTTPStatusCode", "RetryAttempts")}
            out[key] = _normalize(item)
        return out
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    if hasattr(value, "read") and hasattr(value, "close"):  # StreamingBody
        return value.read()
    if isinstance(value, datetime.datetime):
        return "<datetime>"
    return value


def _call(fn: Callable[..., Any], **kwargs: Any) -> Outcome:
    try:
        return ("ok", _normalize(fn(**kwargs)))
    except ClientError as error:
        meta = error.response.get("ResponseMetadata", {})
        return (
            "error",
            type(error).__name__,
            error.response.get("Error", {}).get("Code"),
            meta.get("HTTPStatusCode"),
            str(error),
        )
    except Exception as error:
        return ("raised", type(error).__name__, str(error))


def scenario(server: MotoServer, session: boto3.session.Session) -> list[Outcome]:
    """Fifteen calls over four protocols, successes and errors, from a clean server."""
    server.reset()
    sqs = server.client("sqs", session=session)
    s3 = server.client("s3", session=session)
    ddb = server.client("dynamodb", session=session)
    sts = server.client("sts", session=session)
    results = [_call(sqs.create_queue, QueueName="faults")]
    url = results[0][1]["QueueUrl"] if results[0][0] == "ok" else "missing"
    results += [
        _call(sqs.send_message, QueueUrl=url, MessageBody="hello"),
        _call(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0),
        _call(sqs.get_queue_url, QueueName="no-such-queue"),
        _call(s3.create_bucket, Bucket="faults"),
        _call(s3.put_object, Bucket="faults", Key="k", Body=b"payload"),
        _call(s3.get_object, Bucket="faults", Key="k"),
        _call(s3.head_object, Bucket="faults", Key="missing"),
        _call(s3.list_objects_v2, Bucket="faults"),
        _call(
            ddb.create_table,
            TableName="faults",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        _call(ddb.put_item, TableName="faults", Item={"pk": {"S": "a"}, "v": {"N": "1"}}),
        _call(ddb.get_item, TableName="faults", Key={"pk": {"S": "a"}}),
        _call(ddb.describe_table, TableName="no-such-table"),
        _call(sts.get_caller_identity),
        _call(sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds="soon"),  # invalid
    ]
    return results


CALLS_ON_THE_WIRE = 14  # the last call fails parameter validation before the wire


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out or {prefix: {}}
    if isinstance(value, (list, tuple)):
        out = {f"{prefix}#len": len(value)}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _differences(a: Any, b: Any) -> set[str]:
    fa, fb = _flatten(a), _flatten(b)
    return {key for key in fa.keys() | fb.keys() if fa.get(key, KeyError) != fb.get(key, KeyError)}


@pytest.fixture(scope="module")
def baseline(moto_server: MotoServer) -> tuple[list[Outcome], set[str]]:
    """The calls' results without botocore-otel, and what differs from run to run anyway
    (message ids, receipt handles): two plain runs."""
    first = scenario(moto_server, new_session())
    second = scenario(moto_server, new_session())
    return first, _differences(first, second)


# SQS payload propagation puts trace context in a message attribute: SendMessage then also
# reports the attributes' MD5. And (payload.py asks for those attributes on ReceiveMessage
# and leaves them in the result, see test_receive_message_result_is_unchanged) received
# messages carry them. Nothing else may differ.
_PAYLOAD_ARTIFACT = re.compile(
    r"^\[\d+\]\[1\]\.(MD5OfMessageAttributes"
    r"|Messages\[\d+\]\.(MD5OfMessageAttributes|MessageAttributes(#len)?"
    r"|MessageAttributes\.[\w.-]+\.\w+))$"
)


def assert_same_results(baseline: tuple[list[Outcome], set[str]], results: Sequence[Outcome]) -> None:
    expected, noise = baseline
    assert len(results) == len(expected)
    flat = _flatten(expected)
    differing = {
        key
        for key in _differences(expected, list(results)) - noise
        if not (key not in flat and _PAYLOAD_ARTIFACT.search(key))
    }
    assert not differing, {
        key: (_flatten(expected).get(key), _flatten(list(results)).get(key)) for key in sorted(differing)
    }


# --------------------------------------------------------------------------- telemetry parts
class SpanLedger(SpanProcessor):
    """Counts spans started and ended (add it before a processor that raises)."""

    def __init__(self) -> None:
        self.started: dict[int, str] = {}
        self.ended: set[int] = set()
        self.finished: list[ReadableSpan] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started[span.get_span_context().span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.ended.add(span.context.span_id)
        self.finished.append(span)

    def open_spans(self) -> list[str]:
        gc.collect()
        return [name for span_id, name in self.started.items() if span_id not in self.ended]


class RaisingProcessor(SpanProcessor):
    def __init__(self, *, on_start: bool = False, on_end: bool = False) -> None:
        self.raise_on_start = on_start
        self.raise_on_end = on_end

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.raise_on_start:
            raise RuntimeError("span processor on_start is broken")

    def on_end(self, span: ReadableSpan) -> None:
        if self.raise_on_end:
            raise RuntimeError("span processor on_end is broken")


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise ConnectionError("collector is down")

    def shutdown(self) -> None:
        pass


class HangingExporter(SpanExporter):
    """``export`` blocks until released (a collector that accepts and never answers)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(60)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class _RaisingInstrument:
    def __init__(self, name: str) -> None:
        self.name = name

    def record(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{self.name}.record is broken")

    def add(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{self.name}.add is broken")


class RaisingMeter(NoOpMeter):
    """A meter whose instruments raise when used, or (``on_create``) when created.

    ``only="observable"`` breaks only the observable instruments (botocore-otel's counters),
    so that their creation is reached at all. The callbacks of the observable counters are
    kept, for the test to call as a reader would.
    """

    def __init__(self, *, on_create: bool, only: str | None = None) -> None:
        super().__init__("broken")
        self.on_create = on_create
        self.only = only
        self.observed: dict[str, list[Callable[..., Any]]] = {}

    def _instrument(self, name: str) -> Any:
        if self.on_create:
            raise RuntimeError(f"cannot create {name}")
        return _RaisingInstrument(name)

    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.only == "observable":
            return super().create_histogram(name, *args, **kwargs)
        return self._instrument(name)

    def create_counter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.only == "observable":
            return super().create_counter(name, *args, **kwargs)
        return self._instrument(name)

    def create_up_down_counter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.only == "observable":
            return super().create_up_down_counter(name, *args, **kwargs)
        return self._instrument(name)

    def create_observable_counter(self, name: str, callbacks: Any = None, *args: Any, **kwargs: Any) -> Any:
        if self.on_create:
            raise RuntimeError(f"cannot create {name}")
        self.observed[name] = list(callbacks or ())
        return super().create_observable_counter(name, callbacks, *args, **kwargs)


class RaisingMeterProvider(MeterProvider):
    def __init__(self, *, on_create: bool = False, only: str | None = None) -> None:
        self.on_create = on_create
        self.only = only
        self.meters: list[RaisingMeter] = []

    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> Meter:
        meter = RaisingMeter(on_create=self.on_create, only=self.only)
        self.meters.append(meter)
        return meter


class RaisingPropagator(TextMapPropagator):
    def extract(self, carrier: Any, context: Context | None = None, getter: Any = None) -> Context:
        raise RuntimeError("propagator extract is broken")

    def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
        raise RuntimeError("propagator inject is broken")

    @property
    def fields(self) -> set[str]:
        return {"x-broken"}


class RaisingTracerProvider(TracerProvider):
    """An SDK provider whose tracers cannot start a span."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
        class Broken(NoOpTracer):
            def start_span(self, *a: Any, **k: Any) -> Any:
                raise RuntimeError("start_span is broken")

            def start_as_current_span(self, *a: Any, **k: Any) -> Any:
                raise RuntimeError("start_as_current_span is broken")

        return Broken()


# --------------------------------------------------------------------------- harness
@pytest.fixture
def ours(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The warnings and errors botocore-otel logged in this test (failsafe memory reset)."""
    monkeypatch.setattr(botocore_otel_errors, "_last_reported", {})
    caplog.set_level(logging.WARNING, logger="botocore_otel")

    def records() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name.startswith("botocore_otel") and r.levelno >= logging.WARNING
        ]

    return records


def run_with(server: MotoServer, runs: int = 2, **options: Any) -> list[list[Outcome]]:
    """The scenario ``runs`` times on a session instrumented with ``options``."""
    session = new_session()
    instrumentor = Instrumentor()
    instrumentor.instrument(session, **options)
    try:
        return [scenario(server, session) for _ in range(runs)]
    finally:
        instrumentor.uninstrument(session)


def assert_logged_once(messages: list[str], *wheres: str) -> None:
    """Each fault is reported once however many calls hit it (2 runs x 14 calls here)."""
    assert messages, "the fault was not logged"
    assert len(messages) == len(set(messages)), messages
    assert len(messages) <= 4, messages
    for where in wheres:
        assert sum(where in message for message in messages) == 1, (where, messages)


def tracer_provider(*processors: SpanProcessor) -> TracerProvider:
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


# --------------------------------------------------------------------------- tests
def test_baseline_is_stable_and_instrumentation_is_transparent(
    moto_server: MotoServer, baseline: tuple[list[Outcome], set[str]], ours: Callable[[], list[str]]
) -> None:
    expected, noise = baseline
    assert [r[0] for r in expected].count("ok") == 11
    assert all(n.startswith(("[1]", "[2]", "[14]")) for n in noise), noise  # SQS ids only
    ledger = SpanLedger()
    for results in run_with(moto_server, tracer_provider=tracer_provider(ledger), attempt_spans=True):
        assert_same_results(baseline, results)
    assert ours() == []
    assert ledger.open_spans() == []
    assert len(call_spans(ledger.finished)) >= 2 * CALLS_ON_THE_WIRE


def test_exporter_raising_with_simple_processor(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger, exporter = SpanLedger(), RaisingExporter()
    provider = tracer_provider(ledger, SimpleSpanProcessor(exporter))
    for results in run_with(moto_server, tracer_provider=provider):
        assert_same_results(baseline, results)
    assert exporter.calls >= 2 * CALLS_ON_THE_WIRE
    # The SDK's processor catches the exporter's error and logs it itself: nothing reaches
    # botocore-otel's code, so botocore-otel has nothing to log.
    assert ours() == []
    assert any("Exception while exporting" in r.getMessage() for r in caplog.records)
    assert ledger.open_spans() == []


def test_exporter_hanging_with_batch_processor(
    moto_server: MotoServer, baseline: tuple[list[Outcome], set[str]], ours: Callable[[], list[str]]
) -> None:
    ledger, exporter = SpanLedger(), HangingExporter()
    batch = BatchSpanProcessor(exporter, max_queue_size=4, max_export_batch_size=2, schedule_delay_millis=1)
    provider = tracer_provider(ledger, batch)
    plain_started = time.monotonic()
    scenario(moto_server, new_session())
    plain_s = time.monotonic() - plain_started
    try:
        started = time.monotonic()
        for results in run_with(moto_server, runs=3, tracer_provider=provider, attempt_spans=True):
            assert_same_results(baseline, results)
        elapsed = (time.monotonic() - started) / 3
        assert exporter.entered.is_set(), "the exporter was never called: the test proves nothing"
        # The worker thread is stuck in export and the queue is full: calls do not wait.
        assert elapsed < plain_s * 3 + 2.0, (elapsed, plain_s)
        assert ours() == []
        assert ledger.open_spans() == []
    finally:
        exporter.release.set()
        provider.shutdown()


@pytest.mark.parametrize(
    ("on_create", "only"),
    [(False, None), (True, None), (True, "observable")],
    ids=["instruments-raise", "creation-raises", "counter-creation-raises"],
)
def test_meter_raising(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
    on_create: bool,
    only: str | None,
) -> None:
    ledger = SpanLedger()
    meter_provider = RaisingMeterProvider(on_create=on_create, only=only)
    runs = run_with(moto_server, tracer_provider=tracer_provider(ledger), meter_provider=meter_provider)
    for results in runs:
        assert_same_results(baseline, results)
    assert_logged_once(ours())
    assert ledger.open_spans() == []
    # Tracing carries on without metrics.
    assert len(call_spans(ledger.finished)) >= 2 * CALLS_ON_THE_WIRE
    if not on_create:  # the counters were created; a reader's collection of them works
        observed = {name: cbs for meter in meter_provider.meters for name, cbs in meter.observed.items()}
        assert "client.call.attempts" in observed, observed
        for callbacks in observed.values():
            for callback in callbacks:
                list(callback(CallbackOptions()))


def test_propagator_raising(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
) -> None:
    ledger = SpanLedger()
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(RaisingPropagator())
    try:
        for results in run_with(moto_server, tracer_provider=tracer_provider(ledger)):
            assert_same_results(baseline, results)
        recorded = moto_server.recorded_requests()
    finally:
        propagate.set_global_textmap(previous)
    assert_logged_once(ours())
    assert ledger.open_spans() == []
    # The X-Ray header does not depend on the global propagator: it still goes out.
    assert recorded and all("X-Amzn-Trace-Id" in r.headers for r in recorded)


def test_hooks_raising(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
) -> None:
    def request_hook(*args: Any) -> None:
        raise KeyError("request hook is broken")

    def response_hook(*args: Any) -> None:
        raise ValueError("response hook is broken")

    ledger = SpanLedger()
    runs = run_with(
        moto_server,
        tracer_provider=tracer_provider(ledger),
        request_hook=request_hook,
        response_hook=response_hook,
    )
    for results in runs:
        assert_same_results(baseline, results)
    assert_logged_once(ours(), "request_hook", "response_hook")
    assert ledger.open_spans() == []


@pytest.mark.parametrize("where", ["on_start", "on_end"])
def test_span_processor_raising(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
    where: str,
) -> None:
    ledger = SpanLedger()
    reader = InMemoryMetricReader()
    raising = RaisingProcessor(**{where: True})
    # on_start: the raising processor goes first (the SDK never hands the span back, so a
    # processor after it never sees the start either); on_end: the ledger goes first.
    processors = (raising, ledger) if where == "on_start" else (ledger, raising)
    runs = run_with(
        moto_server,
        tracer_provider=tracer_provider(*processors),
        meter_provider=SdkMeterProvider(metric_readers=[reader]),
        attempt_spans=True,
    )
    for results in runs:
        assert_same_results(baseline, results)
    assert_logged_once(ours())
    assert ledger.open_spans() == []
    # Metrics do not depend on tracing working.
    assert _histogram_count(reader, "rpc.client.call.duration") == 2 * CALLS_ON_THE_WIRE


def test_tracer_start_span_raising(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
) -> None:
    reader = InMemoryMetricReader()
    runs = run_with(
        moto_server,
        tracer_provider=RaisingTracerProvider(),
        meter_provider=SdkMeterProvider(metric_readers=[reader]),
    )
    for results in runs:
        assert_same_results(baseline, results)
    assert_logged_once(ours())
    assert _histogram_count(reader, "rpc.client.call.duration") == 2 * CALLS_ON_THE_WIRE


def test_clock_going_backwards(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NTP steps the wall clock back: durations are clamped at zero, never negative."""
    now = [time.time_ns()]
    lock = threading.Lock()

    def backwards() -> int:
        with lock:
            now[0] -= 7_000_000  # every reading 7 ms earlier than the one before
            return now[0]

    monkeypatch.setattr(lifecycle, "_time_ns", backwards)
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    runs = run_with(
        moto_server,
        tracer_provider=tracer_provider(SimpleSpanProcessor(exporter)),
        meter_provider=SdkMeterProvider(metric_readers=[reader]),
        attempt_spans=True,
        metrics="all",
    )
    for results in runs:
        assert_same_results(baseline, results)
    assert ours() == []
    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        assert span.start_time is not None and span.end_time is not None
        assert span.end_time >= span.start_time, span.name
    data = reader.get_metrics_data()
    assert data is not None
    seen = set()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    if hasattr(point, "min"):
                        seen.add(metric.name)
                        assert point.min >= 0, metric.name
    assert _histogram_count(reader, "rpc.client.call.duration") == 2 * CALLS_ON_THE_WIRE
    assert _histogram_count(reader, "client.call.attempt_duration") == 2 * CALLS_ON_THE_WIRE
    assert {"rpc.client.call.duration", "client.call.attempt_duration"} <= seen


def test_everything_broken_at_once(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def hook(*args: Any) -> None:
        raise RuntimeError("hook")

    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(RaisingPropagator())
    monkeypatch.setattr(lifecycle, "_time_ns", lambda: 5)
    ledger = SpanLedger()
    try:
        runs = run_with(
            moto_server,
            tracer_provider=tracer_provider(ledger, RaisingProcessor(on_end=True)),
            meter_provider=RaisingMeterProvider(),
            request_hook=hook,
            response_hook=hook,
            attempt_spans=True,
            baggage=True,
        )
    finally:
        propagate.set_global_textmap(previous)
    for results in runs:
        assert_same_results(baseline, results)
    messages = ours()
    assert messages and len(messages) == len(set(messages)) and len(messages) < 10, messages
    assert ledger.open_spans() == []


def _histogram_count(reader: InMemoryMetricReader, name: str) -> int:
    data = reader.get_metrics_data()
    total = 0
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    total += sum(point.count for point in metric.data.data_points)
    return total


class OddValuePropagator(TextMapPropagator):
    """Writes values http.client cannot send: a line break, a non-str, non-ASCII."""

    def extract(self, carrier: Any, context: Context | None = None, getter: Any = None) -> Context:
        return context or Context()

    def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
        carrier["x-split"] = "a\r\nInjected: yes"
        carrier["x-number"] = 42
        carrier["x-accent"] = "caf\u00e9-\u2603"
        carrier["bad name"] = "v"
        carrier["x-fine"] = "ok"

    @property
    def fields(self) -> set[str]:
        return {"x-split", "x-number", "x-accent", "bad name", "x-fine"}


def test_propagator_writing_unsendable_values(
    moto_server: MotoServer,
    baseline: tuple[list[Outcome], set[str]],
    ours: Callable[[], list[str]],
) -> None:
    """A header with a line break or a non-ASCII value makes http.client refuse the send:
    such values are dropped, the sendable ones still go out."""
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(OddValuePropagator())
    try:
        for results in run_with(moto_server, tracer_provider=tracer_provider()):
            assert_same_results(baseline, results)
        recorded = moto_server.recorded_requests()
    finally:
        propagate.set_global_textmap(previous)
    # Header injection and payload propagation drop them silently.
    assert ours() == []
    assert recorded and all(r.headers.get("X-Fine") == "ok" for r in recorded)
    for name in ("X-Split", "Injected", "X-Number", "X-Accent"):
        assert not any(name in r.headers for r in recorded), name


def test_cross_region_presign_deep_copies_the_call_context(
    moto_server: MotoServer, ours: Callable[[], list[str]]
) -> None:
    """botocore deep-copies the request dict, call context included, to presign the
    source-region URL of RDS/DocDB/Neptune ``SourceRegion`` calls and EC2 CopySnapshot.
    The call state kept in that context used to make ``copy.deepcopy`` raise TypeError,
    failing the user's call (found by botocore's own tests/functional/test_rds.py)."""

    def calls(session: boto3.session.Session) -> list[Outcome]:
        moto_server.reset()
        rds = moto_server.client("rds", session=session)
        ec2 = moto_server.client("ec2", session=session)
        docdb = moto_server.client("docdb", session=session)
        source = "arn:aws:rds:us-west-2:123456789012:snapshot:snap"
        return [
            _call(
                rds.copy_db_snapshot,
                SourceDBSnapshotIdentifier=source,
                TargetDBSnapshotIdentifier="copy",
                SourceRegion="us-west-2",
            ),
            _call(ec2.copy_snapshot, SourceSnapshotId="snap-12345678", SourceRegion="us-west-2"),
            _call(
                docdb.copy_db_cluster_snapshot,
                SourceDBClusterSnapshotIdentifier=source,
                TargetDBClusterSnapshotIdentifier="copy",
                SourceRegion="us-west-2",
            ),
        ]

    plain = calls(new_session())
    session = new_session()
    ledger = SpanLedger()
    Instrumentor().instrument(session, tracer_provider=tracer_provider(ledger))
    try:
        instrumented = calls(session)
        recorded = moto_server.recorded_requests()
    finally:
        Instrumentor().uninstrument(session)
    assert instrumented == plain
    assert all(outcome[0] == "error" and outcome[1] != "TypeError" for outcome in plain), plain
    assert sum(b"presignedurl=" in (r.body or b"").lower() for r in recorded) == 3
    assert ours() == []
    assert ledger.open_spans() == []
    assert len(ledger.finished) == 3


def test_receive_message_result_differs_only_by_the_trace_attributes(moto_server: MotoServer) -> None:
    """Documented: ReceiveMessage also asks for the trace attributes, so consumers
    (``botocore_otel.messaging``) can read them; with payload propagation off, nothing changes."""

    def receive(session: boto3.session.Session) -> dict[str, Any]:
        moto_server.reset()
        sqs = moto_server.client("sqs", session=session)
        url = sqs.create_queue(QueueName="receive")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="m")
        message: dict[str, Any] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"][0]
        return message

    plain = receive(new_session())
    for options, extra in (
        ({}, {"MessageAttributes", "MD5OfMessageAttributes"}),
        ({"payload_propagation": "none"}, set()),
    ):
        session = new_session()
        Instrumentor().instrument(session, tracer_provider=tracer_provider(), **options)
        try:
            instrumented = receive(session)
        finally:
            Instrumentor().uninstrument(session)
        assert set(instrumented) - set(plain) == extra
        assert set(instrumented.get("MessageAttributes", {})) <= {"traceparent", "tracestate"}
        assert {
            k: v
            for k, v in instrumented.items()
            if k in plain and k not in ("MessageId", "ReceiptHandle", "MD5OfBody")
        } == {k: v for k, v in plain.items() if k not in ("MessageId", "ReceiptHandle", "MD5OfBody")}
