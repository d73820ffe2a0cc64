"""Issue 10: every staff write needs a verified second factor, on every surface a person writes
through (accounts.second_factor.write_needs_second_factor).

1. Staff console pages: every write of every staff page, for every action its view tells
   apart, by every staff role (and a superuser) that HOLDS the permission but whose session is
   not verified, is sent (303) to the code prompt (or to enrolment without an authenticator)
   before the view runs, with no row inserted, updated or deleted.
2. The Django admin: every registered model's add page and changelist (where actions run),
   and a change form, likewise.
3. The API: every write route, by an unverified staff session and by a staff token, answers
   403 second_factor_required touching nothing; every API view carries the permission; reads
   stay open; a verified session writes.
4. One representative write per role succeeds once verified (risk: a haircut change;
   compliance: a calendar year; treasury: a ledger reversal in the admin).
5. The market-data feed (not staff) posts prices with its token.

Routes are enumerated from the URL resolver and the admin registry (tests/test_access_matrix.py
supplies the walk, the well-formed bodies and the row counter), so a new write is covered
automatically. `pytest -s` prints the counts docs/RELIABILITY.md quotes.
"""

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.roles import Role
from tests import test_access_matrix as matrix
from tests.second_factor import login_verified, second_factor
from tests.support.tokens import token_client
from tests.test_access_matrix import (
    EXEMPT_WRITES,
    OWNED,
    WRITE_BODIES,
    WRITE_METHODS,
    methods,
    routes,
    row_writes,
    staff_pk,
    staff_write_routes,
    touched,
    url_for,
)

# the access matrix's fixtures: `world` (investor A's objects, a call, a plan, a filing...) and
# one user per role
world = matrix.world
role_users = matrix.role_users

pytestmark = pytest.mark.django_db

VERIFY = "/accounts/2fa/verify/"
SETUP = "/accounts/2fa/setup/"


def prompt_for(user, url: str) -> str:
    """Where a refused page write sends `user`: the code prompt (or enrolment), back to url."""
    from accounts.second_factor import confirmed_device

    target = VERIFY if confirmed_device(user) is not None else SETUP
    return f"{target}?next={quote(url, safe='')}"


@pytest.fixture
def unverified_staff(role_users, make_user):
    """Every staff role's user (signed in with the password only) and a superuser; the
    treasury user of role_users has no authenticator, so enrolment is tried too."""
    from accounts.models import User

    users = {role: user for role, user in role_users.items() if user.is_staff}
    users["superuser"] = User.objects.create_superuser(
        "root@test.margindesk.local", "correct-horse-42"
    )
    second_factor(users["superuser"])
    return users


def test_every_staff_page_write_needs_the_second_factor_even_with_the_permission(
    world, unverified_staff, client
):
    failures = []
    checked = 0
    views: set[str] = set()
    prompts: set[str] = set()
    roles: set[str] = set()
    for route, name, view, method in staff_write_routes():
        url = url_for(route, staff_pk(name, world))
        for action in view.write_actions():
            needed = view.write_permissions_for(action)
            body = {"reason": "second factor", "decision": "approve"}
            if action is not None:
                body[view.write_action_field] = action
            for role, user in unverified_staff.items():
                if not user.has_perms(needed):
                    continue  # the access matrix tries those: 403
                client.force_login(user)  # the password only
                before = row_writes()
                response = getattr(client, method)(url, body)
                changed = touched(before)
                checked += 1
                views.add(name)
                roles.add(role)
                expected = prompt_for(user, url)
                prompts.add(expected.split("?")[0])
                if (response.status_code, response.get("Location")) != (303, expected) or changed:
                    failures.append(
                        f"{method.upper()} {url} ({name}, {action or 'default'}) as unverified "
                        f"{role} holding {', '.join(needed)}: {response.status_code} "
                        f"{response.get('Location')}" + (f", touched {changed}" if changed else "")
                    )
    every_view = {name for _r, name, _v, _m in staff_write_routes()}
    print(
        f"\nsecond factor, staff pages: {checked} refused writes, {len(views)} write views, "
        f"roles {sorted(roles)}"
    )
    assert not failures, "\n".join(failures)
    assert views == every_view, every_view - views  # each write view tried with its holder
    assert {"risk", "compliance", "treasury", "operations", "superuser"} <= roles
    assert prompts == {VERIFY, SETUP}
    assert checked > 40


def test_the_refusal_explains_itself_in_both_languages(staff, client):
    client.force_login(staff["risk"])
    for language, text in (
        ("en", "This action needs the code from your authenticator app"),
        ("zh-CN", "此操作需要验证器应用中的验证码"),
    ):
        response = client.post(
            "/staff/lending/mtm-runs/", follow=True, HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.redirect_chain == [(f"{VERIFY}?next=%2Fstaff%2Flending%2Fmtm-runs%2F", 303)]
        assert text in response.content.decode(), language


def test_the_prompt_returns_to_the_page_the_form_was_on(staff, client):
    """A form posted from one page to another URL (a decision) comes back to its page."""
    client.force_login(staff["compliance"])
    response = client.post(
        "/staff/compliance/professional-requests/1/decide/",
        {"decision": "approve", "reason": "x"},
        HTTP_REFERER="http://testserver/staff/compliance/professional-requests/",
    )
    assert response["Location"] == f"{VERIFY}?next=%2Fstaff%2Fcompliance%2Fprofessional-requests%2F"
    # a foreign Referer is ignored: back to the URL the form was sent to
    response = client.post(
        "/staff/compliance/calendar/", {}, HTTP_REFERER="https://evil.example/staff/"
    )
    assert response["Location"] == f"{VERIFY}?next=%2Fstaff%2Fcompliance%2Fcalendar%2F"


def test_reading_signing_out_and_switching_language_need_no_second_factor(staff, client):
    client.force_login(staff["risk"])
    for url in ("/staff/", "/staff/lending/mtm-runs/", "/admin/", "/api/v1/mtm-runs/"):
        assert client.get(url).status_code == 200, url
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/staff/"})
    assert (switched.status_code, switched["Location"]) == (302, "/staff/")
    assert client.get(VERIFY).status_code == 200  # the prompt itself
    signed_out = client.post("/accounts/logout/")
    assert signed_out.status_code == 302
    assert client.get("/staff/").status_code == 302  # signed out: to the sign-in page


def _admin_write_urls() -> list[str]:
    urls = []
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


def test_every_admin_write_needs_the_second_factor(world, unverified_staff, make_investor, client):
    superuser = unverified_staff["superuser"]
    client.force_login(superuser)
    failures = []
    urls = _admin_write_urls()
    for url in urls:
        before = row_writes()
        response = client.post(url, {"action": "delete_selected", "_selected_action": [1]})
        changed = touched(before)
        if (response.status_code, response.get("Location")) != (
            303,
            prompt_for(superuser, url),
        ) or changed:
            failures.append(f"POST {url}: {response.status_code} {changed or ''}")
    # a change form, by operations, who may change investor profiles
    profile = make_investor(phone="+86 100")
    ops = unverified_staff["operations"]
    assert ops.has_perm("accounts.change_investorprofile")
    client.force_login(ops)
    change = f"/admin/accounts/investorprofile/{profile.pk}/change/"
    before = row_writes()
    response = client.post(change, {"phone": "+86 200", "change_reason": "x"})
    assert (response.status_code, response["Location"]) == (303, prompt_for(ops, change))
    assert not touched(before)
    profile.refresh_from_db()
    assert profile.phone == "+86 100"
    print(f"\nsecond factor, admin: {len(urls) + 1} refused writes ({len(urls) // 2} models)")
    assert not failures, "\n".join(failures)
    assert len(urls) > 40


def _api_write_routes():
    for route, name, view in routes():
        if route.startswith("api/"):
            for method in methods(view):
                if method in WRITE_METHODS and name not in EXEMPT_WRITES:
                    yield route, name, method


def test_every_api_view_carries_the_second_factor_permission():
    from accounts.api_permissions import SecondFactorForStaffWrites

    missing = [
        name
        for _route, name, view in routes()
        if name.startswith("v1:") and SecondFactorForStaffWrites not in view.permission_classes
    ]
    assert not missing, missing


def test_every_api_write_refuses_an_unverified_staff_session_and_a_staff_token(
    world, unverified_staff, client
):
    superuser = unverified_staff["superuser"]
    token = token_client(superuser)  # issued without an authenticator code
    client.force_login(superuser)
    failures = []
    checked = 0
    for route, name, method in _api_write_routes():
        pk = world[OWNED[name]] if name in OWNED else staff_pk(name, world)
        url = url_for(route, pk)
        for who, api in (("session", client), ("token", token)):
            before = row_writes()
            response = getattr(api, method)(
                url,
                WRITE_BODIES.get(name, {}),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"2fa-{name}",
            )
            # a token's use is recorded on its own row (last_used_at); nothing else may change
            changed = [t for t in touched(before) if t != "accounts_apitoken" or who != "token"]
            checked += 1
            body = response.json()
            if (
                response.status_code != 403
                or body["code"] != "second_factor_required"
                or body["extra"] != {"action": f"{method.upper()} {url}"}
                or changed
            ):
                failures.append(f"{method.upper()} {url} ({name}) by {who}: {body} {changed}")
            elif who == "token" and "without an authenticator code" not in body["message"]:
                failures.append(f"{url}: the token refusal does not say why: {body['message']}")
    # the open endpoints stay open for an unverified staff session
    assert (
        client.post(
            "/api/v1/simulator/leverage/",
            {"own_capital": "100", "leverage": "2"},
            "application/json",
        ).status_code
        == 200
    )
    print(f"\nsecond factor, API: {checked} refused writes (session and token)")
    assert not failures, "\n".join(failures)
    assert checked > 40


def test_api_reads_stay_open_and_a_verified_session_writes(staff, client):
    from lending.models import MtmRun

    risk = staff["risk"]
    token = token_client(risk)  # issued without an authenticator code
    url = reverse("v1:lending-mtm-run-list")
    client.force_login(risk)  # password only
    for api in (client, token):
        assert api.get(url).status_code == 200
        refused = api.post(url, {}, content_type="application/json")
        assert refused.status_code == 403
        assert refused.json()["code"] == "second_factor_required"
        assert refused.json()["message"].startswith("POST /api/v1/mtm-runs/ needs a confirmed")
    assert not MtmRun.objects.exists()
    login_verified(client, risk)
    started = client.post(url, {}, content_type="application/json")
    assert started.status_code == 202, started.content
    assert MtmRun.objects.filter(pk=started.json()["id"]).exists()


def test_risk_changes_a_haircut_once_verified(staff, book_instruments, client):
    from lending.models import Instrument

    instrument = book_instruments["SSE:600519"]
    url = reverse("staff:lending-instrument-edit", args=[instrument.pk])
    body = {"haircut": "0.5000", "collateral_eligible": "on", "reason": "volatility review"}
    client.force_login(staff["risk"])
    before = row_writes()
    assert client.post(url, body).status_code == 303
    assert not touched(before)
    login_verified(client, staff["risk"])
    response = client.post(url, body)
    assert (response.status_code, response["Location"]) == (302, url)
    instrument = Instrument.objects.get(pk=instrument.pk)
    assert str(instrument.haircut) == "0.5000"
    assert instrument.history.first().history_user == staff["risk"]


def test_compliance_proposes_a_calendar_year_once_verified(staff, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from compliance.models import CalendarYearProposal

    def body():
        return {
            "action": "propose", "year": "2027", "source": "SSE notice",
            "holidays": "2027-01-01 New Year\n",
            "document": SimpleUploadedFile("notice.txt", b"SSE notice"),
        }  # fmt: skip

    client.force_login(staff["compliance"])
    assert client.post("/staff/compliance/calendar/", body()).status_code == 303
    assert not CalendarYearProposal.objects.exists()
    login_verified(client, staff["compliance"])
    assert client.post("/staff/compliance/calendar/", body()).status_code == 302
    proposal = CalendarYearProposal.objects.get(year=2027)
    assert proposal.history.first().history_user == staff["compliance"]


def test_treasury_reverses_a_posting_in_the_admin_once_verified(make_user, client):
    from decimal import Decimal

    from custody import services
    from custody.models import JournalEntry

    treasury = make_user(Role.TREASURY)
    entry = services.house_capital_contribute(
        amount=Decimal("100"), currency="CNY", actor=None, reason="capital", idempotency_key="c-1"
    )
    action = {"action": "reverse_entries", "_selected_action": [entry.pk]}
    client.force_login(treasury)  # no authenticator yet: sent to enrol
    response = client.post("/admin/custody/journalentry/", action)
    assert response.status_code == 303 and response["Location"].startswith(SETUP)
    assert not JournalEntry.objects.filter(reversal_of=entry).exists()
    login_verified(client, treasury)
    assert client.post("/admin/custody/journalentry/", action).status_code == 302
    assert JournalEntry.objects.get(reversal_of=entry).actor == treasury


def test_the_price_feed_posts_prices_with_its_token_and_does_nothing_else(
    book_instruments, make_user, client
):
    from lending.models import PriceTick

    feed = make_user(Role.PRICE_FEED)
    api = token_client(feed)
    response = api.post("/api/v1/prices/", WRITE_BODIES["v1:lending-prices"], format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 1, "ignored": 0}
    assert PriceTick.objects.filter(source="api", price="99.00").exists()
    refused = api.post("/api/v1/mtm-runs/", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    client.force_login(feed)
    assert client.get("/staff/").status_code == 403
