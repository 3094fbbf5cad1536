"""Output data in *output-shape form*: generate it from a shape, or check user data.

The data is what botocore hands the caller after parsing (member names as in
the model, ``datetime`` for timestamps, ``bytes`` for blobs); the wire module
turns it into bytes. An event-stream member holds a list of events, each a
one-key dict ``{"EventName": {...}}``.
"""

from __future__ import annotations

import datetime
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.utils import parse_timestamp

from botocore_otel.errors import ConfigError
from botocore_otel.synthetic.catalog import default_catalog, suggest
from botocore_otel.synthetic.rules import FILL_MODES as FILL_MODES

FIXED_TIME = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
MAX_DEPTH = 12  # nesting cap for fill="all" on deep (non-recursive) shape trees

# Response headers the engine owns: output members bound to them aren't generated,
# and given values are replaced (content-length is always the real body length).
ENGINE_HEADERS = frozenset({"content-length", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2"})

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT_TYPES = frozenset({"integer", "long", "short", "byte"})
_FLOAT_TYPES = frozenset({"float", "double"})
_FLOAT_MAX = sys.float_info.max


def is_streaming_payload(shape: Shape, member: str) -> bool:
    """botocore streams a blob payload (``StreamingBody``), ``streaming`` trait or not."""
    return bool(shape.serialization.get("payload") == member and shape.members[member].type_name == "blob")


def protocol_of(operation: OperationModel) -> str:
    """The wire protocol botocore uses for ``operation``'s service. ``resolved_protocol``
    (newer botocore, for models that list several protocols) is absent from older botocore,
    whose models name exactly one."""
    model = operation.service_model
    protocol = getattr(model, "resolved_protocol", None) or model.protocol
    return str(protocol)


def status_code_of(operation: OperationModel) -> int:
    code = operation.http.get("responseCode", 200)
    return code if isinstance(code, int) and 200 <= code < 300 else 200


class _Generator:
    def __init__(self, fill: str, body_size: int, flattened_needs_item: bool) -> None:
        self.all = fill == "all"
        self.body_size = body_size
        # XML protocols drop an empty flattened list/map on the wire, so give it one item.
        self.flattened_needs_item = flattened_needs_item
        self.stack: list[str] = []

    def value(self, shape: Shape, name: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            if shape.is_document_type:
                return {"key": "value"}
            return self.structure(shape)
        if kind == "list":
            return self.sequence(shape, name)
        if kind == "map":
            return self.mapping(shape, name)
        return scalar(shape, name, self.all)

    def structure(self, shape: Shape) -> dict[str, Any]:
        if shape.name in self.stack or len(self.stack) > MAX_DEPTH:
            return {}
        top = not self.stack
        self.stack.append(shape.name)
        try:
            out: dict[str, Any] = {}
            required = set(shape.required_members)
            members = shape.members
            if shape.serialization.get("eventstream"):
                return out
            payload = shape.serialization.get("payload")
            for name, member in members.items():
                ser = member.serialization
                if ser.get("location") == "header":
                    header = ser.get("name", "").lower()
                    # A generated checksum would fail botocore's check of the body it reads.
                    if header in ENGINE_HEADERS or header.startswith("x-amz-checksum-"):
                        continue
                    if header == "content-range":
                        if self.all and self.body_size:
                            out[name] = f"bytes 0-{self.body_size - 1}/{self.body_size}"
                        continue
                if shape.is_tagged_union:
                    if member.name in self.stack or ser.get("eventheader"):
                        continue
                    out[name] = self.value(member, name)
                    break
                if is_streaming_payload(shape, name):
                    out[name] = b"x" * self.body_size
                elif ser.get("eventstream"):
                    out[name] = self.events(member) if self.all else []
                elif ser.get("location") == "statusCode":
                    out[name] = 200
                elif self.all or name in required or name == payload:
                    if member.type_name == "structure" and member.name in self.stack:
                        continue
                    out[name] = self.value(member, name)
                elif top and member.type_name == "list" and self._can_be_empty(ser):
                    # Top-level lists come back empty rather than missing, as real
                    # services do (``resp["Items"]`` works); not flattened ones, which
                    # an XML body can't show empty. Maps stay out: an empty
                    # ``LastEvaluatedKey`` would make paginators loop forever.
                    out[name] = []
            return out
        finally:
            self.stack.pop()

    def events(self, stream: Shape) -> list[dict[str, Any]]:
        """One event: the stream's first non-exception event type."""
        for name, event in stream.members.items():
            if not event.metadata.get("exception"):
                return [{name: self.structure(event)}]
        return []

    def _can_be_empty(self, serialization: Mapping[str, Any]) -> bool:
        flattened = self.flattened_needs_item and serialization.get("flattened")
        return not flattened and "location" not in serialization

    def _one_item(self, shape: Shape) -> bool:
        return self.all or (self.flattened_needs_item and bool(shape.serialization.get("flattened")))

    def sequence(self, shape: Shape, name: str) -> list[Any]:
        member = shape.member
        if not self._one_item(shape) or member.name in self.stack:
            return []
        return [self.value(member, name)]

    def mapping(self, shape: Shape, name: str) -> dict[str, Any]:
        if not self._one_item(shape) or shape.value.name in self.stack:
            return {}
        key = scalar(shape.key, "key", True)
        return {str(key): self.value(shape.value, name)}


def scalar(shape: Shape, name: str, filled: bool) -> Any:
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            return {"key": "value"}
        if shape.enum:
            return shape.enum[0]
        text = name if filled else "x"
        minimum = shape.metadata.get("min", 0)
        return text + "x" * max(0, int(minimum) - len(text))
    if kind in _INT_TYPES:
        return max(int(shape.metadata.get("min", 1 if filled else 0)), 1 if filled else 0)
    if kind in _FLOAT_TYPES:
        return 1.5 if filled else 0.0
    if kind == "boolean":
        return filled
    if kind == "timestamp":
        return FIXED_TIME
    if kind == "blob":
        return b"blob" if filled else b""
    return None


def generate_output(
    operation: OperationModel, fill: str = "required", body_size: int = 1024
) -> dict[str, Any]:
    """Output data for ``operation``: required members only, or every member."""
    shape = operation.output_shape
    if shape is None:
        return {}
    protocol = protocol_of(operation)
    xml = protocol in ("rest-xml", "query", "ec2")
    out = _Generator(fill, body_size, xml).structure(shape)
    if fill == "all":
        # No next-page token / "truncated" flag: paginators would loop forever.
        service = operation.service_model.service_name
        for name in default_catalog().pagination_members(service, operation.name):
            out.pop(name, None)
    return out


# --- user data -------------------------------------------------------------


def _fail(path: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(path, value, allowed)


def normalize(shape: Shape | None, value: object, path: str) -> dict[str, Any]:
    """Check user data against an output shape and convert it to canonical values."""
    if shape is None:
        if value in ({}, None):
            return {}
        raise _fail(path, value, "no data: this operation has no output")
    if not isinstance(value, Mapping):
        raise _fail(path, value, f"a mapping of {shape.name} members")
    result = _normalize(shape, value, path)
    assert isinstance(result, dict)
    return result


def _normalize(shape: Shape, value: object, path: str) -> Any:
    kind = shape.type_name
    check = _SCALARS.get(kind)
    if check is not None:
        return check(shape, value, path)
    if kind == "structure":
        if shape.is_document_type:
            return _json_like(value, path)
        return _normalize_structure(shape, value, path)
    if kind == "list":
        if not isinstance(value, (list, tuple)):
            raise _fail(path, value, f"a list of {shape.member.type_name}")
        return [_normalize(shape.member, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise _fail(path, value, f"a mapping of string to {shape.value.type_name}")
        return {
            _normalize(shape.key, k, f"{path} key"): _normalize(shape.value, v, f"{path}.{k}")
            for k, v in value.items()
        }
    raise _fail(path, value, f"a supported shape type, not {kind}")


def _normalize_structure(shape: Shape, value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, value, f"a mapping of {shape.name} members")
    members = shape.members
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or key not in members:
            hint = suggest(str(key), list(members))
            extra = f" (did you mean {hint!r}?)" if hint else ""
            allowed = ", ".join(members) or "none"
            raise _fail(f"{path}.{key}", item, f"a member of {shape.name}: {allowed}{extra}")
        member = members[key]
        if member.serialization.get("eventstream"):
            out[key] = _normalize_events(member, item, f"{path}.{key}")
        elif member.type_name == "blob":
            out[key] = _blob(member, item, f"{path}.{key}")
        else:
            out[key] = _normalize(member, item, f"{path}.{key}")
    if shape.is_tagged_union and len(out) != 1:
        raise _fail(path, dict(value), f"exactly one member of union {shape.name}")
    return out


def _normalize_events(shape: Shape, value: object, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, (list, tuple)):
        raise _fail(path, value, "a list of events, each {EventName: {...}}")
    events = []
    for i, event in enumerate(value):
        if not isinstance(event, Mapping) or len(event) != 1:
            raise _fail(f"{path}[{i}]", event, "one event: {EventName: {...}}")
        ((name, body),) = event.items()
        if name not in shape.members or shape.members[name].metadata.get("exception"):
            raise _fail(f"{path}[{i}]", name, f"an event of {shape.name}: {list(shape.members)}")
        events.append({name: _normalize(shape.members[name], body, f"{path}[{i}].{name}")})
    return events


def _json_like(value: object, path: str) -> Any:
    """Documents and JSON-value headers: plain JSON values only."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _integer(None, value, path)
    if isinstance(value, float):
        return _float_value(value, path)
    if isinstance(value, str):
        return _string_value(value, path)
    if isinstance(value, (list, tuple)):
        return [_json_like(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _json_like(v, f"{path}.{k}") for k, v in value.items()}
    raise _fail(path, value, "a JSON value (null, boolean, number, string, list, object)")


def _string(shape: Shape, value: object, path: str) -> Any:
    if shape.serialization.get("jsonvalue"):
        return _json_like(value, path)
    return _string_value(value, path)


def _string_value(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, value, "a string")
    if _NOT_XML_CHAR.search(value):
        # Every protocol must be able to carry it: XML 1.0 has no way to write these.
        raise _fail(path, value, "a string without control characters or lone surrogates")
    return value


def _integer(shape: Shape | None, value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, value, "an integer")
    if not -(2**63) <= value < 2**63:
        raise _fail(path, value, "an integer in the 64-bit signed range")
    return value


def _float(shape: Shape, value: object, path: str) -> float:
    return _float_value(value, path)


def _float_value(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, value, "a number")
    if not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # compared first: int(10**400) has no float; NaN fails
        raise _fail(path, value, "a finite number a double can hold")
    return float(value)


def _boolean(shape: Shape, value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, value, "true or false")
    return value


def _timestamp(shape: Shape, value: object, path: str) -> datetime.datetime:
    """A UTC datetime at millisecond precision (what epoch-seconds wire formats keep)."""
    parsed: object = None
    if isinstance(value, datetime.datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            parsed = parse_timestamp(value)
        except Exception:
            parsed = None
    if isinstance(parsed, datetime.datetime):
        try:
            utc = parsed.astimezone(datetime.timezone.utc)
        except (OverflowError, ValueError):
            utc = None
        if utc is not None and utc.year >= 1970:
            return utc.replace(microsecond=utc.microsecond // 1000 * 1000)
    raise _fail(path, value, "a timestamp from 1970 on: ISO 8601 string, epoch seconds or datetime")


def _blob(shape: Shape, value: object, path: str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(path, value, "bytes or a string (sent as UTF-8)") from None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise _fail(path, value, "bytes or a string (sent as UTF-8)")


_SCALARS: dict[str, Callable[[Shape, object, str], Any]] = {
    "string": _string,
    "character": _string,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "blob": _blob,
    **{t: _integer for t in _INT_TYPES},
    **{t: _float for t in _FLOAT_TYPES},
}
