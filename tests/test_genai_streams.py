"""Bedrock response streams: the call's span ends when the application is done with the stream
(consumed, closed, broken or dropped), not when botocore returns. Sync and aiobotocore
clients, over real HTTP against the scripted server (frames arrive with gaps between them)."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
import threading
import time
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from opentelemetry.trace import StatusCode

from botocore_otel import Instrumentor
from telemetry import Telemetry
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client, invoke_body
from tests.support.optional import require_module

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Tell me a story."}]}]
BODY = json.dumps({"messages": MESSAGES, "max_tokens": 100})


def test_converse_stream_span_ends_once_consumed_with_usage_and_time_to_first_chunk(
    session: Any, telemetry: Telemetry
) -> None:
    with BedrockServer(lambda _: Reply(gap_s=0.02, cache_read_tokens=5)) as server:
        answer = bedrock_client(session, server.url).converse_stream(modelId=CLAUDE, messages=MESSAGES)
        assert telemetry.spans() == []  # botocore has returned; the answer is still coming
        stream = answer["stream"]
        assert isinstance(stream, EventStream)
        events = list(stream)
    assert "metadata" in events[-1]
    (span,) = telemetry.spans()
    assert span.name == f"chat {CLAUDE}"
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["gen_ai.usage.output_tokens"] == 9
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 5
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    time_to_first_chunk = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 < time_to_first_chunk < (span.end_time - span.start_time) / 1e9
    assert span.status.status_code == StatusCode.UNSET


def test_invoke_stream_reads_claude_chunks(session: Any, telemetry: Telemetry) -> None:
    with BedrockServer(
        lambda _: Reply(output_tokens=33, stop_reason="max_tokens", split_frames=True)
    ) as server:
        client = bedrock_client(session, server.url)
        answer = client.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY)
        chunks = [json.loads(event["chunk"]["bytes"]) for event in answer["body"]]
    assert chunks[-1]["type"] == "message_stop"
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 33
    assert span.attributes["gen_ai.response.finish_reasons"] == ("max_tokens",)


def test_a_loop_left_after_the_last_event_ends_the_span(session: Any, telemetry: Telemetry) -> None:
    with BedrockServer() as server:
        answer = bedrock_client(session, server.url).converse_stream(modelId=CLAUDE, messages=MESSAGES)
        for event in answer["stream"]:
            if "metadata" in event:
                break
        (span,) = telemetry.spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 9


def test_close_ends_the_span_early_without_usage(session: Any, telemetry: Telemetry) -> None:
    with BedrockServer() as server:
        stream = bedrock_client(session, server.url).converse_stream(modelId=CLAUDE, messages=MESSAGES)[
            "stream"
        ]
        iterator = iter(stream)
        next(iterator)
        assert telemetry.spans() == []
        stream.close()
        (span,) = telemetry.spans()
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert span.status.status_code == StatusCode.UNSET


def test_an_error_inside_the_stream_ends_the_span_with_its_error_type(
    session: Any, telemetry: Telemetry
) -> None:
    with BedrockServer(lambda _: Reply(stream_error="modelStreamErrorException")) as server:
        client = bedrock_client(session, server.url)
        stream = client.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY)["body"]
        with pytest.raises(EventStreamError):
            list(stream)
    (span,) = telemetry.spans()
    assert span.attributes["error.type"] == "modelStreamErrorException"
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["gen_ai.request.model"] == CLAUDE


def test_a_dropped_stream_is_ended_at_the_next_call_never_in_the_collector(
    session: Any, telemetry: Telemetry
) -> None:
    with BedrockServer() as server:
        client = bedrock_client(session, server.url)
        answer = client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
        del answer
        gc.collect()
        assert telemetry.spans() == []  # the finalizer only queued the end
        client.converse(modelId=CLAUDE, messages=MESSAGES)
    dropped, later = telemetry.spans()
    assert dropped.end_time <= later.end_time
    assert dropped.attributes["rpc.method"] == "ConverseStream"
    assert "gen_ai.usage.output_tokens" not in dropped.attributes


def test_rpc_duration_metric_waits_for_the_stream(session: Any, telemetry: Telemetry) -> None:
    with BedrockServer() as server:
        answer = bedrock_client(session, server.url).converse_stream(modelId=CLAUDE, messages=MESSAGES)
        assert not [p for p in telemetry.points("rpc.client.call.duration")]
        list(answer["stream"])
    (point,) = telemetry.points("rpc.client.call.duration")
    assert point.count == 1


def _interrupt_once_waiting_for_the_next_event(thread_id: int) -> None:
    """SIGINT to the thread (the main one) once it waits on the socket inside the stream."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread_id)
        waiting = frame is not None and frame.f_code.co_name == "readinto"
        while frame is not None and waiting:
            if frame.f_code.co_name == "__iter__" and frame.f_code.co_filename.endswith("streams.py"):
                signal.pthread_kill(thread_id, signal.SIGINT)
                return
            frame = frame.f_back
        time.sleep(0.001)


def test_a_stream_left_by_keyboard_interrupt_ends_its_call_at_once_as_cancelled(
    session: Any, telemetry: Telemetry
) -> None:
    assert threading.current_thread() is threading.main_thread()  # where signals are handled
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with BedrockServer(lambda _: Reply(gap_s=30)) as server:  # the next event never comes
            stream = bedrock_client(session, server.url).converse_stream(modelId=CLAUDE, messages=MESSAGES)[
                "stream"
            ]
            events = iter(stream)
            next(events)
            interrupter = threading.Thread(
                target=_interrupt_once_waiting_for_the_next_event, args=(threading.get_ident(),)
            )
            interrupter.start()
            with pytest.raises(KeyboardInterrupt):
                next(events)
            interrupter.join()
            (span,) = telemetry.spans()  # ended now, not when the stream is dropped
            stream.close()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert span.attributes["error.type"] == "cancelled"
    assert span.status.status_code == StatusCode.ERROR


# -- aiobotocore -----------------------------------------------------------------------------
def _aio_bedrock(session: Any, url: str, **options: Any) -> Any:
    return session.create_client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **options,
    )


async def _aio_calls(url: str, telemetry: Telemetry) -> tuple[list[Any], bytes]:
    session = get_session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        async with _aio_bedrock(session, url) as client:
            answer = await client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
            assert telemetry.spans() == []
            events = [event async for event in answer["stream"]]
            streamed = await client.invoke_model_with_response_stream(
                modelId="amazon.nova-lite-v1:0", body=BODY
            )
            events += [event async for event in streamed["body"]]
            body = await client.invoke_model(modelId=CLAUDE, body=BODY)
            assert len(telemetry.spans()) == 2  # InvokeModel: ends once its body is read
            data: bytes = await body["body"].read()
            return events, data
    finally:
        Instrumentor().uninstrument(session)


def test_aiobotocore_streams_and_body_end_when_read() -> None:
    telemetry = Telemetry()
    with BedrockServer(lambda _: Reply(output_tokens=17)) as server:
        events, data = asyncio.run(_aio_calls(server.url, telemetry))
    assert "metadata" in events[6]  # the last of ConverseStream's seven
    assert json.loads(data)["usage"]["output_tokens"] == 17
    spans = telemetry.spans()
    assert [s.attributes["rpc.method"] for s in spans] == [
        "ConverseStream", "InvokeModelWithResponseStream", "InvokeModel",
    ]  # fmt: skip
    for span in spans:
        assert span.attributes["gen_ai.usage.output_tokens"] == 17
        assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert "gen_ai.response.time_to_first_chunk" in spans[1].attributes


async def _read_every_way(body: Any, how: str) -> bytes:
    """An aiobotocore InvokeModel body read the way an application may read it."""
    if how == "read":
        data: bytes = await body.read()
        return data
    if how == "async for":
        return b"".join([chunk async for chunk in body])
    if how == "iter_chunks":
        return b"".join([chunk async for chunk in body.iter_chunks(7)])
    if how == "iter_lines":
        return b"\n".join([line async for line in body.iter_lines(keepends=False)])
    if how == "readlines":
        return b"".join(await body.readlines())
    if how == "readinto":
        out, buffer = bytearray(), bytearray(5)
        while count := await body.readinto(buffer):
            out += buffer[:count]
        return bytes(out)
    assert how == "async with"
    async with body as entered:
        return b"".join([chunk async for chunk in entered])


async def _aio_invoke(url: str, telemetry: Telemetry | None, how: str) -> tuple[bytes, int]:
    """The body's bytes, and the spans ended before the application read it."""
    session = get_session()
    if telemetry is not None:
        Instrumentor().instrument(session, **telemetry.providers)
    try:
        async with _aio_bedrock(session, url) as client:
            answer = await client.invoke_model(modelId=CLAUDE, body=BODY)
            ended_before = len(telemetry.spans()) if telemetry is not None else 0
            return await _read_every_way(answer["body"], how), ended_before
    finally:
        if telemetry is not None:
            Instrumentor().uninstrument(session)


@pytest.mark.parametrize(
    "how", ["read", "async for", "iter_chunks", "iter_lines", "readlines", "readinto", "async with"]
)
def test_an_aiobotocore_body_reads_as_without_us_every_way_and_its_span_ends_when_read(how: str) -> None:
    telemetry = Telemetry()
    with BedrockServer(lambda _: Reply(output_tokens=17)) as server:
        plain, _ = asyncio.run(_aio_invoke(server.url, None, how))
        observed, ended_before = asyncio.run(_aio_invoke(server.url, telemetry, how))
    assert observed == plain
    assert json.loads(plain)["usage"]["output_tokens"] == 17
    assert ended_before == 0
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 17
    assert span.status.status_code == StatusCode.UNSET


def test_an_aiobotocore_body_read_in_full_by_one_read_ends_its_span_with_usage() -> None:
    async def app(url: str, telemetry: Telemetry, how: str) -> tuple[bytes, int]:
        session = get_session()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with _aio_bedrock(session, url) as client:
                answer = await client.invoke_model(modelId=CLAUDE, body=BODY)
                headers = answer["ResponseMetadata"]["HTTPHeaders"]
                amount = int(headers["content-length"]) if how == "read(Content-Length)" else -1
                data: bytes = await answer["body"].read(amount)
                return data, len(telemetry.spans())
        finally:
            Instrumentor().uninstrument(session)

    for how in ("read(-1)", "read(-1) of a chunked body", "read(Content-Length)"):
        telemetry = Telemetry()
        reply = Reply(output_tokens=17, chunked="chunked" in how)
        with BedrockServer(lambda _, reply=reply: reply) as server:
            data, ended = asyncio.run(app(server.url, telemetry, how))
        assert json.loads(data)["usage"]["output_tokens"] == 17
        assert ended == 1, how
        (span,) = telemetry.spans()
        assert span.attributes["gen_ai.usage.output_tokens"] == 17, how
        assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)


@pytest.mark.parametrize("then", ["closed", "dropped"])
def test_an_aiobotocore_body_read_in_full_then_left_gives_its_usage(then: str) -> None:
    """A body of no Content-Length read to its last byte, with no read that finds the end:
    the answer is read from what the application read when it closes or drops the body."""
    reply = Reply(output_tokens=17, chunked=True)
    size = len(json.dumps(invoke_body(CLAUDE, reply)).encode())

    async def app(url: str, telemetry: Telemetry) -> None:
        session = get_session()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with _aio_bedrock(session, url) as client:
                body = (await client.invoke_model(modelId=CLAUDE, body=BODY))["body"]
                data = await body.read(size)
                assert json.loads(data)["usage"]["output_tokens"] == 17
                assert telemetry.spans() == []  # it may still read the end
                if then == "closed":
                    body.close()
                else:
                    del body
                    gc.collect()
                    await client.converse(modelId=CLAUDE, messages=MESSAGES)
        finally:
            Instrumentor().uninstrument(session)

    telemetry = Telemetry()
    with BedrockServer(lambda _: reply) as server:
        asyncio.run(app(server.url, telemetry))
    span = telemetry.spans()[0]
    assert span.attributes["rpc.method"] == "InvokeModel"
    assert span.attributes["gen_ai.usage.output_tokens"] == 17
    assert "error.type" not in span.attributes


@pytest.mark.parametrize("read_first", [True, False], ids=["read in part", "unread"])
def test_an_httpx_backend_body_closes_as_without_us_and_its_span_ends_then(read_first: bool) -> None:
    """aiobotocore's httpx backend: the body's ``close()`` is a coroutine."""
    require_module("httpx2")
    from aiobotocore.config import AioConfig
    from aiobotocore.httpxsession import HttpxSession

    async def app(url: str, telemetry: Telemetry | None) -> int:
        session = get_session()
        if telemetry is not None:
            Instrumentor().instrument(session, **telemetry.providers)
        try:
            config = AioConfig(http_session_cls=HttpxSession)
            async with _aio_bedrock(session, url, config=config) as client:
                body = (await client.invoke_model(modelId=CLAUDE, body=BODY))["body"]
                if read_first:
                    assert await body.read(5) == b'{"id"'
                await body.close()
                return len(telemetry.spans()) if telemetry is not None else 0
        finally:
            if telemetry is not None:
                Instrumentor().uninstrument(session)

    telemetry = Telemetry()
    with BedrockServer() as server:
        asyncio.run(app(server.url, None))
        ended = asyncio.run(app(server.url, telemetry))
    assert ended == 1
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.request.model"] == CLAUDE
    assert "error.type" not in span.attributes


def test_an_aiobotocore_stream_left_by_cancellation_ends_its_call_at_once_as_cancelled() -> None:
    async def app(url: str, telemetry: Telemetry) -> list[Any]:
        session = get_session()
        Instrumentor().instrument(session, **telemetry.providers)
        try:
            async with _aio_bedrock(session, url) as client:
                answer = await client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
                events = answer["stream"].__aiter__()
                await events.__anext__()
                with pytest.raises(asyncio.TimeoutError):  # the application gives up waiting
                    await asyncio.wait_for(events.__anext__(), 0.05)
                return telemetry.spans()
        finally:
            Instrumentor().uninstrument(session)

    telemetry = Telemetry()
    with BedrockServer(lambda _: Reply(gap_s=30)) as server:  # the next event never comes
        (span,) = asyncio.run(app(server.url, telemetry))
    assert span.attributes["error.type"] == "cancelled"
    assert span.status.status_code == StatusCode.ERROR
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "cancelled"
