"""A cancelled aiobotocore call: its span ends at once as cancelled, and no context leaks.

botocore emits no closing event for ``CancelledError``; ``botocore_otel.aio`` ends the call
from a guard around ``_make_api_call`` in the cancelled task itself. The slow endpoint
is a local HTTP server on 127.0.0.1 that holds its first answer for 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY
from opentelemetry.trace import StatusCode

from botocore_otel import Instrumentor
from botocore_otel.state import in_flight
from scripted_http import Received, Reply, ScriptedServer, scripted_server
from telemetry import Telemetry
from tests.support.optional import require_module

aiobotocore_session = require_module("aiobotocore.session", "pip install -e '.[aio]'")

SLOW_S = 10.0
LIST_TABLES = b'{"TableNames": []}'


def first_slow(index: int, _: Received) -> Reply:
    return Reply(body=LIST_TABLES, delay_s=SLOW_S if index == 0 else 0.0)


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def slow_server() -> Any:
    with scripted_server(first_slow) as server:
        yield server


def client_of(session: Any, server: ScriptedServer) -> Any:
    return session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def assert_cancelled(span: Any, parent: Any) -> None:
    assert span.attributes["error.type"] == "cancelled"
    assert span.status.status_code is StatusCode.ERROR
    assert span.parent.span_id == parent.context.span_id
    assert span.end_time is not None


def test_cancelled_task_ends_its_span_at_once_and_the_next_task_starts_clean(slow_server, telemetry, caplog):
    caplog.set_level(logging.WARNING)

    async def run() -> tuple[Any, Any, Any]:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with client_of(session, slow_server) as ddb:

                async def slow_call() -> None:
                    with telemetry.tracer.start_as_current_span("cancelled parent"):
                        await ddb.list_tables()

                task = asyncio.create_task(slow_call())
                await until(lambda: len(slow_server.received) == 1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                # The task object (and its traceback) is still alive: the span ended anyway.
                (span,) = telemetry.spans("DynamoDB.ListTables")
                assert_cancelled(span, telemetry.spans("cancelled parent")[0])

                async def next_task() -> tuple[Any, Any, Any]:
                    seen = (trace.get_current_span(), in_flight.get(), otel_context.get_current())
                    with telemetry.tracer.start_as_current_span("next parent"):
                        await ddb.list_tables()
                    return seen

                result = await asyncio.create_task(next_task())
                del task
                return result
        finally:
            Instrumentor().uninstrument(session)

    current_span, flight, ctx = asyncio.run(run())
    assert not current_span.get_span_context().is_valid
    assert flight is None
    assert ctx.get(_SUPPRESS_HTTP_INSTRUMENTATION_KEY) is None
    cancelled, fine = telemetry.spans("DynamoDB.ListTables")
    (next_parent,) = telemetry.spans("next parent")
    assert fine.parent.span_id == next_parent.context.span_id
    assert fine.context.trace_id != cancelled.context.trace_id
    assert "error.type" not in fine.attributes
    assert not [r for r in caplog.records if r.name.startswith(("botocore_otel", "opentelemetry"))]


@pytest.mark.parametrize("how", ["timeout", "wait_for"])
def test_cancelled_in_the_callers_own_task_gives_back_the_callers_context(slow_server, telemetry, how):
    if how == "timeout" and sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout is new in 3.11")

    async def timed(call: Any) -> None:
        if how == "wait_for":  # a task of its own on 3.11, the same task from 3.12
            await asyncio.wait_for(call, 0.3)
            return
        async with asyncio.timeout(0.3):
            await call

    async def run() -> None:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with client_of(session, slow_server) as ddb:
                with telemetry.tracer.start_as_current_span("caller"):
                    before = otel_context.get_current()
                    with pytest.raises(TimeoutError):
                        await timed(ddb.list_tables())
                    assert otel_context.get_current() is before
                    assert in_flight.get() is None
                    await ddb.list_tables()
                assert not trace.get_current_span().get_span_context().is_valid
        finally:
            Instrumentor().uninstrument(session)

    asyncio.run(run())
    cancelled, fine = telemetry.spans("DynamoDB.ListTables")
    (caller,) = telemetry.spans("caller")
    assert_cancelled(cancelled, caller)
    assert fine.parent.span_id == caller.context.span_id  # not under the cancelled call
    assert "error.type" not in fine.attributes


def test_after_uninstrument_a_cancelled_call_makes_no_span(slow_server, telemetry):
    async def run() -> None:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        Instrumentor().uninstrument(session)
        async with client_of(session, slow_server) as ddb:
            before = otel_context.get_current()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ddb.list_tables(), 0.3)
            assert otel_context.get_current() is before

    asyncio.run(run())
    assert telemetry.spans() == []


def test_an_error_raised_before_the_wire_leaves_no_call_in_flight(slow_server, telemetry):
    async def run() -> None:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with client_of(session, slow_server) as ddb:
                with pytest.raises(Exception, match="Parameter validation"):
                    await ddb.get_item(TableName="t")  # no Key: fails after provide-client-params
                assert in_flight.get() is None
        finally:
            Instrumentor().uninstrument(session)

    asyncio.run(run())
    assert telemetry.aws_spans() == []


def slow_list_tables(_: int, received: Received) -> Reply:
    slow = "DynamoDB_20120810.ListTables" in received.header_values("X-Amz-Target")
    return Reply(body=LIST_TABLES if slow else b"{}", delay_s=SLOW_S if slow else 0.0)


@pytest.mark.parametrize("official_first", [True, False], ids=["official-first", "ours-first"])
def test_the_official_instrumentors_uninstrument_leaves_the_guard_on(telemetry, official_first):
    """The official package wraps ``AioBaseClient._make_api_call`` and its ``uninstrument()``
    takes off whichever wrapper is outermost: neither ours nor its own may be left wrong."""
    from aiobotocore.client import AioBaseClient

    official_package = require_module("opentelemetry.instrumentation.botocore", "pip install -e '.[bench]'")
    AiobotocoreInstrumentor = official_package.AiobotocoreInstrumentor
    official = Telemetry()
    before = vars(AioBaseClient)["_make_api_call"]

    async def run(server: ScriptedServer) -> None:
        session = aiobotocore_session.AioSession()
        if official_first:
            AiobotocoreInstrumentor().instrument(**official.providers)
        Instrumentor().instrument(session, **telemetry.providers)
        if not official_first:
            AiobotocoreInstrumentor().instrument(**official.providers)
        try:
            async with client_of(session, server) as ddb:
                await ddb.describe_limits()
                assert len(official.spans()) == 1  # it was on
                AiobotocoreInstrumentor().uninstrument()
                await ddb.describe_limits()
                assert len(official.spans()) == 1  # and is off: its wrapper went

                async def slow_call() -> None:
                    with telemetry.tracer.start_as_current_span("cancelled parent"):
                        await ddb.list_tables()

                task = asyncio.create_task(slow_call())
                await until(lambda: len(server.received) == 3)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                (span,) = telemetry.spans("DynamoDB.ListTables")  # the task lives: ended by the guard
                assert_cancelled(span, telemetry.spans("cancelled parent")[0])
                del task
        finally:
            AiobotocoreInstrumentor().uninstrument()
            Instrumentor().uninstrument(session)

    try:
        with scripted_server(slow_list_tables) as server:
            asyncio.run(run(server))
    finally:  # a wrapper left on would go on making spans in the tests that follow
        AioBaseClient._make_api_call = before
    assert len(telemetry.spans("DynamoDB.DescribeLimits")) == 2


def test_a_client_instrumented_after_it_was_made_is_guarded_too(slow_server, telemetry):
    async def run() -> None:
        async with client_of(aiobotocore_session.AioSession(), slow_server) as ddb:
            Instrumentor().instrument(ddb, **telemetry.providers)
            try:
                with telemetry.tracer.start_as_current_span("caller"):
                    task = asyncio.create_task(ddb.list_tables())
                    await until(lambda: len(slow_server.received) == 1)
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                    (span,) = telemetry.spans("DynamoDB.ListTables")
                    assert_cancelled(span, trace.get_current_span())
                    del task
            finally:
                Instrumentor().uninstrument(ddb)

    asyncio.run(run())


def test_a_call_cancelled_in_another_after_call_handler_ends_there(telemetry):
    """The call is in flight until after-call, past ``_make_request``: an application's async
    after-call handler that awaits runs before ours (the more specific event's)."""

    async def slow_after_call(**_: Any) -> None:
        await asyncio.sleep(SLOW_S)

    async def run(server: ScriptedServer) -> None:
        session = aiobotocore_session.AioSession()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with client_of(session, server) as ddb:
                ddb.meta.events.register("after-call.dynamodb.ListTables", slow_after_call)
                with telemetry.tracer.start_as_current_span("caller"):
                    with pytest.raises(TimeoutError):
                        async with asyncio.timeout(0.3):
                            await ddb.list_tables()
                    (span,) = telemetry.spans("DynamoDB.ListTables")
                    assert_cancelled(span, trace.get_current_span())
                    assert in_flight.get() is None
                    await ddb.describe_limits()
        finally:
            Instrumentor().uninstrument(session)

    if sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout is new in 3.11")
    with scripted_server(lambda *_: Reply(body=LIST_TABLES)) as server:
        asyncio.run(run(server))
    (caller,) = telemetry.spans("caller")
    (following,) = telemetry.spans("DynamoDB.DescribeLimits")
    assert following.parent.span_id == caller.context.span_id  # not under the cancelled call
