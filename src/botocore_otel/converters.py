"""Converters of the service tables: a member's value -> an attribute value (None: none).

Bounded: lists carry at most :data:`MAX_LIST` items, strings :data:`MAX_TEXT` characters,
ints 64 bits (botocore checks only a number's minimum, and OTLP carries no larger int: its
encoder logs a traceback and drops one); structured values are JSON with never-captured
members removed (:mod:`botocore_otel.redact`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard
from urllib.parse import unquote

from opentelemetry.util.types import AttributeValue

from botocore_otel.arn import parse_arn
from botocore_otel.redact import is_denied_member, is_personal

Convert = Callable[[Any], "AttributeValue | None"]
MAX_LIST = 64
"""Most items any list attribute carries (table names, consumed capacity ...)."""
MAX_TEXT = 1024
"""Longest string a table puts in an attribute (``aws.s3.delete`` is cut to fit)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def is_int64(value: Any) -> TypeGuard[int]:
    """An int (not a bool) that an attribute can carry."""
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX


# -- converters: value of a member -> attribute value, None to leave it out ------------
def text(value: Any) -> AttributeValue | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def integer(value: Any) -> AttributeValue | None:
    return value if is_int64(value) else None


def number(value: Any) -> AttributeValue | None:
    return float(value) if isinstance(value, float) or is_int64(value) else None


def boolean(value: Any) -> AttributeValue | None:
    return value if isinstance(value, bool) else None


def count(value: Any) -> AttributeValue | None:
    return len(value) if isinstance(value, (list, tuple, Mapping)) else None


def texts(value: Any) -> AttributeValue | None:
    if not isinstance(value, (list, tuple)):
        return None
    items = [item[:MAX_TEXT] for item in value[:MAX_LIST] if isinstance(item, str)]
    return items or None


_PLAIN = frozenset({str, int, float, bool, type(None)})
_ATTRIBUTE_VALUE_TYPES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


def _never_shown(key: str, value: Any) -> bool:
    """A denied member (or map key); or a person's (``email``, ``phoneNumber``) holding a value:
    a scalar, or a DynamoDB AttributeValue (an item collection's key). A person's name over a
    structure is a name the user chose (a DynamoDB index ``email-index``): shown."""
    if is_denied_member(key):
        return True
    if type(value) in _PLAIN or isinstance(value, (list, tuple)):
        return is_personal(key)
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in _ATTRIBUTE_VALUE_TYPES
        and is_personal(key)
    )


def _scrub(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # type() first: an isinstance of the Mapping ABC costs more than the rest
        return value
    if kind is dict or isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items() if not _never_shown(str(k), v)}
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return value


# One encoder for every call: json.dumps with options builds one each time.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def as_json(value: Any) -> str:
    return _encode(_scrub(value))


def json_text(value: Any) -> AttributeValue | None:
    return as_json(value) if isinstance(value, Mapping) and value else None


def json_items(value: Any) -> AttributeValue | None:
    """The JSON of each item (a single mapping counts as a list of one)."""
    if type(value) is dict or isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        return None
    return [as_json(item) for item in value[:MAX_LIST]]


def nested(member: str, convert: Convert) -> Convert:
    def get(value: Any) -> AttributeValue | None:
        return convert(value.get(member)) if isinstance(value, Mapping) else None

    return get


def arn_only(value: Any) -> AttributeValue | None:
    return value[:MAX_TEXT] if parse_arn(value) is not None else None


# -- service-specific converters ---------------------------------------------------------
def queue_name(url: Any) -> AttributeValue | None:
    """The queue's name: the last path segment of its URL."""
    if not isinstance(url, str) or not url:
        return None
    return text(url.rstrip("/").rpartition("/")[2]) or None


def topic_name(arn: Any) -> AttributeValue | None:
    parsed = parse_arn(arn)
    return parsed.resource[:MAX_TEXT] if parsed is not None and parsed.service == "sns" else None


def stream_name(arn: Any) -> AttributeValue | None:
    parsed = parse_arn(arn)
    if parsed is None or parsed.resource_type != "stream":
        return None
    return parsed.resource_id.split("/", 1)[0][:MAX_TEXT] or None


def table_name(name: Any) -> str | None:
    parsed = parse_arn(name)
    if parsed is not None:
        return parsed.resource_id.split("/", 1)[0][:MAX_TEXT] if parsed.resource_type == "table" else None
    return name[:MAX_TEXT] if isinstance(name, str) and name else None


def one_table(value: Any) -> AttributeValue | None:
    name = table_name(value)
    return [name] if name else None


def table_keys(value: Any) -> AttributeValue | None:
    if not isinstance(value, Mapping):
        return None
    names = sorted({name for name in map(table_name, value) if name})
    return names[:MAX_LIST] or None


def transact_tables(value: Any) -> AttributeValue | None:
    names: set[str] = set()
    for item in value if isinstance(value, (list, tuple)) else ():
        for action in item.values() if isinstance(item, Mapping) else ():
            name = table_name(action.get("TableName")) if isinstance(action, Mapping) else None
            if name:
                names.add(name)
    return sorted(names)[:MAX_LIST] or None


def s3_copy_source(value: Any) -> AttributeValue | None:
    """``bucket/key``, from the string form (URL-quoted once botocore has seen it) or dict."""
    if isinstance(value, Mapping):
        bucket, key = value.get("Bucket"), value.get("Key")
        return text(f"{bucket}/{key}") if bucket and key else None
    if not isinstance(value, str) or not value:
        return None
    source = unquote(value.partition("?versionId=")[0])
    return text(source[1:] if source.startswith("/") else source)


def s3_delete(value: Any) -> AttributeValue | None:
    """The Delete container as the registry shows it, cut to :data:`MAX_TEXT` characters:
    ``Objects=[{Key=a,VersionId=v},{Key=b}],Quiet=true``, then ``...(+N more)``."""
    if not isinstance(value, Mapping):
        return None
    objects = value.get("Objects")
    objects = objects if isinstance(objects, (list, tuple)) else []
    quiet = value.get("Quiet")
    tail = "]" + (f",Quiet={str(quiet).lower()}" if isinstance(quiet, bool) else "")
    parts: list[str] = []
    size = len("Objects=[") + len(tail)
    for index, item in enumerate(objects):
        if not isinstance(item, Mapping):
            continue
        part = "{" + ",".join(f"{k}={item[k]}" for k in ("Key", "VersionId") if item.get(k)) + "}"
        more = f"...(+{len(objects) - index} more)"
        if size + len(part) + 1 + len(more) > MAX_TEXT:
            parts.append(more)
            break
        parts.append(part)
        size += len(part) + 1
    return "Objects=[" + ",".join(parts) + tail


def state_machine_of_execution(value: Any) -> AttributeValue | None:
    """``arn:...:stateMachine:M`` from ``arn:...:execution:M:run`` (or ``express:M:run:id``)."""
    parsed = parse_arn(value)
    if parsed is None or parsed.resource_type not in ("execution", "express"):
        return None
    machine = parsed.resource_id.split(":", 1)[0]
    return str(parsed._replace(resource=f"stateMachine:{machine}"))[:MAX_TEXT] if machine else None


def event_bus_name(value: Any) -> str | None:
    parsed = parse_arn(value)
    if parsed is not None:
        return parsed.resource_id[:MAX_TEXT] or None
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def event_buses(entries: Any) -> AttributeValue | None:
    """The bus all PutEvents entries go to (``default`` when unnamed); None when several."""
    if not isinstance(entries, (list, tuple)) or not entries:
        return None
    names = {
        event_bus_name(entry.get("EventBusName")) or "default"
        for entry in entries
        if isinstance(entry, Mapping)
    }
    return names.pop() if len(names) == 1 else None


def single_message_id(messages: Any) -> AttributeValue | None:
    """A receive's ``messaging.message.id``: only when exactly one message came back."""
    if isinstance(messages, (list, tuple)) and len(messages) == 1 and isinstance(messages[0], Mapping):
        return text(messages[0].get("MessageId"))
    return None


def lambda_target(function_name: Any, client_region: str | None) -> dict[str, AttributeValue]:
    """``faas.invoked_*`` and ``aws.lambda.invoked_arn`` of Invoke's ``FunctionName``: a
    name (``f``, ``f:alias``), a partial ARN (``123456789012:function:f``) or a full ARN."""
    if not isinstance(function_name, str) or not function_name:
        return {}
    attributes: dict[str, AttributeValue] = {"faas.invoked_provider": "aws"}
    parsed = parse_arn(function_name)
    if parsed is not None:
        if parsed.resource_type != "function":
            return {}
        attributes["aws.lambda.invoked_arn"] = function_name[:MAX_TEXT]
        name = parsed.resource_id.split(":", 1)[0]
        region: str | None = parsed.region or client_region
    else:
        parts = function_name.split(":")
        name = parts[2] if len(parts) >= 3 and parts[1] == "function" else parts[0]
        region = client_region
    if name:
        attributes["faas.invoked_name"] = name[:MAX_TEXT]
    if region:
        attributes["faas.invoked_region"] = region[:MAX_TEXT]
    return attributes
