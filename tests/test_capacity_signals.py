"""The capacity group's signals, each produced by a real call on the moto server (or the
scripted Bedrock server) and read back from the SDK's in-memory reader."""

from __future__ import annotations

import io
import json

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from botocore_otel import Instrumentor
from capacity_support import (
    DYNAMODB,
    LAMBDA,
    REQUESTS,
    S3_BYTES,
    S3_REQUESTS,
    SQS,
    TOKENS,
    instrumented,
    key,
    totals,
)
from telemetry import Telemetry
from test_services_attributes import make_function
from tests.support.bedrock_server import BedrockServer, Reply, bedrock_client

MIB = 1024 * 1024


def _table(dynamodb, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_dynamodb_units_by_table_type_and_method_with_multi_table_entries(moto):
    telemetry = Telemetry()
    session = instrumented(telemetry)
    dynamodb = moto.client("dynamodb", session=session)
    _table(dynamodb, "orders")
    _table(dynamodb, "users")
    total = {"ReturnConsumedCapacity": "TOTAL"}
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "1"}}, **total)
    dynamodb.get_item(TableName="orders", Key={"pk": {"S": "1"}}, **total)
    dynamodb.get_item(TableName="orders", Key={"pk": {"S": "1"}})  # not asked, option off: nothing
    dynamodb.batch_write_item(
        RequestItems={
            "orders": [{"PutRequest": {"Item": {"pk": {"S": "2"}}}}],
            "users": [{"PutRequest": {"Item": {"pk": {"S": "u"}}}}],
        },
        **total,
    )
    dynamodb.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": "orders", "Key": {"pk": {"S": "1"}}}},
            {"Get": {"TableName": "users", "Key": {"pk": {"S": "u"}}}},
        ],
        **total,
    )
    Instrumentor().uninstrument(session)

    def units(table: str, kind: str, method: str) -> tuple[tuple[str, object], ...]:
        return key(
            ("aws.dynamodb.table_name", table),
            ("botocore_otel.capacity.type", kind),
            ("rpc.method", method),
        )

    # moto's figures: a put 1 unit, a get 0.5, each table of a batch 1, a transact read 2
    assert totals(telemetry, DYNAMODB) == {
        units("orders", "write", "PutItem"): 1.0,
        units("orders", "read", "GetItem"): 0.5,
        units("orders", "write", "BatchWriteItem"): 1.0,
        units("users", "write", "BatchWriteItem"): 1.0,
        units("orders", "read", "TransactGetItems"): 2.0,
        units("users", "read", "TransactGetItems"): 2.0,
    }


def test_s3_requests_by_class_and_bytes_both_ways_multipart_included(moto):
    telemetry = Telemetry()
    session = instrumented(telemetry)
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="media")
    s3.put_object(Bucket="media", Key="a.txt", Body=b"x" * 1000)
    s3.put_object(Bucket="media", Key="b.txt", Body="é" * 10)  # 20 bytes in UTF-8
    assert len(s3.get_object(Bucket="media", Key="a.txt")["Body"].read()) == 1000
    s3.head_object(Bucket="media", Key="a.txt")
    s3.list_objects_v2(Bucket="media")
    s3.delete_object(Bucket="media", Key="b.txt")
    # multipart, through s3transfer: a file object read in 5 MiB parts, and a ranged download
    data = b"m" * (5 * MIB + 4096)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, use_threads=False)
    s3.upload_fileobj(io.BytesIO(data), "media", "big.bin", Config=config)
    out = io.BytesIO()
    s3.download_fileobj("media", "big.bin", out, Config=config)
    assert out.getvalue() == data
    Instrumentor().uninstrument(session)

    requests = totals(telemetry, S3_REQUESTS)

    def count(method: str, kind: str, bucket: bool = True) -> float:
        items = [("botocore_otel.s3.request_class", kind), ("rpc.method", method)]
        return requests.pop(key(*items, *([("aws.s3.bucket", "media")] if bucket else [])), 0)

    assert count("CreateBucket", "put_copy_post_list") == 1
    assert count("PutObject", "put_copy_post_list") == 2
    assert count("CreateMultipartUpload", "put_copy_post_list") == 1
    assert count("UploadPart", "put_copy_post_list") == 2
    assert count("CompleteMultipartUpload", "put_copy_post_list") == 1
    assert count("ListObjectsV2", "put_copy_post_list") == 1
    assert count("HeadObject", "get_and_other") == 2  # download_fileobj asks for the size first
    assert count("GetObject", "get_and_other") == 3  # one, then the two ranges of the download
    assert count("DeleteObject", "free") == 1
    assert requests == {}, "nothing else counted"
    assert totals(telemetry, S3_BYTES) == {
        key(("aws.s3.bucket", "media"), ("network.io.direction", "transmit")): 1000 + 20 + len(data),
        key(("aws.s3.bucket", "media"), ("network.io.direction", "receive")): 1000 + len(data),
    }


def test_s3_select_is_priced_with_get_though_it_is_a_post(moto):
    telemetry = Telemetry()
    session = instrumented(telemetry)
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="media")
    s3.put_object(Bucket="media", Key="a.csv", Body=b"a,b\n1,2\n")
    answer = s3.select_object_content(
        Bucket="media",
        Key="a.csv",
        Expression="SELECT * FROM s3object",
        ExpressionType="SQL",
        InputSerialization={"CSV": {}},
        OutputSerialization={"CSV": {}},
    )
    assert any("Records" in event for event in answer["Payload"])
    Instrumentor().uninstrument(session)
    select = [k for k in totals(telemetry, S3_REQUESTS) if ("rpc.method", "SelectObjectContent") in k]
    assert select == [
        key(
            ("aws.s3.bucket", "media"),
            ("botocore_otel.s3.request_class", "get_and_other"),
            ("rpc.method", "SelectObjectContent"),
        )
    ]


def test_s3_bytes_of_refused_uploads_and_downloads_are_not_counted(moto):
    """A PutObject or UploadPart that S3 refuses stored nothing (after-call comes for the error
    too): its body is not counted as uploaded, its request is."""
    telemetry = Telemetry()
    session = instrumented(telemetry)
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="media")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        s3.put_object(Bucket="missing", Key="a.txt", Body=b"x" * 5000)
    with pytest.raises(ClientError, match="UploadPart"):  # moto: a 500 for an unknown upload
        s3.upload_part(Bucket="media", Key="b", UploadId="none", PartNumber=1, Body=b"p" * 700)
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="media", Key="absent")
    s3.put_object(Bucket="media", Key="c", Body=b"y" * 30)
    Instrumentor().uninstrument(session)

    assert totals(telemetry, S3_BYTES) == {
        key(("aws.s3.bucket", "media"), ("network.io.direction", "transmit")): 30
    }
    requests = totals(telemetry, S3_REQUESTS)
    put = key(
        ("aws.s3.bucket", "missing"),
        ("botocore_otel.s3.request_class", "put_copy_post_list"),
        ("rpc.method", "PutObject"),
    )
    assert requests[put] == 1, "the refused request still counts as a request"


def test_sqs_counts_each_started_64_kib_of_payload_and_batches_sum_their_entries(moto):
    telemetry = Telemetry()
    session = instrumented(telemetry)
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="s")  # 1
    sqs.send_message(QueueUrl=url, MessageBody="k" * 100 * 1024)  # 100 KiB: 2
    sqs.send_message(  # 64 KiB of body, and its attributes start a second chunk
        QueueUrl=url,
        MessageBody="b" * 65_536,
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "abc"}},
    )
    entries = [{"Id": str(i), "MessageBody": "e" * 30 * 1024} for i in range(3)]  # 90 KiB: 2
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    sqs.send_message_batch(QueueUrl=url, Entries=tuple(entries))  # botocore takes a tuple too: 2
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)  # 1
    Instrumentor().uninstrument(session)

    def queue(method: str) -> tuple[tuple[str, object], ...]:
        return key(("messaging.destination.name", "jobs"), ("rpc.method", method))

    assert totals(telemetry, SQS) == {
        queue("CreateQueue"): 1,
        queue("SendMessage"): 1 + 2 + 2,
        queue("SendMessageBatch"): 2 + 2,
        queue("ReceiveMessage"): 1,
    }


_KIND = {"kind": {"DataType": "String", "StringValue": "abc"}}  # 13 bytes
_THEIR_XRAY = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5-6;Parent=7;Sampled=0"}}
# (a message's parameters or a batch's entries; billed without payload propagation, with it)
_CHUNK_EDGES = [
    ({"MessageBody": "a" * 65_536}, 1, 2),  # ours (a traceparent: 72 bytes) start a second chunk
    ({"MessageBody": "a" * 65_464}, 1, 1),  # 65,536 with ours
    ({"MessageBody": "a" * 65_465}, 1, 2),
    ({"MessageBody": "a" * 65_537}, 2, 2),
    ({"MessageBody": "é" * 32_761 + "b", "MessageAttributes": _KIND}, 1, 2),  # 65,523 + 13
    (
        {
            "MessageBody": "é" * 32_761 + "b",
            "MessageAttributes": {"kind": {**_KIND["kind"], "StringValue": "abcd"}},
        },
        2,
        2,
    ),
    ({"MessageBody": "a" * 65_536, "MessageSystemAttributes": _THEIR_XRAY}, 1, 2),  # not counted
    ({"MessageBody": "a" * (262_144 - 71)}, 4, 4),  # no room for ours: sent without
    ([{"Id": "1", "MessageBody": "a" * 32_732}, {"Id": "2", "MessageBody": "a" * 32_732}], 1, 2),
    ([{"Id": "1", "MessageBody": "a" * 32_696}, {"Id": "2", "MessageBody": "a" * 32_696}], 1, 1),
]


# The payload is what arrives: the caller's bodies and attributes, and the trace context that
# payload propagation writes into the serialized body (payload.py's short way, on JSON and query
# alike: the oldest set runs this on query). System attributes, SQS's X-Ray header among them,
# do not count in a message's size.
@pytest.mark.parametrize("propagation", ["none", "sqs", "sqs with the X-Ray header"])
def test_a_chunk_ends_at_exactly_64_kib_with_what_propagation_adds(moto, propagation):
    telemetry = Telemetry()
    options = {"payload_propagation": propagation.split()[0], "sqs_aws_trace_header": "X-Ray" in propagation}
    session = instrumented(telemetry, **options)
    sqs = moto.client("sqs", session=session)
    expected = {}
    for index, (message, without, with_ours) in enumerate(_CHUNK_EDGES):
        url = sqs.create_queue(QueueName=f"edge{index}")["QueueUrl"]
        if isinstance(message, list):
            sqs.send_message_batch(QueueUrl=url, Entries=message)
            method = "SendMessageBatch"
        else:
            sqs.send_message(QueueUrl=url, **message)
            method = "SendMessage"
        sent = key(("messaging.destination.name", f"edge{index}"), ("rpc.method", method))
        expected[sent] = without if propagation == "none" else with_ours
    Instrumentor().uninstrument(session)
    counted = totals(telemetry, SQS)
    assert {sent: counted.get(sent) for sent in expected} == expected


def test_a_receive_counts_each_started_64_kib_of_the_messages_it_returns(moto):
    """SQS bills a ReceiveMessage like a send: per started 64 KiB of the payload it carries (the
    bodies and message attributes returned); an empty receive is one request."""
    telemetry = Telemetry()
    session = instrumented(telemetry, payload_propagation="none")
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="big", Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    sqs.receive_message(QueueUrl=url)  # empty: 1
    sqs.send_message(QueueUrl=url, MessageBody="k" * 200 * 1024)  # 4
    kind = {"kind": {**_KIND["kind"], "StringValue": "abcd"}}
    sqs.send_message(QueueUrl=url, MessageBody="é" * 32_761 + "b", MessageAttributes=kind)  # 65,537: 2
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]  # 200 KiB: 4
    assert len(got) == 1 and len(got[0]["Body"]) == 200 * 1024
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]  # 2
    assert got[0]["MessageAttributes"] == kind
    Instrumentor().uninstrument(session)

    counted = totals(telemetry, SQS)
    assert counted[key(("messaging.destination.name", "big"), ("rpc.method", "ReceiveMessage"))] == 1 + 4 + 2
    assert counted[key(("messaging.destination.name", "big"), ("rpc.method", "SendMessage"))] == 4 + 2


CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-text-express-v1"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]


def test_bedrock_tokens_by_model_and_type_from_the_genai_usage():
    telemetry = Telemetry()
    session = instrumented(telemetry)

    def script(received):
        if received.model_id == "broken" or b"fail" in received.body:
            return Reply(status=429, error_code="ThrottlingException")
        return Reply(input_tokens=40, output_tokens=4, cache_read_tokens=7, cache_write_tokens=3)

    with BedrockServer(script) as server:
        client = bedrock_client(session, server.url, attempts=1)
        client.converse(modelId=CLAUDE, messages=MESSAGES)
        list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
        client.invoke_model(modelId=TITAN, body=json.dumps({"inputText": "hello"}))["body"].read()
        with pytest.raises(Exception, match="ThrottlingException"):
            client.converse(modelId="broken", messages=MESSAGES)
        with pytest.raises(Exception, match="ThrottlingException"):  # its prompt is not counted
            client.invoke_model(modelId=TITAN, body=json.dumps({"inputText": "fail " * 40}))
    Instrumentor().uninstrument(session)

    def tokens(model: str, kind: str) -> tuple[tuple[str, object], ...]:
        return key(("gen_ai.request.model", model), ("gen_ai.token.type", kind))

    found = totals(telemetry, TOKENS)
    assert found == {
        tokens(CLAUDE, "input"): 80,
        tokens(CLAUDE, "output"): 8,
        tokens(CLAUDE, "cache_read"): 14,
        tokens(CLAUDE, "cache_write"): 6,
        tokens(TITAN, "input"): 40,  # Titan's body has no cache counts
        tokens(TITAN, "output"): 4,
    }, "the throttled calls count nothing"


def test_lambda_invocations_by_function_name_and_per_request_services(moto):
    telemetry = Telemetry()
    session = instrumented(telemetry)
    arn = make_function(moto, session, "resize")
    lam = moto.client("lambda", session=session)
    lam.invoke(FunctionName="resize", Payload=b"{}")
    lam.invoke(FunctionName=arn, Payload=b"{}")
    kms = moto.client("kms", session=session)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key_id, Plaintext=b"secret")
    secrets = moto.client("secretsmanager", session=session)
    secrets.create_secret(Name="db", SecretString="pw")
    secrets.get_secret_value(SecretId="db")
    secrets.get_secret_value(SecretId="db")
    moto.client("sts", session=session).get_caller_identity()
    Instrumentor().uninstrument(session)

    assert totals(telemetry, LAMBDA) == {key(("faas.invoked_name", "resize")): 2}

    def request(service: str, method: str) -> tuple[tuple[str, object], ...]:
        return key(("rpc.service", service), ("rpc.method", method))

    assert totals(telemetry, REQUESTS) == {
        request("KMS", "CreateKey"): 1,
        request("KMS", "Encrypt"): 1,
        request("Secrets Manager", "CreateSecret"): 1,
        request("Secrets Manager", "GetSecretValue"): 2,
        request("STS", "GetCallerIdentity"): 1,
    }
