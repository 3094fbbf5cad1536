"""Message content is captured only when opted in: a marker seeded in prompts, system
instructions and answers appears nowhere by default (span names, attributes, events, metric
attributes, logs), and where the conventions say with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest

from botocore_otel import Instrumentor
from telemetry import Telemetry
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = "PROMPT-MARKER-7f3a"
SYSTEM = "SYSTEM-MARKER-91bc"
ANSWER = "ANSWER-MARKER-c2d4 and more words"
MARKERS = (PROMPT, SYSTEM, ANSWER.split()[0])
MESSAGES = [{"role": "user", "content": [{"text": f"Please answer {PROMPT}"}]}]


def _calls(telemetry: Telemetry) -> None:
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        with BedrockServer(lambda _: Reply(text=ANSWER)) as server:
            client = bedrock_client(session, server.url)
            client.converse(modelId=CLAUDE, messages=MESSAGES, system=[{"text": SYSTEM}])
            list(
                client.converse_stream(modelId=CLAUDE, messages=MESSAGES, system=[{"text": SYSTEM}])["stream"]
            )
            body = json.dumps({"messages": MESSAGES, "system": SYSTEM, "max_tokens": 10})
            client.invoke_model(modelId=CLAUDE, body=body)["body"].read()
            list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=body)["body"])
            prompt = json.dumps({"prompt": f"{SYSTEM} {PROMPT}", "max_gen_len": 9})
            client.invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body=prompt)["body"].read()
    finally:
        Instrumentor().uninstrument(session)


def _everything(telemetry: Telemetry, caplog: pytest.LogCaptureFixture) -> str:
    parts: list[Any] = []
    for span in telemetry.spans():
        parts += [span.name, dict(span.attributes)]
        parts += [(event.name, dict(event.attributes or {})) for event in span.events]
    data = telemetry.reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                parts += [dict(point.attributes) for point in metric.data.data_points]
    parts += _our_logs(caplog)
    return repr(parts)


def _our_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    """botocore's own DEBUG logs show request bodies: only ours are checked."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("botocore_otel")]


def test_no_content_anywhere_by_default(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    caplog.set_level(logging.DEBUG)
    telemetry = Telemetry()
    _calls(telemetry)
    assert len(telemetry.spans()) == 5
    everything = _everything(telemetry, caplog)
    assert "gen_ai.usage.output_tokens" in everything  # the telemetry is there, the content is not
    for marker in MARKERS:
        assert marker not in everything


def test_content_on_the_span_when_opted_in(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    telemetry = Telemetry()
    _calls(telemetry)
    spans = telemetry.spans()
    assert len(spans) == 5
    for span in spans:
        inputs = json.loads(span.attributes["gen_ai.input.messages"])
        assert inputs[0]["role"] == "user"
        assert PROMPT in inputs[0]["parts"][0]["content"]
        (output,) = json.loads(span.attributes["gen_ai.output.messages"])
        assert output["role"] == "assistant"
        assert output["parts"] == [{"type": "text", "content": ANSWER}]
        assert output["finish_reason"] in ("end_turn", "stop")
    for span in spans[:4]:
        assert json.loads(span.attributes["gen_ai.system_instructions"]) == [
            {"type": "text", "content": SYSTEM}
        ]
    for marker in MARKERS:  # nowhere else: metric attributes and logs stay clean
        assert marker not in repr([dict(p.attributes) for p in telemetry.points("gen_ai.client.token.usage")])
        assert marker not in repr(_our_logs(caplog))


def test_a_bad_capture_value_is_logged_and_leaves_content_off(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "sometimes")
    telemetry = Telemetry()
    _calls(telemetry)
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT='sometimes' is invalid" in caplog.text
    assert all("gen_ai.input.messages" not in span.attributes for span in telemetry.spans())


def test_a_tool_result_keeps_its_text_and_json_and_names_its_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    pixels = b"\x89PNG\r\n\x1a\nPIXELS-MARKER-5e1d"
    result = {
        "toolUseId": "tool-1",
        "content": [
            {"text": f"found {PROMPT}"},
            {"json": {"rows": 2}},
            {"image": {"format": "png", "source": {"bytes": pixels}}},
        ],
    }
    messages = [*MESSAGES, {"role": "user", "content": [{"toolResult": result}]}]
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        with BedrockServer() as server:
            bedrock_client(session, server.url).converse(modelId=CLAUDE, messages=messages)
    finally:
        Instrumentor().uninstrument(session)
    (span,) = telemetry.spans()
    recorded = span.attributes["gen_ai.input.messages"]
    assert "PIXELS-MARKER" not in recorded
    assert json.loads(recorded)[1]["parts"] == [
        {
            "type": "tool_call_response",
            "id": "tool-1",
            "response": [f"found {PROMPT}", {"rows": 2}, {"type": "image"}],
        }
    ]


def test_tool_calls_are_kept_the_same_whether_the_answer_is_streamed_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A streamed tool call comes as a block start and its input's JSON in pieces (ConverseStream
    ``toolUse``, Claude ``tool_use`` + ``input_json_delta``, Nova as ConverseStream)."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    tool_call = ("tool-7", "get_weather", {"city": "Paris", "days": [1, 2]})
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        with BedrockServer(lambda _: Reply(text=ANSWER, tool_call=tool_call)) as server:
            client = bedrock_client(session, server.url)
            client.converse(modelId=CLAUDE, messages=MESSAGES)
            list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
            for model in (CLAUDE, "amazon.nova-lite-v1:0"):
                body = json.dumps({"messages": MESSAGES, "max_tokens": 10})
                client.invoke_model(modelId=model, body=body)["body"].read()
                list(client.invoke_model_with_response_stream(modelId=model, body=body)["body"])
    finally:
        Instrumentor().uninstrument(session)
    spans = telemetry.spans()
    assert len(spans) == 6
    for span in spans:
        assert json.loads(span.attributes["gen_ai.output.messages"]) == [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": ANSWER},
                    {"type": "tool_call", "id": "tool-7", "name": "get_weather",
                     "arguments": {"city": "Paris", "days": [1, 2]}},
                ],
                "finish_reason": "tool_use",
            }
        ], span.attributes["rpc.method"]  # fmt: skip
