"""What each setting may be: the parsers of keyword and environment values.

Loaded only when a setting is given (``config.load_settings``): each parser returns the
value to use or raises :class:`ConfigError` naming the setting and the allowed values.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore_otel.config import DEFAULT_METRICS, METRIC_GROUPS, PAYLOAD_SERVICES, logger
from botocore_otel.errors import ConfigError

if TYPE_CHECKING:
    from botocore_otel.capture import Capture

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
# Patterns, not compiled ones: re compiles them when first used.
_SERVICE_ID = r"^[a-z0-9][a-z0-9-]*$"
_HOOK_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"


def _switch(value: object) -> bool | None:
    """A boolean in any form the settings take (True, 1, ' On '), or None for anything else."""
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):  # the 1/0 the error offers, as numbers too
        return value == 1
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def parse_bool(setting: str, value: object) -> bool:
    switch = _switch(value)
    if switch is None:
        raise ConfigError(setting, value, "a boolean: true/false, 1/0, yes/no or on/off")
    return switch


def service_key(written: str) -> str:
    """botocore's hyphenized key of a service id written in any casing ('DynamoDB',
    'Secrets Manager'): ``service_id.replace(' ', '-').lower()``, so it names one service."""
    return written.strip().replace(" ", "-").lower()


def _parse_services(setting: str, value: object) -> frozenset[str]:
    if value is None:  # none skipped, as capture=None captures none
        return frozenset()
    items = _items(value)
    if items == [] and (isinstance(value, str) or value):
        items = [""]  # commas or blanks alone: refused below ([] is no service skipped)
    if items is not None:
        items = [service_key(item) for item in items]
    if items is None or not all(re.match(_SERVICE_ID, item) for item in items):
        raise ConfigError(
            setting,
            value,
            "hyphenized service ids, comma-separated in the environment "
            "(e.g. 's3,elastic-load-balancing-v2')",
        )
    for item in items:
        unknown, hint = _unknown_service(item)
        if unknown:
            raise ConfigError(
                setting,
                value,
                f"hyphenized service ids of installed botocore services ({item!r} is not one"
                + (f"; did you mean {hint!r}?)" if hint else ")"),
            )
    return frozenset(items)


def _parse_capture(setting: str, value: object) -> tuple[Capture, ...]:
    """``capture`` items (see capture.py), each naming a known service and operation."""
    import difflib

    from botocore_otel.capture import parse_captures  # only when captures are configured

    captures = parse_captures(setting, value)
    for capture in captures:
        unknown, hint = _unknown_service(capture.service)
        if unknown:
            where = f"{capture.service}.{capture.operation}"
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise ConfigError(setting, value, f"known hyphenized service ids ({where!r}{suggestion})")
        operations = _operation_names(capture.service)
        if capture.operation != "*" and operations and capture.operation not in operations:
            close = difflib.get_close_matches(capture.operation, sorted(operations), n=1)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            allowed = f"an operation of {capture.service} or '*' ({capture.operation!r}{suggestion})"
            raise ConfigError(setting, value, allowed)
    return captures


def _operation_names(service_key: str) -> frozenset[str]:
    try:
        from botocore_otel.synthetic.catalog import default_catalog

        model = default_catalog().service_model(service_key)
        return frozenset(model.operation_names) if model is not None else frozenset()
    except Exception:  # no botocore, or an unreadable model: the name cannot be checked
        return frozenset()


def _unknown_service(service_key: str) -> tuple[bool, str | None]:
    """Whether botocore has no service with this hyphenized id, and the likely one meant."""
    try:
        from botocore_otel.synthetic.catalog import default_catalog

        catalog = default_catalog()
        if catalog.client_name(service_key) is not None:
            return False, None
        return True, catalog.suggest_service(service_key)
    except Exception:  # no botocore, or an unreadable data dir: the name cannot be checked
        return False, None


def _parse_hook(setting: str, value: object) -> Callable[..., None] | None:
    if value is None:
        return None
    given = value  # errors name what was given (the import path), not what it resolved to
    if isinstance(value, str):
        if not re.match(_HOOK_PATH, value):
            raise ConfigError(setting, value, "an import path 'package.module:function'")
        module_name, _, attr_path = value.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for attr in attr_path.split("."):
                target = getattr(target, attr)
        except Exception as error:  # ImportError, AttributeError, or the module's own error
            raise ConfigError(
                setting, value, f"an import path that imports (failed: {type(error).__name__}: {error})"
            ) from error
        value = target
    if not callable(value):
        raise ConfigError(setting, given, "a callable or an import path 'module:function'")
    import inspect  # only for a configured hook

    try:
        inspect.signature(value).bind(None, "", "", {})
    except TypeError as error:
        allowed = f"a callable taking (span, service_id, operation, params or parsed): {error}"
        raise ConfigError(setting, given, allowed) from None
    except ValueError:  # no signature to inspect (some builtins): trust it
        pass
    hook: Callable[..., None] = value
    return hook


def _parse_synthetic(setting: str, value: object) -> Any:
    if value is None:
        return None
    from botocore_otel.synthetic import SyntheticResponder  # heavy: only when configured

    if isinstance(value, SyntheticResponder):
        return value
    allowed = "a rules file path, or a list of rule dicts, holding at least one rule"
    if isinstance(value, str) and not value.strip():
        raise ConfigError(setting, value, allowed)
    responder = SyntheticResponder.from_config(value, source=setting)
    if not responder.rules:  # {}, {"rules": []} or such a file: a responder that answers nothing
        raise ConfigError(setting, value, allowed)
    return responder


def _items(value: object) -> list[str] | None:
    """The items of a comma-separated string or of a list of strings, read alike: each stripped,
    empty ones dropped (a stray comma is no item); None when ``value`` is neither."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(i, str) for i in value):
        return None
    return [item.strip() for item in value if item.strip()]


def _choices(value: object, allowed: tuple[str, ...], every: frozenset[str]) -> frozenset[str] | None:
    """The items of a list or comma-separated string, each from ``allowed`` ('all' alone means
    ``every``); None when one is not, or when none is given."""
    items = _items(value)
    if items is None:
        return None
    chosen = {i.lower() for i in items}
    if chosen == {"all"}:
        return every
    return frozenset(chosen) if chosen and chosen <= set(allowed) else None


def _parse_payload(setting: str, value: object) -> frozenset[str]:
    switch = _switch(value)  # the variable says true/false as the keyword does
    if switch is not None:
        return frozenset(PAYLOAD_SERVICES) if switch else frozenset()
    chosen = _choices(value, (*PAYLOAD_SERVICES, "none"), frozenset(PAYLOAD_SERVICES))
    if chosen == frozenset({"none"}):
        return frozenset()
    if chosen is not None and "none" not in chosen:
        return chosen
    raise ConfigError(
        setting,
        value,
        f"true, false, or service names from {', '.join(PAYLOAD_SERVICES)} (comma-separated in the "
        "environment), 'all' or 'none' (kinesis is not offered: its only carrier is the record data)",
    )


def _parse_metrics(setting: str, value: object) -> frozenset[str]:
    switch = _switch(value)
    if switch is not None:
        return DEFAULT_METRICS if switch else frozenset()
    chosen = _choices(value, (*METRIC_GROUPS, "none"), frozenset(METRIC_GROUPS))
    if chosen == frozenset({"none"}):  # as payload_propagation takes it
        return frozenset()
    if chosen is not None and "none" not in chosen:
        return chosen
    raise ConfigError(
        setting,
        value,
        f"true, false, or metric groups from {', '.join(METRIC_GROUPS)} "
        "(comma-separated in the environment), 'all' or 'none'",
    )


def with_phase_metrics(groups: frozenset[str], setting: str, phases: bool) -> frozenset[str]:
    """The deprecated ``phase_metrics`` switch, applied to the ``metrics`` groups."""
    logger.warning(
        "botocore-otel: %s is deprecated; use metrics=%s instead",
        setting,
        "'rpc,phases'" if phases else "'rpc'",
    )
    if not groups:
        return groups
    return groups | {"phases"} if phases else groups - {"phases"}


_ATTRIBUTION_SOURCES = "baggage:<key>, route or fixed:<value>"
MAX_COMPONENT_LENGTH = 128
"""The longest ``app.component``: a longer value read at a call (a baggage entry a client of the
application set, say) counts as ``other``; a longer ``fixed:<value>`` is refused."""


def _parse_attribution(setting: str, value: object) -> tuple[tuple[str, str], ...]:
    if value is None:  # no attribution, as capture=None captures none
        return ()
    items = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(setting, value, f"a list of sources: {_ATTRIBUTION_SOURCES}")
    sources: list[tuple[str, str]] = []
    for item in items:
        kind, colon, argument = item.strip().partition(":")
        kind, argument = kind.strip().lower(), argument.strip()  # the kind is a word: any casing
        if kind == "fixed" and len(argument) > MAX_COMPONENT_LENGTH:
            raise ConfigError(setting, value, f"a fixed:<value> of at most {MAX_COMPONENT_LENGTH} characters")
        if (kind in ("baggage", "fixed") and colon and argument) or (kind == "route" and not colon):
            sources.append((kind, argument))
        elif item.strip():
            raise ConfigError(setting, value, f"sources from {_ATTRIBUTION_SOURCES} ({item!r} is not one)")
    return tuple(sources)


_MAX_COUNT = 100_000
_COUNT = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() also takes "²"


def _parse_count(setting: str, value: object) -> int:
    number = value
    if isinstance(value, str) and _COUNT.fullmatch(value.strip()):
        number = int(value.strip())
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= _MAX_COUNT:
        return number
    raise ConfigError(setting, value, f"an integer from 1 to {_MAX_COUNT:,}")


def _parse_provider(setting: str, value: object) -> Any:
    """A tracer or meter provider: anything with ``get_tracer``/``get_meter``, or None."""
    method = "get_meter" if setting == "meter_provider" else "get_tracer"
    if value is not None and not callable(getattr(value, method, None)):
        raise ConfigError(setting, value, f"None or an OpenTelemetry provider (an object with {method}())")
    return value


def _parse_propagator(setting: str, value: object) -> Any:
    """None, or a TextMapPropagator: anything with ``inject`` and ``fields``."""
    if value is not None and not (callable(getattr(value, "inject", None)) and hasattr(value, "fields")):
        raise ConfigError(
            setting, value, "None or an OpenTelemetry TextMapPropagator (with inject() and fields)"
        )
    return value


def _parse_logger_provider(setting: str, value: object) -> None:
    """Taken as opentelemetry-instrumentation-botocore takes it, so switching needs no change;
    said once, since nothing uses it."""
    if value is not None:
        logger.warning(
            "botocore-otel: %s is not used: botocore-otel writes no log records (GenAI content, when "
            "opted in, goes on the span: docs/genai.md)",
            setting,
        )


_Parser = Callable[[str, object], Any]
# keyword -> (parser, value used when a bad value switches the feature off)
PARSERS: dict[str, tuple[_Parser, Any]] = {
    "tracer_provider": (_parse_provider, None),
    "meter_provider": (_parse_provider, None),
    "request_hook": (_parse_hook, None),
    "response_hook": (_parse_hook, None),
    "skip_services": (_parse_services, frozenset()),
    "propagate": (parse_bool, False),
    "propagator": (_parse_propagator, None),
    "logger_provider": (_parse_logger_provider, None),
    "baggage": (parse_bool, False),
    "attempt_spans": (parse_bool, False),
    "metrics": (_parse_metrics, frozenset()),
    "phase_metrics": (parse_bool, None),  # deprecated: folded into ``metrics``
    "synthetic": (_parse_synthetic, None),
    "payload_propagation": (_parse_payload, frozenset()),
    "sqs_aws_trace_header": (parse_bool, False),
    "capture": (_parse_capture, ()),
    "dynamodb_consumed_capacity": (parse_bool, False),
    "attribution": (_parse_attribution, ()),
    "attribution_max_values": (_parse_count, 100),
}
