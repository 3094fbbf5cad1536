"""The pytest plugin's settings: the ``BOTOCORE_OTEL_*`` variables apply to the harness's own
settings too, and a bad one is a usage error before any test runs (real pytest runs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from test_bad_input import _run_plugin


def _usage_error(done: subprocess.CompletedProcess[str]) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 4, out
    assert "INTERNALERROR" not in out and "1 passed" not in out, out
    return done.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOTOCORE_OTEL_METRICS", "bogus"),
        ("BOTOCORE_OTEL_PROPAGATE", "maybe"),
        ("BOTOCORE_OTEL_SKIP_SERVICES", "S3"),
        ("BOTOCORE_OTEL_SYNTHETIC_RULES", "/nonexistent/rules.json"),
    ],
)
def test_a_bad_variable_for_a_setting_the_harness_sets_is_a_usage_error(
    tmp_path: Path, variable: str, value: str
) -> None:
    stderr = _usage_error(_run_plugin(tmp_path, **{variable: value}))
    assert f"ERROR: botocore-otel: {variable}={value!r} is invalid: expected" in stderr, stderr


def test_a_variable_for_a_setting_the_harness_sets_is_used(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = _run_plugin(tmp_path, f"--botocore-otel-report={report}", BOTOCORE_OTEL_SKIP_SERVICES="dynamodb")
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(report.read_text())
    assert figures["spans_started"] == figures["calls_measured"] == 0  # the probe's call is skipped


def test_a_bad_switch_variable_is_a_usage_error(tmp_path: Path) -> None:
    done = _run_plugin(tmp_path, BOTOCORE_OTEL_PYTEST="maybe")
    stderr = _usage_error(done)
    assert "BOTOCORE_OTEL_PYTEST='maybe' is invalid: expected" in stderr and "true/false" in stderr, stderr
