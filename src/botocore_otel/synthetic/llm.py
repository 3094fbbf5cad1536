"""Synthetic LLM answers for Bedrock Runtime: load-test a GenAI app without spending tokens.

A rule matching ``bedrock-runtime`` Converse, ConverseStream, InvokeModel or
InvokeModelWithResponseStream, with no ``data`` of its own, answers like a model: lorem ipsum
text, a stop reason and token usage (input tokens estimated from the request's text, output
tokens from ``tokens``), streams split into deltas ending with the stop and usage events, and
InvokeModel bodies in the model family's own format (chosen by model id). Rule keys (in
``response``):

- ``tokens``: output tokens, a whole number or a distribution (see ``latency``; 40);
- ``first_token``: seconds to the first chunk, a number or a distribution;
- ``per_token``: seconds per output token after it, a number or a distribution.

A stream's headers come at once and its frames are paced (the first after ``first_token``, the
rest spread over ``per_token`` x tokens), sleeping in a sync app and awaited under aiobotocore.
Other operations wait the whole time before the answer, as the rule's ``latency`` does.
"""

from __future__ import annotations

import json
import math
import random
import struct
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel

from botocore_otel.errors import ConfigError
from botocore_otel.synthetic.latency import MAX_SECONDS, Latency, parse_latency
from botocore_otel.synthetic.llm_bodies import (
    Answer,
    converse_events,
    converse_output,
    invoke_body,
    invoke_chunks,
    lorem,
)
from botocore_otel.synthetic.responses import AsyncBody, SyncBody, aio_response, new_request_id
from botocore_otel.synthetic.wire import success_wire

LLM_OPERATIONS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})
LLM_KEYS = ("tokens", "first_token", "per_token")
MAX_TOKENS = 1_000_000
TOKENS_PER_DELTA = 3
CHARS_PER_TOKEN = 6
_URL = "https://bedrock-runtime.synthetic.invalid/"
_NOT_TEXT = frozenset({"role", "type", "anthropic_version"})


@dataclass(frozen=True, slots=True)
class LLMSpec:
    tokens: Latency = field(default_factory=lambda: Latency("fixed", {"seconds": 40.0}, MAX_TOKENS))
    """A distribution of token counts (the latency parser's shapes), not of seconds."""
    first_token: Latency | None = None
    per_token: Latency | None = None

    def describe(self) -> str:
        text = f"LLM answers of {self.tokens.describe().removesuffix('s')} tokens"
        if self.first_token is not None:
            text += f", first token after {self.first_token.describe()}"
        if self.per_token is not None:
            text += f", {self.per_token.describe()} a token"
        return text


DEFAULT = LLMSpec()


def parse_llm(raw: Mapping[Any, Any], prefix: str) -> LLMSpec | None:
    """The LLM keys of a rule's ``response``; None when it has none."""
    if not any(key in raw for key in LLM_KEYS):
        return None
    tokens = raw.get("tokens", 40)
    if isinstance(tokens, Mapping):
        counts = parse_latency(tokens, f"{prefix}.tokens", MAX_TOKENS, "tokens")
        assert counts is not None
    elif isinstance(tokens, int) and not isinstance(tokens, bool) and 0 <= tokens <= MAX_TOKENS:
        counts = Latency("fixed", {"seconds": float(tokens)}, MAX_TOKENS)
    else:
        raise ConfigError(
            f"{prefix}.tokens",
            tokens,
            f"a whole number of output tokens from 0 to {MAX_TOKENS}, or a distribution",
        )
    return LLMSpec(
        counts, parse_latency(raw.get("first_token"), f"{prefix}.first_token"),
        parse_latency(raw.get("per_token"), f"{prefix}.per_token"),
    )  # fmt: skip


def check_match(match: str, prefix: str) -> None:
    """LLM keys need a rule that can match a Bedrock Runtime model invocation."""
    import fnmatch

    service, _, operation = match.partition(".") if match != "*" else ("*", ".", "*")
    if fnmatch.fnmatchcase("bedrock-runtime", service) and any(
        fnmatch.fnmatchcase(op, operation) for op in LLM_OPERATIONS
    ):
        return
    raise ConfigError(
        f"{prefix}.tokens", match, "LLM keys (tokens, first_token, per_token) only on a rule matching "
        "bedrock-runtime Converse, ConverseStream, InvokeModel or InvokeModelWithResponseStream",
    )  # fmt: skip


# -- one answer -----------------------------------------------------------------------------
def _text_length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_text_length(v) for k, v in value.items() if k not in _NOT_TEXT)
    if isinstance(value, (list, tuple)):
        return sum(_text_length(v) for v in value)
    return 0


def input_tokens(params: Mapping[str, Any] | None) -> int:
    """Estimated from the request's text (messages and system, or the InvokeModel body)."""
    params = params or {}
    body = params.get("body")
    if isinstance(body, (bytes, bytearray, str)):
        try:
            request: Any = json.loads(body)
        except ValueError:
            request = body if isinstance(body, str) else ""
    else:
        request = [params.get("messages"), params.get("system")]
    return math.ceil(_text_length(request) / CHARS_PER_TOKEN)


def answer(
    spec: LLMSpec,
    operation: OperationModel,
    params: Mapping[str, Any] | None,
    rng: random.Random,
    is_async: bool,
) -> tuple[AWSResponse, float]:
    """The response, and the seconds to wait before returning it."""
    tokens = min(MAX_TOKENS, max(0, round(spec.tokens.sample(rng))))
    words = lorem(tokens)
    pieces = tuple("".join(words[i : i + TOKENS_PER_DELTA]) for i in range(0, len(words), TOKENS_PER_DELTA))
    said = Answer(pieces or ("",), input_tokens(params), tokens)
    model_id = str((params or {}).get("modelId", ""))
    first = spec.first_token.sample(rng) if spec.first_token is not None else 0.0
    per_token = spec.per_token.sample(rng) if spec.per_token is not None else 0.0
    generating = min(per_token * tokens, MAX_SECONDS)
    name = operation.name
    if name == "Converse":
        data: dict[str, Any] = converse_output(said)
    elif name == "ConverseStream":
        data = {"stream": converse_events(said)}
    elif name == "InvokeModel":
        data = {"body": json.dumps(invoke_body(model_id, said)).encode(), "contentType": "application/json"}
    else:
        chunks = [{"chunk": {"bytes": json.dumps(c).encode()}} for c in invoke_chunks(model_id, said)]
        data = {"body": chunks, "contentType": "application/json"}
    wire = success_wire(operation, data)
    headers = dict(wire.headers)
    for header in wire.request_id_headers:
        headers[header] = new_request_id()
    if name in ("Converse", "InvokeModel"):
        raw: Any = _async_body(wire.body) if is_async else SyncBody(wire.body)
        return _response(headers, raw, is_async), first + generating
    frames = _frames(wire.body)
    gaps = [first] + [generating / max(1, len(frames) - 1)] * (len(frames) - 1)
    paced = AsyncPacedBody(frames, gaps) if is_async else PacedBody(frames, gaps)
    return _response(headers, paced, is_async), 0.0


def _response(headers: dict[str, str], raw: Any, is_async: bool) -> AWSResponse:
    response = aio_response(_URL, 200, headers, raw) if is_async else None
    return response or AWSResponse(_URL, 200, headers, raw)


def _async_body(data: bytes) -> AsyncBody:
    return AsyncBody(data, _URL)


def _frames(body: bytes) -> list[bytes]:
    """Splits event-stream bytes into messages (each starts with its total length)."""
    frames, at = [], 0
    while at < len(body):
        (length,) = struct.unpack_from(">I", body, at)
        frames.append(body[at : at + length])
        at += length
    return frames


class PacedBody(SyncBody):
    """An event stream whose frames arrive apart (botocore reads ``raw.stream()``)."""

    def __init__(self, frames: list[bytes], gaps: list[float]) -> None:
        super().__init__(b"".join(frames))
        self._frames, self._gaps = frames, gaps

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        for frame, gap in zip(self._frames, self._gaps, strict=True):
            if gap > 0:
                time.sleep(gap)
            yield frame


class AsyncPacedBody(AsyncBody):
    """The same under aiobotocore (``content.iter_chunks()``), awaiting between frames."""

    __slots__ = ("_frames", "_gaps")

    def __init__(self, frames: list[bytes], gaps: list[float]) -> None:
        super().__init__(b"".join(frames), _URL)
        self._frames, self._gaps = frames, gaps

    async def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        for frame, gap in zip(self._frames, self._gaps, strict=True):
            if gap > 0:
                import asyncio  # aiobotocore apps only

                await asyncio.sleep(gap)
            yield frame, True
