"""SQS: billable requests. Each started 64 KiB of a request's payload (message bodies and
attributes; a batch sums its entries) is one request, at least one per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore_otel.capacity.recorder import Handler, Recorder, handler
from botocore_otel.converters import queue_name
from botocore_otel.errors import report
from botocore_otel.state import STATE_KEY

CHUNK = 65_536
# operation -> the list of entries whose payloads sum (None: the request itself is the entry)
_PAYLOADS: Mapping[str, str | None] = {"SendMessage": None, "SendMessageBatch": "Entries"}


# dict, not Mapping, in the per-call checks: an ABC isinstance costs more than the rest.


def _size(text: Any) -> int:
    if isinstance(text, str):
        return len(text) if text.isascii() else len(text.encode())
    return len(text) if isinstance(text, (bytes, bytearray)) else 0


def _attributes_size(attributes: Any) -> int:
    if not isinstance(attributes, dict):
        return 0
    size = 0
    for name, value in attributes.items():
        size += _size(name)
        if isinstance(value, dict):
            size += _size(value.get("DataType")) + _size(value.get("StringValue"))
            size += _size(value.get("BinaryValue"))
    return size


def message_size(entry: Mapping[str, Any]) -> int:
    return (
        _size(entry.get("MessageBody"))
        + _attributes_size(entry.get("MessageAttributes"))
        + _attributes_size(entry.get("MessageSystemAttributes"))
    )


def billable_requests(operation: str, params: Mapping[str, Any] | None) -> int:
    if operation not in _PAYLOADS or not params:
        return 1
    member = _PAYLOADS[operation]
    if member is None:
        size = message_size(params)
    else:
        entries = params.get(member)
        entries = entries if isinstance(entries, list) else ()
        size = sum(message_size(e) for e in entries if isinstance(e, dict))
    return max(1, -(-size // CHUNK))


class SQSCapacity:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._queues = recorder.limiter("messaging.destination.name")

    def handlers(self) -> list[Handler]:
        return [handler("response-received.sqs", self.on_response_received)]

    def on_response_received(
        self, response_dict: Mapping[str, Any] | None, context: dict[str, Any], **_: Any
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
            amount = billable_requests(state.info.operation, params)
            self._recorder.add("sqs", amount, state, values, self._recorder.synthetic(state, response_dict))
        except Exception as error:
            report("counting SQS requests", error)
