"""botocore-otel's errors: ``ConfigError``, which only the explicit API raises, and
``report()``, for every error met while handling a call: logged, never raised into it."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("botocore_otel")

_REPEAT_AFTER_S = 300.0
_SHOWN_CHARS = 200
_last_reported: dict[tuple[str, type[BaseException]], float] = {}


class ConfigError(ValueError):
    """A configuration value is invalid.

    The message names the setting, the value given and what is allowed.
    """

    def __init__(self, setting: str, value: object, allowed: str) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        shown = repr(value)
        if len(shown) > _SHOWN_CHARS:  # a whole file's worth, or a 5,000-digit number
            shown = f"{shown[:_SHOWN_CHARS]}... ({len(shown)} characters)"
        super().__init__(f"{setting}={shown} is invalid: expected {allowed}")


def report(where: str, error: BaseException) -> None:
    """Log ``error`` raised at ``where``, at most once per five minutes per kind.

    Called from inside handlers' ``except`` blocks, so it must not raise either.
    """
    try:
        key = (where, type(error))
        now = time.monotonic()
        last = _last_reported.get(key)
        if last is not None and now - last < _REPEAT_AFTER_S:
            return
        _last_reported[key] = now
        logger.warning(
            "botocore-otel: %s failed; the AWS call goes on without it "
            "(repeats of this error are not logged for %d s)",
            where,
            int(_REPEAT_AFTER_S),
            exc_info=error,
        )
    except Exception:
        pass
