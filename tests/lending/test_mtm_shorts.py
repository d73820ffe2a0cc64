"""The short side in the mark-to-market (issue 22): the run's vectorised figures of an account
with a short position equal account_view's Decimal ones, move with the price as the formula
says, and a short account below the call line gets its call from the run like a long one.

Worked by hand (tests/lending/test_short_positions.py; SSE:600519 at 20.00, fees of zero,
short margin ratio 100 per cent, lines 140 / 130 / 150 per cent):
    deposit 50,000.00, short 1,000 @ 20.00: restricted proceeds 20,000.00
      ratio (50,000 + 20,000) / 20,000 = 350%; available 50,000 - 20,000 = 30,000.00
    @ 24.00: 70,000 / 24,000 = 291.67%; available 50,000 + (20,000 - 24,000) - 24,000 = 22,000.00
    deposit 20,000.00, short 1,000 @ 20.00: 40,000 / 20,000 = 200%
      @ 32.00: 40,000 / 32,000 = 125% < 130%: a call, to cure 1.5 x 32,000 - 40,000 = 8,000.00
    a long account: deposit 320,000.00, financed 30,000 SZSE:000001 @ 10.00 (300,000.00)
      @ 2.00: (320,000 + 60,000) / 300,000 = 126.67% < 130%: a call
    the same account also short 1,000 SSE:600519 @ 20.00, at 7.00 and 26.00:
      assets 320,000 + 20,000 + 210,000 = 550,000; liabilities 300,000 + 26,000 = 326,000
"""

from decimal import Decimal

import numpy as np
import pytest

from accounts.models import InvestorProfile
from lending.domain import margin
from lending.financing.valuation import account_view
from lending.models import CreditAccount, MarginCall, MtmRun
from lending.mtm import book_arrays, snapshots
from lending.mtm import services as mtm
from tests.lending.book_fixtures import price_set
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
PINGAN = "SZSE:000001"


def run_in_process(shard_size=50) -> MtmRun:
    run = mtm.mtm_run_create(trigger="test", shard_size=shard_size)
    for shard in range(run.shards_total):
        mtm.mtm_shard_process(run_id=run.pk, shard=shard)
    run.refresh_from_db()
    return run


def shorted(short_account, instrument, *, deposit="50000", quantity=1000, price="20.00"):
    account = short_account(deposit=deposit)
    market.traded(account, instrument, "short_sale", quantity, price)
    return CreditAccount.objects.get(pk=account.pk)


def assert_run_equals_account_view(run, account):
    view = account_view(CreditAccount.objects.get(pk=account.pk))
    snap = snapshots.account_figures(run.pk, account.pk)
    assert snap.ratio == pytest.approx(float(view.maintenance_ratio), rel=1e-12)
    assert snap.assets == pytest.approx(float(view.total_assets), rel=1e-12)
    assert snap.liabilities == pytest.approx(float(view.total_liabilities), rel=1e-12)
    return snap, view


def test_a_short_accounts_ratio_in_the_run_is_account_views_and_moves_with_the_price(
    short_desk, short_account
):
    account = shorted(short_account, short_desk)

    run = run_in_process()
    assert run.status == "succeeded"
    snap, view = assert_run_equals_account_view(run, account)
    assert view.maintenance_ratio == D("3.5") and snap.ratio == 3.5
    assert (snap.assets, snap.liabilities) == (70000.0, 20000.0)

    # the loaded arrays: one short row with its sale amount, the restricted proceeds, the
    # short margin ratio in force; the available margin is account_view's
    loaded = book_arrays.load_book(credit_account_ids=[account.pk])
    assert loaded.book.quantity.tolist() == [-1000.0]
    assert loaded.book.short_sale.tolist() == [20000.0]
    assert loaded.book.price.tolist() == [20.0]
    assert loaded.book.short_proceeds.tolist() == [20000.0]
    assert loaded.book.cash.tolist() == [50000.0]
    assert loaded.short_margin_ratio.tolist() == [1.0]
    assert loaded.has_short.tolist() == [True]
    assert loaded.available_margin()[0] == pytest.approx(float(view.available_margin), abs=1e-6)
    assert view.available_margin == D("30000.00")

    # a rise to 24.00: 70,000 / 24,000 = 291.67%, in the full run and in the holders' run
    price_set(short_desk, "24.00")
    run = run_in_process()
    snap, view = assert_run_equals_account_view(run, account)
    assert round(view.maintenance_ratio * 100, 2) == D("291.67")
    assert round(snap.ratio * 100, 2) == 291.67
    assert (snap.assets, snap.liabilities) == (70000.0, 24000.0)
    loaded = book_arrays.load_book(credit_account_ids=[account.pk])
    assert loaded.available_margin()[0] == pytest.approx(22000.0, abs=1e-6)
    assert view.available_margin == D("22000.00")

    incremental = mtm.mtm_revalue_instruments(instrument_ids=[short_desk.pk])
    assert incremental.status == "succeeded" and incremental.accounts_valued == 1
    assert_run_equals_account_view(incremental, account)


def test_a_short_account_below_the_call_line_gets_a_call_like_a_long_one(
    short_desk, short_account, funded_account, book_instruments
):
    short = shorted(short_account, short_desk, deposit="20000")
    long = funded_account(deposit="320000", own=(), financed=((PINGAN, 30000, "10.00"),))
    assert account_view(short).maintenance_ratio == D(2)

    price_set(short_desk, "32.00")
    price_set(PINGAN, "2.00")
    run = run_in_process()
    assert run.status == "succeeded" and run.calls_issued == 2
    snap, view = assert_run_equals_account_view(run, short)
    assert snap.ratio == 1.25 and view.maintenance_ratio == D("1.25")
    assert_run_equals_account_view(run, long)

    call = MarginCall.objects.get(credit_account=short, status="open")
    assert call.ratio_at_issue == D("1.25")
    assert (call.assets_at_issue, call.liabilities_at_issue) == (D("40000"), D("32000"))
    assert call.amount_to_cure == D("8000.00")
    long_call = MarginCall.objects.get(credit_account=long, status="open")
    assert long_call.amount_to_cure == D("70000.00")  # 1.5 x 300,000 - 380,000

    # the price falls back: 40,000 / 24,000 = 166.67% ≥ 150%: the run cures the short's call
    price_set(short_desk, "24.00")
    run = run_in_process()
    assert run.cures == 1
    assert not MarginCall.objects.filter(credit_account=short, status="open").exists()
    assert MarginCall.objects.filter(credit_account=long, status="open").exists()


def test_a_private_funds_short_margin_ratio_is_its_own(short_desk, short_account):
    account = short_account(deposit="50000")
    InvestorProfile.objects.filter(pk=account.investor_id).update(investor_type="private_fund")
    account = CreditAccount.objects.get(pk=account.pk)
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    plain = shorted(short_account, short_desk)
    price_set(short_desk, "24.00")

    loaded = book_arrays.load_book(credit_account_ids=[account.pk, plain.pk])
    i, j = loaded.index_of([account.pk, plain.pk]).tolist()
    assert loaded.short_margin_ratio[[i, j]].tolist() == [1.2, 1.0]
    available = loaded.available_margin()
    for index, pk in ((i, account.pk), (j, plain.pk)):
        view = account_view(CreditAccount.objects.get(pk=pk))
        assert available[index] == pytest.approx(float(view.available_margin), abs=1e-6)
    # 50,000 + (20,000 - 24,000) - 24,000 x 1.2 = 17,200.00
    assert available[i] == pytest.approx(17200.0, abs=1e-6)
    assert np.isclose(loaded.ratios()[[i, j]], 70000 / 24000, rtol=1e-12).all()


def test_an_account_long_and_short_loads_as_account_view_values_it(
    short_desk, funded_account, book_instruments
):
    # deposit 320,000.00, financed 30,000 SZSE:000001 @ 10.00, short 1,000 SSE:600519 @ 20.00:
    # assets 320,000 + 20,000 + 30,000 x 7.00 = 550,000; liabilities 300,000 + 1,000 x 26.00
    account = funded_account(deposit="320000", own=(), financed=((PINGAN, 30000, "10.00"),))
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    price_set(PINGAN, "7.00")
    price_set(short_desk, "26.00")

    loaded = book_arrays.load_book(instrument_ids=[short_desk.pk])
    assert loaded.credit_account_ids.tolist() == [account.pk]
    view = account_view(CreditAccount.objects.get(pk=account.pk))
    assert (view.total_assets, view.total_liabilities) == (D("550000.00"), D("326000.00"))
    valuation = margin.value_book(loaded.book)
    assert valuation.assets[0] == pytest.approx(550000.0, rel=1e-12)
    assert valuation.liabilities[0] == pytest.approx(326000.0, rel=1e-12)
    assert loaded.ratios()[0] == pytest.approx(float(view.maintenance_ratio), rel=1e-12)
    assert loaded.available_margin()[0] == pytest.approx(float(view.available_margin), abs=1e-6)
    assert sorted(loaded.book.quantity.tolist()) == [-1000.0, 30000.0]
    assert len(view.margin_account.positions) == loaded.book.n_positions
