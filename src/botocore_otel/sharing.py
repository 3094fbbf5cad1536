"""Handler objects that a copy of what holds them shares.

botocore's emitters hold our handlers as bound methods, so ``copy.deepcopy`` of a session or a
client (a dataclass or a pydantic model holding one, say) walks into their objects: their
tracer, meter and locks cannot be copied, and a copy would be a second instrumentation.
"""

from __future__ import annotations

from typing import Any


class SharedOnCopy:
    """Copies of an object that holds this one get this one itself."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self
