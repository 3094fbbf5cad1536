"""What a user meets with only the runtime dependencies installed (opentelemetry-api,
opentelemetry-instrumentation, wrapt): no botocore, or no ``demo`` extra.

Each case runs in a fresh interpreter where the package is made unimportable exactly as an
absent one is (``sys.modules[name] = None``: ``import name`` raises ModuleNotFoundError)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_without(absent: list[str], code: str) -> subprocess.CompletedProcess[str]:
    probe = f"import sys\nfor name in {absent!r}:\n    sys.modules[name] = None\n{code}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


@pytest.mark.parametrize(
    "call",
    [
        "from botocore_otel import Instrumentor\nInstrumentor().instrument()",
        "import botocore_otel\nbotocore_otel.instrument()",
    ],
    ids=["Instrumentor", "function"],
)
def test_instrument_without_botocore_logs_and_carries_on(call: str) -> None:
    """As BaseInstrumentor does for a missing dependency: one error logged, nothing raised."""
    done = _run_without(["botocore", "boto3"], f"import logging\nlogging.basicConfig()\n{call}\nprint('ran')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran"
    assert "Traceback" not in done.stderr
    assert done.stderr.count("botocore is not installed") == 1, done.stderr


@pytest.mark.parametrize(
    ("absent", "argv", "needs"),
    [
        (["opentelemetry.sdk"], ["demo", "--iterations", "1"], "pip install 'botocore-otel[demo]'"),
        (["boto3"], ["demo", "--iterations", "1"], "pip install 'botocore-otel[demo]'"),
        (["botocore", "boto3"], ["check-rules", "src/botocore_otel/demo_rules.json"], "pip install botocore"),
    ],
    ids=["demo-no-sdk", "demo-no-boto3", "check-rules-no-botocore"],
)
def test_cli_names_the_missing_extra(absent: list[str], argv: list[str], needs: str) -> None:
    done = _run_without(absent, f"from botocore_otel.cli import main\nsys.exit(main({argv!r}))")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert needs in done.stderr, done.stderr
    assert f"{absent[0]} is not installed" in done.stderr, done.stderr
