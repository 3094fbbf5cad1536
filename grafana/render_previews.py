"""Render PNG previews of the dashboards from a live Prometheus, roughly as Grafana draws them.

    python3 -m grafana.render_previews --prometheus http://127.0.0.1:9090 [--minutes 15]

Runs every panel query (query_range over the last N minutes; instant queries for tables) with the
variables substituted as in ``grafana.queries`` and draws each dashboard's panel grid with
matplotlib into ``grafana/previews/<dashboard>.png``. Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from grafana.queries import DEFAULT_VALUES, iter_targets, load_dashboards, substitute

PREVIEW_DIR = Path(__file__).resolve().parent / "previews"
BG, PANEL_BG, FG, GRID = "#111217", "#181b1f", "#d8d9da", "#2c3235"
COLORS = {
    "green": "#73bf69",
    "yellow": "#fade2a",
    "red": "#f2495c",
    "orange": "#ff9830",
    "blue": "#5794f2",
    "purple": "#b877d9",
}
PALETTE = [
    "#73bf69",
    "#f2cc0c",
    "#8ab8ff",
    "#ff780a",
    "#f2495c",
    "#5794f2",
    "#b877d9",
    "#705da0",
    "#37872d",
    "#fade2a",
    "#447ebc",
    "#c15c17",
]
UNIT_H, WIDTH_IN = 0.36, 22.0


class Prometheus:
    """Minimal HTTP API client (only ever pointed at a local Prometheus)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def _get(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{path} {params.get('query')!r}: {exc.read().decode()}") from exc
        if body.get("status") != "success":
            raise RuntimeError(f"{path} failed: {body}")
        return list(body["data"]["result"])

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", {"query": expr, "time": str(at)})

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": str(start), "end": str(end), "step": str(step)}
        return self._get("/api/v1/query_range", params)


def fmt(value: float, unit: str) -> str:
    """A value formatted like Grafana's units (s, reqps, percentunit, short)."""
    if value is None or math.isnan(value):
        return "-"
    if unit == "percentunit":
        return f"{value * 100:.2f}%"
    if unit == "s":
        if value == 0:
            return "0 s"
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    if unit == "reqps":
        return f"{value:.3g} req/s"
    return f"{value:.3g}"


def legend(fmt_str: str, labels: Mapping[str, str]) -> str:
    if not fmt_str or fmt_str == "__auto":
        inner = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
        return "{" + inner + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt_str)


def threshold_colour(value: float, steps: list[dict[str, Any]]) -> str:
    colour = steps[0]["color"]
    for step in steps[1:]:
        if value is not None and not math.isnan(value) and value >= step["value"]:
            colour = step["color"]
    return COLORS.get(colour, colour)


def _style(ax: Any, title: str) -> None:
    ax.set_facecolor(PANEL_BG)
    ax.set_title(title, color=FG, fontsize=9, loc="left", fontweight="bold")
    ax.tick_params(colors=FG, labelsize=7)
    for spine in ax.spines.values():
        spine.set_color(GRID)


def _no_data(ax: Any) -> None:
    ax.text(
        0.5,
        0.5,
        "No data",
        color="#8e8e8e",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=11,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _series(results: list[dict[str, Any]]) -> list[tuple[dict[str, str], list[float], list[float]]]:
    out = []
    for r in results:
        xs = [float(t) for t, _ in r["values"]]
        ys = [float(v) for _, v in r["values"]]
        out.append((r["metric"], xs, ys))
    return out


def draw_timeseries(ax: Any, panel: dict[str, Any], data: list[tuple[str, list[Any]]]) -> None:
    from matplotlib import dates as mdates
    from matplotlib.ticker import FuncFormatter

    defaults = panel["fieldConfig"]["defaults"]
    unit = defaults.get("unit", "short")
    stacked = defaults.get("custom", {}).get("stacking", {}).get("mode") == "normal"
    lines = [(legend(lf, m), xs, ys) for lf, res in data for m, xs, ys in _series(res)]
    if not lines:
        _no_data(ax)
        return
    lines = lines[:12]
    if stacked:
        grid = sorted({x for _, xs, _ in lines for x in xs})
        stacks = [[dict(zip(xs, ys, strict=True)).get(x, 0.0) for x in grid] for _, xs, ys in lines]
        ax.stackplot(
            [datetime.fromtimestamp(x) for x in grid],
            stacks,
            labels=[n for n, _, _ in lines],
            colors=PALETTE[: len(lines)],
            alpha=0.8,
        )
    else:
        for i, (name, xs, ys) in enumerate(lines):
            ax.plot(
                [datetime.fromtimestamp(x) for x in xs],
                ys,
                label=name,
                lw=1.2,
                color=PALETTE[i % len(PALETTE)],
            )
    if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode") not in (None, "off"):
        top = ax.get_ylim()[1]
        for step in defaults["thresholds"]["steps"][1:]:
            if step["value"] <= top:
                ax.axhline(step["value"], color=COLORS.get(step["color"], step["color"]), ls="--", lw=0.8)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, unit)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.grid(color=GRID, lw=0.5)
    ax.legend(
        loc="upper left",
        fontsize=6,
        ncol=2 if len(lines) > 4 else 1,
        facecolor=PANEL_BG,
        edgecolor=GRID,
        labelcolor=FG,
        framealpha=0.7,
    )


def draw_stat(ax: Any, panel: dict[str, Any], data: list[tuple[str, list[Any]]]) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    series = _series(data[0][1]) if data else []
    if not series:
        _no_data(ax)
        return
    ys = series[0][2]
    value = ys[-1]
    ax.set_facecolor(threshold_colour(value, defaults["thresholds"]["steps"]))
    ax.fill_between(range(len(ys)), ys, color="white", alpha=0.18)
    top = max((y for y in ys if not math.isnan(y)), default=1.0)
    ax.set_ylim(0, (top or 1.0) * 2.2)
    ax.text(
        0.5,
        0.55,
        fmt(value, defaults.get("unit", "short")),
        color="white",
        fontsize=18,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontweight="bold",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def draw_table(ax: Any, panel: dict[str, Any], data: list[tuple[str, list[Any]]]) -> None:
    organize = next(t for t in panel["transformations"] if t["id"] == "organize")["options"]
    rename = organize["renameByName"]
    hidden = {
        o["matcher"]["options"]
        for o in panel["fieldConfig"]["overrides"]
        if any(p["id"] == "custom.hidden" for p in o["properties"])
    }
    units = {
        o["matcher"]["options"]: p["value"]
        for o in panel["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "unit"
    }
    rows: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
    for ref, results in data:
        for r in results:
            key = tuple(sorted((k, v) for k, v in r["metric"].items() if k not in hidden))
            rows.setdefault(key, {})[rename[f"Value #{ref}"]] = float(r["value"][1])
    if not rows:
        _no_data(ax)
        return
    value_cols = [rename[f"Value #{ref}"] for ref, _ in data]
    label_cols = sorted({k for key in rows for k, _ in key})
    sort_by = panel["options"]["sortBy"][0]["displayName"]
    ordered = sorted(rows.items(), key=lambda kv: -(kv[1].get(sort_by) or 0))[:10]
    cells = [
        [dict(key).get(c, "") for c in label_cols]
        + [fmt(vals.get(c, math.nan), units.get(c, "short")) for c in value_cols]
        for key, vals in ordered
    ]
    ax.axis("off")
    tbl = ax.table(
        cellText=cells,
        colLabels=label_cols + value_cols,
        loc="upper center",
        cellLoc="left",
        colLoc="left",
    )
    tbl.auto_set_font_size(False)
    tbl.set_fontsize(7)
    for (row, _), cell in tbl.get_celld().items():
        cell.set_facecolor(PANEL_BG if row else "#22252b")
        cell.set_edgecolor(GRID)
        cell.get_text().set_color(FG)


def draw_heatmap(ax: Any, panel: dict[str, Any], data: list[tuple[str, list[Any]]]) -> None:
    import numpy as np

    series = _series(data[0][1]) if data else []
    if not series:
        _no_data(ax)
        return
    series.sort(key=lambda s: float(s[0].get("le", "inf")))
    grid = sorted({x for _, xs, _ in series for x in xs})
    cum = np.array([[dict(zip(xs, ys, strict=True)).get(x, 0.0) for x in grid] for _, xs, ys in series])
    per_bucket = np.diff(np.vstack([np.zeros(len(grid)), cum]), axis=0).clip(min=0)
    ax.imshow(np.sqrt(per_bucket), aspect="auto", origin="lower", cmap="Oranges", interpolation="nearest")
    bounds = [s[0].get("le", "") for s in series]
    ax.set_yticks(range(len(bounds)))
    ax.set_yticklabels([fmt(float(b), "s") if b != "+Inf" else "+Inf" for b in bounds], fontsize=6)
    ticks = list(range(0, len(grid), max(1, len(grid) // 6)))
    ax.set_xticks(ticks)
    ax.set_xticklabels([time.strftime("%H:%M", time.localtime(grid[i])) for i in ticks])


def draw_text(ax: Any, panel: dict[str, Any], _data: list[tuple[str, list[Any]]]) -> None:
    """A markdown text panel, as plain wrapped paragraphs."""
    import textwrap

    paragraphs = re.sub(r"[*`]", "", panel["options"]["content"]).split("\n\n")
    chars = int(WIDTH_IN * panel["gridPos"]["w"] / 24 / 0.062)
    text = "\n\n".join(textwrap.fill(" ".join(p.split()), chars) for p in paragraphs)
    ax.text(0.01, 0.97, text, color=FG, fontsize=7, va="top", ha="left", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


DRAW = {
    "text": draw_text,
    "timeseries": draw_timeseries,
    "stat": draw_stat,
    "table": draw_table,
    "heatmap": draw_heatmap,
}


def render(
    prom: Prometheus,
    name: str,
    dash: dict[str, Any],
    minutes: int,
    values: Mapping[str, str],
    out_dir: Path,
    *,
    end: float | None = None,
) -> Path:
    """Draw ``dash`` over the ``minutes`` before ``end`` (default: now) into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    end = time.time() if end is None else end
    start = end - minutes * 60
    step = max(5.0, minutes * 60 / 240)
    merged = {**DEFAULT_VALUES, **values}
    results: dict[int, list[tuple[str, list[Any]]]] = {}
    for t in iter_targets({name: dash}, values):
        res = prom.query(t.expr, end) if t.instant else prom.query_range(t.expr, start, end, step)
        results.setdefault(t.panel["id"], []).append((t.ref_id, res) if t.instant else (t.legend, res))
    panels = dash["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(WIDTH_IN, rows * UNIT_H + 0.8), facecolor=BG)
    height = rows * UNIT_H + 0.8
    fig.text(
        0.01,
        1 - 0.3 / height,
        f"{dash['title']}   ({minutes} min, "
        + ", ".join(f"{k}={v}" for k, v in merged.items() if not k.startswith("__"))
        + ")",
        color=FG,
        fontsize=13,
        fontweight="bold",
        va="top",
    )
    for panel in panels:
        g = panel["gridPos"]
        top = (0.7 + g["y"] * UNIT_H) / height
        if panel["type"] == "row":
            fig.text(
                0.008,
                1 - top - 0.5 * UNIT_H / height,
                substitute(panel["title"], merged),
                color=FG,
                fontsize=11,
                fontweight="bold",
                va="center",
            )
            continue
        bare = panel["type"] in ("stat", "table", "text")  # no axis labels to leave room for
        pad_left = 0.006 if bare else 0.035
        box_top = 0.7 + g["y"] * UNIT_H + 0.3  # inches from the top, below the panel title
        box_bottom = 0.7 + (g["y"] + g["h"]) * UNIT_H - (0.08 if bare else 0.35)
        left = g["x"] / 24 + pad_left
        width = g["w"] / 24 - pad_left - 0.006
        bottom = 1 - box_bottom / height
        h = (box_bottom - box_top) / height
        ax = fig.add_axes((left, bottom, width, h))
        _style(ax, panel["title"])
        DRAW[panel["type"]](ax, panel, results.get(panel["id"], []))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=80, facecolor=BG)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render dashboard previews from Prometheus.")
    parser.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=int, default=15, help="time range to draw")
    parser.add_argument("--out", type=Path, default=PREVIEW_DIR)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="variable value, e.g. service=s3 (default: grafana.queries)",
    )
    args = parser.parse_args(argv)
    values = dict(item.split("=", 1) for item in args.set)
    prom = Prometheus(args.prometheus)
    for name, dash in load_dashboards().items():
        print(render(prom, name, dash, args.minutes, values, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
