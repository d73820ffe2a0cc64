"""Every public service function has a production caller: a page, an API view, a task, an
admin action, a management command (the demo seed included), a hook registered at start-up,
or another service that is itself reached. A service nothing reaches is not a feature: this
test lists them, apart from NO_DOOR below, each with its reason.

Reachability is by name over the production code (no tests, no benchmarks): the doors'
modules and every module's top-level statements (registrations) are the roots; a reached name
reaches the names in its definition (functions and classes, any module), to a fixed point.
"""

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "custody", "compliance", "lending", "reports", "config")
DOOR_FILES = {
    "views.py", "api.py", "admin.py", "tasks.py", "apps.py", "demo.py", "urls.py", "settings.py",
    "celery.py",
}  # fmt: skip

#: Public services with no production caller, and why that is acceptable for now.
NO_DOOR = {
    "accounts/services.py:user_set_role": "roles are granted at sign-up and by the seeds; staff "
    "change a user's groups in the admin's user form (to move onto this service: issue 19)",
    "custody/services/client.py:client_withdrawal_post": "the durable form of "
    "client_withdrawal_post_in_transaction, which lending's withdrawals compose; custody's "
    "ledger-rule tests call it",
    "custody/services/ledger.py:entries_post": "the durable form of "
    "entries_post_in_transaction (interest accrual composes that one); the ledger tests call it",
    "custody/services/reserves.py:reserve_fund_use": "the durable form of "
    "reserve_fund_use_in_transaction, which the liquidation's default composes",
    "lending/credit/services.py:client_deposit_receive": "the durable form of "
    "client_deposit_receive_in_transaction, which the bank statement's credit lines compose",
    "lending/credit/services.py:credit_account_open": "accounts are opened by the approval of "
    "a first application; this explicit open (with its refusals) has no door yet",
    "lending/liquidation/services.py:default_recovery_record": "no door yet: money recovered "
    "after a default should come in as a bank credit line and be recorded from it",
}


def _names(node) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _is_service_module(path: Path, root: Path) -> bool:
    return path.name == "services.py" or "services" in path.relative_to(root).parts[:-1]


def _is_door(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return (
        path.name in DOOR_FILES
        or "commands" in parts
        or (parts[0] == "lending" and "demo" in parts)
    )


def unreached_services(root: Path = ROOT) -> list[str]:
    files = [p for app in APPS for p in (root / app).rglob("*.py") if "migrations" not in p.parts]
    definitions: dict[str, list] = {}
    services: list[str] = []
    roots: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                definitions.setdefault(node.name, []).append(node)
                if _is_door(path, root):
                    roots |= _names(node)
                if (
                    _is_service_module(path, root)
                    and isinstance(node, ast.FunctionDef)
                    and not node.name.startswith("_")
                ):
                    services.append(f"{path.relative_to(root)}:{node.name}")
            else:
                roots |= _names(node)  # registrations, hook lists, constants
    reached, todo = set(roots), list(roots)
    while todo:
        for node in definitions.get(todo.pop(), []):
            for name in _names(node) - reached:
                reached.add(name)
                todo.append(name)
    return sorted(s for s in services if s.rsplit(":", 1)[1] not in reached)


def test_every_public_service_has_a_production_caller():
    unreached = unreached_services()
    missing = sorted(set(unreached) - set(NO_DOOR))
    assert not missing, (
        "public services nothing in production reaches (give each a door, or list it in "
        f"NO_DOOR with the reason): {missing}"
    )
    stale = sorted(set(NO_DOOR) - set(unreached))
    assert not stale, f"listed in NO_DOOR but now reached (remove them): {stale}"


def test_the_check_sees_a_service_without_a_door(tmp_path):
    """The probe itself, on a copy of the tree: a new public service nothing calls is
    reported, and so is one whose only caller is removed."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "lending" / "financing" / "services.py"
    target.write_text(target.read_text() + "\n\ndef orphan_for_the_test(*, actor):\n    return 1\n")
    assert "lending/financing/services.py:orphan_for_the_test" in unreached_services(tmp_path)
    for door in tmp_path.rglob("*.py"):
        if door.name != "services.py" and "repayment_post(" in door.read_text():
            door.write_text(door.read_text().replace("repayment_post(", "repayment_post_gone("))
    assert "lending/financing/services.py:repayment_post" in unreached_services(tmp_path)
