"""Plain-dict builders for Grafana dashboard JSON (schemaVersion 39, Grafana 11).

No dependency beyond the standard library. Every builder returns a dict that is written to the
dashboard JSON as is; ``Layout`` hands out panel ids and grid positions in reading order.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

# Datasource uids: deploy/grafana/provisioning/datasources/datasources.yaml defines the same uids.
PROMETHEUS_UID = "prometheus"
TEMPO_UID = "tempo"
DS_PROMETHEUS = {"type": "prometheus", "uid": PROMETHEUS_UID}
DS_TEMPO = {"type": "tempo", "uid": TEMPO_UID}

# A panel whose description ends with this sentence shows a rare event (cancelled calls,
# throttles...): an empty result is normal there. grafana/queries.py reports it as rare_event.
RARE_MARK = "Rare event: this panel is often empty."

Panel = dict[str, Any]
GRID_WIDTH = 24


def target(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    fmt: str = "time_series",
    exemplar: bool = False,
) -> dict[str, Any]:
    """One Prometheus query of a panel (refIds are assigned by the panel builder)."""
    return {
        "datasource": DS_PROMETHEUS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": fmt,
        "exemplar": exemplar,
    }


def thresholds(base: str, *steps: tuple[float, str]) -> dict[str, Any]:
    """Absolute thresholds: ``base`` colour below the first step, then each (value, colour)."""
    out: list[dict[str, Any]] = [{"color": base, "value": None}]
    out += [{"color": colour, "value": value} for value, colour in steps]
    return {"mode": "absolute", "steps": out}


def _with_refids(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"refId": chr(ord("A") + i), **t} for i, t in enumerate(targets)]


def _describe(description: str, rare: bool) -> str:
    return f"{description} {RARE_MARK}" if rare else description


def _base(kind: str, title: str, description: str, targets: list[dict[str, Any]]) -> Panel:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS_PROMETHEUS,
        "targets": _with_refids(targets),
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    steps: dict[str, Any],
    stack: bool = False,
    links: list[dict[str, Any]] | None = None,
    rare: bool = False,
    decimals: int | None = None,
    show_thresholds: bool = False,
) -> Panel:
    """A time series panel; ``stack`` stacks the series (used for the phase breakdown)."""
    defaults: dict[str, Any] = {
        "unit": unit,
        "min": 0,
        "color": {"mode": "palette-classic"},
        "thresholds": steps,
        "links": links or [],
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 60 if stack else 10,
            "gradientMode": "none",
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "dashed" if show_thresholds else "off"},
        },
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    panel = _base("timeseries", title, _describe(description, rare), targets)
    panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
    panel["options"] = {
        "legend": {
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
            "calcs": ["mean", "max"],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel


def stat(
    title: str,
    description: str,
    expr: str,
    *,
    unit: str,
    steps: dict[str, Any],
    decimals: int | None = None,
) -> Panel:
    """A single-number panel coloured by its thresholds, with a sparkline."""
    defaults: dict[str, Any] = {"unit": unit, "thresholds": steps, "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    panel = _base("stat", title, description, [target(expr)])
    panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
    panel["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "area",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    return panel


def table(
    title: str,
    description: str,
    columns: list[tuple[str, str, str]],
    *,
    sort_by: str,
    steps: dict[str, Any],
    hide: tuple[str, ...] = (),
    links: dict[str, list[dict[str, Any]]] | None = None,
) -> Panel:
    """An instant-query table: ``columns`` are (header, unit, expr); rows are merged on labels.

    ``hide`` columns stay in the data (usable by data links as ``${__data.fields.x}``) but are not
    shown.
    """
    targets = [target(expr, instant=True, fmt="table") for _, _, expr in columns]
    panel = _base("table", title, description, targets)
    rename = {f"Value #{chr(ord('A') + i)}": header for i, (header, _, _) in enumerate(columns)}
    overrides = [
        {
            "matcher": {"id": "byName", "options": header},
            "properties": [{"id": "unit", "value": unit}],
        }
        for header, unit, _ in columns
    ]
    overrides += [
        {
            "matcher": {"id": "byName", "options": field},
            "properties": [{"id": "custom.hidden", "value": True}],
        }
        for field in hide
    ]
    for field, field_links in (links or {}).items():
        overrides.append(
            {
                "matcher": {"id": "byName", "options": field},
                "properties": [{"id": "links", "value": field_links}],
            }
        )
    panel["fieldConfig"] = {
        "defaults": {
            "unit": columns[0][1],
            "thresholds": steps,
            "color": {"mode": "thresholds"},
            "custom": {"align": "auto", "cellOptions": {"type": "auto"}},
        },
        "overrides": overrides,
    }
    panel["options"] = {
        "showHeader": True,
        "cellHeight": "sm",
        "sortBy": [{"displayName": sort_by, "desc": True}],
    }
    panel["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": rename}},
        {"id": "sortBy", "options": {"sort": [{"field": sort_by, "desc": True}]}},
    ]
    return panel


def heatmap(title: str, description: str, expr: str, *, steps: dict[str, Any]) -> Panel:
    """A latency heatmap from cumulative ``_bucket`` rates (Grafana de-cumulates them)."""
    panel = _base("heatmap", title, description, [target(expr, "{{le}}", fmt="heatmap", exemplar=True)])
    panel["fieldConfig"] = {
        "defaults": {
            "unit": "reqps",
            "thresholds": steps,
            "custom": {
                "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                "scaleDistribution": {"type": "linear"},
            },
        },
        "overrides": [],
    }
    panel["options"] = {
        "calculate": False,
        "cellGap": 1,
        "yAxis": {"axisPlacement": "left", "unit": "s", "reverse": False},
        "rowsFrame": {"layout": "auto"},
        "color": {
            "mode": "scheme",
            "scheme": "Oranges",
            "fill": "dark-orange",
            "scale": "exponential",
            "exponent": 0.5,
            "steps": 64,
            "reverse": False,
        },
        "filterValues": {"le": 1e-9},
        "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
        "legend": {"show": True},
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
    }
    return panel


def explore_tempo_link(title: str, traceql: str) -> dict[str, Any]:
    """A data link opening Grafana Explore on the Tempo datasource with a TraceQL query.

    Grafana variables (``${__field.labels.x}``, ``${__value.raw}``, ``${__from}``) are left
    unescaped in the URL so that Grafana interpolates them before following the link.
    """
    pane = {
        "datasource": TEMPO_UID,
        "queries": [
            {
                "refId": "A",
                "datasource": DS_TEMPO,
                "queryType": "traceql",
                "query": traceql,
                "limit": 20,
            }
        ],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    encoded = quote(json.dumps({"traces": pane}, separators=(",", ":")), safe="")
    encoded = re.sub(r"%24%7B([A-Za-z0-9_.:]+)%7D", r"${\1}", encoded)
    return {
        "title": title,
        "url": f"/explore?schemaVersion=1&orgId=1&panes={encoded}",
        "targetBlank": True,
    }


def dashboard_link(title: str, uid: str, query: str) -> dict[str, Any]:
    """A data link to another dashboard, keeping the time range (``query`` sets variables)."""
    return {"title": title, "url": f"/d/{uid}?${{__url_time_range}}&{query}"}


def variable(
    name: str, label: str, query: str, *, multi: bool, include_all: bool, description: str
) -> dict[str, Any]:
    """A Prometheus query variable (``label_values(...)``), refreshed on time-range change."""
    return {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": DS_PROMETHEUS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "multi": multi,
        "includeAll": include_all,
        "allValue": ".*" if include_all else None,
        "current": {},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


class Layout:
    """Hands out panel ids and packs panels left to right into rows of 24 grid units."""

    def __init__(self) -> None:
        self.panels: list[Panel] = []
        self._x = 0
        self._y = 0
        self._row_height = 0

    def add(self, panel: Panel, width: int, height: int) -> None:
        if self._x + width > GRID_WIDTH:
            self.newline()
        panel = {
            "id": len(self.panels) + 1,
            **panel,
            "gridPos": {"h": height, "w": width, "x": self._x, "y": self._y},
        }
        self.panels.append(panel)
        self._x += width
        self._row_height = max(self._row_height, height)

    def row(self, title: str) -> None:
        """A (non-collapsible, always open) row header."""
        self.newline()
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self._y},
            }
        )
        self._y += 1

    def newline(self) -> None:
        self._y += self._row_height
        self._x = 0
        self._row_height = 0


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    variables: list[dict[str, Any]],
    tags: list[str],
) -> dict[str, Any]:
    """The dashboard envelope, with a dropdown of links to the other botocore-otel dashboards."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "botocore-otel",
                "type": "dashboards",
                "tags": ["botocore-otel"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "panels": layout.panels,
    }
