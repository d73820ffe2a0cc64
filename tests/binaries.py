"""Programs some tests run themselves (initdb, pg_ctl and redis-server for the fault tests,
Chromium for the browser tests): found, or the test does not run. On a developer's machine it
is skipped; in CI (CI=true, which CI sets) it fails, so a CI image that lacks a program cannot
pass by skipping the tests that need it (.ci/run installs them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    """CI=true (also 1 or yes, any case): the environment CI runs the tests in."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def find_binary(name_or_path: str | os.PathLike) -> str | None:
    """The executable `name_or_path` names: a path (anything with a directory part) that is an
    executable file, else a command found on PATH; None when there is none."""
    text = os.fspath(name_or_path)
    if os.sep in text:
        path = Path(text)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(text)


def need_binary(name_or_path: str | os.PathLike, why: str) -> str:
    """The path of the executable `name_or_path`, which the calling test or fixture needs for
    `why`. Missing: pytest.fail under CI=true, pytest.skip elsewhere; either way the message
    names it."""
    found = find_binary(name_or_path)
    if found:
        return found
    message = f"{os.fspath(name_or_path)} not found: needed for {why}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing program fails the test)", pytrace=False)
    pytest.skip(message)
