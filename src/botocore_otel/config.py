"""Settings: keyword options, each mirrored by a ``BOTOCORE_OTEL_*`` environment variable.

Keywords win over the environment. The explicit API raises :class:`ConfigError` for a bad
value; auto-instrumentation logs it once and leaves that feature off. The parsers of the
values are in ``config_values.py``, loaded only when a setting is given.
"""

from __future__ import annotations

import logging
import os
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
    propagator: Any = None
    """The propagator whose fields go on request headers next to X-Ray's (None: the global one)."""
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
    logger_provider: Any = None
    """Accepted as the official package takes it; botocore-otel emits no log records."""
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
        # Each configuration makes its own responder: two are the same when their rules are.
        rules = None if self.synthetic is None else tuple(map(repr, self.synthetic.rules))
        return tuple(
            rules if name == "synthetic" else getattr(self, name) for name in _SETTINGS if name != "problems"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._compared() == other._compared()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        changed = (f"{n}={getattr(self, n)!r}" for n in _SETTINGS if n in self.__dict__)
        return f"Settings({', '.join(changed)})"


_SETTINGS = tuple(Settings.__annotations__)
# The options: every setting but the two worked out here, and the deprecated phase_metrics
# (after metrics, which it changes).
_OPTIONS = (*(name for name in _SETTINGS if name not in ("semconv", "problems")), "phase_metrics")


_NOT_FROM_ENV = frozenset({"tracer_provider", "meter_provider", "logger_provider", "propagator"})
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


_SWITCH_WORDS = frozenset({"disabled", "disable", "enabled", "enable", "off", "on"})
# Not settings: the pytest plugin's switch, and the repository's soak test and preview renderer.
_TOOL_VARIABLES = frozenset(
    {"BOTOCORE_OTEL_PYTEST", "BOTOCORE_OTEL_SOAK_CALLS", "BOTOCORE_OTEL_RENDER_PREVIEWS"}
)


def _check_env_typos(env: Mapping[str, str], strict: bool) -> None:
    """A ``BOTOCORE_OTEL_*`` variable that is a near miss of a real one (a typo), or one meant to
    switch botocore-otel off (``BOTOCORE_OTEL_DISABLED``), is an error.

    Any other unknown variable with the prefix is a warning; the tools' own switches are left
    alone."""
    known = list(_ENV_NAMES.values())
    for variable in env:
        if not variable.startswith(ENV_PREFIX) or variable in _ENV_NAMES.values():
            continue
        keyword = variable[len(ENV_PREFIX) :].lower()
        if keyword in _NOT_FROM_ENV:  # BOTOCORE_OTEL_PROPAGATOR is no near miss of ..._PROPAGATE
            where = "OTEL_PROPAGATORS, or " if keyword == "propagator" else ""
            allowed = f"no such variable: {where}instrument({keyword}=...)"
            error = ConfigError(variable, env[variable], allowed)
            if strict:
                raise error
            logger.error("botocore-otel: ignoring variable: %s", error)
            continue
        import difflib  # only for an unknown BOTOCORE_OTEL_ variable

        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.85)
        if close:
            allowed = f"a known variable: did you mean {close[0]}?"
        elif keyword in _SWITCH_WORDS:  # meant to switch botocore-otel off (or on): says how
            allowed = (
                "no such variable: botocore-otel is on once instrumented; switch it off with "
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=botocore_otel"
            )
        else:
            if variable not in _TOOL_VARIABLES:  # no typo we can name: said, never silently
                logger.warning(
                    "botocore-otel: ignoring variable %s: no setting reads it (they are %s)",
                    variable,
                    ", ".join(known),
                )
            continue
        error = ConfigError(variable, env[variable], allowed)
        if strict:
            raise error
        logger.error("botocore-otel: ignoring variable: %s", error)


def _parsed(parse: Callable[[str, object], Any], setting: str, raw: object) -> Any:
    """``parse(setting, raw)``. A value no check foresaw (a rules file nested too deeply, a
    number too large to convert) is still that setting's ``ConfigError``, so under
    auto-instrumentation only its feature stays off."""
    try:
        return parse(setting, raw)
    except ConfigError:
        raise
    except Exception as unforeseen:
        reason = f"a valid value ({type(unforeseen).__name__}: {unforeseen})"
        raise ConfigError(setting, raw, reason) from unforeseen


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
    given: dict[str, tuple[str, object]] = {}  # option -> (the keyword or variable, its value)
    problems: list[str] = []
    for name in _OPTIONS:
        if name in options:
            setting, raw = name, options[name]
        elif name in _ENV_NAMES and env.get(_ENV_NAMES[name], "").strip():
            # An empty variable counts as unset (the OpenTelemetry environment convention).
            setting, raw = _ENV_NAMES[name], env[_ENV_NAMES[name]]
        else:
            continue
        given[name] = (setting, raw)
        from botocore_otel.config_values import PARSERS, with_phase_metrics  # a value is given

        parse, off_value = PARSERS[name]
        try:
            values[name] = _parsed(parse, setting, raw)
        except ConfigError as error:
            if strict:
                raise
            logger.error("botocore-otel: %s; this feature stays off", error)
            problems.append(str(error))
            values[name] = off_value
        if name == "phase_metrics" and values[name] is not None:
            groups = values.get("metrics", DEFAULT_METRICS)
            values["metrics"] = with_phase_metrics(groups, setting, values[name])
    values.pop("phase_metrics", None)
    # Options of the capacity group mean nothing without it: said, not silently ignored.
    if "capacity" not in values.get("metrics", DEFAULT_METRICS):
        for name, allowed in (("dynamodb_consumed_capacity", "false"), ("attribution", "empty")):
            if not values.get(name):
                continue
            from botocore_otel.config_values import PARSERS  # loaded: the value was given

            metrics_variable_set = bool(env.get(_ENV_NAMES["metrics"], "").strip())
            keyword = "metrics" in options or (name in options and not metrics_variable_set)
            metrics_setting = "metrics" if keyword else _ENV_NAMES["metrics"]
            mismatch = ConfigError(
                *given[name],
                f"{allowed}, unless {metrics_setting} has the 'capacity' group "
                f"({metrics_setting}='rpc,capacity')",
            )
            if strict:
                raise mismatch
            logger.error("botocore-otel: %s; this feature stays off", mismatch)
            problems.append(str(mismatch))
            values[name] = PARSERS[name][1]
    return Settings(**values, semconv=_semconv_mode(env), problems=tuple(problems))
