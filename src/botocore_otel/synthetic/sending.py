"""Where synthetic answers enter a call: botocore's ``before-send`` event.

botocore emits ``before-send`` with plain ``emit``: every handler runs, and the first
non-None return value is used instead of the wire; the others are dropped unread. Our
handler is registered last, but it cannot see what the handlers before it returned (moto's
mock, a user's cache, a ``register_first`` handler). So when a rule selects the call it
returns a ``DeferredResponse``: an object that does nothing until botocore reads it, which
happens only when it is the answer botocore uses. Then, and only then, the rule's
reservoir is spent, the error and latency are drawn, the response is built and the
latency is waited. A call answered earlier costs a rule lookup and one rate draw.

A call a rule selected never reaches AWS: if its answer cannot be built, botocore gets a
``ClientError`` (code ``BotocoreOtelSyntheticError``, HTTP 500, a message naming the rule
and the cause) raised while it reads the response, after the attempt: not retried. The
choice is made once per call, as it starts (provide-client-params, ``_Call.selected``): the
retries of a synthetic throttle or 5xx are answered by the same rule, and those of a call sent
to AWS go to AWS, without a new draw. The calls made while a selected call is in flight in the
same thread or task (botocore's on its behalf: endpoint discovery, S3 Express sessions, S3's
region redirect, credential refresh) are answered too (``SyntheticResponder.on_behalf_of``).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from opentelemetry import trace

from botocore_otel.errors import report
from botocore_otel.forks import lock_of
from botocore_otel.lifecycle import SYNTHETIC_HEADER
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import STATE_KEY, is_async_config, on_the_stack
from botocore_otel.synthetic.responses import new_request_id

if TYPE_CHECKING:
    from botocore_otel.lifecycle import Lifecycle
    from botocore_otel.state import CallState
    from botocore_otel.synthetic import PendingAnswer, SyntheticResponder

logger = logging.getLogger("botocore_otel")
SYNTHETIC_ERROR_CODE = "BotocoreOtelSyntheticError"

# The latency of an aiobotocore call's synthetic answer, waited at before-parse: that
# event's handlers are awaited, and it comes only after the answer was used.
_async_delay: ContextVar[float] = ContextVar("botocore_otel_synthetic_delay", default=0.0)
# In the call's context: its _Call, noted at provide-client-params.
_CALL_KEY = "botocore_otel.synthetic"


class _Call:
    """One call as the responder sees it, traced or not (its service skipped, instrumentation
    suppressed): what it needs to answer it, and whether a rule selected it, decided once as
    the call starts. The retries follow, never drawn anew: a call would otherwise be answered
    partly by AWS, partly by a rule."""

    __slots__ = (
        "__weakref__",
        "is_async",
        "model",
        "params",
        "pending",
        "previous",
        "selected",
        "sent",
        "service_key",
        "state",
        "token",
    )

    def __init__(self, model: Any, params: Any, is_async: bool) -> None:
        self.model = model
        self.params = params
        self.is_async = is_async
        self.selected: bool | None = None
        self.sent = False
        self.service_key = ""
        self.pending: PendingAnswer | None = None  # the answer of a selected call's attempts
        self.token: Token[Any] | None = None  # a selected call's mark
        # botocore before ~1.43.70 only (see _handoff): the call's state, and what _handoff
        # held before this call's request-created
        self.state: weakref.ref[CallState] | None = None
        self.previous: weakref.ref[_Call] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> _Call:
        # botocore deep-copies the request dict, context included, to presign a cross-region
        # URL (RDS, DocumentDB, Neptune SourceRegion; EC2 CopySnapshot): the model with it.
        return self

    def __copy__(self) -> _Call:
        return self


_Mark = tuple[weakref.ref[_Call], Any]
"""A selected call in flight (weakly), and the mark below it (the call it was made in, if any):
the chain outlives a call that left its mark behind and was then freed."""

# The selected call in flight in this context (thread or task). A call made while it is, by
# botocore on its behalf (endpoint discovery, S3 Express session, S3 region redirect, credential
# refresh through an instrumented client) or by a hook running inside it, is answered too.
_selected_in_flight: ContextVar[_Mark | None] = ContextVar("botocore_otel_synthetic_selected", default=None)


def _in_flight(call: _Call) -> bool:
    """Whether ``call``'s ``_make_api_call`` is on this thread's stack (asked only when a call
    starts while a selected call is marked in flight: a nested call, or a mark left behind by a
    call that raised before after-call). True when this botocore's frames cannot tell."""
    return on_the_stack(lambda request_context: request_context.get(_CALL_KEY) is call) is not False


def _running_selected_call() -> _Call | None:
    """The innermost selected call marked in flight in this context that is still running.
    Marks left behind above it (a call that raised before after-call, one that failed its
    parameter check) are taken off, the mark put back on it; None when none is running."""
    mark = _selected_in_flight.get()
    while mark is not None:
        ref, below = mark
        call = ref()
        if call is not None and call.pending is not None and _in_flight(call):
            if _selected_in_flight.get() is not mark:
                _selected_in_flight.set(mark)
            return call
        mark = below
    _selected_in_flight.set(None)
    return None


# botocore before ~1.43.70: the prepared request has no context. The last request-created
# handler hands the call over to before-send, which puts back what was there before: a call
# made in between (by a request hook, or a before-send handler) hands its own over and back.
# Weak references: a call dropped in between leaves nothing alive.
_handoff: ContextVar[weakref.ref[_Call] | None] = ContextVar("botocore_otel_synthetic_handoff", default=None)


class DeferredResponse:
    """Stands for a synthetic ``AWSResponse`` until botocore reads any attribute of it."""

    __slots__ = ("_build", "_response")

    def __init__(self, build: Callable[[], AWSResponse]) -> None:
        object.__setattr__(self, "_build", build)
        object.__setattr__(self, "_response", None)

    def _resolve(self) -> AWSResponse:
        response: AWSResponse | None = self._response
        if response is None:
            response = self._build()
            object.__setattr__(self, "_response", response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._resolve(), name, value)

    def __repr__(self) -> str:
        return f"DeferredResponse({self._response!r})"


class SyntheticSender(SharedOnCopy):
    """The before-send responder (and the aiobotocore latency) of one instrumentation."""

    def __init__(self, responder: SyntheticResponder, lifecycle: Lifecycle) -> None:
        self._responder = responder
        self._lifecycle = lifecycle
        self._failures_logged: set[tuple[str, str, type[BaseException]]] = set()
        self._lock = lock_of(self)

    def handlers(self, requests_carry_context: bool = True) -> list[tuple[str, Any, str, str]]:
        handlers = [
            ("provide-client-params", self.on_call, "normal", "botocore_otel.on_synthetic_call"),
            ("after-call", self.on_call_end, "normal", "botocore_otel.on_synthetic_call_end"),
            ("after-call-error", self.on_call_end, "normal", "botocore_otel.on_synthetic_call_error"),
            # last: a response returned by a handler registered earlier wins
            ("before-send", self.on_before_send, "last", "botocore_otel.on_synthetic_send"),
            ("before-parse", self.on_before_parse, "first", "botocore_otel.on_synthetic_parse"),
        ]
        if not requests_carry_context:  # older botocore: see _handoff
            handlers.append(
                ("request-created", self.on_request_created, "last", "botocore_otel.on_synthetic_request")
            )
        return handlers

    def on_request_created(self, request: Any, **_: Any) -> None:
        context = getattr(request, "context", None)
        call: _Call | None = context.get(_CALL_KEY) if context else None
        if call is not None:
            state: CallState | None = context.get(STATE_KEY) if context else None
            call.state = None if state is None else state.ref
            call.previous = _handoff.get()
            _handoff.set(weakref.ref(call))

    def on_call(self, model: Any, params: Any, context: dict[str, Any], **_: Any) -> None:
        """Decides, as the call starts, whether a rule selects it: botocore's calls on its
        behalf come before its first before-send."""
        if not self._lifecycle.enabled or context.get("is_presign_request"):
            return  # a presigned URL is made, never sent: no after-call would take its mark off
        try:
            call = _Call(model, params, is_async_config(context.get("client_config")))
            context[_CALL_KEY] = call
            state: CallState | None = context.get(STATE_KEY)
            service_key = call.service_key = (
                state.info.service_key if state is not None else model.service_model.service_id.hyphenize()
            )
            outer = _running_selected_call() if _selected_in_flight.get() is not None else None
            if outer is not None and outer.pending is not None:
                pending: PendingAnswer | None = self._responder.on_behalf_of(
                    outer.pending.rule, service_key, model, params, call.is_async
                )
            else:
                trace_id = trace.get_current_span().get_span_context().trace_id
                pending = self._responder.select(service_key, model, params, trace_id, call.is_async)
            call.selected = pending is not None
            if pending is not None:
                call.pending = pending
                call.token = _selected_in_flight.set((weakref.ref(call), _selected_in_flight.get()))
        except Exception as error:
            report("choosing a synthetic answer", error)

    def on_call_end(self, context: dict[str, Any], **_: Any) -> None:
        call: _Call | None = context.get(_CALL_KEY)
        if call is not None and call.token is not None:
            token, call.token = call.token, None
            try:  # noqa: SIM105 - hot path: cheaper than contextlib.suppress
                _selected_in_flight.reset(token)
            except ValueError:  # set in another context (a copy): nothing to undo here
                pass

    def on_before_send(self, request: Any, **_: Any) -> DeferredResponse | None:
        if not self._lifecycle.enabled:
            return None
        try:
            context = getattr(request, "context", None)  # botocore >= ~1.43.70
            state: CallState | None
            if context:
                call: _Call | None = context.get(_CALL_KEY)
                state = context.get(STATE_KEY)
            else:
                handed = _handoff.get()
                call = None if handed is None else handed()
                if call is None:
                    return None
                _handoff.set(call.previous)
                state = None if call.state is None else call.state()
            if call is None or not call.selected:
                return None
            pending = call.pending
            if pending is None:
                return None
            if call.sent:
                pending = pending.again()  # a retry: answered alike, no reservoir spent
            call.sent = True
        except Exception as error:
            report("choosing a synthetic answer", error)
            return None
        ref = state.ref if state is not None and not state.ended else None
        return DeferredResponse(lambda: self._answer(pending, ref() if ref is not None else None))

    def _answer(self, pending: PendingAnswer, state: CallState | None) -> AWSResponse:
        """Runs when botocore reads the response: this call is answered by us."""
        try:
            answer = pending.build()
            answer.response.headers[SYNTHETIC_HEADER] = answer.rule_name
            if answer.delay_s > 0:
                if pending.is_async:
                    _async_delay.set(answer.delay_s)
                else:
                    time.sleep(answer.delay_s)
            return answer.response
        except Exception as error:
            if state is not None:
                state.synthetic_rule = pending.rule.name  # response-received will not come
            raise self._failure(pending, error) from error

    def _failure(self, pending: PendingAnswer, error: Exception) -> ClientError:
        rule, operation = pending.rule.name, pending.operation.name
        cause = f"{type(error).__name__}: {error}"
        message = (
            f"botocore-otel synthetic rule {rule!r} selected this call but could not build "
            f"its answer ({cause}); the call was not sent to AWS"
        )
        key = (rule, operation, type(error))
        with self._lock:
            first = key not in self._failures_logged
            self._failures_logged.add(key)
        if first:
            logger.error("botocore-otel: %s (%s)", message, operation, exc_info=error)
        request_id = new_request_id()
        return ClientError(
            {
                "Error": {"Code": SYNTHETIC_ERROR_CODE, "Message": message},
                "ResponseMetadata": {
                    "RequestId": request_id,
                    "HTTPStatusCode": 500,
                    "HTTPHeaders": {SYNTHETIC_HEADER: rule, "x-amzn-requestid": request_id},
                    "RetryAttempts": 0,
                },
            },
            operation,
        )

    def on_before_parse(self, **_: Any) -> Coroutine[Any, Any, None] | None:
        delay = _async_delay.get()
        if not delay:
            return None
        _async_delay.set(0.0)
        return _wait(delay)


async def _wait(delay_s: float) -> None:
    """The synthetic latency of an aiobotocore call: awaited, never blocking the loop."""
    import asyncio  # only aiobotocore calls get here: sync apps never pay for the import

    try:
        await asyncio.sleep(delay_s)
    except RuntimeError as error:  # no asyncio loop (trio through anyio): answer at once
        report("synthetic latency", error)
