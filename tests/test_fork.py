"""A process forked after instrumenting (gunicorn --preload, multiprocessing 'fork') traces.

The child inherits the instrumented session, its clients and the SDK providers. Its calls
must still make spans that reach the OTLP receiver on 127.0.0.1, with the right parents,
trace headers on the wire that match them, and metrics; and the parent must go on tracing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from typing import Any

import boto3
import botocore.session
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from botocore_otel.instrumentor import Instrumentor
from tests.support.moto_server import MotoServer
from tests.support.otlp_receiver import OTLPReceiver

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform != "linux", reason="the 'fork' start method"),
]


def _call_count(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    total = 0
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "rpc.client.call.duration":
                    total += sum(point.count for point in metric.data.data_points)
    return total


def _child(
    server: MotoServer,
    session: Any,
    inherited_sqs: Any,
    provider: TracerProvider,
    reader: InMemoryMetricReader,
    pipe: Connection,
) -> None:
    """Runs in the forked process: calls with an inherited and a new client."""
    try:
        tracer = provider.get_tracer("fork-test")
        with tracer.start_as_current_span("child-work") as work:
            work.set_attribute("pid", os.getpid())
            url = inherited_sqs.create_queue(QueueName="child-queue")["QueueUrl"]
            inherited_sqs.send_message(QueueUrl=url, MessageBody="from the child")
            s3 = server.client("s3", session=session)  # a client created after the fork
            s3.create_bucket(Bucket="child-bucket")
            s3.put_object(Bucket="child-bucket", Key="k", Body=b"x")
        flushed = provider.force_flush(20_000)
        pipe.send(
            {
                "pid": os.getpid(),
                "trace_id": f"{work.get_span_context().trace_id:032x}",
                "work_span_id": f"{work.get_span_context().span_id:016x}",
                "flushed": flushed,
                "calls_measured": _call_count(reader),
            }
        )
    except BaseException as error:  # report anything to the parent, which asserts
        pipe.send({"error": f"{type(error).__name__}: {error}"})
    finally:
        pipe.close()


def test_forked_child_traces_and_exports(moto_server: MotoServer, otlp_receiver: OTLPReceiver) -> None:
    moto_server.reset()
    provider = TracerProvider(resource=Resource.create({"service.name": "fork-test"}))
    # A long delay: nothing is exported before the fork, so the child never shares the
    # exporter's pooled connection with the parent; both flush explicitly.
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=otlp_receiver.traces_endpoint), schedule_delay_millis=30_000
        )
    )
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    session = boto3.session.Session(botocore_session=botocore.session.Session())
    instrumentor = Instrumentor()
    instrumentor.instrument(session, tracer_provider=provider, meter_provider=meters)
    try:
        sqs = moto_server.client("sqs", session=session)
        sqs.create_queue(QueueName="parent-before-fork")
        assert _call_count(reader) == 1

        context = multiprocessing.get_context("fork")
        receiving, sending = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(moto_server, session, sqs, provider, reader, sending))
        child.start()
        sending.close()
        assert receiving.poll(60), "the child did not answer"
        report = receiving.recv()
        child.join(30)
        assert "error" not in report, report["error"]
        assert child.exitcode == 0
        assert report["pid"] != os.getpid()
        assert report["flushed"] is True
        # The child's meter carried over the parent's count and added its 4 calls.
        assert report["calls_measured"] == 1 + 4

        names = {"SQS.CreateQueue", "SQS.SendMessage", "S3.CreateBucket", "S3.PutObject"}
        child_spans = otlp_receiver.wait_for_spans(
            lambda s: s["trace_id"] == report["trace_id"] and s["name"] in names, count=4, timeout=20
        )
        assert {s["name"] for s in child_spans} == names
        for span in child_spans:
            assert span["parent_span_id"] == report["work_span_id"], span["name"]
            assert span["attributes"]["rpc.system"] == "aws-api"
            assert span["end_time_unix_nano"] >= span["start_time_unix_nano"] > 0
        assert otlp_receiver.wait_for_spans(lambda s: s["name"] == "child-work", count=1)

        # On the wire, the child's requests carry its own trace context.
        child_requests = [r for r in moto_server.recorded_requests() if "child" in (r.body_text() + r.path)]
        assert len(child_requests) == 4
        for request in child_requests:
            assert request.headers["traceparent"].split("-")[1] == report["trace_id"]
            assert report["trace_id"][8:] in request.headers["X-Amzn-Trace-Id"]

        # The parent goes on: its span from before the fork and a new call both export.
        sqs.create_queue(QueueName="parent-after-fork")
        assert provider.force_flush(20_000)
        parent_spans = otlp_receiver.wait_for_spans(
            lambda s: s["name"] == "SQS.CreateQueue" and s["trace_id"] != report["trace_id"], count=2
        )
        assert len({s["trace_id"] for s in parent_spans}) == 2
        assert _call_count(reader) == 2
    finally:
        instrumentor.uninstrument(session)
        provider.shutdown()
        meters.shutdown()


def test_a_fork_while_another_thread_holds_our_locks_leaves_the_child_free() -> None:
    """A thread holds every lock of botocore-otel (one creating a session, say, holds the
    wiring's) while another forks: the child still makes sessions, clients and calls, and
    collects its metrics. A lock left held would hang the child's first session for ever."""
    import signal
    import threading

    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botocore_otel import forks
    from scripted_http import Reply, client_for, scripted_server

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    instrumentor = Instrumentor()
    instrumentor.instrument(tracer_provider=provider, meter_provider=meters, metrics="all")
    try:
        with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
            # the first call makes the metric totals and their locks
            client_for(boto3.session.Session(), "dynamodb", server.url).list_tables()
            locks = [owner._lock for owner in list(forks._owners)]
            locks += [namespace[name] for namespace, name, _ in forks._module_locks]
            held, forked = threading.Event(), threading.Event()

            def hold_every_lock() -> None:
                for lock in locks:
                    lock.acquire()
                held.set()
                forked.wait(30)
                for lock in reversed(locks):
                    lock.release()

            holder = threading.Thread(target=hold_every_lock)
            holder.start()
            held.wait(30)
            pid = os.fork()
            if pid == 0:  # the child: any failure, or a hang cut by the alarm, is a non-zero status
                status = 1
                try:
                    signal.alarm(20)
                    client = client_for(boto3.session.Session(), "dynamodb", server.url)
                    client.list_tables()
                    measured = reader.get_metrics_data()
                    status = 0 if measured is not None and len(spans.get_finished_spans()) == 2 else 2
                finally:
                    os._exit(status)
            forked.set()
            holder.join(30)
            _, status = os.waitpid(pid, 0)
    finally:
        instrumentor.uninstrument()
    assert len(locks) >= 5  # the wiring's, the metric totals' and the shared meters' at least
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the child: status {status}"


def test_a_call_the_parent_abandoned_before_a_fork_is_ended_by_the_parent_only() -> None:
    """A call left without a closing event is queued, to be ended at the next safe point: the
    parent's. The child's first call must not end it too (its span would be exported twice,
    and counted as cancelled twice)."""
    import contextlib
    import gc

    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from scripted_http import Reply, client_for, scripted_server

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    session = boto3.session.Session()
    Instrumentor().instrument(session, tracer_provider=provider)

    def interrupt(context, **_):
        context["cycle"] = context  # only the cycle collector frees the call's state
        raise KeyboardInterrupt

    try:
        with scripted_server(lambda i, r: Reply(body=b'{"TableNames":[]}')) as server:
            client = client_for(session, "dynamodb", server.url)
            client.meta.events.register("after-call.dynamodb.ListTables", interrupt)
            gc.disable()
            try:
                with contextlib.suppress(KeyboardInterrupt):
                    client.list_tables()
                gc.collect()  # its finalizer queues it, to be ended at the next call
            finally:
                gc.enable()
                client.meta.events.unregister("after-call.dynamodb.ListTables", interrupt)
            pid = os.fork()
            if pid == 0:  # the child: one call, and only its own span
                status = 1
                try:
                    client.list_tables()
                    errors = [span.attributes.get("error.type") for span in spans.get_finished_spans()]
                    status = 0 if errors == [None] else 2
                finally:
                    os._exit(status)
            _, status = os.waitpid(pid, 0)
            client.list_tables()
    finally:
        Instrumentor().uninstrument(session)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the child: status {status}"
    assert [span.attributes.get("error.type") for span in spans.get_finished_spans()] == ["cancelled", None]
