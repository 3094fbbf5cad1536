"""Response streams: the call's span ends when the application is done with the answer.

botocore returns ConverseStream / InvokeModelWithResponseStream as soon as the headers are
in; the answer comes later, event by event. The ``after-call`` parsed response's stream is
replaced by a transparent proxy (``wrapt.ObjectProxy``: ``isinstance`` checks, attributes,
``close()`` and iteration behave as before) that reads each event as it passes and ends the
call once:

* at the last event (the one with usage), or when the stream is exhausted;
* when the application calls ``close()``;
* when an error is raised inside the stream (``error.type`` is its AWS error code);
* when the application drops the stream unread: a finalizer, which may run inside the
  garbage collector, only queues the end (``state._abandoned``, with the abandoned calls); it
  is done at the next call's first handler, at uninstrument, or at interpreter exit.

A stream left by ``asyncio.CancelledError`` or ``KeyboardInterrupt`` ends its call at once with
``error.type="cancelled"``, as the lifecycle ends the calls it sees abandoned.

aiobotocore's InvokeModel body needs an ``await`` to read, so it is followed the same way:
the call ends when the application has read the body (to its end, or its Content-Length), or
closes or drops it, with the answer read from what it had read if that was all of it.
"""

from __future__ import annotations

import inspect
import json
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import wrapt

from botocore_otel.attributes import CANCELLED, exception_type
from botocore_otel.errors import report
from botocore_otel.genai.call import GenAICall
from botocore_otel.state import _abandoned


def _error_type(error: BaseException) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, Mapping) else None
    return str(code) if code else exception_type(error)


if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy


class CallEnd:
    """Ends one deferred call, once, whichever way the stream finishes."""

    __slots__ = ("__weakref__", "body", "body_length", "body_read", "call", "decode", "ended",
                 "finalizer", "lifecycle", "outcome")  # fmt: skip

    def __init__(self, call: GenAICall, lifecycle: Any, outcome: Any, decode: bool) -> None:
        self.call = call
        self.lifecycle = lifecycle
        self.outcome = outcome  # the call's state.Outcome, completed at the end
        self.decode = decode  # InvokeModel chunks: JSON in the event's bytes
        self.ended = False
        self.finalizer: weakref.finalize[Any, Any] | None = None
        # an aiobotocore InvokeModel body: what the application has read of it so far
        self.body: list[bytes] = []
        self.body_length: int | None = None
        self.body_read = 0

    def watch(self, proxy: object) -> None:
        self.finalizer = weakref.finalize(proxy, _abandoned.append, self.abandoned)

    def on_event(self, event: Any) -> None:
        if self.ended:
            return
        try:
            now = time.time_ns()
            if self.decode:
                chunk = event.get("chunk") if isinstance(event, Mapping) else None
                if not isinstance(chunk, Mapping):
                    return
                event = json.loads(chunk.get("bytes") or b"{}")
            if isinstance(event, Mapping) and self.call.read_event(event, now):
                self.done()
        except Exception as error:
            report("reading a Bedrock stream event", error)

    def on_body(self, data: bytes, read_all: bool) -> None:
        """A piece of the body the application has read; ``b""`` when it has read all of it
        (or ``read_all``: one read to the end). Ends the call once the body is read."""
        if self.ended:
            return
        if data:
            self.body.append(data)
            self.body_read += len(data)
        length = self.body_length
        if read_all or not data or (length is not None and self.body_read >= length):
            self.read_body(b"".join(self.body))

    def read_body(self, data: bytes) -> None:
        try:
            document = json.loads(data)
            if isinstance(document, Mapping):
                self.call.read_answer(document)
        except Exception as error:
            report("reading an InvokeModel body", error)
        self.done()

    def failed(self, error: BaseException) -> None:
        if isinstance(error, Exception):
            self.done(_error_type(error), error)
        else:  # CancelledError, KeyboardInterrupt: left, as the lifecycle's abandoned calls are
            self.done(CANCELLED)

    def closed(self) -> None:
        """The application closed (or dropped) the stream: the answer is read from the body
        it had read, if that was the whole answer."""
        if self.body and not self.ended:
            try:
                document = json.loads(b"".join(self.body))
            except ValueError:
                document = None  # read in part: nothing to say about the answer
            try:
                if isinstance(document, Mapping):
                    self.call.read_answer(document)
            except Exception as error:
                report("reading an InvokeModel body", error)
        self.done()

    abandoned = closed

    def done(self, error_type: str | None = None, exception: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.body = []
        if self.finalizer is not None:
            self.finalizer.detach()
        end_ns = max(time.time_ns(), self.call.state.start_ns)
        try:
            self.call.finish(end_ns, error_type)
        except Exception as error:
            report("GenAI telemetry", error)
        outcome = self.outcome
        outcome.end_ns = end_ns
        if error_type is not None:
            outcome.error_type, outcome.exception = error_type, exception
        try:
            self.lifecycle.end_call(self.call.state, outcome)
        except Exception as error:
            report("ending a Bedrock stream's call", error)


class EventStreamProxy(_Proxy):
    """botocore's ``EventStream``, observed."""

    def __init__(self, stream: Any, end: CallEnd) -> None:
        super().__init__(stream)
        self._self_end = end

    def __iter__(self) -> Any:
        end = self._self_end
        try:
            for event in self.__wrapped__:
                end.on_event(event)
                yield event
        except GeneratorExit:  # the loop was left: the stream may still be read or closed
            raise
        except BaseException as error:
            end.failed(error)
            raise
        end.done()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end.closed()


class AsyncEventStreamProxy(EventStreamProxy):
    """aiobotocore's ``AioEventStream``, observed."""

    def __aiter__(self) -> Any:
        return self._events()

    async def _events(self) -> Any:
        end = self._self_end
        try:
            async for event in self.__wrapped__:
                end.on_event(event)
                yield event
        except GeneratorExit:
            raise
        except BaseException as error:
            end.failed(error)
            raise
        end.done()


class AsyncBodyProxy(_Proxy):
    """aiobotocore's InvokeModel ``StreamingBody``: the call ends once the body is read.

    Every way of reading it comes down to ``read`` or ``readinto``. aiobotocore's own helpers
    (``async for``, ``iter_chunks``, ``iter_lines``, ``readlines``, ``async with``) run bound
    to this proxy (``_own``), so the reads they make are the proxy's: the proxy defines them,
    because Python looks special methods up on the type, and ``async for`` would fail."""

    def __init__(self, body: Any, end: CallEnd) -> None:
        super().__init__(body)
        self._self_end = end

    def _own(self, name: str) -> Any:
        """The body's method ``name``, bound to this proxy."""
        return getattr(type(self.__wrapped__), name).__get__(self)

    async def read(self, amt: int | None = None) -> bytes:
        try:
            data: bytes = await self.__wrapped__.read(amt)
        except BaseException as error:
            self._self_end.failed(error)
            raise
        if data or amt != 0:
            self._self_end.on_body(data, amt is None or amt < 0)
        return data

    async def readinto(self, buffer: Any) -> int:
        try:
            count: int = await self.__wrapped__.readinto(buffer)
        except BaseException as error:
            self._self_end.failed(error)
            raise
        if count or len(buffer):
            self._self_end.on_body(bytes(memoryview(buffer)[:count]), False)
        return count

    def __aiter__(self) -> Any:
        return self._own("__aiter__")()

    async def __anext__(self) -> bytes:
        chunk: bytes = await self._own("__anext__")()
        return chunk

    anext = __anext__

    def iter_chunks(self, *args: Any, **kwargs: Any) -> Any:
        return self._own("iter_chunks")(*args, **kwargs)

    def iter_lines(self, *args: Any, **kwargs: Any) -> Any:
        return self._own("iter_lines")(*args, **kwargs)

    async def readlines(self) -> list[bytes]:
        lines: list[bytes] = await self._own("readlines")()
        return lines

    async def __aenter__(self) -> AsyncBodyProxy:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_end.closed()

    def close(self) -> Any:
        """The body's ``close()``: a coroutine under aiobotocore's httpx backend, which ends
        the call once awaited."""
        try:
            closing = self.__wrapped__.close()
        except BaseException:
            self._self_end.closed()
            raise
        if inspect.isawaitable(closing):
            return _closed_after(closing, self._self_end)
        self._self_end.closed()
        return closing


async def _closed_after(closing: Any, end: CallEnd) -> Any:
    try:
        return await closing
    finally:
        end.closed()


def follow(call: GenAICall, lifecycle: Any, outcome: Any, member: str, *, is_async: bool, body: bool) -> bool:
    """Replaces ``outcome.parsed[member]`` by its observed proxy; True when the call now ends later."""
    parsed = outcome.parsed
    target = parsed.get(member)
    if target is None:
        return False
    end = CallEnd(call, lifecycle, outcome, decode=member == "body" and not body)
    if body:
        end.body_length = _content_length(parsed)
        proxy: Any = AsyncBodyProxy(target, end)
    else:
        proxy = AsyncEventStreamProxy(target, end) if is_async else EventStreamProxy(target, end)
    end.watch(proxy)
    parsed[member] = proxy
    # The outcome keeps the response without the proxy: holding it would keep the proxy alive.
    outcome.parsed = {key: value for key, value in parsed.items() if key != member}
    return True


def _content_length(parsed: Mapping[str, Any]) -> int | None:
    try:
        return int(parsed["ResponseMetadata"]["HTTPHeaders"]["content-length"])
    except (KeyError, TypeError, ValueError):
        return None
