"""Request counts: Lambda invocations by function, and KMS, Secrets Manager and STS requests
(one per attempt that got an answer: these are billed per request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore_otel.capacity.recorder import Handler, Recorder, handler
from botocore_otel.converters import lambda_target
from botocore_otel.errors import report
from botocore_otel.sharing import SharedOnCopy
from botocore_otel.state import STATE_KEY

PER_REQUEST_SERVICES = ("kms", "secrets-manager", "sts")
_INVOKE_OPERATIONS = ("Invoke", "InvokeWithResponseStream", "InvokeAsync")


class RequestCounts(SharedOnCopy):
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._functions = recorder.limiter("faas.invoked_name")

    def handlers(self) -> list[Handler]:
        handlers = [
            handler(f"response-received.{service}", self.on_response_received)
            for service in PER_REQUEST_SERVICES
        ]
        handlers += [
            handler(f"after-call.lambda.{operation}", self.on_invoked) for operation in _INVOKE_OPERATIONS
        ]
        return handlers

    def on_response_received(
        self, response_dict: Mapping[str, Any] | None, context: dict[str, Any], **_: Any
    ) -> None:
        state = context.get(STATE_KEY)
        if state is None or response_dict is None or state.attempts == 0:
            return
        try:
            metric = state.info.metric_attributes
            values = (("rpc.service", state.info.service_id), ("rpc.method", metric["rpc.method"]))
            self._recorder.add("requests", 1, state, values, self._recorder.synthetic(state, response_dict))
        except Exception as error:
            report("counting requests", error)

    def on_invoked(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        """An invocation that Lambda accepted (a throttled or refused one is not billed)."""
        state = context.get(STATE_KEY)
        if state is None or state.attempts == 0 or getattr(http_response, "status_code", 500) >= 300:
            return
        try:
            if (state.params or {}).get("InvocationType") == "DryRun":
                return  # checks permissions, runs nothing
            name = lambda_target((state.params or {}).get("FunctionName"), None).get("faas.invoked_name")
            values = (("faas.invoked_name", self._functions(name)),) if isinstance(name, str) else ()
            self._recorder.add("lambda", 1, state, values)
        except Exception as error:
            report("counting Lambda invocations", error)
