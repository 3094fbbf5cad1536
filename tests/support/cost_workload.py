"""The workload behind the "AWS usage and cost" dashboard's test (tests/test_dashboards_prometheus.py).

One set of boto3 clients, instrumented as a user would with ``BOTOCORE_OTEL_METRICS=rpc,capacity``,
``BOTOCORE_OTEL_DYNAMODB_CONSUMED_CAPACITY=true`` and ``BOTOCORE_OTEL_ATTRIBUTION`` (a baggage
entry, else a fixed value), in a region of its own, producing every signal of the capacity group:
DynamoDB reads and writes, S3 put/get/list/delete, SQS sends (one queue gets only messages over
64 KiB, two billable requests each), Lambda invocations, KMS, Secrets Manager and STS calls on
the moto server, and Bedrock Runtime Converse calls on the scripted Bedrock server
(tests/support/bedrock_server.py: real answers, not synthetic ones). One synthetic rule answers
SQS SendMessageBatch, which the dashboard must leave out by default.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pytest

REGION = "us-east-2"
ENV = {
    "BOTOCORE_OTEL_METRICS": "rpc,capacity",
    "BOTOCORE_OTEL_DYNAMODB_CONSUMED_CAPACITY": "true",
    "BOTOCORE_OTEL_ATTRIBUTION": "baggage:app.component,fixed:batch",
}
BAGGAGE_COMPONENT = "checkout"  # DynamoDB and S3 calls run under this baggage entry
FIXED_COMPONENT = "batch"  # every other call
RULES = [{"name": "synthetic-batches", "match": "sqs.SendMessageBatch"}]
MOTO_SERVICES = ("dynamodb", "s3", "sqs", "lambda", "kms", "secretsmanager", "sts")
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TABLE, BUCKET, QUEUE, BIG_QUEUE, FUNCTION = "cost-table", "cost-bucket", "cost", "cost-big", "cost-fn"
BIG_BODY = "x" * 70_000  # 2 started 64 KiB chunks: 2 billable requests
# What each price variable of the cost dashboard prices, in AWS's billing units, written here
# independently of grafana/cost.py: (metric, extra matchers, price variable, units priced).
_DYNAMODB, _S3, _S3_BYTES, _TOKENS = (
    "botocore_otel_dynamodb_consumed_capacity_total", "botocore_otel_s3_requests_total",
    "botocore_otel_s3_transferred_bytes_total", "botocore_otel_genai_tokens_total",
)  # fmt: skip
PRICED = [
    (_DYNAMODB, 'botocore_otel_capacity_type="read"', "price_dynamodb_read", 1e6),
    (_DYNAMODB, 'botocore_otel_capacity_type="write"', "price_dynamodb_write", 1e6),
    (_S3, 'botocore_otel_s3_request_class="put_copy_post_list"', "price_s3_put", 1e3),
    (_S3, 'botocore_otel_s3_request_class="get_and_other"', "price_s3_get", 1e3),
    (_S3_BYTES, 'network_io_direction="receive"', "price_s3_transfer_out", 2**30),
    ("botocore_otel_sqs_billable_requests_total", "", "price_sqs", 1e6),
    (_TOKENS, 'gen_ai_token_type="input"', "price_bedrock_input", 1e3),
    (_TOKENS, 'gen_ai_token_type="output"', "price_bedrock_output", 1e3),
    ("botocore_otel_lambda_invocations_total", "", "price_lambda", 1e6),
    ("botocore_otel_requests_total", 'rpc_service="KMS"', "price_kms", 1e4),
    ("botocore_otel_requests_total", 'rpc_service="Secrets Manager"', "price_secrets_manager", 1e4),
    ("botocore_otel_requests_total", 'rpc_service="STS"', "price_sts", 1e4),
]


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@dataclass
class CostWorkload:
    clients: dict[str, Any]
    big_sends: int = 0
    ids: dict[str, str] = field(default_factory=dict)

    def setup(self, moto: Any) -> None:
        c = self.clients
        c["dynamodb"].create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        c["s3"].create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.ids["queue"] = c["sqs"].create_queue(QueueName=QUEUE)["QueueUrl"]
        self.ids["big_queue"] = c["sqs"].create_queue(QueueName=BIG_QUEUE)["QueueUrl"]
        iam = moto.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="cost-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        c["lambda"].create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _function_zip()},
        )
        self.ids["key"] = c["kms"].create_key()["KeyMetadata"]["KeyId"]
        c["secretsmanager"].create_secret(Name="cost-secret", SecretString="s3cr3t")

    def call_once(self) -> None:
        from opentelemetry import baggage
        from opentelemetry import context as otel_context

        c = self.clients
        token = otel_context.attach(baggage.set_baggage("app.component", BAGGAGE_COMPONENT))
        try:
            c["dynamodb"].put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"S": "x" * 1500}})
            c["dynamodb"].get_item(TableName=TABLE, Key={"pk": {"S": "a"}})
            c["dynamodb"].query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "a"}},
            )
            c["s3"].put_object(Bucket=BUCKET, Key="k", Body=b"y" * 2048)
            c["s3"].get_object(Bucket=BUCKET, Key="k")["Body"].read()
            c["s3"].list_objects_v2(Bucket=BUCKET)
            c["s3"].delete_object(Bucket=BUCKET, Key="k")
        finally:
            otel_context.detach(token)
        c["sqs"].send_message(QueueUrl=self.ids["queue"], MessageBody="small")
        c["sqs"].send_message(QueueUrl=self.ids["big_queue"], MessageBody=BIG_BODY)
        self.big_sends += 1
        c["sqs"].send_message_batch(
            QueueUrl=self.ids["queue"], Entries=[{"Id": "1", "MessageBody": "synthetic"}]
        )
        c["lambda"].invoke(FunctionName=FUNCTION, Payload=b"{}")
        c["kms"].encrypt(KeyId=self.ids["key"], Plaintext=b"data")
        c["secretsmanager"].get_secret_value(SecretId="cost-secret")
        c["sts"].get_caller_identity()
        prompt = [{"role": "user", "content": [{"text": "What does this cost?"}]}]
        c["bedrock-runtime"].converse(modelId=MODEL, messages=prompt)

    def drive(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.call_once()


def instrument(moto: Any, bedrock_url: str, meter_provider: Any) -> CostWorkload:
    """The clients, instrumented with ``ENV`` set as a user would set it."""
    import boto3

    from botocore_otel.instrumentor import Instrumentor

    clients = {}
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENV.items():
            env.setenv(name, value)
        env.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
        for service in MOTO_SERVICES:
            clients[service] = moto.client(service, region_name=REGION)
        kwargs = {**moto.client_kwargs("bedrock-runtime", region_name=REGION), "endpoint_url": bedrock_url}
        clients["bedrock-runtime"] = boto3.session.Session().client("bedrock-runtime", **kwargs)
        for client in clients.values():
            Instrumentor().instrument(client, meter_provider=meter_provider, synthetic=RULES)
    return CostWorkload(clients)
