"""``app.component`` on the capacity metrics (baggage, route, fixed), the cap on distinct
values, and synthetic calls marked like on the other metrics."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

from botocore_otel import Instrumentor
from capacity_support import REQUESTS, S3_REQUESTS, SQS, instrumented, totals
from telemetry import Telemetry

WHO = [{"name": "who", "match": "sts.GetCallerIdentity"}]


def _sts(session):
    return session.client(
        "sts", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )  # every call answered by the synthetic rule: no endpoint is contacted


def _components(telemetry: Telemetry, name: str = REQUESTS) -> dict[object, float]:
    found: dict[object, float] = {}
    for point in telemetry.points(name):
        component = point.attributes.get("app.component")
        found[component] = found.get(component, 0) + point.value
    return found


def _with_baggage(key: str, value: str, call) -> None:
    token = otel_context.attach(baggage.set_baggage(key, value))
    try:
        call()
    finally:
        otel_context.detach(token)


def test_baggage_then_fixed_value_and_synthetic_calls_are_marked():
    telemetry = Telemetry()
    session = instrumented(telemetry, synthetic=WHO, attribution=["baggage:team", "fixed:backend"])
    sts = _sts(session)
    _with_baggage("team", "checkout", sts.get_caller_identity)
    _with_baggage("team", "checkout", sts.get_caller_identity)
    _with_baggage("other-key", "ignored", sts.get_caller_identity)
    sts.get_caller_identity()
    Instrumentor().uninstrument(session)
    assert _components(telemetry) == {"checkout": 2, "backend": 2}
    assert {p.attributes.get("botocore_otel.synthetic") for p in telemetry.points(REQUESTS)} == {True}


def test_a_value_longer_than_a_component_name_counts_as_other():
    telemetry = Telemetry()
    session = instrumented(telemetry, synthetic=WHO, attribution=["baggage:team"])
    sts = _sts(session)
    _with_baggage("team", "c" * 128, sts.get_caller_identity)
    _with_baggage("team", "x" * 129, sts.get_caller_identity)
    _with_baggage("team", "y" * 100_000, sts.get_caller_identity)
    Instrumentor().uninstrument(session)
    assert _components(telemetry) == {"c" * 128: 1, "other": 2}


def test_route_of_the_current_server_span(moto):
    telemetry = Telemetry()
    session = instrumented(telemetry, attribution=["route", "baggage:team"])
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]  # no span, no baggage: no app.component
    with telemetry.tracer.start_as_current_span("GET", attributes={"http.route": "/orders/{id}"}):
        sqs.send_message(QueueUrl=url, MessageBody="m")
        sqs.send_message(QueueUrl=url, MessageBody="m")
    with telemetry.tracer.start_as_current_span("job"):  # a span without a route: the next source
        _with_baggage("team", "billing", lambda: sqs.send_message(QueueUrl=url, MessageBody="m"))
    Instrumentor().uninstrument(session)
    assert _components(telemetry, SQS) == {None: 1, "/orders/{id}": 2, "billing": 1}
    assert all(p.attributes.get("botocore_otel.synthetic") is None for p in telemetry.points(SQS))


def test_ten_thousand_distinct_values_keep_exactly_the_cap_plus_other_with_one_log_line(caplog):
    telemetry = Telemetry()
    session = instrumented(telemetry, synthetic=WHO, attribution=["baggage:user"], attribution_max_values=100)
    sts = _sts(session)
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    for number in range(10_000):
        _with_baggage("user", f"u{number}", sts.get_caller_identity)
    Instrumentor().uninstrument(session)
    components = _components(telemetry)
    assert len(components) == 101
    assert components.pop("other") == 10_000 - 100
    assert set(components) == {f"u{n}" for n in range(100)}
    warnings = [r for r in caplog.records if "app.component" in r.getMessage()]
    assert len(warnings) == 1, warnings


def test_the_cap_bounds_resource_names_too(moto, caplog):
    telemetry = Telemetry()
    session = instrumented(telemetry, attribution_max_values=2)
    s3 = moto.client("s3", session=session)
    for bucket in ("bk1", "bk2", "bk3", "bk4"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    Instrumentor().uninstrument(session)
    buckets = {
        key: value for key, value in totals(telemetry, S3_REQUESTS, "rpc.method", "cloud.region").items()
    }
    assert buckets == {
        (("aws.s3.bucket", "bk1"), ("botocore_otel.s3.request_class", "put_copy_post_list")): 2,
        (("aws.s3.bucket", "bk2"), ("botocore_otel.s3.request_class", "put_copy_post_list")): 2,
        (("aws.s3.bucket", "other"), ("botocore_otel.s3.request_class", "put_copy_post_list")): 4,
    }
    assert len([r for r in caplog.records if "aws.s3.bucket" in r.getMessage()]) == 1


@pytest.mark.parametrize("global_share", [True, False], ids=["global", "explicit"])
def test_sessions_of_one_global_instrumentation_share_one_cap(global_share, monkeypatch):
    telemetry = Telemetry()
    options = {"synthetic": WHO, "attribution": ["baggage:user"], "attribution_max_values": 3}
    if global_share:
        Instrumentor().instrument(metrics="rpc,capacity", **telemetry.providers, **options)
        from tests.support.moto_server import new_boto3_session

        sessions = [new_boto3_session(), new_boto3_session()]
    else:
        sessions = [instrumented(telemetry, **options)]
    try:
        for number in range(6):
            _with_baggage("user", f"u{number}", _sts(sessions[number % len(sessions)]).get_caller_identity)
    finally:
        Instrumentor().uninstrument()
    assert _components(telemetry) == {"u0": 1, "u1": 1, "u2": 1, "other": 3}
