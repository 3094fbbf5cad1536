"""boto3 managed transfers against the moto server: the worker threads' calls stay in the
caller's trace, under one span for the whole transfer."""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

from botocore_otel import Instrumentor, transfer
from telemetry import Telemetry

MB = 1024 * 1024
CONFIG = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=4)
BUCKET = "transfers"


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def s3(moto: Any, telemetry: Telemetry) -> Any:
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    client = moto.client("s3", session=session)
    client.create_bucket(Bucket=BUCKET)
    yield client
    Instrumentor().uninstrument(session)


def data_file(tmp_path: Path, size: int, name: str = "data.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def descendants(telemetry: Telemetry, root: Any) -> list[Any]:
    """Every finished span below ``root`` (by parent links)."""
    spans = telemetry.spans()
    below, frontier = [], {root.context.span_id}
    while frontier:
        children = [s for s in spans if s.parent is not None and s.parent.span_id in frontier]
        below += children
        frontier = {s.context.span_id for s in children}
    return below


def assert_transfer(telemetry: Telemetry, caller: Any, name: str, calls: dict[str, int], size: int) -> Any:
    (span,) = [s for s in telemetry.spans(name) if s.parent and s.parent.span_id == caller.context.span_id]
    assert span.kind is SpanKind.INTERNAL
    assert span.context.trace_id == caller.context.trace_id
    children = [s for s in telemetry.aws_spans() if s.parent and s.parent.span_id == span.context.span_id]
    counted: dict[str, int] = {}
    for child in children:
        counted[child.name] = counted.get(child.name, 0) + 1
        assert child.context.trace_id == caller.context.trace_id
        assert child.end_time <= span.end_time
    assert counted == calls
    assert span.attributes["aws.s3.transfer.size"] == size
    assert span.attributes["aws.s3.bucket"] == BUCKET
    return span


def test_multipart_upload_parts_are_children_of_the_callers_transfer_span(s3, moto, telemetry, tmp_path):
    path = data_file(tmp_path, 20 * MB)
    with telemetry.tracer.start_as_current_span("caller"):
        s3.upload_file(str(path), BUCKET, "big", Config=CONFIG)

    (caller,) = telemetry.spans("caller")
    span = assert_transfer(
        telemetry,
        caller,
        "S3.upload_file",
        {"S3.CreateMultipartUpload": 1, "S3.UploadPart": 4, "S3.CompleteMultipartUpload": 1},
        20 * MB,
    )
    assert span.attributes["aws.s3.key"] == "big"
    assert span.attributes["aws.s3.transfer.part_count"] == 4
    assert span.status.status_code is StatusCode.UNSET
    # Every AWS call of the test, except the bucket's creation, is under the caller.
    assert {s.name for s in telemetry.aws_spans()} - {s.name for s in descendants(telemetry, caller)} == {
        "S3.CreateBucket"
    }
    # (moto's recorder can't be read back here: concurrent large bodies interleave its lines)
    assert s3.head_object(Bucket=BUCKET, Key="big")["ContentLength"] == 20 * MB


def test_callbacks_in_transfer_threads_see_the_application_s_context_vars_as_without_us(moto, tmp_path):
    """Only the OpenTelemetry context goes into s3transfer's threads, and only for a traced
    transfer: a progress callback sees none of the caller's own context variables, as without
    botocore-otel, on an instrumented client and on one that is not."""
    import contextvars

    request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
    telemetry = Telemetry()
    path = data_file(tmp_path, 12 * MB)
    plain = moto.client("s3", session=boto3.session.Session())
    plain.create_bucket(Bucket=BUCKET)
    traced_session = boto3.session.Session()
    Instrumentor().instrument(traced_session, **telemetry.providers)
    seen: dict[str, set[str | None]] = {}
    try:
        for name, client in (("plain", plain), ("traced", moto.client("s3", session=traced_session))):
            token = request_id.set("req-42")
            try:
                client.upload_file(
                    str(path),
                    BUCKET,
                    name,
                    Config=CONFIG,
                    Callback=lambda _, name=name: seen.setdefault(name, set()).add(request_id.get()),
                )
            finally:
                request_id.reset(token)
    finally:
        Instrumentor().uninstrument(traced_session)
    assert seen == {"plain": {None}, "traced": {None}}
    (transfer,) = telemetry.spans("S3.upload_file")
    parts = telemetry.spans("S3.UploadPart")
    assert len(parts) == 3 and {p.parent.span_id for p in parts} == {transfer.context.span_id}


def test_suppression_and_untraced_tasks_reach_the_transfer_threads(s3, telemetry, tmp_path):
    """The OpenTelemetry context goes with every task: ``suppress_instrumentation()`` silences
    a transfer's calls, and a ``delete`` (no transfer span) is the caller's child."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation
    from s3transfer.manager import TransferManager

    path = data_file(tmp_path, 12 * MB)
    with suppress_instrumentation():
        s3.upload_file(str(path), BUCKET, "quiet", Config=CONFIG)
    assert [s.name for s in telemetry.spans() if s.name != "S3.CreateBucket"] == []
    with telemetry.tracer.start_as_current_span("caller"), TransferManager(s3) as manager:
        manager.delete(BUCKET, "quiet").result()
    (caller,) = telemetry.spans("caller")
    (deleted,) = telemetry.spans("S3.DeleteObject")
    assert deleted.parent.span_id == caller.context.span_id


def test_download_copy_and_fileobj_transfers(s3, telemetry, tmp_path):
    path = data_file(tmp_path, 12 * MB)
    s3.upload_file(str(path), BUCKET, "src", Config=CONFIG)
    telemetry.exporter.clear()

    with telemetry.tracer.start_as_current_span("caller"):
        s3.download_file(BUCKET, "src", str(tmp_path / "down.bin"), Config=CONFIG)
        s3.copy({"Bucket": BUCKET, "Key": "src"}, BUCKET, "copied", Config=CONFIG)
        s3.upload_fileobj(io.BytesIO(b"small"), BUCKET, "small", Config=CONFIG)
        sink = io.BytesIO()
        s3.download_fileobj(BUCKET, "small", sink, Config=CONFIG)

    assert (tmp_path / "down.bin").read_bytes() == path.read_bytes()
    assert sink.getvalue() == b"small"
    (caller,) = telemetry.spans("caller")
    download = telemetry.spans("S3.download_file")[0]
    assert download.attributes["aws.s3.transfer.part_count"] == 3
    gets = [s for s in descendants(telemetry, download) if s.name == "S3.GetObject"]
    assert len(gets) == 3
    copy = assert_transfer(
        telemetry,
        caller,
        "S3.copy",
        {
            "S3.HeadObject": 1,
            "S3.CreateMultipartUpload": 1,
            "S3.UploadPartCopy": 3,
            "S3.CompleteMultipartUpload": 1,
        },
        12 * MB,
    )
    assert copy.attributes["aws.s3.copy_source"] == f"{BUCKET}/src"
    assert_transfer(telemetry, caller, "S3.upload_fileobj", {"S3.PutObject": 1}, 5)
    small = telemetry.spans("S3.download_fileobj")[0]
    assert small.attributes["aws.s3.transfer.part_count"] == 1
    assert small.parent.span_id == caller.context.span_id


def test_concurrent_transfers_in_user_threads_do_not_cross_talk(s3, telemetry, tmp_path):
    paths = [data_file(tmp_path, 11 * MB, f"f{i}.bin") for i in range(4)]

    def upload(index: int) -> None:
        with telemetry.tracer.start_as_current_span(f"caller {index}"):
            s3.upload_file(str(paths[index]), BUCKET, f"key{index}", Config=CONFIG)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(upload, range(4)))

    traces = set()
    for index in range(4):
        (caller,) = telemetry.spans(f"caller {index}")
        traces.add(caller.context.trace_id)
        span = assert_transfer(
            telemetry,
            caller,
            "S3.upload_file",
            {"S3.CreateMultipartUpload": 1, "S3.UploadPart": 3, "S3.CompleteMultipartUpload": 1},
            11 * MB,
        )
        assert span.attributes["aws.s3.key"] == f"key{index}"
        below = descendants(telemetry, caller)
        assert len(below) == 6  # the transfer span and its five calls, nothing of the others
        assert {s.context.trace_id for s in below} == {caller.context.trace_id}
    assert len(traces) == 4
    in_transfers = [s for s in telemetry.aws_spans() if s.name != "S3.CreateBucket"]
    assert len(in_transfers) == 20


def test_failed_transfer_ends_its_span_with_the_error(s3, telemetry, tmp_path):
    path = data_file(tmp_path, 6 * MB)
    with telemetry.tracer.start_as_current_span("caller"), pytest.raises(Exception, match="NoSuchBucket"):
        s3.upload_file(str(path), "no-such-bucket", "k", Config=CONFIG)
    (span,) = telemetry.spans("S3.upload_file")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "NoSuchBucket"


_PROBE = otel_context.create_key("probe")


class _ProbeTask:
    transfer_id = 1

    def __call__(self, *args: Any) -> str:
        return str(otel_context.get_value(_PROBE) or "unset")


def seen_in_worker(tracer: Any) -> str:
    """The OpenTelemetry value a task submitted inside a traced transfer sees in its thread."""
    from s3transfer.futures import BoundedExecutor

    executor = BoundedExecutor(max_size=10, max_num_threads=1)
    token = otel_context.attach(otel_context.set_value(_PROBE, "caller's"))
    marked = transfer._transfer.set(transfer._Transfer(tracer.start_span("probe")))
    try:
        return str(executor.submit(_ProbeTask()).result())
    finally:
        transfer._transfer.reset(marked)
        otel_context.detach(token)
        executor.shutdown()


def test_uninstrument_makes_the_patches_pass_through(moto, telemetry, tmp_path):
    transfer.uninstall()  # as in a fresh process
    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers)
    assert not transfer.enabled()  # patched when the first S3 client is created, not before
    client = moto.client("s3", session=session)
    assert transfer.enabled()
    assert seen_in_worker(telemetry.tracer) == "caller's"
    Instrumentor().uninstrument(session)
    assert not transfer.enabled()
    assert seen_in_worker(telemetry.tracer) == "unset"

    client.create_bucket(Bucket=BUCKET)
    with telemetry.tracer.start_as_current_span("caller"):
        client.upload_file(str(data_file(tmp_path, 6 * MB)), BUCKET, "k", Config=CONFIG)
    assert [s.name for s in telemetry.spans()] == ["caller"]


def test_a_client_of_an_uninstrumented_session_gets_no_transfer_span(moto, telemetry, tmp_path):
    """The patches stay while another session is instrumented; the client's copied handlers
    still name their (switched-off) instrumentation, which must not trace the transfer."""
    kept, dropped = boto3.session.Session(), boto3.session.Session()
    Instrumentor().instrument(kept, **telemetry.providers)
    Instrumentor().instrument(dropped, **telemetry.providers)
    client = moto.client("s3", session=dropped)
    Instrumentor().uninstrument(dropped)
    try:
        assert transfer.enabled()
        client.create_bucket(Bucket=BUCKET)
        client.upload_file(str(data_file(tmp_path, 6 * MB)), BUCKET, "k", Config=CONFIG)
    finally:
        Instrumentor().uninstrument(kept)
    assert telemetry.spans() == []


def test_global_instrument_carries_context_into_transfers(moto, telemetry, tmp_path):
    Instrumentor().instrument(**telemetry.providers)
    try:
        client = moto.client("s3", session=boto3.session.Session())
        client.create_bucket(Bucket=BUCKET)
        with telemetry.tracer.start_as_current_span("caller"):
            client.upload_file(str(data_file(tmp_path, 6 * MB)), BUCKET, "k", Config=CONFIG)
    finally:
        Instrumentor().uninstrument()
    (caller,) = telemetry.spans("caller")
    assert_transfer(
        telemetry,
        caller,
        "S3.upload_file",
        {"S3.CreateMultipartUpload": 1, "S3.UploadPart": 2, "S3.CompleteMultipartUpload": 1},
        6 * MB,
    )


def test_transfer_without_threads(s3, telemetry, tmp_path):
    config = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, use_threads=False)
    with telemetry.tracer.start_as_current_span("caller"):
        s3.upload_file(str(data_file(tmp_path, 6 * MB)), BUCKET, "k", Config=config)
    (caller,) = telemetry.spans("caller")
    span = assert_transfer(
        telemetry,
        caller,
        "S3.upload_file",
        {"S3.CreateMultipartUpload": 1, "S3.UploadPart": 2, "S3.CompleteMultipartUpload": 1},
        6 * MB,
    )
    assert span.attributes["aws.s3.transfer.part_count"] == 2


def test_a_failing_span_processor_never_replaces_the_transfers_own_error(moto, tmp_path):
    """s3transfer refuses unknown ExtraArgs inside ``TransferManager.upload``: that error, not
    the span processor's, reaches the caller."""
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    class EndRaises(SpanProcessor):
        def on_end(self, span: Any) -> None:
            raise RuntimeError("span processor on_end is broken")

    provider = TracerProvider()
    provider.add_span_processor(EndRaises())
    session = boto3.session.Session()
    Instrumentor().instrument(session, tracer_provider=provider)
    try:
        client = moto.client("s3", session=session)
        with pytest.raises(ValueError, match="Invalid extra_args key 'NotAnArgument'"):
            client.upload_file(str(data_file(tmp_path, 10)), BUCKET, "k", ExtraArgs={"NotAnArgument": 1})
    finally:
        Instrumentor().uninstrument(session)


def test_the_transfer_span_has_ended_when_result_returns(s3, telemetry):
    """s3transfer wakes ``result()`` before it runs the done callbacks: the transfer's span
    ends there, so it is over when the caller gets the outcome; and first among the done
    callbacks, so the caller's own slow ``on_done`` is never part of it."""
    import time

    from s3transfer.manager import TransferManager
    from s3transfer.subscribers import BaseSubscriber

    class SlowDone(BaseSubscriber):
        def on_done(self, future: Any, **kwargs: Any) -> None:
            time.sleep(0.3)

    with TransferManager(s3) as manager:
        for key, bucket in (("k", BUCKET), ("failed", "no-such-bucket")):
            with telemetry.tracer.start_as_current_span("caller"):
                future = manager.upload(io.BytesIO(b"x" * 100), bucket, key, subscribers=[SlowDone()])
                with contextlib.suppress(Exception):  # NoSuchBucket
                    future.result()
                ended = telemetry.spans("S3.upload_fileobj")
                assert [s.attributes["aws.s3.key"] for s in ended][-1:] == [key]
            span = ended[-1]
            assert (span.end_time - span.start_time) / 1e9 < 0.3
        manager.upload(io.BytesIO(b"y"), BUCKET, "unawaited", subscribers=[SlowDone()])
    ok, failed, unawaited = telemetry.spans("S3.upload_fileobj")  # the last one: ended by on_done
    assert ok.status.status_code is StatusCode.UNSET and ok.attributes["aws.s3.transfer.size"] == 100
    assert failed.attributes["error.type"] == "NoSuchBucket"
    assert (unawaited.end_time - unawaited.start_time) / 1e9 < 0.3


def test_result_waits_for_the_span_that_on_done_is_ending():
    """``result()`` in the caller's thread and ``on_done`` in a worker both end the span: the
    second returns only once the first has ended it (span processors included)."""
    import threading
    import time

    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    ending, ended = threading.Event(), threading.Event()

    class SlowEnd(SpanProcessor):
        def on_end(self, span: Any) -> None:
            ending.set()
            time.sleep(0.2)
            ended.set()

    provider = TracerProvider()
    provider.add_span_processor(SlowEnd())
    done = transfer._Transfer(provider.get_tracer("tests").start_span("S3.upload_file"))
    worker = threading.Thread(target=done.finish, args=(None,))  # on_done
    worker.start()
    assert ending.wait(5)
    done.finish(None)  # result()
    assert ended.is_set()
    worker.join()


def test_a_span_processor_that_uploads_to_s3_does_not_hang_the_transfer(s3, telemetry):
    """The span ends in a worker's on_done when nobody waits on ``result()``; a span processor
    that archives it to S3 (through s3transfer, suppressed) makes its own transfer there. Ending
    under the transfer's lock hung both: the nested transfer's tasks, which inherit the marked
    transfer, waited for that lock to count their parts."""
    import threading

    from opentelemetry.instrumentation.utils import suppress_instrumentation
    from opentelemetry.sdk.trace import SpanProcessor
    from s3transfer.manager import TransferManager

    class Archive(SpanProcessor):
        def on_end(self, span: Any) -> None:
            if span.name == "S3.upload_fileobj" and span.attributes.get("aws.s3.key") == "app":
                with suppress_instrumentation():
                    s3.upload_fileobj(io.BytesIO(b"span"), BUCKET, "archived")

    telemetry.tracer_provider.add_span_processor(Archive())

    def transfer_unawaited() -> None:
        with TransferManager(s3) as manager:
            manager.upload(io.BytesIO(b"x" * 10), BUCKET, "app")

    worker = threading.Thread(target=transfer_unawaited, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "the transfer hung"
    assert s3.get_object(Bucket=BUCKET, Key="archived")["Body"].read() == b"span"
    (span,) = telemetry.spans("S3.upload_fileobj")
    assert span.attributes["aws.s3.transfer.part_count"] == 1


def test_an_untraced_transfer_started_inside_a_traced_one_is_not_counted_in_it(s3, telemetry):
    """A transfer that gets no span of its own (suppressed, here from the traced transfer's
    ``on_queued``) moves its own parts: they are not the traced transfer's."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation
    from s3transfer.manager import TransferManager
    from s3transfer.subscribers import BaseSubscriber

    class SideUpload(BaseSubscriber):
        def on_queued(self, future: Any, **kwargs: Any) -> None:
            with suppress_instrumentation():
                s3.upload_fileobj(io.BytesIO(b"side"), BUCKET, "side")

    with TransferManager(s3) as manager:
        manager.upload(io.BytesIO(b"x" * 10), BUCKET, "app", subscribers=[SideUpload()]).result()
    (span,) = telemetry.spans("S3.upload_fileobj")
    assert span.attributes["aws.s3.transfer.part_count"] == 1
