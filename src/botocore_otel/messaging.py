"""Consumer side: the producer's trace context out of a received message, and a span to
process it under.

::

    from botocore_otel import messaging

    for message in sqs.receive_message(QueueUrl=url)["Messages"]:
        with messaging.process(message, queue_url=url):
            handle(message)

    def handler(event, context):  # Lambda with an SQS (or SNS) trigger
        for record in event["Records"]:
            with messaging.process(record):
                handle(record)

``process`` opens a CONSUMER span ``process <destination>`` linked to the producer's
span (``parent=True`` makes the producer its parent instead: one trace). It reads:

* an SQS message from boto3 (``MessageAttributes`` with ``StringValue``; the
  ``AWSTraceHeader`` system attribute under ``Attributes``): the client's dict, or the
  resource's ``sqs.Message`` (``queue.receive_messages()``, whose queue url it knows);
* an SQS record as Lambda hands it over (``messageAttributes`` with ``stringValue``,
  ``attributes.AWSTraceHeader``, ``eventSourceARN``);
* an SNS notification: inside an SQS message body (raw delivery off: the body is SNS
  JSON whose ``MessageAttributes`` hold ``{Type, Value}``), as Lambda's SNS record
  (``Sns``), or the parsed envelope itself;
* EventBridge events carry no trace context of their own: delivered to SQS, the
  message's ``AWSTraceHeader`` holds the ``TraceHeader`` that ``PutEvents`` sent (an
  instrumented ``ReceiveMessage`` asks for it only with ``sqs_aws_trace_header=True``;
  otherwise pass ``MessageSystemAttributeNames=["AWSTraceHeader"]``); to a Lambda target,
  pass ``trace_header=os.environ.get("_X_AMZN_TRACE_ID")``.

W3C fields (or whatever the global propagator reads) win over an X-Ray header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util.types import AttributeValue

from botocore_otel import __version__
from botocore_otel.arn import last_name, parse_arn
from botocore_otel.errors import report
from botocore_otel.redact import record_exception

__all__ = ["Received", "parse_xray_header", "process", "producer_context", "read_message"]


def parse_xray_header(value: object) -> SpanContext | None:
    """The span context of ``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=...;Sampled=1``."""
    if not isinstance(value, str):
        return None
    root = parent = None
    sampled = False
    for part in value.split(";"):
        key, _, item = part.strip().partition("=")
        if key == "Root":
            pieces = item.split("-")
            if len(pieces) == 3 and pieces[0] == "1" and len(pieces[1] + pieces[2]) == 32:
                root = pieces[1] + pieces[2]
        elif key == "Parent" and len(item) == 16:
            parent = item
        elif key == "Sampled":
            sampled = item == "1"
    if root is None or parent is None:
        return None
    try:
        trace_id, span_id = int(root, 16), int(parent, 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)


@dataclass
class Received:
    """What one received message says about where it came from."""

    system: str | None = None
    destination: str | None = None
    message_id: str | None = None
    carrier: dict[str, str] = field(default_factory=dict)
    """Trace fields from message attributes (the innermost producer's first)."""
    xray: str | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


def _attribute_strings(attributes: object, value_key: str, type_key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(attributes, Mapping):
        for name, item in attributes.items():
            if isinstance(item, Mapping) and str(item.get(type_key, "String")).startswith("String"):
                value = item.get(value_key)
                if isinstance(value, str):
                    out[str(name)] = value
    return out


def _sns_envelope(body: object) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping):
        return body if "TopicArn" in body and "Type" in body else None
    if not isinstance(body, str) or not body.startswith("{") or '"TopicArn"' not in body:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a body nested too deeply
        return None
    return parsed if isinstance(parsed, Mapping) and "TopicArn" in parsed else None


def _read_sns(envelope: Mapping[str, Any], into: Received) -> None:
    topic = envelope.get("TopicArn")
    if isinstance(topic, str) and parse_arn(topic) is not None:
        into.attributes["aws.sns.topic.arn"] = topic
        into.destination = into.destination or last_name(topic)
    sns_fields = _attribute_strings(envelope.get("MessageAttributes"), "Value", "Type")
    into.carrier = {**into.carrier, **sns_fields}  # the publisher's context wins


def read_message(message: Mapping[str, Any], queue_url: str | None = None) -> Received:
    """Where ``message`` (any form the module docstring lists) came from."""
    out = Received()
    if "Sns" in message and isinstance(message["Sns"], Mapping):  # Lambda's SNS record
        sns = message["Sns"]
        out.system, out.message_id = "aws.sns", sns.get("MessageId")
        _read_sns(sns, out)
        return out
    if "Type" in message and "TopicArn" in message:  # an SNS envelope, already parsed
        out.system, out.message_id = "aws.sns", message.get("MessageId")
        _read_sns(message, out)
        return out
    if "detail-type" in message and "source" in message:  # an EventBridge event
        out.message_id = message.get("id")
        return out
    lambda_form = "messageId" in message or "eventSourceARN" in message
    if lambda_form:
        out.message_id = message.get("messageId")
        out.carrier = _attribute_strings(message.get("messageAttributes"), "stringValue", "dataType")
        system_attributes, body = message.get("attributes"), message.get("body")
        source = parse_arn(message.get("eventSourceARN"))
        if source is not None:
            out.destination = source.resource
    else:
        out.message_id = message.get("MessageId")
        out.carrier = _attribute_strings(message.get("MessageAttributes"), "StringValue", "DataType")
        system_attributes, body = message.get("Attributes"), message.get("Body")
    out.system = "aws_sqs"
    if queue_url:
        out.attributes["aws.sqs.queue.url"] = queue_url
        out.destination = queue_url.rstrip("/").rpartition("/")[2] or out.destination
    if isinstance(system_attributes, Mapping):
        header = system_attributes.get("AWSTraceHeader")
        out.xray = header if isinstance(header, str) else None
    envelope = _sns_envelope(body)
    if envelope is not None:
        _read_sns(envelope, out)
    return out


def producer_context(
    received: Received, trace_header: str | None = None, extracted: Context | None = None
) -> SpanContext | None:
    """The producer's span context: the propagator's fields, else the X-Ray header.
    ``extracted``: what the global propagator already made of the message's fields."""
    if extracted is None and received.carrier:
        extracted = get_global_textmap().extract(received.carrier)
    if extracted is not None:
        span_context = trace.get_current_span(extracted).get_span_context()
        if span_context.is_valid:
            return span_context
    return parse_xray_header(received.xray) or parse_xray_header(trace_header)


@contextmanager
def process(
    message: Mapping[str, Any] | Any,
    *,
    queue_url: str | None = None,
    destination: str | None = None,
    parent: bool = False,
    trace_header: str | None = None,
    baggage: bool = False,
    tracer_provider: Any = None,
) -> Iterator[Span]:
    """A CONSUMER span, current for the block, for processing one received ``message``.

    ``queue_url`` names the destination of a boto3 SQS message (Lambda's records carry
    ``eventSourceARN``); ``destination`` overrides the name. ``parent=True``: the
    producer's span becomes this span's parent (one trace), instead of a link to it.
    ``trace_header``: an X-Ray header to use when the message carries no context.
    ``baggage=True``: the baggage the producer sent (its own ``baggage`` opt-in) is current
    in the block, over the current baggage (a message's entries win); off by default, as
    what a message carries may come from anyone who can send to the queue.
    Exceptions of the block are recorded on the span and re-raised; reading the message
    never raises.
    """
    name, kind_context, links, attributes = "process", None, [], {}
    carried: Context | None = None  # the current context with the producer's baggage
    try:
        if not isinstance(message, Mapping):  # a boto3 resource's sqs.Message: its response data
            queue_url = queue_url or getattr(message, "queue_url", None)
            message = getattr(getattr(message, "meta", None), "data", None) or {}
        received = read_message(message, queue_url)
        extracted = get_global_textmap().extract(received.carrier) if received.carrier else None
        producer = producer_context(received, trace_header, extracted)
        where = destination or received.destination or "unknown"
        name = f"process {where}"
        attributes = {
            **received.attributes,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": where,
        }
        if received.system:
            attributes["messaging.system"] = received.system
        if isinstance(received.message_id, str):
            attributes["messaging.message.id"] = received.message_id
        if producer is not None:
            if parent:
                kind_context = trace.set_span_in_context(NonRecordingSpan(producer))
            else:
                links = [Link(producer)]
        if baggage and extracted is not None:
            for key, value in otel_baggage.get_all(extracted).items():
                carried = otel_baggage.set_baggage(key, value, carried)
    except Exception as error:
        report("reading a received message", error)
    tracer = trace.get_tracer("botocore_otel", __version__, tracer_provider=tracer_provider)
    # The span is made current over the current context (``context=`` only picks its parent):
    # the producer's baggage is attached first.
    token = None if carried is None else otel_context.attach(carried)
    try:
        with tracer.start_as_current_span(
            name,
            context=kind_context,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
            record_exception=False,  # recorded here, its URLs cleaned (an AWS call of the block failed)
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as error:
                if span.is_recording():
                    record_exception(span, error)
                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise
    finally:
        if token is not None:
            otel_context.detach(token)
