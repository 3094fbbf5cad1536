"""End to end through real boto3 clients instrumented with ``instrument(client, synthetic=...)``;
the endpoint is a closed 127.0.0.1 port, so any call that escaped would fail."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from synthetic_helpers import closed_port

from botocore_otel import Instrumentor
from botocore_otel.synthetic import SyntheticResponder, responses
from tests.support.optional import require_module

PORT = closed_port()
CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}
QUEUE_URL = f"http://127.0.0.1:{PORT}/123456789012/q"


def _cbor_call() -> tuple[str, str]:
    """A smithy-rpc-v2-cbor service and one of its operations that needs no input."""
    session = botocore.session.Session()
    for name in session.get_available_services():
        model = session.get_service_model(name)
        if model.resolved_protocol != "smithy-rpc-v2-cbor":
            continue
        for op in model.operation_names:
            shape = model.operation_model(op).input_shape
            if shape is None or not shape.required_members:
                return name, op
    pytest.skip("this botocore has no smithy-rpc-v2-cbor service")


class Calls:
    """Clients instrumented with ``instrument(client, synthetic=responder)``; counts the sends."""

    def __init__(self) -> None:
        self.sends = 0
        self.clients: list[Any] = []

    def count(self, **_: Any) -> None:
        self.sends += 1

    def client(self, service: str, responder: SyntheticResponder, attempts: int = 1) -> Any:
        retries = {"mode": "standard", "total_max_attempts": attempts}
        config = botocore.config.Config(retries=retries)
        client = boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{PORT}",
            config=config,
            **CREDENTIALS,
        )
        client.meta.events.register("before-send", self.count)  # only counts: returns None
        Instrumentor().instrument(client, synthetic=responder)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            Instrumentor().uninstrument(client)


@pytest.fixture
def calls() -> Iterator[Calls]:
    made = Calls()
    yield made
    made.close()


def _everything(**response: Any) -> SyntheticResponder:
    return SyntheticResponder.from_config([{"name": "all", "match": "*", "response": response}], seed=7)


SUCCESS_CALLS: list[tuple[str, str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("dynamodb", "get_item", {"TableName": "t", "Key": {"k": {"S": "v"}}}, lambda r: True),
    ("dynamodb", "put_item", {"TableName": "t", "Item": {"k": {"S": "v"}}}, lambda r: True),
    ("dynamodb", "query", {"TableName": "t"}, lambda r: r["Items"] == []),
    ("s3", "put_object", {"Bucket": "b", "Key": "k", "Body": b"data"}, lambda r: True),
    ("s3", "get_object", {"Bucket": "b", "Key": "k"}, lambda r: len(r["Body"].read()) == 1024),
    ("s3", "list_objects_v2", {"Bucket": "b"}, lambda r: True),
    ("sqs", "send_message", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, lambda r: True),
    ("sqs", "receive_message", {"QueueUrl": QUEUE_URL}, lambda r: r["Messages"] == []),
    ("sts", "get_caller_identity", {}, lambda r: True),
    ("ec2", "describe_instances", {}, lambda r: r["Reservations"] == []),
    ("lambda", "list_functions", {}, lambda r: r["Functions"] == []),
    (
        "cloudwatch",
        "get_metric_data",
        {"MetricDataQueries": [], "StartTime": 0, "EndTime": 1},
        lambda r: True,
    ),
]


@pytest.mark.parametrize(("service", "method", "kwargs", "check"), SUCCESS_CALLS)
def test_success_without_network(
    calls: Calls, service: str, method: str, kwargs: dict[str, Any], check: Callable[[Any], bool]
) -> None:
    result = getattr(calls.client(service, _everything()), method)(**kwargs)
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(result["ResponseMetadata"]["RequestId"]) == 36
    assert check(result)
    assert calls.sends == 1


@pytest.mark.parametrize("validation", ["when_supported", "when_required"])
def test_a_get_object_with_every_member_generated_can_be_read_and_downloaded(
    calls: Calls, validation: str, tmp_path: Any
) -> None:
    # Generated checksum headers would fail botocore's check of the body; s3transfer parses
    # ContentRange.
    client = calls.client("s3", _everything(fill="all", body_size=100))
    client.meta.config.response_checksum_validation = validation
    answer = client.get_object(Bucket="b", Key="k", ChecksumMode="ENABLED")
    assert answer["ContentRange"] == "bytes 0-99/100"
    assert answer["Body"].read() == b"x" * 100
    target = tmp_path / "object"
    client.download_file("b", "k", str(target))
    assert target.exists()


def test_cbor_service(calls: Calls) -> None:
    service, operation = _cbor_call()
    client = calls.client(service, _everything())
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    result = getattr(client, xform_name(operation))()
    headers = result["ResponseMetadata"]["HTTPHeaders"]
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["content-type"] == "application/cbor"


def test_given_data_and_fill_all(calls: Calls) -> None:
    responder = SyntheticResponder.from_config(
        [
            {
                "name": "item",
                "match": "dynamodb.GetItem",
                "response": {"data": {"Item": {"id": {"S": "42"}, "n": {"N": "7"}}}},
            },
            {"name": "who", "match": "sts.GetCallerIdentity", "response": {"fill": "all"}},
            {"name": "s3", "match": "s3.*", "response": {"data": {"GetObject": {"Body": "hi"}}}},
        ]
    )
    item = calls.client("dynamodb", responder).get_item(TableName="t", Key={})
    assert item["Item"] == {"id": {"S": "42"}, "n": {"N": "7"}}
    assert calls.client("sts", responder).get_caller_identity()["Account"] == "Account"
    body = calls.client("s3", responder).get_object(Bucket="b", Key="k")["Body"].read()
    assert body == b"hi"


def test_callable_data(calls: Calls) -> None:
    def data(params: Any) -> dict[str, Any]:
        return {"Item": {"calls": {"N": str(calls.sends)}}}

    responder = SyntheticResponder.from_config(
        [{"name": "fn", "match": "dynamodb.GetItem", "response": {"data": data}}]
    )
    client = calls.client("dynamodb", responder)
    assert client.get_item(TableName="t", Key={})["Item"] == {"calls": {"N": "1"}}
    assert client.get_item(TableName="t", Key={})["Item"] == {"calls": {"N": "2"}}


def test_unmatched_call_goes_to_the_network(calls: Calls) -> None:
    responder = SyntheticResponder.from_config([{"name": "s3", "match": "s3.*"}])
    client = calls.client("dynamodb", responder)
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        client.get_item(TableName="t", Key={})


ERRORS: list[tuple[str, str, dict[str, Any], str, int]] = [
    ("dynamodb", "get_item", {"TableName": "t", "Key": {}}, "ResourceNotFoundException", 400),
    ("sqs", "send_message", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, "QueueDoesNotExist", 400),
    ("lambda", "list_functions", {}, "ResourceNotFoundException", 404),
    ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "NoSuchKey", 404),
    ("route53", "list_hosted_zones", {}, "InvalidInput", 400),
    ("sts", "get_caller_identity", {}, "ExpiredToken", 400),
    ("ec2", "describe_instances", {}, "InvalidInstanceID.NotFound", 400),
    ("cloudwatch", "list_metrics", {}, "InvalidParameterValue", 400),
]


@pytest.mark.parametrize(("service", "method", "kwargs", "code", "status"), ERRORS)
def test_error_per_protocol(
    calls: Calls, service: str, method: str, kwargs: dict[str, Any], code: str, status: int
) -> None:
    responder = _everything(error={"code": code, "status": status, "message": "boom"})
    with pytest.raises(ClientError) as caught:
        getattr(calls.client(service, responder), method)(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == code
    assert error["Message"] == "boom"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_cbor_error(calls: Calls) -> None:
    service, operation = _cbor_call()
    responder = _everything(error="ThrottlingException")
    with pytest.raises(ClientError) as caught:
        getattr(calls.client(service, responder), xform_name(operation))()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"


@pytest.mark.parametrize(
    ("service", "method", "kwargs", "code", "status"),
    [
        ("dynamodb", "get_item", {"TableName": "t", "Key": {}}, "ThrottlingException", 400),
        ("sts", "get_caller_identity", {}, "Throttling", 400),
        ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "InternalError", 500),
        ("lambda", "list_functions", {}, "ServiceException", 503),
    ],
)
def test_throttles_and_5xx_are_retried(
    calls: Calls, service: str, method: str, kwargs: dict[str, Any], code: str, status: int
) -> None:
    responder = _everything(error={"code": code, "status": status})
    with pytest.raises(ClientError) as caught:
        getattr(calls.client(service, responder, attempts=2), method)(**kwargs)
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert calls.sends == 2


def test_partial_error_rate_then_success(calls: Calls) -> None:
    responder = _everything(error={"code": "ThrottlingException", "rate": 0.5})
    client = calls.client("dynamodb", responder, attempts=10)
    results = [client.get_item(TableName="t", Key={}) for _ in range(3)]
    assert all(r["ResponseMetadata"]["HTTPStatusCode"] == 200 for r in results)
    assert calls.sends >= 3


# --- aiobotocore -----------------------------------------------------------------


def test_is_async_without_aiobotocore_returns_plain_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiobotocore.awsrequest", None)  # import fails
    monkeypatch.setattr(responses, "_aio_checked", False)
    operation = botocore.session.Session().get_service_model("dynamodb").operation_model("GetItem")
    answer = _everything().answer("dynamodb", operation, None, 0, is_async=True)
    assert answer is not None
    assert type(answer.response) is AWSResponse
    assert answer.response.content == b"{}"
    monkeypatch.setattr(responses, "_aio_checked", False)


@pytest.fixture
def aio_session() -> Iterator[Any]:
    aio = require_module("aiobotocore.session", "pip install -e '.[aio]'")
    responses._aio_checked = False
    yield aio.get_session()
    responses._aio_checked = False


def test_aiobotocore_end_to_end(aio_session: Any) -> None:
    import asyncio

    responder = _everything(body_size=3000)
    errors = SyntheticResponder.from_config(
        [{"name": "e", "match": "*", "response": {"error": "ResourceNotFoundException"}}]
    )

    async def run() -> None:
        endpoint = f"http://127.0.0.1:{PORT}"
        async with aio_session.create_client(
            "s3", region_name="us-east-1", endpoint_url=endpoint, **CREDENTIALS
        ) as s3:
            Instrumentor().instrument(s3, synthetic=responder)
            try:
                result = await s3.get_object(Bucket="b", Key="k")
                async with result["Body"] as body:
                    assert len(await body.read()) == 3000
                listed = await s3.list_objects_v2(Bucket="b")
                assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
            finally:
                Instrumentor().uninstrument(s3)
        async with aio_session.create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=endpoint, **CREDENTIALS
        ) as ddb:
            Instrumentor().instrument(ddb, synthetic=errors)
            try:
                with pytest.raises(ClientError) as caught:
                    await ddb.get_item(TableName="t", Key={})
                assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
            finally:
                Instrumentor().uninstrument(ddb)

    asyncio.run(run())
