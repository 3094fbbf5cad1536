"""ARNs of every partition (``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso*`` ...).

``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``; the resource may itself hold ``:`` or
``/`` (``function:name:alias``, ``stream/name``, ``execution:machine:run``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class Arn(NamedTuple):
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        """``function`` of ``function:name``, ``stream`` of ``stream/name``, else ``""``."""
        for index, char in enumerate(self.resource):
            if char in ":/":
                return self.resource[:index]
        return ""

    @property
    def resource_id(self) -> str:
        """What follows the resource type: ``name:alias`` of ``function:name:alias``."""
        kind = self.resource_type
        return self.resource[len(kind) + 1 :] if kind else self.resource


def parse_arn(value: object) -> Arn | None:
    """The parts of ``value`` when it is an ARN of any ``aws*`` partition, else None (a value
    of any type: a JSON response may hold a list or an object where its model says a string)."""
    if not isinstance(value, str) or not value.startswith("arn:"):
        return None
    return _parse_arn(value)


@lru_cache(maxsize=1024)
def _parse_arn(value: str) -> Arn | None:
    parts = value.split(":", 5)
    if len(parts) != 6 or not parts[1].startswith("aws") or not parts[2] or not parts[5]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def partition_of_region(region: str | None) -> str:
    """The partition a region belongs to (for ARNs built from a name and a region)."""
    if not region:
        return "aws"
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


def last_name(value: str) -> str:
    """The last ``/`` or ``:`` separated segment: a topic's name from its ARN, say."""
    cut = max(value.rfind("/"), value.rfind(":"))
    return value[cut + 1 :]
