"""Per-service knowledge: declarative tables of span kinds and attributes.

Each service has a :class:`Table`: attributes every operation gets, request and response
:class:`Field` s (a top-level member and how to turn it into an attribute value), and
per-operation entries (span kind, static and extra fields). A field applies to every
operation whose parameters (or response) have its member. :func:`extras_for` compiles
one operation's entries once; the lifecycle asks it once per operation and caches it.

Names follow the semantic-convention registry, except ``aws.eventbridge.event_bus.name``
(the registry has no EventBridge attribute). Never-captured members (secrets, bodies,
tokens: see :mod:`botocore_otel.redact`) appear in no table, and structured values are
JSON-serialized with those members removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from botocore_otel.converters import (
    Convert,
    arn_only,
    boolean,
    count,
    event_bus_name,
    event_buses,
    integer,
    json_items,
    json_text,
    nested,
    number,
    one_table,
    queue_name,
    s3_copy_source,
    s3_delete,
    single_message_id,
    state_machine_of_execution,
    stream_name,
    table_keys,
    text,
    texts,
    topic_name,
    transact_tables,
)


class OperationExtras(Protocol):
    """What the tables add to one operation's span."""

    span_kind: SpanKind | None
    span_name: str | None
    static_attributes: Mapping[str, AttributeValue]

    def request_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]: ...

    def response_attributes(self, parsed: Mapping[str, Any]) -> dict[str, AttributeValue]: ...


@dataclass(frozen=True, slots=True)
class Field:
    attribute: str
    member: str
    convert: Convert = text


@dataclass(frozen=True, slots=True)
class Operation:
    kind: SpanKind | None = None
    static: Mapping[str, AttributeValue] = field(default_factory=dict)
    request: tuple[Field, ...] = ()
    response: tuple[Field, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    static: Mapping[str, AttributeValue] = field(default_factory=dict)
    request: tuple[Field, ...] = ()
    response: tuple[Field, ...] = ()
    operations: Mapping[str, Operation] = field(default_factory=dict)


def _messaging(name: str, kind: str | None = None) -> dict[str, AttributeValue]:
    static: dict[str, AttributeValue] = {"messaging.operation.name": name}
    if kind is not None:
        static["messaging.operation.type"] = kind
    return static


_PRODUCER, _CLIENT = SpanKind.PRODUCER, SpanKind.CLIENT
_MESSAGE_ID = Field("messaging.message.id", "MessageId")

TABLES: dict[str, Table] = {
    "s3": Table(
        request=(
            Field("aws.s3.bucket", "Bucket"),
            Field("aws.s3.key", "Key"),
            Field("aws.s3.copy_source", "CopySource", s3_copy_source),
            Field("aws.s3.upload_id", "UploadId"),
            Field("aws.s3.part_number", "PartNumber", integer),
            Field("aws.s3.delete", "Delete", s3_delete),
        ),
        response=(Field("aws.s3.upload_id", "UploadId"),),
    ),
    "dynamodb": Table(
        static={"db.system.name": "aws.dynamodb"},
        request=(
            Field("aws.dynamodb.table_names", "TableName", one_table),
            Field("aws.dynamodb.table_names", "RequestItems", table_keys),
            Field("aws.dynamodb.table_names", "TransactItems", transact_tables),
            Field("aws.dynamodb.attributes_to_get", "AttributesToGet", texts),
            Field("aws.dynamodb.consistent_read", "ConsistentRead", boolean),
            Field("aws.dynamodb.index_name", "IndexName"),
            Field("aws.dynamodb.limit", "Limit", integer),
            Field("aws.dynamodb.projection", "ProjectionExpression"),
            Field("aws.dynamodb.select", "Select"),
            Field("aws.dynamodb.scan_forward", "ScanIndexForward", boolean),
            Field("aws.dynamodb.segment", "Segment", integer),
            Field("aws.dynamodb.total_segments", "TotalSegments", integer),
            Field("aws.dynamodb.exclusive_start_table", "ExclusiveStartTableName"),
            Field("aws.dynamodb.attribute_definitions", "AttributeDefinitions", json_items),
            Field("aws.dynamodb.global_secondary_indexes", "GlobalSecondaryIndexes", json_items),
            Field("aws.dynamodb.local_secondary_indexes", "LocalSecondaryIndexes", json_items),
            Field(
                "aws.dynamodb.global_secondary_index_updates",
                "GlobalSecondaryIndexUpdates",
                json_items,
            ),
            Field(
                "aws.dynamodb.provisioned_read_capacity",
                "ProvisionedThroughput",
                nested("ReadCapacityUnits", number),
            ),
            Field(
                "aws.dynamodb.provisioned_write_capacity",
                "ProvisionedThroughput",
                nested("WriteCapacityUnits", number),
            ),
        ),
        response=(
            Field("aws.dynamodb.consumed_capacity", "ConsumedCapacity", json_items),
            Field("aws.dynamodb.item_collection_metrics", "ItemCollectionMetrics", json_text),
            Field("aws.dynamodb.count", "Count", integer),
            Field("aws.dynamodb.scanned_count", "ScannedCount", integer),
        ),
        operations={
            "ListTables": Operation(response=(Field("aws.dynamodb.table_count", "TableNames", count),)),
        },
    ),
    "sqs": Table(
        static={"messaging.system": "aws_sqs"},
        request=(
            Field("messaging.destination.name", "QueueName"),
            Field("aws.sqs.queue.url", "QueueUrl"),
            Field("messaging.destination.name", "QueueUrl", queue_name),
        ),
        response=(Field("aws.sqs.queue.url", "QueueUrl"),),
        operations={
            "SendMessage": Operation(_PRODUCER, _messaging("send", "send"), response=(_MESSAGE_ID,)),
            "SendMessageBatch": Operation(
                _PRODUCER,
                _messaging("send", "send"),
                request=(Field("messaging.batch.message_count", "Entries", count),),
            ),
            "ReceiveMessage": Operation(
                _CLIENT,
                _messaging("receive", "receive"),
                response=(
                    Field("messaging.batch.message_count", "Messages", count),
                    Field("messaging.message.id", "Messages", single_message_id),
                ),
            ),
            "DeleteMessage": Operation(static=_messaging("delete", "settle")),
            "DeleteMessageBatch": Operation(
                static=_messaging("delete", "settle"),
                request=(Field("messaging.batch.message_count", "Entries", count),),
            ),
            "ChangeMessageVisibility": Operation(static=_messaging("change_visibility")),
            "ChangeMessageVisibilityBatch": Operation(
                static=_messaging("change_visibility"),
                request=(Field("messaging.batch.message_count", "Entries", count),),
            ),
        },
    ),
    "sns": Table(
        static={"messaging.system": "aws.sns"},
        request=(
            Field("aws.sns.topic.arn", "TopicArn", arn_only),
            Field("messaging.destination.name", "TopicArn", topic_name),
        ),
        response=(Field("aws.sns.topic.arn", "TopicArn", arn_only),),
        operations={
            "Publish": Operation(_PRODUCER, _messaging("publish", "send"), response=(_MESSAGE_ID,)),
            "PublishBatch": Operation(
                _PRODUCER,
                _messaging("publish", "send"),
                request=(Field("messaging.batch.message_count", "PublishBatchRequestEntries", count),),
            ),
        },
    ),
    "kinesis": Table(
        request=(
            Field("aws.kinesis.stream_name", "StreamARN", stream_name),
            Field("aws.kinesis.stream_name", "StreamName"),
        ),
    ),
    "lambda": Table(
        request=(Field("aws.lambda.resource_mapping.id", "UUID"),),
        response=(Field("aws.lambda.resource_mapping.id", "UUID"),),
        # Invoke's faas.* and aws.lambda.invoked_arn come from converters.lambda_target() (they
        # need the client's region): see payload.py.
    ),
    "sfn": Table(
        request=(
            Field("aws.step_functions.state_machine.arn", "executionArn", state_machine_of_execution),
            Field("aws.step_functions.state_machine.arn", "stateMachineArn", arn_only),
            Field("aws.step_functions.activity.arn", "activityArn", arn_only),
        ),
        response=(
            Field("aws.step_functions.state_machine.arn", "stateMachineArn", arn_only),
            Field("aws.step_functions.activity.arn", "activityArn", arn_only),
        ),
    ),
    "secrets-manager": Table(
        request=(Field("aws.secretsmanager.secret.arn", "SecretId", arn_only),),
        response=(Field("aws.secretsmanager.secret.arn", "ARN", arn_only),),
    ),
    # Amazon Bedrock: the resource ids the official instrumentation records (bedrock-runtime's
    # GenAI operations are described by botocore_otel.genai instead).
    "bedrock": Table(
        request=(Field("aws.bedrock.guardrail.id", "guardrailIdentifier"),),
        response=(Field("aws.bedrock.guardrail.id", "guardrailId"),),
    ),
    "bedrock-runtime": Table(request=(Field("aws.bedrock.guardrail.id", "guardrailIdentifier"),)),
    "bedrock-agent": Table(
        request=(
            Field("aws.bedrock.agent.id", "agentId"),
            Field("aws.bedrock.knowledge_base.id", "knowledgeBaseId"),
            Field("aws.bedrock.data_source.id", "dataSourceId"),
        ),
        response=(
            Field("aws.bedrock.agent.id", "agent", nested("agentId", text)),
            Field("aws.bedrock.knowledge_base.id", "knowledgeBase", nested("knowledgeBaseId", text)),
            Field("aws.bedrock.data_source.id", "dataSource", nested("dataSourceId", text)),
        ),
    ),
    "bedrock-agent-runtime": Table(
        request=(
            Field("aws.bedrock.agent.id", "agentId"),
            Field("aws.bedrock.knowledge_base.id", "knowledgeBaseId"),
        ),
    ),
    "eventbridge": Table(
        request=(
            Field("aws.eventbridge.event_bus.name", "EventBusName", event_bus_name),
            Field("aws.eventbridge.event_bus.name", "Entries", event_buses),
        ),
        operations={
            name: Operation(request=(Field("aws.eventbridge.event_bus.name", "Name", event_bus_name),))
            for name in ("CreateEventBus", "DescribeEventBus", "DeleteEventBus", "UpdateEventBus")
        },
    ),
}


# -- compiled extras ---------------------------------------------------------------------
def _apply(fields: tuple[Field, ...], values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for f in fields:
        value = values.get(f.member)
        if value is not None:
            converted = f.convert(value)
            if converted is not None:
                out[f.attribute] = converted
    return out


@dataclass(slots=True)
class Extras:
    """One operation's compiled table entries (implements :class:`OperationExtras`)."""

    span_kind: SpanKind | None
    span_name: str | None
    static_attributes: Mapping[str, AttributeValue]
    request_fields: tuple[Field, ...]
    response_fields: tuple[Field, ...]

    def request_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]:
        return _apply(self.request_fields, params)

    def response_attributes(self, parsed: Mapping[str, Any]) -> dict[str, AttributeValue]:
        return _apply(self.response_fields, parsed)


_compiled: dict[tuple[str, str], OperationExtras | None] = {}


def _members(shape: Any) -> frozenset[str] | None:
    members = getattr(shape, "members", None)
    return frozenset(members) if isinstance(members, Mapping) else None


def _fields_of(fields: tuple[Field, ...], shape: Any) -> tuple[Field, ...]:
    """The fields whose member the shape has (all of them when the shape is unknown): each
    call then looks only at members the operation can have."""
    members = _members(shape)
    return fields if members is None else tuple(f for f in fields if f.member in members)


def extras_for(service_key: str, operation: str, model: Any = None) -> OperationExtras | None:
    """One operation's compiled entries; ``model`` (its ``OperationModel``) narrows the fields."""
    key = (service_key, operation)
    try:
        return _compiled[key]
    except KeyError:
        pass
    table = TABLES.get(service_key)
    extras: OperationExtras | None = None
    if service_key == "bedrock-runtime":
        from botocore_otel.genai import operation_extras  # GenAI: loaded by the first Bedrock call

        extras = operation_extras(operation)
    if extras is None and table is not None:
        entry = table.operations.get(operation, Operation())
        extras = Extras(
            span_kind=entry.kind,
            span_name=None,  # Service.Operation, the AWS SDK convention: low cardinality
            static_attributes={**table.static, **entry.static},
            request_fields=_fields_of(table.request + entry.request, getattr(model, "input_shape", None)),
            response_fields=_fields_of(table.response + entry.response, getattr(model, "output_shape", None)),
        )
    _compiled[key] = extras
    return extras
