"""Instructions per call under valgrind's callgrind: a figure that noisy neighbours can't move.

    python benchmarks/instructions.py [--calls 1000] [--ops GetItem,SendMessage]

CPU time on a shared 2-core machine moves by ±30 % from one run to the next; the number of
instructions executed does not. Each variant runs in ``workload.py`` twice under callgrind:
with 0 and with N calls after the same set-up and warm-up. The difference divided by N is
what one call costs, export threads and garbage collection included. Instructions are not
time (cache misses and branch mispredictions are not counted), so this complements the CPU
time of ``run.py``; it does not replace it. ``run.py --parts ...,instructions`` adds these
figures to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from workload import official_counterpart  # benchmarks/, on sys.path as the script's folder

HERE = Path(__file__).resolve().parent
_COLLECTED = re.compile(r"Collected : (\d+)")


def available() -> bool:
    return shutil.which("valgrind") is not None


def count(script_args: Sequence[str], env: dict[str, str]) -> int:
    """Instructions executed by ``python SCRIPT_ARGS...`` under callgrind, start to exit."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            os.path.realpath(sys.executable),  # not a launcher script: valgrind would count bash
            *script_args,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total for {' '.join(script_args)}: {done.stderr[-500:]}")
    return int(found.group(1))


def clean_env() -> dict[str, str]:
    """Bytecode caches on (as in production), no metric collection during a run."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "3600000"
    return env


def per_call(
    variants: Sequence[str], operations: Sequence[str], calls: int, log: IO[str]
) -> dict[str, dict[str, float]]:
    """variant -> operation -> instructions per call, two valgrind runs at a time."""
    env = clean_env()
    jobs = [(v, op, n) for v in variants for op in operations for n in (0, calls)]
    script = str(HERE / "workload.py")
    with ThreadPoolExecutor(2) as pool:
        counted = pool.map(lambda job: count([script, job[0], "--calls", job[1], str(job[2])], env), jobs)
        totals = dict(zip(jobs, counted, strict=True))
    print(f"  instruction counts of {len(jobs)} runs done", file=log)
    return {
        v: {op: (totals[(v, op, calls)] - totals[(v, op, 0)]) / calls for op in operations} for v in variants
    }


def report_lines(counts: dict[str, dict[str, float]], labels: dict[str, str], calls: int) -> list[str]:
    operations = list(next(iter(counts.values())))
    lines = [
        "",
        f"## Instructions per call (callgrind, {calls} calls; deterministic)",
        "",
        "Thousands of instructions added over bare botocore; in parentheses the ratio to the "
        "official package in the same sampling mode. `python benchmarks/instructions.py`.",
        "",
        "| variant | " + " | ".join(operations) + " |",
        "|" + "---|" * (len(operations) + 1),
        "| bare botocore (absolute) | "
        + " | ".join(f"{counts['bare'][op] / 1e3:.0f}k" for op in operations)
        + " |",
    ]
    for variant, by_op in counts.items():
        if variant == "bare":
            continue
        cells = []
        for op in operations:
            if variant == "floor":
                cells.append(f"{by_op[op] / 1e3:.0f}k")
                continue
            added = by_op[op] - counts["bare"][op]
            cell = f"+{added / 1e3:.0f}k"
            official = official_counterpart(variant)
            if official in counts and not variant.startswith("official"):
                cell += f" ({added / (counts[official][op] - counts['bare'][op]):.2f}x)"
            cells.append(cell)
        lines.append(f"| {labels.get(variant, variant)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    from results import LABELS
    from workload import OPERATIONS, VARIANTS

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--ops", default=",".join(OPERATIONS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    if not available():
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    counts = per_call(args.variants.split(","), args.ops.split(","), args.calls, sys.stderr)
    print("\n".join(report_lines(counts, LABELS, args.calls)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
