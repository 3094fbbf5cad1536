"""Trace context in message payloads: what moto received, what a consumer reads back,
limits, and the caller's objects left alone."""

from __future__ import annotations

import base64
import copy
import json
from urllib.parse import parse_qsl

import boto3
import pytest
from opentelemetry import baggage, context
from opentelemetry.trace import SpanContext, TraceFlags, TraceState, format_span_id, format_trace_id

from botocore_otel import ConfigError, Instrumentor
from botocore_otel.batches import JsonBatch, batch_of, message_of
from botocore_otel.carriers import (
    MAX_CLIENT_CONTEXT,
    MAX_MESSAGE_BYTES,
    TRACEPARENT_COST,
    body_layout,
    client_context_with,
    json_body_with_traceparent,
    json_message_attributes,
    json_with_member,
    request_budget,
    with_fields,
    with_message_attributes,
    with_trace_header,
)
from botocore_otel.config import load_settings
from botocore_otel.payload import SKIPPED_ATTRIBUTE
from telemetry import Telemetry
from test_services_attributes import make_function


@pytest.fixture
def instrument(telemetry: Telemetry):
    """``instrument(**options)``: a boto3 session instrumented with those options."""
    sessions = []

    def make(**options):
        session = boto3.session.Session()
        Instrumentor().instrument(session, **telemetry.providers, **options)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        Instrumentor().uninstrument(session)


def traceparent_of(span) -> str:
    ctx = span.get_span_context()
    return f"00-{format_trace_id(ctx.trace_id)}-{format_span_id(ctx.span_id)}-{ctx.trace_flags:02x}"


def xray_of(span) -> str:
    trace_id = format_trace_id(span.get_span_context().trace_id)
    parent = format_span_id(span.get_span_context().span_id)
    return f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={parent};Sampled=1"


def recorded(moto, operation: str):
    return [_Sent(r) for r in moto.recorded_requests() if r.operation == operation]


# SQS's query-protocol names (botocore before SQS moved to JSON, e.g. 1.34.0) -> JSON names.
_SQS_QUERY_NAMES = {
    "MessageAttribute": "MessageAttributes",
    "MessageSystemAttribute": "MessageSystemAttributes",
    "SendMessageBatchRequestEntry": "Entries",
    "MessageAttributeName": "MessageAttributeNames",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "AttributeName": "AttributeNames",
}


class _Sent:
    """A recorded request; ``json()`` also reads an SQS query-protocol form, in JSON's shape."""

    def __init__(self, request) -> None:
        self._request = request

    def __getattr__(self, name: str):
        return getattr(self._request, name)

    def json(self):
        if not self._request.body_text().startswith("Action="):
            return self._request.json()
        return _query_as_json(parse_qsl(self._request.body_text()))


def _query_as_json(parameters):
    """SQS's query-protocol parameters, ``(name, value)`` pairs, in JSON's shape."""
    tree: dict = {}
    for key, value in parameters:
        node = tree
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return _json_shape(tree)


def _sqs_entries(body):
    """The entries of a serialized SendMessageBatch body, JSON bytes or query parameters."""
    return _query_as_json(body.items())["Entries"] if isinstance(body, dict) else json.loads(body)["Entries"]


def _json_shape(node):
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):  # a flattened list: 1, 2, ...
        return [_json_shape(node[k]) for k in sorted(node, key=int)]
    out = {}
    for key, value in node.items():
        name = _SQS_QUERY_NAMES.get(key, key)
        value = _json_shape(value)
        if name.endswith("Attributes") and isinstance(value, list):  # a map: Name/Value pairs
            value = {pair["Name"]: pair["Value"] for pair in value}
        out[name] = value
    return out


def form(request) -> dict[str, str]:
    return dict(parse_qsl(request.body_text()))


# -- SQS ----------------------------------------------------------------------------------
def test_sqs_send_carries_the_send_spans_context(moto, instrument, telemetry):
    sqs = moto.client("sqs", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")

    (send,) = telemetry.spans("SQS.SendMessage")
    (request,) = recorded(moto, "SendMessage")
    attributes = request.json()["MessageAttributes"]
    assert attributes == {"traceparent": {"DataType": "String", "StringValue": traceparent_of(send)}}
    assert "MessageSystemAttributes" not in request.json()

    plain = moto.client("sqs")  # not instrumented: reads exactly what is stored
    (message,) = plain.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["traceparent"]["StringValue"] == traceparent_of(send)
    assert message["Body"] == "hello"


def test_tracestate_and_baggage(moto, instrument, telemetry):
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context

    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", "v1")]))
    ctx = baggage.set_baggage("tenant", "t-1", set_span_in_context(NonRecordingSpan(remote)))
    with_baggage = moto.client("sqs", session=instrument(baggage=True))
    without = moto.client("sqs", session=instrument())
    url = without.create_queue(QueueName="q")["QueueUrl"]
    token = context.attach(ctx)
    try:
        without.send_message(QueueUrl=url, MessageBody="a")
        with_baggage.send_message(QueueUrl=url, MessageBody="b")
    finally:
        context.detach(token)
    first, second = (r.json()["MessageAttributes"] for r in recorded(moto, "SendMessage"))
    assert list(first) == ["traceparent", "tracestate"]
    assert first["tracestate"]["StringValue"] == "vendor=v1"
    assert list(second) == ["traceparent", "tracestate", "baggage"]
    assert second["baggage"]["StringValue"] == "tenant=t-1"


def test_a_custom_global_propagator_writes_its_own_fields(moto, instrument, telemetry):
    """Only the default propagator is formatted inline: any other one is asked."""
    from opentelemetry import propagate
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    class Tenant(TraceContextTextMapPropagator):
        def inject(self, carrier, context=None, setter=None):
            carrier["x-tenant"] = "t-9"

        @property
        def fields(self):
            return {"x-tenant"}

    sqs = moto.client("sqs", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    previous = propagate.get_global_textmap()
    sqs.send_message(QueueUrl=url, MessageBody="default")
    propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), Tenant()]))
    try:
        sqs.send_message(QueueUrl=url, MessageBody="custom")
    finally:
        propagate.set_global_textmap(previous)
    sqs.send_message(QueueUrl=url, MessageBody="default again")

    sent = [r.json()["MessageAttributes"] for r in recorded(moto, "SendMessage")]
    spans = telemetry.spans("SQS.SendMessage")
    assert [list(attributes) for attributes in sent] == [
        ["traceparent"],
        ["traceparent", "x-tenant"],
        ["traceparent"],
    ]
    assert [a["traceparent"]["StringValue"] for a in sent] == [traceparent_of(s) for s in spans]


def test_fields_a_message_cannot_carry_are_left_out(moto, instrument):
    """SQS and SNS take attribute names of A-Z, a-z, 0-9, '_', '-' and '.', not beginning
    with 'AWS.' or 'Amazon.', and no empty value: another propagator's field that breaks a
    rule would fail the send (moto refuses the name), so it is left out, the rest go."""
    from opentelemetry import propagate
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    class Odd(TraceContextTextMapPropagator):
        names = ("x/tenant", "aws.tenant", "Amazon.tenant", ".tenant", "x..tenant", "x-empty", "x-tenant")

        def inject(self, carrier, context=None, setter=None):
            carrier.update({name: "" if name == "x-empty" else "t-9" for name in self.names})

        @property
        def fields(self):
            return set(self.names)

    sqs = moto.client("sqs", session=instrument())
    sns = moto.client("sns", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    topic = sns.create_topic(Name="t")["TopicArn"]
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), Odd()]))
    try:
        sqs.send_message(QueueUrl=url, MessageBody="a")
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "b"}])
        sns.publish(TopicArn=topic, Message="c")
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    finally:
        propagate.set_global_textmap(previous)
    assert {m["Body"] for m in received} == {"a", "b"}
    asked = recorded(moto, "ReceiveMessage")[0].json()["MessageAttributeNames"]
    assert [n for n in asked if n not in ("traceparent", "tracestate")] == ["x-empty", "x-tenant"]
    single = recorded(moto, "SendMessage")[0].json()["MessageAttributes"]
    (entry,) = recorded(moto, "SendMessageBatch")[0].json()["Entries"]
    assert list(single) == list(entry["MessageAttributes"]) == ["traceparent", "x-tenant"]
    published = recorded(moto, "Publish")[0].body_text()
    assert "x-tenant" in published and "tenant" not in published.replace("x-tenant", "")


def test_callers_objects_are_never_changed(moto, instrument):
    sqs = moto.client("sqs", session=instrument(sqs_aws_trace_header=True))
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    attributes = {"kind": {"DataType": "String", "StringValue": "order"}}
    system: dict = {}
    entries = [
        {"Id": "1", "MessageBody": "a", "MessageAttributes": attributes},
        {"Id": "2", "MessageBody": "b", "MessageSystemAttributes": system},
    ]
    kwargs = {"QueueUrl": url, "MessageBody": "x", "MessageAttributes": attributes}
    before = copy.deepcopy((attributes, entries, kwargs))
    ids = [id(e) for e in entries]

    sqs.send_message(**kwargs)
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    names = ["kind"]
    sqs.receive_message(QueueUrl=url, MessageAttributeNames=names)

    assert (attributes, entries, kwargs) == before
    assert [id(e) for e in entries] == ids and names == ["kind"] and system == {}
    batch = recorded(moto, "SendMessageBatch")[0].json()["Entries"]
    assert set(batch[0]["MessageAttributes"]) == {"kind", "traceparent"}
    assert set(batch[1]["MessageAttributes"]) == {"traceparent"}
    assert all("AWSTraceHeader" in entry["MessageSystemAttributes"] for entry in batch)
    receive = recorded(moto, "ReceiveMessage")[0].json()
    assert receive["MessageAttributeNames"] == ["kind", "traceparent", "tracestate"]


def test_ten_attributes_already_there_skip_and_count(moto, instrument, telemetry):
    sqs = moto.client("sqs", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    full = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(10)}
    nine = dict(list(full.items())[:9])
    sqs.send_message(QueueUrl=url, MessageBody="full", MessageAttributes=full)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "1", "MessageBody": "full", "MessageAttributes": full},
            {"Id": "2", "MessageBody": "nine", "MessageAttributes": nine},
        ],
    )

    single, batch = telemetry.spans("SQS.SendMessage")[0], telemetry.spans("SQS.SendMessageBatch")[0]
    assert single.attributes[SKIPPED_ATTRIBUTE] == 1 and batch.attributes[SKIPPED_ATTRIBUTE] == 1
    assert recorded(moto, "SendMessage")[0].json()["MessageAttributes"] == full
    entries = recorded(moto, "SendMessageBatch")[0].json()["Entries"]
    assert entries[0]["MessageAttributes"] == full
    assert len(entries[1]["MessageAttributes"]) == 10 and "traceparent" in entries[1]["MessageAttributes"]
    bodies = sorted(
        m["Body"]
        for m in moto.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    )
    assert bodies == ["full", "full", "nine"]  # every message was sent


def test_size_limit_skips_instead_of_failing(moto, instrument, telemetry):
    sqs = moto.client("sqs", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * (262_144 - 20))
    assert telemetry.spans("SQS.SendMessage")[0].attributes[SKIPPED_ATTRIBUTE] == 1
    assert "MessageAttributes" not in recorded(moto, "SendMessage")[0].json()


def test_json_with_member_appends_to_an_object_only():
    assert json.loads(json_with_member(b'{"A": 1}', b'"M": {"t": "x"}')) == {"A": 1, "M": {"t": "x"}}
    assert json.loads(json_with_member(b"{ }\n", b'"M": ["q"]')) == {"M": ["q"]}
    assert json_with_member(b"[1]", b'"M": 1') is None
    assert json_with_member(b"", b'"M": 1') is None


def test_message_attributes_serialize_as_json_dumps_does():
    # Propagator values may hold quotes, backslashes or other characters JSON escapes.
    attributes = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in {"traceparent": "00-ab-cd-01", "tracestate": 'k="v\\x",é=\t', 'a"b': ""}.items()
    }
    assert json_message_attributes(attributes) == json.dumps(attributes)


def test_the_one_step_json_body_matches_the_general_way(moto):
    """json_body_with_traceparent, the common case in one step, writes what the general way
    writes, to the byte, and leaves every other case to it (None). The body is botocore's
    JSON serializer's (DynamoDB's: SQS speaks query on the oldest botocore we support)."""
    dynamodb = moto.client("dynamodb")
    model = dynamodb.meta.service_model.operation_model("GetItem")
    request = dynamodb._serializer.serialize_to_request(
        {"TableName": "table", "Key": {"k": {"S": 'a"\\é'}}}, model
    )
    layout = body_layout(model, "MessageBody")
    sampled = SpanContext(0xAB << 64, 0xCD, False, TraceFlags(1))
    fields = {"traceparent": f"00-{0xAB << 64:032x}-{0xCD:016x}-01"}

    def both(body, budget=MAX_MESSAGE_BYTES, span_context=sampled):
        general, added_bytes = with_message_attributes(body, layout, fields, budget)
        assert added_bytes == (TRACEPARENT_COST if general is not None else 0) == (72 if general else 0)
        return json_body_with_traceparent(body, layout, span_context, budget), general

    one_step, general = both(request["body"])
    assert (
        one_step == general
        and json.loads(one_step)["MessageAttributes"]["traceparent"]["StringValue"] == (fields["traceparent"])
    )
    assert both(request["body"], 72)[0] == both(request["body"], 72)[1] is not None  # just room
    assert both(request["body"], 71) == (None, None)
    with_state = SpanContext(0xAB << 64, 0xCD, False, TraceFlags(1), TraceState([("k", "v")]))
    assert json_body_with_traceparent(request["body"], layout, with_state, MAX_MESSAGE_BYTES) is None
    assert json_body_with_traceparent(b"{}", layout, sampled, MAX_MESSAGE_BYTES) is None
    assert json_body_with_traceparent(request["body"].decode(), layout, sampled, MAX_MESSAGE_BYTES) is None
    sns_layout = body_layout(moto.client("sns").meta.service_model.operation_model("Publish"), "Message")
    assert json_body_with_traceparent(request["body"], sns_layout, sampled, MAX_MESSAGE_BYTES) is None


_FIELDS = {"traceparent": f"00-{0xAB << 64:032x}-{0xCD:016x}-01", "tracestate": 'k="v\\x",é'}
_FULL = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(10)}
_MINE = {"traceparent": {"DataType": "String", "StringValue": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}}
# service -> (operation, the request's other parameter, entries key, body key)
_BATCHES = {
    "sqs": ("SendMessageBatch", "QueueUrl", "Entries", "MessageBody"),
    "sns": ("PublishBatch", "TopicArn", "PublishBatchRequestEntries", "Message"),
}


def _batch(service, bodies_and_attributes):
    _, target, entries_key, body_key = _BATCHES[service]
    entries = []
    for index, (body, attributes) in enumerate(bodies_and_attributes, 1):
        entry = {"Id": str(index), body_key: body}
        if attributes is not None:
            entry["MessageAttributes"] = attributes
        entries.append(entry)
    return {target: "arn:aws:sns:us-east-1:123456789012:t", entries_key: entries}


def _with_fields_in_the_parameters(service, params, fields, trace_header=None):
    """What the parameters of a batch get on the general way (placeholders, then botocore
    validates and serializes them): ``with_fields`` entry after entry, on one budget, and
    SQS's X-Ray header where an entry has none."""
    _, _, entries_key, body_key = _BATCHES[service]
    budget = request_budget(params[entries_key], body_key)
    changed = []
    for entry in params[entries_key]:
        changes = {}
        updated, _ = with_fields(entry.get("MessageAttributes") or {}, fields, budget)
        if updated is not None:
            changes["MessageAttributes"] = updated
        system = with_trace_header(entry, trace_header) if trace_header else None
        if system is not None:
            changes["MessageSystemAttributes"] = system
        changed.append({**entry, **changes} if changes else entry)
    return {**params, entries_key: changed}


@pytest.mark.parametrize("service", ["sqs", "sns"])
def test_a_batch_body_gets_what_its_parameters_would_have_got(moto, service):
    """A batch's fields go into botocore's serialized body at before-call: exactly what botocore
    makes of the parameters with the fields in them (JSON: to the byte; query: the same
    parameters), with the same room (ten attributes) and the same budget across entries. SQS
    speaks JSON on recent botocore and query on the oldest we support; SNS speaks query."""
    client = moto.client(service)
    operation, _, entries_key, body_key = _BATCHES[service]
    model = client.meta.service_model.operation_model(operation)
    params = _batch(service, [
        ("plain", None), ('é"\\', {"k": _FULL["a0"]}), ("full", _FULL),
        ("nine", dict(list(_FULL.items())[:9])), ("empty", {}), ("already", _MINE),
    ])  # fmt: skip
    serialize = client._serializer.serialize_to_request

    def both(params, fields):
        later = batch_of(model, entries_key, params[entries_key], body_key)
        body, skipped = later.with_fields(serialize(params, model)["body"], fields)
        general = _with_fields_in_the_parameters(service, params, fields)
        return body, skipped, serialize(general, model)["body"]

    body, skipped, expected = both(params, _FIELDS)
    assert body == expected and skipped == 1  # "full": no room. "nine": traceparent only, not skipped
    assert type(body) is (bytes if model.metadata["protocol"] == "json" else dict)

    # The budget is the whole request's: the first entries take the room, the last go without.
    big = _batch(service, [("x" * (MAX_MESSAGE_BYTES // 3 - 60), None)] * 3)
    traceparent = {"traceparent": _FIELDS["traceparent"]}
    body, skipped, expected = both(big, traceparent)
    assert body == expected and skipped == 1
    assert body != serialize(_with_fields_in_the_parameters(service, big, _FIELDS), model)["body"]

    later = batch_of(model, entries_key, params[entries_key], body_key)
    assert later.with_fields(None, _FIELDS) == (None, 6)  # not the body it knows: sent as it was
    single = client.meta.service_model.operation_model("SendMessage" if service == "sqs" else "Publish")
    assert batch_of(single, entries_key, params[entries_key], body_key) is None
    assert batch_of(model, entries_key, None, body_key) is None


_XRAY = "Root=1-000000ab-0000000000000000000000cd;Parent=00000000000000cd;Sampled=1"
_THEIR_XRAY = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5-6;Parent=7;Sampled=0"}}


def test_an_sqs_batch_body_gets_the_xray_header_its_parameters_would_have_got(moto):
    """``sqs_aws_trace_header``: each entry without one gets the X-Ray header in the serialized
    body, beside our attributes or alone where they don't fit: to the byte (JSON) or the same
    parameters (query: SQS on the oldest botocore) what botocore makes of the parameters."""
    client = moto.client("sqs")
    model = client.meta.service_model.operation_model("SendMessageBatch")
    params = _batch("sqs", [
        ("plain", None), ("full", _FULL), ("attributes", {"k": _FULL["a0"]}),
        ("empty system", None), ("their header", None), ("system and attributes", {"k": _FULL["a1"]}),
    ])  # fmt: skip
    entries = params["Entries"]
    entries[3]["MessageSystemAttributes"] = {}
    entries[4]["MessageSystemAttributes"] = _THEIR_XRAY
    entries[5]["MessageSystemAttributes"] = {}
    later = batch_of(model, "Entries", entries, "MessageBody")
    serialize = client._serializer.serialize_to_request
    body, skipped = later.with_fields(serialize(params, model)["body"], _FIELDS, _XRAY)
    general = _with_fields_in_the_parameters("sqs", params, _FIELDS, _XRAY)
    assert body == serialize(general, model)["body"] and skipped == 1  # "full": no room
    sent = _sqs_entries(body)
    assert [e["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"] for e in sent] == [_XRAY] * 4 + [
        _THEIR_XRAY["AWSTraceHeader"]["StringValue"],
        _XRAY,
    ]
    assert set(sent[3]["MessageAttributes"]) == set(_FIELDS) and sent[1]["MessageAttributes"] == _FULL
    assert set(sent[2]["MessageAttributes"]) == set(sent[5]["MessageAttributes"]) == {"k", *_FIELDS}
    # No room left for attributes: the header alone, appended to the entry as botocore writes it.
    big = _batch("sqs", [("x" * (MAX_MESSAGE_BYTES - 20), None)])
    body, skipped = batch_of(model, "Entries", big["Entries"], "MessageBody").with_fields(
        serialize(big, model)["body"], _FIELDS, _XRAY
    )
    assert skipped == 1
    assert body == serialize(_with_fields_in_the_parameters("sqs", big, _FIELDS, _XRAY), model)["body"]
    # Fields too big for any message: the header alone.
    huge = {"traceparent": "x" * MAX_MESSAGE_BYTES}
    small = _batch("sqs", [("a", None)])
    body, skipped = batch_of(model, "Entries", small["Entries"], "MessageBody").with_fields(
        serialize(small, model)["body"], huge, _XRAY
    )
    assert skipped == 1
    assert body == serialize(_with_fields_in_the_parameters("sqs", small, huge, _XRAY), model)["body"]


# service -> (operation, the request's other parameter, body key, another member of the message)
_MESSAGES = {
    "sqs": ("SendMessage", "QueueUrl", "MessageBody", {"DelaySeconds": 3}),
    "sns": ("Publish", "TopicArn", "Message", {"Subject": "s"}),
}


@pytest.mark.parametrize("service", ["sqs", "sns"])
def test_a_message_with_attributes_gets_what_its_parameters_would_have_got(moto, service):
    """One message with attributes (or, SQS, system attributes) of the caller's: ours go into
    the serialized body at before-call, to the byte (JSON) or the same parameters (query) as
    botocore makes of the parameters with them (``_messages``: the general way), on the same
    budget. SQS speaks JSON on recent botocore and query on the oldest we support; SNS speaks
    query."""
    client = moto.client(service)
    operation, target, body_key, other = _MESSAGES[service]
    model = client.meta.service_model.operation_model(operation)
    layout = body_layout(model, body_key)
    serialize = client._serializer.serialize_to_request
    cases = [
        ({"MessageAttributes": {"k": _FULL["a0"]}}, 0),
        ({"MessageAttributes": _FULL}, 1),  # no room
        ({"MessageAttributes": dict(list(_FULL.items())[:9])}, 0),  # traceparent only
        ({"MessageAttributes": _MINE}, 0),  # propagated already: left alone
        ({"MessageAttributes": {}}, 0),
        ({body_key: "x" * (MAX_MESSAGE_BYTES - 100), "MessageAttributes": {"k": _FULL["a0"]}}, 0),
        ({body_key: "x" * (MAX_MESSAGE_BYTES - 60), "MessageAttributes": {"k": _FULL["a0"]}}, 1),
        ({"MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}, **other}, 0),
    ]
    for size in (2, 3, 4):  # base64 ending in "=", in nothing, in "==": the budget at its edge
        binary = {"b": {"DataType": "Binary", "BinaryValue": bytes(size)}}
        for room, skipped in ((72, 0), (71, 1)):  # a traceparent takes 72
            cases.append(
                (
                    {body_key: "x" * (MAX_MESSAGE_BYTES - 7 - size - room), "MessageAttributes": binary},
                    skipped,
                )
            )
    if service == "sqs":
        cases += [
            ({"MessageAttributes": {"k": _FULL["a0"]}, "MessageSystemAttributes": {}}, 0),
            ({"MessageSystemAttributes": _THEIR_XRAY}, 0),
        ]
    checked, last = 0, None
    for extra, expected_skipped in cases:
        params = {target: "arn:aws:sns:us-east-1:123456789012:t", body_key: 'é"\\', **extra}
        for header in (None, _XRAY) if service == "sqs" else (None,):
            later = message_of(layout, params, body_key)
            body, skipped = later.with_fields(serialize(params, model)["body"], _FIELDS, header)
            budget = request_budget([params], body_key)
            attributes, _ = with_fields(params.get("MessageAttributes") or {}, _FIELDS, budget)
            general = {**params, "MessageAttributes": attributes} if attributes else dict(params)
            system = with_trace_header(params, header) if header else None
            if system is not None:
                general["MessageSystemAttributes"] = system
            expected = serialize(general, model)["body"] if general != params else None
            assert (body, skipped) == (expected, expected_skipped), (extra, header)
            checked, last = checked + 1, (later, body) if body is not None else last
    assert checked >= len(cases)
    later, body = last
    assert type(body) is (bytes if layout == "json" else dict)
    assert later.with_fields(b"{no" if layout == "json" else None, _FIELDS) == (None, 1)
    if layout == "json":
        assert later.with_fields(b"[]", _FIELDS) == (None, 1)


def _sqs_with_xray_header(moto, instrument):
    """(an SQS client with ``sqs_aws_trace_header``, a queue's url, the SendMessage bodies as
    they are at before-call before our handler)"""
    sqs = moto.client("sqs", session=instrument(sqs_aws_trace_header=True))
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    before_ours = []
    sqs.meta.events.register_first(
        "before-call.sqs.SendMessage", lambda params, **_: before_ours.append(copy.copy(params["body"]))
    )
    return sqs, url, before_ours


def test_one_sqs_message_takes_the_short_way_with_the_xray_header_and_attributes(moto, instrument, telemetry):
    """With ``sqs_aws_trace_header``, and with attributes or system attributes of the caller's,
    a SendMessage takes the short way too: at before-call, before ours, the serialized body
    has none of our fields (botocore never validated them), and what arrives is what the
    general way sends. On JSON (recent botocore) and on the query protocol (the oldest)."""
    sqs, url, before_ours = _sqs_with_xray_header(moto, instrument)
    kind = {"kind": {"DataType": "String", "StringValue": "order"}}
    sqs.send_message(QueueUrl=url, MessageBody="short")
    sqs.send_message(QueueUrl=url, MessageBody="x" * (MAX_MESSAGE_BYTES - 40))
    sqs.send_message(QueueUrl=url, MessageBody="theirs", MessageSystemAttributes=_THEIR_XRAY)
    sqs.send_message(QueueUrl=url, MessageBody="attributes", MessageAttributes=kind)

    short, full, theirs, attributes = telemetry.spans("SQS.SendMessage")
    sent = [r.json() for r in recorded(moto, "SendMessage")]
    # none of ours, not even as placeholders (the caller's X-Ray header says Sampled=0)
    assert ["traceparent" in str(body) or "Sampled=1" in str(body) for body in before_ours] == [False] * 4
    assert [m["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"] for m in sent] == [
        xray_of(short),
        xray_of(full),
        _THEIR_XRAY["AWSTraceHeader"]["StringValue"],
        xray_of(attributes),
    ]
    assert [m.get("MessageAttributes") for m in sent] == [
        {"traceparent": {"DataType": "String", "StringValue": traceparent_of(short)}},
        None,
        {"traceparent": {"DataType": "String", "StringValue": traceparent_of(theirs)}},
        {**kind, "traceparent": {"DataType": "String", "StringValue": traceparent_of(attributes)}},
    ]
    assert full.attributes[SKIPPED_ATTRIBUTE] == 1
    if sqs.meta.service_model.protocol == "json":  # botocore's order, ours after the caller's
        assert list(sent[0]) == ["QueueUrl", "MessageBody", "MessageAttributes", "MessageSystemAttributes"]


def test_the_general_way_for_a_protocol_it_does_not_know(moto, instrument, telemetry, monkeypatch):
    """An operation whose serialized body botocore-otel cannot read (a protocol it does not know:
    forced here, every message of SQS and SNS has a short way on today's botocore) gets
    placeholders at parameter-build, which botocore validates and serializes, and the span's
    real fields replace them at before-call: messages with attributes of the caller's or
    without, batches, the X-Ray header; room and budget as on the short ways, but measured at
    parameter-build (a body that a later handler makes longer is not seen there)."""
    import botocore_otel.payload as payload

    monkeypatch.setattr(payload, "body_layout", lambda *args: None)
    monkeypatch.setattr(payload, "batch_of", lambda *args: None)
    sqs, url, before_ours = _sqs_with_xray_header(moto, instrument)
    kind = {"kind": {"DataType": "String", "StringValue": "order"}}
    sqs.send_message(QueueUrl=url, MessageBody="plain")
    sqs.send_message(QueueUrl=url, MessageBody="full", MessageAttributes=_FULL)
    sqs.send_message(QueueUrl=url, MessageBody="kind", MessageAttributes=kind)
    entries = [{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b", "MessageAttributes": kind}]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    sns = moto.client("sns", session=instrument())
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.publish(
        TopicArn=topic, Message="m", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )

    # placeholders at parameter-build, which botocore serialized (the caller's header is none)
    assert len(before_ours) == 3 and all("Sampled=1" in str(body) for body in before_ours)
    plain, full, with_kind = telemetry.spans("SQS.SendMessage")
    sent = [r.json() for r in recorded(moto, "SendMessage")]
    assert [m.get("MessageAttributes") for m in sent] == [
        {"traceparent": {"DataType": "String", "StringValue": traceparent_of(plain)}},
        _FULL,
        {**kind, "traceparent": {"DataType": "String", "StringValue": traceparent_of(with_kind)}},
    ]
    assert [m["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"] for m in sent] == [
        xray_of(span) for span in (plain, full, with_kind)
    ]
    assert full.attributes[SKIPPED_ATTRIBUTE] == 1 and SKIPPED_ATTRIBUTE not in plain.attributes
    (batch_span,) = telemetry.spans("SQS.SendMessageBatch")
    batch = recorded(moto, "SendMessageBatch")[0].json()["Entries"]
    ours = {"traceparent": {"DataType": "String", "StringValue": traceparent_of(batch_span)}}
    assert [entry["MessageAttributes"] for entry in batch] == [ours, {**kind, **ours}]
    assert entries[1]["MessageAttributes"] == kind and "MessageAttributes" not in entries[0]
    (publish,) = telemetry.spans("SNS.Publish")
    body = form(recorded(moto, "Publish")[0])
    assert body["MessageAttributes.entry.2.Name"] == "traceparent"
    assert body["MessageAttributes.entry.2.Value.StringValue"] == traceparent_of(publish)


def _arrived_attributes(moto, service, operation):
    """The names of the message attributes of each message that arrived, in order."""
    if service == "sqs":
        return [list(r.json().get("MessageAttributes") or {}) for r in recorded(moto, operation)]
    names = []
    for request in recorded(moto, operation):
        body = form(request)
        names.append(
            [v for k, v in body.items() if k.startswith("MessageAttributes.entry.") and k.endswith(".Name")]
        )
    return names


@pytest.mark.parametrize("service", ["sqs", "sns"])
def test_messages_near_the_size_limit_get_what_the_general_way_gives(
    moto, instrument, telemetry, monkeypatch, service
):
    """The short ways measure a message as the general way does (its UTF-8 bytes and its
    attributes', not its escaped JSON or its characters): a long non-ASCII message still gets
    the context where it fits, and never goes over 256 KiB for it. The same messages are sent
    the short way, then the general way (forced: no protocol known), and must arrive alike.
    With the caller's attributes added by a later before-parameter-build handler, the short
    way leaves theirs alone and counts the message as skipped."""
    import botocore_otel.payload as payload

    session = instrument(sqs_aws_trace_header=True) if service == "sqs" else instrument()
    client = moto.client(service, session=session)
    operation = "SendMessage" if service == "sqs" else "Publish"
    if service == "sqs":
        target = {"QueueUrl": client.create_queue(QueueName="q")["QueueUrl"]}
        body_key = "MessageBody"
    else:
        target = {"TopicArn": client.create_topic(Name="t")["TopicArn"]}
        body_key = "Message"
    bodies = [
        "é" * 50_000,  # 100,000 UTF-8 bytes; 300,000 as escaped JSON
        "😀" * 30_000,
        "x" * (MAX_MESSAGE_BYTES - 72),  # just room for a traceparent
        "x" * (MAX_MESSAGE_BYTES - 71),
        "é" * 131_050,  # 262,100 bytes: no room, though 131,050 characters would leave some
    ]

    def send_all():
        for body in bodies:
            getattr(client, "send_message" if service == "sqs" else "publish")(**target, **{body_key: body})

    send_all()
    short = _arrived_attributes(moto, service, operation)
    short_skipped = [
        span.attributes.get(SKIPPED_ATTRIBUTE) for span in telemetry.spans(f"{service.upper()}.{operation}")
    ]
    monkeypatch.setattr(payload, "body_layout", lambda *args: None)
    send_all()
    both = _arrived_attributes(moto, service, operation)
    spans = telemetry.spans(f"{service.upper()}.{operation}")
    assert both[: len(bodies)] == short
    assert both[len(bodies) :] == short == [["traceparent"]] * 3 + [[], []]
    assert (
        [span.attributes.get(SKIPPED_ATTRIBUTE) for span in spans]
        == short_skipped * 2
        == ([None] * 3 + [1, 1]) * 2
    )

    monkeypatch.undo()
    kind = {"kind": {"DataType": "String", "StringValue": "theirs"}}
    event = f"before-parameter-build.{service}.{operation}"
    client.meta.events.register(event, lambda params, **_: params.update(MessageAttributes=kind))
    getattr(client, "send_message" if service == "sqs" else "publish")(**target, **{body_key: "late"})
    assert _arrived_attributes(moto, service, operation)[-1] == ["kind"]
    late = telemetry.spans(f"{service.upper()}.{operation}")[-1]
    assert late.attributes.get(SKIPPED_ATTRIBUTE) == 1


@pytest.mark.parametrize("service", ["sqs", "sns"])
def test_attributes_a_later_handler_adds_count_in_the_budget(moto, instrument, telemetry, service):
    """A before-parameter-build handler registered after ours adds an attribute to a message
    with attributes of the caller's, and to a batch's entries: the room left is measured on
    what is sent, so ours go in only where they fit (72 bytes: a traceparent), and the request
    never passes 256 KiB for them."""
    client = moto.client(service, session=instrument())
    kind = {"kind": {"DataType": "String", "StringValue": "theirs"}}  # 16 bytes
    room: list[int] = []

    def add_late(params, **_):
        # the message "b" and "kind" (17 bytes), and "late" (10 bytes and its value)
        late = {"late": {"DataType": "String", "StringValue": "x" * (MAX_MESSAGE_BYTES - 27 - room[0])}}
        for message in params.get("Entries") or params.get("PublishBatchRequestEntries") or [params]:
            if "MessageAttributes" in message:
                message["MessageAttributes"] = {**message["MessageAttributes"], **late}

    if service == "sqs":
        target = {"QueueUrl": client.create_queue(QueueName="q")["QueueUrl"]}
        send, send_batch, body_key = client.send_message, client.send_message_batch, "MessageBody"
        batch_key, operations = "Entries", ("SendMessage", "SendMessageBatch")
    else:
        target = {"TopicArn": client.create_topic(Name="t")["TopicArn"]}
        send, send_batch, body_key = client.publish, client.publish_batch, "Message"
        batch_key, operations = "PublishBatchRequestEntries", ("Publish", "PublishBatch")
    for operation in operations:
        client.meta.events.register(f"before-parameter-build.{service}.{operation}", add_late)
    for room[:] in ([72], [71]):
        send(**target, **{body_key: "b", "MessageAttributes": kind})
    room[:] = [71]
    entries = [{"Id": "1", body_key: "b", "MessageAttributes": kind}, {"Id": "2", body_key: "c"}]
    send_batch(**target, **{batch_key: entries})

    one, batch = operations
    assert _arrived_attributes(moto, service, one) == [["kind", "late", "traceparent"], ["kind", "late"]]
    fits, full = telemetry.spans(f"{service.upper()}.{one}")
    assert (fits.attributes.get(SKIPPED_ATTRIBUTE), full.attributes.get(SKIPPED_ATTRIBUTE)) == (None, 1)
    sent = recorded(moto, batch)[0]
    if service == "sqs":
        arrived = [list(entry.get("MessageAttributes") or {}) for entry in sent.json()["Entries"]]
    else:
        arrived = [
            sorted(
                {
                    v
                    for k, v in form(sent).items()
                    if k.startswith(f"{batch_key}.member.{n}.") and k.endswith(".Name")
                }
            )
            for n in (1, 2)
        ]
    assert arrived == [["kind", "late"], []]
    (batch_span,) = telemetry.spans(f"{service.upper()}.{batch}")
    assert batch_span.attributes.get(SKIPPED_ATTRIBUTE) == 2


@pytest.mark.parametrize("service", ["sqs", "sns"])
def test_a_body_a_later_handler_rewrites_counts_in_the_budget(moto, instrument, telemetry, service):
    """A before-parameter-build handler registered after ours makes the message's body longer,
    with attributes of the caller's or without: the room left is measured on the body sent."""
    client = moto.client(service, session=instrument())
    if service == "sqs":
        target = {"QueueUrl": client.create_queue(QueueName="q")["QueueUrl"]}
        send, body_key, operation = client.send_message, "MessageBody", "SendMessage"
    else:
        target = {"TopicArn": client.create_topic(Name="t")["TopicArn"]}
        send, body_key, operation = client.publish, "Message", "Publish"
    kind = {"kind": {"DataType": "String", "StringValue": "theirs"}}  # 16 bytes
    length: list[int] = []
    client.meta.events.register(
        f"before-parameter-build.{service}.{operation}",
        lambda params, **_: params.update({body_key: "x" * length[0]}),
    )
    cases = [
        (kind, 72, ["kind", "traceparent"]),
        (kind, 71, ["kind"]),
        ({}, 72, ["traceparent"]),
        ({}, 71, []),
    ]
    for attributes, room, _ in cases:
        length[:] = [MAX_MESSAGE_BYTES - 16 * len(attributes) - room]
        send(**target, **{body_key: "short", **({"MessageAttributes": attributes} if attributes else {})})

    assert _arrived_attributes(moto, service, operation) == [arrived for _, _, arrived in cases]
    skipped = [
        span.attributes.get(SKIPPED_ATTRIBUTE) for span in telemetry.spans(f"{service.upper()}.{operation}")
    ]
    assert skipped == [None if room == 72 else 1 for _, room, _ in cases]


def test_a_json_batch_is_read_whatever_its_layout():
    """Whitespace and member order as any JSON writer leaves them; what is not such a batch is
    sent as it was, all its entries counted as skipped."""
    entries = [{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}]
    spaced = json.dumps({"Entries": entries, "QueueUrl": "q"}, indent=2).encode()
    body, skipped = JsonBatch("Entries", entries, "MessageBody").with_fields(spaced, _FIELDS)
    ours = {name: {"DataType": "String", "StringValue": value} for name, value in _FIELDS.items()}
    assert skipped == 0
    with_ours = [{**entry, "MessageAttributes": ours} for entry in entries]
    assert json.loads(body) == {"Entries": with_ours, "QueueUrl": "q"}
    later = JsonBatch("Entries", entries, "MessageBody")
    not_batches = [b"[]", b"{no", b'{"QueueUrl": "q"}', b'{"Entries": {}}', b"\xff{", b'{"Entries": [1 2]}']
    for not_a_batch in not_batches:
        assert later.with_fields(not_a_batch, _FIELDS) == (None, 2), not_a_batch
    assert later.with_fields(b'{"Entries": []}', _FIELDS) == (None, 0)


def test_a_query_batch_leaves_an_entry_it_does_not_find(moto):
    client = moto.client("sns")
    model = client.meta.service_model.operation_model("PublishBatch")
    params = _batch("sns", [("a", None), ("b", None)])
    body = client._serializer.serialize_to_request(params, model)["body"]
    del body["PublishBatchRequestEntries.member.2.Message"]  # as if a handler had taken it out
    later = batch_of(model, "PublishBatchRequestEntries", params["PublishBatchRequestEntries"], "Message")
    body, skipped = later.with_fields(body, _FIELDS)
    assert skipped == 1
    assert not any(key.startswith("PublishBatchRequestEntries.member.2.MessageAttributes") for key in body)
    assert body["PublishBatchRequestEntries.member.1.MessageAttributes.entry.2.Name"] == "tracestate"


def test_a_batch_near_the_size_limit_sends_every_message(moto, instrument, telemetry):
    sqs = moto.client("sqs", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": "x" * (MAX_MESSAGE_BYTES // 3 - 60)} for i in range(3)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)

    (span,) = telemetry.spans("SQS.SendMessageBatch")
    sent = recorded(moto, "SendMessageBatch")[0].json()["Entries"]
    assert [entry.get("MessageAttributes") for entry in sent] == [
        {"traceparent": {"DataType": "String", "StringValue": traceparent_of(span)}}
    ] * 2 + [None]
    assert span.attributes[SKIPPED_ATTRIBUTE] == 1
    received = moto.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 3


def test_a_present_traceparent_is_left_alone(moto, instrument, telemetry):
    sqs = moto.client("sqs", session=instrument())
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    mine = {"traceparent": {"DataType": "String", "StringValue": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}}
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=mine)
    assert recorded(moto, "SendMessage")[0].json()["MessageAttributes"] == mine
    assert SKIPPED_ATTRIBUTE not in telemetry.spans("SQS.SendMessage")[0].attributes


def test_aws_trace_header_is_opt_in(moto, instrument, telemetry):
    sqs = moto.client("sqs", session=instrument(sqs_aws_trace_header=True))
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (send,) = telemetry.spans("SQS.SendMessage")
    system = recorded(moto, "SendMessage")[0].json()["MessageSystemAttributes"]
    assert system == {"AWSTraceHeader": {"DataType": "String", "StringValue": xray_of(send)}}
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    receive = sqs.meta.service_model.operation_model("ReceiveMessage").input_shape.members
    key = "MessageSystemAttributeNames" if "MessageSystemAttributeNames" in receive else "AttributeNames"
    assert recorded(moto, "ReceiveMessage")[0].json()[key] == ["AWSTraceHeader"]
    assert message["Attributes"]["AWSTraceHeader"] == xray_of(send)


def test_aws_trace_header_on_a_model_without_message_system_attribute_names(moto, telemetry, tmp_path):
    """Older botocore (within the supported range) has only the deprecated ``AttributeNames``
    on ReceiveMessage: asking with ``MessageSystemAttributeNames`` would fail the call."""
    import gzip

    import botocore.session

    core = botocore.session.Session()
    document = core.get_component("data_loader").load_service_model("sqs", "service-2")
    document["shapes"]["ReceiveMessageRequest"]["members"].pop("MessageSystemAttributeNames", None)
    target = tmp_path / "sqs" / "2012-11-05"
    target.mkdir(parents=True)
    with gzip.open(target / "service-2.json.gz", "wt") as out:
        json.dump(document, out)
    older = botocore.session.Session()
    older.set_config_variable("data_path", str(tmp_path))
    session = boto3.session.Session(botocore_session=older)
    Instrumentor().instrument(session, sqs_aws_trace_header=True, **telemetry.providers)
    try:
        sqs = moto.client("sqs", session=session)
        model = sqs.meta.service_model.operation_model("ReceiveMessage").input_shape.members
        assert "MessageSystemAttributeNames" not in model and "AttributeNames" in model
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    finally:
        Instrumentor().uninstrument(session)
    (send,) = telemetry.spans("SQS.SendMessage")
    assert recorded(moto, "ReceiveMessage")[0].json()["AttributeNames"] == ["AWSTraceHeader"]
    assert message["Attributes"]["AWSTraceHeader"] == xray_of(send)


def test_signed_like_any_parameter(moto_auth, telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        sqs = moto_auth.client("sqs", session=session)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")  # SignatureDoesNotMatch would raise
        sns = moto_auth.client("sns", session=session)
        sns.publish(TopicArn=sns.create_topic(Name="t")["TopicArn"], Message="m")
    finally:
        Instrumentor().uninstrument(session)
    (send,) = recorded(moto_auth, "SendMessage")
    assert {"host", "x-amz-date"} <= set(send.signed_headers())  # signed, and moto checked it
    assert "traceparent" in send.json()["MessageAttributes"]  # with the context in the body


# -- SNS ----------------------------------------------------------------------------------
def test_sns_publish_and_batch(moto, instrument, telemetry):
    sns = moto.client("sns", session=instrument())
    topic = sns.create_topic(Name="t")["TopicArn"]
    before_ours = []
    sns.meta.events.register_first(
        "before-call.sns.Publish", lambda params, **_: before_ours.append(dict(params["body"]))
    )
    sns.publish(
        TopicArn=topic, Message="m", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )
    sns.publish_batch(
        TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "a"}, {"Id": "2", "Message": "b"}]
    )
    sns.publish(PhoneNumber="+15555550100", Message="sms")

    publish = telemetry.spans("SNS.Publish")[0]
    body = form(recorded(moto, "Publish")[0])
    pairs = {
        body[f"MessageAttributes.entry.{i}.Name"]: body[f"MessageAttributes.entry.{i}.Value.StringValue"]
        for i in (1, 2)
    }
    assert pairs == {"k": "v", "traceparent": traceparent_of(publish)}
    # the short way: botocore never saw ours (the general way would have put placeholders there)
    assert (
        "traceparent" not in before_ours[0].values()
        and before_ours[0]["MessageAttributes.entry.1.Name"] == "k"
    )
    batch_span = telemetry.spans("SNS.PublishBatch")[0]
    batch = form(recorded(moto, "PublishBatch")[0])
    for i in (1, 2):
        prefix = f"PublishBatchRequestEntries.member.{i}.MessageAttributes.entry.1"
        assert (batch[f"{prefix}.Name"], batch[f"{prefix}.Value.StringValue"]) == (
            "traceparent",
            traceparent_of(batch_span),
        )
    sms = form(recorded(moto, "Publish")[1])
    assert not any(key.startswith("MessageAttributes") for key in sms)


# -- EventBridge, Lambda, Step Functions -------------------------------------------------
def test_a_publication_without_attributes_gets_ours_in_its_body(moto, instrument, telemetry):
    sns = moto.client("sns", session=instrument())
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.publish(TopicArn=topic, Message="m")
    sns.publish(TopicArn=topic, Message="x" * (262_144 - 50))

    small, big = telemetry.spans("SNS.Publish")
    small_body, big_body = (form(r) for r in recorded(moto, "Publish"))
    assert {k: v for k, v in small_body.items() if k.startswith("MessageAttributes")} == {
        "MessageAttributes.entry.1.Name": "traceparent",
        "MessageAttributes.entry.1.Value.DataType": "String",
        "MessageAttributes.entry.1.Value.StringValue": traceparent_of(small),
    }
    assert SKIPPED_ATTRIBUTE not in small.attributes
    assert big.attributes[SKIPPED_ATTRIBUTE] == 1  # no room left: sent as it was
    assert not any(key.startswith("MessageAttributes") for key in big_body)


def test_eventbridge_trace_header(moto, instrument, telemetry):
    events = moto.client("events", session=instrument())
    entries = [
        {"Source": "app", "DetailType": "t", "Detail": "{}"},
        {
            "Source": "app",
            "DetailType": "t",
            "Detail": "{}",
            "TraceHeader": "Root=1-00000000-000000000000000000000001",
        },
    ]
    before = copy.deepcopy(entries)
    events.put_events(Entries=entries)
    (span,) = telemetry.spans("EventBridge.PutEvents")
    sent = recorded(moto, "PutEvents")[0].json()["Entries"]
    assert [e["TraceHeader"] for e in sent] == [xray_of(span), before[1]["TraceHeader"]]
    assert entries == before


def test_lambda_client_context(moto, instrument, telemetry):
    session = instrument()
    make_function(moto, session)
    lam = moto.client("lambda", session=session)
    mine = base64.b64encode(json.dumps({"custom": {"app": "1"}, "env": {"e": "x"}}).encode()).decode()
    lam.invoke(FunctionName="fn", Payload=b"{}")
    lam.invoke(FunctionName="fn", Payload=b"{}", ClientContext=mine)
    big = base64.b64encode(json.dumps({"custom": {"pad": "x" * 2650}}).encode()).decode()
    lam.invoke(FunctionName="fn", Payload=b"{}", ClientContext=big)

    plain, kept, too_big = telemetry.spans("Lambda.Invoke")
    sent = [r.headers.get("X-Amz-Client-Context") for r in recorded_invokes(moto)]
    # added before signing (request-created.lambda.Invoke runs before the signer)
    authorization = recorded_invokes(moto)[0].headers.get("Authorization")
    assert "x-amz-client-context" in authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert json.loads(base64.b64decode(sent[0])) == {"custom": {"traceparent": traceparent_of(plain)}}
    assert json.loads(base64.b64decode(sent[1])) == {
        "custom": {"app": "1", "traceparent": traceparent_of(kept)},
        "env": {"e": "x"},
    }
    assert sent[2] == big and too_big.attributes[SKIPPED_ATTRIBUTE] == 1


def recorded_invokes(moto):
    return [r for r in moto.recorded_requests() if r.method == "POST" and r.path.endswith("/invocations")]


def test_client_context_limit():
    fields = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    encoded, skipped = client_context_with(None, fields)
    assert encoded is not None and not skipped and len(encoded) <= MAX_CLIENT_CONTEXT
    near = base64.b64encode(json.dumps({"custom": {"p": "x" * 2640}}).encode()).decode()
    assert len(near) <= MAX_CLIENT_CONTEXT
    assert client_context_with(near, fields) == (None, True)
    assert client_context_with("not base64!", fields) == (None, True)


def test_step_functions_trace_header(moto, instrument, telemetry):
    session = instrument()
    role = moto.client("iam", session=session).create_role(RoleName="r", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    sfn = moto.client("stepfunctions", session=session)
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    machine = sfn.create_state_machine(name="m", definition=definition, roleArn=role)["stateMachineArn"]
    sfn.start_execution(stateMachineArn=machine)
    sfn.start_execution(stateMachineArn=machine, traceHeader="Root=1-00000000-000000000000000000000001")
    (first, _) = telemetry.spans("SFN.StartExecution")
    headers = [r.json().get("traceHeader") for r in recorded(moto, "StartExecution")]
    assert headers == [xray_of(first), "Root=1-00000000-000000000000000000000001"]


def test_a_trace_field_or_name_list_the_caller_gave_empty_or_none_is_left_as_given(moto, instrument):
    """Only an absent field is ours to fill: botocore refuses None (and an empty PutEvents
    TraceHeader) with and without us, and Step Functions sends an empty traceHeader as given."""
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:none"

    def outcomes(session):
        events = moto.client("events", session=session)
        sfn = moto.client("stepfunctions", session=session)
        sqs = moto.client("sqs", session=session)
        url = sqs.create_queue(QueueName="given")["QueueUrl"]
        calls = [
            lambda: events.put_events(
                Entries=[{"Source": "a", "DetailType": "t", "Detail": "{}", "TraceHeader": ""}]
            ),
            lambda: events.put_events(
                Entries=[{"Source": "a", "DetailType": "t", "Detail": "{}", "TraceHeader": None}]
            ),
            lambda: sfn.start_execution(stateMachineArn=machine, traceHeader=""),
            lambda: sfn.start_execution(stateMachineArn=machine, traceHeader=None),
            lambda: sqs.receive_message(QueueUrl=url, MessageAttributeNames=None),
            lambda: sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=None),
        ]
        results = []
        for call in calls:
            try:
                call()
                results.append("ok")
            except Exception as error:
                results.append(type(error).__name__)
        return results

    bare = outcomes(boto3.session.Session())
    assert (
        bare
        == ["ParamValidationError", "ParamValidationError", "StateMachineDoesNotExist"]
        + ["ParamValidationError"] * 3
    )
    moto.reset_recording()
    assert outcomes(instrument(sqs_aws_trace_header=True)) == bare
    assert [r.json().get("traceHeader") for r in recorded(moto, "StartExecution")] == [""]


# -- settings -----------------------------------------------------------------------------
def test_payload_propagation_can_be_switched_off_per_service(moto, instrument):
    session = instrument(payload_propagation="sns")
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.receive_message(QueueUrl=url)
    assert "MessageAttributes" not in recorded(moto, "SendMessage")[0].json()
    assert "MessageAttributeNames" not in recorded(moto, "ReceiveMessage")[0].json()


def test_payload_settings_parse():
    assert load_settings({}, {}).payload_propagation == {
        "sqs",
        "sns",
        "eventbridge",
        "lambda",
        "stepfunctions",
    }
    env = {"BOTOCORE_OTEL_PAYLOAD_PROPAGATION": "none", "BOTOCORE_OTEL_SQS_AWS_TRACE_HEADER": "true"}
    settings = load_settings({}, env)
    assert settings.payload_propagation == frozenset() and settings.sqs_aws_trace_header
    assert load_settings({"payload_propagation": ["sqs", "lambda"]}, {}).payload_propagation == {
        "sqs",
        "lambda",
    }
    with pytest.raises(ConfigError) as error:
        load_settings({}, {"BOTOCORE_OTEL_PAYLOAD_PROPAGATION": "sqs,kinesis"})
    assert error.value.setting == "BOTOCORE_OTEL_PAYLOAD_PROPAGATION" and "kinesis" in error.value.allowed
    lenient = load_settings({}, {"BOTOCORE_OTEL_PAYLOAD_PROPAGATION": "kinesis"}, strict=False)
    assert lenient.payload_propagation == frozenset() and lenient.problems


def test_without_a_span_context_nothing_is_written_not_even_a_placeholder(moto, monkeypatch):
    """With a no-op tracer (botocore-otel for its metrics only) a call has no span context to
    send: what the general way wrote at parameter-build is taken out again, and EventBridge
    and Step Functions get no X-Ray header (it was a made-up trace, sampled)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    import botocore_otel.payload as payload

    monkeypatch.setattr(payload, "body_layout", lambda *args: None)  # the general way
    monkeypatch.setattr(payload, "batch_of", lambda *args: None)
    session = boto3.session.Session()
    providers = {"tracer_provider": NoOpTracerProvider(), "meter_provider": MeterProvider()}
    Instrumentor().instrument(session, sqs_aws_trace_header=True, **providers)
    kind = {"kind": {"DataType": "String", "StringValue": "order"}}
    try:
        sqs = moto.client("sqs", session=session)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="plain")
        sqs.send_message(QueueUrl=url, MessageBody="kind", MessageAttributes=kind)
        entries = [
            {"Id": "1", "MessageBody": "a"},
            {"Id": "2", "MessageBody": "b", "MessageAttributes": kind},
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        sns = moto.client("sns", session=session)
        topic = sns.create_topic(Name="t")["TopicArn"]
        sns.publish(TopicArn=topic, Message="m", MessageAttributes=kind)
        moto.client("events", session=session).put_events(
            Entries=[{"Source": "app", "DetailType": "t", "Detail": "{}"}]
        )
        role = moto.client("iam", session=session).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        sfn = moto.client("stepfunctions", session=session)
        definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
        machine = sfn.create_state_machine(name="m", definition=definition, roleArn=role["Role"]["Arn"])
        sfn.start_execution(stateMachineArn=machine["stateMachineArn"])
    finally:
        Instrumentor().uninstrument(session)
    sent = [r.json() for r in recorded(moto, "SendMessage")]
    assert [m.get("MessageAttributes") for m in sent] == [None, kind]
    assert [m.get("MessageSystemAttributes") for m in sent] == [None, None]
    batch = recorded(moto, "SendMessageBatch")[0].json()["Entries"]
    assert [e.get("MessageAttributes") for e in batch] == [None, kind]
    published = form(recorded(moto, "Publish")[0])
    assert sorted(k for k in published if k.startswith("MessageAttributes")) == [
        "MessageAttributes.entry.1.Name",
        "MessageAttributes.entry.1.Value.DataType",
        "MessageAttributes.entry.1.Value.StringValue",
    ]
    assert "TraceHeader" not in recorded(moto, "PutEvents")[0].json()["Entries"][0]
    assert "traceHeader" not in recorded(moto, "StartExecution")[0].json()
