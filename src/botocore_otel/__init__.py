"""botocore-otel: OpenTelemetry for boto3/botocore through botocore's event system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore_otel.errors import ConfigError

if TYPE_CHECKING:
    from botocore_otel.instrumentor import Instrumentor

__version__ = "0.1.0"
__all__ = ["ConfigError", "Instrumentor", "__version__"]


def __getattr__(name: str) -> Any:
    # Instrumentor pulls in opentelemetry-instrumentation: only import it when asked for.
    if name == "Instrumentor":
        from botocore_otel.instrumentor import Instrumentor

        return Instrumentor
    raise AttributeError(name)
