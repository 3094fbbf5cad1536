"""aiobotocore against the moto server: the same spans, headers and metrics as botocore.

The same event handlers serve both (aiobotocore's emitter calls sync handlers). moto's
in-process mock does not work with aiobotocore, so everything goes over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from botocore_otel import Instrumentor
from telemetry import Telemetry
from tests.support.optional import require_module

aiobotocore_session = require_module("aiobotocore.session", "pip install -e '.[aio]'")
from aiobotocore.awsrequest import AioAWSResponse  # noqa: E402

KEY_SCHEMA = {
    "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
VOLATILE = {"aws.request_id", "aws.extended_request_id"}


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def aio_client(session: Any, moto: Any, service: str, **kwargs: Any) -> Any:
    return session.create_client(service, **moto.client_kwargs(service, **kwargs))


def shape(span: Any) -> tuple[Any, ...]:
    attributes = {k: v for k, v in span.attributes.items() if k not in VOLATILE}
    events = [(event.name, dict(event.attributes or {}).get("exception.type")) for event in span.events]
    return span.name, span.kind, span.status.status_code, sorted(attributes.items()), events


def metric_keys(telemetry: Telemetry) -> set[tuple[str, tuple[Any, ...]]]:
    data = telemetry.reader.get_metrics_data()
    keys = set()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    keys.add((metric.name, tuple(sorted(point.attributes.items()))))
    return keys


def sync_workload(moto: Any, telemetry: Telemetry) -> None:
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        ddb = moto.client("dynamodb", session=session)
        with telemetry.tracer.start_as_current_span("parent"):
            ddb.create_table(TableName="t", **KEY_SCHEMA)
            ddb.put_item(TableName="t", Item={"k": {"S": "a"}})
            ddb.get_item(TableName="t", Key={"k": {"S": "a"}})
            with pytest.raises(ClientError):
                ddb.get_item(TableName="missing", Key={"k": {"S": "a"}})
    finally:
        Instrumentor().uninstrument(session)


async def async_workload(moto: Any, telemetry: Telemetry) -> None:
    session = aiobotocore_session.AioSession()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        async with aio_client(session, moto, "dynamodb") as ddb:
            with telemetry.tracer.start_as_current_span("parent"):
                await ddb.create_table(TableName="t", **KEY_SCHEMA)
                await ddb.put_item(TableName="t", Item={"k": {"S": "a"}})
                await ddb.get_item(TableName="t", Key={"k": {"S": "a"}})
                with pytest.raises(ClientError):
                    await ddb.get_item(TableName="missing", Key={"k": {"S": "a"}})
    finally:
        Instrumentor().uninstrument(session)


def propagation_headers(moto: Any) -> list[tuple[frozenset[str], frozenset[str]]]:
    """Per request: which trace headers arrived, and which of them were signed."""
    out = []
    for request in moto.recorded_requests():
        names = {name.lower() for name in request.headers}
        present = frozenset(names & {"traceparent", "x-amzn-trace-id", "tracestate", "baggage"})
        signed = request.signed_headers  # a method or a property, by tests/support's version
        signed = signed() if callable(signed) else signed
        out.append((present, frozenset(present & set(signed))))
    return out


def test_aio_calls_get_the_same_spans_headers_and_metrics_as_botocore(moto, telemetry):
    sync_telemetry = Telemetry()
    sync_workload(moto, sync_telemetry)
    sync_headers = propagation_headers(moto)
    moto.reset()
    asyncio.run(async_workload(moto, telemetry))
    async_headers = propagation_headers(moto)

    sync_spans, async_spans = sync_telemetry.aws_spans(), telemetry.aws_spans()
    assert [s.name for s in async_spans] == [
        "DynamoDB.CreateTable",
        "DynamoDB.PutItem",
        "DynamoDB.GetItem",
        "DynamoDB.GetItem",
    ]
    assert [shape(s) for s in async_spans] == [shape(s) for s in sync_spans]
    assert async_spans[-1].attributes["error.type"] == "ResourceNotFoundException"
    (parent,) = telemetry.spans("parent")
    for span in async_spans:
        assert span.parent.span_id == parent.context.span_id
        assert span.context.trace_id == parent.context.trace_id
    assert async_headers == sync_headers
    assert all("traceparent" in present for present, _ in async_headers)
    assert all(not signed for _, signed in async_headers)
    assert metric_keys(telemetry) == metric_keys(sync_telemetry)
    assert any(name == "rpc.client.call.duration" for name, _ in metric_keys(telemetry))


def test_instrument_targets_an_aio_session_and_an_aio_client(moto, telemetry):
    async def run() -> None:
        session = aiobotocore_session.AioSession()
        async with aio_client(session, moto, "sqs") as plain, aio_client(session, moto, "sqs") as sqs:
            Instrumentor().instrument(sqs, **telemetry.providers)
            try:
                await sqs.list_queues()
                await plain.list_queues()  # its own emitter copy: not instrumented
            finally:
                Instrumentor().uninstrument(sqs)
            await sqs.list_queues()
        assert len(telemetry.aws_spans()) == 1

        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with aio_client(session, moto, "sqs") as sqs:
                await sqs.list_queues()
        finally:
            Instrumentor().uninstrument(session)
        assert len(telemetry.aws_spans()) == 2

    asyncio.run(run())


def test_global_instrument_covers_new_aio_sessions(moto, telemetry):
    async def call() -> None:
        async with aio_client(aiobotocore_session.AioSession(), moto, "sqs") as sqs:
            await sqs.list_queues()

    Instrumentor().instrument(**telemetry.providers)
    try:
        asyncio.run(call())  # botocore.register_initializer runs for AioSession too
    finally:
        Instrumentor().uninstrument()
    asyncio.run(call())
    (span,) = telemetry.aws_spans()
    assert span.name == "SQS.ListQueues"


class _AsyncRaw:
    def __init__(self, data: bytes, headers: dict[str, str]) -> None:
        self._data = data
        # aiobotocore 2.19 and before read the headers from aiohttp's raw ones
        self.raw_headers = tuple((name.encode(), value.encode()) for name, value in headers.items())

    async def read(self, amt: int | None = None) -> bytes:
        data, self._data = self._data, b""
        return data


def throttle_first_attempt(selected: set[str]) -> Any:
    """A before-send handler: the first attempt of GetItem on a selected key is throttled."""

    def handler(request: Any, **_: Any) -> Any:
        key = json.loads(request.body)["Key"]["k"]["S"]
        attempt = request.headers.get("amz-sdk-request", "")
        attempt = attempt.decode() if isinstance(attempt, bytes) else attempt
        if key in selected and attempt.split(";")[0].strip() == "attempt=1":
            body = json.dumps({"__type": "ThrottlingException", "message": "slow down"}).encode()
            headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "throttled"}
            return AioAWSResponse(request.url, 400, headers, _AsyncRaw(body, headers))
        return None

    return handler


def test_200_concurrent_calls_with_retries_each_under_its_own_task_parent(moto, telemetry):
    keys = [f"k{i}" for i in range(200)]
    throttled = set(keys[::3])

    async def run() -> None:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        config_kwargs = {"max_attempts": 3}
        async with aio_client(session, moto, "dynamodb", **config_kwargs) as ddb:
            await ddb.create_table(TableName="t", **KEY_SCHEMA)
            ddb.meta.events.register("before-send.dynamodb.GetItem", throttle_first_attempt(throttled))

            async def one(key: str) -> None:
                with telemetry.tracer.start_as_current_span(f"parent {key}"):
                    await asyncio.sleep(0)  # interleave with the other tasks
                    await ddb.get_item(TableName="t", Key={"k": {"S": key}})

            await asyncio.gather(*(one(key) for key in keys))
        Instrumentor().uninstrument(session)

    started = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - started

    parents = {
        span.name.split(" ", 1)[1]: span for span in telemetry.spans() if span.name.startswith("parent ")
    }
    calls = telemetry.spans("DynamoDB.GetItem")
    assert len(parents) == 200 and len(calls) == 200
    by_parent = {span.parent.span_id: span for span in calls}
    assert len(by_parent) == 200  # exactly one call span under each parent
    for key, parent in parents.items():
        call = by_parent[parent.context.span_id]
        assert call.context.trace_id == parent.context.trace_id
        retries = [event for event in call.events if event.name == "aws.retry"]
        if key in throttled:
            assert call.attributes["aws.retry_attempts"] == 1
            assert retries and retries[0].attributes["aws.throttled"] is True
        else:
            assert call.attributes["aws.retry_attempts"] == 0 and not retries
        assert "error.type" not in call.attributes
    arrived = [r for r in moto.recorded_requests() if r.operation == "GetItem"]
    assert len(arrived) == 200  # throttled attempts were answered locally
    assert elapsed < 60


def test_streaming_get_object_span_ends_at_after_call_and_body_stays_readable(moto, telemetry):
    payload = b"0123456789" * 100_000

    async def run() -> bytes:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with aio_client(session, moto, "s3") as s3:
                await s3.create_bucket(Bucket="aio-bucket")
                await s3.put_object(Bucket="aio-bucket", Key="k", Body=payload)
                response = await s3.get_object(Bucket="aio-bucket", Key="k")
                (span,) = telemetry.spans("S3.GetObject")  # ended before the body is read
                assert span.attributes["http.response.status_code"] == 200
                async with response["Body"] as body:
                    return bytes(await body.read())
        finally:
            Instrumentor().uninstrument(session)

    assert asyncio.run(run()) == payload


def test_a_clients_explicit_settings_win_over_its_aio_sessions(moto: Any) -> None:
    """aiobotocore's emitter is async: the client's copy of its session's handlers is still
    found and replaced by an explicit instrumentation of the client."""
    session_telemetry, explicit = Telemetry(), Telemetry()

    async def scenario() -> None:
        session = aiobotocore_session.get_session()
        Instrumentor().instrument(session, **session_telemetry.providers)
        try:
            async with aio_client(session, moto, "sts") as own, aio_client(session, moto, "sts") as sibling:
                Instrumentor().instrument(own, **explicit.providers)
                await own.get_caller_identity()
                await sibling.get_caller_identity()
                Instrumentor().uninstrument(own)
                await own.get_caller_identity()
        finally:
            Instrumentor().uninstrument(session)

    asyncio.run(scenario())
    assert len(explicit.aws_spans()) == 1
    assert len(session_telemetry.aws_spans()) == 1
