"""PromQL building blocks and template variables shared by the dashboards.

Metric and label names are the Prometheus names of the library's metrics (meter
``botocore_otel``): identical through the SDK's Prometheus exporter and through the collector's
``prometheus`` or ``prometheusremotewrite`` exporter with default naming (see deploy/README.md).
"""

from __future__ import annotations

from typing import Any

from grafana.panels import Panel, explore_tempo_link, target, thresholds, timeseries, variable

OVERVIEW_UID = "botocore-otel-overview"
SERVICE_UID = "botocore-otel-service"

CALLS = "rpc_client_call_duration_seconds"  # one sample per call: the canonical call counter
RI = "[$__rate_interval]"
OV = 'job=~"$job", cloud_region=~"$region"'
SV = 'job=~"$job", rpc_service="$service", rpc_method=~"$operation", cloud_region=~"$region"'
ERR = ', error_type!=""'  # error.type is set only on failed calls

LATENCY_STEPS = thresholds("green", (0.5, "yellow"), (1.0, "red"))
ERROR_STEPS = thresholds("green", (0.01, "yellow"), (0.05, "red"))
RATE_STEPS = thresholds("green", (0.1, "yellow"), (1.0, "red"))
INFO_STEPS = thresholds("blue")
SYNTHETIC_STEPS = thresholds("green", (0.001, "orange"))
ATTEMPT_STEPS = thresholds("green", (1.2, "yellow"), (2.0, "red"))


def srate(metric: str, sel: str, by: str = "", extra: str = "") -> str:
    """``sum [by (...)] (rate(metric{sel extra}[$__rate_interval]))``."""
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{{{sel}{extra}}}{RI}))"


def rare_rate(
    title: str, description: str, metric: str, sel: str, by: str, legend: str, extra: str = ""
) -> Panel:
    """A time series of events per second that are often absent (throttles, retries,
    cancellations): documented as rare, so an empty result is not a broken query."""
    return timeseries(
        title,
        description,
        [target(srate(metric, sel, by, extra), legend)],
        unit="reqps",
        steps=RATE_STEPS,
        rare=True,
    )


def share(numerator: str, denominator: str) -> str:
    """A ratio that is 0 (not absent) for the groups where the numerator has no series."""
    return f"({numerator} or 0 * {denominator}) / {denominator}"


def quantile(q: float, sel: str, by: str = "", window: str = RI) -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({CALLS}_bucket{{{sel}}}{window})))"


def traces_link(with_method: bool) -> dict[str, Any]:
    method = ' && span.rpc.method = "${__field.labels.rpc_method}"' if with_method else ""
    query = (
        f'{{ span.rpc.service = "${{__field.labels.rpc_service}}"{method} && duration >= ${{__value.raw}}s }}'
    )
    return explore_tempo_link("Traces at least this slow in Tempo", query)


def common_variables(service_scoped: bool) -> list[dict[str, Any]]:
    job = variable(
        "job",
        "Job",
        f"label_values({CALLS}_count, job)",
        multi=True,
        include_all=True,
        description="Prometheus job: the scrape job, or service.name via the collector.",
    )
    region_sel = 'job=~"$job", rpc_service="$service"' if service_scoped else 'job=~"$job"'
    region = variable(
        "region",
        "Region",
        f"label_values({CALLS}_count{{{region_sel}}}, cloud_region)",
        multi=True,
        include_all=True,
        description="cloud.region of the client.",
    )
    if not service_scoped:
        return [job, region]
    service = variable(
        "service",
        "Service",
        f'label_values({CALLS}_count{{job=~"$job"}}, rpc_service)',
        multi=False,
        include_all=False,
        description="rpc.service (the service id, e.g. DynamoDB).",
    )
    operation = variable(
        "operation",
        "Operation",
        f'label_values({CALLS}_count{{job=~"$job", rpc_service="$service"}}, rpc_method)',
        multi=True,
        include_all=True,
        description="rpc.method, e.g. GetItem.",
    )
    return [job, service, operation, region]


def phase(metric: str, sel: str) -> str:
    """Seconds spent in one phase per second of traffic, 0 when the phase has no series."""
    return f"(sum(rate({metric}_sum{{{sel}}}{RI})) or vector(0))"
