"""Issue 19 item 3: every admin action needs a permission of its own, and no role runs one it
lacks that permission for (the read-only auditor runs none).

The actions are enumerated from the admin registry (admin.site._registry, site-wide actions
such as Django's delete_selected included), so a new action is covered automatically: it must
be declared with accounts.admin_mixins.action_needs (GuardedActionsMixin refuses the class
otherwise), and then it is tried here as every role. For each action and role:
* the changelist offers it only to a role holding its permission;
* a role without it POSTing the action on real rows is refused and no row of a domain table
  is inserted, updated or deleted (tests/test_access_matrix.row_writes);
* a role holding it runs it and rows change (so the refusal above is not vacuous).
"""

from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.utils import timezone

from accounts.roles import STAFF_ROLES, Role
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db


def row_writes() -> dict[str, int]:
    """Rows inserted, updated or deleted so far in this test's transaction, per table (every
    table but the sessions': signing in writes one); PostgreSQL counts an UPDATE too."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
            " WHERE relname <> 'django_session'"
        )
        return dict(cursor.fetchall())


def touched(before: dict[str, int]) -> list[str]:
    return sorted(t for t, n in row_writes().items() if n != before.get(t, 0))


def admin_actions():
    """(model, model admin, action name, function) for every action of every registered
    model admin."""
    for model, model_admin in admin.site._registry.items():
        for func, name, _description in model_admin._get_base_actions():
            yield model, model_admin, name, func


def required_permission(model, func) -> str | None:
    if func is delete_selected:
        return f"{model._meta.app_label}.{get_permission_codename('delete', model._meta)}"
    return getattr(func, "required_permission", None)


def offered(model_admin, user) -> set[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(model_admin.get_actions(request))


@pytest.fixture
def roles(make_user):
    """One user per role (a new role is tried automatically); staff enrolled in the second
    factor, so a refusal is the permission's and not the missing code's."""
    users = {role.value: make_user(role) for role in Role}
    for role, user in users.items():
        if role in STAFF_ROLES:
            second_factor(user)
    return users


@pytest.fixture
def rows(make_user):
    """A row for each model with actions: a journal entry, a bank statement whose
    reconciliation has an open 0.01 break, an API token."""
    from accounts import services as accounts_services
    from custody import services

    services.house_capital_contribute(
        amount=Decimal("100"), currency="CNY", actor=None, reason="capital", idempotency_key="a-1"
    )
    bank = services.house_account("client_bank", "CNY")
    services.ledger_account_set_external_ref(
        account=bank, external_ref="ICBC-0001", actor=None, reason="bank mapping"
    )
    statement = services.statement_import(
        source="bank",
        institution="ICBC",
        # the client bank account holds 0.00 in the ledger: the statement's 0.01 is a break
        content="statement_date,account_number,currency,closing_balance\n"
        f"{timezone.localdate()},ICBC-0001,CNY,0.01\n",
        file_name="icbc.csv",
        actor=None,
    )
    services.reconciliation_external_run(statement=statement, actor=None)
    investor = make_user(Role.INVESTOR)
    accounts_services.api_token_issue(user=investor, name="phone", actor=investor)
    AccessAttempt.objects.create(
        username="someone@example.com", ip_address="203.0.113.7", user_agent="test",
        http_accept="*/*", path_info="/accounts/login/", failures_since_start=1,
    )  # fmt: skip


def test_every_admin_action_names_a_permission_of_its_own_that_a_role_holds(db):
    from django.contrib.auth.models import Group, Permission

    existing = {
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    granted = {
        f"{app}.{code}"
        for app, code in Group.objects.values_list(
            "permissions__content_type__app_label", "permissions__codename"
        )
    }
    failures = []
    custom = 0
    for model, _model_admin, name, func in admin_actions():
        permission = required_permission(model, func)
        label = f"{model._meta.label}: {name}"
        if permission is None:
            failures.append(f"{label} names no permission (accounts.admin_mixins.action_needs)")
        elif permission.split(".")[1].startswith("view_"):
            failures.append(f"{label} needs only {permission}, which the auditor holds")
        elif permission not in existing:
            failures.append(f"{label}: no permission {permission}")
        elif ".delete_" in permission:  # records are corrected, never removed: superusers
            if permission in granted:
                failures.append(f"{label}: a role may delete ({permission})")
        else:
            custom += 1
            if permission not in granted:
                failures.append(f"{label}: no role holds {permission}")
    assert not failures, "\n".join(failures)
    assert custom >= 4  # reverse entries, reconcile, resolve breaks, revoke tokens


def test_an_action_without_its_own_permission_is_refused_when_declared():
    from accounts.admin_mixins import GuardedActionsMixin

    with pytest.raises(ImproperlyConfigured, match="must name its permission"):

        class Careless(GuardedActionsMixin, admin.ModelAdmin):
            actions = ["go"]

            @admin.action(description="go")
            def go(self, request, queryset):
                pass  # pragma: no cover


def test_the_changelist_offers_each_action_only_to_roles_holding_its_permission(roles):
    failures = []
    checked = 0
    for model, model_admin, name, func in admin_actions():
        permission = required_permission(model, func)
        for role, user in roles.items():
            checked += 1
            if (name in offered(model_admin, user)) != user.has_perm(permission):
                failures.append(f"{model._meta.label}: {name} as {role} ({permission})")
    assert not failures, "\n".join(failures)
    # the read-only auditor is offered no action anywhere
    auditor = roles[Role.AUDITOR]
    assert not [m for m, a in admin.site._registry.items() if offered(a, auditor)]
    print(f"\nadmin actions: {checked} (action, role) pairs offered only with the permission")
    assert checked > 100


def test_no_role_runs_an_admin_action_without_its_permission(roles, rows, client):
    from django.urls import reverse

    from accounts.models import ApiToken
    from custody.models import JournalEntry, Reconciliation

    failures = []
    refused = 0
    holders: dict[tuple, str] = {}
    actioned = [
        (model, model_admin, name, func)
        for model, model_admin, name, func in admin_actions()
        if func is not delete_selected or model in (JournalEntry, ApiToken, AccessAttempt)
    ]
    for model, _model_admin, name, func in actioned:
        pks = list(model.objects.values_list("pk", flat=True)[:1])
        assert pks, f"{model._meta.label}: the `rows` fixture must make a row for {name}"
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        body = {"action": name, "_selected_action": pks, "index": "0"}
        permission = required_permission(model, func)
        for role, user in roles.items():
            if user.has_perm(permission):
                holders.setdefault((model, name, url), role)
                continue
            if user.is_staff:
                login_verified(client, user)
            else:
                client.force_login(user)
            before = row_writes()
            response = client.post(url, body)
            changed = touched(before)
            refused += 1
            # refused: the changelist again (200, no action of theirs), a redirect (302:
            # "no action selected", or to sign in) or 403; and nothing written
            if response.status_code not in (200, 302, 403) or changed:
                failures.append(
                    f"{model._meta.label}: {name} as {role} without {permission}: "
                    f"{response.status_code}, touched {changed}"
                )
    assert not failures, "\n".join(failures)
    # a holder's POST of the same body runs the action: rows change
    assert {name for (_m, name, _u) in holders} == {
        "reverse_entries", "reconcile", "resolve_breaks", "revoke_tokens",
    }  # fmt: skip
    for (model, name, url), role in holders.items():
        pks = list(model.objects.values_list("pk", flat=True)[:1])
        login_verified(client, roles[role])
        before = row_writes()
        client.post(url, {"action": name, "_selected_action": pks, "index": "0"})
        assert touched(before), f"{model._meta.label}: {name} by {role} changed nothing"
    assert JournalEntry.objects.filter(reversal_of__isnull=False).exists()
    assert Reconciliation.objects.filter(status="resolved").exists()
    assert not ApiToken.objects.filter(revoked_at=None).exists()
    print(f"\nadmin actions: {refused} refused runs, {len(holders)} runs by a holder")
