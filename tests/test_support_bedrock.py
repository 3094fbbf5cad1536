"""The scripted Bedrock Runtime server, checked with plain (uninstrumented) boto3 clients:
botocore's own parsers and event-stream decoder accept what it sends."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, EventStreamError

from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


def test_converse_and_its_stream_parse_with_botocore() -> None:
    with BedrockServer() as server:
        client = bedrock_client(boto3.session.Session(), server.url)
        messages = [{"role": "user", "content": [{"text": "hi"}]}]
        answer = client.converse(modelId=CLAUDE, messages=messages)
        assert answer["usage"]["inputTokens"] == 12
        assert answer["stopReason"] == "end_turn"
        events = list(client.converse_stream(modelId=CLAUDE, messages=messages)["stream"])
    assert [next(iter(e)) for e in events] == [
        "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta",
        "contentBlockStop", "messageStop", "metadata",
    ]  # fmt: skip
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == Reply().text
    assert server.received[0].operation == "converse"
    assert server.received[0].model_id == CLAUDE


@pytest.mark.parametrize(
    ("model_id", "stop_path"),
    [
        (CLAUDE, ("stop_reason",)),
        ("amazon.nova-lite-v1:0", ("stopReason",)),
        ("amazon.titan-text-express-v1", ("results", 0, "completionReason")),
        ("meta.llama3-8b-instruct-v1:0", ("stop_reason",)),
        ("mistral.mistral-7b-instruct-v0:2", ("outputs", 0, "stop_reason")),
        ("cohere.command-text-v14", ("generations", 0, "finish_reason")),
        ("cohere.command-r-v1:0", ("finish_reason",)),
    ],
)
def test_invoke_model_bodies_per_family(model_id: str, stop_path: tuple[object, ...]) -> None:
    with BedrockServer() as server:
        client = bedrock_client(boto3.session.Session(), server.url)
        answer = client.invoke_model(modelId=model_id, body=b"{}")
        document = json.loads(answer["body"].read())
    value = document
    for step in stop_path:
        value = value[step]  # type: ignore[index]
    assert value


@pytest.mark.parametrize(
    "model_id",
    [CLAUDE, "amazon.nova-lite-v1:0", "amazon.titan-text-express-v1", "meta.llama3-8b-instruct-v1:0",
     "mistral.mistral-7b-instruct-v0:2"],
)  # fmt: skip
def test_invoke_stream_frames_decode_split_mid_frame(model_id: str) -> None:
    with BedrockServer(lambda _: Reply(split_frames=True)) as server:
        client = bedrock_client(boto3.session.Session(), server.url)
        answer = client.invoke_model_with_response_stream(modelId=model_id, body=b"{}")
        chunks = [json.loads(e["chunk"]["bytes"]) for e in answer["body"]]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == Reply().output_tokens


def test_errors_over_http_and_inside_a_stream() -> None:
    def script(received: object) -> Reply:
        if getattr(received, "operation", "") == "converse":
            return Reply(status=400, error_code="ValidationException")
        return Reply(stream_error="modelStreamErrorException")

    with BedrockServer(script) as server:
        client = bedrock_client(boto3.session.Session(), server.url)
        with pytest.raises(ClientError) as raised:
            client.converse(modelId=CLAUDE, messages=[])
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        stream = client.converse_stream(modelId=CLAUDE, messages=[])["stream"]
        with pytest.raises(EventStreamError) as broke:
            list(stream)
    assert broke.value.response["Error"]["Code"] == "modelStreamErrorException"
