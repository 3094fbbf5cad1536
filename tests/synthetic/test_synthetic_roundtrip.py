"""Every operation of every installed service: the synthetic success response parses
through botocore's real response parser and yields exactly the generated data.

Two data sets per operation: ``fill="required"`` (the default answer) and
``fill="all"`` (every member filled in, one item per list/map, one event per
event stream), which stands in for user-given data: it is first passed through
the user-data validator (``shapes.normalize``), which must accept it unchanged.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from synthetic_helpers import comparable, expected, parse

from botocore_otel.synthetic.shapes import generate_output, normalize
from botocore_otel.synthetic.wire import success_wire

# (service, operation, fill) whose parsed output differs from the data sent, and why.
# Exact: a listed case that starts matching fails the test too (then delete it).
KNOWN_MISMATCHES: dict[tuple[str, str, str], str] = {
    ("dataexchange", "SendApiAsset", "required"): (
        "ResponseHeaders is a headers map with an empty prefix: botocore puts every "
        "response header in it (content-type, request id...)"
    ),
    ("dataexchange", "SendApiAsset", "all"): "same as above",
    ("s3", "GetBucketNotification", "all"): (
        "deprecated shape: member Event and flattened list Events are both <Event> "
        "elements, so the XML parser can't tell them apart"
    ),
}

_SESSION = botocore.session.Session()
SERVICES = _SESSION.get_available_services()


def _model(service: str) -> Any:
    return _SESSION.get_service_model(service)


def _mismatch(operation: Any, fill: str) -> str | None:
    data = generate_output(operation, fill, body_size=16)
    if operation.output_shape is not None:
        checked = normalize(operation.output_shape, data, "data")
        assert checked == data, "the user-data validator must accept generated data as is"
    try:
        got = comparable(parse(operation, data))
    except Exception as exc:  # report every failing op of the service, not just the first
        return f"parse failed: {exc!r}"[:300]
    want = expected(operation, data, success_wire(operation, data).headers)
    if got == want:
        return None
    keys = sorted(k for k in set(got) | set(want) if got.get(k, "<absent>") != want.get(k, "<absent>"))
    return f"members differ: {keys}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_round_trips(service: str) -> None:
    model = _model(service)
    failures = {}
    for name in model.operation_names:
        operation = model.operation_model(name)
        for fill in ("required", "all"):
            problem = _mismatch(operation, fill)
            if problem is not None:
                failures[(service, name, fill)] = problem
    allowed = {key for key in KNOWN_MISMATCHES if key[0] == service}
    unexpected = {k: v for k, v in failures.items() if k not in allowed}
    now_passing = allowed - set(failures)
    assert not unexpected, f"new mismatches: {unexpected}"
    assert not now_passing, f"allow-listed but now passing, remove from KNOWN_MISMATCHES: {now_passing}"


def test_known_mismatches_name_installed_operations() -> None:
    for service, operation, fill in KNOWN_MISMATCHES:
        assert service in SERVICES
        assert operation in _model(service).operation_names
        assert fill in ("required", "all")


def test_covers_every_protocol() -> None:
    protocols = {_model(s).resolved_protocol for s in SERVICES}
    assert {"json", "rest-json", "rest-xml", "query", "ec2"} <= protocols
