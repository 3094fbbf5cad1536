"""What the wheel and sdist carry besides the code, checked from pyproject.toml (building them
needs setuptools >= 77 from PyPI, which the tests do not fetch)."""

from __future__ import annotations

from pathlib import Path

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
