"""Trace headers never break SigV4: checked by moto's own signature verification."""

from __future__ import annotations

import io

import botocore.session
import pytest
from opentelemetry import context, propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from scripted_http import Reply, client_for, scripted_server


def _assert_traced_and_unsigned(request) -> None:
    assert "traceparent" in request.headers and "X-Amzn-Trace-Id" in request.headers
    assert not {"traceparent", "x-amzn-trace-id", "tracestate"} & set(request.signed_headers())


def test_query_json_and_s3_requests_pass_signature_checks(moto_auth, session, telemetry):
    moto_auth.client("sts", session=session).get_caller_identity()
    _assert_traced_and_unsigned(moto_auth.last_request())

    ddb = moto_auth.client("dynamodb", session=session)
    ddb.create_table(
        TableName="signed",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="signed", Item={"k": {"S": "v"}})
    _assert_traced_and_unsigned(moto_auth.last_request())

    sqs = moto_auth.client("sqs", session=session)
    url = sqs.create_queue(QueueName="signed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    _assert_traced_and_unsigned(moto_auth.last_request())

    s3 = moto_auth.client("s3", session=session)
    s3.create_bucket(Bucket="signed-bucket")
    s3.put_object(Bucket="signed-bucket", Key="k", Body=io.BytesIO(b"x" * 70_000))  # streamed body
    _assert_traced_and_unsigned(moto_auth.last_request())
    assert s3.get_object(Bucket="signed-bucket", Key="k")["Body"].read() == b"x" * 70_000
    _assert_traced_and_unsigned(moto_auth.last_request())
    assert all(s.attributes["http.response.status_code"] == 200 for s in telemetry.aws_spans())


def test_a_tampered_signed_header_is_rejected(moto_auth):
    """The check above can fail: moto rejects a request whose signed header changed."""
    client = moto_auth.client("sts")

    def tamper(request, **_):
        request.headers["X-Amz-Date"] = "20200101T000000Z"

    client.meta.events.register("before-send.sts.GetCallerIdentity", tamper)
    with pytest.raises(Exception, match=r"Signature|expired"):
        client.get_caller_identity()


def test_existing_trace_headers_are_never_overwritten_or_doubled(session, telemetry):
    theirs = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    def add_lambda_style_header(params, **_):  # what botocore does inside Lambda, at before-call
        params["headers"]["X-Amzn-Trace-Id"] = theirs

    with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
        client = client_for(session, "dynamodb", server.url)
        client.meta.events.register("before-call.dynamodb.ListTables", add_lambda_style_header)
        client.list_tables()
    (received,) = server.received
    assert received.header_values("X-Amzn-Trace-Id") == [theirs]
    assert len(received.header_values("traceparent")) == 1


@pytest.mark.skipif(
    "bedrock-agentcore" not in botocore.session.get_session().get_available_services(),
    reason="this botocore has no bedrock-agentcore model (the service came after botocore 1.34)",
)
def test_bedrock_agentcore_trace_parameters_win(session, telemetry):
    """InvokeAgentRuntime serializes traceParent/traceState into the very same headers."""
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = b'{"response":"ok"}'
    with scripted_server(
        lambda i, r: Reply(body=body, headers={"Content-Type": "application/json"})
    ) as server:
        client = client_for(session, "bedrock-agentcore", server.url)
        client.invoke_agent_runtime(
            agentRuntimeArn="arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/r",
            payload=b"{}",
            traceParent=theirs,
            traceState="vendor=1",
        )
    (received,) = server.received
    assert received.header_values("traceparent") == [theirs]
    assert received.header_values("tracestate") == ["vendor=1"]
    assert len(received.header_values("X-Amzn-Trace-Id")) == 1
    assert telemetry.spans("Bedrock AgentCore.InvokeAgentRuntime")


@pytest.mark.skipif(
    "bedrock-agentcore" not in botocore.session.get_session().get_available_services(),
    reason="this botocore has no bedrock-agentcore model (the service came after botocore 1.34)",
)
@pytest.mark.parametrize(
    "options",
    [{}, {"baggage": True}, {"propagator": CompositePropagator([TraceContextTextMapPropagator()])}],
    ids=["default-way", "with-baggage", "another-propagator"],
)
def test_our_tracestate_never_rides_on_their_traceparent(telemetry, options):
    """A tracestate belongs to the traceparent beside it (W3C): with the caller's traceParent,
    the current trace's tracestate must not be added to it."""
    import boto3

    from botocore_otel import Instrumentor

    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parent = SpanContext(0x1234, 0x5678, True, TraceFlags(1), TraceState([("vendor", "ours")]))
    session = boto3.session.Session()
    Instrumentor().instrument(session, **options, **telemetry.providers)
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        with scripted_server(
            lambda i, r: Reply(body=b"{}", headers={"Content-Type": "application/json"})
        ) as server:
            client = client_for(session, "bedrock-agentcore", server.url)
            runtime = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/r"
            client.invoke_agent_runtime(agentRuntimeArn=runtime, payload=b"{}", traceParent=theirs)
            client.invoke_agent_runtime(agentRuntimeArn=runtime, payload=b"{}")
    finally:
        context.detach(token)
        Instrumentor().uninstrument(session)
    with_theirs, with_ours = server.received
    assert with_theirs.header_values("traceparent") == [theirs]
    assert with_theirs.header_values("tracestate") == []
    assert with_ours.header_values("traceparent")[0].startswith("00-00000000000000000000000000001234-")
    assert with_ours.header_values("tracestate") == ["vendor=ours"]


class _AmzPropagator(TextMapPropagator):
    """A (bad) custom propagator that wants an x-amz-* header and a custom one."""

    def inject(self, carrier, context=None, setter=None):
        carrier["x-amz-meta-trace"] = "1"
        carrier["x-custom-trace"] = "2"

    def extract(self, carrier, context=None, getter=None):
        return context

    @property
    def fields(self):
        return {"x-amz-meta-trace", "x-custom-trace"}


def test_x_amz_headers_are_never_added(moto, session):
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_AmzPropagator())
    try:
        s3 = moto.client("s3", session=session)
        s3.create_bucket(Bucket="amz-bucket")
        s3.put_object(Bucket="amz-bucket", Key="k", Body=b"x")
    finally:
        propagate.set_global_textmap(previous)
    request = moto.last_request()
    assert "x-amz-meta-trace" not in request.headers
    assert request.headers["x-custom-trace"] == "2"
    assert "X-Amzn-Trace-Id" in request.headers


class _WhitespacePropagator(_AmzPropagator):
    """A (bad) propagator whose names begin with whitespace: http.client refuses to send them."""

    def inject(self, carrier, context=None, setter=None):
        carrier.update({"\tx-tab": "1", "\x0cx-feed": "2", "x-fine": "3"})

    @property
    def fields(self):
        return {"\tx-tab", "\x0cx-feed", "x-fine"}


def test_a_header_name_http_client_refuses_is_left_out(moto, telemetry):
    import boto3

    from botocore_otel import Instrumentor

    session = boto3.session.Session()
    Instrumentor().instrument(session, propagator=_WhitespacePropagator(), **telemetry.providers)
    try:
        moto.client("sts", session=session).get_caller_identity()  # refused: an HTTPClientError
    finally:
        Instrumentor().uninstrument(session)
    request = moto.last_request()
    assert request.headers["x-fine"] == "3"
    assert not [name for name in request.headers if name.strip().lower() in ("x-tab", "x-feed")]


def test_the_before_send_handler_returns_none(session):
    """botocore uses the first non-None before-send answer: ours must never answer."""
    answers = []

    with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
        client = client_for(session, "dynamodb", server.url)
        original_emit = client.meta.events.emit

        def recording_emit(event_name, **kwargs):
            responses = original_emit(event_name, **kwargs)
            if event_name.startswith("before-send"):
                answers.extend(response for _, response in responses)
            return responses

        client.meta.events.emit = recording_emit
        client.list_tables()
    assert answers and all(answer is None for answer in answers)
