"""Real-parts test infrastructure (no mocks), all on 127.0.0.1.

* :mod:`tests.support.moto_server` - moto's server in a child process, with its request recorder
  (and optionally IAM/SigV4 auth on).
* :mod:`tests.support.sigv4` - server-side SigV4 re-verification of recorded requests.
* :mod:`tests.support.otlp_receiver` - OTLP/HTTP protobuf receiver decoding spans/metrics/logs.
* :mod:`tests.support.prometheus` - the real Prometheus binary, plus a scrape relay for a
  session-wide instance.
* :mod:`tests.support.ports` - free / closed loopback ports.
* :mod:`tests.support.bedrock_server` - a scripted Bedrock Runtime speaking the real wire format;
  its answers' bodies in :mod:`tests.support.bedrock_bodies`, their event-stream framing in
  :mod:`tests.support.bedrock_frames`.

Import as ``tests.support.X`` (``tests/conftest.py`` puts the repository root on ``sys.path``).
"""
