"""The one permission check (accounts.permissions.require_permission) and its one meaning for
actor=None: the system (Celery tasks, commands, data migrations, seeds), always allowed. So
no view, API view, form or admin action may ever pass actor=None: they pass request.user."""

import ast
import re
from pathlib import Path

import pytest

from accounts.errors import PermissionDenied
from accounts.permissions import require_permission
from accounts.roles import Role

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "custody", "compliance", "lending", "reports")
#: The rooms where a request is served: views*.py, api*.py, admin*.py, forms*.py.
ROOM = re.compile(r"^(views|api|admin|forms)[^/]*\.py$")

PERM = "reports.approve_filing"


@pytest.mark.django_db
def test_the_system_is_allowed():
    require_permission(None, PERM, action="approve a filing")
    require_permission(None, PERM)


@pytest.mark.django_db
def test_a_user_without_the_permission_is_refused_naming_it(make_user):
    auditor = make_user(Role.AUDITOR)
    with pytest.raises(PermissionDenied) as refused:
        require_permission(auditor, PERM, action="approve a filing")
    assert refused.value.code == "permission_denied"
    assert refused.value.status_code == 403
    assert refused.value.extra == {"permission": PERM}
    assert PERM in refused.value.message and "approve a filing" in refused.value.message


@pytest.mark.django_db
def test_an_inactive_user_is_refused_even_with_the_permission(make_user):
    officer = make_user(Role.COMPLIANCE)
    require_permission(officer, PERM)
    officer.is_active = False
    officer.save(update_fields=["is_active"])
    with pytest.raises(PermissionDenied) as refused:
        require_permission(officer, PERM, action="approve a filing")
    assert refused.value.code == "permission_denied"
    assert refused.value.extra == {"permission": PERM}
    assert "inactive" in refused.value.message and PERM in refused.value.message


@pytest.mark.django_db
def test_an_anonymous_user_is_refused():
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        require_permission(AnonymousUser(), PERM)


@pytest.mark.django_db
def test_a_user_with_the_permission_is_allowed(make_user):
    require_permission(make_user(Role.COMPLIANCE), PERM, action="approve a filing")


@pytest.mark.django_db
def test_owner_or_perm_is_built_on_the_helper(make_user, make_investor):
    from lending.credit.models import CreditAccount
    from lending.credit.permissions import require_owner_or_perm

    owner, other = make_investor(), make_investor()
    account = CreditAccount(investor=owner, account_number="CA-T", account_name="t")
    perm = "lending.add_financing"
    require_owner_or_perm(None, account, perm)  # the system
    require_owner_or_perm(owner.user, account, perm)  # the investor on their own account
    require_owner_or_perm(make_user(Role.RISK), account, perm)  # staff holding perm
    for refused_actor in (other.user, make_user(Role.AUDITOR)):
        with pytest.raises(PermissionDenied) as refused:
            require_owner_or_perm(refused_actor, account, perm)
        assert refused.value.code == "permission_denied"
        assert refused.value.extra == {"permission": perm}
    owner.user.is_active = False
    with pytest.raises(PermissionDenied, match="inactive"):
        require_owner_or_perm(owner.user, account, perm)


# --------------------------------------------------------------------------- static check


def _room_modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if ROOM.match(path.name) and "migrations" not in path.parts
    )


def _actor_none_calls(source: str) -> list[int]:
    """Lines of calls passing actor=None literally (a keyword, or `**{"actor": None}`)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "actor" and isinstance(value, ast.Constant) and value.value is None:
                lines.append(node.lineno)
            if keyword.arg is None and isinstance(value, ast.Dict):
                for key, item in zip(value.keys, value.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "actor"
                        and isinstance(item, ast.Constant)
                        and item.value is None
                    ):
                        lines.append(node.lineno)
    return lines


def test_the_static_check_finds_actor_none():
    source = "f(actor=None)\ng(actor=request.user)\nh(**{'actor': None})\nk(x=None)\n"
    assert _actor_none_calls(source) == [1, 3]


def test_no_view_api_admin_or_form_passes_actor_none():
    modules = _room_modules()
    names = {path.relative_to(ROOT).as_posix() for path in modules}
    assert {"accounts/views.py", "reports/api.py", "lending/credit/forms.py"} <= names
    offenders = [
        f"{path.relative_to(ROOT).as_posix()}:{line}"
        for path in modules
        for line in _actor_none_calls(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], (
        "actor=None means the system; a view, API view, form or admin action passes "
        f"request.user: {offenders}"
    )
