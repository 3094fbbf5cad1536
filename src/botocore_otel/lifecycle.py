"""Call lifecycle: turns botocore's events into call and attempt records for the sinks.

Event order for one call (attempt steps repeat): provide-client-params, before-call,
[before-sign, request-created, before-send, before-parse, response-received], then
after-call or after-call-error. State lives in botocore's per-call ``context`` dict.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import (
    _SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    _SUPPRESS_INSTRUMENTATION_KEY,
    Context,
)
from opentelemetry.trace import INVALID_SPAN, Span, Tracer
from opentelemetry.trace.propagation import _SPAN_KEY

from botocore_otel.attributes import (
    CANCELLED,
    THROTTLE_CODES,
    OperationInfo,
    error_code_of,
    exception_type,
    operation_info,
)
from botocore_otel.config import Settings
from botocore_otel.errors import report
from botocore_otel.metrics import CallMetrics
from botocore_otel.nesting import parent_inside
from botocore_otel.propagation import HeaderInjector
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.spans import SpanSink
from botocore_otel.state import (
    STATE_KEY,
    CallState,
    Outcome,
    _abandoned,
    end_abandoned,
    in_flight,
    stuck_windows,
)
from botocore_otel.windows import attach, detach, get_current, set_aside_window, settle_windows

SYNTHETIC_HEADER = "x-botocore-otel-synthetic"
"""Marks a synthetic response (``synthetic/sending.py``), so response-received knows ours was used."""

_time_ns = time.time_ns
# botocore before ~1.43.70 has no ``context`` on the prepared request: the last
# request-created handler hands the call's state to before-send (nothing runs between).
# Both hold weak references: an abandoned call must not be kept alive by them.
_handoff: ContextVar[weakref.ref[CallState] | None] = ContextVar("botocore_otel_handoff", default=None)
# The call whose attempt is between before-send and response-received on this thread or
# task: before-parse gets no request context of its own.
_sending: ContextVar[weakref.ref[CallState] | None] = ContextVar("botocore_otel_sending", default=None)
_SKIPPED: Any = object()


def _handed_state() -> CallState | None:
    """The call that the last request-created handler handed on (no context on the request)."""
    ref = _handoff.get()
    if ref is None:
        return None
    _handoff.set(None)
    return ref()


def _sending_state() -> CallState | None:
    ref = _sending.get()
    return None if ref is None else ref()


class Lifecycle(SharedOnCopy):
    """The event handlers of one instrumentation. ``enabled`` switches them all off."""

    def __init__(
        self,
        settings: Settings,
        tracer: Tracer,
        metrics: CallMetrics | None,
        infos: dict[str, OperationInfo] | None = None,
    ) -> None:
        """``infos``: another lifecycle's per-operation facts, shared when the settings are the
        same (a session's share of the global instrumentation): built once, not per session."""
        self.enabled = True
        self.settings = self._settings = settings
        self._spans = SpanSink(tracer, settings)
        self._metrics = metrics
        self._injector = (
            HeaderInjector(baggage=settings.baggage, propagator=settings.propagator)
            if settings.propagate
            else None
        )
        self._synthetic = settings.synthetic
        self._attempt_spans = settings.attempt_spans
        # before-parse (phases) finds the sending call through _sending; without the phases,
        # setting it would be work for nobody.
        self._track_sending = "phases" in settings.metrics
        self.infos: dict[str, OperationInfo] = {} if infos is None else infos
        # client config -> when its client's handlers were taken off (the client uninstrumented,
        # or instrumented anew): a call of that client that started before lost its closing ones
        self.unhooked: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    # -- call start ---------------------------------------------------------------
    def _new_info(self, event_name: str, model: Any) -> OperationInfo:
        service_key = event_name.split(".")[1]
        if service_key in self._settings.skip_services:
            info: OperationInfo = _SKIPPED
        else:
            info = operation_info(service_key, model, self._settings.semconv)
        self.infos[event_name] = info
        return info

    def on_provide_client_params(
        self, params: Mapping[str, Any], model: Any, context: dict[str, Any], event_name: str, **_: Any
    ) -> None:
        if not self.enabled:
            return
        if _abandoned:  # a safe point: end calls that finalizers queued
            end_abandoned()
        try:
            info = self.infos.get(event_name) or self._new_info(event_name, model)
            if info is _SKIPPED:
                return
            parent = get_current()
            if parent.get(_SUPPRESS_INSTRUMENTATION_KEY):
                return
            outer_ref = in_flight.get()
            if outer_ref is not None or stuck_windows:
                parent = parent_inside(outer_ref, parent)
            state = CallState(
                self,
                info,
                model,
                _time_ns(),
                parent,
                params,
                context.get("client_region"),
                context.setdefault("retries", {}),
                context.get("client_config"),
            )
            state.nest_token = in_flight.set(state.ref)
            context[STATE_KEY] = state
        except Exception as error:
            report("provide-client-params handler", error)

    def call_span(self, context: Mapping[str, Any], url: str | None = None) -> Span | None:
        """The span of the call that owns botocore's ``context``, opened now if need be.

        For handlers that run before before-send: payload propagation writes the span's
        context into the message at before-call (or Lambda's ClientContext at request-created).
        ``url``: the request's, when known (the span then opens with ``server.address``).
        """
        state: CallState | None = context.get(STATE_KEY)
        if state is None or state.ended:
            return None
        return state.span or state.owner.open_early(state, url)

    def parent_context(self, context: Mapping[str, Any]) -> Context | None:
        """What the call's span will be the child of."""
        state: CallState | None = context.get(STATE_KEY)
        return None if state is None else state.parent

    def add_attributes(self, context: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
        """Attributes for the call's span, known before it opens: set when it opens, so that a
        call that never reaches the wire (Stubber, a parameter error) still gets no span."""
        state: CallState | None = context.get(STATE_KEY)
        if state is None or state.ended or not attributes:
            return
        if state.span is None:
            state.extra_attributes = {**(state.extra_attributes or {}), **attributes}
        elif state.span.is_recording():
            state.span.set_attributes(attributes)

    def open_early(self, state: CallState, url: str | None = None) -> Span:
        """Opens ``state``'s span before its first send (a nested call, payload propagation)."""
        span = self._spans.open_call(state, url)  # sets state.span
        state.span_has_server = url is not None
        return span

    def on_before_call(self, context: dict[str, Any], **_: Any) -> None:
        state: CallState | None = context.get(STATE_KEY)
        if state is not None:
            state.serialized_ns = _time_ns()

    # -- attempts -----------------------------------------------------------------
    def on_before_sign(self, request: Any, **_: Any) -> None:
        state = getattr(request, "context", {}).get(STATE_KEY)
        if state is not None:
            state.sign_start_ns = _time_ns()

    def on_request_created(self, request: Any, **_: Any) -> None:
        state = getattr(request, "context", {}).get(STATE_KEY)
        if state is not None:
            state.sign_end_ns = _time_ns()
            _handoff.set(state.ref)

    def on_before_send(self, request: Any, **_: Any) -> None:
        if not self.enabled:
            return
        try:
            context = getattr(request, "context", None)
            state: CallState | None = context.get(STATE_KEY) if context else _handed_state()
            if state is None or state.ended:
                return
            now = _time_ns()
            if now < state.start_ns:  # the wall clock stepped back (not max(): 1k instructions more)
                now = state.start_ns
            state.attempts += 1
            call_span = state.span
            if call_span is None:
                try:  # opened now: server.address and server.port are among its first attributes
                    call_span = self._spans.open_call(state, request.url)  # sets state.span
                except Exception as error:  # a broken tracer: metrics go on without the span
                    report("starting the call span", error)
                    call_span = INVALID_SPAN
            elif state.attempts == 1 and not state.span_has_server:  # opened early, without the url
                self._spans.on_first_send(call_span, request.url)
            if state.attempts > 1:
                self._spans.on_retry(state)
            state.attempt_start_ns = now
            state.parse_start_ns = 0
            span = call_span
            if self._attempt_spans:
                span = self._spans.open_attempt(state, call_span, now, getattr(request, "method", None))
                if span is not call_span:
                    state.attempt_span = span
            # The span made current, and urllib3/requests instrumentation told not to add a
            # second span for the wire: one context built (set_value twice would copy twice),
            # as set_value builds it (a plain dict's copy, then the Context).
            values = state.parent.copy()
            values[_SPAN_KEY] = span
            values[_SUPPRESS_HTTP_INSTRUMENTATION_KEY] = True
            ctx = Context(values)
            if self._injector is not None:
                self._injector.inject(request.headers, ctx, span.get_span_context())
            if state.window_token is not None:  # the last attempt's: another context is over it
                set_aside_window(state)
            state.window_token = attach(ctx)
            state.window_ctx = state.sent_in = ctx
            if self._track_sending:
                _sending.set(state.ref)
            if state.attempts > 1 and self._metrics is not None:
                self._metrics.record_retry(state)
        except Exception as error:
            report("before-send handler", error)

    def on_before_parse(self, **_: Any) -> None:
        state = _sending_state()
        if state is not None:
            state.parse_start_ns = _time_ns()

    def _end_attempt_span(self, state: CallState, end_ns: int) -> None:
        """Ends ``state.attempt_span``; its callers check that there is one (attempt spans on)."""
        try:
            self._spans.end_attempt(state, end_ns)
        except Exception as error:  # a span processor's on_end: the call and metrics go on
            report("ending an attempt span", error)
        state.attempt_span = None

    def on_response_received(
        self,
        response_dict: Mapping[str, Any] | None,
        parsed_response: Mapping[str, Any] | None,
        context: dict[str, Any],
        exception: BaseException | None,
        **_: Any,
    ) -> None:
        state: CallState | None = context.get(STATE_KEY)
        if state is None or state.attempts == 0 or state.ended:
            return
        try:
            now = _time_ns()
            if now < state.attempt_start_ns:  # the wall clock stepped back
                now = state.attempt_start_ns
            window = state.window_ctx
            if window is not None and get_current() is window:  # close_window(), inline: every call
                token, state.window_token, state.window_ctx = state.window_token, None, None
                try:  # noqa: SIM105 - hot path: cheaper than contextlib.suppress
                    detach(token)
                except ValueError:  # made in another context (a copied one): nothing to undo here
                    pass
            if self._track_sending:
                _sending.set(None)
            status: int | None = None
            code: str | None = None
            if response_dict is not None:
                status = response_dict.get("status_code")
                if self._synthetic is not None:  # HeadersDict lookups are not cheap
                    headers = response_dict.get("headers")
                    rule = headers.get(SYNTHETIC_HEADER) if headers is not None else None
                    if rule is not None:
                        state.synthetic_rule = str(rule)
                # botocore raises ClientError for any status >= 300. All are errors (S3's
                # unresolved 301 PermanentRedirect or 307 among them) except 304 Not Modified,
                # a conditional request's expected answer.
                if status is not None and status >= 300 and status != 304:
                    code = error_code_of(parsed_response, context) or str(status)
            if exception is not None:
                code = exception_type(exception)
            state.last_status, state.last_error, state.last_end_ns = status, code, now
            throttled = state.last_throttled = status == 429 or (code is not None and code in THROTTLE_CODES)
            if state.attempt_span is not None:
                self._end_attempt_span(state, now)
            if self._metrics is not None and (self._metrics.per_attempt or throttled):
                self._metrics.record_attempt(state, now)
        except Exception as error:
            report("response-received handler", error)

    # -- call end -------------------------------------------------------------------
    def on_after_call(
        self, http_response: Any, parsed: Mapping[str, Any] | None, context: dict[str, Any], **_: Any
    ) -> None:
        state: CallState | None = context.get(STATE_KEY)
        if state is None or state.ended:
            return
        try:
            status = getattr(http_response, "status_code", None)
            code = None
            if status is not None and status >= 300 and status != 304:  # see on_response_received
                code = error_code_of(parsed, context) or str(status)
            outcome = Outcome(status, code, parsed)
            if code is not None and parsed and state.span is not None and state.span.is_recording():
                error = parsed.get("Error")
                detail = error.get("Message", "") if isinstance(error, Mapping) else ""
                outcome.error_message = (  # only the span shows it
                    f"An error occurred ({code}) when calling the {state.info.operation} operation: {detail}"
                )
            self._finish(state, outcome)
        except Exception as error:
            report("after-call handler", error)

    def on_after_call_error(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        state: CallState | None = context.get(STATE_KEY)
        if state is None or state.ended:
            return
        try:
            self._finish(state, Outcome(state.last_status, exception_type(exception), exception=exception))
        except Exception as error:
            report("after-call-error handler", error)

    def abandon(self, state: CallState, end_ns: int = 0) -> None:
        """Ends a call that got no closing event, at a safe point (see ``CallState.__del__``).
        ``end_ns``: when it was dropped, if known (0: now). Uninstrumented while the call ran,
        its closing handlers went: it is not counted as failed, nor measured."""
        if state.ended:
            return
        window = state.window_ctx
        if window is not None and otel_context.get_current() is window:
            # Still current on this thread: put back what was current before the call. One
            # that is not (under another context, current on another thread) is emptied by
            # _finish, as any call's.
            otel_context.attach(state.parent)
            state.window_token = state.window_ctx = None
        config = state.client_config
        unseen = config is not None and state.start_ns <= self.unhooked.get(config, 0)
        outcome = Outcome(state.last_status, None if unseen else CANCELLED)
        outcome.end_ns = end_ns
        self._finish(state, outcome, measured=not unseen)

    def _finish(self, state: CallState, outcome: Outcome, measured: bool = True) -> None:
        end_ns = outcome.end_ns or _time_ns()  # an abandoned call's is set beforehand
        if end_ns < state.start_ns:  # the wall clock stepped back
            end_ns = state.start_ns
        outcome.end_ns = end_ns
        state.ended = True
        if state.nest_token is not None:
            token, state.nest_token = state.nest_token, None
            try:  # noqa: SIM105 - hot path: cheaper than contextlib.suppress
                in_flight.reset(token)
            except ValueError:  # created in another context (a copied one): nothing to undo
                pass
        if state.span is None and state.attempts == 0:
            return  # never reached the wire (answered at before-call, e.g. by Stubber)
        if state.window_token is not None or state.covered_windows:
            settle_windows(state)
        if state.attempt_span is not None:
            self._end_attempt_span(state, end_ns)
        # GenAI (Bedrock Runtime) records its telemetry here; a response stream keeps the call
        # open until the application is done with it, then calls end_call() (genai/streams.py).
        end_hook = state.info.end_hook
        if measured and end_hook is not None and end_hook(self, state, outcome):
            return
        self.end_call(state, outcome, measured)

    def end_call(self, state: CallState, outcome: Outcome, measured: bool = True) -> None:
        """Ends the call's span and records its metrics (unless not ``measured``): at
        ``_finish``, or a stream's end."""
        try:
            self._spans.end_call(state, outcome)
        except Exception as error:  # a span processor's on_end: the metrics still count
            report("ending the call span", error)
        # Only calls that reached the wire are measured (a span opened early, as a nested
        # call's parent, may belong to a call that a Stubber then answered).
        if measured and self._metrics is not None and state.attempts > 0:
            self._metrics.record_call(state, outcome)
