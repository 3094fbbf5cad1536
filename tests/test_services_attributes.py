"""Per-service semantic-convention attributes, exact values, against the real moto server."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import zipfile

import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import SpanKind

from botocore_otel.arn import parse_arn, partition_of_region
from botocore_otel.converters import MAX_TEXT, lambda_target, s3_delete
from botocore_otel.services import extras_for
from telemetry import Telemetry

ACCOUNT = "123456789012"


def only(telemetry: Telemetry, name: str):
    spans = telemetry.spans(name)
    assert len(spans) == 1, [s.name for s in telemetry.spans()]
    return spans[0]


def picked(span, *names: str) -> dict:
    return {name: span.attributes.get(name) for name in names}


def test_s3(moto, session, telemetry):
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="dir/a b.txt", Body=b"hello")
    s3.copy_object(Bucket="bkt", Key="copy.txt", CopySource={"Bucket": "bkt", "Key": "dir/a b.txt"})
    upload = s3.create_multipart_upload(Bucket="bkt", Key="big")["UploadId"]
    s3.upload_part(Bucket="bkt", Key="big", UploadId=upload, PartNumber=3, Body=b"x")
    s3.delete_objects(
        Bucket="bkt", Delete={"Objects": [{"Key": "copy.txt"}, {"Key": "dir/a b.txt", "VersionId": "v1"}]}
    )

    put = only(telemetry, "S3.PutObject")
    assert picked(put, "aws.s3.bucket", "aws.s3.key") == {"aws.s3.bucket": "bkt", "aws.s3.key": "dir/a b.txt"}
    assert only(telemetry, "S3.CopyObject").attributes["aws.s3.copy_source"] == "bkt/dir/a b.txt"
    assert only(telemetry, "S3.CreateMultipartUpload").attributes["aws.s3.upload_id"] == upload
    part = only(telemetry, "S3.UploadPart")
    assert picked(part, "aws.s3.upload_id", "aws.s3.part_number") == {
        "aws.s3.upload_id": upload,
        "aws.s3.part_number": 3,
    }
    delete = only(telemetry, "S3.DeleteObjects")
    assert delete.attributes["aws.s3.delete"] == "Objects=[{Key=copy.txt},{Key=dir/a b.txt,VersionId=v1}]"
    assert "aws.s3.key" not in only(telemetry, "S3.CreateBucket").attributes
    assert all(b"hello" not in str(s.attributes).encode() for s in telemetry.spans())


def test_s3_delete_is_bounded():
    value = s3_delete({"Objects": [{"Key": f"key-{i:05d}"} for i in range(5000)], "Quiet": True})
    assert isinstance(value, str) and len(value) <= MAX_TEXT
    assert value.startswith("Objects=[{Key=key-00000},")
    assert value.endswith("more)],Quiet=true")


def test_dynamodb(moto, session, telemetry):
    ddb = moto.client("dynamodb", session=session)
    ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-sk",
                "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            }
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 2},
    )
    for sk in ("a", "b", "c"):
        ddb.put_item(
            TableName="orders", Item={"pk": {"S": "p"}, "sk": {"S": sk}}, ReturnConsumedCapacity="TOTAL"
        )
    ddb.query(
        TableName="orders",
        IndexName="by-sk",
        KeyConditionExpression="sk = :v",
        ExpressionAttributeValues={":v": {"S": "a"}},
        ProjectionExpression="pk, sk",
        Limit=10,
        ScanIndexForward=False,
        Select="SPECIFIC_ATTRIBUTES",
        ReturnConsumedCapacity="TOTAL",
    )
    ddb.scan(TableName="orders", Segment=0, TotalSegments=2, ConsistentRead=True, Limit=5)
    ddb.batch_get_item(RequestItems={"orders": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": "a"}}]}})
    listed = ddb.list_tables(ExclusiveStartTableName="aaa", Limit=7)
    ddb.list_tables()

    create = only(telemetry, "DynamoDB.CreateTable")
    assert create.attributes["db.system.name"] == "aws.dynamodb"
    assert create.attributes["aws.dynamodb.table_names"] == ("orders",)
    assert create.attributes["aws.dynamodb.provisioned_read_capacity"] == 5.0
    assert create.attributes["aws.dynamodb.provisioned_write_capacity"] == 2.0
    assert [json.loads(i) for i in create.attributes["aws.dynamodb.attribute_definitions"]] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    (gsi,) = create.attributes["aws.dynamodb.global_secondary_indexes"]
    assert json.loads(gsi)["IndexName"] == "by-sk"

    put = telemetry.spans("DynamoDB.PutItem")[0]
    (capacity,) = put.attributes["aws.dynamodb.consumed_capacity"]
    assert json.loads(capacity)["TableName"] == "orders"

    query = only(telemetry, "DynamoDB.Query")
    assert picked(
        query,
        "aws.dynamodb.table_names",
        "aws.dynamodb.index_name",
        "aws.dynamodb.projection",
        "aws.dynamodb.limit",
        "aws.dynamodb.scan_forward",
        "aws.dynamodb.select",
        "aws.dynamodb.count",
        "aws.dynamodb.scanned_count",
    ) == {
        "aws.dynamodb.table_names": ("orders",),
        "aws.dynamodb.index_name": "by-sk",
        "aws.dynamodb.projection": "pk, sk",
        "aws.dynamodb.limit": 10,
        "aws.dynamodb.scan_forward": False,
        "aws.dynamodb.select": "SPECIFIC_ATTRIBUTES",
        "aws.dynamodb.count": 1,
        "aws.dynamodb.scanned_count": 1,
    }
    assert "aws.dynamodb.consumed_capacity" in query.attributes
    assert "KeyConditionExpression" not in str(query.attributes)

    scan = only(telemetry, "DynamoDB.Scan")
    assert picked(
        scan,
        "aws.dynamodb.segment",
        "aws.dynamodb.total_segments",
        "aws.dynamodb.consistent_read",
        "aws.dynamodb.limit",
    ) == {
        "aws.dynamodb.segment": 0,
        "aws.dynamodb.total_segments": 2,
        "aws.dynamodb.consistent_read": True,
        "aws.dynamodb.limit": 5,
    }
    assert only(telemetry, "DynamoDB.BatchGetItem").attributes["aws.dynamodb.table_names"] == ("orders",)
    tables, unbounded = telemetry.spans("DynamoDB.ListTables")
    assert unbounded.attributes["aws.dynamodb.table_count"] == 1
    assert picked(
        tables, "aws.dynamodb.exclusive_start_table", "aws.dynamodb.limit", "aws.dynamodb.table_count"
    ) == {
        "aws.dynamodb.exclusive_start_table": "aaa",
        "aws.dynamodb.limit": 7,
        "aws.dynamodb.table_count": len(listed["TableNames"]),
    }


def test_dynamodb_transactions_and_table_arns():
    extras = extras_for("dynamodb", "TransactWriteItems")
    assert extras is not None
    items = [
        {"Put": {"TableName": "b", "Item": {}}},
        {"Update": {"TableName": f"arn:aws-cn:dynamodb:cn-north-1:{ACCOUNT}:table/a", "Key": {}}},
        {"ConditionCheck": {"TableName": "b", "Key": {}}},
    ]
    assert extras.request_attributes({"TransactItems": items}) == {"aws.dynamodb.table_names": ["a", "b"]}


def test_sqs(moto, session, telemetry):
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="secret body")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}, {"Id": "2", "MessageBody": "y"}]
    )
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)

    create = only(telemetry, "SQS.CreateQueue")
    assert picked(create, "messaging.system", "messaging.destination.name", "aws.sqs.queue.url") == {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": "jobs",
        "aws.sqs.queue.url": url,
    }
    send = only(telemetry, "SQS.SendMessage")
    assert send.kind is SpanKind.PRODUCER
    assert picked(
        send,
        "messaging.system",
        "messaging.destination.name",
        "aws.sqs.queue.url",
        "messaging.message.id",
        "messaging.operation.name",
        "messaging.operation.type",
    ) == {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": "jobs",
        "aws.sqs.queue.url": url,
        "messaging.message.id": sent["MessageId"],
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
    }
    batch = only(telemetry, "SQS.SendMessageBatch")
    assert batch.kind is SpanKind.PRODUCER
    assert batch.attributes["messaging.batch.message_count"] == 2
    receive = only(telemetry, "SQS.ReceiveMessage")
    assert receive.kind is SpanKind.CLIENT
    assert picked(receive, "messaging.operation.type", "messaging.batch.message_count") == {
        "messaging.operation.type": "receive",
        "messaging.batch.message_count": 3,
    }
    assert not any("secret body" in str(s.attributes) for s in telemetry.spans())


def test_sns(moto, session, telemetry):
    sns = moto.client("sns", session=session)
    topic = sns.create_topic(Name="orders")["TopicArn"]
    published = sns.publish(TopicArn=topic, Message="the message")
    sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[{"Id": "1", "Message": "a"}, {"Id": "2", "Message": "b"}],
    )
    sns.publish(PhoneNumber="+15555550100", Message="sms text")

    publish = telemetry.spans("SNS.Publish")[0]
    assert publish.kind is SpanKind.PRODUCER
    assert picked(
        publish,
        "messaging.system",
        "aws.sns.topic.arn",
        "messaging.destination.name",
        "messaging.message.id",
        "messaging.operation.type",
    ) == {
        "messaging.system": "aws.sns",
        "aws.sns.topic.arn": topic,
        "messaging.destination.name": "orders",
        "messaging.message.id": published["MessageId"],
        "messaging.operation.type": "send",
    }
    assert only(telemetry, "SNS.PublishBatch").attributes["messaging.batch.message_count"] == 2
    sms = telemetry.spans("SNS.Publish")[1]
    assert sms.name == "SNS.Publish" and "messaging.destination.name" not in sms.attributes
    assert not any("5555550100" in f"{s.name}{s.attributes}" for s in telemetry.spans())
    assert only(telemetry, "SNS.CreateTopic").attributes["aws.sns.topic.arn"] == topic


def test_kinesis(moto, session, telemetry):
    kinesis = moto.client("kinesis", session=session)
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]["StreamARN"]
    kinesis.put_record(StreamARN=arn, Data=b"payload", PartitionKey="k")

    assert only(telemetry, "Kinesis.CreateStream").attributes["aws.kinesis.stream_name"] == "clicks"
    assert only(telemetry, "Kinesis.PutRecord").attributes["aws.kinesis.stream_name"] == "clicks"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def make_function(moto, session, name: str = "fn") -> str:
    iam = moto.client("iam", session=session)
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = moto.client("lambda", session=session)
    created = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": _zip()}
    )
    return str(created["FunctionArn"])


def test_lambda(moto, session, telemetry):
    arn = make_function(moto, session)
    lam = moto.client("lambda", session=session, region_name="us-east-1")
    lam.invoke(FunctionName="fn", Payload=b"{}")
    lam.invoke(FunctionName=arn, Payload=b"{}")

    by_name, by_arn = telemetry.spans("Lambda.Invoke")
    assert picked(by_name, "faas.invoked_name", "faas.invoked_region", "faas.invoked_provider") == {
        "faas.invoked_name": "fn",
        "faas.invoked_region": "us-east-1",
        "faas.invoked_provider": "aws",
    }
    assert "aws.lambda.invoked_arn" not in by_name.attributes
    assert picked(by_arn, "faas.invoked_name", "aws.lambda.invoked_arn") == {
        "faas.invoked_name": "fn",
        "aws.lambda.invoked_arn": arn,
    }


@pytest.mark.parametrize(
    ("function_name", "expected"),
    [
        ("fn:prod", {"faas.invoked_name": "fn", "faas.invoked_region": "eu-west-1"}),
        (f"{ACCOUNT}:function:fn", {"faas.invoked_name": "fn", "faas.invoked_region": "eu-west-1"}),
        (
            f"arn:aws-us-gov:lambda:us-gov-west-1:{ACCOUNT}:function:fn:live",
            {
                "faas.invoked_name": "fn",
                "faas.invoked_region": "us-gov-west-1",
                "aws.lambda.invoked_arn": f"arn:aws-us-gov:lambda:us-gov-west-1:{ACCOUNT}:function:fn:live",
            },
        ),
        (
            f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:fn",
            {
                "faas.invoked_name": "fn",
                "faas.invoked_region": "cn-north-1",
                "aws.lambda.invoked_arn": f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:fn",
            },
        ),
    ],
)
def test_lambda_function_name_forms(function_name, expected):
    assert lambda_target(function_name, "eu-west-1") == {"faas.invoked_provider": "aws", **expected}


def test_lambda_event_source_mapping(moto, session, telemetry):
    make_function(moto, session)
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam = moto.client("lambda", session=session)
    uuid = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="fn")["UUID"]
    lam.get_event_source_mapping(UUID=uuid)
    assert (
        only(telemetry, "Lambda.CreateEventSourceMapping").attributes["aws.lambda.resource_mapping.id"]
        == uuid
    )
    assert (
        only(telemetry, "Lambda.GetEventSourceMapping").attributes["aws.lambda.resource_mapping.id"] == uuid
    )


def test_step_functions(moto, session, telemetry):
    iam = moto.client("iam", session=session)
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = moto.client("stepfunctions", session=session)
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    machine = sfn.create_state_machine(name="m", definition=definition, roleArn=role)["stateMachineArn"]
    card = "4111 1111 1111 1111"  # spaces: no id, ARN or request id of the spans can hold it by chance
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"card": card}))["executionArn"]
    sfn.describe_execution(executionArn=execution)
    activity = sfn.create_activity(name="act")["activityArn"]
    sfn.describe_activity(activityArn=activity)

    assert (
        only(telemetry, "SFN.CreateStateMachine").attributes["aws.step_functions.state_machine.arn"]
        == machine
    )
    assert only(telemetry, "SFN.StartExecution").attributes["aws.step_functions.state_machine.arn"] == machine
    assert (
        only(telemetry, "SFN.DescribeExecution").attributes["aws.step_functions.state_machine.arn"] == machine
    )
    assert only(telemetry, "SFN.CreateActivity").attributes["aws.step_functions.activity.arn"] == activity
    assert only(telemetry, "SFN.DescribeActivity").attributes["aws.step_functions.activity.arn"] == activity
    assert not any(card in str(s.attributes) for s in telemetry.spans())


def test_secrets_manager(moto, session, telemetry):
    secrets = moto.client("secretsmanager", session=session)
    arn = secrets.create_secret(Name="db", SecretString="hunter2-value")["ARN"]
    secrets.get_secret_value(SecretId="db")
    secrets.get_secret_value(SecretId=arn)
    secrets.put_secret_value(SecretId="db", SecretString="hunter3-value")

    assert only(telemetry, "Secrets Manager.CreateSecret").attributes["aws.secretsmanager.secret.arn"] == arn
    for span in telemetry.spans("Secrets Manager.GetSecretValue"):
        assert span.attributes["aws.secretsmanager.secret.arn"] == arn
    text = str([(s.name, s.attributes, [e.attributes for e in s.events]) for s in telemetry.spans()])
    assert "hunter" not in text


def test_eventbridge(moto, session, telemetry):
    events = moto.client("events", session=session)
    events.create_event_bus(Name="orders-bus")
    events.put_events(
        Entries=[
            {"Source": "app", "DetailType": "t", "Detail": '{"pii": "x"}', "EventBusName": "orders-bus"},
            {"Source": "app", "DetailType": "t", "Detail": "{}", "EventBusName": "orders-bus"},
        ]
    )
    events.put_events(Entries=[{"Source": "app", "DetailType": "t", "Detail": "{}"}])
    events.put_rule(Name="r", EventBusName="orders-bus", EventPattern='{"source": ["app"]}')

    assert (
        only(telemetry, "EventBridge.CreateEventBus").attributes["aws.eventbridge.event_bus.name"]
        == "orders-bus"
    )
    named, default = telemetry.spans("EventBridge.PutEvents")
    assert named.attributes["aws.eventbridge.event_bus.name"] == "orders-bus"
    assert default.attributes["aws.eventbridge.event_bus.name"] == "default"
    assert only(telemetry, "EventBridge.PutRule").attributes["aws.eventbridge.event_bus.name"] == "orders-bus"
    assert not any("pii" in str(s.attributes) for s in telemetry.spans())


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov", "aws-iso-b"])
def test_arns_of_every_partition(partition):
    arn = parse_arn(f"arn:{partition}:sns:r-1:{ACCOUNT}:topic-name")
    assert arn is not None and arn.partition == partition and arn.resource == "topic-name"
    stream = parse_arn(f"arn:{partition}:kinesis:r-1:{ACCOUNT}:stream/s1")
    assert stream is not None and (stream.resource_type, stream.resource_id) == ("stream", "s1")
    assert str(stream) == f"arn:{partition}:kinesis:r-1:{ACCOUNT}:stream/s1"
    assert parse_arn("arn:other:sns:r:1:x") is None and parse_arn("not-an-arn") is None
    assert parse_arn(f"arn:{partition}:s3:::bucket/key").resource == "bucket/key"  # type: ignore[union-attr]
    assert partition_of_region("cn-northwest-1") == "aws-cn"
    assert partition_of_region("us-gov-east-1") == "aws-us-gov"
    assert partition_of_region("eu-west-3") == "aws"


def test_numbers_beyond_what_otlp_carries_are_left_out(moto, session, telemetry, caplog):
    """botocore checks only a number's minimum: an int past 64 bits reaches the tables, and
    OTLP cannot carry it (its encoder logs a traceback and drops it, span after span); one
    past a float's range failed the converter, and every request attribute of the span went."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    ddb = moto.client("dynamodb", session=session)
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.scan(TableName="nowhere", Limit=2**64, Segment=0, TotalSegments=2**70)
    ddb.create_table(
        TableName="huge",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 10**400, "WriteCapacityUnits": 5},
    )
    s3 = moto.client("s3", session=session)
    s3.create_bucket(Bucket="bkt")
    upload = s3.create_multipart_upload(Bucket="bkt", Key="big")["UploadId"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.upload_part(Bucket="bkt", Key="big", UploadId=upload, PartNumber=2**63, Body=b"x")

    scan = only(telemetry, "DynamoDB.Scan")
    assert picked(scan, "aws.dynamodb.table_names", "aws.dynamodb.segment") == {
        "aws.dynamodb.table_names": ("nowhere",),
        "aws.dynamodb.segment": 0,
    }
    assert not {"aws.dynamodb.limit", "aws.dynamodb.total_segments"} & set(scan.attributes)
    create = only(telemetry, "DynamoDB.CreateTable")
    assert picked(create, "aws.dynamodb.table_names", "aws.dynamodb.provisioned_write_capacity") == {
        "aws.dynamodb.table_names": ("huge",),
        "aws.dynamodb.provisioned_write_capacity": 5.0,
    }
    assert "aws.dynamodb.provisioned_read_capacity" not in create.attributes
    part = only(telemetry, "S3.UploadPart")
    assert part.attributes["aws.s3.upload_id"] == upload and "aws.s3.part_number" not in part.attributes
    caplog.clear()
    encode_spans(telemetry.spans())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_names_and_arns_are_bounded(moto, session, telemetry):
    """botocore checks only a string's minimum length: whatever a caller passes (a name built
    from a request, say) reaches the tables, and the attributes stay within MAX_TEXT."""
    big = "x" * (4 * MAX_TEXT)
    prefix = f"us-east-1:{ACCOUNT}"
    calls = [
        ("dynamodb", "describe_table", {"TableName": big}),
        ("dynamodb", "batch_get_item", {"RequestItems": {big: {"Keys": [{"k": {"S": "v"}}]}}}),
        ("dynamodb", "get_item", {"TableName": "tbl", "Key": {"k": {"S": "v"}}, "AttributesToGet": [big]}),
        ("sns", "publish", {"TopicArn": f"arn:aws:sns:{prefix}:{big}", "Message": "m"}),
        (
            "stepfunctions",
            "describe_state_machine",
            {"stateMachineArn": f"arn:aws:states:{prefix}:stateMachine:{big}"},
        ),
        (
            "stepfunctions",
            "describe_execution",
            {"executionArn": f"arn:aws:states:{prefix}:execution:{big}:run"},
        ),
        ("secretsmanager", "describe_secret", {"SecretId": f"arn:aws:secretsmanager:{prefix}:secret:{big}"}),
        ("kinesis", "describe_stream", {"StreamARN": f"arn:aws:kinesis:{prefix}:stream/{big}"}),
        ("events", "describe_event_bus", {"Name": big}),
        ("lambda", "invoke", {"FunctionName": f"arn:aws:lambda:{prefix}:function:{big}"}),
    ]
    for service, operation, params in calls:
        with contextlib.suppress(ClientError):  # none of these exists (moto may not say so)
            getattr(moto.client(service, session=session), operation)(**params)
    spans = telemetry.aws_spans()
    assert len(spans) == len(calls)
    for span in spans:
        values = [
            v for value in span.attributes.values() for v in (value if isinstance(value, tuple) else (value,))
        ]
        assert max(len(v) for v in values if isinstance(v, str)) <= MAX_TEXT, span.name
    table = only(telemetry, "DynamoDB.DescribeTable")
    assert table.attributes["aws.dynamodb.table_names"] == (big[:MAX_TEXT],)
