"""gevent (locust's runtime): a call cut off by ``gevent.Timeout`` leaves nothing current.

gevent keeps the ``Timeout`` object, and with it the call's frames and state, alive: the
state's finalizer never runs, so the greenlet's next spans were children of the dead call's
span. Run in a child process: ``monkey.patch_all()`` must come before everything else.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripted_http import Reply, scripted_server
from support.optional import missing

if importlib.util.find_spec("gevent") is None:  # not imported here: only the child patches
    missing("gevent", "pip install -e '.[test]'")

_CHILD = """
from gevent import monkey; monkey.patch_all()
import json, sys
import boto3, gevent
from botocore.config import Config
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import botocore_otel

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
if sys.argv[2] == "official-first":  # its uninstrument() takes off the outermost wrapper
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument(tracer_provider=provider)
botocore_otel.instrument(tracer_provider=provider, attempt_spans=sys.argv[2] == "attempts")
if sys.argv[2] == "official-first":
    boto3.session.Session()  # botocore-otel's handlers and guard go on with a session
    BotocoreInstrumentor().uninstrument()
client = boto3.session.Session().client(
    "dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing",
    aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))
seen = {}

def work():
    try:
        with gevent.Timeout(0.05):
            client.list_tables()
    except gevent.Timeout:
        pass
    seen["current_is_valid"] = trace.get_current_span().get_span_context().is_valid
    with provider.get_tracer("app").start_as_current_span("app work"):
        pass

gevent.spawn(work).join()
by_name = {span.name: span for span in spans.get_finished_spans()}
call = by_name.get("DynamoDB.ListTables")
seen["app_work_parent"] = by_name["app work"].parent is not None
seen["call_error_type"] = call.attributes.get("error.type") if call else None
print(json.dumps(seen))
"""


def _last_line_of(child: str, *args: str) -> str:
    """What ``child`` (Python source) prints last, run in a fresh interpreter."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", child, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("spans", ["calls", "attempts", "official-first"])
def test_a_call_cut_off_by_a_gevent_timeout_leaves_nothing_current(spans):
    with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}', delay_s=0.5)) as server:
        seen = json.loads(_last_line_of(_CHILD, server.url, spans))
    assert seen == {"current_is_valid": False, "app_work_parent": False, "call_error_type": "cancelled"}


def test_gevent_imported_without_patching_wraps_nothing():
    """Calls then run on threads, where the state's finalizer ends a cut-off call: wrapping
    botocore's ``_make_request`` would cost every call for nothing."""
    child = (
        "import gevent, sys, boto3, botocore_otel\n"
        "botocore_otel.instrument()\n"
        "boto3.session.Session().client('sts', region_name='us-east-1')\n"
        "print('botocore_otel.greenlets' in sys.modules)\n"
    )
    assert _last_line_of(child) == "False"
