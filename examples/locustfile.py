"""Load test a boto3 workload with Locust, every AWS call answered by synthetic rules.

    locust -f examples/locustfile.py --headless -u 20 -r 5 -t 1m
    # past one machine: one master, any number of workers
    locust -f examples/locustfile.py --master --master-bind-host 0.0.0.0 --headless -u 200 -r 20 -t 5m
    locust -f examples/locustfile.py --worker --master-host <master address>

Rules come from BOTOCORE_OTEL_SYNTHETIC_RULES (default: the demo's rules). Telemetry goes to
OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, so every worker's spans and metrics land in the
same collector (see deploy/).
"""

from __future__ import annotations

import os
import socket
import time

import boto3
from botocore.config import Config
from locust import User, constant, events, task

from botocore_otel import Instrumentor
from botocore_otel.demo import Telemetry, default_rules_path

_telemetry = Telemetry.create()
_session = boto3.session.Session(
    aws_access_key_id="load", aws_secret_access_key="load", region_name="us-east-1"
)
Instrumentor().instrument(
    _session,
    synthetic=os.environ.get("BOTOCORE_OTEL_SYNTHETIC_RULES") or default_rules_path(),
    tracer_provider=_telemetry.tracer_provider,
    meter_provider=_telemetry.meter_provider,
)


def _closed_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@events.quitting.add_listener
def _flush(environment, **_kwargs):
    _telemetry.shutdown()


class OrdersUser(User):
    """One user of the sample app: reads and writes orders in DynamoDB, S3 and SQS."""

    wait_time = constant(0.01)

    def on_start(self) -> None:
        endpoint = _closed_endpoint()  # nothing listens: only synthetic answers can succeed
        config = Config(retries={"mode": "standard", "total_max_attempts": 3})
        self.ddb = _session.client("dynamodb", endpoint_url=endpoint, config=config)
        self.s3 = _session.client("s3", endpoint_url=endpoint, config=config)
        self.sqs = _session.client("sqs", endpoint_url=endpoint, config=config)
        self.tracer = _telemetry.tracer_provider.get_tracer("locust")

    def _timed(self, name: str, call) -> None:
        started = time.perf_counter()
        error: Exception | None = None
        try:
            call()
        except Exception as exc:  # reported to Locust as a failure
            error = exc
        self.environment.events.request.fire(
            request_type="aws",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    @task(3)
    def read_order(self) -> None:
        with self.tracer.start_as_current_span("read-order"):
            self._timed(
                "dynamodb.GetItem", lambda: self.ddb.get_item(TableName="orders", Key={"id": {"S": "1"}})
            )

    @task(1)
    def place_order(self) -> None:
        with self.tracer.start_as_current_span("place-order"):
            self._timed(
                "dynamodb.PutItem", lambda: self.ddb.put_item(TableName="orders", Item={"id": {"S": "1"}})
            )
            self._timed("s3.PutObject", lambda: self.s3.put_object(Bucket="orders", Key="1.json", Body=b"{}"))
            self._timed(
                "sqs.SendMessage",
                lambda: self.sqs.send_message(
                    QueueUrl="https://sqs.us-east-1.amazonaws.com/1/orders", MessageBody="1"
                ),
            )
