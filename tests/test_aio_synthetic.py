"""Synthetic responses under aiobotocore: an ``AioAWSResponse``, and latency that awaits.

The endpoint is a closed port on 127.0.0.1: a call that reached the wire would fail.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from opentelemetry import context as otel_context

from botocore_otel import Instrumentor
from botocore_otel.state import in_flight
from telemetry import Telemetry
from tests.support.optional import require_module
from tests.support.ports import closed_port

aiobotocore_session = require_module("aiobotocore.session", "pip install -e '.[aio]'")

LATENCY_S = 0.3


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def client_of(session: Any, service: str, attempts: int = 1) -> Any:
    return session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


def instrumented(telemetry: Telemetry, rules: list[dict[str, Any]]) -> Any:
    session = aiobotocore_session.AioSession()
    Instrumentor().instrument(session, synthetic=rules, **telemetry.providers)
    return session


def test_synthetic_answer_is_parsed_and_marked(telemetry):
    rules = [
        {"name": "reads", "match": "dynamodb.GetItem", "response": {"data": {"Item": {"k": {"S": "v"}}}}}
    ]

    async def run() -> Any:
        session = instrumented(telemetry, rules)
        try:
            async with client_of(session, "dynamodb") as ddb:
                return await ddb.get_item(TableName="t", Key={"k": {"S": "v"}})
        finally:
            Instrumentor().uninstrument(session)

    result = asyncio.run(run())
    assert result["Item"] == {"k": {"S": "v"}}
    (span,) = telemetry.aws_spans()
    assert span.attributes["botocore_otel.synthetic"] is True
    assert span.attributes["botocore_otel.synthetic.rule"] == "reads"
    assert span.attributes["http.response.status_code"] == 200


def test_synthetic_latency_awaits_and_never_blocks_the_loop(telemetry):
    rules = [{"name": "slow", "match": "sqs.ListQueues", "response": {"latency": LATENCY_S}}]
    calls = 20

    async def run() -> tuple[float, int]:
        session = instrumented(telemetry, rules)
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        try:
            async with client_of(session, "sqs") as sqs:
                tick_task = asyncio.create_task(ticker())
                started = time.monotonic()
                await asyncio.gather(*(sqs.list_queues() for _ in range(calls)))
                elapsed = time.monotonic() - started
                done.set()
                await tick_task
                return elapsed, ticks
        finally:
            Instrumentor().uninstrument(session)

    elapsed, ticks = asyncio.run(run())
    # Blocking the loop would take calls * LATENCY_S = 6 s and stop the ticker meanwhile.
    assert LATENCY_S <= elapsed < calls * LATENCY_S / 3
    assert ticks >= 10
    spans = telemetry.aws_spans()
    assert len(spans) == calls
    for span in spans:
        assert (span.end_time - span.start_time) / 1e9 >= LATENCY_S * 0.95
        assert span.attributes["botocore_otel.synthetic.rule"] == "slow"


def test_cancelled_during_synthetic_latency(telemetry):
    rules = [{"name": "very slow", "match": "sqs.ListQueues", "response": {"latency": 30}}]

    async def run() -> None:
        session = instrumented(telemetry, rules)
        try:
            async with client_of(session, "sqs") as sqs:
                with telemetry.tracer.start_as_current_span("caller"):
                    before = otel_context.get_current()
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(sqs.list_queues(), 0.2)
                    assert otel_context.get_current() is before
                    assert in_flight.get() is None
        finally:
            Instrumentor().uninstrument(session)

    asyncio.run(run())
    (span,) = telemetry.aws_spans()
    assert span.attributes["error.type"] == "cancelled"
    assert span.parent.span_id == telemetry.spans("caller")[0].context.span_id


def test_synthetic_throttles_are_retried_then_raised(telemetry):
    rules = [
        {
            "name": "throttle",
            "match": "dynamodb.GetItem",
            "response": {"error": {"code": "ThrottlingException", "status": 400}},
        }
    ]

    async def run() -> None:
        session = instrumented(telemetry, rules)
        try:
            async with client_of(session, "dynamodb", attempts=3) as ddb:
                with pytest.raises(ClientError) as raised:
                    await ddb.get_item(TableName="t", Key={"k": {"S": "v"}})
                assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        finally:
            Instrumentor().uninstrument(session)

    asyncio.run(run())
    (span,) = telemetry.aws_spans()
    assert span.attributes["aws.retry_attempts"] == 2
    assert span.attributes["error.type"] == "ThrottlingException"
    assert [e.attributes["aws.throttled"] for e in span.events if e.name == "aws.retry"] == [True, True]


def test_synthetic_streaming_body_is_read_asynchronously(telemetry):
    rules = [{"name": "objects", "match": "s3.GetObject", "response": {"body_size": 200_000}}]

    async def run() -> bytes:
        session = instrumented(telemetry, rules)
        try:
            async with client_of(session, "s3") as s3:
                response = await s3.get_object(Bucket="bucket", Key="key")
                assert len(telemetry.aws_spans()) == 1  # ended at after-call
                async with response["Body"] as body:
                    return bytes(await body.read())
        finally:
            Instrumentor().uninstrument(session)

    assert len(asyncio.run(run())) == 200_000


def test_an_earlier_before_send_answer_wins_and_no_latency_is_awaited(telemetry):
    """The synthetic answer is deferred: a discarded one is never built nor waited for."""
    from aiobotocore.awsrequest import AioAWSResponse

    class Body:
        raw_headers = ((b"x-amzn-requestid", b"cached"),)  # aiobotocore 2.19 and before read them

        def __init__(self, data: bytes) -> None:
            self.data = data

        async def read(self) -> bytes:
            return self.data

    def cached_aio(**_: Any) -> Any:
        body = b'{"Item": {"k": {"S": "cached"}}}'
        return AioAWSResponse("https://cache.invalid/", 200, {"x-amzn-requestid": "cached"}, Body(body))

    built = []

    def data(params: Any) -> Any:
        built.append(params)
        return {"Item": {"k": {"S": "synthetic"}}}

    rules = [{"name": "slow", "match": "dynamodb.GetItem", "response": {"data": data, "latency": 3600}}]
    session = instrumented(telemetry, rules)

    async def run() -> Any:
        async with client_of(session, "dynamodb") as ddb:
            ddb.meta.events.register_first("before-send", cached_aio)
            return await asyncio.wait_for(ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}}), 60)

    try:
        result = asyncio.run(run())  # TimeoutError: the discarded answer's latency was awaited
    finally:
        Instrumentor().uninstrument(session)
    assert result["Item"] == {"k": {"S": "cached"}}
    assert built == []
