"""Placeholders in a serialized body (payload propagation's general way, ``payload.py``):
replaced by the call span's fields at ``before-call``, or taken out when there is no span."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any


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


def without(body: object, placeholders: Collection[str]) -> object:
    """The serialized body without what holds a placeholder: a JSON member (an X-Ray header) or
    message attribute, or the query protocol's parameters of that attribute. A body of another
    kind is returned as it is."""
    if isinstance(body, dict):
        doomed = {key for key, value in body.items() if _holds(value, placeholders)}
        # an attribute's Name and DataType go with its value: "MessageAttribute.2." (SQS)
        suffix = "Value.StringValue"
        entries = tuple(key.removesuffix(suffix) for key in doomed if key.endswith("." + suffix))
        return {k: v for k, v in body.items() if k not in doomed and not (entries and k.startswith(entries))}
    if not isinstance(body, (bytes, bytearray, str)):
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    text = json.dumps(_without(document, placeholders))  # as botocore's JSON serializer writes it
    return text if isinstance(body, str) else text.encode("utf-8")


def _without(node: Any, placeholders: Collection[str]) -> Any:
    if isinstance(node, list):
        return [_without(item, placeholders) for item in node]
    if not isinstance(node, dict):
        return node
    kept = {}
    for key, value in node.items():
        if _holds(value, placeholders):
            continue
        if isinstance(value, dict):
            if _holds(value.get("StringValue"), placeholders):
                continue  # a message attribute of ours
            cleaned = _without(value, placeholders)
            if value and not cleaned:
                continue  # a map that held only ours (MessageAttributes, MessageSystemAttributes)
            kept[key] = cleaned
        else:
            kept[key] = _without(value, placeholders)
    return kept


def _holds(value: object, placeholders: Collection[str]) -> bool:
    return isinstance(value, str) and value in placeholders
