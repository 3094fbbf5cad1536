"""Run the real Prometheus server (Debian's ``prometheus`` package) for tests.

Each :class:`PrometheusServer` is its own ``prometheus`` process on a free 127.0.0.1 port
with a temp config and a temp TSDB, scraping the given ``host:port`` targets (127.0.0.1
only) every second under one job label.

What the OpenTelemetry Prometheus exporter (``opentelemetry-exporter-prometheus``
``PrometheusMetricReader``, observed with 0.66b2 + SDK 1.45.2 + Prometheus 2.42) shows in
Prometheus:

* Metric names: characters outside ``[a-zA-Z0-9_:]`` become ``_`` (dots -> underscores),
  then the unit is appended as a suffix (UCUM ``s`` -> ``_seconds``, ``ms`` ->
  ``_milliseconds``, ``By`` -> ``_bytes``; ``1`` and ``{annotation}`` units add nothing).
* Histogram ``rpc.client.call.duration`` (unit ``s``) ->
  ``rpc_client_call_duration_seconds_bucket{le="0.25"}``, ``..._seconds_sum``,
  ``..._seconds_count``. ``le`` keeps the exporter's float spelling: ``"0.005"``, ``"1.0"``,
  ``"5.0"``, ``"+Inf"``.
  CAUTION: the SDK's default buckets are 0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000,
  2500, 5000, 7500, 10000 (made for milliseconds): a histogram in seconds needs
  ``explicit_bucket_boundaries_advisory=[...]`` (or a View), or everything lands in le="5.0".
* Monotonic counter ``botocore.otel.test.calls`` (unit ``{call}``) ->
  ``botocore_otel_test_calls_total``; with unit ``By`` -> ``..._sent_bytes_total``.
* UpDownCounter ``botocore.otel.test.inflight`` -> gauge ``botocore_otel_test_inflight``
  (no ``_total``).
* Attribute keys -> label names the same way (``rpc.system`` -> ``rpc_system``,
  ``aws.region`` -> ``aws_region``, ``http.response.status_code`` ->
  ``http_response_status_code``, ``error.type`` -> ``error_type``); non-string values are
  JSON-encoded (``200`` -> ``"200"``, ``True`` -> ``"true"``). Data points of one metric
  lacking an attribute get it as ``""``, which Prometheus drops (select with
  ``error_type=""``).
* Every series also carries ``otel_scope_name`` and ``otel_scope_version`` (the meter's
  name/version; ``otel_scope_schema_url`` is exported empty and so dropped), plus
  Prometheus's own ``job`` (this runner's job name) and ``instance`` (``127.0.0.1:PORT``).
* Resource attributes are NOT labels on the series: they go to one ``target_info`` series
  (``target_info{service_name="...", deployment_environment="...",
  telemetry_sdk_language="python", ...} 1``), joined on ``job``/``instance``.

The exact names are asserted by ``tests/test_support_prometheus.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import free_port

INSTALL_HINT = (
    "the real Prometheus server binary `prometheus` is not installed (Debian package "
    "'prometheus'). Run `sudo .ci/install-system-deps` (it runs `apt-get install -y "
    "--no-install-recommends prometheus`), then re-run the tests."
)

DEFAULT_JOB = "botocore-otel-test"


class PrometheusMissing(RuntimeError):
    pass


def find_prometheus() -> str:
    """Path of the ``prometheus`` binary, or raise :class:`PrometheusMissing`."""
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )
    if not path:
        raise PrometheusMissing(INSTALL_HINT)
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: SIGTERM this child when the process that started it dies (even by SIGKILL),
    so no Prometheus outlives a killed test run."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _check_target(target: str) -> str:
    host, _, port = target.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise ValueError(f"scrape targets must be 127.0.0.1:PORT, got {target!r}")
    return target


def _yaml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML flow scalar


@dataclass
class PrometheusServer:
    """One real Prometheus process. ``start()``/``stop()`` or use as context manager."""

    targets: Sequence[str]
    job: str = DEFAULT_JOB
    scrape_interval: str = "1s"
    metrics_path: str = "/metrics"
    startup_timeout: float = 30.0
    port: int = field(default=0, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    log_path: Path = field(default=Path(), init=False)
    config_path: Path = field(default=Path(), init=False)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> PrometheusServer:
        binary = find_prometheus()
        targets = [_check_target(t) for t in self.targets]
        self._tmp = tempfile.TemporaryDirectory(prefix="prometheus-test-")
        tmp = Path(self._tmp.name)
        self.config_path = tmp / "prometheus.yml"
        self.log_path = tmp / "prometheus.log"
        self.config_path.write_text(
            "global:\n"
            f"  scrape_interval: {self.scrape_interval}\n"
            f"  scrape_timeout: {self.scrape_interval}\n"
            f"  evaluation_interval: {self.scrape_interval}\n"
            "scrape_configs:\n"
            f"  - job_name: {_yaml_str(self.job)}\n"
            f"    metrics_path: {_yaml_str(self.metrics_path)}\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(_yaml_str(t) for t in targets)}]\n"
        )
        last_error = ""
        for _attempt in range(3):  # free_port() can race; retry on a bind failure
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={self.config_path}",
                        f"--storage.tsdb.path={tmp / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--storage.tsdb.retention.time=1h",
                        "--log.level=warn",
                        "--web.enable-lifecycle",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                    preexec_fn=_die_with_parent,  # start from the main thread (PDEATHSIG)
                )
            if self._wait_ready():
                return self
            last_error = self.log_path.read_text(errors="replace")[-3000:]
            self._kill()
            if "address already in use" not in last_error:
                break
        self.stop()
        raise RuntimeError(f"prometheus did not become ready; log:\n{last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        self._kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- HTTP API
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                payload = json.loads(r.read())
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            raise AssertionError(f"Prometheus {path} {params}: HTTP {e.code}: {payload}") from e
        if payload.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params}: {payload}")
        return payload["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query. Returns ``[{"metric": {label: value}, "value": float}, ...]``
        (scalar/string results come back as one item with an empty ``metric``)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = at
        data = self._get("/api/v1/query", params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": _num(data["result"][1])}]
        return [{"metric": s["metric"], "value": _num(s["value"][1])} for s in data["result"]]

    def query_range(self, promql: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        """Range query. Returns ``[{"metric": {...}, "values": [(ts, float), ...]}, ...]``."""
        data = self._get("/api/v1/query_range", {"query": promql, "start": start, "end": end, "step": step})
        return [
            {"metric": s["metric"], "values": [(float(t), _num(v)) for t, v in s["values"]]}
            for s in data["result"]
        ]

    def series_names(self) -> list[str]:
        """All metric names Prometheus currently knows (``__name__`` label values)."""
        return list(self._get("/api/v1/label/__name__/values", {}))

    def targets_health(self) -> list[dict[str, Any]]:
        """``/api/v1/targets`` active targets: [{scrapeUrl, health, lastError, ...}]."""
        return list(self._get("/api/v1/targets", {})["activeTargets"])

    def wait_for(
        self,
        promql: str,
        timeout: float = 15.0,
        predicate: Any = None,
    ) -> list[dict[str, Any]]:
        """Poll the instant query until it returns data (and ``predicate(result)`` holds,
        if given); return the result. Raises AssertionError with target health on timeout."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(promql)
            if result and (predicate is None or predicate(result)):
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"Prometheus: no data for {promql!r} after {timeout}s (last result "
                    f"{result}); targets: {self.targets_health()}; known series: "
                    f"{self.series_names()[:50]}"
                )
            time.sleep(0.2)


def _num(v: str) -> float:
    return float(v)


@dataclass
class MetricsEndpoint:
    """A prometheus_client HTTP endpoint serving a registry on 127.0.0.1 (see
    :func:`serve_registry`)."""

    port: int
    registry: Any  # the prometheus_client CollectorRegistry being served
    _server: Any = field(repr=False)
    _thread: Any = field(repr=False)

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT`` as a Prometheus scrape target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def scrape(self) -> str:
        """The exposition text exactly as Prometheus would get it."""
        with urllib.request.urlopen(self.url, timeout=10) as r:
            return str(r.read().decode())

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_registry(registry: Any = None) -> MetricsEndpoint:
    """Serve ``registry`` (default: prometheus_client's global REGISTRY) with
    ``prometheus_client.start_http_server`` on a free 127.0.0.1 port.

    Pair it with ``PrometheusMetricReader(registry=registry)`` and a fresh
    ``prometheus_client.CollectorRegistry()`` per test to keep tests independent."""
    from prometheus_client import REGISTRY, start_http_server

    registry = registry if registry is not None else REGISTRY
    last: OSError | None = None
    for _ in range(3):
        port = free_port()
        try:
            server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        except OSError as e:
            last = e
            continue
        return MetricsEndpoint(port, registry, server, thread)
    raise RuntimeError(f"could not start a metrics endpoint: {last}")


RELAY_EPOCH_METRIC = "botocore_otel_test_relay_epoch"


class ScrapeRelay:
    """A fixed scrape target on 127.0.0.1 whose ``/metrics`` is fetched, per scrape, from a
    switchable real upstream endpoint, with one extra gauge ``RELAY_EPOCH_METRIC`` appended.

    Why: a freshly started Prometheus 2.42 applies its scrape targets only after its 5 s
    discovery/reload tickers (first scrape ~5-10 s after start, and there is no flag to
    shorten it). One session-wide Prometheus scraping this relay every second lets each
    test point it at its own endpoint and see data within ~1-2 s. The epoch gauge tells
    when a scrape of the *new* upstream has been ingested (see :class:`SharedPrometheus`).
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._upstream: str | None = None
        self.epoch = 0
        self.scrapes = 0
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> ScrapeRelay:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = relay._render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def set_upstream(self, upstream: str | None) -> int:
        """Serve ``upstream`` (``127.0.0.1:PORT`` or a full ``http://127.0.0.1:PORT/path``
        URL; None = nothing) from now on. Returns the new epoch."""
        if upstream is not None and not upstream.startswith("http://"):
            upstream = f"http://{_check_target(upstream)}/metrics"
        if upstream is not None and not upstream.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise ValueError(f"upstream must be on 127.0.0.1, got {upstream!r}")
        with self._lock:
            self._upstream = upstream
            self.epoch += 1
            return self.epoch

    def _render(self) -> str:
        with self._lock:
            upstream, epoch = self._upstream, self.epoch
            self.scrapes += 1
        text, up = "", 0
        if upstream is not None:
            req = urllib.request.Request(upstream, headers={"Accept": "text/plain;version=0.0.4"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    text, up = r.read().decode(), 1
            except (urllib.error.URLError, OSError):
                text, up = "", 0
        if text and not text.endswith("\n"):
            text += "\n"
        return (
            text
            + f"# HELP {RELAY_EPOCH_METRIC} test scrape relay: upstream generation\n"
            + f"# TYPE {RELAY_EPOCH_METRIC} gauge\n"
            + f'{RELAY_EPOCH_METRIC}{{upstream_up="{up}"}} {epoch}\n'
        )


class SharedPrometheus:
    """One Prometheus for the whole session, scraping a :class:`ScrapeRelay` every second.

    ``scrape(target)`` points the relay at the test's real endpoint and returns once
    Prometheus has ingested a scrape of it; ``query``/``query_range``/``wait_for`` as on
    :class:`PrometheusServer`. Series of the previous upstream go stale at that scrape, so
    instant queries no longer return them (range functions over older windows still can:
    prefer instant queries of raw values, or labels unique to the test)."""

    def __init__(self) -> None:
        self.relay = ScrapeRelay()
        self.server = PrometheusServer([])

    def start(self) -> SharedPrometheus:
        self.relay.start()
        self.server.targets = [self.relay.target]
        try:
            self.server.start()
        except BaseException:
            self.relay.stop()
            raise
        return self

    def stop(self) -> None:
        self.server.stop()
        self.relay.stop()

    def scrape(self, target: str | None, timeout: float = 20.0) -> None:
        epoch = self.relay.set_upstream(target)
        self.server.wait_for(
            f"{RELAY_EPOCH_METRIC} >= {epoch}",
            timeout=timeout,
        )

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def job(self) -> str:
        return self.server.job

    @property
    def instance(self) -> str:
        """The ``instance`` label every series scraped through the relay carries."""
        return self.relay.target

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        return self.server.query(promql, at)

    def query_range(self, promql: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        return self.server.query_range(promql, start, end, step)

    def wait_for(self, promql: str, timeout: float = 15.0, predicate: Any = None) -> list[dict[str, Any]]:
        return self.server.wait_for(promql, timeout, predicate)
