"""The parent of a call that starts while another call's record is in flight in its context:
a nested call (credential refresh while signing, S3's redirect, endpoint discovery), or a
call left behind without a closing event."""

from __future__ import annotations

import weakref

from opentelemetry.context import Context
from opentelemetry.trace import set_span_in_context

from botocore_otel.spans import OPENING
from botocore_otel.state import CallState, in_flight, on_the_stack
from botocore_otel.windows import get_current, out_of_stuck_window


def _left_behind(state: CallState) -> bool:
    """Whether ``state``'s call, marked in flight in this context, has left botocore's
    ``_make_api_call`` without a closing event (an exception raised by another after-call
    handler, KeyboardInterrupt) while the application keeps the exception, and so the record.

    Only asked when a call starts while another's record is in flight in its context: a nested
    call (credential refresh, S3's redirect) or such a leftover. Not left behind when its
    ``_make_api_call`` is on this thread's stack (only this thread's: another thread's frames
    change under a reader), nor when its in-flight mark was set in another context: a copy, as
    a nested call on another thread has (s3transfer, ``asyncio.to_thread``), where the call may
    be running. Nor when this botocore's frames cannot tell (no ``request_context`` local
    found). Left behind, its in-flight mark is taken off here.
    """
    running = on_the_stack(lambda request_context: request_context.get("retries") is state.retries_context)
    token = state.nest_token
    if running is not False or token is None:
        return False
    try:
        in_flight.reset(token)  # refused in another context than the one that set it
    except ValueError:
        return False
    state.nest_token = None
    return True


def parent_inside(outer_ref: weakref.ref[CallState] | None, current: Context) -> Context:
    """The parent of a call that starts while another call's record is in flight in its
    context, or while a send window may be stuck. A nested call (credential refresh while
    signing, S3's redirect) is the outer call's child. A call left without a closing event (an
    exception raised by another handler, KeyboardInterrupt) is ended now if the application
    keeps its record alive, and what was current before its send window is put back if the
    window still is."""
    outer = None if outer_ref is None else outer_ref()
    if outer is not None and not outer.ended and not outer.is_async and _left_behind(outer):
        outer.owner.abandon(outer, outer.last_end_ns)  # ended with its last response, if any
        outer, current = None, get_current()
    if outer is None or outer.ended:
        if outer_ref is not None and in_flight.get() is outer_ref:
            in_flight.set(None)
        return out_of_stuck_window(current)
    if "attempt" in outer.retries_context:
        span = outer.span
        if span is OPENING:  # made by a span processor while the outer call's span starts
            return current
        # opened by the outer call's own instrumentation (its tracer and hooks)
        return set_span_in_context(span or outer.owner.open_early(outer), outer.parent)
    return current
