"""Retries, concurrency, nested calls and abandoned calls, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.endpoint
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from botocore_otel import Instrumentor
from scripted_http import Reply, client_for, scripted_server, throttle_then_ok
from telemetry import Telemetry


def _ddb(session, url: str, attempts: int = 4):
    return client_for(session, "dynamodb", url, attempts)


def test_retries_reuse_one_span_with_an_event_per_retried_attempt(session, telemetry):
    with scripted_server(throttle_then_ok(2)) as server:
        result = _ddb(session, server.url).list_tables()
    assert result["ResponseMetadata"]["RetryAttempts"] == 2

    (span,) = telemetry.aws_spans()
    assert span.attributes["aws.retry_attempts"] == 2
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.status_code is StatusCode.UNSET
    retries = [e for e in span.events if e.name == "aws.retry"]
    assert [dict(e.attributes) for e in retries] == [
        {
            "aws.attempt": n,
            "aws.throttled": True,
            "http.response.status_code": 400,
            "error.type": "ThrottlingException",
        }
        for n in (1, 2)
    ]
    # every attempt carried the call span's context; the span covers the backoff too
    span_id = f"{span.context.span_id:016x}"
    assert [r.header_values("traceparent")[0].split("-")[2] for r in server.received] == [span_id] * 3
    assert all(len(r.header_values("traceparent")) == 1 for r in server.received)
    assert retries[0].timestamp < retries[1].timestamp < span.end_time


def test_retries_exhausted_record_the_error(session, telemetry):
    script = throttle_then_ok(10, code="ProvisionedThroughputExceededException")
    with scripted_server(script) as server, pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
        _ddb(session, server.url, attempts=3).list_tables()
    (span,) = telemetry.aws_spans()
    assert span.attributes["error.type"] == "ProvisionedThroughputExceededException"
    assert span.attributes["aws.retry_attempts"] == 2
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events].count("exception") == 1
    assert all(e.attributes["aws.throttled"] for e in span.events if e.name == "aws.retry")


def test_a_server_error_is_retried_and_not_a_throttle(session, telemetry):
    with scripted_server(throttle_then_ok(1, code="InternalServerError", status=500)) as server:
        _ddb(session, server.url).list_tables()
    (span,) = telemetry.aws_spans()
    (retry,) = [e for e in span.events if e.name == "aws.retry"]
    assert retry.attributes["aws.throttled"] is False
    assert retry.attributes["http.response.status_code"] == 500


def test_connection_errors_use_the_exception_class(session, telemetry):
    from support.ports import closed_port

    with pytest.raises(Exception) as raised:
        _ddb(session, f"http://127.0.0.1:{closed_port()}", attempts=2).list_tables()
    (span,) = telemetry.aws_spans()
    assert (
        span.attributes["error.type"] == f"{type(raised.value).__module__}.{type(raised.value).__qualname__}"
    )
    assert "http.response.status_code" not in span.attributes
    assert [e.name for e in span.events] == ["aws.retry", "exception"]


def test_no_password_or_query_string_of_a_url_reaches_the_span(session, telemetry):
    """botocore's connection errors quote the request's whole url: Amazon Location's API key
    travels in its query string, and an endpoint may carry a user name and password."""
    from botocore.config import Config

    from support.ports import closed_port

    secrets = ("hunter2pw", "SECRETAPIKEY123")
    places = session.client(  # Amazon Location (v1: in every botocore this package supports)
        "location",
        endpoint_url=f"http://admin:hunter2pw@127.0.0.1:{closed_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False),
    )
    with pytest.raises(Exception, match="SECRETAPIKEY123"):  # the application's own error is whole
        places.search_place_index_for_text(IndexName="places", Text="x", Key="v1.public.SECRETAPIKEY123")

    def script(_: int, received: object) -> Reply:
        return Reply(200, b'{"TableNames": []}')

    with scripted_server(script) as server:
        host_and_port = server.url.split("://")[1]
        _ddb(session, f"http://admin:hunter2pw@{host_and_port}").list_tables()
    failed, listed = telemetry.aws_spans()
    assert listed.attributes["server.address"] == "127.0.0.1"
    (event,) = [e for e in failed.events if e.name == "exception"]
    assert event.attributes["exception.message"].endswith(
        f'"http://127.0.0.1:{failed.attributes["server.port"]}/places/v0/indexes/places/search/text"'
    )
    assert "Traceback" in event.attributes["exception.stacktrace"]
    exported = repr(
        [(s.name, s.attributes, [(e.name, e.attributes) for e in s.events]) for s in (failed, listed)]
    )
    assert not [secret for secret in secrets if secret in exported]


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ('URL: "http://admin:p@ss@127.0.0.1:1/x?a=b#frag"', 'URL: "http://127.0.0.1:1/x"'),
        ("http://[::1]:8080/p?q=1 then", "http://[::1]:8080/p then"),
        (
            "(see https://docs.aws.amazon.com/a.html#limits), retry",
            "(see https://docs.aws.amazon.com/a.html), retry",
        ),
        ("must match pattern: ^https?://[^?#]+$", "must match pattern: ^https?://[^?#]+$"),  # no host: no url
        ("mail a@b.c, path /x?y=1", "mail a@b.c, path /x?y=1"),
    ],
)
def test_urls_in_exception_text_lose_password_query_and_fragment_only(text, cleaned):
    from botocore_otel.redact import _without_secrets

    assert _without_secrets(text) == cleaned


def test_attempt_spans_are_optional_children_carrying_the_headers(telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, attempt_spans=True, **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        _ddb(session, server.url).list_tables()
    Instrumentor().uninstrument(session)
    (call,) = telemetry.spans("DynamoDB.ListTables")
    attempts = sorted(
        telemetry.spans("DynamoDB.ListTables attempt 1") + telemetry.spans("DynamoDB.ListTables attempt 2"),
        key=lambda s: s.start_time,
    )
    assert [a.parent.span_id for a in attempts] == [call.context.span_id] * 2
    assert "http.request.resend_count" not in attempts[0].attributes
    assert attempts[1].attributes["http.request.resend_count"] == 1
    sent = [r.header_values("traceparent")[0].split("-")[2] for r in server.received]
    assert sent == [f"{a.context.span_id:016x}" for a in attempts]


def test_sixteen_threads_sharing_a_client_with_retries(session, telemetry):
    with scripted_server(throttle_then_ok(1)) as server:
        client = _ddb(session, server.url)

        def one_call(index: int) -> int:
            with telemetry.tracer.start_as_current_span(f"work-{index}") as parent:
                client.list_tables()
                return parent.get_span_context().span_id

        with ThreadPoolExecutor(16) as pool:
            parents = list(pool.map(one_call, range(64)))
    calls = telemetry.aws_spans()
    assert len(calls) == 64
    assert sorted(c.parent.span_id for c in calls) == sorted(parents)
    assert all(c.attributes["aws.retry_attempts"] == 1 for c in calls)
    works = {s.context.span_id: s for s in telemetry.spans() if s.name.startswith("work-")}
    for call in calls:
        assert call.context.trace_id == works[call.parent.span_id].context.trace_id


def test_credential_refresh_during_signing_is_a_child_of_the_call(moto, telemetry):
    from botocore.credentials import RefreshableCredentials

    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    sts = moto.client("sts", session=session)

    def refresh():
        creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="session")[
            "Credentials"
        ]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    stale = {"access_key": "a", "secret_key": "b", "token": "c", "expiry_time": "2000-01-01T00:00:00Z"}
    credentials = RefreshableCredentials.create_from_metadata(stale, refresh, "test-assume-role")
    telemetry.exporter.clear()
    session._session._credentials = credentials
    sqs = session.client("sqs", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    with telemetry.tracer.start_as_current_span("outer"):
        sqs.list_queues()
    (outer,) = telemetry.spans("outer")
    (call,) = telemetry.spans("SQS.ListQueues")
    refreshes = telemetry.spans("STS.AssumeRole")
    assert refreshes and all(r.parent.span_id == call.context.span_id for r in refreshes)
    assert call.parent.span_id == outer.context.span_id
    assert call.attributes["http.response.status_code"] == 200
    Instrumentor().uninstrument(session)


@pytest.mark.parametrize("event", ["after-call", "response-received"])
def test_a_call_abandoned_without_closing_event_ends_and_leaves_context_clean(session, telemetry, event):
    with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
        client = _ddb(session, server.url)

        def interrupt(**_):
            raise KeyboardInterrupt

        # a more specific name runs before our generic handler, so ours never sees the event
        client.meta.events.register(f"{event}.dynamodb.ListTables", interrupt)
        before = otel_context.get_current()
        with contextlib.suppress(KeyboardInterrupt):
            client.list_tables()
        assert otel_context.get_current() is before
        assert not trace.get_current_span().get_span_context().is_valid
        # ended at the next safe point (never inside a finalizer): the next call's first handler
        client.meta.events.unregister(f"{event}.dynamodb.ListTables", interrupt)
        client.list_tables()
    span, after = telemetry.aws_spans()
    assert span.attributes["error.type"] == "cancelled"
    assert span.status.status_code is StatusCode.ERROR
    assert after.parent is None and "error.type" not in after.attributes


LEAN_LIST_TABLES = {
    "rpc.system": "aws-api",
    "rpc.service": "DynamoDB",
    "rpc.method": "ListTables",
    "cloud.region": "us-east-1",
}
OPT_IN_HISTOGRAMS = (
    "client.call.duration",
    "client.call.attempt_duration",
    "client.call.serialization_duration",
    "client.call.deserialization_duration",
    "client.call.auth.signing_duration",
)


def test_default_metrics_are_one_lean_histogram_and_the_counters(session, telemetry):
    with scripted_server(throttle_then_ok(1)) as server:
        _ddb(session, server.url).list_tables()
    (span,) = telemetry.aws_spans()
    (point,) = list(telemetry.points("rpc.client.call.duration"))
    assert point.count == 1
    assert point.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=1e-9)
    assert dict(point.attributes) == LEAN_LIST_TABLES
    (attempts,) = list(telemetry.points("client.call.attempts"))
    assert (attempts.value, dict(attempts.attributes)) == (2, LEAN_LIST_TABLES)
    throttles = list(telemetry.points("botocore_otel.throttles"))
    assert [(p.value, dict(p.attributes)) for p in throttles] == [
        (1, {**LEAN_LIST_TABLES, "error.type": "ThrottlingException"})
    ]
    retries = list(telemetry.points("botocore_otel.retries"))
    assert [(p.value, p.attributes["error.type"]) for p in retries] == [(1, "ThrottlingException")]
    for name in OPT_IN_HISTOGRAMS:
        assert list(telemetry.points(name)) == [], name
    # the span keeps every attribute it had
    assert span.attributes["aws.service_id"] == "dynamodb"
    assert span.attributes["http.response.status_code"] == 200


def test_all_metric_groups(telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, metrics="all", **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        _ddb(session, server.url).list_tables()
    Instrumentor().uninstrument(session)
    (span,) = telemetry.aws_spans()
    (call,) = list(telemetry.points("client.call.duration"))
    assert dict(call.attributes) == {**LEAN_LIST_TABLES, "http.response.status_code": 200}
    assert call.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=1e-9)
    attempts = {
        p.attributes["http.response.status_code"]: p.count
        for p in telemetry.points("client.call.attempt_duration")
    }
    assert attempts == {400: 1, 200: 1}
    assert sum(p.count for p in telemetry.points("client.call.auth.signing_duration")) == 2
    # botocore emits before-parse since 1.35; older versions give no parse time
    parses = 2 if "before-parse" in inspect.getsource(botocore.endpoint) else 0
    assert sum(p.count for p in telemetry.points("client.call.deserialization_duration")) == parses
    (serialization,) = list(telemetry.points("client.call.serialization_duration"))
    assert (serialization.count, dict(serialization.attributes)) == (1, LEAN_LIST_TABLES)
    assert sum(p.count for p in telemetry.points("rpc.client.call.duration")) == 1


def test_metrics_are_recorded_when_the_span_is_not_sampled():
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    telemetry = Telemetry(sampler=ALWAYS_OFF)
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    with scripted_server(throttle_then_ok(0)) as server:
        _ddb(session, server.url).list_tables()
        # unsampled: headers still carry the context, flagged not sampled
        assert server.received[0].header_values("X-Amzn-Trace-Id")[0].endswith("Sampled=0")
    Instrumentor().uninstrument(session)
    assert telemetry.spans() == []
    assert sum(p.count for p in telemetry.points("rpc.client.call.duration")) == 1


def test_threads_do_not_share_in_flight_state(session, telemetry):
    barrier = threading.Barrier(4)
    with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}', delay_s=0.05)) as server:
        client = _ddb(session, server.url)

        def call(_: int) -> None:
            barrier.wait()
            client.list_tables()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(call, range(4)))
    assert [s.parent for s in telemetry.aws_spans()] == [None] * 4
