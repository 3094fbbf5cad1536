"""GenAI span attributes of Bedrock Runtime calls, over real HTTP against the scripted server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from botocore_otel import Instrumentor
from tests.scripted_http import Reply as HttpReply
from tests.scripted_http import client_for, scripted_server
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
CLAUDE_BODY = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10}


@pytest.fixture
def bedrock() -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        yield server


def _gen_ai(span: Any) -> dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k.startswith(("gen_ai.", "aws.bedrock."))}


def test_converse_span_is_named_after_operation_and_model_and_keeps_aws_attributes(
    session: Any, telemetry: Any, bedrock: BedrockServer
) -> None:
    bedrock.script = lambda _: Reply(input_tokens=21, output_tokens=7, stop_reason="max_tokens")
    bedrock_client(session, bedrock.url).converse(
        modelId=CLAUDE,
        messages=MESSAGES,
        inferenceConfig={"temperature": 0.3, "topP": 0.9, "maxTokens": 64, "stopSequences": ["END"]},
        guardrailConfig={"guardrailIdentifier": "gr-123", "guardrailVersion": "1"},
    )
    (span,) = telemetry.spans()
    assert span.name == f"chat {CLAUDE}"
    assert _gen_ai(span) == {
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.system": "aws.bedrock",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": CLAUDE,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.usage.input_tokens": 21,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.response.finish_reasons": ("max_tokens",),
        "aws.bedrock.guardrail.id": "gr-123",
    }
    assert span.attributes["rpc.service"] == "Bedrock Runtime"
    assert span.attributes["rpc.method"] == "Converse"
    assert span.attributes["cloud.region"] == "us-east-1"
    assert span.attributes["aws.request_id"] == "req-1"


def test_stop_sequences_given_as_a_tuple_are_kept(
    session: Any, telemetry: Any, bedrock: BedrockServer
) -> None:
    """botocore takes a tuple for a list parameter."""
    bedrock_client(session, bedrock.url).converse(
        modelId=CLAUDE, messages=MESSAGES, inferenceConfig={"stopSequences": ("END", "STOP")}
    )
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.request.stop_sequences"] == ("END", "STOP")


def test_cache_tokens_when_the_answer_has_them(session: Any, telemetry: Any, bedrock: BedrockServer) -> None:
    bedrock.script = lambda _: Reply(cache_read_tokens=100, cache_write_tokens=40)
    client = bedrock_client(session, bedrock.url)
    client.converse(modelId=CLAUDE, messages=MESSAGES)
    client.invoke_model(modelId=CLAUDE, body=json.dumps({"messages": MESSAGES, "max_tokens": 10}))
    for span in telemetry.spans():
        assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 100
        assert span.attributes["gen_ai.usage.cache_creation.input_tokens"] == 40


# (model, request body, expected gen_ai attributes beyond provider/system/model)
_PROMPT = "Write a haiku about the sea, please."
FAMILIES = [
    (
        CLAUDE,
        {
            "messages": MESSAGES,
            "max_tokens": 99,
            "temperature": 0.1,
            "top_p": 0.8,
            "top_k": 5,
            "stop_sequences": ["\n\nHuman:"],
        },
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.max_tokens": 99,
            "gen_ai.request.temperature": 0.1,
            "gen_ai.request.top_p": 0.8,
            "gen_ai.request.top_k": 5,
            "gen_ai.request.stop_sequences": ("\n\nHuman:",),
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.response.finish_reasons": ("end_turn",),
        },
    ),
    (
        "amazon.nova-lite-v1:0",
        {
            "messages": MESSAGES,
            "inferenceConfig": {
                "max_new_tokens": 77,
                "temperature": 0.4,
                "topP": 0.7,
                "stopSequences": ["STOP"],
            },
        },
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.max_tokens": 77,
            "gen_ai.request.temperature": 0.4,
            "gen_ai.request.top_p": 0.7,
            "gen_ai.request.stop_sequences": ("STOP",),
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.response.finish_reasons": ("end_turn",),
        },
    ),
    (
        "amazon.titan-text-express-v1",
        {
            "inputText": _PROMPT,
            "textGenerationConfig": {
                "maxTokenCount": 55,
                "temperature": 0.2,
                "topP": 0.5,
                "stopSequences": ["|"],
            },
        },
        {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.request.max_tokens": 55,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.top_p": 0.5,
            "gen_ai.request.stop_sequences": ("|",),
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.response.finish_reasons": ("FINISH",),
        },
    ),
    (
        "meta.llama3-8b-instruct-v1:0",
        {"prompt": _PROMPT, "max_gen_len": 33, "temperature": 0.6, "top_p": 0.95},
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.max_tokens": 33,
            "gen_ai.request.temperature": 0.6,
            "gen_ai.request.top_p": 0.95,
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.response.finish_reasons": ("stop",),
        },
    ),
    (
        "mistral.mistral-7b-instruct-v0:2",
        {
            "prompt": _PROMPT,
            "max_tokens": 44,
            "temperature": 0.7,
            "top_p": 0.9,
            "top_k": 50,
            "stop": ["</s>"],
        },
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.max_tokens": 44,
            "gen_ai.request.temperature": 0.7,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.top_k": 50,
            "gen_ai.request.stop_sequences": ("</s>",),
            "gen_ai.usage.input_tokens": 6,
            "gen_ai.usage.output_tokens": 10,  # estimated: 6 characters a token
            "gen_ai.response.finish_reasons": ("stop",),
        },
    ),
    (
        "cohere.command-text-v14",
        {
            "prompt": _PROMPT,
            "max_tokens": 22,
            "temperature": 0.8,
            "p": 0.75,
            "k": 3,
            "stop_sequences": ["--"],
        },
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.max_tokens": 22,
            "gen_ai.request.temperature": 0.8,
            "gen_ai.request.top_p": 0.75,
            "gen_ai.request.top_k": 3,
            "gen_ai.request.stop_sequences": ("--",),
            "gen_ai.usage.input_tokens": 6,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.response.finish_reasons": ("COMPLETE",),
        },
    ),
    (
        "cohere.command-r-v1:0",
        {"message": _PROMPT, "max_tokens": 11, "temperature": 0.9, "p": 0.5},
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.max_tokens": 11,
            "gen_ai.request.temperature": 0.9,
            "gen_ai.request.top_p": 0.5,
            "gen_ai.usage.input_tokens": 6,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.response.finish_reasons": ("COMPLETE",),
        },
    ),
    (
        "amazon.titan-embed-text-v2:0",
        {"inputText": _PROMPT},
        {"gen_ai.operation.name": "embeddings", "gen_ai.usage.input_tokens": 12},
    ),
    (
        "cohere.embed-english-v3",
        {"texts": [_PROMPT], "input_type": "search_document"},
        {"gen_ai.operation.name": "embeddings"},
    ),
]


@pytest.mark.parametrize(("model_id", "body", "expected"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_invoke_model_reads_each_family_and_leaves_the_body_readable(
    session: Any, telemetry: Any, bedrock: BedrockServer, model_id: str, body: dict[str, Any], expected: Any
) -> None:
    answer = bedrock_client(session, bedrock.url).invoke_model(modelId=model_id, body=json.dumps(body))
    document = json.loads(answer["body"].read())  # the application still reads the whole body
    assert document
    (span,) = telemetry.spans()
    assert span.name == f"{expected['gen_ai.operation.name']} {model_id}"
    base = {"gen_ai.provider.name": "aws.bedrock", "gen_ai.system": "aws.bedrock"}
    assert _gen_ai(span) == {**base, "gen_ai.request.model": model_id, **expected}


def _invoke_and_read(session: Any, url: str) -> BaseException | None:
    answer = bedrock_client(session, url).invoke_model(modelId=CLAUDE, body=json.dumps(CLAUDE_BODY))
    try:
        answer["body"].read()
    except Exception as error:
        return error
    return None


def test_an_invoke_model_body_that_breaks_fails_the_read_as_without_us_and_the_span(
    session: Any, telemetry: Any, bedrock: BedrockServer
) -> None:
    bedrock.script = lambda _: Reply(cut_after=40)  # Content-Length promises the whole body
    plain = _invoke_and_read(boto3.session.Session(), bedrock.url)
    observed = _invoke_and_read(session, bedrock.url)
    assert plain is not None
    assert type(observed) is type(plain), (observed, plain)  # the application's own handling still works
    (span,) = telemetry.spans()
    assert span.attributes["error.type"] == f"{type(plain).__module__}.{type(plain).__qualname__}"
    assert span.status.status_code.name == "ERROR"
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_latest_experimental_drops_gen_ai_system(
    telemetry: Any, bedrock: BedrockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental")
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        bedrock_client(session, bedrock.url).converse(modelId=CLAUDE, messages=MESSAGES)
    finally:
        Instrumentor().uninstrument(session)
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert "gen_ai.system" not in span.attributes


def test_failed_call_keeps_request_attributes_and_error_type(
    session: Any, telemetry: Any, bedrock: BedrockServer
) -> None:
    bedrock.script = lambda _: Reply(status=400, error_code="ValidationException")
    with pytest.raises(Exception, match="ValidationException"):
        bedrock_client(session, bedrock.url).converse(modelId=CLAUDE, messages=MESSAGES)
    (span,) = telemetry.spans()
    assert span.name == f"chat {CLAUDE}"
    assert span.attributes["error.type"] == "ValidationException"
    assert span.attributes["gen_ai.request.model"] == CLAUDE
    assert "gen_ai.usage.input_tokens" not in span.attributes


@pytest.mark.parametrize(
    ("service", "call", "params", "answer", "expected"),
    [
        ("bedrock-agent", "get_agent", {"agentId": "AGENT12345"}, {"agent": {"agentId": "AGENT12345"}},
         {"aws.bedrock.agent.id": "AGENT12345"}),
        ("bedrock-agent", "get_data_source", {"knowledgeBaseId": "KB11111111", "dataSourceId": "DS11111111"},
         {"dataSource": {"dataSourceId": "DS11111111", "knowledgeBaseId": "KB11111111"}},
         {"aws.bedrock.knowledge_base.id": "KB11111111", "aws.bedrock.data_source.id": "DS11111111"}),
        ("bedrock-agent-runtime", "retrieve",
         {"knowledgeBaseId": "KB22222222", "retrievalQuery": {"text": "q"}},
         {"retrievalResults": []}, {"aws.bedrock.knowledge_base.id": "KB22222222"}),
        ("bedrock", "get_guardrail", {"guardrailIdentifier": "gr-9"}, {"guardrailId": "gr-9"},
         {"aws.bedrock.guardrail.id": "gr-9"}),
    ],
)  # fmt: skip
def test_bedrock_agent_and_control_plane_resource_ids(
    session: Any, telemetry: Any, service: str, call: str, params: Any, answer: Any, expected: Any
) -> None:
    reply = HttpReply(body=json.dumps(answer).encode(), headers={"Content-Type": "application/json"})
    with scripted_server(lambda *_: reply) as server:
        getattr(client_for(session, service, server.url), call)(**params)
    (span,) = telemetry.spans()
    assert {k: v for k, v in span.attributes.items() if k.startswith("aws.bedrock.")} == expected


TITAN = "amazon.titan-text-express-v1"


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (CLAUDE, {**CLAUDE_BODY, "max_tokens": 10**20}),
        (TITAN, {"inputText": "Hi", "textGenerationConfig": {"maxTokenCount": "1e20"}}),
    ],
    ids=["number", "string"],
)
def test_a_max_tokens_beyond_64_bits_is_left_out(
    otlp_receiver: Any,
    bedrock: BedrockServer,
    model: str,
    body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OTLP carries an int attribute in 64 bits: the exporter failed on a bigger one, logging
    its traceback at every export."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    caplog.set_level("ERROR")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=otlp_receiver.traces_endpoint)))
    session = boto3.session.Session()
    Instrumentor().instrument(session, tracer_provider=provider)
    try:
        bedrock_client(session, bedrock.url).invoke_model(modelId=model, body=json.dumps(body))["body"].read()
    finally:
        Instrumentor().uninstrument(session)
        provider.shutdown()
    (span,) = otlp_receiver.wait_for_spans(1, timeout=10)
    assert "gen_ai.request.max_tokens" not in span["attributes"]
    assert span["attributes"]["gen_ai.request.model"] == model
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize(
    ("operation", "input_tokens"),
    [("converse", 2**70), ("invoke_model", 2**70), ("invoke_model", float("inf"))],
    ids=["converse-beyond-64-bits", "invoke-beyond-64-bits", "invoke-infinity"],
)
def test_a_token_count_no_attribute_can_carry_is_left_out(
    session: Any, telemetry: Any, operation: str, input_tokens: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A usage figure beyond 64 bits (OTLP's int) or not finite: the other figures still go,
    and nothing is reported (int(inf) raised inside the read, losing every usage figure)."""
    caplog.set_level("WARNING", logger="botocore_otel")
    with BedrockServer(lambda _: Reply(input_tokens=input_tokens)) as server:
        client = bedrock_client(session, server.url)
        if operation == "converse":
            client.converse(modelId=CLAUDE, messages=MESSAGES)
        else:
            client.invoke_model(modelId=CLAUDE, body=json.dumps(CLAUDE_BODY))["body"].read()
    (span,) = telemetry.spans()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert span.attributes["gen_ai.usage.output_tokens"] == 9
    assert [r.getMessage() for r in caplog.records] == []


def test_stop_sequences_are_bounded(session: Any, telemetry: Any, bedrock: BedrockServer) -> None:
    """From an InvokeModel body, which botocore does not check: at most 64 of 1024 characters."""
    body = {**CLAUDE_BODY, "stop_sequences": ["x" * 5000] * 1000}
    bedrock_client(session, bedrock.url).invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read()
    (span,) = telemetry.spans()
    stop = span.attributes["gen_ai.request.stop_sequences"]
    assert len(stop) == 64 and {len(s) for s in stop} == {1024}
