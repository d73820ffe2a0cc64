"""Reports fixtures: real services, real WeasyPrint, real poppler (pdftotext, pdffonts)."""

import subprocess
from pathlib import Path

import pytest

from accounts.roles import Role


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def officers(make_user):
    """Two compliance officers: one prepares, the other approves (four-eyes). Both signed in
    with their second factor, which approving and submitting a filing need."""
    from tests.compliance.fixtures import second_factor

    team = make_user(Role.COMPLIANCE), make_user(Role.COMPLIANCE)
    for officer in team:
        second_factor(officer)
    return team


def pdf_text(path: str | Path, *, layout: bool = True) -> str:
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(path), "-"]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def pdf_fonts(path: str | Path) -> str:
    return subprocess.run(
        ["pdffonts", str(path)], check=True, capture_output=True, text=True
    ).stdout


def numbers(text: str) -> list[str]:
    """Every figure in the text with thousands separators removed."""
    import re

    return [m.replace(",", "") for m in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)]
