"""Panel, link and variable builders on ``grafana-foundation-sdk`` (Grafana 11.3 flavour).

The SDK models Grafana's schema (schemaVersion 39); these functions fix this repository's
choices (datasources, units, legends, colours) so that the dashboards stay short. A dev-time
dependency only: nothing in ``src/`` imports it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from grafana_foundation_sdk.builders import common as b_common
from grafana_foundation_sdk.builders import dashboard as b_dash
from grafana_foundation_sdk.builders import heatmap as b_heatmap
from grafana_foundation_sdk.builders import prometheus as b_prom
from grafana_foundation_sdk.builders import stat as b_stat
from grafana_foundation_sdk.builders import table as b_table
from grafana_foundation_sdk.builders import text as b_text
from grafana_foundation_sdk.builders import timeseries as b_ts
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common, prometheus
from grafana_foundation_sdk.models import dashboard as m_dash
from grafana_foundation_sdk.models import heatmap as m_heatmap
from grafana_foundation_sdk.models import text as m_text

from grafana.conventions import PROMETHEUS_UID, RARE_MARK, TEMPO_UID, opt_in_sentence
from grafana.promql import srate

DS_PROMETHEUS = m_dash.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
DS_TEMPO = {"type": "tempo", "uid": TEMPO_UID}

PanelBuilder = Builder[m_dash.Panel]
Link = Builder[m_dash.DashboardLink]
Thresholds = b_dash.ThresholdsConfig


def target(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    fmt: prometheus.PromQueryFormat = prometheus.PromQueryFormat.TIME_SERIES,
    exemplar: bool = False,
) -> b_prom.Dataquery:
    """One Prometheus query of a panel (refIds are assigned by the panel builder)."""
    query = (
        b_prom.Dataquery()
        .datasource(DS_PROMETHEUS)
        .editor_mode(prometheus.QueryEditorMode.CODE)
        .expr(expr)
        .legend_format(legend or "__auto")
        .format(fmt)
        .exemplar(exemplar)
    )
    return query.instant() if instant else query.range()


def thresholds(base: str, *steps: tuple[float, str]) -> Thresholds:
    """Absolute thresholds: ``base`` colour below the first step, then each (value, colour)."""
    out = [m_dash.Threshold(value=None, color=base)]
    out += [m_dash.Threshold(value=value, color=colour) for value, colour in steps]
    return b_dash.ThresholdsConfig().mode(m_dash.ThresholdsMode.ABSOLUTE).steps(out)


def describe(description: str, *, rare: bool = False, needs: tuple[str, ...] = ()) -> str:
    """The panel description with the conventions' sentences (opt-in groups, rare event)."""
    parts = [description]
    if needs:
        parts.append(opt_in_sentence(needs))
    if rare:
        parts.append(RARE_MARK)
    return " ".join(parts)


def _add_targets(panel: Any, targets: list[b_prom.Dataquery]) -> None:
    for i, query in enumerate(targets):
        panel.with_target(query.ref_id(chr(ord("A") + i)))


def timeseries(
    title: str,
    description: str,
    targets: list[b_prom.Dataquery],
    *,
    unit: str,
    steps: Thresholds,
    stack: bool = False,
    links: list[Link] | None = None,
    rare: bool = False,
    needs: tuple[str, ...] = (),
    decimals: int | None = None,
    show_thresholds: bool = False,
) -> b_ts.Panel:
    """A time series panel; ``stack`` stacks the series (used for the phase breakdown)."""
    panel = (
        b_ts.Panel()
        .title(title)
        .description(describe(description, rare=rare, needs=needs))
        .datasource(DS_PROMETHEUS)
        .unit(unit)
        .min(0)
        .color_scheme(b_dash.FieldColor().mode(m_dash.FieldColorModeId.PALETTE_CLASSIC))
        .thresholds(steps)
        .data_links(links or [])
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(60 if stack else 10)
        .gradient_mode(common.GraphGradientMode.NONE)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(
            b_common.StackingConfig()
            .mode(common.StackingMode.NORMAL if stack else common.StackingMode.NONE)
            .group("A")
        )
        .thresholds_style(
            b_common.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
                if show_thresholds
                else common.GraphThresholdsStyleMode.OFF
            )
        )
        .legend(
            b_common.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max"])
        )
        .tooltip(
            b_common.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if decimals is not None:
        panel.decimals(decimals)
    _add_targets(panel, targets)
    return panel


def stat(
    title: str,
    description: str,
    expr: str,
    *,
    unit: str,
    steps: Thresholds,
    decimals: int | None = None,
    needs: tuple[str, ...] = (),
) -> b_stat.Panel:
    """A single-number panel coloured by its thresholds, with a sparkline."""
    panel = (
        b_stat.Panel()
        .title(title)
        .description(describe(description, needs=needs))
        .datasource(DS_PROMETHEUS)
        .unit(unit)
        .thresholds(steps)
        .color_scheme(b_dash.FieldColor().mode(m_dash.FieldColorModeId.THRESHOLDS))
        .reduce_options(b_common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.AUTO)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO)
    )
    if decimals is not None:
        panel.decimals(decimals)
    _add_targets(panel, [target(expr)])
    return panel


def table(
    title: str,
    description: str,
    columns: list[tuple[str, str, str]],
    *,
    sort_by: str,
    steps: Thresholds,
    hide: tuple[str, ...] = (),
    links: dict[str, list[Link]] | None = None,
) -> b_table.Panel:
    """An instant-query table: ``columns`` are (header, unit, expr); rows are merged on labels.

    ``hide`` columns stay in the data (usable by data links as ``${__data.fields.x}``) but are not
    shown.
    """
    fmt = prometheus.PromQueryFormat.TABLE
    targets = [target(expr, instant=True, fmt=fmt) for _, _, expr in columns]
    rename = {f"Value #{chr(ord('A') + i)}": header for i, (header, _, _) in enumerate(columns)}
    panel = (
        b_table.Panel()
        .title(title)
        .description(description)
        .datasource(DS_PROMETHEUS)
        .unit(columns[0][1])
        .thresholds(steps)
        .color_scheme(b_dash.FieldColor().mode(m_dash.FieldColorModeId.THRESHOLDS))
        .align(common.FieldTextAlignment.AUTO)
        .cell_options(common.TableAutoCellOptions())
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .sort_by([b_common.TableSortByFieldState().display_name(sort_by).desc(True)])
        .transformations(
            [
                m_dash.DataTransformerConfig(id_val="merge", options={}),
                m_dash.DataTransformerConfig(
                    id_val="organize",
                    options={"excludeByName": {"Time": True}, "renameByName": rename},
                ),
                m_dash.DataTransformerConfig(
                    id_val="sortBy", options={"sort": [{"field": sort_by, "desc": True}]}
                ),
            ]
        )
    )
    for header, unit, _ in columns:
        panel.override_by_name(header, [m_dash.DynamicConfigValue(id_val="unit", value=unit)])
    for field in hide:
        panel.override_by_name(field, [m_dash.DynamicConfigValue(id_val="custom.hidden", value=True)])
    for field, field_links in (links or {}).items():
        value = [link.build() for link in field_links]
        panel.override_by_name(field, [m_dash.DynamicConfigValue(id_val="links", value=value)])
    _add_targets(panel, targets)
    return panel


def note(title: str, description: str, markdown: str) -> b_text.Panel:
    """A text panel (markdown): no query."""
    panel = b_text.Panel().title(title).description(description)
    return panel.mode(m_text.TextMode.MARKDOWN).content(markdown)


def heatmap(title: str, description: str, expr: str, *, steps: Thresholds) -> b_heatmap.Panel:
    """A latency heatmap from cumulative ``_bucket`` rates (Grafana de-cumulates them)."""
    query = target(expr, "{{le}}", fmt=prometheus.PromQueryFormat.HEATMAP, exemplar=True)
    panel = (
        b_heatmap.Panel()
        .title(title)
        .description(description)
        .datasource(DS_PROMETHEUS)
        .unit("reqps")
        .thresholds(steps)
        .hide_from(b_common.HideSeriesConfig().legend(False).tooltip(False).viz(False))
        .scale_distribution(b_common.ScaleDistributionConfig().type(common.ScaleDistribution.LINEAR))
        .calculate(False)
        .cell_gap(1)
        .y_axis(b_heatmap.YAxisConfig().axis_placement(common.AxisPlacement.LEFT).unit("s").reverse(False))
        .rows_frame(b_heatmap.RowsHeatmapOptions().layout(common.HeatmapCellLayout.AUTO))
        .color(
            b_heatmap.HeatmapColorOptions()
            .mode(m_heatmap.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .fill("dark-orange")
            .scale(m_heatmap.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
            .reverse(False)
        )
        .filter_values(b_heatmap.FilterValueRange().le(1e-9))
        .mode(common.TooltipDisplayMode.SINGLE)
        .show_y_histogram()
        .show_color_scale(False)
        .show_legend()
        .exemplars_color("rgba(255,0,255,0.7)")
    )
    _add_targets(panel, [query])
    return panel


def explore_tempo_link(title: str, traceql: str) -> Link:
    """A data link opening Grafana Explore on the Tempo datasource with a TraceQL query.

    Grafana variables (``${__field.labels.x}``, ``${__value.raw}``, ``${__from}``) are left
    unescaped in the URL so that Grafana interpolates them before following the link.
    """
    pane = {
        "datasource": TEMPO_UID,
        "queries": [
            {"refId": "A", "datasource": DS_TEMPO, "queryType": "traceql", "query": traceql, "limit": 20}
        ],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    encoded = quote(json.dumps({"traces": pane}, separators=(",", ":")), safe="")
    encoded = re.sub(r"%24%7B([A-Za-z0-9_.:]+)%7D", r"${\1}", encoded)
    url = f"/explore?schemaVersion=1&orgId=1&panes={encoded}"
    return b_dash.DashboardLink(title).url(url).target_blank(True)


def dashboard_link(title: str, uid: str, query: str) -> Link:
    """A data link to another dashboard, keeping the time range (``query`` sets variables)."""
    return b_dash.DashboardLink(title).url(f"/d/{uid}?${{__url_time_range}}&{query}")


def variable(
    name: str, label: str, query: str, *, multi: bool, include_all: bool, description: str
) -> b_dash.QueryVariable:
    """A Prometheus query variable (``label_values(...)``), refreshed on time-range change."""
    var = (
        b_dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DS_PROMETHEUS)
        .query({"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
        .refresh(m_dash.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(multi)
        .include_all(include_all)
        .options([])
        .regex("")
        .sort(m_dash.VariableSort.ALPHABETICAL_ASC)
        .hide(m_dash.VariableHide.DONT_HIDE)
    )
    return var.all_value(".*") if include_all else var


QueryVariableBuilder = b_dash.QueryVariable


def rare_rate(
    title: str, description: str, metric: str, sel: str, by: str, legend: str, extra: str = ""
) -> b_ts.Panel:
    """A time series of events per second that are often absent (throttles, retries,
    cancellations): documented as rare, so an empty result is not a broken query."""
    return timeseries(
        title,
        description,
        [target(srate(metric, sel, by, extra), legend)],
        unit="reqps",
        steps=RATE_STEPS,
        rare=True,
    )


def traces_link(with_method: bool) -> Link:
    """Explore Tempo for the traces of the series' service (and method) at least this slow.

    Spans carry rpc.service except under OTEL_SEMCONV_STABILITY_OPT_IN=rpc, where rpc.method
    reads ``Service/Method`` instead (as the metric label then does too): match either.
    """
    label = "${__field.labels.rpc_service}"
    service = f'(span.rpc.service = "{label}" || span.rpc.method =~ "{label}/.+")'
    method = 'span.rpc.method = "${__field.labels.rpc_method}" && ' if with_method else ""
    query = f"{{ {method}{service} && duration >= ${{__value.raw}}s }}"
    return explore_tempo_link("Traces at least this slow in Tempo", query)


# Threshold steps shared by many panels (the SDK serializes the same object into each of them).
LATENCY_STEPS = thresholds("green", (0.5, "yellow"), (1.0, "red"))
ERROR_STEPS = thresholds("green", (0.01, "yellow"), (0.05, "red"))
RATE_STEPS = thresholds("green", (0.1, "yellow"), (1.0, "red"))
INFO_STEPS = thresholds("blue")
SYNTHETIC_STEPS = thresholds("green", (0.001, "orange"))
ATTEMPT_STEPS = thresholds("green", (1.2, "yellow"), (2.0, "red"))
