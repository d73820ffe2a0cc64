"""Issue 18 item 5: a director, supervisor, senior manager or 5% holder of a listed company
(董监高, 大股东) may not buy that company's shares in the credit account, financed or with own
cash (shares there are collateral), nor transfer them in as collateral; they may sell.
Restricted (限售) shares are never collateral. Each refusal is a 422 (RuleViolation) naming the
instrument and the rule, with nothing written; checked at every order and transfer in (approval
too)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import RuleViolation
from compliance import services as compliance_services
from custody.selectors import trial_balance
from lending.financing import transfers
from lending.financing.models import CollateralTransferIn
from lending.financing.valuation import account_view
from lending.orders import selectors
from lending.orders.models import Order

pytestmark = pytest.mark.django_db

D = Decimal
MOUTAI = "SSE:600519"
PINGAN = "SZSE:000001"


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def place(account, unit, purpose, quantity, price, key):
    return api(account.investor.user).post(
        f"/api/v1/credit-accounts/{account.pk}/orders/",
        {"instrument": unit, "purpose": purpose, "quantity": quantity, "limit_price": price},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def director_of_moutai(account, since=date(2024, 3, 1)):
    investor = account.investor
    return compliance_services.restricted_holding_add(
        investor=investor,
        security=MOUTAI,
        company_name="贵州茅台酒股份有限公司",
        role="director",
        since=since,
        actor=investor.user,
    )


def test_a_directors_buys_of_their_company_are_refused_and_sales_allowed(funded_account):
    # given the default funded account (module docstring of tests/lending/book_fixtures.py):
    # cash 800,000.00, 2,000 SSE:600519 @ 100.00 own, 30,000 SZSE:000001 financed;
    # available margin 640,000.00, so a 100-share buy at 100.00 (10,000.00) is well covered
    account = funded_account()
    holding = director_of_moutai(account)
    orders_before = Order.objects.count()
    held_before = selectors.held_back(account.pk)

    # when the director buys 100 SSE:600519 at 100.00, financed
    financed = place(account, MOUTAI, "financed_buy", "100", "100.00", "rh-financed")
    # then refused (422, a rule: RuleViolation), naming the instrument and the rule
    assert financed.status_code == 422, financed.json()
    body = financed.json()
    assert body["code"] == "restricted_holder"
    assert body["extra"]["field"] == "instrument"
    assert body["extra"]["security"] == MOUTAI and body["extra"]["role"] == "director"
    assert body["message"].startswith(f"instrument: {MOUTAI}")
    assert "director" in body["message"] and "may not buy" in body["message"]
    # with own cash too: shares in the credit account are collateral
    cash = place(account, MOUTAI, "cash_buy", "100", "100.00", "rh-cash")
    assert cash.status_code == 422 and cash.json()["code"] == "restricted_holder"
    # and nothing was written or held back
    assert Order.objects.count() == orders_before
    held = selectors.held_back(account.pk)
    assert (held.financing, held.cash) == (held_before.financing, held_before.cash)

    # another company's shares may still be bought, and the director may sell
    other = place(account, PINGAN, "cash_buy", "100", "10.00", "rh-other")
    assert other.status_code == 201, other.json()
    sale = place(account, MOUTAI, "sell", "100", "100.00", "rh-sell")
    assert sale.status_code == 201, sale.json()

    # when the role ends (in force until the day before ended_on), buying is allowed again
    compliance_services.restricted_holding_end(
        holding=holding, ended_on=timezone.localdate(), actor=account.investor.user
    )
    again = place(account, MOUTAI, "cash_buy", "100", "100.00", "rh-after")
    assert again.status_code == 201, again.json()
    assert trial_balance().balanced


def test_a_role_from_tomorrow_does_not_refuse_today(funded_account):
    account = funded_account()
    director_of_moutai(account, since=timezone.localdate() + timedelta(days=1))
    assert place(account, MOUTAI, "cash_buy", "100", "100.00", "rh-tomorrow").status_code == 201


def test_a_5pct_holder_may_not_transfer_the_shares_in_as_collateral(
    make_credit_account, book_instruments, staff
):
    account = make_credit_account()
    compliance_services.restricted_holding_add(
        investor=account.investor,
        security=MOUTAI,
        company_name="贵州茅台酒股份有限公司",
        role="major_holder",
        since=date(2020, 1, 1),
        actor=staff["compliance"],
        reason="exchange filing of 2020-01-02: 5.2%",
    )
    body = {
        "account_number": account.account_number, "instrument": MOUTAI, "quantity": "1000",
        "confirmation_reference": "CSDC-RH-1", "reason": "client moved shares in",
    }  # fmt: skip
    refused = api(staff["ops"]).post("/api/v1/collateral-transfers/", body, format="json")
    assert refused.status_code == 422
    assert refused.json()["code"] == "restricted_holder"
    assert refused.json()["message"].startswith(f"instrument: {MOUTAI}")
    assert "may not pledge" in refused.json()["message"]
    assert not CollateralTransferIn.objects.exists()
    # another company's shares may be transferred in
    ok = api(staff["ops"]).post(
        "/api/v1/collateral-transfers/",
        {**body, "instrument": PINGAN, "confirmation_reference": "CSDC-RH-2"},
        format="json",
    )
    assert ok.status_code == 201, ok.json()


def test_a_role_declared_after_the_preparation_is_checked_again_at_approval(
    make_credit_account, book_instruments, staff
):
    account = make_credit_account()
    transfer = transfers.collateral_transfer_prepare(
        credit_account=account,
        instrument=book_instruments[MOUTAI],
        quantity=1000,
        confirmation_reference="CSDC-RH-3",
        actor=staff["ops"],
        reason="client moved shares in",
    )
    director_of_moutai(account)
    with pytest.raises(RuleViolation) as refused:
        transfers.collateral_transfer_decide(transfer=transfer, approve=True, actor=staff["risk"])
    assert refused.value.code == "restricted_holder"
    transfer.refresh_from_db()
    assert transfer.status == "prepared" and transfer.entry_id is None
    assert account_view(account).position(MOUTAI) is None  # nothing booked


def test_restricted_shares_are_never_collateral(make_credit_account, book_instruments, staff):
    account = make_credit_account()
    body = {
        "account_number": account.account_number, "instrument": PINGAN, "quantity": "500",
        "confirmation_reference": "CSDC-LOCK-1", "reason": "in", "restricted_shares": True,
    }  # fmt: skip
    refused = api(staff["ops"]).post("/api/v1/collateral-transfers/", body, format="json")
    assert refused.status_code == 422
    assert refused.json()["code"] == "restricted_shares"
    assert refused.json()["extra"]["field"] == "restricted_shares"
    assert PINGAN in refused.json()["message"] and "never collateral" in refused.json()["message"]
    assert not CollateralTransferIn.objects.exists()
    # the custodian's file says so in its optional column: the whole file is refused, by line
    csv = (
        "account_number,instrument,quantity,confirmation_reference,restricted_shares\n"
        f"{account.account_number},{PINGAN},500,CSDC-LOCK-2,no\n"
        f"{account.account_number},{PINGAN},500,CSDC-LOCK-3,yes\n"
    )
    with pytest.raises(RuleViolation, match=r"never collateral \(line 3\)"):
        transfers.collateral_transfers_import_csv(content=csv, actor=staff["ops"], reason="file")
    assert not CollateralTransferIn.objects.exists()
    # and the database refuses a booked transfer of restricted shares whatever the code does
    transfer = transfers.collateral_transfer_prepare(
        credit_account=account,
        instrument=book_instruments[PINGAN],
        quantity=500,
        confirmation_reference="CSDC-LOCK-4",
        actor=staff["ops"],
        reason="in",
    )
    transfers.collateral_transfer_decide(transfer=transfer, approve=True, actor=staff["risk"])
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CollateralTransferIn.objects.filter(pk=transfer.pk).update(restricted_shares=True)
