"""What a span and its metrics say: names and attributes, computed once per operation."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from botocore_otel.config import SemconvMode

if TYPE_CHECKING:
    from botocore_otel.services import OperationExtras

Attributes = dict[str, AttributeValue]

RPC_SYSTEM = "aws-api"
SYNTHETIC_ATTRIBUTE = "botocore_otel.synthetic"
"""On a synthetic call's span and metrics (metrics carry it only when true)."""

# botocore's own throttling codes (botocore/retries/standard.py), plus what the legacy
# retry handler treats as throttles. Matched by code, whatever the HTTP status.
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


class OperationInfo:
    """Everything about one ``service.Operation`` that does not change from call to call.

    ``service_key``: the hyphenized service id, as in event names (``elastic-load-balancing-v2``);
    ``service_id``: in its own casing (``Elastic Load Balancing v2``).
    """

    __slots__ = (
        "end_hook",
        "extras",
        "metric_attributes",
        "operation",
        "service_id",
        "service_key",
        "span_attributes",
        "span_kind",
        "span_name",
    )

    def __init__(
        self,
        service_key: str,
        service_id: str,
        operation: str,
        span_name: str,
        span_kind: SpanKind,
        span_attributes: Attributes,
        metric_attributes: Attributes,
        extras: OperationExtras | None,
        end_hook: Any = None,
    ) -> None:
        self.service_key = service_key
        self.service_id = service_id
        self.operation = operation
        self.span_name = span_name
        self.span_kind = span_kind
        self.span_attributes = span_attributes
        self.metric_attributes = metric_attributes
        self.extras = extras
        # A service extension's hook at the call's end (GenAI operations only): Lifecycle._finish.
        self.end_hook = end_hook


def operation_info(service_key: str, model: Any, semconv: str) -> OperationInfo:
    from botocore_otel.services import extras_for  # the service tables: at the first call

    service_id = str(model.service_model.service_id)
    operation = model.name
    extras = extras_for(service_key, operation, model)
    common: Attributes = {"aws.service_id": service_key}
    if semconv != SemconvMode.NEW:
        common["rpc.system"] = RPC_SYSTEM
        common["rpc.service"] = service_id
        common["rpc.method"] = operation
    if semconv != SemconvMode.OLD:
        common["rpc.system.name"] = RPC_SYSTEM
    if semconv == SemconvMode.NEW:
        common["rpc.method"] = f"{service_id}/{operation}"
    span_attributes = dict(common)
    if extras is not None:
        span_attributes.update(extras.static_attributes)
    # Lean and bounded: every metric attribute costs each SDK record about 1.3 µs. rpc.service
    # stays in every semconv mode: the dashboards group by it.
    metric_attributes = {k: v for k, v in common.items() if k != "aws.service_id"}
    metric_attributes["rpc.service"] = service_id
    return OperationInfo(
        service_key=service_key,
        service_id=service_id,
        operation=operation,
        span_name=(extras.span_name if extras and extras.span_name else None) or f"{service_id}.{operation}",
        span_kind=(extras.span_kind if extras and extras.span_kind else None) or SpanKind.CLIENT,
        span_attributes=span_attributes,
        metric_attributes=metric_attributes,
        extras=extras,
        end_hook=getattr(extras, "end_hook", None),
    )


@lru_cache(maxsize=256)
def server_attributes(endpoint: str) -> Mapping[str, AttributeValue]:
    """``server.address`` and ``server.port`` of an endpoint (scheme and authority, e.g.
    ``https://host:443``); empty when it has no authority. A user name and password in the
    authority (``https://user:pass@host``, which botocore accepts) are left out. Read-only:
    the result is cached."""
    scheme, sep, authority = endpoint.partition("://")
    authority = authority.rpartition("@")[2]
    if not sep or not authority:
        return MappingProxyType({})
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and (not host.startswith("[") or host.endswith("]")):
        address, number = host.strip("[]"), int(port)
    else:
        address, number = authority.strip("[]"), 443 if scheme == "https" else 80
    return MappingProxyType({"server.address": address, "server.port": number})


def endpoint_of(url: str) -> str:
    """The scheme and authority of ``url``: the part :func:`server_attributes` reads."""
    cut = url.find("/", url.find("://") + 3)
    return url if cut < 0 else url[:cut]


def error_code_of(parsed: Mapping[str, Any] | None, context: Mapping[str, Any]) -> str | None:
    override = context.get("error_code_override")
    if override:
        return str(override)
    if not parsed:
        return None
    error = parsed.get("Error")
    code = error.get("Code") if isinstance(error, Mapping) else None
    return str(code) if code else None


CANCELLED = "cancelled"
"""``error.type`` of a call left without a closing event (abandoned, a task cancelled)."""
EXCEPTION_TYPES: set[str] = set()
"""What ``exception_type`` returned so far: class names, as many as the code has."""


def exception_type(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    EXCEPTION_TYPES.add(name)
    return name


_REQUEST_ID_HEADERS = ("x-amzn-requestid", "x-amzn-request-id", "x-amz-request-id")


def request_ids(parsed: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """``(aws.request_id, aws.extended_request_id)`` from a parsed response's metadata; S3's
    ``x-amz-id-2`` is never the first."""
    metadata = parsed.get("ResponseMetadata") if parsed else None
    if type(metadata) is not dict and not isinstance(metadata, Mapping):  # type(): the usual case, cheaply
        return None, None
    request_id = metadata.get("RequestId")
    extended = metadata.get("HostId")
    headers = metadata.get("HTTPHeaders")
    if headers is not None:
        if not request_id:
            for name in _REQUEST_ID_HEADERS:
                if name in headers:
                    request_id = headers[name]
                    break
        if not extended and "x-amz-id-2" in headers:
            extended = headers["x-amz-id-2"]
    return (str(request_id) if request_id else None, str(extended) if extended else None)
