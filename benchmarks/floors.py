"""The floor of each configuration: what the parts no events-only tracer can drop cost alone.

    python benchmarks/floors.py [--calls 500]   # callgrind; about 6 minutes of CPU
    python benchmarks/floors.py --quick         # CI: CPU time of each probe, no valgrind

Each probe is one part, repeated in a counted callgrind window (see ``instructions.py``),
with the SDK set-up of ``workload.py``. Per operation (DynamoDB GetItem, SQS SendMessage):

* ``bare``: the call on bare botocore (for the report's absolute figure);
* ``emits`` and ``emits-handled``: the four events a call needs (provide-client-params: its
  start; before-send: the span and headers; response-received: each attempt's end;
  after-call: the call's), emitted on a client's emitter with the keyword arguments botocore
  gives them, without and with a no-op handler on each; the difference is the dispatch.
  Until 2026-12-06 it was the difference of two whole calls (with and without the no-op
  handlers), which moved by up to 8k between runs (21k to 29k for SendMessage); these
  emits repeat to the instruction. before-call is not among them: botocore-otel's defaults
  need no handler there; the phases of ``metrics="all"`` add three handlers that the floor
  leaves out, and SendMessage's payload propagation two;
* ``span``: an SDK span with the call span's name, kind and attributes (those botocore-otel
  gives it), made current (one attach and detach) and ended; recording (``ALWAYS_ON``) and
  not sampled (``ParentBased(TraceIdRatioBased(0))``). The attributes that only the response
  tells (``RESPONSE_ATTRIBUTES``: request ids, status code, retries, the message id) are set
  in one ``set_attributes`` call before the end, the rest at the start, as any tracer must
  (until 2026-12-04 they were all given at the start, about 15k instructions less than is
  possible);
* ``span-without-attributes`` (recording only, for the report): the same span with no
  attributes; the difference is what the span's attributes cost;
* ``lean-record``: one ``rpc.client.call.duration`` record with the default attribute set
  (rpc.system, rpc.service, rpc.method, cloud.region), from main's ``CallMetrics``, in the
  context of a span of the mode's sampling: recording, the SDK's default exemplar filter keeps
  an exemplar of it (as it does of each call's durations, which point at the call's span);
  not sampled, it keeps none. Until 2026-12-06 the floor had no exemplar in either mode;
* ``all-records``: the six records ``metrics="all"`` makes for a one-attempt call (rpc, the
  two smithy histograms with the status code, the three phases), in the same context;
* SendMessage only: ``context-into-body`` (the traceparent formatted as a message attribute,
  by string formatting rather than ``json.dumps``, and appended to the serialized JSON body:
  the least a tracer that writes the context into the message pays), and, for the record
  only, ``with-traceparent`` (the call when the caller passes that attribute: what botocore
  spends validating and serializing it, over ``bare``; botocore-otel no longer pays it on a
  SendMessage without attributes of the caller's).

And ``headers``: the X-Ray and ``traceparent`` headers formatted from the span context and
written into a fresh ``HeadersDict``'s storage with shared keys (nothing to check or skip: the
least any call pays; botocore-otel writes them the same way).

A configuration's floor: dispatch + span (its sampling mode) + headers + one lean record
(defaults) or the six records (``all``); SendMessage adds the context in the message. Each
probe is counted under the hash seeds of ``instructions.SEEDS`` (``--seeds``), one process per
sampling mode and seed; the floor is their mean, and each seed's floor is set against the
calls counted under the same seed (``run.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

import instructions  # benchmarks/, on sys.path as the script's folder
import workload

HERE = Path(__file__).resolve().parent
OPERATIONS = ("GetItem", "SendMessage")
CONFIGS = ("defaults", "all")
SAMPLING = ("recording", "unsampled")
EVENTS = ("provide-client-params", "before-send", "response-received", "after-call")
_PER_OP = ("bare", "emits", "emits-handled", "span", "span-without-attributes", "lean-record", "all-records")
_BY_SAMPLING = ("span", "lean-record", "all-records")


def probe_names(sampling: str) -> list[str]:
    """The probes one process measures, in window order (names ``OP:part`` or ``headers``)."""
    if sampling == "unsampled":  # only the span, the records' exemplars and the sampled flag differ
        return ["headers", *(f"{op}:{part}" for op in OPERATIONS for part in _BY_SAMPLING)]
    names = ["headers", *(f"{op}:{part}" for op in OPERATIONS for part in _PER_OP)]
    return [*names, "SendMessage:context-into-body", "SendMessage:with-traceparent"]


# What only the response tells: set once after it, the least a tracer pays for them.
RESPONSE_ATTRIBUTES = (
    "aws.request_id",
    "aws.extended_request_id",
    "aws.retry_attempts",
    "http.response.status_code",
    "messaging.message.id",
)


def _span(operation: str, shapes: dict[str, Any], with_attributes: bool = True) -> Callable[[], None]:
    from opentelemetry import context, trace

    name, kind, attributes = shapes[operation]
    attributes = attributes if with_attributes else {}
    at_start = {k: v for k, v in attributes.items() if k not in RESPONSE_ATTRIBUTES}
    at_end = {k: v for k, v in attributes.items() if k in RESPONSE_ATTRIBUTES}
    tracer = trace.get_tracer("benchmark.floors")

    def one() -> None:
        span = tracer.start_span(name, kind=kind, attributes=at_start)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        if at_end:
            span.set_attributes(at_end)
        span.end()

    return one


_PARAMS: dict[str, dict[str, Any]] = {
    "GetItem": workload.GET_ITEM_PARAMS,
    "SendMessage": workload.SEND_MESSAGE_PARAMS,
}


def _emits(operation: str, handled: bool) -> Callable[[], None]:
    """The four events of a call of ``operation``, emitted as botocore emits them, on a fresh
    client's emitter; ``handled``: with a no-op handler on each (as ``EVENTS`` are registered)."""
    import boto3
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HeadersDict

    service = {"GetItem": "dynamodb", "SendMessage": "sqs"}[operation]
    client = boto3.session.Session(region_name=workload.REGION, **workload.CREDENTIALS).client(service)

    def no_op(**_: Any) -> None:
        return None

    if handled:
        for event in EVENTS:
            client.meta.events.register(event, no_op, unique_id=f"benchmark.no-op.{event}")
    model = client.meta.service_model.operation_model(operation)
    names = {event: f"{event}.{service}.{operation}" for event in EVENTS}
    emit, params = client.meta.events.emit, _PARAMS[operation]
    context = {"client_region": workload.REGION, "client_config": client.meta.config}
    url = client.meta.endpoint_url + "/"
    request = AWSPreparedRequest("POST", url, HeadersDict({"Content-Type": "x"}), b"{}", False)
    headers = HeadersDict({"x-amzn-requestid": "REQ"})
    parsed = {"ResponseMetadata": {"RequestId": "REQ", "HTTPStatusCode": 200}}
    response_dict = {"status_code": 200, "headers": headers, "body": b"{}"}
    http = AWSResponse(url, 200, headers, None)

    def one() -> None:
        emit(names["provide-client-params"], params=params, model=model, context=context)
        emit(names["before-send"], request=request)
        emit(
            names["response-received"],
            response_dict=response_dict,
            parsed_response=parsed,
            context=context,
            exception=None,
        )
        emit(names["after-call"], http_response=http, parsed=parsed, model=model, context=context)

    reached: list[str] = []  # the names must reach handlers registered as ``EVENTS`` are

    def reach(event_name: str, **_: Any) -> None:
        reached.append(event_name)

    for event in EVENTS:
        client.meta.events.register(event, reach, unique_id=f"benchmark.check.{event}")
    one()
    for event in EVENTS:
        client.meta.events.unregister(event, unique_id=f"benchmark.check.{event}")
    if reached != list(names.values()):
        raise SystemExit(f"floors.py: the emits reached {reached}, not {list(names.values())}")
    return one


def _traceparent(span_context: Any) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"


def _headers(span: Any) -> Callable[[], None]:
    from botocore.awsrequest import _HeaderKey

    xray_key, traceparent_key = _HeaderKey("X-Amzn-Trace-Id"), _HeaderKey("traceparent")
    flags_hex = tuple(f"{flags:02x}" for flags in range(256))

    def one() -> None:
        trace_int, span_int, _, flags, _, _ = span.get_span_context()
        trace_id, span_id = trace_int.to_bytes(16, "big").hex(), span_int.to_bytes(8, "big").hex()
        keys: dict[Any, str] = {}  # a fresh request's HeadersDict storage
        keys[xray_key] = f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled={flags & 1}"
        keys[traceparent_key] = f"00-{trace_id}-{span_id}-{flags_hex[flags]}"

    return one


def _context_into_body(span: Any) -> Callable[[], None]:
    body = json.dumps(workload.SEND_MESSAGE_PARAMS).encode()

    def one() -> None:
        trace_int, span_int, _, flags, _, _ = span.get_span_context()
        traceparent = f"00-{trace_int:032x}-{span_int:016x}-{flags:02x}"  # hex: nothing to escape
        member = '"MessageAttributes": {"traceparent": {"DataType": "String", "StringValue": "%s"}}'
        b"%s, %s}" % (body[:-1], (member % traceparent).encode())

    return one


def _records(operation: str, span: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """(one lean record, the six records of ``metrics="all"``), on main's instruments, in the
    context of ``span`` (as botocore-otel records a call's durations in its span's context)."""
    import boto3
    from opentelemetry import metrics, trace

    from botocore_otel.attributes import operation_info
    from botocore_otel.config import load_settings
    from botocore_otel.metrics import CallMetrics

    service = {"GetItem": "dynamodb", "SendMessage": "sqs"}[operation]
    client = boto3.session.Session(region_name=workload.REGION, **workload.CREDENTIALS).client(service)
    settings = load_settings({"metrics": "all"}, strict=True)
    info = operation_info(service, client.meta.service_model.operation_model(operation), settings.semconv)
    lean_metrics = CallMetrics(metrics.get_meter(f"benchmark.floors.lean.{operation}"))
    every = CallMetrics(metrics.get_meter(f"benchmark.floors.all.{operation}"), settings.metrics)
    lean = lean_metrics.attributes(info.metric_attributes, workload.REGION, None, False)
    with_status = every.attributes(info.metric_attributes, workload.REGION, None, False, 200)
    rpc = lean_metrics.rpc_duration
    assert rpc is not None and every.rpc_duration is not None
    measured_in = trace.set_span_in_context(span)

    def all_records() -> None:
        assert every.rpc_duration is not None
        every.rpc_duration.record(0.0012, lean, measured_in)
        every.call_duration.record(0.0012, with_status, measured_in)
        every.attempt_duration.record(0.0011, with_status, measured_in)
        every.serialization_duration.record(0.0001, lean, measured_in)
        every.deserialization_duration.record(0.00008, lean, measured_in)
        every.signing_duration.record(0.00005, lean, measured_in)

    return (lambda: rpc.record(0.0012, lean, measured_in)), all_records


def probes(sampling: str) -> dict[str, Callable[[], Any]]:
    """name -> one repetition, in ``probe_names`` order, with the SDK set for ``sampling``."""
    from opentelemetry import trace

    workload.sdk(sampled=sampling == "recording")
    shapes = workload.call_span_shapes(OPERATIONS)
    live = trace.get_tracer("benchmark.floors").start_span("context source")
    made: dict[str, Callable[[], Any]] = {"headers": _headers(live)}
    for operation in OPERATIONS:
        made[f"{operation}:span"] = _span(operation, shapes)
        made[f"{operation}:lean-record"], made[f"{operation}:all-records"] = _records(operation, live)
    if sampling == "recording":
        bare = workload.clients(OPERATIONS)
        for operation in OPERATIONS:
            made[f"{operation}:bare"] = bare[operation]
            made[f"{operation}:emits"] = _emits(operation, handled=False)
            made[f"{operation}:emits-handled"] = _emits(operation, handled=True)
            made[f"{operation}:span-without-attributes"] = _span(operation, shapes, with_attributes=False)
        made["SendMessage:context-into-body"] = _context_into_body(live)
        attribute = {
            "traceparent": {"DataType": "String", "StringValue": _traceparent(live.get_span_context())}
        }
        made["SendMessage:with-traceparent"] = workload.clients(
            ("SendMessage",), message_attributes=attribute
        )["SendMessage"]
    return {name: made[name] for name in probe_names(sampling)}


Probes = dict[str, dict[str, float]]
"""sampling -> probe -> instructions per repetition (one seed's, or their mean)"""


def measure(calls: int, log: Any, seeds: Sequence[int] = instructions.SEEDS) -> instructions.PerSeed:
    """sampling -> probe -> instructions per repetition under each seed (one callgrind process
    per sampling mode and seed)."""
    groups = {
        sampling: (
            [str(HERE / "floors.py"), "--probes", sampling, "--calls", str(calls)],
            probe_names(sampling),
        )
        for sampling in SAMPLING
    }
    merged = instructions.per_probe(
        {s: (args, [f"{s}/{n}" for n in names]) for s, (args, names) in groups.items()}, calls, log, seeds
    )
    return {s: {n: merged[f"{s}/{n}"] for n in probe_names(s)} for s in SAMPLING}


def at_seed(per_seed: instructions.PerSeed, index: int) -> Probes:
    """The probes of the ``index``-th seed."""
    return {s: {n: values[index] for n, values in probes.items()} for s, probes in per_seed.items()}


def mean_over_seeds(per_seed: instructions.PerSeed) -> Probes:
    return {s: {n: fmean(values) for n, values in probes.items()} for s, probes in per_seed.items()}


def dispatch(recording: dict[str, float], operation: str) -> float:
    """What botocore's emitter spends calling four handlers of a call."""
    return recording[f"{operation}:emits-handled"] - recording[f"{operation}:emits"]


def parts(per: Probes, operation: str, config: str, sampling: str) -> dict[str, float]:
    """The parts of one configuration's floor, in instructions, by name."""
    recording = per["recording"]
    found = {
        "four handler dispatches": dispatch(recording, operation),
        f"{sampling} span, made current": per[sampling][f"{operation}:span"],
        "trace headers": per[sampling]["headers"],
    }
    if config == "defaults":
        found["one lean record"] = per[sampling][f"{operation}:lean-record"]
    else:
        found["six records (all)"] = per[sampling][f"{operation}:all-records"]
    if operation == "SendMessage":
        found["traceparent appended to the serialized body"] = recording["SendMessage:context-into-body"]
    return found


def floor(per: Probes, operation: str, config: str, sampling: str) -> float:
    return sum(parts(per, operation, config, sampling).values())


def report_lines(per: Probes, calls: int, seeds: int) -> list[str]:
    """``per``: the mean over ``seeds`` hash seeds."""
    lines = [
        f"## Floors (callgrind, {calls} repetitions a probe; thousands of instructions)",
        "",
        "What each part costs alone (`python benchmarks/floors.py`, method in its docstring), the "
        f"mean over {seeds} hash seeds.",
        "",
        "| part | GetItem | SendMessage |",
        "|---|---|---|",
    ]

    def k(value: float) -> str:
        return f"{value / 1e3:.0f}k"

    recording = per["recording"]
    rows: list[tuple[str, Callable[[str], float]]] = [
        ("bare call (absolute)", lambda op: recording[f"{op}:bare"]),
        ("four no-op handlers: their dispatch", lambda op: dispatch(recording, op)),
        ("recording span, made current, ended", lambda op: recording[f"{op}:span"]),
        ("unsampled span, made current, ended", lambda op: per["unsampled"][f"{op}:span"]),
        (
            "(in the recording span) its attributes",
            lambda op: recording[f"{op}:span"] - recording[f"{op}:span-without-attributes"],
        ),
        (
            "one lean histogram record (4 attributes), recording (with its exemplar)",
            lambda op: recording[f"{op}:lean-record"],
        ),
        ("one lean histogram record, not sampled", lambda op: per["unsampled"][f"{op}:lean-record"]),
        ("six records of metrics=all, recording", lambda op: recording[f"{op}:all-records"]),
        ("six records of metrics=all, not sampled", lambda op: per["unsampled"][f"{op}:all-records"]),
    ]
    for title, value in rows:
        lines.append(f"| {title} | {k(value('GetItem'))} | {k(value('SendMessage'))} |")
    lines.append(f"| X-Ray and traceparent headers | {k(recording['headers'])} | {k(recording['headers'])} |")
    into_body = recording["SendMessage:context-into-body"]
    lines.append(f"| traceparent appended to the serialized body | - | {k(into_body)} |")
    extra = recording["SendMessage:with-traceparent"] - recording["SendMessage:bare"]
    lines.append(f"| (not in the floor) botocore validating and serializing it | - | {k(extra)} |")
    lines += ["", "| floor of | GetItem | SendMessage |", "|---|---|---|"]
    for config in CONFIGS:
        for sampling in SAMPLING:
            cells = [k(floor(per, op, config, sampling)) for op in OPERATIONS]
            lines.append(f"| {config}, {sampling} | " + " | ".join(cells) + " |")
    return lines


def _child(sampling: str, calls: int, timed: bool) -> None:
    made = probes(sampling)
    if not timed:
        instructions.count_windows(made, calls)
        return
    times = {}
    for name, one in made.items():
        for _ in range(instructions.WARM_UP):
            one()
        start = time.process_time()
        for _ in range(calls):
            one()
        times[name] = (time.process_time() - start) / calls
    print(json.dumps(times))


def cpu_per_repetition(calls: int) -> dict[str, dict[str, float]]:
    """sampling -> probe -> seconds of CPU per repetition, each mode in a fresh interpreter."""
    found = {}
    for sampling in SAMPLING:
        done = subprocess.run(
            [sys.executable, str(HERE / "floors.py"), "--probes", sampling, "--calls", str(calls), "--time"],
            env=instructions.clean_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        found[sampling] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="CPU time of each probe, no valgrind (CI)")
    instructions.add_seeds_option(parser)
    parser.add_argument("--probes", choices=SAMPLING, help=argparse.SUPPRESS)  # the child side
    parser.add_argument("--time", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probes:
        _child(args.probes, args.calls, args.time)
        return 0
    if args.quick:
        cpu = cpu_per_repetition(200)
        print("| probe | µs of CPU per repetition (200 repetitions: noise, proves the probes run) |")
        print("|---|---|")
        for sampling, by_probe in cpu.items():
            for name, seconds in by_probe.items():
                print(f"| {sampling} {name} | {seconds * 1e6:.1f} |")
        return 0
    problem = instructions.missing()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    per_seed = measure(args.calls, sys.stderr, args.seeds)
    print("\n".join(report_lines(mean_over_seeds(per_seed), args.calls, len(args.seeds))))
    raw = {s: {n: [round(v) for v in values] for n, values in p.items()} for s, p in per_seed.items()}
    print("\nraw, per seed: " + json.dumps(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
