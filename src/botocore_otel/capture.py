"""User captures: request parameters put on the call's span, named by configuration.

Syntax (``capture=`` keyword as a string or a list of strings, or ``BOTOCORE_OTEL_CAPTURE``)::

    service.Operation:Path=attribute[,Path=attribute...][;service.Operation:...]

* ``service``: the hyphenized service id, as in botocore's event names (``dynamodb``,
  ``s3``, ``sfn``, ``eventbridge``, ``secrets-manager``); ``Operation``: a name or ``*``.
* ``Path``: members joined by ``.``; ``[]`` walks every item of a list
  (``Entries[].Id``); a map's key is a segment too (``Key.pk.S``).
* Only strings, numbers (ints of 64 bits at most: OTLP carries no larger) and booleans
  are captured (a list of them, or values reached through ``[]``: as a list of strings);
  structures, maps and blobs never are.

Never captured, whatever the configuration (refused with :class:`ConfigError` at load
time; checked again against the service model on first use): a path through a member
:func:`botocore_otel.redact.is_denied_member` denies, or through a shape the model
marks ``sensitive``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from botocore_otel.config_values import service_key
from botocore_otel.converters import is_int64
from botocore_otel.errors import ConfigError, report
from botocore_otel.redact import is_denied_member, is_personal
from botocore_otel.sharing import SharedOnCopy

MAX_ITEMS = 32
MAX_TEXT = 1024
logger = logging.getLogger("botocore_otel")
STATE_KEY = "botocore_otel.call"  # state.STATE_KEY (state.py imports this module indirectly)
_SCALARS = ("string", "integer", "long", "float", "double", "boolean")


@dataclass(frozen=True, slots=True)
class Capture:
    service: str
    operation: str
    """An operation name, or ``*`` for all of the service's operations."""
    path: tuple[str, ...]
    attribute: str

    @property
    def event(self) -> str:
        suffix = "" if self.operation == "*" else f".{self.operation}"
        return f"before-parameter-build.{self.service}{suffix}"


_SYNTAX = (
    "'service.Operation:Path=attribute' items separated by ';' (service: hyphenized service "
    "id; Operation: a name or '*'; Path: members joined by '.', '[]' for each list item), "
    "e.g. 'dynamodb.Query:IndexName=app.ddb.index,Limit=app.ddb.limit;s3.*:Bucket=app.bucket'"
)
_TARGET = re.compile(r"^([a-z0-9][a-z0-9-]*)\.([A-Za-z0-9]+|\*)$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+(\[\])?$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _parse_path(text: str) -> tuple[str, ...] | None:
    path: list[str] = []
    for segment in text.split("."):
        if not _SEGMENT.match(segment):
            return None
        if segment.endswith("[]"):
            path += [segment[:-2], "[]"]
        else:
            path.append(segment)
    return tuple(path)


def _parse_item(setting: str, item: str) -> list[Capture]:
    target, colon, assignments = item.partition(":")
    service, dot, operation = target.strip().rpartition(".")
    match = _TARGET.match(f"{service_key(service)}{dot}{operation}")  # any casing, as skip_services
    if not colon or match is None or not assignments.strip():
        raise ConfigError(setting, item, _SYNTAX)
    captures = []
    for assignment in assignments.split(","):
        path_text, equals, attribute = (part.strip() for part in assignment.partition("="))
        path = _parse_path(path_text)
        if not equals or path is None or not _ATTRIBUTE.match(attribute):
            raise ConfigError(setting, item, _SYNTAX)
        steps = [step for step in path if step != "[]"]
        denied = next((step for step in steps if is_denied_member(step)), None)
        if denied is None and steps and is_personal(steps[-1]):
            denied = steps[-1]
        if denied is not None:
            raise ConfigError(
                setting,
                item,
                f"a path through no never-captured member ('{denied}' is one: secrets, "
                "passwords, tokens, credentials, signatures, presigned URLs, key material, message, object "
                "and event bodies, prompts, phone numbers, e-mail addresses, endpoints, endpoint ARNs "
                "and one-time codes are never captured)",
            )
        captures.append(Capture(match.group(1), match.group(2), path, attribute))
    return captures


def parse_captures(setting: str, value: object) -> tuple[Capture, ...]:
    """The ``capture`` setting: a string (items separated by ``;`` or new lines) or a list."""
    if value is None:
        return ()
    items: Sequence[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ConfigError(setting, value, f"a string or a list of strings: {_SYNTAX}")
    captures: list[Capture] = []
    for entry in items:
        if not isinstance(entry, str):
            raise ConfigError(setting, entry, f"a string: {_SYNTAX}")
        for item in re.split(r"[;\n]", entry):
            if item.strip():
                captures += _parse_item(setting, item.strip())
    if not captures:
        raise ConfigError(setting, value, f"at least one capture: {_SYNTAX}")
    return tuple(captures)


# -- use ---------------------------------------------------------------------------------
def model_allows(shape: Any, path: tuple[str, ...]) -> bool:
    """Whether ``path`` leads, through the operation's input shape, to a captured scalar
    (or a list of them) and crosses no shape the model marks ``sensitive``."""
    for segment in path:
        if shape is None or shape.metadata.get("sensitive"):
            return False
        kind = shape.type_name
        if segment == "[]":
            if kind != "list":
                return False
            shape = shape.member
        elif kind == "structure":
            shape = shape.members.get(segment)
        elif kind == "map":
            shape = shape.value
        else:
            return False
    if shape is not None and shape.type_name == "list" and not shape.metadata.get("sensitive"):
        shape = shape.member  # a list of scalars is captured as a list of strings
    return shape is not None and not shape.metadata.get("sensitive") and shape.type_name in _SCALARS


def _scalar(value: Any) -> AttributeValue | None:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (bool, float)) or is_int64(value):
        return value
    return None


def read_path(params: Mapping[str, Any], path: tuple[str, ...]) -> AttributeValue | None:
    """The value at ``path``: a scalar, or a list of strings when the path has ``[]``."""
    values: list[Any] = [params]
    for segment in path:
        following: list[Any] = []
        for value in values:
            if segment == "[]":
                if isinstance(value, (list, tuple)):
                    following += value[:MAX_ITEMS]
            elif isinstance(value, Mapping) and segment in value:
                following.append(value[segment])
        values = following
        if not values:
            return None
    if "[]" not in path:
        if not isinstance(values[0], (list, tuple)):
            return _scalar(values[0])
        values = list(values[0])
    items = [str(s) for s in (_scalar(v) for v in values[:MAX_ITEMS]) if s is not None]
    return items or None


Handler = tuple[str, Callable[..., Any], str, str]
"""(event, handler, position, unique id), as ``instrumentation.Instrumentation`` registers."""


class CallSpans(Protocol):
    enabled: bool

    def call_span(self, context: Mapping[str, Any], url: str | None = None) -> Span | None: ...

    def add_attributes(self, context: Mapping[str, Any], attributes: Mapping[str, Any]) -> None: ...

    def parent_context(self, context: Mapping[str, Any]) -> Context | None: ...


class CaptureHandler(SharedOnCopy):
    """User captures (the ``capture`` setting): one handler per service, compiled per
    operation against the service model on first use."""

    def __init__(self, captures: tuple[Capture, ...], calls: CallSpans) -> None:
        self._captures = captures
        self._calls = calls
        self._compiled: dict[str, tuple[Capture, ...]] = {}

    def handlers(self) -> list[Handler]:
        services = dict.fromkeys(c.service for c in self._captures)
        return [
            (f"before-parameter-build.{s}", self.on_params, "normal", f"botocore_otel.capture.{s}")
            for s in services
        ]

    def _compile(self, event_name: str, model: Any) -> tuple[Capture, ...]:
        _, service, operation = event_name.split(".")
        chosen = []
        for capture in self._captures:
            if capture.service != service or capture.operation not in ("*", operation):
                continue
            if model_allows(model.input_shape, capture.path):
                chosen.append(capture)
            elif capture.operation == operation:
                logger.warning(
                    "botocore-otel: capture %s.%s:%s is not captured: the path does not lead to "
                    "a string, number or boolean, or crosses a member the model marks sensitive",
                    service,
                    operation,
                    ".".join(capture.path).replace(".[]", "[]"),
                )
        compiled = self._compiled[event_name] = tuple(chosen)
        return compiled

    def on_params(
        self, params: Mapping[str, Any], model: Any, context: Mapping[str, Any], event_name: str, **_: Any
    ) -> None:
        if not self._calls.enabled or STATE_KEY not in context:
            return
        try:
            captures = self._compiled.get(event_name)
            if captures is None:
                captures = self._compile(event_name, model)
            if not captures:
                return
            attributes = {}
            for capture in captures:
                value = read_path(params, capture.path)
                if value is not None:
                    attributes[capture.attribute] = value
            self._calls.add_attributes(context, attributes)
        except Exception as error:
            report("capture", error)
