"""The template variables of the dashboards (job, service, operation, region)."""

from __future__ import annotations

from grafana.panels import QueryVariableBuilder, variable
from grafana.promql import label_values


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
