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

# Far enough that no refresh is due during a load test; near enough for every parser.
CREDENTIALS_EXPIRE = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
_KEY_ID = "ASIASYNTHETICEXAMPLE"
_SECRET = "synthetic-secret-access-key"
_TOKEN = "synthetic-session-token"

_STS_CREDENTIALS = {
    "Credentials": {
        "AccessKeyId": _KEY_ID,
        "SecretAccessKey": _SECRET,
        "SessionToken": _TOKEN,
        "Expiration": CREDENTIALS_EXPIRE,
    }
}
_BY_OPERATION: dict[tuple[str, str], dict[str, Any]] = {
    **{
        ("sts", name): _STS_CREDENTIALS
        for name in (
            "AssumeRole",
            "AssumeRoleWithSAML",
            "AssumeRoleWithWebIdentity",
            "AssumeRoot",
            "GetFederationToken",
            "GetSessionToken",
        )
    },
    ("s3", "CreateSession"): _STS_CREDENTIALS,
    ("sso", "GetRoleCredentials"): {
        "roleCredentials": {
            "accessKeyId": _KEY_ID,
            "secretAccessKey": _SECRET,
            "sessionToken": _TOKEN,
            "expiration": int(CREDENTIALS_EXPIRE.timestamp() * 1000),  # epoch milliseconds
        }
    },
}


def usable_defaults(operation: OperationModel, service_key: str) -> dict[str, Any] | None:
    """Top-level output members to use instead of generated ones, or None."""
    if operation.is_endpoint_discovery_operation:
        # Cached for 0 minutes: botocore asks again at the next call, so a call the rules
        # pass over gets its endpoint from AWS, not this one.
        endpoint = {"Address": f"{service_key}.synthetic.invalid", "CachePeriodInMinutes": 0}
        return {"Endpoints": [endpoint]}
    return _BY_OPERATION.get((service_key, operation.name))
