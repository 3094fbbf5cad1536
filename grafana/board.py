"""The dashboard envelope: panels in reading order, ids, grid positions and JSON output.

The SDK's ``Dashboard.with_panel`` packs panels left to right and wraps a row once it is full;
``Board`` adds what it leaves to the caller: a width and height per panel, a wrap before a panel
that would not fit, and panel ids in reading order.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as b_dash
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as m_dash

from grafana.conventions import PROMETHEUS_UID
from grafana.panels import PanelBuilder

GRID_WIDTH = 24


class Board:
    """One dashboard under construction (``add`` panels, open ``row`` headers, then ``build``)."""

    def __init__(
        self, *, uid: str, title: str, description: str, tags: list[str], datasource_variable: str = ""
    ) -> None:
        self._datasource_variable = datasource_variable
        self._dash = (
            b_dash.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(tags)
            .editable()
            .tooltip(m_dash.DashboardCursorSync.CROSSHAIR)
            .version(1)
            .timezone("browser")
            .refresh("30s")
            .time("now-1h", "now")
            .fiscal_year_start_month(0)
            .live_now(False)
            .annotation(
                b_dash.AnnotationQuery()
                .name("Annotations & Alerts")
                .datasource(m_dash.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
                .built_in(1)
                .enable(True)
                .hide(True)
                .icon_color("rgba(0, 211, 255, 1)")
                .type("dashboard")
            )
            .link(
                b_dash.DashboardLink("botocore-otel")
                .type(m_dash.DashboardLinkType.DASHBOARDS)
                .tags(["botocore-otel"])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
                .icon("external link")
                .target_blank(False)
                .tooltip("")
                .url("")
            )
        )
        self._ids = 0
        self._x = 0

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add(self, panel: PanelBuilder, width: int, height: int) -> None:
        if self._x + width > GRID_WIDTH:
            raise ValueError(f"a panel {width} wide does not fit after x={self._x}: fill the row")
        self._dash.with_panel(panel.id(self._next_id()).span(width).height(height))  # type: ignore[attr-defined]
        self._x = (self._x + width) % GRID_WIDTH

    def row(self, title: str) -> None:
        """A (non-collapsible, always open) row header."""
        if self._x:
            raise ValueError(f"row {title!r} starts inside a partly filled row")
        self._dash.with_row(b_dash.Row(title).id(self._next_id()).collapsed(False))

    def variables(self, variables: list[Builder[m_dash.VariableModel]]) -> None:
        self._dash.variables(list(variables))

    def build(self) -> dict[str, Any]:
        """The dashboard as plain JSON data, as written to grafana/dashboards/.

        With ``datasource_variable``, every reference to the provisioned Prometheus uid names the
        variable instead (``${datasource}``), so that the dashboard follows its datasource picker.
        """
        text = json.dumps(self._dash.build(), cls=JSONEncoder)
        if self._datasource_variable:
            fixed = json.dumps({"type": "prometheus", "uid": PROMETHEUS_UID})
            chosen = json.dumps({"type": "prometheus", "uid": f"${{{self._datasource_variable}}}"})
            text = text.replace(fixed, chosen)
        data: dict[str, Any] = json.loads(text)
        return data
