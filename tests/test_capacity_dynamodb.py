"""``dynamodb_consumed_capacity``: DynamoDB is asked for ConsumedCapacity where the caller did
not ask, the caller's result is the same as without the option, and the units are counted.

moto 5.2.5 answers with ConsumedCapacity for the item, batch and TransactGetItems operations.
It does not for PartiQL (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: never
returned), and answers TransactWriteItems with an empty list. It also answers UpdateItem,
BatchGetItem, BatchWriteItem and TransactWriteItems with ConsumedCapacity when not asked
(DynamoDB does not: the parameter's default is NONE); for those the comparison is with
moto's answer without that unasked key, which the option removes.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from botocore_otel import Instrumentor
from capacity_support import DYNAMODB, instrumented, totals
from telemetry import Telemetry

A = {"pk": {"S": "a"}}
C = {"pk": {"S": "c"}}
OPERATIONS: dict[str, Callable[[Any, dict[str, str]], Any]] = {
    "GetItem": lambda d, rcc: d.get_item(TableName="tb1", Key=A, **rcc),
    "PutItem": lambda d, rcc: d.put_item(TableName="tb1", Item={"pk": {"S": "n"}, "v": {"N": "1"}}, **rcc),
    "UpdateItem": lambda d, rcc: d.update_item(
        TableName="tb1",
        Key=A,
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
        ReturnValues="ALL_NEW",
        **rcc,
    ),
    "DeleteItem": lambda d, rcc: d.delete_item(TableName="tb1", Key=A, ReturnValues="ALL_OLD", **rcc),
    "Query": lambda d, rcc: d.query(
        TableName="tb1", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, **rcc
    ),
    "Scan": lambda d, rcc: d.scan(TableName="tb2", **rcc),
    "BatchGetItem": lambda d, rcc: d.batch_get_item(
        RequestItems={"tb1": {"Keys": [A]}, "tb2": {"Keys": [C]}}, **rcc
    ),
    "BatchWriteItem": lambda d, rcc: d.batch_write_item(
        RequestItems={
            "tb1": [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}],
            "tb2": [{"DeleteRequest": {"Key": C}}],
        },
        **rcc,
    ),
    "TransactGetItems": lambda d, rcc: d.transact_get_items(
        TransactItems=[{"Get": {"TableName": "tb1", "Key": A}}, {"Get": {"TableName": "tb2", "Key": C}}],
        **rcc,
    ),
    "TransactWriteItems": lambda d, rcc: d.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "tb1", "Item": {"pk": {"S": "t"}}}},
            {"Delete": {"TableName": "tb2", "Key": C}},
        ],
        **rcc,
    ),
    "ExecuteStatement": lambda d, rcc: d.execute_statement(Statement="SELECT * FROM tb1", **rcc),
    "BatchExecuteStatement": lambda d, rcc: d.batch_execute_statement(
        Statements=[{"Statement": "SELECT * FROM tb1 WHERE pk = 'a'"}], **rcc
    ),
    "ExecuteTransaction": lambda d, rcc: d.execute_transaction(
        TransactStatements=[{"Statement": "INSERT INTO tb1 VALUE {'pk': 'x'}"}], **rcc
    ),
}
MOTO_ANSWERS_UNASKED = {"UpdateItem", "BatchGetItem", "BatchWriteItem", "TransactWriteItems"}
NO_UNITS_ON_MOTO = {"TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}


def _call(moto: Any, session: Any, operation: str, rcc: dict[str, str]) -> dict[str, Any]:
    moto.reset()
    dynamodb = moto.client("dynamodb")  # not instrumented: the set-up is not counted
    for table in ("tb1", "tb2"):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    dynamodb.put_item(TableName="tb1", Item={**A, "v": {"N": "1"}})
    dynamodb.put_item(TableName="tb2", Item=C)
    result = OPERATIONS[operation](moto.client("dynamodb", session=session), rcc)
    result.pop("ResponseMetadata")
    return dict(result)


def _units(consumed: Any) -> float:
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    return sum(e["CapacityUnits"] for e in entries)


def _span_capacity(telemetry: Telemetry, operation: str) -> Any:
    (span,) = telemetry.spans(f"DynamoDB.{operation}")
    return span.attributes.get("aws.dynamodb.consumed_capacity")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_caller_sees_the_same_result_with_and_without_the_option(moto, operation):
    """The caller's result is what it is without the option; the span shows the figure as it
    does when the caller asks for it."""
    plain = _call(moto, instrumented(Telemetry()), operation, {})
    asking = Telemetry()
    asked = _call(moto, instrumented(asking), operation, {"ReturnConsumedCapacity": "TOTAL"})
    telemetry = Telemetry()
    session = instrumented(telemetry, dynamodb_consumed_capacity=True)
    with_option = _call(moto, session, operation, {})
    sent = moto.last_request().json()
    Instrumentor().uninstrument(session)

    assert sent["ReturnConsumedCapacity"] == "TOTAL", "the option asked DynamoDB"
    if operation in MOTO_ANSWERS_UNASKED:
        assert plain.pop("ConsumedCapacity") is not None
    assert with_option == plain
    assert _span_capacity(telemetry, operation) == _span_capacity(asking, operation)
    if asked.get("ConsumedCapacity"):
        assert _span_capacity(telemetry, operation) is not None
    counted = sum(v for k, v in totals(telemetry, DYNAMODB).items() if ("rpc.method", operation) in k)
    if operation in NO_UNITS_ON_MOTO:
        assert not _units(asked.get("ConsumedCapacity")), "moto answers no units here"
        assert counted == 0
    else:
        assert _units(asked["ConsumedCapacity"]) > 0
        assert counted == _units(asked["ConsumedCapacity"])


@pytest.mark.parametrize("value", ["INDEXES", "NONE", "TOTAL"])
def test_a_caller_who_asked_keeps_what_it_asked_for(moto, value):
    plain = _call(moto, instrumented(Telemetry()), "GetItem", {"ReturnConsumedCapacity": value})
    telemetry = Telemetry()
    session = instrumented(telemetry, dynamodb_consumed_capacity=True)
    with_option = _call(moto, session, "GetItem", {"ReturnConsumedCapacity": value})
    assert moto.last_request().json()["ReturnConsumedCapacity"] == value
    Instrumentor().uninstrument(session)
    assert with_option == plain
    assert ("ConsumedCapacity" in with_option) is (value != "NONE")


def test_without_the_option_nothing_is_asked(moto):
    _call(moto, instrumented(Telemetry()), "GetItem", {})
    assert "ReturnConsumedCapacity" not in moto.last_request().json()


def test_only_calls_the_instrumentation_follows_are_changed(moto):
    session = instrumented(Telemetry(), dynamodb_consumed_capacity=True, skip_services=["dynamodb"])
    assert "ConsumedCapacity" not in _call(moto, session, "GetItem", {})
    assert "ReturnConsumedCapacity" not in moto.last_request().json()


def test_a_parameters_dict_passed_again_is_still_the_callers(moto):
    """A caller that passes one dict to ``_make_api_call`` more than once (PynamoDB calls
    botocore so) gets it back as it passed it: the next call does not look as if it asked."""
    _call(moto, instrumented(Telemetry()), "GetItem", {})  # the tables, uninstrumented
    telemetry = Telemetry()
    session = instrumented(telemetry, dynamodb_consumed_capacity=True)
    dynamodb = moto.client("dynamodb", session=session)
    params = {"TableName": "tb1", "Key": A}
    for _ in range(2):
        assert "ConsumedCapacity" not in dynamodb._make_api_call("GetItem", params)
        assert params == {"TableName": "tb1", "Key": A}
        assert moto.last_request().json()["ReturnConsumedCapacity"] == "TOTAL"
    with Stubber(dynamodb) as stubber:  # answers at before-call: given back at after-call
        stubber.add_response("get_item", {}, {"TableName": "tb1", "Key": A})
        dynamodb._make_api_call("GetItem", params)
    assert params == {"TableName": "tb1", "Key": A}
    with socket.socket() as closed:  # no answer, no after-call: given back at before-call
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(EndpointConnectionError):
        moto.client("dynamodb", session=session, endpoint_url=unreachable)._make_api_call("GetItem", params)
    assert params == {"TableName": "tb1", "Key": A}
    Instrumentor().uninstrument(session)
    assert sum(totals(telemetry, DYNAMODB).values()) == 2 * 0.5


def test_a_parameters_dict_refused_by_validation_then_passed_again_is_still_the_callers(moto):
    """A call refused before it is sent (ParamValidationError: no before-call, no after-call)
    leaves our ReturnConsumedCapacity in the caller's dict; passed again, it is still ours."""
    import contextlib

    from botocore.exceptions import ParamValidationError
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    _call(moto, instrumented(Telemetry()), "GetItem", {})  # the tables, uninstrumented
    session = instrumented(Telemetry(), dynamodb_consumed_capacity=True)
    dynamodb = moto.client("dynamodb", session=session)
    for suppressed in (False, True):
        params: dict[str, Any] = {"TableName": "tb1", "Key": "not a map"}
        with pytest.raises(ParamValidationError):
            dynamodb._make_api_call("GetItem", params)
        params["Key"] = A  # the caller corrects its mistake
        with suppress_instrumentation() if suppressed else contextlib.nullcontext():
            assert "ConsumedCapacity" not in dynamodb._make_api_call("GetItem", params)
        assert params == {"TableName": "tb1", "Key": A}
        assert ("ReturnConsumedCapacity" in moto.last_request().json()) is not suppressed
    Instrumentor().uninstrument(session)


def test_the_callers_own_after_call_handlers_see_the_result_without_ours(moto):
    """Handlers of the caller's on after-call (the operation's own event runs before the
    service's, where ours would be) see the result as the caller gets it."""
    _call(moto, instrumented(Telemetry()), "GetItem", {})  # the tables, uninstrumented
    telemetry = Telemetry()
    session = instrumented(telemetry, dynamodb_consumed_capacity=True)
    dynamodb = moto.client("dynamodb", session=session)
    seen: list[bool] = []

    def callers_handler(parsed: dict[str, Any], **_: Any) -> None:
        seen.append("ConsumedCapacity" in parsed)

    for event in ("after-call.dynamodb.GetItem", "after-call.dynamodb", "after-call"):
        dynamodb.meta.events.register_first(event, callers_handler)
    result = dynamodb.get_item(TableName="tb1", Key=A)
    Instrumentor().uninstrument(session)
    assert "ConsumedCapacity" not in result
    assert seen == [False, False, False]
    assert moto.last_request().json()["ReturnConsumedCapacity"] == "TOTAL"
    assert _span_capacity(telemetry, "GetItem") == ('{"CapacityUnits":0.5,"TableName":"tb1"}',)
    assert sum(totals(telemetry, DYNAMODB).values()) == 0.5
