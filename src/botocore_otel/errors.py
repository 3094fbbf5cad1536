"""Errors raised by botocore-otel's explicit API (never from a handler)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid.

    The message names the setting, the value given and what is allowed.
    """

    def __init__(self, setting: str, value: object, allowed: str) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        super().__init__(f"{setting}={value!r} is invalid: expected {allowed}")
