"""A desk that lends one security, for the tests of short positions (issue 22).

`short_desk` (with the book's instruments and staff): SSE:600519 at 20.00 (latest trade today),
on SSE's short-sale target list in force from today, 10,000 house shares in the lending
inventory from a custodian confirmation; fees of zero from 30 days back (tests/support/market.py) so
the hand-worked numbers leave them out. Returns the instrument.

`short_account(deposit="50000")`: a credit account of a new eligible investor with an active
contract and `deposit` of free cash, nothing else.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from compliance import selectors as compliance_selectors
from lending.instruments import exchange_lists
from lending.shorts import services as inventory
from tests.lending.book_fixtures import price_set
from tests.support import market

_refs = itertools.count(1)


@pytest.fixture
def short_desk(book_instruments, staff):
    # fees of zero from a month back: some tests book a short sale days ago
    market.zero_fees(compliance_selectors.today() - timedelta(days=30))
    moutai = book_instruments["SSE:600519"]
    price_set(moutai, "20.00")
    exchange_lists.exchange_list_import(
        exchange="SSE",
        kind="short_target",
        effective_on=compliance_selectors.today(),
        file_name="sse-short-targets.csv",
        content="code\n600519\n510300\n",
        actor=staff["risk"],
        reason="daily exchange list",
    )
    inventory.inventory_house_add(
        instrument=moutai,
        quantity="10000",
        confirmation_reference=f"CSDC-SHORT-{next(_refs)}",
        actor=staff["ops"],
        reason="house shares confirmed by the custodian",
    )
    return moutai


@pytest.fixture
def short_account(funded_account, short_desk):
    def _make(deposit="50000", **kwargs):
        return funded_account(deposit=deposit, own=(), financed=(), **kwargs)

    return _make
