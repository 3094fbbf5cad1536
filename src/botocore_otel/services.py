"""Per-service knowledge: declarative tables of span kinds, names and attributes.

The lifecycle asks :func:`extras_for` once per operation and caches the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue


class OperationExtras(Protocol):
    """What the tables add to one operation's span."""

    span_kind: SpanKind | None
    span_name: str | None
    static_attributes: Mapping[str, AttributeValue]

    def request_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]: ...

    def response_attributes(self, parsed: Mapping[str, Any]) -> dict[str, AttributeValue]: ...


def extras_for(service_key: str, operation: str) -> OperationExtras | None:
    return None
