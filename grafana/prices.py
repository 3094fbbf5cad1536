"""Unit prices of the "AWS usage and cost" dashboard: one editable textbox variable per price.

Defaults are public us-east-1 list prices (on-demand, standard classes, no free tier), taken on
``PRICES_TAKEN`` from the AWS pricing page named in each description. A user edits them in the
dashboard's variable bar; the panels multiply client-side counts by them.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as b_dash
from grafana_foundation_sdk.models import dashboard as m_dash

PRICES_TAKEN = "2026-12-03"


@dataclass(frozen=True)
class Price:
    name: str  # the dashboard variable
    label: str
    default: str  # USD, as typed in the textbox
    per: int  # the price is for this many units (requests, tokens, bytes...)
    what: str  # the unit and what it covers
    source: str  # the AWS pricing page

    @property
    def description(self) -> str:
        return (
            f"USD {self.what}. Default: the us-east-1 list price taken {PRICES_TAKEN} from "
            f"{self.source}. Edit it for your region, class or contract."
        )


GIB = 1024**3  # AWS bills data transfer per GB of 2^30 bytes
DYNAMODB_READ = Price(
    "price_dynamodb_read", "DynamoDB $/M RRU", "0.125", 1_000_000,
    "per million on-demand read request units (Standard table class)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
)  # fmt: skip
DYNAMODB_WRITE = Price(
    "price_dynamodb_write", "DynamoDB $/M WRU", "0.625", 1_000_000,
    "per million on-demand write request units (Standard table class)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
)  # fmt: skip
S3_PUT = Price(
    "price_s3_put", "S3 $/1k PUT, COPY, POST, LIST", "0.005", 1_000,
    "per 1,000 PUT, COPY, POST or LIST requests (S3 Standard)",
    "https://aws.amazon.com/s3/pricing/",
)  # fmt: skip
S3_GET = Price(
    "price_s3_get", "S3 $/1k GET and other", "0.0004", 1_000,
    "per 1,000 GET, SELECT and all other requests (S3 Standard)",
    "https://aws.amazon.com/s3/pricing/",
)  # fmt: skip
S3_TRANSFER_OUT = Price(
    "price_s3_transfer_out", "S3 $/GB out", "0.09", GIB,
    "per GB downloaded from S3 to the internet (first 10 TB/month tier); transfer to a client "
    "in the bucket's region is free: set 0 when the application runs in AWS",
    "https://aws.amazon.com/s3/pricing/ (Data Transfer)",
)  # fmt: skip
SQS = Price(
    "price_sqs", "SQS $/M requests", "0.40", 1_000_000,
    "per million standard-queue requests (each started 64 KiB of payload is one request)",
    "https://aws.amazon.com/sqs/pricing/",
)  # fmt: skip
LAMBDA = Price(
    "price_lambda", "Lambda $/M requests", "0.20", 1_000_000,
    "per million Lambda requests (duration is not counted by the client and not included)",
    "https://aws.amazon.com/lambda/pricing/",
)  # fmt: skip
KMS = Price(
    "price_kms", "KMS $/10k requests", "0.03", 10_000,
    "per 10,000 KMS API requests (symmetric keys)",
    "https://aws.amazon.com/kms/pricing/",
)  # fmt: skip
SECRETS_MANAGER = Price(
    "price_secrets_manager", "Secrets Manager $/10k calls", "0.05", 10_000,
    "per 10,000 Secrets Manager API calls (the per-secret monthly fee is not included)",
    "https://aws.amazon.com/secrets-manager/pricing/",
)  # fmt: skip
STS = Price(
    "price_sts", "STS $/10k requests", "0", 10_000,
    "per 10,000 STS requests (STS is free)",
    "https://aws.amazon.com/iam/pricing/ (IAM and STS are offered at no additional charge)",
)  # fmt: skip
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK_INPUT = Price(
    "price_bedrock_input", "Bedrock $/1k input tokens", "0.00025", 1_000,
    f"per 1,000 input tokens, applied to every model: the on-demand price of {BEDROCK_MODEL} "
    "(Claude 3 Haiku)",
    "https://aws.amazon.com/bedrock/pricing/",
)  # fmt: skip
BEDROCK_OUTPUT = Price(
    "price_bedrock_output", "Bedrock $/1k output tokens", "0.00125", 1_000,
    f"per 1,000 output tokens, applied to every model: the on-demand price of {BEDROCK_MODEL} "
    "(Claude 3 Haiku)",
    "https://aws.amazon.com/bedrock/pricing/",
)  # fmt: skip
PRICES = (
    DYNAMODB_READ, DYNAMODB_WRITE, S3_PUT, S3_GET, S3_TRANSFER_OUT, SQS, LAMBDA, KMS,
    SECRETS_MANAGER, STS, BEDROCK_INPUT, BEDROCK_OUTPUT,
)  # fmt: skip


def price_variable(price: Price) -> b_dash.TextBoxVariable:
    """An editable textbox holding one unit price (its default is the list price)."""
    option = m_dash.VariableOption(selected=True, text=price.default, value=price.default)
    return (
        b_dash.TextBoxVariable(price.name)
        .label(price.label)
        .description(price.description)
        .default_value(price.default)
        .current(option)
        .options([option])
        .hide(m_dash.VariableHide.DONT_HIDE)
    )
