"""The never-captured rule: members (and map keys) that no attribute ever carries.

A member is denied when its name, lower-cased with non-alphanumerics removed, is one of
:data:`DENIED_MEMBERS` (bodies and contents of messages, objects, events, records,
invocations and executions; prompts and text to work on; secret values; phone numbers,
endpoint ARNs and e-mail addresses) or contains one of :data:`DENIED_PARTS` (passwords,
secrets, tokens, credentials, signatures and presigned URLs, SAML assertions, system
prompts, authorization, cookies, key material, cipher/plain texts).
User captures through such a member are refused; structured values the tables
JSON-serialize have them removed; the service model's ``sensitive`` trait is honoured
besides, where the model is at hand (user captures).

A user capture is also refused when what it captures, the last member of its path, is a
person's (:func:`is_personal`): a phone number, an e-mail address, an endpoint (SNS
Subscribe's is a phone number, an address or a URL) or a one-time code (S3's ``MFA``
too); serialized values drop such a member when it holds a value (a scalar, a DynamoDB
AttributeValue). Only then:
``Code.S3Bucket`` (Lambda) and a DynamoDB index named ``email-index`` are nobody's.

Also here: URLs in the exceptions a span records lose their user name, password, query and
fragment (:func:`record_exception`).
"""

from __future__ import annotations

import re
import traceback
from typing import Any

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
        # prompts and text to work on (Converse's system blocks, CloudTrail's Prompt,
        # Translate's and Polly's Text): GenAI content has its own opt-in
        "system",
        "prompt",
        "text",
        "inputtext",
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
    # what the models leave unmarked: DocumentDB's and Neptune's PreSignedUrl (a signature and
    # a session token in its query), Lake Formation's SAMLAssertion, IoT Wireless's LoRaWAN
    # root keys (AppKey, NwkKey, GenAppKey), Direct Connect's BGP authKey, a gateway's
    # ActivationKey
    "systemprompt",
    "prompttemplate",
    "presignedurl",
    "samlassertion",
    "appkey",
    "nwkkey",
    "authkey",
    "activationkey",
)
# What a captured value may not be (the last member of a capture's path): exactly one of
# these, or containing one of the parts. SNS Subscribe's Endpoint; SSO OIDC CreateToken's code;
# S3's MFA (a device's serial number and its current code); Pinpoint's Otp.
PERSONAL_MEMBERS = frozenset({"endpoint", "code", "mfa", "otp"})
PERSONAL_PARTS = (
    # DestinationPhoneNumber, Email, ToAddresses (SES)
    "phonenumber",
    "email",
    "toaddresses",
    "ccaddresses",
    "bccaddresses",
    # IAM's AuthenticationCode1, Cognito's ConfirmationCode, OIDC's deviceCode
    "authenticationcode",
    "confirmationcode",
    "verificationcode",
    "devicecode",
    "usercode",
    "mfacode",
)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_denied_cache: dict[str, bool] = {}
_personal_cache: dict[str, bool] = {}


def _named(name: str, cache: dict[str, bool], members: frozenset[str], parts: tuple[str, ...]) -> bool:
    """Whether ``name``, normalized, is one of ``members`` or contains one of ``parts``."""
    found = cache.get(name)
    if found is None:
        normalized = _NOT_ALNUM.sub("", name.lower())
        found = normalized in members or any(part in normalized for part in parts)
        if len(cache) < 4096:
            cache[name] = found
    return found


def is_denied_member(name: str) -> bool:
    """True for a member (or map key) that is never captured nor JSON-serialized."""
    return _named(name, _denied_cache, DENIED_MEMBERS, DENIED_PARTS)


def is_personal(name: str) -> bool:
    """True for a member whose value is a person's: never a captured value, nor a serialized one."""
    return _named(name, _personal_cache, PERSONAL_MEMBERS, PERSONAL_PARTS)


# In a URL as exception messages quote it: the user name and password (up to the last "@":
# a password may hold one), then the query and fragment (up to a space, a quote or a closing
# bracket: botocore percent-encodes those inside a query). Only after "://" and a host.
_USERINFO = re.compile(r"""([A-Za-z][A-Za-z0-9+.-]*://)[^\s"'/?#]*@""")
_QUERY = re.compile(r"""(://(?:[A-Za-z0-9]|\[[0-9A-Fa-f:.]+\])[^\s"'?#<>)\]}]*)[?#][^\s"'<>)\]}]*""")


def _without_secrets(text: str) -> str:
    return _QUERY.sub(r"\1", _USERINFO.sub(r"\1", text))


MAX_ERROR_MESSAGE = 4096


def service_error_message(text: str) -> str:
    """A service's error message as the span's ``exception`` event quotes it: its URLs cleaned
    as in :func:`record_exception`, then cut to :data:`MAX_ERROR_MESSAGE` characters (the
    server's text: nothing bounds it)."""
    return _without_secrets(text)[:MAX_ERROR_MESSAGE]


def record_exception(span: Any, exception: BaseException, timestamp: int | None = None) -> None:
    """The ``exception`` event ``span.record_exception`` adds, with the URLs in its message
    and stack trace cut to scheme, host and path. botocore's connection errors quote the whole
    request URL, and some operations put a sensitive member in its query string (Amazon
    Location's API ``key``); an endpoint may carry a password (``https://user:pass@host``). A
    chained exception may quote it too: the whole trace is cleaned."""
    kind = type(exception)
    module = kind.__module__
    stacktrace = "".join(traceback.format_exception(kind, exception, exception.__traceback__))
    attributes = {
        "exception.type": f"{module}.{kind.__qualname__}"
        if module and module != "builtins"
        else kind.__qualname__,
        "exception.message": _without_secrets(str(exception)),
        "exception.stacktrace": _without_secrets(stacktrace),
        "exception.escaped": "False",
    }
    span.add_event("exception", attributes, timestamp=timestamp)
