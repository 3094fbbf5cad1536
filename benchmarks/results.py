"""The results of ``run.py``: what was measured, and the Markdown report of RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from dataclasses import dataclass, field

import instructions  # benchmarks/, on sys.path as the script's folder
from workload import OPERATIONS, official_counterpart

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
    # variant -> operation -> instructions per call (callgrind)
    instructions: dict[str, dict[str, float]] = field(default_factory=dict)
    instruction_calls: int = 0
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


def _ratio(value: float, base: float) -> float | None:
    """None when noise left the official package's overhead at zero or below: no ratio then."""
    return value / base if base > 0 else None


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= target else "MISSED"


def report(results: Results, command: str) -> str:
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
                official = official_counterpart(variant)
                if official in results.variants and not variant.startswith("official"):
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
            # A negative cost or ratio is noise (quick runs): neither met nor missed.
            cells = [
                "n/a"
                if v is None
                else f"{format(v, fmt)} noise"
                if v < 0
                else f"{format(v, fmt)} {_verdict(v, target)}"
                for v in values
            ]
            lines.append(f"| {title} | " + " | ".join(cells) + " |")

        def to_official(variant: str) -> list[float | None]:
            official = official_counterpart(variant)
            return [
                _ratio(results.overhead_us(variant, op), results.overhead_us(official, op))
                for op in OPERATIONS
            ]

        def to_floor(variant: str) -> list[float | None]:
            return [results.overhead_us(variant, op) / results.median_us("floor", op) for op in OPERATIONS]

        def difference(variant: str, other: str) -> list[float | None]:
            return [results.paired_difference_us(variant, other, op) for op in OPERATIONS]

        recording, unsampled, metrics = (
            TARGETS["recording_vs_official"],
            TARGETS["unsampled_vs_official"],
            TARGETS["metrics_us"],
        )
        floor = TARGETS["recording_vs_floor"]
        measured = set(results.variants)

        def have(*variants: str) -> bool:
            return measured.issuperset(variants)

        if have("otel", "official"):
            row(f"recording / official recording <= {recording}", recording, to_official("otel"), ".2f")
        if have("otel", "floor"):
            row(f"recording / one bare span <= {floor}", floor, to_floor("otel"), ".2f")
        if have("otel-nometrics", "floor"):
            row("(metrics=False) / one bare span, for reference", floor, to_floor("otel-nometrics"), ".2f")
        if have("otel-unsampled", "official-unsampled"):
            row(
                f"not sampled / official not sampled <= {unsampled}",
                unsampled,
                to_official("otel-unsampled"),
                ".2f",
            )
        if have("otel-unsampled-nometrics", "official-unsampled"):
            row(
                "(not sampled, metrics=False) / official not sampled, for reference",
                unsampled,
                to_official("otel-unsampled-nometrics"),
                ".2f",
            )
        if have("otel", "otel-nometrics"):
            row(
                f"metrics cost, us (recording - metrics=False) <= {metrics:.0f}",
                metrics,
                difference("otel", "otel-nometrics"),
                ".1f",
            )
        if have("otel-nophases", "otel-nometrics"):
            row(
                "metrics cost with phase_metrics=False, us, for reference",
                metrics,
                difference("otel-nophases", "otel-nometrics"),
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
    if results.instructions:
        lines += instructions.report_lines(results.instructions, LABELS, results.instruction_calls)
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines) + "\n"
