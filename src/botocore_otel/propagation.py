"""Trace headers on the prepared request, added after signing and never over a signed one.

Headers are added at ``before-send``, after SigV4 signing, so they are never part of the
signature. Three rules keep every signature valid (the 2026 SigV4 breakages of other
agents each broke one): never overwrite a header that is present, never touch a header
named in ``SignedHeaders``, never add an ``x-amz-*`` header (S3 requires those signed).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagate import get_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from botocore_otel.errors import report

try:  # botocore's HeadersDict keeps its headers as {_HeaderKey(name): value} in ``_dict``
    from botocore.awsrequest import _HeaderKey
except ImportError:  # pragma: no cover - a botocore without it takes the general way
    _HeaderKey = None

XRAY_HEADER = "X-Amzn-Trace-Id"
FIRST_FIELDS = ("traceparent", "tracestate")
"""Written first into a message (its attribute count is capped), and asked for first."""
# Formatting runs on every call: SpanContext is a 6-tuple (trace_id, span_id, is_remote,
# trace_flags, trace_state, is_valid) and unpacking it costs one step, where each of its
# properties is a Python call; a flags byte is looked up, not formatted. An id's hex digits come
# from its bytes: ``int.to_bytes(...).hex()`` costs about half of an f-string's ``:032x``.
_FLAGS_HEX = tuple(map("%02x".__mod__, range(256)))


def xray_header_value(span_context: SpanContext) -> str:
    trace_id, span_id, _, flags, _, _ = span_context
    trace_hex, span_hex = trace_id.to_bytes(16, "big").hex(), span_id.to_bytes(8, "big").hex()
    return f"Root=1-{trace_hex[:8]}-{trace_hex[8:]};Parent={span_hex};Sampled={flags & 1}"


def signed_header_names(headers: Any) -> str:
    """The ``SignedHeaders`` list of a SigV4/SigV4a ``Authorization`` header, as ``;a;b;``."""
    authorization: str | bytes | None = headers.get("Authorization")
    if not authorization:
        return ""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    start = authorization.find("SignedHeaders=")
    if start < 0:
        return ""
    start += len("SignedHeaders=")
    end = authorization.find(",", start)
    return ";" + authorization[start : end if end >= 0 else None].strip().lower() + ";"


def _is_w3c_default(textmap: TextMapPropagator) -> bool:
    """True for the SDK's default ``tracecontext,baggage`` propagator, which we format inline."""
    parts = getattr(textmap, "_propagators", None) if isinstance(textmap, CompositePropagator) else None
    return (
        parts is not None
        and len(parts) == 2
        and type(parts[0]) is TraceContextTextMapPropagator
        and type(parts[1]) is W3CBaggagePropagator
    )


_last_textmap: tuple[object, bool] = (None, False)


def global_textmap() -> tuple[TextMapPropagator, bool]:
    """The global propagator, and whether it is the default one (checked once per propagator)."""
    global _last_textmap
    textmap = get_global_textmap()
    known, is_default = _last_textmap
    if textmap is not known:
        is_default = _is_w3c_default(textmap)
        _last_textmap = (textmap, is_default)
    return textmap, is_default


def w3c_fields(span_context: SpanContext) -> dict[str, str]:
    """What the default propagator writes for this span context, baggage aside."""
    trace_id, span_id, _, flags, trace_state, _ = span_context
    trace_hex, span_hex = trace_id.to_bytes(16, "big").hex(), span_id.to_bytes(8, "big").hex()
    fields = {"traceparent": f"00-{trace_hex}-{span_hex}-{_FLAGS_HEX[flags]}"}
    if trace_state is not DEFAULT_TRACE_STATE and trace_state:
        fields["tracestate"] = trace_state.to_header()
    return fields


def unsendable_field(name: str, value: str) -> bool:
    """A header http.client would refuse (a name with whitespace or a control character, a
    line break in the value) or fail to encode (not ASCII)."""
    return (
        not name
        or not (name.isascii() and value.isascii())
        or not name.isprintable()  # tab, form feed, line breaks ...
        or " " in name
        or ":" in name
        or "\r" in value
        or "\n" in value
    )


def _present_names(headers: Any) -> set[str]:
    """The lowercased names already on the request."""
    keys = getattr(headers, "_dict", None)  # botocore's HeadersDict keeps each name lowercased
    if type(keys) is dict:
        try:
            return {key._lower for key in keys}
        except AttributeError:
            pass
    return {name.lower() for name in headers}


# Shared key objects (never mutated, like botocore's own): one hash each to look up and write.
_KEYS = None if _HeaderKey is None else tuple(map(_HeaderKey, (XRAY_HEADER, "traceparent", "tracestate")))


class HeaderInjector:
    """Writes the X-Ray header and the propagator's fields onto a prepared request: the global
    propagator's, or ``propagator``'s when one is given (the ``propagator`` setting)."""

    __slots__ = ("_baggage", "_baggage_propagator", "_propagator")

    def __init__(self, *, baggage: bool, propagator: TextMapPropagator | None = None) -> None:
        self._baggage = baggage
        self._baggage_propagator = W3CBaggagePropagator()
        self._propagator = None if propagator is None else (propagator, _is_w3c_default(propagator))

    def inject(self, headers: MutableMapping[str, Any], context: Context, span_context: SpanContext) -> None:
        trace_int, span_int, _, flags, trace_state, is_valid = span_context
        if not is_valid:
            return
        # Names and values formatted here are known to be sendable: only a propagator's are checked.
        trace_id = trace_int.to_bytes(16, "big").hex()
        span_id = span_int.to_bytes(8, "big").hex()
        xray = f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled={flags & 1}"
        traceparent = f"00-{trace_id}-{span_id}-{_FLAGS_HEX[flags]}"
        if self._propagator is None:
            textmap = get_global_textmap()
            known, is_default = _last_textmap  # global_textmap(), inline: once per call
            if textmap is not known:
                is_default = global_textmap()[1]
        else:
            textmap, is_default = self._propagator
        keys = getattr(headers, "_dict", None)
        if is_default and not self._baggage and type(keys) is dict and _KEYS is not None:
            # The common case, straight into HeadersDict's dict: setdefault never overwrites,
            # and hashes each name once. A header absent now was not signed either: signing
            # read the request's headers, so SignedHeaders needs no parsing here.
            xray_key, traceparent_key, tracestate_key = _KEYS
            keys.setdefault(xray_key, xray)
            sent = keys.setdefault(traceparent_key, traceparent)
            # The usual trace state is empty. A tracestate goes only beside our own traceparent:
            # it belongs to the trace next to it (W3C), not to a caller's (bedrock-agentcore's
            # traceParent parameter).
            if trace_state is not DEFAULT_TRACE_STATE and trace_state and sent is traceparent:
                keys.setdefault(tracestate_key, trace_state.to_header())
            return
        self._inject_checked(headers, context, textmap, is_default, xray, traceparent, trace_state)

    def _inject_checked(
        self,
        headers: MutableMapping[str, Any],
        context: Context,
        textmap: TextMapPropagator,
        is_default: bool,
        xray: str,
        traceparent: str,
        trace_state: Any,
    ) -> None:
        """Any headers mapping, baggage or another propagator: every name checked."""
        present = _present_names(headers)
        signed = signed_header_names(headers)
        if "x-amzn-trace-id" not in present and ";x-amzn-trace-id;" not in signed:
            headers[XRAY_HEADER] = xray
            present.add("x-amzn-trace-id")
        if is_default:
            if "traceparent" not in present and ";traceparent;" not in signed:
                headers["traceparent"] = traceparent
                present.add("traceparent")
                # only beside our own traceparent (see inject)
                if trace_state and "tracestate" not in present and ";tracestate;" not in signed:
                    headers["tracestate"] = trace_state.to_header()
                    present.add("tracestate")
            if not self._baggage:
                return
            carrier: dict[str, str] = {}
            self._baggage_propagator.inject(carrier, context=context)
        else:
            if not self._baggage:
                context = otel_baggage.clear(context=context)
            carrier = {}
            try:
                textmap.inject(carrier, context=context)
            except Exception as error:  # a broken propagator: the X-Ray header still goes out
                report("the global propagator's inject", error)
            if "traceparent" in present:  # the caller's: ours is not sent, nor our tracestate
                carrier.pop("tracestate", None)
        for name, value in carrier.items():
            # A propagator's odd value (not a str, a line break, not ASCII) would fail the send.
            if not isinstance(name, str) or not isinstance(value, str) or unsendable_field(name, value):
                continue
            lowered = name.lower()
            if lowered in present or lowered.startswith("x-amz-") or (signed and f";{lowered};" in signed):
                continue
            headers[name] = value
            present.add(lowered)
