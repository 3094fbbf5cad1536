"""The quickstart demo, the CLI and the Locust example, run as a user would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.optional import missing

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GENAI = ["Bedrock Runtime.Converse", "Bedrock Runtime.ConverseStream"]
OPERATIONS = [
    *GENAI,
    "DynamoDB.GetItem",
    "DynamoDB.PutItem",
    "DynamoDB.Query",
    "S3.GetObject",
    "S3.ListObjectsV2",
    "S3.PutObject",
    "SQS.ReceiveMessage",
    "SQS.SendMessage",
    "STS.GetCallerIdentity",
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTOCORE_OTEL_", "AWS_"))}
    env.update(extra)
    return env


def _run(args: list[str], timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=_env(**env), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_demo_prints_a_table_from_real_metrics_and_spans():
    done = _run([str(BIN / "botocore-otel"), "demo", "--iterations", "30"])
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("botocore-otel: synthetic responses: 6 rule(s), first match wins") == 1
    rows: dict[str, list[float | None]] = {}
    for line in done.stdout.splitlines():
        name = next((op for op in OPERATIONS if line.startswith(op + " ")), None)
        if name:  # "Bedrock Runtime.Converse" has a space: the numbers follow the name
            rows[name] = [None if x == "-" else float(x) for x in line[len(name) :].split()]
    assert sorted(rows) == OPERATIONS
    assert all(row[0] == 30 for row in rows.values())  # calls
    assert sum(row[3] for row in rows.values()) > 0  # the rules' throttles and 5xx were retried
    assert sum(rows[op][2] for op in OPERATIONS if op.startswith(("DynamoDB", "STS"))) > 0  # throttles
    assert all(row[4] <= row[5] for row in rows.values())  # p50 <= p95
    # Input and output tokens (the spans' gen_ai.usage.*) for the model calls only; a stream's
    # usage arrives in its last event, so the stream was read to its end. About 120 output
    # tokens a call (the rule's lognormal median), a few input tokens (the prompt's text).
    for op in GENAI:
        input_tokens, output_tokens = rows[op][6], rows[op][7]
        assert input_tokens is not None and 30 <= input_tokens <= 30 * 20, (op, input_tokens)
        assert output_tokens is not None and 30 * 40 <= output_tokens <= 30 * 400, (op, output_tokens)
    assert all(rows[op][6:] == [None, None] for op in OPERATIONS if op not in GENAI)
    assert re.search(r"(\d+) AWS calls answered by synthetic rules", done.stdout).group(1) == "330"


def test_demo_exports_to_otlp_when_configured(otlp_receiver):
    done = _run(
        [str(BIN / "botocore-otel"), "demo", "--iterations", "3"],
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
        OTEL_SERVICE_NAME="demo-under-test",
    )
    assert done.returncode == 0, done.stderr
    spans = [s for s in otlp_receiver.spans() if s["attributes"].get("rpc.system") == "aws-api"]
    assert len(spans) == 33
    models = [s for s in spans if s["name"] == "chat anthropic.claude-3-haiku-20240307-v1:0"]
    assert len(models) == 6 and all(s["attributes"]["gen_ai.usage.output_tokens"] > 0 for s in models)
    assert all(s["attributes"]["botocore_otel.synthetic"] is True for s in spans)
    assert {s["resource"]["service.name"] for s in spans} == {"demo-under-test"}
    metrics = otlp_receiver.metrics("rpc.client.call.duration")
    assert metrics and all(
        p["attributes"]["botocore_otel.synthetic"] is True for p in metrics[-1]["data_points"]
    )


def test_check_rules(tmp_path):
    good = _run([str(BIN / "botocore-otel"), "check-rules", str(ROOT / "src/botocore_otel/demo_rules.json")])
    assert good.returncode == 0, good.stderr
    assert "6 valid rule(s)" in good.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"name": "typo", "match": "dynamodbb.GetItem"}]}))
    done = _run([str(BIN / "botocore-otel"), "check-rules", str(bad)])
    assert done.returncode == 2
    assert "typo" in done.stderr and "dynamodb" in done.stderr


@pytest.mark.parametrize("iterations", ["0", "-3", "x"])
def test_the_demo_refuses_a_count_of_iterations_that_is_not_one_or_more(iterations):
    done = _run([str(BIN / "botocore-otel"), "demo", "--iterations", iterations])
    assert done.returncode == 2
    assert f"--iterations: must be a whole number of 1 or more, not '{iterations}'" in done.stderr
    assert not done.stdout


RULES = {"rules": [{"name": "all", "match": "*", "response": {"latency": 0.001}}]}


def _locust() -> str:
    found = shutil.which("locust", path=str(BIN)) or shutil.which("locust")
    if not found:
        missing("locust", "pip install -e '.[test]'")
    return found


def _stats(prefix: Path) -> dict[str, tuple[int, int]]:
    lines = (prefix.parent / f"{prefix.name}_stats.csv").read_text().splitlines()
    header = lines[0].split(",")
    out = {}
    for line in lines[1:]:
        cells = dict(zip(header, line.split(","), strict=False))
        out[cells["Name"]] = (int(cells["Request Count"]), int(cells["Failure Count"]))
    return out


def test_locust_headless_run(tmp_path, otlp_receiver):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    prefix = tmp_path / "run"
    done = _run(
        [
            _locust(),
            "-f",
            "examples/locustfile.py",
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "--csv",
            str(prefix),
            "--only-summary",
            "--web-host",
            "127.0.0.1",
        ],
        BOTOCORE_OTEL_SYNTHETIC_RULES=str(rules),
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stats = _stats(prefix)
    assert stats["dynamodb.GetItem"][0] > 0 and stats["Aggregated"][1] == 0  # a count, not a rate
    assert any(s["attributes"].get("botocore_otel.synthetic") for s in otlp_receiver.spans())


def test_locust_master_and_worker(tmp_path):
    from support.ports import free_port

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    port = free_port()
    prefix = tmp_path / "dist"
    env = _env(BOTOCORE_OTEL_SYNTHETIC_RULES=str(rules))
    common = ["-f", "examples/locustfile.py"]
    master = subprocess.Popen(
        [
            _locust(),
            *common,
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--headless",
            "--expect-workers",
            "1",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "5s",
            "--csv",
            str(prefix),
            "--only-summary",
            "--web-host",
            "127.0.0.1",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = subprocess.Popen(
        [_locust(), *common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, master_err = master.communicate(timeout=120)
        worker.wait(timeout=60)
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
    assert master.returncode == 0, master_err[-3000:]
    stats = _stats(prefix)
    assert stats["dynamodb.GetItem"][0] > 0 and stats["Aggregated"][1] == 0  # a count, not a rate


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from botocore_otel.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own exits: --help, --version, usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_check_rules_says_a_file_it_cannot_read_by_name(tmp_path, capsys):
    unreadable = [(tmp_path / "missing.json", "No such file or directory"), (tmp_path, "Is a directory")]
    for path, reason in unreadable:
        code, out, err = _cli(capsys, "check-rules", str(path))
        assert code == 2 and not out
        assert err == f"botocore-otel: cannot read {path}: {reason}\n", err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, _, err = _cli(capsys, "check-rules", str(broken))
    assert code == 2 and err.startswith(f"botocore-otel: {broken}: expected valid JSON"), err


def test_help_is_plain_text(capsys):
    for argv in (["--help"], ["demo", "--help"], ["check-rules", "--help"]):
        code, out, _ = _cli(capsys, *argv)
        assert code == 0 and out.startswith("usage: botocore-otel")
        assert "``" not in out and ":func:" not in out, out
    assert "botocore-otel console command: demo and check-rules FILE" in _cli(capsys, "--help")[1]


def test_version_prints_the_installed_packages_version(capsys):
    from importlib.metadata import version

    code, out, _ = _cli(capsys, "--version")
    assert code == 0 and out == f"botocore-otel {version('botocore-otel')}\n"
    done = _run([str(BIN / "botocore-otel"), "--version"])
    assert done.returncode == 0 and done.stdout == out, done.stderr


def test_the_demo_names_its_rules_option_for_a_bad_rules_file(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    code, out, err = _cli(capsys, "demo", "--rules", str(missing))
    assert code == 2 and not out
    assert err == f"botocore-otel: --rules: cannot read {missing}: No such file or directory\n", err
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"rules": [{"name": "typo", "match": "dynamodbb.GetItem"}]}))
    code, _, err = _cli(capsys, "demo", "--rules", str(typo))
    assert code == 2 and err.startswith(f"botocore-otel: --rules: {typo}[rule 'typo'].match="), err
    assert "synthetic" not in err
