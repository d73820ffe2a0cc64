"""Money in through its doors: the client omnibus account's credit lines, imported as CSV by
staff or posted by the bank feed's token, each booked once per bank line id. A credit from the
investor's bank account of record is credited; from another account it is held with a red flag
(returnable); a reference naming no investor is never credited and goes back to the sender."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from compliance.models import HeldDeposit, RedFlag
from custody.models import JournalEntry
from custody.selectors import trial_balance
from lending.financing.models import BankCredit
from lending.financing.valuation import account_view
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db

HEADER = "line_id,value_date,amount,currency,payer_name,payer_account,reference\n"


def _csv(*lines: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("icbc-credits.csv", (HEADER + "".join(lines)).encode())


@pytest.fixture
def account(make_credit_account):
    return make_credit_account()


def test_a_statement_imported_twice_books_each_line_once(account, make_user, client):
    treasury = make_user(Role.TREASURY)
    second_factor(treasury)
    login_verified(client, treasury)
    today = timezone.localdate().isoformat()
    number, bank = account.account_number, account.investor._test_bank_account
    statement = (
        f"L-1,{today},10000.00,CNY,Zhang San,{bank},deposit {number}\n",
        f"L-2,{today},500.00,CNY,Li Si,6222999988887777,for {number}\n",
        f"L-3,{today},42.00,CNY,Wang Wu,6222111122223333,no reference\n",
    )
    url = "/staff/lending/bank-credits/"
    assert client.post(url, {"action": "import", "file": _csv(*statement)}).status_code == 302
    entries = JournalEntry.objects.count()
    assert client.post(url, {"action": "import", "file": _csv(*statement)}).status_code == 302
    assert JournalEntry.objects.count() == entries  # nothing booked twice
    statuses = dict(BankCredit.objects.values_list("bank_line_id", "status"))
    assert statuses == {"L-1": "credited", "L-2": "held", "L-3": "unmatched"}
    assert account_view(account).cash == Decimal("10000.00")
    held = HeldDeposit.objects.get(investor=account.investor)
    assert held.amount == Decimal("500.00") and held.red_flag.kind == "third_party_deposit"
    assert RedFlag.objects.filter(kind="unmatched_deposit", investor=None).count() == 1
    assert trial_balance().balanced
    # a bad line refuses the whole file, naming the field and the line
    bad = client.post(
        url,
        {"action": "import",
         "file": _csv(f"L-4,{today},1.00,CNY,A,1,{number}\n", f"L-5,{today},abc,CNY,B,1,x\n")},
    )  # fmt: skip
    assert bad.status_code == 400 and "amount (line 2)" in bad.content.decode()
    assert not BankCredit.objects.filter(bank_line_id="L-4").exists()


def test_compliance_returns_an_unmatched_credit(account, staff, make_user, client):
    feed = make_user(Role.BANK_FEED)
    api = APIClient()
    api.force_authenticate(feed)
    today = timezone.localdate().isoformat()
    line = {
        "line_id": "F-1", "value_date": today, "amount": "42.00", "currency": "CNY",
        "payer_name": "Wang Wu", "payer_account": "6222111122223333", "reference": "gift",
    }  # fmt: skip
    answer = api.post("/api/v1/bank-credits/", {"lines": [line]}, format="json")
    assert answer.status_code == 201 and answer.json()["unmatched"] == 1
    again = api.post("/api/v1/bank-credits/", {"lines": [line]}, format="json")
    assert again.json()["already_booked"] == 1
    changed = api.post(
        "/api/v1/bank-credits/", {"lines": [{**line, "amount": "43.00"}]}, format="json"
    )
    assert changed.status_code == 409 and changed.json()["message"].startswith("line_id:")
    credit = BankCredit.objects.get(bank_line_id="F-1")
    login_verified(client, staff["ops"])  # operations may not return money
    url = "/staff/lending/bank-credits/"
    refused = client.post(url, {"action": "return", "credit": credit.pk, "reason": "x"})
    assert refused.status_code == 403
    login_verified(client, staff["compliance"])
    done = client.post(url, {"action": "return", "credit": credit.pk, "reason": "unknown payer"})
    assert done.status_code == 302
    credit.refresh_from_db()
    assert credit.status == "returned" and credit.red_flag.status == "confirmed"


def test_the_bank_feed_token_may_post_credits_and_nothing_else(account, make_user):
    feed = make_user(Role.BANK_FEED)
    api = APIClient()
    api.force_authenticate(feed)
    assert api.get(f"/api/v1/credit-accounts/{account.pk}/").status_code == 404
    assert api.post("/api/v1/bank-credits/", {"lines": "x"}, format="json").status_code == 400
    investor_api = APIClient()
    investor_api.force_authenticate(account.investor.user)
    line = {
        "line_id": "X-1", "value_date": timezone.localdate().isoformat(), "amount": "1.00",
        "currency": "CNY", "payer_name": "me", "payer_account": "1", "reference": "x",
    }  # fmt: skip
    refused = investor_api.post("/api/v1/bank-credits/", {"lines": [line]}, format="json")
    assert refused.status_code == 403 and not BankCredit.objects.exists()


def test_the_margin_call_page_shows_the_money_received_since_the_call(
    funded_account, staff, client
):
    from lending.financing import bank_credits
    from tests.lending.calls_fixtures import MOUTAI, PINGAN, overdue_call

    account = funded_account(
        deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=((PINGAN, 14000, "10.00"),)
    )
    call = overdue_call(account, staff)

    line = {
        "line_id": "C-1", "value_date": timezone.localdate().isoformat(), "amount": "30000.00",
        "currency": "CNY", "payer_name": "me", "reference": account.account_number,
        "payer_account": account.investor._test_bank_account,
    }  # fmt: skip
    bank_credits.bank_credits_import(
        lines=bank_credits.credit_lines_parsed([line]), source="api", actor=None
    )
    client.force_login(account.investor.user)
    page = client.get("/portal/lending/margin-calls/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"<td>{call.pk}</td>" in page
    assert '<td class="num received">30,000.00</td>' in page


def test_held_and_unmatched_credits_are_decided_by_api(account, staff, make_user):
    from rest_framework.test import APIClient

    from lending.financing import bank_credits

    today = timezone.localdate().isoformat()
    number = account.account_number
    lines = [
        {"line_id": "H-1", "value_date": today, "amount": "700.00", "currency": "CNY",
         "payer_name": "x", "payer_account": "6222000011112222", "reference": number},
        {"line_id": "U-1", "value_date": today, "amount": "9.00", "currency": "CNY",
         "payer_name": "y", "payer_account": "6222000033334444", "reference": "?"},
    ]  # fmt: skip
    bank_credits.bank_credits_import(
        lines=bank_credits.credit_lines_parsed(lines), source="api", actor=None
    )
    held = HeldDeposit.objects.get()
    api = APIClient()
    api.force_authenticate(staff["ops"])
    url = f"/api/v1/held-deposits/{held.pk}/decision/"
    assert api.post(url, {"release": True, "reason": "x"}, format="json").status_code == 403
    api.force_authenticate(staff["compliance"])
    released = api.post(url, {"release": True, "reason": "gift documented"}, format="json")
    assert released.json() == {"status": "released"}
    assert account_view(account).cash == Decimal("700.00")
    unmatched = BankCredit.objects.get(bank_line_id="U-1")
    answer = api.post(f"/api/v1/bank-credits/{unmatched.pk}/return/", {"reason": "unknown"},
                      format="json")  # fmt: skip
    assert answer.status_code == 200 and answer.json()["status"] == "returned"
