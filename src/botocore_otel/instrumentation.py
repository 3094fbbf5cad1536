"""One configuration's handlers: its lifecycle, tracer and metrics, and the emitters they are on.

Loaded with the first session or client to instrument (``wiring.py`` holds the settings
until then), with the lifecycle and its sinks.
"""

from __future__ import annotations

import functools
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Tracer

from botocore_otel import __version__
from botocore_otel.config import Settings
from botocore_otel.errors import report
from botocore_otel.lifecycle import Lifecycle
from botocore_otel.metrics import CallMetrics
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import end_abandoned

# Which instrumentation covers a client (a copy of its session's emitter carries it too), for
# S3 transfers: read from botocore's emitter by the handler's unique id; asked with
# emit_until_response only of an emitter that keeps no such table.
OWNER_EVENT = "botocore-otel-owner"
OWNER_ID = "botocore_otel.owner"
# S3 transfers are patched when the first S3 client is created (boto3 imports s3transfer
# anyway): until then wrapt and transfer.py (about 4 ms of imports) stay unloaded.
_S3_CLIENT_EVENT = "creating-client-class.s3"
_S3_CLIENT_ID = "botocore_otel.transfers"
# payload.py (message propagation, Lambda's faas attributes) and user captures register
# per-operation handlers; they are loaded when the session creates its first client of
# such a service (registered before botocore copies the emitter into the client).
_PAYLOAD_EVENT_SERVICES = {"stepfunctions": "sfn"}

_REGISTER_BY_POSITION = {"first": "register_first", "last": "register_last"}
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


class Instrumentation(SharedOnCopy):
    """One configuration's handlers and the emitters they are registered on.

    ``on_s3_client``: registered for ``creating-client-class.s3`` (patches S3 transfers).
    """

    def __init__(
        self,
        settings: Settings,
        on_s3_client: Callable[..., None],
        shared_from: Instrumentation | None = None,
    ) -> None:
        # A session's share of the global instrumentation uses the global tracer and metrics.
        tracer: Tracer = (
            shared_from.tracer
            if shared_from
            else trace.get_tracer("botocore_otel", __version__, tracer_provider=settings.tracer_provider)
        )
        call_metrics = shared_from.call_metrics if shared_from else None
        if settings.metrics and shared_from is None:
            try:
                meter = metrics.get_meter(
                    "botocore_otel", __version__, meter_provider=settings.meter_provider
                )
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
        self.shares: weakref.WeakSet[Instrumentation] = weakref.WeakSet()
        self._on_s3_client = on_s3_client
        self._emitters: weakref.WeakSet[Any] = weakref.WeakSet()
        self._client_configs: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        # session emitters that hold the per-service handlers: every later client of such a
        # service fires creating-client-class again, and botocore inspects each handler anew
        # before ignoring it by its unique id (about 3M instructions a client)
        self._serviced: weakref.WeakSet[Any] = weakref.WeakSet()
        wanted = {"always"}
        if "phases" in settings.metrics:
            wanted |= {"phases", "signed"}
        if not prepared_requests_carry_context():
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
            self._handlers += sender.handlers(prepared_requests_carry_context())

    def _service_handlers_loaded(self) -> list[Any]:
        if self._service_handlers is None:
            from botocore_otel import payload

            self._service_handlers = payload.service_handlers(self.settings, self.lifecycle)
            if "capacity" in self.settings.metrics:
                from botocore_otel import capacity

                self._service_handlers += capacity.service_handlers(self.settings, self.call_metrics)
        return self._service_handlers

    def _on_service_client(self, emitter: Any, **_: Any) -> None:
        if emitter in self._serviced:
            return
        try:
            register(emitter, self._service_handlers_loaded())
            self._serviced.add(emitter)
        except Exception as error:
            report("registering per-service handlers", error)

    def register(
        self, emitter: Any, client_service: str | None = None, client_config: Any = None, client: Any = None
    ) -> None:
        """``client_service``, ``client_config``, ``client``: when ``emitter`` is a client's."""
        register(emitter, self._handlers)
        if client_config is not None:
            self._client_configs[emitter] = client_config
        if client_service is not None:
            if client_service in self._service_keys:
                register(emitter, self._service_handlers_loaded())
        else:
            for service in self._service_keys:
                emitter.register(
                    f"creating-client-class.{service}",
                    functools.partial(self._on_service_client, emitter),
                    unique_id=f"botocore_otel.services.{service}",
                )
        emitter.register(OWNER_EVENT, self._answer_owner, unique_id=OWNER_ID)
        emitter.register(_S3_CLIENT_EVENT, self._on_s3_client, unique_id=_S3_CLIENT_ID)
        self._emitters.add(emitter)
        # aiobotocore (a session's emitter sits inside an EventAliaser): end cancelled calls.
        if type(getattr(emitter, "_emitter", emitter)).__module__.startswith("aiobotocore"):
            from botocore_otel import aio  # only for aiobotocore emitters

            aio.install()
            if client is not None:
                aio.guard_client(client)
            elif client_service is None:  # a session's: the classes of the clients it makes
                emitter.register(aio.GUARD_EVENT, aio.on_creating_client_class, unique_id=aio.GUARD_ID)
        elif "gevent.monkey" in sys.modules:  # and calls cut off by gevent.Timeout
            from botocore_otel import greenlets

            greenlets.install_if_patched()

    def unregister(self, emitter: Any, client_config: Any = None) -> None:
        """``client_config``: when ``emitter`` is a client's that this instrumentation did not
        register on (its handlers were copied from its session's)."""
        for event, handler, _, unique_id in [*self._handlers, *(self._service_handlers or ())]:
            emitter.unregister(event, handler, unique_id=unique_id)
        for service in self._service_keys:
            emitter.unregister(
                f"creating-client-class.{service}", unique_id=f"botocore_otel.services.{service}"
            )
        emitter.unregister(OWNER_EVENT, self._answer_owner, unique_id=OWNER_ID)
        emitter.unregister(_S3_CLIENT_EVENT, self._on_s3_client, unique_id=_S3_CLIENT_ID)
        aio = sys.modules.get("botocore_otel.aio")
        if aio is not None:
            emitter.unregister(aio.GUARD_EVENT, aio.on_creating_client_class, unique_id=aio.GUARD_ID)
        self._emitters.discard(emitter)
        self._serviced.discard(emitter)
        client_config = self._client_configs.pop(emitter, None) or client_config
        if client_config is not None:  # its calls running now lost their closing handlers
            self.lifecycle.unhooked[client_config] = time.time_ns()

    def _answer_owner(self, **_: Any) -> Instrumentation:
        return self

    def share(self) -> Instrumentation:
        """A per-session instrumentation with this one's settings, tracer and metrics."""
        share = Instrumentation(self.settings, self._on_s3_client, shared_from=self)
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


def register(emitter: Any, handlers: list[Any]) -> None:
    """Registers ``(event, handler, position, unique id)`` tuples on ``emitter``."""
    for event, handler, position, unique_id in handlers:
        method = _REGISTER_BY_POSITION.get(position, "register")
        getattr(emitter, method)(event, handler, unique_id=unique_id)


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
def prepared_requests_carry_context() -> bool:
    """botocore >= ~1.43.70 gives the prepared request the call's ``context``."""
    from botocore.awsrequest import AWSPreparedRequest

    code = AWSPreparedRequest.__init__.__code__  # inspect.signature costs ~50 µs at instrument()
    return "context" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
