"""The botocore-otel service drill-down dashboard: one AWS service in detail."""

from __future__ import annotations

from typing import Any

from grafana.board import Board
from grafana.conventions import SERVICE_UID
from grafana.panels import (
    ATTEMPT_STEPS,
    ERROR_STEPS,
    INFO_STEPS,
    LATENCY_STEPS,
    RATE_STEPS,
    SYNTHETIC_STEPS,
    heatmap,
    rare_rate,
    stat,
    target,
    timeseries,
    traces_link,
)
from grafana.promql import (
    ATTEMPTS,
    CALLS,
    DESERIALIZATION,
    ERR,
    ERRORS,
    RETRIES,
    RI,
    SERIALIZATION,
    SIGNING,
    SMITHY_ATTEMPTS,
    SMITHY_CALLS,
    SV,
    SYNTHETIC,
    THROTTLES,
    phase,
    quantile,
    share,
    srate,
)
from grafana.variables import common_variables


def service() -> dict[str, Any]:
    calls = srate(f"{CALLS}_count", SV)
    lay = Board(
        uid=SERVICE_UID,
        title="botocore-otel / Service drill-down",
        description="One AWS service in detail: latency distribution, error codes, "
        "attempts, phase breakdown and throttling.",
        tags=["botocore-otel", "aws"],
    )
    lay.row("$service")
    lay.add(
        stat(
            "Calls/s",
            "Calls per second to the selected service and operations.",
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
            "Share of failed calls (error.type set).",
            share(srate(f"{CALLS}_count", SV, extra=ERR), calls),
            unit="percentunit",
            steps=ERROR_STEPS,
            decimals=2,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "p95 latency",
            "95th percentile call duration, retries and backoff included.",
            quantile(0.95, SV),
            unit="s",
            steps=LATENCY_STEPS,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Attempts per call",
            "Mean HTTP attempts per call (client.call.attempts / "
            "rpc.client.call.duration count); 1 means no retries.",
            f"{srate(ATTEMPTS, SV)} / {srate(f'{CALLS}_count', SV)}",
            unit="short",
            steps=ATTEMPT_STEPS,
            decimals=2,
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Throttles/s",
            "Throttled attempts per second; 0 when nothing was throttled.",
            f"{srate(THROTTLES, SV)} or vector(0)",
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
            "Share of calls answered by synthetic rules (botocore_otel.synthetic=true).",
            share(srate(f"{CALLS}_count", SV, extra=SYNTHETIC), calls),
            unit="percentunit",
            steps=SYNTHETIC_STEPS,
            decimals=1,
        ),
        4,
        4,
    )

    lay.row("Latency")
    lay.add(
        heatmap(
            "Latency heatmap",
            "Calls per second in each duration bucket of "
            "rpc.client.call.duration (bucket bounds 5 ms to 10 s). Exemplars link to "
            "traces in Tempo.",
            f"sum by (le) (rate({CALLS}_bucket{{{SV}}}{RI}))",
            steps=INFO_STEPS,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Latency p50 / p95 / p99 by operation",
            "Call duration percentiles per "
            "operation; the data link opens traces at least this slow in Tempo.",
            [
                target(
                    quantile(q, SV, "rpc_service, rpc_method"),
                    f"p{int(q * 100)} {{{{rpc_method}}}}",
                    exemplar=True,
                )
                for q in (0.5, 0.95, 0.99)
            ],
            unit="s",
            steps=LATENCY_STEPS,
            links=[traces_link(True)],
            show_thresholds=True,
        ),
        12,
        9,
    )

    lay.row("Traffic and errors")
    lay.add(
        timeseries(
            "Calls/s by operation",
            "Calls per second per operation.",
            [target(srate(f"{CALLS}_count", SV, "rpc_method"), "{{rpc_method}}")],
            unit="reqps",
            steps=INFO_STEPS,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Error codes over time",
            "Failed calls per second by error code "
            "(client.call.errors exception.type: AWS error code or exception class).",
            [target(srate(ERRORS, SV, "exception_type"), "{{exception_type}}")],
            unit="reqps",
            steps=RATE_STEPS,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Responses by HTTP status",
            "Calls per second by the HTTP status code of "
            "the last response (client.call.duration; calls without a response have no status).",
            [
                target(
                    srate(f"{SMITHY_CALLS}_count", SV, "http_response_status_code"),
                    "{{http_response_status_code}}",
                )
            ],
            unit="reqps",
            steps=INFO_STEPS,
            needs=("smithy",),
        ),
        8,
        8,
    )

    lay.row("Where the time goes")
    per_call = srate(f"{CALLS}_count", SV)
    lay.add(
        timeseries(
            "Attempts per call by operation",
            "Mean attempts per call per operation; above 1 means retries.",
            [
                target(
                    f"{srate(ATTEMPTS, SV, 'rpc_method')} / {srate(f'{CALLS}_count', SV, 'rpc_method')}",
                    "{{rpc_method}}",
                )
            ],
            unit="short",
            steps=ATTEMPT_STEPS,
            decimals=2,
            show_thresholds=True,
        ),
        8,
        9,
    )
    ser = phase(SERIALIZATION, SV)
    sign = f"({phase(SIGNING, SV)} or 0 * {ser})"  # unsigned calls: 0, once phases is on
    attempt = phase(SMITHY_ATTEMPTS, SV)
    parse = phase(DESERIALIZATION, SV)
    total = phase(CALLS, SV)
    lay.add(
        timeseries(
            "Phase breakdown (mean seconds per call)",
            "Stacked mean time per call: serialization (with endpoint resolution), signing "
            "(with credential resolution), wire (attempt time minus parsing), parsing, and the "
            "rest of the call (retry backoff, handlers). The stack adds up to the mean call "
            "duration. Wire and backoff come from client.call.attempt_duration (smithy).",
            [
                target(f"{ser} / {per_call}", "serialization"),
                target(f"{sign} / {per_call}", "signing"),
                target(f"clamp_min({attempt} - {parse}, 0) / {per_call}", "wire"),
                target(f"{parse} / {per_call}", "parsing"),
                target(
                    f"clamp_min({total} - {ser} - {sign} - {attempt}, 0) / {per_call}",
                    "backoff and other",
                ),
            ],
            unit="s",
            steps=LATENCY_STEPS,
            stack=True,
            needs=("phases", "smithy"),
        ),
        16,
        9,
    )

    lay.row("Throttling, retries and cancellations")
    lay.add(
        rare_rate(
            "Throttles by operation and code",
            "Throttled attempts per second by operation and throttle code.",
            THROTTLES,
            SV,
            "rpc_method, error_type",
            "{{rpc_method}} {{error_type}}",
        ),
        8,
        8,
    )
    lay.add(
        rare_rate(
            "Retries by cause",
            "Retried attempts per second by the error.type of the attempt that was retried.",
            RETRIES,
            SV,
            "error_type",
            "{{error_type}}",
        ),
        8,
        8,
    )
    lay.add(
        rare_rate(
            "Cancelled calls/s",
            "Calls abandoned by the caller (error.type=cancelled).",
            f"{CALLS}_count",
            SV,
            "rpc_method",
            "{{rpc_method}}",
            ', error_type="cancelled"',
        ),
        8,
        8,
    )
    lay.variables(common_variables(True))
    return lay.build()
