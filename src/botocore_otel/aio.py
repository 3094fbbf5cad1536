"""aiobotocore: end a call whose task is cancelled, at once and in the task that made it.

botocore emits no closing event when a call is left by ``asyncio.CancelledError`` (a
``task.cancel()``, ``asyncio.timeout``, ``wait_for``): after-call-error is emitted only for
``Exception``. ``CallState.__del__`` ends such a call eventually, but only once the
cancelled task, its traceback and aiohttp's connection let go of the call's context dict
(measured: not even after ``gc.collect()`` while the task object lives), and from
wherever the collector happens to run. Meanwhile the task that made the call still holds
the call's OTel context (the span made current between before-send and
response-received), so its next call would be parented under the cancelled one.

With no event to hook, the guard is a method: the ``_make_api_call`` of :class:`CancelGuard`,
put first among the bases of each aiobotocore client class that an instrumented session makes
(``creating-client-class``), or of an instrumented client's own class. It runs around
``AioBaseClient._make_api_call``, looked up at each call. Not a wrapper on that attribute: the
official instrumentation wraps it too, and its ``uninstrument()`` takes off whichever wrapper is
outermost (ours, when it came first, leaving its own on). Nor a wrapper on ``_make_request``
(enough for the gevent guard): a call is in flight from provide-client-params and ends at
after-call, both outside it. An error before the wire, or a cancel while an application's async
after-call handler awaits, would leave the call in flight in its task, its span open, and the
task's next call under it.

The guard does nothing on the way in but note what was current; when the call leaves with an
exception and the call it started has not ended, it ends it as ``error.type="cancelled"``
through the same ``Lifecycle.abandon`` that ``__del__`` uses, and puts back the caller's OTel
context. The handlers stay the only place that makes spans.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context

from botocore_otel.errors import report
from botocore_otel.state import CallState, in_flight

GUARD_EVENT = "creating-client-class"
GUARD_ID = "botocore_otel.aio.guard"

_enabled = False


class CancelGuard:
    """The first base of a guarded aiobotocore client class."""

    async def _make_api_call(self, operation_name: str, api_params: Any) -> Any:
        call = super()._make_api_call(operation_name, api_params)  # type: ignore[misc]
        if not _enabled:
            return await call
        outer = in_flight.get()
        caller_context = otel_context.get_current()
        try:
            return await call
        except BaseException:
            _end_abandoned(outer, caller_context)
            raise


def install() -> None:
    """Switches the guard on (the classes already guarded, and those made from now on)."""
    global _enabled
    _enabled = True


def uninstall() -> None:
    """Switches the guard off: the guarded classes keep it, but it only passes calls through."""
    global _enabled
    _enabled = False


def on_creating_client_class(base_classes: list[type], **_: Any) -> None:
    """``creating-client-class`` handler of an aiobotocore session: the guard goes first."""
    try:
        from aiobotocore.client import AioBaseClient

        if CancelGuard not in base_classes and any(issubclass(b, AioBaseClient) for b in base_classes):
            base_classes.insert(0, CancelGuard)
    except Exception as error:
        report("guarding an aiobotocore client class", error)


def guard_client(client: Any) -> None:
    """Guards a client made before its instrumentation: its class, made for it alone by
    aiobotocore's client creator, gets the guard first among its bases."""
    try:
        from aiobotocore.client import AioBaseClient

        cls = type(client)
        if issubclass(cls, AioBaseClient) and cls is not AioBaseClient and not issubclass(cls, CancelGuard):
            cls.__bases__ = (CancelGuard, *cls.__bases__)
    except Exception as error:
        report("guarding an aiobotocore client", error)


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
