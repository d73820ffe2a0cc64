"""lending.mtm.book_arrays.load_book reproduces lending.financing.valuation.account_view for every
account of a seeded book, in a bounded number of statements."""

from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lending.domain import margin
from lending.financing.valuation import account_view
from lending.models import CreditAccount
from lending.mtm import book_arrays
from tests.lending.book_fixtures import price_set

pytestmark = pytest.mark.django_db

MOUTAI, PINGAN, ETF, CATL = "SSE:600519", "SZSE:000001", "SSE:510300", "SZSE:300750"


@pytest.fixture
def seeded_book(funded_account, make_credit_account):
    accounts = [
        funded_account(),  # own MOUTAI + financed PINGAN
        # own and financed shares of the same instrument: two rows
        funded_account(
            deposit="300000",
            own=((PINGAN, 5000, "10.00"), (ETF, 10000, "4.000")),
            financed=((PINGAN, 20000, "10.00"), (CATL, 300, "200.00")),
        ),
        funded_account(deposit="500000", own=((CATL, 100, "200.00"),), financed=()),  # no debt
        funded_account(deposit="200000", own=(), financed=((MOUTAI, 1500, "100.00"),)),
        make_credit_account(),  # nothing at all
    ]
    price_set(PINGAN, "7.35")
    price_set(MOUTAI, "91.20")
    return accounts


def _assert_matches(loaded, accounts):
    ratios = loaded.ratios()
    valuation = margin.value_book(loaded.book)
    for account in accounts:
        i = int(loaded.index_of([account.pk])[0])
        view = account_view(CreditAccount.objects.get(pk=account.pk))
        assert valuation.assets[i] == pytest.approx(float(view.total_assets), rel=1e-12)
        assert valuation.liabilities[i] == pytest.approx(float(view.total_liabilities), rel=1e-12)
        if view.maintenance_ratio is None:
            assert np.isinf(ratios[i])
        else:
            assert ratios[i] == pytest.approx(float(view.maintenance_ratio), rel=1e-9)
        am = margin.available_margin_many(loaded.book, loaded.lines.financing_margin_ratio)[i]
        assert am == pytest.approx(float(view.available_margin), abs=0.01)
        rows = loaded.book.account == i
        assert rows.sum() == len(view.margin_account.positions)
        assert loaded.lines.call[i] == pytest.approx(float(view.lines.call))
        assert loaded.lines.target[i] == pytest.approx(float(view.lines.target))


def test_ratios_equal_account_view_for_every_account(seeded_book):
    with CaptureQueriesContext(connection) as queries:
        loaded = book_arrays.load_book()
    # COPY statements bypass Django's cursor wrapper; besides them only the load's work_mem
    # setting, the instruments read and the dated haircut caps are seen, whatever the number
    # of accounts
    seen = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(seen) <= 3, seen
    assert set(loaded.credit_account_ids.tolist()) >= {a.pk for a in seeded_book}
    _assert_matches(loaded, seeded_book)
    # the account with own and financed PINGAN has a financed row and an own row
    i = int(loaded.index_of([seeded_book[1].pk])[0])
    rows = loaded.book.account == i
    pingan = int(
        np.searchsorted(
            loaded.instrument_ids,
            loaded.instrument_ids[list(loaded.instrument_units).index(PINGAN)],
        )
    )
    pingan_rows = rows & (loaded.book.instrument == pingan)
    assert pingan_rows.sum() == 2
    assert sorted(loaded.book.financed[pingan_rows].tolist()) == [0.0, 200000.0]
    assert sorted(loaded.book.quantity[pingan_rows].tolist()) == [5000.0, 20000.0]
    assert loaded.stored_state.tolist() == [0] * loaded.n_accounts
    assert not loaded.in_call.any()
    assert loaded.has_active_contract.all()


def test_selectors_and_price_override(seeded_book, book_instruments):
    catl = book_instruments[CATL].pk
    holders = book_arrays.load_book(instrument_ids=[catl])
    assert holders.credit_account_ids.tolist() == sorted([seeded_book[1].pk, seeded_book[2].pk])
    _assert_matches(holders, [seeded_book[1], seeded_book[2]])

    some = book_arrays.load_book(credit_account_ids=[seeded_book[0].pk, seeded_book[3].pk])
    assert some.credit_account_ids.tolist() == sorted([seeded_book[0].pk, seeded_book[3].pk])
    ids = sorted(a.pk for a in seeded_book)
    ranged = book_arrays.load_book(id_range=(ids[1], ids[3]))
    assert ranged.credit_account_ids.tolist() == ids[1:3]

    moutai = book_instruments[MOUTAI].pk
    shocked = book_arrays.load_book(price_override={moutai: Decimal("50.00")})
    price_set(MOUTAI, "50.00")
    _assert_matches(shocked, seeded_book)
    with pytest.raises(ValueError):
        book_arrays.load_book(price_override={10**9: Decimal(1)})


def test_states_use_each_accounts_lines(seeded_book):
    price_set(PINGAN, "4.00")
    price_set(MOUTAI, "40.00")
    loaded = book_arrays.load_book()
    codes = loaded.states()
    for account in seeded_book:
        i = int(loaded.index_of([account.pk])[0])
        view = account_view(CreditAccount.objects.get(pk=account.pk))
        assert margin.STATE_BY_CODE[codes[i]] == margin.classify(view.maintenance_ratio, view.lines)
