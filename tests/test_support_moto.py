"""The moto server support: real requests arrive, the recorder shows exactly what arrived,
and signatures are really checked (moto's IAM auth and our server-side re-verifier)."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from botocore.exceptions import ClientError

from tests.support.moto_server import (
    DUMMY_ACCESS_KEY_ID,
    MotoServer,
    aws_error_code,
    is_signature_rejection,
)
from tests.support.sigv4 import assert_sigv4_valid, verify_sigv4

# ----------------------------------------------------------------------------- recorder


def test_boto3_call_arrives_in_the_recorder_with_its_headers(moto: MotoServer) -> None:
    assert moto.endpoint_url.startswith("http://127.0.0.1:")
    ident = moto.client("sts").get_caller_identity()
    assert ident["Account"] == "123456789012"

    (req,) = moto.recorded_requests()
    assert (req.method, req.path, req.operation, req.service) == (
        "POST",
        "/",
        "GetCallerIdentity",
        "sts",
    )
    # case-insensitive header access, names as they arrived
    assert req.headers["x-amz-date"] == req.headers["X-Amz-Date"]
    assert req.headers["host"] == f"127.0.0.1:{moto.port}"
    assert req.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={DUMMY_ACCESS_KEY_ID}/")
    assert req.authorization["region"] == "us-east-1"
    assert req.signed_headers() == ["content-type", "host", "x-amz-date"]
    assert req.body == b"Action=GetCallerIdentity&Version=2011-06-15"
    assert "amz-sdk-invocation-id" in req.headers


def test_headers_added_on_the_wire_are_recorded(moto: MotoServer) -> None:
    sqs = moto.client("sqs")

    def add(request: Any, **_: Any) -> None:
        request.headers["traceparent"] = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        request.headers["X-Amzn-Trace-Id"] = "Root=1-aaaaaaaa-" + "a" * 24
        request.headers["x-custom"] = "value with  spaces"

    sqs.meta.events.register("before-send", add)
    sqs.create_queue(QueueName="recorded")

    req = moto.last_request()
    assert req.operation == "CreateQueue"
    assert req.headers["Traceparent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert req.headers["x-amzn-trace-id"].startswith("Root=1-aaaaaaaa-")
    assert req.headers["X-Custom"] == "value with  spaces"
    assert "traceparent" not in req.signed_headers()
    if req.body_text().startswith("{"):
        assert req.json() == {"QueueName": "recorded"}
    else:  # SQS's query protocol (botocore before SQS moved to JSON, e.g. 1.34.0)
        assert dict(parse_qsl(req.body_text()))["QueueName"] == "recorded"


def test_reset_clears_aws_state_and_the_recorder(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="before-reset")
    assert len(moto.recorded_requests()) == 1
    moto.reset()
    assert moto.recorded_requests() == []
    assert s3.list_buckets()["Buckets"] == []
    assert [r.method for r in moto.recorded_requests()] == ["GET"]


def test_s3_bodies_are_recorded_byte_for_byte(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="bodies")
    payload = bytes(range(256)) * 64
    s3.put_object(Bucket="bodies", Key="dir/a b+c", Body=io.BytesIO(payload))
    assert s3.get_object(Bucket="bodies", Key="dir/a b+c")["Body"].read() == payload

    put, get = moto.recorded_requests()[1:]
    assert (put.method, put.path) == ("PUT", "/bodies/dir/a%20b%2Bc")
    assert put.body == payload
    assert put.headers["Content-Length"] == str(len(payload))
    assert (get.method, get.body) == ("GET", b"")


def test_lambda_runs_without_docker(moto: MotoServer) -> None:
    with urllib.request.urlopen(moto.endpoint_url + "/moto-api/config", timeout=10) as r:
        assert json.loads(r.read())["lambda"]["use_docker"] is False


def test_client_retries_are_configurable(moto: MotoServer) -> None:
    sts = moto.client("sts", max_attempts=3)
    sts.get_caller_identity()
    # whether "; max=N" follows depends on the botocore version
    assert moto.last_request().headers["amz-sdk-request"] in ("attempt=1; max=3", "attempt=1")
    assert sts.meta.config.retries["total_max_attempts"] == 3
    assert moto.client("sts").meta.config.retries["total_max_attempts"] == 1


# ----------------------------------------------------------------------------- SigV4
# One call per protocol family the instrumentation must not break.
CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "sts-query": ("sts", lambda c: c.get_caller_identity()),
    "dynamodb-json": ("dynamodb", lambda c: c.list_tables(Limit=5)),
    "sqs-json": ("sqs", lambda c: c.list_queues(QueueNamePrefix="q")),
    "s3-put-streamed": (
        "s3",
        lambda c: c.put_object(Bucket="sigv4", Key="k 1", Body=io.BytesIO(b"streamed" * 1000)),
    ),
    "s3-get": ("s3", lambda c: c.get_object(Bucket="sigv4", Key="k 1")["Body"].read()),
    "sns-query": ("sns", lambda c: c.list_topics()),
    "lambda-rest-json": ("lambda", lambda c: c.list_functions(MaxItems=5)),
}


# moto's own check wrongly rejects Lambda's REST GETs (ListFunctions...), even untampered
# ones; our re-verifier accepts them. So moto-auth is exercised on the other families.
MOTO_AUTH_CALLS = sorted(c for c in CALLS if not c.startswith("lambda"))


def _prepare(server: MotoServer) -> None:
    s3 = server.client("s3")
    s3.create_bucket(Bucket="sigv4")
    s3.put_object(Bucket="sigv4", Key="k 1", Body=b"seed")
    server.reset_recording()


def _tamper_signed_header(request: Any, **_: Any) -> None:
    # X-Amz-Date is signed for every service; changing it after signing breaks the signature.
    request.headers["X-Amz-Date"] = "20200101T000000Z"


def _add_unsigned_trace_headers(request: Any, **_: Any) -> None:
    request.headers["traceparent"] = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    request.headers["tracestate"] = "k=v"
    request.headers["X-Amzn-Trace-Id"] = "Root=1-11111111-" + "1" * 24 + ";Sampled=1"


@pytest.mark.parametrize("call", MOTO_AUTH_CALLS)
def test_moto_auth_rejects_a_tampered_signature_and_accepts_a_good_one(
    moto_auth: MotoServer, call: str
) -> None:
    _prepare(moto_auth)
    service, do = CALLS[call]

    do(moto_auth.client(service))  # untampered: passes

    good = moto_auth.client(service)
    good.meta.events.register("before-send", _add_unsigned_trace_headers)
    do(good)  # headers botocore never signs may be added after signing

    bad = moto_auth.client(service)
    bad.meta.events.register("before-send", _tamper_signed_header)
    with pytest.raises(ClientError) as err:
        do(bad)
    assert is_signature_rejection(err.value), err.value.response

    reqs = moto_auth.recorded_requests()
    assert len(reqs) == 3
    creds = moto_auth.credentials
    assert verify_sigv4(reqs[0], creds).ok
    assert verify_sigv4(reqs[1], creds).ok
    assert verify_sigv4(reqs[2], creds).problems == ["SignatureDoesNotMatch"]


def test_moto_auth_rejects_unknown_keys_and_wrong_secrets(moto_auth: MotoServer) -> None:
    with pytest.raises(ClientError) as err:
        moto_auth.client(
            "sts", aws_access_key_id="testing", aws_secret_access_key="testing"
        ).get_caller_identity()
    assert aws_error_code(err.value) == "InvalidClientTokenId"

    key, _ = moto_auth.credentials
    wrong = moto_auth.client("dynamodb", aws_access_key_id=key, aws_secret_access_key="nope")
    with pytest.raises(ClientError) as err:
        wrong.list_tables()
    assert is_signature_rejection(err.value)


def test_moto_auth_reset_mints_new_credentials(moto_auth: MotoServer) -> None:
    old = moto_auth.credentials
    moto_auth.reset()
    assert moto_auth.credentials != old
    assert moto_auth.client("sts").get_caller_identity()["Arn"].endswith(":user/botocore-otel-test")


@pytest.mark.parametrize("call", sorted(CALLS))
def test_reverifier_accepts_what_botocore_signs(moto: MotoServer, call: str) -> None:
    _prepare(moto)
    service, do = CALLS[call]
    do(moto.client(service))
    (req,) = moto.recorded_requests()
    assert_sigv4_valid(req)


def test_reverifier_accepts_multipart_uploads(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="multi")
    s3.upload_fileobj(io.BytesIO(b"x" * (9 * 1024 * 1024)), "multi", "big")
    reqs = moto.recorded_requests()
    assert len(reqs) >= 4  # create bucket, create upload, >= 2 parts, complete
    for req in reqs:
        assert_sigv4_valid(req)


def test_reverifier_catches_what_aws_would_reject(moto: MotoServer) -> None:
    ddb = moto.client("dynamodb")

    def tamper_body(request: Any, **_: Any) -> None:  # same length, different content
        request.body = request.body.replace(b'"Limit": 5', b'"Limit": 6')

    def unsigned_amz_header(request: Any, **_: Any) -> None:
        request.headers["x-amz-meta-added-late"] = "1"

    def trace_headers(request: Any, **_: Any) -> None:
        _add_unsigned_trace_headers(request)

    for handler in (tamper_body, unsigned_amz_header, _tamper_signed_header, trace_headers):
        client = moto.client("dynamodb")
        client.meta.events.register("before-send", handler)
        client.list_tables(Limit=5)  # moto itself does not check signatures here
    ddb.list_tables(Limit=5)

    body, amz, date, traced, plain = (verify_sigv4(r) for r in moto.recorded_requests())
    assert body.problems == ["SignatureDoesNotMatch"]
    assert len(amz.problems) == 1
    assert "not signed" in amz.problems[0]
    assert "x-amz-meta-added-late" in amz.problems[0]
    assert date.problems == ["SignatureDoesNotMatch"]
    assert traced.ok, traced.explain()
    assert {"traceparent", "tracestate", "x-amzn-trace-id"} <= set(traced.unsigned_headers)
    assert plain.ok


def test_reverifier_checks_the_s3_payload_hash(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="payload")

    def swap_body(request: Any, **_: Any) -> None:
        request.body = b"EVIL"

    s3.meta.events.register("before-send", swap_body)
    s3.put_object(Bucket="payload", Key="k", Body=b"good", ChecksumAlgorithm="SHA256")
    check = verify_sigv4(moto.last_request())
    # the signature itself still matches (it covers the X-Amz-Content-SHA256 header, not the
    # bytes), but the body no longer matches that header: real S3 rejects this.
    assert check.problems == ["X-Amz-Content-SHA256 does not match the body that arrived"]


def test_the_test_process_never_imports_moto() -> None:
    # moto runs in a child process: importing it here would add its before-send handler
    # to every botocore client of the test process.
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, '.');"
        "from tests.support.moto_server import MotoServer;"
        "s = MotoServer().start(); s.client('sts').get_caller_identity(); s.stop();"
        "print('moto' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]),
        check=True,
    )
    assert out.stdout.strip() == "False"
