"""The rule model: matching an API call and deciding whether a rule selects it.

Parsing and validation of user input lives in ``config``; everything here is on
the hot path or describes a rule.
"""

from __future__ import annotations

import fnmatch
import hashlib
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore_otel.errors import ConfigError
from botocore_otel.forks import lock_of
from botocore_otel.synthetic.latency import Latency, parse_latency

DECISIONS = ("trace", "call")
FILL_MODES = ("required", "all")
MAX_BODY_SIZE = 1 << 30
MAX_FIXED_TARGET = 1_000_000
ERROR_CODE_RE = re.compile(r"[A-Za-z0-9_.:#\-]+")
GLOB_CHARS = frozenset("*?[")
_MASK64 = (1 << 64) - 1

DataFunction = Callable[[Mapping[str, Any] | None], Mapping[str, Any]]
# Output-shape data checked by ``shapes.normalize``, or a callable params -> data.
DataSource = Mapping[str, Any] | DataFunction


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


def _mix64(x: int) -> int:
    """splitmix64's finalizer: spreads any bit pattern evenly over 64 bits."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def rule_salt(name: str) -> int:
    """A per-rule 64-bit salt, identical in every process (unlike ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


class Reservoir:
    """At most ``target`` selections per wall-clock second, shared by all threads."""

    __slots__ = ("__weakref__", "_lock", "_second", "_target", "_used")

    def __init__(self, target: int) -> None:
        self._target = target
        self._second = -1
        self._used = 0
        self._lock = lock_of(self)

    def take(self) -> bool:
        now = int(time.monotonic())
        if now == self._second and self._used >= self._target:
            return False  # exhausted for this second: skip the lock
        with self._lock:
            if now != self._second:
                self._second = now
                self._used = 0
            if self._used < self._target:
                self._used += 1
                return True
            return False

    def has_room(self) -> bool:
        """Whether ``take`` would succeed now, without taking anything."""
        return int(time.monotonic()) != self._second or self._used < self._target

    def spend(self) -> None:
        """Takes one selection promised by ``has_room``: a call that raced for the last one
        is answered anyway (the target is a floor for load tests, not a cap)."""
        now = int(time.monotonic())
        with self._lock:
            if now != self._second:
                self._second = now
                self._used = 0
            self._used += 1


def check_rate(value: object, setting: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(setting, value, "a number between 0 and 1")  # NaN fails the comparison


def check_integer(value: object, setting: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(setting, value, f"an integer from {lo} to {hi}")


def check_error_code(value: object, setting: str) -> None:
    if not isinstance(value, str) or not ERROR_CODE_RE.fullmatch(value):
        raise ConfigError(setting, value, "an AWS error code such as 'ThrottlingException'")


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    status: int = 400
    message: str = "Synthetic error response"
    rate: float = 1.0

    def __post_init__(self) -> None:
        check_error_code(self.code, "ErrorSpec.code")
        check_integer(self.status, "ErrorSpec.status", 400, 599)
        if not isinstance(self.message, str):
            raise ConfigError("ErrorSpec.message", self.message, "a string")
        check_rate(self.rate, "ErrorSpec.rate")


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    data: DataSource | None = None
    # Glob rules: "service.Operation" -> data; other matched operations are generated.
    data_by_operation: Mapping[str, DataSource] = field(default_factory=dict)
    fill: str = "required"
    error: ErrorSpec | None = None
    latency: Latency | None = None
    body_size: int = 1024
    llm: Any = None
    """An ``llm.LLMSpec`` (tokens, first_token, per_token) for Bedrock Runtime answers."""

    def __post_init__(self) -> None:
        if self.fill not in FILL_MODES:
            raise ConfigError("ResponseSpec.fill", self.fill, "'required' or 'all'")
        if self.error is not None and not isinstance(self.error, ErrorSpec):
            raise ConfigError(
                "ResponseSpec.error", self.error, "an ErrorSpec(code, status, message, rate) or None"
            )
        if self.latency is not None and not isinstance(self.latency, Latency):
            # the rules file's forms: seconds, or a distribution mapping
            object.__setattr__(self, "latency", parse_latency(self.latency, "ResponseSpec.latency"))
        check_integer(self.body_size, "ResponseSpec.body_size", 0, MAX_BODY_SIZE)
        if self.data is not None and not (callable(self.data) or isinstance(self.data, Mapping)):
            raise ConfigError(
                "ResponseSpec.data", self.data, "a mapping of output members, a callable or None"
            )
        if not isinstance(self.data_by_operation, Mapping):
            allowed = "a mapping of 'service.Operation' (or 'Operation') to data"
            raise ConfigError("ResponseSpec.data_by_operation", self.data_by_operation, allowed)
        if self.llm is not None:
            from botocore_otel.synthetic.llm import LLMSpec, parse_llm

            llm = parse_llm(self.llm, "ResponseSpec.llm") if isinstance(self.llm, Mapping) else self.llm
            if not isinstance(llm, LLMSpec):
                allowed = "an llm.LLMSpec, a mapping of tokens, first_token and per_token, or None"
                raise ConfigError("ResponseSpec.llm", self.llm, allowed)
            object.__setattr__(self, "llm", llm)

    def data_for(self, service: str, operation: str) -> DataSource | None:
        if self.data is not None:
            return self.data
        return self.data_by_operation.get(f"{service}.{operation}")

    def describe(self) -> str:
        if callable(self.data):
            kind = "data from a callable"
        elif self.data is not None:
            kind = "given data"
        elif self.data_by_operation:
            kind = f"given data for {len(self.data_by_operation)} operation(s), else generated"
        else:
            kind = f"generated ({self.fill} members)"
        parts = [kind]
        if self.error is not None:
            e = self.error
            parts.append(f"error {e.code} (HTTP {e.status}) on {e.rate:.0%} of selected calls")
        if self.latency is not None:
            parts.append(f"latency {self.latency.describe()}")
        if self.llm is not None:
            parts.append(self.llm.describe())
        if self.body_size != 1024:
            parts.append(f"streamed blob bodies of {self.body_size} bytes")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A synthetic-response rule. ``Rule(name, match, ...)`` and ``Rule.create`` are the
    same; rules files and ``synthetic=[{...}]`` go through ``config.parse_rules``, which
    also checks ``match`` against the installed service models."""

    name: str
    match: str
    rate: float = 1.0
    fixed_target: int = 0
    decision: str = "trace"
    response: ResponseSpec = field(default_factory=ResponseSpec)
    _service_re: re.Pattern[str] | None = field(init=False, repr=False)
    _operation_re: re.Pattern[str] | None = field(init=False, repr=False)
    _threshold: int = field(init=False, repr=False)
    _salt: int = field(init=False, repr=False)
    _reservoir: Reservoir | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"synthetic[rule {self.name!r}]"
        check_rate(self.rate, f"{where}.rate")
        check_integer(self.fixed_target, f"{where}.fixed_target", 0, MAX_FIXED_TARGET)
        if self.decision not in DECISIONS:
            raise ConfigError(f"{where}.decision", self.decision, "'trace' or 'call'")
        if not isinstance(self.match, str) or (self.match != "*" and "." not in self.match):
            raise ConfigError(f"{where}.match", self.match, "'service.Operation' (globs allowed) or '*'")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"{where}.name", self.name, "a non-empty string naming the rule")
        if not isinstance(self.response, ResponseSpec):
            raise ConfigError(f"{where}.response", self.response, "a ResponseSpec")
        service, _, operation = self.match.partition(".") if self.match != "*" else ("*", ".", "*")
        by_operation = self.response.data_by_operation
        short = [key for key in by_operation if isinstance(key, str) and "." not in key]
        if short:  # "GetItem" for "dynamodb.GetItem", as in a rules file
            if is_glob(service):
                allowed = "a 'service.Operation' key (the service is a glob)"
                raise ConfigError(f"{where}.response.data_by_operation.{short[0]}", short[0], allowed)
            full = {(f"{service}.{k}" if k in short else k): v for k, v in by_operation.items()}
            object.__setattr__(self, "response", replace(self.response, data_by_operation=full))
        derived = {
            "_service_re": _compile(service),
            "_operation_re": _compile(operation),
            "_threshold": min(int(self.rate * 2.0**64), 1 << 64),
            "_salt": rule_salt(self.name),
            "_reservoir": Reservoir(self.fixed_target) if self.fixed_target > 0 else None,
        }
        for key, value in derived.items():
            object.__setattr__(self, key, value)

    @classmethod
    def create(
        cls,
        name: str,
        match: str,
        rate: float = 1.0,
        fixed_target: int = 0,
        decision: str = "trace",
        response: ResponseSpec | None = None,
    ) -> Rule:
        """The same as the constructor (kept for existing callers)."""
        return cls(name, match, rate, fixed_target, decision, response or ResponseSpec())

    @property
    def service_pattern(self) -> str:
        return "*" if self.match == "*" else self.match.partition(".")[0]

    @property
    def operation_pattern(self) -> str:
        return "*" if self.match == "*" else self.match.partition(".")[2]

    def matches(self, service: str, operation: str) -> bool:
        service_pattern, operation_pattern = self.service_pattern, self.operation_pattern
        if self._service_re is None:
            if service != service_pattern:
                return False
        elif self._service_re.fullmatch(service) is None:
            return False
        if self._operation_re is None:
            return operation == operation_pattern
        return self._operation_re.fullmatch(operation) is not None

    def selects(self, trace_id: int, rng: random.Random) -> bool:
        """Reservoir first (``fixed_target`` per second), then ``rate``."""
        if self._reservoir is not None and self._reservoir.take():
            return True
        return self._rate_selects(trace_id, rng)

    def tentatively_selects(self, trace_id: int, rng: random.Random) -> tuple[bool, bool]:
        """(selected, by the reservoir) without spending the reservoir: ``commit`` does,
        once the answer is used (another before-send handler may answer the call first)."""
        if self._reservoir is not None and self._reservoir.has_room():
            return True, True
        return self._rate_selects(trace_id, rng), False

    def commit(self, by_reservoir: bool) -> None:
        if by_reservoir and self._reservoir is not None:
            self._reservoir.spend()

    def _rate_selects(self, trace_id: int, rng: random.Random) -> bool:
        threshold = self._threshold
        if threshold >= 1 << 64:
            return True
        if threshold <= 0:
            return False
        if self.decision == "trace" and trace_id:
            return _mix64((trace_id & _MASK64) ^ self._salt) < threshold
        return rng.random() < self.rate

    def describe(self) -> str:
        how = "per trace" if self.decision == "trace" else "per call"
        text = f"rule {self.name!r}: {self.match}, rate {self.rate:g} {how}"
        if self.fixed_target:
            text += f", at least {self.fixed_target}/s"
        return f"{text}; {self.response.describe()}"


def _compile(pattern: str) -> re.Pattern[str] | None:
    return re.compile(fnmatch.translate(pattern)) if is_glob(pattern) else None
