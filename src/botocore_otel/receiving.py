"""SQS ReceiveMessage: asks for the trace context attributes, and links the receive span to
the spans that sent the messages (the consumer's own span: ``messaging.process``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import Span, SpanContext

from botocore_otel.carriers import carriable_name
from botocore_otel.config import Settings
from botocore_otel.errors import report
from botocore_otel.messaging import producer_context, read_message
from botocore_otel.propagation import FIRST_FIELDS
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import STATE_KEY

if TYPE_CHECKING:
    from botocore_otel.capture import CallSpans


def valid_call_span(calls: CallSpans, context: Mapping[str, Any], url: str | None = None) -> Span | None:
    """The call's span, opened now if need be (only once the call is going to be sent)."""
    if not calls.enabled or STATE_KEY not in context:
        return None
    span = calls.call_span(context, url)
    return span if span is not None and span.get_span_context().is_valid else None


class SqsReceiving(SharedOnCopy):
    """The ReceiveMessage handlers of payload propagation (``payload_propagation`` with sqs)."""

    def __init__(self, settings: Settings, calls: CallSpans) -> None:
        self._baggage = settings.baggage
        self._aws_trace_header = settings.sqs_aws_trace_header
        self._calls = calls
        self._receive_names: tuple[object, tuple[str, ...]] = (None, ())

    def _receive_attribute_names(self) -> tuple[str, ...]:
        textmap = get_global_textmap()
        known, names = self._receive_names
        if known is not textmap:
            fields = [
                f
                for f in sorted(textmap.fields)
                if (self._baggage or f != "baggage") and isinstance(f, str) and carriable_name(f)
            ]
            names = tuple(dict.fromkeys([*FIRST_FIELDS, *fields]))
            self._receive_names = (textmap, names)
        return names

    def on_receive_request(
        self, params: dict[str, Any], context: Mapping[str, Any], model: Any = None, **_: Any
    ) -> None:
        """Asks for our attributes too, keeping the caller's (their list is copied). A list
        given as anything but a list or tuple (None among them) is the caller's, and botocore's
        to refuse."""
        if not self._calls.enabled or STATE_KEY not in context:
            return
        try:
            names = params.get("MessageAttributeNames", ())
            if isinstance(names, (list, tuple)):
                names = list(names)
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
                system = params.get(key, ())
                if isinstance(system, (list, tuple)):
                    system = list(system)
                    if "All" not in system and "AWSTraceHeader" not in system:
                        params[key] = [*system, "AWSTraceHeader"]
        except Exception as error:
            report("SQS receive request", error)

    def on_received(self, parsed: Mapping[str, Any] | None, context: Mapping[str, Any], **_: Any) -> None:
        """Links the receive span to the span that sent each message."""
        try:
            span = valid_call_span(self._calls, context)
            if span is None or not span.is_recording() or not parsed or "Error" in parsed:
                return
            messages = parsed.get("Messages") or []
            span.set_attribute("messaging.batch.message_count", len(messages))
            seen: set[tuple[int, int]] = set()
            for message in messages:
                producer = _producer_of(message)
                if producer is None or (producer.trace_id, producer.span_id) in seen:
                    continue
                seen.add((producer.trace_id, producer.span_id))
                message_id = message.get("MessageId")
                span.add_link(producer, {"messaging.message.id": message_id} if message_id else None)
        except Exception as error:
            report("SQS receive links", error)


def _producer_of(message: object) -> SpanContext | None:
    """The context of the span that sent one received message; None when it has none, or
    cannot be read: one odd message does not cost the others their links."""
    if not isinstance(message, Mapping):
        return None
    try:
        return producer_context(read_message(message))
    except Exception as error:
        report("reading a received SQS message's sender", error)
        return None
