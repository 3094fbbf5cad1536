"""GenAI metrics: ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``, for
sampled and unsampled calls, with bounded attributes; none when metrics are off."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import boto3
import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from botocore_otel import Instrumentor
from telemetry import Telemetry
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-text-express-v1"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
BASE = {
    "gen_ai.provider.name": "aws.bedrock",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": CLAUDE,
}


def _run(telemetry: Telemetry, **options: Any) -> None:
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers, **options)

    def script(received: Any) -> Reply:
        if received.model_id == "broken":
            return Reply(status=429, error_code="ThrottlingException")
        return Reply(input_tokens=40, output_tokens=4)

    try:
        with BedrockServer(script) as server:
            client = bedrock_client(session, server.url, attempts=1)
            client.converse(modelId=CLAUDE, messages=MESSAGES)
            list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
            client.invoke_model(modelId=TITAN, body=json.dumps({"inputText": "hello"}))["body"].read()
            with pytest.raises(Exception, match="ThrottlingException"):
                client.converse(modelId="broken", messages=MESSAGES)
    finally:
        Instrumentor().uninstrument(session)


def _points(telemetry: Telemetry, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {tuple(sorted(p.attributes.items())): p for p in telemetry.points(name)}


@pytest.mark.parametrize("sampler", [ALWAYS_ON, ALWAYS_OFF], ids=["sampled", "unsampled"])
def test_duration_and_token_usage_for_sampled_and_unsampled_calls(sampler: Any) -> None:
    telemetry = Telemetry(sampler=sampler)
    _run(telemetry)
    durations = _points(telemetry, "gen_ai.client.operation.duration")
    titan = {**BASE, "gen_ai.operation.name": "text_completion", "gen_ai.request.model": TITAN}
    broken = {**BASE, "gen_ai.request.model": "broken", "error.type": "ThrottlingException"}
    assert {key: p.count for key, p in durations.items()} == {
        tuple(sorted(BASE.items())): 2,
        tuple(sorted(titan.items())): 1,
        tuple(sorted(broken.items())): 1,
    }
    tokens = _points(telemetry, "gen_ai.client.token.usage")
    assert {key: (p.count, p.sum) for key, p in tokens.items()} == {
        tuple(sorted({**BASE, "gen_ai.token.type": "input"}.items())): (2, 80),
        tuple(sorted({**BASE, "gen_ai.token.type": "output"}.items())): (2, 8),
        tuple(sorted({**titan, "gen_ai.token.type": "input"}.items())): (1, 40),
        tuple(sorted({**titan, "gen_ai.token.type": "output"}.items())): (1, 4),
    }
    (first_chunk,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert dict(first_chunk.attributes) == BASE


def test_exemplars_point_at_each_model_call_span() -> None:
    """Streams end in the application's context (here, none): the exemplars still point at the
    call's span, as those of the call histograms do."""
    telemetry = Telemetry()
    _run(telemetry)
    calls = {s.context.span_id for s in telemetry.aws_spans()}
    assert len(calls) == 4
    found: dict[str, set[int]] = {}
    for resource_metrics in telemetry.reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name.startswith("gen_ai."):
                    found[metric.name] = {
                        e.span_id for p in metric.data.data_points for e in p.exemplars or ()
                    }
    (stream,) = [s for s in telemetry.aws_spans() if s.attributes["rpc.method"] == "ConverseStream"]
    first_chunk = found.pop("gen_ai.client.operation.time_to_first_chunk")
    assert first_chunk == {stream.context.span_id}
    assert set(found) == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}
    assert all(ids and ids <= calls for ids in found.values()), found


def test_no_genai_metrics_when_metrics_are_off() -> None:
    telemetry = Telemetry()
    _run(telemetry, metrics=False)
    assert not list(telemetry.points("gen_ai.client.operation.duration"))
    assert not list(telemetry.points("gen_ai.client.token.usage"))
    assert len(telemetry.spans()) == 4  # the spans still carry their gen_ai attributes
    assert telemetry.spans()[0].attributes["gen_ai.usage.output_tokens"] == 4


def test_models_on_the_metrics_are_capped_and_spans_keep_every_model_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Model ids can come from user input (and fail): the metrics keep attribution_max_values of
    them, the rest are ``other``, logged once."""
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, attribution_max_values=2, **telemetry.providers)
    models = ["model-a", "model-b", "model-c", "model-a", "model-d"]
    try:
        with BedrockServer() as server:
            client = bedrock_client(session, server.url)
            for model in models:
                client.converse(modelId=model, messages=MESSAGES)
    finally:
        Instrumentor().uninstrument(session)
    durations = _points(telemetry, "gen_ai.client.operation.duration")
    counted = {dict(key)["gen_ai.request.model"]: p.count for key, p in durations.items()}
    assert counted == {"model-a": 2, "model-b": 1, "other": 2}
    tokens = {p.attributes["gen_ai.request.model"] for p in telemetry.points("gen_ai.client.token.usage")}
    assert tokens == {"model-a", "model-b", "other"}
    assert [s.attributes["gen_ai.request.model"] for s in telemetry.spans()] == models
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "gen_ai.request.model" in r.getMessage()
    ]
    assert len(warnings) == 1


def test_error_codes_a_server_invents_stay_within_a_cap_on_the_genai_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Error codes come from the server (or a proxy in front of it): past MAX_ERROR_TYPES that the
    operation's model does not name they are ``other`` on the gen_ai metrics, as on the call
    metrics; a modelled one keeps its own; spans keep every code."""
    from botocore.exceptions import EventStreamError

    from botocore_otel.limits import OTHER
    from botocore_otel.metrics import MAX_ERROR_TYPES

    invented = MAX_ERROR_TYPES + 5
    codes = [f"Invented{i}Exception" for i in range(invented)] + ["ValidationException"]
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        replies = iter(codes)
        with BedrockServer(lambda _: Reply(status=400, error_code=next(replies))) as server:
            client = bedrock_client(session, server.url, attempts=1)
            for _ in codes:
                with contextlib.suppress(client.exceptions.ClientError):
                    client.converse(modelId="model-a", messages=MESSAGES)
        # an error inside a stream: a member of the operation's event stream, named by its model
        with BedrockServer(lambda _: Reply(stream_error="modelStreamErrorException")) as server:
            stream = bedrock_client(session, server.url).converse_stream(modelId="model-a", messages=MESSAGES)
            with contextlib.suppress(EventStreamError):
                list(stream["stream"])
    finally:
        Instrumentor().uninstrument(session)
    durations = _points(telemetry, "gen_ai.client.operation.duration")
    counted = {dict(key).get("error.type"): p.count for key, p in durations.items()}
    assert len(counted) == MAX_ERROR_TYPES + 3
    assert counted[OTHER] == invented - MAX_ERROR_TYPES and counted["ValidationException"] == 1
    assert counted["modelStreamErrorException"] == 1
    assert [s.attributes["error.type"] for s in telemetry.spans()] == [*codes, "modelStreamErrorException"]
