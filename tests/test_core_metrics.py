"""Metric sets and counter totals, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import sys
import threading

import boto3
from opentelemetry.sdk.metrics import Counter, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from botocore_otel import Instrumentor
from botocore_otel.metrics import Totals
from scripted_http import client_for, scripted_server, throttle_then_ok
from telemetry import Telemetry

PHASE_HISTOGRAMS = (
    "client.call.attempt_duration",
    "client.call.serialization_duration",
    "client.call.deserialization_duration",
    "client.call.auth.signing_duration",
)


def _list_tables(session, url: str) -> None:
    client_for(session, "dynamodb", url, 4).list_tables()


def test_phase_metrics_off_keeps_the_call_metrics(telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, phase_metrics=False, **telemetry.providers)
    with scripted_server(throttle_then_ok(1)) as server:
        _list_tables(session, server.url)
    Instrumentor().uninstrument(session)
    assert sum(p.count for p in telemetry.points("rpc.client.call.duration")) == 1
    assert sum(p.count for p in telemetry.points("client.call.duration")) == 1
    assert sum(p.value for p in telemetry.points("client.call.attempts")) == 2
    assert sum(p.value for p in telemetry.points("botocore_otel.throttles")) == 1
    for name in PHASE_HISTOGRAMS:
        assert list(telemetry.points(name)) == [], name


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
