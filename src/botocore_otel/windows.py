"""Send windows: the OpenTelemetry context an attempt sends in (its span current, HTTP
instrumentation suppressed), and putting back what was current before it.

A window opens at before-send and closes at response-received when it is still current.
One that is not (another context attached over it, or one below it detached) is settled at
the call's end: emptied in place into what was current before it, so that nothing of the
call is current wherever that Context object comes back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

from botocore_otel.state import CallState, in_flight, stuck_windows

_ContextAccess = tuple[Callable[[], Context], Callable[[Context], Any], Callable[[Any], None]]


def current_context_access() -> _ContextAccess:
    """get, attach and detach of the current OTel context. With the default runtime context,
    its ContextVar's own methods: one C call each, where the API adds two Python frames (about
    3k instructions a call over the four uses). Another runtime context: the API's functions."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar):
        return var.get, var.set, var.reset
    return otel_context.get_current, otel_context.attach, otel_context.detach


get_current, attach, detach = current_context_access()


def _empty_into(window: Context, before: Context) -> None:
    """Makes a send window hold what ``before`` holds: wherever it is still current, or will
    be put back, nothing of its call is then. Context is read-only by convention only."""
    dict.clear(window)
    dict.update(window, before)


def close_window(state: CallState) -> None:
    """Puts back what was current before the send window, when the window is current.

    Not when another context is current over it (a handler attached one at before-send,
    after ours, to detach later; or a context below the window was detached, taking the
    window off the stack): detaching under it would leave the window current once that
    context goes. The window is then settled at the call's end (``settle_windows``).
    ``Lifecycle.on_response_received`` does the same inline (every call: one frame less)."""
    token = state.window_token
    if token is None or get_current() is not state.window_ctx:
        return
    state.window_token = state.window_ctx = None
    try:  # noqa: SIM105 - hot path: cheaper than contextlib.suppress
        detach(token)
    except ValueError:  # made in another context (a copied one): nothing to undo here
        pass


def set_aside_window(state: CallState) -> None:
    """The last attempt's window, not current (see ``close_window``): settled at the call's
    end, while the next attempt sends in a window of its own."""
    window, token = state.window_ctx, state.window_token
    state.window_token = state.window_ctx = None
    if window is not None:
        state.covered_windows = [*(state.covered_windows or ()), (window, token)]


def settle_windows(state: CallState) -> None:
    """At the call's end: closes its window if current; a window that is not (set aside, or
    still under another context) is emptied in place into what was current before it. When
    the context over it goes, even after the call returned, what comes back then holds
    nothing of the call (its span, the HTTP suppression). Whatever else holds that Context
    object (a thread or task that copied the context during the send, a handler that kept
    it) sees the same from then on: the call is over. Our Context, built per attempt."""
    close_window(state)
    if state.window_token is not None:
        set_aside_window(state)
    windows, state.covered_windows = state.covered_windows or [], None
    outer_ref = in_flight.get()  # the call this one is nested in, if any (set back by now)
    outer = None if outer_ref is None else outer_ref()
    # The latest first: a nested call's window, emptied into ours, then holds what ours holds.
    for window, token in reversed(windows):
        before = getattr(token, "old_value", None)  # contextvars.Token's
        if not isinstance(before, Context):
            before = state.parent
        if state.sent_in is window:  # the metrics' exemplars still point at the call
            state.sent_in = Context(window)
        _empty_into(window, before)
        if outer is not None and before is outer.window_ctx:
            # A nested call's window emptied into its outer call's, still open: it holds
            # the outer call now, and is emptied again when the outer call's is.
            outer.covered_windows = [*(outer.covered_windows or ()), (window, token)]


def out_of_stuck_window(current: Context) -> Context:
    """What was current before ``current``, if it is a send window a call freed on another
    thread left current (``state.stuck_windows``); else ``current``. Entries go once nothing
    holds their window any more."""
    found = current
    for stuck in list(stuck_windows):
        window = stuck[0]()
        if window is None:
            with contextlib.suppress(ValueError):  # another thread's call took it first
                stuck_windows.remove(stuck)
        elif window is current:
            attach(stuck[1])
            found = stuck[1]
    return found
