"""Responses botocore meets in the wild, from a real HTTP server on 127.0.0.1.

Empty bodies, truncated XML/JSON, HTML error pages from proxies, missing request ids,
S3 redirects (301/307, with and without a region header), huge and too many headers,
connections dropped mid-response. For each: the call returns or raises exactly what it
does without botocore-otel, botocore-otel logs nothing, every span ends, and the span
carries what can be known (status, error type, request id when there is one).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from botocore_otel import errors as botocore_otel_errors
from botocore_otel.instrumentor import Instrumentor
from telemetry import call_spans

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- raw server
@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def region(self) -> str:
        """The region of the SigV4 credential scope."""
        auth = self.headers.get("authorization", "")
        scope = auth.partition("Credential=")[2].split(",")[0].split("/")
        return scope[2] if len(scope) >= 5 else ""


Reply = Callable[[Request], bytes]


def response(
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "Whatever",
    content_length: int | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _QuietServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on an answer (a read timeout, a body it did not read whole)
        # closed the connection: not the server's error, and no traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class RawServer:
    """Answers each request with the bytes ``reply(request)`` returns, then closes."""

    reply: Reply
    received: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(65537).decode("latin-1").strip()
                if not line:
                    return
                method, target, _ = line.split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    header = self.rfile.readline(65537).decode("latin-1")
                    if header in ("\r\n", "\n", ""):
                        break
                    name, _, value = header.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(method, target, headers, body)
                server.received.append(request)
                self.wfile.write(server.reply(request))
                self.wfile.flush()

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def raw_server(reply: Reply) -> Iterator[RawServer]:
    server = RawServer(reply)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any attempt to reach beyond 127.0.0.1 (an S3 redirect to AWS, say) fails the test."""
    attempts: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1"):
            attempts.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: not loopback ({host})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"tried to reach {attempts}"


# --------------------------------------------------------------------------- calls
@dataclass
class Case:
    name: str
    service: str
    operation: str
    params: dict[str, Any]
    reply: Reply
    attempts: int = 1
    config: dict[str, Any] = field(default_factory=dict)


_LOADER = botocore.loaders.create_loader()  # service models parsed once for all sessions


def _session() -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component("data_loader", _LOADER)
    return session


def _client(url: str, case: Case, session: Any) -> Any:
    config = Config(
        retries={"total_max_attempts": case.attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=10,
        **case.config,
    )
    return session.create_client(
        case.service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def _outcome(client: Any, case: Case) -> tuple[Any, ...]:
    method = getattr(client, botocore.xform_name(case.operation))
    try:
        result = method(**case.params)
    except ClientError as error:
        return ("client-error", error.response.get("Error"), _meta(error.response), str(error))
    except Exception as error:
        return ("raised", type(error).__name__, str(error))
    body = result.get("Body")
    if body is not None:
        try:  # after the call has returned: its span has ended already
            result["Body"] = body.read()
        except Exception as error:
            result["Body"] = ("read failed", type(error).__name__, str(error))
    return ("ok", {k: v for k, v in result.items() if k != "ResponseMetadata"}, _meta(result))


def _meta(parsed: dict[str, Any]) -> dict[str, Any]:
    meta = dict(parsed.get("ResponseMetadata", {}))
    headers = dict(meta.pop("HTTPHeaders", {}) or {})
    headers.pop("date", None)
    return {**meta, "HTTPHeaders": headers}


def run_both(case: Case) -> tuple[tuple[Any, ...], tuple[Any, ...], list[ReadableSpan], list[Request]]:
    """The call without and with botocore-otel, against the same replies."""
    with raw_server(case.reply) as server:
        plain = _outcome(_client(server.url, case, _session()), case)
        plain_requests = len(server.received)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        session = _session()
        Instrumentor().instrument(session, tracer_provider=provider, attempt_spans=True)
        try:
            instrumented = _outcome(_client(server.url, case, session), case)
        finally:
            Instrumentor().uninstrument(session)
        assert len(server.received) == 2 * plain_requests, "both runs must send the same requests"
        return plain, instrumented, list(exporter.get_finished_spans()), server.received[plain_requests:]


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


LIST_OBJECTS = _xml(
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
    "<Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    "<Contents><Key>k</Key><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "</ListBucketResult>"
)
JSON = {"Content-Type": "application/x-amz-json-1.0"}
JSON_11 = {"Content-Type": "application/x-amz-json-1.1"}
REQUEST_ID = {"x-amzn-RequestId": "req-123"}
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"  # noqa: E501


def _s3_redirect(status: int, region_header: bool, location: bool = False) -> Reply:
    def reply(request: Request) -> bytes:
        if request.region == "us-west-2" or (request.method == "HEAD" and not region_header):
            if request.method == "HEAD":
                return response(200, headers={"x-amz-request-id": "head-1"})
            return response(
                200, LIST_OBJECTS, {"Content-Type": "application/xml", "x-amz-request-id": "ok-2"}
            )
        code = "PermanentRedirect" if status == 301 else "TemporaryRedirect"
        headers = {"Content-Type": "application/xml", "x-amz-request-id": "redir-1", "x-amz-id-2": "ext-1"}
        if region_header:
            headers["x-amz-bucket-region"] = "us-west-2"
        if location:
            headers["Location"] = "http://127.0.0.1:1/b?list-type=2"
        body = _xml(
            f"<Error><Code>{code}</Code><Message>Go elsewhere</Message>"
            "<Endpoint>b.s3.us-west-2.amazonaws.com</Endpoint><Bucket>b</Bucket></Error>"
        )
        return response(status, body, headers)

    return reply


def _huge_header(request: Request) -> bytes:
    return response(200, b"{}", {**JSON, **REQUEST_ID, "x-padding": "p" * 60_000})


def _too_many_headers(request: Request) -> bytes:
    return response(200, b"{}", {**JSON, **{f"x-h{i}": str(i) for i in range(150)}})


CASES = [
    Case(
        "empty-200-json", "dynamodb", "ListTables", {}, lambda r: response(200, b"", {**JSON, **REQUEST_ID})
    ),
    Case(
        "empty-500-json", "dynamodb", "ListTables", {}, lambda r: response(500, b"", {**JSON, **REQUEST_ID})
    ),
    Case(
        "empty-500-retried",
        "dynamodb",
        "ListTables",
        {},
        lambda r: response(500, b"", {**JSON, **REQUEST_ID}),
        attempts=3,
    ),
    Case("empty-200-xml", "s3", "ListObjectsV2", {"Bucket": "b"}, lambda r: response(200, b"")),
    Case("empty-404-xml", "s3", "HeadObject", {"Bucket": "b", "Key": "k"}, lambda r: response(404, b"")),
    Case(
        "empty-200-query", "sqs", "ListQueues", {}, lambda r: response(200, b"", {"Content-Type": "text/xml"})
    ),
    Case(
        "truncated-json",
        "dynamodb",
        "GetItem",
        {"TableName": "tbl", "Key": {"pk": {"S": "a"}}},
        lambda r: response(200, b'{"Item": {"pk": {"S": "a', {**JSON, **REQUEST_ID}),
    ),
    Case(
        "truncated-json-short-read",
        "dynamodb",
        "GetItem",
        {"TableName": "tbl", "Key": {"pk": {"S": "a"}}},
        lambda r: response(200, b'{"Item": {"pk"', {**JSON, **REQUEST_ID}, content_length=500),
    ),
    Case(
        "truncated-xml",
        "s3",
        "ListObjectsV2",
        {"Bucket": "b"},
        lambda r: response(200, LIST_OBJECTS[:150], {"Content-Type": "application/xml"}),
    ),
    Case(
        "truncated-xml-error",
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "k"},
        lambda r: response(403, _xml("<Error><Code>AccessDenied</Code><Mess"), {"x-amz-request-id": "r1"}),
    ),
    Case(
        "truncated-streaming-body",
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "k"},
        lambda r: response(200, b"only part", {"x-amz-request-id": "r1"}, content_length=4096),
    ),
    Case(
        "html-502-from-proxy",
        "dynamodb",
        "ListTables",
        {},
        lambda r: response(502, HTML_502, {"Content-Type": "text/html"}, reason="Bad Gateway"),
    ),
    Case(
        "html-502-from-proxy-retried",
        "sqs",
        "ListQueues",
        {},
        lambda r: response(502, HTML_502, {"Content-Type": "text/html"}, reason="Bad Gateway"),
        attempts=3,
    ),
    Case(
        "html-502-s3",
        "s3",
        "ListObjectsV2",
        {"Bucket": "b"},
        lambda r: response(502, HTML_502, {"Content-Type": "text/html"}, reason="Bad Gateway"),
    ),
    Case(
        "html-200-captive-portal",
        "dynamodb",
        "ListTables",
        {},
        lambda r: response(200, b"<html><body>Please log in</body></html>", {"Content-Type": "text/html"}),
    ),
    Case("no-request-id", "dynamodb", "ListTables", {}, lambda r: response(200, b'{"TableNames": []}', JSON)),
    Case(
        "no-request-id-error",
        "dynamodb",
        "DescribeTable",
        {"TableName": "tbl"},
        lambda r: response(400, b'{"__type": "ResourceNotFoundException", "message": "no"}', JSON),
    ),
    Case(
        "binary-garbage-json",
        "dynamodb",
        "ListTables",
        {},
        lambda r: response(200, b"\xff\xfe\x00garbage\x80", {**JSON, **REQUEST_ID}),
    ),
    Case("s3-301-with-region", "s3", "ListObjectsV2", {"Bucket": "b"}, _s3_redirect(301, True)),
    Case("s3-301-without-region", "s3", "ListObjectsV2", {"Bucket": "b"}, _s3_redirect(301, False)),
    Case(
        "s3-307-with-region", "s3", "ListObjectsV2", {"Bucket": "b"}, _s3_redirect(307, True, location=True)
    ),
    Case(
        "s3-307-without-region",
        "s3",
        "ListObjectsV2",
        {"Bucket": "b"},
        _s3_redirect(307, False, location=True),
    ),
    Case("huge-header-60kb", "dynamodb", "ListTables", {}, _huge_header),
    Case("too-many-headers", "dynamodb", "ListTables", {}, _too_many_headers),
    Case(
        "huge-request-id",
        "dynamodb",
        "ListTables",
        {},
        lambda r: response(200, b"{}", {**JSON, "x-amzn-RequestId": "r" * 50_000}),
    ),
    Case(
        "latin1-request-id",
        "sqs",
        "ListQueues",
        {},
        lambda r: response(200, b"", {"Content-Type": "text/xml", "x-amzn-RequestId": "caf\u00e9"}),
    ),
    # JSON members the model types otherwise: botocore's JSON parser hands them on as they came
    Case(
        "mistyped-arn-json",
        "secretsmanager",
        "DescribeSecret",
        {"SecretId": "s"},
        lambda r: response(200, b'{"ARN": {"not": "a string"}, "Name": "s"}', {**JSON_11, **REQUEST_ID}),
    ),
    Case(
        "mistyped-arns-json",
        "stepfunctions",
        "DescribeActivity",
        {"activityArn": "arn:aws:states:us-east-1:123456789012:activity:a"},
        lambda r: response(200, b'{"activityArn": ["x"], "name": "a"}', {**JSON, **REQUEST_ID}),
    ),
    Case(
        "numbers-beyond-64-bits-json",
        "dynamodb",
        "Scan",
        {"TableName": "tbl"},
        lambda r: response(
            200,
            b'{"Count": 18446744073709551616, "ScannedCount": -1e999, "Items": []}',
            {**JSON, **REQUEST_ID},
        ),
    ),
    Case("dropped-connection", "dynamodb", "ListTables", {}, lambda r: b""),
    Case("dropped-connection-retried", "dynamodb", "ListTables", {}, lambda r: b"", attempts=2),
    Case("garbage-status-line", "dynamodb", "ListTables", {}, lambda r: b"NOT HTTP AT ALL\r\n\r\n"),
    Case(
        "status-1xx-only",
        "dynamodb",
        "ListTables",
        {},
        lambda r: b"HTTP/1.1 100 Continue\r\n\r\n" + response(200, b"{}", {**JSON, **REQUEST_ID}),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_wild_response(case: Case, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore_otel_errors, "_last_reported", {})
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    plain, instrumented, spans, requests = run_both(case)
    assert instrumented == plain
    assert [r.getMessage() for r in caplog.records if r.name.startswith("botocore_otel")] == []

    calls = call_spans(spans)
    assert calls, "no call span"
    # Every attribute is one OTLP carries: its encoder logs and drops any other.
    caplog.clear()
    encode_spans(spans)
    assert [r.getMessage() for r in caplog.records] == []
    for span in spans:
        assert span.end_time is not None and span.start_time is not None
        assert span.end_time >= span.start_time
    attempt_spans = [s for s in spans if s not in calls]
    # One attempt span per request that reached the server, nested calls included.
    assert len(attempt_spans) == len(requests), [s.name for s in spans]
    span = next(s for s in calls if s.attributes and s.attributes.get("rpc.method") == case.operation)
    for nested in calls:  # S3's region redirector calls HeadBucket from needs-retry
        if nested is not span:
            assert nested.parent is not None and nested.parent.span_id == span.context.span_id
    attributes = dict(span.attributes or {})
    assert attributes["rpc.system"] == "aws-api"
    assert attributes["server.address"] == "127.0.0.1"
    if plain[0] == "ok":
        assert span.status.is_ok or span.status.status_code.name == "UNSET"
        assert "error.type" not in attributes
    else:
        assert span.status.status_code.name == "ERROR"
        assert attributes.get("error.type")
    status = plain[2].get("HTTPStatusCode") if plain[0] in ("ok", "client-error") else None
    if status is not None:
        assert attributes.get("http.response.status_code") == status
    headers = plain[2]["HTTPHeaders"] if plain[0] in ("ok", "client-error") else {}
    request_id = plain[2].get("RequestId") if plain[0] in ("ok", "client-error") else None
    if request_id:
        assert attributes.get("aws.request_id") == request_id
    elif not any(h in headers for h in ("x-amzn-requestid", "x-amz-request-id")):
        assert "aws.request_id" not in attributes
    # Every request carried trace context (none was signed over, none overwritten).
    for request in requests:
        assert "traceparent" in request.headers and "x-amzn-trace-id" in request.headers


def test_a_service_error_message_is_cleaned_and_bounded_in_the_exception_event() -> None:
    """The server's message, which the span's exception event quotes: URLs are cut to scheme,
    host and path (a query may hold a signature, a URL a password), as for raised exceptions,
    and a message longer than 4096 characters is cut."""
    message = "See https://user:hunter2@example.invalid/x?X-Amz-Signature=abc123 and " + "m" * 100_000
    body = ('{"__type": "ValidationException", "message": "' + message + '"}').encode()
    case = Case(
        "error-message", "dynamodb", "ListTables", {}, lambda r: response(400, body, {**JSON, **REQUEST_ID})
    )
    plain, instrumented, spans, _ = run_both(case)
    assert instrumented == plain
    (span,) = [s for s in call_spans(spans)]
    (event,) = [e for e in span.events if e.name == "exception"]
    text = str((event.attributes or {})["exception.message"])
    assert "hunter2" not in text and "X-Amz-Signature" not in text and "abc123" not in text
    assert "https://example.invalid/x and mmm" in text
    assert len(text) == 4096
