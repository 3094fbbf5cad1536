"""The never-captured rule: members (and map keys) that no attribute ever carries.

A member is denied when its name, lower-cased with non-alphanumerics removed, is one of
:data:`DENIED_MEMBERS` (bodies and contents of messages, objects, events, records,
invocations and executions; secret values; phone numbers, endpoint ARNs and e-mail
addresses) or contains one of :data:`DENIED_PARTS` (passwords, secrets, tokens,
credentials, signatures, authorization, cookies, key material, cipher/plain texts).
User captures through such a member are refused; structured values the tables
JSON-serialize have them removed; the service model's ``sensitive`` trait is honoured
besides, where the model is at hand (user captures).
"""

from __future__ import annotations

import re

# Lower-cased, non-alphanumerics removed. Bodies and contents of messages, objects,
# events, records, invocations and executions; secret values; where messages go to a
# person (phone numbers, endpoint ARNs).
DENIED_MEMBERS = frozenset(
    {
        "body",
        "messagebody",
        "message",
        "data",
        "payload",
        "detail",
        "details",
        "content",
        "contents",
        "input",
        "output",
        "subject",
        "records",
        "invokeargs",
        "clientcontext",
        "secretstring",
        "secretbinary",
        "phonenumber",
        "targetarn",
        "endpointarn",
        "emailaddress",
    }
)
# Any member whose normalized name contains one of these.
DENIED_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "signature",
    "authorization",
    "cookie",
    "privatekey",
    "accesskey",
    "sessionkey",
    "customerkey",
    "keymaterial",
    "apikey",
    "ciphertext",
    "plaintext",
)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_denied_cache: dict[str, bool] = {}


def is_denied_member(name: str) -> bool:
    """True for a member (or map key) that is never captured nor JSON-serialized."""
    denied = _denied_cache.get(name)
    if denied is None:
        normalized = _NOT_ALNUM.sub("", name.lower())
        denied = normalized in DENIED_MEMBERS or any(part in normalized for part in DENIED_PARTS)
        if len(_denied_cache) < 4096:
            _denied_cache[name] = denied
    return denied
