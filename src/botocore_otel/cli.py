"""``botocore-otel`` console command: ``demo`` and ``check-rules FILE``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from botocore_otel.errors import ConfigError

_DESCRIPTION = "botocore-otel console command: demo and check-rules FILE."


def _importable(modules: Sequence[str], install: str) -> bool:
    """Whether every module imports; if not, names the first missing one and how to install it."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            print(f"botocore-otel: {name} is not installed: {install}", file=sys.stderr)
            return False
    return True


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("botocore-otel")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return value


def _say(error: ConfigError, path: str, option: str = "") -> None:
    """A rules file's error: the file named as the command line gave it (after ``option``)."""
    from botocore_otel.synthetic.config import UnreadableRulesFile

    if isinstance(error, UnreadableRulesFile):
        text = f"cannot read {path}: {error.reason}"
    elif error.setting == path:  # the file as a whole, not one rule in it
        text = f"{path}: expected {error.allowed}"
    else:
        text = str(error)
    print(f"botocore-otel: {option}{': ' if option else ''}{text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    # Not __doc__: that is reStructuredText, and gone under python -OO.
    parser = argparse.ArgumentParser(prog="botocore-otel", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"botocore-otel {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the offline demo on synthetic responses")
    demo.add_argument("--iterations", type=_positive, default=40, help="sample requests to run (default 40)")
    demo.add_argument("--rules", help="synthetic rules file (default: the demo's own rules)")
    demo.add_argument("--loop", action="store_true", help="keep producing traffic (for deploy/)")
    check = commands.add_parser("check-rules", help="validate a synthetic rules file")
    check.add_argument("file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    if args.command == "demo":
        from botocore_otel import demo as demo_module

        if not _importable(demo_module.required_modules(), "pip install 'botocore-otel[demo]'"):
            return 2
        if args.rules:  # checked here, so that an error names the file and --rules
            from botocore_otel.synthetic import check_rules_file

            try:
                check_rules_file(args.rules)
            except ConfigError as error:
                _say(error, args.rules, "--rules")
                return 2
        try:
            demo_module.run(sys.stdout, iterations=args.iterations, rules=args.rules, loop=args.loop)
        except ConfigError as error:
            print(f"botocore-otel: {error}", file=sys.stderr)
            return 2
        return 0

    if not _importable(("botocore",), "pip install botocore"):
        return 2
    from botocore_otel.synthetic import check_rules_file

    try:
        lines = check_rules_file(args.file)
    except ConfigError as error:
        _say(error, args.file)
        return 2
    print(f"{args.file}: {len(lines)} valid rule(s)")
    for line in lines:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
