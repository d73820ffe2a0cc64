"""Direct cash repayment (直接还款) has its doors: the investor repays on the portal account
page and through the API (interest first, then the oldest financing), staff on the investor's
written instruction (its reference required); the debt the investor sees falls by the amount."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from custody.selectors import trial_balance
from lending.financing.valuation import account_view

pytestmark = pytest.mark.django_db


def test_the_investor_repays_on_the_account_page_and_sees_the_debt_fall(funded_account, client):
    account = funded_account()
    assert account_view(account).financing_debt == Decimal("300000.00")
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/account/").content.decode()
    assert 'name="action" value="repay"' in page
    form = {"action": "repay", "amount": "50000.00", "reason": "", "idempotency_key": "k-1"}
    assert client.post("/portal/lending/account/", form).status_code == 302
    assert client.post("/portal/lending/account/", form).status_code == 302  # double submit
    view = account_view(account)
    assert view.financing_debt == Decimal("250000.00") and view.cash == Decimal("750000.00")
    refused = client.post(
        "/portal/lending/account/",
        {"action": "repay", "amount": "900000.00", "reason": "", "idempotency_key": "k-2"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 400 and "more than is owed" in refused.content.decode()
    assert account_view(account).financing_debt == Decimal("250000.00")
    assert trial_balance().balanced


def test_the_api_repays_for_the_investor_and_staff_need_the_written_instruction(
    funded_account, staff
):
    account = funded_account()
    url = f"/api/v1/credit-accounts/{account.pk}/repayments/"
    api = APIClient()
    api.force_authenticate(account.investor.user)
    answer = api.post(url, {"amount": "1000.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert answer.status_code == 201, answer.content
    assert answer.json() == {
        "interest_repaid": "0.00", "principal_repaid": "1000.00", "total": "1000.00"
    }  # fmt: skip
    api.force_authenticate(staff["risk"])
    no_reason = api.post(url, {"amount": "1000.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r-2")
    assert no_reason.status_code == 400 and no_reason.json()["message"].startswith("reason:")
    done = api.post(
        url,
        {"amount": "1000.00", "reason": "written instruction 2026-12-05 #17"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-3",
    )
    assert done.status_code == 201
    api.force_authenticate(staff["auditor"])
    assert (
        api.post(
            url, {"amount": "1.00", "reason": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="r-4"
        ).status_code
        == 403
    )
    assert account_view(account).financing_debt == Decimal("298000.00")


def test_operations_repay_on_the_investors_written_instruction(funded_account, staff, client):
    from tests.second_factor import login_verified

    account = funded_account()
    url = "/staff/lending/repayments/"
    login_verified(client, staff["auditor"])
    form = {"account_number": account.account_number, "amount": "20000.00",
            "reason": "letter 2026-12-05 #3", "idempotency_key": "s-1"}  # fmt: skip
    assert client.post(url, form).status_code == 403
    login_verified(client, staff["ops"])
    assert client.post(url, {**form, "reason": ""}).status_code == 400
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302  # the same form twice: booked once
    assert account_view(account).financing_debt == Decimal("280000.00")
