"""Suspended securities (issue 18, item 4): valued per a dated desk policy (the last price less
valuation.suspended_discount: 0 by the seeded row, "desk risk policy"), in the account's
valuation and the mark-to-market arrays alike; no new financing (order_place refuses every
order of a suspended security); left out of liquidation plans, the plan recording what it left
out.

Account: deposit 1,000,000; own-cash 1,000 SZSE:000001 at 10.00 (10,000), financed 1,000
SSE:600519 at 100.00 (100,000): cash 990,000, assets 1,100,000, debt 100,000, ratio 11.00.
000001 suspended, a discount of 0.20 from today: 1,000 x 10.00 x 0.80 = 8,000.00; assets
1,098,000.00, ratio 10.98."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from compliance import parameters as P
from compliance import selectors as compliance_selectors
from compliance import services as compliance_services
from compliance.models import RegulatoryParameter
from lending.domain import margin
from lending.financing.valuation import account_view
from lending.instruments import services as instruments_services
from lending.liquidation import services as liquidation
from lending.models import Order
from lending.mtm import book_arrays
from tests.lending.calls_fixtures import MOUTAI, PINGAN, overdue_call
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

D = Decimal


def _discount(value: str, effective_from: date) -> None:
    compliance_services.parameter_add(
        key=P.SUSPENDED_VALUATION_DISCOUNT,
        effective_from=effective_from,
        value=D(value),
        source="desk risk policy (test: suspended at 80% of the last price)",
        actor=None,
    )


def _suspend(book_instruments, unit: str) -> None:
    instruments_services.instrument_flags_set(
        instrument=book_instruments[unit], actor=None, reason="trading halt", suspended=True
    )


def test_the_seeded_policy_values_a_suspended_security_at_its_last_price(db):
    row = RegulatoryParameter.objects.get(key=P.SUSPENDED_VALUATION_DISCOUNT)
    assert (row.effective_from, row.value) == (date(2010, 3, 31), D(0))
    assert row.source.startswith("desk risk policy")
    assert compliance_selectors.parameter(P.SUSPENDED_VALUATION_DISCOUNT) == D(0)


def test_a_suspended_holding_is_valued_at_the_dated_discount(funded_account, book_instruments):
    account = funded_account(
        deposit="1000000", own=((PINGAN, 1000, "10.00"),), financed=((MOUTAI, 1000, "100.00"),)
    )
    _suspend(book_instruments, PINGAN)
    view = account_view(account)  # the seeded policy: the last price
    assert view.position(PINGAN).market_value == D("10000.00")
    assert view.total_assets == D("1100000.00")
    _discount("0.20", timezone.localdate() + timedelta(days=1))
    assert account_view(account).position(PINGAN).market_value == D("10000.00")  # not yet

    _discount("0.20", timezone.localdate())
    view = account_view(account)
    pingan = view.position(PINGAN)
    # 1,000 x 10.00 x (1 - 0.20) = 8,000.00; the last price stays what the market said
    assert (pingan.market_value, pingan.price, pingan.haircut) == (D("8000.00"), D("10.00"), D(0))
    assert view.total_assets == D("1098000.00")  # 990,000 + 8,000 + 100,000
    assert view.maintenance_ratio == D("10.98")  # 1,098,000 / 100,000
    assert view.position(MOUTAI).market_value == D("100000.00")  # not suspended: no discount

    # the mark-to-market arrays value it alike
    loaded = book_arrays.load_book(credit_account_ids=[account.pk])
    rows = loaded.instrument_units[loaded.book.instrument] == PINGAN
    assert loaded.book.price[rows].tolist() == pytest.approx([8.00])
    valuation = margin.value_book(loaded.book)
    assert valuation.assets[0] == pytest.approx(1098000.00, rel=1e-12)
    assert loaded.ratios()[0] == pytest.approx(10.98, rel=1e-9)


def test_a_suspended_security_gets_no_new_financing(funded_account, book_instruments):
    account = funded_account(deposit="1000000", own=((PINGAN, 1000, "10.00"),), financed=())
    _suspend(book_instruments, PINGAN)
    orders = Order.objects.count()
    client = APIClient()
    client.force_authenticate(account.investor.user)
    for n, purpose in enumerate(("financed_buy", "cash_buy", "sell")):
        refused = client.post(
            f"/api/v1/credit-accounts/{account.pk}/orders/",
            {"instrument": PINGAN, "purpose": purpose, "quantity": "100", "limit_price": "10.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"suspended-{n}",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert refused.status_code == 422, refused.content
        assert refused.json()["code"] == "suspended"
        assert refused.json()["message"] == "instrument: SZSE:000001 is suspended from trading"
    assert Order.objects.count() == orders


def test_a_suspended_line_is_left_out_of_a_plan_and_the_plan_says_so(
    account, staff, book_instruments, client
):
    # the account of test_calls_lifecycle at the call: 2,000 own 600519 at 48.00 and 14,000
    # financed 000001 at 5.80 (81,200); debt 140,000. 600519 suspended and valued at 95% of its
    # last price: 2,000 x 48.00 x 0.95 = 91,200; A = 91,200 + 81,200 = 172,400.
    call = overdue_call(account, staff)
    _suspend(book_instruments, MOUTAI)
    _discount("0.05", timezone.localdate())
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    # only 000001 is sold, at 5.80 x 0.995 = 5.771 -> 5.77: (1.5 x 140,000 - 172,400) /
    # (1.5 x 5.77 - 5.80) = 37,600 / 2.855 = 13,169.9 -> 132 lots = 13,200 shares
    lines = [(x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()]
    assert lines == [(PINGAN, D("13200"), D("5.77"))]
    assert plan.assets_before == D("172400.00") and plan.restores_target
    # the plan's record: its field, its history and its page
    assert plan.suspended_left_out == [MOUTAI]
    assert "suspended, left out: SSE:600519" in plan.history.get().history_change_reason
    login_verified(client, staff["auditor"])
    page = client.get(f"/staff/lending/liquidations/{plan.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "Suspended, left out</dt><dd>SSE:600519</dd>" in page.content.decode()
    api = APIClient()
    api.force_authenticate(staff["auditor"])
    body = api.get(f"/api/v1/liquidation-plans/{plan.pk}/").json()
    assert body["suspended_left_out"] == [MOUTAI]
