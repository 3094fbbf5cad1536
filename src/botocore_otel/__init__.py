"""botocore-otel: OpenTelemetry for boto3/botocore through botocore's event system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore_otel.errors import ConfigError

if TYPE_CHECKING:
    from botocore_otel.instrumentor import Instrumentor

__version__ = "0.1.0"
__all__ = ["ConfigError", "Instrumentor", "__version__", "instrument", "uninstrument"]


def instrument(target: Any = None, **options: Any) -> None:
    """Same as ``Instrumentor().instrument(target, **options)``, and they share their state.

    It does not import opentelemetry-instrumentation (about 25 ms): for Lambda cold starts
    and command-line tools.
    """
    from botocore_otel import wiring

    if target is not None:
        wiring.instrument_target(target, options)
    elif wiring.botocore_is_supported():
        wiring.instrument_globally(options, strict=True)


def uninstrument(target: Any = None) -> None:
    """Same as ``Instrumentor().uninstrument(target)``."""
    from botocore_otel import wiring

    if target is not None:
        wiring.uninstrument_target(target)
    else:
        wiring.uninstrument_all()


def __getattr__(name: str) -> Any:
    # Instrumentor pulls in opentelemetry-instrumentation: only import it when asked for.
    if name == "Instrumentor":
        from botocore_otel.instrumentor import Instrumentor

        return Instrumentor
    raise AttributeError(name)
