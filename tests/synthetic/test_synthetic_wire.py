"""The small encoders (CBOR, event stream) against botocore's own decoders."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.parsers import RpcV2CBORParser
from hypothesis import given
from hypothesis import strategies as st

from botocore_otel.synthetic import cbor, eventstream, responses


def decode_cbor(data: bytes) -> Any:
    parser = RpcV2CBORParser()
    return parser.parse_data_item(parser.get_peekable_stream_from_bytes(data))


CBOR_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=300),
        st.binary(max_size=300),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=30),
        st.dictionaries(st.text(max_size=5), children.filter(lambda v: v is not None), max_size=30),
    ),
    max_leaves=60,
)


@given(CBOR_VALUES)
def test_cbor_round_trips_through_botocore(value: Any) -> None:
    assert decode_cbor(cbor.encode(value)) == value


def test_cbor_timestamp_is_tag_1() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=datetime.timezone.utc)
    encoded = cbor.encode(when)
    assert encoded[0] == 0xC1
    assert decode_cbor(encoded) == when


def test_cbor_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        cbor.encode(object())


def test_event_stream_messages_decode_with_every_header_type() -> None:
    when = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
    values: dict[str, Any] = {
        "string": "s",
        "blob": b"\x00\x01",
        "boolean": True,
        "byte": -3,
        "short": 300,
        "integer": 70000,
        "long": 2**40,
        "timestamp": when,
    }
    headers = [(k, eventstream.HEADER_ENCODERS[k](v)) for k, v in values.items()]
    first = eventstream.event_message("initial-response", b"{}", "application/json")
    second = eventstream.event_message("Data", b"payload", None, headers)
    buffer = EventStreamBuffer()
    buffer.add_data(first + second)
    decoded = list(buffer)
    assert decoded[0].headers[":event-type"] == "initial-response"
    assert decoded[1].payload == b"payload"
    got = decoded[1].headers
    assert got["string"] == "s" and got["blob"] == b"\x00\x01" and got["boolean"] is True
    assert (got["byte"], got["short"], got["integer"], got["long"]) == (-3, 300, 70000, 2**40)
    assert got["timestamp"] == int(when.timestamp() * 1000)


def test_request_ids_are_uuid_shaped_and_unique() -> None:
    ids = {responses.new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for request_id in list(ids)[:5]:
        parts = request_id.split("-")
        assert [len(p) for p in parts] == [8, 4, 4, 4, 12]
