"""``app.component``: which part of the application made a call (option ``attribution``).

Sources are tried in order, the first that yields a value wins. They read the context the
call started in (``CallState.parent``), so a stream read later is still attributed to the code
that made the call.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import baggage, trace
from opentelemetry.context import Context

from botocore_otel.config_values import MAX_COMPONENT_LENGTH
from botocore_otel.limits import OTHER


def _route(context: Context) -> str | None:
    # Only the current span: an SDK span holds its parent's SpanContext, not the parent
    # span, so an enclosing server span is out of reach once a child span is current.
    attributes = getattr(trace.get_current_span(context), "attributes", None)
    route = attributes.get("http.route") if attributes else None
    return route if isinstance(route, str) and route else None


class Attribution:
    __slots__ = ("_sources",)

    def __init__(self, sources: tuple[tuple[str, str], ...]) -> None:
        self._sources = sources

    def component(self, context: Context) -> str | None:
        for kind, argument in self._sources:
            value: Any
            if kind == "baggage":
                value = baggage.get_baggage(argument, context)
            elif kind == "route":
                value = _route(context)
            else:
                return argument
            if isinstance(value, str) and value:
                return value if len(value) <= MAX_COMPONENT_LENGTH else OTHER
        return None
