"""Trace context in message payloads, and request tweaks for receivers and user captures.

Handlers on ``before-parameter-build.<service>.<Operation>`` (registered only for the
operations that need them), so what they add is serialized and signed like any other
parameter. They put the context of the call's own span (opened early through
``Lifecycle.call_span``) into the message, so a consumer's span links to the producer's
call. Copy-on-write: the top-level ``params`` dict is botocore's own, every nested dict
or list is the caller's and is copied before it is changed.

* SQS SendMessage(Batch), SNS Publish(Batch): ``MessageAttributes`` (``String``), at most
  10 per message and 256 KiB per request; traceparent first, then tracestate, then the
  rest of the global propagator's fields (baggage only with ``baggage=True``).
  ``sqs_aws_trace_header=True`` adds the X-Ray ``AWSTraceHeader`` system attribute.
  SNS only when publishing to a topic (never to a phone number or an endpoint).
* EventBridge PutEvents: each entry's ``TraceHeader`` (X-Ray format) unless present.
* Lambda Invoke: ``ClientContext.custom`` (kept keys; skipped past 3583 encoded bytes).
* Step Functions StartExecution/StartSyncExecution: ``traceHeader`` unless present.
* Kinesis: not offered; the only place for context is the record's ``Data``.

A message that cannot take the context (no room, too big, unreadable ClientContext) is
sent unchanged and counted in the call span's ``botocore_otel.propagation.skipped``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage as otel_baggage
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import Span, set_span_in_context

from botocore_otel._failsafe import report
from botocore_otel.config import Settings
from botocore_otel.converters import lambda_target
from botocore_otel.messaging import producer_context, read_message
from botocore_otel.propagation import global_textmap, unsendable_field, w3c_fields, xray_header_value
from botocore_otel.state import STATE_KEY

if TYPE_CHECKING:
    from botocore_otel.capture import CallSpans, Handler

SKIPPED_ATTRIBUTE = "botocore_otel.propagation.skipped"
MAX_MESSAGE_ATTRIBUTES = 10
MAX_MESSAGE_BYTES = 262_144
"""SQS and SNS size limit per request (SQS now takes 1 MiB; 256 KiB is safe everywhere)."""
MAX_CLIENT_CONTEXT = 3583
_FIRST = ("traceparent", "tracestate")


def _utf8(value: object) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return len(value) if isinstance(value, (bytes, bytearray)) else 0


def _message_size(body: object, attributes: Mapping[str, Any]) -> int:
    size = _utf8(body)
    for name, item in attributes.items():
        size += _utf8(name)
        if isinstance(item, Mapping):
            size += sum(_utf8(v) for v in item.values() if isinstance(v, (str, bytes, bytearray)))
    return size


def _with_fields(
    existing: Mapping[str, Any], fields: Mapping[str, str], budget: list[int]
) -> tuple[dict[str, Any] | None, bool]:
    """(a copy of ``existing`` with as many ``fields`` as fit or None, skipped)."""
    if any(name in existing for name in fields):
        return None, False  # propagated already (by the caller, say): leave it
    out = dict(existing)
    for name, value in fields.items():
        cost = len(name) + len("String") + len(value)
        if len(out) >= MAX_MESSAGE_ATTRIBUTES or cost > budget[0]:
            break
        out[name] = {"DataType": "String", "StringValue": value}
        budget[0] -= cost
    added = len(out) > len(existing)
    return (out if added else None), not added


def _with_trace_header(message: Mapping[str, Any], header: str) -> dict[str, Any] | None:
    system = message.get("MessageSystemAttributes") or {}
    if not isinstance(system, Mapping) or "AWSTraceHeader" in system:
        return None
    return {**system, "AWSTraceHeader": {"DataType": "String", "StringValue": header}}


class PayloadPropagator:
    """The handlers of the ``payload_propagation`` setting and the receive tweaks."""

    def __init__(self, settings: Settings, calls: CallSpans) -> None:
        self._services = settings.payload_propagation
        self._baggage = settings.baggage
        self._aws_trace_header = settings.sqs_aws_trace_header
        self._calls = calls
        self._receive_names: tuple[object, tuple[str, ...]] = (None, ())

    def handlers(self) -> list[Handler]:
        on = self._services
        table: list[tuple[str, Callable[..., Any]]] = []
        if "sqs" in on:
            table += [
                ("before-parameter-build.sqs.SendMessage", self.on_sqs_send),
                ("before-parameter-build.sqs.SendMessageBatch", self.on_sqs_send),
                ("before-parameter-build.sqs.ReceiveMessage", self.on_sqs_receive_request),
                ("after-call.sqs.ReceiveMessage", self.on_sqs_received),
            ]
        if "sns" in on:
            table += [
                ("before-parameter-build.sns.Publish", self.on_sns_publish),
                ("before-parameter-build.sns.PublishBatch", self.on_sns_publish),
            ]
        if "eventbridge" in on:
            table.append(("before-parameter-build.eventbridge.PutEvents", self.on_put_events))
        if "stepfunctions" in on:
            table += [
                ("before-parameter-build.sfn.StartExecution", self.on_start_execution),
                ("before-parameter-build.sfn.StartSyncExecution", self.on_start_execution),
            ]
        # Always: Invoke's faas.* attributes need the client's region.
        for operation in ("Invoke", "InvokeWithResponseStream", "InvokeAsync"):
            table.append((f"before-parameter-build.lambda.{operation}", self.on_lambda_invoke))
        return [(event, handler, "normal", f"botocore_otel.payload.{event}") for event, handler in table]

    # -- shared ------------------------------------------------------------------------
    def _span(
        self, context: Mapping[str, Any], params: Mapping[str, Any] | None = None, model: Any = None
    ) -> Span | None:
        if not self._calls.enabled or STATE_KEY not in context:
            return None
        if model is not None and params is not None and not _valid(params, model):
            return None  # botocore will refuse the call: it must not get a span opened early
        span = self._calls.call_span(context)
        return span if span is not None and span.get_span_context().is_valid else None

    def _fields(self, span: Span) -> dict[str, str]:
        textmap, is_default = global_textmap()
        if is_default and not self._baggage:
            return w3c_fields(span.get_span_context())
        context = set_span_in_context(span)
        if not self._baggage:
            context = otel_baggage.clear(context)
        carrier: dict[str, str] = {}
        textmap.inject(carrier, context=context)
        # A custom propagator's odd value would break the size check or the message.
        carrier = {
            k: v
            for k, v in carrier.items()
            if isinstance(k, str) and isinstance(v, str) and not unsendable_field(k, v)
        }
        first = {name: carrier.pop(name) for name in _FIRST if name in carrier}
        return {**first, **carrier}

    @staticmethod
    def _skipped(span: Span, skipped: int) -> None:
        if skipped:
            span.set_attribute(SKIPPED_ATTRIBUTE, skipped)

    # -- SQS / SNS -----------------------------------------------------------------------
    def _messages(
        self, span: Span, params: dict[str, Any], entries_key: str | None, body_key: str, sqs: bool
    ) -> None:
        fields = self._fields(span)
        header = xray_header_value(span.get_span_context()) if sqs and self._aws_trace_header else None
        if entries_key is None:
            messages: list[Any] = [params]
        else:
            entries = params.get(entries_key)
            if not isinstance(entries, (list, tuple)):
                return
            messages = list(entries)
        budget = [MAX_MESSAGE_BYTES]
        for message in messages:
            if isinstance(message, Mapping):
                attributes = message.get("MessageAttributes") or {}
                if isinstance(attributes, Mapping):
                    budget[0] -= _message_size(message.get(body_key), attributes)
        skipped = 0
        for index, message in enumerate(messages):
            if not isinstance(message, Mapping):
                continue
            changes: dict[str, Any] = {}
            attributes = message.get("MessageAttributes") or {}
            if isinstance(attributes, Mapping):
                updated, missed = _with_fields(attributes, fields, budget)
                if updated is not None:
                    changes["MessageAttributes"] = updated
                skipped += missed
            else:
                skipped += 1
            system = _with_trace_header(message, header) if header else None
            if system is not None:
                changes["MessageSystemAttributes"] = system
            if changes and entries_key is None:
                params.update(changes)  # botocore's own dict
            elif changes:
                messages[index] = {**message, **changes}
        if entries_key is not None and any(
            a is not b for a, b in zip(messages, params[entries_key], strict=True)
        ):
            params[entries_key] = messages
        self._skipped(span, skipped)

    def on_sqs_send(
        self, params: dict[str, Any], context: Mapping[str, Any], model: Any = None, **_: Any
    ) -> None:
        try:
            span = self._span(context, params, model)
            if span is not None:
                batch = "Entries" if "Entries" in params else None
                self._messages(span, params, batch, "MessageBody", sqs=True)
        except Exception as error:
            report("SQS payload propagation", error)

    def on_sns_publish(
        self, params: dict[str, Any], context: Mapping[str, Any], model: Any = None, **_: Any
    ) -> None:
        try:
            if not params.get("TopicArn") or params.get("TargetArn") or params.get("PhoneNumber"):
                return  # SMS and mobile push: left exactly as the caller wrote them
            span = self._span(context, params, model)
            if span is not None:
                batch = "PublishBatchRequestEntries" if "PublishBatchRequestEntries" in params else None
                self._messages(span, params, batch, "Message", sqs=False)
        except Exception as error:
            report("SNS payload propagation", error)

    def _receive_attribute_names(self) -> tuple[str, ...]:
        textmap = get_global_textmap()
        known, names = self._receive_names
        if known is not textmap:
            fields = [f for f in sorted(textmap.fields) if self._baggage or f != "baggage"]
            names = tuple(dict.fromkeys([*_FIRST, *fields]))
            self._receive_names = (textmap, names)
        return names

    def on_sqs_receive_request(
        self, params: dict[str, Any], context: Mapping[str, Any], model: Any = None, **_: Any
    ) -> None:
        """Asks for our attributes too, keeping the caller's (their list is copied)."""
        if not self._calls.enabled or STATE_KEY not in context:
            return
        try:
            names = params.get("MessageAttributeNames")
            if names is None or isinstance(names, (list, tuple)):
                names = list(names or ())
                if "All" not in names and ".*" not in names:
                    wanted = [n for n in self._receive_attribute_names() if n not in names]
                    if wanted:
                        params["MessageAttributeNames"] = names + wanted
            if self._aws_trace_header:
                key = "MessageSystemAttributeNames"
                # botocore before MessageSystemAttributeNames (1.34.0 ...) knows only the
                # older list; naming the new one there would fail the caller's call.
                known = getattr(getattr(model, "input_shape", None), "members", None)
                unknown = known is not None and key not in known
                if key not in params and ("AttributeNames" in params or unknown):
                    key = "AttributeNames"
                system = params.get(key)
                if system is None or isinstance(system, (list, tuple)):
                    system = list(system or ())
                    if "All" not in system and "AWSTraceHeader" not in system:
                        params[key] = [*system, "AWSTraceHeader"]
        except Exception as error:
            report("SQS receive request", error)

    def on_sqs_received(self, parsed: Mapping[str, Any] | None, context: Mapping[str, Any], **_: Any) -> None:
        """Links the receive span to the span that sent each message."""
        try:
            span = self._span(context)
            if span is None or not span.is_recording() or not parsed or "Error" in parsed:
                return
            messages = parsed.get("Messages") or []
            span.set_attribute("messaging.batch.message_count", len(messages))
            seen: set[tuple[int, int]] = set()
            for message in messages:
                if not isinstance(message, Mapping):
                    continue
                producer = producer_context(read_message(message))
                if producer is None or (producer.trace_id, producer.span_id) in seen:
                    continue
                seen.add((producer.trace_id, producer.span_id))
                message_id = message.get("MessageId")
                span.add_link(producer, {"messaging.message.id": message_id} if message_id else None)
        except Exception as error:
            report("SQS receive links", error)

    # -- EventBridge, Step Functions, Lambda ---------------------------------------------
    def on_put_events(
        self, params: dict[str, Any], context: Mapping[str, Any], model: Any = None, **_: Any
    ) -> None:
        try:
            entries = params.get("Entries")
            if not isinstance(entries, (list, tuple)) or not entries:
                return
            span = self._span(context, params, model)
            if span is None:
                return
            header = xray_header_value(span.get_span_context())
            updated = [
                {**e, "TraceHeader": header} if isinstance(e, Mapping) and not e.get("TraceHeader") else e
                for e in entries
            ]
            if any(a is not b for a, b in zip(updated, entries, strict=True)):
                params["Entries"] = updated
        except Exception as error:
            report("EventBridge payload propagation", error)

    def on_start_execution(
        self, params: dict[str, Any], context: Mapping[str, Any], model: Any = None, **_: Any
    ) -> None:
        try:
            span = self._span(context, params, model) if not params.get("traceHeader") else None
            if span is not None:
                params["traceHeader"] = xray_header_value(span.get_span_context())
        except Exception as error:
            report("Step Functions payload propagation", error)

    def on_lambda_invoke(
        self,
        params: dict[str, Any],
        context: Mapping[str, Any],
        event_name: str = "",
        model: Any = None,
        **_: Any,
    ) -> None:
        try:
            span = self._span(context, params, model)
            if span is None:
                return
            if span.is_recording():
                span.set_attributes(lambda_target(params.get("FunctionName"), context.get("client_region")))
            if "lambda" not in self._services or event_name.endswith(".InvokeAsync"):
                return
            encoded, skipped = client_context_with(params.get("ClientContext"), self._fields(span))
            if encoded is not None:
                params["ClientContext"] = encoded
            self._skipped(span, int(skipped))
        except Exception as error:
            report("Lambda payload propagation", error)


def _valid(params: Mapping[str, Any], model: Any) -> bool:
    """What botocore's own validation (run right after this event) will say."""
    from botocore.validate import ParamValidator

    input_shape = getattr(model, "input_shape", None)
    return input_shape is None or not ParamValidator().validate(params, input_shape).has_errors()


def client_context_with(existing: object, fields: Mapping[str, str]) -> tuple[str | None, bool]:
    """(the base64 ClientContext with ``fields`` added to ``custom``, or None; skipped)."""
    document: object = {}
    if existing is not None:
        try:
            document = json.loads(base64.b64decode(str(existing), validate=True))
        except (ValueError, binascii.Error):
            return None, True
    custom = document.get("custom", {}) if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(custom, dict):
        return None, True
    if any(name in custom for name in fields):
        return None, False
    text = json.dumps({**document, "custom": {**custom, **fields}}, separators=(",", ":"))
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(encoded) > MAX_CLIENT_CONTEXT:
        return None, True
    return encoded, False


def service_handlers(settings: Settings, calls: CallSpans) -> list[Handler]:
    """Every handler this module adds, for ``wiring._Instrumentation`` to register."""
    handlers = PayloadPropagator(settings, calls).handlers()
    if settings.capture:
        from botocore_otel.capture import CaptureHandler  # only when captures are configured

        handlers += CaptureHandler(settings.capture, calls).handlers()
    return handlers
