"""Per-call state, kept in botocore's per-call ``context`` dict under :data:`STATE_KEY`."""

from __future__ import annotations

import sys
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from botocore_otel.attributes import OperationInfo
from botocore_otel.errors import report
from botocore_otel.forks import emptied_in_child

STATE_KEY = "botocore_otel.call"
PAYLOAD_BYTES_KEY = "botocore_otel.payload.added_bytes"
"""In botocore's per-call context: what the message attributes that payload propagation wrote
into the serialized body (not the parameters) count in an SQS or SNS request's size."""

# The call whose handlers are running on this thread or task. A call made from inside
# another call's handlers (credential refresh while signing, S3's redirect HeadBucket)
# becomes its child. Holds a weak reference, so an abandoned call leaves nothing alive.
in_flight: ContextVar[weakref.ref[CallState] | None] = ContextVar("botocore_otel_in_flight", default=None)


# Calls dropped without a closing event, queued by their finalizer with the time it ran (their
# end), and ended at a safe point: the next call's first handler on any thread, uninstrument(),
# or interpreter exit. deque.append and popleft are atomic: no lock is taken inside a
# finalizer. A callable is the end of a call kept open past botocore's return, whose response
# stream was dropped unread (genai/streams.py).
_abandoned: deque[tuple[CallState, int] | Callable[[], None]] = emptied_in_child(deque())

# Send windows left current on a thread by a call whose finalizer ran on another thread (where
# it could not put back what was current before): (the window, weakly; what was current
# before it). The next call on that thread finds its current context here and puts the other
# back; an entry goes once nothing holds its window any more (that thread moved on, or ended).
stuck_windows: deque[tuple[weakref.ref[Context], Context]] = deque(maxlen=64)


if TYPE_CHECKING:  # a Protocol class costs about 20 µs at import, and only mypy reads it

    class Owner(Protocol):
        """The lifecycle that made a call: it opens the call's span early and ends it if abandoned."""

        def open_early(self, state: CallState, url: str | None = None) -> Span: ...

        def abandon(self, state: CallState, end_ns: int = 0) -> None: ...


_async_types: dict[type, bool] = {}


def is_async_config(client_config: Any) -> bool:
    """True for a call made by an aiobotocore client (its config is always an ``AioConfig``).

    Such a client's emitter awaits what a handler returns; botocore's would take a coroutine
    for the response. aiobotocore sends botocore's own request class, so the request can't tell.
    """
    cls = type(client_config)
    known = _async_types.get(cls)
    if known is None:
        known = _async_types[cls] = cls.__module__.startswith("aiobotocore")
    return known


def on_the_stack(matches: Callable[[dict[str, Any]], bool]) -> bool | None:
    """Whether a botocore ``_make_api_call`` frame on this thread's stack holds a request
    context that ``matches``: True; False when there are such frames but none matches; None
    when there are none this botocore's frames can tell (no ``request_context`` local)."""
    seen_any = False
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_make_api_call":
            request_context = frame.f_locals.get("request_context")
            if isinstance(request_context, dict):
                if matches(request_context):
                    return True
                seen_any = True
        frame = frame.f_back
    return False if seen_any else None


def end_abandoned() -> None:
    """Ends the queued abandoned calls (``error.type="cancelled"``), on the calling thread."""
    while _abandoned:
        try:
            entry = _abandoned.popleft()
        except IndexError:  # another thread took the last one
            return
        try:
            if isinstance(entry, tuple):
                state, end_ns = entry
                state.owner.abandon(state, end_ns)
            else:
                entry()
        except Exception as error:
            report("ending an abandoned call", error)


class Outcome:
    """How a call ended, as the sinks (span, metrics) read it. Built once, at the call's end."""

    __slots__ = (
        "end_ns",
        "error_message",
        "error_type",
        "exception",
        "parsed",
        "status",
    )

    def __init__(
        self,
        status: int | None,
        error_type: str | None,
        parsed: Mapping[str, Any] | None = None,
        exception: BaseException | None = None,
        error_message: str | None = None,
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.parsed = parsed
        self.exception = exception
        self.error_message = error_message
        self.end_ns = 0


class CallState:
    """One API call: its span, attempts and phase timestamps (all ``time.time_ns()``)."""

    __slots__ = (
        "__weakref__",
        "attempt_span",
        "attempt_start_ns",
        "attempts",
        "client_config",
        "covered_windows",
        "ended",
        "extra_attributes",
        "info",
        "last_end_ns",
        "last_error",
        "last_status",
        "last_throttled",
        "model",
        "nest_token",
        "owner",
        "params",
        "parent",
        "parse_start_ns",
        "ref",
        "region",
        "retries_context",
        "sent_in",
        "serialized_ns",
        "sign_end_ns",
        "sign_start_ns",
        "span",
        "span_has_server",
        "start_ns",
        "synthetic_rule",
        "window_ctx",
        "window_token",
    )

    def __init__(
        self,
        owner: Owner,
        info: OperationInfo,
        model: Any,
        start_ns: int,
        parent: Context,
        params: Mapping[str, Any] | None,
        region: str | None,
        retries_context: dict[str, Any],
        client_config: Any,
    ) -> None:
        # First: the finalizer reads them, even of a state whose __init__ went no further.
        self.span: Span | None = None
        self.ended = False
        self.owner = owner
        self.ref = weakref.ref(self)
        self.info = info
        self.model = model
        self.start_ns = start_ns
        self.parent = parent
        self.params = params
        self.region = region
        # botocore's context["retries"], made now: its endpoint sets "attempt" in it when it
        # starts sending (after every before-call handler, before signing). A Stubber's answer
        # at before-call never gets there. Cheaper than a before-call handler of our own.
        self.retries_context = retries_context
        self.client_config = client_config  # not the whole context: that holds the state
        self.span_has_server = False  # opened early with the request's url: server.* are set
        # attributes known before the span opens (captures, Lambda's target): set when it does
        self.extra_attributes: dict[str, Any] | None = None
        self.attempt_span: Span | None = None
        self.attempts = 0
        self.attempt_start_ns = 0
        self.serialized_ns = 0
        self.sign_start_ns = 0
        self.sign_end_ns = 0
        self.parse_start_ns = 0
        self.last_end_ns = 0
        self.last_status: int | None = None
        self.last_error: str | None = None
        self.last_throttled = False
        self.synthetic_rule: str | None = None
        self.nest_token: Token[weakref.ref[CallState] | None] | None = None
        self.window_token: object = None
        self.window_ctx: Context | None = None
        # windows settled at the call's end: earlier attempts' still under another context, and
        # those of nested calls emptied into this call's open window
        self.covered_windows: list[tuple[Context, object]] | None = None
        # the context of the last attempt's send window, kept after it closes: the metrics
        # record in it (their exemplars then point at the call's span, or the attempt's)
        self.sent_in: Context | None = None

    @property
    def is_async(self) -> bool:
        """Made by an aiobotocore client: its emitter awaits what a handler returns."""
        return is_async_config(self.client_config)

    def __deepcopy__(self, memo: dict[int, Any]) -> CallState:
        # botocore deep-copies the request dict, ``context`` included, to presign a
        # cross-region URL (RDS/DocDB/Neptune ``SourceRegion``, EC2 CopySnapshot). The
        # state (holding a ContextVar token, spans) cannot be copied and belongs to the call.
        return self

    def __copy__(self) -> CallState:
        return self

    def __del__(self) -> None:
        # botocore emits no closing event for KeyboardInterrupt, CancelledError or an
        # exception raised by another after-call handler. A finalizer may run inside the
        # garbage collector, on any thread: it only queues the call (ended at a safe point,
        # where span processors and locks may run) and, when the call's send window is still
        # current on this thread, puts back what was current before (a ContextVar set).
        if self.span is None or self.ended:
            return
        try:
            window = self.window_ctx
            if window is not None:
                if otel_context.get_current() is window:
                    otel_context.attach(self.parent)
                else:  # current on another thread, maybe: put back there, by its next call
                    stuck_windows.append((weakref.ref(window), self.parent))
            self.window_token = self.window_ctx = None
            _abandoned.append((self, time.time_ns()))  # resurrects it until then; __del__ runs once
        except Exception:  # nothing may escape a finalizer, not even a report (it logs)
            pass
