"""The results of ``run.py``: what was measured, and the Markdown report of RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from dataclasses import dataclass, field

import floors  # benchmarks/, on sys.path as the script's folder
import instructions
from instructions import PerSeed
from targets import headline_lines, target_lines
from workload import OPERATIONS, official_counterpart

OP_TITLES = {
    "GetItem": "DynamoDB GetItem",
    "GetObject": "S3 GetObject (1 KiB)",
    "SendMessage": "SQS SendMessage",
    "ListObjectsV2": "S3 ListObjectsV2 (10 keys)",
}
LABELS = {
    "otel": "botocore-otel defaults, recording",
    "otel-all": "botocore-otel metrics=all, recording",
    "otel-nometrics": "botocore-otel metrics=False, recording",
    "otel-unsampled": "botocore-otel defaults, not sampled",
    "otel-unsampled-all": "botocore-otel metrics=all, not sampled",
    "otel-unsampled-nometrics": "botocore-otel metrics=False, not sampled",
    "otel-capacity": "botocore-otel metrics=rpc,capacity + dynamodb_consumed_capacity, recording",
    "otel-xray": "botocore-otel sqs_aws_trace_header=True, recording",
    "otel-no-exemplars": "botocore-otel defaults, recording, OTEL_METRICS_EXEMPLAR_FILTER=always_off",
    "official": "official, recording",
    "official-unsampled": "official, not sampled",
    "otel-in-request": "botocore-otel defaults, recording, in a request's span",
    "otel-unsampled-in-request": "botocore-otel defaults, not sampled, in a request's span",
    "official-in-request": "official, recording, in a request's span",
    "official-unsampled-in-request": "official, not sampled, in a request's span",
}


@dataclass
class Results:
    rounds: int
    calls: int
    variants: list[str]
    # variant -> operation -> CPU seconds per call, one per round
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # package -> kind (preloaded, warm, cold) -> seconds, one per fresh interpreter
    imports: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    heavy_imports: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    # package -> instructions of import plus instrument(), preloaded (callgrind)
    import_instructions: dict[str, float] = field(default_factory=dict)
    rss: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    # variant -> operation -> instructions per call under each hash seed (callgrind)
    instructions: PerSeed = field(default_factory=dict)
    # sampling -> probe -> instructions per repetition under each hash seed (floors.py)
    floors: PerSeed = field(default_factory=dict)
    window_calls: int = 0
    minutes: float = 0.0
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

    def median_us(self, variant: str, operation: str) -> float:
        return statistics.median(self.samples[variant][operation]) * 1e6

    def added_per_seed(self, variant: str, operation: str) -> list[float] | None:
        if variant not in self.instructions or "bare" not in self.instructions:
            return None
        return instructions.added(self.instructions, variant, operation)

    def added_instructions(self, variant: str, operation: str) -> float | None:
        """The mean over the seeds."""
        per_seed = self.added_per_seed(variant, operation)
        return None if per_seed is None else statistics.fmean(per_seed)

    def added_us(self, variant: str, operation: str) -> float | None:
        if variant not in self.samples or operation not in self.samples[variant]:
            return None
        return self.overhead_us(variant, operation)

    def floor(self, operation: str, config: str, sampling: str) -> float | None:
        """The mean over the seeds."""
        if not self.floors:
            return None
        return floors.floor(floors.mean_over_seeds(self.floors), operation, config, sampling)

    def floor_ratios(self, variant: str, operation: str, config: str, sampling: str) -> list[float] | None:
        """Each seed's instructions added over its floor under the same seed (None unless both
        were counted under the same number of seeds)."""
        added = self.added_per_seed(variant, operation)
        if added is None or not self.floors or len(self.floors["recording"]["headers"]) != len(added):
            return None
        return [
            a / floors.floor(floors.at_seed(self.floors, i), operation, config, sampling)
            for i, a in enumerate(added)
        ]

    def median_import_ms(self, package: str, kind: str) -> float | None:
        runs = self.imports.get(package, {}).get(kind)
        return statistics.median(runs) * 1e3 if runs else None


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


def _cpu_lines(results: Results) -> list[str]:
    lines = [
        "",
        "## CPU time added per call, every variant and operation (microseconds)",
        "",
        f"{results.rounds} interleaved rounds of {results.calls} calls per variant and operation; "
        "`time.process_time` per call (export threads included); each figure is the median over "
        "rounds of (variant - bare botocore in the same round), ± half the interquartile range "
        "of those differences (noise); in parentheses the ratio to the official package in the "
        "same sampling mode.",
        "",
    ]
    header = ["variant", *(OP_TITLES[op] for op in OPERATIONS)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines.append(
        "| bare botocore (absolute, per call) | "
        + " | ".join(f"{results.median_us('bare', op):.0f}" for op in OPERATIONS)
        + " |"
    )
    for variant in results.variants:
        if variant == "bare" or variant not in results.samples:
            continue
        cells = []
        for op in OPERATIONS:
            overhead = results.overhead_us(variant, op)
            cell = f"{overhead:+.1f} ±{results.spread_us(variant, op):.0f}"
            official = official_counterpart(variant)
            if official in results.samples and not variant.startswith("official"):
                base = results.overhead_us(official, op)
                cell += f" ({overhead / base:.2f}x)" if base > 0 else ""
            cells.append(cell)
        lines.append(f"| {LABELS[variant]} | " + " | ".join(cells) + " |")
    return lines


def _import_lines(results: Results) -> list[str]:
    lines = [
        "",
        "## Import plus `instrument()`, every setting (milliseconds, median of fresh interpreters)",
        "",
        "`preloaded`: after what `opentelemetry-instrument` imports first (boto3, the SDK with its "
        "providers set, `opentelemetry.instrumentation.instrumentor`): the headline. `then a session`: "
        "the same, then `boto3.session.Session()` (botocore-otel builds its lifecycle with the first "
        "session, so what it leaves out of `instrument()` shows here). `warm`: boto3 and the SDK only. "
        "`cold`: a bare interpreter (botocore's import counted).",
        "",
        "`instructions`: of the preloaded figure's part, counted by callgrind in one process "
        "(they repeat within a fraction of a percent; system calls and cache misses are not in them).",
        "",
        "| package | preloaded | then a session | warm | cold | runs each | preloaded, instructions |",
        "|---|---|---|---|---|---|---|",
    ]
    for package, kinds in results.imports.items():
        cells = [
            f"{statistics.median(kinds[kind]) * 1e3:.1f}" if kinds.get(kind) else "-"
            for kind in ("preloaded", "then a session", "warm", "cold")
        ]
        counted = results.import_instructions.get(package)
        cells += [str(len(kinds["preloaded"])), "-" if counted is None else f"{counted / 1e6:.2f}M"]
        lines.append(f"| {package} | " + " | ".join(cells) + " |")
    for package, heavy in results.heavy_imports.items():
        listed = ", ".join(f"{name} {ms:.1f}" for name, ms in heavy)
        lines.append(
            f"\nHeaviest imports of the measured part, preloaded ({package}, `-X importtime`, ms): {listed}"
        )
    return lines


def _rss_lines(results: Results) -> list[str]:
    lines = [
        "",
        "## Memory over many calls (the four operations in turn)",
        "",
        "Measured at each point after the finished spans are exported (`force_flush`: until "
        "2026-12-06 the BatchSpanProcessor's queue, up to 2,048 spans, was measured at whatever "
        "fill it had) and a `gc.collect()`. Blocks: `sys.getallocatedblocks()`, the memory "
        "blocks of every live Python object; a leak of objects shows there whatever the "
        "allocator does with RSS.",
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
        lines.append(
            f"\n{LABELS.get(variant, 'bare botocore')}, every {every} calls: RSS (MiB) {rss}; blocks {blocks}"
        )
    return lines


def _capacity_lines(results: Results) -> list[str]:
    """What the ``capacity`` group adds over the defaults (issue 17), per operation."""
    rows = []
    for op in ("GetItem", "SendMessage"):
        with_group, defaults = (results.added_instructions(v, op) for v in ("otel-capacity", "otel"))
        cpu_group, cpu_defaults = (results.added_us(v, op) for v in ("otel-capacity", "otel"))
        instructions_cell = f"{(with_group - defaults) / 1e3:+.1f}k" if with_group and defaults else "-"
        cpu_cell = f"{cpu_group - cpu_defaults:+.1f}" if cpu_group is not None and cpu_defaults else "-"
        rows.append(f"| {OP_TITLES[op]} | {instructions_cell} | {cpu_cell} |")
    return [
        "",
        "## The capacity group: added over the defaults, recording",
        "",
        '`metrics="rpc,capacity"`, `dynamodb_consumed_capacity=True` (GetItem answered with its '
        "ConsumedCapacity, which is counted and removed) against `otel`; with the group off "
        "nothing of it is registered or imported.",
        "",
        "| operation | instructions per call | CPU time per call (µs) |",
        "|---|---|---|",
        *rows,
    ]


def report(results: Results, command: str) -> str:
    lines = [
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"({results.minutes:.0f} minutes)",
        f"Machine: {_machine()}",
        f"Versions: {_versions()}",
        f"Command: `{command}`",
        "",
    ]
    lines += headline_lines(results)
    lines += target_lines(results)
    if "otel-capacity" in results.instructions or "otel-capacity" in results.samples:
        lines += _capacity_lines(results)
    if results.samples:
        lines += _cpu_lines(results)
    if results.instructions:
        lines += instructions.report_lines(results.instructions, LABELS, results.window_calls)
    if results.floors:
        seeds = len(results.floors["recording"]["headers"])
        mean = floors.mean_over_seeds(results.floors)
        lines += ["", *floors.report_lines(mean, results.window_calls, seeds)]
    if results.imports:
        lines += _import_lines(results)
    if results.rss:
        lines += _rss_lines(results)
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines) + "\n"
