"""The capacity group's counters, their bounded attribute sets, and ``app.component``.

Seven observable counters over :class:`~botocore_otel.metrics.Totals`, one set per meter
(a second observable counter of the same name would report over the first). A
:class:`Recorder` per instrumentation turns a call's state and a signal's own attributes
into one cached attribute dict, so that a call costs a tuple hash and ``Totals.add``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.util.types import AttributeValue

from botocore_otel.attributes import SYNTHETIC_ATTRIBUTE, Attributes
from botocore_otel.capacity.attribution import Attribution
from botocore_otel.forks import module_lock
from botocore_otel.lifecycle import SYNTHETIC_HEADER
from botocore_otel.limits import Limiter
from botocore_otel.metrics import Totals, observed_totals, shared_by_meter

logger = logging.getLogger("botocore_otel")

_MAX_CACHED_SETS = 4096

Handler = tuple[str, Any, str, str]
"""(event, handler, position, unique id), as ``instrumentation.register`` takes them."""


def handler(event: str, function: Any) -> Handler:
    # botocore ignores a second registration under a unique id already used, on any event
    return (event, function, "normal", f"botocore_otel.capacity.{event}")


# signal -> (instrument, unit, description)
INSTRUMENTS: Mapping[str, tuple[str, str, str]] = {
    "dynamodb": (
        "botocore_otel.dynamodb.consumed_capacity",
        "{capacity_unit}",
        "DynamoDB read and write capacity units consumed, from ConsumedCapacity.",
    ),
    "s3_requests": (
        "botocore_otel.s3.requests",
        "{request}",
        "S3 requests that reached AWS, by billing class.",
    ),
    "s3_bytes": ("botocore_otel.s3.transferred", "By", "S3 object bytes uploaded and downloaded."),
    "sqs": (
        "botocore_otel.sqs.billable_requests",
        "{request}",
        "SQS requests as billed: one per started 64 KiB of payload.",
    ),
    "tokens": ("botocore_otel.genai.tokens", "{token}", "Bedrock tokens, by model and token type."),
    "lambda": ("botocore_otel.lambda.invocations", "{invocation}", "Lambda invocations, by function."),
    "requests": ("botocore_otel.requests", "{request}", "KMS, Secrets Manager and STS requests."),
}


class CapacityCounters:
    """The group's totals on one meter, by signal."""

    def __init__(self, meter: Meter) -> None:
        self.totals: dict[str, Totals] = {
            signal: observed_totals(meter, name, unit, description)
            for signal, (name, unit, description) in INSTRUMENTS.items()
        }


_lock = module_lock(globals(), "_lock")


class Recorder:
    """Adds to the group's totals for one instrumentation's settings (shared by its sessions)."""

    def __init__(self, counters: CapacityCounters, settings: Any) -> None:
        self.totals = counters.totals
        self.max_values: int = settings.attribution_max_values
        self._attribution = Attribution(settings.attribution) if settings.attribution else None
        self._component = Limiter("app.component", self.max_values)
        self._synthetic_on = settings.synthetic is not None
        self._sets: dict[tuple[Any, ...], Attributes] = {}
        self._limiters: dict[str, Limiter] = {}

    def limiter(self, attribute: str) -> Limiter:
        """The cap on a resource-name attribute (bucket, table, queue, function)."""
        limiter = self._limiters.get(attribute)
        if limiter is None:
            limiter = self._limiters.setdefault(attribute, Limiter(attribute, self.max_values))
        return limiter

    def synthetic(self, state: Any, response_dict: Mapping[str, Any] | None = None) -> bool:
        """Whether the call was answered synthetically. At ``response-received.<service>`` (it
        runs before the lifecycle's, which sets ``synthetic_rule``) give the response."""
        if state.synthetic_rule is not None:
            return True
        if not self._synthetic_on or response_dict is None:
            return False
        headers = response_dict.get("headers")
        return headers is not None and SYNTHETIC_HEADER in headers

    def add(
        self,
        signal: str,
        amount: float,
        state: Any,
        values: tuple[tuple[str, AttributeValue], ...],
        synthetic: bool | None = None,
    ) -> None:
        """``values``: the signal's own attributes, bounded already (see :meth:`limiter`)."""
        if synthetic is None:
            synthetic = state.synthetic_rule is not None
        component = None
        if self._attribution is not None:
            found = self._attribution.component(state.parent)
            if found is not None:
                component = self._component(found)
        key = (signal, state.region, component, synthetic, values)
        attributes = self._sets.get(key)
        if attributes is None:
            attributes = dict(values)
            if state.region:
                attributes["cloud.region"] = state.region
            if component is not None:
                attributes["app.component"] = component
            if synthetic:
                attributes[SYNTHETIC_ATTRIBUTE] = True
            if len(self._sets) >= _MAX_CACHED_SETS:
                self._sets.clear()  # Totals merges equal sets held in distinct dicts
            self._sets[key] = attributes
        self.totals[signal].add(amount, attributes)


_recorders: weakref.WeakKeyDictionary[Any, Recorder] = weakref.WeakKeyDictionary()


def recorder_of(call_metrics: Any, settings: Any) -> Recorder:
    """The recorder of an instrumentation, keyed by its ``CallMetrics`` (which a global
    instrumentation shares with its per-session shares): one cap for all of them."""
    with _lock:
        recorder = _recorders.get(call_metrics)
    if recorder is None:
        from opentelemetry import metrics

        from botocore_otel import __version__

        # the SDK hands back the meter CallMetrics was made with (same name and version)
        meter = metrics.get_meter("botocore_otel", __version__, meter_provider=settings.meter_provider)
        counters = shared_by_meter(meter, CapacityCounters)
        with _lock:
            recorder = _recorders.get(call_metrics)
            if recorder is None:
                recorder = _recorders[call_metrics] = Recorder(counters, settings)
    return recorder
