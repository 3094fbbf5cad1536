"""Soak: calls across 8 threads and an asyncio loop; memory flat, every span ended,
the context as it was. No network: synthetic rules answer every call.

Fails on: RSS growth after warm-up (10% of the calls, then gc) of MAX_RSS_GROWTH_MB or more,
any span started but not ended, a CallState left alive, or a thread's or task's context
(OTel context, our in-flight state) changed by the calls.

Long mode (documented, 100k calls, deselected by default):
    python3 -m pytest -m soak tests/test_soak.py -s -q
CI mode (.ci/run, 20k calls):
    BOTOCORE_OTEL_SOAK_CALLS=20000 python3 -m pytest -m soak tests/test_soak.py -s -q
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from botocore_otel import Instrumentor
from botocore_otel.state import CallState, in_flight
from tests.support.optional import require_module
from tests.support.ports import closed_port

pytestmark = pytest.mark.soak

TOTAL_CALLS = int(os.environ.get("BOTOCORE_OTEL_SOAK_CALLS", "100000"))
THREADS = 8
ASYNC_SHARE = 0.2  # of the calls, made by the asyncio loop
ASYNC_CONCURRENCY = 50
WARMUP_SHARE = 0.1
CANCEL_EVERY = 100  # every 100th async call is cancelled during its synthetic latency
MEASURED_CHUNKS = 5
MAX_RSS_GROWTH_MB = 8.0  # after warm-up; measured +0.3 MB over 20k calls, 2026-12-03

RULES = [
    {
        "name": "reads",
        "match": "dynamodb.GetItem",
        "response": {
            "data": {"Item": {"k": {"S": "v"}}},
            "error": {"code": "ThrottlingException", "rate": 0.05},
        },
    },
    {"name": "writes", "match": "dynamodb.PutItem"},
    {"name": "slow", "match": "sqs.ListQueues", "response": {"latency": 0.05}},
]


class Counting(SpanProcessor):
    def __init__(self) -> None:
        self.started = self.ended = 0
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self._lock:
            self.started += 1

    def on_end(self, span: Any) -> None:
        with self._lock:
            self.ended += 1


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def client_kwargs() -> dict[str, Any]:
    return {
        "region_name": "us-east-1",
        "endpoint_url": f"http://127.0.0.1:{closed_port()}",  # never reached: synthetic answers
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": Config(retries={"total_max_attempts": 1}),
    }


def sync_calls(client: Any, count: int, offset: int, tracer: Any, errors: list[str]) -> None:
    before = otel_context.get_current()
    for i in range(offset, offset + count):
        try:
            if i % 4 == 0:
                client.put_item(TableName="t", Item={"k": {"S": str(i)}})
            elif i % 4 == 1:
                with tracer.start_as_current_span("parent"):
                    client.get_item(TableName="t", Key={"k": {"S": str(i)}})
            else:
                client.get_item(TableName="t", Key={"k": {"S": str(i)}})
        except ClientError:
            pass
    if otel_context.get_current() is not before or in_flight.get() is not None:
        errors.append(f"thread context changed: {otel_context.get_current()}")


async def async_calls(ddb: Any, sqs: Any, count: int, offset: int, tracer: Any, errors: list[str]) -> None:
    numbers = iter(range(offset, offset + count))

    async def one(i: int) -> None:
        before = otel_context.get_current()
        try:
            if i % CANCEL_EVERY == 0:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(sqs.list_queues(), 0.001)
            elif i % 2:
                with tracer.start_as_current_span("parent"):
                    await ddb.get_item(TableName="t", Key={"k": {"S": str(i)}})
            else:
                await ddb.put_item(TableName="t", Item={"k": {"S": str(i)}})
        except ClientError:
            pass
        if otel_context.get_current() is not before or in_flight.get() is not None:
            errors.append("task context changed")

    async def worker() -> None:  # a fixed pool: memory must not depend on the call count
        for i in numbers:
            await asyncio.create_task(one(i))  # a task per call: its own context copy

    await asyncio.gather(*(worker() for _ in range(ASYNC_CONCURRENCY)))


def run_phase(
    sync_clients: list[Any], aio: tuple[Any, Any], calls: int, offset: int, tracer: Any
) -> list[str]:
    errors: list[str] = []
    per_thread = int(calls * (1 - ASYNC_SHARE)) // THREADS
    threads = [
        threading.Thread(
            target=sync_calls, args=(client, per_thread, offset + n * per_thread, tracer, errors)
        )
        for n, client in enumerate(sync_clients)
    ]
    for thread in threads:
        thread.start()
    loop, (ddb, sqs) = aio[0], aio[1]
    async_count = calls - per_thread * THREADS
    loop.run_until_complete(async_calls(ddb, sqs, async_count, offset, tracer, errors))
    for thread in threads:
        thread.join()
    return errors


def test_soak_calls_across_threads_and_asyncio() -> None:
    AioSession = require_module("aiobotocore.session", "pip install -e '.[aio]'").AioSession

    counting = Counting()
    provider = TracerProvider()
    provider.add_span_processor(counting)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracer = provider.get_tracer("soak")
    providers = {"tracer_provider": provider, "meter_provider": meter_provider}
    context_before = otel_context.get_current()

    session = botocore.session.get_session()
    aio_session = AioSession()
    Instrumentor().instrument(session, synthetic=RULES, **providers)
    Instrumentor().instrument(aio_session, synthetic=RULES, **providers)
    sync_clients = [session.create_client("dynamodb", **client_kwargs()) for _ in range(THREADS)]
    loop = asyncio.new_event_loop()
    ddb_cm = aio_session.create_client("dynamodb", **client_kwargs())
    sqs_cm = aio_session.create_client("sqs", **client_kwargs())
    ddb = loop.run_until_complete(ddb_cm.__aenter__())
    sqs = loop.run_until_complete(sqs_cm.__aenter__())
    try:
        warmup = int(TOTAL_CALLS * WARMUP_SHARE)
        chunk = (TOTAL_CALLS - warmup) // MEASURED_CHUNKS
        started = time.monotonic()
        errors = run_phase(sync_clients, (loop, (ddb, sqs)), warmup, 0, tracer)
        gc.collect()
        rss = [rss_mb()]
        for n in range(MEASURED_CHUNKS):
            calls = chunk if n < MEASURED_CHUNKS - 1 else TOTAL_CALLS - warmup - chunk * n
            errors += run_phase(sync_clients, (loop, (ddb, sqs)), calls, warmup + n * chunk, tracer)
            gc.collect()
            rss.append(rss_mb())
        elapsed = time.monotonic() - started
        rss_warm, rss_end = rss[0], rss[-1]
    finally:
        loop.run_until_complete(ddb_cm.__aexit__(None, None, None))
        loop.run_until_complete(sqs_cm.__aexit__(None, None, None))
        loop.close()
        Instrumentor().uninstrument(session)
        Instrumentor().uninstrument(aio_session)

    alive = sum(1 for obj in gc.get_objects() if type(obj) is CallState)
    print(
        f"\nsoak: {TOTAL_CALLS} calls in {elapsed:.1f} s ({TOTAL_CALLS / elapsed:.0f}/s), "
        f"spans started {counting.started} ended {counting.ended}, "
        f"RSS after warm-up {rss_warm:.1f} MB, at end {rss_end:.1f} MB "
        f"(growth {rss_end - rss_warm:+.1f} MB; after each fifth: "
        f"{', '.join(f'{value:.1f}' for value in rss)} MB), call states alive {alive}"
    )
    assert not errors, errors[:5]
    assert counting.started >= TOTAL_CALLS
    assert counting.started == counting.ended
    assert alive == 0
    assert otel_context.get_current() is context_before
    assert in_flight.get() is None
    assert rss_end - rss_warm < MAX_RSS_GROWTH_MB
