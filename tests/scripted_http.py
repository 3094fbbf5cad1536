"""A real HTTP server on 127.0.0.1 that answers from a script and records what arrived."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/x-amz-json-1.0"})
    delay_s: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class ScriptedServer:
    """``script(request_index, received) -> Reply`` decides each answer."""

    def __init__(self, script: Callable[[int, Received], Reply]) -> None:
        self.script = script
        self.received: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.command, self.path, list(self.headers.items()), body)
                with server._lock:
                    index = len(server.received)
                    server.received.append(received)
                reply = server.script(index, received)
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a test interrupting its own call)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def scripted_server(script: Callable[[int, Received], Reply]) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script).start()
    try:
        yield server
    finally:
        server.stop()


def client_for(session: Any, service: str, url: str, attempts: int = 4) -> Any:
    """A client of ``session`` for ``service`` pointed at a scripted server."""
    from botocore.config import Config

    return session.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


def throttle_then_ok(
    failures: int, code: str = "ThrottlingException", status: int = 400
) -> Callable[[int, Received], Reply]:
    """JSON-protocol script: each distinct invocation id fails ``failures`` times, then succeeds."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def script(_: int, received: Received) -> Reply:
        invocation = (received.header_values("amz-sdk-invocation-id") or [""])[0]
        with lock:
            count = seen[invocation] = seen.get(invocation, 0) + 1
        if count <= failures:
            body = f'{{"__type":"{code}","message":"slow down"}}'.encode()
            return Reply(
                status=status,
                body=body,
                headers={"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": f"req-{count}"},
            )
        return Reply(
            body=b'{"TableNames":[]}',
            headers={"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "req-ok"},
        )

    return script
