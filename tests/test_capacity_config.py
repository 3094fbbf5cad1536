"""The capacity group's options: accepted values, errors for bad ones, and the group off
(the default) registering nothing and importing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from botocore_otel import ConfigError
from botocore_otel.config import load_settings


@pytest.mark.parametrize(
    ("options", "environ", "expected"),
    [
        ({"metrics": "all"}, {}, {"metrics": {"rpc", "smithy", "phases", "capacity"}}),
        ({}, {"BOTOCORE_OTEL_METRICS": "rpc,capacity"}, {"metrics": {"rpc", "capacity"}}),
        (
            {"metrics": "rpc,capacity", "attribution": ["baggage:team", "route", "fixed:web"]},
            {},
            {"attribution": (("baggage", "team"), ("route", ""), ("fixed", "web"))},
        ),
        (
            {},
            {"BOTOCORE_OTEL_METRICS": "capacity", "BOTOCORE_OTEL_ATTRIBUTION": " route , fixed:batch jobs "},
            {"attribution": (("route", ""), ("fixed", "batch jobs"))},
        ),
        ({}, {"BOTOCORE_OTEL_ATTRIBUTION_MAX_VALUES": "7"}, {"attribution_max_values": 7}),
        ({"attribution_max_values": 1}, {}, {"attribution_max_values": 1}),
        ({}, {"BOTOCORE_OTEL_ATTRIBUTION_MAX_VALUES": " 100000 "}, {"attribution_max_values": 100_000}),
        (
            {"metrics": "rpc,capacity"},
            {"BOTOCORE_OTEL_DYNAMODB_CONSUMED_CAPACITY": "true"},
            {"dynamodb_consumed_capacity": True},
        ),
        ({}, {}, {"dynamodb_consumed_capacity": False, "attribution": (), "attribution_max_values": 100}),
    ],
)
def test_accepted_values(options: dict[str, Any], environ: dict[str, str], expected: dict[str, Any]) -> None:
    settings = load_settings(options, environ=environ)
    assert {name: getattr(settings, name) for name in expected} == expected


BAD = [
    ("metrics", "rpc,capacities", "rpc, smithy, phases, capacity"),
    ("dynamodb_consumed_capacity", "maybe", "a boolean"),
    ("attribution", "cookie:x", "baggage:<key>, route or fixed:<value>"),
    ("attribution", "baggage:", "baggage:<key>, route or fixed:<value>"),
    ("attribution", "fixed:", "baggage:<key>, route or fixed:<value>"),
    ("attribution", "route:/x", "baggage:<key>, route or fixed:<value>"),
    ("attribution", 5, "baggage:<key>, route or fixed:<value>"),
    ("attribution", ["route", 3], "baggage:<key>, route or fixed:<value>"),
    ("attribution", "fixed:" + "f" * 129, "a fixed:<value> of at most 128 characters"),
    ("attribution_max_values", 0, "an integer from 1 to 100,000"),
    ("attribution_max_values", -3, "an integer from 1 to 100,000"),
    ("attribution_max_values", "ten", "an integer from 1 to 100,000"),
    ("attribution_max_values", 2.5, "an integer from 1 to 100,000"),
    ("attribution_max_values", True, "an integer from 1 to 100,000"),
    ("attribution_max_values", 100_001, "an integer from 1 to 100,000"),
]


@pytest.mark.parametrize(("option", "value", "allowed"), BAD, ids=[f"{o}={v}" for o, v, _ in BAD])
def test_a_bad_value_names_the_setting_and_the_allowed_values(option: str, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"metrics": "rpc,capacity", option: value}, environ={})
    assert raised.value.setting == option
    assert allowed in str(raised.value)
    if isinstance(value, str) and option != "metrics":  # the environment: logged, feature off
        variable = f"BOTOCORE_OTEL_{option.upper()}"
        with pytest.raises(ConfigError) as raised:
            load_settings({"metrics": "rpc,capacity"}, environ={variable: value})
        assert raised.value.setting == variable


@pytest.mark.parametrize(
    ("option", "on", "env_on", "off"),
    [("dynamodb_consumed_capacity", True, "1", False), ("attribution", ["route"], "route", ())],
)
def test_the_groups_options_need_the_capacity_group(
    option: str, on: Any, env_on: str, off: Any, caplog: pytest.LogCaptureFixture
) -> None:
    for environ in ({}, {"BOTOCORE_OTEL_METRICS": " "}):  # an empty variable counts as unset
        with pytest.raises(ConfigError) as raised:
            load_settings({option: on}, environ=environ)
        assert raised.value.setting == option
        assert "unless metrics has the 'capacity' group" in str(raised.value)
    variable = f"BOTOCORE_OTEL_{option.upper()}"
    environ = {variable: env_on, "BOTOCORE_OTEL_METRICS": "rpc"}
    settings = load_settings({}, environ=environ, strict=False)  # auto-instrumentation: logged, off
    assert getattr(settings, option) == off
    # the variables that were set, as they were set
    assert f"{variable}={env_on!r} is invalid" in caplog.text
    assert "unless BOTOCORE_OTEL_METRICS has the 'capacity' group" in caplog.text
    assert getattr(load_settings({option: off}, environ={}), option) == off


_PROBE = """
import json, sys
sys.path.insert(0, ".")
from tests.support.moto_server import new_boto3_session
from botocore_otel import Instrumentor

session = new_boto3_session()
Instrumentor().instrument(session, **json.loads(sys.argv[2]))
ids = set()
for service in ("dynamodb", "s3", "sqs", "lambda", "kms", "secretsmanager", "sts"):
    client = session.client(service, endpoint_url=sys.argv[1], region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    if service == "dynamodb":
        client.list_tables()
    emitter = client.meta.events
    ids |= {str(k) for k in getattr(emitter, "_emitter", emitter)._unique_id_handlers}
print(json.dumps({"imported": "botocore_otel.capacity" in sys.modules,
                  "capacity_ids": sorted(i for i in ids if i.startswith("botocore_otel.capacity"))}))
"""


def _probe(moto: Any, options: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, moto.endpoint_url, json.dumps(options)],
        capture_output=True,
        text=True,
        check=True,
        cwd=__import__("os").path.dirname(__import__("os").path.dirname(__file__)),
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("options", [{}, {"metrics": "rpc,smithy,phases"}, {"metrics": False}])
def test_with_the_group_off_no_handler_is_registered_and_the_package_is_not_imported(moto, options):
    assert _probe(moto, options) == {"imported": False, "capacity_ids": []}


def test_with_the_group_on_its_handlers_are_on_per_service_events_only(moto):
    found = _probe(moto, {"metrics": "rpc,capacity", "dynamodb_consumed_capacity": True})
    assert found["imported"] is True
    events = [i.removeprefix("botocore_otel.capacity.") for i in found["capacity_ids"]]
    assert "after-call.dynamodb" in events and "before-parameter-build.dynamodb" in events
    assert all(event.count(".") >= 1 for event in events), "never on an event of every service"
