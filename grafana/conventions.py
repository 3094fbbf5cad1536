"""What the dashboards promise, in words both the generator and the readers of the JSON share.

No dependency: ``grafana.queries`` and the tests read the generated JSON with these alone.
"""

from __future__ import annotations

import re

# Datasource uids: deploy/grafana/provisioning/datasources/datasources.yaml defines the same uids.
PROMETHEUS_UID = "prometheus"
TEMPO_UID = "tempo"
OVERVIEW_UID = "botocore-otel-overview"
SERVICE_UID = "botocore-otel-service"
COST_UID = "botocore-otel-cost"

# A panel whose description ends with this sentence shows a rare event (cancelled calls,
# throttles...): an empty result is normal there. grafana/queries.py reports it as rare_event.
RARE_MARK = "Rare event: this panel is often empty."

# Metric groups of the library's ``metrics=`` option beyond the default ``rpc``.
OPT_IN_GROUPS = ("smithy", "phases", "capacity")
_OPT_IN = re.compile(r"Needs the opt-in metric groups? ((?:`\w+`(?:, | and )?)+) \(")


def opt_in_sentence(groups: tuple[str, ...]) -> str:
    """The sentence a panel's description carries when it needs opt-in metric groups."""
    unknown = set(groups) - set(OPT_IN_GROUPS)
    if not groups or unknown:
        raise ValueError(f"opt-in groups must be among {OPT_IN_GROUPS}, got {groups}")
    named = " and ".join(f"`{g}`" for g in groups)
    plural = "s" if len(groups) > 1 else ""
    setting = ",".join(groups)
    return (
        f"Needs the opt-in metric group{plural} {named} (BOTOCORE_OTEL_METRICS=rpc,{setting} "
        "or all); empty with the default metric set."
    )


def opt_in_groups(description: str) -> frozenset[str]:
    """The opt-in metric groups a panel description names (empty: the default set answers it)."""
    match = _OPT_IN.search(description)
    return frozenset(re.findall(r"`(\w+)`", match.group(1))) if match else frozenset()
