"""A small encoder for the AWS binary event-stream framing (vnd.amazon.eventstream).

A message is: prelude (total length, headers length, prelude CRC32), headers,
payload, message CRC32. botocore's ``EventStreamBuffer`` validates both CRCs.
"""

from __future__ import annotations

import datetime
import struct
from binascii import crc32
from collections.abc import Callable, Iterable

HeaderValue = str | bytes | bool | int | datetime.datetime

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _string(value: HeaderValue) -> bytes:
    raw = str(value).encode("utf-8")
    return b"\x07" + struct.pack(">H", len(raw)) + raw


def _bytes(value: HeaderValue) -> bytes:
    raw = bytes(value) if isinstance(value, (bytes, bytearray)) else str(value).encode()
    return b"\x06" + struct.pack(">H", len(raw)) + raw


def _boolean(value: HeaderValue) -> bytes:
    return b"\x00" if value else b"\x01"


def _integer(value: HeaderValue) -> bytes:
    return b"\x04" + struct.pack(">i", int(value))  # type: ignore[arg-type]


def _long(value: HeaderValue) -> bytes:
    return b"\x05" + struct.pack(">q", int(value))  # type: ignore[arg-type]


def _timestamp(value: HeaderValue) -> bytes:
    if not isinstance(value, datetime.datetime):
        raise TypeError("timestamp header needs a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    millis = int((value - _EPOCH).total_seconds() * 1000)
    return b"\x08" + struct.pack(">q", millis)


# Model type name of an ``eventheader`` member -> wire encoder of its value.
HEADER_ENCODERS: dict[str, Callable[[HeaderValue], bytes]] = {
    "string": _string,
    "blob": _bytes,
    "boolean": _boolean,
    "byte": lambda v: b"\x02" + struct.pack(">b", int(v)),  # type: ignore[arg-type]
    "short": lambda v: b"\x03" + struct.pack(">h", int(v)),  # type: ignore[arg-type]
    "integer": _integer,
    "long": _long,
    "timestamp": _timestamp,
}


def encode_message(headers: Iterable[tuple[str, bytes]], payload: bytes) -> bytes:
    """Frame one message. ``headers`` holds (name, already-encoded type+value)."""
    header_bytes = b"".join(bytes((len(name.encode()),)) + name.encode() + value for name, value in headers)
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + header_bytes + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def event_message(
    event_type: str, payload: bytes, content_type: str | None, extra: Iterable[tuple[str, bytes]] = ()
) -> bytes:
    """An ``event`` message (``initial-response`` is sent the same way)."""
    headers = [(":message-type", _string("event")), (":event-type", _string(event_type))]
    if content_type:
        headers.append((":content-type", _string(content_type)))
    headers.extend(extra)
    return encode_message(headers, payload)
