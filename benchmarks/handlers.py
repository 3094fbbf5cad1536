"""botocore-otel's four handlers alone on one DynamoDB GetItem, called as botocore calls them.

    python benchmarks/handlers.py [--calls 200]   # callgrind; about 30 seconds
    python benchmarks/handlers.py --quick         # CI: the replay runs (CPU time, no valgrind)

For quick A/B of a change to the hot path. No botocore call is made: the handlers of the
defaults (provide-client-params, before-send, response-received, after-call) get the keyword
arguments botocore gives them, with a real prepared request, parsed response and
``AWSResponse``, under ``workload.py``'s SDK set-up, recording and not sampled. A first window
builds the same objects without calling the handlers; its count is taken off.

Without botocore around them, and with no span exported inside a window
(``instructions.QUIET_EXPORTS``), the counts repeat to within about 0.3k instructions. They
leave out botocore's dispatch (the floor's "four no-op handlers") and every other
operation's own handlers (SQS's payload propagation, for one): a change's full effect is
still ``instructions.py``'s to tell.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import instructions  # benchmarks/, on sys.path as the script's folder

HERE = Path(__file__).resolve().parent
_URL = "https://dynamodb.us-east-1.amazonaws.com/"
# Built once: names made inside the measured function would be counted as the handlers' work.
_EVENTS = {
    name: f"{name}.dynamodb.GetItem"
    for name in ("provide-client-params", "before-send", "response-received", "after-call")
}


def _calls(sampled: bool) -> dict[str, Callable[[], Any]]:
    """The set-up window, then the handlers' window (each builds the same objects). Exits
    when the replay no longer makes one call on the wire with its span (a handler that now
    wants other arguments reports and returns: nothing would be measured)."""
    import workload

    workload.sdk(sampled=sampled)
    import boto3
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HeadersDict

    from botocore_otel.config import load_settings
    from botocore_otel.instrumentation import Instrumentation
    from botocore_otel.state import STATE_KEY

    session = boto3.session.Session(region_name=workload.REGION, **workload.CREDENTIALS)
    client = session.client("dynamodb")
    lifecycle = Instrumentation(load_settings({}, strict=True), lambda **_: None).lifecycle
    model = client.meta.service_model.operation_model("GetItem")
    config = client.meta.config

    def objects() -> tuple[Any, ...]:
        params = {**workload.GET_ITEM_PARAMS}
        context = {"client_region": workload.REGION, "client_config": config, "has_streaming_input": False}
        request_headers = HeadersDict({"Content-Type": "application/x-amz-json-1.0"})
        request = AWSPreparedRequest("POST", _URL, request_headers, b"{}", False, context)
        headers = HeadersDict({"x-amzn-requestid": "REQ", "content-type": "application/x-amz-json-1.0"})
        metadata = {"RequestId": "REQ", "HTTPStatusCode": 200, "HTTPHeaders": {"x-amzn-requestid": "REQ"}}
        parsed = {"Item": {}, "ResponseMetadata": {**metadata, "RetryAttempts": 0}}
        response_dict = {"status_code": 200, "headers": headers, "body": b"{}"}
        return params, context, request, parsed, response_dict, AWSResponse(_URL, 200, headers, None)

    def set_up() -> None:
        objects()[1].setdefault("retries", {})["attempt"] = 1

    def handlers(check: bool = False) -> Any:
        params, context, request, parsed, response_dict, http = objects()
        lifecycle.on_provide_client_params(
            params=params, model=model, context=context, event_name=_EVENTS["provide-client-params"]
        )
        context.setdefault("retries", {})["attempt"] = 1  # botocore's endpoint, before signing
        lifecycle.on_before_send(request=request, event_name=_EVENTS["before-send"])
        lifecycle.on_response_received(
            response_dict=response_dict,
            parsed_response=parsed,
            context=context,
            exception=None,
            model=model,
            event_name=_EVENTS["response-received"],
        )
        lifecycle.on_after_call(
            http_response=http, parsed=parsed, model=model, context=context, event_name=_EVENTS["after-call"]
        )
        return context.get(STATE_KEY) if check else None

    call = handlers(check=True)
    if call is None or not call.ended or call.span is None or call.attempts != 1:
        raise SystemExit("handlers.py: the replay made no call on the wire (see the log above)")
    return {"set-up": set_up, "handlers": handlers}


def measure(calls: int, helper: Path) -> dict[str, float]:
    """sampling mode -> the handlers' instructions per call, set-up taken off."""
    counted = {}
    for mode in ("recording", "not sampled"):
        env = {**instructions.clean_env(), "BENCHMARK_SAMPLED": "1" if mode == "recording" else "0"}
        script = [str(HERE / "handlers.py"), "--child", str(calls)]
        per = instructions.per_window(script, ["set-up", "handlers"], calls, env, helper)
        counted[mode] = per["handlers"] - per["set-up"]
    return counted


def _cpu_microseconds(calls: int) -> None:
    """The quick child: CPU time per replay, set-up taken off, as one line of text."""
    timed = {}
    for name, call in _calls(os.environ["BENCHMARK_SAMPLED"] == "1").items():
        start = time.process_time()
        for _ in range(calls):
            call()
        timed[name] = (time.process_time() - start) / calls
    print(f"{(timed['handlers'] - timed['set-up']) * 1e6:.1f}")


def _quick(calls: int) -> None:
    for mode, sampled in (("recording", "1"), ("not sampled", "0")):
        env = {**instructions.clean_env(), "BENCHMARK_SAMPLED": sampled}
        done = subprocess.run(
            [sys.executable, str(HERE / "handlers.py"), "--child-quick", str(calls)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"handlers.py --quick, {mode}:\n{done.stderr[-2000:]}")
        print(f"  {mode:12} {done.stdout.strip():>8} µs of CPU (noise here: ±30 %)")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        instructions.count_windows(_calls(os.environ["BENCHMARK_SAMPLED"] == "1"), int(args[1]))
        return 0
    if args[:1] == ["--child-quick"]:
        _cpu_microseconds(int(args[1]))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="CPU time, no valgrind: for CI")
    options = parser.parse_args(args)
    if options.quick:
        print(f"botocore-otel's handlers on one GetItem, defaults ({options.calls} calls):")
        _quick(options.calls)
        return 0
    with instructions.helper_or_exit() as helper:
        counted = measure(options.calls, helper)
    print(f"botocore-otel's handlers on one GetItem, defaults ({options.calls} calls a window):")
    for mode, per_call in counted.items():
        print(f"  {mode:12} {per_call / 1e3:8.2f}k instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
