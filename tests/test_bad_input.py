"""Bad configuration: the explicit API refuses it clearly, auto-instrumentation survives it.

Every input (keyword, ``BOTOCORE_OTEL_*`` variable, synthetic rules file) with a wrong
type, an empty value, an unknown key, an out-of-range number, an unknown service or
operation, or an import path that does not import:

* ``Instrumentor().instrument(session, **kw)`` and ``load_settings(..., strict=True)``
  raise :class:`ConfigError` naming the setting, the value and what is allowed, and
  leave nothing registered;
* under auto-instrumentation (``auto_instrumentor().instrument()`` with the variable set)
  one error is logged, that feature stays off, and calls are still traced.

A hypothesis property drives ``load_settings`` with random values and environments: it
never raises anything but ConfigError (and never raises at all when not strict).
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from botocore_otel import ConfigError, wiring
from botocore_otel.config import _OPTIONS, Settings, env_names, load_settings
from botocore_otel.config_values import PARSERS, parse_bool
from botocore_otel.instrumentor import Instrumentor, auto_instrumentor
from tests.support.moto_server import MotoServer

ENV = env_names()
OPTION_NAMES = sorted(_OPTIONS)


def _wrong_arity(span: Any) -> None:
    """A hook that cannot take (span, service_id, operation, params)."""


def _rules_file(tmp: Path, rules: object, name: str = "rules.json") -> str:
    path = tmp / name
    path.write_text(json.dumps(rules))
    return str(path)


# (option, value, words the "allowed" part must contain). Values are keyword values; for
# options that have a variable, str values are also tried through the environment.
BAD_KEYWORDS: list[tuple[str, Any, str]] = [
    # wrong type
    ("propagate", 3, "boolean"),
    ("propagate", None, "boolean"),
    ("metrics", "maybe", "metric groups from rpc, smithy, phases"),
    ("baggage", [True], "boolean"),
    ("attempt_spans", "2", "boolean"),
    ("sqs_aws_trace_header", "sometimes", "boolean"),
    ("skip_services", 5, "service ids"),
    ("skip_services", {"s3": True}, "service ids"),
    ("skip_services", ["s3!"], "service ids"),
    ("request_hook", 42, "callable"),
    ("request_hook", _wrong_arity, "(span, service_id, operation"),
    ("response_hook", "os:getcwd", "(span, service_id, operation"),
    ("tracer_provider", "my-provider", "get_tracer"),
    ("meter_provider", 3, "get_meter"),
    ("payload_propagation", 3, "sqs, sns"),
    ("capture", 5, "service.Operation"),
    ("synthetic", 5, "rules"),
    # empty value
    ("skip_services", "", "service ids"),
    ("propagate", "", "boolean"),
    ("request_hook", "", "import path"),
    ("synthetic", "", "rules file"),
    ("synthetic", " ", "rules file"),
    # unknown service or operation
    ("skip_services", "dynamdb", "did you mean 'dynamodb'"),
    ("skip_services", "logs", "did you mean 'cloudwatch-logs'"),
    ("skip_services", "s3,not-a-service", "'not-a-service' is not one"),
    ("payload_propagation", "kinesis", "sqs, sns"),
    ("capture", "not-a-service.Query:Limit=app.limit", "service id"),
    ("capture", "dynamodb.Qurey:Limit=app.limit", "did you mean 'Query'"),
    ("synthetic", [{"name": "a", "match": "dynamdb.GetItem"}], "service id"),
    ("synthetic", [{"name": "a", "match": "dynamodb.GetItm"}], "dynamodb.GetItem"),
    # out-of-range numbers
    ("synthetic", [{"name": "a", "match": "dynamodb.GetItem", "rate": 1.5}], "between 0 and 1"),
    ("synthetic", [{"name": "a", "match": "dynamodb.GetItem", "rate": math.nan}], "between 0 and 1"),
    ("synthetic", [{"name": "a", "match": "s3.*", "fixed_target": -1}], "integer from 0"),
    (
        "synthetic",
        [{"name": "a", "match": "s3.GetObject", "response": {"error": {"code": "X", "status": 700}}}],
        "integer from 400 to 599",
    ),
    ("synthetic", [{"name": "a", "match": "s3.GetObject", "response": {"latency": -1}}], "from 0 to 3600"),
    # numbers no float holds, or no sleep takes: refused, never an OverflowError
    ("synthetic", [{"name": "a", "match": "dynamodb.GetItem", "rate": 10**400}], "between 0 and 1"),
    (
        "synthetic",
        [{"name": "a", "match": "s3.GetObject", "response": {"latency": 10**400}}],
        "from 0 to 3600",
    ),
    ("synthetic", [{"name": "a", "match": "s3.GetObject", "response": {"latency": 1e10}}], "from 0 to 3600"),
    (
        "synthetic",
        [
            {
                "name": "a",
                "match": "s3.*",
                "response": {"latency": {"distribution": "uniform", "min": 0, "max": 1e300}},
            }
        ],
        "from 0 to 3600",
    ),
    (
        "synthetic",
        [
            {
                "name": "a",
                "match": "bedrock-runtime.InvokeModel",
                "response": {"tokens": {"distribution": "exponential", "mean": 10**400}},
            }
        ],
        "tokens from 0 to",
    ),
    ("attribution_max_values", "²", "integer from 1 to"),  # str.isdigit() says yes, int() says no
    ("attribution_max_values", "9" * 5000, "integer from 1 to"),  # int() refuses over 4,300 digits
    ("attribution_max_values", 0, "integer from 1 to"),
    # unknown keys
    ("synthetic", [{"name": "a", "match": "s3.*", "rat": 0.5}], "one of name, match"),
    ("synthetic", {"rulez": []}, "only the key 'rules'"),
    ("capture", "dynamodb.Query:Password=app.secret", "never-captured"),
    # import paths that do not import
    ("request_hook", "no_such_module_zz:hook", "imports"),
    ("request_hook", "tests.data.sample_hooks:no_such_hook", "imports"),
    ("response_hook", "json:loads.nope", "imports"),
    ("response_hook", "not a path", "import path"),
    ("synthetic", "/nonexistent/botocore-otel-rules.json", "readable"),
]


def _ids(case: tuple[str, Any, str]) -> str:
    # a function's repr holds its address, which differs between xdist workers: its name does not
    value = getattr(case[1], "__qualname__", None) if callable(case[1]) else None
    return f"{case[0]}={(value or str(case[1]))[:30]}"


def _handler_ids(session: Any) -> list[str]:
    emitter = session.get_component("event_emitter")
    inner = getattr(emitter, "_emitter", emitter)
    return [key for key in getattr(inner, "_unique_id_handlers", {}) if str(key).startswith("botocore_otel")]


@pytest.mark.parametrize("case", BAD_KEYWORDS, ids=_ids)
def test_explicit_api_refuses_bad_keyword(case: tuple[str, Any, str]) -> None:
    option, value, allowed = case
    with pytest.raises(ConfigError) as raised:
        load_settings({option: value}, environ={}, strict=True)
    error = raised.value
    # Rules name the rule and key within the setting: synthetic[rule 'a'].rate=1.5.
    assert error.setting == option or error.setting.startswith((f"{option}[", f"{option}."))
    if error.setting == option:
        assert error.value is value
    assert allowed in error.allowed, error.allowed
    message = str(error)
    assert message.startswith(f"{error.setting}={repr(error.value)[:200]}") and allowed in message
    assert len(message) < 1000  # a long value is cut short
    # The same through the Instrumentor: it raises and registers nothing.
    session = botocore.session.Session()
    with pytest.raises(ConfigError) as again:
        Instrumentor().instrument(session, **{option: value})
    assert again.value.setting == error.setting
    assert _handler_ids(session) == []


_BOOLEANS = sorted(name for name, (parse, _) in PARSERS.items() if parse is parse_bool)


@pytest.mark.parametrize("option", _BOOLEANS)
def test_every_boolean_form_the_error_offers_is_taken(option: str) -> None:
    """The error says 'true/false, 1/0, yes/no or on/off': each of them is a value, 1 and 0 as
    numbers too."""
    with pytest.raises(ConfigError) as raised:
        load_settings({option: "maybe"}, environ={})
    assert "true/false, 1/0, yes/no or on/off" in raised.value.allowed
    metrics = {"metrics": "rpc,capacity"}  # the capacity group's own switch needs it
    for on, off in [(True, False), ("true", "false"), ("1", "0"), (1, 0), ("yes", "no"), ("on", "off")]:
        assert load_settings({option: on, **metrics}, environ={}) == load_settings(
            {option: True, **metrics}, environ={}
        ), on
        assert load_settings({option: off, **metrics}, environ={}) == load_settings(
            {option: False, **metrics}, environ={}
        ), off


@pytest.mark.parametrize("option", ["skip_services", "payload_propagation", "metrics"])
def test_a_list_setting_takes_a_stray_comma_as_the_others_do(option: str) -> None:
    """'s3,sqs,' (a trailing comma, or an empty item) is the same list, in every list setting."""
    value = {"skip_services": "s3,sqs", "payload_propagation": "sqs,sns", "metrics": "rpc,smithy"}[option]
    meant = load_settings({}, environ={ENV[option]: value})
    for written in (f"{value},", f" {value.replace(',', ' , ,')} "):
        assert load_settings({}, environ={ENV[option]: written}) == meant, written
        assert load_settings({option: written}, environ={}) == meant, written
    with pytest.raises(ConfigError):
        load_settings({option: ","}, environ={})


def test_every_option_has_a_parser_and_defaults_need_none() -> None:
    """config.py knows the options; config_values.py parses them, loaded only for a value."""
    probe = (
        "import sys; from botocore_otel.config import _OPTIONS, load_settings; "
        "load_settings({}, environ={}); print('botocore_otel.config_values' in sys.modules); "
        "load_settings({'baggage': 'on'}, environ={}); "
        "from botocore_otel.config_values import PARSERS; print(sorted(PARSERS) == sorted(_OPTIONS))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr


def test_a_value_no_check_foresaw_is_still_the_settings_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore_otel import config_values

    def overflows(setting: str, value: object) -> object:
        return float(10**400)  # what a parser's own conversion may raise

    monkeypatch.setitem(config_values.PARSERS, "attribution_max_values", (overflows, 100))
    with pytest.raises(ConfigError) as raised:
        load_settings({"attribution_max_values": 5}, environ={}, strict=True)
    assert raised.value.setting == "attribution_max_values"
    assert "OverflowError" in raised.value.allowed
    variable = {ENV["attribution_max_values"]: "5"}
    assert load_settings({}, environ=variable, strict=False).attribution_max_values == 100


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"propagation": True}, environ={})
    assert raised.value.setting == "propagation"
    assert "propagate" in raised.value.allowed  # the list of known options
    session = botocore.session.Session()
    with pytest.raises(ConfigError):
        Instrumentor().instrument(session, propagation=True)
    assert _handler_ids(session) == []


def test_a_second_instrument_still_refuses_bad_options() -> None:
    import botocore_otel

    session = botocore.session.Session()
    Instrumentor().instrument(session)
    try:
        with pytest.raises(ConfigError) as raised:
            Instrumentor().instrument(session, metrics="bogus")
        assert raised.value.setting == "metrics"
    finally:
        Instrumentor().uninstrument(session)
    botocore_otel.instrument()
    try:
        for instrument in (botocore_otel.instrument, Instrumentor().instrument):
            with pytest.raises(ConfigError) as raised:
                instrument(propagate="maybe")
            assert raised.value.setting == "propagate"
        # the base class's own options (opentelemetry-instrument passes skip_dep_check)
        Instrumentor().instrument(skip_dep_check=True, raise_exception_on_conflict=False)
    finally:
        botocore_otel.uninstrument()


def test_rules_file_problems_name_the_file_setting(tmp_path: Path) -> None:
    cases = [
        ({"rules": [{"name": "a", "match": "dynamodb.GetItem", "rate": 2}]}, "between 0 and 1"),
        ({"rules": [{"name": "a", "match": "nosuchservice.Op"}]}, "service id"),
        ({"rules": [{"name": "a", "match": "dynamodb.NoSuchOp"}]}, "operation of dynamodb"),
        ({"rules": [{"name": "a", "match": "s3.*", "surprise": 1}]}, "one of"),
        ({"rules": "all of them"}, "list of rules"),
        ({"rules": [{"name": "", "match": "s3.*"}]}, "non-empty"),
    ]
    for index, (rules, allowed) in enumerate(cases):
        path = _rules_file(tmp_path, rules, f"rules{index}.json")
        with pytest.raises(ConfigError) as raised:
            load_settings({}, environ={ENV["synthetic"]: path})
        assert raised.value.setting.startswith(ENV["synthetic"]), raised.value.setting
        assert allowed in raised.value.allowed, (rules, raised.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"rules": [')
    with pytest.raises(ConfigError) as raised:
        load_settings({"synthetic": str(broken)}, environ={})
    assert "JSON" in raised.value.allowed
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(ConfigError):
        load_settings({"synthetic": str(empty)}, environ={})
    directory = tmp_path / "a-directory.json"
    directory.mkdir()
    with pytest.raises(ConfigError):
        load_settings({"synthetic": str(directory)}, environ={})
    # Nested deeper than Python recurses: in the file's syntax, or in a rule's data.
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    deep_data = tmp_path / "deep.json"  # DynamoDB's M in M: the JSON reads, its check recurses
    item = '{"a": ' + '{"M": {"a": ' * 450 + '{"S": "x"}' + "}}" * 450 + "}"
    rule = f'{{"name": "a", "match": "dynamodb.GetItem", "response": {{"data": {{"Item": {item}}}}}}}'
    deep_data.write_text(f'{{"rules": [{rule}]}}')
    for path, allowed in ((deep_toml, "valid TOML"), (deep_data, "nested less deeply")):
        with pytest.raises(ConfigError) as raised:
            load_settings({"synthetic": str(path)}, environ={})
        assert allowed in raised.value.allowed, raised.value


# --------------------------------------------------------------------------- environment
BAD_ENV: list[tuple[str, str, str]] = [
    # (option, variable value, words of "allowed")
    ("propagate", "maybe", "boolean"),
    ("metrics", "2", "metric groups from rpc, smithy, phases"),
    ("baggage", "yes please", "boolean"),
    ("attempt_spans", "-1", "boolean"),
    ("sqs_aws_trace_header", "sometimes", "boolean"),
    ("skip_services", "dynamdb", "did you mean 'dynamodb'"),
    ("skip_services", "s3;sqs", "service ids"),
    ("request_hook", "no_such_module_zz:hook", "imports"),
    ("request_hook", "tests.data.sample_hooks", "import path"),
    ("response_hook", "os:getcwd", "(span, service_id, operation"),
    ("payload_propagation", "kinesis", "sqs, sns"),
    ("capture", "dynamodb.Query", "service.Operation"),
    ("capture", "dynamodb.Qurey:Limit=app.limit", "did you mean 'Query'"),
    ("synthetic", "/nonexistent/botocore-otel-rules.json", "readable"),
]


@pytest.mark.parametrize("case", BAD_ENV, ids=lambda c: f"{ENV[c[0]]}={c[1]}")
def test_explicit_api_refuses_bad_variable(case: tuple[str, str, str]) -> None:
    option, value, allowed = case
    variable = ENV[option]
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={variable: value}, strict=True)
    assert raised.value.setting == variable
    assert raised.value.value == value
    assert allowed in raised.value.allowed
    assert variable in str(raised.value) and repr(value) in str(raised.value)


def test_misspelt_variable_is_refused_and_other_prefixed_variables_are_not() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={"BOTOCORE_OTEL_PROPAGATES": "false"})
    assert raised.value.setting == "BOTOCORE_OTEL_PROPAGATES"
    assert "BOTOCORE_OTEL_PROPAGATE" in raised.value.allowed
    # A tool's own switch sharing the prefix (this repo's pytest plugin) is not a typo.
    load_settings({}, environ={"BOTOCORE_OTEL_PYTEST": "1"})
    # A keyword-only option has no variable: said so, not taken for a near miss of another.
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={"BOTOCORE_OTEL_PROPAGATOR": "xray"})
    assert "OTEL_PROPAGATORS" in raised.value.allowed and "PROPAGATE" not in raised.value.allowed
    with pytest.raises(ConfigError, match=r"instrument\(tracer_provider=\.\.\.\)"):
        load_settings({}, environ={"BOTOCORE_OTEL_TRACER_PROVIDER": "x"})


def test_empty_variable_counts_as_unset() -> None:
    """The OpenTelemetry convention for environment variables: empty means unset."""
    quiet = {variable: "" for variable in ENV.values()} | {ENV["propagate"]: "  "}
    assert load_settings({}, environ=quiet) == Settings()


def test_keyword_wins_over_a_bad_variable() -> None:
    loaded = load_settings({"propagate": False}, environ={ENV["propagate"]: "maybe"})
    assert loaded.propagate is False


# --------------------------------------------------------------------------- auto
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for variable in list(os.environ):
        if variable.startswith("BOTOCORE_OTEL_"):
            monkeypatch.delenv(variable)
    yield monkeypatch


# (option, bad variable value, Settings attribute that must be off, its off value)
AUTO_CASES: list[tuple[str, str, Any]] = [
    ("propagate", "maybe", False),
    ("metrics", "2", frozenset()),
    ("attempt_spans", "-1", False),
    ("skip_services", "dynamdb", frozenset()),
    ("request_hook", "no_such_module_zz:hook", None),
    ("response_hook", "os:getcwd", None),
    ("payload_propagation", "kinesis", frozenset()),
    ("capture", "not-a-service.Op:X=y", ()),
    ("synthetic", "/nonexistent/botocore-otel-rules.json", None),
    ("attribution_max_values", "²", 100),
]


@pytest.mark.parametrize("case", AUTO_CASES, ids=lambda c: ENV[c[0]])
def test_auto_instrumentation_logs_once_and_keeps_tracing(
    case: tuple[str, str, Any],
    clean_env: pytest.MonkeyPatch,
    moto: MotoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    option, value, off = case
    variable = ENV[option]
    clean_env.setenv(variable, value)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    auto = auto_instrumentor()
    auto.instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        instrumentation = wiring._global
        assert instrumentation is not None, "auto-instrumentation gave up entirely"
        assert getattr(instrumentation.settings, option) == off
        errors = [r for r in caplog.records if r.name == "botocore_otel" and r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert variable in errors[0].getMessage() and "stays off" in errors[0].getMessage()
        # Calls are still traced (a session created now is instrumented by the initializer).
        sqs = moto.client("sqs", session=boto3.session.Session())
        sqs.create_queue(QueueName="auto")
        sqs.list_queues()
        names = [span.name for span in exporter.get_finished_spans()]
        assert names == ["SQS.CreateQueue", "SQS.ListQueues"]
        sent = moto.recorded_requests()
        if option == "propagate":
            assert not any("traceparent" in request.headers for request in sent)
        else:
            assert all("traceparent" in request.headers for request in sent)
        data = reader.get_metrics_data()
        measured = data is not None and any(
            m.name == "rpc.client.call.duration"
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        assert measured is (option != "metrics")
    finally:
        auto.uninstrument()
    assert wiring._global is None


def test_auto_instrumentation_survives_an_unknown_keyword_and_a_typo(
    clean_env: pytest.MonkeyPatch, moto: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    clean_env.setenv("BOTOCORE_OTEL_METRIC", "false")
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    caplog.set_level(logging.WARNING, logger="botocore_otel")
    auto = auto_instrumentor()
    auto.instrument(tracer_provider=tracer_provider, bogus_option=1)
    try:
        moto.client("sts", session=boto3.session.Session()).get_caller_identity()
        assert [s.name for s in exporter.get_finished_spans()] == ["STS.GetCallerIdentity"]
        errors = [r.getMessage() for r in caplog.records if r.name == "botocore_otel"]
        assert len(errors) == 2, errors
        assert any("bogus_option" in e for e in errors) and any("BOTOCORE_OTEL_METRICS" in e for e in errors)
    finally:
        auto.uninstrument()


# --------------------------------------------------------------------------- property
_SAFE_PATHS = st.sampled_from(
    [
        "tests.data.sample_hooks:request_hook",
        "os:getcwd",
        "no_such_module_zz:f",
        "json:dumps",
        "json:nope.deeper",
        "a..b:c",
        ".relative:x",
        "tests.data:sample_hooks",
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.sampled_from(
        ["true", "off", "s3", "sqs,sns", "all", "none", "dynamodb", "s3.*:Bucket=b", "*", "", " ", ","]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(["name", "match", "rules"])), inner, max_size=4
        ),
        st.frozensets(st.one_of(st.text(max_size=8), st.integers()), max_size=3),
    ),
    max_leaves=8,
)


def _no_import_path(value: Any) -> bool:
    """Random strings never reach importlib (a real module could have side effects)."""
    return not (isinstance(value, str) and ":" in value)


_option_values = st.fixed_dictionaries(
    {},
    optional={
        name: (
            st.one_of(_values.filter(_no_import_path), _SAFE_PATHS, st.just(_wrong_arity))
            if name.endswith("_hook")
            else _values
        )
        for name in OPTION_NAMES
    },
)
_env_values = st.dictionaries(
    st.one_of(
        st.sampled_from(sorted(ENV.values())),
        st.sampled_from(["BOTOCORE_OTEL_PROPAGATES", "BOTOCORE_OTEL_X"]),
    ),
    st.one_of(st.text(max_size=40).filter(_no_import_path), _SAFE_PATHS),
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=_option_values, environ=_env_values, unknown=st.booleans())
def test_load_settings_only_ever_raises_config_error(
    options: dict[str, Any],
    environ: dict[str, str],
    unknown: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # relative "rules file" paths resolve to an empty directory
    if unknown:
        options = {**options, "no_such_option": 1}
    try:
        loaded = load_settings(options, environ=environ, strict=True)
        assert isinstance(loaded, Settings)
    except ConfigError as error:
        assert error.setting and error.allowed
        assert isinstance(str(error), str)
    # Not strict: problems are logged, never raised.
    logging.getLogger("botocore_otel").disabled = True
    try:
        assert isinstance(load_settings(options, environ=environ, strict=False), Settings)
    finally:
        logging.getLogger("botocore_otel").disabled = False


# --------------------------------------------------------------------------- pytest plugin
_PLUGIN_PROBE = """
import http.server
import threading

import botocore.session


def test_one_call():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"TableNames": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = botocore.session.Session().create_client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    assert client.list_tables()["TableNames"] == []
    server.shutdown()
"""


@pytest.mark.parametrize(
    ("switch", "on"),
    [
        (["BOTOCORE_OTEL_PYTEST=1"], False),
        (["--botocore-otel"], False),
        (["-p", "botocore_otel.pytest_plugin"], False),
        (["-p", "botocore_otel.pytest_plugin", "--botocore-otel"], True),
        (["-p", "botocore_otel.pytest_plugin", "BOTOCORE_OTEL_PYTEST=1"], True),
    ],
    ids=["env-without-p", "option-without-p", "p-alone", "p-and-option", "p-and-env"],
)
def test_pytest_plugin_acts_only_when_asked(switch: list[str], on: bool, tmp_path: Path) -> None:
    """Opt-in only: installing botocore-otel adds nothing to other projects' test runs. The
    plugin is loaded by ``-p botocore_otel.pytest_plugin`` and then acts only with
    ``--botocore-otel`` or ``BOTOCORE_OTEL_PYTEST=1``."""
    import subprocess
    import sys

    (tmp_path / "test_probe.py").write_text(_PLUGIN_PROBE)
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTOCORE_OTEL_", "OTEL_", "PYTEST_"))}
    args = [a for a in switch if "=" not in a]
    env.update(a.split("=", 1) for a in switch if "=" in a)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_probe.py", *args]
    if on:
        command.append(f"--botocore-otel-report={report}")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if args == ["--botocore-otel"]:  # not loaded: pytest does not know the option
        assert done.returncode == 4 and "unrecognized arguments: --botocore-otel" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("botocore-otel" in done.stdout) is on, done.stdout
    if on:
        figures = json.loads(report.read_text())
        assert figures["spans_started"] == figures["spans_ended"] >= 1
        assert figures["calls_measured"] == 1
        assert figures["spans_open"] == 0 and figures["instrumentation_errors"] == 0


def _run_plugin(
    tmp_path: Path, *args: str, probe: str = _PLUGIN_PROBE, **variables: str
) -> subprocess.CompletedProcess[str]:
    """A pytest run of ``probe`` (a test module) with the plugin on, in a clean environment."""
    (tmp_path / "test_probe.py").write_text(probe)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTOCORE_OTEL_", "OTEL_", "PYTEST_"))}
    env.update(variables)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "botocore_otel.pytest_plugin",
    ]
    command += ["--botocore-otel", "test_probe.py", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["alone", "xdist"])
def test_pytest_plugin_says_a_bad_variable_as_a_usage_error(tmp_path: Path, xdist: list[str]) -> None:
    done = _run_plugin(tmp_path, *xdist, BOTOCORE_OTEL_CAPTURE="bogus")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr and "node down" not in done.stdout
    assert "ERROR: botocore-otel: BOTOCORE_OTEL_CAPTURE='bogus' is invalid" in done.stderr


def test_pytest_plugin_under_xdist_counts_its_workers_not_the_controller(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = _run_plugin(tmp_path, "-n", "2", f"--botocore-otel-report={report}")
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(report.read_text())
    assert figures["processes"] == 2 and figures["calls_measured"] == 1
    assert "(processes: 2)" in done.stdout


_LEAK_PROBE = """
import botocore.session
import pytest

KEPT = []


class Stop(BaseException):  # not an Exception: botocore emits no after-call-error for it
    pass


def _client():
    return botocore.session.Session().create_client(
        "dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="a", aws_secret_access_key="b",
    )


def _abandoned_call(keep):
    client = _client()

    def hold(context, **_):
        if keep:
            KEPT.append(context)  # botocore's per-call context: the state is never collected

    def stop(**_):
        raise Stop()

    client.meta.events.register("before-call", hold)
    client.meta.events.register("before-send", stop)  # after ours, which is first
    with pytest.raises(Stop):
        client.list_tables()


def test_a_call_abandoned_and_one_kept_alive():
    import threading

    _abandoned_call(keep=True)  # the next call on this thread would end it: none comes
    # The abandoned call last, on a thread of its own: no later call ends it.
    worker = threading.Thread(target=_abandoned_call, args=(False,))
    worker.start()
    worker.join()
"""


def _harness_report(tmp_path: Path, probe: str) -> dict[str, Any]:
    """The plugin's JSON report of a pytest run of ``probe`` (a test module) with it on."""
    report = tmp_path / "report.json"
    done = _run_plugin(tmp_path, f"--botocore-otel-report={report}", probe=probe)
    assert done.returncode == 0, done.stdout + done.stderr
    figures: dict[str, Any] = json.loads(report.read_text())
    return figures


def test_pytest_plugin_reports_a_span_left_open_and_ends_an_abandoned_call(tmp_path: Path) -> None:
    """The harness ends abandoned calls at its end (a safe point) and reports only what is
    still open after that: here the call whose state a test kept alive."""
    figures = _harness_report(tmp_path, _LEAK_PROBE)
    assert figures["spans_started"] == 4  # a call span and an attempt span each
    assert figures["open_span_names"] == ["DynamoDB.ListTables", "DynamoDB.ListTables attempt 1"]


_STILL_RUNNING_PROBE = """
import threading
import time

import botocore.session
from botocore.awsrequest import AWSResponse


class _Raw:
    def stream(self, **_):
        yield b'{"TableNames": []}'


def test_leaves_a_call_running():
    client = botocore.session.Session().create_client(
        "dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="a", aws_secret_access_key="b",
    )

    sending = threading.Event()

    def slow_answer(request, **_):  # a call still running when the session ends
        sending.set()
        time.sleep(6)
        return AWSResponse(request.url, 200, {"x-amzn-requestid": "r"}, _Raw())

    client.meta.events.register("before-send", slow_answer)
    threading.Thread(target=client.list_tables).start()
    assert sending.wait(30)
"""


def test_pytest_plugin_waits_for_a_call_still_running_on_a_thread(tmp_path: Path) -> None:
    """A call that a test left running on a thread (s3transfer's executors, retrying with
    backoff) ends after the tests do: its spans are waited for, not reported as left open.
    The call takes longer than the harness's wait used to be (5 s)."""
    figures = _harness_report(tmp_path, _STILL_RUNNING_PROBE)
    assert figures["spans_started"] == figures["spans_ended"] == 2  # the call's span and its attempt's
    assert figures["spans_open"] == 0 and figures["calls_measured"] == 1


def test_no_pytest11_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points

    assert [ep for ep in entry_points(group="pytest11") if ep.value.startswith("botocore_otel")] == []
