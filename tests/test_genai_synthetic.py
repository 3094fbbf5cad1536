"""Synthetic LLM answers: an app using all four Bedrock Runtime operations runs unchanged with
no server at all, its telemetry as for real answers; latency shaped like an LLM (awaited under
aiobotocore); Bedrock's errors through botocore's real retries; check-rules validates the keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from botocore_otel import Instrumentor
from botocore_otel.errors import ConfigError
from botocore_otel.synthetic import check_rules_file
from telemetry import Telemetry

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Summarize the plot of Hamlet in one line."}]}]  # 41 chars
CLIENT = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _session(telemetry: Telemetry, response: dict[str, Any]) -> Any:
    session = boto3.session.Session()
    rules = [{"name": "llm", "match": "bedrock-runtime.*", "response": response}]
    Instrumentor().instrument(session, synthetic=rules, **telemetry.providers)
    return session


def _app(client: Any) -> dict[str, Any]:
    """An application's calls, unchanged: it does not know the answers are synthetic."""
    seen: dict[str, Any] = {}
    answer = client.converse(modelId=CLAUDE, messages=MESSAGES)
    seen["converse"] = answer["output"]["message"]["content"][0]["text"]
    events = list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    seen["stream"] = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    seen["stream_usage"] = events[-1]["metadata"]["usage"]
    body = json.dumps({"messages": MESSAGES, "max_tokens": 50, "anthropic_version": "bedrock-2023-05-31"})
    seen["invoke"] = json.loads(client.invoke_model(modelId=CLAUDE, body=body)["body"].read())
    chunks = client.invoke_model_with_response_stream(
        modelId="meta.llama3-8b-instruct-v1:0", body='{"prompt":"x"}'
    )
    seen["chunks"] = [json.loads(e["chunk"]["bytes"]) for e in chunks["body"]]
    return seen


def test_all_four_operations_run_on_synthetic_answers_without_a_server() -> None:
    telemetry = Telemetry()
    session = _session(telemetry, {"tokens": 9})
    try:
        seen = _app(session.client("bedrock-runtime", **CLIENT))  # the real AWS endpoint: never reached
    finally:
        Instrumentor().uninstrument(session)
    assert seen["converse"] == seen["stream"] == "lorem ipsum dolor sit amet consectetur adipiscing elit sed"
    assert seen["stream_usage"] == {"inputTokens": 7, "outputTokens": 9, "totalTokens": 16}
    assert seen["invoke"]["stop_reason"] == "end_turn"
    assert seen["invoke"]["content"][0]["text"] == seen["converse"]
    assert seen["chunks"][-1]["stop_reason"] == "stop"
    assert seen["chunks"][-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 9
    spans = telemetry.spans()
    assert [s.attributes["rpc.method"] for s in spans] == [
        "Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream",
    ]  # fmt: skip
    for span in spans:
        assert span.attributes["botocore_otel.synthetic"] is True
        assert span.attributes["gen_ai.usage.output_tokens"] == 9
        assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    points = {
        tuple(sorted(p.attributes.items())): p.sum for p in telemetry.points("gen_ai.client.token.usage")
    }
    key = {
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": CLAUDE,
        "botocore_otel.synthetic": True,
        "gen_ai.token.type": "output",
    }
    assert points[tuple(sorted(key.items()))] == 27


def test_token_counts_follow_a_distribution() -> None:
    telemetry = Telemetry()
    session = _session(telemetry, {"tokens": {"distribution": "uniform", "min": 5, "max": 30}})
    try:
        client = session.client("bedrock-runtime", **CLIENT)
        counts = {
            client.converse(modelId=CLAUDE, messages=MESSAGES)["usage"]["outputTokens"] for _ in range(20)
        }
    finally:
        Instrumentor().uninstrument(session)
    assert min(counts) >= 5
    assert max(counts) <= 30
    assert len(counts) > 1


async def _aio_stream_with_ticker(telemetry: Telemetry) -> list[str]:
    session = get_session()
    rules = [
        {"name": "llm", "match": "bedrock-runtime.*", "response": {"first_token": 0.05, "per_token": 0.01}}
    ]
    Instrumentor().instrument(session, synthetic=rules, **telemetry.providers)
    order: list[str] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            order.append("tick")
            await asyncio.sleep(0.001)

    try:
        async with session.create_client("bedrock-runtime", **CLIENT) as client:
            task = asyncio.create_task(ticker())
            answer = await client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
            async for _ in answer["stream"]:
                order.append("event")
            done.set()
            await task
    finally:
        Instrumentor().uninstrument(session)
    return order


def test_llm_latency_is_awaited_under_aiobotocore() -> None:
    telemetry = Telemetry()
    order = asyncio.run(_aio_stream_with_ticker(telemetry))
    first, last = order.index("event"), len(order) - 1 - order[::-1].index("event")
    assert "tick" in order[:first]  # the loop ran while waiting for the first token
    assert "tick" in order[first:last]  # and between the frames
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0.05


@pytest.mark.parametrize(
    ("code", "status"), [("ThrottlingException", 400), ("ServiceUnavailableException", 503)]
)
def test_bedrock_errors_go_through_botocore_retries(code: str, status: int) -> None:
    telemetry = Telemetry()
    session = _session(telemetry, {"error": code})
    try:
        client = session.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 3}), **CLIENT)
        with pytest.raises(ClientError) as raised:
            client.converse(modelId=CLAUDE, messages=MESSAGES)
    finally:
        Instrumentor().uninstrument(session)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    (span,) = telemetry.spans()
    assert span.attributes["error.type"] == code
    assert span.name == f"chat {CLAUDE}"
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == code


def test_model_not_ready_defaults_to_bedrocks_status(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"name": "cold", "match": "bedrock-runtime.Converse",
                                            "response": {"error": "ModelNotReadyException"}}]}))  # fmt: skip
    (line,) = check_rules_file(rules)
    assert "error ModelNotReadyException (HTTP 429)" in line


def test_check_rules_describes_and_validates_the_llm_keys(tmp_path: Path) -> None:
    def check(response: dict[str, Any], match: str = "bedrock-runtime.*") -> list[str]:
        path = tmp_path / "rules.json"
        path.write_text(json.dumps({"rules": [{"name": "r", "match": match, "response": response}]}))
        return check_rules_file(path)

    (line,) = check({"tokens": 120, "first_token": 0.4, "per_token": {"distribution": "uniform", "min": 0.01,
                                                                       "max": 0.03}})  # fmt: skip
    assert "LLM answers of 120 tokens, first token after 0.4s, uniform(min=0.01, max=0.03)s a token" in line
    with pytest.raises(
        ConfigError, match=r"\.tokens=-3 is invalid: expected a whole number of output tokens"
    ):
        check({"tokens": -3})
    with pytest.raises(
        ConfigError, match=r"response\.tokens='dynamodb.GetItem' is invalid: expected LLM keys"
    ):
        check({"tokens": 10}, match="dynamodb.GetItem")
    with pytest.raises(ConfigError, match=r"response\.first_token\.distribution"):
        check({"first_token": {"distribution": "gamma"}})


async def _aio_app(telemetry: Telemetry) -> list[int]:
    session = get_session()
    rules = [{"name": "llm", "match": "bedrock-runtime.*", "response": {"tokens": 5}}]
    Instrumentor().instrument(session, synthetic=rules, **telemetry.providers)
    body = json.dumps({"messages": MESSAGES, "max_tokens": 50})
    try:
        async with session.create_client("bedrock-runtime", **CLIENT) as client:
            answer = await client.converse(modelId=CLAUDE, messages=MESSAGES)
            stream = await client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
            events = [event async for event in stream["stream"]]
            invoked = await client.invoke_model(modelId=CLAUDE, body=body)
            document = json.loads(await invoked["body"].read())
            chunks = await client.invoke_model_with_response_stream(modelId=CLAUDE, body=body)
            last = [json.loads(e["chunk"]["bytes"]) async for e in chunks["body"]][-1]
    finally:
        Instrumentor().uninstrument(session)
    return [
        answer["usage"]["outputTokens"],
        events[-1]["metadata"]["usage"]["outputTokens"],
        document["usage"]["output_tokens"],
        last["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
    ]


def test_all_four_operations_under_aiobotocore() -> None:
    telemetry = Telemetry()
    assert asyncio.run(_aio_app(telemetry)) == [5, 5, 5, 5]
    spans = telemetry.spans()
    assert len(spans) == 4
    assert all(s.attributes["gen_ai.usage.output_tokens"] == 5 for s in spans)
    assert all(s.attributes["botocore_otel.synthetic"] is True for s in spans)
