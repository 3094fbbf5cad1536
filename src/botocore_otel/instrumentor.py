"""``Instrumentor``: the OpenTelemetry instrumentor class, over :mod:`botocore_otel.wiring`."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from botocore_otel import wiring

logger = logging.getLogger("botocore_otel")


class Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures every botocore/boto3 call.

    ``Instrumentor().instrument()`` covers every session created from now on, and boto3's
    default session if it exists; ``instrument(target)`` covers one session or client.
    Keyword options mirror the ``BOTOCORE_OTEL_*`` environment variables.
    ``botocore_otel.instrument()`` does the same without importing opentelemetry-instrumentation.
    """

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        """Whether every session is instrumented: by this class or ``botocore_otel.instrument()``,
        which share the state."""
        return wiring.is_instrumented_globally()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("botocore >= " + ".".join(map(str, wiring.MIN_BOTOCORE)),)

    def instrument(self, target: Any = None, **kwargs: Any) -> None:
        if target is not None:
            kwargs.pop("skip_dep_check", None)
            wiring.instrument_target(target, kwargs)
            return None
        # The instrument() function may have changed the shared state behind this singleton.
        self._is_instrumented_by_opentelemetry = wiring.is_instrumented_globally()
        if self._is_instrumented_by_opentelemetry:  # checks the options, says it is done already
            strict = kwargs.pop("_strict", True)
            for base_option in ("skip_dep_check", "raise_exception_on_conflict"):  # the base class's
                kwargs.pop(base_option, None)
            wiring.instrument_globally(kwargs, strict=strict)
            return None
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
        if wiring.botocore_is_supported():  # logs an error when botocore is missing or too old
            wiring.instrument_globally(kwargs, strict=strict)

    def _uninstrument(self, **kwargs: Any) -> None:
        wiring.uninstrument_all()


ENTRY_POINT = "botocore_otel"
_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def _disabled_by_another_name() -> str | None:
    """The entry of ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` that names botocore-otel other
    than by its entry point's name (``botocore-otel``, as pip shows it, or another casing):
    opentelemetry-instrument compares names exactly, so it loaded us anyway."""
    for name in os.environ.get(_DISABLED, "").split(","):
        name = name.strip()
        if name != ENTRY_POINT and name.lower().replace("-", "_") == ENTRY_POINT:
            return name
    return None


class _AutoInstrumentor:
    """What ``opentelemetry-instrument`` loads: never raises, logs bad configuration."""

    def instrument(self, **kwargs: Any) -> None:
        meant = _disabled_by_another_name()
        if meant is not None:  # the user's wish, said with the name to use
            names = [n.strip() for n in os.environ.get(_DISABLED, "").split(",") if n.strip()]
            logger.warning(
                "botocore-otel: %s names %r, taken to mean botocore-otel, which stays off; its "
                "instrumentation is named %s (%s=%s)",
                _DISABLED,
                meant,
                ENTRY_POINT,
                _DISABLED,
                ",".join(ENTRY_POINT if n == meant else n for n in names),
            )
            return
        Instrumentor().instrument(_strict=False, **kwargs)

    def uninstrument(self, **kwargs: Any) -> None:
        Instrumentor().uninstrument(**kwargs)


def auto_instrumentor() -> _AutoInstrumentor:
    return _AutoInstrumentor()


def after_auto_instrumentation() -> None:
    """The ``opentelemetry_post_instrument`` entry point: runs once ``opentelemetry-instrument``
    has loaded every instrumentor, in whichever order they came.

    With both botocore-otel and opentelemetry-instrumentation-botocore enabled, each call
    would get two spans, one inside the other. The official one is switched off (it wraps
    ``_make_api_call``; unwrapping it before the app runs is safe) and a warning says how to
    choose. If botocore-otel was disabled (or failed), nothing is done.
    """
    try:
        if not wiring.is_instrumented_globally():
            return
        switched_off = []
        for name, instrumentor in wiring.official_instrumentors():
            instrumentor.uninstrument()
            switched_off.append(name)
        if switched_off:
            disabled = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
            names = [n.strip() for n in disabled.split(",") if n.strip()]
            logger.warning(
                "botocore-otel: opentelemetry-instrumentation-botocore is enabled too; its %s "
                "instrumentation was switched off so that each AWS call gets one span, botocore-otel's. "
                "Set OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=%s to say so, or add botocore_otel to it to "
                "keep the official instrumentation instead.",
                " and ".join(switched_off),
                ",".join(dict.fromkeys([*names, *switched_off])),
            )
    except Exception:
        logger.exception("botocore-otel: could not switch off opentelemetry-instrumentation-botocore")
