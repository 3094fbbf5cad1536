"""A minimal CBOR (RFC 8949) encoder for smithy-rpc-v2-cbor bodies.

Covers exactly what botocore's ``RpcV2CBORParser`` reads back: unsigned and
negative integers, byte and text strings, arrays, maps, tag 1 (epoch
timestamps), booleans, null and 64-bit floats.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Mapping
from typing import Any

_TRUE, _FALSE, _NULL = b"\xf5", b"\xf4", b"\xf6"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _head(major: int, length: int) -> bytes:
    """The initial byte(s) of a data item: major type plus argument."""
    prefix = major << 5
    if length < 24:
        return bytes((prefix | length,))
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes((prefix | info,)) + length.to_bytes(size, "big")
    raise ValueError(f"CBOR argument too large: {length}")


def _epoch_seconds(value: datetime.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return (value - _EPOCH).total_seconds()


def encode(value: Any) -> bytes:
    """Encode a Python value (dict/list/str/bytes/int/float/bool/None/datetime)."""
    out = bytearray()
    _encode_into(value, out)
    return bytes(out)


def _encode_into(value: Any, out: bytearray) -> None:
    # bool before int: bool is a subclass of int.
    if value is True:
        out += _TRUE
    elif value is False:
        out += _FALSE
    elif value is None:
        out += _NULL
    elif isinstance(value, int):
        if value >= 0:
            out += _head(0, value)
        else:
            out += _head(1, -1 - value)
    elif isinstance(value, float):
        out += b"\xfb" + struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += _head(3, len(raw))
        out += raw
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out += _head(2, len(raw))
        out += raw
    elif isinstance(value, datetime.datetime):
        out += b"\xc1"  # tag 1: epoch-based date/time
        seconds = _epoch_seconds(value)
        _encode_into(int(seconds) if seconds.is_integer() else seconds, out)
    elif isinstance(value, Mapping):
        out += _head(5, len(value))
        for key, item in value.items():
            _encode_into(key, out)
            _encode_into(item, out)
    elif isinstance(value, (list, tuple)):
        out += _head(4, len(value))
        for item in value:
            _encode_into(item, out)
    else:
        raise TypeError(f"cannot CBOR-encode {type(value).__name__}")
