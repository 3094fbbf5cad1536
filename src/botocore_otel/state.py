"""Per-call state, kept in botocore's per-call ``context`` dict under :data:`STATE_KEY`."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.trace import Span

from botocore_otel._failsafe import report
from botocore_otel.attributes import OperationInfo

STATE_KEY = "botocore_otel.call"

# The call whose handlers are running on this thread or task. A call made from inside
# another call's handlers (credential refresh while signing, S3's redirect HeadBucket)
# becomes its child. Holds a weak reference, so an abandoned call leaves nothing alive.
in_flight: ContextVar[weakref.ref[CallState] | None] = ContextVar("botocore_otel_in_flight", default=None)

# Ends of calls kept open past botocore's return (a Bedrock response stream: genai/streams.py)
# whose stream was dropped unread. Its finalizer may run inside the garbage collector, so it
# only appends here; the next call's first handler (or interpreter exit) ends them.
pending_ends: list[Callable[[], None]] = []


def drain_pending_ends() -> None:
    while pending_ends:
        try:
            end = pending_ends.pop()
        except IndexError:  # another thread took the last one
            return
        try:
            end()
        except Exception as error:
            report("ending an abandoned stream's call", error)


class Abandoner(Protocol):
    def abandon(self, state: CallState) -> None: ...


class CallState:
    """One API call: its span, attempts and phase timestamps (all ``time.time_ns()``)."""

    __slots__ = (
        "__weakref__",
        "attempt_span",
        "attempt_start_ns",
        "attempts",
        "ended",
        "info",
        "is_async",
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
        "reached_send_phase",
        "ref",
        "region",
        "serialized_ns",
        "sign_end_ns",
        "sign_start_ns",
        "span",
        "start_ns",
        "synthetic_rule",
        "window_ctx",
        "window_token",
    )

    def __init__(
        self,
        owner: Abandoner,
        info: OperationInfo,
        model: Any,
        start_ns: int,
        parent: Context,
        params: Mapping[str, Any] | None,
        region: str | None,
    ) -> None:
        self.owner = owner
        self.ref = weakref.ref(self)
        self.info = info
        self.model = model
        self.start_ns = start_ns
        self.parent = parent
        self.params = params
        self.region = region
        self.span: Span | None = None
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
        self.reached_send_phase = False
        self.is_async = False  # made by an aiobotocore client: its emitter awaits results
        self.ended = False
        self.nest_token: Token[weakref.ref[CallState] | None] | None = None
        self.window_token: object = None
        self.window_ctx: Context | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> CallState:
        # botocore deep-copies the request dict, ``context`` included, to presign a
        # cross-region URL (RDS/DocDB/Neptune ``SourceRegion``, EC2 CopySnapshot). The
        # state (holding a ContextVar token, spans) cannot be copied and belongs to the call.
        return self

    def __copy__(self) -> CallState:
        return self

    def __del__(self) -> None:
        # botocore emits no closing event for KeyboardInterrupt, CancelledError or an
        # exception raised by another after-call handler: end the span when the call's
        # context dict is dropped, so it is never left open.
        if getattr(self, "span", None) is not None and not self.ended:
            try:
                self.owner.abandon(self)
            except Exception as error:
                report("ending an abandoned call", error)
