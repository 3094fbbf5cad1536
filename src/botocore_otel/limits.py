"""Caps on the distinct values of a metric attribute that calls, not the package, choose
(error codes a server sends, resource names, model ids): each series costs memory in the SDK
and the backend for the life of the process, and past the SDK's 2,000 per metric every new
set falls into one ``otel.metric.overflow`` series without its service or operation."""

from __future__ import annotations

import logging

from botocore_otel.forks import lock_of

logger = logging.getLogger("botocore_otel")

OTHER = "other"
"""What a value past the cap becomes."""


class Limiter:
    """Keeps at most ``max_values`` distinct values of one attribute; later ones are ``other``,
    with one log line the first time. ``setting``: what sets the cap, named in that line."""

    __slots__ = ("__weakref__", "_kept", "_lock", "_max", "_setting", "_warned", "attribute")

    def __init__(self, attribute: str, max_values: int, setting: str = "attribution_max_values") -> None:
        self.attribute = attribute
        self._max = max_values
        self._setting = setting
        self._kept: set[str] = set()
        self._warned = False
        self._lock = lock_of(self)

    def __call__(self, value: str) -> str:
        if value in self._kept:
            return value
        with self._lock:
            if value in self._kept or len(self._kept) < self._max:
                self._kept.add(value)
                return value
            if self._warned:
                return OTHER
            self._warned = True
        logger.warning(
            "botocore-otel: more than %d distinct values of %s on the metrics; further ones are "
            "counted as %r (%s)",
            self._max,
            self.attribute,
            OTHER,
            self._setting,
        )
        return OTHER
