"""Parse and validate synthetic-response rules (a list, or a JSON/TOML file).

File: ``{"rules": [...]}`` (TOML: ``[[rules]]`` tables). Rules are tried in order;
the first whose ``match`` fits the call is the only one considered. A rule:

- ``name`` (required, unique); ``match`` (required): ``"service.Operation"`` with the
  hyphenized service id, each part exact or an fnmatch glob; ``"*"`` matches all;
- ``rate`` 0..1 (1.0); ``fixed_target`` calls/second always selected first (0);
  ``decision``: ``"trace"`` (from the trace id: a trace is all synthetic or all
  real) or ``"call"`` (random per call);
- ``response``: ``data`` (output-shape data; for a glob match a mapping of
  ``"Operation"``/``"service.Operation"`` to data), ``fill`` (``"required"`` or
  ``"all"`` for generated output), ``error`` (code, or ``{code, status=400,
  message, rate=1.0}``), ``latency`` (seconds, or a distribution, see ``latency``),
  ``body_size`` (bytes of a streamed blob payload, 1024).

Every problem raises ``ConfigError`` whose setting names the rule and the key,
e.g. ``synthetic[rule 'ddb-throttle'].rate`` (``synthetic[2].name`` before a
rule's name is known).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import OperationModel, ServiceModel

from botocore_otel.errors import ConfigError
from botocore_otel.synthetic.catalog import Catalog, default_catalog, suggest
from botocore_otel.synthetic.latency import parse_latency
from botocore_otel.synthetic.rules import (
    DECISIONS,
    ERROR_CODE_RE,
    FILL_MODES,
    MAX_BODY_SIZE,
    MAX_FIXED_TARGET,
    DataSource,
    ErrorSpec,
    ResponseSpec,
    Rule,
    is_glob,
)
from botocore_otel.synthetic.shapes import normalize

RULE_KEYS = ("name", "match", "rate", "fixed_target", "decision", "response")
RESPONSE_KEYS = ("data", "fill", "error", "latency", "body_size", "tokens", "first_token", "per_token")
# Bedrock Runtime's errors, with the HTTP status Bedrock answers them with.
_DEFAULT_STATUS = {
    "ModelNotReadyException": 429,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ServiceUnavailableException": 503,
}
ERROR_KEYS = ("code", "status", "message", "rate")
TOP_KEYS = ("rules",)
_PATTERN_RE = re.compile(r"^[A-Za-z0-9_\-*?\[\]!]+$")
_MATCH_HELP = "'service.Operation' with a hyphenized service id, e.g. 'dynamodb.GetItem', 's3.*', '*'"


def load(value: object, source: str) -> list[object]:
    """The list of raw rule values in ``value`` (a list, a mapping or a file path)."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        value = _read_file(value, source)
    if isinstance(value, Mapping):
        for key in value:
            if key not in TOP_KEYS:
                raise ConfigError(f"{source}.{key}", value[key], "only the key 'rules'")
        value = value.get("rules", [])
    if not isinstance(value, (list, tuple)):
        raise ConfigError(source, value, "a list of rules, or a path to a JSON/TOML rules file")
    return list(value)


class UnreadableRulesFile(ConfigError):
    """A rules file that cannot be read at all (missing, a directory, no permission)."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        super().__init__(source, path, f"a readable JSON or TOML rules file ({reason})")
        self.reason = reason


def _read_file(path_like: str | os.PathLike[str], source: str) -> object:
    path = os.fsdecode(path_like)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, ValueError) as exc:
        raise UnreadableRulesFile(source, path, getattr(exc, "strerror", None) or str(exc)) from exc
    if path.lower().endswith(".toml"):
        try:
            import tomllib  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # Python 3.10
            raise ConfigError(source, path, "a JSON rules file (TOML needs Python >= 3.11)") from None
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ConfigError(source, path, f"valid TOML ({exc})") from exc
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(source, path, f"valid JSON ({exc})") from exc


def parse_rules(value: object, source: str, catalog: Catalog | None = None) -> tuple[Rule, ...]:
    catalog = catalog or default_catalog()
    rules: list[Rule] = []
    names: set[str] = set()
    for index, raw in enumerate(load(value, source)):
        try:
            rule = _parse_rule(raw, f"{source}[{index}]", source, catalog)
        except RecursionError:  # data nested deeper than Python recurses
            raise ConfigError(f"{source}[{index}]", "...", "a rule nested less deeply") from None
        if rule.name in names:
            raise ConfigError(f"{source}[{index}].name", rule.name, "a name no other rule has")
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _unknown_keys(raw: Mapping[Any, Any], allowed: Sequence[str], prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            hint = suggest(str(key), list(allowed))
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise ConfigError(f"{prefix}.{key}", raw[key], f"one of {', '.join(allowed)}{extra}")


def _rate(raw: Mapping[Any, Any], key: str, prefix: str) -> float:
    value = raw.get(key, 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{prefix}.{key}", value, "a number between 0 and 1")
    if not (0.0 <= value <= 1.0 and math.isfinite(value)):  # compared first: int(10**400) has no float
        raise ConfigError(f"{prefix}.{key}", value, "a number between 0 and 1")
    return float(value)


def _integer(raw: Mapping[Any, Any], key: str, prefix: str, default: int, lo: int, hi: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{prefix}.{key}", value, f"an integer from {lo} to {hi}")
    return value


def _parse_rule(raw: object, position: str, source: str, catalog: Catalog) -> Rule:
    if not isinstance(raw, Mapping):
        raise ConfigError(position, raw, f"a rule: a mapping with keys {', '.join(RULE_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{position}.name", name, "a non-empty string naming the rule")
    prefix = f"{source}[rule {name!r}]"
    _unknown_keys(raw, RULE_KEYS, prefix)
    if "match" not in raw:
        raise ConfigError(f"{prefix}.match", None, _MATCH_HELP)
    match = raw["match"]
    services = _check_match(match, f"{prefix}.match", catalog)
    decision = raw.get("decision", "trace")
    if decision not in DECISIONS:
        raise ConfigError(f"{prefix}.decision", decision, "'trace' or 'call'")
    response = _parse_response(raw.get("response"), f"{prefix}.response", match, services, catalog)
    return Rule.create(
        name=name,
        match=match,
        rate=_rate(raw, "rate", prefix),
        fixed_target=_integer(raw, "fixed_target", prefix, 0, 0, MAX_FIXED_TARGET),
        decision=decision,
        response=response,
    )


def _check_pattern(part: str, setting: str, value: object) -> None:
    if not part or not _PATTERN_RE.match(part):
        raise ConfigError(setting, value, _MATCH_HELP)
    depth = 0
    for char in part:
        depth += char == "["
        depth -= char == "]"
        if depth not in (0, 1):
            raise ConfigError(setting, value, f"a glob with balanced [...]; {_MATCH_HELP}")
    if depth:
        raise ConfigError(setting, value, f"a glob with balanced [...]; {_MATCH_HELP}")


def _check_match(match: object, setting: str, catalog: Catalog) -> dict[str, ServiceModel]:
    """Validate ``match``; return the models of the services it names exactly."""
    if not isinstance(match, str):
        raise ConfigError(setting, match, _MATCH_HELP)
    if match == "*":
        return {}
    service, dot, operation = match.partition(".")
    if not dot or "." in operation:
        raise ConfigError(setting, match, _MATCH_HELP)
    _check_pattern(service, setting, match)
    _check_pattern(operation, setting, match)
    if is_glob(service):
        if not any(fnmatch.fnmatchcase(sid, service) for sid in catalog.index()):
            raise ConfigError(setting, match, "a service glob matching an installed service id")
        return {}
    model = catalog.service_model(service)
    if model is None:
        hint = catalog.suggest_service(service)
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise ConfigError(setting, match, f"a known hyphenized service id{extra}")
    names = list(model.operation_names)
    if not is_glob(operation) and operation not in names:
        hint = suggest(operation, names)
        extra = f"; did you mean {service}.{hint}?" if hint else ""
        raise ConfigError(setting, match, f"an operation of {service}{extra}")
    if is_glob(operation) and not any(fnmatch.fnmatchcase(op, operation) for op in names):
        raise ConfigError(setting, match, f"a glob matching some operation of {service}")
    return {service: model}


def _parse_response(
    raw: object, prefix: str, match: str, services: dict[str, ServiceModel], catalog: Catalog
) -> ResponseSpec:
    if raw is None:
        return ResponseSpec()
    if not isinstance(raw, Mapping):
        raise ConfigError(prefix, raw, f"a mapping with keys {', '.join(RESPONSE_KEYS)}")
    _unknown_keys(raw, RESPONSE_KEYS, prefix)
    fill = raw.get("fill", "required")
    if fill not in FILL_MODES:
        raise ConfigError(f"{prefix}.fill", fill, "'required' or 'all'")
    data, by_operation = _parse_data(raw.get("data"), f"{prefix}.data", match, services, catalog)
    llm = None
    if any(key in raw for key in ("tokens", "first_token", "per_token")):
        from botocore_otel.synthetic import llm as llm_answers  # Bedrock LLM answers only

        llm_answers.check_match(match, prefix)
        llm = llm_answers.parse_llm(raw, prefix)
    return ResponseSpec(
        data=data,
        data_by_operation=by_operation,
        fill=fill,
        error=_parse_error(raw.get("error"), f"{prefix}.error"),
        latency=parse_latency(raw.get("latency"), f"{prefix}.latency"),
        body_size=_integer(raw, "body_size", prefix, 1024, 0, MAX_BODY_SIZE),
        llm=llm,
    )


def _parse_error(raw: object, prefix: str) -> ErrorSpec | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"code": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(prefix, raw, "an error code, or a mapping with keys code, status, ...")
    _unknown_keys(raw, ERROR_KEYS, prefix)
    code = raw.get("code")
    if not isinstance(code, str) or not ERROR_CODE_RE.fullmatch(code):
        raise ConfigError(f"{prefix}.code", code, "an AWS error code such as 'ThrottlingException'")
    message = raw.get("message", "Synthetic error response")
    if not isinstance(message, str):
        raise ConfigError(f"{prefix}.message", message, "a string")
    status = _integer(raw, "status", prefix, _DEFAULT_STATUS.get(code, 400), 400, 599)
    return ErrorSpec(code=code, status=status, message=message, rate=_rate(raw, "rate", prefix))


def _check_data(value: object, operation: OperationModel | None, setting: str) -> DataSource:
    if callable(value):
        return value
    assert operation is not None
    return normalize(operation.output_shape, value, setting)


def _parse_data(
    raw: object, prefix: str, match: str, services: dict[str, ServiceModel], catalog: Catalog
) -> tuple[DataSource | None, dict[str, DataSource]]:
    if raw is None:
        return None, {}
    service_glob, _, operation_glob = match.partition(".") if match != "*" else ("*", "", "*")
    if callable(raw) or (services and not is_glob(operation_glob)):
        model = services.get(service_glob)
        if model is None:
            return _check_data(raw, None, prefix), {}
        return _check_data(raw, model.operation_model(operation_glob), prefix), {}
    if not isinstance(raw, Mapping):
        raise ConfigError(prefix, raw, "for a glob match: a mapping of operation name to data")
    by_operation: dict[str, DataSource] = {}
    for key, value in raw.items():
        setting = f"{prefix}.{key}"
        model, service, operation = _operation_key(key, value, setting, match, services, catalog)
        by_operation[f"{service}.{operation}"] = _check_data(value, model.operation_model(operation), setting)
    return None, by_operation


def _operation_key(
    key: object, value: object, setting: str, match: str, services: dict[str, ServiceModel], catalog: Catalog
) -> tuple[ServiceModel, str, str]:
    """The service model, service id and operation a ``data`` key of a glob rule names."""
    service_glob, _, operation_glob = match.partition(".") if match != "*" else ("*", "", "*")
    if not isinstance(key, str):
        raise ConfigError(setting, value, "an operation name as key")
    service, dot, operation = key.rpartition(".")
    if not dot:
        if is_glob(service_glob):
            raise ConfigError(setting, value, "a 'service.Operation' key (the service is a glob)")
        service, operation = service_glob, key
    model = services.get(service) or catalog.service_model(service)
    if model is None or not fnmatch.fnmatchcase(service, service_glob):
        raise ConfigError(setting, value, f"a 'service.Operation' matched by {match!r}")
    names = list(model.operation_names)
    if operation not in names or not fnmatch.fnmatchcase(operation, operation_glob):
        hint = suggest(operation, names)
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise ConfigError(setting, value, f"an operation matched by {match!r}{extra}")
    return model, service, operation


def check_rules(rules: Sequence[object], catalog: Catalog | None = None) -> None:
    """The checks of a rules file that need the service models, for rules built in code:
    ``match`` names installed services and operations, as do ``data_by_operation`` keys (its
    values are checked at first use); names are unique."""
    catalog = catalog or default_catalog()
    names: set[str] = set()
    for index, rule in enumerate(rules):
        if not isinstance(rule, Rule):
            allowed = "a Rule (mappings: SyntheticResponder.from_config([...]))"
            raise ConfigError(f"synthetic[{index}]", rule, allowed)
        prefix = f"synthetic[rule {rule.name!r}]"
        if rule.name in names:
            raise ConfigError(f"{prefix}.name", rule.name, "a name no other rule has")
        names.add(rule.name)
        services = _check_match(rule.match, f"{prefix}.match", catalog)
        for key in rule.response.data_by_operation:
            setting = f"{prefix}.response.data_by_operation.{key}"
            _operation_key(key, key, setting, rule.match, services, catalog)
