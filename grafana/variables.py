"""The template variables of the dashboards (job, service, operation, region; the cost
dashboard's datasource, cloud_region, app_component and synthetic)."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as b_dash
from grafana_foundation_sdk.models import dashboard as m_dash

from grafana.conventions import PROMETHEUS_UID
from grafana.panels import QueryVariableBuilder, variable
from grafana.promql import CAPACITY_METRICS, label_values


def common_variables(service_scoped: bool) -> list[QueryVariableBuilder]:
    job = variable(
        "job",
        "Job",
        label_values("job"),
        multi=True,
        include_all=True,
        description="Prometheus job: the scrape job, or service.name via the collector.",
    )
    region_sel = 'job=~"$job", rpc_service="$service"' if service_scoped else 'job=~"$job"'
    region = variable(
        "region",
        "Region",
        label_values("cloud_region", region_sel),
        multi=True,
        include_all=True,
        description="cloud.region of the client.",
    )
    if not service_scoped:
        return [job, region]
    service = variable(
        "service",
        "Service",
        label_values("rpc_service", 'job=~"$job"'),
        multi=False,
        include_all=False,
        description="rpc.service: the AWS service id, e.g. DynamoDB.",
    )
    operation = variable(
        "operation",
        "Operation",
        label_values("rpc_method", 'job=~"$job", rpc_service="$service"'),
        multi=True,
        include_all=True,
        description="rpc.method: GetItem, or DynamoDB/GetItem under OTEL_SEMCONV_STABILITY_OPT_IN=rpc.",
    )
    return [job, service, operation, region]


def cost_variables() -> list[Any]:
    """The cost dashboard's selectors: datasource, region, app.component and the synthetic filter
    (prices come from grafana.prices)."""
    datasource = (
        b_dash.DatasourceVariable("datasource")
        .label("Datasource")
        .description("The Prometheus that holds the botocore-otel metrics.")
        .type("prometheus")
        .current(m_dash.VariableOption(selected=True, text="Prometheus", value=PROMETHEUS_UID))
        .multi(False)
        .include_all(False)
        .regex("")
        .hide(m_dash.VariableHide.DONT_HIDE)
    )
    # Both read the capacity metrics, not the call histogram: metrics=capacity alone has none.
    capacity = "|".join(m.removeprefix("botocore_otel_").removesuffix("_total") for m in CAPACITY_METRICS)
    capacity_series = f'{{__name__=~"botocore_otel_({capacity})_total"}}'
    region = variable(
        "cloud_region",
        "Region",
        f"label_values({capacity_series}, cloud_region)",
        multi=True,
        include_all=True,
        description="cloud.region of the client.",
    )
    component = variable(
        "app_component",
        "app.component",
        f"label_values({capacity_series}, app_component)",
        multi=True,
        include_all=True,
        description="app.component, set by the `attribution` option (absent without it: keep All).",
    )
    exclude = m_dash.VariableOption(selected=True, text="exclude", value="|false")
    synthetic = (
        b_dash.CustomVariable("synthetic")
        .label("Synthetic calls")
        .description(
            'Calls answered by a synthetic rule (botocore_otel_synthetic="true") cost nothing: '
            "excluded by default."
        )
        .values("exclude : |false,include : .*")
        .current(exclude)
        .options([exclude, m_dash.VariableOption(selected=False, text="include", value=".*")])
        .multi(False)
        .include_all(False)
        .hide(m_dash.VariableHide.DONT_HIDE)
    )
    return [datasource, region, component, synthetic]
