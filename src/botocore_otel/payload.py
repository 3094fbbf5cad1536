"""Trace context in message payloads, and request tweaks for receivers and user captures.

Handlers on ``before-parameter-build.<service>.<Operation>`` (registered only for the
operations that need them), so what they add is serialized and signed like any other
parameter. The call's span does not exist yet, and must not: botocore may still refuse the
parameters, or a Stubber answer at ``before-call``, and such a call gets no span. So the
message gets the fields of a *placeholder* span context (the parent's trace, a random span
id); at ``before-call.<service>.<Operation>``, which only a call about to be sent reaches,
the span opens and its real fields replace the placeholders in the serialized body, before
signing. Copy-on-write: the top-level ``params`` dict is botocore's own, every nested dict
or list is the caller's and is copied before it is changed.

* SQS SendMessage(Batch), SNS Publish(Batch): ``MessageAttributes`` (``String``), at most
  10 per message and 256 KiB per request; traceparent first, then tracestate, then the
  rest of the global propagator's fields (baggage only with ``baggage=True``).
  ``sqs_aws_trace_header=True`` adds the X-Ray ``AWSTraceHeader`` system attribute.
  SNS only when publishing to a topic (never to a phone number or an endpoint).
* EventBridge PutEvents: each entry's ``TraceHeader`` (X-Ray format) unless present.
* Lambda Invoke: ``ClientContext.custom`` (kept keys; skipped past 3583 encoded bytes), at
  ``request-created``: a Stubber-answered call gets no span.
* Step Functions StartExecution/StartSyncExecution: ``traceHeader`` unless present.
* Kinesis: not offered; the only place for context is the record's ``Data``.

A message that cannot take the context (no room, too big, unreadable ClientContext) is
sent unchanged and counted in the call span's ``botocore_otel.propagation.skipped``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage as otel_baggage
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

from botocore_otel._failsafe import report
from botocore_otel.carriers import (
    MAX_MESSAGE_BYTES,
    client_context_with,
    message_size,
    replaced,
    with_fields,
    with_trace_header,
)
from botocore_otel.config import Settings
from botocore_otel.converters import lambda_target
from botocore_otel.messaging import producer_context, read_message
from botocore_otel.propagation import global_textmap, unsendable_field, w3c_fields, xray_header_value
from botocore_otel.state import STATE_KEY

if TYPE_CHECKING:
    from botocore_otel.capture import CallSpans, Handler

SKIPPED_ATTRIBUTE = "botocore_otel.propagation.skipped"
_CLIENT_CONTEXT = "X-Amz-Client-Context"
_FIRST = ("traceparent", "tracestate")
# botocore's per-call context: the call's _Pending, until before-call
_PENDING = "botocore_otel.payload.pending"
_XRAY = ""  # in _Pending.written: the X-Ray header, not a propagator field
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class _Pending:
    """What one call's message got at before-parameter-build, until before-call replaces it."""

    __slots__ = ("skipped", "span", "written")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.skipped = 0
        self.written: dict[str, str] = {}
        """placeholder value -> the field it stands for (``_XRAY``: the X-Ray header)"""


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
        if "lambda" in on:
            for operation in ("Invoke", "InvokeWithResponseStream"):
                table.append((f"request-created.lambda.{operation}", self.on_lambda_request))
        # Only a call about to be sent gets here: the span opens, its fields replace the placeholders.
        table += [
            (event.replace("before-parameter-build.", "before-call.", 1), self.on_send_ready)
            for event, handler in list(table)
            if handler in (self.on_sqs_send, self.on_sns_publish, self.on_put_events, self.on_start_execution)
        ]
        return [(event, handler, "normal", f"botocore_otel.payload.{event}") for event, handler in table]

    # -- shared ------------------------------------------------------------------------
    def _span(self, context: Mapping[str, Any]) -> Span | None:
        """The call's span, opened now if need be (only once the call is going to be sent)."""
        if not self._calls.enabled or STATE_KEY not in context:
            return None
        span = self._calls.call_span(context)
        return span if span is not None and span.get_span_context().is_valid else None

    def _placeholder(self, context: dict[str, Any]) -> _Pending | None:
        """A stand-in for the call's span at before-parameter-build (see the module's doc)."""
        if not self._calls.enabled or STATE_KEY not in context:
            return None
        parent = get_current_span(self._calls.parent_context(context)).get_span_context()
        span_id = random.getrandbits(64) or 1
        if parent.is_valid:
            placeholder = SpanContext(parent.trace_id, span_id, False, parent.trace_flags, parent.trace_state)
        else:
            placeholder = SpanContext(random.getrandbits(128) or 1, span_id, False, _SAMPLED)
        pending = context[_PENDING] = _Pending(NonRecordingSpan(placeholder))
        return pending

    def _placeholder_fields(self, pending: _Pending) -> dict[str, str]:
        fields = self._fields(pending.span)
        pending.written.update({value: name for name, value in fields.items()})
        return fields

    @staticmethod
    def _placeholder_xray(pending: _Pending) -> str:
        header = xray_header_value(pending.span.get_span_context())
        pending.written[header] = _XRAY
        return header

    def on_send_ready(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """At before-call: the span opens, and its fields replace the placeholders."""
        pending = context.pop(_PENDING, None)
        if pending is None:
            return
        try:
            span = self._span(context)
            if span is None:
                return
            names = set(pending.written.values())
            real_fields = self._fields(span) if names - {_XRAY} else {}
            if _XRAY in names:
                real_fields[_XRAY] = xray_header_value(span.get_span_context())
            replacements = {value: real_fields.get(name, value) for value, name in pending.written.items()}
            params["body"] = replaced(params.get("body"), replacements)
            self._skipped(span, pending.skipped)
        except Exception as error:
            report("payload propagation", error)

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
        self,
        pending: _Pending,
        params: dict[str, Any],
        entries_key: str | None,
        body_key: str,
        sqs: bool,
    ) -> None:
        fields = self._placeholder_fields(pending)
        header = self._placeholder_xray(pending) if sqs and self._aws_trace_header else None
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
                    budget[0] -= message_size(message.get(body_key), attributes)
        skipped = 0
        for index, message in enumerate(messages):
            if not isinstance(message, Mapping):
                continue
            changes: dict[str, Any] = {}
            attributes = message.get("MessageAttributes") or {}
            if isinstance(attributes, Mapping):
                updated, missed = with_fields(attributes, fields, budget)
                if updated is not None:
                    changes["MessageAttributes"] = updated
                skipped += missed
            else:
                skipped += 1
            system = with_trace_header(message, header) if header else None
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
        pending.skipped += skipped

    def on_sqs_send(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            pending = self._placeholder(context)
            if pending is not None:
                batch = "Entries" if "Entries" in params else None
                self._messages(pending, params, batch, "MessageBody", sqs=True)
        except Exception as error:
            report("SQS payload propagation", error)

    def on_sns_publish(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            if not params.get("TopicArn") or params.get("TargetArn") or params.get("PhoneNumber"):
                return  # SMS and mobile push: left exactly as the caller wrote them
            pending = self._placeholder(context)
            if pending is not None:
                batch = "PublishBatchRequestEntries" if "PublishBatchRequestEntries" in params else None
                self._messages(pending, params, batch, "Message", sqs=False)
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
    def on_put_events(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            entries = params.get("Entries")
            if not isinstance(entries, (list, tuple)) or not entries:
                return
            pending = self._placeholder(context)
            if pending is None:
                return
            header = self._placeholder_xray(pending)
            updated = [
                {**e, "TraceHeader": header} if isinstance(e, Mapping) and not e.get("TraceHeader") else e
                for e in entries
            ]
            if any(a is not b for a, b in zip(updated, entries, strict=True)):
                params["Entries"] = updated
        except Exception as error:
            report("EventBridge payload propagation", error)

    def on_start_execution(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            pending = self._placeholder(context) if not params.get("traceHeader") else None
            if pending is not None:
                params["traceHeader"] = self._placeholder_xray(pending)
        except Exception as error:
            report("Step Functions payload propagation", error)

    def on_lambda_invoke(self, params: dict[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        """Invoke's faas.* attributes, set on the span when it opens."""
        if not self._calls.enabled:
            return
        try:
            target = lambda_target(params.get("FunctionName"), context.get("client_region"))
            self._calls.add_attributes(context, target)
        except Exception as error:
            report("Lambda attributes", error)

    def on_lambda_request(self, request: Any, **_: Any) -> None:
        """ClientContext, at request-created: only a call that goes to the wire gets here (a
        Stubber answers at before-call), and this more specific handler runs before the signer
        on ``request-created.lambda``, so the header is signed with the rest."""
        try:
            span = self._span(getattr(request, "context", None) or {})
            if span is None:
                return
            headers = request.headers
            encoded, skipped = client_context_with(headers.get(_CLIENT_CONTEXT), self._fields(span))
            if encoded is not None:
                if _CLIENT_CONTEXT in headers:
                    del headers[_CLIENT_CONTEXT]  # botocore's HTTPHeaders would keep both
                headers[_CLIENT_CONTEXT] = encoded
            self._skipped(span, int(skipped))
        except Exception as error:
            report("Lambda payload propagation", error)


def service_handlers(settings: Settings, calls: CallSpans) -> list[Handler]:
    """Every handler this module adds, for ``wiring._Instrumentation`` to register."""
    handlers = PayloadPropagator(settings, calls).handlers()
    if settings.capture:
        from botocore_otel.capture import CaptureHandler  # only when captures are configured

        handlers += CaptureHandler(settings.capture, calls).handlers()
    return handlers
