"""Validation of rules (lists and files): every problem is a ConfigError naming the
rule and the key; unknown services/operations get a suggestion."""

from __future__ import annotations

import contextlib
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botocore_otel.errors import ConfigError
from botocore_otel.synthetic import SyntheticResponder, check_rules_file
from botocore_otel.synthetic.catalog import Catalog


def error_for(rules: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        SyntheticResponder.from_config(rules)
    return caught.value


def rule(**overrides: Any) -> dict[str, Any]:
    return {"name": "r1", "match": "dynamodb.GetItem", **overrides}


BAD: list[tuple[Any, str, str]] = [
    # (rules, expected setting, text in message)
    (42, "synthetic", "list of rules"),
    ({"rulez": []}, "synthetic.rulez", "rules"),
    (["x"], "synthetic[0]", "mapping"),
    ([{"match": "*"}], "synthetic[0].name", "non-empty string"),
    ([rule(), rule()], "synthetic[1].name", "no other rule"),
    ([rule(mtach="*")], "synthetic[rule 'r1'].mtach", "did you mean 'match'"),
    ([{"name": "r1"}], "synthetic[rule 'r1'].match", "service.Operation"),
    ([rule(match=3)], "synthetic[rule 'r1'].match", "service.Operation"),
    ([rule(match="dynamodb")], "synthetic[rule 'r1'].match", "service.Operation"),
    ([rule(match="a.b.c")], "synthetic[rule 'r1'].match", "service.Operation"),
    ([rule(match="dynamodb.Get[Item")], "synthetic[rule 'r1'].match", "balanced"),
    ([rule(match="dynamodb.Get Item")], "synthetic[rule 'r1'].match", "service.Operation"),
    (
        [rule(match="elbv2.DescribeLoadBalancers")],
        "synthetic[rule 'r1'].match",
        "did you mean 'elastic-load-balancing-v2'",
    ),
    ([rule(match="dynamdb.GetItem")], "synthetic[rule 'r1'].match", "did you mean 'dynamodb'"),
    ([rule(match="logs.PutLogEvents")], "synthetic[rule 'r1'].match", "did you mean 'cloudwatch-logs'"),
    ([rule(match="dynamodb.GetItems")], "synthetic[rule 'r1'].match", "dynamodb.GetItem?"),
    ([rule(match="dynamodb.Foo*")], "synthetic[rule 'r1'].match", "glob matching some operation"),
    ([rule(match="zzz*.Get")], "synthetic[rule 'r1'].match", "installed service"),
    ([rule(rate=1.5)], "synthetic[rule 'r1'].rate", "between 0 and 1"),
    ([rule(rate=-0.1)], "synthetic[rule 'r1'].rate", "between 0 and 1"),
    ([rule(rate="0.5")], "synthetic[rule 'r1'].rate", "between 0 and 1"),
    ([rule(rate=True)], "synthetic[rule 'r1'].rate", "between 0 and 1"),
    ([rule(rate=float("nan"))], "synthetic[rule 'r1'].rate", "between 0 and 1"),
    ([rule(fixed_target=-1)], "synthetic[rule 'r1'].fixed_target", "integer"),
    ([rule(fixed_target=1.5)], "synthetic[rule 'r1'].fixed_target", "integer"),
    ([rule(decision="span")], "synthetic[rule 'r1'].decision", "'trace' or 'call'"),
    ([rule(response=[])], "synthetic[rule 'r1'].response", "mapping"),
    ([rule(response={"dta": {}})], "synthetic[rule 'r1'].response.dta", "did you mean 'data'"),
    ([rule(response={"fill": "some"})], "synthetic[rule 'r1'].response.fill", "'required'"),
    ([rule(response={"body_size": -1})], "synthetic[rule 'r1'].response.body_size", "integer"),
    ([rule(response={"error": {}})], "synthetic[rule 'r1'].response.error.code", "error code"),
    ([rule(response={"error": 5})], "synthetic[rule 'r1'].response.error", "error code"),
    (
        [rule(response={"error": {"code": "X", "status": 200}})],
        "synthetic[rule 'r1'].response.error.status",
        "400 to 599",
    ),
    (
        [rule(response={"error": {"code": "X", "rate": 2}})],
        "synthetic[rule 'r1'].response.error.rate",
        "between 0 and 1",
    ),
    (
        [rule(response={"error": {"code": "X", "retry": 1}})],
        "synthetic[rule 'r1'].response.error.retry",
        "code, status, message, rate",
    ),
    ([rule(response={"latency": -1})], "synthetic[rule 'r1'].response.latency", "from 0 to 3600"),
    ([rule(response={"latency": "1s"})], "synthetic[rule 'r1'].response.latency", "seconds"),
    (
        [rule(response={"latency": {"distribution": "pareto"}})],
        "synthetic[rule 'r1'].response.latency.distribution",
        "uniform",
    ),
    (
        [rule(response={"latency": {"distribution": "uniform", "min": 1}})],
        "synthetic[rule 'r1'].response.latency.max",
        "required",
    ),
    (
        [rule(response={"latency": {"distribution": "uniform", "min": 2, "max": 1}})],
        "synthetic[rule 'r1'].response.latency.max",
        ">= min",
    ),
    (
        [rule(response={"latency": {"distribution": "normal", "mean": 1, "stddev": 1, "x": 1}})],
        "synthetic[rule 'r1'].response.latency.x",
        "one of",
    ),
    (
        [rule(response={"data": {"Itme": {}}})],
        "synthetic[rule 'r1'].response.data.Itme",
        "did you mean 'Item'",
    ),
    ([rule(response={"data": {"Item": []}})], "synthetic[rule 'r1'].response.data.Item", "mapping"),
    (
        [rule(response={"data": {"Item": {"k": {"N": 5}}}})],
        "synthetic[rule 'r1'].response.data.Item.k.N",
        "a string",
    ),
    ([rule(response={"data": []})], "synthetic[rule 'r1'].response.data", "mapping"),
    (
        [rule(match="dynamodb.*", response={"data": {"GetItm": {}}})],
        "synthetic[rule 'r1'].response.data.GetItm",
        "did you mean 'GetItem'",
    ),
    (
        [rule(match="dynamodb.*", response={"data": []})],
        "synthetic[rule 'r1'].response.data",
        "mapping of operation",
    ),
    (
        [rule(match="*", response={"data": {"GetItem": {}}})],
        "synthetic[rule 'r1'].response.data.GetItem",
        "'service.Operation'",
    ),
    (
        [rule(match="dynamodb.Get*", response={"data": {"PutItem": {}}})],
        "synthetic[rule 'r1'].response.data.PutItem",
        "matched by",
    ),
    (
        [rule(match="s3.*", response={"data": {"dynamodb.GetItem": {}}})],
        "synthetic[rule 'r1'].response.data.dynamodb.GetItem",
        "matched by",
    ),
    (
        [rule(match="dynamodb.DescribeTable", response={"data": {"Table": {"CreationDateTime": "x"}}})],
        "synthetic[rule 'r1'].response.data.Table.CreationDateTime",
        "timestamp",
    ),
    (
        [rule(match="sts.GetCallerIdentity", response={"data": {"Account": 1}})],
        "synthetic[rule 'r1'].response.data.Account",
        "a string",
    ),
]


@pytest.mark.parametrize(("rules", "setting", "text"), BAD)
def test_bad_input_names_rule_and_key(rules: Any, setting: str, text: str) -> None:
    error = error_for(rules)
    assert error.setting == setting
    assert text in str(error)


def test_hyphenized_ids_accepted_and_data_normalized() -> None:
    responder = SyntheticResponder.from_config(
        [
            {"name": "lb", "match": "elastic-load-balancing-v2.DescribeLoadBalancers"},
            {"name": "logs", "match": "cloudwatch-logs.*"},
            {
                "name": "table",
                "match": "dynamodb.DescribeTable",
                "response": {"data": {"Table": {"CreationDateTime": "2024-05-06T07:08:09Z"}}},
            },
        ]
    )
    data = responder.rules[2].response.data
    assert isinstance(data, dict)
    created = data["Table"]["CreationDateTime"]
    assert created == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)


def test_glob_data_per_operation() -> None:
    responder = SyntheticResponder.from_config(
        [
            {
                "name": "ddb",
                "match": "dynamodb.*",
                "response": {"data": {"GetItem": {"Item": {}}, "dynamodb.PutItem": {}}},
            },
            {"name": "any", "match": "*", "response": {"data": {"s3.GetObject": {"Body": "b"}}}},
        ]
    )
    assert set(responder.rules[0].response.data_by_operation) == {
        "dynamodb.GetItem",
        "dynamodb.PutItem",
    }
    assert responder.rules[1].response.data_for("s3", "GetObject") == {"Body": b"b"}
    assert responder.rules[1].response.data_for("s3", "PutObject") is None


def test_service_index_is_cheap_and_complete() -> None:
    catalog = Catalog()
    index = catalog.index()
    assert index["elastic-load-balancing-v2"] == "elbv2"
    assert index["cloudwatch-logs"] == "logs"
    assert index["dynamodb"] == "dynamodb"
    assert catalog.suggest_service("elbv2") == "elastic-load-balancing-v2"


JSON_RULES = {
    "rules": [
        {
            "name": "ddb-throttle",
            "match": "dynamodb.*",
            "rate": 0.1,
            "response": {"error": {"code": "ThrottlingException", "rate": 0.2}},
        },
        {
            "name": "s3-get",
            "match": "s3.GetObject",
            "fixed_target": 5,
            "response": {"body_size": 4096, "latency": {"distribution": "uniform", "min": 0.01, "max": 0.02}},
        },
    ]
}

TOML_RULES = """
[[rules]]
name = "ddb-throttle"
match = "dynamodb.*"
rate = 0.1
response.error = { code = "ThrottlingException", rate = 0.2 }

[[rules]]
name = "s3-get"
match = "s3.GetObject"
fixed_target = 5

[rules.response]
body_size = 4096
latency = { distribution = "uniform", min = 0.01, max = 0.02 }
"""


def test_json_and_toml_files_are_equivalent(tmp_path: Path) -> None:
    json_file = tmp_path / "rules.json"
    json_file.write_text(json.dumps(JSON_RULES))
    toml_file = tmp_path / "rules.toml"
    toml_file.write_text(TOML_RULES)
    from_json = SyntheticResponder.from_config(json_file)
    from_toml = SyntheticResponder.from_config(str(toml_file))
    assert [r.describe() for r in from_json.rules] == [r.describe() for r in from_toml.rules]
    lines = check_rules_file(json_file)
    assert len(lines) == 2
    assert lines[0].startswith("1. rule 'ddb-throttle': dynamodb.*, rate 0.1 per trace")
    assert "ThrottlingException" in lines[0] and "20%" in lines[0]
    assert "at least 5/s" in lines[1] and "uniform" in lines[1]


def test_check_rules_file_warns_about_shadowed_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    rules = [
        {"name": "all-ddb", "match": "dynamodb.*"},
        {"name": "get", "match": "dynamodb.GetItem"},
        {"name": "s3", "match": "s3.GetObject"},
    ]
    path.write_text(json.dumps({"rules": rules}))
    lines = check_rules_file(path)
    assert "never used, rule 'all-ddb' matches first" in lines[1]
    assert "WARNING" not in lines[0] + lines[2]


def test_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="readable JSON or TOML"):
        SyntheticResponder.from_config(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="readable"):
        SyntheticResponder.from_config(tmp_path)  # a directory
    broken = tmp_path / "broken.json"
    broken.write_text("{rules: ")
    with pytest.raises(ConfigError, match="valid JSON"):
        SyntheticResponder.from_config(broken)
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[[rules]\n")
    with pytest.raises(ConfigError, match="valid TOML"):
        SyntheticResponder.from_config(bad_toml)
    in_file = tmp_path / "in_file.json"
    in_file.write_text(json.dumps({"rules": [{"name": "x", "match": "*", "rate": 3}]}))
    with pytest.raises(ConfigError) as caught:
        check_rules_file(in_file)
    assert caught.value.setting == f"{in_file}[rule 'x'].rate"
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    with pytest.raises(ConfigError, match="JSON rules file"):
        SyntheticResponder.from_config(bad_toml)


@pytest.mark.parametrize("number", [10**400, -(10**400)], ids=["huge", "minus-huge"])
def test_a_number_too_big_for_a_double_names_its_key(tmp_path: Path, number: int) -> None:
    data = {"ConsumedCapacity": {"TableName": "t", "CapacityUnits": number}}
    path = tmp_path / "huge.json"
    path.write_text(
        json.dumps({"rules": [{"name": "ddb", "match": "dynamodb.GetItem", "response": {"data": data}}]})
    )
    for check in (SyntheticResponder.from_config, check_rules_file):
        with pytest.raises(ConfigError) as caught:
            check(path)
        assert caught.value.setting.endswith("[rule 'ddb'].response.data.ConsumedCapacity.CapacityUnits")
        assert "double" in caught.value.allowed


def test_python_only_forms() -> None:
    responder = SyntheticResponder.from_config(
        {"rules": [{"name": "fn", "match": "*", "response": {"data": lambda params: {}}}]}
    )
    assert callable(responder.rules[0].response.data)
    assert SyntheticResponder.from_config(None).rules == ()


# --- property: whatever the input, only ConfigError ------------------------------

KEYS = [
    "rules",
    "name",
    "match",
    "rate",
    "fixed_target",
    "decision",
    "response",
    "data",
    "fill",
    "error",
    "latency",
    "body_size",
    "code",
    "status",
    "message",
    "distribution",
    "min",
    "max",
    "mean",
    "stddev",
    "median",
    "sigma",
    "Item",
    "Body",
    "GetItem",
    "s3.GetObject",
    "Table",
]
TEXT = st.one_of(
    st.sampled_from(
        [
            "*",
            "dynamodb.GetItem",
            "s3.*",
            "dynamodb.*",
            "trace",
            "call",
            "all",
            "required",
            "uniform",
            "normal",
            "ThrottlingException",
            "elbv2.X",
            "s3.GetObject",
            "x",
            "",
        ]
    ),
    st.text(max_size=12),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True), TEXT)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children, max_size=5),
    ),
    max_leaves=25,
)
RULE_LIKE = st.fixed_dictionaries(
    {"name": TEXT, "match": TEXT},
    optional={k: JSON_LIKE for k in ("rate", "fixed_target", "decision", "response")},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON_LIKE, st.lists(st.one_of(RULE_LIKE, JSON_LIKE), max_size=3)))
def test_random_input_only_raises_config_error(value: Any) -> None:
    with contextlib.suppress(ConfigError):
        SyntheticResponder.from_config(value)
