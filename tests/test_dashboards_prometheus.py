"""Every query of every dashboard, against a REAL Prometheus fed by a REAL instrumented workload.

A ``PrometheusMetricReader`` serves the SDK's metrics on 127.0.0.1; the real Prometheus binary
scrapes it every second; boto3 clients on the moto server make successful, failing, throttled
(synthetic rule) and synthetic calls in two regions. Every non-rare panel query must return
data. With ``BOTOCORE_OTEL_RENDER_PREVIEWS=1`` the previews in grafana/previews are re-rendered
from this Prometheus (``make previews``).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grafana.queries import DEFAULT_VALUES, extract_queries  # noqa: E402

CALLS = "rpc_client_call_duration_seconds_count"
REGIONS = ("us-east-1", "eu-west-1")
RULES = [
    {
        "name": "throttle-some-reads",
        "match": "dynamodb.GetItem",
        "rate": 0.3,
        "decision": "call",
        "response": {"error": {"code": "ThrottlingException", "status": 400, "rate": 1.0}},
    },
    {"name": "synthetic-sends", "match": "sqs.SendMessage"},
]


def run_workload(moto: Any, meter_provider: Any, seconds: float) -> None:
    """Instrumented boto3 traffic with successes, errors, throttles and retries."""
    from botocore_otel.instrumentor import Instrumentor

    deadline = time.monotonic() + seconds
    clients = []
    for region in REGIONS:
        for service in ("s3", "dynamodb", "sqs"):
            client = moto.client(service, region_name=region, max_attempts=3)
            Instrumentor().instrument(client, meter_provider=meter_provider, synthetic=RULES, metrics="all")
            clients.append((service, client))
    setup(clients)
    while time.monotonic() < deadline:
        for service, client in clients:
            call_once(service, client)
        time.sleep(0.05)


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
    except ClientError:
        pass


def test_every_dashboard_query_returns_data(moto: Any, metrics_endpoint: Any, prometheus: Any) -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider

    reader = PrometheusMetricReader(registry=metrics_endpoint.registry)
    provider = MeterProvider(metric_readers=[reader])
    prom = prometheus([metrics_endpoint.target], scrape_interval="1s")
    run_workload(moto, provider, seconds=12)
    prom.wait_for(f"sum(count_over_time({CALLS}[1m]))", timeout=30,
                  predicate=lambda r: r[0]["value"] >= 2)  # fmt: skip

    # Drill into the service that has errors so that "Error codes over time" has data.
    failing = prom.wait_for("sum by (rpc_service) (client_call_errors_total)", timeout=10)
    values = {**DEFAULT_VALUES, "service": failing[0]["metric"]["rpc_service"],
              "__rate_interval": "30s", "__range": "1m"}  # fmt: skip
    empty = []
    for q in extract_queries(values=values):
        result = prom.query(q.expr)  # raises on a PromQL or HTTP error
        finite = [r for r in result if not math.isnan(r["value"])]
        if not finite and not q.rare_event:
            empty.append(f"{q.dashboard} / {q.title}: {q.expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)

    if os.environ.get("BOTOCORE_OTEL_RENDER_PREVIEWS") == "1":
        from grafana.queries import load_dashboards
        from grafana.render_previews import Prometheus, render

        for name, dash in load_dashboards().items():
            render(Prometheus(prom.url), name, dash, 2, values, ROOT / "grafana" / "previews")
