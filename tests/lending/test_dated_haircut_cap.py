"""A later, lower dated category cap applies from the day it takes effect, to instruments
already on the list, in the account's valuation and in the mark-to-market's arrays alike,
without anyone editing the instrument (issue 18, exchange lists and caps).

funded_account: 2,000 SSE:600519 (index constituent, haircut 0.70) at 100.00 own, 30,000
SZSE:000001 (other A-share, 0.65) at 10.00 financed. A cap of 0.50 for index constituents from
today: the own shares' margin credit falls from 200,000 x 0.70 = 140,000 to 100,000, so the
available margin falls by 40,000.00 (640,000.00 -> 600,000.00)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance import parameters as P
from compliance import services as compliance_services
from lending.financing.valuation import account_view
from lending.mtm import book_arrays

pytestmark = pytest.mark.django_db


def test_a_lower_cap_from_today_lowers_the_margin_credit_of_existing_holdings(funded_account):
    account = funded_account()
    before = account_view(account)
    assert before.available_margin == Decimal("640000.00")
    today = timezone.localdate()
    compliance_services.parameter_add(
        key=P.HAIRCUT_CAP_INDEX_CONSTITUENT, effective_from=today + timedelta(days=1),
        value=Decimal("0.50"), source="exchange notice (tomorrow)", actor=None,
    )  # fmt: skip
    assert account_view(account).available_margin == Decimal("640000.00")  # not yet
    compliance_services.parameter_add(
        key=P.HAIRCUT_CAP_INDEX_CONSTITUENT, effective_from=today, value=Decimal("0.50"),
        source="exchange notice", actor=None,
    )  # fmt: skip
    after = account_view(account)
    assert after.available_margin == Decimal("600000.00")
    moutai = after.collateral_row("SSE:600519")
    assert moutai.haircut == Decimal("0.50")
    loaded = book_arrays.load_book(credit_account_ids=[account.pk])
    rows = loaded.book
    moutai_rows = loaded.instrument_units[rows.instrument] == "SSE:600519"
    assert moutai_rows.any()
    assert rows.haircut[moutai_rows].tolist() == pytest.approx([0.50] * int(moutai_rows.sum()))
