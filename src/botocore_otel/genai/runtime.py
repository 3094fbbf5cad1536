"""What GenAI telemetry needs per instrumentation: its settings read from the environment, and
its instruments (``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``,
``gen_ai.client.operation.time_to_first_chunk``), made on the first Bedrock call.

``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` drops the deprecated
``gen_ai.system`` (emitted next to ``gen_ai.provider.name`` otherwise).
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` opts into message content; a bad value
is logged and leaves it off (this is read during a user's call, which must never fail).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore_otel.attributes import Attributes
from botocore_otel.errors import ConfigError, report
from botocore_otel.forks import module_lock

logger = logging.getLogger("botocore_otel")

PROVIDER = "aws.bedrock"
CAPTURE_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = {"true", "span_only", "span_and_event"}
_CAPTURE_OFF = {"", "false", "no_content"}

# The conventions' advisory buckets (gen_ai.client.* metrics).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = tuple(4.0**n for n in range(14))  # 1, 4, 16, ... 67108864
_MAX_ATTRIBUTE_SETS = 1024


def latest_experimental(environ: Mapping[str, str] = os.environ) -> bool:
    opted = environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "gen_ai_latest_experimental" in {part.strip().lower() for part in opted.split(",")}


def capture_content(environ: Mapping[str, str] = os.environ) -> bool:
    value = environ.get(CAPTURE_VARIABLE, "").strip().lower()
    if value in _CAPTURE_ON:
        return True
    if value not in _CAPTURE_OFF:
        error = ConfigError(
            CAPTURE_VARIABLE, value, "true or false (also span_only, span_and_event, no_content)"
        )
        logger.error("botocore-otel: %s; message content stays off", error)
    return False


@dataclass
class GenAIRuntime:
    capture_content: bool
    system_attribute: bool
    """``gen_ai.system`` too (deprecated, what the official instrumentation sets): unless
    ``gen_ai_latest_experimental`` is opted into."""
    duration: Any = None
    tokens: Any = None
    time_to_first_chunk: Any = None
    capacity_tokens: Any = None
    """``capacity.tokens.TokenCounts`` with the ``capacity`` metric group on."""
    models: Any = None
    """With metrics: the cap on ``gen_ai.request.model`` values on them (attribution_max_values)."""
    error_types: Any = None
    """With metrics: ``metrics.ErrorTypes``, the bound on ``error.type`` values on them."""

    def __post_init__(self) -> None:
        self._attribute_sets: dict[tuple[Any, ...], Attributes] = {}

    def metric_attributes(
        self,
        operation: str,
        model: str,
        error_type: str | None,
        synthetic: bool,
        token_type: str | None = None,
    ) -> Attributes:
        """Bounded attributes: provider, operation, model, error.type (+ token type); one dict
        per combination, reused."""
        key = (operation, model, error_type, synthetic, token_type)
        attributes = self._attribute_sets.get(key)
        if attributes is None:
            attributes = {"gen_ai.provider.name": PROVIDER, "gen_ai.operation.name": operation}
            if model:
                attributes["gen_ai.request.model"] = model
            if error_type is not None:
                attributes["error.type"] = error_type
            if token_type is not None:
                attributes["gen_ai.token.type"] = token_type
            if synthetic:
                attributes["botocore_otel.synthetic"] = True
            if len(self._attribute_sets) >= _MAX_ATTRIBUTE_SETS:
                self._attribute_sets.clear()
            self._attribute_sets[key] = attributes
        return attributes


_runtimes: weakref.WeakKeyDictionary[Any, GenAIRuntime] = weakref.WeakKeyDictionary()
_lock = module_lock(globals(), "_lock")


def runtime_of(lifecycle: Any) -> GenAIRuntime:
    """The GenAI runtime of an instrumentation (its ``Lifecycle``), made on first use."""
    runtime = _runtimes.get(lifecycle)
    if runtime is None:
        with _lock:
            runtime = _runtimes.get(lifecycle)
            if runtime is None:
                runtime = _runtimes[lifecycle] = _make_runtime(lifecycle.settings)
                if "capacity" in lifecycle.settings.metrics and runtime.duration is not None:
                    from botocore_otel.capacity import token_counts

                    runtime.capacity_tokens = token_counts(lifecycle)
    return runtime


def _make_runtime(settings: Any) -> GenAIRuntime:
    runtime = GenAIRuntime(capture_content=capture_content(), system_attribute=not latest_experimental())
    if not settings.metrics:
        return runtime
    from botocore_otel.limits import Limiter
    from botocore_otel.metrics import ErrorTypes

    # model ids may come from user input, error codes from any server: the metrics keep a
    # bounded number (spans keep them all)
    runtime.models = Limiter("gen_ai.request.model", settings.attribution_max_values)
    runtime.error_types = ErrorTypes()
    try:
        from opentelemetry import metrics

        from botocore_otel import __version__

        meter = metrics.get_meter("botocore_otel", __version__, meter_provider=settings.meter_provider)
        runtime.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        runtime.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        runtime.time_to_first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a response stream.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
    except Exception as error:  # a broken meter provider: spans go on, GenAI metrics off
        report("creating the GenAI metric instruments", error)
    return runtime
