"""Extract every panel query of the dashboards, with Grafana variables substituted.

    python3 -m grafana.queries                      # print them (tab-separated)
    python3 -m grafana.queries --set service=s3     # with another value for a variable

``extract_queries()`` returns ``PanelQuery(dashboard, title, expr, rare_event, opt_in)`` for every
query of every panel: ready to send to Prometheus. ``rare_event`` is true for panels whose
description ends with ``grafana.conventions.RARE_MARK`` (cancelled calls, throttles, retries): an
empty result is normal for them. ``opt_in`` holds the metric groups the description says the panel
needs (``smithy``, ``phases``): empty unless the library runs with them. Every other query must
return data under a realistic workload with the default metric set.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from grafana.conventions import RARE_MARK, opt_in_groups

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"

# Values used for the template variables and Grafana's global variables. Multi-value variables
# with "All" get the same regex Grafana sends for All (allValue ".*"). Textbox, custom and
# constant variables (the cost dashboard's prices and synthetic filter) default to the value the
# dashboard itself selects (``dashboard_defaults``).
DEFAULT_VALUES: dict[str, str] = {
    "job": ".*",
    "region": ".*",
    "cloud_region": ".*",
    "app_component": ".*",
    "service": "DynamoDB",
    "operation": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}

_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


class PanelQuery(NamedTuple):
    dashboard: str  # file stem, e.g. "botocore-otel-overview"
    title: str  # panel title
    expr: str  # PromQL with variables substituted
    rare_event: bool  # an empty result is normal for this panel
    opt_in: frozenset[str] = frozenset()  # metric groups beyond the default the panel needs


class PanelTarget(NamedTuple):
    """One query of one panel, with what a renderer needs besides the expression."""

    dashboard: str
    panel: dict[str, Any]
    ref_id: str
    expr: str
    legend: str
    instant: bool
    rare_event: bool
    opt_in: frozenset[str]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]``; unknown names: KeyError."""

    def repl(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"no value for dashboard variable ${name}")
        return values[name]

    return _VAR.sub(repl, text)


def variables_in(text: str) -> set[str]:
    """Names of the dashboard variables referenced in ``text``."""
    return {next(g for g in m.groups() if g) for m in _VAR.finditer(text)}


def is_rare(panel: Mapping[str, Any]) -> bool:
    return str(panel.get("description", "")).rstrip().endswith(RARE_MARK)


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """File stem -> parsed dashboard JSON, for every ``*.json`` in ``directory``."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))}


def iter_panels(dash: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; row panels themselves excluded."""
    for panel in dash.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def dashboard_defaults(dash: Mapping[str, Any]) -> dict[str, str]:
    """The selected value of each textbox, custom and constant variable of ``dash``."""
    out = {}
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") in {"textbox", "custom", "constant"}:
            out[var["name"]] = str(var.get("current", {}).get("value", var.get("query", "")))
    return out


def iter_targets(
    dashboards: Mapping[str, Mapping[str, Any]] | None = None,
    values: Mapping[str, str] | None = None,
) -> Iterator[PanelTarget]:
    """Every Prometheus target of every panel, variables substituted."""
    for name, dash in (dashboards if dashboards is not None else load_dashboards()).items():
        merged = {**dashboard_defaults(dash), **DEFAULT_VALUES, **(values or {})}
        for panel in iter_panels(dash):
            for tgt in panel.get("targets", []):
                if "expr" not in tgt or tgt.get("hide"):
                    continue
                yield PanelTarget(
                    dashboard=name,
                    panel=panel,
                    ref_id=tgt.get("refId", "A"),
                    expr=substitute(tgt["expr"], merged),
                    legend=tgt.get("legendFormat", ""),
                    instant=bool(tgt.get("instant")) and not tgt.get("range"),
                    rare_event=is_rare(panel),
                    opt_in=opt_in_groups(str(panel.get("description", ""))),
                )


def extract_queries(
    dashboards: Mapping[str, Mapping[str, Any]] | None = None,
    values: Mapping[str, str] | None = None,
) -> list[PanelQuery]:
    """(dashboard, panel title, expr, rare_event, opt_in) for every query of every dashboard."""
    return [
        PanelQuery(t.dashboard, t.panel.get("title", ""), t.expr, t.rare_event, t.opt_in)
        for t in iter_targets(dashboards, values)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print every dashboard query, substituted.")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    values = dict(item.split("=", 1) for item in args.set)
    for q in extract_queries(values=values):
        needs = ",".join(sorted(q.opt_in)) or "-"
        print(f"{q.dashboard}\t{q.title}\t{'rare' if q.rare_event else '-'}\t{needs}\t{q.expr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
