"""The AWS event-stream framing of the scripted Bedrock Runtime's streams (prelude, CRCs,
``:event-type`` / ``:content-type`` / ``:message-type`` headers): ConverseStream's events,
InvokeModelWithResponseStream's ``chunk`` events (base64 JSON), and exception frames
(``:message-type=exception``).

The frames are built with the library's own encoder (``botocore_otel.synthetic.eventstream``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore_otel.synthetic.eventstream import HEADER_ENCODERS, encode_message, event_message
from tests.support.bedrock_bodies import Reply, converse_stream_events, invoke_stream_chunks

_string = HEADER_ENCODERS["string"]


def _event_frame(event_type: str, document: dict[str, Any]) -> bytes:
    return event_message(event_type, json.dumps(document).encode(), "application/json")


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = [
        (":message-type", _string("exception")),
        (":exception-type", _string(exception_type)),
        (":content-type", _string("application/json")),
    ]
    return encode_message(headers, json.dumps({"message": message}).encode())


def stream_frames(operation: str, model_id: str, reply: Reply) -> list[bytes]:
    if operation == "converse-stream":
        frames = [_event_frame(t, d) for t, d in converse_stream_events(reply)]
    else:
        frames = [
            _event_frame("chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode()})
            for c in invoke_stream_chunks(model_id, reply)
        ]
    if reply.stream_error:
        frames = [*frames[: reply.stream_error_after], exception_frame(reply.stream_error, "stream broke")]
    return frames
