"""Server-side SigV4 re-verification of requests recorded by moto's server.

moto's own check (``MotoServer(auth=True)``) answers SignatureDoesNotMatch for a wrong
signature, but it trusts ``X-Amz-Content-SHA256`` without hashing the body and does not
complain about unsigned ``x-amz-*`` headers, two things real AWS does reject. This module
recomputes, for any recorded request of any service and with any known credentials (the
dummy ``testing``/``testing`` of the plain server included), the signature with botocore's
own canonicalization (``botocore.auth.SigV4Auth``, ``S3SigV4Auth`` for S3) from exactly the
headers, path, query and body that arrived, and also checks:

* every ``x-amz-*`` header that arrived is listed in ``SignedHeaders`` (S3 answers
  ``AccessDenied: There were headers present in the request which were not signed``);
* a hex ``X-Amz-Content-SHA256`` equals the SHA-256 of the body that arrived (S3's
  ``XAmzContentSHA256Mismatch``);
* every header named in ``SignedHeaders`` actually arrived.

Headers that botocore never signs (``SIGNED_HEADERS_BLACKLIST``: ``traceparent``,
``tracestate``, ``baggage``, ``x-amzn-trace-id``, ``user-agent``, ...) may be added after
signing without breaking anything, and this checker agrees.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .moto_server import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, RecordedRequest

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class SigV4Check:
    """Outcome of :func:`verify_sigv4`; ``ok`` is True only when ``problems`` is empty."""

    problems: list[str] = field(default_factory=list)
    received_signature: str = ""
    expected_signature: str = ""
    canonical_request: str = ""
    string_to_sign: str = ""
    unsigned_headers: list[str] = field(default_factory=list)  # arrived, not signed (lower)

    @property
    def ok(self) -> bool:
        return not self.problems

    def explain(self) -> str:
        return (
            "SigV4 problems: "
            + "; ".join(self.problems)
            + f"\n--- canonical request (server side) ---\n{self.canonical_request}"
            + f"\n--- string to sign ---\n{self.string_to_sign}"
        )


def verify_sigv4(
    request: RecordedRequest,
    credentials: tuple[str, str] | Mapping[str, str] = (
        DUMMY_ACCESS_KEY_ID,
        DUMMY_SECRET_ACCESS_KEY,
    ),
    *,
    require_signed_amz_headers: bool = True,
    check_payload_hash: bool = True,
) -> SigV4Check:
    """Recompute the SigV4 signature of ``request`` as AWS would, server side.

    ``credentials``: ``(access_key_id, secret)`` or ``{access_key_id: secret}``.
    """
    check = SigV4Check()
    auth = request.authorization
    if not auth:
        check.problems.append("request is not SigV4-signed (no AWS4- Authorization header)")
        return check
    check.received_signature = auth.get("signature", "")
    secrets = dict([credentials]) if isinstance(credentials, tuple) else dict(credentials)
    key_id = auth.get("access_key_id", "")
    if key_id not in secrets:
        check.problems.append(f"unknown access key id {key_id!r}")
        return check
    signed = request.signed_headers()
    lower = request.headers.lower_items()
    check.unsigned_headers = sorted(h for h in lower if h not in signed)

    missing = [h for h in signed if h not in lower and h != "host"]
    if missing:
        check.problems.append(f"signed headers that did not arrive: {missing}")
    if require_signed_amz_headers:
        unsigned_amz = sorted(h for h in lower if h.startswith("x-amz-") and h not in signed)
        if unsigned_amz:
            check.problems.append(
                f"x-amz-* headers present but not signed (AWS rejects this): {unsigned_amz}"
            )
    if "x-amz-date" not in lower:
        check.problems.append("no X-Amz-Date header")
        return check

    content_sha = lower.get("x-amz-content-sha256")
    if check_payload_hash and content_sha and _HEX64.match(content_sha):
        if request.body is None:
            check.problems.append("body not recorded by moto, cannot check X-Amz-Content-SHA256")
        elif hashlib.sha256(request.body).hexdigest() != content_sha:
            check.problems.append("X-Amz-Content-SHA256 does not match the body that arrived")

    headers = {name: value for name, value in request.headers.items() if name.lower() in signed}
    host = lower.get("host", "127.0.0.1")
    url = f"http://{host}{request.path}" + (f"?{request.query}" if request.query else "")
    aws_req = AWSRequest(method=request.method, url=url, headers=headers, data=request.body or b"")
    aws_req.context["timestamp"] = lower["x-amz-date"]
    signer_cls = S3SigV4Auth if auth.get("service") == "s3" else SigV4Auth
    signer = signer_cls(Credentials(key_id, secrets[key_id]), auth.get("service", ""), auth.get("region", ""))
    check.canonical_request = signer.canonical_request(aws_req)
    check.string_to_sign = signer.string_to_sign(aws_req, check.canonical_request)
    check.expected_signature = signer.signature(check.string_to_sign, aws_req)
    if check.expected_signature != check.received_signature:
        check.problems.append("SignatureDoesNotMatch")
    return check


def assert_sigv4_valid(
    request: RecordedRequest,
    credentials: tuple[str, str] | Mapping[str, str] = (
        DUMMY_ACCESS_KEY_ID,
        DUMMY_SECRET_ACCESS_KEY,
    ),
    **kwargs: bool,
) -> None:
    """Raise AssertionError (with the server-side canonical request) unless valid."""
    check = verify_sigv4(request, credentials, **kwargs)
    if not check.ok:
        raise AssertionError(f"{request.method} {request.url}: {check.explain()}")
