"""Metric sets and counter totals, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading

import boto3
import botocore.endpoint
import pytest
from opentelemetry.sdk.metrics import Counter, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from botocore_otel import ConfigError, Instrumentor
from botocore_otel.config import load_settings
from botocore_otel.metrics import Totals
from scripted_http import Received, Reply, client_for, scripted_server, throttle_then_ok
from telemetry import Telemetry

PHASE_HISTOGRAMS = (
    "client.call.attempt_duration",
    "client.call.serialization_duration",
    "client.call.deserialization_duration",
    "client.call.auth.signing_duration",
)


def _list_tables(session, url: str) -> None:
    client_for(session, "dynamodb", url, 4).list_tables()


def test_deprecated_phase_metrics_adds_or_removes_the_phase_group(telemetry, caplog):
    session = boto3.session.Session()
    Instrumentor().instrument(session, phase_metrics=True, **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        _list_tables(session, server.url)
    Instrumentor().uninstrument(session)
    assert "phase_metrics is deprecated" in caplog.text
    assert sum(p.count for p in telemetry.points("rpc.client.call.duration")) == 1
    assert sum(p.count for p in telemetry.points("client.call.serialization_duration")) == 1
    assert list(telemetry.points("client.call.duration")) == []
    without_phases = load_settings({"metrics": "all", "phase_metrics": False}, environ={}).metrics
    assert without_phases == {"rpc", "smithy", "capacity"}


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        (True, {"rpc"}),
        ("true", {"rpc"}),
        (False, set()),
        ("off", set()),
        ("smithy, phases", {"smithy", "phases"}),
        (["rpc", "smithy"], {"rpc", "smithy"}),
        ("all", {"rpc", "smithy", "phases", "capacity"}),
    ],
)
def test_metric_groups_option(value, groups):
    assert load_settings({"metrics": value}, environ={}).metrics == groups
    if isinstance(value, str):
        assert load_settings({}, environ={"BOTOCORE_OTEL_METRICS": value}).metrics == groups


@pytest.mark.parametrize("value", ["rpc,cost", "", [], ["rpc", 3], 7])
def test_a_wrong_metric_group_names_the_allowed_ones(value):
    with pytest.raises(ConfigError) as raised:
        load_settings({"metrics": value}, environ={})
    assert raised.value.setting == "metrics"
    assert "rpc, smithy, phases, capacity" in str(raised.value)


def test_a_wrong_metric_group_in_the_environment_leaves_metrics_off_under_auto_instrumentation(caplog):
    settings = load_settings({}, environ={"BOTOCORE_OTEL_METRICS": "rpc,everything"}, strict=False)
    assert settings.metrics == frozenset()
    assert "BOTOCORE_OTEL_METRICS" in caplog.text


def test_synthetic_calls_are_marked_only_on_synthetic_calls(telemetry):
    session = boto3.session.Session()
    rules = [{"name": "tables", "match": "dynamodb.ListTables"}]
    Instrumentor().instrument(session, synthetic=rules, **telemetry.providers)
    with scripted_server(throttle_then_ok(0)) as server:
        _list_tables(session, server.url)  # answered by the rule
        client_for(session, "dynamodb", server.url, 1).describe_limits()  # answered by the server
        assert [r.path for r in server.received] == ["/"]
    Instrumentor().uninstrument(session)
    marks = {
        p.attributes["rpc.method"]: p.attributes.get("botocore_otel.synthetic")
        for p in telemetry.points("rpc.client.call.duration")
    }
    assert marks == {"ListTables": True, "DescribeLimits": None}


DURATION_HISTOGRAMS = ("rpc.client.call.duration", "client.call.duration", *PHASE_HISTOGRAMS)


def _exemplar_span_ids(telemetry: Telemetry) -> dict[str, set[int]]:
    """Collected once: a collection hands the exemplars over and forgets them. botocore emits
    before-parse since 1.35: older versions give no parse time."""
    names = DURATION_HISTOGRAMS
    if "before-parse" not in inspect.getsource(botocore.endpoint):
        names = tuple(name for name in names if name != "client.call.deserialization_duration")
    found: dict[str, set[int]] = {name: set() for name in names}
    for resource_metrics in telemetry.reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name in found:
                    found[metric.name] |= {
                        e.span_id for p in metric.data.data_points for e in p.exemplars or ()
                    }
    return found


@pytest.mark.parametrize("under_a_parent", [False, True])
def test_exemplars_of_every_duration_point_at_the_call_span(telemetry, under_a_parent):
    """Recorded after the span ended, in its context: the caller's span is current then (or
    none is), and the SDK would take the exemplars from it (or take none)."""
    session = boto3.session.Session()
    Instrumentor().instrument(session, metrics="all", **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        if under_a_parent:
            with telemetry.tracer.start_as_current_span("request"):
                _list_tables(session, server.url)
        else:
            _list_tables(session, server.url)
    Instrumentor().uninstrument(session)
    (call,) = telemetry.aws_spans()
    exemplars = _exemplar_span_ids(telemetry)
    assert len(exemplars) >= 5
    assert exemplars == {name: {call.context.span_id} for name in exemplars}


def test_with_attempt_spans_exemplars_point_at_the_last_attempt(telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, metrics="all", attempt_spans=True, **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        _list_tables(session, server.url)
    Instrumentor().uninstrument(session)
    (call,) = telemetry.aws_spans()
    first, last = sorted(
        (s for s in telemetry.spans() if s.parent and s.parent.span_id == call.context.span_id),
        key=lambda s: s.start_time,
    )
    attempts = {first.context.span_id, last.context.span_id}
    exemplars = _exemplar_span_ids(telemetry)
    # one point per status code (400, then 200): each attempt's own
    assert exemplars.pop("client.call.attempt_duration") == attempts
    per_call = ("rpc.client.call.duration", "client.call.duration", "client.call.serialization_duration")
    assert {name: exemplars.pop(name) for name in per_call} == {
        name: {last.context.span_id} for name in per_call
    }
    # per attempt, in one point: a bucket keeps the last exemplar offered to it
    assert all(ids and ids <= attempts for ids in exemplars.values()), exemplars


def test_an_unsampled_call_leaves_no_exemplar_even_under_a_sampled_parent():
    """The call's span was dropped (a sampler that keeps only the caller's spans): its durations
    are recorded in its own context, so none takes an exemplar of the caller's span (which is
    current when they are recorded)."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler

    class CallerSpansOnly(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None):
            sampler = ALWAYS_OFF if attributes and "rpc.method" in attributes else ALWAYS_ON
            return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links)

        def get_description(self) -> str:
            return "CallerSpansOnly"

    telemetry = Telemetry(sampler=CallerSpansOnly())
    session = boto3.session.Session()
    Instrumentor().instrument(session, metrics="all", **telemetry.providers)
    with (
        scripted_server(throttle_then_ok(1)) as server,
        telemetry.tracer.start_as_current_span("request") as request,
    ):
        _list_tables(session, server.url)
    Instrumentor().uninstrument(session)
    assert telemetry.aws_spans() == []
    assert request.get_span_context().trace_flags.sampled
    exemplars = _exemplar_span_ids(telemetry)
    assert sum(p.count for p in telemetry.points("rpc.client.call.duration")) == 1
    assert len(exemplars) >= 5
    assert exemplars == {name: set() for name in exemplars}


def test_counters_of_two_instrumentations_on_one_meter_add_up():
    telemetry = Telemetry()
    sessions = [boto3.session.Session(), boto3.session.Session()]
    for session in sessions:  # two explicit instrumentations, each with its own settings
        Instrumentor().instrument(session, **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        for session in sessions:
            _list_tables(session, server.url)
    for session in sessions:
        Instrumentor().uninstrument(session)
    (attempts,) = list(telemetry.points("client.call.attempts"))
    assert attempts.value == 4
    (throttles,) = list(telemetry.points("botocore_otel.throttles"))
    assert throttles.value == 2


def test_counters_report_deltas_to_a_delta_reader():
    delta = AggregationTemporality.DELTA
    telemetry = Telemetry(
        reader=InMemoryMetricReader(preferred_temporality={Counter: delta, ObservableCounter: delta})
    )
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    with scripted_server(throttle_then_ok(0)) as server:
        _list_tables(session, server.url)
        assert [p.value for p in telemetry.points("client.call.attempts")] == [1]
        _list_tables(session, server.url)
        _list_tables(session, server.url)
        assert [p.value for p in telemetry.points("client.call.attempts")] == [2]
    Instrumentor().uninstrument(session)


def test_equal_attribute_sets_in_distinct_dicts_are_one_series():
    totals = Totals()
    first = {"rpc.method": "GetItem", "cloud.region": "us-east-1"}
    second = dict(first)  # what a rebuilt attribute-set cache hands out
    totals.add(2, first)
    totals.add(3, second)
    totals.add(1, {"rpc.method": "PutItem"})
    observed = sorted((dict(o.attributes or {})["rpc.method"], o.value) for o in totals.observe(None))  # type: ignore[arg-type]
    assert observed == [("GetItem", 5), ("PutItem", 1)]
    totals.add(1, second)
    totals.add(1, first)
    observed = sorted((dict(o.attributes or {})["rpc.method"], o.value) for o in totals.observe(None))  # type: ignore[arg-type]
    assert observed == [("GetItem", 7), ("PutItem", 1)]


def test_totals_lose_no_update_while_being_collected():
    totals = Totals()
    attribute_sets = [{"rpc.method": f"Op{i}"} for i in range(50)]
    done = threading.Event()

    def add() -> None:
        for _ in range(100):
            for attributes in attribute_sets:
                totals.add(1, attributes)

    def collect() -> None:  # the SDK's reader, rebuilding the totals while calls add to them
        while not done.is_set():
            totals.observe(None)  # type: ignore[arg-type]

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        collector = threading.Thread(target=collect)
        collector.start()
        adders = [threading.Thread(target=add) for _ in range(4)]
        for thread in adders:
            thread.start()
        for thread in adders:
            thread.join()
        done.set()
        collector.join()
    finally:
        sys.setswitchinterval(previous)
    observed = {dict(o.attributes or {})["rpc.method"]: o.value for o in totals.observe(None)}  # type: ignore[arg-type]
    assert observed == {f"Op{i}": 400 for i in range(50)}


def test_totals_stay_bounded_when_nothing_collects():
    totals = Totals()
    for _ in range(5):  # what five clears of the attribute-set cache hand out, with no reader
        for i in range(4096):
            totals.add(1, {"rpc.method": f"Op{i}"})
    assert len(totals._totals) <= 2 * 8192
    observed = {dict(o.attributes or {})["rpc.method"]: o.value for o in totals.observe(None)}  # type: ignore[arg-type]
    assert len(observed) == 4096 and set(observed.values()) == {5}


def test_each_call_is_counted_under_its_own_region_and_outcome(session, telemetry):
    """A call that succeeded takes its attribute set from a cache per operation and region:
    calls alternating between two regions and between success and failure still land in
    their own series."""

    def script(_: int, received: Received) -> Reply:
        if b'"missing"' in received.body:
            return Reply(400, b'{"__type": "ResourceNotFoundException", "message": "no"}')
        return Reply(200, b'{"Item": {}}')

    with scripted_server(script) as server:
        clients = {}
        for region in ("us-east-1", "eu-west-1"):
            clients[region] = session.client(
                "dynamodb",
                endpoint_url=server.url,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        for table in ("tbl", "missing", "tbl", "tbl"):
            for client in clients.values():
                with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                    client.get_item(TableName=table, Key={"k": {"S": "x"}})
    counts = {
        (p.attributes["cloud.region"], p.attributes.get("error.type")): p.count
        for p in telemetry.points("rpc.client.call.duration")
    }
    assert counts == {
        ("us-east-1", None): 3,
        ("eu-west-1", None): 3,
        ("us-east-1", "ResourceNotFoundException"): 1,
        ("eu-west-1", "ResourceNotFoundException"): 1,
    }


def test_error_codes_a_server_invents_stay_within_a_cap_on_the_metrics(session, telemetry, caplog):
    """A server (a proxy, an emulator) that puts ids into its error codes: past MAX_ERROR_TYPES
    distinct codes the metrics count them as ``other`` (one log line), so the series stay
    bounded and the SDK's overflow series never swallows other operations; a code the
    operation's model names, and a throttle, keep their own series; spans keep every code."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    from botocore_otel.limits import OTHER
    from botocore_otel.metrics import MAX_ERROR_TYPES
    from tests.support.ports import closed_port

    invented = MAX_ERROR_TYPES + 30

    def script(index: int, received: Received) -> Reply:
        if b'"modelled"' in received.body:
            return Reply(400, b'{"__type": "ResourceNotFoundException", "message": "no"}')
        if b'"throttled"' in received.body:
            return Reply(400, b'{"__type": "ThrottlingException", "message": "slow down"}')
        if b'"no-code"' in received.body:
            return Reply(500, b"")
        if b'"TableName"' in received.body:
            return Reply(400, b'{"__type": "com.example#Invented%d", "message": "x"}' % index)
        return Reply(200, b'{"AccountMaxReadCapacityUnits": 1}')

    with scripted_server(script) as server:
        client = client_for(session, "dynamodb", server.url, attempts=1)
        for table in ["tbl"] * invented + ["modelled", "throttled", "no-code"]:
            with contextlib.suppress(ClientError):
                client.describe_table(TableName=table)
        client.describe_limits()
    unreachable = client_for(session, "dynamodb", f"http://127.0.0.1:{closed_port()}", attempts=1)
    with contextlib.suppress(EndpointConnectionError):
        unreachable.describe_table(TableName="tbl")
    points = list(telemetry.points("rpc.client.call.duration"))
    by_error = {
        p.attributes.get("error.type"): p.count
        for p in points
        if p.attributes["rpc.method"] == "DescribeTable"
    }
    # the first invented codes, other, and what keeps its own series past the cap: a modelled
    # error, a throttle, a status without a code, an exception's class
    assert len(by_error) == MAX_ERROR_TYPES + 5
    assert by_error["500"] == by_error["botocore.exceptions.EndpointConnectionError"] == 1
    assert by_error[OTHER] == invented - MAX_ERROR_TYPES
    assert by_error["ResourceNotFoundException"] == by_error["ThrottlingException"] == 1
    assert [p.count for p in points if p.attributes["rpc.method"] == "DescribeLimits"] == [1]
    errors = {p.attributes["error.type"] for p in telemetry.points("client.call.errors")}
    assert errors == set(by_error)
    assert caplog.text.count("distinct values of error.type") == 1
    last_invented = telemetry.spans("DynamoDB.DescribeTable")[invented - 1]
    assert last_invented.attributes["error.type"] == f"Invented{invented - 1}"


def test_call_durations_are_bucketed_up_to_two_minutes(session, telemetry):
    """A long poll (20 s), a Lambda invocation or a Bedrock answer passes 10 s: their
    percentiles need finite buckets above it."""
    with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
        client_for(session, "dynamodb", server.url).list_tables()
    (point,) = telemetry.points("rpc.client.call.duration")
    assert {15.0, 30.0, 60.0, 120.0} <= set(point.explicit_bounds)
