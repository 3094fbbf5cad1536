"""Generated answers that callers (botocore itself, first) can use: credentials that have not
expired, and an endpoint to send to.

A generated answer otherwise carries ``FIXED_TIME`` (2024) timestamps and empty lists, which
botocore rejects when it refreshes credentials (S3 Express sessions, assume-role profiles, SSO)
or discovers endpoints. These values replace the generated top-level members they name.
"""

from __future__ import annotations

import datetime
from typing import Any

from botocore.model import OperationModel

_KEY_ID = "ASIASYNTHETICEXAMPLE"
_SECRET = "synthetic-secret-access-key"
_TOKEN = "synthetic-session-token"
# botocore keeps credentials in the session's provider (S3 Express sessions in their cache),
# where the calls no rule selects are signed with them too: they expire soon enough that
# botocore refreshes them within about a minute (from AWS for a call the rules pass over), and
# late enough that it does not refresh them at every call. It refreshes STS and SSO
# credentials 15 minutes before they expire, S3 Express sessions 45 seconds before.
_LIFETIME = {("s3", "CreateSession"): datetime.timedelta(seconds=60)}
_DEFAULT_LIFETIME = datetime.timedelta(minutes=16)
_STS_OPERATIONS = (
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "GetFederationToken",
    "GetSessionToken",
)
CREDENTIAL_OPERATIONS = frozenset(
    [*(("sts", name) for name in _STS_OPERATIONS), ("s3", "CreateSession"), ("sso", "GetRoleCredentials")]
)
"""Whose generated answers carry credentials: made anew for each answer (their expiry moves)."""


def _credentials(key: tuple[str, str]) -> dict[str, Any]:
    expires = datetime.datetime.now(datetime.timezone.utc) + _LIFETIME.get(key, _DEFAULT_LIFETIME)
    if key == ("sso", "GetRoleCredentials"):
        return {
            "roleCredentials": {
                "accessKeyId": _KEY_ID,
                "secretAccessKey": _SECRET,
                "sessionToken": _TOKEN,
                "expiration": int(expires.timestamp() * 1000),  # epoch milliseconds
            }
        }
    return {
        "Credentials": {
            "AccessKeyId": _KEY_ID,
            "SecretAccessKey": _SECRET,
            "SessionToken": _TOKEN,
            "Expiration": expires,
        }
    }


def usable_defaults(operation: OperationModel, service_key: str) -> dict[str, Any] | None:
    """Top-level output members to use instead of generated ones, or None."""
    if operation.is_endpoint_discovery_operation:
        # Cached for 0 minutes: botocore asks again at the next call, so a call the rules
        # pass over gets its endpoint from AWS, not this one.
        endpoint = {"Address": f"{service_key}.synthetic.invalid", "CachePeriodInMinutes": 0}
        return {"Endpoints": [endpoint]}
    key = (service_key, operation.name)
    return _credentials(key) if key in CREDENTIAL_OPERATIONS else None
