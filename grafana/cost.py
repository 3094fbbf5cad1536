"""The "AWS usage and cost" dashboard: the `capacity` metric group, in units and in dollars.

Dollars are client-side counts times the unit prices of grafana.prices (editable textbox
variables). Each priced series is labelled ``cost_item`` (made here with label_replace, not by the
library) so that the items of several metrics can be summed per service or app.component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana.board import Board
from grafana.conventions import COST_UID
from grafana.panels import INFO_STEPS, note, stat, target, timeseries
from grafana.prices import (
    BEDROCK_INPUT,
    BEDROCK_OUTPUT,
    DYNAMODB_READ,
    DYNAMODB_WRITE,
    KMS,
    LAMBDA,
    PRICES,
    PRICES_TAKEN,
    S3_GET,
    S3_PUT,
    S3_TRANSFER_OUT,
    SECRETS_MANAGER,
    SQS,
    STS,
    Price,
    price_variable,
)
from grafana.promql import (
    CV,
    DYNAMODB_CAPACITY,
    GENAI_TOKEN_COUNT,
    LAMBDA_INVOCATIONS,
    REQUESTS,
    RI,
    S3_BYTES,
    S3_REQUESTS,
    SQS_BILLABLE,
    srate,
)
from grafana.variables import cost_variables

NEEDS = ("capacity",)
COST_LABEL = "cost_item"  # added by the queries below, not a metric attribute


@dataclass(frozen=True)
class Priced:
    """One billed quantity: the series of ``metric`` that match ``matchers``, at ``price``."""

    item: str  # the cost_item label value
    metric: str
    matchers: str
    price: Price


DYNAMODB = (
    Priced("DynamoDB reads", DYNAMODB_CAPACITY, ', botocore_otel_capacity_type="read"', DYNAMODB_READ),
    Priced("DynamoDB writes", DYNAMODB_CAPACITY, ', botocore_otel_capacity_type="write"', DYNAMODB_WRITE),
)
S3_CLASS = ", botocore_otel_s3_request_class="
S3 = (
    Priced("S3 PUT, COPY, POST, LIST", S3_REQUESTS, f'{S3_CLASS}"put_copy_post_list"', S3_PUT),
    Priced("S3 GET and other", S3_REQUESTS, f'{S3_CLASS}"get_and_other"', S3_GET),
    Priced("S3 transfer out", S3_BYTES, ', network_io_direction="receive"', S3_TRANSFER_OUT),
)
SQS_ITEMS = (Priced("SQS requests", SQS_BILLABLE, "", SQS),)
BEDROCK = (
    Priced("Bedrock input tokens", GENAI_TOKEN_COUNT, ', gen_ai_token_type="input"', BEDROCK_INPUT),
    Priced("Bedrock output tokens", GENAI_TOKEN_COUNT, ', gen_ai_token_type="output"', BEDROCK_OUTPUT),
)
LAMBDA_ITEMS = (Priced("Lambda requests", LAMBDA_INVOCATIONS, "", LAMBDA),)
API = (
    Priced("KMS requests", REQUESTS, ', rpc_service="KMS"', KMS),
    Priced("Secrets Manager calls", REQUESTS, ', rpc_service="Secrets Manager"', SECRETS_MANAGER),
    Priced("STS requests", REQUESTS, ', rpc_service="STS"', STS),
)
ALL_ITEMS = DYNAMODB + S3 + SQS_ITEMS + BEDROCK + LAMBDA_ITEMS + API


def usd(item: Priced, by: str, per_hour: bool) -> str:
    """Dollars of one item: per hour (from the rate), or over the dashboard's time range."""
    group = f" by ({by})" if by else ""
    selector = f"{item.metric}{{{CV}{item.matchers}}}"
    if per_hour:
        return f"sum{group} (rate({selector}{RI})) * 3600 * ${item.price.name} / {item.price.per}"
    return f"sum{group} (increase({selector}[$__range])) * ${item.price.name} / {item.price.per}"


def usd_sum(items: tuple[Priced, ...], by: str, per_hour: bool = True) -> str:
    """The dollars of several items, summed per ``by`` (each item's series labelled first, so
    that ``or`` keeps them all)."""
    parts = [f'label_replace({usd(i, by, per_hour)}, "{COST_LABEL}", "{i.item}", "", "")' for i in items]
    group = f" by ({by})" if by else ""
    return f"sum{group} ({' or '.join(parts)})"


def _usage(title: str, description: str, expr: str, legend: str, unit: str) -> Any:
    return timeseries(title, description, [target(expr, legend)], unit=unit, steps=INFO_STEPS, needs=NEEDS)


def _dollars(title: str, description: str, expr: str, legend: str) -> Any:
    return timeseries(
        title,
        description + " Unit prices: the dashboard's price variables.",
        [target(expr, legend)],
        unit="currencyUSD",
        steps=INFO_STEPS,
        decimals=4,
        needs=NEEDS,
    )


ESTIMATE_NOTE = f"""**An estimate from client-side counts, not a bill.** Counts are what this
application's botocore clients sent and received (`metrics=rpc,capacity`; DynamoDB capacity also
needs `dynamodb_consumed_capacity=true` unless the code asks for it), times the unit prices in the
variable bar: us-east-1 on-demand list prices taken {PRICES_TAKEN}, editable.

Not included: free tiers, storage, provisioned capacity and reservations, Lambda duration,
per-key and per-secret monthly fees, other clients of the same account, and data transfer other
than S3 downloads (priced at the internet rate: set it to 0 for clients inside AWS). Bedrock
tokens of every model use the one per-token price pair. Synthetic calls are excluded unless
`Synthetic calls` says include. See docs/dashboards.md."""


def cost() -> dict[str, Any]:
    lay = Board(
        uid=COST_UID,
        title="botocore-otel / AWS usage and cost",
        description="What each part of the application consumes from AWS (the capacity metric "
        "group), and an estimate of what it costs at editable unit prices.",
        tags=["botocore-otel", "aws", "cost"],
        datasource_variable="datasource",
    )
    lay.row("Estimated cost")
    lay.add(note("About these numbers", "What the dollars mean and leave out.", ESTIMATE_NOTE), 12, 8)
    lay.add(
        stat(
            "Estimated cost over the time range",
            "Every priced item of this dashboard over the selected time range "
            "(increase over $__range times the unit prices).",
            usd_sum(ALL_ITEMS, "", per_hour=False),
            unit="currencyUSD",
            steps=INFO_STEPS,
            decimals=4,
            needs=NEEDS,
        ),
        12,
        8,
    )
    lay.add(
        _dollars(
            "Estimated $/h by priced item",
            "Dollars per hour of each priced item (DynamoDB reads and writes, S3 request classes "
            "and downloads, SQS, Bedrock tokens, Lambda, KMS, Secrets Manager, STS).",
            usd_sum(ALL_ITEMS, COST_LABEL),
            f"{{{{{COST_LABEL}}}}}",
        ),
        12,
        9,
    )
    lay.add(
        _dollars(
            "Estimated $/h by app.component",
            "Dollars per hour of every priced item, per app.component (the `attribution` option; "
            "one blank series without it).",
            usd_sum(ALL_ITEMS, "app_component"),
            "{{app_component}}",
        ),
        12,
        9,
    )

    lay.row("DynamoDB")
    dynamo_by = "aws_dynamodb_table_name, botocore_otel_capacity_type, rpc_method, app_component"
    lay.add(
        _usage(
            "Consumed capacity units/s by table, type, method and app.component",
            "Read and write capacity units per second from the responses' ConsumedCapacity "
            "(botocore_otel.dynamodb.consumed_capacity).",
            srate(DYNAMODB_CAPACITY, CV, dynamo_by),
            "{{aws_dynamodb_table_name}} {{botocore_otel_capacity_type}} {{rpc_method}} {{app_component}}",
            "short",
        ),
        12,
        8,
    )
    lay.add(
        _dollars(
            "DynamoDB $/h by table and type",
            "On-demand request units: capacity units times the read or write price.",
            usd_sum(DYNAMODB, "aws_dynamodb_table_name, " + COST_LABEL),
            f"{{{{aws_dynamodb_table_name}}}} {{{{{COST_LABEL}}}}}",
        ),
        12,
        8,
    )

    lay.row("S3")
    lay.add(
        _usage(
            "S3 requests/s by bucket and class",
            "Requests per attempt that reached S3, by billing class: put_copy_post_list, "
            "get_and_other, free (DELETE) (botocore_otel.s3.requests).",
            srate(S3_REQUESTS, CV, "aws_s3_bucket, botocore_otel_s3_request_class, app_component"),
            "{{aws_s3_bucket}} {{botocore_otel_s3_request_class}} {{app_component}}",
            "reqps",
        ),
        8,
        8,
    )
    lay.add(
        _usage(
            "S3 bytes/s by bucket and direction",
            "Bytes uploaded (transmit) and downloaded (receive) (botocore_otel.s3.transferred).",
            srate(S3_BYTES, CV, "aws_s3_bucket, network_io_direction, app_component"),
            "{{aws_s3_bucket}} {{network_io_direction}} {{app_component}}",
            "Bps",
        ),
        8,
        8,
    )
    lay.add(
        _dollars(
            "S3 $/h by bucket and item",
            "Request classes at their prices (DELETE is free), downloads at the transfer-out price.",
            usd_sum(S3, "aws_s3_bucket, " + COST_LABEL),
            f"{{{{aws_s3_bucket}}}} {{{{{COST_LABEL}}}}}",
        ),
        8,
        8,
    )

    lay.row("SQS and Bedrock")
    lay.add(
        _usage(
            "SQS billable requests/s by queue and method",
            "Each started 64 KiB of a request's payload is one billable request, batches summed "
            "(botocore_otel.sqs.billable_requests).",
            srate(SQS_BILLABLE, CV, "messaging_destination_name, rpc_method, app_component"),
            "{{messaging_destination_name}} {{rpc_method}} {{app_component}}",
            "reqps",
        ),
        6,
        8,
    )
    lay.add(
        _dollars(
            "SQS $/h by queue",
            "Billable requests times the standard-queue price.",
            usd_sum(SQS_ITEMS, "messaging_destination_name"),
            "{{messaging_destination_name}}",
        ),
        6,
        8,
    )
    lay.add(
        _usage(
            "Bedrock tokens/s by model and type",
            "Input, output and cache tokens per second from the answers' usage (botocore_otel.genai.tokens).",
            srate(GENAI_TOKEN_COUNT, CV, "gen_ai_request_model, gen_ai_token_type, app_component"),
            "{{gen_ai_request_model}} {{gen_ai_token_type}} {{app_component}}",
            "short",
        ),
        6,
        8,
    )
    lay.add(
        _dollars(
            "Bedrock $/h by model and type",
            "Input and output tokens times the per-token prices (one pair for every model; "
            "cache tokens are not priced).",
            usd_sum(BEDROCK, "gen_ai_request_model, " + COST_LABEL),
            f"{{{{gen_ai_request_model}}}} {{{{{COST_LABEL}}}}}",
        ),
        6,
        8,
    )

    lay.row("Lambda, KMS, Secrets Manager, STS")
    lay.add(
        _usage(
            "Lambda invocations/s by function",
            "Invoke calls per second per function (botocore_otel.lambda.invocations).",
            srate(LAMBDA_INVOCATIONS, CV, "faas_invoked_name, app_component"),
            "{{faas_invoked_name}} {{app_component}}",
            "reqps",
        ),
        6,
        8,
    )
    lay.add(
        _dollars(
            "Lambda $/h by function",
            "Requests times the per-request price (duration is not included).",
            usd_sum(LAMBDA_ITEMS, "faas_invoked_name"),
            "{{faas_invoked_name}}",
        ),
        6,
        8,
    )
    lay.add(
        _usage(
            "KMS, Secrets Manager, STS requests/s by service and method",
            "API requests per second (botocore_otel.requests).",
            srate(REQUESTS, CV, "rpc_service, rpc_method, app_component"),
            "{{rpc_service}} {{rpc_method}} {{app_component}}",
            "reqps",
        ),
        6,
        8,
    )
    lay.add(
        _dollars(
            "KMS, Secrets Manager, STS $/h by service",
            "Requests times each service's price (STS is free).",
            usd_sum(API, COST_LABEL),
            f"{{{{{COST_LABEL}}}}}",
        ),
        6,
        8,
    )
    lay.variables([*cost_variables(), *(price_variable(p) for p in PRICES)])
    return lay.build()
