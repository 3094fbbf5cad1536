"""pytest plugin: run any test suite (botocore's own, say) with botocore-otel switched on.

Opt-in only (no ``pytest11`` entry point, so installing botocore-otel changes no other
project's test runs): load it with ``pytest -p botocore_otel.pytest_plugin``, then switch it
on with ``--botocore-otel`` or ``BOTOCORE_OTEL_PYTEST=1``. Nothing from OpenTelemetry or
botocore is imported until then.

When enabled, at session start it instruments every botocore session globally with:

* a recording SDK ``TracerProvider`` (AlwaysOn sampler) whose span processor only counts
  spans started and ended, and remembers the ones still open;
* trace header propagation on (the global propagator, W3C by default, plus X-Ray);
* metrics on, into an SDK ``MeterProvider`` with an in-memory reader;
* per-attempt spans on (more of our code runs), synthetic responses off;

unless a ``BOTOCORE_OTEL_*`` variable gives one of these settings (checked like any other: a
bad value, or a ``BOTOCORE_OTEL_PYTEST`` that is not a boolean, is a usage error).

At the end it reports spans created, spans still open and the warnings and errors logged
by the ``botocore_otel`` logger (instrumentation errors), in the terminal summary and,
with ``--botocore-otel-report=PATH``, as JSON. Under pytest-xdist each worker counts its
own and the controller adds them up.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

ENV_SWITCH = "BOTOCORE_OTEL_PYTEST"
_MAX_SAMPLES = 20
# The longest wait at the end for calls still running on threads that tests left behind:
# botocore's default (legacy) retries alone may sleep up to 15 s in all.
_SETTLE_SECONDS = 60.0
_HARNESS = pytest.StashKey["_Harness"]()
# The harness's settings where no BOTOCORE_OTEL_* variable gives one (the rest come from them).
_OPTIONS: dict[str, Any] = {
    "propagate": True,
    "metrics": True,
    "attempt_spans": True,
    "synthetic": None,
    "skip_services": frozenset(),
}
_TOTALS = pytest.StashKey[dict[str, Any]]()


def _calls_running_elsewhere() -> bool:
    """Whether a thread other than this one is inside a botocore client call."""
    this_thread = threading.get_ident()
    for thread, frame in sys._current_frames().items():
        if thread == this_thread:
            continue
        while frame is not None:
            code = frame.f_code
            if code.co_name == "_make_api_call" and "botocore" in code.co_filename:
                return True
            frame = frame.f_back  # type: ignore[assignment]
    return False


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("botocore-otel", "botocore-otel instrumentation")
    group.addoption(
        "--botocore-otel",
        action="store_true",
        default=False,
        help=f"instrument every botocore session with botocore-otel (or set {ENV_SWITCH}=1)",
    )
    group.addoption(
        "--botocore-otel-report",
        default=None,
        metavar="PATH",
        help="with --botocore-otel: also write the end-of-run figures to PATH as JSON",
    )


def enabled(config: pytest.Config) -> bool:
    """Raises ``pytest.UsageError`` for a ``BOTOCORE_OTEL_PYTEST`` that is not a boolean."""
    on = False
    if os.environ.get(ENV_SWITCH, "").strip():  # an empty variable counts as unset
        from botocore_otel.config_values import parse_bool
        from botocore_otel.errors import ConfigError

        try:
            on = parse_bool(ENV_SWITCH, os.environ[ENV_SWITCH])
        except ConfigError as error:
            raise pytest.UsageError(f"botocore-otel: {error}") from None
    return bool(config.getoption("botocore_otel", default=False)) or on


def _options() -> dict[str, Any]:
    """The harness's settings, less those a ``BOTOCORE_OTEL_*`` variable gives."""
    from botocore_otel.config import env_names

    names = env_names()
    return {k: v for k, v in _OPTIONS.items() if not os.environ.get(names.get(k, ""), "").strip()}


def _check_report_path(config: pytest.Config, on: bool) -> None:
    path = config.getoption("botocore_otel_report", default=None)
    if not path or getattr(config, "workerinput", None) is not None:  # xdist workers write none
        return
    if not on:
        raise pytest.UsageError(f"--botocore-otel-report needs --botocore-otel (or {ENV_SWITCH}=1)")
    try:
        with open(path, "a", encoding="utf-8"):  # written at the end: said now, not after the run
            pass
    except OSError as error:
        raise pytest.UsageError(f"botocore-otel: --botocore-otel-report={path}: {error.strerror}") from None


class _CountingHandler(logging.Handler):
    """Counts the ``botocore_otel`` logger's warnings and errors, keeps a few samples."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.samples) < _MAX_SAMPLES:
            try:
                text = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    error = record.exc_info[1]
                    text += f" [{type(error).__name__}: {error}]"
                self.samples.append(text)
            except Exception:  # a record that cannot be formatted still counts
                self.samples.append(repr(record.msg))


class _Harness:
    """The providers, the counters and the instrumentation of one pytest process."""

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        harness = self
        self._lock = threading.Lock()
        self.started = 0
        self.ended = 0
        self._open: dict[int, str] = {}

        class Counter(SpanProcessor):
            def on_start(self, span: Span, parent_context: Context | None = None) -> None:
                harness._on_start(span)

            def on_end(self, span: ReadableSpan) -> None:
                harness._on_end(span)

        self.tracer_provider = TracerProvider(sampler=ALWAYS_ON)
        self.tracer_provider.add_span_processor(Counter())
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.log_handler = _CountingHandler()
        self._instrumentor: Any = None

    def _on_start(self, span: Span) -> None:
        context = span.get_span_context()
        with self._lock:
            self.started += 1
            if context is not None:
                self._open[context.span_id] = span.name

    def _on_end(self, span: ReadableSpan) -> None:
        context = span.get_span_context()
        with self._lock:
            self.ended += 1
            if context is not None:
                self._open.pop(context.span_id, None)

    def start(self) -> None:
        from botocore_otel.instrumentor import Instrumentor

        logger = logging.getLogger("botocore_otel")
        logger.addHandler(self.log_handler)
        if logger.getEffectiveLevel() > logging.WARNING:
            logger.setLevel(logging.WARNING)
        self._instrumentor = Instrumentor()
        self._instrumentor.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **_options()
        )

    def stop(self) -> dict[str, Any]:
        from botocore_otel.state import end_abandoned

        # A call dropped without a closing event is queued by its finalizer when collected, and
        # ended at the next safe point (the next call, uninstrument, exit): this is one. A call
        # still running on a thread a test left behind (s3transfer's, retrying with backoff) is
        # waited for: only a span open once no call runs elsewhere is reported as left open.
        deadline = time.monotonic() + _SETTLE_SECONDS
        while True:
            gc.collect()
            end_abandoned()
            with self._lock:
                settled = not self._open
            if settled or time.monotonic() > deadline or not _calls_running_elsewhere():
                break
            time.sleep(0.05)
        figures = self.figures()
        if self._instrumentor is not None:
            self._instrumentor.uninstrument()
            self._instrumentor = None
        logging.getLogger("botocore_otel").removeHandler(self.log_handler)
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()
        return figures

    def figures(self) -> dict[str, Any]:
        calls = 0
        negative = 0
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        if metric.name.endswith("duration") and getattr(point, "min", 0) < 0:
                            negative += 1
                        if metric.name == "rpc.client.call.duration":
                            calls += int(getattr(point, "count", 0))
        with self._lock:
            open_names = sorted(self._open.values())
            return {
                "processes": 1,
                "spans_started": self.started,
                "spans_ended": self.ended,
                "spans_open": len(open_names),
                "open_span_names": open_names[:_MAX_SAMPLES],
                "calls_measured": calls,
                "negative_durations": negative,
                "instrumentation_errors": self.log_handler.count,
                "error_samples": list(self.log_handler.samples),
            }


def _add(totals: dict[str, Any], figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        if isinstance(value, list):
            merged = totals.setdefault(key, [])
            merged.extend(value[: max(0, _MAX_SAMPLES - len(merged))])
        elif isinstance(value, int):
            totals[key] = totals.get(key, 0) + value


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    on = enabled(config)
    _check_report_path(config, on)
    if not on:
        return
    config.stash[_TOTALS] = {}
    from botocore_otel.errors import ConfigError

    try:
        if config.pluginmanager.has_plugin("dsession"):  # the pytest-xdist controller: workers run tests
            from botocore_otel.config import load_settings

            load_settings(_options(), strict=True)  # checked here once, not in each worker
            return
        harness = _Harness()
        harness.start()
    except ConfigError as error:  # a bad BOTOCORE_OTEL_* variable: said as pytest says usage errors
        raise pytest.UsageError(f"botocore-otel: {error}") from None
    config.stash[_HARNESS] = harness


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _TOTALS not in config.stash:
        return
    totals = config.stash[_TOTALS]
    harness = config.stash.get(_HARNESS, None)
    if harness is not None:
        figures = harness.stop()
        del config.stash[_HARNESS]
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller reports
            workeroutput["botocore_otel"] = json.dumps(figures)
            return
        _add(totals, figures)
    path = config.getoption("botocore_otel_report", default=None)
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(totals, out, indent=2, sort_keys=True)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; add up its figures."""
    config = node.config
    if _TOTALS not in config.stash:
        return
    raw = getattr(node, "workeroutput", {}).get("botocore_otel")
    if raw:
        _add(config.stash[_TOTALS], json.loads(raw))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    totals = config.stash.get(_TOTALS, None)
    if totals is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("botocore-otel")
    write(
        f"spans created: {totals.get('spans_started', 0)}, "
        f"still open: {totals.get('spans_open', 0)}, "
        f"calls measured: {totals.get('calls_measured', 0)}, "
        f"negative durations: {totals.get('negative_durations', 0)}, "
        f"instrumentation errors logged: {totals.get('instrumentation_errors', 0)} "
        f"(processes: {totals.get('processes', 0)})"
    )
    for name in totals.get("open_span_names", []):
        write(f"  open span: {name}")
    for sample in totals.get("error_samples", []):
        write(f"  logged: {sample}")
