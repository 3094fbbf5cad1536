"""Settings read alike: the same word means the same thing in every setting, a list reads as
the comma-separated string does, and the environment says everything the keyword can."""

from __future__ import annotations

import pytest

from botocore_otel import ConfigError
from botocore_otel.config import PAYLOAD_SERVICES, env_names, load_settings

ENV = env_names()


@pytest.mark.parametrize("word", ["none", "None", " NONE "])
def test_none_means_off_for_metrics_as_for_payload_propagation(word: str) -> None:
    assert load_settings({"metrics": word}, environ={}).metrics == frozenset()
    assert load_settings({}, environ={ENV["metrics"]: word}).metrics == frozenset()
    assert load_settings({"payload_propagation": word}, environ={}).payload_propagation == frozenset()
    with pytest.raises(ConfigError) as raised:
        load_settings({"metrics": "none,rpc"}, environ={})
    assert "'none'" in raised.value.allowed


_ON_OFF = [("true", "false"), ("1", "0"), ("yes", "no"), ("on", "off"), (" TRUE ", "Off")]


@pytest.mark.parametrize(("on", "off"), _ON_OFF)
def test_the_environment_says_every_boolean_the_keyword_can(on: str, off: str) -> None:
    """payload_propagation=True/False as a keyword; the usual boolean words in the variable,
    as metrics takes them."""
    variable = ENV["payload_propagation"]
    assert load_settings({}, environ={variable: on}).payload_propagation == frozenset(PAYLOAD_SERVICES)
    assert load_settings({}, environ={variable: off}).payload_propagation == frozenset()
    for option in ("payload_propagation", "metrics"):
        assert load_settings({}, environ={ENV[option]: on}) == load_settings({option: True}, environ={})
        assert load_settings({}, environ={ENV[option]: off}) == load_settings({option: False}, environ={})
        assert load_settings({option: 1}, environ={}) == load_settings({option: True}, environ={})
        assert load_settings({option: 0}, environ={}) == load_settings({option: False}, environ={})
