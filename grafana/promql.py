"""PromQL building blocks shared by the dashboards (strings only; no Grafana model).

Metric and label names are the Prometheus names of the library's metrics (meter
``botocore_otel``): identical through the SDK's Prometheus exporter and through the collector's
``prometheus`` or ``prometheusremotewrite`` exporter with default naming (see deploy/README.md).
"""

from __future__ import annotations

# The default metric set (``metrics=rpc``): the call histogram and four observable counters.
CALLS = "rpc_client_call_duration_seconds"  # one sample per call: the canonical call counter
ATTEMPTS = "client_call_attempts_total"
ERRORS = "client_call_errors_total"  # extra label exception_type
THROTTLES = "botocore_otel_throttles_total"
RETRIES = "botocore_otel_retries_total"
# Opt-in group ``smithy`` (these two also carry http_response_status_code).
SMITHY_CALLS = "client_call_duration_seconds"
SMITHY_ATTEMPTS = "client_call_attempt_duration_seconds"
# Opt-in group ``phases``.
SERIALIZATION = "client_call_serialization_duration_seconds"
DESERIALIZATION = "client_call_deserialization_duration_seconds"
SIGNING = "client_call_auth_signing_duration_seconds"

# GenAI metrics of Bedrock Runtime calls (on whenever metrics are on; genai/runtime.py). They
# carry gen_ai_provider_name, gen_ai_operation_name, gen_ai_request_model, error_type (failures)
# and gen_ai_token_type (token usage), and no cloud_region: the GenAI panels follow `job` only.
GENAI_DURATION = "gen_ai_client_operation_duration_seconds"
GENAI_TOKENS = "gen_ai_client_token_usage"  # unit {token}: no suffix
GENAI_FIRST_CHUNK = "gen_ai_client_operation_time_to_first_chunk_seconds"  # streams only

# Opt-in group ``capacity`` (observable counters; docs/capacity.md). Every one carries
# cloud_region, botocore_otel_synthetic on synthetic calls, and app_component with attribution.
DYNAMODB_CAPACITY = "botocore_otel_dynamodb_consumed_capacity_total"  # table, type, rpc_method
S3_REQUESTS = "botocore_otel_s3_requests_total"  # aws_s3_bucket, request class, rpc_method
S3_BYTES = "botocore_otel_s3_transferred_bytes_total"  # aws_s3_bucket, network_io_direction
SQS_BILLABLE = "botocore_otel_sqs_billable_requests_total"  # queue name, rpc_method
GENAI_TOKEN_COUNT = "botocore_otel_genai_tokens_total"  # gen_ai_request_model, gen_ai_token_type
LAMBDA_INVOCATIONS = "botocore_otel_lambda_invocations_total"  # faas_invoked_name
REQUESTS = "botocore_otel_requests_total"  # rpc_service, rpc_method (KMS, Secrets Manager, STS)
CAPACITY_METRICS = (
    DYNAMODB_CAPACITY, S3_REQUESTS, S3_BYTES, SQS_BILLABLE, GENAI_TOKEN_COUNT, LAMBDA_INVOCATIONS,
    REQUESTS,
)  # fmt: skip

# Metric (Prometheus base name) -> the opt-in group that produces it; absent: the default set.
OPT_IN_METRICS = {
    SMITHY_CALLS: "smithy",
    SMITHY_ATTEMPTS: "smithy",
    SERIALIZATION: "phases",
    DESERIALIZATION: "phases",
    SIGNING: "phases",
    **{metric: "capacity" for metric in CAPACITY_METRICS},
}

# Selectors. They name rpc_service and rpc_method, present under every
# OTEL_SEMCONV_STABILITY_OPT_IN mode, and never the system label (rpc_system, or
# rpc_system_name under `rpc`), so the dashboards answer in every mode.
RI = "[$__rate_interval]"
OV = 'job=~"$job", cloud_region=~"$region"'
SV = 'job=~"$job", rpc_service="$service", rpc_method=~"$operation", cloud_region=~"$region"'
GV = 'job=~"$job"'  # GenAI metrics have no cloud_region
BEDROCK = ', rpc_service="Bedrock Runtime"'  # the service id of bedrock-runtime
ERR = ', error_type!=""'  # error.type is set only on failed calls
SYNTHETIC = ', botocore_otel_synthetic="true"'  # set only on calls answered by a synthetic rule
# The cost dashboard: region, component (absent without attribution: All's ".*" matches that)
# and the synthetic filter ("|false" matches calls without the label, ".*" every call).
CV = 'cloud_region=~"$cloud_region", app_component=~"$app_component", botocore_otel_synthetic=~"$synthetic"'


def srate(metric: str, sel: str, by: str = "", extra: str = "") -> str:
    """``sum [by (...)] (rate(metric{sel extra}[$__rate_interval]))``."""
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{{{sel}{extra}}}{RI}))"


def share(numerator: str, denominator: str) -> str:
    """A ratio that is 0 (not absent) for the groups where the numerator has no series."""
    return f"({numerator} or 0 * {denominator}) / {denominator}"


def quantile(q: float, sel: str, by: str = "", window: str = RI, metric: str = CALLS) -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{sel}}}{window})))"


def phase(metric: str, sel: str) -> str:
    """Seconds spent in one phase per second of traffic; no data when its group is off (not a
    misleading 0)."""
    return f"sum(rate({metric}_sum{{{sel}}}{RI}))"


def label_values(label: str, sel: str = "") -> str:
    """A variable query: the values of ``label`` on the call histogram's series."""
    selector = f"{{{sel}}}" if sel else ""
    return f"label_values({CALLS}_count{selector}, {label})"
