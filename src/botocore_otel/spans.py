"""Span sink: the call's CLIENT span, its retry events and optional per-attempt spans."""

from __future__ import annotations

from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    set_span_in_context,
)

from botocore_otel.attributes import (
    SYNTHETIC_ATTRIBUTE,
    Attributes,
    OperationInfo,
    endpoint_of,
    request_ids,
    server_attributes,
)
from botocore_otel.config import Settings
from botocore_otel.errors import report
from botocore_otel.state import CallState, Outcome

SYNTHETIC_RULE_ATTRIBUTE = "botocore_otel.synthetic.rule"
_MAX_START_SETS = 4096
OPENING: Span = NonRecordingSpan(INVALID_SPAN_CONTEXT)
"""``CallState.span`` while the tracer starts it: an AWS call that a span processor's
``on_start`` makes then must not open the same call's span a second time."""


class SpanSink:
    __slots__ = ("_attempt_spans", "_by_url", "_request_hook", "_response_hook", "_start_sets", "_tracer")

    def __init__(self, tracer: Tracer, settings: Settings) -> None:
        self._tracer = tracer
        self._request_hook = settings.request_hook
        self._response_hook = settings.response_hook
        self._attempt_spans = settings.attempt_spans
        # (service, operation, region, endpoint) -> attributes the call span starts with
        self._start_sets: dict[tuple[str, str, str | None, str | None], Attributes] = {}
        # (operation, region, url) -> the same dicts, for urls without a path
        self._by_url: dict[tuple[OperationInfo, str | None, str | None], Attributes] = {}

    def open_call(self, state: CallState, url: str | None = None) -> Span:
        """Opens the call's span as ``state.span``; ``url``: the request's, when opened at the
        first before-send."""
        info = state.info
        attributes = self._by_url.get((info, state.region, url))
        if attributes is None:
            attributes = self._start_attributes(info, state.region, url)
        state.span = OPENING
        try:
            span = state.span = self._tracer.start_span(
                info.span_name,
                context=state.parent,
                kind=info.span_kind,
                attributes=attributes,
                start_time=state.start_ns,
            )
        except BaseException:
            state.span = None
            raise
        # Set before the request hook runs: an AWS call it makes is this call's child, and
        # must find the span open rather than open it a second time.
        if state.extra_attributes and span.is_recording():
            span.set_attributes(state.extra_attributes)
        if self._request_hook is not None and span.is_recording():
            span.set_attributes(self._request_attributes(state))  # the hook may override them
            try:
                self._request_hook(span, info.service_key, info.operation, state.params or {})
            except Exception as error:
                report("request_hook", error)
        return span

    def _request_attributes(self, state: CallState) -> Attributes:
        info = state.info
        if info.extras is None or state.params is None:
            return {}
        try:
            return info.extras.request_attributes(state.params)
        except Exception as error:
            report(f"request attributes of {info.span_name}", error)
            return {}

    def _start_attributes(self, info: OperationInfo, region: str | None, url: str | None) -> Attributes:
        """Static attributes, ``cloud.region`` and the server's: one dict per combination, reused.

        Also kept by the whole url when it has no path (the JSON and query protocols: the same
        url on every call), where one lookup then replaces finding the endpoint in the url."""
        endpoint = endpoint_of(url) if url else None
        key = (info.service_key, info.operation, region, endpoint)
        attributes = self._start_sets.get(key)
        if attributes is None:
            attributes = dict(info.span_attributes)
            if region:
                attributes["cloud.region"] = region
            if endpoint is not None:
                attributes.update(server_attributes(endpoint))
            if len(self._start_sets) >= _MAX_START_SETS:
                self._start_sets.clear()
            self._start_sets[key] = attributes
        if url is None or len(url) <= len(endpoint or "") + 1:  # no path, or "/"
            if len(self._by_url) >= _MAX_START_SETS:
                self._by_url.clear()
            self._by_url[(info, region, url)] = attributes
        return attributes

    def on_first_send(self, span: Span, url: str) -> None:
        if span.is_recording():
            span.set_attributes(server_attributes(endpoint_of(url)))

    def on_retry(self, state: CallState) -> None:
        span = state.span
        if span is not None and span.is_recording():
            attributes: Attributes = {
                "aws.attempt": state.attempts - 1,
                "aws.throttled": state.last_throttled,
            }
            if state.last_status is not None:
                attributes["http.response.status_code"] = state.last_status
            if state.last_error is not None:
                attributes["error.type"] = state.last_error
            span.add_event("aws.retry", attributes, timestamp=state.last_end_ns or None)

    def open_attempt(
        self, state: CallState, call_span: Span, start_ns: int, method: str | None = None
    ) -> Span:
        """A child span per attempt, when ``attempt_spans`` is on; else the call span itself."""
        if not self._attempt_spans or not call_span.is_recording():
            return call_span
        info = state.info
        attributes: Attributes = {"aws.service_id": info.service_key, "http.request.method": method or "POST"}
        if state.attempts > 1:
            attributes["http.request.resend_count"] = state.attempts - 1
        span = self._tracer.start_span(
            f"{info.span_name} attempt {state.attempts}",
            context=set_span_in_context(call_span, state.parent),
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start_ns,
        )
        return span

    def end_attempt(self, state: CallState, end_ns: int) -> None:
        """Ends ``state.attempt_span`` (the lifecycle then forgets it)."""
        span = state.attempt_span
        if span is None:
            return
        if state.last_status is not None:
            span.set_attribute("http.response.status_code", state.last_status)
        if state.last_error is not None:
            span.set_attribute("error.type", state.last_error)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_ns)

    def end_call(self, state: CallState, outcome: Outcome) -> None:
        span = state.span
        if span is None or type(span) is NonRecordingSpan:  # unsampled: nothing to set, end() does nothing
            return
        if span.is_recording():
            info = state.info
            status, error_type, parsed = outcome.status, outcome.error_type, outcome.parsed
            retries = state.attempts - 1
            attributes: Attributes = {"aws.retry_attempts": retries if retries > 0 else 0}
            if status is not None:
                attributes["http.response.status_code"] = status
            request_id, extended_request_id = request_ids(parsed)
            if request_id:
                attributes["aws.request_id"] = request_id
            if extended_request_id:
                attributes["aws.extended_request_id"] = extended_request_id
            if error_type is not None:
                attributes["error.type"] = error_type
            if state.synthetic_rule is not None:
                attributes[SYNTHETIC_ATTRIBUTE] = True
                attributes[SYNTHETIC_RULE_ATTRIBUTE] = state.synthetic_rule
            if self._request_hook is None:
                # Set with the rest: one set_attributes call per span, not two. botocore's own
                # handlers have finished rewriting the parameters long before.
                attributes.update(self._request_attributes(state))
            if info.extras is not None and parsed:
                try:
                    attributes.update(info.extras.response_attributes(parsed))
                except Exception as error:
                    report(f"response attributes of {info.span_name}", error)
            span.set_attributes(attributes)
            if error_type is not None:
                if outcome.exception is not None:
                    from botocore_otel.redact import record_exception  # loaded by the first one

                    record_exception(span, outcome.exception, outcome.end_ns)
                else:
                    from botocore_otel.redact import service_error_message

                    message = outcome.error_message
                    span.add_event(
                        "exception",
                        {
                            "exception.type": "botocore.exceptions.ClientError",
                            "exception.message": service_error_message(message) if message else error_type,
                        },
                        timestamp=outcome.end_ns,
                    )
                span.set_status(Status(StatusCode.ERROR, error_type))
            if self._response_hook is not None:
                try:
                    self._response_hook(span, info.service_key, info.operation, parsed)
                except Exception as error:
                    report("response_hook", error)
        span.end(outcome.end_ns)
