"""The synthetic responder inside a real call, through ``instrument()``: it never lets a
selected call reach the endpoint, and it yields to a before-send handler that answered first.

The endpoint is a scripted HTTP server on 127.0.0.1 that records every request: a call
that escaped to "AWS" shows up there.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from urllib3.response import HTTPResponse

from botocore_otel import Instrumentor
from botocore_otel.synthetic import ResponseSpec, Rule, SyntheticResponder
from botocore_otel.synthetic.sending import SYNTHETIC_ERROR_CODE
from telemetry import Telemetry
from tests.scripted_http import Reply, ScriptedServer, client_for, scripted_server

WIRE_ITEM = b'{"Item": {"k": {"S": "from the wire"}}}'


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server(lambda _i, _r: Reply(200, WIRE_ITEM)) as running:
        yield running


def instrumented(telemetry: Telemetry, synthetic: Any) -> Any:
    session = boto3.session.Session()
    Instrumentor().instrument(session, synthetic=synthetic, **telemetry.providers)
    return session


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


# -- 1. never fail open to AWS ---------------------------------------------------------------
class Broken:
    """A ``data`` callable that fails one way or another (or not: "fine"), counting its calls."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.calls = 0

    def __call__(self, params: Any) -> Any:
        self.calls += 1
        if self.kind == "fine":
            return {"Item": {"k": {"S": "synthetic"}}}
        if self.kind == "raises":
            raise KeyError("no such fixture")
        return {"Item": {"k": {"NOT_A_TYPE": "x"}}}  # does not fit the output shape


@pytest.mark.parametrize("kind", ["raises", "does-not-fit"])
def test_a_selected_call_whose_answer_cannot_be_built_fails_and_never_reaches_aws(
    kind: str, server: ScriptedServer, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    data = Broken(kind)
    rules = [{"name": "broken items", "match": "dynamodb.GetItem", "response": {"data": data}}]
    session = instrumented(telemetry, rules)
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    try:
        ddb = client_for(session, "dynamodb", server.url, attempts=3)
        for _ in range(2):
            with pytest.raises(ClientError) as raised:
                ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})
            error = raised.value.response["Error"]
            assert error["Code"] == SYNTHETIC_ERROR_CODE
            assert "'broken items'" in error["Message"]
            assert ("KeyError" if kind == "raises" else "ConfigError") in error["Message"]
            assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        ddb.list_tables()  # no rule: this one goes to the wire
    finally:
        Instrumentor().uninstrument(session)
    assert [r.header_values("X-Amz-Target") for r in server.received] == [["DynamoDB_20120810.ListTables"]]
    assert data.calls == 2  # once per call: not retried
    logged = [r for r in caplog.records if "broken items" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    spans = telemetry.spans("DynamoDB.GetItem")
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["botocore_otel.synthetic.rule"] == "broken items"
        assert "error.type" in span.attributes


class FixtureFiles(Mapping[str, Any]):
    """A user's lazy ``data_by_operation``: reads a fixture per operation, and one is missing."""

    def __getitem__(self, key: str) -> Any:
        raise OSError(f"no fixture file for {key}")

    def __iter__(self) -> Iterator[str]:
        return iter(["dynamodb.ListTables"])

    def __len__(self) -> int:
        return 1


def test_a_selected_call_whose_rule_cannot_choose_its_data_fails_and_never_reaches_aws(
    server: ScriptedServer, telemetry: Telemetry
) -> None:
    rule = Rule("fixtures", "dynamodb.*", response=ResponseSpec(data_by_operation=FixtureFiles()))
    session = instrumented(telemetry, SyntheticResponder([rule]))
    try:
        ddb = client_for(session, "dynamodb", server.url)
        for _ in range(2):
            with pytest.raises(ClientError) as raised:
                ddb.list_tables()
            assert raised.value.response["Error"]["Code"] == SYNTHETIC_ERROR_CODE
            assert "no fixture file" in raised.value.response["Error"]["Message"]
    finally:
        Instrumentor().uninstrument(session)
    assert server.received == []


# -- 2. yield to an earlier answer ---------------------------------------------------------------
def cached(**_: Any) -> AWSResponse:
    """A user's before-send cache, registered first: it answers every GetItem itself."""
    body = b'{"Item": {"k": {"S": "cached"}}}'
    raw = HTTPResponse(body=io.BytesIO(body), status=200, preload_content=False)
    return AWSResponse("https://cache.invalid/", 200, {"x-amzn-requestid": "cached"}, raw)


def in_thread(call: Any) -> Any:
    """The call's result; a call stuck in an hour of synthetic latency fails the test."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(120)
    assert out, "the call did not return: the synthetic latency of a discarded answer was waited"
    return out[0]


def test_an_earlier_before_send_answer_wins_and_the_responder_does_nothing(
    server: ScriptedServer, telemetry: Telemetry
) -> None:
    data = Broken("fine")  # counts the answers the responder built
    rules = [{"name": "slow", "match": "dynamodb.GetItem", "response": {"data": data, "latency": 3600}}]
    session = instrumented(telemetry, rules)
    try:
        ddb = client_for(session, "dynamodb", server.url)
        ddb.meta.events.register_first("before-send", cached)
        result = in_thread(lambda: ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}}))
    finally:
        Instrumentor().uninstrument(session)
    assert result["Item"] == {"k": {"S": "cached"}}
    assert data.calls == 0
    assert server.received == []
    (span,) = telemetry.spans("DynamoDB.GetItem")
    assert "botocore_otel.synthetic" not in span.attributes


def test_an_earlier_answer_spends_none_of_the_reservoir(server: ScriptedServer, telemetry: Telemetry) -> None:
    # rate 0: only the reservoir (one call per second) selects.
    rules = [{"name": "one a second", "match": "dynamodb.GetItem", "rate": 0.0, "fixed_target": 1}]
    session = instrumented(telemetry, rules)
    try:
        ddb = client_for(session, "dynamodb", server.url)
        while time.monotonic() % 1.0 > 0.5:  # the calls below fit in one reservoir second
            time.sleep(0.05)
        ddb.meta.events.register_first("before-send", cached, unique_id="cache")
        assert ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})["Item"] == {"k": {"S": "cached"}}
        ddb.meta.events.unregister("before-send", unique_id="cache")
        answered = ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})
    finally:
        Instrumentor().uninstrument(session)
    assert server.received == []  # the reservoir's call of this second was still there
    assert answered["ResponseMetadata"]["HTTPHeaders"]["x-botocore-otel-synthetic"] == "one a second"


# -- calls the tracing leaves alone are answered too ---------------------------------------------
@pytest.mark.parametrize("how", ["suppressed", "skipped-service"])
def test_a_call_without_a_span_is_still_answered(
    how: str, server: ScriptedServer, telemetry: Telemetry
) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    rules = [{"name": "items", "match": "dynamodb.GetItem", "response": {"data": Broken("fine")}}]
    session = boto3.session.Session()
    skip = {"skip_services": "dynamodb"} if how == "skipped-service" else {}
    Instrumentor().instrument(session, synthetic=rules, **skip, **telemetry.providers)
    try:
        ddb = client_for(session, "dynamodb", server.url)
        if how == "suppressed":
            with suppress_instrumentation():
                result = ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})
        else:
            result = ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})
    finally:
        Instrumentor().uninstrument(session)
    assert server.received == []
    assert result["Item"] == {"k": {"S": "synthetic"}}
    assert telemetry.aws_spans() == []


# -- 4. the retries of a synthetic answer ---------------------------------------------------------
@pytest.mark.parametrize("how", ["traced", "skipped-service"])
def test_the_retries_of_a_synthetic_throttle_are_answered_by_the_same_rule(
    how: str, server: ScriptedServer, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)  # no backoff
    # rate 0: only the reservoir selects, one call a second. A retry drawn anew would find it
    # spent and go to the endpoint, which answers 200.
    throttle = {"error": {"code": "ThrottlingException", "status": 400}}
    rules = [
        {
            "name": "throttled",
            "match": "dynamodb.GetItem",
            "rate": 0.0,
            "fixed_target": 1,
            "response": throttle,
        }
    ]
    session = boto3.session.Session()
    skip = {"skip_services": "dynamodb"} if how == "skipped-service" else {}
    Instrumentor().instrument(session, synthetic=rules, **skip, **telemetry.providers)
    try:
        ddb = client_for(session, "dynamodb", server.url, attempts=3)
        with pytest.raises(ClientError) as raised:
            ddb.get_item(TableName="tbl", Key={"k": {"S": "v"}})
    finally:
        Instrumentor().uninstrument(session)
    assert server.received == []
    response = raised.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-botocore-otel-synthetic"] == "throttled"


@pytest.mark.parametrize("decision", ["call", "trace-without-a-tracer"])
def test_a_call_a_rule_passed_over_at_its_first_attempt_is_not_selected_on_a_retry(
    decision: str, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff
    from opentelemetry.trace import NoOpTracerProvider

    from tests.scripted_http import throttle_then_ok

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)  # no backoff
    # "trace" draws per call like "call" when there is no trace id (no SDK tracer).
    rule = Rule("half", "dynamodb.ListTables", rate=0.5, decision=decision.split("-")[0])
    session = boto3.session.Session()
    no_tracer = {"tracer_provider": NoOpTracerProvider(), "meter_provider": telemetry.meter_provider}
    providers = telemetry.providers if decision == "call" else no_tracer
    Instrumentor().instrument(session, synthetic=SyntheticResponder([rule], seed=7), **providers)
    try:
        with scripted_server(throttle_then_ok(1)) as server:  # every call's first attempt throttled
            ddb = client_for(session, "dynamodb", server.url, attempts=3)
            answers = [ddb.list_tables()["ResponseMetadata"] for _ in range(30)]
    finally:
        Instrumentor().uninstrument(session)
    synthetic = [a for a in answers if "x-botocore-otel-synthetic" in a["HTTPHeaders"]]
    from_the_wire = [a for a in answers if a not in synthetic]
    assert synthetic and from_the_wire  # the rule selects about half the calls
    assert [a["RetryAttempts"] for a in synthetic] == [0] * len(synthetic)  # none after a wire attempt
    assert [a["RetryAttempts"] for a in from_the_wire] == [1] * len(from_the_wire)


def test_an_aws_call_made_inside_a_selected_calls_send_leaves_it_selected(
    server: ScriptedServer, telemetry: Telemetry
) -> None:
    # The request hook runs as the call's span opens, at its first before-send: on botocore
    # before ~1.43.70 the call is handed to our before-send around the nested call. The nested
    # call, made while a selected call is in flight, is answered too (under the outer rule).
    rules = [
        {"name": "all-list-tables", "match": "dynamodb.ListTables", "response": {"data": {"TableNames": []}}}
    ]
    nested: list[Any] = []
    helper: list[Any] = []

    def look_up_once(span: Any, service: str, operation: str, params: Any) -> None:
        if operation == "ListTables" and not nested:
            nested.append(helper[0].describe_limits())  # no rule of its own

    session = boto3.session.Session()
    Instrumentor().instrument(session, synthetic=rules, request_hook=look_up_once, **telemetry.providers)
    try:
        ddb = client_for(session, "dynamodb", server.url)
        helper.append(ddb)
        answer = ddb.list_tables()
        after = ddb.describe_limits()  # no longer inside a selected call: to the endpoint
    finally:
        Instrumentor().uninstrument(session)
    assert [r.header_values("X-Amz-Target") for r in server.received] == [
        ["DynamoDB_20120810.DescribeLimits"]
    ]
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-botocore-otel-synthetic"] == "all-list-tables"
    assert nested[0]["ResponseMetadata"]["HTTPHeaders"]["x-botocore-otel-synthetic"] == "all-list-tables"
    assert "x-botocore-otel-synthetic" not in after["ResponseMetadata"]["HTTPHeaders"]


def test_a_call_dropped_between_two_before_send_handlers_is_not_kept_alive_by_the_responder(
    server: ScriptedServer, telemetry: Telemetry
) -> None:
    import contextlib
    import gc

    rules = [{"name": "none of these", "match": "s3.GetObject"}]
    session = instrumented(telemetry, rules)
    try:
        ddb = client_for(session, "dynamodb", server.url)

        def interrupt(**_: Any) -> None:  # after ours, before the responder's (registered last)
            raise KeyboardInterrupt

        ddb.meta.events.register("before-send", interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            ddb.list_tables()
        ddb.meta.events.unregister("before-send", interrupt)
        gc.collect()
        in_thread(ddb.describe_limits)  # a safe point, on another thread: the dropped call ends there
        (dropped,) = telemetry.spans("DynamoDB.ListTables")
    finally:
        Instrumentor().uninstrument(session)
    assert dropped.attributes["error.type"] == "cancelled"


def test_a_deep_copy_of_a_calls_context_shares_our_records(
    server: ScriptedServer, telemetry: Telemetry
) -> None:
    import copy

    # botocore deep-copies the request dict, context included, to presign a cross-region URL
    # (EC2 CopySnapshot, RDS SourceRegion): our records would take the service model along.
    rules = [{"name": "none of these", "match": "s3.GetObject"}]
    session = instrumented(telemetry, rules)
    copies: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        ddb = client_for(session, "dynamodb", server.url)
        ddb.meta.events.register(
            "before-call", lambda context, **_: copies.append((context, copy.deepcopy(context)))
        )
        ddb.list_tables()
    finally:
        Instrumentor().uninstrument(session)
    ((context, copied),) = copies
    ours = [key for key in context if key.startswith("botocore_otel")]
    assert len(ours) == 2  # the call's record and the responder's
    assert all(copied[key] is context[key] for key in ours)


# -- copying an instrumented session ---------------------------------------------------------
def test_a_deep_copy_of_a_synthetic_handler_is_the_handler() -> None:
    import copy

    from botocore_otel.synthetic.sending import SyntheticSender

    sender = SyntheticSender(SyntheticResponder([Rule("tables", "dynamodb.ListTables")]), lifecycle=None)  # type: ignore[arg-type]
    for _event, handler, _position, _name in sender.handlers(requests_carry_context=False):
        assert copy.deepcopy(handler).__self__ is sender


def test_a_session_instrumented_with_rules_can_be_deep_copied(telemetry: Telemetry) -> None:
    import copy

    session = instrumented(telemetry, [{"name": "tables", "match": "dynamodb.ListTables"}])
    try:
        copied = copy.deepcopy(session)
        client = copied.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        answer = client.list_tables()
    finally:
        Instrumentor().uninstrument(session)
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-botocore-otel-synthetic"] == "tables"
