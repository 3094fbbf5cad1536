"""botocore-otel next to opentelemetry-instrumentation-botocore (installed by the ``bench``
extra), both run by ``opentelemetry-instrument`` against the moto server.

Entry points are loaded in the order of the distributions on ``sys.path``: a copy of one
distribution's metadata put first on ``PYTHONPATH`` makes its instrumentor load first, so
both orders are run (and the app prints the order it saw, to prove it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest

from tests.support.moto_server import MotoServer

OURS, OFFICIAL = "botocore_otel", "opentelemetry.instrumentation.botocore"
DISTRIBUTIONS = {OURS: "botocore-otel", OFFICIAL: "opentelemetry-instrumentation-botocore"}
CALLS = 4
# The sources under test, after the shadow metadata: not the installed copy of the package.
SRC = str(Path(__file__).resolve().parent.parent / "src")

APP = textwrap.dedent(
    """
    import json, os
    from importlib.metadata import entry_points

    import boto3
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    OFFICIAL = "opentelemetry.instrumentation.botocore"
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    kwargs = json.loads(os.environ["MOTO_CLIENT_KWARGS"])
    sts = boto3.client("sts", **kwargs)
    sqs = boto3.session.Session().client("sqs", **kwargs)
    sts.get_caller_identity()
    sqs.create_queue(QueueName="q")
    sqs.list_queues()
    sts.get_caller_identity()
    order = [ep.value.split(":")[0] for ep in entry_points(group="opentelemetry_instrumentor")]
    print(json.dumps({
        "order": [m for m in order if m in ("botocore_otel.instrumentor", OFFICIAL)],
        "spans": [[s.instrumentation_scope.name, s.name] for s in exporter.get_finished_spans()],
    }))
    """
)


def run_app(moto: MotoServer, tmp_path: Path, first: str, disabled: str) -> tuple[dict[str, Any], str]:
    shadow = tmp_path / "first"
    metadata = distribution(DISTRIBUTIONS[first])._path  # type: ignore[attr-defined]
    shutil.copytree(metadata, shadow / Path(metadata).name)
    app = tmp_path / "app.py"
    app.write_text(APP)
    kwargs = moto.client_kwargs("sts")
    kwargs.pop("config")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTOCORE_OTEL_"))},
        "PYTHONPATH": os.pathsep.join([str(shadow), SRC]),
        "MOTO_CLIENT_KWARGS": json.dumps(kwargs),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
    }
    binary = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    done = subprocess.run(
        [binary, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    loaded_first = "botocore_otel.instrumentor" if first == OURS else OFFICIAL
    assert result["order"][0] == loaded_first, result["order"]  # the order asked for was used
    return result, done.stderr


def scopes(result: dict[str, Any]) -> list[str]:
    """Per span: whose it is (the official package has per-service scopes, ``...botocore.sqs``)."""
    scopes = [scope for scope, _ in result["spans"] if scope.startswith((OURS, OFFICIAL))]
    return sorted(OURS if scope == OURS else OFFICIAL for scope in scopes)


@pytest.mark.parametrize("first", [OURS, OFFICIAL], ids=["ours-first", "official-first"])
def test_both_enabled_one_span_per_call_ours_and_one_warning(
    moto: MotoServer, tmp_path: Path, first: str
) -> None:
    result, stderr = run_app(moto, tmp_path, first, disabled="")
    assert scopes(result) == [OURS] * CALLS, result["spans"]
    warnings = [line for line in stderr.splitlines() if "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in line]
    assert len(warnings) == 1, stderr
    assert "botocore-otel" in warnings[0]


@pytest.mark.parametrize("first", [OURS, OFFICIAL], ids=["ours-first", "official-first"])
def test_ours_disabled_leaves_the_official_one_alone(moto: MotoServer, tmp_path: Path, first: str) -> None:
    result, stderr = run_app(moto, tmp_path, first, disabled="botocore_otel")
    assert scopes(result) == [OFFICIAL] * CALLS, result["spans"]
    assert "botocore-otel" not in stderr, stderr


@pytest.mark.parametrize("name", ["botocore-otel", "Botocore_Otel"])
def test_ours_disabled_by_its_distribution_name_is_taken_as_meant(
    moto: MotoServer, tmp_path: Path, name: str
) -> None:
    """The package's name (as pip shows it) or another casing is not the entry point's name,
    so opentelemetry-instrument loads botocore-otel anyway: it stays off, as the user meant,
    and says the name to use."""
    result, stderr = run_app(moto, tmp_path, OURS, disabled=f"flask,{name}")
    assert scopes(result) == [OFFICIAL] * CALLS, result["spans"]
    (warning,) = [line for line in stderr.splitlines() if "botocore-otel" in line]
    assert f"{name!r}" in warning and "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=flask,botocore_otel" in warning


def test_the_warning_names_what_to_add_to_what_is_disabled_already(moto: MotoServer, tmp_path: Path) -> None:
    """aiobotocore's official instrumentor disabled already (and on stacks without aiobotocore,
    never on): the advice keeps it in the list it gives."""
    _, stderr = run_app(moto, tmp_path, OURS, disabled="aiobotocore")
    (warning,) = [line for line in stderr.splitlines() if "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in line]
    assert (
        "switched off" in warning and "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=aiobotocore,botocore " in warning
    )


@pytest.mark.parametrize("first", [OURS, OFFICIAL], ids=["ours-first", "official-first"])
def test_both_instrumented_explicitly_is_warned_once(
    moto: MotoServer, first: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explicit calls are the user's choice, kept; the two spans and mismatched headers are said."""
    import boto3
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    from botocore_otel import Instrumentor, wiring

    monkeypatch.setattr(wiring, "_official_warned", False)
    caplog.set_level("WARNING", logger="botocore_otel")
    order = (
        [BotocoreInstrumentor(), Instrumentor()]
        if first == OFFICIAL
        else [Instrumentor(), BotocoreInstrumentor()]
    )
    try:
        for instrumentor in order:
            instrumentor.instrument()
        for _ in range(2):
            moto.client("sts", session=boto3.session.Session()).get_caller_identity()
    finally:
        for instrumentor in order:
            instrumentor.uninstrument()
    warnings = [r.getMessage() for r in caplog.records if "instrumented too" in r.getMessage()]
    assert len(warnings) == 1 and "BotocoreInstrumentor().uninstrument()" in warnings[0], warnings


def test_official_disabled_runs_ours_without_a_warning(moto: MotoServer, tmp_path: Path) -> None:
    result, stderr = run_app(moto, tmp_path, OFFICIAL, disabled="botocore,aiobotocore")
    assert scopes(result) == [OURS] * CALLS, result["spans"]
    assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" not in stderr, stderr
