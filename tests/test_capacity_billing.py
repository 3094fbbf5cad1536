"""What is not billed is not counted, and what is billed per request counts every attempt
that got an answer (synthetic answers and a closed port stand in for AWS's failures)."""

from __future__ import annotations

import socket

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from botocore_otel import Instrumentor
from capacity_support import LAMBDA, REQUESTS, S3_REQUESTS, instrumented, totals
from telemetry import Telemetry

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "k", "aws_secret_access_key": "s"}
RULES = [
    {
        "name": "busy",
        "match": "lambda.Invoke",
        "response": {"error": {"code": "TooManyRequestsException", "status": 429}},
    },
    {
        "name": "flaky",
        "match": "s3.GetObject",
        "response": {"error": {"code": "InternalError", "status": 500}},
    },
    {
        "name": "kms-down",
        "match": "kms.Decrypt",
        "response": {"error": {"code": "KMSInternalException", "status": 500}},
    },
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_invocations_and_dry_runs_are_not_invocations():
    telemetry = Telemetry()
    session = instrumented(telemetry, synthetic=RULES)
    lam = session.client("lambda", config=Config(retries={"total_max_attempts": 1}), **CREDENTIALS)
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        lam.invoke(FunctionName="resize", Payload=b"{}")
    Instrumentor().uninstrument(session)
    assert totals(telemetry, LAMBDA) == {}


def test_every_answered_attempt_is_a_request_and_an_unanswered_one_is_not():
    telemetry = Telemetry()
    session = instrumented(telemetry, synthetic=RULES)
    retried = Config(retries={"total_max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
    s3 = session.client("s3", config=retried, **CREDENTIALS)
    with pytest.raises(ClientError, match="InternalError"):
        s3.get_object(Bucket="media", Key="k")
    kms = session.client("kms", config=retried, **CREDENTIALS)
    with pytest.raises(ClientError, match="KMSInternalException"):
        kms.decrypt(CiphertextBlob=b"x")
    closed = f"http://127.0.0.1:{_closed_port()}"
    for client in (
        session.client("s3", endpoint_url=closed, config=retried, **CREDENTIALS),
        session.client("kms", endpoint_url=closed, config=retried, **CREDENTIALS),
    ):
        with pytest.raises(EndpointConnectionError):
            (
                client.head_bucket(Bucket="media")
                if client.meta.service_model.service_name == "s3"
                else client.list_keys()
            )
    Instrumentor().uninstrument(session)

    s3_counts = totals(telemetry, S3_REQUESTS, "cloud.region")
    assert s3_counts == {
        (
            ("aws.s3.bucket", "media"),
            ("botocore_otel.s3.request_class", "get_and_other"),
            ("botocore_otel.synthetic", True),
            ("rpc.method", "GetObject"),
        ): 3
    }
    assert totals(telemetry, REQUESTS, "cloud.region") == {
        (("botocore_otel.synthetic", True), ("rpc.method", "Decrypt"), ("rpc.service", "KMS")): 3
    }


def test_a_dry_run_is_not_an_invocation(moto):
    from test_services_attributes import make_function

    telemetry = Telemetry()
    session = instrumented(telemetry)
    make_function(moto, session, "resize")
    lam = moto.client("lambda", session=session)
    assert lam.invoke(FunctionName="resize", InvocationType="DryRun")["StatusCode"] == 204
    lam.invoke(FunctionName="resize", InvocationType="Event", Payload=b"{}")
    Instrumentor().uninstrument(session)
    assert sum(totals(telemetry, LAMBDA).values()) == 1
