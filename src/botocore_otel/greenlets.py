"""gevent (locust's runtime): end a call that a ``gevent.Timeout`` cuts off, at once.

botocore emits no closing event when a call is left by a ``BaseException``; the call's send
window (its span made current) stays current in the greenlet. ``CallState.__del__`` would end
it, but gevent keeps the ``Timeout`` object, and with it the traceback, the frames and the
call's state, alive: the greenlet's next spans would be children of the dead call's span until
its next AWS call. As ``aio.py`` does for cancelled tasks, botocore's ``_make_api_call`` is
wrapped (wrapt), only once gevent has patched the standard library: elsewhere it would cost
every call for nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from opentelemetry import context as otel_context

from botocore_otel.aio import end_left_call
from botocore_otel.errors import report
from botocore_otel.state import in_flight

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
    """Wraps botocore's ``_make_api_call`` (once per process) and switches the guard on."""
    global _patched, _enabled
    _enabled = True
    if _patched:
        return
    try:
        import wrapt
        from botocore.client import BaseClient

        wrapt.wrap_function_wrapper(BaseClient, "_make_api_call", _guard)
        _patched = True
    except Exception as error:
        report("wrapping botocore's _make_api_call", error)


def uninstall() -> None:
    """Switches the guard off: the wrapper stays but only passes calls through."""
    global _enabled
    _enabled = False


def _guard(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _enabled:
        return wrapped(*args, **kwargs)
    outer = in_flight.get()
    caller_context = otel_context.get_current()
    try:
        return wrapped(*args, **kwargs)
    except BaseException:
        end_left_call(outer, caller_context)
        raise
