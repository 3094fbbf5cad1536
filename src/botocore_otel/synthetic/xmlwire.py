"""XML bodies for the rest-xml, query and ec2 protocols.

Element naming mirrors what botocore's ``BaseXMLResponseParser`` looks up:
a member's ``locationName`` (or its model name); a flattened list repeats the
list member's ``locationName`` directly in the parent; a map entry holds
``key``/``value`` children (or their ``locationName``).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from botocore.model import Shape

_FALLBACK_NS = "urn:botocore-otel:synthetic:"
# XML parsers turn a raw CR (and CRLF) into LF; a character reference survives.
_TEXT = {"\r": "&#13;"}


def iso8601(value: datetime.datetime) -> str:
    value = value.astimezone(datetime.timezone.utc)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def scalar_text(shape: Shape, value: Any) -> str:
    """Text of a scalar the way the XML (and REST header) parsers read it back."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return iso8601(value)
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if kind in ("float", "double"):
        return repr(float(value))
    return str(value)


def namespace_attrs(serialization: Mapping[str, Any]) -> dict[str, str]:
    ns = serialization.get("xmlNamespace")
    if isinstance(ns, Mapping) and ns.get("uri"):
        prefix = ns.get("prefix")
        return {f"xmlns:{prefix}" if prefix else "xmlns": str(ns["uri"])}
    if isinstance(ns, str):
        return {"xmlns": ns}
    return {}


def members(shape: Shape, value: Mapping[str, Any], out: list[str]) -> dict[str, str]:
    """Append the member elements of a structure; return its XML attributes."""
    attrs: dict[str, str] = {}
    shape_members = shape.members
    for name, item in value.items():
        member = shape_members[name]
        ser = member.serialization
        if item is None or ser.get("location") or ser.get("eventheader"):
            continue
        if ser.get("xmlAttribute"):
            attr_name = ser.get("name", name)
            if ":" in attr_name:
                prefix = attr_name.split(":", 1)[0]
                attrs.update(namespace_attrs(ser) or {f"xmlns:{prefix}": _FALLBACK_NS + prefix})
            attrs[attr_name] = scalar_text(member, item)
            continue
        member_element(name, member, item, out)
    return attrs


def attr_text(attrs: Mapping[str, str]) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())


def member_element(name: str, shape: Shape, value: Any, out: list[str]) -> None:
    ser = shape.serialization
    if ser.get("flattened") and shape.type_name == "list":
        item_name = shape.member.serialization.get("name") or ser.get("name") or name
        for item in value:
            element(item_name, shape.member, item, out)
    elif ser.get("flattened") and shape.type_name == "map":
        for key, item in value.items():
            _map_entry(ser.get("name") or name, shape, key, item, out)
    else:
        element(ser.get("name") or name, shape, value, out)


def _map_entry(tag: str, shape: Shape, key: Any, item: Any, out: list[str]) -> None:
    out.append(f"<{tag}>")
    element(shape.key.serialization.get("name") or "key", shape.key, key, out)
    element(shape.value.serialization.get("name") or "value", shape.value, item, out)
    out.append(f"</{tag}>")


def element(tag: str, shape: Shape, value: Any, out: list[str], extra_attrs: str = "") -> None:
    kind = shape.type_name
    if kind == "structure":
        children: list[str] = []
        attrs = namespace_attrs(shape.serialization)
        attrs.update(members(shape, value, children))
        out.append(f"<{tag}{extra_attrs}{attr_text(attrs)}>")
        out.extend(children)
        out.append(f"</{tag}>")
    elif kind == "list":
        out.append(f"<{tag}{extra_attrs}>")
        item_tag = shape.member.serialization.get("name") or "member"
        for item in value:
            element(item_tag, shape.member, item, out)
        out.append(f"</{tag}>")
    elif kind == "map":
        out.append(f"<{tag}{extra_attrs}>")
        for key, item in value.items():
            _map_entry("entry", shape, key, item, out)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}{extra_attrs}>{escape(scalar_text(shape, value), _TEXT)}</{tag}>")


def document(tag: str, shape: Shape | None, value: Mapping[str, Any], attrs: str = "") -> bytes:
    """A whole XML document whose root element holds the structure's members."""
    out: list[str] = []
    if shape is None:
        out.append(f"<{tag}{attrs}/>")
    else:
        element(tag, shape, value, out, attrs)
    return "".join(out).encode("utf-8")


# --- error bodies, one per XML flavour --------------------------------------


def query_error(code: str, message: str, sender: str, request_id: str) -> bytes:
    return (
        "<ErrorResponse><Error>"
        f"<Type>{sender}</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def ec2_error(code: str, message: str, sender: str, request_id: str) -> bytes:
    return (
        "<Response><Errors><Error>"
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    ).encode()


def s3_error(code: str, message: str, sender: str, request_id: str) -> bytes:
    return (
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    ).encode()
