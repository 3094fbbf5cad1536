"""Static checks of the Grafana dashboards (grafana/dashboards/*.json) and their generator.

No Grafana or Prometheus server is needed; the PromQL syntax check uses `promtool` (Debian's
prometheus package, installed by .ci/install-system-deps).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # grafana/ is a repository directory, not an installed package

from grafana import conventions, generate, promql, queries  # noqa: E402
from grafana.conventions import RARE_MARK  # noqa: E402

DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))
DEPLOY = ROOT / "deploy"
PROVISIONING = DEPLOY / "grafana" / "provisioning"

_HIST = ("_bucket", "_sum", "_count")
# The GenAI histograms of Bedrock Runtime calls (genai/runtime.py), as the real exporter names
# them (unit {token} adds no suffix).
GENAI_METRICS = {
    f"{base}{suffix}"
    for base in (
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_time_to_first_chunk_seconds",
    )
    for suffix in _HIST
}
RPC_METRICS = {
    f"{base}{suffix}"
    for base in (
        "rpc_client_call_duration_seconds",
        "client_call_duration_seconds",
        "client_call_attempt_duration_seconds",
        "client_call_serialization_duration_seconds",
        "client_call_deserialization_duration_seconds",
        "client_call_auth_signing_duration_seconds",
    )
    for suffix in _HIST
} | {
    "client_call_attempts_total",
    "client_call_errors_total",
    "botocore_otel_throttles_total",
    "botocore_otel_retries_total",
}
# The `capacity` group's counters, as docs/capacity.md names them (read by the cost dashboard).
CAPACITY_METRICS = {
    "botocore_otel_dynamodb_consumed_capacity_total", "botocore_otel_s3_requests_total",
    "botocore_otel_s3_transferred_bytes_total", "botocore_otel_sqs_billable_requests_total",
    "botocore_otel_genai_tokens_total", "botocore_otel_lambda_invocations_total",
    "botocore_otel_requests_total",
}  # fmt: skip
CONTRACT_METRICS = RPC_METRICS | GENAI_METRICS | CAPACITY_METRICS
# The lean metric attributes (rpc_system / rpc_system_name exist too, but which one depends on
# OTEL_SEMCONV_STABILITY_OPT_IN, so no query may name them).
CONTRACT_LABELS = {
    "rpc_service", "rpc_method", "cloud_region", "http_response_status_code", "error_type",
    "botocore_otel_synthetic", "exception_type", "le", "job", "instance",
    "gen_ai_provider_name", "gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type",
    "app_component", "aws_dynamodb_table_name", "botocore_otel_capacity_type", "aws_s3_bucket",
    "botocore_otel_s3_request_class", "network_io_direction", "messaging_destination_name",
    "faas_invoked_name",
    "cost_item",  # made by the cost dashboard's queries (label_replace), never by the library
}  # fmt: skip
# Labels only some metrics carry: the smithy histograms' status code, the error counter's type;
# the GenAI metrics have their own labels and no rpc_* or cloud_region (a selector naming
# cloud_region would hide every GenAI series as soon as a region is picked).
LABEL_ONLY_ON = {
    "http_response_status_code": {f"{base}{suffix}" for base in (promql.SMITHY_CALLS, promql.SMITHY_ATTEMPTS)
                                  for suffix in _HIST},
    "exception_type": {promql.ERRORS},
    "rpc_service": RPC_METRICS | {promql.REQUESTS},
    "rpc_method": RPC_METRICS | {promql.DYNAMODB_CAPACITY, promql.S3_REQUESTS, promql.SQS_BILLABLE,
                                 promql.REQUESTS},
    "cloud_region": RPC_METRICS | CAPACITY_METRICS,
    **{label: GENAI_METRICS for label in ("gen_ai_provider_name", "gen_ai_operation_name")},
    "gen_ai_request_model": GENAI_METRICS | {promql.GENAI_TOKEN_COUNT},
    "gen_ai_token_type": {f"{promql.GENAI_TOKENS}{suffix}" for suffix in _HIST} | {promql.GENAI_TOKEN_COUNT},
    "app_component": CAPACITY_METRICS,
    "aws_dynamodb_table_name": {promql.DYNAMODB_CAPACITY},
    "botocore_otel_capacity_type": {promql.DYNAMODB_CAPACITY},
    "aws_s3_bucket": {promql.S3_REQUESTS, promql.S3_BYTES},
    "botocore_otel_s3_request_class": {promql.S3_REQUESTS},
    "network_io_direction": {promql.S3_BYTES},
    "messaging_destination_name": {promql.SQS_BILLABLE},
    "faas_invoked_name": {promql.LAMBDA_INVOCATIONS},
}  # fmt: skip
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__from", "__to",
                    "__url_time_range", "__field", "__value", "__data"}  # fmt: skip
NUMERIC_TYPES = {"timeseries", "stat", "gauge", "bargauge", "heatmap", "table", "barchart"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def variable_texts(dash: dict[str, Any]) -> list[str]:
    """The query of each template variable (a dict for query variables, a string otherwise)."""
    out = []
    for var in dash["templating"]["list"]:
        query = var.get("query", "")
        out.append(query["query"] if isinstance(query, dict) else str(query))
    return out


def resolve_datasource(dash: dict[str, Any], ref: dict[str, str]) -> dict[str, str]:
    """A ``${name}`` datasource reference, resolved to the datasource variable's default."""
    match = re.fullmatch(r"\$\{(\w+)\}", ref["uid"])
    if not match:
        return ref
    var = next(v for v in dash["templating"]["list"] if v["name"] == match.group(1))
    assert var["type"] == "datasource" and var["query"] == ref["type"], var
    return {"type": ref["type"], "uid": var["current"]["value"]}


def all_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dash["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def provisioned_datasources() -> dict[str, str]:
    """uid -> type of every provisioned datasource."""
    out = {}
    for path in sorted((PROVISIONING / "datasources").glob("*.y*ml")):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            out[ds["uid"]] = ds["type"]
    return out


def test_dashboards_exist() -> None:
    names = {p.name for p in DASHBOARD_FILES}
    assert {"botocore-otel-overview.json", "botocore-otel-service.json", "botocore-otel-cost.json"} <= names


def test_generated_json_in_sync() -> None:
    built = generate.build()
    assert sorted(built) == [p.name for p in DASHBOARD_FILES], "stray or missing dashboard file"
    for name, dash in built.items():
        on_disk = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        assert on_disk == generate.render(dash), f"{name} is stale: run python3 -m grafana.generate"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    dash = load(path)
    assert dash["uid"] == path.stem and dash["title"] and dash["description"]
    ids = [p["id"] for p in all_panels(dash)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in all_panels(dash):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, panel["title"]


def test_dashboard_uids_unique() -> None:
    uids = [load(p)["uid"] for p in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_datasources_are_provisioned(path: Path) -> None:
    provisioned = provisioned_datasources()
    dash = load(path)
    refs = [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]
    for panel in all_panels(dash):
        if panel["type"] in {"row", "text"}:
            continue
        refs.append(panel["datasource"])
        refs.extend(t["datasource"] for t in panel["targets"])
    for ref in map(lambda r: resolve_datasource(dash, r), refs):
        assert ref["uid"] in provisioned, f"{path.name}: datasource uid {ref['uid']} not provisioned"
        assert provisioned[ref["uid"]] == ref["type"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_panels_have_description_unit_and_thresholds(path: Path) -> None:
    for panel in all_panels(load(path)):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel.get("description", "").strip(), f"{title}: no description"
        if panel["type"] == "text":
            assert panel["options"]["content"].strip(), f"{title}: empty text"
            continue
        assert panel["targets"], f"{title}: no query"
        if panel["type"] not in NUMERIC_TYPES:
            continue
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), f"{title}: no unit"
        assert defaults["thresholds"]["steps"], f"{title}: no thresholds"
        if panel["type"] == "table":
            organize = next(t for t in panel["transformations"] if t["id"] == "organize")
            columns = set(organize["options"]["renameByName"].values())
            with_unit = {
                o["matcher"]["options"]
                for o in panel["fieldConfig"]["overrides"]
                if any(p["id"] == "unit" for p in o["properties"])
            }
            assert columns <= with_unit, f"{title}: value columns without a unit"
            assert len(panel["targets"]) == len(columns)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_referenced_variables_are_defined(path: Path) -> None:
    dash = load(path)
    defined = {v["name"] for v in dash["templating"]["list"]} | GRAFANA_BUILTINS
    texts = variable_texts(dash)
    for panel in all_panels(dash):
        texts.append(panel["title"])
        texts.extend(t.get("expr", "") for t in panel.get("targets", []))
        links = panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            for prop in override["properties"]:
                if prop["id"] == "links":
                    links += prop["value"]
        texts.extend(link["url"] for link in links)
    for text in texts:
        names = {n.split(".")[0] for n in re.findall(r"\$\{([\w.]+)", text)}
        names |= queries.variables_in(re.sub(r"\$\{[\w.]+[^}]*\}", "", text))
        assert names <= defined, f"{path.name}: undefined variables {names - defined} in {text!r}"


def test_queries_use_only_contract_metrics_and_labels() -> None:
    for q in queries.extract_queries():
        selectors = re.findall(r"([a-zA-Z_:][\w:]*)\{([^}]*)\}", q.expr)
        assert selectors, q
        for metric, matchers in selectors:
            assert metric in CONTRACT_METRICS, f"{q.title}: unknown metric {metric}"
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            assert labels <= CONTRACT_LABELS, f"{q.title}: unknown labels {labels}"
            for label, metrics in LABEL_ONLY_ON.items():
                if label in labels:
                    assert metric in metrics, f"{q.title}: {metric} has no {label}"
        for group in re.findall(r"\b(?:by|on|without|group_left|group_right)\s*\(([^)]*)\)", q.expr):
            labels = {g.strip() for g in group.split(",") if g.strip()}
            assert labels <= CONTRACT_LABELS, f"{q.title}: unknown grouping labels {labels}"
    for path in DASHBOARD_FILES:
        for var in load(path)["templating"]["list"]:
            if var["type"] != "query":
                continue
            query = var["query"]["query"]
            metric = re.search(r"label_values\((\w+)", query)
            # or a selector over several metrics: {__name__=~"prefix_(a|b)_suffix"}
            names = re.search(r'label_values\(\{__name__=~"(\w*)\(([\w|]+)\)(\w*)"\}', query)
            if names:
                metrics = {f"{names.group(1)}{n}{names.group(3)}" for n in names.group(2).split("|")}
            else:
                metrics = {metric.group(1)} if metric else set()
            assert metrics and metrics <= CONTRACT_METRICS, var["name"]


def test_queries_parse_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's `prometheus` package "
                    "(apt-get install -y --no-install-recommends prometheus)")  # fmt: skip
    rules = [{"record": f"dashboard_query_{i}", "expr": q.expr}
             for i, q in enumerate(queries.extract_queries())]  # fmt: skip
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_query_extraction_substitutes_everything() -> None:
    extracted = queries.extract_queries()
    assert len(extracted) >= 30
    for q in extracted:
        assert "$" not in q.expr and "[[" not in q.expr, q
    dashboards = {q.dashboard for q in extracted}
    assert dashboards == {p.stem for p in DASHBOARD_FILES}
    service = [q for q in extracted if q.dashboard == "botocore-otel-service"]
    assert all('rpc_service="DynamoDB"' in q.expr for q in service)
    s3 = queries.extract_queries(values={"service": "S3", "__rate_interval": "2m"})
    assert any('rpc_service="S3"' in q.expr and "[2m]" in q.expr for q in s3)
    with pytest.raises(KeyError):
        queries.substitute("rate(x[$unknown])", queries.DEFAULT_VALUES)


def test_rare_event_panels_are_marked() -> None:
    rare = {(q.dashboard, q.title) for q in queries.extract_queries() if q.rare_event}
    titles = {title for _, title in rare}
    assert "Cancelled calls/s" in titles
    # Golden signals are never rare: they must return data under any workload.
    for q in queries.extract_queries():
        if q.title in {"Calls/s", "Error %", "p99 latency", "p95 latency", "Latency heatmap"}:
            assert not q.rare_event
    for path in DASHBOARD_FILES:
        for panel in all_panels(load(path)):
            desc = panel.get("description", "")
            assert (RARE_MARK in desc) == desc.endswith(RARE_MARK), panel["title"]


@pytest.mark.parametrize(  # the cost dashboard has no latency panel
    "path", [p for p in DASHBOARD_FILES if p.stem != conventions.COST_UID], ids=lambda p: p.stem
)
def test_latency_panels_link_to_traces(path: Path) -> None:
    latency = [
        p for p in all_panels(load(path))
        if p["type"] in {"timeseries", "heatmap"} and "Latency" in p["title"]
    ]  # fmt: skip
    assert latency
    for panel in latency:
        assert all(t["exemplar"] for t in panel["targets"]), f"{panel['title']}: exemplars off"
        if panel["type"] == "timeseries":
            urls = [link["url"] for link in panel["fieldConfig"]["defaults"]["links"]]
            assert any("/explore" in u and "%22tempo%22" in u for u in urls), panel["title"]
            # Under OTEL_SEMCONV_STABILITY_OPT_IN=rpc spans have no rpc.service: rpc.method
            # ("Service/Method") must find them too.
            queries_ = [
                json.loads(unquote(u.split("panes=")[1]))["traces"]["queries"][0]["query"] for u in urls
            ]
            for traceql in queries_:
                assert 'span.rpc.method =~ "${__field.labels.rpc_service}/.+"' in traceql, traceql
                assert traceql.count("(") == traceql.count(")"), traceql


def test_prometheus_exemplars_point_at_tempo() -> None:
    provisioned = provisioned_datasources()
    for path in sorted((PROVISIONING / "datasources").glob("*.y*ml")):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            if ds["type"] != "prometheus":
                continue
            dests = ds["jsonData"]["exemplarTraceIdDestinations"]
            assert dests and all(provisioned.get(d["datasourceUid"]) == "tempo" for d in dests)


def test_every_dashboard_file_is_provisioned() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = {}
    for volume in compose["services"]["grafana"]["volumes"]:
        host, container = volume.split(":")[:2]
        mounts[container.rstrip("/")] = (DEPLOY / host).resolve()
    covered: set[Path] = set()
    for path in sorted((PROVISIONING / "dashboards").glob("*.y*ml")):
        for provider in yaml.safe_load(path.read_text())["providers"]:
            target = provider["options"]["path"].rstrip("/")
            for container, host in mounts.items():
                if target == container or target.startswith(container + "/"):
                    covered |= set((host / target[len(container) :].lstrip("/")).glob("*.json"))
    missing = {p.resolve() for p in DASHBOARD_FILES} - covered
    assert not missing, f"dashboards not provisioned: {sorted(missing)}"


def test_panels_name_the_opt_in_groups_their_metrics_need() -> None:
    """A panel that reads a metric of an opt-in group (smithy, phases) says so in its description,
    and only then: every other panel answers with the default metric set."""
    needed: dict[tuple[str, str], set[str]] = {}
    declared: dict[tuple[str, str], frozenset[str]] = {}
    for q in queries.extract_queries():
        key = (q.dashboard, q.title)
        groups = needed.setdefault(key, set())
        for metric in re.findall(r"([a-zA-Z_:][\w:]*)\{", q.expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            if base in promql.OPT_IN_METRICS:
                groups.add(promql.OPT_IN_METRICS[base])
        declared[key] = q.opt_in
    assert {k: frozenset(v) for k, v in needed.items()} == declared
    assert declared[("botocore-otel-service", "Responses by HTTP status")] == {"smithy"}
    assert "phases" in declared[("botocore-otel-service", "Phase breakdown (mean seconds per call)")]
    assert not any(groups for (dash, _), groups in declared.items() if dash == "botocore-otel-overview")
    cost = {title: groups for (dash, title), groups in declared.items() if dash == conventions.COST_UID}
    assert cost and all(groups == {"capacity"} for groups in cost.values()), cost


def test_opt_in_sentence_round_trips() -> None:
    for groups in (("smithy",), ("phases",), ("phases", "smithy")):
        sentence = conventions.opt_in_sentence(groups)
        assert conventions.opt_in_groups(f"Some panel. {sentence}") == set(groups)
    assert conventions.opt_in_groups("Calls per second (client.call.attempts).") == frozenset()
    with pytest.raises(ValueError, match="smithy"):
        conventions.opt_in_sentence(("rpc",))


def test_queries_do_not_depend_on_the_semconv_mode() -> None:
    """rpc_service and rpc_method exist under every OTEL_SEMCONV_STABILITY_OPT_IN mode; the
    system label does not (rpc_system, rpc_system_name under `rpc`, both under `rpc/dup`)."""
    texts = [q.expr for q in queries.extract_queries()]
    for path in DASHBOARD_FILES:
        dash = load(path)
        texts += variable_texts(dash)
        texts += [json.dumps(p.get("fieldConfig", {})) for p in all_panels(dash)]
    for text in texts:
        assert "rpc_system" not in text and "aws_service_id" not in text, text


def test_the_library_does_not_import_the_dashboard_sdk() -> None:
    """grafana-foundation-sdk is a dev-time dependency (the `test` extra) of grafana/ only."""
    for path in sorted((ROOT / "src").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "grafana_foundation_sdk" not in text and "import grafana" not in text, path
