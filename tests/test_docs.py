"""The documentation's checkable claims hold: its relative links resolve, the README's
configuration table names every option with the variable the code reads, and the bucket
bounds it quotes are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botocore_otel.config import _OPTIONS, env_names
from botocore_otel.metrics import PHASE_BUCKETS, SECONDS_BUCKETS

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(
    [
        ROOT / "README.md",
        ROOT / "grafana" / "README.md",
        ROOT / "deploy" / "README.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_HEADING = re.compile(r"^#+\s+(.*?)\s*$", re.M)
# Objects, not text: no environment variable (README: "Every option except the four objects").
_OBJECTS = {"tracer_provider", "meter_provider", "propagator", "logger_provider"}


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as '-', repeats '-1'..."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_and_anchors_that_exist(doc: Path) -> None:
    broken = []
    for link in _LINK.findall(_FENCE.sub("", doc.read_text())):
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (doc.parent / path).resolve() if path else doc
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and anchor not in _anchors(target.read_text()):
            broken.append(f"{link}: no such heading in {target.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: {broken}"


def _configuration_rows() -> dict[str, str]:
    """README's configuration table: keyword -> its environment column."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M)
    return {keyword: environment.strip() for keyword, environment in rows}


def test_the_readme_configuration_table_names_every_option_and_its_variable() -> None:
    rows = _configuration_rows()
    variables = env_names()
    current = [name for name in _OPTIONS if name != "phase_metrics"]  # deprecated: under Metrics
    assert sorted(rows) == sorted(current)
    for keyword, environment in rows.items():
        if keyword in _OBJECTS:
            assert environment.startswith("-"), keyword
        else:
            assert environment == f"`{variables[keyword]}`", keyword
    readme = (ROOT / "README.md").read_text()
    assert f"`{variables['phase_metrics']}`" in readme


def test_the_bucket_bounds_the_docs_quote_are_the_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"buckets {SECONDS_BUCKETS[0]:g} … {SECONDS_BUCKETS[-1]:g}" in readme
    assert f"buckets {PHASE_BUCKETS[0]:g} … {PHASE_BUCKETS[-1]:g}" in readme
    deploy = (ROOT / "deploy" / "README.md").read_text()
    assert f"{SECONDS_BUCKETS[0] * 1000:g} ms to {SECONDS_BUCKETS[-1]:g} s for call duration" in deploy


def test_the_readme_reference_list_names_every_page_of_docs() -> None:
    reference = (ROOT / "README.md").read_text().split("## Reference", 1)[1].split("\n## ", 1)[0]
    pages = sorted(page.name for page in (ROOT / "docs").glob("*.md"))
    assert [name for name in pages if f"](docs/{name})" not in reference] == []
