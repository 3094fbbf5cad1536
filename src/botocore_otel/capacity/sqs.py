"""SQS: billable requests. Each started 64 KiB of a request's payload is one request, at least
one per request: what SendMessage and SendMessageBatch send (message bodies and attributes, the
trace context that payload propagation wrote among them; a batch sums its entries), and what
ReceiveMessage gets back (the bodies and message attributes of the messages it returns).
System attributes (the X-Ray header) do not count in a message's size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore_otel.capacity.recorder import Handler, Recorder, handler
from botocore_otel.carriers import message_size
from botocore_otel.converters import queue_name
from botocore_otel.errors import report
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import PAYLOAD_BYTES_KEY, STATE_KEY

CHUNK = 65_536
# operation -> the list of entries whose payloads sum (None: the request itself is the entry)
_PAYLOADS: Mapping[str, str | None] = {"SendMessage": None, "SendMessageBatch": "Entries"}
_RECEIVE = "ReceiveMessage"


def _payload(entry: Mapping[str, Any], body: str = "MessageBody") -> int:
    attributes = entry.get("MessageAttributes")
    return message_size(entry.get(body), attributes if type(attributes) is dict else {})


def _chunks(size: int) -> int:
    return max(1, -(-size // CHUNK))


def billable_requests(operation: str, params: Mapping[str, Any] | None, added_bytes: int = 0) -> int:
    """``added_bytes``: what payload propagation wrote into the serialized body."""
    if operation not in _PAYLOADS or not params:
        return 1
    member = _PAYLOADS[operation]
    if member is None:
        size = _payload(params)
    else:
        entries = params.get(member)
        entries = entries if isinstance(entries, (list, tuple)) else ()
        size = sum(_payload(e) for e in entries if type(e) is dict)
    return _chunks(size + added_bytes)


def received_billable_requests(parsed: Any) -> int:
    """A ReceiveMessage answer: its messages' payloads (an empty or failed receive is 1)."""
    messages = parsed.get("Messages") if type(parsed) is dict else None
    if not isinstance(messages, list):
        return 1
    return _chunks(sum(_payload(m, "Body") for m in messages if type(m) is dict))


class SQSCapacity(SharedOnCopy):
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._queues = recorder.limiter("messaging.destination.name")

    def handlers(self) -> list[Handler]:
        return [handler("response-received.sqs", self.on_response_received)]

    def on_response_received(
        self,
        response_dict: Mapping[str, Any] | None,
        context: dict[str, Any],
        parsed_response: Any = None,
        **_: Any,
    ) -> None:
        state = context.get(STATE_KEY)
        if state is None or response_dict is None or state.attempts == 0:
            return  # no answer: the request may not have reached SQS
        try:
            params = state.params or {}
            queue = queue_name(params.get("QueueUrl")) or params.get("QueueName")
            values: tuple[tuple[str, Any], ...] = (
                ("rpc.method", state.info.metric_attributes["rpc.method"]),
            )
            if isinstance(queue, str) and queue:
                values = (("messaging.destination.name", self._queues(queue)), *values)
            operation = state.info.operation
            if operation == _RECEIVE:
                amount = received_billable_requests(parsed_response)
            else:
                amount = billable_requests(operation, params, context.get(PAYLOAD_BYTES_KEY, 0))
            self._recorder.add("sqs", amount, state, values, self._recorder.synthetic(state, response_dict))
        except Exception as error:
            report("counting SQS requests", error)
