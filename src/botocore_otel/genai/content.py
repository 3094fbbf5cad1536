"""Message content, only when opted in (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).

Where the current GenAI conventions put it: span attributes ``gen_ai.input.messages``,
``gen_ai.output.messages`` and ``gen_ai.system_instructions``, JSON strings of
``[{"role": ..., "parts": [{"type": "text", "content": ...}], "finish_reason": ...}]``.
Nothing in this module runs unless content capture is on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore_otel.attributes import Attributes
from botocore_otel.genai.families import Family, dig

Part = dict[str, Any]


def _part(block: Any) -> Part:
    """One content block (Converse ``{"text": ...}``, Anthropic ``{"type": "text", ...}``)."""
    if isinstance(block, str):
        return {"type": "text", "content": block}
    if not isinstance(block, Mapping):
        return {"type": type(block).__name__}
    if "text" in block and isinstance(block["text"], str):
        return {"type": "text", "content": block["text"]}
    use = block.get("toolUse") or (block if block.get("type") == "tool_use" else None)
    if isinstance(use, Mapping):
        return {"type": "tool_call", "id": use.get("toolUseId", use.get("id")), "name": use.get("name"),
                "arguments": use.get("input")}  # fmt: skip
    result = block.get("toolResult") or (block if block.get("type") == "tool_result" else None)
    if isinstance(result, Mapping):
        return {"type": "tool_call_response", "id": result.get("toolUseId", result.get("tool_use_id")),
                "response": _tool_response(result.get("content"))}  # fmt: skip
    kind = block.get("type") or next(iter(block), "unknown")
    return {"type": str(kind)}  # images, documents, ...: named, never their bytes


def _tool_response(content: Any) -> Any:
    """A tool result's content: its text and JSON as they are, other blocks (images,
    documents) named like the message's own, never their bytes."""
    if isinstance(content, str) or content is None:
        return content
    blocks = content if isinstance(content, Sequence) else [content]
    response: list[Any] = []
    for block in blocks:
        if isinstance(block, Mapping) and "json" in block:
            response.append(block["json"])
            continue
        part = _part(block)
        response.append(part["content"] if part["type"] == "text" else part)
    return response


def _parts(content: Any) -> list[Part]:
    if isinstance(content, Sequence) and not isinstance(content, str):
        return [_part(block) for block in content]
    return [_part(content)]


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def input_attributes(request: Mapping[str, Any] | None, family: Family) -> Attributes:
    """``gen_ai.input.messages`` and ``gen_ai.system_instructions`` of a Converse request or an
    InvokeModel body."""
    if not request:
        return {}
    attributes: Attributes = {}
    messages = request.get("messages")
    if isinstance(messages, Sequence) and messages:
        converted = [
            {"role": m.get("role", "user"), "parts": _parts(m.get("content"))}
            for m in messages
            if isinstance(m, Mapping)
        ]
    else:
        prompt = dig(request, family.prompt)
        converted = [{"role": "user", "parts": [_part(prompt)]}] if isinstance(prompt, str) else []
    if converted:
        attributes["gen_ai.input.messages"] = _json(converted)
    system = request.get("system")
    if system:
        attributes["gen_ai.system_instructions"] = _json(_parts(system))
    return attributes


def streamed_blocks(streamed: Sequence[Any], text: str | None) -> list[Any]:
    """A stream's content blocks, as a whole answer has them: its text, and its tool calls with
    their input put together (JSON text streamed in pieces; kept as text if cut short)."""
    blocks: list[Any] = []
    for entry in streamed:
        if isinstance(entry, str):
            blocks.append({"text": entry})
            continue
        start, pieces = entry
        arguments: Any = "".join(pieces)
        if not arguments:
            arguments = start.get("input", {})
        else:
            with contextlib.suppress(ValueError):
                arguments = json.loads(arguments)
        use = {"toolUseId": start.get("toolUseId", start.get("id")), "name": start.get("name")}
        blocks.append({"toolUse": {**use, "input": arguments}})
    if text:
        blocks.append({"text": text})
    return blocks


def output_attributes(text: str | None, blocks: Any, finish_reasons: Sequence[str]) -> Attributes:
    """``gen_ai.output.messages``: from the answer's content blocks, or the streamed text."""
    if blocks is not None:
        parts = _parts(blocks)
    elif text is not None:
        parts = [{"type": "text", "content": text}]
    else:
        return {}
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish_reasons:
        message["finish_reason"] = finish_reasons[0]
    return {"gen_ai.output.messages": _json([message])}
