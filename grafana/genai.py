"""The GenAI row of the overview dashboard: Bedrock Runtime model calls (gen_ai.client.*).

The GenAI metrics carry the model, the token type and error.type but no region, so these panels
follow the `job` variable only; the throttle panel reads the call counters, which have no model.
"""

from __future__ import annotations

from grafana.board import Board
from grafana.panels import INFO_STEPS, LATENCY_STEPS, rare_rate, target, timeseries
from grafana.promql import (
    BEDROCK,
    ERR,
    GENAI_DURATION,
    GENAI_FIRST_CHUNK,
    GENAI_TOKENS,
    GV,
    OV,
    THROTTLES,
    quantile,
    srate,
)

MODEL = "gen_ai_request_model"
_ONLY_BEDROCK = " Empty unless the application calls Bedrock Runtime models."


def genai_row(lay: Board) -> None:
    lay.row("GenAI (Bedrock Runtime)")
    lay.add(
        timeseries(
            "Tokens/s by model and type",
            "Input and output tokens per second per model (gen_ai.client.token.usage, "
            "gen_ai.token.type); from the answers' usage, estimated when a model family sends "
            "no count." + _ONLY_BEDROCK,
            [
                target(
                    srate(f"{GENAI_TOKENS}_sum", GV, f"{MODEL}, gen_ai_token_type"),
                    "{{gen_ai_request_model}} {{gen_ai_token_type}}",
                )
            ],
            unit="short",
            steps=INFO_STEPS,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Model call duration p50 / p95 by model",
            "gen_ai.client.operation.duration percentiles per model: a stream's call lasts "
            "until the application has read it to its end." + _ONLY_BEDROCK,
            [
                target(quantile(q, GV, MODEL, metric=GENAI_DURATION), f"p{int(q * 100)} {{{{{MODEL}}}}}")
                for q in (0.5, 0.95)
            ],
            unit="s",
            steps=LATENCY_STEPS,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Time to first chunk p50 / p95 by model",
            "gen_ai.client.operation.time_to_first_chunk percentiles per model: from the call's "
            "start to the first event of a ConverseStream or InvokeModelWithResponseStream "
            "answer (streams only)." + _ONLY_BEDROCK,
            [
                target(quantile(q, GV, MODEL, metric=GENAI_FIRST_CHUNK), f"p{int(q * 100)} {{{{{MODEL}}}}}")
                for q in (0.5, 0.95)
            ],
            unit="s",
            steps=LATENCY_STEPS,
        ),
        8,
        8,
    )
    lay.add(
        rare_rate(
            "Model call errors/s by model and type",
            "Failed model calls per second by model and error.type "
            "(gen_ai.client.operation.duration count): throttles that outlived botocore's "
            "retries show as ThrottlingException or ModelNotReadyException.",
            f"{GENAI_DURATION}_count",
            GV,
            f"{MODEL}, error_type",
            "{{gen_ai_request_model}} {{error_type}}",
            ERR,
        ),
        12,
        8,
    )
    lay.add(
        rare_rate(
            "Bedrock Runtime throttles/s by operation and code",
            "Throttled attempts per second to Bedrock Runtime, retried ones included "
            "(botocore_otel.throttles; its labels are the operation's, not the model's).",
            THROTTLES,
            OV,
            "rpc_method, error_type",
            "{{rpc_method}} {{error_type}}",
            BEDROCK,
        ),
        12,
        8,
    )
