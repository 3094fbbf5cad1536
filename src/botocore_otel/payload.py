"""Trace context in message payloads (the receive side: ``receiving.py``).

Handlers on ``before-parameter-build.<service>.<Operation>`` (registered only for the
operations that need them), so what they add is serialized and signed like any other
parameter. The call's span does not exist yet, and must not: botocore may still refuse the
parameters, or a Stubber answer at ``before-call``, and such a call gets no span. So the
message gets the fields of a *placeholder* span context (the parent's trace, a random span
id); at ``before-call.<service>.<Operation>``, which only a call about to be sent reaches,
the span opens and its real fields replace the placeholders in the serialized body, before
signing. Copy-on-write: the top-level ``params`` dict is botocore's own, every nested dict
or list is the caller's and is copied before it is changed.

SQS and SNS messages take a shorter way: a message (with attributes of the caller's or
without) or a batch gets nothing at before-parameter-build, and the attributes go straight
into the serialized body at before-call (JSON bytes, or the query protocol's parameters;
``batches.py``). botocore validating and serializing them would cost more than the rest of
the propagation together. The general way remains for an unknown protocol.

What each operation's messages get, and their limits: docs/services.md. In short:
``MessageAttributes`` of SQS and SNS (SNS to topics only; traceparent first; baggage only
with ``baggage=True``; SQS's ``AWSTraceHeader`` with ``sqs_aws_trace_header=True``), X-Ray
trace headers of EventBridge and Step Functions unless present, Lambda's ``ClientContext``
(at ``request-created``: a Stubber-answered call gets no span); Kinesis: not offered.

A message that cannot take the context (no room, too big, unreadable ClientContext) is
sent unchanged and counted in the call span's ``botocore_otel.propagation.skipped``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage as otel_baggage
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

from botocore_otel.batches import Batch, batch_of, message_of
from botocore_otel.carriers import (
    MAX_MESSAGE_BYTES,
    TRACEPARENT_COST,
    BodyLayout,
    QueryLayout,
    body_layout,
    carriable_name,
    client_context_with,
    json_body_with_traceparent,
    json_with_member,
    trace_header_member,
    utf8_size,
    with_message_attributes,
    write_into_parameters,
)
from botocore_otel.config import Settings
from botocore_otel.converters import lambda_target
from botocore_otel.errors import report
from botocore_otel.placeholders import replaced, without
from botocore_otel.propagation import (
    FIRST_FIELDS,
    global_textmap,
    unsendable_field,
    w3c_fields,
    xray_header_value,
)
from botocore_otel.receiving import SqsReceiving, valid_call_span
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import PAYLOAD_BYTES_KEY, STATE_KEY

if TYPE_CHECKING:
    from botocore_otel.capture import CallSpans, Handler

SKIPPED_ATTRIBUTE = "botocore_otel.propagation.skipped"
_CLIENT_CONTEXT = "X-Amz-Client-Context"
# botocore's per-call context: the call's _Pending, until before-call
_PENDING = "botocore_otel.payload.pending"
_XRAY = ""  # in _Pending.written: the X-Ray header, not a propagator field
# In place of a _Pending, a _Single or a Batch: nothing was written at
# before-parameter-build, the message attributes go into the serialized body at before-call
# (see _into_body_later).
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


# One message without attributes of the caller's: its body's layout, its body's key, and the
# parameters, which botocore serializes after every before-parameter-build handler, ours first
# among them: at before-call they hold what a later handler wrote too.
_Single = tuple[BodyLayout, str, Mapping[str, Any]]


class _Pending:
    """What one call's message got at before-parameter-build, until before-call replaces it."""

    __slots__ = ("skipped", "span", "written")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.skipped = 0
        self.written: dict[str, str] = {}
        """placeholder value -> the field it stands for (``_XRAY``: the X-Ray header)"""


class PayloadPropagator(SharedOnCopy):
    """The handlers of the ``payload_propagation`` setting and the receive tweaks."""

    def __init__(self, settings: Settings, calls: CallSpans) -> None:
        self._services = settings.payload_propagation
        self._baggage = settings.baggage
        self._aws_trace_header = settings.sqs_aws_trace_header
        self._calls = calls
        self._receiving = SqsReceiving(settings, calls)

    def handlers(self) -> list[Handler]:
        on = self._services
        table: list[tuple[str, Callable[..., Any]]] = []
        if "sqs" in on:
            table += [
                ("before-parameter-build.sqs.SendMessage", self.on_sqs_send),
                ("before-parameter-build.sqs.SendMessageBatch", self.on_sqs_send),
                ("before-parameter-build.sqs.ReceiveMessage", self._receiving.on_receive_request),
                ("after-call.sqs.ReceiveMessage", self._receiving.on_received),
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
        ready = {
            self.on_sqs_send: self.on_sqs_send_ready if self._aws_trace_header else self.on_send_ready,
            self.on_sns_publish: self.on_send_ready,
            self.on_put_events: self.on_send_ready,
            self.on_start_execution: self.on_send_ready,
        }
        table += [
            (event.replace("before-parameter-build.", "before-call.", 1), ready[handler])
            for event, handler in list(table)
            if handler in ready
        ]
        return [(event, handler, "normal", f"botocore_otel.payload.{event}") for event, handler in table]

    # -- shared ------------------------------------------------------------------------
    def _placeholder(self, context: dict[str, Any]) -> _Pending | None:
        """A stand-in for the call's span at before-parameter-build (see the module's doc)."""
        if not self._calls.enabled or STATE_KEY not in context:
            return None
        trace_id, _, _, flags, trace_state, is_valid = get_current_span(
            self._calls.parent_context(context)
        ).get_span_context()
        span_id = random.getrandbits(64) or 1
        if is_valid:
            placeholder = SpanContext(trace_id, span_id, False, flags, trace_state)
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

    def on_sqs_send_ready(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """``on_send_ready`` of SQS with ``sqs_aws_trace_header``: a message or batch that took
        the short way gets the X-Ray header in its body too."""
        self.on_send_ready(params, context, trace_header=True)

    def on_send_ready(
        self, params: dict[str, Any], context: dict[str, Any], trace_header: bool = False, **_: Any
    ) -> None:
        """At before-call: the span opens, and its fields replace the placeholders."""
        pending = context.pop(_PENDING, None)
        if pending is None:
            return
        try:
            # The endpoint is resolved by now: the span opens with server.address and port.
            url = params.get("url")
            span = valid_call_span(self._calls, context, url if isinstance(url, str) else None)
            if span is None:  # no context to send (a no-op tracer): not a made-up one either
                if isinstance(pending, _Pending) and pending.written:
                    params["body"] = without(params.get("body"), set(pending.written))
                return
            header = xray_header_value(span.get_span_context()) if trace_header else None
            if isinstance(pending, Batch):
                body, skipped = pending.with_fields(params.get("body"), self._fields(span), header)
                if body is not None:
                    params["body"] = body
                    context[PAYLOAD_BYTES_KEY] = pending.added_bytes
                self._skipped(span, skipped)
                return
            if isinstance(pending, tuple):
                added_bytes = self._into_body(span, params, pending, header)
                if added_bytes:
                    context[PAYLOAD_BYTES_KEY] = added_bytes
                return
            names = set(pending.written.values())
            real_fields = self._fields(span) if names - {_XRAY} else {}
            if _XRAY in names:
                real_fields[_XRAY] = header or xray_header_value(span.get_span_context())
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
        # A custom propagator's odd field would break the size check or fail the send.
        carrier = {
            k: v
            for k, v in carrier.items()
            if isinstance(k, str)
            and isinstance(v, str)
            and v  # SQS and SNS refuse an empty value
            and not unsendable_field(k, v)
            and carriable_name(k)
        }
        first = {name: carrier.pop(name) for name in FIRST_FIELDS if name in carrier}
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
        pending.skipped += write_into_parameters(params, entries_key, body_key, fields, header)

    def _into_body_later(
        self,
        params: Mapping[str, Any],
        context: dict[str, Any],
        model: Any,
        entries_key: str,
        body_key: str,
        trace_header: bool = False,
    ) -> bool:
        """Every message of a known protocol, with attributes of the caller's or without, and
        batches. Nothing is written now, and ours go straight into the serialized body at
        before-call: botocore validating and serializing them would cost more than the rest of
        the propagation together. ``trace_header``: the X-Ray header goes along."""
        if not self._calls.enabled or STATE_KEY not in context:
            return False
        later: _Single | Batch | None
        if entries_key in params:
            later = batch_of(model, entries_key, params[entries_key], body_key)
        elif "MessageAttributes" in params or (trace_header and "MessageSystemAttributes" in params):
            later = message_of(body_layout(model, body_key), params, body_key)
        else:
            layout = body_layout(model, body_key)
            if layout is None:
                return False
            later = (layout, body_key, params)
        if later is None:
            return False
        context[_PENDING] = later
        return True

    def _into_body(
        self, span: Span, params: dict[str, Any], single: _Single, trace_header: str | None
    ) -> int:
        """Writes one message's attributes into the serialized body; returns the bytes they take."""
        layout, body_key, message = single
        if "MessageAttributes" in message or (trace_header and "MessageSystemAttributes" in message):
            self._skipped(span, 1)  # added by a later before-parameter-build handler: left alone
            return 0
        body = params.get("body")
        # exact: the message has no attributes; its UTF-8 bytes, as the general way counts them
        budget = MAX_MESSAGE_BYTES - utf8_size(message.get(body_key))
        written: object | None = None
        added_bytes = 0
        if not self._baggage and global_textmap()[1]:
            written = json_body_with_traceparent(body, layout, span.get_span_context(), budget)
            added_bytes = TRACEPARENT_COST
        if written is None:
            written, added_bytes = with_message_attributes(body, layout, self._fields(span), budget)
            if written is None:
                self._skipped(span, 1)  # no room left, or not a body we know: sent as it was
        if trace_header is not None:
            with_header = written or body
            if isinstance(with_header, bytes):
                written = json_with_member(with_header, trace_header_member(trace_header).encode())
            elif isinstance(layout, QueryLayout) and isinstance(with_header, dict):
                written = with_header if layout.add_trace_header(with_header, trace_header) else written
        if written is not None:
            params["body"] = written
        return added_bytes

    def on_sqs_send(
        self, params: dict[str, Any], context: dict[str, Any], model: Any = None, **_: Any
    ) -> None:
        try:
            if self._into_body_later(
                params, context, model, "Entries", "MessageBody", trace_header=self._aws_trace_header
            ):
                return
            pending = self._placeholder(context)
            if pending is not None:
                batch = "Entries" if "Entries" in params else None
                self._messages(pending, params, batch, "MessageBody", sqs=True)
        except Exception as error:
            report("SQS payload propagation", error)

    def on_sns_publish(
        self, params: dict[str, Any], context: dict[str, Any], model: Any = None, **_: Any
    ) -> None:
        try:
            if not params.get("TopicArn") or params.get("TargetArn") or params.get("PhoneNumber"):
                return  # SMS and mobile push: left exactly as the caller wrote them
            if self._into_body_later(params, context, model, "PublishBatchRequestEntries", "Message"):
                return
            pending = self._placeholder(context)
            if pending is not None:
                batch = "PublishBatchRequestEntries" if "PublishBatchRequestEntries" in params else None
                self._messages(pending, params, batch, "Message", sqs=False)
        except Exception as error:
            report("SNS payload propagation", error)

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
                # absent only: a given value, even "" or None, is the caller's (and botocore's to refuse)
                {**e, "TraceHeader": header} if isinstance(e, Mapping) and "TraceHeader" not in e else e
                for e in entries
            ]
            if any(a is not b for a, b in zip(updated, entries, strict=True)):
                params["Entries"] = updated
        except Exception as error:
            report("EventBridge payload propagation", error)

    def on_start_execution(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            pending = self._placeholder(context) if "traceHeader" not in params else None
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
            context = getattr(request, "context", None) or {}
            span = valid_call_span(self._calls, context, getattr(request, "url", None))
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
    """Every handler this module adds, for ``instrumentation.Instrumentation`` to register."""
    handlers = PayloadPropagator(settings, calls).handlers()
    if settings.capture:
        from botocore_otel.capture import CaptureHandler  # only when captures are configured

        handlers += CaptureHandler(settings.capture, calls).handlers()
    return handlers
