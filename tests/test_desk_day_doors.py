"""Issue 17's first acceptance: a desk day through the doors only (API routes, as the bank
feed, the investor, operations, risk and treasury use them): a bank statement's credit line
comes in and is credited, the investor buys on margin (the exchange's fill) and repays from
cash, shares are transferred in on the custodian's confirmation and some transferred out, the
bank statement reconciles with the ledger with no break, the internal reconciliation's break
(client money used for the client's own debt leaves the segregated account in excess) is
resolved by treasury, and the client-money requirement is met. Each door answers bad input
with 400 naming the field and rule, and nothing is half-written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from custody import selectors as custody_selectors
from custody import services as custody
from custody.models import ClientMoneyRequirement, JournalEntry
from lending.financing.models import BankCredit, CollateralTransferIn
from lending.financing.valuation import account_view
from lending.orders.models import Order
from tests.lending.book_fixtures import price_set
from tests.second_factor import second_factor
from tests.support import market

pytestmark = pytest.mark.django_db


def _as(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def _counts() -> tuple:
    return (
        JournalEntry.objects.count(),
        BankCredit.objects.count(),
        Order.objects.count(),
        CollateralTransferIn.objects.count(),
    )


def _refused(response, field: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith(f"{field}"), response.json()


def test_a_desk_day_through_the_doors(make_credit_account, book_instruments, staff, make_user):
    market.zero_fees()  # hand-worked numbers below leave fees out
    # yesterday's close 10.00: today's band for SZSE:000001 is 9.00 to 11.00
    yesterday = timezone.localtime() - timedelta(days=1)
    price_set("SZSE:000001", "10.00", at=yesterday.replace(hour=15, minute=0, second=0))
    account = make_credit_account()
    investor = _as(account.investor.user)
    feed = _as(make_user(Role.BANK_FEED))
    treasurer = make_user(Role.TREASURY)
    second_factor(treasurer)
    treasury, ops, risk2 = _as(treasurer), _as(staff["ops"]), _as(staff["risk2"])
    today = timezone.localdate().isoformat()
    number, bank_of_record = account.account_number, account.investor._test_bank_account

    # 1. the bank statement's credit line: credited (bad input refused, nothing written)
    line = {
        "line_id": "DAY-1", "value_date": today, "amount": "500000.00", "currency": "CNY",
        "payer_name": "investor", "payer_account": bank_of_record, "reference": number,
    }  # fmt: skip
    before = _counts()
    _refused(feed.post("/api/v1/bank-credits/", {"lines": [{**line, "amount": "abc"}]},
                       format="json"), "amount")  # fmt: skip
    assert _counts() == before
    assert feed.post("/api/v1/bank-credits/", {"lines": [line]}, format="json").json() == {
        "credited": 1, "held": 0, "unmatched": 0, "already_booked": 0,
    }  # fmt: skip
    assert account_view(account).cash == Decimal("500000.00")

    # 2. a financed buy through the orders route, filled by the exchange
    orders = f"/api/v1/credit-accounts/{account.pk}/orders/"
    buy = {"instrument": "SZSE:000001", "purpose": "financed_buy", "quantity": "10000",
           "limit_price": "10.00"}  # fmt: skip
    before = _counts()
    _refused(investor.post(orders, {**buy, "limit_price": "20.00"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="day-bad"), "limit_price")  # fmt: skip
    assert _counts() == before
    placed = investor.post(orders, buy, format="json", HTTP_IDEMPOTENCY_KEY="day-buy")
    assert placed.status_code == 201, placed.content
    market.fill(Order.objects.get(pk=placed.json()["id"]), price="10.00")
    assert account_view(account).financing_debt == Decimal("100000.00")

    # 3. repayment from cash
    repay = f"/api/v1/credit-accounts/{account.pk}/repayments/"
    _refused(investor.post(repay, {"amount": "-1"}, format="json", HTTP_IDEMPOTENCY_KEY="r0"),
             "amount")  # fmt: skip
    done = investor.post(repay, {"amount": "40000.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert done.status_code == 201 and done.json()["principal_repaid"] == "40000.00"

    # 4. shares in on the custodian's confirmation (four eyes), some out
    transfer = {"account_number": number, "instrument": "SSE:600519", "quantity": "1000",
                "confirmation_reference": "CSDC-DAY-1", "reason": "moved in"}  # fmt: skip
    _refused(ops.post("/api/v1/collateral-transfers/", {**transfer, "quantity": "0"},
                      format="json"), "quantity")  # fmt: skip
    made = ops.post("/api/v1/collateral-transfers/", transfer, format="json")
    assert made.status_code == 201
    decided = risk2.post(f"/api/v1/collateral-transfers/{made.json()['id']}/decision/",
                         {"approve": True}, format="json")  # fmt: skip
    assert decided.json()["status"] == "booked"
    out = investor.post(
        f"/api/v1/credit-accounts/{account.pk}/withdrawals/",
        {"kind": "securities", "instrument": "SSE:600519", "quantity": "300"},
        format="json", HTTP_IDEMPOTENCY_KEY="out-1",
    )  # fmt: skip
    assert out.status_code == 201, out.content
    assert account_view(account).position("SSE:600519").quantity == Decimal("700")

    # 5. the bank's statement of the client omnibus account reconciles: no break
    client_bank = custody.house_account("client_bank", "CNY")
    custody.ledger_account_set_external_ref(
        account=client_bank, external_ref="ICBC-DAY", actor=None, reason="mapping"
    )
    balance = custody_selectors.account_balance(account=client_bank)
    csv = (
        "statement_date,account_number,currency,closing_balance\n"
        f"{today},ICBC-DAY,CNY,{balance:.2f}\n"
    )
    statements = "/api/v1/custody/statements/"
    bad_file = SimpleUploadedFile("x.csv", b"a,b\n1,2\n")
    wrong = treasury.post(statements, {"source": "bank", "institution": "ICBC", "file": bad_file})
    _refused(wrong, "file")
    good_file = SimpleUploadedFile("icbc.csv", csv.encode())
    matched = treasury.post(
        statements, {"source": "bank", "institution": "ICBC", "file": good_file}
    )
    assert matched.status_code == 201 and matched.json()["open_breaks"] == 0

    # 6. the internal reconciliation: the excess (client money spent on the client's own debt
    # still sits in the segregated account) is a break, withdrawn to the house by treasury
    internal = treasury.post(
        "/api/v1/custody/reconciliations/internal/", {"business_date": today}, format="json"
    )
    assert internal.status_code == 201
    for brk in treasury.get("/api/v1/custody/breaks/").json():
        _refused(treasury.post(f"/api/v1/custody/breaks/{brk['id']}/resolve/", {},
                               format="json"), "reason")  # fmt: skip
        resolved = treasury.post(f"/api/v1/custody/breaks/{brk['id']}/resolve/",
                                 {"reason": "excess to house"}, format="json")  # fmt: skip
        assert resolved.status_code == 200, resolved.content
    assert treasury.get("/api/v1/custody/breaks/").json() == []
    again = treasury.post(
        "/api/v1/custody/reconciliations/internal/", {"business_date": today}, format="json"
    )
    assert again.json()["open_breaks"] == 0
    requirement = ClientMoneyRequirement.objects.latest("pk")
    assert requirement.segregated_funds >= requirement.requirement
    assert custody_selectors.trial_balance().balanced
