"""PromQL building blocks shared by the dashboards (strings only; no Grafana model).

Metric and label names are the Prometheus names of the library's metrics (meter
``botocore_otel``): identical through the SDK's Prometheus exporter and through the collector's
``prometheus`` or ``prometheusremotewrite`` exporter with default naming (see deploy/README.md).
"""

from __future__ import annotations

CALLS = "rpc_client_call_duration_seconds"  # one sample per call: the canonical call counter
RI = "[$__rate_interval]"
OV = 'job=~"$job", cloud_region=~"$region"'
SV = 'job=~"$job", aws_service_id="$service", rpc_method=~"$operation", cloud_region=~"$region"'
ERR = ', error_type!=""'  # error.type is set only on failed calls


def srate(metric: str, sel: str, by: str = "", extra: str = "") -> str:
    """``sum [by (...)] (rate(metric{sel extra}[$__rate_interval]))``."""
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{{{sel}{extra}}}{RI}))"


def share(numerator: str, denominator: str) -> str:
    """A ratio that is 0 (not absent) for the groups where the numerator has no series."""
    return f"({numerator} or 0 * {denominator}) / {denominator}"


def quantile(q: float, sel: str, by: str = "", window: str = RI) -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({CALLS}_bucket{{{sel}}}{window})))"


def phase(metric: str, sel: str) -> str:
    """Seconds spent in one phase per second of traffic, 0 when the phase has no series."""
    return f"(sum(rate({metric}_sum{{{sel}}}{RI})) or vector(0))"


def label_values(label: str, sel: str = "") -> str:
    """A variable query: the values of ``label`` on the call histogram's series."""
    selector = f"{{{sel}}}" if sel else ""
    return f"label_values({CALLS}_count{selector}, {label})"
