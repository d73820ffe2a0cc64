"""No door passes actor=None: `actor=None` means the system (accounts.permissions), so only
tasks, management commands, seeds, migrations and other services may pass it.

A static check (ast): every module where a request is served (views, API views, admin, forms:
`views*.py`, `api*.py`, `admin*.py`, `forms*.py` in the domain apps and lending's areas) is
parsed, and the test fails, listing file:line, on
- any call with the keyword `actor=None` (or `**{"actor": None}`);
- any call of a write service (a public function of a `services` module with an `actor`
  parameter) that names no actor at all, so it would fall back to a default of None or be
  called positionally without one.
The check reads the source, so a door added tomorrow is checked without being listed here.

The other side of the rule, also read from the source: every public write service (a public
function of a services module taking an `actor`) checks the actor's permission, by calling
`require_permission`, `require_investor_or_permission`, lending's `require_owner_or_perm`, or a
service that does; or is named `*_in_transaction` (it composes in a caller's transaction and
trusts that caller, a service that checked its own permission: the rule each services module's
docstring states); or is in TRUSTED below with the reason it needs no check."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("accounts", "custody", "compliance", "lending", "reports")
#: Where a request is served.
DOOR = re.compile(r"^(views|api|admin|forms|serializers)([_a-z0-9]*)\.py$")


def _modules(matches) -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and matches(path)
    )


def door_modules() -> list[Path]:
    return _modules(lambda path: DOOR.match(path.name))


def _is_service_module(path: Path) -> bool:
    return path.name == "services.py" or path.parent.name == "services"


@cache
def write_services() -> frozenset[str]:
    """Names of the public functions of every services module that take an `actor`."""
    names = set()
    for path in _modules(_is_service_module):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                arguments = node.args.args + node.args.kwonlyargs
                if any(a.arg == "actor" for a in arguments):
                    names.add(node.name)
    return frozenset(names)


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def offending_calls(source: str, services: frozenset[str]) -> list[tuple[int, str]]:
    """(line, what) for each call passing actor=None, and each write-service call without an
    actor keyword (a `**kwargs` of unknown content counts as naming it)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        names_actor = False
        for keyword in node.keywords:
            if keyword.arg == "actor":
                names_actor = True
                if _is_none(keyword.value):
                    found.append((node.lineno, "actor=None"))
            elif keyword.arg is None:  # **mapping
                names_actor = True
                if isinstance(keyword.value, ast.Dict):
                    for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                        if (
                            isinstance(key, ast.Constant)
                            and key.value == "actor"
                            and _is_none(value)
                        ):
                            found.append((node.lineno, "**{'actor': None}"))
        name = _called_name(node)
        if name in services and not names_actor:
            found.append((node.lineno, f"{name}() without actor="))
    return found


def test_the_check_finds_each_kind_of_offence():
    services = frozenset({"order_place"})
    source = (
        "f(actor=None)\n"
        "services.order_place(actor=request.user)\n"
        "h(**{'actor': None})\n"
        "services.order_place(credit_account=a)\n"
        "k(x=None)\n"
        "order_place(**kwargs)\n"
    )
    assert offending_calls(source, services) == [
        (1, "actor=None"),
        (3, "**{'actor': None}"),
        (4, "order_place() without actor="),
    ]


def test_the_doors_and_the_services_are_found():
    doors = {path.relative_to(ROOT).as_posix() for path in door_modules()}
    assert {
        "accounts/views.py",
        "custody/admin.py",
        "custody/views.py",
        "compliance/api.py",
        "lending/orders/api.py",
        "lending/credit/forms.py",
        "reports/views.py",
    } <= doors
    assert {
        "order_place",
        "entry_reverse",
        "statement_import",
        "client_deposit_post",
        "reconciliation_external_run",
        "disclosure_acknowledge",
    } <= write_services()


def test_no_door_passes_actor_none_or_leaves_the_actor_out():
    services = write_services()
    offenders = [
        f"{path.relative_to(ROOT).as_posix()}:{line} {what}"
        for path in door_modules()
        for line, what in offending_calls(path.read_text(encoding="utf-8"), services)
    ]
    assert offenders == [], (
        "actor=None means the system: a view, API view, form or admin action passes "
        "request.user (the signed-in user) to every write service. Offending calls:\n  "
        + "\n  ".join(offenders)
    )


# --------------------------------------------------------------------------- every service checks

CHECKS = frozenset(
    {"require_permission", "require_investor_or_permission", "require_owner_or_perm"}
)

_MARGIN_ENGINE = (
    "the margin engine applies a valuation computed from prices (no one chooses the outcome): "
    "called by tasks (mark-to-market, revaluation, escalation) and by services that checked "
    "their own permission (liquidation, maturity)"
)
_REFUSAL = "records a refused attempt as a red flag: whoever asks is refused and recorded alike"
_FIRST_USE = (
    "opens the standard, empty ledger account a checked posting needs on first use (no money moves)"
)

#: "path:function": why the service checks no permission itself.
TRUSTED = {
    "accounts/services.py:api_token_issue": "its own check: a token is issued only to its user",
    "compliance/services.py:red_flag_raise": _REFUSAL,
    "compliance/services.py:refuse_and_record": _REFUSAL,
    "compliance/services.py:sub_account_refuse": _REFUSAL,
    "compliance/services.py:third_party_authority_refuse": _REFUSAL,
    "compliance/services.py:deposit_hold": (
        "called only inside lending's bank-credit service (lending.add_bankcredit), in its "
        "transaction"
    ),
    "custody/services/ledger.py:ledger_account_get_or_create": _FIRST_USE,
    "custody/services/ledger.py:house_account": _FIRST_USE,
    "custody/services/ledger.py:client_account": _FIRST_USE,
    "lending/financing/services.py:financing_stop_evaluate": (
        "the float stop re-evaluated under the instrument's lock by the fill and repayment "
        "services that moved the financing"
    ),
    "lending/liquidation/services.py:plans_reject_for_cured_calls": (
        "a cured call's plans rejected by the margin engine (a hook of calls being cured)"
    ),
    "lending/margin_calls/services.py:event_build": "builds an unsaved event for its caller",
    "lending/margin_calls/services.py:state_change": _MARGIN_ENGINE,
    "lending/margin_calls/services.py:state_set": _MARGIN_ENGINE,
    "lending/margin_calls/services.py:margin_state_apply": _MARGIN_ENGINE,
    "lending/margin_calls/services.py:margin_states_apply_many": _MARGIN_ENGINE,
    "lending/margin_calls/services.py:account_revalue": _MARGIN_ENGINE,
    "lending/margin_calls/services.py:calls_escalate_overdue": _MARGIN_ENGINE,
    "lending/margin_calls/services.py:notice_acknowledge": (
        "its own check: only the investor the notice was sent to (not_your_notice)"
    ),
}


def _calls(function: ast.FunctionDef) -> set[str]:
    return {
        name
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        if (name := _called_name(node))
    }


def unchecked_services() -> dict[str, int]:
    """{"path:function": line} of public services taking an actor that reach no check."""
    functions: dict[str, list[tuple[str, ast.FunctionDef]]] = defaultdict(list)
    for path in _modules(_is_service_module):
        where = path.relative_to(ROOT).as_posix()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name].append((where, node))
    # a function checks when it calls a check, or a function (of any services module) that
    # checks wherever it is defined (the names are unique enough across services modules)
    checking = set(CHECKS)
    grew = True
    while grew:
        grew = False
        for name, defined in functions.items():
            if name not in checking and all(_calls(f) & checking for _, f in defined):
                checking.add(name)
                grew = True
    found = {}
    for name, defined in functions.items():
        for where, function in defined:
            arguments = function.args.args + function.args.kwonlyargs
            if name.startswith("_") or not any(a.arg == "actor" for a in arguments):
                continue
            if name.endswith("_in_transaction") or _calls(function) & checking:
                continue
            found[f"{where}:{name}"] = function.lineno
    return found


def test_every_write_service_checks_the_actor_or_says_why_not():
    unchecked = unchecked_services()
    missing = [
        f"{key} (line {line})" for key, line in sorted(unchecked.items()) if key not in TRUSTED
    ]
    assert missing == [], (
        "a write service taking an actor checks its permission (accounts.permissions."
        "require_permission) or is listed in TRUSTED with the reason it needs none:\n  "
        + "\n  ".join(missing)
    )
    stale = sorted(set(TRUSTED) - set(unchecked))
    assert stale == [], f"TRUSTED lists services that now check, or no longer exist: {stale}"


def test_the_custody_services_the_issue_named_check_now():
    """The issue: "Custody services check no permission." Each top-level custody write."""
    unchecked = unchecked_services()
    for name in (
        "client.py:client_deposit_post",
        "client.py:client_withdrawal_post",
        "ledger.py:entry_post",
        "ledger.py:entries_post",
        "ledger.py:entry_reverse",
        "ledger.py:ledger_account_set_external_ref",
        "reconciliation.py:client_money_requirement_compute",
        "reconciliation.py:reconciliation_external_run",
        "reserves.py:reserve_fund_use",
        "reserves.py:reserve_target_set",
    ):
        assert f"custody/services/{name}" not in unchecked


PERMISSION = re.compile(r"^(accounts|custody|compliance|lending|reports)\.([a-z_]+)$")


@pytest.mark.django_db
def test_every_permission_a_service_names_exists():
    """A misspelt permission would refuse everyone but the system: every "app.codename"
    string of the services modules is a permission in the database."""
    from django.contrib.auth.models import Permission

    named = {
        (match.group(1), match.group(2), f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
        for path in _modules(_is_service_module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (match := PERMISSION.match(node.value))
    }
    assert len(named) > 50
    existing = set(Permission.objects.values_list("content_type__app_label", "codename"))
    missing = sorted(
        f"{where} {app}.{codename}"
        for app, codename, where in named
        if (app, codename) not in existing
    )
    assert missing == [], f"permissions named by services that do not exist: {missing}"
