"""The Prometheus names of docs/capacity.md's table are what the SDK's Prometheus exporter
makes of the capacity counters (every signal fed by synthetic answers: no endpoint)."""

from __future__ import annotations

import re
from pathlib import Path

from botocore.config import Config
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from botocore_otel import Instrumentor
from tests.support.moto_server import new_boto3_session

DOCS = Path(__file__).resolve().parent.parent / "docs" / "capacity.md"
RULES = [
    {
        "name": "get",
        "match": "dynamodb.GetItem",
        "response": {"data": {"ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 0.5}}},
    },
    {"name": "s3", "match": "s3.*"},
    {"name": "sqs", "match": "sqs.SendMessage"},
    {"name": "bedrock", "match": "bedrock-runtime.Converse", "response": {"tokens": 5}},
    {"name": "invoke", "match": "lambda.Invoke"},
    {"name": "sts", "match": "sts.GetCallerIdentity"},
]


def _documented_names() -> dict[str, str]:
    rows = re.findall(r"^\| `(botocore_otel\.[a-z0-9_.]+)` \|.*\| `([a-z0-9_]+)` \|$", DOCS.read_text(), re.M)
    return dict(rows)


def test_the_documented_prometheus_names_and_labels_are_the_exporters():
    documented = _documented_names()
    assert len(documented) == 7
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    session = new_boto3_session()
    Instrumentor().instrument(
        session, meter_provider=provider, metrics="rpc,capacity", synthetic=RULES, attribution=["fixed:api"]
    )
    kwargs = {
        "region_name": "us-east-1",
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
        "config": Config(s3={"addressing_style": "path"}),
    }
    session.client("dynamodb", **kwargs).get_item(TableName="orders", Key={"pk": {"S": "1"}})
    session.client("s3", **kwargs).put_object(Bucket="media", Key="k", Body=b"12345")
    session.client("sqs", **kwargs).send_message(
        QueueUrl="https://sqs.us-east-1.amazonaws.com/1/jobs", MessageBody="m"
    )
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    session.client("bedrock-runtime", **kwargs).converse(
        modelId="anthropic.claude-3-haiku", messages=messages
    )
    session.client("lambda", **kwargs).invoke(FunctionName="resize")
    session.client("sts", **kwargs).get_caller_identity()
    Instrumentor().uninstrument(session)

    exposition = generate_latest(registry).decode()
    for instrument, prometheus_name in documented.items():
        assert re.search(rf"^{prometheus_name}\{{", exposition, re.M), (instrument, prometheus_name)
    line = next(
        x for x in exposition.splitlines() if x.startswith("botocore_otel_dynamodb_consumed_capacity_total{")
    )
    for label in (
        'aws_dynamodb_table_name="orders"',
        'botocore_otel_capacity_type="read"',
        'app_component="api"',
    ):
        assert label in line
    assert 'cloud_region="us-east-1"' in line and 'botocore_otel_synthetic="true"' in line


def test_the_cost_dashboards_variables_list_an_app_that_has_the_capacity_group_alone(
    shared_prometheus, metrics_endpoint
):
    """Region and app.component come from the capacity counters: with ``metrics="capacity"``
    there is no call histogram to read them from."""
    from tests.test_dashboards_static import DASHBOARD_DIR, load

    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=metrics_endpoint.registry)])
    session = new_boto3_session()
    Instrumentor().instrument(
        session, meter_provider=provider, metrics="capacity", synthetic=RULES, attribution=["fixed:api"]
    )
    credentials = {"aws_access_key_id": "k", "aws_secret_access_key": "s"}
    session.client("sts", region_name="eu-west-3", **credentials).get_caller_identity()
    Instrumentor().uninstrument(session)
    shared_prometheus.scrape(metrics_endpoint.target)

    variables = {v["name"]: v for v in load(DASHBOARD_DIR / "botocore-otel-cost.json")["templating"]["list"]}
    for name, expected in (("cloud_region", "eu-west-3"), ("app_component", "api")):
        found = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"]["query"])
        assert found is not None, variables[name]["query"]
        selector, label = found.groups()
        answer = shared_prometheus.query(f"group by ({label}) ({selector})")
        assert {r["metric"].get(label) for r in answer} == {expected}, name
