"""Overhead of botocore-otel against bare botocore and the official instrumentation.

    python benchmarks/run.py            # full run; writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # CI: proves it runs, prints its table (< ~2 min)

Each variant runs in its own worker process (``benchmarks/workload.py``) with the same
OpenTelemetry SDK setup; responses are answered in-process by a before-send handler, so
the client still serializes, signs and parses. Variants are interleaved, one worker at a
time, in rounds; the figure for each is the median over rounds of its CPU time per call
(``time.process_time``, the process's export threads included) minus bare botocore's in
the same round. Then: import plus ``instrument()`` time in fresh interpreters, and RSS over
many calls. The official package (``opentelemetry-instrumentation-botocore``, in the
``bench`` extra) is left out, with a note, when it is not installed.

Speed never fails the run: targets are printed as met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "workload.py"
OPERATIONS = ("GetItem", "GetObject", "SendMessage", "ListObjectsV2")
OP_TITLES = {
    "GetItem": "DynamoDB GetItem",
    "GetObject": "S3 GetObject (1 KiB)",
    "SendMessage": "SQS SendMessage",
    "ListObjectsV2": "S3 ListObjectsV2 (10 keys)",
}
LABELS = {
    "otel": "botocore-otel, recording",
    "otel-nometrics": "botocore-otel, recording, metrics=False",
    "otel-nophases": "botocore-otel, recording, phase_metrics=False",
    "otel-unsampled": "botocore-otel, not sampled",
    "otel-unsampled-nometrics": "botocore-otel, not sampled, metrics=False",
    "official": "official, recording",
    "official-unsampled": "official, not sampled",
    "floor": "one bare SDK span (floor)",
}
TARGETS = {
    "recording_vs_official": 0.5,
    "recording_vs_floor": 1.5,
    "unsampled_vs_official": 0.25,
    "metrics_us": 15.0,
    "import_vs_official": 0.5,
}


def _official_installed() -> bool:
    return importlib.util.find_spec("opentelemetry.instrumentation.botocore") is not None


def _worker_env() -> dict[str, str]:
    """The environment of every child: no AWS or OTel configuration from outside."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OTEL_", "BOTOCORE_OTEL_", "PYTHONPROFILE"))
        and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    }
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


class Worker:
    """One variant's process, driven a JSON line at a time."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.process = subprocess.Popen(
            [sys.executable, str(WORKLOAD), variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_worker_env(),
            cwd=HERE,
        )

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        return self.process.stdin, self.process.stdout

    def read(self) -> dict[str, Any]:
        line = self._pipes()[1].readline()
        if not line:
            raise RuntimeError(f"worker {self.variant} exited with {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"worker {self.variant}: {answer['error']}")
        return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        stdin = self._pipes()[0]
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError, ValueError):
                self.ask(cmd="quit")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Results:
    rounds: int
    calls: int
    variants: list[str]
    # variant -> operation -> CPU seconds per call, one per round
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    imports: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    heavy_imports: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    rss: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def overhead_us(self, variant: str, operation: str) -> float:
        """Median over rounds of (variant - bare) in the same round, in microseconds."""
        pairs = zip(self.samples[variant][operation], self.samples["bare"][operation], strict=True)
        return statistics.median(v - b for v, b in pairs) * 1e6

    def spread_us(self, variant: str, operation: str) -> float:
        """Half the interquartile range of the per-round differences from bare, in microseconds."""
        pairs = zip(self.samples[variant][operation], self.samples["bare"][operation], strict=True)
        differences = sorted(v - b for v, b in pairs)
        if len(differences) < 4:
            return float("nan")
        quartiles = statistics.quantiles(differences, n=4)
        return (quartiles[2] - quartiles[0]) / 2 * 1e6

    def paired_difference_us(self, variant: str, other: str, operation: str) -> float:
        """Median over rounds of (variant - other in the same round), in microseconds."""
        pairs = zip(self.samples[variant][operation], self.samples[other][operation], strict=True)
        return statistics.median(a - b for a, b in pairs) * 1e6

    def median_us(self, variant: str, operation: str) -> float:
        return statistics.median(self.samples[variant][operation]) * 1e6


def run_rounds(variants: Sequence[str], rounds: int, calls: int, log: IO[str]) -> Results:
    results = Results(rounds, calls, list(variants))
    started = time.monotonic()
    workers: list[Worker] = []
    try:
        for variant in variants:  # start them one by one: each warms up alone
            worker = Worker(variant)
            worker.read()
            workers.append(worker)
        print(f"  {len(workers)} workers ready in {time.monotonic() - started:.1f} s", file=log)
        results.samples = {w.variant: {op: [] for op in OPERATIONS} for w in workers}
        for round_no in range(rounds):
            order = workers[round_no % len(workers) :] + workers[: round_no % len(workers)]
            for operation in OPERATIONS:
                for worker in order:
                    n = calls * 10 if worker.variant == "floor" else calls
                    cpu = worker.ask(cmd="measure", op=operation, n=n)["cpu"]
                    results.samples[worker.variant][operation].append(cpu)
            print(f"  round {round_no + 1}/{rounds} done at {time.monotonic() - started:.0f} s", file=log)
    finally:
        for worker in workers:
            worker.close()
    return results


def run_rss(variants: Sequence[str], calls: int, log: IO[str]) -> dict[str, list[tuple[int, int, int]]]:
    """RSS over ``calls`` calls (the four operations in turn), the variants side by side."""
    every = max(calls // 10, 4)
    workers = [Worker(variant) for variant in variants]
    try:
        for worker in workers:
            worker.read()

        def one(worker: Worker) -> list[tuple[int, int, int]]:
            points = worker.ask(cmd="rss", n=calls, every=every)["rss"]
            return [(int(c), int(r), int(o)) for c, r, o in points]

        with ThreadPoolExecutor(len(workers)) as pool:
            series = dict(zip(variants, pool.map(one, workers), strict=True))
    finally:
        for worker in workers:
            worker.close()
    print(f"  RSS runs of {calls} calls done", file=log)
    return series


_SETUP = """
import boto3, botocore.client
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
metrics.set_meter_provider(MeterProvider())
"""
_INSTRUMENT = {
    "botocore-otel": "import botocore_otel\nbotocore_otel.instrument()\n",
    "botocore-otel, Instrumentor class": "import botocore_otel\nbotocore_otel.Instrumentor().instrument()\n",
    "official": (
        "from opentelemetry.instrumentation.botocore import BotocoreInstrumentor\n"
        "BotocoreInstrumentor().instrument()\n"
    ),
}
_MARK = "BENCHMARK-MEASURED-PART"


def _import_script(package: str, warm: bool) -> str:
    setup = _SETUP if warm else ""
    return (
        f"{setup}\nimport sys, time\nsys.stderr.write('{_MARK}\\n'); sys.stderr.flush()\n"
        f"t0 = time.perf_counter()\n{_INSTRUMENT[package]}"
        "print(time.perf_counter() - t0)\n"
    )


def import_times(packages: Sequence[str], repeat: int) -> dict[str, dict[str, list[float]]]:
    """Seconds of ``import`` plus ``instrument()`` in fresh interpreters, interleaved."""
    times: dict[str, dict[str, list[float]]] = {p: {"warm": [], "cold": []} for p in packages}
    for package in packages:  # discarded: writes the bytecode caches a fresh checkout lacks
        subprocess.run(
            [sys.executable, "-c", _import_script(package, True)], env=_worker_env(), capture_output=True
        )
    for _ in range(repeat):
        for package in packages:
            for kind in ("warm", "cold"):
                out = subprocess.run(
                    [sys.executable, "-c", _import_script(package, kind == "warm")],
                    env=_worker_env(),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[package][kind].append(float(out.stdout.split()[-1]))
    return times


def heaviest_imports(package: str, top: int = 8) -> list[tuple[str, float]]:
    """The costliest imports of the measured part, from ``-X importtime`` (cumulative ms).

    The top-level imports and the ones they make directly, heaviest first.
    """
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _import_script(package, warm=True)],
        env=_worker_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = out.stderr.split(_MARK, 1)[-1].splitlines()
    entries: list[tuple[int, str, float]] = []
    for line in lines:
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            entries.append((len(match.group(3)), match.group(4), int(match.group(2)) / 1000))
    if not entries:
        return []
    outermost = min(depth for depth, _, _ in entries)
    shown = [(name, ms) for depth, name, ms in entries if depth <= outermost + 2]
    return sorted(shown, key=lambda item: -item[1])[:top]


def _machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model or platform.processor()}"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {platform.python_version()}"]
    for name in (
        "botocore",
        "boto3",
        "opentelemetry-sdk",
        "botocore-otel",
        "opentelemetry-instrumentation-botocore",
    ):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= target else "MISSED"


def report(results: Results, command: str) -> str:
    have_official = "official" in results.variants
    lines = [
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {_machine()}",
        f"Versions: {_versions()}",
        f"Command: `{command}`",
        f"Method: {results.rounds} interleaved rounds of {results.calls} calls per variant and operation "
        "(the floor: 10x as many spans); CPU time (`time.process_time`) per call; each figure is "
        "the median over rounds of (variant - bare botocore in the same round).",
        "",
    ]
    if results.samples:
        lines += ["## Overhead per call, microseconds of CPU", ""]
        header = ["variant", *(OP_TITLES[op] for op in OPERATIONS)]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.append(
            "| bare botocore (absolute, per call) | "
            + " | ".join(f"{results.median_us('bare', op):.0f}" for op in OPERATIONS)
            + " |"
        )
        for variant in results.variants:
            if variant == "bare":
                continue
            cells = []
            for op in OPERATIONS:
                if variant == "floor":
                    cells.append(f"{results.median_us('floor', op):.1f}")
                    continue
                overhead = results.overhead_us(variant, op)
                cell = f"{overhead:+.1f} ±{results.spread_us(variant, op):.0f}"
                official = "official-unsampled" if variant.endswith("unsampled") else "official"
                if have_official and not variant.startswith("official"):
                    base = results.overhead_us(official, op)
                    cell += f" ({overhead / base:.2f}x)" if base > 0 else ""
                cells.append(cell)
            lines.append(f"| {LABELS[variant]} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Ratios in parentheses: against the official package in the same sampling mode. "
            "After ±: half the interquartile range of the per-round differences (noise).",
            "",
            "## Targets",
            "",
            "| target | " + " | ".join(OP_TITLES[op] for op in OPERATIONS) + " |",
            "|" + "---|" * (len(OPERATIONS) + 1),
        ]

        def row(title: str, target: float, values: list[float | None], fmt: str) -> None:
            cells = ["n/a" if v is None else f"{format(v, fmt)} {_verdict(v, target)}" for v in values]
            lines.append(f"| {title} | " + " | ".join(cells) + " |")

        ops = list(OPERATIONS)
        if have_official:
            row(
                f"recording / official recording <= {TARGETS['recording_vs_official']}",
                TARGETS["recording_vs_official"],
                [results.overhead_us("otel", op) / results.overhead_us("official", op) for op in ops],
                ".2f",
            )
        if "floor" in results.variants:
            row(
                f"recording / one bare span <= {TARGETS['recording_vs_floor']}",
                TARGETS["recording_vs_floor"],
                [results.overhead_us("otel", op) / results.median_us("floor", op) for op in ops],
                ".2f",
            )
            if "otel-nometrics" in results.variants:
                row(
                    "(metrics=False) / one bare span, for reference",
                    TARGETS["recording_vs_floor"],
                    [
                        results.overhead_us("otel-nometrics", op) / results.median_us("floor", op)
                        for op in ops
                    ],
                    ".2f",
                )
        if have_official:
            row(
                f"not sampled / official not sampled <= {TARGETS['unsampled_vs_official']}",
                TARGETS["unsampled_vs_official"],
                [
                    results.overhead_us("otel-unsampled", op) / results.overhead_us("official-unsampled", op)
                    for op in ops
                ],
                ".2f",
            )
            if "otel-unsampled-nometrics" in results.variants:
                row(
                    "(not sampled, metrics=False) / official not sampled, for reference",
                    TARGETS["unsampled_vs_official"],
                    [
                        results.overhead_us("otel-unsampled-nometrics", op)
                        / results.overhead_us("official-unsampled", op)
                        for op in ops
                    ],
                    ".2f",
                )
        if "otel-nometrics" in results.variants:
            row(
                f"metrics cost, us (recording - metrics=False) <= {TARGETS['metrics_us']:.0f}",
                TARGETS["metrics_us"],
                [results.paired_difference_us("otel", "otel-nometrics", op) for op in ops],
                ".1f",
            )
            if "otel-nophases" in results.variants:
                row(
                    "metrics cost with phase_metrics=False, us, for reference",
                    TARGETS["metrics_us"],
                    [results.paired_difference_us("otel-nophases", "otel-nometrics", op) for op in ops],
                    ".1f",
                )
    if results.imports:
        lines += [
            "",
            "## Import plus `instrument()`, milliseconds (median of fresh interpreters)",
            "",
            "`warm`: boto3, botocore.client and the OpenTelemetry SDK (providers set) already "
            "imported, as in an application; `cold`: a bare interpreter (botocore's import counted).",
            "",
            "| package | warm | cold | runs |",
            "|---|---|---|---|",
        ]
        for package, kinds in results.imports.items():
            lines.append(
                f"| {package} | {statistics.median(kinds['warm']) * 1e3:.1f} | "
                f"{statistics.median(kinds['cold']) * 1e3:.1f} | {len(kinds['warm'])} |"
            )
        if "official" in results.imports:
            theirs = statistics.median(results.imports["official"]["warm"])
            target = TARGETS["import_vs_official"]
            lines.append("")
            for package in (p for p in results.imports if p != "official"):
                ratio = statistics.median(results.imports[package]["warm"]) / theirs
                lines.append(
                    f"- warm ratio {package} / official = {ratio:.2f} (target <= {target}: "
                    f"{_verdict(ratio, target)})"
                )
        for package, heavy in results.heavy_imports.items():
            listed = ", ".join(f"{name} {ms:.1f}" for name, ms in heavy)
            lines.append(
                f"\nHeaviest imports of the measured part ({package}, `-X importtime`, ms): {listed}"
            )
    if results.rss:
        lines += [
            "",
            "## Memory over many calls (the four operations in turn)",
            "",
            "Measured after a `gc.collect()` at each point. Blocks: `sys.getallocatedblocks()`, "
            "the memory blocks of every live Python object (strings included); a leak of objects "
            "shows there whatever the allocator does with RSS (fragmentation, arenas kept). "
            "botocore-otel's count also rises and falls with the BatchSpanProcessor's queue: up to "
            "512 finished spans wait for the next export.",
            "",
            "| variant | calls | RSS at start (MiB) | RSS at end (MiB) | RSS growth, last half (KiB) "
            "| blocks at start | blocks, growth over the last half |",
            "|---|---|---|---|---|---|---|",
        ]
        for variant, points in results.rss.items():
            calls, start, end = points[-1][0], points[0][1], points[-1][1]
            half = min(points, key=lambda p: abs(p[0] - calls // 2))
            lines.append(
                f"| {LABELS.get(variant, 'bare botocore')} | {calls} | {start / 2**20:.1f} | "
                f"{end / 2**20:.1f} | {(end - half[1]) / 1024:+.0f} | {points[0][2]} | "
                f"{points[-1][2] - half[2]:+d} |"
            )
        for variant, points in results.rss.items():
            every = points[1][0] if len(points) > 1 else 0
            rss = ", ".join(f"{r / 2**20:.1f}" for _, r, _ in points)
            blocks = ", ".join(str(o) for _, _, o in points)
            label = LABELS.get(variant, "bare botocore")
            lines.append(f"\n{label}, every {every} calls: RSS (MiB) {rss}; blocks {blocks}")
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and calls: for CI (< ~2 min)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 30; quick 5)")
    parser.add_argument("--calls", type=int, help="calls per variant, operation and round (300; quick 60)")
    parser.add_argument("--rss-calls", type=int, help="calls of the RSS run (200000; quick 8000)")
    parser.add_argument("--imports", type=int, help="fresh interpreters per import figure (9; quick 3)")
    parser.add_argument("--variants", help="comma-separated subset of the variants")
    parser.add_argument(
        "--parts", default="overhead,imports,rss", help="which measurements (default: overhead,imports,rss)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the Markdown results (default benchmarks/RESULTS.md; quick: nowhere)",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 30)
    calls = args.calls or (60 if args.quick else 300)
    rss_calls = args.rss_calls if args.rss_calls is not None else (8000 if args.quick else 200_000)
    repeat = args.imports or (3 if args.quick else 9)
    output = args.output or (None if args.quick else HERE / "RESULTS.md")
    log = sys.stderr

    variants = [
        "bare",
        "otel",
        "otel-nometrics",
        "otel-nophases",
        "otel-unsampled",
        "otel-unsampled-nometrics",
        "official",
        "official-unsampled",
        "floor",
    ]
    if args.variants:
        chosen = {v.strip() for v in args.variants.split(",")}
        variants = [v for v in variants if v in chosen or v == "bare"]
    notes: list[str] = []
    if not _official_installed():
        variants = [v for v in variants if not v.startswith("official")]
        notes.append(
            "opentelemetry-instrumentation-botocore is not installed: no comparison with it "
            "(`pip install -e '.[bench]'`)."
        )

    parts = {part.strip() for part in args.parts.split(",")}
    results = Results(rounds, calls, variants)
    if "overhead" in parts:
        print(f"overhead: {rounds} rounds x {calls} calls, variants {', '.join(variants)}", file=log)
        results = run_rounds(variants, rounds, calls, log)
    results.notes = notes
    if "imports" in parts:
        packages = ["botocore-otel", "botocore-otel, Instrumentor class"]
        packages += ["official"] if "official" in variants else []
        print(f"import + instrument(): {repeat} fresh interpreters each", file=log)
        results.imports = import_times(packages, repeat)
        results.heavy_imports = {package: heaviest_imports(package) for package in packages}
    if "rss" in parts and rss_calls > 0:
        print(f"RSS: {rss_calls} calls", file=log)
        results.rss = run_rss(["otel", "bare"], rss_calls, log)

    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python benchmarks/run.py", *given])
    text = report(results, command)
    print(text)
    if output is not None:
        output.write_text("# Benchmark results\n\n" + text)
        print(f"written to {output}", file=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
