"""The pytest plugin's switches: a bad one is a usage error before any test runs, and the
``BOTOCORE_OTEL_*`` variables apply to the harness's own settings too (real pytest runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
        ("BOTOCORE_OTEL_SKIP_SERVICES", "s3!"),
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


def test_a_report_path_that_cannot_be_written_is_a_usage_error_before_the_tests(tmp_path: Path) -> None:
    stderr = _usage_error(_run_plugin(tmp_path, f"--botocore-otel-report={tmp_path}/missing/report.json"))
    assert "--botocore-otel-report" in stderr and "missing/report.json" in stderr, stderr


def test_a_report_without_the_switch_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text("def test_nothing():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTOCORE_OTEL_", "OTEL_", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p"]
    command += [
        "botocore_otel.pytest_plugin",
        f"--botocore-otel-report={tmp_path / 'r.json'}",
        "test_probe.py",
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    stderr = _usage_error(done)
    assert "--botocore-otel-report needs --botocore-otel" in stderr, stderr
