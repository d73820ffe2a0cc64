from decimal import Decimal

import pytest

from custody import services
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

URL = "/api/v1/ledger/trial-balance/"


def test_trial_balance_api_for_custody_viewers(funded_investor, make_user, client):
    funded_investor("250.00")
    client.force_login(make_user("auditor"))
    body = client.get(URL).json()
    assert body["balanced"] is True
    assert body["totals"] == [{"unit": "CNY", "debit": "250.0000", "credit": "250.0000"}]
    assert {row["purpose_key"].split(":")[-2] for row in body["rows"]} == {
        "client_bank",
        "client_money",
    }


def test_trial_balance_api_refuses_investors_and_anonymous(make_investor, client):
    assert client.get(URL).status_code in (401, 403)
    client.force_login(make_investor().user)
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["code"]


def test_admin_lists_accounts_entries_and_reverses_through_the_service(
    funded_investor, treasury, client
):
    funded_investor("100.00")
    login_verified(client, treasury)  # the reversal is a write: second factor
    for page in ("ledgeraccount", "journalentry", "reconciliation", "creditfacility"):
        assert client.get(f"/admin/custody/{page}/").status_code == 200
    from custody.models import JournalEntry

    entry = JournalEntry.objects.get()
    assert client.get(f"/admin/custody/journalentry/{entry.pk}/change/").status_code == 200
    response = client.post(
        "/admin/custody/journalentry/",
        {"action": "reverse_entries", "_selected_action": [entry.pk]},
    )
    assert response.status_code == 302
    reversal = JournalEntry.objects.get(reversal_of=entry)
    assert reversal.actor == treasury
    account = services.house_account("client_bank", "CNY")
    assert account.balance_row.balance == Decimal("0")
