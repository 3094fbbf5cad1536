"""What the wheel and sdist carry besides the code, checked from pyproject.toml (building them
needs setuptools >= 77 from PyPI, which the tests do not fetch)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_the_declared_license_ships_its_text() -> None:
    """Apache-2.0 requires its text to go with every copy: setuptools puts the files named by
    ``license-files`` in the wheel (``.dist-info/licenses``) and the sdist."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    patterns = project.get("license-files", ["LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*"])
    found = sorted({path.name for pattern in patterns for path in ROOT.glob(pattern)})
    assert found, f"no file matches license-files {patterns}"
    text = "\n".join((ROOT / name).read_text() for name in found)
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_demo_extra_is_what_the_demo_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each distribution of the ``demo`` extra provides a module the demo imports (with OTLP
    export on), and each such module comes from one of them."""
    from botocore_otel import demo

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    modules = set(demo.required_modules())
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["demo"]
    provided: dict[str, set[str]] = {}
    for requirement in extra:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        files = [str(path) for path in metadata.distribution(name).files or ()]
        provided[name] = {m for m in modules if any(f.startswith(m.replace(".", "/") + "/") for f in files)}
    unused = sorted(name for name, found in provided.items() if not found)
    assert not unused, f"the demo extra installs {unused}, which the demo never imports"
    assert modules == set().union(*provided.values())
