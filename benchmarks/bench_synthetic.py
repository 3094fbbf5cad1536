"""Speed of synthetic responses on DynamoDB GetItem through a real boto3 client.

    python3 benchmarks/bench_synthetic.py [--quick]

Variants, each answering ``GetItem`` for the same item:
  prebuilt  - before-send handler returning one prebuilt AWSResponse (fresh body each call)
  synthetic - before-send handler returning ``SyntheticResponder.answer(...).response``
  moto      - moto's in-process ``mock_aws`` (table created in moto)
plus the bare cost of ``answer()`` (selected, and no rule matching).

CPU time (time.process_time), variants interleaved per round, median of rounds.
Targets: synthetic/prebuilt <= 1.10; moto/synthetic >= 5.
"""

from __future__ import annotations

import argparse
import io
import random
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from botocore_otel.synthetic import SyntheticResponder

ITEM = {"id": {"S": "item-1"}, "payload": {"S": "x" * 64}, "count": {"N": "7"}}
BODY = b'{"Item":{"id":{"S":"item-1"},"payload":{"S":"' + b"x" * 64 + b'"},"count":{"N":"7"}}}'
CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}


class _Raw(io.BytesIO):
    def stream(self, amt: int | None = 65536, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def _client(handler: Callable[..., Any] | None, endpoint: str | None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint, **CREDENTIALS)
    if handler is not None:
        client.meta.events.register("before-send.dynamodb.GetItem", handler)
    return client


def prebuilt_call(endpoint: str) -> Callable[[], Any]:
    headers = {
        "content-type": "application/x-amz-json-1.0",
        "content-length": str(len(BODY)),
        "x-amzn-RequestId": "00000000-0000-0000-0000-000000000000",
    }
    response = AWSResponse(f"{endpoint}/", 200, headers, _Raw(BODY))

    def handler(**kwargs: Any) -> AWSResponse:
        response.raw = _Raw(BODY)
        response._content = None
        return response

    client = _client(handler, endpoint)
    return lambda: client.get_item(TableName="bench", Key={"id": {"S": "item-1"}})


def synthetic_call(endpoint: str) -> Callable[[], Any]:
    responder = SyntheticResponder.from_config(
        [{"name": "get", "match": "dynamodb.GetItem", "response": {"data": {"Item": ITEM}}}]
    )
    client = _client(None, endpoint)
    operation = client.meta.service_model.operation_model("GetItem")

    def handler(**kwargs: Any) -> AWSResponse | None:
        answer = responder.answer("dynamodb", operation, None, 0x1234)
        return None if answer is None else answer.response

    client.meta.events.register("before-send.dynamodb.GetItem", handler)
    return lambda: client.get_item(TableName="bench", Key={"id": {"S": "item-1"}})


def moto_call() -> tuple[Callable[[], Any], Any]:
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    client = _client(None, None)
    client.create_table(
        TableName="bench",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="bench", Item=ITEM)
    return lambda: client.get_item(TableName="bench", Key={"id": {"S": "item-1"}}), mock


def answer_only(matching: bool) -> Callable[[], Any]:
    responder = SyntheticResponder.from_config(
        [{"name": "get", "match": "dynamodb.GetItem", "response": {"data": {"Item": ITEM}}}]
    )
    operation = boto3.client(
        "dynamodb", region_name="us-east-1", **CREDENTIALS
    ).meta.service_model.operation_model("GetItem" if matching else "PutItem")
    return lambda: responder.answer("dynamodb", operation, None, 0x1234)


def measure(call: Callable[[], Any], calls: int) -> float:
    """CPU seconds per call over ``calls`` calls."""
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    args = parser.parse_args()
    rounds, calls = (10, 200) if args.quick else (40, 400)

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    variants: dict[str, Callable[[], Any]] = {
        "prebuilt": prebuilt_call(endpoint),
        "synthetic": synthetic_call(endpoint),
        "answer() selected": answer_only(True),
        "answer() no match": answer_only(False),
    }
    moto, mock = moto_call()
    variants["moto"] = moto
    try:
        for call in variants.values():  # warm up: caches, templates, moto state
            for _ in range(20):
                call()
        samples: dict[str, list[float]] = {name: [] for name in variants}
        order = list(variants)
        shuffle = random.Random(0).shuffle
        for _ in range(rounds):
            shuffle(order)  # no variant always runs first (warm caches) or last
            for name in order:
                n = calls * 20 if name.startswith("answer") else calls
                samples[name].append(measure(variants[name], n // (5 if name == "moto" else 1)))
    finally:
        mock.stop()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    # Ratios per round (same load for both), then the median: robust to a busy machine.
    paired = {
        other: statistics.median(a / b for a, b in zip(samples[top], samples[other], strict=True))
        for top, other in (("synthetic", "prebuilt"), ("moto", "synthetic"))
    }
    print(f"DynamoDB GetItem, CPU time per call, median of {rounds} interleaved rounds")
    print(f"{'variant':<20} {'median us':>10} {'min us':>10} {'max us':>10}")
    for name, values in samples.items():
        print(
            f"{name:<20} {medians[name] * 1e6:>10.1f} {min(values) * 1e6:>10.1f} {max(values) * 1e6:>10.1f}"
        )
    print(f"synthetic / prebuilt = {paired['prebuilt']:.3f}  (target <= 1.10; median of per-round ratios)")
    print(f"moto / synthetic     = {paired['synthetic']:.1f}x (target >= 5x; median of per-round ratios)")
    # Both whole-call figures include botocore's own per-call work (serialize, endpoint
    # rules, SigV4, parse), identical in all variants; this compares the answering alone.
    moto_own = medians["moto"] - medians["prebuilt"]
    print(f"moto's own cost / answer() = {moto_own / medians['answer() selected']:.0f}x")


if __name__ == "__main__":
    main()
