"""S3 managed transfers: the caller's trace context in s3transfer's worker threads.

boto3's ``upload_file``, ``download_file``, ``copy``, ``upload_fileobj`` and
``download_fileobj`` hand their API calls to s3transfer, which runs them in thread pools:
a submission thread plans the transfer and worker threads make the CreateMultipartUpload,
UploadPart, CompleteMultipartUpload (or GetObject, UploadPartCopy...) calls. A new thread
starts with an empty ``contextvars`` context, so those calls lost the caller's trace
(opentelemetry-python-contrib #298). s3transfer carries only botocore's own context var.

botocore emits no event at that thread hand-off, so wrapt is used here (once per
process, when s3transfer is imported):

* ``s3transfer.futures.BoundedExecutor.submit``: each task runs with the submitter's
  OpenTelemetry context, taken at submit time, attached (and its transfer marked, when
  traced); nothing else of the submitter's ``contextvars``: the application's progress
  callbacks and handlers in those threads see what they see without botocore-otel. The
  submission task carries the caller's context, and the part tasks it submits carry that one
  on, so each API call's span is a child of the transfer's span (or the caller's, for a
  ``delete``), and ``suppress_instrumentation()`` reaches them. A task submitted with no
  OpenTelemetry context at all runs untouched.
* ``TransferManager.upload``/``download``/``copy``: one INTERNAL span for the whole
  transfer (``S3.upload_file``, ``S3.download_fileobj``, ``S3.copy``...) when the client is
  instrumented, current while the transfer is submitted (so the calls become its
  children), ended with the transfer's size and number of data parts when
  ``TransferFuture.result()`` hands the outcome over, or by a subscriber's ``on_done``
  (s3transfer's public callback, ours first), whichever comes first: s3transfer wakes
  ``result()`` before it runs the done callbacks. Transfers of one manager can overlap:
  each has its own span.

Both check ``_enabled``: after uninstrument the wrappers only pass calls through.
Nothing here raises into a transfer: every failure is reported and the transfer goes on.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from botocore_otel.attributes import exception_type
from botocore_otel.errors import report
from botocore_otel.forks import lock_of
from botocore_otel.redact import record_exception

TracerLookup = Callable[[Any], "Tracer | None"]
"""``lookup(s3_client)``: the tracer of the instrumentation covering that client, or None."""

# Tasks that each move one part of the data (or the whole object, below the threshold).
_DATA_TASKS = frozenset(
    {"PutObjectTask", "UploadPartTask", "GetObjectTask", "ImmediatelyWriteIOGetObjectTask"}
    | {"CopyObjectTask", "CopyPartTask"}
)
_SUBSCRIBERS_INDEX = 4  # upload/download/copy: (a, b, c, extra_args, subscribers, ...)

_patched = False
_enabled = False
_tracer_for: TracerLookup | None = None
_transfer: contextvars.ContextVar[_Transfer | None] = contextvars.ContextVar(
    "botocore_otel_transfer", default=None
)


def install(tracer_for: TracerLookup | None = None) -> None:
    """Patches s3transfer (when it is, or gets, imported; once per process) and enables it."""
    global _patched, _enabled, _tracer_for
    if tracer_for is not None:
        _tracer_for = tracer_for
    _enabled = True
    if _patched:
        return
    _patched = True
    try:
        wrapt.register_post_import_hook(_patch_executor, "s3transfer.futures")
        wrapt.register_post_import_hook(_patch_manager, "s3transfer.manager")
    except Exception as error:
        report("patching s3transfer", error)


def uninstall() -> None:
    """Makes the patches pass calls straight through (they stay: patching is once only)."""
    global _enabled, _tracer_for
    _enabled = False
    _tracer_for = None


def enabled() -> bool:
    return _enabled


# -- context hand-off ------------------------------------------------------------------
def _patch_executor(module: Any) -> None:
    try:
        wrapt.wrap_function_wrapper(module, "BoundedExecutor.submit", _submit)
    except Exception as error:
        report("patching s3transfer's executor", error)
    try:
        wrapt.wrap_function_wrapper(module, "TransferFuture.result", _result)
    except Exception as error:
        report("patching s3transfer's TransferFuture.result", error)


if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy


class _InContext(_Proxy):
    """A task that runs with the OpenTelemetry context it was submitted in, its transfer (if
    traced) marked; otherwise the task."""

    def __init__(self, task: Any, context: otel_context.Context, transfer: _Transfer | None) -> None:
        super().__init__(task)
        self._self_context = context
        self._self_transfer = transfer

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(self._self_context)
        marked = _transfer.set(self._self_transfer)
        try:
            return self.__wrapped__(*args, **kwargs)
        finally:
            _transfer.reset(marked)
            otel_context.detach(token)


def _submit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _enabled:
        return wrapped(*args, **kwargs)
    context = otel_context.get_current()
    transfer = _transfer.get()
    if not context and transfer is None:  # nothing to carry: the task runs as without us
        return wrapped(*args, **kwargs)
    try:
        if args:
            task, rest, named = args[0], args[1:], kwargs
        else:
            task, rest = kwargs["task"], ()
            named = {name: value for name, value in kwargs.items() if name != "task"}
        if transfer is not None and type(task).__name__ in _DATA_TASKS:
            transfer.count_part()
        carried = _InContext(task, context, transfer)
    except Exception as error:
        report("carrying the trace context into an s3transfer task", error)
        return wrapped(*args, **kwargs)
    return wrapped(carried, *rest, **named)


def _result(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Ends the transfer's span before the caller gets the outcome."""
    if not _enabled:
        return wrapped(*args, **kwargs)
    try:
        outcome = wrapped(*args, **kwargs)
    except Exception as error:
        _finish_on_result(instance, error)
        raise
    # A KeyboardInterrupt while waiting cancels a transfer that is still running: on_done ends it.
    _finish_on_result(instance, None)
    return outcome


def _finish_on_result(future: Any, error: BaseException | None) -> None:
    try:
        meta = future.meta
        for subscriber in getattr(meta.call_args, "subscribers", None) or ():
            if isinstance(subscriber, _Transfer):
                subscriber.finish(error, getattr(meta, "size", None))
    except Exception as failure:
        report("ending an S3 transfer span", failure)


# -- one span per transfer ----------------------------------------------------------------
def _patch_manager(module: Any) -> None:
    for method, kind in (("upload", "upload"), ("download", "download"), ("copy", "copy")):
        try:
            wrapt.wrap_function_wrapper(module, f"TransferManager.{method}", _transfer_wrapper(kind))
        except Exception as error:
            report(f"patching s3transfer's TransferManager.{method}", error)


class _Transfer:
    """One transfer's span; ended once, by whichever of on_done or a failed submit is first."""

    __slots__ = ("__weakref__", "_lock", "_parts", "span")

    def __init__(self, span: Span) -> None:
        self.span: Span | None = span
        self._parts = 0
        self._lock = lock_of(self, threading.RLock)

    def count_part(self) -> None:
        with self._lock:
            self._parts += 1

    def on_done(self, future: Any, **_: Any) -> None:
        """s3transfer's subscriber callback: the transfer succeeded, failed or was cancelled."""
        error: BaseException | None = None
        try:
            future.result()  # already done: returns or raises at once
        except BaseException as raised:
            error = raised
        try:
            size = getattr(getattr(future, "meta", None), "size", None)
            self.finish(error, size)
        except Exception as failure:
            report("ending an S3 transfer span", failure)

    def finish(self, error: BaseException | None, size: int | None = None) -> None:
        # Held while the span ends: result() in one thread and on_done in another both end it,
        # and the second must not return before the first has ended it.
        with self._lock:
            span, self.span = self.span, None
            if span is None:
                return
            if span.is_recording():
                if size is not None:
                    span.set_attribute("aws.s3.transfer.size", size)
                span.set_attribute("aws.s3.transfer.part_count", self._parts)
                if error is not None:
                    error_type = _error_type(error)
                    span.set_attribute("error.type", error_type)
                    record_exception(span, error)
                    span.set_status(Status(StatusCode.ERROR, error_type))
            span.end()


def _error_type(error: BaseException) -> str:
    name = type(error).__name__
    if name == "CancelledError":  # s3transfer's, concurrent.futures' or asyncio's
        return "cancelled"
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return exception_type(error)


def _transfer_wrapper(kind: str) -> Callable[[Any, Any, Any, Any], Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _enabled:
            return wrapped(*args, **kwargs)
        try:
            opened = _open(kind, instance, args, kwargs)
        except Exception as error:
            report("opening an S3 transfer span", error)
            opened = None
        if opened is None:  # untraced: its parts are not those of a transfer it runs inside
            if _transfer.get() is None:
                return wrapped(*args, **kwargs)
            unmarked = _transfer.set(None)
            try:
                return wrapped(*args, **kwargs)
            finally:
                _transfer.reset(unmarked)
        transfer, args, kwargs = opened
        assert transfer.span is not None
        token = otel_context.attach(set_span_in_context(transfer.span))
        marked = _transfer.set(transfer)
        try:
            return wrapped(*args, **kwargs)
        except BaseException as error:  # nothing was submitted: on_done will never come
            try:
                transfer.finish(error)
            except Exception as failure:  # a span processor's on_end: the caller's error wins
                report("ending an S3 transfer span", failure)
            raise
        finally:
            _transfer.reset(marked)
            otel_context.detach(token)

    return wrapper


def _open(kind: str, manager: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Starts the transfer's span and adds its subscriber; None when not traced."""
    lookup = _tracer_for
    if lookup is None or otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return None
    tracer = lookup(getattr(manager, "client", None))
    if tracer is None:
        return None
    if kind == "upload":
        names = ("fileobj", "bucket", "key")
    elif kind == "download":
        names = ("bucket", "key", "fileobj")
    else:
        names = ("copy_source", "bucket", "key")
    given = dict(zip(names, args, strict=False))
    given.update((name, kwargs[name]) for name in names if name in kwargs)
    attributes: dict[str, Any] = {}
    for name in ("bucket", "key"):
        if isinstance(given.get(name), str):
            attributes[f"aws.s3.{name}"] = given[name]
    if kind == "copy":
        source = given.get("copy_source")
        if isinstance(source, Mapping):
            source = f"{source.get('Bucket')}/{source.get('Key')}"
        if isinstance(source, str):
            attributes["aws.s3.copy_source"] = source
        name = "S3.copy"
    else:
        name = f"S3.{kind}_file" if isinstance(given.get("fileobj"), str) else f"S3.{kind}_fileobj"
    span = tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
    transfer = _Transfer(span)
    # first: the caller's own done callbacks are not part of the transfer
    if len(args) > _SUBSCRIBERS_INDEX:
        subscribers = [transfer, *(args[_SUBSCRIBERS_INDEX] or ())]
        args = (*args[:_SUBSCRIBERS_INDEX], subscribers, *args[_SUBSCRIBERS_INDEX + 1 :])
    else:
        kwargs = {**kwargs, "subscribers": [transfer, *(kwargs.get("subscribers") or ())]}
    return transfer, args, kwargs
