"""The four Bedrock Runtime GenAI operations, as :class:`~botocore_otel.services.OperationExtras`
with an end hook that the lifecycle calls when the call ends (see ``Lifecycle._finish``)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from botocore_otel.attributes import exception_type
from botocore_otel.errors import report
from botocore_otel.genai.call import GenAICall
from botocore_otel.genai.runtime import PROVIDER, runtime_of


@dataclass(slots=True)
class GenAIOperation:
    converse: bool
    stream_member: str | None
    """The parsed response's stream (ConverseStream ``stream``, InvokeModel...Stream ``body``)."""
    static_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    span_kind: SpanKind | None = None
    span_name: str | None = None  # renamed "{operation} {model}" at the end: the model is per call

    def request_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]:
        return {}  # set by the end hook with the rest, from the same parsed body

    def response_attributes(self, parsed: Mapping[str, Any]) -> dict[str, AttributeValue]:
        return {}

    def end_hook(self, lifecycle: Any, state: Any, outcome: Any) -> bool:
        """Records the call's GenAI telemetry (``outcome``: a ``state.Outcome``); True when a
        response stream keeps the call open (the stream then calls ``lifecycle.end_call``)."""
        try:
            runtime = runtime_of(lifecycle)
            span = state.span
            recording = span is not None and span.is_recording()
            if not recording and runtime.duration is None:
                return False  # unsampled, metrics off: nothing to record
            call = GenAICall(runtime, state, self.converse, recording)
            parsed = outcome.parsed
            if outcome.error_type is None and isinstance(parsed, dict):
                if self.stream_member is not None:
                    return _follow(call, lifecycle, outcome, self.stream_member, state.is_async, body=False)
                if self.converse:
                    call.read_answer(parsed)
                elif call.family.has_answer or call.capture:
                    if state.is_async:  # reading needs an await: ends when the app has read it
                        return _follow(call, lifecycle, outcome, "body", True, body=True)
                    broken = _read_body(call, parsed)
                    if broken is not None:  # the call failed after all, as the app will see
                        outcome.error_type, outcome.exception = exception_type(broken), broken
            call.finish(outcome.end_ns, outcome.error_type)
        except Exception as error:
            report("GenAI telemetry", error)
        return False


def _follow(call: GenAICall, lifecycle: Any, outcome: Any, member: str, is_async: bool, body: bool) -> bool:
    from botocore_otel.genai import streams  # wrapt: only once a stream is seen

    return streams.follow(call, lifecycle, outcome, member, is_async=is_async, body=body)


class _Broken(io.RawIOBase):
    """The raw stream of a body whose reading failed: each read raises that error again."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise self._error

    def readinto(self, buffer: Any) -> int:
        raise self._error


def _read_body(call: GenAICall, parsed: dict[str, Any]) -> Exception | None:
    """Reads botocore's InvokeModel body and puts back one the application reads the same:
    the same bytes, or, when reading failed (the connection broke, a short body), the same
    error, which is returned."""
    import json

    from botocore.response import StreamingBody

    body = parsed.get("body")
    if body is None or not hasattr(body, "read"):
        return None
    try:
        data = body.read()
    except Exception as error:
        parsed["body"] = StreamingBody(_Broken(error), None)
        body.close()
        return error
    parsed["body"] = StreamingBody(io.BytesIO(data), len(data))
    body.close()
    try:
        document = json.loads(data)
    except ValueError:
        return None
    if isinstance(document, dict):
        call.read_answer(document)
    return None


_OPERATIONS = {
    "Converse": (True, None),
    "ConverseStream": (True, "stream"),
    "InvokeModel": (False, None),
    "InvokeModelWithResponseStream": (False, "body"),
}


def operation_extras(operation: str) -> GenAIOperation | None:
    entry = _OPERATIONS.get(operation)
    if entry is None:
        return None
    static: dict[str, AttributeValue] = {"gen_ai.provider.name": PROVIDER}
    return GenAIOperation(converse=entry[0], stream_member=entry[1], static_attributes=static)
