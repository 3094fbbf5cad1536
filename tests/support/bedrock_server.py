"""A scripted Bedrock Runtime endpoint on 127.0.0.1, speaking the real wire format.

moto's bedrock-runtime answers InvokeModel with an empty body and nothing else, so tests of
GenAI telemetry run against this server instead:

* ``POST /model/{modelId}/converse`` and ``/invoke``: rest-json, the InvokeModel body in the
  model family's own format (``tests.support.bedrock_bodies``);
* ``/converse-stream`` and ``/invoke-with-response-stream``: the AWS event-stream binary
  framing (``tests.support.bedrock_frames``), sent with HTTP chunked transfer encoding, one
  frame after another with a gap between them (``Reply.gap_s``), optionally split mid-frame
  (``Reply.split_frames``);
* errors as Bedrock sends them: an HTTP error with ``x-amzn-ErrorType`` and a JSON body, or an
  exception frame (``:message-type=exception``) in the middle of a stream.
"""

from __future__ import annotations

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

from tests.support.bedrock_bodies import (
    Reply,
    converse_body,
    converse_stream_events,
    family_of,
    invoke_body,
    invoke_stream_chunks,
)
from tests.support.bedrock_frames import exception_frame, stream_frames

__all__ = [
    "BedrockServer",
    "Received",
    "Reply",
    "bedrock_client",
    "converse_body",
    "converse_stream_events",
    "exception_frame",
    "family_of",
    "invoke_body",
    "invoke_stream_chunks",
    "stream_frames",
]


@dataclass
class Received:
    operation: str
    model_id: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


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
