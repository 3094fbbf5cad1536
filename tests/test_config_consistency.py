"""Settings read alike: the same word means the same thing in every setting, a list reads as
the comma-separated string does, and the environment says everything the keyword can."""

from __future__ import annotations

import pytest

from botocore_otel import ConfigError
from botocore_otel.config import env_names, load_settings

ENV = env_names()


@pytest.mark.parametrize("word", ["none", "None", " NONE "])
def test_none_means_off_for_metrics_as_for_payload_propagation(word: str) -> None:
    assert load_settings({"metrics": word}, environ={}).metrics == frozenset()
    assert load_settings({}, environ={ENV["metrics"]: word}).metrics == frozenset()
    assert load_settings({"payload_propagation": word}, environ={}).payload_propagation == frozenset()
    with pytest.raises(ConfigError) as raised:
        load_settings({"metrics": "none,rpc"}, environ={})
    assert "'none'" in raised.value.allowed
