"""Loopback port helpers: a free port can be bound, a closed port refuses at once."""

from __future__ import annotations

import socket
import time

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from tests.support.moto_server import new_boto3_session
from tests.support.ports import closed_port, free_port, wait_for_port


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        wait_for_port(port, timeout=2)


def test_closed_port_refuses_connections_immediately() -> None:
    port = closed_port()
    assert port != closed_port()
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert time.monotonic() - start < 1


def test_botocore_against_a_closed_port_fails_fast() -> None:
    client = new_boto3_session().client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(EndpointConnectionError):
        client.get_caller_identity()


def test_wait_for_port_times_out_and_refuses_other_hosts() -> None:
    with pytest.raises(TimeoutError):
        wait_for_port(closed_port(), timeout=0.2)
    with pytest.raises(ValueError):
        wait_for_port(80, host="10.0.0.1", timeout=0.1)
