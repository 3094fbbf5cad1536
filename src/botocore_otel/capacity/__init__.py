"""The ``capacity`` metric group: what a call consumes from AWS (issue 17, docs/capacity.md).

Imported only when the group is on. Every handler is registered on a per-service (or
per-operation) event, and reads what botocore already built or parsed.
"""

from __future__ import annotations

from typing import Any

from botocore_otel.capacity.recorder import Handler, Recorder, recorder_of

SERVICE_KEYS = frozenset({"dynamodb", "s3", "sqs", "lambda", "kms", "secrets-manager", "sts"})
"""Hyphenized service ids with capacity handlers (Bedrock's tokens come through genai/)."""


def service_handlers(settings: Any, call_metrics: Any) -> list[Handler]:
    """The group's handlers for ``instrumentation.Instrumentation`` to register on clients of
    :data:`SERVICE_KEYS`; none without metrics."""
    if call_metrics is None:
        return []
    from botocore_otel.capacity.dynamodb import DynamoDBCapacity
    from botocore_otel.capacity.requests import RequestCounts
    from botocore_otel.capacity.s3 import S3Capacity
    from botocore_otel.capacity.sqs import SQSCapacity

    recorder = recorder_of(call_metrics, settings)
    return [
        *DynamoDBCapacity(recorder, settings.dynamodb_consumed_capacity).handlers(),
        *S3Capacity(recorder).handlers(),
        *SQSCapacity(recorder).handlers(),
        *RequestCounts(recorder).handlers(),
    ]


def token_counts(lifecycle: Any) -> Any:
    """What ``genai`` calls with a call's token usage, or None (metrics off)."""
    call_metrics = getattr(lifecycle, "_metrics", None)
    if call_metrics is None:
        return None
    from botocore_otel.capacity.tokens import TokenCounts

    return TokenCounts(recorder_of(call_metrics, lifecycle.settings))


__all__ = ["SERVICE_KEYS", "Recorder", "service_handlers", "token_counts"]
