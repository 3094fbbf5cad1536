"""instrument/uninstrument on sessions, clients and globally; the auto-instrumentation path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import boto3
import botocore.session
import pytest

import botocore_otel
from botocore_otel import ConfigError, Instrumentor, wiring
from telemetry import Telemetry


@pytest.fixture(autouse=True)
def _clean_instrumentor():
    yield
    Instrumentor().uninstrument()


def _call(moto, session) -> None:
    moto.client("sts", session=session).get_caller_identity()


def _trace_headers(moto) -> set[str]:
    headers = moto.last_request().headers
    return {name for name in ("traceparent", "X-Amzn-Trace-Id", "tracestate") if name in headers}


def test_uninstrument_silences_existing_clients(moto, telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    client = moto.client("sts", session=session)
    client.get_caller_identity()
    assert len(telemetry.aws_spans()) == 1 and _trace_headers(moto)

    Instrumentor().uninstrument(session)
    client.get_caller_identity()  # created before uninstrument: holds a copy of the handlers
    moto.client("sts", session=session).get_caller_identity()
    assert len(telemetry.aws_spans()) == 1
    assert _trace_headers(moto) == set()


def test_instrumenting_twice_does_nothing_more(moto, telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    Instrumentor().instrument(session, **telemetry.providers)
    _call(moto, session)
    assert len(telemetry.aws_spans()) == 1
    assert len(moto.last_request().headers.get("traceparent").split(",")) == 1


def test_instrumenting_again_with_other_settings_keeps_the_first_ones_and_says_so(moto, telemetry, caplog):
    caplog.set_level("WARNING", logger="botocore_otel")
    rules = [{"name": "sqs", "match": "sqs.*"}]
    session = boto3.session.Session()
    Instrumentor().instrument(session, metrics=False, synthetic=rules, **telemetry.providers)
    Instrumentor().instrument(session, metrics=False, synthetic=rules, **telemetry.providers)
    assert not caplog.records  # the same settings again: nothing to say
    Instrumentor().instrument(session, metrics="all", **telemetry.providers)
    _call(moto, session)
    assert len(telemetry.aws_spans()) == 1
    assert list(telemetry.points("rpc.client.call.duration")) == []  # still metrics=False
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "other settings" in warning and "uninstrument(session)" in warning, warning


def test_botocore_session_and_single_client_targets(moto, telemetry):
    core = botocore.session.get_session()
    Instrumentor().instrument(core, **telemetry.providers)
    core.create_client("sts", **moto.client_kwargs("sts")).get_caller_identity()

    plain = boto3.session.Session()
    traced = moto.client("sqs", session=plain)
    untraced = moto.client("sqs", session=plain)
    Instrumentor().instrument(traced, **telemetry.providers)
    traced.list_queues()
    untraced.list_queues()
    assert sorted(s.name for s in telemetry.aws_spans()) == ["SQS.ListQueues", "STS.GetCallerIdentity"]
    Instrumentor().uninstrument(traced)
    traced.list_queues()
    assert len(telemetry.aws_spans()) == 2


def test_several_sessions_keep_their_own_settings(moto):
    first, second = Telemetry(), Telemetry()
    a, b = boto3.session.Session(), boto3.session.Session()
    Instrumentor().instrument(a, **first.providers)
    Instrumentor().instrument(b, **second.providers)
    _call(moto, a)
    _call(moto, b)
    _call(moto, b)
    assert len(first.aws_spans()) == 1 and len(second.aws_spans()) == 2


def test_global_instrument_covers_new_sessions_and_the_existing_default_session(moto, telemetry):
    boto3.setup_default_session()
    try:
        Instrumentor().instrument(**telemetry.providers)
        boto3.client("sts", **moto.client_kwargs("sts")).get_caller_identity()  # default session
        _call(moto, boto3.session.Session())  # new session
        core = botocore.session.Session()
        core.create_client("sts", **moto.client_kwargs("sts")).get_caller_identity()
        assert len(telemetry.aws_spans()) == 3

        Instrumentor().uninstrument()
        _call(moto, boto3.session.Session())
        assert len(telemetry.aws_spans()) == 3
        assert _trace_headers(moto) == set()
    finally:
        boto3.DEFAULT_SESSION = None


def test_uninstrumenting_one_session_under_global_instrumentation_silences_its_clients(moto, telemetry):
    Instrumentor().instrument(**telemetry.providers)
    session, other = boto3.session.Session(), boto3.session.Session()
    client, others = moto.client("sts", session=session), moto.client("sts", session=other)
    client.get_caller_identity()
    assert len(telemetry.aws_spans()) == 1

    Instrumentor().uninstrument(session)
    client.get_caller_identity()  # created before: holds a copy of the global handlers
    moto.client("sts", session=session).get_caller_identity()
    assert len(telemetry.aws_spans()) == 1
    assert _trace_headers(moto) == set()
    others.get_caller_identity()  # the other session stays instrumented
    _call(moto, boto3.session.Session())  # and so do new sessions
    assert len(telemetry.aws_spans()) == 3


def test_a_session_made_while_uninstrument_runs_stays_untraced(moto, telemetry):
    Instrumentor().instrument(**telemetry.providers)
    made: list[boto3.session.Session] = []
    with wiring._lock:  # as uninstrument holds it: a session made meanwhile waits for it
        maker = threading.Thread(target=lambda: made.append(boto3.session.Session()))
        maker.start()
        maker.join(0.5)  # by now it waits for the lock
        Instrumentor().uninstrument()
    maker.join()
    _call(moto, made[0])
    assert telemetry.aws_spans() == []
    assert _trace_headers(moto) == set()


def test_the_instrument_function_shares_its_state_with_the_instrumentor(moto, telemetry):
    botocore_otel.instrument(**telemetry.providers)
    assert Instrumentor().is_instrumented_by_opentelemetry  # the class sees the function's state
    _call(moto, boto3.session.Session())
    assert len(telemetry.aws_spans()) == 1
    Instrumentor().instrument(**telemetry.providers)  # already on: nothing is added twice
    _call(moto, boto3.session.Session())
    assert len(telemetry.aws_spans()) == 2
    assert len(moto.last_request().headers["traceparent"].split(",")) == 1
    Instrumentor().uninstrument()
    _call(moto, boto3.session.Session())
    assert len(telemetry.aws_spans()) == 2
    Instrumentor().instrument(**telemetry.providers)
    botocore_otel.uninstrument()
    assert not Instrumentor().is_instrumented_by_opentelemetry
    _call(moto, boto3.session.Session())
    assert len(telemetry.aws_spans()) == 2
    Instrumentor().instrument(**telemetry.providers)  # the class sees the function's uninstrument
    _call(moto, boto3.session.Session())
    assert len(telemetry.aws_spans()) == 3
    session = boto3.session.Session()
    botocore_otel.uninstrument()
    botocore_otel.instrument(session, **telemetry.providers)
    _call(moto, session)
    assert len(telemetry.aws_spans()) == 4
    botocore_otel.uninstrument(session)
    _call(moto, session)
    assert len(telemetry.aws_spans()) == 4


def test_nothing_is_imported_before_a_feature_needs_it():
    probe = textwrap.dedent(
        """
        import sys, botocore_otel
        import boto3
        before = set(sys.modules)
        botocore_otel.instrument()
        print(sorted(m for m in set(sys.modules) - before if m.startswith("botocore_otel")))
        before = set(sys.modules)
        session = boto3.session.Session(region_name="us-east-1")
        print(sorted(m for m in set(sys.modules) - before if m.startswith("botocore_otel")))
        session.client("sts")
        watched = ("opentelemetry.instrumentation", "wrapt", "botocore_otel.transfer",
                   "botocore_otel.capture", "botocore_otel.synthetic", "botocore_otel.aio", "difflib",
                   "botocore_otel.services", "botocore_otel.converters", "botocore_otel.payload",
                   "botocore_otel.messaging", "dataclasses")
        print(sorted(m for m in sys.modules if m.startswith(watched) and m not in before))
        session.client("s3")  # s3transfer comes with an S3 client: transfers are patched now
        print("botocore_otel.transfer" in sys.modules)
        session.client("sqs")  # message propagation comes with the first client that needs it
        print("botocore_otel.payload" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # instrument() reads the settings (forks: the wiring's lock, made anew in a forked child);
    # the lifecycle and its sinks come with the first session
    settings = ["botocore_otel.config", "botocore_otel.forks", "botocore_otel.wiring"]
    lifecycle = [f"botocore_otel.{name}" for name in ("attributes", "instrumentation", "lifecycle",
                 "limits", "metrics", "nesting", "propagation", "sharing", "spans", "state",
                 "windows")]  # fmt: skip
    assert done.stdout.split("\n")[:5] == [str(settings), str(lifecycle), "[]", "True", "True"], done.stdout


def test_explicit_settings_win_over_global_ones(moto):
    global_telemetry, explicit = Telemetry(), Telemetry()
    Instrumentor().instrument(**global_telemetry.providers)
    session = boto3.session.Session()  # instrumented by the global initializer
    Instrumentor().instrument(session, **explicit.providers)
    _call(moto, session)
    _call(moto, boto3.session.Session())
    assert len(explicit.aws_spans()) == 1 and len(global_telemetry.aws_spans()) == 1
    assert len(moto.last_request().headers["traceparent"].split(",")) == 1


def test_a_clients_explicit_settings_win_over_its_sessions(moto):
    """A client's emitter is a copy of its session's, handlers included: instrumenting or
    uninstrumenting the client replaces or removes that copy, for that client only."""
    session_telemetry, explicit = Telemetry(), Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **session_telemetry.providers)
    own = moto.client("sts", session=session)
    sibling = moto.client("sts", session=session)
    Instrumentor().instrument(own, **explicit.providers)
    own.get_caller_identity()
    assert len(moto.last_request().headers["traceparent"].split(",")) == 1
    sibling.get_caller_identity()
    assert (len(explicit.aws_spans()), len(session_telemetry.aws_spans())) == (1, 1)

    Instrumentor().uninstrument(own)
    Instrumentor().uninstrument(sibling)  # never instrumented itself: only its copy goes
    own.get_caller_identity()
    sibling.get_caller_identity()
    assert _trace_headers(moto) == set()
    _call(moto, session)  # the session keeps its instrumentation
    assert (len(explicit.aws_spans()), len(session_telemetry.aws_spans())) == (1, 2)


def test_a_client_from_before_uninstrument_can_be_instrumented_again(moto, telemetry):
    Instrumentor().instrument(**telemetry.providers)
    client = moto.client("sts", session=boto3.session.Session())
    client.get_caller_identity()
    Instrumentor().uninstrument()
    client.get_caller_identity()
    assert len(telemetry.aws_spans()) == 1

    Instrumentor().instrument(**telemetry.providers)
    client.get_caller_identity()  # its copy holds the old, switched-off handlers
    assert len(telemetry.aws_spans()) == 1
    Instrumentor().instrument(client, **telemetry.providers)
    client.get_caller_identity()
    assert len(telemetry.aws_spans()) == 2
    assert len(moto.last_request().headers["traceparent"].split(",")) == 1


def test_skip_services(moto, telemetry):
    session = boto3.session.Session()
    Instrumentor().instrument(session, skip_services=["sts"], **telemetry.providers)
    _call(moto, session)
    moto.client("sqs", session=session).list_queues()
    assert [s.name for s in telemetry.aws_spans()] == ["SQS.ListQueues"]
    assert moto.recorded_requests()[0].headers.get("traceparent") is None


def test_bad_keyword_raises_a_clear_error():
    with pytest.raises(ConfigError, match="attempt_spans='maybe' is invalid: expected a boolean"):
        Instrumentor().instrument(boto3.session.Session(), attempt_spans="maybe")
    with pytest.raises(ConfigError, match="tracer_providr"):
        Instrumentor().instrument(boto3.session.Session(), tracer_providr=None)


def test_hooks_from_import_paths(moto, telemetry, monkeypatch):
    monkeypatch.setenv("BOTOCORE_OTEL_REQUEST_HOOK", "sample_hooks:request_hook")
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "data"))
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    _call(moto, session)
    (span,) = telemetry.aws_spans()
    assert span.attributes["app.hooked"] == "sts.GetCallerIdentity"


APP = textwrap.dedent(
    """
    import boto3, json, os, sys
    kwargs = json.loads(os.environ["MOTO_CLIENT_KWARGS"])
    from botocore.config import Config
    kwargs["config"] = Config(retries={"total_max_attempts": 1})
    boto3.client("sts", **kwargs).get_caller_identity()
    boto3.session.Session().client("sqs", **kwargs).list_queues()
    from opentelemetry import metrics, trace
    trace.get_tracer_provider().force_flush()
    metrics.get_meter_provider().force_flush()
    """
)


def test_opentelemetry_instrument_exports_spans_to_a_real_otlp_receiver(moto, otlp_receiver, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(APP)
    kwargs = moto.client_kwargs("sts")
    kwargs.pop("config")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTOCORE_OTEL_"))},
        "MOTO_CLIENT_KWARGS": json.dumps(kwargs),
        "OTEL_SERVICE_NAME": "sample-app",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "botocore,urllib3,requests",
        "BOTOCORE_OTEL_ATTEMPT_SPANS": "not-a-bool",  # logged, feature off, app still runs
    }
    binary = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    done = subprocess.run(
        [binary, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "BOTOCORE_OTEL_ATTEMPT_SPANS='not-a-bool' is invalid" in done.stderr
    spans = otlp_receiver.wait_for_spans(lambda spans: len(spans) >= 2, timeout=30)
    names = sorted(s["name"] for s in spans)
    assert names == ["SQS.ListQueues", "STS.GetCallerIdentity"]
    assert all(s["resource"]["service.name"] == "sample-app" for s in spans)
    sent = {r.headers.get("traceparent", "").split("-")[2] for r in moto.recorded_requests()}
    assert sent == {s["span_id"] for s in spans}
    # calls made outside any span of the app's: each duration's exemplar points at its span
    otlp_receiver.wait_for_metric("rpc.client.call.duration", timeout=30)
    exemplars = [  # a collection hands them over once: the next export has none
        e
        for record in otlp_receiver.metrics("rpc.client.call.duration")
        for point in record["data_points"]
        for e in point["exemplars"]
    ]
    assert sorted(e["span_id"] for e in exemplars) == sorted(s["span_id"] for s in spans)
    assert {e["trace_id"] for e in exemplars} == {s["trace_id"] for s in spans}


def test_entry_point_is_named_apart_from_the_official_one():
    from importlib.metadata import entry_points

    (ours,) = [
        ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.value.startswith("botocore_otel")
    ]
    assert ours.name == "botocore_otel"


def test_a_too_old_botocore_is_refused_without_reading_package_metadata(monkeypatch, caplog):
    import botocore

    from botocore_otel import wiring

    monkeypatch.setattr(botocore, "__version__", "1.33.9")
    instrumentor = Instrumentor()
    instrumentor.instrument()
    try:
        assert not wiring.is_instrumented_globally()
        assert "botocore 1.33.9 is too old" in caplog.text
    finally:
        instrumentor.uninstrument()


def test_sessions_under_global_instrumentation_share_per_operation_facts(moto):
    """Each session has its own share (so uninstrument(session) silences its clients), but
    per-operation facts are built once: the same metric attribute dict serves every session."""
    from botocore_otel import wiring

    telemetry = Telemetry()
    Instrumentor().instrument(**telemetry.providers)
    try:
        first, second = boto3.session.Session(), boto3.session.Session()
        _call(moto, first)
        _call(moto, second)
        lifecycles = [
            wiring._owners[s._session.get_component("event_emitter")].lifecycle for s in (first, second)
        ]
        assert lifecycles[0] is not lifecycles[1]
        assert lifecycles[0].infos is lifecycles[1].infos
        assert len(lifecycles[0].infos) == 1
    finally:
        Instrumentor().uninstrument()


@pytest.mark.parametrize(
    ("metrics", "phase_handlers"),
    [(None, set()), ("rpc,phases", {"on_before_call", "on_before_sign", "on_before_parse"})],
)
def test_only_the_handlers_the_configuration_needs_are_registered(metrics, phase_handlers):
    """Each handler runs on every call: before-call, before-sign and before-parse only time phases."""
    session = botocore.session.get_session()
    Instrumentor().instrument(session, **({} if metrics is None else {"metrics": metrics}))
    emitter = session.get_component("event_emitter")
    ids = {str(key) for key in getattr(emitter, "_emitter", emitter)._unique_id_handlers}
    core = {i.removeprefix("botocore_otel.") for i in ids if i.startswith("botocore_otel.on_")}
    always = {
        "on_provide_client_params",
        "on_before_send",
        "on_response_received",
        "on_after_call",
        "on_after_call_error",
    }
    # on_request_created: only where prepared requests carry no context (botocore < 1.36)
    assert core - {"on_request_created"} == always | phase_handlers


def test_a_catch_all_handler_of_the_application_sees_only_botocore_s_events(moto, telemetry, tmp_path):
    """Which instrumentation covers a client is read from its emitter, not asked by an event."""
    from boto3.s3.transfer import TransferConfig

    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    client = moto.client("s3", session=session)
    seen: set[str] = set()
    client.meta.events.register("*", lambda event_name, **_: seen.add(event_name.split(".")[0]))
    client.create_bucket(Bucket="catch-all")
    (tmp_path / "f").write_bytes(b"x" * 1024)
    client.upload_file(str(tmp_path / "f"), "catch-all", "k", Config=TransferConfig(use_threads=False))
    Instrumentor().instrument(client, **telemetry.providers)
    Instrumentor().uninstrument(client)
    Instrumentor().uninstrument(session)
    assert "S3.upload_file" in [s.name for s in telemetry.spans()]
    assert not [event for event in seen if "otel" in event], seen


@pytest.mark.parametrize("scope", ["session", "global"])
def test_a_deep_copy_of_an_instrumented_session_works_and_traces(scope, telemetry):
    """``copy.deepcopy`` of a session walks its emitter's handlers (a dataclass or a pydantic
    model holding a session copies it so): it works as without instrumentation, and the copy's
    clients are traced by the same instrumentation, with the per-service handlers (captures,
    payload propagation, the capacity group) that its clients register."""
    import copy

    from scripted_http import Reply, client_for, scripted_server

    options = {"metrics": "all", "capture": "dynamodb.ListTables:Limit=app.limit", **telemetry.providers}
    if scope == "global":
        Instrumentor().instrument(**options)
        session = boto3.session.Session()
    else:
        session = boto3.session.Session()
        Instrumentor().instrument(session, **options)
    try:
        copied = copy.deepcopy(session)  # before any client: botocore's own state then can't be
        for service in ("sqs", "s3", "lambda"):  # each registers handlers of its own
            copied.client(service, region_name="us-east-1")
        with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
            client_for(copied, "dynamodb", server.url).list_tables(Limit=3)
            client_for(session, "dynamodb", server.url).list_tables(Limit=4)
    finally:
        Instrumentor().uninstrument(None if scope == "global" else session)
    assert [span.attributes.get("app.limit") for span in telemetry.aws_spans()] == [3, 4]


def test_uninstrumenting_a_session_silences_a_client_it_made_under_global_instrumentation(telemetry):
    """A session's client made under global instrumentation, then the session instrumented
    explicitly (its own settings, for the clients it makes from then on): the older client
    keeps the global settings until ``uninstrument(session)``, which silences it too."""
    from scripted_http import Reply, client_for, scripted_server

    Instrumentor().instrument(**telemetry.providers)
    try:
        session = boto3.session.Session()
        with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
            older = client_for(session, "dynamodb", server.url)
            Instrumentor().instrument(session, attempt_spans=True, **telemetry.providers)
            newer = client_for(session, "dynamodb", server.url)
            older.list_tables()
            newer.list_tables()
            assert len(telemetry.spans()) == 3  # the older: one span; the newer: with its attempt's
            Instrumentor().uninstrument(session)
            older.list_tables()
            newer.list_tables()
            assert len(telemetry.spans()) == 3
            client_for(boto3.session.Session(), "dynamodb", server.url).list_tables()  # still global
    finally:
        Instrumentor().uninstrument()
    assert len(telemetry.spans()) == 4


def test_uninstrumenting_a_deep_copy_of_a_session_leaves_the_original_traced(telemetry):
    """A copy shares the handlers of the session it was copied from: instrumenting the copy
    explicitly, then uninstrumenting it, silences the copy only."""
    import copy

    from scripted_http import Reply, client_for, scripted_server

    Instrumentor().instrument(**telemetry.providers)
    try:
        original = boto3.session.Session()
        copied = copy.deepcopy(original)
        with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
            older = client_for(original, "dynamodb", server.url)
            Instrumentor().instrument(copied, **telemetry.providers)
            Instrumentor().uninstrument(copied)
            older.list_tables()
            client_for(original, "dynamodb", server.url).list_tables()
            client_for(copied, "dynamodb", server.url).list_tables()
    finally:
        Instrumentor().uninstrument()
    assert len(telemetry.aws_spans()) == 2


def test_a_client_a_deep_copy_made_before_it_was_uninstrumented_is_silenced_one_by_one(telemetry):
    """The documented limit: that client holds the handlers the copy shares with the original,
    so ``uninstrument(copy)`` cannot reach it without silencing the original too."""
    import copy

    from scripted_http import Reply, client_for, scripted_server

    original = boto3.session.Session()
    Instrumentor().instrument(original, **telemetry.providers)
    try:
        copied = copy.deepcopy(original)
        with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
            earlier = client_for(copied, "dynamodb", server.url)
            Instrumentor().uninstrument(copied)
            client_for(copied, "dynamodb", server.url).list_tables()  # made after: silent
            earlier.list_tables()  # traced, as documented
            Instrumentor().uninstrument(earlier)
            earlier.list_tables()
            client_for(original, "dynamodb", server.url).list_tables()
    finally:
        Instrumentor().uninstrument(original)
    assert len(telemetry.aws_spans()) == 2


def test_a_sessions_later_clients_do_not_register_the_service_handlers_again(session):
    # Each client of a payload service fired creating-client-class.<service>, and every one
    # re-registered the ~20 per-service handlers (botocore ignores them by unique id, after
    # inspecting each: about 3.4M instructions, +27 % on an SQS client's creation).
    session.client("sqs", region_name="us-east-1")
    emitter = session._session.get_component("event_emitter")
    ours: list[str] = []
    register = emitter.register

    def counting(event_name, handler, unique_id=None, **kwargs):
        if unique_id and str(unique_id).startswith("botocore_otel"):
            ours.append(event_name)
        return register(event_name, handler, unique_id=unique_id, **kwargs)

    emitter.register = counting
    try:
        for service in ("sqs", "sns", "lambda"):
            session.client(service, region_name="us-east-1")
    finally:
        del emitter.register
    assert ours == []
