"""Portal, staff review queue and API for credit applications."""

from decimal import Decimal

import pytest

from lending.models import CreditApplication
from tests.compliance.fixtures import login_verified

pytestmark = pytest.mark.django_db


def test_investor_applies_staff_prepare_and_approve_in_pages(
    client, make_investor, make_eligible, staff
):
    investor = make_eligible(make_investor())
    client.force_login(investor.user)
    assert client.get("/portal/lending/applications/").status_code == 200
    response = client.post(
        "/portal/lending/applications/",
        {"requested_limit": "800000", "requested_term_months": "6", "purpose": "A-shares"},
    )
    assert response.status_code == 302
    application = CreditApplication.objects.get(investor=investor)

    login_verified(client, staff["ops"])
    queue = client.get("/staff/lending/applications/").content.decode()
    assert investor.real_name in queue
    response = client.post(
        f"/staff/lending/applications/{application.pk}/",
        {
            "step": "prepare",
            "credit_grade": "A",
            "collateral_liquidity": "medium",
            "proposed_limit": "800000",
            "proposed_term_months": "6",
            "note": "checked",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    # the maker's page offers no decision form
    page = client.get(f"/staff/lending/applications/{application.pk}/").content.decode()
    assert 'name="decision"' not in page

    login_verified(client, staff["risk"])
    response = client.post(
        f"/staff/lending/applications/{application.pk}/",
        {"step": "decide", "decision": "approve", "reason": "meets policy"},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    application.refresh_from_db()
    assert application.status == "approved"
    contract = application.signed_contract
    assert contract.annual_interest_rate == Decimal("0.065")

    client.force_login(investor.user)
    page = client.get("/portal/lending/applications/").content.decode()
    assert contract.contract_number in page


def test_reject_without_reason_is_refused_in_the_page(client, make_investor, make_eligible, staff):
    from lending.credit import services as credit

    investor = make_eligible(make_investor())
    application = credit.credit_application_submit(
        investor=investor, requested_limit="500000", requested_term_months=3, actor=None
    )
    credit.credit_application_prepare(
        application=application,
        actor=staff["ops"],
        credit_grade="C",
        collateral_liquidity="low",
        proposed_limit="500000",
        proposed_term_months=3,
        note="n",
    )
    login_verified(client, staff["compliance"])
    response = client.post(
        f"/staff/lending/applications/{application.pk}/",
        {"step": "decide", "decision": "reject", "reason": ""},
    )
    assert response.status_code == 400
    application.refresh_from_db()
    assert application.status == "prepared"


def test_api_other_investor_gets_404_and_money_is_a_decimal_string(
    client, make_investor, make_eligible, staff
):
    alice = make_eligible(make_investor())
    bob = make_investor()
    client.force_login(alice.user)
    created = client.post(
        "/api/v1/lending/applications/",
        {"requested_limit": "1200000.00", "requested_term_months": 6},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["requested_limit"] == "1200000.00"
    pk = created.json()["id"]
    too_long = client.post(
        "/api/v1/lending/applications/",
        {"requested_limit": "1", "requested_term_months": 9},
        content_type="application/json",
    )
    assert too_long.status_code in (400, 409)

    client.force_login(bob.user)
    assert client.get(f"/api/v1/lending/applications/{pk}/").status_code == 404
    assert client.get("/api/v1/lending/applications/").json()["count"] == 0

    # staff decide through the API; the maker cannot be the checker
    login_verified(client, staff["ops"])
    prepared = client.post(
        f"/api/v1/lending/applications/{pk}/prepare/",
        {
            "credit_grade": "B",
            "collateral_liquidity": "high",
            "proposed_limit": "1200000.00",
            "proposed_term_months": 6,
            "note": "ok",
        },
        content_type="application/json",
    )
    assert prepared.status_code == 200, prepared.json()
    refused = client.post(
        f"/api/v1/lending/applications/{pk}/approve/",
        {"reason": "x"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    login_verified(client, staff["risk"])
    approved = client.post(
        f"/api/v1/lending/applications/{pk}/approve/",
        {"reason": "policy"},
        content_type="application/json",
    )
    assert approved.status_code == 200, approved.json()
    body = approved.json()
    assert body["credit_limit"] == "1200000.00" and body["financing_margin_ratio"] == "1.000000"
    client.force_login(alice.user)
    contracts = client.get("/api/v1/lending/contracts/").json()
    assert contracts["count"] == 1
    client.force_login(bob.user)
    assert client.get(f"/api/v1/lending/contracts/{body['id']}/").status_code == 404


def test_held_deposit_page_returns_money_and_confirms_the_flag(client, make_investor, staff):
    from compliance.models import HeldDeposit
    from lending.credit import services as credit

    investor = make_investor()
    held = credit.client_deposit_receive(
        investor=investor,
        amount="1000",
        currency="CNY",
        bank_account="6200000000000009999",
        reference="r",
        idempotency_key="web-1",
        actor=None,
    )
    login_verified(client, staff["compliance"])
    page = client.get("/staff/lending/held-deposits/").content.decode()
    assert "9999" in page and "6200000000000009999" not in page
    client.post(
        "/staff/lending/held-deposits/",
        {"deposit": held.pk, "action": "return", "reason": "third-party money"},
    )
    held = HeldDeposit.objects.get(pk=held.pk)
    assert held.status == "returned" and held.red_flag.status == "confirmed"
