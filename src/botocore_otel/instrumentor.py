"""``Instrumentor``: the OpenTelemetry instrumentor class, over :mod:`botocore_otel.wiring`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from botocore_otel import wiring


class Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures every botocore/boto3 call.

    ``Instrumentor().instrument()`` covers every session created from now on, and boto3's
    default session if it exists; ``instrument(target)`` covers one session or client.
    Keyword options mirror the ``BOTOCORE_OTEL_*`` environment variables.
    ``botocore_otel.instrument()`` does the same without importing opentelemetry-instrumentation.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("botocore >= " + ".".join(map(str, wiring.MIN_BOTOCORE)),)

    def instrument(self, target: Any = None, **kwargs: Any) -> None:
        if target is not None:
            kwargs.pop("skip_dep_check", None)
            wiring.instrument_target(target, kwargs)
            return None
        # The instrument() function may have changed the shared state behind this singleton.
        self._is_instrumented_by_opentelemetry = wiring.is_instrumented_globally()
        # The base class's dependency check reads package metadata (12-16 ms); _instrument
        # checks botocore's version from botocore.__version__ instead, with the same outcome.
        kwargs.setdefault("skip_dep_check", True)
        return super().instrument(**kwargs)  # type: ignore[no-any-return]

    def uninstrument(self, target: Any = None, **kwargs: Any) -> None:
        if target is not None:
            wiring.uninstrument_target(target)
            return None
        wiring.uninstrument_all()
        self._is_instrumented_by_opentelemetry = False
        return None

    def _instrument(self, **kwargs: Any) -> None:
        strict = kwargs.pop("_strict", True)
        if wiring.botocore_is_supported():  # logs an error when botocore is too old
            wiring.instrument_globally(kwargs, strict=strict)

    def _uninstrument(self, **kwargs: Any) -> None:
        wiring.uninstrument_all()


class _AutoInstrumentor:
    """What ``opentelemetry-instrument`` loads: never raises, logs bad configuration."""

    def instrument(self, **kwargs: Any) -> None:
        Instrumentor().instrument(_strict=False, **kwargs)

    def uninstrument(self, **kwargs: Any) -> None:
        Instrumentor().uninstrument(**kwargs)


def auto_instrumentor() -> _AutoInstrumentor:
    return _AutoInstrumentor()
