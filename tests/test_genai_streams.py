"""Bedrock response streams: the call's span ends when the application is done with the stream
(consumed, closed, broken or dropped), not when botocore returns. Sync and aiobotocore
clients, over real HTTP against the scripted server (frames arrive with gaps between them)."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from opentelemetry.trace import StatusCode

from botocore_otel import Instrumentor
from telemetry import Telemetry
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

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


# -- aiobotocore -----------------------------------------------------------------------------
def _aio_bedrock(session: Any, url: str) -> Any:
    return session.create_client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
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
