"""Serialize output data (see ``shapes``) or an error to the wire, per protocol.

The result is a ``Wire``: status, headers and body bytes in which the fixed-width
``REQUEST_ID_PLACEHOLDER`` stands for the per-call request id (query and ec2
carry it in the body; other protocols only in headers).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, Shape

from botocore_otel.synthetic import cbor, eventstream, xmlwire
from botocore_otel.synthetic.shapes import protocol_of, status_code_of

REQUEST_ID_PLACEHOLDER = "00000000-synthetic-request-id-000000"
assert len(REQUEST_ID_PLACEHOLDER) == 36

EVENT_STREAM_TYPE = "application/vnd.amazon.eventstream"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass(frozen=True, slots=True)
class Wire:
    status: int
    headers: dict[str, str]
    body: bytes
    request_id_headers: tuple[str, ...]


def _epoch(value: datetime.datetime) -> int | float:
    seconds = (value - _EPOCH).total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


# --- body value encoders ------------------------------------------------------


def to_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        out = {}
        for name, item in value.items():
            member = shape.members[name]
            ser = member.serialization
            if item is None or ser.get("location") or ser.get("eventheader"):
                continue
            out[ser.get("name", name)] = to_json(member, item)
        return out
    if kind == "list":
        return [to_json(shape.member, item) for item in value]
    if kind == "map":
        return {str(k): to_json(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if kind == "timestamp":
        return _epoch(value)
    return value


def to_cbor(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        return {
            name: to_cbor(shape.members[name], item)
            for name, item in value.items()
            if item is not None and not shape.members[name].serialization.get("eventheader")
        }
    if kind == "list":
        return [to_cbor(shape.member, item) for item in value]
    if kind == "map":
        return {str(k): to_cbor(shape.value, v) for k, v in value.items()}
    return value


def _json_body(shape: Shape, value: Any) -> bytes:
    return json.dumps(to_json(shape, value), separators=(",", ":")).encode()


def _cbor_body(shape: Shape, value: Any) -> bytes:
    return cbor.encode(to_cbor(shape, value))


def _xml_body(shape: Shape, value: Any) -> bytes:
    tag = shape.serialization.get("name") or shape.name
    return xmlwire.document(tag, shape, value)


def header_value(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value).encode()).decode("ascii")
    if kind == "list":
        return ",".join(header_value(shape.member, item) for item in value)
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "rfc822")
        if fmt == "iso8601":
            return xmlwire.iso8601(value)
        if fmt == "unixTimestamp":
            return str(_epoch(value))
        if value.microsecond:  # RFC 822 has no fractions; botocore reads ISO 8601 too
            return xmlwire.iso8601(value)
        return email.utils.format_datetime(value.astimezone(datetime.timezone.utc), usegmt=True)
    return xmlwire.scalar_text(shape, value)


# --- event streams --------------------------------------------------------------


def _event_stream(
    stream: Shape, events: list[dict[str, Any]], encode: Callable[[Shape, Any], bytes], ctype: str
) -> bytes:
    frames = []
    for event in events:
        ((name, body),) = event.items()
        shape = stream.members[name]
        headers = []
        payload_name = None
        for member_name, member in shape.members.items():
            if member.serialization.get("eventheader") and member_name in body:
                value = body[member_name]
                headers.append((member_name, eventstream.HEADER_ENCODERS[member.type_name](value)))
            if member.serialization.get("eventpayload"):
                payload_name = member_name
        if payload_name is None:
            payload, content_type = encode(shape, body), ctype
        else:
            member = shape.members[payload_name]
            value = body.get(payload_name)
            if member.type_name == "blob":
                payload, content_type = value or b"", "application/octet-stream"
            elif member.type_name == "string":
                payload, content_type = (value or "").encode(), "text/plain"
            else:
                payload, content_type = encode(member, value or {}), ctype
        frames.append(eventstream.event_message(name, payload, content_type, headers))
    return b"".join(frames)


# --- protocols --------------------------------------------------------------------


# (operation, data, content type) -> (status, extra headers, body)
_Success = Callable[[OperationModel, dict[str, Any], str], tuple[int, dict[str, str], bytes]]


@dataclass(frozen=True, slots=True)
class _Protocol:
    content_type: Callable[[OperationModel], str]
    success: _Success
    error: Callable[[OperationModel, str, str, str], bytes]
    request_id_headers: tuple[str, ...]


def _rpc_success(encode: Callable[[Shape, Any], bytes]) -> _Success:
    def success(op: OperationModel, data: dict[str, Any], ctype: str) -> tuple[int, dict[str, str], bytes]:
        shape = op.output_shape
        if shape is None:
            return 200, {}, encode_empty(encode)
        stream_name = shape.event_stream_name
        if not stream_name:
            return 200, {}, encode(shape, data)
        initial = {k: v for k, v in data.items() if k != stream_name}
        body = eventstream.event_message("initial-response", encode(shape, initial), ctype)
        body += _event_stream(shape.members[stream_name], data.get(stream_name, []), encode, ctype)
        return 200, {"content-type": EVENT_STREAM_TYPE}, body

    return success


def encode_empty(encode: Callable[[Shape, Any], bytes]) -> bytes:
    return cbor.encode({}) if encode is _cbor_body else b"{}"


def _rest_success(encode: Callable[[Shape, Any], bytes]) -> _Success:
    def success(op: OperationModel, data: dict[str, Any], ctype: str) -> tuple[int, dict[str, str], bytes]:
        shape = op.output_shape
        status = status_code_of(op)
        headers: dict[str, str] = {}
        if shape is None:
            return status, headers, b""
        for name, member in shape.members.items():
            if name not in data or data[name] is None:
                continue
            location = member.serialization.get("location")
            if location == "header":
                headers[member.serialization.get("name", name)] = header_value(member, data[name])
            elif location == "headers":
                prefix = member.serialization.get("name", "")
                for key, item in data[name].items():
                    headers[prefix + key] = str(item)
            elif location == "statusCode":
                status = int(data[name])
        payload = shape.serialization.get("payload")
        if payload is None:
            body_members = {k: v for k, v in data.items() if k in shape.members}
            if encode is _xml_body and not body_members:
                return status, headers, b""
            return status, headers, encode(shape, body_members)
        member = shape.members[payload]
        value = data.get(payload)
        if member.serialization.get("eventstream"):
            _default_header(headers, "content-type", EVENT_STREAM_TYPE)
            return status, headers, _event_stream(member, value or [], encode, ctype)
        if member.type_name in ("blob", "string"):
            _default_header(headers, "content-type", "application/octet-stream")
            raw = value.encode() if isinstance(value, str) else (value or b"")
            return status, headers, raw
        if value is None:
            return status, headers, b""
        return status, headers, encode(member, value)

    return success


def _query_success(op: OperationModel, data: dict[str, Any], ctype: str) -> tuple[int, dict[str, str], bytes]:
    shape = op.output_shape
    inner: list[str] = []
    if shape is not None:
        xmlwire.members(shape, data, inner)
        wrapper = shape.serialization.get("resultWrapper")
        if wrapper:
            inner = [f"<{wrapper}>", *inner, f"</{wrapper}>"]
    ns = f"https://{op.service_model.endpoint_prefix}.amazonaws.com/doc/{op.service_model.api_version}/"
    tag = f"{op.name}Response"
    body = (
        f'<{tag} xmlns="{ns}">{"".join(inner)}<ResponseMetadata><RequestId>'
        f"{REQUEST_ID_PLACEHOLDER}</RequestId></ResponseMetadata></{tag}>"
    )
    return 200, {}, body.encode()


def _ec2_success(op: OperationModel, data: dict[str, Any], ctype: str) -> tuple[int, dict[str, str], bytes]:
    inner: list[str] = []
    if op.output_shape is not None:
        xmlwire.members(op.output_shape, data, inner)
    tag = f"{op.name}Response"
    ns = f"http://ec2.amazonaws.com/doc/{op.service_model.api_version}/"
    body = f'<{tag} xmlns="{ns}"><requestId>{REQUEST_ID_PLACEHOLDER}</requestId>'
    return 200, {}, (body + "".join(inner) + f"</{tag}>").encode()


def _json_error(op: OperationModel, code: str, message: str, sender: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()


def _cbor_error(op: OperationModel, code: str, message: str, sender: str) -> bytes:
    return cbor.encode({"__type": code, "message": message})


def _rest_xml_error(op: OperationModel, code: str, message: str, sender: str) -> bytes:
    if op.service_model.endpoint_prefix == "s3":
        return xmlwire.s3_error(code, message, sender, REQUEST_ID_PLACEHOLDER)
    return xmlwire.query_error(code, message, sender, REQUEST_ID_PLACEHOLDER)


def _xml_error(
    build: Callable[[str, str, str, str], bytes],
) -> Callable[[OperationModel, str, str, str], bytes]:
    return lambda op, code, message, sender: build(code, message, sender, REQUEST_ID_PLACEHOLDER)


def _json_type(op: OperationModel) -> str:
    return f"application/x-amz-json-{op.service_model.metadata.get('jsonVersion', '1.0')}"


_AMZN = ("x-amzn-RequestId",)
PROTOCOLS: dict[str, _Protocol] = {
    "json": _Protocol(_json_type, _rpc_success(_json_body), _json_error, _AMZN),
    "smithy-rpc-v2-cbor": _Protocol(
        lambda op: "application/cbor", _rpc_success(_cbor_body), _cbor_error, _AMZN
    ),
    "rest-json": _Protocol(lambda op: "application/json", _rest_success(_json_body), _json_error, _AMZN),
    "rest-xml": _Protocol(
        lambda op: "application/xml",
        _rest_success(_xml_body),
        _rest_xml_error,
        ("x-amz-request-id", "x-amz-id-2"),
    ),
    "query": _Protocol(lambda op: "text/xml", _query_success, _xml_error(xmlwire.query_error), _AMZN),
    "ec2": _Protocol(lambda op: "text/xml", _ec2_success, _xml_error(xmlwire.ec2_error), _AMZN),
}


def _base_headers(op: OperationModel, protocol: str, ctype: str) -> dict[str, str]:
    headers = {"content-type": ctype}
    if protocol == "smithy-rpc-v2-cbor":
        headers["smithy-protocol"] = "rpc-v2-cbor"
    return headers


def success_wire(op: OperationModel, data: dict[str, Any]) -> Wire:
    protocol = protocol_of(op)
    spec = PROTOCOLS[protocol]
    ctype = spec.content_type(op)
    status, extra, body = spec.success(op, data, ctype)
    headers = _base_headers(op, protocol, ctype)
    for name, value in extra.items():
        _set_header(headers, name, value)  # data wins over defaults, whatever the case
    _set_header(headers, "content-length", str(len(body)))
    return Wire(status, headers, body, spec.request_id_headers)


def _default_header(headers: dict[str, str], name: str, value: str) -> None:
    if not any(h.lower() == name for h in headers):
        headers[name] = value


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    lowered = name.lower()
    for existing in [h for h in headers if h.lower() == lowered]:
        del headers[existing]
    headers[name] = value


def error_wire(op: OperationModel, code: str, status: int, message: str) -> Wire:
    protocol = protocol_of(op)
    spec = PROTOCOLS[protocol]
    sender = "Sender" if status < 500 else "Receiver"
    body = spec.error(op, code, message, sender)
    headers = _base_headers(op, protocol, spec.content_type(op))
    if protocol == "rest-json":
        headers["x-amzn-ErrorType"] = code
    if op.service_model.metadata.get("awsQueryCompatible") is not None:
        headers["x-amzn-query-error"] = f"{code};{sender}"
    headers["content-length"] = str(len(body))
    return Wire(status, headers, body, spec.request_id_headers)


def supported_protocols() -> frozenset[str]:
    return frozenset(PROTOCOLS)
