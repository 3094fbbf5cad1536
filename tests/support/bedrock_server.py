"""A scripted Bedrock Runtime endpoint on 127.0.0.1, speaking the real wire format.

moto's bedrock-runtime answers InvokeModel with an empty body and nothing else, so tests of
GenAI telemetry run against this server instead:

* ``POST /model/{modelId}/converse`` and ``/invoke``: rest-json, the InvokeModel body in the
  model family's own format (chosen by model id, as Bedrock does);
* ``/converse-stream`` and ``/invoke-with-response-stream``: the AWS event-stream binary
  framing (prelude, CRCs, ``:event-type`` / ``:content-type`` / ``:message-type`` headers),
  sent with HTTP chunked transfer encoding, one frame after another with a gap between them
  (``Reply.gap_s``), optionally split mid-frame (``Reply.split_frames``);
* errors as Bedrock sends them: an HTTP error with ``x-amzn-ErrorType`` and a JSON body, or an
  exception frame (``:message-type=exception``) in the middle of a stream.

The frames are built with the library's own encoder (``botocore_otel.synthetic.eventstream``);
the bodies here are written independently of the library's parsing: they are the oracle.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore_otel.synthetic.eventstream import HEADER_ENCODERS, encode_message, event_message

_string = HEADER_ENCODERS["string"]


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


@dataclass
class Received:
    operation: str
    model_id: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


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


# -- frames ----------------------------------------------------------------------------------
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


# -- server ----------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that leaves a stream resets its kept-alive connection: not the server's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class BedrockServer:
    """``script(received) -> Reply`` decides each answer (default: a normal answer)."""

    script: Callable[[Received], Reply] = field(default=lambda _: Reply())
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                # ['', 'model', id, operation]; httpx sends the absolute form (http://host/model/...)
                parts = urlsplit(self.path).path.split("/")
                operation = parts[3] if len(parts) > 3 else ""
                model_id = unquote(parts[2]) if len(parts) > 2 else ""
                received = Received(operation, model_id, dict(self.headers.items()), body)
                with server._lock:
                    server.received.append(received)
                # the client may go away (a test abandoning a stream)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._answer(self, received, server.script(received))

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _answer(self, handler: BaseHTTPRequestHandler, received: Received, reply: Reply) -> None:
        headers = {"x-amzn-RequestId": f"req-{len(self.received)}"}
        if reply.status >= 400:
            body = json.dumps({"message": f"{reply.error_code} (scripted)"}).encode()
            headers |= {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": f"{reply.error_code}:http://internal.amazon.com/",
            }
            self._send(handler, reply.status, headers, body)
            return
        op, model_id = received.operation, received.model_id
        if op in ("converse", "invoke"):
            if op == "converse":
                document = converse_body(reply)
                headers["Content-Type"] = "application/json"
            else:
                document = invoke_body(model_id, reply)
                headers["Content-Type"] = "application/json"
            self._send(handler, 200, headers, json.dumps(document).encode(), reply.cut_after, reply.chunked)
            return
        headers["Content-Type"] = "application/vnd.amazon.eventstream"
        if op == "invoke-with-response-stream":
            headers["X-Amzn-Bedrock-Content-Type"] = "application/json"
        handler.send_response(200)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for frame in stream_frames(op, model_id, reply):
            pieces = [frame[:7], frame[7:]] if reply.split_frames else [frame]
            for piece in pieces:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.flush()
                time.sleep(reply.gap_s)
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        body: bytes,
        cut_after: int | None = None,
        chunked: bool = False,
    ) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if cut_after is None:
            handler.wfile.write(body)
            return
        handler.wfile.write(body[:cut_after])
        handler.wfile.flush()
        handler.close_connection = True

    def __enter__(self) -> BedrockServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def bedrock_client(session: Any, url: str, attempts: int = 3) -> Any:
    from botocore.config import Config

    return session.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )
