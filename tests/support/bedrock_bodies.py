"""What the scripted Bedrock Runtime answers (``tests.support.bedrock_server``): the reply a
test scripts, and the JSON bodies and stream documents it becomes, in each model family's own
format (chosen by model id, as Bedrock does).

These bodies are written independently of the library's parsing: they are the oracle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    """What one request is answered with. The defaults make a normal, successful answer."""

    text: str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    input_tokens: int = 12
    output_tokens: int = 9
    stop_reason: str | None = None
    """None: the family's usual "done" reason (``end_turn``, ``FINISH``, ``stop``, ...)."""
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    status: int = 200
    error_code: str = ""
    """With ``status`` >= 400: the error answered instead of a result."""
    stream_error: str = ""
    """For streams: an exception event (e.g. ``modelStreamErrorException``) sent instead of
    the frames after ``stream_error_after``."""
    stream_error_after: int = 2
    gap_s: float = 0.005
    split_frames: bool = False
    deltas: int = 3
    """How many pieces the text is streamed in."""
    cut_after: int | None = None
    """For Converse and InvokeModel: the connection closes after this many bytes of the body,
    its Content-Length promising the whole (a body that breaks while it is read)."""
    chunked: bool = False
    """For Converse and InvokeModel: the body sent chunked, with no Content-Length."""
    tool_call: tuple[str, str, dict[str, Any]] | None = None
    """(id, name, input): the answer's text is followed by a call of that tool (Converse, and
    the Claude and Nova bodies), stop reason ``tool_use``; a stream sends the input's JSON in
    two pieces."""


def _stop(reply: Reply, family: str) -> str:
    return reply.stop_reason or ("tool_use" if reply.tool_call else _DONE.get(family, ""))


def _converse_content(reply: Reply) -> list[dict[str, Any]]:
    """Converse's (and Nova's) content blocks."""
    content: list[dict[str, Any]] = [{"text": reply.text}]
    if reply.tool_call:
        content.append({"toolUse": dict(zip(("toolUseId", "name", "input"), reply.tool_call, strict=True))})
    return content


def _converse_stream_content(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """The content events of ConverseStream (and of a Nova stream)."""
    events: list[tuple[str, dict[str, Any]]] = [
        *(("contentBlockDelta", {"delta": {"text": p}, "contentBlockIndex": 0})
          for p in _pieces(reply.text, reply.deltas)),
        ("contentBlockStop", {"contentBlockIndex": 0}),
    ]  # fmt: skip
    if reply.tool_call:
        tool_id, name, arguments = reply.tool_call
        events += [
            ("contentBlockStart", {"start": {"toolUse": {"toolUseId": tool_id, "name": name}},
             "contentBlockIndex": 1}),
            *(("contentBlockDelta", {"delta": {"toolUse": {"input": p}}, "contentBlockIndex": 1})
              for p in _pieces(json.dumps(arguments), 2)),
            ("contentBlockStop", {"contentBlockIndex": 1}),
        ]  # fmt: skip
    return events


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, count)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# -- per model family bodies --------------------------------------------------------------
def family_of(model_id: str) -> str:
    for marker, family in (
        ("anthropic.claude", "claude"),
        ("amazon.nova", "nova"),
        ("amazon.titan-embed", "titan-embed"),
        ("amazon.titan", "titan"),
        ("cohere.embed", "cohere-embed"),
        ("cohere.command-r", "command-r"),
        ("cohere.command", "command"),
        ("meta.llama", "llama"),
        ("mistral", "mistral"),
    ):
        if marker in model_id:
            return family
    return "nova"


_DONE = {"converse": "end_turn", "claude": "end_turn", "nova": "end_turn", "titan": "FINISH",
         "command-r": "COMPLETE", "command": "COMPLETE", "llama": "stop", "mistral": "stop"}  # fmt: skip


def invoke_body(model_id: str, reply: Reply) -> dict[str, Any]:
    family = family_of(model_id)
    stop = _stop(reply, family)
    if family == "claude":
        usage: dict[str, Any] = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
        if reply.cache_read_tokens is not None:
            usage["cache_read_input_tokens"] = reply.cache_read_tokens
        if reply.cache_write_tokens is not None:
            usage["cache_creation_input_tokens"] = reply.cache_write_tokens
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}]
        if reply.tool_call:
            content.append(
                {"type": "tool_use", **dict(zip(("id", "name", "input"), reply.tool_call, strict=True))}
            )
        return {"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude",
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": usage}  # fmt: skip
    if family == "nova":
        return {"output": {"message": {"role": "assistant", "content": _converse_content(reply)}},
                "stopReason": stop, "usage": {"inputTokens": reply.input_tokens,
                "outputTokens": reply.output_tokens,
                "totalTokens": reply.input_tokens + reply.output_tokens}}  # fmt: skip
    if family == "titan":
        result = {"tokenCount": reply.output_tokens, "outputText": reply.text, "completionReason": stop}
        return {"inputTextTokenCount": reply.input_tokens, "results": [result]}
    if family == "titan-embed":
        return {"embedding": [0.125, -0.5, 0.25], "inputTextTokenCount": reply.input_tokens}
    if family == "cohere-embed":
        return {"id": "emb-1", "embeddings": [[0.125, -0.5]], "response_type": "embeddings_floats",
                "texts": ["..."]}  # fmt: skip
    if family == "command-r":
        return {"response_id": "r-1", "text": reply.text, "generation_id": "g-1", "finish_reason": stop}
    if family == "command":
        return {"id": "c-1", "generations": [{"id": "g-1", "text": reply.text, "finish_reason": stop}]}
    if family == "llama":
        return {"generation": reply.text, "prompt_token_count": reply.input_tokens,
                "generation_token_count": reply.output_tokens, "stop_reason": stop}  # fmt: skip
    return {"outputs": [{"text": reply.text, "stop_reason": stop}]}  # mistral


def _invocation_metrics(reply: Reply) -> dict[str, int]:
    return {"inputTokenCount": reply.input_tokens, "outputTokenCount": reply.output_tokens,
            "invocationLatency": 120, "firstByteLatency": 40}  # fmt: skip


def invoke_stream_chunks(model_id: str, reply: Reply) -> list[dict[str, Any]]:
    """The JSON documents of an InvokeModelWithResponseStream answer, one per ``chunk`` event."""
    family = family_of(model_id)
    stop = _stop(reply, family)
    pieces = _pieces(reply.text, reply.deltas)
    metrics = {"amazon-bedrock-invocationMetrics": _invocation_metrics(reply)}
    if family == "claude":
        return [
            {"type": "message_start", "message": {"id": "msg_bdrk_01", "type": "message",
             "role": "assistant", "model": "claude", "content": [], "stop_reason": None,
             "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
              for p in pieces),
            {"type": "content_block_stop", "index": 0},
            *_claude_tool_chunks(reply),
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
             "usage": {"output_tokens": reply.output_tokens}},
            {"type": "message_stop", **metrics},
        ]  # fmt: skip
    if family == "nova":
        return [
            {"messageStart": {"role": "assistant"}},
            *({event_type: document} for event_type, document in _converse_stream_content(reply)),
            {"messageStop": {"stopReason": stop}},
            {"metadata": {"usage": {"inputTokens": reply.input_tokens,
             "outputTokens": reply.output_tokens}}, **metrics},
        ]  # fmt: skip
    if family == "titan":
        chunks: list[dict[str, Any]] = [
            {
                "outputText": p,
                "index": 0,
                "totalOutputTextTokenCount": None,
                "completionReason": None,
                "inputTextTokenCount": reply.input_tokens if i == 0 else None,
            }
            for i, p in enumerate(pieces)
        ]
        chunks[-1].update({"completionReason": stop, "totalOutputTextTokenCount": reply.output_tokens,
                           **metrics})  # fmt: skip
        return chunks
    if family == "llama":
        chunks = [
            {"generation": p, "prompt_token_count": reply.input_tokens if i == 0 else None,
             "generation_token_count": i + 1, "stop_reason": None}
            for i, p in enumerate(pieces)
        ]  # fmt: skip
        chunks[-1].update({"stop_reason": stop, **metrics})
        return chunks
    if family == "mistral":
        chunks = [{"outputs": [{"text": p, "stop_reason": None}]} for p in pieces]
        chunks[-1]["outputs"][0]["stop_reason"] = stop
        chunks[-1].update(metrics)
        return chunks
    raise ValueError(f"no streaming body for {model_id}")


def _claude_tool_chunks(reply: Reply) -> list[dict[str, Any]]:
    if not reply.tool_call:
        return []
    tool_id, name, arguments = reply.tool_call
    return [
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}},
        *({"type": "content_block_delta", "index": 1,
           "delta": {"type": "input_json_delta", "partial_json": p}}
          for p in _pieces(json.dumps(arguments), 2)),
        {"type": "content_block_stop", "index": 1},
    ]  # fmt: skip


def converse_body(reply: Reply) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": _converse_content(reply)}},
        "stopReason": _stop(reply, "converse"),
        "usage": _usage(reply),
        "metrics": {"latencyMs": 120},
    }


def _usage(reply: Reply) -> dict[str, int]:
    usage = {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens,
             "totalTokens": reply.input_tokens + reply.output_tokens}  # fmt: skip
    if reply.cache_read_tokens is not None:
        usage["cacheReadInputTokens"] = reply.cache_read_tokens
    if reply.cache_write_tokens is not None:
        usage["cacheWriteInputTokens"] = reply.cache_write_tokens
    return usage


def converse_stream_events(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("messageStart", {"role": "assistant"}),
        *_converse_stream_content(reply),
        ("messageStop", {"stopReason": _stop(reply, "converse")}),
        ("metadata", {"usage": _usage(reply), "metrics": {"latencyMs": 120}}),
    ]  # fmt: skip
