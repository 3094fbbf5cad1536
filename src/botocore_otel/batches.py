"""Message batches (SQS SendMessageBatch, SNS PublishBatch): trace context written into the
serialized body at before-call, entry by entry.

Each entry gets what ``carriers.with_fields`` would have given its parameters: the same
fields, the same room (ten attributes) and the same request-wide budget, counted on what is
serialized, so that attributes added by a before-parameter-build handler registered after ours
count too. botocore validating and serializing our attributes
would cost about 90k instructions an entry. Two layouts: JSON bytes (SQS where it speaks JSON),
where each entry is read from the body to find where it ends; and the query protocol's
parameters (SNS, and SQS before it spoke JSON), where each entry's attributes are numbered
after the ones it has. SQS's X-Ray header (``sqs_aws_trace_header``) is written the same way,
as a system attribute. One message with attributes of the caller's is handled the same way
(``message_of``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any

from botocore_otel.carriers import (
    JSON_BODY,
    MAX_MESSAGE_BYTES,
    BodyLayout,
    QueryLayout,
    fields_to_add,
    json_message_attributes,
    request_budget,
    trace_header_member,
    with_fields,
    with_trace_header,
)

# The C scanner: (the JSON value that starts at an index, the index after it)
_scan_value: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_space = re.compile(r"[ \t\n\r]*").match


class Batch:
    """One batch's entries (or one message's: ``message_of``), until before-call writes the
    fields into its serialized body."""

    __slots__ = ("_body_key", "_budget", "_entries", "_measured_budget")

    def __init__(self, entries: Sequence[object], body_key: str) -> None:
        self._entries = len(entries)
        self._body_key = body_key
        # the request's bytes left for our attributes: set by with_fields from what it reads
        self._budget = [0]
        self._measured_budget = 0

    def _measure(self, budget: int) -> None:
        self._budget[0] = self._measured_budget = budget

    def _measured(self, messages: Sequence[object]) -> None:
        """The budget of the messages decoded from a JSON body."""
        self._measure(request_budget(messages, self._body_key, serialized=True)[0])

    @property
    def added_bytes(self) -> int:
        """What the attributes ``with_fields`` wrote count in the request's size, as SQS and SNS
        count it (SQS's X-Ray header, a system attribute, counts nothing)."""
        return self._measured_budget - self._budget[0]

    def with_fields(
        self, body: object, fields: Mapping[str, str], trace_header: str | None = None
    ) -> tuple[object | None, int]:
        """(the body with ``fields`` in every entry they fit, or None; entries skipped).
        ``trace_header``: SQS's X-Ray header for every entry that has none."""
        raise NotImplementedError

    @staticmethod
    def _all_of(fields: Mapping[str, str]) -> tuple[dict[str, Any] | None, int]:
        """(``fields`` as an entry without attributes takes them, and what they cost; None if
        they do not all fit even then). Written once, for every such entry while the budget lasts."""
        added, _ = fields_to_add((), fields, left := [MAX_MESSAGE_BYTES])
        if added is None or len(added) != len(fields):
            return None, 0
        return added, MAX_MESSAGE_BYTES - left[0]

    def _added(
        self, existing: Collection[str], fields: Mapping[str, str], every: tuple[dict[str, Any] | None, int]
    ) -> tuple[dict[str, Any] | None, bool]:
        """``fields_to_add`` for one entry: ``every`` itself (``_all_of``; the caller has it
        written already) when the entry has no attributes and the budget takes them all."""
        all_fields, cost = every
        if not existing and all_fields is not None and cost <= self._budget[0]:
            self._budget[0] -= cost
            return all_fields, False
        return fields_to_add(existing, fields, self._budget)

    def _merged(
        self, message: object, fields: Mapping[str, str], trace_header: str | None
    ) -> tuple[str | None, int]:
        """(a JSON message with attributes of its own, written anew with ours merged in as
        botocore writes the parameters with them, or None; 1 if the fields were skipped)."""
        if type(message) is not dict:
            return None, 1
        changes: dict[str, Any] = {}
        skipped = 0
        attributes = message.get("MessageAttributes") or {}
        if isinstance(attributes, dict):
            updated, missed = with_fields(attributes, fields, self._budget)
            skipped += missed
            if updated is not None:
                changes["MessageAttributes"] = updated
        else:
            skipped += 1
        system = with_trace_header(message, trace_header) if trace_header else None
        if system is not None:
            changes["MessageSystemAttributes"] = system
        return (json.dumps({**message, **changes}) if changes else None), skipped


class JsonMessage(Batch):
    """One message (SQS SendMessage) with attributes or system attributes of the caller's, in a
    JSON body: read whole and written anew with ours merged in. Those without any take a
    shorter way (``carriers.json_body_with_traceparent``)."""

    __slots__ = ()

    def __init__(self, params: Mapping[str, Any], body_key: str) -> None:
        super().__init__([params], body_key)

    def with_fields(
        self, body: object, fields: Mapping[str, str], trace_header: str | None = None
    ) -> tuple[bytes | None, int]:
        try:
            message = json.loads(body) if isinstance(body, bytes) else None
        except ValueError:  # not JSON: sent as it was
            message = None
        self._measured([message])
        written, skipped = self._merged(message, fields, trace_header)
        return (None if written is None else written.encode()), skipped


class QueryMessage(Batch):
    """One message (SNS Publish; SQS SendMessage before it spoke JSON) with attributes or system
    attributes of the caller's, in the query protocol's parameters: ours numbered after them."""

    __slots__ = ("_layout",)

    def __init__(self, layout: QueryLayout, params: Mapping[str, Any], body_key: str) -> None:
        super().__init__([params], body_key)
        self._layout = layout

    def with_fields(
        self, body: object, fields: Mapping[str, str], trace_header: str | None = None
    ) -> tuple[dict[str, Any] | None, int]:
        if not isinstance(body, dict):
            return None, 1
        layout = self._layout
        existing, size = layout.read(body)  # as serialized: what any handler left
        self._measure(MAX_MESSAGE_BYTES - size)
        added, skipped = fields_to_add(existing, fields, self._budget)
        if added is not None:
            body.update(layout.attributes.parameters(added, len(existing) + 1))  # botocore's own
        with_header = trace_header is not None and layout.add_trace_header(body, trace_header)
        return (body if added is not None or with_header else None), int(skipped)


def message_of(layout: BodyLayout | None, params: Mapping[str, Any], body_key: str) -> Batch | None:
    """A ``Batch`` of the one message of ``params``, which has attributes or system attributes
    of the caller's; None: the general way (an unknown protocol)."""
    if layout == JSON_BODY:
        return JsonMessage(params, body_key)
    if isinstance(layout, QueryLayout):
        return QueryMessage(layout, params, body_key)
    return None


class JsonBatch(Batch):
    __slots__ = ("_entries_key",)

    def __init__(self, entries_key: str, entries: Sequence[object], body_key: str) -> None:
        super().__init__(entries, body_key)
        self._entries_key = entries_key

    def with_fields(
        self, body: object, fields: Mapping[str, str], trace_header: str | None = None
    ) -> tuple[bytes | None, int]:
        text, entries = None, None
        try:
            if isinstance(body, bytes):
                text = body.decode()
                entries = _array_items(text, self._entries_key)
        except (ValueError, StopIteration):  # not JSON (StopIteration: no value at an index)
            entries = None
        if text is None or entries is None:
            return None, self._entries  # not the body we know: sent as it was
        self._measured([entry for entry, _, _ in entries])
        pieces: list[str] = []
        copied = skipped = 0
        every = self._all_of(fields)
        # what an entry without attributes (or system attributes) gets, after its own members
        header = "" if trace_header is None else trace_header_member(trace_header)
        also_header = ", " + header if header else ""
        every_members = '"MessageAttributes": ' + json_message_attributes(every[0] or {}) + also_header
        for entry, start, end in entries:
            if (
                type(entry) is dict
                and "MessageAttributes" not in entry
                and not (header and "MessageSystemAttributes" in entry)
            ):
                added, missed = self._added((), fields, every)
                skipped += missed
                if added is None:
                    if not header:
                        continue
                    members = header
                elif added is every[0]:
                    members = every_members
                else:
                    members = '"MessageAttributes": ' + json_message_attributes(added) + also_header
                # before the entry's closing brace, with botocore's separator
                pieces += [text[copied : end - 1], ", " if entry else "", members]
                copied = end - 1
                continue
            written, not_fitting = self._merged(entry, fields, trace_header)
            skipped += not_fitting
            if written is not None:  # the caller's and ours: the entry written anew
                pieces += [text[copied:start], written]
                copied = end
        if not pieces:
            return None, skipped
        pieces.append(text[copied:])
        return "".join(pieces).encode(), skipped


class QueryBatch(Batch):
    __slots__ = ("_layout",)

    def __init__(self, layout: _QueryLayout, entries: Sequence[object], body_key: str) -> None:
        super().__init__(entries, body_key)
        self._layout = layout

    def with_fields(
        self, body: object, fields: Mapping[str, str], trace_header: str | None = None
    ) -> tuple[dict[str, Any] | None, int]:
        if not isinstance(body, dict):
            return None, self._entries
        entry_prefix, layout = self._layout
        names = layout.attributes
        changed, skipped = False, 0
        every = self._all_of(fields)
        every_parameters = names.parameters(every[0] or {})
        prefixes = [entry_prefix.format(index) for index in range(1, self._entries + 1)]
        read = [layout.read(body, prefix) for prefix in prefixes]  # as serialized: what any handler left
        self._measure(MAX_MESSAGE_BYTES - sum(size for _, size in read))
        for prefix, (existing, _) in zip(prefixes, read, strict=True):
            if prefix + layout.body not in body:  # not the entry we counted: left alone
                skipped += 1
                continue
            added, missed = self._added(existing, fields, every)
            skipped += missed
            if added is not None:
                parameters = (
                    every_parameters if added is every[0] else names.parameters(added, len(existing) + 1)
                )
                for name, value in parameters:
                    body[prefix + name] = value
                changed = True
            if trace_header is not None and layout.add_trace_header(body, trace_header, prefix):
                changed = True
        return (body if changed else None), skipped


# (an entry's parameter prefix, with {} for its number; how the entry's members are named)
_QueryLayout = tuple[str, QueryLayout]


def batch_of(model: Any, entries_key: str, entries: object, body_key: str) -> Batch | None:
    """A ``Batch`` for this operation's entries; None: the general way (an unknown protocol)."""
    if not isinstance(entries, (list, tuple)):
        return None
    layout = _layout(model, entries_key, body_key)
    if layout is None:
        return None
    if isinstance(layout, str):
        return JsonBatch(entries_key, entries, body_key)
    return QueryBatch(layout, entries, body_key)


@lru_cache(maxsize=64)  # operation models hash by identity; they live as long as their client
def _layout(model: Any, entries_key: str, body_key: str) -> str | _QueryLayout | None:
    try:
        protocol = model.metadata.get("protocol")
        entries = model.input_shape.members[entries_key]
        element = entries.member
        if protocol == "json" and "MessageAttributes" in element.members and body_key in element.members:
            return "json"
        if protocol != "query":
            return None
        # botocore's query serializer's naming of a list's elements
        name = entries.serialization.get("name", entries_key)
        if entries.serialization.get("flattened"):
            prefix = element.serialization.get("name") or name
        else:
            prefix = f"{name}.{element.serialization.get('name', 'member')}"
        return f"{prefix}.{{}}.", QueryLayout(element, body_key)
    except (AttributeError, KeyError, TypeError):
        return None


def _after_space(text: str, at: int = 0) -> int:
    found = _space(text, at)
    return found.end() if found else at


def _array_items(text: str, key: str) -> list[tuple[Any, int, int]] | None:
    """(item, start, end) of each item of the array under ``key`` in the JSON object ``text``;
    None if there is none. Only that array's items are read whole."""
    at = _after_space(text)
    if text[at : at + 1] != "{":
        return None
    at += 1
    while True:
        at = _after_space(text, at)
        name, at = _scan_value(text, at)
        at = _after_space(text, at)
        if text[at : at + 1] != ":":
            return None
        at = _after_space(text, at + 1)
        if name == key:
            break
        _, at = _scan_value(text, at)
        at = _after_space(text, at)
        if text[at : at + 1] != ",":
            return None
        at += 1
    if text[at : at + 1] != "[":
        return None
    items: list[tuple[Any, int, int]] = []
    at = _after_space(text, at + 1)
    if text[at : at + 1] == "]":
        return items
    while True:
        item, end = _scan_value(text, at)
        items.append((item, at, end))
        if text.startswith(", ", end):  # botocore's separator
            at = end + 2
            continue
        at = _after_space(text, end)
        if text[at : at + 1] == "]":
            return items
        if text[at : at + 1] != ",":
            return None
        at = _after_space(text, at + 1)
