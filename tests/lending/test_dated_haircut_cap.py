"""A later, lower dated category cap applies from the day it takes effect, to instruments
already on the list, in the account's valuation and in the mark-to-market's arrays alike,
without anyone editing the instrument (issue 18, exchange lists and caps).

funded_account: 2,000 SSE:600519 (index constituent, haircut 0.70) at 100.00 own, 30,000
SZSE:000001 (other A-share, 0.65) at 10.00 financed. A cap of 0.50 for index constituents from
today: the own shares' margin credit falls from 200,000 x 0.70 = 140,000 to 100,000, so the
available margin falls by 40,000.00 (640,000.00 -> 600,000.00). With the exchange's conversion
rate in the mix (lending.instruments.exchange_lists), the lowest of the three applies."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance import parameters as P
from compliance import services as compliance_services
from lending.domain import margin
from lending.financing.valuation import account_view
from lending.instruments import exchange_lists
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


def test_the_exchange_rate_and_a_new_lower_cap_the_lowest_applies_from_its_day(
    funded_account, staff
):
    """SSE's eligible-collateral list gives 600519 a conversion rate of 0.60 (desk 0.70, cap
    0.70): 800,000 + 200,000 x 0.60 - 300,000 = 620,000.00. A cap of 0.50 from tomorrow
    changes nothing today; from its day it is the lowest: 800,000 + 100,000 - 300,000 =
    600,000.00, in the valuation and the mark-to-market arrays alike."""
    account = funded_account()
    today = timezone.localdate()
    tomorrow = today + timedelta(days=1)
    exchange_lists.exchange_list_import(
        exchange="SSE", kind="eligible_collateral", effective_on=today, file_name="sse.csv",
        content="code,conversion_rate\n600519,0.60\n", actor=staff["risk"], reason="daily",
    )  # fmt: skip
    view = account_view(account)
    assert view.available_margin == Decimal("620000.00")
    assert view.collateral_row("SSE:600519").haircut == Decimal("0.60")
    compliance_services.parameter_add(
        key=P.HAIRCUT_CAP_INDEX_CONSTITUENT, effective_from=tomorrow, value=Decimal("0.50"),
        source="exchange notice (tomorrow)", actor=None,
    )  # fmt: skip
    assert account_view(account).available_margin == Decimal("620000.00")  # not yet
    loaded = book_arrays.load_book(credit_account_ids=[account.pk])
    moutai = loaded.instrument_units[loaded.book.instrument] == "SSE:600519"
    assert loaded.book.haircut[moutai].tolist() == pytest.approx([0.60] * int(moutai.sum()))

    # tomorrow (the valuation of that day, and the arrays loaded for it)
    noon = timezone.make_aware(datetime.combine(tomorrow, time(12)))
    assert account_view(account, as_of=noon).available_margin == Decimal("600000.00")
    loaded = book_arrays.load_book(credit_account_ids=[account.pk], on=tomorrow)
    moutai = loaded.instrument_units[loaded.book.instrument] == "SSE:600519"
    assert loaded.book.haircut[moutai].tolist() == pytest.approx([0.50] * int(moutai.sum()))
    am = margin.available_margin_many(loaded.book, loaded.lines.financing_margin_ratio)[0]
    assert am == pytest.approx(600000.00, abs=0.01)
