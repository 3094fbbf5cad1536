"""Rules built in code (``Rule``, ``ResponseSpec``, ``ErrorSpec``, ``SyntheticResponder``):
the same checks as a rules file, and the file's shorthands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from botocore_otel import Instrumentor
from botocore_otel.errors import ConfigError
from botocore_otel.synthetic import ErrorSpec, ResponseSpec, Rule, SyntheticResponder
from telemetry import Telemetry
from tests.scripted_http import Reply, ScriptedServer, client_for, scripted_server


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server(lambda _i, _r: Reply(200, b"{}")) as running:
        yield running


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def instrumented(telemetry: Telemetry, synthetic: Any) -> Any:
    session = boto3.session.Session()
    Instrumentor().instrument(session, synthetic=synthetic, **telemetry.providers)
    return session


def test_a_rule_built_directly_selects_calls(server: ScriptedServer, telemetry: Telemetry) -> None:
    item = {"Item": {"k": {"S": "synthetic"}}}
    direct = Rule("direct", "dynamodb.GetItem", response=ResponseSpec(data=item))
    created = Rule.create("created", "dynamodb.PutItem")
    session = instrumented(telemetry, SyntheticResponder([direct, created]))
    try:
        ddb = client_for(session, "dynamodb", server.url)
        assert ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})["Item"] == item["Item"]
        ddb.put_item(TableName="tbl", Item={"k": {"S": "v"}})
    finally:
        Instrumentor().uninstrument(session)
    assert server.received == []
    rules = [span.attributes["botocore_otel.synthetic.rule"] for span in telemetry.aws_spans()]
    assert rules == ["direct", "created"]


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"rate": 1.5}, "rate"),
        ({"decision": "sometimes"}, "decision"),
        ({"fixed_target": -1}, "fixed_target"),
        ({"match": "GetItem"}, "match"),
    ],
)
def test_a_rule_built_directly_refuses_bad_values(kwargs: dict[str, Any], setting: str) -> None:
    values = {"name": "r", "match": "dynamodb.GetItem", **kwargs}
    with pytest.raises(ConfigError) as raised:
        Rule(**values)
    assert raised.value.setting == f"synthetic[rule 'r'].{setting}"


@pytest.mark.parametrize(
    ("make", "setting", "allowed"),
    [
        (lambda: ResponseSpec(error="ThrottlingException"), "ResponseSpec.error", "ErrorSpec"),  # type: ignore[arg-type]
        (lambda: ResponseSpec(fill="everything"), "ResponseSpec.fill", "'all'"),
        (lambda: ResponseSpec(body_size=-5), "ResponseSpec.body_size", "from 0"),
        (lambda: ResponseSpec(latency=-1), "ResponseSpec.latency", "0"),  # type: ignore[arg-type]
        (lambda: ResponseSpec(data_by_operation=None), "ResponseSpec.data_by_operation", "mapping"),  # type: ignore[arg-type]
        (lambda: ResponseSpec(llm="bogus"), "ResponseSpec.llm", "LLMSpec"),
        (lambda: ResponseSpec(llm={"tokens": -5}), "ResponseSpec.llm.tokens", "0 to"),
        (lambda: ErrorSpec("Throttling", status=200), "ErrorSpec.status", "400 to 599"),
        (lambda: ErrorSpec("no spaces allowed"), "ErrorSpec.code", "AWS error code"),
        (lambda: ErrorSpec("Throttling", rate=2), "ErrorSpec.rate", "between 0 and 1"),
        (
            lambda: SyntheticResponder([Rule("r", "elbv2.*")]),
            "synthetic[rule 'r'].match",
            "'elastic-load-balancing-v2'",
        ),
        (
            lambda: SyntheticResponder([Rule("r", "dynamodb.GetItems")]),
            "synthetic[rule 'r'].match",
            "GetItem",
        ),
        (
            lambda: SyntheticResponder(
                [Rule("r", "dynamodb.*", response=ResponseSpec(data_by_operation={"s3.GetObject": {}}))]
            ),
            "synthetic[rule 'r'].response.data_by_operation.s3.GetObject",
            "matched by",
        ),
        (
            lambda: SyntheticResponder([Rule("r", "*"), Rule("r", "s3.*")]),
            "synthetic[rule 'r'].name",
            "no other",
        ),
        (lambda: SyntheticResponder([{"name": "r", "match": "s3.*"}]), "synthetic[0]", "from_config"),  # type: ignore[list-item]
    ],
)
def test_rules_built_in_code_are_checked_as_a_rules_file_is(make: Any, setting: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make()
    assert raised.value.setting.startswith(setting)
    assert allowed in raised.value.allowed


def test_a_rule_built_in_code_takes_the_rules_files_shorthands(
    server: ScriptedServer, telemetry: Telemetry
) -> None:
    item = {"Item": {"k": {"S": "short key"}}}
    spec = ResponseSpec(data_by_operation={"GetItem": item}, latency=0.001)  # type: ignore[arg-type]
    session = instrumented(telemetry, SyntheticResponder([Rule("short", "dynamodb.*", response=spec)]))
    try:
        answer = client_for(session, "dynamodb", server.url).get_item(TableName="tbl", Key={"k": {"S": "v"}})
    finally:
        Instrumentor().uninstrument(session)
    assert answer["Item"] == item["Item"]
    assert server.received == []
