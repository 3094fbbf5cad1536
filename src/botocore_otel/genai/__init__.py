"""GenAI telemetry for Amazon Bedrock Runtime (semantic conventions, AWS Bedrock page).

Loaded on the first call of a Bedrock Runtime operation (``services.extras_for``, once per
operation): nothing here is imported, or run, for any other call.
"""

from __future__ import annotations

from botocore_otel.genai.operation import GenAIOperation, operation_extras

__all__ = ["GenAIOperation", "operation_extras"]
