"""The account API's reads: a fixed number of queries whatever the positions (the load goal of
bench/load rests on it), and the one-statement reads answer exactly what the querysets and the
ORM reader of account_view answer (lending.financing.raw_reads, valuation._current_inputs,
lending.portal.selectors.credit_account_and_contract_for and financings_listed)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import NotFound
from lending.credit import selectors as credit_selectors
from lending.financing import selectors as sel
from lending.financing import valuation
from lending.instruments import services as instruments_services
from lending.portal import selectors as portal_selectors
from tests.lending.book_fixtures import price_set
from tests.support import market
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db

#: DRF's token (with its user); the account with its margin state and current contract;
#: account_view's inputs (balances, holdings, prices, haircuts, open financings); the dated
#: price-band parameters of the day (each position's lower price limit, issue 16: the band
#: comes from the parameter table per board, no longer from a column of the instrument); the
#: latest financings. Raising it needs a reason: bench/load's goal assumes it.
ACCOUNT_API_QUERIES = 5


def _many_instruments(count: int) -> list:

    made = []
    for n in range(count):
        instrument = instruments_services.instrument_create(
            code=f"60{n:04d}",
            exchange="SSE",
            name=f"测试{n}",
            category="other_a_share",
            tradable_float=1_000_000_000,
            collateral_eligible=True,
            haircut=Decimal("0.50"),
            financing_eligible=True,
            actor=None,
            reason="test fixture",
        )
        price_set(instrument, f"{10 + n}.00")
        made.append(instrument)
    return made


def _account_with_positions(funded_account, instruments, *, financed: int = 0):
    """One own-cash lot of each instrument; the first `financed` bought on margin instead."""
    own = [(i.ledger_unit, 100, "10.00") for i in instruments[financed:]]
    on_margin = [(i.ledger_unit, 100, "10.00") for i in instruments[:financed]]
    return funded_account(deposit="1000000", own=(), financed=()), own, on_margin


def _buy(account, own, on_margin):
    """Orders filled by the exchange at the given prices (tests/support/market.py)."""
    from lending.models import Instrument

    def instrument(unit):
        exchange, code = unit.split(":")
        return Instrument.objects.get(exchange=exchange, code=code)

    for unit, quantity, price in own:
        market.traded(account, instrument(unit), "cash_buy", quantity, price)
    for unit, quantity, price in on_margin:
        market.traded(account, instrument(unit), "financed_buy", quantity, price)


def _api_queries(account) -> tuple[int, dict, list[str]]:
    """(queries, body, SQL) of GET /api/v1/credit-accounts/{id}/ with the investor's token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(account.investor.user)}")
    client.get(f"/api/v1/credit-accounts/{account.pk}/")  # warm: content types, translations
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/credit-accounts/{account.pk}/")
    assert response.status_code == 200, response.content
    return len(queries), response.json(), [q["sql"] for q in queries.captured_queries]


def test_account_api_queries_do_not_grow_with_positions(funded_account, book_instruments):
    instruments = _many_instruments(20)
    one, own, on_margin = _account_with_positions(funded_account, instruments[:1])
    _buy(one, own, on_margin)
    twenty, own, on_margin = _account_with_positions(funded_account, instruments, financed=5)
    _buy(twenty, own, on_margin)

    queries_one, body_one, sql_one = _api_queries(one)
    queries_twenty, body_twenty, sql_twenty = _api_queries(twenty)

    assert len(body_one["positions"]) == 1
    assert len(body_twenty["positions"]) == 20 and len(body_twenty["financings"]) == 5
    assert queries_one == ACCOUNT_API_QUERIES, "\n".join(sql_one)
    assert queries_twenty == ACCOUNT_API_QUERIES, "\n".join(sql_twenty)


def test_the_one_statement_reader_agrees_with_the_orm_reader(
    funded_account, book_instruments, book_staff
):
    """account_view now (one statement, valuation._current_inputs) against account_view at a
    later instant (the ORM reader, valuation._inputs_as_of) on an account with every kind of
    row: held and financed in two lots, held only, financed and sold below cost (no shares,
    debt left), a flagged instrument (haircut 0), an instrument that never had a price."""
    extra = _many_instruments(2)
    no_price = instruments_services.instrument_create(
        code="688999",
        exchange="SSE",
        name="无价",
        category="other_a_share",
        tradable_float=1_000_000_000,
        collateral_eligible=True,
        haircut=Decimal("0.40"),
        actor=None,
        reason="test fixture",
    )
    account = funded_account(
        deposit="2000000",
        own=(("SSE:600519", 2000, "100.00"), ("SSE:510300", 1000, "4.00")),
        financed=(
            ("SZSE:000001", 10000, "10.00"),
            ("SZSE:000001", 5000, "10.50"),
            ("SZSE:300750", 1000, "200.00"),
        ),
    )
    market.traded(account, no_price, "cash_buy", 500, "3.00")
    _buy(account, [(extra[0].ledger_unit, 300, "10.00")], [(extra[1].ledger_unit, 400, "11.00")])
    # all of SZSE:300750 sold at half its cost to repay: no shares left, 100,000 of its debt
    # outstanding
    market.traded(account, book_instruments["SZSE:300750"], "sell_to_repay", 1000, "100.00")
    instruments_services.instrument_flags_set(
        instrument=book_instruments["SSE:510300"],
        is_st=True,
        actor=book_staff["risk"],
        reason="test",
    )

    now = valuation.account_view(account)
    later = valuation.account_view(account, as_of=timezone.now() + timedelta(days=1))

    units = {p.instrument.ledger_unit: p for p in now.positions}
    assert units["SZSE:300750"].quantity == 0 and units["SZSE:300750"].financed_amount > 0
    assert units["SSE:510300"].haircut == 0 and units[no_price.ledger_unit].price == 0
    assert units["SZSE:000001"].financed_amount == Decimal("152500.00")  # two lots

    def shown(view):
        """Everything but the instant and prev_close's lower limit (the ORM reader has no
        previous close); positions and margin rows with their Decimals' exponents."""

        def exact(value):
            return (value, value.as_tuple()) if isinstance(value, Decimal) else value

        positions = [
            {
                name: exact(getattr(p, name))
                for name in p.__dataclass_fields__
                if name not in ("instrument", "lower_limit_price")
            }
            | {"instrument": p.instrument.pk}
            for p in view.positions
        ]
        rows = [
            {
                name: exact(getattr(r, name))
                for name in r.__dataclass_fields__
                if name != "lower_limit"
            }
            for r in view.margin_account.positions
        ]
        # figures by value: an account without postings is 0 at an instant (no posting to
        # sum) but 0.0000 now (its balance row), in the ORM reader as before
        figures = {
            name: getattr(view, name)
            for name in (
                "cash",
                "financing_debt",
                "accrued_interest",
                "collateral_value",
                "total_assets",
                "total_liabilities",
                "maintenance_ratio",
                "available_margin",
                "withdrawable_cash",
                "financing_margin_ratio",
            )
        }
        return positions, rows, figures, view.contract.pk, view.lines

    assert shown(now) == shown(later)
    # the instruments come with their latest price cached, as select_related gives them
    with CaptureQueriesContext(connection) as queries:
        for p in now.positions:
            getattr(p.instrument, "latest_price", None)
    assert len(queries) == 0


def test_investor_read_matches_the_querysets(funded_account, make_user, book_staff):
    from lending.margin_calls import services as calls

    account = funded_account()
    other = funded_account(financed=())
    calls.margin_state_apply(
        credit_account=other,
        ratio=Decimal("1.35"),
        total_assets=Decimal("135"),
        total_liabilities=Decimal("100"),
        valued_at=timezone.now(),
    )
    for owner_account in (account, other):
        user = owner_account.investor.user
        read, contract = portal_selectors.credit_account_and_contract_for(user, owner_account.pk)
        expected = credit_selectors.credit_account_for(user, owner_account.pk)
        assert read == expected and read.__dict__.keys() >= {"account_number", "account_name"}
        assert {f.attname: getattr(read, f.attname) for f in read._meta.concrete_fields} == {
            f.attname: getattr(expected, f.attname) for f in expected._meta.concrete_fields
        }
        assert contract == valuation.current_contract(expected)
        with CaptureQueriesContext(connection) as queries:
            state = portal_selectors.margin_state(read)
        assert state == portal_selectors.margin_state(expected) and len(queries) == 0
    assert portal_selectors.margin_state(
        portal_selectors.credit_account_and_contract_for(other.investor.user, other.pk)[0]
    )
    assert portal_selectors.margin_state(other) == "warning"
    # another investor's account, or none: not found, as credit_account_for
    for user, pk in ((account.investor.user, other.pk), (account.investor.user, 10**9)):
        with pytest.raises(NotFound):
            portal_selectors.credit_account_and_contract_for(user, pk)
        with pytest.raises(NotFound):
            credit_selectors.credit_account_for(user, pk)
    # staff go through the querysets (their rule needs the permission check)
    staff_read, staff_contract = portal_selectors.credit_account_and_contract_for(
        book_staff["ops"], other.pk
    )
    assert staff_read == other and staff_contract == valuation.current_contract(other)
    stranger = make_user("investor")
    with pytest.raises(NotFound):
        portal_selectors.credit_account_and_contract_for(stranger, account.pk)


def test_financings_listed_is_the_latest_financings(funded_account, book_instruments):
    account = funded_account(
        financed=(
            ("SZSE:000001", 1000, "10.00"),
            ("SZSE:000001", 2000, "10.10"),
            ("SSE:510300", 3000, "4.00"),
        )
    )
    for limit in (1, 2, 100):
        listed = sel.financings_listed(account, limit=limit)
        expected = list(sel.financings_of(account)[:limit])
        assert listed == expected
        for a, b in zip(listed, expected, strict=True):
            assert {f.attname: getattr(a, f.attname) for f in a._meta.concrete_fields} == {
                f.attname: getattr(b, f.attname) for f in b._meta.concrete_fields
            }
            assert a.instrument.ledger_unit == b.instrument.ledger_unit
