import pytest
from django.contrib.auth.models import Group

from accounts.roles import ROLE_GRANTS, STAFF_ROLES, TOKEN_ONLY_ROLES, Role
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def test_every_role_exists_as_a_group_and_nobody_may_delete():
    groups = {g.name: g for g in Group.objects.prefetch_related("permissions")}
    assert set(groups) >= set(Role.values)
    for group in groups.values():
        assert not any(p.codename.startswith("delete_") for p in group.permissions.all())


def test_roles_sync_is_idempotent():
    from django.contrib.auth.models import Permission

    from accounts.roles import sync_roles

    before = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    sync_roles(Group, Permission)
    sync_roles(Group, Permission)
    after = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    assert before == after
    assert Group.objects.filter(name__in=Role.values).count() == len(Role)


def test_auditor_sees_everything_and_can_change_nothing(make_user):
    auditor = make_user(Role.AUDITOR)
    perms = auditor.get_all_permissions()
    assert "accounts.view_investorprofile" in perms
    assert "accounts.view_historicalinvestorprofile" in perms
    assert not [p for p in perms if not p.split(".")[1].startswith("view_")]


def test_investor_has_no_staff_permission(make_user):
    investor = make_user(Role.INVESTOR)
    assert not investor.is_staff
    assert investor.get_all_permissions() == set()
    assert ROLE_GRANTS[Role.INVESTOR] == []


def test_operations_can_onboard_investors_but_not_approve_credit(make_user):
    ops = make_user(Role.OPERATIONS)
    assert ops.has_perm("accounts.add_investorprofile")
    assert ops.has_perm("accounts.change_investorprofile")
    assert not ops.has_perm("accounts.delete_investorprofile")


def test_investor_cannot_open_the_staff_admin(client, make_user):
    investor = make_user(Role.INVESTOR)
    client.force_login(investor)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert client.get("/staff/").status_code == 403


def test_auditor_opens_admin_read_only(client, make_user, make_investor):
    profile = make_investor()
    auditor = make_user(Role.AUDITOR)
    login_verified(client, auditor)  # so the refusal below is the permission's, not the 2FA's
    assert client.get("/admin/accounts/investorprofile/").status_code == 200
    change_url = f"/admin/accounts/investorprofile/{profile.pk}/change/"
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # view-only form
    response = client.post(change_url, {"real_name": "changed", "change_reason": "x"})
    assert response.status_code == 403
    profile.refresh_from_db()
    assert profile.real_name != "changed"
    assert client.get("/admin/accounts/investorprofile/add/").status_code == 403
    assert client.get(f"/admin/accounts/investorprofile/{profile.pk}/history/").status_code == 200


def test_every_demo_role_can_sign_in(client, make_user):
    for role in set(Role) - TOKEN_ONLY_ROLES:
        user = make_user(role.value)
        response = client.post(
            "/accounts/login/", {"username": user.email, "password": "correct-horse-42"}
        )
        assert response.status_code == 302, role
        landing = client.get(response["Location"], follow=True)
        assert landing.status_code == 200
        expected = "/staff/" if role in STAFF_ROLES else "/portal/"
        assert landing.redirect_chain[-1][0] == expected
        client.logout()


def test_only_treasury_reverses_ledger_entries_and_only_compliance_submits_filings(make_user):
    treasury, ops = make_user(Role.TREASURY), make_user(Role.OPERATIONS)
    compliance = make_user(Role.COMPLIANCE)
    assert treasury.has_perm("custody.reverse_journalentry")
    assert not ops.has_perm("custody.reverse_journalentry")
    assert compliance.has_perm("reports.submit_filing")
    assert not treasury.has_perm("reports.submit_filing")
    assert not make_user(Role.AUDITOR).has_perm("reports.submit_filing")


def test_the_price_feed_may_add_prices_and_nothing_else_and_is_not_staff(make_user):
    """A machine (market data) posting prices with its token: not a person, so not staff and
    outside the staff second-factor rule; it may add price ticks and nothing else."""
    feed = make_user(Role.PRICE_FEED)
    assert not feed.is_staff
    assert feed.get_all_permissions() == {"lending.add_pricetick"}
    assert Role.PRICE_FEED not in STAFF_ROLES and Role.RISK in STAFF_ROLES


def test_the_price_feed_cannot_sign_in_to_the_web_pages_even_with_its_password(client, make_user):
    """A machine account posts prices with its token; its password (if one was ever set) opens
    no web page: the sign-in form refuses it and no session is made."""
    feed = make_user(Role.PRICE_FEED)
    response = client.post(
        "/accounts/login/", {"username": feed.email, "password": "correct-horse-42"}
    )
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors().as_data()
    assert error.code == "token_only"
    assert "这是机器账户" in response.content.decode()  # the desk's default language
    assert "_auth_user_id" not in client.session
    assert client.get("/portal/").status_code == 302  # still sent to sign in
