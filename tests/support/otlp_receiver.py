"""A real OTLP/HTTP (protobuf) receiver on 127.0.0.1 for tests.

Accepts ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` with
``Content-Type: application/x-protobuf`` (optionally ``Content-Encoding: gzip`` or
``deflate``), decodes them with ``opentelemetry-proto`` and keeps plain-python records:

span dict::

    name, trace_id (32 hex), span_id (16 hex), parent_span_id (16 hex or ""), trace_state,
    kind ("INTERNAL" | "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER" | "UNSPECIFIED", the same
    spelling as ``opentelemetry.trace.SpanKind.X.name``), attributes {key: python value},
    events [{name, attributes, time_unix_nano}], links [{trace_id, span_id, attributes}],
    status_code ("UNSET" | "OK" | "ERROR"), status_message, start_time_unix_nano,
    end_time_unix_nano, resource {attrs}, scope_name, scope_version, flags

metric dict (one per metric per export request, in arrival order)::

    name, description, unit, type ("sum" | "gauge" | "histogram" | "exponential_histogram" |
    "summary"), is_monotonic (sums), temporality ("CUMULATIVE" | "DELTA" | None),
    data_points [{attributes, start_time_unix_nano, time_unix_nano, value (sum/gauge),
    count, sum, bucket_counts, explicit_bounds, min, max (histograms), scale, zero_count,
    positive, negative (exponential histograms)}], resource, scope_name, scope_version

log dict::

    body, severity_number, severity_text, attributes, trace_id, span_id, event_name,
    time_unix_nano, resource, scope_name

AnyValue conversion: string/bool/int/double as such, arrays to lists, kvlists to dicts,
bytes to bytes.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

Span = dict[str, Any]
MetricRecord = dict[str, Any]
LogRecord = dict[str, Any]


def any_value(v: common_pb2.AnyValue) -> Any:
    """OTLP AnyValue -> plain python value."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _kind_name(kind: int) -> str:
    return str(trace_pb2.Span.SpanKind.Name(kind)).removeprefix("SPAN_KIND_")


def _status_name(code: int) -> str:
    return str(trace_pb2.Status.StatusCode.Name(code)).removeprefix("STATUS_CODE_")


def _temporality(t: int) -> str | None:
    name = metrics_pb2.AggregationTemporality.Name(t).removeprefix("AGGREGATION_TEMPORALITY_")
    return None if name == "UNSPECIFIED" else name


def decode_spans(req: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    out: list[Span] = []
    for rs in req.resource_spans:
        resource = attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    {
                        "name": s.name,
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(),
                        "trace_state": s.trace_state,
                        "flags": s.flags,
                        "kind": _kind_name(s.kind),
                        "attributes": attrs(s.attributes),
                        "events": [
                            {
                                "name": e.name,
                                "attributes": attrs(e.attributes),
                                "time_unix_nano": e.time_unix_nano,
                            }
                            for e in s.events
                        ],
                        "links": [
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "attributes": attrs(link.attributes),
                            }
                            for link in s.links
                        ],
                        "status_code": _status_name(s.status.code),
                        "status_message": s.status.message,
                        "start_time_unix_nano": s.start_time_unix_nano,
                        "end_time_unix_nano": s.end_time_unix_nano,
                        "resource": resource,
                        "scope_name": ss.scope.name,
                        "scope_version": ss.scope.version,
                    }
                )
    return out


def _number(dp: metrics_pb2.NumberDataPoint) -> int | float | None:
    kind = dp.WhichOneof("value")
    return getattr(dp, kind) if kind else None


def _base_point(dp: Any) -> dict[str, Any]:
    return {
        "attributes": attrs(dp.attributes),
        "start_time_unix_nano": dp.start_time_unix_nano,
        "time_unix_nano": dp.time_unix_nano,
    }


def decode_metrics(req: metrics_service_pb2.ExportMetricsServiceRequest) -> list[MetricRecord]:
    out: list[MetricRecord] = []
    for rm in req.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                rec: MetricRecord = {
                    "name": m.name,
                    "description": m.description,
                    "unit": m.unit,
                    "type": kind,
                    "is_monotonic": None,
                    "temporality": None,
                    "data_points": [],
                    "resource": resource,
                    "scope_name": sm.scope.name,
                    "scope_version": sm.scope.version,
                }
                points: list[dict[str, Any]] = rec["data_points"]
                if kind in ("sum", "gauge"):
                    data = getattr(m, kind)
                    if kind == "sum":
                        rec["is_monotonic"] = data.is_monotonic
                        rec["temporality"] = _temporality(data.aggregation_temporality)
                    for dp in data.data_points:
                        points.append({**_base_point(dp), "value": _number(dp)})
                elif kind == "histogram":
                    rec["temporality"] = _temporality(m.histogram.aggregation_temporality)
                    for hp in m.histogram.data_points:
                        points.append(
                            {
                                **_base_point(hp),
                                "count": hp.count,
                                "sum": hp.sum if hp.HasField("sum") else None,
                                "bucket_counts": list(hp.bucket_counts),
                                "explicit_bounds": list(hp.explicit_bounds),
                                "min": hp.min if hp.HasField("min") else None,
                                "max": hp.max if hp.HasField("max") else None,
                                "exemplars": [
                                    {"span_id": e.span_id.hex(), "trace_id": e.trace_id.hex()}
                                    for e in hp.exemplars
                                ],
                            }
                        )
                elif kind == "exponential_histogram":
                    eh = m.exponential_histogram
                    rec["temporality"] = _temporality(eh.aggregation_temporality)
                    for ep in eh.data_points:
                        points.append(
                            {
                                **_base_point(ep),
                                "count": ep.count,
                                "sum": ep.sum if ep.HasField("sum") else None,
                                "scale": ep.scale,
                                "zero_count": ep.zero_count,
                                "positive": {
                                    "offset": ep.positive.offset,
                                    "bucket_counts": list(ep.positive.bucket_counts),
                                },
                                "negative": {
                                    "offset": ep.negative.offset,
                                    "bucket_counts": list(ep.negative.bucket_counts),
                                },
                                "min": ep.min if ep.HasField("min") else None,
                                "max": ep.max if ep.HasField("max") else None,
                            }
                        )
                elif kind == "summary":
                    for sp in m.summary.data_points:
                        points.append(
                            {
                                **_base_point(sp),
                                "count": sp.count,
                                "sum": sp.sum,
                                "quantiles": {q.quantile: q.value for q in sp.quantile_values},
                            }
                        )
                out.append(rec)
    return out


def decode_logs(req: logs_service_pb2.ExportLogsServiceRequest) -> list[LogRecord]:
    out: list[LogRecord] = []
    for rl in req.resource_logs:
        resource = attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                out.append(
                    {
                        "body": any_value(lr.body),
                        "severity_number": lr.severity_number,
                        "severity_text": lr.severity_text,
                        "attributes": attrs(lr.attributes),
                        "trace_id": lr.trace_id.hex(),
                        "span_id": lr.span_id.hex(),
                        "event_name": lr.event_name,
                        "time_unix_nano": lr.time_unix_nano,
                        "resource": resource,
                        "scope_name": sl.scope.name,
                    }
                )
    return out


_SIGNALS: dict[str, tuple[Any, Any, Callable[[Any], list[dict[str, Any]]]]] = {
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        decode_spans,
    ),
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        decode_metrics,
    ),
    "/v1/logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        decode_logs,
    ),
}


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request as it reached the receiver (for exporter-behaviour assertions)."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body_size: int  # bytes on the wire (before decompression)
    status: int  # what the receiver answered


class OTLPReceiver:
    """OTLP/HTTP protobuf receiver on 127.0.0.1 (see module docstring).

    ``start()``/``stop()`` (or use as a context manager); ``clear()`` forgets everything.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._spans: list[Span] = []
        self._metrics: list[MetricRecord] = []
        self._logs: list[LogRecord] = []
        self._requests: list[ReceivedRequest] = []
        self._fail: list[int] = []  # statuses to answer the next requests with
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> OTLPReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:4318`` (what OTEL_EXPORTER_OTLP_ENDPOINT wants)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_endpoint(self) -> str:
        return self.endpoint + "/v1/traces"

    @property
    def metrics_endpoint(self) -> str:
        return self.endpoint + "/v1/metrics"

    @property
    def logs_endpoint(self) -> str:
        return self.endpoint + "/v1/logs"

    # ---------------------------------------------------------------- behaviour
    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` export requests with HTTP ``status`` (data dropped)."""
        with self._cond:
            self._fail.extend([status] * count)

    def clear(self) -> None:
        with self._cond:
            self._spans.clear()
            self._metrics.clear()
            self._logs.clear()
            self._requests.clear()
            self._fail.clear()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in h.headers.items()}
        raw = _read_body(h, headers)
        status, payload = 200, b""
        with self._cond:
            forced = self._fail.pop(0) if self._fail else None
        signal = _SIGNALS.get(path)
        if signal is None:
            status = 404
        elif forced is not None:
            status = forced
        elif "json" in headers.get("content-type", ""):
            status = 415  # OTLP/JSON not supported by this receiver
        else:
            req_cls, resp_cls, decode = signal
            try:
                data = _decompress(raw, headers.get("content-encoding", ""))
                msg = req_cls()
                msg.ParseFromString(data)
                records = decode(msg)
            except (DecodeError, OSError, zlib.error, EOFError, ValueError):
                status = 400
            else:
                payload = resp_cls().SerializeToString()
                with self._cond:
                    {"/v1/traces": self._spans, "/v1/metrics": self._metrics}.get(path, self._logs).extend(
                        records
                    )
        with self._cond:
            self._requests.append(ReceivedRequest(path, headers, len(raw), status))
            self._cond.notify_all()
        h.send_response(status)
        h.send_header("Content-Type", "application/x-protobuf")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    # ---------------------------------------------------------------- queries
    def spans(self, name: str | None = None) -> list[Span]:
        with self._cond:
            return [s for s in self._spans if name is None or s["name"] == name]

    def metrics(self, name: str | None = None) -> list[MetricRecord]:
        """Every metric record received (one per metric per export), oldest first."""
        with self._cond:
            return [m for m in self._metrics if name is None or m["name"] == name]

    def last_metric(self, name: str) -> MetricRecord | None:
        """The most recently exported record of metric ``name`` (for cumulative metrics:
        the current totals), or None."""
        found = self.metrics(name)
        return found[-1] if found else None

    def logs(self) -> list[LogRecord]:
        with self._cond:
            return list(self._logs)

    def requests(self) -> list[ReceivedRequest]:
        with self._cond:
            return list(self._requests)

    # ---------------------------------------------------------------- waiting
    def _wait(self, ready: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = ready()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"OTLP receiver: timed out after {timeout}s waiting for {what}; got "
                        f"spans={[s['name'] for s in self._spans]} "
                        f"metrics={sorted({m['name'] for m in self._metrics})} "
                        f"logs={len(self._logs)}"
                    )
                self._cond.wait(min(left, 0.25))

    def wait_for_spans(
        self,
        predicate: int | Callable[[Span], bool] = 1,
        timeout: float = 10.0,
        *,
        count: int = 1,
    ) -> list[Span]:
        """Wait until spans arrived, then return them.

        ``wait_for_spans(3)``: at least 3 spans in total -> all spans.
        ``wait_for_spans(lambda s: s["name"] == "S3.GetObject", count=2)``: at least 2
        matching spans -> the matching spans. Raises AssertionError on timeout.
        """
        if isinstance(predicate, int):
            n = predicate
            return list(
                self._wait(
                    lambda: list(self._spans) if len(self._spans) >= n else None,
                    timeout,
                    f">= {n} spans",
                )
            )
        pred = predicate

        def ready() -> list[Span] | None:
            found = [s for s in self._spans if pred(s)]
            return found if len(found) >= count else None

        return list(self._wait(ready, timeout, f">= {count} matching spans"))

    def wait_for_metric(
        self,
        name: str,
        predicate: Callable[[MetricRecord], bool] | None = None,
        timeout: float = 10.0,
    ) -> MetricRecord:
        """Wait until a record of metric ``name`` (matching ``predicate``) arrived; return
        the newest such record."""

        def ready() -> MetricRecord | None:
            found = [m for m in self._metrics if m["name"] == name and (predicate is None or predicate(m))]
            return found[-1] if found else None

        return dict(self._wait(ready, timeout, f"metric {name!r}"))

    def wait_for_logs(self, count: int = 1, timeout: float = 10.0) -> list[LogRecord]:
        return list(
            self._wait(
                lambda: list(self._logs) if len(self._logs) >= count else None,
                timeout,
                f">= {count} logs",
            )
        )


def _read_body(h: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    return h.rfile.read(int(headers.get("content-length", "0") or 0))


def _decompress(data: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding in ("", "identity"):
        return data
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")
