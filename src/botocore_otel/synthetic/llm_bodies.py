"""Synthetic LLM answers in each model family's own format (InvokeModel bodies and stream
chunks), and the Converse / ConverseStream output, as Bedrock sends them.

``Answer`` holds what is said (text pieces, token counts, stop reason); the functions here only
shape it. The model id picks the family, as in :mod:`botocore_otel.genai.families`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi"
)
_WORDS = _LOREM.split(" ")


def lorem(tokens: int) -> list[str]:
    """``tokens`` words of lorem ipsum (one word a token), each with its leading space."""
    return [("" if i == 0 else " ") + _WORDS[i % len(_WORDS)] for i in range(tokens)]


@dataclass(frozen=True, slots=True)
class Answer:
    pieces: tuple[str, ...]
    """The text, as streamed: one piece a delta; at least one (maybe empty)."""
    input_tokens: int
    output_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


_STOP = {"anthropic.claude": "end_turn", "amazon.titan": "FINISH", "cohere": "COMPLETE"}


def family_name(model_id: str) -> str:
    from botocore_otel.genai.families import family_of  # the same table as the telemetry

    return family_of(model_id).name


def stop_reason(family: str) -> str:
    return next((reason for prefix, reason in _STOP.items() if family.startswith(prefix)), "stop")


def _metrics(answer: Answer) -> dict[str, Any]:
    counts = {"inputTokenCount": answer.input_tokens, "outputTokenCount": answer.output_tokens}
    return {"amazon-bedrock-invocationMetrics": {**counts, "invocationLatency": 0, "firstByteLatency": 0}}


def _usage(answer: Answer) -> dict[str, int]:
    total = answer.input_tokens + answer.output_tokens
    return {"inputTokens": answer.input_tokens, "outputTokens": answer.output_tokens, "totalTokens": total}


def converse_output(answer: Answer) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": answer.text}]}},
        "stopReason": "end_turn",
        "usage": _usage(answer),
        "metrics": {"latencyMs": 0},
    }


def converse_events(answer: Answer) -> list[dict[str, Any]]:
    return [
        {"messageStart": {"role": "assistant"}},
        *({"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in answer.pieces),
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": _usage(answer), "metrics": {"latencyMs": 0}}},
    ]


def invoke_body(model_id: str, answer: Answer) -> dict[str, Any]:
    family = family_name(model_id)
    text, stop, tokens_in, tokens_out = (
        answer.text,
        stop_reason(family),
        answer.input_tokens,
        answer.output_tokens,
    )
    if family == "anthropic.claude":
        return {"id": "msg_synthetic", "type": "message", "role": "assistant", "model": model_id,
                "content": [{"type": "text", "text": text}], "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}  # fmt: skip
    if family == "amazon.titan":
        result = {"tokenCount": tokens_out, "outputText": text, "completionReason": stop}
        return {"inputTextTokenCount": tokens_in, "results": [result]}
    if family == "amazon.titan-embed":
        return {"embedding": [0.0] * 8, "inputTextTokenCount": tokens_in}
    if family == "cohere.embed":
        return {
            "id": "synthetic",
            "embeddings": [[0.0] * 8],
            "response_type": "embeddings_floats",
            "texts": [],
        }
    if family == "cohere.command-r":
        return {"response_id": "synthetic", "text": text, "generation_id": "synthetic", "finish_reason": stop}
    if family == "cohere.command":
        return {"id": "synthetic", "generations": [{"id": "synthetic", "text": text, "finish_reason": stop}]}
    if family == "meta.llama":
        return {"generation": text, "prompt_token_count": tokens_in, "generation_token_count": tokens_out,
                "stop_reason": stop}  # fmt: skip
    if family == "mistral":
        return {"outputs": [{"text": text, "stop_reason": stop}]}
    return {**converse_output(answer), "stopReason": "end_turn"}  # Nova, and models of no known family


def invoke_chunks(model_id: str, answer: Answer) -> list[dict[str, Any]]:
    """The JSON documents of an InvokeModelWithResponseStream answer, one per ``chunk``."""
    family = family_name(model_id)
    stop, pieces = stop_reason(family), answer.pieces
    if family == "anthropic.claude":
        usage = {"input_tokens": answer.input_tokens, "output_tokens": 1}
        start = {"id": "msg_synthetic", "type": "message", "role": "assistant", "model": model_id,
                 "content": [], "usage": usage}  # fmt: skip
        return [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
              for p in pieces),
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
             "usage": {"output_tokens": answer.output_tokens}},
            {"type": "message_stop", **_metrics(answer)},
        ]  # fmt: skip
    if family == "amazon.titan":
        chunks: list[dict[str, Any]] = [
            {"outputText": p, "index": 0, "completionReason": None} for p in pieces
        ]
    elif family == "meta.llama":
        chunks = [{"generation": p, "stop_reason": None} for p in pieces]
    elif family == "mistral":
        chunks = [{"outputs": [{"text": p, "stop_reason": None}]} for p in pieces]
    elif family.startswith("cohere"):
        chunks = [{"text": p, "is_finished": False} for p in pieces]
    else:  # Nova (the Converse event shapes) and models of no known family
        events = converse_events(answer)
        events[-1].update(_metrics(answer))
        return events
    last = chunks[-1]  # pieces are never empty (an empty answer is one empty piece)
    if family == "amazon.titan":
        last["completionReason"] = stop
    elif family == "meta.llama":
        last["stop_reason"] = stop
    elif family == "mistral":
        last["outputs"][0]["stop_reason"] = stop
    else:
        last.update({"is_finished": True, "finish_reason": stop})
    last.update(_metrics(answer))
    return chunks
