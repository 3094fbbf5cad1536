"""What a message can carry: the size and attribute limits of SQS and SNS messages, Lambda's
ClientContext, and the replacement of placeholder fields in a serialized body (payload.py)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

MAX_MESSAGE_ATTRIBUTES = 10
MAX_MESSAGE_BYTES = 262_144
"""SQS and SNS size limit per request (SQS now takes 1 MiB; 256 KiB is safe everywhere)."""
MAX_CLIENT_CONTEXT = 3583


def _utf8(value: object) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return len(value) if isinstance(value, (bytes, bytearray)) else 0


def message_size(body: object, attributes: Mapping[str, Any]) -> int:
    size = _utf8(body)
    for name, item in attributes.items():
        size += _utf8(name)
        if isinstance(item, Mapping):
            size += sum(_utf8(v) for v in item.values() if isinstance(v, (str, bytes, bytearray)))
    return size


def with_fields(
    existing: Mapping[str, Any], fields: Mapping[str, str], budget: list[int]
) -> tuple[dict[str, Any] | None, bool]:
    """(a copy of ``existing`` with as many ``fields`` as fit or None, skipped)."""
    if any(name in existing for name in fields):
        return None, False  # propagated already (by the caller, say): leave it
    out = dict(existing)
    for name, value in fields.items():
        cost = len(name) + len("String") + len(value)
        if len(out) >= MAX_MESSAGE_ATTRIBUTES or cost > budget[0]:
            break
        out[name] = {"DataType": "String", "StringValue": value}
        budget[0] -= cost
    added = len(out) > len(existing)
    return (out if added else None), not added


def with_trace_header(message: Mapping[str, Any], header: str) -> dict[str, Any] | None:
    system = message.get("MessageSystemAttributes") or {}
    if not isinstance(system, Mapping) or "AWSTraceHeader" in system:
        return None
    return {**system, "AWSTraceHeader": {"DataType": "String", "StringValue": header}}


def json_with_member(body: bytes, name: str, value: object) -> bytes | None:
    """A serialized JSON object with one more member, appended; None if ``body`` is not an
    object. The caller knows that the object does not have that member yet."""
    head = body.rstrip()
    if not (head.startswith(b"{") and head.endswith(b"}")):
        return None
    head = head[:-1].rstrip()
    separator = b"" if head == b"{" else b", "
    return b"%s%s%s: %s}" % (head, separator, json.dumps(name).encode(), json.dumps(value).encode())


def replaced(body: object, replacements: Mapping[str, str]) -> object:
    """The serialized body with each placeholder value replaced: bytes or text (JSON
    protocols), or the parameter dict that the query protocol encodes later."""
    for old, new in replacements.items():
        if not old or old == new:
            continue
        if isinstance(body, (bytes, bytearray)):
            body = body.replace(old.encode(), new.encode())
        elif isinstance(body, str):
            body = body.replace(old, new)
        elif isinstance(body, dict):
            body = {k: v.replace(old, new) if isinstance(v, str) else v for k, v in body.items()}
    return body


def client_context_with(existing: object, fields: Mapping[str, str]) -> tuple[str | None, bool]:
    """(the base64 ClientContext with ``fields`` added to ``custom``, or None; skipped)."""
    document: object = {}
    if existing is not None:
        try:
            document = json.loads(base64.b64decode(str(existing), validate=True))
        except (ValueError, binascii.Error):
            return None, True
    custom = document.get("custom", {}) if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(custom, dict):
        return None, True
    if any(name in custom for name in fields):
        return None, False
    text = json.dumps({**document, "custom": {**custom, **fields}}, separators=(",", ":"))
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(encoded) > MAX_CLIENT_CONTEXT:
        return None, True
    return encoded, False
