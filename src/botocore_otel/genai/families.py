"""Per model family knowledge: where InvokeModel bodies keep parameters, usage and stop reasons.

A :class:`Family` is matched by a substring of the model id (so inference profiles such as
``us.anthropic.claude-...`` and ARNs match too), first match wins, in table order. Paths are
tuples of keys and list indexes into the JSON body. The Converse API has one shape for every
model: :data:`CONVERSE`.

When a family's answer has no token count, input and output tokens are estimated from the
text (6 characters a token, AWS's rule of thumb, as the official instrumentation does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

CHARS_PER_TOKEN = 6


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    markers: tuple[str, ...]
    operation: str = "chat"
    # request body
    temperature: Path = ()
    top_p: Path = ()
    top_k: Path = ()
    max_tokens: Path = ()
    stop_sequences: Path = ()
    prompt: Path = ()
    """Text that estimates the input tokens when the answer has no count."""
    # response body (InvokeModel) or parsed response (Converse)
    input_tokens: Path = ()
    output_tokens: Path = ()
    output_text: Path = ()
    """Text that estimates the output tokens when the answer has no count."""
    output_content: Path = ()
    """The answer's content blocks (captured content only)."""
    finish_reason: Path = ()
    cache_read_tokens: Path = ()
    cache_write_tokens: Path = ()
    # InvokeModelWithResponseStream chunks and ConverseStream events (the last chunk of every
    # family also carries amazon-bedrock-invocationMetrics, read for all)
    stream_finish_reasons: tuple[Path, ...] = ()
    stream_usage: tuple[Path, ...] = ()
    """Parts of a stream event that carry usage in the answer's own shape (``()``: the event)."""
    stream_text: tuple[Path, ...] = ()
    """Text deltas (read only when message content is captured, as the tool call paths)."""
    stream_tool_start: Path = ()
    """A content block's start: a tool call's when it has ``toolUseId`` or type ``tool_use``."""
    stream_tool_input: Path = ()
    """A piece of the tool call's input (JSON text, in pieces)."""

    @property
    def has_answer(self) -> bool:
        """Whether its InvokeModel answer says anything (else the body is left unread)."""
        return bool(self.input_tokens or self.output_tokens or self.output_text or self.finish_reason)


CONVERSE = Family(
    "converse",
    (),
    temperature=("inferenceConfig", "temperature"),
    top_p=("inferenceConfig", "topP"),
    max_tokens=("inferenceConfig", "maxTokens"),
    stop_sequences=("inferenceConfig", "stopSequences"),
    input_tokens=("usage", "inputTokens"),
    output_tokens=("usage", "outputTokens"),
    cache_read_tokens=("usage", "cacheReadInputTokens"),
    cache_write_tokens=("usage", "cacheWriteInputTokens"),
    finish_reason=("stopReason",),
    output_content=("output", "message", "content"),
    # ConverseStream events
    stream_finish_reasons=(("messageStop", "stopReason"),),
    stream_usage=(("metadata",),),
    stream_text=(("contentBlockDelta", "delta", "text"),),
    stream_tool_start=("contentBlockStart", "start", "toolUse"),
    stream_tool_input=("contentBlockDelta", "delta", "toolUse", "input"),
)

FAMILIES: tuple[Family, ...] = (
    Family(
        "amazon.titan-embed",
        ("amazon.titan-embed",),
        "embeddings",
        prompt=("inputText",),
        input_tokens=("inputTextTokenCount",),
    ),
    Family(
        "amazon.titan",
        ("amazon.titan",),
        "text_completion",
        temperature=("textGenerationConfig", "temperature"),
        top_p=("textGenerationConfig", "topP"),
        max_tokens=("textGenerationConfig", "maxTokenCount"),
        stop_sequences=("textGenerationConfig", "stopSequences"),
        prompt=("inputText",),
        input_tokens=("inputTextTokenCount",),
        output_tokens=("results", 0, "tokenCount"),
        output_text=("results", 0, "outputText"),
        finish_reason=("results", 0, "completionReason"),
        stream_finish_reasons=(("completionReason",),),
        stream_text=(("outputText",),),
    ),
    Family(
        "amazon.nova",
        ("amazon.nova",),
        temperature=("inferenceConfig", "temperature"),
        top_p=("inferenceConfig", "topP"),
        top_k=("inferenceConfig", "topK"),
        max_tokens=("inferenceConfig", "max_new_tokens"),
        stop_sequences=("inferenceConfig", "stopSequences"),
        input_tokens=("usage", "inputTokens"),
        output_tokens=("usage", "outputTokens"),
        cache_read_tokens=("usage", "cacheReadInputTokenCount"),
        cache_write_tokens=("usage", "cacheWriteInputTokenCount"),
        output_text=("output", "message", "content", 0, "text"),
        output_content=("output", "message", "content"),
        finish_reason=("stopReason",),
        stream_finish_reasons=CONVERSE.stream_finish_reasons,
        stream_usage=CONVERSE.stream_usage,
        stream_text=CONVERSE.stream_text,
        stream_tool_start=CONVERSE.stream_tool_start,
        stream_tool_input=CONVERSE.stream_tool_input,
    ),
    Family(
        "anthropic.claude",
        ("anthropic.claude",),
        temperature=("temperature",),
        top_p=("top_p",),
        top_k=("top_k",),
        max_tokens=("max_tokens",),
        stop_sequences=("stop_sequences",),
        input_tokens=("usage", "input_tokens"),
        output_tokens=("usage", "output_tokens"),
        cache_read_tokens=("usage", "cache_read_input_tokens"),
        cache_write_tokens=("usage", "cache_creation_input_tokens"),
        output_text=("content", 0, "text"),
        output_content=("content",),
        finish_reason=("stop_reason",),
        stream_finish_reasons=(("delta", "stop_reason"),),  # message_delta
        stream_usage=(("message",), ()),  # message_start, message_delta
        stream_text=(("delta", "text"),),
        stream_tool_start=("content_block",),  # content_block_start
        stream_tool_input=("delta", "partial_json"),  # input_json_delta
    ),
    Family("cohere.embed", ("cohere.embed",), "embeddings"),
    Family(
        "cohere.command-r",
        ("cohere.command-r",),
        temperature=("temperature",),
        top_p=("p",),
        top_k=("k",),
        max_tokens=("max_tokens",),
        stop_sequences=("stop_sequences",),
        prompt=("message",),
        output_text=("text",),
        finish_reason=("finish_reason",),
        stream_finish_reasons=(("finish_reason",),),
        stream_text=(("text",),),
    ),
    Family(
        "cohere.command",
        ("cohere.command",),
        temperature=("temperature",),
        top_p=("p",),
        top_k=("k",),
        max_tokens=("max_tokens",),
        stop_sequences=("stop_sequences",),
        prompt=("prompt",),
        output_text=("generations", 0, "text"),
        finish_reason=("generations", 0, "finish_reason"),
        stream_finish_reasons=(("generations", 0, "finish_reason"), ("finish_reason",)),
        stream_text=(("generations", 0, "text"), ("text",)),
    ),
    Family(
        "meta.llama",
        ("meta.llama",),
        temperature=("temperature",),
        top_p=("top_p",),
        max_tokens=("max_gen_len",),
        prompt=("prompt",),
        input_tokens=("prompt_token_count",),
        output_tokens=("generation_token_count",),
        output_text=("generation",),
        finish_reason=("stop_reason",),
        stream_finish_reasons=(("stop_reason",),),
        stream_text=(("generation",),),
    ),
    Family(
        "mistral",
        ("mistral",),
        temperature=("temperature",),
        top_p=("top_p",),
        top_k=("top_k",),
        max_tokens=("max_tokens",),
        stop_sequences=("stop",),
        prompt=("prompt",),
        output_text=("outputs", 0, "text"),
        finish_reason=("outputs", 0, "stop_reason"),
        stream_finish_reasons=(("outputs", 0, "stop_reason"),),
        stream_text=(("outputs", 0, "text"),),
    ),
)

UNKNOWN = Family("unknown", ())
"""A model of no known family: only the model id and the operation are recorded."""

_by_model: dict[str, Family] = {}


def family_of(model_id: str) -> Family:
    family = _by_model.get(model_id)
    if family is None:
        family = next((f for f in FAMILIES if any(m in model_id for m in f.markers)), UNKNOWN)
        if len(_by_model) < 1024:  # model ids are few; a flood of distinct ones is not cached
            _by_model[model_id] = family
    return family


def dig(document: Any, path: Path) -> Any:
    """The value at ``path`` in a JSON document, or None."""
    if not path:
        return None
    value = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
        elif not isinstance(value, Mapping):
            return None
        value = value[step] if isinstance(step, int) else value.get(step)
    return value


def estimate_tokens(text: Any) -> int | None:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if isinstance(text, str) else None
