"""Optional test dependencies: a missing one fails the run under ``CI=true`` (CI must prove
what it claims) and skips locally, saying how to install it."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

INSTALL_TEST_EXTRAS = "pip install -e '.[test,aio]' (or `make .venv/.installed-stamp`)"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str, install: str) -> NoReturn:
    message = f"{what} is not installed; install it with: {install}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing test dependency fails the run)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_module(name: str, install: str = INSTALL_TEST_EXTRAS) -> ModuleType:
    """``importlib.import_module(name)``, or :func:`missing` when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing(f"{name} ({error})", install)
