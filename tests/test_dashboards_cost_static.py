"""Static checks of the "AWS usage and cost" dashboard (grafana/dashboards/botocore-otel-cost.json):
prices, selectors, the estimate note, and the capacity metric names it reads."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # grafana/ is a repository directory, not an installed package

from grafana import conventions, promql, queries  # noqa: E402
from tests.test_dashboards_static import CAPACITY_METRICS, DASHBOARD_DIR, all_panels, load  # noqa: E402


def test_capacity_metric_names_match_the_docs() -> None:
    docs = (ROOT / "docs" / "capacity.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(botocore_otel_\w+_total)`", docs))
    assert documented == CAPACITY_METRICS == set(promql.CAPACITY_METRICS)


COST = DASHBOARD_DIR / f"{conventions.COST_UID}.json"


def test_cost_dashboard_prices_are_editable_dated_and_sourced() -> None:
    """Every unit price is a textbox variable (editable in the dashboard) whose description gives
    the date it was taken and its AWS pricing page; docs/dashboards.md lists the same values."""
    from grafana.prices import PRICES, PRICES_TAKEN

    variables = {v["name"]: v for v in load(COST)["templating"]["list"]}
    docs = (ROOT / "docs" / "dashboards.md").read_text(encoding="utf-8")
    assert PRICES_TAKEN in docs
    for price in PRICES:
        var = variables[price.name]
        assert var["type"] == "textbox" and var["current"]["value"] == var["query"] == price.default
        float(price.default)
        assert PRICES_TAKEN in var["description"] and "https://aws.amazon.com/" in var["description"]
        assert f"`{price.name}`" in docs and f"| {price.default} |" in docs, price.name
    assert variables["price_sts"]["query"] == "0"


def test_cost_dashboard_selectors_and_note() -> None:
    """Selectors: datasource, cloud_region and app_component (with All), synthetic calls
    excluded by default in every query; a text panel says this is an estimate, not a bill."""
    dash = load(COST)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for name in ("cloud_region", "app_component"):
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    assert variables["synthetic"]["current"]["text"] == "exclude"
    texts = [p for p in all_panels(dash) if p["type"] == "text"]
    assert texts and "not a bill" in texts[0]["options"]["content"]
    cost = [q for q in queries.extract_queries() if q.dashboard == conventions.COST_UID]
    assert len(cost) >= 15
    for q in cost:
        selectors = re.findall(r"\{([^}]*)\}", q.expr)
        assert selectors and all('botocore_otel_synthetic=~"|false"' in m for m in selectors), q
    # "|false" matches a series without the label (real calls), never "true"
    assert re.fullmatch("|false", "") and not re.fullmatch("|false", "true")


def test_cost_dashboard_dollar_panels_use_the_prices() -> None:
    """Each dollar panel multiplies by price variables, and the priced items cover every price."""
    from grafana.prices import PRICES

    used: set[str] = set()
    for panel in all_panels(load(COST)):
        if panel.get("fieldConfig", {}).get("defaults", {}).get("unit") != "currencyUSD":
            continue
        names = {n for t in panel["targets"] for n in queries.variables_in(t["expr"])} - {
            "cloud_region", "app_component", "synthetic", "__rate_interval", "__range"
        }  # fmt: skip
        assert names, panel["title"]
        used |= names
    assert used == {p.name for p in PRICES}
