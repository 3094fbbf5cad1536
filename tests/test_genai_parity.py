"""Parity with the official instrumentation (opentelemetry-instrumentation-botocore, bench extra).

Both instrument the same client, each with its own tracer provider; every ``gen_ai.*``
attribute the official package sets on a call's span must be on ours with the same value.
Three deliberate differences, each checked below: embeddings models are ``embeddings`` (the
conventions' operation), where the official package says ``text_completion`` (Titan) or
``chat`` (Cohere); a Mistral stream's input tokens are the count Bedrock sends in its last
chunk, where the official package (which reads no Mistral chunk) keeps the estimate from the
prompt's length; and request parameters given as strings (Titan's ``"temperature": "0.5"``)
are numbers, as the conventions type them, or left out when they spell no number, where the
official package copies the string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from botocore_otel import Instrumentor, errors
from telemetry import Telemetry
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
PROMPT = "Write a haiku about the sea, please."
INFERENCE = {"temperature": 0.3, "topP": 0.9, "maxTokens": 64, "stopSequences": ["END"]}

BODIES: dict[str, dict[str, Any]] = {
    CLAUDE: {
        "messages": MESSAGES,
        "max_tokens": 99,
        "temperature": 0.1,
        "top_p": 0.8,
        "stop_sequences": ["H:"],
    },
    "amazon.nova-lite-v1:0": {
        "messages": MESSAGES,
        "inferenceConfig": {"max_new_tokens": 77, "temperature": 0.4, "topP": 0.7, "stopSequences": ["S"]},
    },
    "amazon.titan-text-express-v1": {
        "inputText": PROMPT,
        "textGenerationConfig": {
            "maxTokenCount": 55,
            "temperature": 0.2,
            "topP": 0.5,
            "stopSequences": ["|"],
        },
    },
    "meta.llama3-8b-instruct-v1:0": {"prompt": PROMPT, "max_gen_len": 33, "temperature": 0.6, "top_p": 0.95},
    "mistral.mistral-7b-instruct-v0:2": {
        "prompt": PROMPT,
        "max_tokens": 44,
        "temperature": 0.7,
        "stop": ["x"],
    },
    "cohere.command-text-v14": {"prompt": PROMPT, "max_tokens": 22, "temperature": 0.8, "p": 0.75},
    "cohere.command-r-v1:0": {"message": PROMPT, "max_tokens": 11, "temperature": 0.9, "p": 0.5},
}
STREAMING = [m for m in BODIES if not m.startswith("cohere")]


@pytest.fixture
def both() -> Iterator[tuple[Telemetry, Telemetry, Any]]:
    """(official's telemetry, ours, a session instrumented by both)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    official, ours = Telemetry(), Telemetry()
    BotocoreInstrumentor().instrument(**official.providers)
    session = boto3.session.Session()
    Instrumentor().instrument(session, **ours.providers)
    try:
        yield official, ours, session
    finally:
        Instrumentor().uninstrument(session)
        BotocoreInstrumentor().uninstrument()


def _gen_ai(telemetry: Telemetry) -> dict[str, Any]:
    (span,) = telemetry.spans()
    return {k: v for k, v in span.attributes.items() if k.startswith("gen_ai.")}


def _check(
    both: tuple[Telemetry, Telemetry, Any],
    call: Callable[[Any], None],
    reply: Reply | None = None,
    ours_instead: dict[str, Any] | None = None,
) -> None:
    official, ours, session = both
    with BedrockServer(lambda _: reply or Reply()) as server:
        call(bedrock_client(session, server.url))
    theirs, mine = _gen_ai(official), _gen_ai(ours)
    assert len(theirs) >= 4, theirs  # the official package did record this call
    assert {k: mine.get(k) for k in theirs} == {**theirs, **(ours_instead or {})}
    assert official.spans()[0].name == ours.spans()[0].name


def test_converse(both: Any) -> None:
    reply = Reply(cache_read_tokens=30, cache_write_tokens=8, stop_reason="max_tokens")
    _check(both, lambda c: c.converse(modelId=CLAUDE, messages=MESSAGES, inferenceConfig=INFERENCE), reply)


def test_converse_stream(both: Any) -> None:
    def call(client: Any) -> None:
        list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES, inferenceConfig=INFERENCE)["stream"])

    _check(both, call, Reply(cache_read_tokens=30, cache_write_tokens=8))


@pytest.mark.parametrize("model_id", list(BODIES))
def test_invoke_model(both: Any, model_id: str) -> None:
    def call(client: Any) -> None:
        client.invoke_model(modelId=model_id, body=json.dumps(BODIES[model_id]))["body"].read()

    _check(both, call)


@pytest.mark.parametrize("model_id", STREAMING)
def test_invoke_model_with_response_stream(both: Any, model_id: str) -> None:
    def call(client: Any) -> None:
        body = json.dumps(BODIES[model_id])
        stream = client.invoke_model_with_response_stream(modelId=model_id, body=body)["body"]
        list(stream)
        stream.close()  # the official package reads no Llama or Mistral chunk: only this ends its span

    measured = {"gen_ai.usage.input_tokens": Reply().input_tokens} if model_id.startswith("mistral") else None
    _check(both, call, ours_instead=measured)


@pytest.mark.parametrize("model_id", ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"])
def test_embeddings_differ_only_by_operation_name(both: Any, model_id: str) -> None:
    official, ours, session = both
    with BedrockServer() as server:
        body = json.dumps({"inputText": PROMPT} if "titan" in model_id else {"texts": [PROMPT]})
        bedrock_client(session, server.url).invoke_model(modelId=model_id, body=body)["body"].read()
    theirs, mine = _gen_ai(official), _gen_ai(ours)
    assert mine["gen_ai.operation.name"] == "embeddings" != theirs["gen_ai.operation.name"]
    assert {k: mine.get(k) for k in theirs if k != "gen_ai.operation.name"} == {
        k: v for k, v in theirs.items() if k != "gen_ai.operation.name"
    }


TITAN = "amazon.titan-text-express-v1"


def _titan(config: dict[str, Any], stream: bool) -> Callable[[Any], None]:
    body = json.dumps({"inputText": PROMPT, "textGenerationConfig": {**config, "stopSequences": ["|"]}})

    def call(client: Any) -> None:
        if stream:
            list(client.invoke_model_with_response_stream(modelId=TITAN, body=body)["body"])
        else:
            client.invoke_model(modelId=TITAN, body=body)["body"].read()

    return call


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_titan_parameters_given_as_strings_are_numbers(both: Any, stream: bool) -> None:
    config = {"temperature": "0.5", "topP": "0.9", "maxTokenCount": "128"}
    numbers = {
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 128,
    }
    _check(both, _titan(config, stream), ours_instead=numbers)
    assert type(_gen_ai(both[1])["gen_ai.request.max_tokens"]) is int


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_titan_parameters_that_spell_no_number_are_left_out(
    both: Any, stream: bool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(errors, "_last_reported", {})  # an error met earlier is logged again
    caplog.set_level("WARNING", logger="botocore_otel")
    config = {"temperature": "warm", "topP": "NaN", "maxTokenCount": "12.5"}
    left_out = {
        "gen_ai.request.temperature": None,
        "gen_ai.request.top_p": None,
        "gen_ai.request.max_tokens": None,
    }
    _check(both, _titan(config, stream), ours_instead=left_out)
    assert _gen_ai(both[1])["gen_ai.request.stop_sequences"] == ("|",)
    assert not [r for r in caplog.records if "the AWS call goes on" in r.getMessage()]
