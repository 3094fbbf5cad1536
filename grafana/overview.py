"""The botocore-otel overview dashboard: all services at a glance."""

from __future__ import annotations

from typing import Any

from grafana.board import Board
from grafana.conventions import OVERVIEW_UID, SERVICE_UID
from grafana.panels import (
    ERROR_STEPS,
    INFO_STEPS,
    LATENCY_STEPS,
    RATE_STEPS,
    SYNTHETIC_STEPS,
    dashboard_link,
    rare_rate,
    stat,
    table,
    target,
    timeseries,
    traces_link,
)
from grafana.promql import CALLS, ERR, OV, RETRIES, SYNTHETIC, THROTTLES, quantile, share, srate
from grafana.variables import common_variables


def overview() -> dict[str, Any]:
    calls = srate(f"{CALLS}_count", OV)
    lay = Board(
        uid=OVERVIEW_UID,
        title="botocore-otel / Overview",
        description="AWS API calls made through botocore/boto3, from the botocore-otel "
        "instrumentation metrics.",
        tags=["botocore-otel", "aws"],
    )
    lay.row("Golden signals")
    lay.add(
        stat(
            "Calls/s",
            "AWS API calls per second, all services (rpc.client.call.duration "
            "count; one per logical call, retries included).",
            calls,
            unit="reqps",
            steps=INFO_STEPS,
            decimals=2,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Error %",
            "Share of calls that failed (error.type set: AWS error code, exception class or cancelled).",
            share(srate(f"{CALLS}_count", OV, extra=ERR), calls),
            unit="percentunit",
            steps=ERROR_STEPS,
            decimals=2,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "p99 latency",
            "99th percentile of call duration across all services, interpolated from the histogram buckets.",
            quantile(0.99, OV),
            unit="s",
            steps=LATENCY_STEPS,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Throttles/s",
            "Throttled attempts per second (botocore_otel.throttles); 0 when nothing was throttled.",
            f"{srate(THROTTLES, OV)} or vector(0)",
            unit="reqps",
            steps=RATE_STEPS,
            decimals=2,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Retries/s",
            "Retried attempts per second (botocore_otel.retries); 0 when no attempt was retried.",
            f"{srate(RETRIES, OV)} or vector(0)",
            unit="reqps",
            steps=RATE_STEPS,
            decimals=2,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Synthetic share",
            "Share of calls answered by synthetic rules instead of AWS "
            "(botocore_otel.synthetic=true). Anything above 0 in production deserves a look.",
            share(srate(f"{CALLS}_count", OV, extra=SYNTHETIC), calls),
            unit="percentunit",
            steps=SYNTHETIC_STEPS,
            decimals=1,
        ),
        4,
        4,
    )

    lay.row("Traffic and errors")
    by_svc = srate(f"{CALLS}_count", OV, "rpc_service")
    lay.add(
        timeseries(
            "Calls/s by service",
            "Calls per second per AWS service (rpc.service).",
            [target(by_svc, "{{rpc_service}}")],
            unit="reqps",
            steps=INFO_STEPS,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Error % by service",
            "Share of failed calls per service; 0 for services without errors.",
            [
                target(
                    share(srate(f"{CALLS}_count", OV, "rpc_service", ERR), by_svc),
                    "{{rpc_service}}",
                )
            ],
            unit="percentunit",
            steps=ERROR_STEPS,
            show_thresholds=True,
        ),
        12,
        8,
    )

    lay.row("Latency")
    lay.add(
        timeseries(
            "Latency p50 / p95 / p99 by service",
            "Call duration percentiles per "
            "service. Exemplars and the data link lead to matching traces in Tempo.",
            [
                target(
                    quantile(q, OV, "rpc_service"),
                    f"p{int(q * 100)} {{{{rpc_service}}}}",
                    exemplar=True,
                )
                for q in (0.5, 0.95, 0.99)
            ],
            unit="s",
            steps=LATENCY_STEPS,
            links=[traces_link(False)],
            show_thresholds=True,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Latency p95 by operation",
            "95th percentile call duration per "
            "Service.Operation; the data link opens traces at least this slow.",
            [
                target(
                    quantile(0.95, OV, "rpc_service, rpc_method"),
                    "{{rpc_service}}.{{rpc_method}}",
                    exemplar=True,
                )
            ],
            unit="s",
            steps=LATENCY_STEPS,
            links=[traces_link(True)],
            show_thresholds=True,
        ),
        12,
        9,
    )

    lay.row("Top operations")
    ops = "rpc_service, rpc_method"
    top95 = f"topk(10, {quantile(0.95, OV, ops, '[$__range]')})"
    only_top = f" and on ({ops}) {top95}"
    drill = [
        dashboard_link(
            "Drill down into ${__data.fields.rpc_service}",
            SERVICE_UID,
            "var-service=${__data.fields.rpc_service}&var-operation=${__data.fields.rpc_method}"
            "&var-job=${job}&var-region=${region}",
        )
    ]
    lay.add(
        table(
            "Slowest operations",
            "The 10 operations with the highest p95 over the "
            "dashboard time range, with p50, p99 and call rate. Click an operation to drill "
            "down.",
            [
                ("p95", "s", top95),
                ("p50", "s", quantile(0.5, OV, ops, "[$__range]") + only_top),
                ("p99", "s", quantile(0.99, OV, ops, "[$__range]") + only_top),
                (
                    "Calls/s",
                    "reqps",
                    f"sum by ({ops}) (rate({CALLS}_count{{{OV}}}[$__range])){only_top}",
                ),
            ],
            sort_by="p95",
            steps=LATENCY_STEPS,
            links={"rpc_method": drill},
        ),
        12,
        9,
    )
    errors = f"sum by ({ops}) (increase({CALLS}_count{{{OV}{ERR}}}[$__range]))"
    top_err = f"topk(10, {errors} > 0)"
    total = f"sum by ({ops}) (increase({CALLS}_count{{{OV}}}[$__range]))"
    lay.add(
        table(
            "Most failing operations",
            "The 10 operations with the most failed calls over "
            "the dashboard time range, with their error ratio. Click an operation to drill "
            "down.",
            [
                ("Failed calls", "short", top_err),
                ("Error %", "percentunit", f"({errors} / {total}) and on ({ops}) {top_err}"),
            ],
            sort_by="Failed calls",
            steps=ERROR_STEPS,
            links={"rpc_method": drill},
        ),
        12,
        9,
    )

    lay.row("Throttling, retries and synthetic traffic")
    lay.add(
        rare_rate(
            "Throttle rate by service and code",
            "Throttled attempts per second by "
            "service and throttle code (ThrottlingException, SlowDown, ...).",
            THROTTLES,
            OV,
            "rpc_service, error_type",
            "{{rpc_service}} {{error_type}}",
        ),
        6,
        8,
    )
    lay.add(
        rare_rate(
            "Retry rate by service",
            "Retried attempts per second by service (botocore_otel.retries).",
            RETRIES,
            OV,
            "rpc_service",
            "{{rpc_service}}",
        ),
        6,
        8,
    )
    lay.add(
        timeseries(
            "Synthetic share by service",
            "Share of each service's calls answered by synthetic rules (botocore_otel.synthetic=true).",
            [
                target(
                    share(srate(f"{CALLS}_count", OV, "rpc_service", SYNTHETIC), by_svc),
                    "{{rpc_service}}",
                )
            ],
            unit="percentunit",
            steps=SYNTHETIC_STEPS,
        ),
        6,
        8,
    )
    lay.add(
        rare_rate(
            "Cancelled calls/s",
            "Calls abandoned by the caller (error.type=cancelled, e.g. asyncio cancellation).",
            f"{CALLS}_count",
            OV,
            "rpc_service, rpc_method",
            "{{rpc_service}}.{{rpc_method}}",
            ', error_type="cancelled"',
        ),
        6,
        8,
    )
    lay.variables(common_variables(False))
    return lay.build()
