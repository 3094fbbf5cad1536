"""Shared by the capacity tests: an instrumented session and the capacity counters' totals."""

from __future__ import annotations

from typing import Any

from botocore_otel import Instrumentor
from telemetry import Telemetry
from tests.support.moto_server import new_boto3_session

DYNAMODB = "botocore_otel.dynamodb.consumed_capacity"
S3_REQUESTS = "botocore_otel.s3.requests"
S3_BYTES = "botocore_otel.s3.transferred"
SQS = "botocore_otel.sqs.billable_requests"
TOKENS = "botocore_otel.genai.tokens"
LAMBDA = "botocore_otel.lambda.invocations"
REQUESTS = "botocore_otel.requests"
REGION = ("cloud.region", "us-east-1")


def instrumented(telemetry: Telemetry, **options: Any) -> Any:
    session = new_boto3_session()
    options.setdefault("metrics", "rpc,capacity")
    Instrumentor().instrument(session, **telemetry.providers, **options)
    return session


def totals(telemetry: Telemetry, name: str, *dropped: str) -> dict[tuple[tuple[str, Any], ...], float]:
    """Attribute set (sorted items, without ``dropped`` names) -> value, for one counter."""
    found: dict[tuple[tuple[str, Any], ...], float] = {}
    for point in telemetry.points(name):
        key = tuple(sorted((k, v) for k, v in point.attributes.items() if k not in dropped))
        found[key] = found.get(key, 0) + point.value
    return found


def key(*items: tuple[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((*items, REGION)))
