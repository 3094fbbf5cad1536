"""Instructions per call under valgrind's callgrind: a figure that noisy neighbours can't move.

    python benchmarks/instructions.py [--calls 500] [--ops GetItem,SendMessage] [--variants ...]

CPU time on a shared 2-core machine moves by ±30 % from one run to the next; the number of
instructions executed does not. Each variant runs once in ``workload.py`` under callgrind.
After the set-up and a warm-up, each operation gets a counted window: the process asks
callgrind to zero its counters, makes N calls, and asks for a dump (callgrind's client
requests, through a three-line C helper compiled on first use). A dump's total divided by N
is one call: every thread counts, garbage collection too (with the set-up's objects frozen,
see ``count_windows``), and start-up and imports do not. The finished spans are exported
before each window and none inside it (``QUIET_EXPORTS``): every variant's count leaves
out the exporter's work, which the scheduler put inside a window or not.
Instructions are not time (cache misses and branch mispredictions are not counted), so this
complements the CPU time of ``run.py``.

Each variant is counted under several hash seeds (``SEEDS``, ``--seeds``), one process each,
and a figure is their mean. One process's count is exact for its own memory layout only: the
seed (string hashes, so every dict's probe sequence) and anything that shifts the heap (the
environment's size, a module compiled in-process rather than read from its ``.pyc``, what
else the process set up) move CPython's own costs (allocator pools, dict probes, the type
attribute cache, which is indexed by the addresses of interned names) by a few thousand
instructions per call, in every variant and in bare botocore alike (2026-12-06: GetItem not
sampled 2,824k to 2,828k in 14 processes of one seed; callgrind's per-function diff of two
of them shows nothing else).

Needs valgrind (its Debian package ships ``valgrind/callgrind.h``) and a C compiler.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import fmean
from typing import IO, Any, TypeVar

HERE = Path(__file__).resolve().parent
HELPER_ENV = "BENCHMARK_CALLGRIND_HELPER"
WARM_UP = 50  # calls of each measured callable before its window: caches, lazy models, SDK
_HELPER_SOURCE = """
#include <valgrind/callgrind.h>
void benchmark_zero(void) { CALLGRIND_ZERO_STATS; }
void benchmark_dump(void) { CALLGRIND_DUMP_STATS; }
void benchmark_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""
SEEDS = (0, 1, 2)
"""The hash seeds a variant is counted under, one process each (see the module's doc)."""
_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)
_Key = TypeVar("_Key")
_Counted = TypeVar("_Counted")
PerSeed = dict[str, dict[str, list[float]]]
"""variant (or sampling mode) -> operation (or probe) -> one count per seed, in ``SEEDS`` order"""


def missing() -> str | None:
    """What is missing to count instructions here, or None."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (apt-get install valgrind)"
    if not Path("/usr/include/valgrind/callgrind.h").exists():
        return "valgrind/callgrind.h is missing (Debian's valgrind package ships it)"
    if shutil.which("cc") is None:
        return "no C compiler to build the callgrind helper (apt-get install gcc)"
    return None


def available() -> bool:
    return missing() is None


@contextlib.contextmanager
def helper_or_exit() -> Iterator[Path]:
    """The callgrind helper, built in a temporary folder for the block; exits with the reason
    (status 1) when instructions cannot be counted here."""
    problem = missing()
    if problem:
        raise SystemExit(problem)
    with tempfile.TemporaryDirectory(prefix="benchmark-helper-") as folder:
        yield _helper(Path(folder))


def _helper(folder: Path) -> Path:
    source, library = folder / "callgrind_helper.c", folder / "callgrind_helper.so"
    source.write_text(_HELPER_SOURCE)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def _interpreter() -> str:
    """The interpreter to put under valgrind: ``sys.executable`` itself when it is a binary or a
    link to one (a virtualenv's ``bin/python`` finds its packages from that path), never a
    launcher script (valgrind would count the shell)."""
    with open(os.path.realpath(sys.executable), "rb") as binary:
        if binary.read(4) != b"\x7fELF":
            raise RuntimeError(f"{sys.executable} is not an ELF binary: run the benchmark with the real one")
    return sys.executable


def windows(script_args: Sequence[str], env: Mapping[str, str], helper: Path) -> list[int]:
    """Instructions in each counted window of ``python SCRIPT_ARGS...`` under callgrind, in order
    (the first two are the empty ones of ``count_windows``)."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        out = Path(folder) / "out"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                "--dump-instr=no",
                "--compress-strings=yes",
                _interpreter(),
                *script_args,
            ],
            env={**env, HELPER_ENV: str(helper)},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(script_args)} failed under callgrind:\n{done.stderr[-2000:]}")
        dumps = sorted(Path(folder).glob("out.*"), key=lambda p: int(p.suffix[1:]))
        totals = []
        for dump in dumps:
            found = _SUMMARY.search(dump.read_text(errors="replace"))
            totals.append(int(found.group(1)) if found else 0)
        return totals


def count_windows(calls: Mapping[str, Callable[[], Any]], n: int) -> None:
    """The measured process's side: warm up each callable, then one window of ``n`` calls each.

    Runs under callgrind only (the helper's requests are no-ops elsewhere, but nothing reads
    the counts then). Two empty windows come first: the first after the freeze carries a
    one-off of 0.5-1.5M instructions and is dropped; the second is what a window costs
    itself (about 3k), taken off the others. Then the windows in the order of ``calls``."""
    helper = ctypes.CDLL(os.environ[HELPER_ENV])
    for call in calls.values():
        for _ in range(WARM_UP):
            call()
    # The set-up's objects out of the collector's sight: a full collection then costs what the
    # calls left behind, not what the process happened to import.
    gc.collect()
    gc.freeze()
    for _ in range(2):
        gc.collect()
        helper.benchmark_zero()
        helper.benchmark_dump()
    for call in calls.values():
        _export_queued_spans()
        gc.collect()
        helper.benchmark_zero()
        for _ in range(n):
            call()
        helper.benchmark_dump()


def per_window(
    script_args: Sequence[str], names: Sequence[str], n: int, env: Mapping[str, str], helper: Path
) -> dict[str, float]:
    """name -> instructions per repetition, from one process whose windows come in ``names`` order."""
    totals = windows(script_args, env, helper)
    if len(totals) != len(names) + 2:
        raise RuntimeError(f"{' '.join(script_args)}: {len(totals)} windows, expected {len(names) + 2}")
    empty = totals[1]
    return {name: (total - empty) / n for name, total in zip(names, totals[2:], strict=True)}


# No export inside a window: the span processor exports only when flushed, between windows
# (``count_windows``). Its export thread, woken by a timer or a full batch, ran wherever the
# scheduler put it, and a recorded call's count moved by about 3k between runs for it.
QUIET_EXPORTS = {
    "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
    "OTEL_BSP_SCHEDULE_DELAY": "3600000",
    "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1000000",
}


def clean_env(seed: int | None = None) -> dict[str, str]:
    """The workers' environment (``workload.worker_env``: hash seed 0 unless ``seed``), without
    metric collection or span export during a window."""
    from workload import worker_env

    env = {**worker_env(), **QUIET_EXPORTS}
    if seed is not None:
        env["PYTHONHASHSEED"] = str(seed)
    return env


def _export_queued_spans() -> None:
    """Exports what the global tracer provider's span processors hold, before a window."""
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()


def _two_at_a_time(keys: Sequence[_Key], count: Callable[[_Key, Path], _Counted]) -> list[_Counted]:
    """``count(key, helper)`` for each key, in order: the valgrind processes two at a time,
    sharing one compiled helper."""
    with tempfile.TemporaryDirectory(prefix="benchmark-helper-") as folder:
        helper = _helper(Path(folder))
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda key: count(key, helper), keys))


def per_call(
    variants: Sequence[str], operations: Sequence[str], calls: int, log: IO[str], seeds: Sequence[int] = SEEDS
) -> PerSeed:
    """variant -> operation -> instructions per call under each seed: one valgrind process per
    variant and seed, two at a time."""
    script = str(HERE / "workload.py")
    groups = {
        variant: (
            [script, variant, "--windows", ",".join(operations), str(calls)],
            [f"{variant}/{op}" for op in operations],
        )
        for variant in variants
    }
    merged = per_probe(groups, calls, log, seeds)
    return {v: {op: merged[f"{v}/{op}"] for op in operations} for v in variants}


def per_probe(
    script_args_by_group: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    calls: int,
    log: IO[str],
    seeds: Sequence[int] = SEEDS,
) -> dict[str, list[float]]:
    """group -> (script arguments, window names in order, unique across groups); each window's
    instructions per repetition under each seed, one valgrind process per group and seed, two
    at a time (``per_call``, and floors.py's probes)."""

    def one(key: tuple[str, int], helper: Path) -> dict[str, float]:
        group, seed = key
        args, names = script_args_by_group[group]
        counted = per_window(args, names, calls, clean_env(seed), helper)
        print(f"  windows of {group} counted (hash seed {seed})", file=log, flush=True)
        return counted

    keys = [(group, seed) for group in script_args_by_group for seed in seeds]
    merged: dict[str, list[float]] = {}
    for counted in _two_at_a_time(keys, one):  # in keys order: a group's seeds in SEEDS order
        for name, value in counted.items():
            merged.setdefault(name, []).append(value)
    return merged


def add_seeds_option(parser: argparse.ArgumentParser) -> None:
    """``--seeds 0,1,2``: parsed into a list of ints, ``SEEDS`` by default."""
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(seed) for seed in text.split(",")],
        default=list(SEEDS),
        help=f"hash seeds of the instruction counts, one process each (default {','.join(map(str, SEEDS))})",
    )


def added(counts: PerSeed, variant: str, operation: str) -> list[float]:
    """Instructions ``variant`` adds over bare botocore, under each seed (bare's of the same seed)."""
    return [v - b for v, b in zip(counts[variant][operation], counts["bare"][operation], strict=True)]


def spread(values: Sequence[float]) -> str:
    """`` (LOW to HIGH)``: the lowest and highest seed's, in thousands, or nothing for one seed."""
    return f" ({min(values) / 1e3:.0f} to {max(values) / 1e3:.0f})" if len(values) > 1 else ""


COUNTED_PART = (
    f"import ctypes as _ctypes, os as _os\n_counter = _ctypes.CDLL(_os.environ[{HELPER_ENV!r}])\n"
    "_counter.benchmark_zero()\n{part}_counter.benchmark_dump()\n"
)
"""Wraps the part of a ``python -c`` script to count (``COUNTED_PART.format(part=...)``)."""


def per_script(scripts: Mapping[str, str], log: IO[str]) -> dict[str, float]:
    """name -> instructions of the counted part of each ``python -c`` script (see
    ``COUNTED_PART``): one valgrind process each, two at a time."""
    env = clean_env()

    def one(name: str, helper: Path) -> float:
        totals = windows(["-c", scripts[name]], env, helper)
        if len(totals) != 1:
            raise RuntimeError(f"{name}: {len(totals)} counted parts, expected 1")
        print(f"  instructions of {name} counted", file=log, flush=True)
        return float(totals[0])

    return dict(zip(scripts, _two_at_a_time(list(scripts), one), strict=True))


def report_lines(counts: PerSeed, labels: dict[str, str], calls: int) -> list[str]:
    from workload import official_counterpart

    operations = list(next(iter(counts.values())))
    seeds = len(counts["bare"][operations[0]])
    lines = [
        "",
        f"## Instructions per call, every variant (callgrind, {calls} calls a window)",
        "",
        f"Thousands of instructions added over bare botocore, the mean over {seeds} hash seeds "
        "(in brackets, the lowest and highest seed's); then the ratio to the official package in "
        "the same sampling mode.",
        "",
        "| variant | " + " | ".join(operations) + " |",
        "|" + "---|" * (len(operations) + 1),
        "| bare botocore (absolute) | "
        + " | ".join(f"{fmean(counts['bare'][op]) / 1e3:.0f}k" for op in operations)
        + " |",
    ]
    for variant in counts:
        if variant == "bare":
            continue
        cells = []
        for op in operations:
            per_seed = added(counts, variant, op)
            cell = f"+{fmean(per_seed) / 1e3:.0f}k{spread(per_seed)}"
            official = official_counterpart(variant)
            if official in counts and not variant.startswith("official"):
                cell += f" {fmean(per_seed) / fmean(added(counts, official, op)):.2f}x"
            cells.append(cell)
        lines.append(f"| {labels.get(variant, variant)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    from results import LABELS
    from workload import OPERATIONS, VARIANTS

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--ops", default=",".join(OPERATIONS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    add_seeds_option(parser)
    args = parser.parse_args(argv)
    problem = missing()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    variants = args.variants.split(",")
    variants = variants if "bare" in variants else ["bare", *variants]
    counts = per_call(variants, args.ops.split(","), args.calls, sys.stderr, args.seeds)
    print("\n".join(report_lines(counts, LABELS, args.calls)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
