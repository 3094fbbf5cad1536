"""Settings: keyword options, each mirrored by a ``BOTOCORE_OTEL_*`` environment variable.

Keywords win over the environment. The explicit API raises :class:`ConfigError` for a bad
value; auto-instrumentation logs it once and leaves that feature off.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore_otel.errors import ConfigError

if TYPE_CHECKING:
    from botocore_otel.capture import Capture

logger = logging.getLogger("botocore_otel")

RequestHook = Callable[[Any, str, str, Mapping[str, Any]], None]
"""``request_hook(span, service_id, operation, params)``: called when the call's span opens."""
ResponseHook = Callable[[Any, str, str, "Mapping[str, Any] | None"], None]
"""``response_hook(span, service_id, operation, parsed)``: called before the span ends.

``parsed`` is None when the call failed without a response (connection errors)."""

ENV_PREFIX = "BOTOCORE_OTEL_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
# Patterns, not compiled ones: re compiles them when first used (about 0.2 ms at import otherwise).
_SERVICE_ID = r"^[a-z0-9][a-z0-9-]*$"
_HOOK_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
PAYLOAD_SERVICES = ("sqs", "sns", "eventbridge", "lambda", "stepfunctions")
"""What ``payload_propagation`` may name (its default: all of them)."""
METRIC_GROUPS = ("rpc", "smithy", "phases", "capacity")
"""What ``metrics`` may name (see metrics.py); ``true`` is ``rpc``, ``all`` is every group."""
DEFAULT_METRICS = frozenset({"rpc"})


class SemconvMode:
    """Which RPC attribute names to emit, from ``OTEL_SEMCONV_STABILITY_OPT_IN``."""

    OLD = "old"
    NEW = "new"
    DUP = "dup"


class Settings:
    """The resolved options, read-only. A plain class: a dataclass costs about 1 ms of import."""

    tracer_provider: Any = None
    meter_provider: Any = None
    request_hook: RequestHook | None = None
    response_hook: ResponseHook | None = None
    skip_services: frozenset[str] = frozenset()
    propagate: bool = True
    baggage: bool = False
    attempt_spans: bool = False
    metrics: frozenset[str] = DEFAULT_METRICS
    """Metric groups (:data:`METRIC_GROUPS`); empty: no metrics at all."""
    synthetic: Any = None
    """A ``SyntheticResponder`` once loaded, or None when synthetic answers are off."""
    semconv: str = SemconvMode.OLD
    payload_propagation: frozenset[str] = frozenset(PAYLOAD_SERVICES)
    """Services whose messages carry trace context (see ``payload.py``)."""
    sqs_aws_trace_header: bool = False
    capture: tuple[Capture, ...] = ()
    dynamodb_consumed_capacity: bool = False
    """Asks DynamoDB for ``ConsumedCapacity`` and hides it again (see capacity/dynamodb.py)."""
    attribution: tuple[tuple[str, str], ...] = ()
    """``app.component`` sources, in order: ``("baggage", key)``, ``("route", "")``, ``("fixed", value)``."""
    attribution_max_values: int = 100
    problems: tuple[str, ...] = ()
    """Under auto-instrumentation: the errors that switched features off (not compared)."""

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            if name not in _SETTINGS:
                raise TypeError(f"Settings has no field {name!r}")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Settings are read-only ({name})")

    def _compared(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _SETTINGS if name != "problems")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._compared() == other._compared()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        changed = (f"{n}={getattr(self, n)!r}" for n in _SETTINGS if n in self.__dict__)
        return f"Settings({', '.join(changed)})"


_SETTINGS = tuple(Settings.__annotations__)


def _parse_bool(setting: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(setting, value, "a boolean: true/false, 1/0, yes/no or on/off")


def _parse_services(setting: str, value: object) -> frozenset[str]:
    items: object = value
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    if not isinstance(items, (list, tuple, set, frozenset)) or not all(
        isinstance(item, str) and re.match(_SERVICE_ID, item) for item in items
    ):
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
    if (isinstance(value, str) and not value.strip()) or (isinstance(value, (list, tuple)) and not value):
        raise ConfigError(setting, value, "a rules file path, or a non-empty list of rule dicts")
    return SyntheticResponder.from_config(value, source=setting)


def _choices(value: object, allowed: tuple[str, ...], every: frozenset[str]) -> frozenset[str] | None:
    """The items of a list or comma-separated string, each from ``allowed`` ('all' alone means
    ``every``); None when one is not, or when none is given."""
    items = [p.strip().lower() for p in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)) or not all(isinstance(i, str) for i in items):
        return None
    chosen = {i for i in items if i}
    if chosen == {"all"}:
        return every
    return frozenset(chosen) if chosen and chosen <= set(allowed) else None


def _parse_payload(setting: str, value: object) -> frozenset[str]:
    if isinstance(value, bool):
        return frozenset(PAYLOAD_SERVICES) if value else frozenset()
    chosen = _choices(value, (*PAYLOAD_SERVICES, "none"), frozenset(PAYLOAD_SERVICES))
    if chosen == frozenset({"none"}):
        return frozenset()
    if chosen is not None and "none" not in chosen:
        return chosen
    raise ConfigError(
        setting,
        value,
        f"service names from {', '.join(PAYLOAD_SERVICES)} (comma-separated in the environment), "
        "'all' or 'none' (kinesis is not offered: its only carrier is the record data)",
    )


def _parse_metrics(setting: str, value: object) -> frozenset[str]:
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        value = value.strip().lower() in _TRUE
    if isinstance(value, bool):
        return DEFAULT_METRICS if value else frozenset()
    chosen = _choices(value, METRIC_GROUPS, frozenset(METRIC_GROUPS))
    if chosen is not None:
        return chosen
    raise ConfigError(
        setting,
        value,
        f"true, false, or metric groups from {', '.join(METRIC_GROUPS)} "
        "(comma-separated in the environment), or 'all'",
    )


def _with_phase_metrics(groups: frozenset[str], setting: str, phases: bool) -> frozenset[str]:
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


def _parse_attribution(setting: str, value: object) -> tuple[tuple[str, str], ...]:
    items = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(setting, value, f"a list of sources: {_ATTRIBUTION_SOURCES}")
    sources: list[tuple[str, str]] = []
    for item in items:
        kind, colon, argument = item.strip().partition(":")
        argument = argument.strip()
        if (kind in ("baggage", "fixed") and colon and argument) or (kind == "route" and not colon):
            sources.append((kind, argument))
        elif item.strip():
            raise ConfigError(setting, value, f"sources from {_ATTRIBUTION_SOURCES} ({item!r} is not one)")
    return tuple(sources)


def _parse_positive_int(setting: str, value: object) -> int:
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, int) and not isinstance(number, bool) and number >= 1:
        return number
    raise ConfigError(setting, value, "an integer of 1 or more")


def _parse_provider(setting: str, value: object) -> Any:
    """A tracer or meter provider: anything with ``get_tracer``/``get_meter``, or None."""
    method = "get_meter" if setting == "meter_provider" else "get_tracer"
    if value is not None and not callable(getattr(value, method, None)):
        raise ConfigError(setting, value, f"None or an OpenTelemetry provider (an object with {method}())")
    return value


_Parser = Callable[[str, object], Any]
# keyword -> (parser, value used when a bad value switches the feature off)
_OPTIONS: dict[str, tuple[_Parser, Any]] = {
    "tracer_provider": (_parse_provider, None),
    "meter_provider": (_parse_provider, None),
    "request_hook": (_parse_hook, None),
    "response_hook": (_parse_hook, None),
    "skip_services": (_parse_services, frozenset()),
    "propagate": (_parse_bool, False),
    "baggage": (_parse_bool, False),
    "attempt_spans": (_parse_bool, False),
    "metrics": (_parse_metrics, frozenset()),
    "phase_metrics": (_parse_bool, None),  # deprecated: folded into ``metrics``
    "synthetic": (_parse_synthetic, None),
    "payload_propagation": (_parse_payload, frozenset()),
    "sqs_aws_trace_header": (_parse_bool, False),
    "capture": (_parse_capture, ()),
    "dynamodb_consumed_capacity": (_parse_bool, False),
    "attribution": (_parse_attribution, ()),
    "attribution_max_values": (_parse_positive_int, 100),
}
_NOT_FROM_ENV = frozenset({"tracer_provider", "meter_provider"})
_ENV_NAMES = {
    name: ENV_PREFIX + ("SYNTHETIC_RULES" if name == "synthetic" else name.upper())
    for name in _OPTIONS
    if name not in _NOT_FROM_ENV
}


def env_names() -> Mapping[str, str]:
    """Keyword option -> environment variable."""
    return dict(_ENV_NAMES)


def _semconv_mode(environ: Mapping[str, str]) -> str:
    opted = {part.strip().lower() for part in environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
    if "rpc/dup" in opted:
        return SemconvMode.DUP
    if "rpc" in opted:
        return SemconvMode.NEW
    return SemconvMode.OLD


def _check_env_typos(env: Mapping[str, str], strict: bool) -> None:
    """A ``BOTOCORE_OTEL_*`` variable that is a near miss of a real one (a typo) is an error.

    Other variables with the prefix (tools' own switches) are left alone."""
    known = list(_ENV_NAMES.values())
    for variable in env:
        if not variable.startswith(ENV_PREFIX) or variable in _ENV_NAMES.values():
            continue
        import difflib  # only for an unknown BOTOCORE_OTEL_ variable

        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.85)
        if close:
            error = ConfigError(variable, env[variable], f"a known variable: did you mean {close[0]}?")
            if strict:
                raise error
            logger.error("botocore-otel: ignoring variable: %s", error)


def load_settings(
    options: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
) -> Settings:
    """Build :class:`Settings` from keyword ``options`` and the environment.

    ``strict`` raises the first :class:`ConfigError`; otherwise each bad value is logged
    and its feature left off.
    """
    env = os.environ if environ is None else environ
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        error = ConfigError(unknown[0], options[unknown[0]], f"one of {', '.join(_OPTIONS)}")
        if strict:
            raise error
        logger.error("botocore-otel: ignoring option: %s", error)
    _check_env_typos(env, strict)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (parse, off_value) in _OPTIONS.items():
        if name in options:
            setting, raw = name, options[name]
        elif name in _ENV_NAMES and env.get(_ENV_NAMES[name], "").strip():
            # An empty variable counts as unset (the OpenTelemetry environment convention).
            setting, raw = _ENV_NAMES[name], env[_ENV_NAMES[name]]
        else:
            continue
        try:
            values[name] = parse(setting, raw)
        except ConfigError as error:
            if strict:
                raise
            logger.error("botocore-otel: %s; this feature stays off", error)
            problems.append(str(error))
            values[name] = off_value
        if name == "phase_metrics" and values[name] is not None:
            groups = values.get("metrics", DEFAULT_METRICS)
            values["metrics"] = _with_phase_metrics(groups, setting, values[name])
    values.pop("phase_metrics", None)
    # Options of the capacity group mean nothing without it: said, not silently ignored.
    if "capacity" not in values.get("metrics", DEFAULT_METRICS):
        for name, allowed in (("dynamodb_consumed_capacity", "false"), ("attribution", "empty")):
            if not values.get(name):
                continue
            mismatch = ConfigError(
                name,
                values[name],
                f"{allowed}, unless the metrics setting has the 'capacity' group (metrics='rpc,capacity')",
            )
            if strict:
                raise mismatch
            logger.error("botocore-otel: %s; this feature stays off", mismatch)
            problems.append(str(mismatch))
            values[name] = _OPTIONS[name][1]
    return Settings(**values, semconv=_semconv_mode(env), problems=tuple(problems))
