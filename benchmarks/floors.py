"""The floors under issue 7's targets: what the parts no events-only tracer can drop cost alone.

    python benchmarks/floors.py [--calls 3000]      # needs valgrind; about 5 minutes
    python benchmarks/floors.py --quick             # CI: CPU time of each probe, no valgrind

Each probe runs twice under callgrind, with 0 and with N repetitions after the same set-up
and warm-up (as in ``instructions.py``); the difference divided by N is one repetition.
The probes, all for DynamoDB GetItem and with the SDK set-up of ``workload.py``:

* ``histogram-record``: one ``Histogram.record`` on botocore-otel's own instrument with the
  attribute set of a successful call (the metrics issue asks for six histograms a call);
* ``unsampled-span`` and ``recording-span``: an SDK span with the call span's name, kind
  and start attributes, made current (one attach and detach) and ended, under
  ``ParentBased(TraceIdRatioBased(0))`` and ``ALWAYS_ON``;
* ``trace-headers``: botocore-otel's X-Ray and ``traceparent`` headers written into an empty
  dict (no other header to check, nothing signed: the least any call pays);
* ``five-handlers`` minus ``bare``: a GetItem with one no-op handler on each of the five
  events a call needs (provide-client-params, before-call, before-send, response-received,
  after-call), against a bare GetItem.

It then prints the targets in instructions (from the official package's counts, measured in
the same run) next to the sum of the floors that each target must cover.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import instructions  # benchmarks/, on sys.path as the script's folder
import workload

HERE = Path(__file__).resolve().parent
PROBES = ("histogram-record", "unsampled-span", "recording-span", "trace-headers", "five-handlers", "bare")
_EVENTS = ("provide-client-params", "before-call", "before-send", "response-received", "after-call")


def _histogram_record() -> Callable[[], Any]:
    import boto3
    from opentelemetry import metrics

    from botocore_otel.attributes import operation_info
    from botocore_otel.config import load_settings
    from botocore_otel.metrics import CallMetrics

    client = boto3.session.Session(region_name=workload.REGION, **workload.CREDENTIALS).client("dynamodb")
    model = client.meta.service_model.operation_model("GetItem")
    info = operation_info("dynamodb", model, load_settings({}, strict=True).semconv)
    assert info is not None
    call_metrics = CallMetrics(metrics.get_meter("benchmark.floors"))
    attributes = call_metrics.attributes(info.metric_attributes, workload.REGION, 200, None, False)
    histogram = call_metrics.rpc_duration
    return lambda: histogram.record(0.0012, attributes)


def _current_span() -> Callable[[], Any]:
    from opentelemetry import context, trace

    name, kind, attributes = workload.call_span_shapes()["GetItem"]
    tracer = trace.get_tracer("benchmark.floors")

    def one() -> None:
        span = tracer.start_span(name, kind=kind, attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.end()

    return one


def _trace_headers() -> Callable[[], Any]:
    from opentelemetry import context, trace

    from botocore_otel.propagation import HeaderInjector

    span = trace.get_tracer("benchmark.floors").start_span("headers")
    ctx = trace.set_span_in_context(span, context.get_current())
    span_context = span.get_span_context()
    injector = HeaderInjector(baggage=False)
    return lambda: injector.inject({}, ctx, span_context)


def _getitem(handlers: int) -> Callable[[], Any]:
    import botocore

    def no_op(**_: Any) -> None:
        return None

    def register(session: Any) -> None:
        emitter = session.get_component("event_emitter")
        for event in _EVENTS[:handlers]:
            emitter.register(event, no_op, unique_id=f"benchmark.floors.{event}")

    botocore.register_initializer(register)
    return workload.clients()["GetItem"]


def probe(name: str) -> Callable[[], Any]:
    workload.sdk(sampled=name != "unsampled-span")
    if name == "histogram-record":
        return _histogram_record()
    if name in ("unsampled-span", "recording-span"):
        return _current_span()
    if name == "trace-headers":
        return _trace_headers()
    return _getitem(len(_EVENTS) if name == "five-handlers" else 0)


def _run_probe(name: str, repetitions: int, timed: bool) -> None:
    one = probe(name)
    for _ in range(200):
        one()
    start = time.process_time()
    for _ in range(repetitions):
        one()
    if timed:
        print((time.process_time() - start) / repetitions)


def _cpu_per_repetition(name: str, repetitions: int, env: dict[str, str]) -> float:
    """Seconds of CPU of one repetition of a probe, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, str(HERE / "floors.py"), "--probe", name, "--calls", str(repetitions), "--time"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="CPU time of each probe, no valgrind (CI)")
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # the child side: one probe, N times
    parser.add_argument("--time", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        _run_probe(args.probe, args.calls, args.time)
        return 0
    env = instructions.clean_env()
    if args.quick:
        print("| probe | µs of CPU per repetition (200 repetitions: noise, proves the probes run) |")
        print("|---|---|")
        for name in PROBES:
            print(f"| {name} | {_cpu_per_repetition(name, 200, env) * 1e6:.1f} |")
        return 0
    if not instructions.available():
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    script = str(HERE / "floors.py")
    jobs = [(name, n) for name in PROBES for n in (0, args.calls)]

    def counted(job: tuple[str, int]) -> int:
        return instructions.count([script, "--probe", job[0], "--calls", str(job[1])], env)

    with ThreadPoolExecutor(2) as pool:
        totals = dict(zip(jobs, pool.map(counted, jobs), strict=True))
    per = {name: (totals[(name, args.calls)] - totals[(name, 0)]) / args.calls for name in PROBES}
    variants = ("bare", "official", "official-unsampled", "floor")
    counts = {
        v: c["GetItem"]
        for v, c in instructions.per_call(variants, ("GetItem",), args.calls, sys.stderr).items()
    }
    record_us = _cpu_per_repetition("histogram-record", 20000, env) * 1e6
    print("\n".join(_report(per, counts, record_us, args.calls)))
    return 0


def _report(per: dict[str, float], counts: dict[str, float], record_us: float, calls: int) -> list[str]:
    dispatch = per["five-handlers"] - per["bare"]
    record, unsampled, recording = per["histogram-record"], per["unsampled-span"], per["recording-span"]
    headers = per["trace-headers"]
    lines = [
        f"## Floors (callgrind, {calls} repetitions; instructions)",
        "",
        "| part | instructions |",
        "|---|---|",
        f"| one SDK histogram record (botocore-otel's attributes; {record_us:.1f} µs of CPU in a loop) "
        f"| {record / 1e3:.0f}k |",
        f"| six such records (the metric set of the metrics issue) | {6 * record / 1e3:.0f}k |",
        f"| five no-op handlers on a call's events | {dispatch / 1e3:.0f}k |",
        f"| unsampled SDK span, made current, ended | {unsampled / 1e3:.0f}k |",
        f"| recording SDK span, made current, ended | {recording / 1e3:.0f}k |",
        f"| X-Ray and traceparent headers | {headers / 1e3:.0f}k |",
        "",
        "| target (GetItem) | allowed | floor: the parts above that it must cover | verdict |",
        "|---|---|---|---|",
    ]
    added = {v: counts[v] - counts["bare"] for v in ("official", "official-unsampled")}
    unsampled_floor, recording_floor = dispatch + unsampled + headers, dispatch + recording + headers
    targets = (
        ("not sampled <= 0.25x official, metrics=False", 0.25 * added["official-unsampled"], unsampled_floor),
        (
            "not sampled <= 0.25x official, defaults",
            0.25 * added["official-unsampled"],
            unsampled_floor + 6 * record,
        ),
        ("recording <= 0.5x official, metrics=False", 0.5 * added["official"], recording_floor),
        ("recording <= 1.5x a bare span, metrics=False", 1.5 * counts["floor"], recording_floor),
        ("recording <= 1.5x a bare span, defaults", 1.5 * counts["floor"], recording_floor + 6 * record),
    )
    for label, allowed, floor in targets:
        verdict = "below the floor" if allowed < floor else "reachable"
        lines.append(f"| {label} | {allowed / 1e3:.0f}k | {floor / 1e3:.0f}k | {verdict} |")
    lines.append(
        f"| metrics <= 15 µs | 15 µs | six records: {6 * record_us:.0f} µs | "
        f"{'below the floor' if 6 * record_us > 15 else 'reachable'} |"
    )
    return lines


if __name__ == "__main__":
    sys.exit(main())
