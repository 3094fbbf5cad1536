"""Latency of a synthetic answer: a fixed delay or a distribution, in seconds.

Distributions (every value is clipped at 0, and at ``max`` if given, else at an hour):

- ``{"distribution": "uniform", "min": 0.01, "max": 0.05}``
- ``{"distribution": "normal", "mean": 0.02, "stddev": 0.005}``
- ``{"distribution": "lognormal", "median": 0.02, "sigma": 0.5}`` (median * e^(sigma*N(0,1)))
- ``{"distribution": "exponential", "mean": 0.02}``
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore_otel.errors import ConfigError

# distribution -> (required parameters, optional parameters)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("min", "max"), ()),
    "normal": (("mean", "stddev"), ("max",)),
    "lognormal": (("median", "sigma"), ("max",)),
    "exponential": (("mean",), ("max",)),
}

MAX_SECONDS = 3600.0
"""The longest latency a rule may give (and a sampled value is clipped at): an hour."""


_SAMPLERS: dict[str, Callable[[random.Random, Mapping[str, float]], float]] = {
    "uniform": lambda rng, p: rng.uniform(p["min"], p["max"]),
    "normal": lambda rng, p: rng.gauss(p["mean"], p["stddev"]),
    # the exponent capped: median * e^710 overflows a float
    "lognormal": lambda rng, p: p["median"] * math.exp(min(p["sigma"] * rng.gauss(0.0, 1.0), 700.0)),
    "exponential": lambda rng, p: rng.expovariate(1.0 / p["mean"]) if p["mean"] > 0 else 0.0,
}


@dataclass(frozen=True, slots=True)
class Latency:
    distribution: str  # "fixed" or a key of DISTRIBUTIONS
    params: Mapping[str, float]
    limit: float = MAX_SECONDS  # a drawn value's cap when no ``max`` is given

    def sample(self, rng: random.Random) -> float:
        if self.distribution == "fixed":
            return self.params["seconds"]
        value = max(0.0, _SAMPLERS[self.distribution](rng, self.params))
        return min(value, self.params.get("max", self.limit))

    def describe(self) -> str:
        if self.distribution == "fixed":
            return f"{self.params['seconds']:g}s"
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.distribution}({args})s"


def _number(value: object, setting: str, limit: float, unit: str) -> float:
    what = f"a number of {unit} from 0 to {limit:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(setting, value, what)
    if not 0 <= value <= limit:  # compared first: int(10**400) has no float; NaN fails it
        raise ConfigError(setting, value, what)
    return float(value)


def parse_latency(
    value: object, setting: str, limit: float = MAX_SECONDS, unit: str = "seconds"
) -> Latency | None:
    """Validate a ``latency`` setting: seconds, or a distribution mapping. ``limit`` and
    ``unit``: for another quantity drawn the same ways (an LLM answer's tokens)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return Latency("fixed", {"seconds": _number(value, setting, limit, unit)}, limit)
    kind = value.get("distribution")
    if not isinstance(kind, str) or kind not in DISTRIBUTIONS:
        raise ConfigError(f"{setting}.distribution", kind, f"one of {sorted(DISTRIBUTIONS)}")
    required, optional = DISTRIBUTIONS[kind]
    allowed = {"distribution", *required, *optional}
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{setting}.{key}", value[key], f"one of {sorted(allowed)}")
    params: dict[str, float] = {}
    for key in required:
        if key not in value:
            raise ConfigError(f"{setting}.{key}", None, f"a number (required for {kind})")
        params[key] = _number(value[key], f"{setting}.{key}", limit, unit)
    for key in optional:
        if key in value:
            params[key] = _number(value[key], f"{setting}.{key}", limit, unit)
    if kind == "uniform" and params["min"] > params["max"]:
        raise ConfigError(f"{setting}.max", params["max"], f"a number >= min ({params['min']})")
    if kind in ("lognormal",) and params["median"] <= 0:
        raise ConfigError(f"{setting}.median", params["median"], "a number of seconds > 0")
    return Latency(kind, params, limit)
