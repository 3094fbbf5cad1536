"""Every query of every dashboard, against a REAL Prometheus fed by a REAL instrumented workload,
under each metric configuration a user may run.

One process instruments four sets of boto3 clients on the moto server, one set per mode: the
default metric set, ``BOTOCORE_OTEL_METRICS=all``, and ``OTEL_SEMCONV_STABILITY_OPT_IN=rpc`` and
``rpc/dup``. Each mode has its own ``MeterProvider`` and ``PrometheusMetricReader`` endpoint and
its own two regions, so that one real Prometheus scrapes all four and the dashboards' own
``cloud_region`` selector keeps the modes apart. The clients make successful, failing, throttled
(synthetic rule) and synthetic calls, and Bedrock Runtime Converse and ConverseStream calls
answered by a synthetic LLM rule (some throttled, some refused), which feed the GenAI row. The
GenAI metrics have no region: every mode's GenAI panels see all modes' model calls.

Each mode's test then asks Prometheus every panel query, as of just after the traffic:

- a rare-event panel may be empty;
- a panel whose description names opt-in metric groups answers exactly when they are on;
- every other panel must answer, and every GenAI panel, rare or not (the workload throttles
  and refuses some model calls);
- every series carries the labels the panel's legend and data links show (rpc_service,
  rpc_method...): under ``OTEL_SEMCONV_STABILITY_OPT_IN=rpc`` they must not come back blank.

With ``BOTOCORE_OTEL_RENDER_PREVIEWS=1`` the previews in grafana/previews are re-rendered from
the ``all`` mode (``make previews``).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grafana.conventions import COST_UID, OPT_IN_GROUPS  # noqa: E402
from grafana.queries import DEFAULT_VALUES, iter_targets  # noqa: E402
from tests.support import cost_workload  # noqa: E402
from tests.support.bedrock_server import BedrockServer  # noqa: E402
from tests.support.prometheus import (  # noqa: E402
    PrometheusMissing,
    PrometheusServer,
    find_prometheus,
    serve_registry,
)

CALLS = "rpc_client_call_duration_seconds_count"
WORKLOAD_SECONDS = 12.0
# The scrape timeout equals the interval (tests/support/prometheus.py). The metrics=all endpoint
# serves about 2,700 samples, which takes the exporter up to 0.9 s while the traffic runs on
# an idle machine: 1 s timed out under the parallel suite.
SCRAPE_SECONDS = 3
RULES = [
    {
        "name": "throttle-some-reads",
        "match": "dynamodb.GetItem",
        "rate": 0.3,
        "decision": "call",
        "response": {"error": {"code": "ThrottlingException", "status": 400, "rate": 1.0}},
    },
    {"name": "synthetic-sends", "match": "sqs.SendMessage"},
    # Model calls never reach the moto server. Throttles are retried (some outlive the three
    # attempts); ValidationException is not retried. Latencies are tiny: the workload is timed.
    {
        "name": "llm-throttled",
        "match": "bedrock-runtime.Converse",
        "response": {
            "error": {"code": "ThrottlingException", "status": 400, "rate": 0.4},
            "tokens": {"distribution": "uniform", "min": 10, "max": 60},
        },
    },
    {
        "name": "llm-streams",
        "match": "bedrock-runtime.*",
        "response": {
            "error": {"code": "ValidationException", "status": 400, "rate": 0.1},
            "tokens": 30,
            "first_token": {"distribution": "uniform", "min": 0.001, "max": 0.004},
            "per_token": 0.00002,
        },
    },
]
MODELS = ("anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-micro-v1:0")
GENAI_ROW = "GenAI (Bedrock Runtime)"


@dataclass(frozen=True)
class Mode:
    name: str
    env: dict[str, str]
    groups: frozenset[str]  # opt-in metric groups on
    regions: tuple[str, str]
    present: tuple[tuple[str, str], ...]  # (metric, matchers) with series in this mode
    absent: tuple[str, ...] = ()  # matchers no series of this mode may have

    @property
    def region_regex(self) -> str:
        return "|".join(self.regions)

    def selector(self, metric: str, matchers: str = "") -> str:
        extra = f", {matchers}" if matchers else ""
        return f'{metric}{{cloud_region=~"{self.region_regex}"{extra}}}'


# In every mode: the synthetic calls' marker (what the synthetic share panels count), and none
# of what the lean attributes dropped.
SYNTHETIC_SENDS = (CALLS, 'botocore_otel_synthetic="true", rpc_service="SQS"')
DROPPED = ('aws_service_id!=""', 'synthetic!=""', 'botocore_otel_synthetic="false"')
MODES = [
    Mode(
        "defaults",
        {},
        frozenset(),
        ("us-east-1", "eu-west-1"),
        ((CALLS, 'rpc_system="aws-api", rpc_method="GetItem", rpc_service="DynamoDB"'),),
        ('rpc_system_name!=""', 'http_response_status_code!=""'),
    ),
    Mode(
        "metrics=all",
        {"BOTOCORE_OTEL_METRICS": "all"},
        frozenset(OPT_IN_GROUPS),
        ("us-west-2", "eu-central-1"),
        (
            ("client_call_duration_seconds_count", ""),
            ("client_call_serialization_duration_seconds_count", ""),
        ),
    ),
    Mode(
        "semconv=rpc",
        {"OTEL_SEMCONV_STABILITY_OPT_IN": "rpc"},
        frozenset(),
        ("ap-southeast-1", "ap-northeast-1"),
        ((CALLS, 'rpc_system_name="aws-api", rpc_method="DynamoDB/GetItem", rpc_service="DynamoDB"'),),
        ('rpc_system!=""',),
    ),
    Mode(
        "semconv=rpc/dup",
        {"OTEL_SEMCONV_STABILITY_OPT_IN": "rpc/dup"},
        frozenset(),
        ("sa-east-1", "ca-central-1"),
        (
            (
                CALLS,
                'rpc_system="aws-api", rpc_system_name="aws-api", rpc_method="GetItem", '
                'rpc_service="DynamoDB"',
            ),
        ),
    ),
]


@dataclass
class Workload:
    prometheus: PrometheusServer
    at: float  # just after the traffic: every query is evaluated at this time
    cost: cost_workload.CostWorkload  # the capacity group's traffic (the cost dashboard)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.prometheus.query(expr, at=self.at)


def instrument_mode(moto: Any, mode: Mode, meter_provider: Any) -> list[tuple[str, Any]]:
    """This mode's clients, instrumented with the mode's environment as a user would set it."""
    from botocore_otel.instrumentor import Instrumentor

    clients = []
    with pytest.MonkeyPatch.context() as env:
        for name in ("BOTOCORE_OTEL_METRICS", "OTEL_SEMCONV_STABILITY_OPT_IN"):
            env.delenv(name, raising=False)
        for name, value in mode.env.items():
            env.setenv(name, value)
        for region in mode.regions:
            for service in ("s3", "dynamodb", "sqs", "bedrock-runtime"):
                client = moto.client(service, region_name=region, max_attempts=3)
                Instrumentor().instrument(client, meter_provider=meter_provider, synthetic=RULES)
                clients.append((service, client))
    return clients


def setup(clients: list[tuple[str, Any]]) -> None:
    for service, client in clients:
        if service == "s3":
            client.create_bucket(**bucket_args(client))
            client.put_object(Bucket=bucket(client), Key="k", Body=b"x")
        elif service == "dynamodb":
            client.create_table(
                TableName="dash",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        elif service == "sqs":
            client.create_queue(QueueName="dash")


def bucket(client: Any) -> str:
    return f"dash-{client.meta.region_name}"  # bucket names are global: one per region


def bucket_args(client: Any) -> dict[str, Any]:
    region = client.meta.region_name
    if region == "us-east-1":
        return {"Bucket": bucket(client)}
    return {"Bucket": bucket(client), "CreateBucketConfiguration": {"LocationConstraint": region}}


def call_once(service: str, client: Any) -> None:
    from botocore.exceptions import ClientError

    try:
        if service == "s3":
            client.get_object(Bucket=bucket(client), Key="k")
            client.get_object(Bucket=bucket(client), Key="missing")  # NoSuchKey
        elif service == "dynamodb":
            client.put_item(TableName="dash", Item={"pk": {"S": "a"}})
            client.get_item(TableName="dash", Key={"pk": {"S": "a"}})
            client.get_item(TableName="missing", Key={"pk": {"S": "a"}})  # ResourceNotFound
        elif service == "sqs":
            url = client.get_queue_url(QueueName="dash")["QueueUrl"]
            client.send_message(QueueUrl=url, MessageBody="m")
        elif service == "bedrock-runtime":
            for model in MODELS:
                prompt = [{"role": "user", "content": [{"text": "Summarize the dashboard."}]}]
                client.converse(modelId=model, messages=prompt)
                for _event in client.converse_stream(modelId=model, messages=prompt)["stream"]:
                    pass  # the call (and its metrics) ends with the stream
    except ClientError:
        pass


@pytest.fixture(scope="module")
def workload(moto_server: Any) -> Iterator[Workload]:
    """All four modes' traffic and the cost dashboard's, scraped by one real Prometheus (one
    endpoint per mode, one for the capacity workload)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry

    try:
        find_prometheus()
    except PrometheusMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    moto_server.reset()
    endpoints, providers = [], []
    groups: dict[str, list[tuple[str, Any]]] = {}  # mode and region -> its clients

    def provider() -> Any:
        endpoint = serve_registry(CollectorRegistry())
        endpoints.append(endpoint)
        providers.append(MeterProvider(metric_readers=[PrometheusMetricReader(registry=endpoint.registry)]))
        return providers[-1]

    try:
        with BedrockServer() as bedrock:
            cost = cost_workload.instrument(moto_server, bedrock.url, provider())
            for mode in MODES:
                for service, client in instrument_mode(moto_server, mode, provider()):
                    groups.setdefault(f"{mode.name} {client.meta.region_name}", []).append((service, client))
            yield from _traffic(moto_server, [e.target for e in endpoints], groups, cost)
    finally:
        for meter_provider in providers:
            meter_provider.shutdown()
        for endpoint in endpoints:
            endpoint.stop()


def _traffic(
    moto_server: Any,
    targets: list[str],
    groups: dict[str, list[tuple[str, Any]]],
    cost: cost_workload.CostWorkload,
) -> Iterator[Workload]:
    with PrometheusServer(targets, scrape_interval=f"{SCRAPE_SECONDS}s") as prom:
        # Its first scrape comes 5-10 s after start: start the traffic once every target is up.
        prom.wait_for("count(up == 1)", timeout=30, predicate=lambda r: r[0]["value"] == len(targets))
        for clients in groups.values():
            setup(clients)
        cost.setup(moto_server)
        # One thread per mode and region: retry backoff sleeps, so they overlap.
        deadline = time.monotonic() + WORKLOAD_SECONDS
        with ThreadPoolExecutor(len(groups) + 1) as pool:
            running = [pool.submit(drive, clients, deadline) for clients in groups.values()]
            for done in [*running, pool.submit(cost.drive, deadline)]:
                done.result()
        end = time.time()
        scrapes = prom.query(f"sum_over_time(up[{WORKLOAD_SECONDS:.0f}s])", at=end)
        if len(scrapes) != len(targets) or min(r["value"] for r in scrapes) < 2:
            durations = prom.query(f"max_over_time(scrape_duration_seconds[{WORKLOAD_SECONDS:.0f}s])", at=end)
            pytest.fail(f"endpoints not scraped twice during the traffic: {scrapes}; durations {durations}")
        # A good scrape of every endpoint a full interval after the traffic, so that its last
        # counts are in; every query is then evaluated as of now.
        prom.wait_for(
            f"count(timestamp(up == 1) > {end + SCRAPE_SECONDS})",
            timeout=30,
            predicate=lambda r: r[0]["value"] == len(targets),
        )
        yield Workload(prom, at=time.time(), cost=cost)


def drive(clients: list[tuple[str, Any]], deadline: float) -> None:
    while time.monotonic() < deadline:
        for service, client in clients:
            call_once(service, client)


def answer(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(r["value"]) for r in result)


def genai_panels() -> set[int]:
    """Ids of the overview's GenAI row's panels (the panels after its row header)."""
    from grafana.queries import load_dashboards

    ids: set[int] = set()
    inside = False
    for panel in load_dashboards()["botocore-otel-overview"]["panels"]:
        if panel["type"] == "row":
            inside = panel["title"] == GENAI_ROW
        elif inside:
            ids.add(panel["id"])
    assert len(ids) == 5, f"the {GENAI_ROW} row: {ids}"
    return ids


def grouping_labels(panel: dict[str, Any], legend: str) -> set[str]:
    """The labels a panel shows per series: in its legend and in its data links."""
    links = json.dumps(panel.get("fieldConfig", {}))
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)) | set(
        re.findall(r"__(?:field\.labels|data\.fields)\.(\w+)", links)
    )


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_every_dashboard_query_answers(workload: Workload, mode: Mode) -> None:
    # The mode took effect: its own labels are there, and nothing it must not emit.
    for present in (SYNTHETIC_SENDS, *mode.present):
        expr = mode.selector(*present)
        assert workload.query(expr), f"{mode.name}: no series {expr}"
    for matchers in (*DROPPED, *mode.absent):
        expr = mode.selector("", f'__name__=~".+", {matchers}')
        assert not workload.query(expr), f"{mode.name}: unexpected series {expr}"

    # Drill into a service that has errors so that "Error codes over time" has data.
    failing = workload.query(f"sum by (rpc_service) ({mode.selector('client_call_errors_total')})")
    assert failing and "rpc_service" in failing[0]["metric"], f"{mode.name}: errors by service: {failing}"
    values = {**DEFAULT_VALUES, "region": mode.region_regex, "service": failing[0]["metric"]["rpc_service"],
              "__rate_interval": "30s", "__range": "1m"}  # fmt: skip
    problems = []
    for q in iter_targets(values=values):
        if q.dashboard == COST_UID:
            continue  # its own workload: test_cost_dashboard_answers
        result = workload.query(q.expr)  # raises on a PromQL or HTTP error
        answers = answer(result)
        missing_groups = q.opt_in - mode.groups
        blank = {
            label
            for r in result
            for label in grouping_labels(q.panel, q.legend)
            if not r["metric"].get(label)
        }
        if missing_groups and answers:
            problem = f"answers without {sorted(missing_groups)}, which its description says it needs"
        elif not missing_groups and not answers and not q.rare_event:
            problem = "no data"
        elif blank:
            problem = f"series without {sorted(blank)}, which its legend or links show"
        else:
            continue
        problems.append(f"{q.dashboard} / {q.panel['title']}: {problem}: {q.expr}")
    genai = genai_panels()  # rare or not, the workload feeds them all
    for q in iter_targets(values=values):
        if q.rare_event and q.panel["id"] in genai and not answer(workload.query(q.expr)):
            problems.append(f"GenAI panel {q.panel['title']}: no data: {q.expr}")
    assert not problems, f"{mode.name}:\n" + "\n".join(problems)

    if mode.groups == set(OPT_IN_GROUPS) and os.environ.get("BOTOCORE_OTEL_RENDER_PREVIEWS") == "1":
        from grafana.queries import load_dashboards
        from grafana.render_previews import Prometheus, render

        for name, dash in load_dashboards().items():
            if name == COST_UID:
                continue  # rendered from its own workload
            prom = Prometheus(workload.prometheus.url)
            render(prom, name, dash, 1, values, ROOT / "grafana" / "previews", end=workload.at)


# The cost dashboard, against the capacity workload (tests/support/cost_workload.py).
def cost_values(**extra: str) -> dict[str, str]:
    return {**DEFAULT_VALUES, "cloud_region": cost_workload.REGION, "__rate_interval": "30s",
            "__range": "1m", **extra}  # fmt: skip


def cost_query(title: str, **extra: str) -> str:
    (expr,) = [t.expr for t in iter_targets(values=cost_values(**extra)) if t.panel["title"] == title]
    return expr


def counts(workload: Workload, function: str, metric: str, matchers: str, by: str) -> dict[str, float]:
    """``function`` (rate over 30 s, increase over 1 m) of the workload's real calls, per ``by``."""
    window = "[30s]" if function == "rate" else "[1m]"
    sel = f'cloud_region="{cost_workload.REGION}", botocore_otel_synthetic!="true"'
    sel += f", {matchers}" if matchers else ""
    result = workload.query(f"sum by ({by}) ({function}({metric}{{{sel}}}{window}))")
    return {r["metric"].get(by, ""): r["value"] for r in result}


def test_cost_dashboard_answers(workload: Workload) -> None:
    """Every panel of the cost dashboard answers, with the labels its legend shows."""
    targets = [t for t in iter_targets(values=cost_values()) if t.dashboard == COST_UID]
    assert len(targets) >= 15
    problems = []
    for q in targets:
        result = workload.query(q.expr)
        shown = grouping_labels(q.panel, q.legend)
        blank = {label for r in result for label in shown if not r["metric"].get(label)}
        if not answer(result):
            problems.append(f"{q.panel['title']}: no data: {q.expr}")
        elif blank:
            problems.append(f"{q.panel['title']}: series without {sorted(blank)}: {q.expr}")
    assert not problems, "\n".join(problems)
    # Every priced item answers on its own (a sum panel answers as long as one of them does).
    from grafana.cost import ALL_ITEMS

    items = {r["metric"]["cost_item"] for r in workload.query(cost_query("Estimated $/h by priced item"))}
    assert items == {i.item for i in ALL_ITEMS}, items
    # Attribution: the baggage entry, else the fixed value.
    by_component = workload.query(cost_query("Estimated $/h by app.component"))
    components = {r["metric"]["app_component"] for r in by_component}
    assert components == {cost_workload.BAGGAGE_COMPONENT, cost_workload.FIXED_COMPONENT}

    if os.environ.get("BOTOCORE_OTEL_RENDER_PREVIEWS") == "1":
        from grafana.queries import load_dashboards
        from grafana.render_previews import Prometheus, render

        prom = Prometheus(workload.prometheus.url)
        render(prom, COST_UID, load_dashboards()[COST_UID], 1, cost_values(), ROOT / "grafana" / "previews",
               end=workload.at)  # fmt: skip


def test_cost_dashboard_dollars_are_counts_times_prices(workload: Workload) -> None:
    from grafana.queries import dashboard_defaults, load_dashboards

    prices = {name: float(value) for name, value in dashboard_defaults(load_dashboards()[COST_UID]).items()
              if name.startswith("price_")}  # fmt: skip
    assert prices["price_dynamodb_read"] == 0.125 and prices["price_sts"] == 0
    # Over the time range: every priced count times its price.
    expected = sum(
        sum(counts(workload, "increase", metric, matchers, "cloud_region").values()) * prices[price] / per
        for metric, matchers, price, per in cost_workload.PRICED
    )
    (total,) = workload.query(cost_query("Estimated cost over the time range"))
    assert expected > 0 and math.isclose(total["value"], expected, rel_tol=1e-9), (total, expected)
    # Per hour, per table and type.
    got = {
        (r["metric"]["aws_dynamodb_table_name"], r["metric"]["cost_item"]): r["value"]
        for r in workload.query(cost_query("DynamoDB $/h by table and type"))
    }
    want = {}
    for kind, item in (("read", "DynamoDB reads"), ("write", "DynamoDB writes")):
        matchers = f'botocore_otel_capacity_type="{kind}"'
        per_table = counts(workload, "rate", cost_workload.PRICED[0][0], matchers, "aws_dynamodb_table_name")
        for table, rate in per_table.items():
            want[(table, item)] = rate * 3600 * prices[f"price_dynamodb_{kind}"] / 1e6
    assert want and got.keys() == want.keys(), (got, want)
    assert all(math.isclose(got[k], want[k], rel_tol=1e-9) for k in want), (got, want)


def test_cost_dashboard_sqs_chunks_and_synthetic_filter(workload: Workload) -> None:
    """A message over 64 KiB is two billable requests; synthetic calls are left out unless the
    `synthetic` variable says include."""
    sel = f'cloud_region="{cost_workload.REGION}", messaging_destination_name="{cost_workload.BIG_QUEUE}"'
    sel += ', rpc_method="SendMessage"'  # CreateQueue is a billable request too
    (billable,) = workload.query(f"sum(botocore_otel_sqs_billable_requests_total{{{sel}}})")
    assert billable["value"] == 2 * workload.cost.big_sends > 0
    title = "SQS billable requests/s by queue and method"
    excluded = {r["metric"]["rpc_method"] for r in workload.query(cost_query(title))}
    included = {r["metric"]["rpc_method"] for r in workload.query(cost_query(title, synthetic=".*"))}
    assert "SendMessageBatch" not in excluded, excluded
    assert included == excluded | {"SendMessageBatch"}, (excluded, included)
