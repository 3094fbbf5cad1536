"""Metrics sink: ``rpc.client.call.duration``, the AWS SDK ("Smithy") family and phases.

Recorded for every call that reached the wire, sampled or not. Durations come from the
same ``time_ns()`` stamps as the span, so the call histogram equals the span duration.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from botocore_otel.attributes import (
    CANCELLED,
    EXCEPTION_TYPES,
    SYNTHETIC_ATTRIBUTE,
    THROTTLE_CODES,
    Attributes,
    OperationInfo,
)
from botocore_otel.forks import lock_of, module_lock
from botocore_otel.limits import Limiter

if TYPE_CHECKING:
    from botocore_otel.state import CallState, Outcome

# Up to two minutes: SQS long polls (20 s), Lambda invocations and Bedrock answers pass 10 s,
# and a percentile over the top finite bucket reads as that bucket's bound.
SECONDS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0
)  # fmt: skip
# Phases (serialization, signing, parsing) are mostly sub-millisecond.
PHASE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_NS = 1e-9
_MAX_CACHED_ATTRIBUTE_SETS = 4096
_COMPACT_AT = 2 * _MAX_CACHED_ATTRIBUTE_SETS
MAX_ERROR_TYPES = 100
"""Distinct ``error.type`` values on the metrics that the operation's model does not name."""


class Totals:
    """Running totals of one monotonic counter, per attribute set, read by an observable counter.

    ``add`` costs well under a microsecond; a synchronous SDK counter's ``add`` costs 10-20 µs
    on every call (the SDK copies, cleans and hashes the attribute set each time). The
    exported sums are the same.
    """

    __slots__ = ("__weakref__", "_compact_at", "_lock", "_totals")

    def __init__(self) -> None:
        self._lock = lock_of(self)
        # id(attributes) -> [attributes, total]; holding the dict keeps its id from being reused
        self._totals: dict[int, list[Any]] = {}
        self._compact_at = _COMPACT_AT

    def add(self, amount: float, attributes: Attributes) -> None:
        lock = self._lock
        lock.acquire()  # not ``with``: on every call, and about 1k instructions cheaper
        try:
            entry = self._totals.get(id(attributes))
            if entry is not None:
                entry[1] += amount
                return
            self._totals[id(attributes)] = [attributes, amount]
            if len(self._totals) > self._compact_at:
                # No reader collects (an API-only app): merge here so churn cannot grow it.
                self._compact()
                self._compact_at = max(_COMPACT_AT, 2 * len(self._totals))
        finally:
            lock.release()

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            self._compact()
            return [Observation(total, attributes) for attributes, total in self._totals.values()]

    def _compact(self) -> None:
        """Merges equal attribute sets held in distinct dicts (the attribute-set cache was cleared)."""
        merged: dict[frozenset[tuple[str, Any]], list[Any]] = {}
        for attributes, total in self._totals.values():
            key = frozenset(attributes.items())
            entry = merged.get(key)
            if entry is None:
                merged[key] = [attributes, total]
            else:
                entry[1] += total
        self._totals = {id(entry[0]): entry for entry in merged.values()}


class ErrorTypes:
    """``error.type`` as the metrics show it: what the package itself names (a throttle, an
    error the operation's model names, an exception class, ``cancelled``, an HTTP status
    without a code) as it is; any other (a server or a proxy may send any code) within a cap."""

    def __init__(self) -> None:
        self._others = Limiter("error.type", MAX_ERROR_TYPES, "a fixed cap; spans keep every value")
        self._modelled: dict[OperationInfo, frozenset[str]] = {}

    def __call__(self, state: CallState, error_type: str | None) -> str | None:
        if (
            error_type is None
            or error_type in THROTTLE_CODES
            or error_type in EXCEPTION_TYPES
            or error_type == CANCELLED
            or (len(error_type) == 3 and error_type.isdigit())  # a status without a code
        ):
            return error_type
        modelled = self._modelled.get(state.info)
        if modelled is None:
            if len(self._modelled) >= _MAX_CACHED_ATTRIBUTE_SETS:
                self._modelled.clear()
            modelled = self._modelled[state.info] = modelled_error_codes(state.model)
        return error_type if error_type in modelled else self._others(error_type)


class _Counters:
    """The counters of one meter. Shared by every instrumentation using that meter: a second
    observable counter of the same name would report its own totals over the first's."""

    def __init__(self, meter: Meter) -> None:
        self.attempts = observed_totals(meter, "client.call.attempts", "{attempt}", "Attempts made by calls.")
        self.errors = observed_totals(meter, "client.call.errors", "{error}", "Calls that failed.")
        self.throttles = observed_totals(
            meter, "botocore_otel.throttles", "{throttle}", "Attempts answered with a throttle."
        )
        self.retries = observed_totals(
            meter, "botocore_otel.retries", "{retry}", "Attempts that were retried."
        )


def observed_totals(meter: Meter, name: str, unit: str, description: str) -> Totals:
    """Running totals, read by an observable counter of ``meter``."""
    totals = Totals()
    meter.create_observable_counter(name, [totals.observe], unit=unit, description=description)
    return totals


_Shared = TypeVar("_Shared")
_shared_by_meter: weakref.WeakKeyDictionary[Meter, dict[Callable[[Meter], Any], Any]] = (
    weakref.WeakKeyDictionary()
)
_shared_lock = module_lock(globals(), "_shared_lock")


def shared_by_meter(meter: Meter, make: Callable[[Meter], _Shared]) -> _Shared:
    """One ``make(meter)`` per meter (a set of observable counters), shared by every
    instrumentation using that meter."""
    with _shared_lock:
        made = _shared_by_meter.get(meter)
        if made is None:
            made = _shared_by_meter[meter] = {}
        found: _Shared | None = made.get(make)
        if found is None:
            found = made[make] = make(meter)
        return found


class CallMetrics:
    """The instruments of the chosen metric groups, and cached attribute sets.

    ``rpc`` (the default): ``rpc.client.call.duration``. ``smithy``: ``client.call.duration``
    and ``client.call.attempt_duration``, with the status code. ``phases``: serialization,
    deserialization and signing. The four counters are on whenever metrics are: they cost
    no SDK record per call.
    """

    def __init__(self, meter: Meter, groups: frozenset[str] = frozenset({"rpc"})) -> None:
        def histogram(name: str, description: str, buckets: tuple[float, ...]) -> Any:
            return meter.create_histogram(
                name,
                unit="s",
                description=description,
                explicit_bucket_boundaries_advisory=list(buckets),
            )

        self.rpc_duration = (
            histogram(
                "rpc.client.call.duration", "Duration of an AWS API call, retries included.", SECONDS_BUCKETS
            )
            if "rpc" in groups
            else None
        )
        self.smithy = "smithy" in groups
        if self.smithy:
            self.call_duration = histogram(
                "client.call.duration",
                "Overall call duration, retries and backoff included.",
                SECONDS_BUCKETS,
            )
            self.attempt_duration = histogram(
                "client.call.attempt_duration", "Time of one attempt: send, wait and parse.", SECONDS_BUCKETS
            )
        self.phases = "phases" in groups
        if self.phases:
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
        self.per_attempt = self.smithy or self.phases
        counters = shared_by_meter(meter, _Counters)
        self.attempts, self.errors = counters.attempts, counters.errors
        self.throttles, self.retries = counters.throttles, counters.retries
        self._attribute_sets: dict[tuple[Any, ...], Attributes] = {}
        # (operation, region) -> the lean set of a call that succeeded (the same dict as above)
        self._succeeded_sets: dict[tuple[OperationInfo, str | None], Attributes] = {}
        self._error_type = ErrorTypes()

    def attributes(
        self,
        base: Attributes,
        region: str | None,
        error_type: str | None,
        synthetic: bool,
        status: int | None = None,
        *,
        exception_type: bool = False,
    ) -> Attributes:
        """The attribute dict for this combination, built once and reused. ``status`` only
        for the ``smithy`` histograms: the default set has no status code."""
        key = (id(base), region, error_type, synthetic, status, exception_type)
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
        if synthetic:
            attributes[SYNTHETIC_ATTRIBUTE] = True
        if len(self._attribute_sets) >= _MAX_CACHED_ATTRIBUTE_SETS:
            self._attribute_sets.clear()
        self._attribute_sets[key] = attributes
        return attributes

    def _lean(self, state: CallState, error_type: str | None) -> Attributes:
        return self.attributes(
            state.info.metric_attributes, state.region, error_type, state.synthetic_rule is not None
        )

    def record_attempt(self, state: CallState, end_ns: int) -> None:
        """At response-received: the attempt's histograms (``smithy``, ``phases``) and throttles."""
        measured_in = state.sent_in
        error_type = self._error_type(state, state.last_error)
        if self.smithy:
            attributes = self.attributes(
                state.info.metric_attributes,
                state.region,
                error_type,
                state.synthetic_rule is not None,
                state.last_status,
            )
            self.attempt_duration.record(
                max(0, end_ns - state.attempt_start_ns) * _NS, attributes, measured_in
            )
        if self.phases:
            lean = self._lean(state, error_type)
            if state.parse_start_ns >= state.attempt_start_ns:
                # max(0, ...): the wall clock may step back between two readings (NTP).
                self.deserialization_duration.record(
                    max(0, end_ns - state.parse_start_ns) * _NS, lean, measured_in
                )
            if state.sign_start_ns and state.sign_end_ns > state.sign_start_ns:
                self.signing_duration.record(
                    (state.sign_end_ns - state.sign_start_ns) * _NS, lean, measured_in
                )
        if state.last_throttled:
            self.throttles.add(1, self._lean(state, error_type))

    def record_retry(self, state: CallState) -> None:
        self.retries.add(1, self._lean(state, self._error_type(state, state.last_error)))

    def record_call(self, state: CallState, outcome: Outcome) -> None:
        """At the call's end: the call histograms, attempts and errors."""
        end_ns, status = outcome.end_ns, outcome.status
        error_type = None if outcome.error_type is None else self._error_type(state, outcome.error_type)
        synthetic = state.synthetic_rule is not None
        succeeded = error_type is None and not synthetic
        lean = self._succeeded_sets.get((state.info, state.region)) if succeeded else None  # one lookup
        if lean is None:
            lean = self.attributes(state.info.metric_attributes, state.region, error_type, synthetic)
            if succeeded:
                if len(self._succeeded_sets) >= _MAX_CACHED_ATTRIBUTE_SETS:
                    self._succeeded_sets.clear()
                self._succeeded_sets[(state.info, state.region)] = lean
        elapsed_ns = end_ns - state.start_ns
        seconds = elapsed_ns * _NS if elapsed_ns > 0 else 0.0  # a conditional: max() is a call
        # The context the last attempt was sent in, its span current: the SDK's exemplars (its
        # default filter keeps them from sampled spans) then point at the call, whether or not
        # the caller had a span. By the time a duration is known, that span is no longer current.
        measured_in = state.sent_in
        if self.rpc_duration is not None:
            self.rpc_duration.record(seconds, lean, measured_in)
        if self.smithy:
            base = state.info.metric_attributes
            self.call_duration.record(
                seconds, self.attributes(base, state.region, error_type, synthetic, status), measured_in
            )
        self.attempts.add(state.attempts, lean)
        if self.phases and state.serialized_ns:
            self.serialization_duration.record(
                max(0, state.serialized_ns - state.start_ns) * _NS, lean, measured_in
            )
        if error_type is not None:
            self.errors.add(
                1,
                self.attributes(
                    state.info.metric_attributes, state.region, error_type, synthetic, exception_type=True
                ),
            )


def modelled_error_codes(model: Any) -> frozenset[str]:
    """The error codes an operation's model names (shape names, and the codes of services
    that answer with other ones: SQS's ``AWS.SimpleQueueService.NonExistentQueue``)."""
    codes: set[str] = set()
    try:
        for shape in model.error_shapes:
            codes.add(shape.name)
            error = shape.metadata.get("error")
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                codes.add(error["code"])
        output = model.output_shape
        for member in output.members.values() if output is not None else ():
            if member.serialization.get("eventstream"):  # errors inside a stream, by member name
                codes.update(
                    name for name, event in member.members.items() if event.metadata.get("exception")
                )
    except (AttributeError, TypeError):  # no model (a test's stand-in, a broken one): the cap only
        pass
    return frozenset(codes)
