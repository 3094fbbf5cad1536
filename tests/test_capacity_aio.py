"""The capacity group under aiobotocore (its emitter calls the same sync handlers), against
the moto server: the DynamoDB option, S3 bytes with an upload and a streamed download, SQS
chunks sent and received."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from botocore_otel import Instrumentor
from capacity_support import DYNAMODB, S3_BYTES, SQS, key, totals
from telemetry import Telemetry
from tests.support.optional import require_module

aiobotocore_session = require_module("aiobotocore.session", "pip install -e '.[aio]'")


def test_aiobotocore_calls_are_counted_and_the_option_hides_what_it_asked_for(moto: Any) -> None:
    telemetry = Telemetry()
    session = aiobotocore_session.get_session()
    Instrumentor().instrument(
        session,
        metrics="rpc,capacity",
        dynamodb_consumed_capacity=True,
        payload_propagation="none",
        **telemetry.providers,
    )

    async def run() -> dict[str, Any]:
        async with session.create_client("dynamodb", **moto.client_kwargs("dynamodb")) as dynamodb:
            await dynamodb.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            await dynamodb.put_item(TableName="t", Item={"k": {"S": "1"}})
            got = await dynamodb.get_item(TableName="t", Key={"k": {"S": "1"}})
        async with session.create_client("s3", **moto.client_kwargs("s3")) as s3:
            await s3.create_bucket(Bucket="media")
            await s3.put_object(Bucket="media", Key="k", Body=b"y" * 3000)
            with pytest.raises(ClientError, match="NoSuchBucket"):  # refused: no bytes uploaded
                await s3.put_object(Bucket="missing", Key="k", Body=b"n" * 500)
            answer = await s3.get_object(Bucket="media", Key="k")
            async with answer["Body"] as body:
                assert len(await body.read()) == 3000
        async with session.create_client("sqs", **moto.client_kwargs("sqs")) as sqs:
            url = (await sqs.create_queue(QueueName="jobs"))["QueueUrl"]
            await sqs.send_message(QueueUrl=url, MessageBody="m" * 100 * 1024)
            assert len((await sqs.receive_message(QueueUrl=url))["Messages"]) == 1
        return dict(got)

    try:
        got = asyncio.run(run())
    finally:
        Instrumentor().uninstrument(session)
    assert "ConsumedCapacity" not in got
    assert totals(telemetry, DYNAMODB, "aws.dynamodb.table_name") == {
        key(("botocore_otel.capacity.type", "write"), ("rpc.method", "PutItem")): 1.0,
        key(("botocore_otel.capacity.type", "read"), ("rpc.method", "GetItem")): 0.5,
    }
    assert totals(telemetry, S3_BYTES) == {
        key(("aws.s3.bucket", "media"), ("network.io.direction", "transmit")): 3000,
        key(("aws.s3.bucket", "media"), ("network.io.direction", "receive")): 3000,
    }
    queue = ("messaging.destination.name", "jobs")
    assert totals(telemetry, SQS) == {
        key(queue, ("rpc.method", "CreateQueue")): 1,
        key(queue, ("rpc.method", "SendMessage")): 2,
        key(queue, ("rpc.method", "ReceiveMessage")): 2,  # 100 KiB received
    }
