"""The architecture contracts (pyproject.toml, [tool.importlinter]) hold on this tree, and each
kind of forbidden import breaks them: `make test` runs `lint-imports`, so such a change cannot
land. The forbidden imports are written into a copy of the packages, never into the tree."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "custody", "compliance", "lending", "reports", "config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("custody/selectors.py", "from lending.credit import models", "Apps: accounts <- custody"),
        ("compliance/selectors.py", "import reports.kinds", "Nothing imports reports"),
        ("lending/domain/margin.py", "import django.db", "lending.domain is pure"),
        (
            "lending/credit/selectors.py",
            "from lending.financing import valuation",
            "Lending's areas depend in one direction",
        ),
        (
            "lending/financing/services.py",
            "from lending import models",
            "Lending's areas never import lending's aggregators",
        ),
        (
            "lending/mtm/services.py",
            "from lending.orders import fix_session",
            "Only lending.orders talks to the FIX session",
        ),
        (
            "lending/liquidation/services.py",
            "from lending.orders import engine",
            "Only lending.orders talks to the FIX session",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree_copy, module, line, contract):
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")

    done = lint_imports(tree_copy)

    assert done.returncode != 0
    # "<contract> BROKEN", or "<contract> BROKEN (1 ignored import)"
    broken = [row for row in done.stdout.splitlines() if " BROKEN" in row]
    # one forbidden import may also open indirect chains another contract forbids
    assert any(row.startswith(contract) for row in broken), done.stdout
