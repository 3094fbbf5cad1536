"""Bedrock tokens, from the usage the GenAI telemetry already read (``genai/call.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore_otel.capacity.recorder import Recorder

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write")


class TokenCounts:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._models = recorder.limiter("gen_ai.request.model")

    def __call__(self, state: Any, model: str, usage: Mapping[str, int]) -> None:
        """One call's usage (``GenAICall.usage``: token type -> count)."""
        if state.attempts == 0:
            return
        bounded = self._models(model) if model else None
        for token_type in TOKEN_TYPES:
            count = usage.get(token_type)
            if count:
                values: tuple[tuple[str, str], ...] = (("gen_ai.token.type", token_type),)
                if bounded is not None:
                    values = (("gen_ai.request.model", bounded), *values)
                self._recorder.add("tokens", count, state, values)
