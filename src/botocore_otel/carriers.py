"""What a message can carry: the size and attribute limits of SQS and SNS messages, Lambda's
ClientContext; trace context written into a message's parameters, and the replacement of
placeholder fields in a serialized body (payload.py)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping, Sequence
from json.encoder import encode_basestring_ascii as json_string  # C: a quoted, escaped JSON string
from typing import Any

from opentelemetry.trace.span import DEFAULT_TRACE_STATE, SpanContext

MAX_MESSAGE_ATTRIBUTES = 10
MAX_MESSAGE_BYTES = 262_144
"""SQS and SNS size limit per request (SQS now takes 1 MiB; 256 KiB is safe everywhere)."""
MAX_CLIENT_CONTEXT = 3583


# SQS's and SNS's rule for a message attribute's name (one that breaks it fails the send): its
# characters, no dot first, last or twice in a row, at most 256 characters.
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")


def carriable_name(name: str) -> bool:
    """A propagator's field name that SQS and SNS take for a message attribute: by their rule,
    and not beginning with ``AWS.`` or ``Amazon.`` (theirs)."""
    return (
        len(name) <= 256
        and _ATTRIBUTE_NAME.fullmatch(name) is not None
        and not name.lower().startswith(("aws.", "amazon."))
    )


def utf8_size(value: object) -> int:
    """The UTF-8 bytes of a text (or the length of bytes): how SQS and SNS count a message."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return len(value) if isinstance(value, (bytes, bytearray)) else 0


def message_size(body: object, attributes: Mapping[str, Any], serialized: bool = False) -> int:
    """What SQS and SNS count of a message: its body, and its attributes' names, data types and
    values. ``serialized``: as a JSON body has them, Binary values in base64."""
    size = utf8_size(body)
    for name, item in attributes.items():
        size += utf8_size(name)
        if type(item) is dict or isinstance(item, Mapping):  # type() first: an ABC check costs more
            for key, value in item.items():
                if serialized and key == "BinaryValue" and isinstance(value, str):
                    size += _base64_size(value)
                elif isinstance(value, (str, bytes, bytearray)):
                    size += utf8_size(value)
    return size


def _base64_size(text: str) -> int:
    """The bytes a base64 text stands for (a serialized Binary attribute's)."""
    return len(text) // 4 * 3 - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)


def request_budget(messages: Sequence[object], body_key: str, serialized: bool = False) -> list[int]:
    """The request's bytes left for our attributes: the size limit less every message's body
    and attributes. A list: ``with_fields`` takes from it, message after message.
    ``serialized``: the messages as decoded from a JSON body (``message_size``)."""
    budget = MAX_MESSAGE_BYTES
    for message in messages:
        # type() first: isinstance of an ABC costs about 1k instructions, on each batch entry
        if type(message) is dict or isinstance(message, Mapping):
            attributes = message.get("MessageAttributes") or {}
            if type(attributes) is dict or isinstance(attributes, Mapping):
                budget -= message_size(message.get(body_key), attributes, serialized)
    return [budget]


def fields_to_add(
    existing: Collection[str], fields: Mapping[str, str], budget: list[int]
) -> tuple[dict[str, Any] | None, bool]:
    """(as many ``fields`` as fit beside the ``existing`` attribute names, or None; skipped)."""
    if any(name in existing for name in fields):
        return None, False  # propagated already (by the caller, say): leave it
    added, used = _fitting(fields, budget[0], MAX_MESSAGE_ATTRIBUTES - len(existing))
    if not added:
        return None, True
    budget[0] -= used
    return added, False


def with_fields(
    existing: Mapping[str, Any], fields: Mapping[str, str], budget: list[int]
) -> tuple[dict[str, Any] | None, bool]:
    """(a copy of ``existing`` with as many ``fields`` as fit or None, skipped)."""
    added, skipped = fields_to_add(existing, fields, budget)
    return (None if added is None else {**existing, **added}), skipped


def _fitting(fields: Mapping[str, str], budget: int, room: int) -> tuple[dict[str, Any], int]:
    """(as many ``fields`` as fit, as message attributes; the bytes they take)."""
    out: dict[str, Any] = {}
    used = 0
    for name, value in fields.items():
        cost = len(name) + len("String") + len(value)
        if len(out) >= room or used + cost > budget:
            break
        out[name] = {"DataType": "String", "StringValue": value}
        used += cost
    return out, used


def with_trace_header(message: Mapping[str, Any], header: str) -> dict[str, Any] | None:
    system = message.get("MessageSystemAttributes") or {}
    if not isinstance(system, Mapping) or "AWSTraceHeader" in system:
        return None
    return {**system, "AWSTraceHeader": {"DataType": "String", "StringValue": header}}


def write_into_parameters(
    params: dict[str, Any],
    entries_key: str | None,
    body_key: str,
    fields: Mapping[str, str],
    header: str | None,
) -> int:
    """Writes ``fields`` (and SQS's X-Ray ``header``) into a message's parameters, or each
    entry's of a batch, as far as room and the request's budget go; copy-on-write for the
    caller's objects. Returns how many messages were skipped."""
    if entries_key is None:
        messages: list[Any] = [params]
    else:
        entries = params.get(entries_key)
        if not isinstance(entries, (list, tuple)):
            return 0
        messages = list(entries)
    budget = request_budget(messages, body_key)
    skipped = 0
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        changes: dict[str, Any] = {}
        attributes = message.get("MessageAttributes") or {}
        if isinstance(attributes, Mapping):
            updated, missed = with_fields(attributes, fields, budget)
            if updated is not None:
                changes["MessageAttributes"] = updated
            skipped += missed
        else:
            skipped += 1
        system = with_trace_header(message, header) if header else None
        if system is not None:
            changes["MessageSystemAttributes"] = system
        if changes and entries_key is None:
            params.update(changes)  # botocore's own dict
        elif changes:
            messages[index] = {**message, **changes}
    if entries_key is not None and any(
        a is not b for a, b in zip(messages, params[entries_key], strict=True)
    ):
        params[entries_key] = messages
    return skipped


def trace_header_member(header: str) -> str:
    """An SQS message's ``MessageSystemAttributes`` with only the X-Ray header, as a JSON
    object member: what botocore serializes of ``with_trace_header`` on a message without any."""
    attribute = f'"AWSTraceHeader": {{"DataType": "String", "StringValue": {json_string(header)}}}'
    return f'"MessageSystemAttributes": {{{attribute}}}'


def json_with_member(body: bytes, member: bytes) -> bytes | None:
    """A serialized JSON object with one more ``member`` (``b'"name": value'``) appended; None
    if ``body`` is not an object. The caller knows that the object does not have it yet."""
    if body[-1:] == b"}":  # botocore's serializer: no whitespace around the object
        head = body[:-1]
    else:
        head = body.rstrip()
        if not head.endswith(b"}"):
            return None
        head = head[:-1].rstrip()
    if not head.startswith(b"{"):
        return None
    separator = b"" if head.rstrip() == b"{" else b", "
    return b"%s%s%s}" % (head, separator, member)


def json_message_attributes(attributes: Mapping[str, Mapping[str, str]]) -> str:
    """String message attributes as JSON, as ``json.dumps`` writes them (a tenth of its cost:
    it builds an encoder per call)."""
    members = ", ".join(
        f'{json_string(name)}: {{"DataType": "String", "StringValue": {json_string(value["StringValue"])}}}'
        for name, value in attributes.items()
    )
    return "{" + members + "}"


class QueryAttributeNames:
    """How the query protocol names the parameters of one message's attributes (or SQS's
    system attributes), read from the operation's model (SNS: ``MessageAttributes.entry.1.Name``;
    SQS before it spoke JSON: ``MessageAttribute.1.Name``): botocore's query serializer's
    naming rules."""

    __slots__ = ("_binary_value", "_data_type", "_name", "_string_value")

    def __init__(self, member: Any, member_name: str) -> None:
        prefix = member.serialization.get("name", member_name)
        if not member.serialization.get("flattened"):
            prefix += ".entry"
        value_shape = member.value
        value = value_shape.serialization.get("name", "value")
        members = value_shape.members

        def name_of(field: str) -> str:
            return str(members[field].serialization.get("name", field))

        self._name = f"{prefix}.{{}}.{member.key.serialization.get('name', 'key')}"
        self._data_type = f"{prefix}.{{}}.{value}.{name_of('DataType')}"
        self._string_value = f"{prefix}.{{}}.{value}.{name_of('StringValue')}"
        self._binary_value = f"{prefix}.{{}}.{value}.{name_of('BinaryValue')}"

    def parameters(
        self, attributes: Mapping[str, Mapping[str, str]], first: int = 1
    ) -> list[tuple[str, str]]:
        """(parameter name, value) of ``attributes``, numbered from ``first``."""
        out: list[tuple[str, str]] = []
        for index, (name, value) in enumerate(attributes.items(), first):
            out += [
                (self._name.format(index), name),
                (self._data_type.format(index), value["DataType"]),
                (self._string_value.format(index), value["StringValue"]),
            ]
        return out

    def add(self, body: dict[str, Any], attributes: Mapping[str, Mapping[str, str]]) -> None:
        """Adds ``attributes`` to a body that has none yet."""
        body.update(self.parameters(attributes))

    def names_in(self, body: Mapping[str, Any], prefix: str = "") -> list[str]:
        """The names of the attributes a message has in ``body``, in order."""
        names: list[str] = []
        while (name := body.get(prefix + self._name.format(len(names) + 1))) is not None:
            names.append(name)
        return names

    def read(self, body: Mapping[str, Any], prefix: str = "") -> tuple[list[str], int]:
        """(``names_in``, the bytes those attributes take as SQS and SNS count them: names, data
        types and values, Binary ones in base64 here)."""
        names = self.names_in(body, prefix)
        size = 0
        for index, name in enumerate(names, 1):
            size += utf8_size(name) + utf8_size(body.get(prefix + self._data_type.format(index)))
            size += utf8_size(body.get(prefix + self._string_value.format(index)))
            binary = body.get(prefix + self._binary_value.format(index))
            if isinstance(binary, str):
                size += _base64_size(binary)
        return names, size


class QueryLayout:
    """How one message's members are named among the query protocol's parameters: its body,
    its attributes, and SQS's system attributes (None: the model has none)."""

    __slots__ = ("attributes", "body", "system")

    def __init__(self, message: Any, body_key: str) -> None:
        members = message.members
        self.body: str = members[body_key].serialization.get("name", body_key)
        self.attributes = QueryAttributeNames(members["MessageAttributes"], "MessageAttributes")
        system = members.get("MessageSystemAttributes")
        self.system = None if system is None else QueryAttributeNames(system, "MessageSystemAttributes")

    def read(self, body: Mapping[str, Any], prefix: str = "") -> tuple[list[str], int]:
        """(the names of the attributes of the message at ``prefix`` in ``body``; what SQS and SNS
        count of that message: its body and its attributes, as serialized)."""
        names, attribute_bytes = self.attributes.read(body, prefix)
        return names, utf8_size(body.get(prefix + self.body)) + attribute_bytes

    def add_trace_header(self, body: dict[str, Any], header: str, prefix: str = "") -> bool:
        """Adds SQS's X-Ray ``header`` to the system attributes of the message at ``prefix`` in
        ``body`` (botocore's own parameters); False when it has one already, as
        ``with_trace_header`` leaves it (or the model names no system attributes)."""
        if self.system is None:
            return False
        existing = self.system.names_in(body, prefix)
        if "AWSTraceHeader" in existing:
            return False
        attribute = {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
        for name, value in self.system.parameters(attribute, len(existing) + 1):
            body[prefix + name] = value
        return True


JSON_BODY = "json"
BodyLayout = str | QueryLayout
"""How a message goes into an operation's serialized body: ``"json"`` (its bytes), or the
query protocol's parameter names."""
_MAX_LAYOUTS = 256
# id(operation model) -> (the model, kept so that its id is not reused; its layout)
_layouts: dict[int, tuple[Any, BodyLayout | None]] = {}


def body_layout(model: Any, body_key: str) -> BodyLayout | None:
    """How this operation's message (``body_key``: its body's member) goes into its serialized
    body; None: an unknown protocol or model."""
    known = _layouts.get(id(model))
    if known is not None and known[0] is model:
        return known[1]
    layout: BodyLayout | None = None
    try:
        protocol = model.metadata.get("protocol")
        if protocol == "json":
            layout = JSON_BODY
        elif protocol == "query":
            layout = QueryLayout(model.input_shape, body_key)
    except (AttributeError, KeyError, TypeError):
        layout = None
    if len(_layouts) >= _MAX_LAYOUTS:
        _layouts.clear()
    _layouts[id(model)] = (model, layout)
    return layout


TRACEPARENT_COST = len("traceparent") + len("String") + 55
"""traceparent as one String message attribute, as SQS and SNS count it: its name, data type
and 55-character value."""
_WITH_TRACEPARENT = (
    b'%s, "MessageAttributes": {"traceparent": {"DataType": "String", "StringValue": "00-%032x-%016x-%02x"}}}'
)


def json_body_with_traceparent(
    body: object, layout: BodyLayout, span_context: SpanContext, budget: int
) -> bytes | None:
    """What ``with_message_attributes`` makes of botocore's JSON body and the default
    propagator's fields when there is no tracestate, in one step: the common case of
    SendMessage, about 15k instructions less than the general way. None: any other case."""
    trace_id, span_id, _, flags, trace_state, _ = span_context
    if (
        layout != JSON_BODY
        or type(body) is not bytes
        or body[:2] != b'{"'  # botocore's serializer: an object with members, no whitespace
        or body[-1:] != b"}"
        or budget < TRACEPARENT_COST
        or (trace_state is not DEFAULT_TRACE_STATE and trace_state)
    ):
        return None
    return _WITH_TRACEPARENT % (body[:-1], trace_id, span_id, flags)


def with_message_attributes(
    body: object, layout: BodyLayout, fields: Mapping[str, str], budget: int
) -> tuple[object | None, int]:
    """(a serialized body of one message without attributes, with as many ``fields`` as
    ``budget`` (the request's bytes left: ``request_budget``) takes as its message attributes,
    or None when none fits or the body is not of that layout; the bytes they take)."""
    if isinstance(body, bytes) and layout == JSON_BODY:
        added, used = _fitting(fields, budget, MAX_MESSAGE_ATTRIBUTES)
        if added:
            members = b'"MessageAttributes": ' + json_message_attributes(added).encode()
            written = json_with_member(body, members)
            return written, (used if written is not None else 0)
    elif isinstance(body, dict) and isinstance(layout, QueryLayout):
        added, used = _fitting(fields, budget, MAX_MESSAGE_ATTRIBUTES)
        if added:
            layout.attributes.add(body, added)  # botocore's own serialized parameters
            return body, used
    return None, 0


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
