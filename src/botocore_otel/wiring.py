"""Wiring: which sessions and clients are instrumented, and with which settings.

Each configuration's handlers are an ``Instrumentation`` (instrumentation.py), loaded with
the first session or client to instrument. Only botocore's event system is used. A client's
emitter is a copy of its session's made when the client is created, so handlers also check
``Lifecycle.enabled``: copies we can no longer reach go quiet on uninstrument. The state is
per process: ``Instrumentor`` and the ``instrument()`` function share it. This module does
not import opentelemetry-instrumentation (about 25 ms): ``botocore_otel.instrument()`` never
pays for it.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore_otel.config import Settings, load_settings
from botocore_otel.errors import report
from botocore_otel.forks import module_lock

if TYPE_CHECKING:
    from botocore_otel.instrumentation import Instrumentation

logger = logging.getLogger("botocore_otel")
MIN_BOTOCORE = (1, 34, 0)


class _Global:
    """The global instrumentation: its settings, read at ``instrument()``, and the template
    whose tracer, metrics and per-operation facts every session's share uses. The template
    (the lifecycle, spans, metrics and their modules) is built with the first session: a
    process that never makes one, under auto-instrumentation, never loads them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._template: Instrumentation | None = None

    def share(self) -> Instrumentation:
        if self._template is None:
            from botocore_otel.instrumentation import Instrumentation

            self._template = Instrumentation(self.settings, _install_transfers)
        return self._template.share()

    def close(self) -> None:
        if self._template is not None:
            self._template.close()


def _end_abandoned() -> None:
    """Ends the calls queued by finalizers (none before a call has loaded state.py)."""
    state = sys.modules.get("botocore_otel.state")
    if state is not None:
        state.end_abandoned()


def _announce(settings: Settings) -> None:
    if settings.synthetic is not None:
        logger.info("botocore-otel: %s", settings.synthetic.describe())


# opentelemetry-instrumentation-botocore's entry points, and the instrumentor class of each.
_OFFICIAL = {"botocore": "BotocoreInstrumentor", "aiobotocore": "AiobotocoreInstrumentor"}
_official_warned = False


def official_instrumentors() -> list[tuple[str, Any]]:
    """The official package's instrumentors that are on (none when it was never imported)."""
    official = sys.modules.get("opentelemetry.instrumentation.botocore")
    found = []
    for name, class_name in _OFFICIAL.items():
        cls = getattr(official, class_name, None)
        if cls is not None and cls().is_instrumented_by_opentelemetry:
            found.append((name, cls()))
    return found


def _warn_if_official_on() -> None:
    """Both packages switched on explicitly (``opentelemetry-instrument`` switches the official
    one off itself, see ``instrumentor.after_auto_instrumentation``): said once, as each call
    then gets two spans, and the X-Ray and W3C headers name different ones."""
    global _official_warned
    if _official_warned:
        return
    found = official_instrumentors()
    if found:
        _official_warned = True
        logger.warning(
            "botocore-otel: opentelemetry-instrumentation-botocore is instrumented too: each AWS "
            "call gets two spans, one inside the other, and its X-Ray header names the outer one "
            "while traceparent names botocore-otel's. Call %s().uninstrument() to keep botocore-otel's "
            "alone, or do not instrument botocore-otel.",
            "() and ".join(type(instrumentor).__name__ for _, instrumentor in found),
        )


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


_lock = module_lock(globals(), "_lock", threading.RLock)
_global: _Global | None = None
_owners: weakref.WeakKeyDictionary[Any, Instrumentation] = weakref.WeakKeyDictionary()
# A session's emitter -> the global share that its explicit instrumentation replaced: the
# clients made before still hold the share's handlers, until the session is uninstrumented.
_replaced_shares: weakref.WeakKeyDictionary[Any, Instrumentation] = weakref.WeakKeyDictionary()


def is_instrumented_globally() -> bool:
    return _global is not None


def _owner_of(emitter: Any) -> Instrumentation | None:
    """The instrumentation whose handlers an emitter holds, enabled or not: a client's
    emitter is a copy of its session's, made with the handlers the session had then."""
    owner = _owners.get(emitter)
    if owner is not None:
        return owner
    from botocore_otel.instrumentation import OWNER_EVENT, OWNER_ID, Instrumentation

    # Read, not emitted: an application's catch-all ("*") handler would get our private event.
    registered = getattr(getattr(emitter, "_emitter", emitter), "_unique_id_handlers", None)
    if isinstance(registered, dict):
        entry = registered.get(OWNER_ID)
        found = getattr(entry.get("handler"), "__self__", None) if isinstance(entry, dict) else None
        return found if isinstance(found, Instrumentation) else None
    answer = emitter.emit_until_response(OWNER_EVENT)
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
    return owner if isinstance(owner, Instrumentation) else None


def instrument_target(target: Any, options: Mapping[str, object]) -> None:
    """Instruments one session or client; explicit settings win over the global ones, and a
    client's over its session's."""
    emitter = _emitter_of(target)
    settings = load_settings(options, strict=True)  # a bad value raises, even with nothing to do
    with _lock:
        owner = _owners.get(emitter)
        if owner is not None and not owner.is_global:  # instrumenting twice does nothing more
            if owner.settings != settings:
                kind = "client" if getattr(target, "meta", None) is not None else "session"
                logger.warning(
                    "botocore-otel: this %s is instrumented already, with other settings: they are "
                    "kept. Call uninstrument(%s) first to change them.",
                    kind,
                    kind,
                )
            return
        _announce(settings)
        from botocore_otel.instrumentation import Instrumentation

        instrumentation = Instrumentation(settings, _install_transfers)
        # Handlers copied from the session (or left by an earlier instrumentation, disabled)
        # hold our unique ids: botocore would ignore the new ones until they are gone.
        meta = getattr(target, "meta", None)
        client_config = meta.config if meta is not None else None
        previous = owner or _owner_of(emitter)
        if previous is not None:
            previous.unregister(emitter, client_config)
            if previous is owner and owner.is_global and meta is None:  # not a copy's, read off it
                _replaced_shares[emitter] = owner
        client_service = meta.service_model.service_id.hyphenize() if meta is not None else None
        instrumentation.register(emitter, client_service, client_config, target if meta is not None else None)
        _owners[emitter] = instrumentation
        _enable_transfers(now=meta is not None)
    _warn_if_official_on()


def uninstrument_target(target: Any) -> None:
    emitter = _emitter_of(target)
    meta = getattr(target, "meta", None)
    client_config = meta.config if meta is not None else None
    _end_abandoned()
    with _lock:
        owner = _owners.pop(emitter, None)
        if owner is None:
            copied = _owner_of(emitter)  # a client with its session's handlers: silence it only
            if copied is not None:
                copied.unregister(emitter, client_config)
            return
        owner.unregister(emitter, client_config)
        if not any(o is owner for o in _owners.values()):  # a global share has one session
            owner.lifecycle.enabled = False
        replaced = _replaced_shares.pop(emitter, None)
        if replaced is not None:
            replaced.lifecycle.enabled = False
        if _global is None and not _owners:
            _disable_transfers()
            _uninstall_guards()


def instrument_globally(options: Mapping[str, object], *, strict: bool) -> None:
    """Every session created from now on, and boto3's default session if it exists.

    ``strict`` raises on bad configuration. Otherwise (auto-instrumentation) a bad value is
    logged and its feature stays off, and any other failure is logged: the app runs on.
    """
    global _global
    with _lock:
        if _global is not None:
            load_settings(options, strict=strict)  # a bad value is still refused, or logged
            logger.warning("botocore-otel: already instrumented globally; uninstrument first")
            return
        try:
            settings = load_settings(options, strict=strict)
            _announce(settings)
            _global = _Global(settings)
            _register_initializer(_on_new_session)
            _enable_transfers()
            boto3 = sys.modules.get("boto3")
            default_session = getattr(boto3, "DEFAULT_SESSION", None)
            if default_session is not None:
                _on_new_session(default_session._session)
            if strict:  # explicit; opentelemetry-instrument switches the official one off itself
                _warn_if_official_on()
        except Exception:
            if strict:
                raise
            logger.exception("botocore-otel: auto-instrumentation failed; AWS calls are not traced")


def uninstrument_all() -> None:
    """Undoes every instrumentation, global and explicit."""
    global _global
    with _lock:
        _unregister_initializer(_on_new_session)
        for instrumentation in set(_owners.values()):
            instrumentation.close()
        if _global is not None:
            _global.close()
        _owners.clear()
        _global = None
        _disable_transfers()
        _uninstall_guards()


def botocore_is_supported() -> bool:
    try:
        import botocore
    except ImportError:  # as BaseInstrumentor treats a missing dependency: said, not raised
        logger.error("botocore-otel: botocore is not installed; AWS calls are not traced")
        return False
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
    try:
        emitter = session.get_component("event_emitter")
        with _lock:  # _global read under it: uninstrument may run while this thread waits
            if _global is not None and emitter not in _owners:
                share = _global.share()
                share.register(emitter)
                _owners[emitter] = share
        if not _official_warned:  # the official package instrumented after botocore-otel
            _warn_if_official_on()
    except Exception:
        logger.exception("botocore-otel: could not instrument a new botocore session")


def _uninstall_guards() -> None:
    for name in ("botocore_otel.aio", "botocore_otel.greenlets"):
        guard = sys.modules.get(name)
        if guard is not None:
            guard.uninstall()


def _register_initializer(callback: Any) -> None:
    import botocore

    botocore.register_initializer(callback)


def _unregister_initializer(callback: Any) -> None:
    import botocore

    with contextlib.suppress(ValueError):
        botocore.unregister_initializer(callback)
