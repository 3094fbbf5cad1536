"""The call span against a real moto server: name, kind, attributes, status, headers."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import SpanKind, StatusCode

from botocore_otel import ConfigError, Instrumentor
from botocore_otel.state import in_flight
from tests.scripted_http import Received, Reply, client_for, scripted_server


def test_span_for_a_dynamodb_call(moto, session, telemetry):
    ddb = moto.client("dynamodb", session=session)
    ddb.create_table(
        TableName="tbl",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    result = ddb.get_item(TableName="tbl", Key={"k": {"S": "x"}})

    (span,) = telemetry.spans("DynamoDB.GetItem")
    assert span.kind is SpanKind.CLIENT
    port = int(moto.endpoint_url.rsplit(":", 1)[1])
    expected = {
        "rpc.system": "aws-api",
        "rpc.service": "DynamoDB",
        "rpc.method": "GetItem",
        "aws.service_id": "dynamodb",
        "cloud.region": "us-east-1",
        "server.address": "127.0.0.1",
        "server.port": port,
        "http.response.status_code": 200,
        "aws.request_id": result["ResponseMetadata"]["RequestId"],
        "aws.retry_attempts": 0,
    }
    assert {k: span.attributes.get(k) for k in expected} == expected
    assert "error.type" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None


def test_service_id_casing_and_hyphenized_id(moto, session, telemetry):
    secrets = moto.client("secretsmanager", session=session)
    secrets.create_secret(Name="s", SecretString="hunter2")
    elbv2 = moto.client("elbv2", session=session)
    elbv2.describe_load_balancers()

    (secret_span,) = telemetry.spans("Secrets Manager.CreateSecret")
    assert secret_span.attributes["rpc.service"] == "Secrets Manager"
    assert secret_span.attributes["aws.service_id"] == "secrets-manager"
    (elb_span,) = telemetry.spans("Elastic Load Balancing v2.DescribeLoadBalancers")
    assert elb_span.attributes["aws.service_id"] == "elastic-load-balancing-v2"
    for span in telemetry.aws_spans():
        assert "hunter2" not in repr(dict(span.attributes)) + repr([e.attributes for e in span.events])


def test_client_error_sets_code_status_and_one_exception_event(moto, session, telemetry):
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="bucket-one")
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="bucket-one", Key="missing")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"

    (span,) = telemetry.spans("S3.GetObject")
    assert span.attributes["error.type"] == "NoSuchKey"
    assert span.attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    metadata = raised.value.response["ResponseMetadata"]
    assert span.attributes["aws.request_id"] == metadata["RequestId"]


S3_NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message><Key>missing</Key>"
    b"<RequestId>4442587FB7D0A2F9</RequestId><HostId>error-host-id==</HostId></Error>"
)


def test_s3_request_id_and_extended_request_id_from_a_real_s3_wire_answer(session, telemetry):
    """moto sends no ``x-amz-id-2``; a scripted server speaks S3's wire format with it."""

    def script(_: int, received: Received) -> Reply:
        if received.method == "HEAD":
            headers = {"x-amz-request-id": "7C0B4C4B6A2D8E31", "x-amz-id-2": "head-host-id=="}
            return Reply(200, b"", headers)
        headers = {
            "Content-Type": "application/xml",
            "x-amz-request-id": "4442587FB7D0A2F9",
            "x-amz-id-2": "error-host-id==",
        }
        return Reply(404, S3_NO_SUCH_KEY, headers)

    with scripted_server(script) as server:
        s3 = client_for(session, "s3", server.url, attempts=1)
        s3.head_bucket(Bucket="bucket-one")
        with pytest.raises(ClientError) as raised:
            s3.get_object(Bucket="bucket-one", Key="missing")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"
    (head,) = telemetry.spans("S3.HeadBucket")
    assert head.attributes["aws.request_id"] == "7C0B4C4B6A2D8E31"
    assert head.attributes["aws.extended_request_id"] == "head-host-id=="
    (get,) = telemetry.spans("S3.GetObject")
    assert get.attributes["aws.request_id"] == "4442587FB7D0A2F9"
    assert get.attributes["aws.extended_request_id"] == "error-host-id=="
    assert get.attributes["error.type"] == "NoSuchKey"


def test_server_and_region_follow_each_call(session, telemetry):
    """The attributes a span starts with are kept per operation, region and url (a url
    without a path) or endpoint: calls alternating between two servers, two regions and a
    url with a path each get their own server.port and cloud.region."""

    def script(_: int, received: Received) -> Reply:
        return Reply(200, b'{"Item": {}}')

    with scripted_server(script) as first, scripted_server(script) as second:
        targets = [
            (client_for(session, "dynamodb", first.url), first, "us-east-1"),
            (client_for(session, "dynamodb", second.url), second, "us-east-1"),
            (client_for(session, "dynamodb", f"{first.url}/prefix"), first, "us-east-1"),
        ]
        other_region = session.client(
            "dynamodb",
            endpoint_url=second.url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        targets.append((other_region, second, "eu-west-1"))
        for _ in range(2):
            for client, _server, _region in targets:
                client.get_item(TableName="tbl", Key={"k": {"S": "x"}})
    assert [r.path for r in first.received] == ["/", "/prefix", "/", "/prefix"]
    spans = telemetry.spans("DynamoDB.GetItem")
    expected = [(int(server.url.rsplit(":", 1)[1]), region) for _, server, region in targets] * 2
    assert [(s.attributes["server.port"], s.attributes["cloud.region"]) for s in spans] == expected
    assert {s.attributes["server.address"] for s in spans} == {"127.0.0.1"}


def test_request_id_from_a_header_botocore_does_not_read(session, telemetry):
    """botocore's parsers fill ``RequestId`` from ``x-amzn-requestid`` (JSON) or
    ``x-amz-request-id`` (S3) only; ``x-amzn-request-id``, which some services send, comes
    from the response headers."""

    def script(_: int, received: Received) -> Reply:
        headers = {"Content-Type": "application/json", "x-amzn-request-id": "hyphenated-id-1"}
        return Reply(200, b'{"Functions": []}', headers)

    with scripted_server(script) as server:
        response = client_for(session, "lambda", server.url, attempts=1).list_functions()
    assert "RequestId" not in response["ResponseMetadata"]
    (span,) = telemetry.spans("Lambda.ListFunctions")
    assert span.attributes["aws.request_id"] == "hyphenated-id-1"
    assert "aws.extended_request_id" not in span.attributes


def test_s3_not_modified_is_not_an_error(moto, session, telemetry):
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="bucket-one")
    etag = s3.put_object(Bucket="bucket-one", Key="k", Body=b"data")["ETag"]
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="bucket-one", Key="k", IfNoneMatch=etag)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304

    (span,) = [s for s in telemetry.spans("S3.GetObject")]
    assert span.attributes["http.response.status_code"] == 304
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes


def test_span_covers_the_whole_call_and_is_parented(moto, session, telemetry):
    sqs = moto.client("sqs", session=session)
    with telemetry.tracer.start_as_current_span("request") as parent:
        sqs.create_queue(QueueName="q")
    (span,) = telemetry.spans("SQS.CreateQueue")
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id
    (outer,) = telemetry.spans("request")
    assert outer.start_time <= span.start_time <= span.end_time <= outer.end_time


def test_headers_that_arrived_match_the_span(moto, session, telemetry):
    sts = moto.client("sts", session=session)
    sts.get_caller_identity()
    (span,) = telemetry.spans("STS.GetCallerIdentity")
    request = moto.last_request()
    trace_id = f"{span.context.trace_id:032x}"
    span_id = f"{span.context.span_id:016x}"
    assert request.headers["traceparent"] == f"00-{trace_id}-{span_id}-{span.context.trace_flags:02x}"
    assert (
        request.headers["X-Amzn-Trace-Id"]
        == f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled=1"
    )
    assert "baggage" not in request.headers
    assert "traceparent" not in request.signed_headers()
    assert "x-amzn-trace-id" not in request.signed_headers()


def test_headers_of_an_unsampled_call_carry_its_flags_and_trace_state(moto, session, telemetry):
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, use_span

    remote = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(0),
        trace_state=TraceState([("vendor", "v1")]),
    )
    with use_span(NonRecordingSpan(remote)):
        moto.client("sts", session=session).get_caller_identity()
    assert telemetry.spans("STS.GetCallerIdentity") == []  # the parent's decision: not sampled
    headers = moto.last_request().headers
    traceparent = headers["traceparent"]
    assert traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and traceparent.endswith("-00")
    span_id = traceparent.split("-")[2]
    assert len(span_id) == 16 and span_id != "00f067aa0ba902b7"
    xray = f"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent={span_id};Sampled=0"
    assert headers["X-Amzn-Trace-Id"] == xray
    assert headers["tracestate"] == "vendor=v1"


def test_baggage_is_sent_only_when_opted_in(moto, telemetry):
    from opentelemetry import baggage, context

    token = context.attach(baggage.set_baggage("user", "alice"))
    try:
        plain = boto3.session.Session()
        Instrumentor().instrument(plain, **telemetry.providers)
        moto.client("sts", session=plain).get_caller_identity()
        assert "baggage" not in moto.last_request().headers

        opted = boto3.session.Session()
        Instrumentor().instrument(opted, baggage=True, **telemetry.providers)
        moto.client("sts", session=opted).get_caller_identity()
        assert moto.last_request().headers["baggage"] == "user=alice"
    finally:
        context.detach(token)
        Instrumentor().uninstrument()


def test_a_propagator_given_writes_its_fields_in_place_of_the_global_ones(moto, telemetry, caplog):
    """The official package's ``propagator=`` and ``logger_provider=`` are taken, so switching
    needs no change: the propagator's fields go on the headers (X-Ray's too, as always), the
    logger provider is said to be unused."""
    from opentelemetry import trace
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.sdk._logs import LoggerProvider

    class AppTrace(TextMapPropagator):  # an application's own format
        fields = frozenset({"x-app-trace"})

        def inject(self, carrier, context=None, setter=None):
            carrier["x-app-trace"] = format(
                trace.get_current_span(context).get_span_context().span_id, "016x"
            )

        def extract(self, carrier, context=None, getter=None):
            return context

    session = boto3.session.Session()
    caplog.set_level("WARNING", logger="botocore_otel")
    Instrumentor().instrument(
        session, propagator=AppTrace(), logger_provider=LoggerProvider(), **telemetry.providers
    )
    try:
        moto.client("sts", session=session).get_caller_identity()
    finally:
        Instrumentor().uninstrument(session)
    headers = moto.last_request().headers
    (span,) = telemetry.spans("STS.GetCallerIdentity")
    assert "traceparent" not in headers
    assert headers["x-app-trace"] == f"{span.context.span_id:016x}"
    assert f"Parent={span.context.span_id:016x};" in headers["X-Amzn-Trace-Id"]
    assert [r.getMessage() for r in caplog.records if "logger_provider is not used" in r.getMessage()]
    with pytest.raises(ConfigError, match=r"propagator=.*TextMapPropagator"):
        Instrumentor().instrument(boto3.session.Session(), propagator="xray")


def test_no_span_when_the_call_never_reaches_the_wire(moto, session, telemetry):
    from botocore.exceptions import ParamValidationError
    from botocore.stub import Stubber

    ddb = moto.client("dynamodb", session=session)
    with pytest.raises(ParamValidationError):
        ddb.get_item(TableName="tbl")  # Key missing
    sqs = moto.client("sqs", session=session)  # payload propagation opens its span early
    with pytest.raises(ParamValidationError):
        sqs.send_message(QueueUrl=f"{moto.endpoint_url}/123456789012/q")  # MessageBody missing
    import gc

    gc.collect()
    with Stubber(ddb) as stubber:
        stubber.add_response("list_tables", {"TableNames": ["stubbed"]})
        assert ddb.list_tables()["TableNames"] == ["stubbed"]
    assert telemetry.aws_spans() == []
    ddb.list_tables()
    (span,) = telemetry.aws_spans()
    assert span.parent is None  # not parented under the abandoned validation-error call
    # and the next call clears what the dropped one left in flight (a dead weak reference)
    assert in_flight.get() is None


def test_suppress_instrumentation_gives_no_span_and_no_headers(moto, session, telemetry):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    sts = moto.client("sts", session=session)
    with suppress_instrumentation():
        sts.get_caller_identity()
    assert telemetry.aws_spans() == []
    headers = moto.last_request().headers
    assert "traceparent" not in headers and "X-Amzn-Trace-Id" not in headers


def test_http_instrumentation_is_suppressed_while_sending(moto, session, telemetry):
    """urllib3/requests instrumentations check this flag: they add no second span."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled

    seen: list[tuple[bool, int]] = []

    def observe(**_):  # runs after ours on before-send, just before the HTTP send
        seen.append((is_http_instrumentation_enabled(), trace.get_current_span().get_span_context().span_id))

    sts = moto.client("sts", session=session)
    sts.meta.events.register_last("before-send", observe)
    sts.get_caller_identity()
    (span,) = telemetry.spans("STS.GetCallerIdentity")
    assert seen == [(False, span.context.span_id)]
    assert is_http_instrumentation_enabled()
    assert not trace.get_current_span().get_span_context().is_valid


def test_semconv_opt_in_names(moto, telemetry, monkeypatch):
    for mode, expected in [
        ("rpc", {"rpc.system.name": "aws-api", "rpc.method": "STS/GetCallerIdentity"}),
        (
            "rpc/dup",
            {"rpc.system.name": "aws-api", "rpc.system": "aws-api", "rpc.method": "GetCallerIdentity"},
        ),
    ]:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
        session = boto3.session.Session()
        Instrumentor().instrument(session, **telemetry.providers)
        moto.client("sts", session=session).get_caller_identity()
        span = (
            telemetry.aws_spans()[-1] if mode == "rpc/dup" else telemetry.spans("STS.GetCallerIdentity")[-1]
        )
        assert {k: span.attributes.get(k) for k in expected} == expected
        if mode == "rpc":
            assert "rpc.system" not in span.attributes
        Instrumentor().uninstrument(session)
        telemetry.exporter.clear()


def test_request_and_response_hooks(moto, telemetry):
    seen: list[tuple[str, str, str]] = []

    def request_hook(span, service_id, operation, params):
        seen.append(("request", service_id, operation))
        span.set_attribute("app.queue", params.get("QueueName", ""))
        span.set_attribute("messaging.destination.name", "renamed-by-the-hook")  # the hook wins

    def response_hook(span, service_id, operation, parsed):
        seen.append(("response", service_id, operation))
        span.set_attribute("app.url", parsed["QueueUrl"].rsplit("/", 1)[1])

    session = boto3.session.Session()
    Instrumentor().instrument(
        session, request_hook=request_hook, response_hook=response_hook, **telemetry.providers
    )
    moto.client("sqs", session=session).create_queue(QueueName="hooked")
    Instrumentor().uninstrument(session)
    (span,) = telemetry.spans("SQS.CreateQueue")
    assert span.attributes["app.queue"] == "hooked" and span.attributes["app.url"] == "hooked"
    assert span.attributes["messaging.destination.name"] == "renamed-by-the-hook"
    assert seen == [("request", "sqs", "CreateQueue"), ("response", "sqs", "CreateQueue")]
