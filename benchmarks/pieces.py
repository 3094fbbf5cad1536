"""Where a call's instructions go: callgrind counting only inside the functions named.

    python benchmarks/pieces.py [--variant otel] [--op GetItem] [--calls 100] FUNCTION...

FUNCTION is ``module:qualified.name``, for example
``botocore_otel.lifecycle:Lifecycle.on_after_call`` or
``opentelemetry.sdk.trace:Span.set_attributes``. Each one is measured in a process of its own
(``workload.py``'s set-up of that variant), under callgrind with collection off: a wrapper
turns it on when the function is entered and off when it returns (its outermost call only),
over ``--calls`` calls of the operation after a warm-up. The figure is inclusive (everything
the function calls) per call of the operation, however many times the function runs in it.

The wrapper itself costs about 2.5k instructions a call, and more with many keyword
arguments to pass on, counted in every figure: measure a function that does nearly nothing
to see it, such as ``botocore_otel.lifecycle:Lifecycle.on_before_parse`` with
``--variant otel-all`` (the phase metrics call it; 6.3k in all on 2026-12-07, its own work a
ContextVar read and the clock). A module-level function is wrapped where it is defined: a
module that imported it by name still calls the original, and nothing is counted.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import instructions  # benchmarks/, on sys.path as the script's folder

HERE = Path(__file__).resolve().parent


def _counting_only_inside(target: str, toggle: Callable[[], None], on: list[bool]) -> None:
    module_name, _, qualname = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    function = getattr(owner, name)
    inside = [False]

    @functools.wraps(function)
    def counted(*args: Any, **kwargs: Any) -> Any:
        if not on[0] or inside[0]:
            return function(*args, **kwargs)
        inside[0] = True
        toggle()
        try:
            return function(*args, **kwargs)
        finally:
            toggle()
            inside[0] = False

    setattr(owner, name, counted)


def _child(variant: str, operation: str, calls: int, target: str) -> None:
    """The measured process: patch before the set-up, so handlers bind the wrapper."""
    import workload

    toggle = ctypes.CDLL(os.environ[instructions.HELPER_ENV]).benchmark_toggle
    on = [False]
    _counting_only_inside(target, toggle, on)
    call = workload.setup(variant, [operation])[operation]
    for _ in range(instructions.WARM_UP):
        call()
    gc.collect()
    gc.freeze()
    on[0] = True
    for _ in range(calls):
        call()
    on[0] = False


def measure(variant: str, operation: str, calls: int, target: str, helper: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        out = Path(folder) / "out"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                f"--callgrind-out-file={out}",
                instructions._interpreter(),
                str(HERE / "pieces.py"),
                "--child",
                variant,
                operation,
                str(calls),
                target,
            ],
            env={**instructions.clean_env(), instructions.HELPER_ENV: str(helper)},
            capture_output=True,
            text=True,
            cwd=HERE,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{target} failed under callgrind:\n{done.stderr[-2000:]}")
        found = instructions._SUMMARY.search(out.read_text(errors="replace"))
        return int(found.group(1)) / calls if found else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        _child(args[1], args[2], int(args[3]), args[4])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--variant", default="otel")
    parser.add_argument("--op", default="GetItem")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("functions", nargs="+", metavar="FUNCTION")
    options = parser.parse_args(args)
    with instructions.helper_or_exit() as helper:
        print(f"{options.variant}, {options.op}: instructions inside, per call ({options.calls} calls)")
        for target in options.functions:
            per_call = measure(options.variant, options.op, options.calls, target, helper)
            print(f"{per_call / 1e3:8.1f}k  {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
