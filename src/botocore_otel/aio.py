"""aiobotocore: end a call whose task is cancelled, at once and in the task that made it.

botocore emits no closing event when a call is left by ``asyncio.CancelledError`` (a
``task.cancel()``, ``asyncio.timeout``, ``wait_for``): after-call-error is emitted only for
``Exception``. ``CallState.__del__`` ends such a call eventually, but only once the
cancelled task, its traceback and aiohttp's connection let go of the call's context dict
(measured: not even after ``gc.collect()`` while the task object lives), and from
wherever the collector happens to run. Meanwhile the task that made the call still holds
the call's OTel context (the span made current between before-send and
response-received), so its next call would be parented under the cancelled one.

With no event to hook, ``AioBaseClient._make_api_call`` is wrapped (wrapt) once per
process. The wrapper does nothing on the way in but note what was current; when the
call leaves with an exception and the call it started has not ended, it ends it as
``error.type="cancelled"`` through the same ``Lifecycle.abandon`` that ``__del__`` uses, and
puts back the caller's OTel context. The handlers stay the only place that makes spans.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context

from botocore_otel.errors import report
from botocore_otel.state import CallState, in_flight

_patched = False
_enabled = False


def install() -> None:
    """Wraps aiobotocore's ``_make_api_call`` (once per process) and switches the guard on.

    Does nothing when aiobotocore is not installed; never raises.
    """
    global _patched, _enabled
    _enabled = True
    try:
        import wrapt
        from aiobotocore.client import AioBaseClient
    except ImportError:
        return
    if _patched and _still_guarded(AioBaseClient):
        return
    try:
        wrapt.wrap_function_wrapper(AioBaseClient, "_make_api_call", _guard)
        _patched = True
    except Exception as error:
        report("wrapping aiobotocore's _make_api_call", error)


def _still_guarded(owner: type) -> bool:
    """Whether ``owner._make_api_call`` is wrapped by our guard, however deep. Another
    package's ``unwrap`` takes off the outermost wrapper: ours, when it came last (the official
    instrumentation's ``uninstrument()``); the guard then goes back on at the next session."""
    function = vars(owner).get("_make_api_call")
    while function is not None:
        if getattr(function, "_self_wrapper", None) is _guard:
            return True
        function = getattr(function, "__wrapped__", None)
    return False


def uninstall() -> None:
    """Switches the guard off: the wrapper stays but only passes calls through."""
    global _enabled
    _enabled = False


def _guard(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _enabled:
        return wrapped(*args, **kwargs)
    return _guarded(wrapped(*args, **kwargs))


async def _guarded(call: Any) -> Any:
    outer = in_flight.get()
    caller_context = otel_context.get_current()
    try:
        return await call
    except BaseException:
        _end_abandoned(outer, caller_context)
        raise


def _end_abandoned(outer: Any, caller_context: Any) -> None:
    """Ends the call this ``_make_api_call`` started if no closing event ended it."""
    try:
        ref = in_flight.get()
        if ref is None or ref is outer:
            return  # the call ended (its token was reset) or was never instrumented
        state: CallState | None = ref()
        if state is not None and not state.ended:
            state.owner.abandon(state)
        if otel_context.get_current() is not caller_context:
            # Same task as the caller (asyncio.timeout, wait_for on 3.12+): what was
            # current before the call is current again.
            otel_context.attach(caller_context)
        if in_flight.get() is ref:
            in_flight.set(outer)
    except Exception as error:
        report("ending a cancelled aiobotocore call", error)
