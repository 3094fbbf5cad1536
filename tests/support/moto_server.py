"""A real local AWS endpoint for tests: moto's server, on 127.0.0.1 only, in a child process.

Why a child process (running ``moto.server.ThreadedMotoServer``) and not a thread in the
test process:

* Importing ``moto`` appends moto's own ``before-send`` handler to botocore's
  ``BUILTIN_HANDLERS``, so every botocore client created afterwards in that process carries
  an extra handler. This project instruments botocore's event system, so the test process
  must stay free of it: the test process never imports moto.
* moto reads ``MOTO_ENABLE_RECORDING`` / ``MOTO_RECORDER_FILEPATH`` at import time and keeps
  its IAM/SigV4 auth switch (``INITIAL_NO_AUTH_ACTION_COUNT``) in process globals, so a
  server with auth on and one with auth off need separate processes.

The recorder: moto records every request it receives (before any auth check, so rejected
requests are recorded too) as one JSON line in ``MOTO_RECORDER_FILEPATH``:
``{"headers": dict(werkzeug request.headers), "method", "url": raw_url, "body", "body_encoded"}``.
Header names arrive title-cased by werkzeug (``X-Amz-Date``, ``Traceparent``); duplicate
header lines are joined with ``,``; headers whose name contains ``_`` are dropped by the
werkzeug server. The body is recorded only when the request has a ``Content-Length``
(base64 when it was bytes). :meth:`MotoServer.recorded_requests` parses that file
(``body`` is ``b""`` for requests without a body, None only for chunked ones).

Signature verification: with ``auth=True`` the server turns on moto's IAM auth
(``/moto-api/reset-auth`` with ``0``, same as ``INITIAL_NO_AUTH_ACTION_COUNT=0``), after
provisioning an IAM user with an allow-all policy and an access key. Every request is then
SigV4-checked by moto (``moto.iam.access_control.IAMRequest.check_signature``: it recomputes
the signature with botocore's ``SigV4Auth``/``S3SigV4Auth`` from the headers named in
``SignedHeaders``), and a mismatch is answered ``SignatureDoesNotMatch`` (403). Use
``server.credentials`` / ``server.client(...)``: any other key is ``InvalidClientTokenId``.
Checked to work (good signature passes, tampered signed header rejected) for query (STS,
SNS, IAM), JSON (DynamoDB, SQS, Kinesis, EventBridge, Step Functions, Secrets Manager) and
S3 (PUT streamed body, GET, list, delete). Known gap: moto wrongly rejects Lambda's REST
GETs (ListFunctions...) even untampered; and moto trusts ``X-Amz-Content-SHA256`` without
hashing the body and ignores unsigned ``x-amz-*`` headers. :mod:`tests.support.sigv4`
re-verifies recorded requests server side and covers all of those.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"
DEFAULT_REGION = "us-east-1"

AUTH_USER_NAME = "botocore-otel-test"
_ALLOW_ALL_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping that keeps the names as they arrived."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for k, v in (items or {}).items():
            self._items[k.lower()] = (k, v)

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (orig for orig, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def lower_items(self) -> dict[str, str]:
        """``{lowercased name: value}``."""
        return {k: v for k, (_, v) in self._items.items()}

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class RecordedRequest:
    """One request exactly as moto's server received it."""

    method: str
    url: str  # raw URL as received (not percent-decoded), e.g. http://127.0.0.1:5000/b/k?x=1
    path: str  # raw path, e.g. "/bucket/key"
    query: str  # raw query string without "?"
    headers: Headers
    body: bytes | None  # b"" when there was none; None when chunked (moto can't record it)

    @property
    def authorization(self) -> dict[str, str]:
        """Parsed SigV4 ``Authorization``: keys algorithm, credential, access_key_id, date,
        region, service, signed_headers (``;``-joined), signature. ``{}`` when unsigned."""
        auth = self.headers.get("Authorization", "")
        algorithm, _, rest = auth.partition(" ")
        if not algorithm.startswith("AWS4-"):
            return {}
        out: dict[str, str] = {"algorithm": algorithm}
        for part in rest.split(","):
            k, _, v = part.strip().partition("=")
            out[k.lower()] = v
        cred = out.get("credential", "").split("/")
        if len(cred) == 5:
            out.update(access_key_id=cred[0], date=cred[1], region=cred[2], service=cred[3])
        out["signed_headers"] = out.pop("signedheaders", "")
        return out

    def signed_headers(self) -> list[str]:
        """Lower-cased header names listed in SigV4 ``SignedHeaders`` (empty when unsigned)."""
        sh = self.authorization.get("signed_headers", "")
        return [h for h in sh.split(";") if h]

    @property
    def service(self) -> str | None:
        """Signing service name from the credential scope (``s3``, ``sts``, ``dynamodb``...)."""
        return self.authorization.get("service")

    @property
    def operation(self) -> str | None:
        """Best-effort API operation: ``X-Amz-Target`` suffix (json protocols) or ``Action``
        (query protocol, from query string or form body). None for rest protocols (S3)."""
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        params = dict(parse_qsl(self.query))
        if "Action" not in params and self.body and b"Action=" in self.body:
            params.update(parse_qsl(self.body.decode("utf-8", "replace")))
        return params.get("Action")

    def body_text(self) -> str:
        return (self.body or b"").decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _parse_recording_line(line: str) -> RecordedRequest:
    entry = json.loads(line)
    raw_body = entry.get("body")
    body: bytes | None
    headers = Headers(entry["headers"])
    if entry.get("body_encoded"):
        body = base64.b64decode(raw_body)
    elif raw_body:
        body = raw_body.encode("utf-8")
    elif "Content-Length" in headers or "Transfer-Encoding" not in headers:
        body = b""  # no Content-Length and not chunked: HTTP/1.1 says there is no body
    else:
        body = None  # chunked: moto's recorder cannot capture it
    url = entry["url"]
    parts = urlsplit(url)
    return RecordedRequest(
        method=entry["method"],
        url=url,
        path=parts.path,
        query=parts.query,
        headers=headers,
        body=body,
    )


@dataclass
class MotoServer:
    """Handle on one moto server child process (see module docstring)."""

    auth: bool = False
    startup_timeout: float = 30.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    port: int = field(default=0, init=False)
    recording_path: Path = field(default=Path(), init=False)
    log_path: Path = field(default=Path(), init=False)
    _creds: tuple[str, str] = field(default=(DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> MotoServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="moto-server-")
        tmp = Path(self._tmp.name)
        self.recording_path = tmp / "recording.jsonl"
        self.log_path = tmp / "server.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "MOTO_", "OTEL_")) and k != "INITIAL_NO_AUTH_ACTION_COUNT"
        }
        env.update(
            MOTO_ENABLE_RECORDING="true",
            MOTO_RECORDER_FILEPATH=str(self.recording_path),
            AWS_ACCESS_KEY_ID=DUMMY_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=DUMMY_SECRET_ACCESS_KEY,
            AWS_DEFAULT_REGION=DEFAULT_REGION,
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        self.recording_path.touch()
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-u", __file__, "--child"],
                stdin=subprocess.PIPE,  # child exits when this pipe closes (we died/stopped)
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=tmp,
            )
        finally:
            log.close()
        self.port = self._read_ready_port()
        self.set_config({"lambda": {"use_docker": False}})
        if self.auth:
            self._provision_auth()
        return self

    def _read_ready_port(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(
            target=lambda: result.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(self.startup_timeout)
        line = result[0].decode() if result else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(
                f"moto server did not start within {self.startup_timeout}s; "
                f"got {line!r}; log:\n{self.log_path.read_text(errors='replace')[-4000:]}"
            )
        return int(line.split()[1])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def credentials(self) -> tuple[str, str]:
        """(access_key_id, secret_access_key) that this server accepts. For ``auth=True``
        these are minted by moto's IAM at each :meth:`reset`; otherwise ``testing/testing``."""
        return self._creds

    # ---------------------------------------------------------------- moto-api
    def _api(self, path: str, data: bytes | None = b"", method: str = "POST") -> bytes:
        # Not form-encoded: werkzeug would parse a form body away from request.data.
        req = urllib.request.Request(
            self.endpoint_url + path,
            data=data if method == "POST" else None,
            method=method,
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return bytes(resp.read())

    def set_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """POST /moto-api/config (e.g. ``{"lambda": {"use_docker": False}}``)."""
        out: dict[str, Any] = json.loads(self._api("/moto-api/config", json.dumps(config).encode()))
        return out

    def reset_recording(self) -> None:
        """Forget every recorded request."""
        self._api("/moto-api/recorder/reset-recording")

    def reset(self) -> None:
        """Wipe all moto state (POST /moto-api/reset) and the recorder. For an auth server,
        also re-provision the IAM user and key (so :attr:`credentials` changes)."""
        with self._lock:
            if self.auth:
                self._api("/moto-api/reset-auth", b"inf")
            self._api("/moto-api/reset")
            self.set_config({"lambda": {"use_docker": False}})
            if self.auth:
                self._provision_auth()
            self.reset_recording()

    def _provision_auth(self) -> None:
        """With auth off, create an IAM user + allow-all policy + access key, then turn
        auth on for every following request."""
        self._api("/moto-api/reset-auth", b"inf")
        iam = self._raw_client("iam", DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY)
        iam.create_user(UserName=AUTH_USER_NAME)
        iam.put_user_policy(UserName=AUTH_USER_NAME, PolicyName="allow-all", PolicyDocument=_ALLOW_ALL_POLICY)
        key = iam.create_access_key(UserName=AUTH_USER_NAME)["AccessKey"]
        self._creds = (key["AccessKeyId"], key["SecretAccessKey"])
        self._api("/moto-api/reset-auth", b"0")
        self.reset_recording()

    # ---------------------------------------------------------------- recorder
    def recorded_requests(self, *, include_moto_api: bool = False) -> list[RecordedRequest]:
        """Every request received since the last reset, oldest first (``/moto-api/...``
        control requests left out unless asked for)."""
        text = self.recording_path.read_text(encoding="utf-8")
        out = [_parse_recording_line(line) for line in text.splitlines() if line.strip()]
        if not include_moto_api:
            out = [r for r in out if not r.path.startswith("/moto-api/")]
        return out

    def last_request(self) -> RecordedRequest:
        reqs = self.recorded_requests()
        if not reqs:
            raise AssertionError("moto recorded no request")
        return reqs[-1]

    # ---------------------------------------------------------------- clients
    def _raw_client(self, service: str, key: str, secret: str, **kw: Any) -> Any:
        from botocore.config import Config

        return new_boto3_session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=DEFAULT_REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
            **kw,
        )

    def client_kwargs(
        self,
        service: str,
        *,
        region_name: str = DEFAULT_REGION,
        max_attempts: int | None = 1,
        retry_mode: str = "standard",
        config: Any = None,
    ) -> dict[str, Any]:
        """Keyword arguments for ``session.client(service, **kw)`` pointing at this server
        (for tests that build their own boto3/botocore session)."""
        from botocore.config import Config

        base: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 30}
        if max_attempts is not None:
            base["retries"] = {"total_max_attempts": max_attempts, "mode": retry_mode}
        if service == "s3":
            base["s3"] = {"addressing_style": "path"}
        cfg = Config(**base)
        if config is not None:
            cfg = cfg.merge(config)
        key, secret = self.credentials
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": region_name,
            "aws_access_key_id": key,
            "aws_secret_access_key": secret,
            "config": cfg,
        }

    def client(
        self,
        service: str,
        *,
        region_name: str = DEFAULT_REGION,
        max_attempts: int | None = 1,
        retry_mode: str = "standard",
        config: Any = None,
        session: Any = None,
        **kw: Any,
    ) -> Any:
        """A boto3 client for ``service`` pointed at this server with its credentials.

        ``max_attempts`` is total attempts (1 = no retries, None = botocore's default);
        ``config`` (a ``botocore.config.Config``) is merged over the defaults; ``session``
        may be a ``boto3.session.Session`` (default: a fresh one from
        :func:`new_boto3_session`); extra kwargs (e.g. ``aws_secret_access_key``) override.
        Clients use connect/read timeouts 5 s/30 s; S3 clients use path-style addressing.
        """
        ckw = self.client_kwargs(
            service,
            region_name=region_name,
            max_attempts=max_attempts,
            retry_mode=retry_mode,
            config=config,
        )
        ckw.update(kw)
        return (session or new_boto3_session()).client(service, **ckw)


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else).

    moto answers auth failures of JSON-protocol services (DynamoDB, SQS...) with an XML body,
    which botocore surfaces as code ``"403"`` with the XML as message; the real code
    (``SignatureDoesNotMatch``, ``InvalidClientTokenId``...) is dug out of it here."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    err = response.get("Error", {})
    code = str(err.get("Code", ""))
    if not code or code.isdigit():
        m = re.search(r"<Code>([^<]+)</Code>", str(err.get("Message", "")))
        if m:
            return m.group(1)
    return code


def is_signature_rejection(exc: BaseException) -> bool:
    """True when ``exc`` is the server refusing the SigV4 signature (403 +
    SignatureDoesNotMatch)."""
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 403 and aws_error_code(exc) == "SignatureDoesNotMatch"


_shared_loader: Any = None


def new_boto3_session() -> Any:
    """A fresh ``boto3.session.Session`` (own event handlers, own config) that shares one
    botocore data loader with every other session made here, so service models are parsed
    once per test process instead of once per client (~15 ms instead of ~75 ms)."""
    global _shared_loader
    import boto3
    import botocore.session

    core = botocore.session.Session()
    if _shared_loader is None:
        _shared_loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _shared_loader)
    return boto3.session.Session(botocore_session=core)


# ---------------------------------------------------------------------------- child process
def _child_main() -> None:  # pragma: no cover - runs in the child process
    # Running this file as a script put tests/support first on sys.path; drop it so that
    # nothing here (e.g. prometheus.py) can shadow a module moto imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    # Run until the parent closes our stdin (normal stop, or the parent died).
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    _child_main()

__all__ = [
    "DEFAULT_REGION",
    "DUMMY_ACCESS_KEY_ID",
    "DUMMY_SECRET_ACCESS_KEY",
    "Headers",
    "MotoServer",
    "RecordedRequest",
    "aws_error_code",
    "is_signature_rejection",
    "new_boto3_session",
]
