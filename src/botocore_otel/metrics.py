"""Metrics sink: ``rpc.client.call.duration`` and the AWS SDK ("Smithy") client family.

Recorded for every call that reached the wire, sampled or not. Durations come from the
same ``time_ns()`` stamps as the span, so the call histogram equals the span duration.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Meter

from botocore_otel.attributes import Attributes

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Phases (serialization, signing, parsing) are mostly sub-millisecond.
PHASE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_NS = 1e-9
_MAX_CACHED_ATTRIBUTE_SETS = 4096


class CallMetrics:
    """Instruments, created once per meter, and cached attribute sets."""

    def __init__(self, meter: Meter) -> None:
        def histogram(name: str, description: str, buckets: tuple[float, ...]) -> Any:
            return meter.create_histogram(
                name,
                unit="s",
                description=description,
                explicit_bucket_boundaries_advisory=list(buckets),
            )

        self.rpc_duration = histogram(
            "rpc.client.call.duration", "Duration of an AWS API call, retries included.", SECONDS_BUCKETS
        )
        self.call_duration = histogram(
            "client.call.duration", "Overall call duration, retries and backoff included.", SECONDS_BUCKETS
        )
        self.attempt_duration = histogram(
            "client.call.attempt_duration", "Time of one attempt: send, wait and parse.", SECONDS_BUCKETS
        )
        self.serialization_duration = histogram(
            "client.call.serialization_duration",
            "Parameter validation, endpoint resolution and serialization.",
            PHASE_BUCKETS,
        )
        self.deserialization_duration = histogram(
            "client.call.deserialization_duration", "Parsing of one response.", PHASE_BUCKETS
        )
        self.signing_duration = histogram(
            "client.call.auth.signing_duration",
            "Signing of one attempt, credential resolution included.",
            PHASE_BUCKETS,
        )
        self.attempts = meter.create_counter(
            "client.call.attempts", unit="{attempt}", description="Attempts made by calls."
        )
        self.errors = meter.create_counter(
            "client.call.errors", unit="{error}", description="Calls that failed."
        )
        self.throttles = meter.create_counter(
            "botocore_otel.throttles", unit="{throttle}", description="Attempts answered with a throttle."
        )
        self.retries = meter.create_counter(
            "botocore_otel.retries", unit="{retry}", description="Attempts that were retried."
        )
        self._attribute_sets: dict[tuple[Any, ...], Attributes] = {}

    def attributes(
        self,
        base: Attributes,
        region: str | None,
        status: int | None,
        error_type: str | None,
        synthetic: bool,
        *,
        exception_type: bool = False,
    ) -> Attributes:
        """The attribute dict for this combination, built once and reused."""
        key = (id(base), region, status, error_type, synthetic, exception_type)
        cached = self._attribute_sets.get(key)
        if cached is not None:
            return cached
        attributes = dict(base)
        if region:
            attributes["cloud.region"] = region
        if status is not None:
            attributes["http.response.status_code"] = status
        if error_type is not None:
            attributes["error.type"] = error_type
            if exception_type:
                attributes["exception.type"] = error_type
        attributes["synthetic"] = synthetic
        if len(self._attribute_sets) >= _MAX_CACHED_ATTRIBUTE_SETS:
            self._attribute_sets.clear()
        self._attribute_sets[key] = attributes
        return attributes

    def record_attempt(
        self, attributes: Attributes, start_ns: int, parse_start_ns: int, end_ns: int, sign_ns: int
    ) -> None:
        # max(0, ...): the wall clock may step back between two readings (NTP).
        self.attempt_duration.record(max(0, end_ns - start_ns) * _NS, attributes)
        if parse_start_ns >= start_ns:
            self.deserialization_duration.record(max(0, end_ns - parse_start_ns) * _NS, attributes)
        if sign_ns > 0:
            self.signing_duration.record(sign_ns * _NS, attributes)

    def record_call(
        self,
        attributes: Attributes,
        error_attributes: Attributes | None,
        duration_ns: int,
        attempts: int,
        serialization_ns: int,
    ) -> None:
        seconds = max(0, duration_ns) * _NS
        self.rpc_duration.record(seconds, attributes)
        self.call_duration.record(seconds, attributes)
        self.attempts.add(attempts, attributes)
        if serialization_ns > 0:
            self.serialization_duration.record(serialization_ns * _NS, attributes)
        if error_attributes is not None:
            self.errors.add(1, error_attributes)
