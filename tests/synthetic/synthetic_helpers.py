"""Shared helpers for the synthetic-responses tests: round-trip through botocore's parser."""

from __future__ import annotations

import socket
from typing import Any

from botocore import parsers
from botocore.endpoint import convert_to_response_dict
from botocore.eventstream import EventStream
from botocore.model import OperationModel
from botocore.response import StreamingBody

from botocore_otel.synthetic.responses import Template
from botocore_otel.synthetic.shapes import ENGINE_HEADERS, protocol_of
from botocore_otel.synthetic.wire import success_wire

_PARSERS: dict[str, Any] = {}


def parse(operation: OperationModel, data: dict[str, Any]) -> dict[str, Any]:
    """Serialize ``data`` as the synthetic engine does, then parse it like botocore's endpoint."""
    template = Template(success_wire(operation, data), "https://synthetic.invalid/")
    response = template.response()
    protocol = protocol_of(operation)
    parser = _PARSERS.get(protocol)
    if parser is None:
        parser = _PARSERS[protocol] = parsers.create_parser(protocol)
    response_dict = convert_to_response_dict(response, operation)
    parsed: dict[str, Any] = parser.parse(response_dict, operation.output_shape)
    return parsed


def comparable(value: Any) -> Any:
    """Parsed output with streams read and ``ResponseMetadata`` dropped."""
    if isinstance(value, StreamingBody):
        return value.read()
    if isinstance(value, EventStream):
        return [comparable(event) for event in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def expected(operation: OperationModel, data: dict[str, Any], headers: Any) -> dict[str, Any]:
    """What botocore returns for ``data`` sent with response ``headers``.

    - a payload structure/string left out still parses (as ``{}`` / ``""``);
    - XML: an empty flattened list/map is no element at all, so it parses as absent;
    - header-bound members the data left out pick up the engine's own headers
      (``Content-Type``, ``Content-Length``...), converted like botocore does.
    """
    shape = operation.output_shape
    out = dict(data)
    if shape is None:
        return out
    if protocol_of(operation) in ("rest-xml", "query", "ec2"):
        out = _without_empty_flattened(shape, out)
    payload = shape.serialization.get("payload")
    if payload and payload not in out:
        kind = shape.members[payload].type_name
        if kind == "structure" and not shape.members[payload].serialization.get("eventstream"):
            out[payload] = {}
        elif kind == "string":
            out[payload] = ""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, member in shape.members.items():
        ser = member.serialization
        header = ser.get("name", name).lower()
        if ser.get("location") == "headers" and name not in out:
            prefix = ser.get("name", "").lower()
            out[name] = {k[len(prefix) :]: v for k, v in lowered.items() if k.startswith(prefix)}
        owned = name not in out or header in ENGINE_HEADERS
        if ser.get("location") == "header" and header in lowered and owned:
            value = lowered[header]
            out[name] = int(value) if member.type_name in ("integer", "long") else value
    return out


def _without_empty_flattened(shape: Any, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and not shape.is_document_type:
        out = {}
        for name, item in value.items():
            member = shape.members[name]
            flattened = member.serialization.get("flattened") and member.type_name in (
                "list",
                "map",
            )
            if flattened and not item and not member.serialization.get("location"):
                continue
            out[name] = _without_empty_flattened(member, item)
        return out
    if kind == "list" and isinstance(value, list):
        return [_without_empty_flattened(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _without_empty_flattened(shape.value, v) for k, v in value.items()}
    return value


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on: any real request would fail to connect."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port
