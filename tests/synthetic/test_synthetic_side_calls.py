"""Calls botocore makes on behalf of a call a rule selected (endpoint discovery, S3 Express
sessions, S3's region redirect, an assume-role profile's STS call) are answered too: no byte
leaves for AWS. The calls of a call the rules passed over are left alone.

Every non-loopback connect and DNS lookup is refused and recorded: what reached for AWS shows.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import parsers
from botocore.config import Config
from botocore.endpoint import convert_to_response_dict
from botocore.exceptions import ClientError, ParamValidationError

from botocore_otel import Instrumentor
from botocore_otel.synthetic import Rule, SyntheticResponder
from botocore_otel.synthetic.shapes import protocol_of
from tests.scripted_http import Reply, client_for, scripted_server

RECORDS = [
    {"Dimensions": [{"Name": "a", "Value": "b"}], "MeasureName": "m", "MeasureValue": "1", "Time": "1"}
]


class NetworkGuard:
    """Refuses every connection and DNS lookup to anything but 127.0.0.1, recording them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached: list[object] = []
        real_lookup, real_connect = socket.getaddrinfo, socket.socket.connect

        def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in ("127.0.0.1", "localhost"):
                self.reached.append(host)
                raise socket.gaierror(f"test guard: no lookup of {host!r}")
            return real_lookup(host, *args, **kwargs)

        def connect(sock: socket.socket, address: Any) -> None:
            if isinstance(address, tuple) and address[0] != "127.0.0.1":
                self.reached.append(address)
                raise ConnectionRefusedError(f"test guard: no connection to {address!r}")
            real_connect(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", lookup)
        monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    return NetworkGuard(monkeypatch)


@pytest.fixture
def session_with() -> Iterator[Any]:
    sessions: list[Any] = []

    def make(rules: Any, **kwargs: Any) -> Any:
        session = boto3.session.Session(region_name="us-east-1", **kwargs)
        Instrumentor().instrument(session, synthetic=rules)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        Instrumentor().uninstrument(session)


def synthetic_rule(response: Any) -> str:
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-botocore-otel-synthetic"])


@pytest.mark.parametrize("match", ["timestream-write.WriteRecords", "timestream-write.*"])
def test_required_endpoint_discovery_of_a_selected_call_is_answered(
    match: str, guard: NetworkGuard, session_with: Any
) -> None:
    session = session_with([{"name": "writes", "match": match}])
    client = session.client("timestream-write")
    for _ in range(2):  # the synthetic endpoint is not cached: discovered again, answered again
        answer = client.write_records(DatabaseName="d", TableName="t", Records=RECORDS)
        assert synthetic_rule(answer) == "writes"
    assert guard.reached == []


def test_opt_in_endpoint_discovery_of_a_selected_call_is_answered(
    guard: NetworkGuard, session_with: Any
) -> None:
    session = session_with([{"name": "gets", "match": "dynamodb.GetItem"}])
    client = session.client("dynamodb", config=Config(endpoint_discovery_enabled=True))
    answer = client.get_item(TableName="tbl", Key={"k": {"S": "v"}})
    assert synthetic_rule(answer) == "gets"
    assert guard.reached == []


@pytest.mark.parametrize("match", ["s3.GetObject", "s3.*"])
def test_the_s3_express_session_of_a_selected_call_is_answered(
    match: str, guard: NetworkGuard, session_with: Any
) -> None:
    session = session_with([{"name": "express", "match": match}])
    client = session.client("s3", region_name="us-west-2")
    answer = client.get_object(Bucket="bucket--usw2-az1--x-s3", Key="k")
    assert answer["Body"].read() == b"x" * 1024
    assert guard.reached == []


@pytest.mark.parametrize("code", ["PermanentRedirect", "IllegalLocationConstraintException"])
def test_the_region_redirect_of_a_synthetic_s3_error_is_answered(
    code: str, guard: NetworkGuard, session_with: Any
) -> None:
    session = session_with([{"name": "moved", "match": "s3.GetObject", "response": {"error": code}}])
    with pytest.raises(ClientError) as raised:
        session.client("s3").get_object(Bucket="bucket", Key="k")
    assert raised.value.response["Error"]["Code"] == code
    assert guard.reached == []


def test_the_assume_role_call_of_a_selected_calls_credentials_is_answered(
    guard: NetworkGuard, session_with: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile base]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=secret\n"
        "[profile role]\nrole_arn=arn:aws:iam::123456789012:role/r\nsource_profile=base\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    session = session_with([{"name": "tables", "match": "dynamodb.ListTables"}], profile_name="role")
    answer = session.client("dynamodb").list_tables()
    assert synthetic_rule(answer) == "tables"
    assert guard.reached == []
    assert session.get_credentials().get_frozen_credentials().access_key.startswith("ASIA")


def test_the_side_calls_of_a_call_the_rules_pass_over_go_to_aws(
    guard: NetworkGuard, session_with: Any
) -> None:
    session = session_with([{"name": "never", "match": "timestream-write.WriteRecords", "rate": 0.0}])
    client = session.client("timestream-write", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(Exception):  # noqa: B017 - the guard refuses: discovery fails one way or another
        client.write_records(DatabaseName="d", TableName="t", Records=RECORDS)
    assert guard.reached  # the discovery call went for AWS, as without synthetic rules


def test_a_selected_call_that_failed_before_sending_leaves_later_calls_alone(session_with: Any) -> None:
    session = session_with([{"name": "tables", "match": "dynamodb.ListTables"}])
    with scripted_server(lambda _i, _r: Reply()) as server:
        ddb = client_for(session, "dynamodb", server.url)
        # selected as it starts, then refused by botocore's parameter check: no after-call
        with pytest.raises(ParamValidationError) as raised:
            ddb.list_tables(Limit="not a number")
        ddb.describe_limits()  # kept alive by the exception still held, not in flight any more
        del raised
        ddb.describe_limits()
    assert len(server.received) == 2


@pytest.mark.parametrize("before", ["a nested call that failed its parameter check", "a presigned url"])
def test_a_call_nested_in_a_selected_call_is_answered_after_a_mark_left_inside_it(
    session_with: Any, before: str
) -> None:
    """Inside a selected call, an earlier nested call left its mark (no after-call: botocore
    refused its parameters, or it only made a presigned URL): a later nested call is still made
    on the selected call's behalf, never sent."""
    session = session_with([{"name": "tables", "match": "dynamodb.ListTables"}])
    answered_by: list[str] = []
    with scripted_server(lambda _i, _r: Reply()) as server:
        side = client_for(session, "dynamodb", server.url)
        selected = client_for(session, "dynamodb", server.url)

        def inside(**_: Any) -> None:
            if before.startswith("a nested call"):
                with pytest.raises(ParamValidationError):
                    side.get_item(TableName="tbl", Key="not a map")
            else:
                side.generate_presigned_url("describe_limits")
            limits = side.describe_limits()
            answered_by.append(limits["ResponseMetadata"]["HTTPHeaders"].get("x-botocore-otel-synthetic", ""))

        selected.meta.events.register("before-call.dynamodb.ListTables", inside)
        selected.list_tables()
        selected.meta.events.unregister("before-call.dynamodb.ListTables", inside)
        side.describe_limits()  # the selected call is over: to the server
    assert answered_by == ["tables"]
    assert len(server.received) == 1


def parsed_answer(service: str, operation: str, rule: Rule, responder: Any = None) -> dict[str, Any]:
    """The answer ``rule`` (of ``responder``, if given) gives ``service.operation``, parsed by
    botocore's parser."""
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    answer = (responder or SyntheticResponder([rule])).answer(service, model, {}, 0)
    assert answer is not None
    parser = parsers.create_parser(protocol_of(model))
    parsed: dict[str, Any] = parser.parse(
        convert_to_response_dict(answer.response, model), model.output_shape
    )
    return parsed


@pytest.mark.parametrize(
    ("service", "operation", "read", "refreshed_before"),
    [
        ("sts", "AssumeRole", lambda r: r["Credentials"]["Expiration"].timestamp(), 15 * 60),
        ("sts", "GetSessionToken", lambda r: r["Credentials"]["Expiration"].timestamp(), 15 * 60),
        ("s3", "CreateSession", lambda r: r["Credentials"]["Expiration"].timestamp(), 45),
        ("sso", "GetRoleCredentials", lambda r: r["roleCredentials"]["expiration"] / 1000, 15 * 60),
    ],
)
def test_generated_credentials_are_used_then_refreshed_within_about_a_minute(
    service: str, operation: str, read: Any, refreshed_before: int
) -> None:
    """botocore keeps them where calls no rule selects are signed with them too: they must
    outlast its refresh window (or it would refresh at every call) and be refreshed soon after,
    from AWS for a call the rules pass over. Each answer has its own expiry."""
    rule = Rule("creds", f"{service}.*")
    responder = SyntheticResponder([rule])
    first = read(parsed_answer(service, operation, rule, responder))
    time.sleep(0.01)
    again = read(parsed_answer(service, operation, rule, responder))
    now = time.time()
    assert now + refreshed_before < first <= now + refreshed_before + 75
    assert again > first


def test_a_generated_endpoint_discovery_answer_has_one_endpoint() -> None:
    parsed = parsed_answer("dynamodb", "DescribeEndpoints", Rule("all", "dynamodb.*"))
    (endpoint,) = parsed["Endpoints"]
    assert endpoint["Address"] and endpoint["CachePeriodInMinutes"] == 0
