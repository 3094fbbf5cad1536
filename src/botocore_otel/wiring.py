"""Wiring: registers the lifecycle's handlers on sessions and clients, and removes them.

Only botocore's event system is used. A client's emitter is a copy of its session's made
when the client is created, so handlers also check ``Lifecycle.enabled``: copies we can
no longer reach go quiet on uninstrument. The state is per process: ``Instrumentor`` and
the ``instrument()`` function share it. This module does not import
opentelemetry-instrumentation (about 25 ms): ``botocore_otel.instrument()`` never pays for it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Tracer

from botocore_otel.config import Settings, load_settings
from botocore_otel.errors import report
from botocore_otel.lifecycle import Lifecycle
from botocore_otel.metrics import CallMetrics
from botocore_otel.state import end_abandoned

logger = logging.getLogger("botocore_otel")
_VERSION = "0.1.0"
MIN_BOTOCORE = (1, 34, 0)

# Asked with emit_until_response on a client's emitter (a copy of its session's, so it
# carries the answer too): which instrumentation covers this client, for S3 transfers.
_OWNER_EVENT = "botocore-otel-owner"
_OWNER_ID = "botocore_otel.owner"
# S3 transfers are patched when the first S3 client is created (boto3 imports s3transfer
# anyway): until then wrapt and transfer.py (about 4 ms of imports) stay unloaded.
_S3_CLIENT_EVENT = "creating-client-class.s3"
_S3_CLIENT_ID = "botocore_otel.transfers"
# payload.py (message propagation, Lambda's faas attributes) and user captures register
# per-operation handlers; they are loaded when the session creates its first client of
# such a service (registered before botocore copies the emitter into the client).
_PAYLOAD_EVENT_SERVICES = {"stepfunctions": "sfn"}

# (event, handler method, position, needed for)
_HANDLERS: tuple[tuple[str, str, str, str], ...] = (
    ("provide-client-params", "on_provide_client_params", "normal", "always"),
    ("before-call", "on_before_call", "normal", "phases"),  # the serialization phase's end
    ("before-sign", "on_before_sign", "normal", "phases"),
    # last: after the signer (on the more specific request-created.<service>) has signed.
    # Stamps the signing time; hands the state on where prepared requests have no context.
    ("request-created", "on_request_created", "last", "signed"),
    # first: headers go on before any other before-send handler (moto's mock, say) reads them
    ("before-send", "on_before_send", "first", "always"),
    ("before-parse", "on_before_parse", "normal", "phases"),
    ("response-received", "on_response_received", "normal", "always"),
    ("after-call", "on_after_call", "normal", "always"),
    ("after-call-error", "on_after_call_error", "normal", "always"),
)


class _Instrumentation:
    """One configuration's handlers and the emitters they are registered on."""

    def __init__(self, settings: Settings, shared_from: _Instrumentation | None = None) -> None:
        # A session's share of the global instrumentation uses the global tracer and metrics.
        tracer: Tracer = (
            shared_from.tracer
            if shared_from
            else trace.get_tracer("botocore_otel", _VERSION, tracer_provider=settings.tracer_provider)
        )
        call_metrics = shared_from.call_metrics if shared_from else None
        if settings.metrics and shared_from is None:
            try:
                meter = metrics.get_meter("botocore_otel", _VERSION, meter_provider=settings.meter_provider)
                call_metrics = CallMetrics(meter, settings.metrics)
            except Exception as error:  # a broken meter provider: tracing goes on, metrics off
                report("creating the metric instruments (metrics stay off)", error)
        self.settings = settings
        self.tracer: Tracer = tracer
        self.call_metrics: CallMetrics | None = call_metrics
        _end_abandoned_at_exit()
        infos = shared_from.lifecycle.infos if shared_from else None
        self.lifecycle: Lifecycle = Lifecycle(settings, tracer, call_metrics, infos)
        self.is_global = shared_from is not None
        # The global instrumentation's per-session shares: one lifecycle each, so that
        # uninstrumenting one session silences the clients it made (they hold its handlers).
        self.shares: weakref.WeakSet[_Instrumentation] = weakref.WeakSet()
        if settings.synthetic is not None and shared_from is None:
            logger.info("botocore-otel: synthetic responses on: %s", settings.synthetic.describe())
        self._emitters: weakref.WeakSet[Any] = weakref.WeakSet()
        wanted = {"always"}
        if "phases" in settings.metrics:
            wanted |= {"phases", "signed"}
        if not _prepared_requests_carry_context():
            wanted.add("signed")
        self._handlers = [
            (event, getattr(self.lifecycle, method), position, f"botocore_otel.{method}")
            for event, method, position, need in _HANDLERS
            if need in wanted
        ]
        self._service_keys = _service_keys(settings)
        self._service_handlers: list[Any] | None = None
        if settings.synthetic is not None:
            from botocore_otel.synthetic.sending import SyntheticSender

            sender = SyntheticSender(settings.synthetic, self.lifecycle)
            self._handlers += sender.handlers(_prepared_requests_carry_context())

    def _service_handlers_loaded(self) -> list[Any]:
        if self._service_handlers is None:
            from botocore_otel import payload

            self._service_handlers = payload.service_handlers(self.settings, self.lifecycle)
            if "capacity" in self.settings.metrics:
                from botocore_otel import capacity

                self._service_handlers += capacity.service_handlers(self.settings, self.call_metrics)
        return self._service_handlers

    def _on_service_client(self, emitter: Any, **_: Any) -> None:
        try:
            _register(emitter, self._service_handlers_loaded())
        except Exception as error:
            report("registering per-service handlers", error)

    def register(self, emitter: Any, client_service: str | None = None) -> None:
        """``client_service``: the hyphenized service id when ``emitter`` is a client's."""
        _register(emitter, self._handlers)
        if client_service is not None:
            if client_service in self._service_keys:
                _register(emitter, self._service_handlers_loaded())
        else:
            for service in self._service_keys:
                emitter.register(
                    f"creating-client-class.{service}",
                    functools.partial(self._on_service_client, emitter),
                    unique_id=f"botocore_otel.services.{service}",
                )
        emitter.register(_OWNER_EVENT, self._answer_owner, unique_id=_OWNER_ID)
        emitter.register(_S3_CLIENT_EVENT, _install_transfers, unique_id=_S3_CLIENT_ID)
        self._emitters.add(emitter)
        # aiobotocore (a session's emitter sits inside an EventAliaser): end cancelled calls.
        if type(getattr(emitter, "_emitter", emitter)).__module__.startswith("aiobotocore"):
            from botocore_otel import aio  # wrapt and aiobotocore: only for aiobotocore emitters

            aio.install()

    def unregister(self, emitter: Any) -> None:
        for event, handler, _, unique_id in [*self._handlers, *(self._service_handlers or ())]:
            emitter.unregister(event, handler, unique_id=unique_id)
        for service in self._service_keys:
            emitter.unregister(
                f"creating-client-class.{service}", unique_id=f"botocore_otel.services.{service}"
            )
        emitter.unregister(_OWNER_EVENT, self._answer_owner, unique_id=_OWNER_ID)
        emitter.unregister(_S3_CLIENT_EVENT, _install_transfers, unique_id=_S3_CLIENT_ID)
        self._emitters.discard(emitter)

    def _answer_owner(self, **_: Any) -> _Instrumentation:
        return self

    def share(self) -> _Instrumentation:
        """A per-session instrumentation with this one's settings, tracer and metrics."""
        share = _Instrumentation(self.settings, shared_from=self)
        self.shares.add(share)
        return share

    def close(self) -> None:
        end_abandoned()
        self.lifecycle.enabled = False
        for emitter in list(self._emitters):
            self.unregister(emitter)
        for share in list(self.shares):
            share.close()


@functools.cache
def _end_abandoned_at_exit() -> None:
    # Registered after the SDK providers' own exit handlers, so it runs before them.
    import atexit

    atexit.register(end_abandoned)


def _register(emitter: Any, handlers: list[Any]) -> None:
    for event, handler, position, unique_id in handlers:
        register = getattr(
            emitter, {"first": "register_first", "last": "register_last"}.get(position, "register")
        )
        register(event, handler, unique_id=unique_id)


def _service_keys(settings: Settings) -> frozenset[str]:
    """The hyphenized ids of the services that payload.py, the captures or the capacity group
    have handlers for (Lambda always: Invoke's faas.* attributes)."""
    payload = {_PAYLOAD_EVENT_SERVICES.get(s, s) for s in settings.payload_propagation}
    keys = {*payload, "lambda", *(capture.service for capture in settings.capture)}
    if "capacity" in settings.metrics:
        from botocore_otel.capacity import SERVICE_KEYS  # the group on: its handlers are wanted

        keys |= SERVICE_KEYS
    return frozenset(keys)


@functools.cache
def _prepared_requests_carry_context() -> bool:
    """botocore >= ~1.43.70 gives the prepared request the call's ``context``."""
    from botocore.awsrequest import AWSPreparedRequest

    code = AWSPreparedRequest.__init__.__code__  # inspect.signature costs ~50 µs at instrument()
    return "context" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _emitter_of(target: Any) -> Any:
    """The event emitter of a botocore or boto3 session, or of a client."""
    meta = getattr(target, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        return meta.events
    if hasattr(target, "get_component"):
        return target.get_component("event_emitter")
    inner = getattr(target, "_session", None)
    if inner is not None and hasattr(inner, "get_component"):
        return inner.get_component("event_emitter")
    raise TypeError(
        f"botocore-otel cannot instrument {type(target).__name__}: expected a botocore or "
        "boto3 session or a client"
    )


_lock = threading.RLock()
_global: _Instrumentation | None = None
_owners: weakref.WeakKeyDictionary[Any, _Instrumentation] = weakref.WeakKeyDictionary()


def is_instrumented_globally() -> bool:
    return _global is not None


def _owner_of(emitter: Any) -> _Instrumentation | None:
    """The instrumentation whose handlers an emitter holds, enabled or not: a client's
    emitter is a copy of its session's, made with the handlers the session had then."""
    owner = _owners.get(emitter)
    if owner is not None:
        return owner
    answer = emitter.emit_until_response(_OWNER_EVENT)
    if inspect.iscoroutine(answer):
        # aiobotocore's emitter is async, but only our own plain function answers this
        # private event: the coroutine finishes at its first step, no event loop needed.
        try:
            answer.send(None)
        except StopIteration as done:
            answer = done.value
        else:
            answer.close()
            return None
    owner = answer[1] if isinstance(answer, tuple) and len(answer) == 2 else None
    return owner if isinstance(owner, _Instrumentation) else None


def instrument_target(target: Any, options: Mapping[str, object]) -> None:
    """Instruments one session or client; explicit settings win over the global ones, and a
    client's over its session's."""
    emitter = _emitter_of(target)
    with _lock:
        owner = _owners.get(emitter)
        if owner is not None and not owner.is_global:
            return  # already instrumented explicitly: instrumenting twice does nothing more
        instrumentation = _Instrumentation(load_settings(options, strict=True))
        # Handlers copied from the session (or left by an earlier instrumentation, disabled)
        # hold our unique ids: botocore would ignore the new ones until they are gone.
        previous = owner or _owner_of(emitter)
        if previous is not None:
            previous.unregister(emitter)
        meta = getattr(target, "meta", None)
        client_service = meta.service_model.service_id.hyphenize() if meta is not None else None
        instrumentation.register(emitter, client_service)
        _owners[emitter] = instrumentation
        _enable_transfers(now=meta is not None)


def uninstrument_target(target: Any) -> None:
    emitter = _emitter_of(target)
    end_abandoned()
    with _lock:
        owner = _owners.pop(emitter, None)
        if owner is None:
            copied = _owner_of(emitter)  # a client with its session's handlers: silence it only
            if copied is not None:
                copied.unregister(emitter)
            return
        owner.unregister(emitter)
        if not any(o is owner for o in _owners.values()):  # a global share has one session
            owner.lifecycle.enabled = False
        if _global is None and not _owners:
            _disable_transfers()
            _uninstall_aio()


def instrument_globally(options: Mapping[str, object], *, strict: bool) -> None:
    """Every session created from now on, and boto3's default session if it exists.

    ``strict`` raises on bad configuration. Otherwise (auto-instrumentation) a bad value is
    logged and its feature stays off, and any other failure is logged: the app runs on.
    """
    global _global
    with _lock:
        if _global is not None:
            logger.warning("botocore-otel: already instrumented globally; uninstrument first")
            return
        try:
            settings = load_settings(options, strict=strict)
            _global = _Instrumentation(settings)
            _register_initializer(_on_new_session)
            _enable_transfers()
            boto3 = sys.modules.get("boto3")
            default_session = getattr(boto3, "DEFAULT_SESSION", None)
            if default_session is not None:
                _on_new_session(default_session._session)
        except Exception:
            if strict:
                raise
            logger.exception("botocore-otel: auto-instrumentation failed; AWS calls are not traced")


def uninstrument_all() -> None:
    """Undoes every instrumentation, global and explicit."""
    global _global
    with _lock:
        _unregister_initializer(_on_new_session)
        for instrumentation in {*_owners.values(), *([_global] if _global else [])}:
            instrumentation.close()
        _owners.clear()
        _global = None
        _disable_transfers()
        _uninstall_aio()


def botocore_is_supported() -> bool:
    import botocore

    try:
        version = tuple(int(part) for part in botocore.__version__.split(".")[:3])
    except ValueError:
        return True  # a development build: let it run
    if version >= MIN_BOTOCORE:
        return True
    logger.error(
        "botocore-otel: botocore %s is too old (%s or later needed); AWS calls are not traced",
        botocore.__version__,
        ".".join(map(str, MIN_BOTOCORE)),
    )
    return False


_transfers_wanted = False


def _enable_transfers(*, now: bool = False) -> None:
    """``now`` for a client: it was created already. A session's clients are created after
    instrumentation (older ones keep their copy of the emitter, without our handlers)."""
    global _transfers_wanted
    _transfers_wanted = True
    if now:
        _install_transfers()


def _install_transfers(**_: Any) -> None:
    try:
        if _transfers_wanted:
            from botocore_otel import transfer

            transfer.install(_transfer_tracer)
    except Exception as error:
        report("patching s3transfer", error)


def _disable_transfers() -> None:
    global _transfers_wanted
    _transfers_wanted = False
    transfer = sys.modules.get("botocore_otel.transfer")
    if transfer is not None:
        transfer.uninstall()


def _transfer_tracer(client: Any) -> Any:
    """The tracer for an S3 managed transfer's span: the client's instrumentation's."""
    events = getattr(getattr(client, "meta", None), "events", None)
    owner = _owner_of(events) if events is not None else None
    if owner is None or not owner.lifecycle.enabled or "s3" in owner.settings.skip_services:
        return None
    return owner.tracer


def _on_new_session(session: Any) -> None:
    instrumentation = _global
    if instrumentation is None:
        return
    try:
        emitter = session.get_component("event_emitter")
        with _lock:
            if emitter not in _owners:
                share = instrumentation.share()
                share.register(emitter)
                _owners[emitter] = share
    except Exception:
        logger.exception("botocore-otel: could not instrument a new botocore session")


def _uninstall_aio() -> None:
    aio = sys.modules.get("botocore_otel.aio")
    if aio is not None:
        aio.uninstall()


def _register_initializer(callback: Any) -> None:
    import botocore

    botocore.register_initializer(callback)


def _unregister_initializer(callback: Any) -> None:
    import botocore

    with contextlib.suppress(ValueError):
        botocore.unregister_initializer(callback)
