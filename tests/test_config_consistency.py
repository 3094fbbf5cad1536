"""Settings read alike: the same word means the same thing in every setting, a list reads as
the comma-separated string does, and the environment says everything the keyword can."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from botocore_otel import ConfigError
from botocore_otel.config import PAYLOAD_SERVICES, env_names, load_settings

ENV = env_names()


@pytest.mark.parametrize("word", ["none", "None", " NONE "])
def test_none_means_off_for_metrics_as_for_payload_propagation(word: str) -> None:
    assert load_settings({"metrics": word}, environ={}).metrics == frozenset()
    assert load_settings({}, environ={ENV["metrics"]: word}).metrics == frozenset()
    assert load_settings({"payload_propagation": word}, environ={}).payload_propagation == frozenset()
    with pytest.raises(ConfigError) as raised:
        load_settings({"metrics": "none,rpc"}, environ={})
    assert "'none'" in raised.value.allowed


_ON_OFF = [("true", "false"), ("1", "0"), ("yes", "no"), ("on", "off"), (" TRUE ", "Off")]


@pytest.mark.parametrize(("on", "off"), _ON_OFF)
def test_the_environment_says_every_boolean_the_keyword_can(on: str, off: str) -> None:
    """payload_propagation=True/False as a keyword; the usual boolean words in the variable,
    as metrics takes them."""
    variable = ENV["payload_propagation"]
    assert load_settings({}, environ={variable: on}).payload_propagation == frozenset(PAYLOAD_SERVICES)
    assert load_settings({}, environ={variable: off}).payload_propagation == frozenset()
    for option in ("payload_propagation", "metrics"):
        assert load_settings({}, environ={ENV[option]: on}) == load_settings({option: True}, environ={})
        assert load_settings({}, environ={ENV[option]: off}) == load_settings({option: False}, environ={})
        assert load_settings({option: 1}, environ={}) == load_settings({option: True}, environ={})
        assert load_settings({option: 0}, environ={}) == load_settings({option: False}, environ={})


# (option, a list as written, the same as one string); metrics has the capacity group so that
# attribution may be given.
_LISTS = [
    ("metrics", ["RPC", " Capacity "], "rpc,capacity"),
    ("metrics", ["rpc", ""], "rpc"),
    ("metrics", [" ALL"], "all"),
    ("metrics", ["None "], "none"),
    ("payload_propagation", ["SQS", " sns "], "sqs,sns"),
    ("payload_propagation", {"sqs", ""}, "sqs"),
    ("payload_propagation", (" All",), "all"),
    ("skip_services", [" s3 ", "sqs"], "s3,sqs"),
    ("skip_services", ["s3", ""], "s3"),
    ("attribution", [" route ", "Baggage:tenant"], "route,baggage:tenant"),
    ("attribution", ["FIXED:Checkout"], "fixed:Checkout"),
    ("capture", [" s3.PutObject:Key=app.key ", ""], "s3.PutObject:Key=app.key"),
]


@pytest.mark.parametrize(("option", "items", "text"), _LISTS, ids=[f"{o}={t}" for o, _, t in _LISTS])
def test_a_list_reads_as_the_comma_separated_string_does(option: str, items: object, text: str) -> None:
    """Each item is read as the same item in a string: whitespace around it and the casing of
    a keyword do not matter, an empty item is none."""
    base = {"metrics": "rpc,capacity"} if option == "attribution" else {}
    from_list = load_settings({**base, option: items}, environ={})
    assert from_list == load_settings({**base, option: text}, environ={})
    assert from_list == load_settings(base, environ={ENV[option]: text})
    if option in ("metrics", "payload_propagation"):  # words, in any casing
        assert from_list == load_settings(base, environ={ENV[option]: text.upper()})


@pytest.mark.parametrize("option", ["metrics", "payload_propagation", "skip_services", "capture"])
def test_a_list_of_empty_items_is_refused_as_a_string_of_commas_is(option: str) -> None:
    for value in ([""], [" ", ""], ","):
        with pytest.raises(ConfigError) as raised:
            load_settings({option: value}, environ={})
        assert raised.value.setting == option


# None is "not any": taken where the default is none or off, and it wins over the variable as
# any keyword does. Where the default is on (propagate, metrics, payload_propagation), or the
# setting is a boolean or a count, None would be ambiguous: refused.
_NONE_IS_DEFAULT = [
    "tracer_provider",
    "meter_provider",
    "propagator",
    "logger_provider",
    "request_hook",
    "response_hook",
    "skip_services",
    "capture",
    "synthetic",
    "attribution",
]


def test_none_means_the_default_wherever_the_default_is_none() -> None:
    from botocore_otel.config import _OPTIONS, Settings

    for option in _OPTIONS:
        if option in _NONE_IS_DEFAULT:
            assert load_settings({option: None}, environ={}) == Settings(), option
        else:
            with pytest.raises(ConfigError) as raised:
                load_settings({option: None}, environ={})
            assert raised.value.setting == option
    variables = {ENV["skip_services"]: "s3", ENV["attribution"]: "route", ENV["metrics"]: "rpc,capacity"}
    chosen = load_settings({"skip_services": None, "attribution": None}, environ=variables)
    assert chosen.skip_services == frozenset() and chosen.attribution == ()


def test_synthetic_rules_that_hold_no_rule_are_refused_in_every_form(tmp_path: Path) -> None:
    """No rule answers nothing: a responder with none is a mistake, said as for synthetic=[]."""
    from botocore_otel.synthetic import check_rules_file

    files = []
    for name, text in [("empty.json", '{"rules": []}'), ("object.json", "{}"), ("list.json", "[]")]:
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    (tmp_path / "empty.toml").write_text("rules = []\n")
    files.append(str(tmp_path / "empty.toml"))
    for value in ([], (), {}, {"rules": []}, *files):
        with pytest.raises(ConfigError) as raised:
            load_settings({"synthetic": value}, environ={})
        assert raised.value.setting == "synthetic" and "at least one rule" in raised.value.allowed, value
        if isinstance(value, str):
            with pytest.raises(ConfigError) as raised:
                load_settings({}, environ={ENV["synthetic"]: value})
            assert raised.value.setting == ENV["synthetic"]
            with pytest.raises(ConfigError, match="at least one rule"):
                check_rules_file(value)


@pytest.mark.parametrize(
    ("written", "key"),
    [("S3", "s3"), ("DynamoDB", "dynamodb"), (" Secrets Manager ", "secrets-manager"), ("SQS", "sqs")],
)
def test_a_service_id_in_its_own_casing_is_its_hyphenized_key(written: str, key: str) -> None:
    """botocore's key is ``service_id.replace(' ', '-').lower()``: any casing of it names one
    service, as it appears in span names (``DynamoDB.GetItem``)."""
    assert load_settings({"skip_services": written}, environ={}).skip_services == frozenset({key})
    assert load_settings({"skip_services": [written]}, environ={}).skip_services == frozenset({key})
    assert load_settings({}, environ={ENV["skip_services"]: f"{written},s3"}).skip_services == {key, "s3"}
    operation = {"s3": "PutObject", "dynamodb": "GetItem", "secrets-manager": "GetSecretValue"}.get(key, "*")
    capture = load_settings({"capture": f"{written}.{operation}:Foo=app.foo"}, environ={}).capture
    assert [(c.service, c.operation) for c in capture] == [(key, operation)]
    with pytest.raises(ConfigError, match="did you mean 'dynamodb'"):
        load_settings({"skip_services": "DynamDB"}, environ={})


@pytest.mark.parametrize("variable", ["BOTOCORE_OTEL_DISABLED", "BOTOCORE_OTEL_ENABLED", "BOTOCORE_OTEL_OFF"])
def test_a_variable_meant_to_switch_botocore_otel_off_says_how(
    variable: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a near miss of a setting's variable, yet plainly meant: refused as a typo is,
    pointing at the switch that exists."""
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={variable: "true"})
    assert raised.value.setting == variable
    assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=botocore_otel" in raised.value.allowed
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    load_settings({}, environ={variable: "false"}, strict=False)  # auto-instrumentation: said once
    said = [r for r in caplog.records if r.name == "botocore_otel"]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert (
        variable in said[0].getMessage() and "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in said[0].getMessage()
    )


def test_any_other_unknown_variable_is_said_once_and_a_tools_own_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    environ = {"BOTOCORE_OTEL_FLAVOUR": "x", "BOTOCORE_OTEL_PYTEST": "1", ENV["metrics"]: "all"}
    assert load_settings({}, environ=environ).metrics == load_settings({"metrics": "all"}, environ={}).metrics
    said = [r.getMessage() for r in caplog.records if r.name == "botocore_otel"]
    assert len(said) == 1 and "BOTOCORE_OTEL_FLAVOUR" in said[0] and ENV["metrics"] in said[0], said
