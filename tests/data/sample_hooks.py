"""Hooks loaded through BOTOCORE_OTEL_REQUEST_HOOK in tests."""


def request_hook(span, service_id, operation, params):
    span.set_attribute("app.hooked", f"{service_id}.{operation}")
