"""The headline table (each op, defaults and ``all``, both sampling modes, side by side) and the
targets of issue 13, met or missed. Speed never fails a run: a miss is printed, not raised."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING

import instructions  # benchmarks/, on sys.path as the script's folder

if TYPE_CHECKING:
    from results import Results

HEADLINE_OPS = ("GetItem", "SendMessage")
# (metrics configuration, sampling) -> botocore-otel's variant
CONFIG_VARIANTS = {
    ("defaults", "recording"): "otel",
    ("defaults", "unsampled"): "otel-unsampled",
    ("all", "recording"): "otel-all",
    ("all", "unsampled"): "otel-unsampled-all",
}
OFFICIAL = {"recording": "official", "unsampled": "official-unsampled"}
SAMPLING_TITLES = {"recording": "recording", "unsampled": "not sampled"}
# Instructions added over bare botocore, defaults, against the official package in the same mode.
VS_OFFICIAL = {("GetItem", "recording"): 0.8, ("GetItem", "unsampled"): 0.8}
VS_OFFICIAL.update({("SendMessage", "recording"): 1.0, ("SendMessage", "unsampled"): 1.0})
VS_FLOOR = 1.15
IMPORT_VS_OFFICIAL = 0.5
IMPORT_RUNS = 7
HEADLINE_IMPORT = "botocore-otel, Instrumentor().instrument()"  # a package of run.py's import figures
RSS_FLAT_KIB = 1024  # RSS growth allowed over the last half of the run


def _ratio(value: float | None, base: float | None) -> float | None:
    """None when a figure is missing, or noise left the base at zero or below."""
    if value is None or base is None or base <= 0:
        return None
    return value / base


def _k(value: float | None, sign: str = "+") -> str:
    return "-" if value is None else f"{value / 1e3:{sign}.0f}k"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _ratio_range(ratio: float | None, per_seed: list[float] | None) -> str:
    """The ratio of the means, then the lowest and highest seed's when there are several."""
    if ratio is None:
        return "-"
    if not per_seed or len(per_seed) < 2:
        return _x(ratio)
    return f"{_x(ratio)} ({min(per_seed):.2f} to {max(per_seed):.2f})"


def _added(results: Results, variant: str, op: str) -> str:
    per_seed = results.added_per_seed(variant, op)
    return "-" if per_seed is None else _k(statistics.fmean(per_seed)) + instructions.spread(per_seed)


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    if value < 0:
        return "noise (negative)"
    return "met" if value <= target else "**MISSED**"


def headline_lines(results: Results) -> list[str]:
    if not (results.instructions or results.samples):
        return []
    seeds = len(results.instructions["bare"]["GetItem"]) if results.instructions else 0
    counted = (
        f"Instructions: callgrind, {results.window_calls} calls a window, the mean over {seeds} hash "
        "seeds (one process each; in brackets, the lowest and highest seed's: a process's memory "
        "layout moves CPython's own costs, see `instructions.py`); the targets are set on them."
        if results.instructions
        else "Instructions and floors: not measured in this run (`--quick`, or no valgrind)."
    )
    lines = [
        "## Per call, side by side",
        "",
        f"{counted} CPU: microseconds of `time.process_time`, median over {results.rounds} "
        "interleaved rounds (±30 % on this shared machine). Both are added over bare botocore; the "
        "official package records no metrics, so the same figure serves both metric settings. "
        "Floor: the parts no tracer can drop for that configuration (`floors.py`; instructions).",
        "",
        "| op | metrics | sampling | instructions | official | ratio | floor | ratio to floor "
        "| CPU µs | official µs | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in HEADLINE_OPS:
        for (config, sampling), variant in CONFIG_VARIANTS.items():
            ours, theirs = (
                results.added_instructions(variant, op),
                results.added_instructions(OFFICIAL[sampling], op),
            )
            floor = results.floor(op, config, sampling)
            to_floor = _ratio_range(_ratio(ours, floor), results.floor_ratios(variant, op, config, sampling))
            cpu, cpu_official = results.added_us(variant, op), results.added_us(OFFICIAL[sampling], op)
            cells = [
                op,
                config,
                SAMPLING_TITLES[sampling],
                _added(results, variant, op),
                _added(results, OFFICIAL[sampling], op),
                _x(_ratio(ours, theirs)),
                _k(floor, sign=""),
                to_floor,
                _us(cpu),
                _us(cpu_official),
                _x(_ratio(cpu, cpu_official)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if "bare" in results.instructions:
        bare = ", ".join(
            f"{op} {statistics.fmean(results.instructions['bare'][op]) / 1e6:.2f}M" for op in HEADLINE_OPS
        )
        lines += ["", f"Bare botocore, instructions per call: {bare}."]
    return lines + _in_request_lines(results)


def _in_request_lines(results: Results) -> list[str]:
    """The defaults when a request's span is current, as in a served application: each span
    then has a parent, and each recording call's duration an exemplar (which the SDK takes
    from the call's span with or without a parent)."""
    if "otel-in-request" not in results.instructions:
        return []
    lines = [
        "",
        "In a request's span (a server span current, as in a served application), defaults, "
        "instructions added over bare botocore:",
        "",
        "| op | sampling | ours | official | ratio | ours at top level |",
        "|---|---|---|---|---|---|",
    ]
    for op in HEADLINE_OPS:
        for sampling, variant in (("recording", "otel"), ("unsampled", "otel-unsampled")):
            ours = results.added_instructions(variant + "-in-request", op)
            theirs = results.added_instructions(OFFICIAL[sampling] + "-in-request", op)
            cells = [op, SAMPLING_TITLES[sampling], _k(ours), _k(theirs), _x(_ratio(ours, theirs))]
            lines.append("| " + " | ".join([*cells, _k(results.added_instructions(variant, op))]) + " |")
    return lines


def _rss_growth_kib(results: Results, variant: str) -> float | None:
    points = results.rss.get(variant)
    if not points or len(points) < 3:
        return None
    calls = points[-1][0]
    half = min(points, key=lambda p: abs(p[0] - calls // 2))
    return (points[-1][1] - half[1]) / 1024


def target_lines(results: Results) -> list[str]:
    lines = [
        "",
        "## Targets (issue 13; defaults, instructions)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]

    def row(title: str, measured: str, verdict: str) -> None:
        lines.append(f"| {title} | {measured} | {verdict} |")

    for (op, sampling), target in VS_OFFICIAL.items():
        variant = CONFIG_VARIANTS[("defaults", sampling)]
        official = results.added_instructions(OFFICIAL[sampling], op)
        ratio = _ratio(results.added_instructions(variant, op), official)
        verdict = _verdict(ratio, target)
        floor = results.floor(op, "defaults", sampling)
        if official is not None and floor is not None and target * official < floor:
            allowed = _k(target * official, "")
            verdict += f" (allowed {allowed} is under the floor, {_k(floor, '')}: unreachable)"
        ours_s, theirs_s = results.added_per_seed(variant, op), results.added_per_seed(OFFICIAL[sampling], op)
        per_seed = [a / b for a, b in zip(ours_s, theirs_s, strict=True)] if ours_s and theirs_s else None
        title = f"{op}, {SAMPLING_TITLES[sampling]}: <= {target}x the official package"
        row(title, _ratio_range(ratio, per_seed), verdict)
    for op in HEADLINE_OPS:
        for sampling in ("recording", "unsampled"):
            variant = CONFIG_VARIANTS[("defaults", sampling)]
            ratio = _ratio(results.added_instructions(variant, op), results.floor(op, "defaults", sampling))
            per_seed = results.floor_ratios(variant, op, "defaults", sampling)
            row(
                f"{op}, {SAMPLING_TITLES[sampling]}: within {VS_FLOOR}x of its floor",
                _ratio_range(ratio, per_seed),
                _verdict(ratio, VS_FLOOR),
            )
    _import_row(results, row)
    growth = _rss_growth_kib(results, "otel")
    bare = _rss_growth_kib(results, "bare")
    calls = results.rss["otel"][-1][0] if "otel" in results.rss else 0
    measured = "-" if growth is None else f"{growth:+.0f} KiB over the last half (bare: {bare:+.0f} KiB)"
    verdict = "not measured" if growth is None else "met" if growth <= RSS_FLAT_KIB else "**MISSED**"
    row(f"RSS over {calls or 200000} calls: flat (last half grows <= {RSS_FLAT_KIB} KiB)", measured, verdict)
    return lines


def _import_row(results: Results, row: Callable[[str, str, str], None]) -> None:
    ours, theirs = results.imports.get(HEADLINE_IMPORT), results.imports.get("official")
    title = (
        f"`Instrumentor().instrument()`, opentelemetry-instrumentation preloaded: <= {IMPORT_VS_OFFICIAL}x "
        f"the official package's (median of >= {IMPORT_RUNS} fresh processes)"
    )
    if not ours or not theirs:
        row(title, "-", "not measured")
        return
    mine, official = statistics.median(ours["preloaded"]), statistics.median(theirs["preloaded"])
    ratio = mine / official
    runs = len(ours["preloaded"])
    verdict = _verdict(ratio, IMPORT_VS_OFFICIAL)
    if runs < IMPORT_RUNS:
        verdict += f" (only {runs} runs: indicative)"
    measured = f"{mine * 1e3:.1f} ms vs {official * 1e3:.1f} ms: {ratio:.2f}x"
    session_ours, session_official = ours.get("then a session"), theirs.get("then a session")
    if session_ours and session_official:
        mine_s, official_s = statistics.median(session_ours), statistics.median(session_official)
        measured += f" (then a session: {mine_s * 1e3:.1f} ms vs {official_s * 1e3:.1f} ms)"
    counted, counted_official = (results.import_instructions.get(p) for p in (HEADLINE_IMPORT, "official"))
    if counted and counted_official:
        ratio_counted = counted / counted_official
        millions = f"{counted / 1e6:.1f}M vs {counted_official / 1e6:.1f}M"
        measured += f" (instructions: {millions}, {ratio_counted:.2f}x)"
    row(title, measured, verdict)
