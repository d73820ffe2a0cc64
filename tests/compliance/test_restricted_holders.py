"""Issue 18 item 5, compliance's side: an investor declares at onboarding that they hold no
restricted position (director, supervisor, senior manager, 5%+ holder of a listed company),
or lists them, and keeps the list current (adds, ends); compliance records and ends them from
filings on the investor file; every change keeps who, when and why. The selector lending asks
at every order and transfer in answers by day."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.errors import Conflict, PermissionDenied, RuleViolation, ValidationFailed
from accounts.roles import Role
from compliance import selectors, services
from compliance.models import RestrictedDeclaration, RestrictedHolding
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db

URL = "/portal/compliance/restricted-holdings/"


def test_onboarding_declaration_then_a_new_role_kept_current_on_the_portal(make_investor, client):
    investor = make_investor()
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(investor.user)
    page = client.get(URL, HTTP_USER_AGENT="pytest-browser")
    assert page.status_code == 200
    assert "I hold no such position" in page.content.decode()
    # at onboarding: "I hold no such position", kept with the time, IP and user agent
    response = client.post(URL, {"action": "declare_none"}, HTTP_USER_AGENT="pytest-browser")
    assert response.status_code == 302
    first = RestrictedDeclaration.objects.get(investor=investor)
    assert first.holds_none and first.holdings == []
    assert "not a director, supervisor or senior manager" in first.statement
    assert (first.ip_address, first.user_agent) == ("127.0.0.1", "pytest-browser")
    assert first.declared_by == investor.user

    # later appointed supervisor of 浦发银行 (SSE:600000): added, lower-case code accepted
    response = client.post(
        URL,
        {
            "action": "add", "add-security": "sse:600000", "add-company_name": "浦发银行",
            "add-role": "supervisor", "add-since": "2026-06-30",
        },
    )  # fmt: skip
    assert response.status_code == 302
    holding = RestrictedHolding.objects.get(investor=investor)
    assert (holding.security, holding.role, holding.source) == (
        "SSE:600000",
        "supervisor",
        "investor",
    )
    assert holding.history.first().history_user == investor.user
    # "no position" can no longer be declared while one is on file
    refused = client.post(URL, {"action": "declare_none"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400 and "1 position(s) are on file" in refused.content.decode()
    assert client.post(URL, {"action": "declare_list"}).status_code == 302
    latest = selectors.restricted_declaration_latest(investor)
    assert not latest.holds_none
    assert latest.holdings == [
        {"security": "SSE:600000", "company_name": "浦发银行", "role": "supervisor",
         "since": "2026-06-30"}
    ]  # fmt: skip

    # in force from `since`, until the day before `ended_on`
    assert (
        selectors.restricted_holding_in_force(investor.pk, "SSE:600000", on=date(2026, 6, 29))
        is None
    )
    assert (
        selectors.restricted_holding_in_force(investor.pk, "SSE:600000", on=date(2026, 6, 30))
        == holding
    )
    assert (
        selectors.restricted_holding_in_force(investor.pk, "SZSE:000001", on=date(2026, 7, 1))
        is None
    )
    response = client.post(
        URL, {"action": "end", "end-holding": holding.pk, "end-ended_on": "2026-11-30"}
    )
    assert response.status_code == 302
    holding.refresh_from_db()
    assert holding.ended_on == date(2026, 11, 30) and holding.ended_by == investor.user
    assert (
        selectors.restricted_holding_in_force(investor.pk, "SSE:600000", on=date(2026, 11, 29))
        == holding
    )
    assert (
        selectors.restricted_holding_in_force(investor.pk, "SSE:600000", on=date(2026, 11, 30))
        is None
    )
    # the history keeps both versions (declared, then ended)
    assert [h.ended_on for h in holding.history.order_by("history_id")] == [
        None,
        date(2026, 11, 30),
    ]


def test_bad_input_names_the_field_and_writes_nothing(make_investor):
    investor = make_investor()
    actor = investor.user
    cases = [
        ({"security": "600000"}, "security"),
        ({"security": "SSE 600000"}, "security"),
        ({"company_name": " "}, "company_name"),
        ({"role": "chairman"}, "role"),
    ]
    for override, field in cases:
        data = {"security": "SSE:600000", "company_name": "浦发银行", "role": "director",
                "since": date(2025, 1, 1), **override}  # fmt: skip
        with pytest.raises(ValidationFailed) as error:
            services.restricted_holding_add(investor=investor, actor=actor, **data)
        assert error.value.message.startswith(f"{field}:")
    assert not RestrictedHolding.objects.exists()
    holding = services.restricted_holding_add(
        investor=investor, security="SSE:600000", company_name="浦发银行", role="director",
        since=date(2025, 1, 1), actor=actor,
    )  # fmt: skip
    with pytest.raises(Conflict):
        services.restricted_holding_add(
            investor=investor, security="SSE:600000", company_name="浦发银行", role="director",
            since=date(2025, 6, 1), actor=actor,
        )  # fmt: skip
    with pytest.raises(ValidationFailed, match="ended_on: must be after 2025-01-01"):
        services.restricted_holding_end(holding=holding, ended_on=date(2025, 1, 1), actor=actor)
    # the database keeps the same rules
    with pytest.raises(IntegrityError), transaction.atomic():
        RestrictedHolding.objects.filter(pk=holding.pk).update(security="bad code")
    with pytest.raises(IntegrityError), transaction.atomic():
        RestrictedHolding.objects.filter(pk=holding.pk).update(ended_on=date(2024, 1, 1))
    # declaring a list with nothing on file is refused as well
    other = make_investor()
    with pytest.raises(ValidationFailed, match="holds_none"):
        services.restricted_declaration_record(investor=other, holds_none=False, actor=other.user)


def test_compliance_records_and_ends_roles_on_the_investor_file(make_investor, make_user, client):
    investor = make_investor()
    officer = make_user(Role.COMPLIANCE)
    url = f"/staff/compliance/investors/{investor.pk}/"
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login_verified(client, officer)
    form = {
        "action": "holding_add", "holding_add-security": "SZSE:000001",
        "holding_add-company_name": "平安银行", "holding_add-role": "major_holder",
        "holding_add-since": "2025-03-01",
    }  # fmt: skip
    # a staff record needs its evidence
    missing = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")
    assert missing.status_code == 400 and "reason: a reason is required" in missing.content.decode()
    assert not RestrictedHolding.objects.exists()
    done = client.post(url, {**form, "holding_add-reason": "shareholder filing 2025-03-03: 6.1%"})
    assert done.status_code == 302
    holding = RestrictedHolding.objects.get()
    assert (holding.source, holding.declared_by) == ("staff", officer)
    page = client.get(url).content.decode()
    assert "SZSE:000001" in page and "平安银行" in page
    # the investor may not end a role compliance recorded
    with pytest.raises(RuleViolation, match="compliance recorded this role"):
        services.restricted_holding_end(
            holding=holding, ended_on=date(2026, 1, 1), actor=investor.user
        )
    done = client.post(
        url,
        {"action": "holding_end", "holding_end-holding": holding.pk,
         "holding_end-ended_on": "2026-01-01", "holding_end-reason": "filing: below 5%"},
    )  # fmt: skip
    assert done.status_code == 302
    holding.refresh_from_db()
    assert holding.ended_on == date(2026, 1, 1) and holding.ended_by == officer
    # operations read the file but may not record roles (403 before anything is written)
    ops = make_user(Role.OPERATIONS)
    login_verified(client, ops)
    assert client.post(url, {**form, "holding_add-reason": "x"}).status_code == 403
    with pytest.raises(PermissionDenied):
        services.restricted_holding_add(
            investor=investor, security="SSE:600000", company_name="浦发银行",
            role="director", since=date(2025, 1, 1), actor=ops, reason="x",
        )  # fmt: skip
    # another investor may not declare for this one
    stranger = make_investor()
    with pytest.raises(PermissionDenied):
        services.restricted_declaration_record(
            investor=investor, holds_none=True, actor=stranger.user
        )
    assert RestrictedHolding.objects.count() == 1


def test_the_api_for_the_investor_and_for_compliance(make_investor, make_user):
    investor = make_investor()
    api = APIClient()
    api.force_authenticate(investor.user)
    made = api.post(
        "/api/v1/compliance/restricted-holdings/",
        {"security": "SSE:601318", "company_name": "中国平安", "role": "senior_manager",
         "since": "2024-05-01"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["security"] == "SSE:601318" and made.json()["source"] == "investor"
    bad = api.post(
        "/api/v1/compliance/restricted-holdings/",
        {
            "security": "601318",
            "company_name": "中国平安",
            "role": "director",
            "since": "2024-05-01",
        },
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["message"].startswith("security:")
    declared = api.post(
        "/api/v1/compliance/restricted-declarations/", {"holds_none": False}, format="json"
    )
    assert declared.status_code == 201
    listed = api.get("/api/v1/compliance/restricted-holdings/").json()
    assert [h["role"] for h in listed] == ["senior_manager"]
    ended = api.post(
        "/api/v1/compliance/restricted-holdings/end/",
        {"holding": made.json()["id"], "ended_on": "2026-01-31"},
        format="json",
    )
    assert ended.status_code == 200 and ended.json()["ended_on"] == "2026-01-31"
    # another investor cannot see or end it: 404
    other = APIClient()
    other.force_authenticate(make_investor().user)
    gone = other.post(
        "/api/v1/compliance/restricted-holdings/end/",
        {"holding": made.json()["id"], "ended_on": "2026-02-01"},
        format="json",
    )
    assert gone.status_code == 404
    # compliance reads the investor's roles and records one
    officer = make_user(Role.COMPLIANCE)
    second_factor(officer)
    staff_api = APIClient()
    staff_api.force_authenticate(officer)
    url = f"/api/v1/compliance/investors/{investor.pk}/restricted-holdings/"
    assert len(staff_api.get(url).json()) == 1
    recorded = staff_api.post(
        url,
        {"security": "SSE:601318", "company_name": "中国平安", "role": "director",
         "since": "2026-02-01", "reason": "board announcement 2026-02-01"},
        format="json",
    )  # fmt: skip
    assert recorded.status_code == 201 and recorded.json()["source"] == "staff"
