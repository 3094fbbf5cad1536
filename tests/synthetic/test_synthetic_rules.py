"""Rule matching and selection: first match wins, globs, rates, per-trace decisions,
reservoir, error rate, latency, answer caching."""

from __future__ import annotations

import random
import threading
from typing import Any

import botocore.session
import pytest

from botocore_otel.synthetic import SyntheticResponder, rules

_SESSION = botocore.session.Session()


def op(service: str, name: str) -> Any:
    return _SESSION.get_service_model(service).operation_model(name)


GET_ITEM = op("dynamodb", "GetItem")
PUT_ITEM = op("dynamodb", "PutItem")
GET_OBJECT = op("s3", "GetObject")
DESCRIBE_LB = op("elbv2", "DescribeLoadBalancers")


def responder(*rule_list: dict[str, Any], seed: int = 1) -> SyntheticResponder:
    return SyntheticResponder.from_config(list(rule_list), seed=seed)


def rule_name(r: SyntheticResponder, service: str, operation: Any, trace_id: int = 1) -> Any:
    answer = r.answer(service, operation, None, trace_id)
    return None if answer is None else answer.rule_name


def test_first_match_wins() -> None:
    r = responder(
        {"name": "exact", "match": "dynamodb.GetItem"},
        {"name": "service", "match": "dynamodb.*"},
        {"name": "rest", "match": "*"},
    )
    assert rule_name(r, "dynamodb", GET_ITEM) == "exact"
    assert rule_name(r, "dynamodb", PUT_ITEM) == "service"
    assert rule_name(r, "s3", GET_OBJECT) == "rest"


@pytest.mark.parametrize(
    ("match", "hits"),
    [
        ("dynamodb.Get*", {"GetItem"}),
        ("dynamodb.?utItem", {"PutItem"}),
        ("dynamo*.*", {"GetItem", "PutItem"}),
        ("s[3].GetObject", {"GetObject"}),
        ("elastic-load-balancing-v2.Describe*", {"DescribeLoadBalancers"}),
        ("*", {"GetItem", "PutItem", "GetObject", "DescribeLoadBalancers"}),
    ],
)
def test_globs(match: str, hits: set[str]) -> None:
    r = responder({"name": "g", "match": match})
    calls = [
        ("dynamodb", GET_ITEM),
        ("dynamodb", PUT_ITEM),
        ("s3", GET_OBJECT),
        ("elastic-load-balancing-v2", DESCRIBE_LB),
    ]
    got = {o.name for s, o in calls if r.answer(s, o, None, 5) is not None}
    assert got == hits


def test_no_match_is_cached_and_none() -> None:
    r = responder({"name": "s3", "match": "s3.*"})
    assert r.answer("dynamodb", GET_ITEM, None, 1) is None
    assert r._entries[("dynamodb", "GetItem")] is None


@pytest.mark.parametrize("decision", ["trace", "call"])
def test_rate_zero_never_one_always(decision: str) -> None:
    never = responder({"name": "n", "match": "*", "rate": 0, "decision": decision})
    always = responder({"name": "a", "match": "*", "rate": 1, "decision": decision})
    ids = [random.Random(3).getrandbits(128) for _ in range(500)] + [0]
    assert all(never.answer("dynamodb", GET_ITEM, None, t) is None for t in ids)
    assert all(always.answer("dynamodb", GET_ITEM, None, t) is not None for t in ids)


def test_trace_decision_is_consistent_and_near_rate() -> None:
    rng = random.Random(11)
    ids = [rng.getrandbits(128) for _ in range(20_000)]
    first = responder({"name": "t", "match": "*", "rate": 0.3})
    second = responder({"name": "t", "match": "*", "rate": 0.3}, seed=99)  # "another process"
    picked = [first.answer("dynamodb", GET_ITEM, None, t) is not None for t in ids]
    # Same trace id: same decision, for every call of the trace and in every process.
    assert picked == [first.answer("dynamodb", PUT_ITEM, None, t) is not None for t in ids]
    assert picked == [second.answer("s3", GET_OBJECT, None, t) is not None for t in ids]
    assert abs(sum(picked) / len(ids) - 0.3) < 0.02


def test_trace_decisions_of_two_rules_are_independent() -> None:
    rng = random.Random(5)
    ids = [rng.getrandbits(128) for _ in range(20_000)]
    a = responder({"name": "a", "match": "*", "rate": 0.5})
    b = responder({"name": "b", "match": "*", "rate": 0.5})
    both = sum(
        a.answer("s3", GET_OBJECT, None, t) is not None and b.answer("s3", GET_OBJECT, None, t) is not None
        for t in ids
    )
    assert abs(both / len(ids) - 0.25) < 0.02  # salted by rule name, not the same half


def test_trace_decision_only_uses_low_64_bits_mixed() -> None:
    rule = rules.Rule.create("x", "*", rate=0.5)
    low = 0x1234_5678_9ABC_DEF0
    rng = random.Random(0)
    assert rule.selects(low, rng) == rule.selects((0xFFFF << 64) | low, rng)


@pytest.mark.parametrize("trace_id", [0, None])
def test_call_decision_and_missing_trace_are_random_per_call(trace_id: int | None) -> None:
    decision = "call" if trace_id is None else "trace"
    r = responder({"name": "c", "match": "*", "rate": 0.25, "decision": decision}, seed=4)
    tid = 77 if trace_id is None else trace_id
    hits = sum(r.answer("dynamodb", GET_ITEM, None, tid) is not None for _ in range(8000))
    assert abs(hits / 8000 - 0.25) < 0.03


def test_reservoir_fixed_target_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("botocore_otel.synthetic.rules.time.monotonic", lambda: now[0])
    r = responder({"name": "r", "match": "*", "rate": 0, "fixed_target": 5})
    assert sum(r.answer("s3", GET_OBJECT, None, 9) is not None for _ in range(50)) == 5
    now[0] += 1.0
    assert sum(r.answer("s3", GET_OBJECT, None, 9) is not None for _ in range(50)) == 5


def test_reservoir_then_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore_otel.synthetic.rules.time.monotonic", lambda: 5.0)
    r = responder({"name": "r", "match": "*", "rate": 0.5, "fixed_target": 100, "decision": "call"})
    hits = sum(r.answer("s3", GET_OBJECT, None, 0) is not None for _ in range(2100))
    assert abs(hits - (100 + 1000)) < 100


def test_reservoir_is_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore_otel.synthetic.rules.time.monotonic", lambda: 42.0)
    reservoir = rules.Reservoir(250)
    taken = []

    def work() -> None:
        taken.append(sum(reservoir.take() for _ in range(2000)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 250


def test_error_rate_proportion() -> None:
    r = responder(
        {"name": "e", "match": "*", "response": {"error": {"code": "Throttling", "rate": 0.2}}},
        seed=21,
    )
    answers = [r.answer("dynamodb", GET_ITEM, None, 1) for _ in range(5000)]
    errors = [a for a in answers if a is not None and a.error_code == "Throttling"]
    assert abs(len(errors) / 5000 - 0.2) < 0.02
    assert all(a is not None and a.response.status_code == 400 for a in errors)
    ok = [a for a in answers if a is not None and a.error_code is None]
    assert all(a.response.status_code == 200 for a in ok)


def test_latency_fixed() -> None:
    r = responder({"name": "l", "match": "*", "response": {"latency": 0.01}})
    answer = r.answer("dynamodb", GET_ITEM, None, 1)
    assert answer is not None and answer.delay_s == 0.01
    assert responder({"name": "z", "match": "*"}).answer("s3", GET_OBJECT, None, 1).delay_s == 0.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("latency", "low", "high"),
    [
        ({"distribution": "uniform", "min": 0.01, "max": 0.05}, 0.01, 0.05),
        ({"distribution": "normal", "mean": 0.001, "stddev": 0.01}, 0.0, 1.0),
        ({"distribution": "normal", "mean": 0.05, "stddev": 0.05, "max": 0.06}, 0.0, 0.06),
        ({"distribution": "lognormal", "median": 0.02, "sigma": 0.5, "max": 0.2}, 0.0, 0.2),
        ({"distribution": "exponential", "mean": 0.01}, 0.0, 10.0),
    ],
)
def test_latency_distributions_in_range(latency: dict[str, Any], low: float, high: float) -> None:
    r = responder({"name": "l", "match": "*", "response": {"latency": latency}}, seed=8)
    delays = [r.answer("s3", GET_OBJECT, None, 1).delay_s for _ in range(2000)]  # type: ignore[union-attr]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100  # really a distribution
    if latency["distribution"] == "normal" and latency["mean"] < 0.01:
        assert 0.0 in delays  # clipped at 0


def test_templates_cached_bodies_and_ids_fresh() -> None:
    r = responder({"name": "c", "match": "*", "response": {"body_size": 10}})
    first = r.answer("s3", GET_OBJECT, None, 1)
    second = r.answer("s3", GET_OBJECT, None, 1)
    assert first is not None and second is not None
    assert first.response is not second.response
    assert first.response.raw.read() == b"x" * 10
    assert second.response.raw.read() == b"x" * 10
    assert first.response.headers["x-amz-request-id"] != second.response.headers["x-amz-request-id"]
    entry = r._entries[("s3", "GetObject")]
    assert entry is not None and entry.success is not None  # built once, reused


def test_query_request_id_in_body() -> None:
    r = responder({"name": "q", "match": "*"})
    answer = r.answer("sts", op("sts", "GetCallerIdentity"), None, 1)
    assert answer is not None
    request_id = answer.response.headers["x-amzn-RequestId"]
    assert f"<RequestId>{request_id}</RequestId>".encode() in answer.response.content
    assert int(answer.response.headers["content-length"]) == len(answer.response.content)


def test_describe_is_one_line() -> None:
    r = responder(
        {"name": "a", "match": "dynamodb.*", "rate": 0.5},
        {"name": "b", "match": "*", "response": {"error": "Throttling"}},
    )
    line = r.describe()
    assert "\n" not in line and "'a'" in line and "'b'" in line and "Throttling" in line
    assert SyntheticResponder.from_config([]).describe() == "synthetic responses: no rules"
