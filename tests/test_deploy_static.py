"""Static checks of the deploy stack (deploy/): compose files, collector, Prometheus, Grafana.

No docker engine is needed. `promtool` (Debian's prometheus package, installed by
.ci/install-system-deps) checks the Prometheus configuration.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.conventions import opt_in_groups

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SCALING_COMPOSE = DEPLOY / "scaling" / "docker-compose.scaling.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
COLLECTOR_CONFIGS = [
    DEPLOY / "otel-collector" / "config.yaml",
    DEPLOY / "scaling" / "agent.yaml",
    DEPLOY / "scaling" / "gateway.yaml",
]
PROVISIONING = DEPLOY / "grafana" / "provisioning"
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))

# Component type names of the otelcol-contrib distribution (its release manifest, 0.13x), the
# subset a deployment like this one may plausibly use. Extend it from the manifest when needed.
CONTRIB: dict[str, set[str]] = {
    "receivers": {
        "otlp", "prometheus", "hostmetrics", "filelog", "jaeger", "zipkin", "kafka", "statsd",
        "docker_stats", "k8s_cluster", "kubeletstats", "awsxray", "prometheus_simple",
        "receiver_creator", "journald", "syslog", "nop",
    },
    "processors": {
        "batch", "memory_limiter", "attributes", "resource", "resourcedetection", "filter",
        "transform", "k8sattributes", "tail_sampling", "probabilistic_sampler", "groupbytrace",
        "groupbyattrs", "cumulativetodelta", "deltatocumulative", "metricstransform", "span",
        "redaction", "interval",
    },
    "exporters": {
        "otlp", "otlphttp", "debug", "nop", "prometheus", "prometheusremotewrite",
        "loadbalancing", "file", "kafka", "zipkin", "awsxray", "awsemf",
    },
    "extensions": {
        "health_check", "pprof", "zpages", "basicauth", "bearertokenauth", "oauth2client",
        "headers_setter", "file_storage", "sigv4auth", "opamp", "oidc",
    },
    "connectors": {
        "forward", "count", "spanmetrics", "servicegraph", "routing", "failover", "roundrobin",
        "exceptions", "sum", "signaltometrics",
    },
}  # fmt: skip
SECTIONS = ("receivers", "processors", "exporters", "extensions", "connectors")
SIGNALS = {"traces", "metrics", "logs"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def kind(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def merged_compose() -> dict[str, dict[str, Any]]:
    """Services of the stack with the scaling overlay applied (enough of compose's merge rules)."""
    services = {k: dict(v) for k, v in load_yaml(COMPOSE)["services"].items()}
    for name, overlay in load_yaml(SCALING_COMPOSE)["services"].items():
        svc = services.setdefault(name, {})
        for key, value in overlay.items():
            if isinstance(value, dict):
                svc[key] = {**svc.get(key, {}), **value}
            elif isinstance(value, list) and key != "command":
                svc[key] = [*svc.get(key, []), *(v for v in value if v not in svc.get(key, []))]
            else:
                svc[key] = value
    return services


def host_port(url: str) -> tuple[str, int]:
    match = re.match(r"^(?:\w+://)?([^:/]+):(\d+)", url)
    assert match, url
    return match.group(1), int(match.group(2))


def test_every_yaml_parses() -> None:
    files = sorted(DEPLOY.rglob("*.y*ml"))
    assert len(files) >= 9
    for path in files:
        assert load_yaml(path) is not None, path


def test_promtool_check_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's `prometheus` package "
                    "(apt-get install -y --no-install-recommends prometheus)")  # fmt: skip
    proc = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.stem)
def test_collector_components_exist_in_contrib(path: Path) -> None:
    config = load_yaml(path)
    assert set(config) <= {*SECTIONS, "service"}, f"unknown top-level keys in {path.name}"
    for section in SECTIONS:
        for component in config.get(section) or {}:
            assert kind(component) in CONTRIB[section], f"{path.name}: {section}.{component}"


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.stem)
def test_collector_pipelines_reference_defined_components(path: Path) -> None:
    config = load_yaml(path)
    service = config["service"]
    defined = {s: set(config.get(s) or {}) for s in SECTIONS}
    assert set(service.get("extensions", [])) <= defined["extensions"]
    used: dict[str, set[str]] = {s: set(service.get("extensions", [])) for s in SECTIONS}
    for name, pipeline in service["pipelines"].items():
        assert kind(name) in SIGNALS, f"{path.name}: pipeline {name}"
        assert pipeline.get("receivers") and pipeline.get("exporters"), name
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                # a connector is an exporter of one pipeline and a receiver of another
                ok = component in defined[section] or component in defined["connectors"]
                assert ok, f"{path.name}: pipeline {name} uses undefined {section[:-1]} {component}"
                used[section].add(component)
        processors = pipeline.get("processors", [])
        if "memory_limiter" in processors:
            assert processors[0] == "memory_limiter", f"{name}: memory_limiter must come first"
    for section in ("receivers", "processors", "exporters"):
        unused = defined[section] - used[section]
        assert not unused, f"{path.name}: {section} defined but unused: {unused}"


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.stem)
def test_loadbalancing_routing_keys(path: Path) -> None:
    config = load_yaml(path)
    exporters = config.get("exporters") or {}
    for name, pipeline in config["service"]["pipelines"].items():
        for exporter in pipeline["exporters"]:
            if kind(exporter) != "loadbalancing":
                continue
            settings = exporters[exporter]
            routing = settings.get("routing_key", "traceID")
            allowed = {"traceID", "service"} if kind(name) == "traces" else {
                "service", "resource", "metric", "streamID"}  # fmt: skip
            assert routing in allowed, f"{path.name}: {exporter} routes {name} by {routing}"
            assert {"dns"} <= set(settings["resolver"]) or "static" in settings["resolver"]


def test_scaling_tiers() -> None:
    agent, gateway = (load_yaml(DEPLOY / "scaling" / f) for f in ("agent.yaml", "gateway.yaml"))
    traces_exporters = agent["service"]["pipelines"]["traces"]["exporters"]
    lb = [agent["exporters"][e] for e in traces_exporters if kind(e) == "loadbalancing"]
    assert lb and lb[0]["routing_key"] == "traceID"
    assert "tail_sampling" in gateway["service"]["pipelines"]["traces"]["processors"]
    assert gateway["service"]["pipelines"]["metrics"]["exporters"] == ["prometheusremotewrite"]
    assert "${env:REMOTE_WRITE_URL}" in gateway["exporters"]["prometheusremotewrite"]["endpoint"]
    gateway_ports = {host_port(p["endpoint"])[1] for p in gateway["receivers"]["otlp"]["protocols"].values()}
    assert lb[0]["resolver"]["dns"]["port"] in gateway_ports


def test_collector_feeds_the_stack() -> None:
    """Ports and host names agree between the collector, Prometheus, Tempo and compose."""
    services = load_yaml(COMPOSE)["services"]
    collector = load_yaml(COLLECTOR_CONFIGS[0])
    prom_port = host_port(collector["exporters"]["prometheus"]["endpoint"])[1]
    scrape = load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
    targets = [t for job in scrape for sc in job["static_configs"] for t in sc["targets"]]
    assert f"otel-collector:{prom_port}" in targets
    job = next(j for j in scrape if "otel-collector:8889" in j["static_configs"][0]["targets"])
    assert job["honor_labels"] is True, "job/instance must come from service.name/instance.id"
    tempo_host, tempo_port = host_port(collector["exporters"]["otlp/tempo"]["endpoint"])
    assert tempo_host in services
    tempo = load_yaml(DEPLOY / "tempo" / "tempo.yaml")
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert host_port(grpc)[1] == tempo_port


def test_demo_exports_to_a_collector() -> None:
    for services in (load_yaml(COMPOSE)["services"], merged_compose()):
        env = services["demo"]["environment"]
        host, port = host_port(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert host in services and host in services["demo"]["depends_on"]
        command = " ".join(services[host]["command"])
        config_name = Path(re.search(r"--config=(\S+)", command).group(1)).name
        config_file = next(DEPLOY.rglob(config_name))
        protocols = load_yaml(config_file)["receivers"]["otlp"]["protocols"]
        proto = "http" if env["OTEL_EXPORTER_OTLP_PROTOCOL"].startswith("http") else "grpc"
        assert host_port(protocols[proto]["endpoint"])[1] == port


@pytest.mark.parametrize("compose", [COMPOSE, SCALING_COMPOSE], ids=lambda p: p.stem)
def test_compose_references_existing_files(compose: Path) -> None:
    for name, svc in load_yaml(compose)["services"].items():
        mounted = set()
        for volume in svc.get("volumes", []):
            host, container = volume.split(":")[:2]
            if host.startswith("."):  # bind mount; paths are relative to deploy/ (first -f file)
                assert (DEPLOY / host).exists(), f"{name}: {host} does not exist"
                mounted.add(container)
        for arg in svc.get("command", []):
            match = re.match(r"^-{1,2}config(?:\.file)?=(\S+)$", str(arg))
            if match:
                assert match.group(1) in mounted, f"{name}: {match.group(1)} is not mounted"
        if "build" in svc:
            context = (DEPLOY / svc["build"]["context"]).resolve()
            assert (context / svc["build"]["dockerfile"]).is_file()
            assert (context / "pyproject.toml").is_file(), "demo build context is not the repo"


def test_compose_images_pinned_and_ports_loopback() -> None:
    services = merged_compose()
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: image {image} is not pinned"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not loopback-only"
        for dependency in svc.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    dockerfile = (DEPLOY / "demo.Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.M).group(1)
    assert re.search(r":\d+\.\d+", base), f"demo base image {base} is not pinned"
    assert '".[demo]"' in dockerfile
    # The versions CI tests together (constraints.txt), not whatever is newest on the day of the build.
    install = next(line for line in dockerfile.splitlines() if '".[demo]"' in line)
    assert re.search(r"(-c|--constraint)[ =]constraints\.txt\b", install), install
    ignored = (DEPLOY / "demo.Dockerfile.dockerignore").read_text().split()
    assert not {"constraints.txt", "*.txt", "**/*.txt"} & set(ignored)


def test_datasource_uids_match_dashboards() -> None:
    uids = {
        ds["uid"]
        for path in (PROVISIONING / "datasources").glob("*.y*ml")
        for ds in load_yaml(path)["datasources"]
    }
    used = set()
    for path in DASHBOARDS:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'"datasource":\s*\{[^{}]*"uid":\s*"([^"]+)"', text))
        used |= set(re.findall(r"%22datasource%22%3A%22(\w+)%22", text))  # Explore links
    used.discard("-- Grafana --")  # Grafana's built-in annotation datasource
    # ${name}: a datasource variable (the cost dashboard's picker); its default must be provisioned.
    for path in DASHBOARDS:
        dash = json.loads(path.read_text(encoding="utf-8"))
        for var in dash["templating"]["list"]:
            if var["type"] == "datasource" and "${" + var["name"] + "}" in used:
                used.discard("${" + var["name"] + "}")
                used.add(var["current"]["value"])
    assert used and used <= uids, f"dashboards use unprovisioned datasource uids {used - uids}"


def test_every_dashboard_file_is_provisioned() -> None:
    grafana = load_yaml(COMPOSE)["services"]["grafana"]
    mounts = {}
    for volume in grafana["volumes"]:
        host, container = volume.split(":")[:2]
        mounts[container.rstrip("/")] = (DEPLOY / host).resolve()
    assert "/etc/grafana/provisioning" in mounts
    assert mounts["/etc/grafana/provisioning"] == PROVISIONING.resolve()
    covered: set[Path] = set()
    for path in (PROVISIONING / "dashboards").glob("*.y*ml"):
        for provider in load_yaml(path)["providers"]:
            target = provider["options"]["path"].rstrip("/")
            for container, host in mounts.items():
                if target == container or target.startswith(container + "/"):
                    covered |= set((host / target[len(container) :].lstrip("/")).glob("*.json"))
    missing = {p.resolve() for p in DASHBOARDS} - covered
    assert DASHBOARDS and not missing, f"not provisioned: {sorted(missing)}"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    container_dir, file_name = home.rsplit("/", 1)
    assert (mounts[container_dir] / file_name).is_file()
    for path in DASHBOARDS:
        json.loads(path.read_text(encoding="utf-8"))


def test_demo_metric_groups_cover_the_dashboards() -> None:
    """The demo runs with every metric group that a dashboard panel names as needed."""
    needed: set[str] = set()
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            needed |= opt_in_groups(panel.get("description", ""))
    assert needed, "no dashboard panel names an opt-in metric group"
    for services in (load_yaml(COMPOSE)["services"], merged_compose()):
        groups = {g.strip() for g in str(services["demo"]["environment"]["BOTOCORE_OTEL_METRICS"]).split(",")}
        assert "all" in groups or needed <= groups, f"demo metric groups {groups} miss {needed - groups}"


def test_datasources_reach_the_stack_and_link_to_provisioned_uids() -> None:
    """Each datasource URL names a compose service on the port it serves; each link between
    datasources (exemplars -> Tempo, traces -> metrics) names a provisioned uid."""
    services = load_yaml(COMPOSE)["services"]
    tempo_port = load_yaml(DEPLOY / "tempo" / "tempo.yaml")["server"]["http_listen_port"]
    serves = {"prometheus": 9090, "tempo": tempo_port}  # Prometheus: its default listen address
    path = PROVISIONING / "datasources" / "datasources.yaml"
    datasources = load_yaml(path)["datasources"]
    uids = {ds["uid"] for ds in datasources}
    for ds in datasources:
        host, port = host_port(ds["url"])
        assert host in services, f"{ds['name']}: {host} is not a compose service"
        assert port == serves[ds["type"]], f"{ds['name']}: {ds['url']} is not where {host} listens"
        assert ds["type"] in services["grafana"]["depends_on"]
    linked = set(re.findall(r"datasourceUid:\s*(\S+)", path.read_text(encoding="utf-8")))
    assert linked and linked <= uids, f"datasource links to unprovisioned uids {linked - uids}"
