"""DynamoDB: capacity units from ``ConsumedCapacity``, and the ``dynamodb_consumed_capacity``
option that asks for it where the caller did not and hides it again from the caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore_otel.capacity.recorder import Handler, Recorder, handler
from botocore_otel.converters import json_items
from botocore_otel.errors import report
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import STATE_KEY

# Marks, in botocore's per-call context, a call whose ReturnConsumedCapacity we added: the
# caller's parameters dict, which botocore serializes before before-call.
ADDED_KEY = "botocore_otel.capacity.added"
# The ConsumedCapacity of such a call, taken out of the response at response-received: before
# any after-call handler (the caller's on the operation's own event run before ours would).
_TAKEN_KEY = "botocore_otel.capacity.taken"
_PARAMETER = "ReturnConsumedCapacity"
_RESPONSE_KEY = "ConsumedCapacity"
# What the span shows of it when the caller asked (services.py's DynamoDB response field)
_SPAN_ATTRIBUTE = "aws.dynamodb.consumed_capacity"

# What ``CapacityUnits`` alone counts as; an entry's Read/WriteCapacityUnits win when present.
_READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
# PartiQL: read only when every statement is a SELECT.
_STATEMENTS = {
    "ExecuteStatement": None,
    "BatchExecuteStatement": "Statements",
    "ExecuteTransaction": "TransactStatements",
}


def _is_select(statement: Any) -> bool:
    return isinstance(statement, str) and statement.lstrip()[:6].upper() == "SELECT"


def default_type(operation: str, params: Mapping[str, Any] | None) -> str:
    if operation in _READ_OPERATIONS:
        return "read"
    if operation in _STATEMENTS and params:
        member = _STATEMENTS[operation]
        if member is None:
            return "read" if _is_select(params.get("Statement")) else "write"
        entries = params.get(member)
        if isinstance(entries, list) and entries:
            selects = (isinstance(e, Mapping) and _is_select(e.get("Statement")) for e in entries)
            return "read" if all(selects) else "write"
    return "write"


def _table_name(name: str) -> str:
    # TableName may be an ARN (arn:aws:dynamodb:region:account:table/name)
    return name.rsplit("/", 1)[-1] if name.startswith("arn:") else name


class _Added(str):
    """Our ReturnConsumedCapacity value. A call refused before it is sent (a ParamValidationError,
    an endpoint that cannot be resolved) gets to neither before-call nor after-call, and leaves
    it in the caller's dict: passed again, the dict is still known as not asking."""

    __slots__ = ()


_TOTAL = _Added("TOTAL")


def _give_back(context: dict[str, Any]) -> None:
    """The caller's parameters as it passed them: a dict passed again (``_make_api_call``, as
    PynamoDB calls it) would otherwise carry our ReturnConsumedCapacity as the caller's own."""
    added = context.get(ADDED_KEY)
    if type(added) is dict:
        added.pop(_PARAMETER, None)


class DynamoDBCapacity(SharedOnCopy):
    def __init__(self, recorder: Recorder, add_parameter: bool) -> None:
        self._recorder = recorder
        self._tables = recorder.limiter("aws.dynamodb.table_name")
        self._add_parameter = add_parameter
        self._accepts: dict[str, bool] = {}

    def handlers(self) -> list[Handler]:
        handlers = [handler("after-call.dynamodb", self.on_after_call)]
        if self._add_parameter:
            handlers.append(handler("before-parameter-build.dynamodb", self.on_before_parameter_build))
            handlers.append(handler("before-call.dynamodb", self.on_before_call))
            handlers.append(handler("response-received.dynamodb", self.on_response_received))
        return handlers

    def on_before_parameter_build(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if _PARAMETER in params and type(params[_PARAMETER]) is not _Added:
            return  # the caller's own
        try:
            # Only calls the lifecycle follows (not a skipped service, not suppressed, not disabled).
            if context.get(STATE_KEY) is not None:
                accepts = self._accepts.get(model.name)
                if accepts is None:
                    shape = model.input_shape
                    accepts = self._accepts[model.name] = shape is not None and _PARAMETER in shape.members
                if accepts:
                    params[_PARAMETER] = _TOTAL
                    context[ADDED_KEY] = params  # given back without it once serialized (_give_back)
                    return
            params.pop(_PARAMETER, None)  # ours, left by a call refused before it was sent
        except Exception as error:
            report("asking DynamoDB for ConsumedCapacity", error)

    def on_before_call(self, context: dict[str, Any], **_: Any) -> None:
        _give_back(context)

    def on_response_received(self, parsed_response: Any, context: dict[str, Any], **_: Any) -> None:
        """Each attempt's answer; the last one's dict is what after-call gets and the caller."""
        if ADDED_KEY in context and isinstance(parsed_response, dict) and _RESPONSE_KEY in parsed_response:
            context[_TAKEN_KEY] = consumed = parsed_response.pop(_RESPONSE_KEY)  # not asked for
            self._show_on_span(context.get(STATE_KEY), consumed)

    def on_after_call(self, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get(_RESPONSE_KEY) if isinstance(parsed, dict) else None
        state = context.get(STATE_KEY)
        added = context.get(ADDED_KEY)
        if added is not None:
            _give_back(context)  # a call the Stubber answered at before-call skipped ours
            if consumed is not None:  # not through response-received (a Stubber's answer)
                del parsed[_RESPONSE_KEY]
                self._show_on_span(state, consumed)
            else:
                consumed = context.pop(_TAKEN_KEY, None)
        if consumed is None or state is None or state.attempts == 0:
            return
        try:
            self._record(consumed, state)
        except Exception as error:
            report("counting DynamoDB consumed capacity", error)

    @staticmethod
    def _show_on_span(state: Any, consumed: Any) -> None:
        """The span reads the response after this handler: it gets the figure from here."""
        span = getattr(state, "span", None)
        if span is None or not span.is_recording():
            return
        try:
            value = json_items(consumed)
            if value is not None:
                span.set_attribute(_SPAN_ATTRIBUTE, value)
        except Exception as error:
            report("DynamoDB consumed capacity on the span", error)

    def _record(self, consumed: Any, state: Any) -> None:
        method = state.info.metric_attributes["rpc.method"]
        kind = default_type(state.info.operation, state.params)
        for entry in consumed if isinstance(consumed, list) else (consumed,):
            if not isinstance(entry, dict) or not isinstance(entry.get("TableName"), str):
                continue
            table = self._tables(_table_name(entry["TableName"]))
            read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
            if read is None and write is None:
                units = entry.get("CapacityUnits")
                read, write = (units, None) if kind == "read" else (None, units)
            for capacity_type, units in (("read", read), ("write", write)):
                if isinstance(units, (int, float)) and units > 0:
                    values = (
                        ("aws.dynamodb.table_name", table),
                        ("botocore_otel.capacity.type", capacity_type),
                        ("rpc.method", method),
                    )
                    self._recorder.add("dynamodb", float(units), state, values)
