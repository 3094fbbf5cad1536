"""Wiring: registers the lifecycle's handlers on sessions and clients, and removes them.

Only botocore's event system is used. A client's emitter is a copy of its session's made
when the client is created, so handlers also check ``Lifecycle.enabled``: copies we can
no longer reach go quiet on uninstrument.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import weakref
from collections.abc import Collection
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from botocore_otel import payload, transfer
from botocore_otel._failsafe import report
from botocore_otel.config import Settings, load_settings
from botocore_otel.lifecycle import Lifecycle
from botocore_otel.metrics import CallMetrics

logger = logging.getLogger("botocore_otel")
_VERSION = "0.1.0"

# Asked with emit_until_response on a client's emitter (a copy of its session's, so it
# carries the answer too): which instrumentation covers this client, for S3 transfers.
_OWNER_EVENT = "botocore-otel-owner"
_OWNER_ID = "botocore_otel.owner"

# (event, handler method, position, needed for)
_HANDLERS: tuple[tuple[str, str, str, str], ...] = (
    ("provide-client-params", "on_provide_client_params", "normal", "always"),
    ("before-call", "on_before_call", "normal", "always"),
    ("before-sign", "on_before_sign", "normal", "phase_metrics"),
    # last: after the signer (on the more specific request-created.<service>) has signed
    ("request-created", "on_request_created", "last", "always"),
    # first: headers go on before any other before-send handler (moto's mock, say) reads them
    ("before-send", "on_before_send", "first", "always"),
    # last: a response returned by a handler registered earlier wins
    ("before-send", "on_synthetic_send", "last", "synthetic"),
    ("before-parse", "on_before_parse", "normal", "phase_metrics"),
    ("response-received", "on_response_received", "normal", "always"),
    ("after-call", "on_after_call", "normal", "always"),
    ("after-call-error", "on_after_call_error", "normal", "always"),
)


class _Instrumentation:
    """One configuration's handlers and the emitters they are registered on."""

    def __init__(self, settings: Settings) -> None:
        tracer = trace.get_tracer("botocore_otel", _VERSION, tracer_provider=settings.tracer_provider)
        call_metrics = None
        if settings.metrics:
            try:
                meter = metrics.get_meter("botocore_otel", _VERSION, meter_provider=settings.meter_provider)
                call_metrics = CallMetrics(meter, phases=settings.phase_metrics)
            except Exception as error:  # a broken meter provider: tracing goes on, metrics off
                report("creating the metric instruments (metrics stay off)", error)
        self.settings = settings
        self.tracer = tracer
        self.lifecycle = Lifecycle(settings, tracer, call_metrics)
        if settings.synthetic is not None:
            logger.info("botocore-otel: synthetic responses on: %s", settings.synthetic.describe())
        self._emitters: weakref.WeakSet[Any] = weakref.WeakSet()
        wanted = {"always", "synthetic" if settings.synthetic else ""}
        if settings.metrics:
            wanted |= {"metrics", "phase_metrics"} if settings.phase_metrics else {"metrics"}
        self._handlers = [
            (event, getattr(self.lifecycle, method), position, f"botocore_otel.{method}")
            for event, method, position, need in _HANDLERS
            if need in wanted
        ]
        # Per-operation handlers of payload propagation and user captures (payload.py).
        self._handlers += payload.service_handlers(settings, self.lifecycle)

    def register(self, emitter: Any) -> None:
        for event, handler, position, unique_id in self._handlers:
            register = getattr(
                emitter, {"first": "register_first", "last": "register_last"}.get(position, "register")
            )
            register(event, handler, unique_id=unique_id)
        emitter.register(_OWNER_EVENT, self._answer_owner, unique_id=_OWNER_ID)
        self._emitters.add(emitter)
        # aiobotocore (a session's emitter sits inside an EventAliaser): end cancelled calls.
        if type(getattr(emitter, "_emitter", emitter)).__module__.startswith("aiobotocore"):
            from botocore_otel import aio  # wrapt and aiobotocore: only for aiobotocore emitters

            aio.install()

    def unregister(self, emitter: Any) -> None:
        for event, handler, _, unique_id in self._handlers:
            emitter.unregister(event, handler, unique_id=unique_id)
        emitter.unregister(_OWNER_EVENT, self._answer_owner, unique_id=_OWNER_ID)
        self._emitters.discard(emitter)

    def _answer_owner(self, **_: Any) -> _Instrumentation | None:
        return self if self.lifecycle.enabled else None

    def close(self) -> None:
        self.lifecycle.enabled = False
        for emitter in list(self._emitters):
            self.unregister(emitter)


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


class Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures every botocore/boto3 call.

    ``Instrumentor().instrument()`` covers every session created from now on, and boto3's
    default session if it exists; ``instrument(target)`` covers one session or client.
    Keyword options mirror the ``BOTOCORE_OTEL_*`` environment variables.
    """

    _global: _Instrumentation | None = None
    _owners: weakref.WeakKeyDictionary[Any, _Instrumentation]

    def __init__(self) -> None:
        if not hasattr(self, "_owners"):
            self._owners = weakref.WeakKeyDictionary()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("botocore >= 1.34.0",)

    def instrument(self, target: Any = None, **kwargs: Any) -> None:
        if target is None:
            return super().instrument(**kwargs)  # type: ignore[no-any-return]
        kwargs.pop("skip_dep_check", None)
        emitter = _emitter_of(target)
        owner = self._owners.get(emitter)
        if owner is not None and owner is not self._global:
            return None  # already instrumented explicitly: instrumenting twice does nothing more
        instrumentation = _Instrumentation(load_settings(kwargs, strict=True))
        if owner is not None:
            owner.unregister(emitter)  # explicit settings win over the global ones
        instrumentation.register(emitter)
        self._owners[emitter] = instrumentation
        transfer.install(self._transfer_tracer)
        return None

    def uninstrument(self, target: Any = None, **kwargs: Any) -> None:
        if target is None:
            for instrumentation in {*self._owners.values()}:
                instrumentation.close()
            self._owners.clear()
            transfer.uninstall()
            _uninstall_aio()
            if self._global is not None:
                return super().uninstrument(**kwargs)  # type: ignore[no-any-return]
            return None
        emitter = _emitter_of(target)
        owner = self._owners.pop(emitter, None)
        if owner is not None:
            owner.unregister(emitter)
            if owner is not self._global and not any(o is owner for o in self._owners.values()):
                owner.lifecycle.enabled = False
            if self._global is None and not self._owners:
                transfer.uninstall()
                _uninstall_aio()
        return None

    def _transfer_tracer(self, client: Any) -> Any:
        """The tracer for an S3 managed transfer's span: the client's instrumentation's."""
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is None:
            return None
        answer = events.emit_until_response(_OWNER_EVENT)
        if inspect.isawaitable(answer):  # an aiobotocore emitter: s3transfer is sync-only
            getattr(answer, "close", lambda: None)()
            return None
        owner = answer[1]
        if not isinstance(owner, _Instrumentation) or "s3" in owner.settings.skip_services:
            return None
        return owner.tracer

    def _instrument(self, **kwargs: Any) -> None:
        strict = kwargs.pop("_strict", True)
        try:
            settings = load_settings(kwargs, strict=strict)
            self._global = _Instrumentation(settings)
            _register_initializer(self._on_new_session)
            transfer.install(self._transfer_tracer)
            boto3 = sys.modules.get("boto3")
            default_session = getattr(boto3, "DEFAULT_SESSION", None)
            if default_session is not None:
                self._on_new_session(default_session._session)
        except Exception:
            if strict:
                raise
            logger.exception("botocore-otel: auto-instrumentation failed; AWS calls are not traced")

    def _uninstrument(self, **kwargs: Any) -> None:
        _unregister_initializer(self._on_new_session)
        transfer.uninstall()
        _uninstall_aio()
        if self._global is not None:
            self._global.close()
            self._global = None

    def _on_new_session(self, session: Any) -> None:
        instrumentation = self._global
        if instrumentation is None:
            return
        try:
            emitter = session.get_component("event_emitter")
            if emitter not in self._owners:
                instrumentation.register(emitter)
                self._owners[emitter] = instrumentation
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


class _AutoInstrumentor:
    """What ``opentelemetry-instrument`` loads: never raises, logs bad configuration."""

    def instrument(self, **kwargs: Any) -> None:
        Instrumentor().instrument(_strict=False, **kwargs)

    def uninstrument(self, **kwargs: Any) -> None:
        Instrumentor().uninstrument(**kwargs)


def auto_instrumentor() -> _AutoInstrumentor:
    return _AutoInstrumentor()
