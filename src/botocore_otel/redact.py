"""The never-captured rule: members (and map keys) that no attribute ever carries.

A member is denied when its name, lower-cased with non-alphanumerics removed, is one of
:data:`DENIED_MEMBERS` (bodies and contents of messages, objects, events, records,
invocations and executions; secret values; endpoints and endpoint ARNs, which may be a
person's phone or address; one-time codes) or contains one of :data:`DENIED_PARTS`
(passwords, secrets, tokens, credentials, signatures, authorization, cookies, key material,
cipher/plain texts, phone numbers, e-mail addresses, verification and device codes).
User captures through such a member are refused; structured values the tables
JSON-serialize have them removed; the service model's ``sensitive`` trait is honoured
besides, where the model is at hand (user captures).

Also here: URLs in the exceptions a span records lose their user name, password, query and
fragment (:func:`record_exception`).
"""

from __future__ import annotations

import re
import traceback
from typing import Any

# Lower-cased, non-alphanumerics removed. Bodies and contents of messages, objects,
# events, records, invocations and executions; secret values; where messages go to a
# person (SNS Subscribe's Endpoint is a phone number, an e-mail address or a URL); a
# one-time code (SSO OIDC CreateToken's ``code``).
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
        "targetarn",
        "endpoint",
        "endpointarn",
        "code",
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
    # a person's: DestinationPhoneNumber, Email, ToAddresses (SES)
    "phonenumber",
    "email",
    "toaddresses",
    "ccaddresses",
    "bccaddresses",
    # one-time codes: IAM's AuthenticationCode1, Cognito's ConfirmationCode, OIDC's deviceCode
    "authenticationcode",
    "confirmationcode",
    "verificationcode",
    "devicecode",
    "usercode",
    "mfacode",
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


# In a URL as exception messages quote it: the user name and password, then query and fragment.
_USERINFO = re.compile(r"""([A-Za-z][A-Za-z0-9+.-]*://)[^\s"'/?#@]*@""")
_QUERY = re.compile(r"""(://[^\s"'?#]*)[?#][^\s"']*""")


def _without_secrets(text: str) -> str:
    return _QUERY.sub(r"\1", _USERINFO.sub(r"\1", text))


def record_exception(span: Any, exception: BaseException, timestamp: int | None = None) -> None:
    """``span.record_exception``, with the URLs in the message and stack trace cut to scheme,
    host and path. botocore's connection errors quote the whole request URL, and some
    operations put a sensitive member in its query string (Amazon Location's API ``key``);
    an endpoint may carry a password (``https://user:pass@host``). A chained exception may
    quote it too: the whole trace is cleaned."""
    stacktrace = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    cleaned = {
        "exception.message": _without_secrets(str(exception)),
        "exception.stacktrace": _without_secrets(stacktrace),
    }
    span.record_exception(exception, attributes=cleaned, timestamp=timestamp)
