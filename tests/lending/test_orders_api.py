"""Orders by API (issue 16, items 1-3 and the first acceptance): an off-market limit price is
refused with 400 naming `limit_price` and nothing is reserved or posted; a financed buy is
booked only from its fills, at their prices, with the real fees, and the trial balance stays
zero; partial fills shrink the reserve; cancel, reject and expiry release it; a duplicate
execution report is ignored; another investor's order answers 404; a financed buy beyond the
available margin is refused with nothing written. The exchange's side is tests/support/market.py.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from custody.models import JournalEntry
from custody.selectors import trial_balance
from lending.financing.valuation import account_view
from lending.instruments import selectors as instrument_selectors
from lending.instruments import services as instruments_services
from lending.orders import fix_session as fix
from lending.orders import selectors, services
from lending.orders.models import Fill, Order
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
PINGAN = "SZSE:000001"


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def previous_close(unit: str, price: str) -> None:
    """A tick at 15:00 yesterday: today's band is around it (main board ±10%)."""
    today = timezone.localdate()
    at = instrument_selectors.day_start(today) - timedelta(hours=9)
    instruments_services.prices_ingest(
        [{"instrument": unit, "price": price, "at": at}], source="test", actor=None
    )


def written() -> tuple[int, int, int]:
    return Order.objects.count(), Fill.objects.count(), JournalEntry.objects.count()


def deposited(make_credit_account, amount="100000"):
    """A credit account with `amount` of cash, fees at their real parameters (no zero_fees)."""
    from custody import services as custody

    account = make_credit_account(limit="1000000")
    investor = account.investor
    custody.client_deposit_post(
        investor=investor,
        amount=D(amount),
        currency="CNY",
        bank_account=investor._test_bank_account,
        reference="test deposit",
        actor=None,
        idempotency_key=f"orders-deposit-{account.pk}",
    )
    return account


def place(
    account, purpose="financed_buy", quantity="1000", price="10.00", unit=PINGAN, key=None, **extra
):
    response = api(account.investor.user).post(
        f"/api/v1/credit-accounts/{account.pk}/orders/",
        {"instrument": unit, "purpose": purpose, "quantity": quantity, "limit_price": price},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or f"k-{account.pk}-{purpose}-{quantity}-{price}",
        **extra,
    )
    return response


# --- acceptance: an off-market limit price ---------------------------------------------------


def test_an_off_market_limit_price_is_refused_naming_limit_price_and_nothing_is_reserved(
    funded_account,
):
    account = funded_account()
    previous_close(PINGAN, "10.00")
    before = written()
    refused = place(account, price="0.01", key="off-market", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400
    body = refused.json()
    assert body["message"].startswith("limit_price:")
    assert body["extra"]["field"] == "limit_price"
    assert (body["extra"]["band_low"], body["extra"]["band_high"]) == ("9.00", "11.00")
    assert "9.00 to 11.00" in body["message"]
    # in the reader's language: the field name and the code stay English
    chinese = place(account, price="0.01", key="off-market-zh", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.json()["code"] == body["code"]
    assert chinese.json()["message"].startswith("limit_price: 0.0100 超出 SZSE:000001 当日")
    assert "9.00 至 11.00" in chinese.json()["message"]
    # above the band too
    assert place(account, price="11.01", key="off-market-2").status_code == 400
    assert written() == before
    held = selectors.held_back(account.pk)
    assert (held.financing, held.cash, held.shares) == (0, 0, {})
    assert trial_balance().balanced
    # inside the band it is placed, and holds back what it may cost (fees are zero here)
    placed = place(account, price="11.00", key="in-band")
    assert placed.status_code == 201 and placed.json()["status"] == "new"
    assert selectors.held_back(account.pk).financing == D("11000.00")
    assert written()[1:] == before[1:]  # placed, but nothing booked before a fill


# --- a financed buy booked from its fills, with the real fees --------------------------------


def test_a_financed_buy_is_booked_only_from_its_fills_at_their_prices_with_fees(
    make_credit_account, book_instruments
):
    account = deposited(make_credit_account)
    assert account.contracts.get().commission_rate == D("0.0003")
    placed = place(account, quantity="1000", price="10.00")
    assert placed.status_code == 201, placed.json()
    order = Order.objects.get(pk=placed.json()["id"])
    # the most it may cost: 10,000.00 + commission (minimum 5.00) + transfer fee 0.10
    assert order.reserved_amount == D("10005.10")
    entries = JournalEntry.objects.count()
    assert account_view(account).financing_debt == 0  # nothing booked by placing

    order = market.fill(order, price="9.98", quantity=400)
    assert order.status == "partially_filled" and order.filled_quantity == 400
    first = order.fills.get()
    # 400 x 9.98 = 3,992.00; commission max(1.20, 5.00) = 5.00; transfer fee 0.04; no stamp duty
    assert (first.price, first.turnover) == (D("9.98"), D("3992.00"))
    assert (first.commission, first.stamp_duty, first.transfer_fee) == (
        D("5.00"),
        D("0.00"),
        D("0.04"),
    )
    # what is left may cost 6,000.00 + 5.00 + 0.06
    assert order.reserved_amount == D("6005.06")
    assert selectors.held_back(account.pk).financing == D("6005.06")
    assert JournalEntry.objects.count() == entries + 1
    assert trial_balance().balanced

    order = market.fill(order, price="10.00")
    assert order.status == "filled" and order.reserved_amount == 0
    second = order.fills.order_by("pk").last()
    # the order's commission is max(9,992 x 0.0003 = 3.00, 5.00): already charged on the first
    assert (second.turnover, second.commission, second.transfer_fee) == (
        D("6000.00"),
        D("0.00"),
        D("0.06"),
    )
    view = account_view(account)
    # debt = both fills with their fees: 3,997.04 + 6,000.06
    assert view.financing_debt == D("9997.10")
    assert view.cash == D("100000.00")
    position = {p.instrument.ledger_unit: p for p in view.positions}[PINGAN]
    assert position.quantity == 1000
    assert selectors.held_back(account.pk).financing == 0
    assert trial_balance().balanced

    data = api(account.investor.user).get(f"/api/v1/orders/{order.pk}/").json()
    assert data["status"] == "filled" and data["filled_quantity"] == "1000"
    assert [f["price"] for f in data["fills"]] == ["9.9800", "10.0000"]
    assert [f["commission"] for f in data["fills"]] == ["5.00", "0.00"]

    # a sale to repay pays stamp duty 0.05%: 400 x 10.00 = 4,000.00; commission 5.00, stamp
    # duty 2.00, transfer fee 0.04
    sale = place(account, purpose="sell_to_repay", quantity="400", price="10.00")
    assert sale.status_code == 201, sale.json()
    sold = market.fill(Order.objects.get(pk=sale.json()["id"]))
    fill = sold.fills.get()
    assert (fill.commission, fill.stamp_duty, fill.transfer_fee) == (
        D("5.00"),
        D("2.00"),
        D("0.04"),
    )
    after = account_view(account)
    assert after.financing_debt < view.financing_debt
    assert trial_balance().balanced


def test_cancel_reject_and_expiry_release_what_a_buy_holds_back(funded_account):
    account = funded_account()
    placed = [
        Order.objects.get(pk=place(account, quantity=q, price="10.00").json()["id"])
        for q in ("1000", "2000", "3000")
    ]
    cancelled, rejected, expired = placed
    assert selectors.held_back(account.pk).financing == D("60000.00")
    for order in placed:
        services.order_mark_sent(order)
    # cancel after a partial fill: the fill stays booked, the rest is released when the
    # exchange confirms
    cancelled = market.fill(cancelled, quantity=400)
    response = api(account.investor.user).post(
        f"/api/v1/orders/{cancelled.pk}/cancel/", {}, format="json"
    )
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    assert response.json()["status"] == "partially_filled"
    assert market.close(cancelled, fix.EXEC_CANCELED).status == "cancelled"
    cancelled.refresh_from_db()
    assert cancelled.filled_quantity == 400 and cancelled.reserved_amount == 0
    assert market.close(rejected, fix.EXEC_REJECTED, "unknown").status == "rejected"
    assert market.close(expired, fix.EXEC_EXPIRED).status == "expired"
    for order in placed:
        order.refresh_from_db()
        assert order.reserved_amount == 0
    assert selectors.held_back(account.pk).financing == 0
    # a finished order is not cancelled again
    again = api(account.investor.user).post(f"/api/v1/orders/{expired.pk}/cancel/", {})
    assert again.status_code == 409
    assert trial_balance().balanced


def test_an_unsent_order_is_cancelled_at_once(funded_account):
    account = funded_account()
    order_id = place(account, quantity="1000").json()["id"]
    response = api(account.investor.user).post(f"/api/v1/orders/{order_id}/cancel/", {})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert selectors.held_back(account.pk).financing == 0


def test_a_duplicate_execution_report_is_ignored(funded_account):
    account = funded_account()
    order = Order.objects.get(pk=place(account, quantity="1000").json()["id"])
    order = market.fill(order, quantity=400, exec_id="DUP-1")
    entries = JournalEntry.objects.count()
    debt = account_view(account).financing_debt
    resent = market.report(
        order,
        exec_type=fix.EXEC_TRADE,
        ord_status=fix.STATUS_PARTIALLY_FILLED,
        last_qty=D(400),
        last_px=D("10.00"),
        exec_id="DUP-1",
    )
    assert market.deliver(resent) == 0
    order.refresh_from_db()
    assert order.filled_quantity == 400 and order.fills.count() == 1
    assert JournalEntry.objects.count() == entries
    assert account_view(account).financing_debt == debt
    assert trial_balance().balanced


def test_an_investor_cannot_see_or_cancel_another_investors_order(funded_account):
    mine = funded_account()
    theirs = funded_account(financed=())
    order_id = place(mine, quantity="1000").json()["id"]
    other = api(theirs.investor.user)
    assert other.get(f"/api/v1/orders/{order_id}/").status_code == 404
    assert other.post(f"/api/v1/orders/{order_id}/cancel/", {}).status_code == 404
    assert other.get(f"/api/v1/credit-accounts/{mine.pk}/orders/").status_code == 404
    refused = other.post(
        f"/api/v1/credit-accounts/{mine.pk}/orders/",
        {"instrument": PINGAN, "purpose": "sell", "quantity": "100", "limit_price": "10.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="not-mine",
    )
    assert refused.status_code == 404
    assert Order.objects.get(pk=order_id).status == "new"
    own = api(mine.investor.user).get(f"/api/v1/credit-accounts/{mine.pk}/orders/?status=working")
    assert [o["id"] for o in own.json()] == [order_id]


def test_a_financed_buy_beyond_the_available_margin_is_refused_with_nothing_written(
    funded_account,
):
    # available margin 640,000.00 at a financing margin ratio of 100%
    account = funded_account()
    before = written()
    refused = place(account, quantity="65000", price="10.00", key="too-much")
    assert refused.status_code == 422, refused.json()
    assert refused.json()["code"] == "insufficient_margin"
    assert written() == before
    assert selectors.held_back(account.pk).financing == 0
    fits = place(account, quantity="64000", price="10.00", key="fits")
    assert fits.status_code == 201, fits.json()
    # what the first holds back counts against the next
    second = place(account, quantity="1000", price="10.00", key="second")
    assert second.status_code == 422 and second.json()["code"] == "insufficient_margin"


def test_placing_needs_an_idempotency_key_and_a_repeat_places_once(funded_account):
    account = funded_account()
    url = f"/api/v1/credit-accounts/{account.pk}/orders/"
    body = {"instrument": PINGAN, "purpose": "financed_buy", "quantity": "100", "limit_price": "10"}
    client = api(account.investor.user)
    assert client.post(url, body, format="json").status_code == 400
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="once")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="once")
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    other = client.post(
        url, {**body, "quantity": "200"}, format="json", HTTP_IDEMPOTENCY_KEY="once"
    )
    assert other.status_code == 409
    assert Order.objects.filter(credit_account=account, status="new").count() == 1


def test_a_c3_investors_order_is_refused_at_every_order(funded_account, book_instruments, assess):
    """Suitability is checked when each order is placed, not only at approval: an investor
    reassessed as C3 after the contract was signed may not buy, financed or not; selling what
    they hold stays open (it reduces the risk)."""
    from accounts.errors import RuleViolation
    from lending.orders import services as orders

    account = funded_account()
    assess(account.investor, 3)  # a new assessment: C3 < the product's R4
    for purpose in ("financed_buy", "cash_buy"):
        with pytest.raises(RuleViolation) as refused:
            orders.order_place(
                credit_account=account, instrument=book_instruments["SZSE:000001"],
                purpose=purpose, quantity=100, limit_price="10.00", actor=account.investor.user,
                idempotency_key=f"c3-{purpose}",
            )  # fmt: skip
        assert refused.value.code == "drawdown_blocked"
    sale = orders.order_place(
        credit_account=account, instrument=book_instruments["SZSE:000001"], purpose="sell",
        quantity=100, limit_price="10.00", actor=account.investor.user, idempotency_key="c3-sell",
    )  # fmt: skip
    assert sale.status == "new"
