"""gevent (locust's runtime): end a call that a ``gevent.Timeout`` cuts off, at once.

botocore emits no closing event when a call is left by a ``BaseException``; the call's send
window (its span made current) stays current in the greenlet. ``CallState.__del__`` would end
it, but gevent keeps the ``Timeout`` object, and with it the traceback, the frames and the
call's state, alive: the greenlet's next spans would be children of the dead call's span until
its next AWS call. So botocore's ``_make_request`` (the send window lies within it) is wrapped
(wrapt), only once gevent has patched the standard library: elsewhere it would cost every call
for nothing. Not ``_make_api_call``: the official instrumentation wraps that one, and its
``uninstrument()`` takes off whichever wrapper is outermost.
"""

from __future__ import annotations

import sys
from typing import Any

from botocore_otel.errors import report
from botocore_otel.state import STATE_KEY, CallState

_patched = False
_enabled = False


def install_if_patched() -> None:
    """``install()`` when gevent has patched the standard library (``monkey.patch_all()``):
    a process that imports gevent without patching runs its calls on threads."""
    monkey: Any = sys.modules.get("gevent.monkey")
    try:
        patched = monkey is not None and bool(monkey.is_module_patched("socket"))
    except Exception:  # an old or broken gevent: its calls are left to the finalizer
        patched = False
    if patched:
        install()


def install() -> None:
    """Wraps botocore's ``_make_request`` (once per process) and switches the guard on."""
    global _patched, _enabled
    _enabled = True
    if _patched:
        return
    try:
        import wrapt
        from botocore.client import BaseClient

        wrapt.wrap_function_wrapper(BaseClient, "_make_request", _guard)
        _patched = True
    except Exception as error:
        report("wrapping botocore's _make_request", error)


def uninstall() -> None:
    """Switches the guard off: the wrapper stays but only passes calls through."""
    global _enabled
    _enabled = False


def _guard(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    except Exception:  # botocore emits after-call-error: the handlers end the call
        raise
    except BaseException:
        if _enabled:
            _end_cut_off(args[2] if len(args) > 2 else kwargs.get("request_context"))
        raise


def _end_cut_off(request_context: Any) -> None:
    """Ends the call of ``request_context`` now; what was current before its send window is
    current again (``Lifecycle.abandon``)."""
    try:
        state: CallState | None = None
        if isinstance(request_context, dict):
            state = request_context.get(STATE_KEY)
        if state is not None and not state.ended:
            state.owner.abandon(state)
    except Exception as error:
        report("ending a call cut off without a closing event", error)
