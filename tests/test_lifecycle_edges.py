"""Lifecycle edges: abandoned calls end at a safe point (never inside the garbage collector),
and a nested call opens its parent's span with the parent's own instrumentation."""

from __future__ import annotations

import contextlib
import gc

import boto3
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor

from botocore_otel import Instrumentor
from scripted_http import Reply, client_for, scripted_server
from telemetry import Telemetry

OK = Reply(body=b'{"TableNames":[]}')


class _WhereEnded(SpanProcessor):
    """Notes, for each ended span, whether the cycle collector was running."""

    def __init__(self) -> None:
        self.collecting = False
        self.ended: list[tuple[str, bool]] = []

    def on_end(self, span) -> None:
        self.ended.append((span.name, self.collecting))

    def gc_phase(self, phase: str, _info: dict) -> None:
        self.collecting = phase == "start"


def test_a_call_freed_by_the_cycle_collector_ends_at_the_next_call_not_inside_the_collector():
    telemetry = Telemetry()
    watch = _WhereEnded()
    telemetry.tracer_provider.add_span_processor(watch)
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    gc.callbacks.append(watch.gc_phase)
    try:
        with scripted_server(lambda i, r: OK) as server:
            client = client_for(session, "dynamodb", server.url)

            def interrupt(context, **_):
                context["cycle"] = context  # only the cycle collector frees it (aiobotocore's case)
                raise KeyboardInterrupt

            client.meta.events.register("after-call.dynamodb.ListTables", interrupt)
            gc.disable()
            try:
                with contextlib.suppress(KeyboardInterrupt):
                    client.list_tables()
                gc.collect()
            finally:
                gc.enable()
            assert telemetry.aws_spans() == []  # queued by the finalizer, not ended inside it
            client.meta.events.unregister("after-call.dynamodb.ListTables", interrupt)
            client.list_tables()  # the next call's first handler is a safe point
    finally:
        gc.callbacks.remove(watch.gc_phase)
        Instrumentor().uninstrument(session)
    spans = telemetry.aws_spans()
    assert [s.attributes.get("error.type") for s in spans] == ["cancelled", None]
    assert watch.ended == [("DynamoDB.ListTables", False), ("DynamoDB.ListTables", False)]


def test_uninstrument_ends_queued_abandoned_calls():
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    with scripted_server(lambda i, r: OK) as server:
        client = client_for(session, "dynamodb", server.url)

        def interrupt(**_):
            raise KeyboardInterrupt

        client.meta.events.register("after-call.dynamodb.ListTables", interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            client.list_tables()
    Instrumentor().uninstrument(session)
    (span,) = telemetry.aws_spans()
    assert span.attributes["error.type"] == "cancelled"


def test_a_nested_call_opens_its_parent_span_with_the_parent_instrumentation():
    outer_telemetry, inner_telemetry = Telemetry(), Telemetry()
    opened_by = []
    outer_session, inner_session = boto3.session.Session(), boto3.session.Session()
    Instrumentor().instrument(
        outer_session,
        request_hook=lambda span, service, operation, params: opened_by.append(operation),
        **outer_telemetry.providers,
    )
    Instrumentor().instrument(inner_session, **inner_telemetry.providers)
    try:
        with scripted_server(lambda i, r: OK) as server:
            outer = client_for(outer_session, "dynamodb", server.url)
            inner = client_for(inner_session, "dynamodb", server.url)

            def nested_call(**_):  # after before-call, before before-send: no span yet
                inner.describe_limits()

            outer.meta.events.register("before-sign.dynamodb.ListTables", nested_call)
            outer.list_tables()
    finally:
        Instrumentor().uninstrument(outer_session)
        Instrumentor().uninstrument(inner_session)
    (parent,) = outer_telemetry.aws_spans()
    (child,) = inner_telemetry.aws_spans()
    assert parent.name == "DynamoDB.ListTables"
    assert child.name == "DynamoDB.DescribeLimits"
    assert child.parent.span_id == parent.context.span_id
    assert opened_by == ["ListTables"]  # the outer instrumentation's own request hook


def test_calls_that_never_reach_the_wire_get_no_span_on_any_path():
    from botocore.exceptions import ParamValidationError
    from botocore.stub import Stubber

    telemetry = Telemetry()
    session = boto3.session.Session(region_name="us-east-1")
    Instrumentor().instrument(
        session,
        capture="lambda.Invoke:Qualifier=app.qualifier;dynamodb.GetItem:TableName=app.table",
        **telemetry.providers,
    )
    try:
        lam = session.client("lambda", aws_access_key_id="k", aws_secret_access_key="s")
        with Stubber(lam) as stubber:  # payload propagation and a capture on the same call
            stubber.add_response("invoke", {"StatusCode": 200})
            lam.invoke(FunctionName="fn", Payload=b"{}", Qualifier="live")
        ddb = session.client("dynamodb", aws_access_key_id="k", aws_secret_access_key="s")
        with contextlib.suppress(ParamValidationError):
            ddb.get_item(TableName="t", Key="not a map")  # a capture, then a parameter error
        sqs = session.client("sqs", aws_access_key_id="k", aws_secret_access_key="s")
        queue = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
        with Stubber(sqs) as stubber:  # the message gets the context before the Stubber answers
            stubber.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
            sqs.send_message(QueueUrl=queue, MessageBody="hello")
        with contextlib.suppress(ParamValidationError):
            sqs.send_message(QueueUrl=queue, MessageBody="hello", DelaySeconds="soon")
        sns = session.client("sns", aws_access_key_id="k", aws_secret_access_key="s")
        with Stubber(sns) as stubber:
            stubber.add_response("publish", {"MessageId": "m"})
            sns.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:t", Message="hello")
        gc.collect()  # nothing abandoned is left to end later either
        with scripted_server(lambda i, r: OK) as server:  # a call that does reach the wire
            client_for(session, "dynamodb", server.url).list_tables()
    finally:
        Instrumentor().uninstrument(session)
    assert [s.name for s in telemetry.aws_spans()] == ["DynamoDB.ListTables"]
    assert telemetry.aws_spans()[0].attributes.get("error.type") is None


def test_captured_and_lambda_attributes_reach_the_span_when_it_opens(moto):
    from test_services_attributes import make_function

    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, capture="lambda.Invoke:Qualifier=app.qualifier", **telemetry.providers)
    try:
        make_function(moto, session)
        moto.client("lambda", session=session).invoke(FunctionName="fn", Payload=b"{}", Qualifier="$LATEST")
    finally:
        Instrumentor().uninstrument(session)
    (span,) = telemetry.spans("Lambda.Invoke")
    assert span.attributes["faas.invoked_name"] == "fn"
    assert span.attributes["app.qualifier"] == "$LATEST"


def test_another_runtime_context_is_used_through_the_api(monkeypatch):
    """botocore-otel reaches the default runtime context's ContextVar directly (cheaper); any
    other runtime context (OTEL_PYTHON_CONTEXT) is used through the API, and works the same."""
    from opentelemetry import context as otel_context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    from botocore_otel import lifecycle, nesting, windows

    class CountingRuntime(ContextVarsRuntimeContext):  # not the default type: the API's way
        def __init__(self) -> None:
            super().__init__()
            self.attached: list[object] = []

        def attach(self, context):
            self.attached.append(context)
            return super().attach(context)

    runtime = CountingRuntime()
    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", runtime)
    names = ("get_current", "attach", "detach")
    for name, function in zip(names, windows.current_context_access(), strict=True):
        for module in (lifecycle, nesting, windows):  # each holds the names it imported
            if hasattr(module, name):
                monkeypatch.setattr(module, name, function)
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    seen = []
    try:
        with scripted_server(lambda i, r: OK) as server:
            client = client_for(session, "dynamodb", server.url)
            client.meta.events.register_last(  # after ours, just before the HTTP send
                "before-send", lambda **_: seen.append(trace.get_current_span().get_span_context().span_id)
            )
            with telemetry.tracer.start_as_current_span("caller") as caller:
                before = otel_context.get_current()
                client.list_tables()
                assert otel_context.get_current() is before  # the send window was detached
    finally:
        Instrumentor().uninstrument(session)
    (span,) = telemetry.aws_spans()
    assert span.parent.span_id == caller.get_span_context().span_id
    assert seen == [span.context.span_id]  # current while sending, through CountingRuntime
    attached_spans = [trace.get_current_span(c).get_span_context().span_id for c in runtime.attached]
    assert attached_spans.count(span.context.span_id) == 1  # the call's send window, through it


@contextlib.contextmanager
def _instrumented_client(telemetry, **options):
    """A DynamoDB client of a session instrumented with ``options``, on a scripted server."""
    session = boto3.session.Session()
    Instrumentor().instrument(session, **options, **telemetry.providers)
    try:
        with scripted_server(lambda i, r: OK) as server:
            yield client_for(session, "dynamodb", server.url)
    finally:
        Instrumentor().uninstrument(session)


def _interrupt_in_a_cycle(context, **_):
    context["cycle"] = context  # only the cycle collector frees the call's state
    raise KeyboardInterrupt


def _abandon_in_a_cycle(client, event: str, collect) -> None:
    """One ListTables left by KeyboardInterrupt at ``event`` (no closing event), its state
    freed by the cycle collector only, which ``collect()`` runs."""
    client.meta.events.register(event, _interrupt_in_a_cycle)
    gc.disable()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            client.list_tables()
        collect()
    finally:
        gc.enable()
        client.meta.events.unregister(event, _interrupt_in_a_cycle)


def test_a_request_hook_that_makes_an_aws_call_opens_the_call_span_once():
    telemetry = Telemetry()
    hooked: list[str] = []
    helper = []

    def look_up_once(span, service, operation, params):  # a lookup, cached once it returns
        hooked.append(operation)
        if operation == "ListTables" and hooked.count("ListTables") == 1:
            helper[0].describe_limits()

    with _instrumented_client(telemetry, request_hook=look_up_once) as client:
        helper.append(client)
        client.list_tables()
    assert hooked == ["ListTables", "DescribeLimits"]
    outer, inner = sorted(telemetry.aws_spans(), key=lambda span: span.name != "DynamoDB.ListTables")
    assert (outer.name, inner.name) == ("DynamoDB.ListTables", "DynamoDB.DescribeLimits")
    assert inner.parent.span_id == outer.context.span_id
    assert len(telemetry.spans()) == 2


class _LooksUpOnStart(SpanProcessor):
    """A span processor whose ``on_start`` makes an AWS call (not suppressed) for the first
    ListTables span it sees: a lookup it then caches."""

    def __init__(self) -> None:
        self.client = None
        self.started: list[str] = []
        self.ended: list[str] = []

    def on_start(self, span, parent_context=None) -> None:
        self.started.append(span.name)
        if span.name == "DynamoDB.ListTables" and self.started.count(span.name) == 1:
            self.client.describe_limits()

    def on_end(self, span) -> None:
        self.ended.append(span.name)


def test_an_aws_call_a_span_processor_makes_while_the_call_span_starts_opens_it_once():
    """The call made from ``on_start`` is no child of a span still starting (nor does it start
    that span again, leaving one never ended): its parent is what the application had current."""
    telemetry = Telemetry()
    processor = _LooksUpOnStart()
    telemetry.tracer_provider.add_span_processor(processor)
    with telemetry.tracer.start_as_current_span("request"), _instrumented_client(telemetry) as client:
        processor.client = client
        client.list_tables()
        client.list_tables()
    assert processor.started == [
        "request",
        "DynamoDB.ListTables",
        "DynamoDB.DescribeLimits",
        "DynamoDB.ListTables",
    ]
    assert sorted(processor.ended) == sorted(processor.started)
    (request,) = telemetry.spans("request")
    assert [span.parent.span_id for span in telemetry.aws_spans()] == [request.context.span_id] * 3


def test_a_call_left_by_an_exception_the_application_keeps_ends_and_parents_nothing():
    import time

    telemetry = Telemetry()
    kept: list[BaseException] = []  # a Future, a list of errors, sys.last_value: the call's record lives on

    def fail(**_):  # another after-call handler: botocore emits no closing event
        raise ValueError("a handler's bug")

    with _instrumented_client(telemetry) as client:
        client.meta.events.register("after-call.dynamodb.ListTables", fail)
        try:
            client.list_tables()
        except ValueError as error:
            kept.append(error)
        returned_ns = time.time_ns()
        client.meta.events.unregister("after-call.dynamodb.ListTables", fail)
        assert not trace.get_current_span().get_span_context().is_valid
        time.sleep(0.05)
        client.list_tables()
        with telemetry.tracer.start_as_current_span("user-span"):
            pass
    left, next_call = telemetry.aws_spans()
    assert left.attributes["error.type"] == "cancelled"
    assert left.end_time <= returned_ns  # when its response came, not when the next call began
    assert next_call.parent is None
    assert telemetry.spans("user-span")[0].parent is None


def test_a_send_window_left_current_by_a_call_freed_on_another_thread_is_put_back():
    import threading

    telemetry = Telemetry()

    def on_another_thread() -> None:
        assert trace.get_current_span().get_span_context().is_valid  # the window, left current
        collector = threading.Thread(target=gc.collect)
        collector.start()
        collector.join()

    with _instrumented_client(telemetry) as client:
        # a handler there runs before ours: the send window stays current
        _abandon_in_a_cycle(client, "response-received.dynamodb.ListTables", on_another_thread)
        client.list_tables()
        assert not trace.get_current_span().get_span_context().is_valid
    left, next_call = telemetry.aws_spans()
    assert left.attributes["error.type"] == "cancelled"
    assert next_call.parent is None


def test_an_abandoned_call_ends_when_it_was_dropped_not_when_the_next_call_starts():
    import time

    telemetry = Telemetry()
    dropped: list[int] = []

    def collect_now() -> None:
        gc.collect()
        dropped.append(time.time_ns())

    with _instrumented_client(telemetry) as client:
        _abandon_in_a_cycle(client, "after-call.dynamodb.ListTables", collect_now)
        time.sleep(0.05)
        client.list_tables()
    left, _ = telemetry.aws_spans()
    assert left.attributes["error.type"] == "cancelled"
    assert left.end_time <= dropped[0]
    (point,) = [p for p in telemetry.points("rpc.client.call.duration") if p.attributes.get("error.type")]
    assert point.sum <= (dropped[0] - left.start_time) / 1e9


def test_a_call_running_while_its_client_is_uninstrumented_is_not_counted_as_failed():
    telemetry = Telemetry()
    other = boto3.session.Session()
    Instrumentor().instrument(other, **telemetry.providers)
    try:
        with _instrumented_client(telemetry) as client:

            def uninstrument_now(**_):  # another thread's uninstrument(client), mid-call
                Instrumentor().uninstrument(client)

            client.meta.events.register("before-send.dynamodb.ListTables", uninstrument_now)
            assert client.list_tables()["TableNames"] == []  # ends without its closing handlers
            gc.collect()
            client_for(other, "dynamodb", client.meta.endpoint_url).list_tables()  # a safe point
    finally:
        Instrumentor().uninstrument(other)
    toggled, _ = telemetry.aws_spans()
    assert "error.type" not in toggled.attributes
    assert toggled.status.status_code.name == "UNSET"
    assert [p.count for p in telemetry.points("rpc.client.call.duration")] == [1]  # the other call only
    assert list(telemetry.points("client.call.errors")) == []


def test_a_call_nested_on_another_thread_in_a_copied_context_leaves_its_outer_call_running():
    import contextvars
    import threading

    telemetry = Telemetry()
    with _instrumented_client(telemetry) as client:

        def nested_on_a_thread(**_):  # as s3transfer's workers, anyio or asyncio.to_thread do
            worker = threading.Thread(target=contextvars.copy_context().run, args=(client.describe_limits,))
            worker.start()
            worker.join()

        client.meta.events.register("before-sign.dynamodb.ListTables", nested_on_a_thread)
        client.list_tables()
    (outer,) = telemetry.spans("DynamoDB.ListTables")
    (inner,) = telemetry.spans("DynamoDB.DescribeLimits")
    assert "error.type" not in outer.attributes
    assert inner.parent.span_id == outer.context.span_id


def test_a_span_a_worker_opens_in_a_copy_of_a_send_window_stays_current_through_its_calls():
    import threading

    from opentelemetry import context as otel_context

    telemetry = Telemetry()
    seen: list[str] = []

    def worker(window):  # as opentelemetry-instrumentation-threading hands the context over
        token = otel_context.attach(window)
        try:
            with telemetry.tracer.start_as_current_span("worker"):
                client.describe_limits()
                seen.append(trace.get_current_span().name)
        finally:
            otel_context.detach(token)

    workers: list[threading.Thread] = []

    def on_send(request, **_):  # an application's handler, after ours: inside the send window
        if not workers and b"ListTables" in request.headers["X-Amz-Target"]:
            workers.append(threading.Thread(target=worker, args=(otel_context.get_current(),)))
            workers[0].start()
            workers[0].join()

    with _instrumented_client(telemetry) as client:
        client.meta.events.register("before-send", on_send)
        client.list_tables()
    assert seen == ["worker"]
    (inner,) = telemetry.spans("DynamoDB.DescribeLimits")
    assert inner.parent.span_id == telemetry.spans("worker")[0].context.span_id


def test_a_stuck_window_whose_thread_ended_is_forgotten():
    import threading

    from botocore_otel.state import stuck_windows

    telemetry = Telemetry()

    def collect_elsewhere() -> None:
        collector = threading.Thread(target=gc.collect)
        collector.start()
        collector.join()

    with _instrumented_client(telemetry) as client:
        worker = threading.Thread(
            target=_abandon_in_a_cycle,
            args=(client, "response-received.dynamodb.ListTables", collect_elsewhere),
        )
        worker.start()
        worker.join()  # it ended with the window current: nothing can put it back any more
        assert len(stuck_windows) == 1
        client.list_tables()
        assert len(stuck_windows) == 0  # nothing holds the window: forgotten, not scanned forever


def test_a_call_cancelled_while_another_client_is_uninstrumented_still_counts_as_cancelled():
    telemetry = Telemetry()
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        with scripted_server(lambda i, r: OK) as server:
            kept = client_for(session, "dynamodb", server.url)
            dropped = client_for(session, "dynamodb", server.url)

            def uninstrument_the_other(**_):
                Instrumentor().uninstrument(kept)

            dropped.meta.events.register("before-send", uninstrument_the_other)
            _abandon_in_a_cycle(dropped, "after-call.dynamodb.ListTables", gc.collect)
            kept.list_tables()  # uninstrumented: not a safe point of ours
            client_for(session, "dynamodb", server.url).list_tables()  # a safe point
    finally:
        Instrumentor().uninstrument(session)
    cancelled = [s for s in telemetry.aws_spans() if s.attributes.get("error.type") == "cancelled"]
    assert len(cancelled) == 1


@pytest.mark.parametrize(
    "closed_at",
    ["response-received", "needs-retry", "after-call", "after-call, registered last", "after the call"],
)
@pytest.mark.parametrize("attempt_spans", [False, True], ids=["call-span", "attempt-spans"])
@pytest.mark.parametrize("its_own", ["value", "span"])
def test_a_context_the_application_brackets_the_send_with_leaves_nothing_of_ours_current(
    closed_at: str, attempt_spans: bool, its_own: str
) -> None:
    """An application handler attaches a context at before-send, after ours (over the call's
    send window), and detaches it later, even after the call returns: what is current then is
    what is current without us (the application's request span, no HTTP suppression), across
    retries, and each attempt still sends with the call's context current. The application's
    context holds a value of its own, or a span of its own; the metrics' exemplars still point
    at the call."""
    from opentelemetry import context as otel_context
    from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY

    from scripted_http import throttle_then_ok

    telemetry = Telemetry()
    key = otel_context.create_key("the-applications")
    tokens: list[object] = []
    sending: list[str] = []
    per_attempt = closed_at in ("response-received", "needs-retry")

    def attach(**_: object) -> None:
        sending.append(getattr(trace.get_current_span(), "name", "?"))
        if per_attempt or not tokens:  # once a call when closed at or after its end
            if its_own == "value":
                tokens.append(otel_context.attach(otel_context.set_value(key, 1)))
            else:
                tokens.append(otel_context.attach(trace.set_span_in_context(trace.INVALID_SPAN)))

    def detach(**_: object) -> None:
        if tokens:
            otel_context.detach(tokens.pop())

    session = boto3.session.Session()
    Instrumentor().instrument(session, attempt_spans=attempt_spans, **telemetry.providers)
    try:
        with scripted_server(throttle_then_ok(1)) as server:
            client = client_for(session, "dynamodb", server.url)
            client.meta.events.register("before-send", attach)
            if closed_at == "after-call, registered last":
                client.meta.events.register_last("after-call", detach)
            elif closed_at != "after the call":
                client.meta.events.register(closed_at, detach)
            with telemetry.tracer.start_as_current_span("request") as request:
                for _ in range(2):
                    client.list_tables()
                    detach()  # "after the call"; the others have detached already
                    assert trace.get_current_span() is request
                    assert otel_context.get_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY) is None
                    assert otel_context.get_value(key) is None
            assert not trace.get_current_span().get_span_context().is_valid
    finally:
        Instrumentor().uninstrument(session)
    calls = telemetry.spans("DynamoDB.ListTables")
    assert [call.parent.span_id for call in calls] == [telemetry.spans("request")[0].context.span_id] * 2
    assert [len([e for e in call.events if e.name == "aws.retry"]) for call in calls] == [1, 1]
    (duration,) = [p for p in telemetry.points("rpc.client.call.duration") if p.count == 2]
    sent_in = {s.context.span_id for s in telemetry.spans() if s.name.startswith("DynamoDB.ListTables")}
    assert {e.span_id for e in duration.exemplars} <= sent_in and duration.exemplars
    name = "DynamoDB.ListTables"
    expected = [f"{name} attempt 1", f"{name} attempt 2"] if attempt_spans else [name, name]
    assert sending == expected * 2


def test_each_attempt_sends_with_the_calls_context_when_a_context_below_it_was_detached():
    """The application attaches at before-call (below the send window) and detaches at the
    operation's response-received (before ours): the window went with it, and the retry's
    send has the call's context current again."""
    from opentelemetry import context as otel_context
    from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY

    from scripted_http import throttle_then_ok

    telemetry = Telemetry()
    tokens: list[object] = []
    sending: list[object] = []
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        with scripted_server(throttle_then_ok(1)) as server:
            client = client_for(session, "dynamodb", server.url)
            key = otel_context.create_key("below")
            client.meta.events.register(
                "before-call", lambda **_: tokens.append(otel_context.attach(otel_context.set_value(key, 1)))
            )
            client.meta.events.register(
                "response-received.dynamodb.ListTables",
                lambda **_: otel_context.detach(tokens.pop()) if tokens else None,
            )
            client.meta.events.register(
                "before-send",
                lambda **_: sending.append(otel_context.get_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY)),
            )
            with telemetry.tracer.start_as_current_span("request") as request:
                client.list_tables()
                assert trace.get_current_span() is request
    finally:
        Instrumentor().uninstrument(session)
    assert sending == [True, True]


def test_the_applications_own_after_call_handlers_are_not_timed_nor_can_fail_the_call():
    """Ours closes the call before the handlers the application registers after instrumenting:
    a slow one is not in the span, and one that raises fails the application, not the span."""
    import time

    telemetry = Telemetry()

    def slow_then_failing(**_: object) -> None:
        time.sleep(0.2)
        raise RuntimeError("the application's handler")

    with _instrumented_client(telemetry) as client:
        client.meta.events.register("after-call", slow_then_failing)
        with pytest.raises(RuntimeError):
            client.list_tables()
    (call,) = telemetry.spans("DynamoDB.ListTables")
    assert "error.type" not in call.attributes and call.status.status_code is trace.StatusCode.UNSET
    assert call.end_time - call.start_time < 150_000_000


@pytest.mark.parametrize("failures", [0, 1], ids=["one-attempt", "retried"])
def test_a_nested_calls_window_left_under_a_context_follows_its_outer_calls(failures: int) -> None:
    """An application handler of the outer call's before-send makes another AWS call, over
    whose send window another application handler attaches a context until its after-call
    (after ours): once the application has detached everything, nothing of either call is
    current."""
    from opentelemetry import context as otel_context
    from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY

    from scripted_http import throttle_then_ok

    telemetry = Telemetry()
    key = otel_context.create_key("the-applications")
    tokens: list[object] = []
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    try:
        with scripted_server(throttle_then_ok(failures)) as server:
            outer, inner = (client_for(session, "dynamodb", server.url) for _ in range(2))
            inner.meta.events.register(  # once a call: the inner call is retried too
                "before-send",
                lambda **_: (
                    None if tokens else tokens.append(otel_context.attach(otel_context.set_value(key, 1)))
                ),
            )
            inner.meta.events.register("after-call", lambda **_: otel_context.detach(tokens.pop()))
            made: list[int] = []

            def call_inner(**_: object) -> None:  # once (a retry's before-send runs it again)
                if not made:
                    made.append(1)
                    inner.list_tables()

            outer.meta.events.register("before-send", call_inner)
            with telemetry.tracer.start_as_current_span("request") as request:
                outer.list_tables()
                assert not tokens
                assert trace.get_current_span() is request
                assert otel_context.get_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY) is None
    finally:
        Instrumentor().uninstrument(session)
    assert len(telemetry.spans("DynamoDB.ListTables")) == 2
