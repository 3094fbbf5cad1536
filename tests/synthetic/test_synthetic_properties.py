"""Property: user data, random but shaped like the operation's output (with some
wrong types mixed in), is either rejected with ConfigError at configuration time or
accepted, and then the answer parses through botocore back to exactly that data."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.session
import pytest
from botocore import parsers
from botocore.endpoint import convert_to_response_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_helpers import comparable, expected

from botocore_otel.errors import ConfigError
from botocore_otel.synthetic import SyntheticResponder
from botocore_otel.synthetic.shapes import protocol_of

_SESSION = botocore.session.Session()
OPERATIONS = [
    ("dynamodb", "dynamodb", "Query"),  # json
    ("sqs", "sqs", "ReceiveMessage"),  # json, query-compatible
    ("s3", "s3", "GetObject"),  # rest-xml, headers + streaming payload
    ("s3", "s3", "ListObjectsV2"),  # rest-xml, flattened lists
    ("sts", "sts", "AssumeRole"),  # query
    ("ec2", "ec2", "DescribeInstances"),  # ec2
    ("lambda", "lambda", "GetFunction"),  # rest-json
    ("cloudwatch", "cloudwatch", "GetMetricData"),  # json (awsQueryCompatible)
]

WRONG = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.lists(st.none()))
TIMES = st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2200, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


def values(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        members = {
            name: values(member, depth + 1)
            for name, member in shape.members.items()
            if not member.serialization.get("eventstream")
        }
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        return st.lists(values(shape.member, depth + 1), max_size=2)
    if kind == "map":
        keys = values(shape.key, depth + 1)
        return st.dictionaries(keys, values(shape.value, depth + 1), max_size=2)
    if kind == "string":
        return st.sampled_from(shape.enum) if shape.enum else st.text(max_size=8)
    if kind in ("integer", "long"):
        return st.integers(min_value=-(2**64), max_value=2**64)
    if kind in ("float", "double"):
        return st.floats()
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return TIMES
    if kind == "blob":
        return st.binary(max_size=20)
    return st.nothing()


def shaped(shape: Any) -> st.SearchStrategy[Any]:
    return st.one_of(values(shape), WRONG) if shape.type_name != "structure" else values(shape)


@pytest.mark.parametrize(("client", "service", "name"), OPERATIONS)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_user_data_round_trips_or_is_rejected(
    client: str, service: str, name: str, data: st.DataObject
) -> None:
    operation = _SESSION.get_service_model(client).operation_model(name)
    value = data.draw(st.one_of(values(operation.output_shape), shaped(operation.output_shape)))
    rule = {"name": "p", "match": f"{service}.{name}", "response": {"data": value}}
    try:
        responder = SyntheticResponder.from_config([rule])
    except ConfigError:
        return
    answer = responder.answer(service, operation, None, 1)
    assert answer is not None
    parser = parsers.create_parser(protocol_of(operation))
    response_dict = convert_to_response_dict(answer.response, operation)
    parsed = comparable(parser.parse(response_dict, operation.output_shape))
    accepted = responder.rules[0].response.data
    assert isinstance(accepted, dict)
    body_filled = dict(accepted)
    payload = operation.output_shape.serialization.get("payload")
    if payload and payload not in body_filled and "Body" in parsed:
        body_filled[payload] = parsed[payload]
    assert parsed == expected(operation, body_filled, answer.response.headers)
