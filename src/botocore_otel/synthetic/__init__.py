"""Synthetic responses: answer selected API calls without contacting AWS.

The core calls ``SyntheticResponder.answer`` from its ``before-send`` handler;
a non-None answer's ``response`` is returned to botocore, which parses it with
its real parser (and retries throttles / 5xx as usual). See ``config`` for the
rules file format.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel

from botocore_otel.errors import ConfigError
from botocore_otel.synthetic.config import check_rules, parse_rules
from botocore_otel.synthetic.defaults import CREDENTIAL_OPERATIONS, usable_defaults
from botocore_otel.synthetic.responses import Template
from botocore_otel.synthetic.rules import DataSource, ErrorSpec, ResponseSpec, Rule, is_glob
from botocore_otel.synthetic.shapes import generate_output, is_streaming_payload, normalize
from botocore_otel.synthetic.wire import error_wire, success_wire

__all__ = [
    "ErrorSpec",
    "PendingAnswer",
    "ResponseSpec",
    "Rule",
    "SyntheticAnswer",
    "SyntheticResponder",
    "check_rules_file",
]


@dataclass(frozen=True, slots=True)
class SyntheticAnswer:
    response: AWSResponse  # aiobotocore's AioAWSResponse when asked for is_async
    rule_name: str
    delay_s: float  # latency to wait before returning the response; 0.0 for none
    error_code: str | None  # AWS error code when this answer is an error response


class _Entry:
    """The rule selected for one (service, operation) and its lazily built templates."""

    __slots__ = ("data", "error", "failure", "llm", "rule", "service", "spec", "success", "url")

    def __init__(
        self,
        rule: Rule,
        data: DataSource | None,
        service: str,
        llm: Any = None,
        spec: ResponseSpec | None = None,
    ) -> None:
        self.rule = rule
        self.spec = rule.response if spec is None else spec
        self.data = data
        self.service = service
        self.url = f"https://{service}.synthetic.invalid/"
        self.llm = llm  # Bedrock model invocations without data: LLM-shaped answers (llm.py)
        self.success: Template | None = None
        self.error: Template | None = None
        # Why this rule's answer to the operation cannot be made: a call it selects gets the
        # synthetic error, never the network.
        self.failure: Exception | None = None

    def success_template(self, operation: OperationModel, params: Mapping[str, Any] | None) -> Template:
        template = self.success
        if template is not None:
            return template
        spec = self.spec
        data = self.data
        if callable(data):  # user code: re-serialized per call, by design
            values = normalize(operation.output_shape, data(params), f"rule {self.rule.name!r}")
            return Template(success_wire(operation, _with_body(operation, values, spec)), self.url)
        if data is None:
            values = generate_output(operation, spec.fill, spec.body_size)
            defaults = usable_defaults(operation, self.service)
            if defaults is not None:
                values.update(defaults)
            if (self.service, operation.name) in CREDENTIAL_OPERATIONS:  # a fresh expiry each time
                return Template(success_wire(operation, values), self.url)
        else:
            values = _with_body(operation, normalize(operation.output_shape, data, "data"), spec)
        template = Template(success_wire(operation, values), self.url)
        self.success = template
        return template

    def error_template(self, operation: OperationModel, error: ErrorSpec) -> Template:
        template = self.error
        if template is None:
            wire = error_wire(operation, error.code, error.status, error.message)
            template = self.error = Template(wire, self.url)
        return template


def _llm(rule: Rule, data: DataSource | None, key: tuple[str, str]) -> Any:
    """The LLM answer spec of a Bedrock model invocation answered without data."""
    if data is not None or key[0] != "bedrock-runtime":
        return None
    from botocore_otel.synthetic import llm

    return (rule.response.llm or llm.DEFAULT) if key[1] in llm.LLM_OPERATIONS else None


def _with_body(operation: OperationModel, values: dict[str, Any], spec: ResponseSpec) -> Any:
    """Fill a streaming payload the user's data left out with ``body_size`` bytes."""
    shape = operation.output_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if shape is None or not payload or payload in values:
        return values
    if is_streaming_payload(shape, payload):
        values = {**values, payload: b"x" * spec.body_size}
    return values


_SIDE_CALL = ResponseSpec()  # generated, no error, no latency


class PendingAnswer:
    """A call a rule selected; ``build`` makes its answer and spends the rule's budget."""

    __slots__ = ("_by_reservoir", "_entry", "_failure", "_responder", "is_async", "operation", "params")

    def __init__(
        self,
        responder: SyntheticResponder,
        entry: _Entry,
        operation: OperationModel,
        params: Mapping[str, Any] | None,
        is_async: bool,
        by_reservoir: bool,
        failure: Exception | None = None,
    ) -> None:
        self._responder = responder
        self._entry = entry
        self.operation = operation
        self.params = params
        self.is_async = is_async
        self._by_reservoir = by_reservoir
        self._failure = failure

    @property
    def rule(self) -> Rule:
        return self._entry.rule

    def again(self) -> PendingAnswer:
        """The same answer for a retry of this call: no reservoir spent."""
        return PendingAnswer(
            self._responder, self._entry, self.operation, self.params, self.is_async, False, self._failure
        )

    def build(self) -> SyntheticAnswer:
        """Raises when the answer cannot be built (a ``data`` callable failing, data that
        does not fit the output shape...): the caller must then not let the call through."""
        if self._failure is not None:
            raise self._failure
        entry, rng = self._entry, self._responder._rng
        rule = entry.rule
        rule.commit(self._by_reservoir)
        spec = entry.spec
        error = spec.error
        if error is not None and (error.rate >= 1.0 or rng.random() < error.rate):
            template = entry.error_template(self.operation, error)
            code: str | None = error.code
        elif entry.llm is not None:
            from botocore_otel.synthetic.llm import answer

            response, delay = answer(entry.llm, self.operation, self.params, rng, self.is_async)
            if spec.latency is not None:
                delay += spec.latency.sample(rng)
            return SyntheticAnswer(response, rule.name, delay, None)
        else:
            template = entry.success_template(self.operation, self.params)
            code = None
        latency = spec.latency
        delay = latency.sample(rng) if latency is not None else 0.0
        return SyntheticAnswer(template.response(self.is_async), rule.name, delay, code)


class SyntheticResponder:
    """Chooses, per API call, whether and how to answer synthetically."""

    __slots__ = ("_entries", "_rng", "_side_entries", "rules")

    def __init__(self, rules: Sequence[Rule] = (), *, seed: int | None = None) -> None:
        """Raises ``ConfigError`` for a rule a rules file would refuse (see ``check_rules``)."""
        check_rules(rules)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._entries: dict[tuple[str, str], _Entry | None] = {}
        self._side_entries: dict[tuple[str, str, str], _Entry] = {}
        self._rng = random.Random(seed)

    @classmethod
    def from_config(
        cls, value: object, *, source: str = "synthetic", seed: int | None = None
    ) -> SyntheticResponder:
        """``value``: a list of rule mappings, a mapping ``{"rules": [...]}`` or a path
        (str / os.PathLike) to a JSON or TOML file holding ``{"rules": [...]}``.

        ``seed`` makes per-call random choices (``decision = "call"``, error rate,
        latency) reproducible. Raises ``ConfigError`` for any invalid input.
        """
        return cls(parse_rules(value, source), seed=seed)

    def answer(
        self,
        service_key: str,
        operation_model: OperationModel,
        params: Mapping[str, Any] | None,
        trace_id: int,
        is_async: bool = False,
    ) -> SyntheticAnswer | None:
        """The synthetic answer for this call, or None to let it go to AWS."""
        pending = self.select(service_key, operation_model, params, trace_id, is_async)
        return None if pending is None else pending.build()

    def select(
        self,
        service_key: str,
        operation_model: OperationModel,
        params: Mapping[str, Any] | None,
        trace_id: int,
        is_async: bool = False,
        again: bool = False,
    ) -> PendingAnswer | None:
        """Whether a rule selects this call, spending nothing: the reservoir, the error
        and latency draws and the response itself wait for ``PendingAnswer.build``.
        ``again``: a rule selected this call's first attempt; it answers this one too, with
        no new draw and no reservoir spent."""
        entry = self._entry(service_key, operation_model.name)
        if entry is None:
            return None
        if again:
            return PendingAnswer(self, entry, operation_model, params, is_async, False, entry.failure)
        try:
            selected, by_reservoir = entry.rule.tentatively_selects(trace_id, self._rng)
        except Exception as error:  # a rule matched: the call must not reach AWS
            return PendingAnswer(self, entry, operation_model, params, is_async, False, error)
        if not selected:
            return None
        return PendingAnswer(self, entry, operation_model, params, is_async, by_reservoir, entry.failure)

    def _entry(self, service_key: str, operation: str) -> _Entry | None:
        """The rule entry of ``service_key.operation`` (None: no rule matches it), resolved once."""
        key = (service_key, operation)
        try:
            return self._entries[key]
        except KeyError:
            return self._resolve(key)

    def on_behalf_of(
        self,
        rule: Rule,
        service_key: str,
        operation_model: OperationModel,
        params: Mapping[str, Any] | None,
        is_async: bool = False,
    ) -> PendingAnswer:
        """The answer to a call made while a call ``rule`` selected is in flight (botocore's
        endpoint discovery, S3 Express session, S3 redirect, credential refresh): it must not
        reach AWS either. The first rule matching it answers it, whatever its rate; else a
        generated answer (``defaults``: usable credentials and endpoints) under ``rule``."""
        entry = self._entry(service_key, operation_model.name)
        if entry is None:
            side_key = (service_key, operation_model.name, rule.name)
            entry = self._side_entries.get(side_key)
            if entry is None:
                entry = self._side_entries[side_key] = _Entry(rule, None, service_key, spec=_SIDE_CALL)
        return PendingAnswer(self, entry, operation_model, params, is_async, False, entry.failure)

    def _resolve(self, key: tuple[str, str]) -> _Entry | None:
        service, operation = key
        entry = None
        for rule in self.rules:
            if rule.matches(service, operation):
                try:
                    data = rule.response.data_for(service, operation)
                    entry = _Entry(rule, data, service, _llm(rule, data, key))
                except Exception as error:
                    entry = _Entry(rule, None, service)
                    entry.failure = error
                break
        self._entries[key] = entry
        return entry

    def describe(self) -> str:
        if not self.rules:
            return "synthetic responses: no rules"
        listed = "; ".join(
            f"{r.name!r} {r.match} rate={r.rate:g}/{r.decision}"
            + (f" error={r.response.error.code}@{r.response.error.rate:g}" if r.response.error else "")
            for r in self.rules
        )
        return f"synthetic responses: {len(self.rules)} rule(s), first match wins: {listed}"


def check_rules_file(path: str | os.PathLike[str]) -> list[str]:
    """One human-readable line per rule of a rules file; raises ``ConfigError``."""
    responder = SyntheticResponder.from_config(path, source=os.fspath(path))
    if not responder.rules:  # as the synthetic setting refuses it
        raise ConfigError(os.fspath(path), os.fspath(path), "a rules file holding at least one rule")
    lines = []
    for i, rule in enumerate(responder.rules):
        line = f"{i + 1}. {rule.describe()}"
        shadow = _shadowed_by(rule, responder.rules[:i])
        if shadow is not None:
            line += f" -- WARNING: never used, rule {shadow.name!r} matches first"
        lines.append(line)
    return lines


def _shadowed_by(rule: Rule, earlier: Sequence[Rule]) -> Rule | None:
    """An earlier rule that matches every call this (exact-match) rule matches."""
    service, operation = rule.service_pattern, rule.operation_pattern
    if is_glob(service) or is_glob(operation):
        return None
    return next((r for r in earlier if r.matches(service, operation)), None)
