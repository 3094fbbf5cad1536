"""Lookups into the installed botocore's service models, loaded only on demand.

Rules name services by their hyphenized service id (``elastic-load-balancing-v2``),
which differs from the client name (``elbv2``) for ~50 services. The id -> client
name index is built lazily by reading only the head of each ``service-2.json``
(the ``metadata`` block comes first), which takes ~50 ms instead of the ~4 s a full
load of every model costs; any file whose head doesn't reveal the id is loaded fully.
"""

from __future__ import annotations

import difflib
import gzip
import os
import re
import threading
from typing import Any

import botocore.loaders
from botocore.model import ServiceId, ServiceModel

from botocore_otel.forks import lock_of, module_lock

_SERVICE_ID_RE = re.compile(rb'"serviceId"\s*:\s*"([^"]+)"')
_HEAD_BYTES = 4096


class Catalog:
    """Service-id index and service models, cached for the life of the process."""

    def __init__(self, loader: Any = None) -> None:
        self._loader: Any = loader if loader is not None else botocore.loaders.create_loader()
        self._lock = lock_of(self, threading.RLock)
        self._clients: frozenset[str] | None = None
        self._index: dict[str, str] | None = None
        self._models: dict[str, ServiceModel] = {}
        self._paginators: dict[str, dict[str, Any]] = {}

    def client_names(self) -> frozenset[str]:
        with self._lock:
            if self._clients is None:
                names = self._loader.list_available_services("service-2")
                self._clients = frozenset(names)
            return self._clients

    def index(self) -> dict[str, str]:
        """Hyphenized service id -> client name, for every installed service."""
        with self._lock:
            if self._index is None:
                self._index = {}
                for name in sorted(self.client_names()):
                    sid = self._read_service_id(name)
                    if sid is not None:
                        self._index[ServiceId(sid).hyphenize()] = name
            return self._index

    def _read_service_id(self, name: str) -> str | None:
        try:
            version = self._loader.determine_latest_version(name, "service-2")
        except Exception:  # a broken data dir must not break config loading
            return None
        for base in self._loader.search_paths:
            path = os.path.join(base, name, version, "service-2.json")
            head = _read_head(path)
            if head is None:
                continue
            match = _SERVICE_ID_RE.search(head)
            if match is not None:
                return match.group(1).decode("utf-8")
            break
        model = self._load(name)
        sid = model.metadata.get("serviceId")
        return sid if isinstance(sid, str) else None

    def client_name(self, service_id: str) -> str | None:
        """The client name for a hyphenized service id, or None if unknown."""
        if service_id in self.client_names():
            # Fast path, true for ~90% of services: loads one model, not the index.
            model = self._load(service_id)
            if model.service_id.hyphenize() == service_id:
                return service_id
        return self.index().get(service_id)

    def service_model(self, service_id: str) -> ServiceModel | None:
        client = self.client_name(service_id)
        return None if client is None else self._load(client)

    def _load(self, client_name: str) -> ServiceModel:
        with self._lock:
            model = self._models.get(client_name)
            if model is None:
                data = self._loader.load_service_model(client_name, "service-2")
                model = ServiceModel(data, service_name=client_name)
                self._models[client_name] = model
            return model

    def pagination_members(self, client_name: str, operation: str) -> frozenset[str]:
        """Top-level output members that tell a paginator there is a next page."""
        with self._lock:
            config = self._paginators.get(client_name)
            if config is None:
                try:
                    data = self._loader.load_service_model(client_name, "paginators-1")
                    config = data.get("pagination", {})
                except Exception:  # no paginators for this service
                    config = {}
                self._paginators[client_name] = config
        entry = config.get(operation)
        if not isinstance(entry, dict):
            return frozenset()
        names: set[str] = set()
        for key in ("output_token", "more_results"):
            tokens = entry.get(key, [])
            for token in [tokens] if isinstance(tokens, str) else tokens:
                first = re.match(r"[A-Za-z0-9_]+", str(token))
                if first:
                    names.add(first.group(0))
        return frozenset(names)

    def suggest_service(self, name: str) -> str | None:
        """The service id the user most likely meant (client name or typo)."""
        index = self.index()
        lowered = name.lower()
        for sid, client in index.items():
            if lowered == client:
                return sid
        close = difflib.get_close_matches(lowered, list(index), n=1, cutoff=0.6)
        if close:
            return close[0]
        by_client = difflib.get_close_matches(lowered, list(index.values()), n=1, cutoff=0.6)
        if by_client:
            return next(sid for sid, client in index.items() if client == by_client[0])
        return None


def suggest(word: str, candidates: list[str]) -> str | None:
    """Case-insensitive closest match among candidates."""
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _read_head(path: str) -> bytes | None:
    try:
        if os.path.isfile(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as compressed:
                return compressed.read(_HEAD_BYTES)
        if os.path.isfile(path):
            with open(path, "rb") as plain:
                return plain.read(_HEAD_BYTES)
    except (OSError, EOFError):
        return None
    return None


_DEFAULT: Catalog | None = None
_DEFAULT_LOCK = module_lock(globals(), "_DEFAULT_LOCK")


def default_catalog() -> Catalog:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Catalog()
        return _DEFAULT
