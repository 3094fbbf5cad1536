"""Overhead of botocore-otel against bare botocore, the official instrumentation and the floors.

    python benchmarks/run.py            # the whole report; writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # CI: proves it runs, prints its table (< ~2 min)

Each variant runs in its own worker process (``benchmarks/workload.py``) with the same
OpenTelemetry SDK setup; responses are answered in-process by a before-send handler, so
the client still serializes, signs and parses. Variants are interleaved, one worker at a
time, in rounds; the figure for each is the median over rounds of its CPU time per call
(``time.process_time``, the process's export threads included) minus bare botocore's in
the same round. Then: instructions per call under callgrind, under three hash seeds
(``instructions.py``), the floors of each configuration (``floors.py``), import plus
``instrument()`` time in fresh interpreters, and RSS over many calls. The official package
(``opentelemetry-instrumentation-botocore``, in the ``bench`` extra) is left out, with a
note, when it is not installed.

Speed never fails the run: targets are printed as met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import floors  # benchmarks/, on sys.path as the script's folder
import instructions
from results import Results, report
from targets import HEADLINE_IMPORT
from workload import EXTRA_VARIANTS, IN_REQUEST, OPERATIONS, VARIANTS, worker_env

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "workload.py"


def _official_installed() -> bool:
    return importlib.util.find_spec("opentelemetry.instrumentation.botocore") is not None


class Worker:
    """One variant's process, driven a JSON line at a time."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.process = subprocess.Popen(
            [sys.executable, str(WORKLOAD), variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=worker_env(),
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
                    cpu = worker.ask(cmd="measure", op=operation, n=calls)["cpu"]
                    results.samples[worker.variant][operation].append(cpu)
            print(f"  round {round_no + 1}/{rounds} done at {time.monotonic() - started:.0f} s", file=log)
    finally:
        for worker in workers:
            worker.close()
    return results


def run_rss(variants: Sequence[str], calls: int, log: IO[str]) -> dict[str, list[tuple[int, int, int]]]:
    """RSS over ``calls`` calls (the four operations in turn), one variant after the other.

    One at a time: side by side on two cores, the BatchSpanProcessor's export thread fell
    behind, its queue filled and the allocator kept the arenas (an RSS step, not a leak)."""
    every = max(calls // 10, 4)
    workers = [Worker(variant) for variant in variants]
    try:
        for worker in workers:
            worker.read()

        def one(worker: Worker) -> list[tuple[int, int, int]]:
            points = worker.ask(cmd="rss", n=calls, every=every)["rss"]
            return [(int(c), int(r), int(o)) for c, r, o in points]

        series = {variant: one(worker) for variant, worker in zip(variants, workers, strict=True)}
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
# What ``opentelemetry-instrument`` has imported before any instrumentor's entry point loads.
_PRELOADED = _SETUP + "import opentelemetry.instrumentation.instrumentor\n"
_INSTRUMENT = {
    HEADLINE_IMPORT: ("import botocore_otel\nbotocore_otel.Instrumentor().instrument()\n"),
    "botocore-otel, instrument()": "import botocore_otel\nbotocore_otel.instrument()\n",
    "official": (
        "from opentelemetry.instrumentation.botocore import BotocoreInstrumentor\n"
        "BotocoreInstrumentor().instrument()\n"
    ),
}
_MARK = "BENCHMARK-MEASURED-PART"
# kind -> (what runs first, what the measured part does after instrument()). "then a
# session": botocore-otel builds its lifecycle with the first session, not at instrument().
IMPORT_KINDS = {
    "preloaded": (_PRELOADED, ""),
    "then a session": (_PRELOADED, "boto3.session.Session()\n"),
    "warm": (_SETUP, ""),
    "cold": ("", ""),
}


def _import_script(package: str, kind: str) -> str:
    prelude, after = IMPORT_KINDS[kind]
    return (
        f"{prelude}\nimport sys, time\nsys.stderr.write('{_MARK}\\n'); sys.stderr.flush()\n"
        f"t0 = time.process_time()\n{_INSTRUMENT[package]}{after}"
        "print(time.process_time() - t0)\n"
    )


def import_times(packages: Sequence[str], repeat: int) -> dict[str, dict[str, list[float]]]:
    """Seconds of ``import`` plus ``instrument()`` in fresh interpreters, interleaved.

    ``preloaded``: after what ``opentelemetry-instrument`` imports first (boto3, the SDK with
    its providers set, ``opentelemetry.instrumentation.instrumentor``); ``then a session``:
    the same, and a boto3 session made after ``instrument()``; ``warm``: boto3 and the SDK
    only; ``cold``: a bare interpreter."""
    times: dict[str, dict[str, list[float]]] = {p: {kind: [] for kind in IMPORT_KINDS} for p in packages}
    for package in packages:  # discarded: writes the bytecode caches a fresh checkout lacks
        subprocess.run(
            [sys.executable, "-c", _import_script(package, "cold")], env=worker_env(), capture_output=True
        )
    for _ in range(repeat):
        for package in packages:
            for kind in IMPORT_KINDS:
                out = subprocess.run(
                    [sys.executable, "-c", _import_script(package, kind)],
                    env=worker_env(),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[package][kind].append(float(out.stdout.split()[-1]))
    return times


def import_instructions(packages: Sequence[str], log: IO[str]) -> dict[str, float]:
    """Instructions of import plus ``instrument()``, preloaded (callgrind; CPU time's noise
    does not move them). Run after ``import_times``, which has written the bytecode caches."""
    scripts = {
        package: _PRELOADED + instructions.COUNTED_PART.format(part=_INSTRUMENT[package])
        for package in packages
    }
    return instructions.per_script(scripts, log)


def heaviest_imports(package: str, top: int = 8) -> list[tuple[str, float]]:
    """The costliest imports of the measured part, from ``-X importtime`` (cumulative ms).

    The top-level imports and the ones they make directly, heaviest first.
    """
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _import_script(package, "preloaded")],
        env=worker_env(),
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


PARTS = ("overhead", "instructions", "floors", "imports", "rss")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and calls, no valgrind: for CI")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of CPU time (default 30; quick 5)")
    parser.add_argument("--calls", type=int, help="calls per variant, operation and round (300; quick 60)")
    parser.add_argument(
        "--window-calls", type=int, help="calls (or probe repetitions) per callgrind window (default 500)"
    )
    parser.add_argument("--rss-calls", type=int, help="calls of the RSS run (200000; quick 8000)")
    parser.add_argument("--imports", type=int, help="fresh interpreters per import figure (9; quick 3)")
    parser.add_argument("--variants", help="comma-separated subset of the variants (bare is always in)")
    instructions.add_seeds_option(parser)
    parser.add_argument(
        "--parts",
        help=f"comma-separated, of {','.join(PARTS)} (default: all; quick: no instructions, no floors)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the Markdown results (default benchmarks/RESULTS.md; quick: nowhere)",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 30)
    calls = args.calls or (60 if args.quick else 300)
    window_calls = args.window_calls or 500
    rss_calls = args.rss_calls if args.rss_calls is not None else (8000 if args.quick else 200_000)
    repeat = args.imports or (3 if args.quick else 9)
    output = args.output or (None if args.quick else HERE / "RESULTS.md")
    log = sys.stderr

    variants = list(VARIANTS)
    if args.variants:
        chosen = {v.strip() for v in args.variants.split(",")}
        variants = [v for v in variants if v in chosen or v == "bare"]
    notes: list[str] = []
    if rounds < 10:
        notes.append(
            f"{rounds} rounds of {calls} calls: these CPU figures prove that the benchmark runs; on a "
            "shared machine they are noise, not measurements (a full run has 30 rounds of 300 calls)."
        )
    if not _official_installed():
        variants = [v for v in variants if not v.startswith("official")]
        notes.append(
            "opentelemetry-instrumentation-botocore is not installed: no comparison with it "
            "(`pip install -e '.[bench]'`)."
        )

    default_parts = "overhead,imports,rss" if args.quick else ",".join(PARTS)
    parts = {part.strip() for part in (args.parts or default_parts).split(",")}
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {', '.join(sorted(unknown))}: choose from {', '.join(PARTS)}")
    results = Results(rounds, calls, variants)
    started = time.monotonic()
    if "overhead" in parts:
        print(f"overhead: {rounds} rounds x {calls} calls, variants {', '.join(variants)}", file=log)
        results = run_rounds(variants, rounds, calls, log)
    results.notes = notes
    problem = instructions.missing()
    if problem and parts & {"instructions", "floors"}:
        notes.append(f"no instruction counts and no floors: {problem}.")
    elif parts & {"instructions", "floors"}:
        results.window_calls = window_calls
    if "instructions" in parts and not problem:
        # The metrics=False references only when asked for: each variant is ~2 minutes of CPU here.
        counted = variants if args.variants else [v for v in variants if not v.endswith("-nometrics")]
        if not args.variants and _official_installed():
            counted += [v for v in EXTRA_VARIANTS if v.endswith(IN_REQUEST)]
        print(f"instructions: callgrind, {window_calls} calls a window, {', '.join(counted)}", file=log)
        results.instructions = instructions.per_call(
            counted, ("GetItem", "SendMessage"), window_calls, log, args.seeds
        )
    if "floors" in parts and not problem:
        print(f"floors: callgrind, {window_calls} repetitions a probe", file=log)
        results.floors = floors.measure(window_calls, log, args.seeds)
    if "imports" in parts:
        packages = [p for p in _INSTRUMENT if p != "official" or "official" in variants]
        print(f"import + instrument(): {repeat} fresh interpreters each", file=log)
        results.imports = import_times(packages, repeat)
        results.heavy_imports = {package: heaviest_imports(package) for package in packages}
        if not args.quick and not problem:
            print("import + instrument(): instructions, callgrind", file=log)
            results.import_instructions = import_instructions(packages, log)
    if "rss" in parts and rss_calls > 0:
        print(f"RSS: {rss_calls} calls", file=log)
        results.rss = run_rss(["otel", "bare"], rss_calls, log)
    results.minutes = (time.monotonic() - started) / 60

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
