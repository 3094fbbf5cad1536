"""Prebuilt responses: a ``Template`` is serialized once; each call clones it.

A clone is a copy of the header dict, a fresh request id and a fresh body
stream over the same bytes, so the per-call cost doesn't depend on the shape.
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from botocore.awsrequest import AWSResponse

from botocore_otel.synthetic.wire import REQUEST_ID_PLACEHOLDER, Wire

_PLACEHOLDER = REQUEST_ID_PLACEHOLDER.encode()
_CHUNK = 64 * 1024

# Request ids look like uuids: a random per-process prefix plus a 48-bit counter.
_ID_PREFIX = str(uuid.uuid4())[:24]
_ids = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ids) & 0xFFFFFFFFFFFF:012x}"


class SyncBody(io.BytesIO):
    """What botocore needs of ``AWSResponse.raw``: ``read`` plus urllib3's ``stream``."""

    def stream(self, amt: int | None = _CHUNK, decode_content: bool | None = None) -> Iterator[bytes]:
        while True:
            chunk = self.read(amt)
            if not chunk:
                return
            yield chunk


class AsyncBody:
    """What aiobotocore needs of an aiohttp response: ``read``, ``content.*``, ``close``."""

    __slots__ = ("_buffer", "_size", "content", "response_headers", "url")

    def __init__(self, data: bytes, url: str) -> None:
        self._buffer = io.BytesIO(data)
        self._size = len(data)
        self.content = self  # aiohttp's StreamReader lives at ``response.content``
        self.url = url
        self.response_headers: Mapping[str, str] = {}
        """Those of the response around it, a marked synthetic one's included."""

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """aiohttp's, which aiobotocore 2.19 and before read the response's headers from."""
        return tuple((name.encode(), value.encode()) for name, value in self.response_headers.items())

    async def read(self, n: int | None = -1) -> bytes:
        return self._buffer.read(-1 if n is None or n < 0 else n)

    async def readany(self) -> bytes:
        return self._buffer.read(_CHUNK)

    def at_eof(self) -> bool:
        return self._buffer.tell() >= self._size

    async def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        while True:
            chunk = self._buffer.read(_CHUNK)
            if not chunk:
                return
            yield chunk, True

    def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        return self._chunked(n)

    async def _chunked(self, n: int) -> AsyncIterator[bytes]:
        while True:
            chunk = self._buffer.read(n)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        return None

    def release(self) -> None:
        return None

    # aiobotocore 2.19 and before hand ``async with`` of a body to the aiohttp response
    async def __aenter__(self) -> AsyncBody:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


_aio_class: Any = None
_aio_checked = False


def aio_response(url: str, status: int, headers: dict[str, str], raw: AsyncBody) -> AWSResponse | None:
    """aiobotocore's response around ``raw``; None without aiobotocore."""
    cls = _aio_response_class()
    if cls is None:
        return None
    response: AWSResponse = cls(url, status, headers, raw)
    raw.response_headers = response.headers
    return response


def _aio_response_class() -> Any:
    global _aio_class, _aio_checked
    if not _aio_checked:
        try:
            from aiobotocore.awsrequest import AioAWSResponse
        except ImportError:
            _aio_class = None
        else:
            _aio_class = AioAWSResponse
        _aio_checked = True
    return _aio_class


class Template:
    """A serialized response, cloned per call by ``response()``."""

    __slots__ = ("body_length", "headers", "parts", "request_id_headers", "status", "url")

    def __init__(self, wire: Wire, url: str) -> None:
        self.status = wire.status
        self.headers = dict(wire.headers)
        self.parts = tuple(wire.body.split(_PLACEHOLDER))
        self.request_id_headers = wire.request_id_headers
        self.body_length = len(wire.body)
        self.url = url

    def body(self, request_id: str) -> bytes:
        parts = self.parts
        return parts[0] if len(parts) == 1 else request_id.encode().join(parts)

    def response(self, is_async: bool = False) -> AWSResponse:
        request_id = new_request_id()
        headers = self.headers.copy()
        for name in self.request_id_headers:
            headers[name] = request_id
        body = self.body(request_id)
        if is_async:
            response = aio_response(self.url, self.status, headers, AsyncBody(body, self.url))
            if response is not None:
                return response
        return AWSResponse(self.url, self.status, headers, SyncBody(body))
