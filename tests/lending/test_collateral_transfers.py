"""Collateral transfer in (担保品划转) on the custodian's confirmation: prepared by operations,
approved by a second person (never the preparer) who books the shares, each confirmation
booked once; the investor sees the shares and the transfer on the account page."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.errors import Conflict, RuleViolation
from custody.selectors import trial_balance
from lending.financing import transfers
from lending.financing.models import CollateralTransferIn
from lending.financing.valuation import account_view
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def test_a_transfer_is_booked_on_a_second_persons_approval(
    make_credit_account, book_instruments, staff, client
):
    account = make_credit_account()
    url = "/staff/lending/collateral-transfers/"
    login_verified(client, staff["ops"])
    form = {
        "action": "prepare", "account_number": account.account_number,
        "instrument": "SSE:600519", "quantity": "1000", "confirmation_reference": "CSDC-77",
        "reason": "client moved shares in",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    again = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 400 and "CSDC-77 was already used" in again.content.decode()
    transfer = CollateralTransferIn.objects.get()
    assert account_view(account).position("SSE:600519") is None  # nothing booked yet
    # operations may not approve (403 on the page); the preparer never may (four eyes)
    assert client.post(url, {"action": "approve", "transfer": transfer.pk}).status_code == 403
    transfer.prepared_by = staff["risk"]
    CollateralTransferIn.objects.filter(pk=transfer.pk).update(prepared_by=staff["risk"])
    with pytest.raises(RuleViolation, match="four eyes"):
        transfers.collateral_transfer_decide(transfer=transfer, approve=True, actor=staff["risk"])
    with pytest.raises(IntegrityError), transaction.atomic():
        CollateralTransferIn.objects.filter(pk=transfer.pk).update(decided_by=staff["risk"])
    login_verified(client, staff["risk2"])
    assert client.post(url, {"action": "approve", "transfer": transfer.pk}).status_code == 302
    position = account_view(account).position("SSE:600519")
    assert position.quantity == Decimal("1000") and trial_balance().balanced
    with pytest.raises(Conflict):
        transfers.collateral_transfer_decide(transfer=transfer, approve=True, actor=staff["risk2"])
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/account/").content.decode()
    assert "CSDC-77" in page


def test_the_api_prepares_and_rejects(make_credit_account, book_instruments, staff):
    account = make_credit_account()
    api = APIClient()
    api.force_authenticate(staff["ops"])
    body = {
        "account_number": account.account_number, "instrument": "SZSE:000001",
        "quantity": "500", "confirmation_reference": "CSDC-88", "reason": "in",
    }  # fmt: skip
    made = api.post("/api/v1/collateral-transfers/", body, format="json")
    assert made.status_code == 201, made.content
    bad = api.post(
        "/api/v1/collateral-transfers/", {**body, "quantity": "1.5", "confirmation_reference": "X"},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["message"].startswith("quantity")
    api.force_authenticate(staff["risk"])
    decision = f"/api/v1/collateral-transfers/{made.json()['id']}/decision/"
    no_reason = api.post(decision, {"approve": False}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["message"].startswith("reason")
    rejected = api.post(
        decision, {"approve": False, "reason": "no such confirmation"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert account_view(account).position("SZSE:000001") is None


def test_the_custodians_confirmation_file_prepares_transfers_all_or_nothing(
    make_credit_account, book_instruments, staff, client
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    account = make_credit_account()
    header = "account_number,instrument,quantity,confirmation_reference\n"
    number = account.account_number
    good = f"{number},SSE:600519,1000,F-1\n{number},SZSE:000001,500,F-2\n"
    url = "/staff/lending/collateral-transfers/"
    login_verified(client, staff["ops"])

    def upload(text: str):
        file = SimpleUploadedFile("c.csv", text.encode())
        return client.post(url, {"action": "upload", "reason": "daily file", "file": file})

    bad = upload(header + good + f"{number},SSE:999999,100,F-3\n")
    assert bad.status_code == 400 and "(line 4)" in bad.content.decode()
    assert not CollateralTransferIn.objects.exists()
    done = upload(header + good)
    assert done.status_code == 302
    assert sorted(CollateralTransferIn.objects.values_list("confirmation_reference", "status")) == [
        ("F-1", "prepared"), ("F-2", "prepared"),
    ]  # fmt: skip
