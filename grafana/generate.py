"""Generate the botocore-otel Grafana dashboards (the single source of truth for their JSON).

    python3 -m grafana.generate          # rewrite grafana/dashboards/*.json
    python3 -m grafana.generate --check  # exit 1 if the committed JSON is out of date

Queries use the Prometheus names of the library's metrics (meter ``botocore_otel``), identical
through the SDK's Prometheus exporter and through the collector's ``prometheus`` or
``prometheusremotewrite`` exporter with default naming (see deploy/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana.conventions import COST_UID, OVERVIEW_UID, SERVICE_UID
from grafana.cost import cost
from grafana.overview import overview
from grafana.service import service

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"


def build() -> dict[str, dict[str, Any]]:
    """File name -> dashboard dict, for every dashboard in grafana/dashboards/."""
    return {
        f"{OVERVIEW_UID}.json": overview(),
        f"{SERVICE_UID}.json": service(),
        f"{COST_UID}.json": cost(),
    }


def render(dash: dict[str, Any]) -> str:
    return json.dumps(dash, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, dash in build().items():
        path = DASHBOARD_DIR / name
        text = render(dash)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python3 -m grafana.generate", file=sys.stderr)
        return 1
    print("up to date" if not stale else f"wrote {', '.join(stale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
