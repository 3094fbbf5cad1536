"""GenAI telemetry of one Bedrock Runtime call: request parameters, the answer's usage and stop
reasons (from the parsed response, the InvokeModel body or the stream's events), the span's
``{operation} {model}`` name and attributes, and the ``gen_ai.client.*`` metrics.

Runs once, when the call ends (:meth:`GenAICall.finish`); for a response stream that is when
the application is done with the stream (see :mod:`botocore_otel.genai.streams`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from botocore_otel.attributes import Attributes
from botocore_otel.converters import is_int64, texts
from botocore_otel.genai.families import CONVERSE, Family, dig, estimate_tokens, family_of
from botocore_otel.genai.runtime import PROVIDER, GenAIRuntime

_NS = 1e-9
_USAGE_ATTRIBUTES = (
    ("input", "gen_ai.usage.input_tokens"),
    ("output", "gen_ai.usage.output_tokens"),
    ("cache_read", "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write", "gen_ai.usage.cache_creation.input_tokens"),
)
_INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"
_CONVERSE_GUARDRAIL = ("guardrailConfig", "guardrailIdentifier")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _token_count(value: Any) -> int | None:
    """A usage figure an attribute can carry: a count in 64 bits (a float one, finite, as an
    int); anything else None (the figure is left out)."""
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) else None
    return value if is_int64(value) and value >= 0 else None


def _request_number(value: Any, integer: bool) -> int | float | None:
    """A request parameter as the conventions type it: a number as is; a string that spells a
    finite number (a Titan body's ``"temperature": "0.5"``) as a float, or as an
    int for ``integer`` ones when it is whole; anything else None (the attribute is left out).
    An int beyond 64 bits is left out too: OTLP cannot carry it (its exporter fails on it)."""
    if _number(value):
        number: int | float = value
    elif not isinstance(value, str) or len(value) > 64:
        return None
    else:
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        if integer:
            if not number.is_integer():
                return None
            number = int(number)
    if isinstance(number, int) and not is_int64(number):
        return None
    return number


def _json_body(body: Any) -> Mapping[str, Any] | None:
    """An InvokeModel request body (bytes or str; a file object is left unread)."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            document = json.loads(body)
        except ValueError:
            return None
        return document if isinstance(document, Mapping) else None
    return None


class GenAICall:
    """What one call's GenAI telemetry gathers until it ends."""

    __slots__ = (
        "blocks",
        "capture",
        "family",
        "finish_reasons",
        "first_chunk_ns",
        "model",
        "operation",
        "recording",
        "request",
        "runtime",
        "state",
        "streamed",
        "text",
        "usage",
    )

    def __init__(self, runtime: GenAIRuntime, state: Any, converse: bool, recording: bool) -> None:
        params: Mapping[str, Any] = state.params or {}
        self.runtime = runtime
        self.state = state
        self.recording = recording
        self.capture = recording and runtime.capture_content
        self.model = str(params.get("modelId") or "")
        self.family: Family = CONVERSE if converse else family_of(self.model)
        self.operation = "chat" if converse else self.family.operation
        self.request: Mapping[str, Any] | None = params
        if not converse:
            wanted = recording or self.family.prompt
            self.request = _json_body(params.get("body")) if wanted else None
        self.usage: dict[str, int] = {}
        self.finish_reasons: list[str] = []
        self.first_chunk_ns = 0
        self.text: list[str] | None = [] if self.capture else None
        self.blocks: Any = None
        self.streamed: list[Any] | None = None
        """A stream's text and tool calls in order, once a tool call comes (captured content):
        text as str, a tool call as (its start block, the pieces of its input)."""

    # -- the answer -------------------------------------------------------------------------
    def read_answer(self, document: Mapping[str, Any]) -> None:
        """A whole answer: Converse's parsed response or an InvokeModel body."""
        self._read_usage(document)
        reason = dig(document, self.family.finish_reason)
        if isinstance(reason, str):
            self.finish_reasons = [reason]
        if "output" not in self.usage:
            estimate = estimate_tokens(dig(document, self.family.output_text))
            if estimate is not None:
                self.usage["output"] = estimate
        if self.capture:
            self.blocks = dig(document, self.family.output_content)
            if self.blocks is None and self.text is not None:
                text = dig(document, self.family.output_text)
                if isinstance(text, str):
                    self.text.append(text)

    def _read_usage(self, document: Any) -> None:
        family = self.family
        for key, path in (
            ("input", family.input_tokens),
            ("output", family.output_tokens),
            ("cache_read", family.cache_read_tokens),
            ("cache_write", family.cache_write_tokens),
        ):
            count = _token_count(dig(document, path))
            if count is not None:
                self.usage[key] = count

    def read_event(self, event: Mapping[str, Any], now_ns: int) -> bool:
        """One stream event (a ConverseStream event, or an InvokeModel chunk decoded);
        True for the last one (usage has come)."""
        if not self.first_chunk_ns:
            self.first_chunk_ns = now_ns
        family = self.family
        for path in family.stream_finish_reasons:
            reason = dig(event, path)
            if isinstance(reason, str):
                self.finish_reasons = [reason]
        for path in family.stream_usage:
            part = dig(event, path) if path else event
            if isinstance(part, Mapping):
                self._read_usage(part)
        if self.text is not None:
            self._read_streamed_content(event, self.text)
        metrics = event.get(_INVOCATION_METRICS)
        if isinstance(metrics, Mapping):
            for key, name in (("input", "inputTokenCount"), ("output", "outputTokenCount")):
                count = _token_count(metrics.get(name))
                if count is not None:
                    self.usage[key] = count
            return True
        return "metadata" in event

    def _read_streamed_content(self, event: Mapping[str, Any], text: list[str]) -> None:
        family = self.family
        for path in family.stream_text:
            piece = dig(event, path)
            if isinstance(piece, str):
                text.append(piece)
        if not family.stream_tool_start:
            return
        start = dig(event, family.stream_tool_start)
        if isinstance(start, Mapping) and ("toolUseId" in start or start.get("type") == "tool_use"):
            if self.streamed is None:
                self.streamed = []
            if text:
                self.streamed.append("".join(text))
                text.clear()
            self.streamed.append((start, []))
            return
        piece = dig(event, family.stream_tool_input)
        if isinstance(piece, str) and self.streamed and isinstance(self.streamed[-1], tuple):
            self.streamed[-1][1].append(piece)

    # -- the end ------------------------------------------------------------------------------
    def finish(self, end_ns: int, error_type: str | None) -> None:
        if "input" not in self.usage and self.request is not None and self.family.prompt:
            estimate = estimate_tokens(dig(self.request, self.family.prompt))
            if estimate is not None:
                self.usage["input"] = estimate
        span = self.state.span
        if self.recording and span is not None:
            if self.model:
                span.update_name(f"{self.operation} {self.model}")
            span.set_attributes(self.span_attributes())
        runtime = self.runtime
        if runtime.duration is None:
            return
        if runtime.capacity_tokens is not None and error_type is None:
            runtime.capacity_tokens(self.state, self.model, self.usage)
        synthetic = self.state.synthetic_rule is not None
        model = runtime.models(self.model) if self.model and runtime.models is not None else self.model
        if error_type is not None and runtime.error_types is not None:
            error_type = runtime.error_types(self.state, error_type)
        attributes = runtime.metric_attributes(self.operation, model, error_type, synthetic)
        measured_in = self.state.sent_in  # exemplars point at the call's span (metrics.py)
        runtime.duration.record(max(0, end_ns - self.state.start_ns) * _NS, attributes, measured_in)
        for key, token_type in (("input", "input"), ("output", "output")):
            if key in self.usage:
                runtime.tokens.record(
                    self.usage[key],
                    runtime.metric_attributes(self.operation, model, error_type, synthetic, token_type),
                    measured_in,
                )
        if self.first_chunk_ns:
            runtime.time_to_first_chunk.record(
                max(0, self.first_chunk_ns - self.state.start_ns) * _NS, attributes, measured_in
            )

    def span_attributes(self) -> Attributes:
        attributes: Attributes = {"gen_ai.operation.name": self.operation}
        if self.runtime.system_attribute:
            attributes["gen_ai.system"] = PROVIDER
        if self.model:
            attributes["gen_ai.request.model"] = self.model
        request, family = self.request, self.family
        if request is not None:
            for name, path, integer in (
                ("gen_ai.request.temperature", family.temperature, False),
                ("gen_ai.request.top_p", family.top_p, False),
                ("gen_ai.request.top_k", family.top_k, False),
                ("gen_ai.request.max_tokens", family.max_tokens, True),
            ):
                value = _request_number(dig(request, path), integer)
                if value is not None:
                    attributes[name] = value
            stop = dig(request, family.stop_sequences)
            if isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
                # botocore takes tuples; an InvokeModel body is not checked at all
                attributes["gen_ai.request.stop_sequences"] = texts(stop) or []
        params: Mapping[str, Any] = self.state.params or {}
        guardrail = params.get("guardrailIdentifier") or dig(
            params, ("guardrailConfig", "guardrailIdentifier")
        )
        if isinstance(guardrail, str):
            attributes["aws.bedrock.guardrail.id"] = guardrail
        for key, name in _USAGE_ATTRIBUTES:
            if key in self.usage:
                attributes[name] = self.usage[key]
        if self.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = self.finish_reasons
        if self.first_chunk_ns:
            attributes["gen_ai.response.time_to_first_chunk"] = (
                max(0, self.first_chunk_ns - self.state.start_ns) * _NS
            )
        if self.capture:
            from botocore_otel.genai import content  # only with content capture on

            request_document = params if family is CONVERSE else request
            attributes.update(content.input_attributes(request_document, family))
            text = "".join(self.text) if self.text else None
            blocks = self.blocks
            if self.streamed is not None:
                blocks, text = content.streamed_blocks(self.streamed, text), None
            attributes.update(content.output_attributes(text, blocks, self.finish_reasons))
        return attributes
