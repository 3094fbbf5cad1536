"""S3: requests by billing class (one per attempt that got an answer), and object bytes
uploaded (the request body's length) and downloaded (the response's Content-Length) by
calls that succeeded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore_otel.capacity.recorder import Handler, Recorder, handler
from botocore_otel.errors import report
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import STATE_KEY

PUT_COPY_POST_LIST = "put_copy_post_list"
GET_AND_OTHER = "get_and_other"
FREE = "free"

# Named where the HTTP method would say otherwise (DeleteObjects is a POST, and free).
_CLASS_BY_OPERATION = {
    "PutObject": PUT_COPY_POST_LIST,
    "CopyObject": PUT_COPY_POST_LIST,
    "UploadPart": PUT_COPY_POST_LIST,
    "UploadPartCopy": PUT_COPY_POST_LIST,
    "CreateMultipartUpload": PUT_COPY_POST_LIST,
    "CompleteMultipartUpload": PUT_COPY_POST_LIST,
    "GetObject": GET_AND_OTHER,
    "HeadObject": GET_AND_OTHER,
    "HeadBucket": GET_AND_OTHER,
    "SelectObjectContent": GET_AND_OTHER,  # a POST, priced with GET ("GET, SELECT and all other")
    "DeleteObject": FREE,
    "DeleteObjects": FREE,
    "AbortMultipartUpload": FREE,
}
_CLASS_BY_METHOD = {"PUT": PUT_COPY_POST_LIST, "POST": PUT_COPY_POST_LIST, "DELETE": FREE}
_UPLOADS = ("PutObject", "UploadPart")
_DOWNLOADS = ("GetObject",)
# The upload's length, from before-call (where the body is still unread) to after-call.
_SENT_KEY = "botocore_otel.capacity.s3_sent"


def request_class(operation: str, http_method: str | None) -> str:
    known = _CLASS_BY_OPERATION.get(operation)
    if known is not None:
        return known
    if operation.startswith("List"):
        return PUT_COPY_POST_LIST
    return _CLASS_BY_METHOD.get(http_method or "", GET_AND_OTHER)


def _body_length(request_dict: Mapping[str, Any]) -> int | None:
    headers = request_dict.get("headers") or {}
    length = headers.get("Content-Length")  # the ContentLength parameter
    if length is not None:
        return int(length)
    body = request_dict.get("body")  # a str Body is bytes by now (the serializer encodes it)
    from botocore.utils import determine_content_length  # len(), or seek and tell

    found: int | None = determine_content_length(body)
    return found


def _refused(http_response: Any) -> bool:
    # after-call also comes for an error answer, just before botocore raises ClientError
    return getattr(http_response, "status_code", 500) >= 300


class S3Capacity(SharedOnCopy):
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._buckets = recorder.limiter("aws.s3.bucket")
        self._classes: dict[str, str] = {}

    def handlers(self) -> list[Handler]:
        handlers = [handler("response-received.s3", self.on_response_received)]
        for operation in _UPLOADS:
            handlers.append(handler(f"before-call.s3.{operation}", self.on_upload_call))
            handlers.append(handler(f"after-call.s3.{operation}", self.on_upload_answer))
        handlers += [
            handler(f"after-call.s3.{operation}", self.on_download_answer) for operation in _DOWNLOADS
        ]
        return handlers

    def _bucket(self, state: Any) -> tuple[tuple[str, str], ...]:
        bucket = state.params.get("Bucket") if state.params else None
        return (("aws.s3.bucket", self._buckets(bucket)),) if isinstance(bucket, str) else ()

    def on_response_received(
        self, response_dict: Mapping[str, Any] | None, context: dict[str, Any], **_: Any
    ) -> None:
        state = context.get(STATE_KEY)
        if state is None or response_dict is None or state.attempts == 0:
            return  # no answer: the request may not have reached S3
        try:
            info = state.info
            kind = self._classes.get(info.operation)
            if kind is None:
                http = getattr(state.model, "http", None) or {}
                kind = self._classes[info.operation] = request_class(info.operation, http.get("method"))
            values = (
                *self._bucket(state),
                ("botocore_otel.s3.request_class", kind),
                ("rpc.method", info.metric_attributes["rpc.method"]),
            )
            self._recorder.add(
                "s3_requests", 1, state, values, self._recorder.synthetic(state, response_dict)
            )
        except Exception as error:
            report("counting S3 requests", error)

    def on_upload_call(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get(STATE_KEY) is None:
            return
        try:
            length = _body_length(params)
            if length:
                context[_SENT_KEY] = length
        except Exception as error:
            report("measuring an S3 upload", error)

    def _bytes(self, state: Any, amount: int, direction: str) -> None:
        values = (*self._bucket(state), ("network.io.direction", direction))
        self._recorder.add("s3_bytes", amount, state, values)

    def on_upload_answer(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        """An upload S3 stored (a refused one, say to a missing bucket, uploaded no object)."""
        state = context.get(STATE_KEY)
        sent = context.get(_SENT_KEY)
        if state is None or not sent or state.attempts == 0 or _refused(http_response):
            return
        try:
            self._bytes(state, sent, "transmit")
        except Exception as error:
            report("counting S3 bytes", error)

    def on_download_answer(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        state = context.get(STATE_KEY)
        if state is None or state.attempts == 0 or _refused(http_response):
            return
        try:
            length = http_response.headers.get("Content-Length")
            if length is not None and int(length) > 0:
                self._bytes(state, int(length), "receive")
        except Exception as error:
            report("counting S3 bytes", error)
