"""Property tests for lending.domain.margin: invariants of the formulas and agreement of the
vectorised face with the Decimal face on random books."""

from decimal import Decimal as D

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lending.domain import margin as m
from tests.lending.margin_lines import FMR, LINES

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CENT = D("0.01")

money = st.decimals(min_value=0, max_value=2_000_000, places=2)
positive_money = st.decimals(min_value=1, max_value=2_000_000, places=2)
price = st.decimals(min_value=D("0.50"), max_value=500, places=2)
haircut = st.sampled_from([D(0), D("0.50"), D("0.65"), D("0.70"), D("0.90"), D("0.95")])
lot = st.sampled_from([1, 10, 100])


@st.composite
def long_position(draw, with_limit: bool = False, index: int = 0):
    p = draw(price)
    qty = D(draw(st.integers(min_value=1, max_value=50_000)))
    financed = draw(st.one_of(st.just(D(0)), st.decimals(min_value=1, max_value=10**6, places=2)))
    lower = None
    if with_limit:
        band = draw(st.sampled_from([D("0.95"), D("0.90"), D("0.80")]))
        lower = (p * band).quantize(CENT)
    return m.Position(
        f"SSE:{600000 + index}",
        qty,
        p,
        draw(haircut),
        financed,
        lot_size=draw(lot),
        lower_limit=lower,
    )


@st.composite
def account(draw, min_positions=0, with_debt=False, with_limit=False):
    n = draw(st.integers(min_value=min_positions, max_value=5))
    positions = tuple(draw(long_position(with_limit, i)) for i in range(n))
    debt = draw(positive_money if with_debt else money)
    return m.Account(
        cash=draw(money),
        debt=debt,
        interest_and_fees=draw(st.decimals(min_value=0, max_value=10_000, places=2)),
        other_collateral=draw(st.sampled_from([D(0), D("12345.67")])),
        positions=positions,
    )


@st.composite
def account_in_call(draw):
    """Long rows with lower limits and a ratio between 100% and 149%: a call to plan for."""
    n = draw(st.integers(min_value=1, max_value=5))
    positions = tuple(draw(long_position(True, i)) for i in range(n))
    cash = draw(st.decimals(min_value=0, max_value=10_000, places=2))
    assets = cash + sum(p.quantity * p.price for p in positions)
    ratio = draw(st.decimals(min_value="1.00", max_value="1.49", places=2))
    return m.Account(cash=cash, debt=(assets / ratio).quantize(CENT), positions=positions)


@PROPS
@given(account(min_positions=1, with_debt=True), st.decimals(min_value="1.001", max_value=3))
def test_ratio_rises_with_prices(acct, factor):
    up = m.Account(
        cash=acct.cash,
        debt=acct.debt,
        interest_and_fees=acct.interest_and_fees,
        other_collateral=acct.other_collateral,
        positions=tuple(
            m.Position(p.instrument, p.quantity, p.price * factor, p.haircut, p.financed_amount)
            for p in acct.positions
        ),
    )
    # long holdings and debt > 0: every price up -> ratio strictly up
    assert m.maintenance_ratio(up) > m.maintenance_ratio(acct)


@PROPS
@given(st.one_of(account_in_call(), account(min_positions=1, with_debt=True, with_limit=True)))
def test_minimal_liquidation_restores_within_one_lot(acct):
    target = LINES.target
    plan = m.plan_liquidation(acct, target)
    assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
    if not plan.lines:
        # either nothing to do, or nothing could help: every row sells at or below p / T
        assert plan.restored == (assets >= target * liabilities)
        if not plan.restored:
            assert all(target * p.lower_limit <= p.price for p in acct.positions)
        return
    sold = {x.instrument: x for x in plan.lines}
    by_code = {p.instrument: p for p in acct.positions}

    def after(quantities: dict[str, D]) -> D | None:
        mv = sum((q * by_code[c].price for c, q in quantities.items()), D(0))
        proceeds = sum((q * by_code[c].lower_limit for c, q in quantities.items()), D(0))
        repaid = min(proceeds, liabilities)
        return m.ratio_of(assets - mv + proceeds - repaid, liabilities - repaid)

    quantities = {c: x.quantity for c, x in sold.items()}
    r = after(quantities)
    assert r == plan.ratio_after
    if plan.restored:
        assert r is None or r >= target
        last = plan.lines[-1]
        pos = by_code[last.instrument]
        odd = last.quantity % pos.lot_size
        one_less = odd if odd else D(pos.lot_size)
        fewer = dict(quantities, **{last.instrument: last.quantity - one_less})
        r_less = after(fewer)
        assert r_less is not None and r_less < target
        # every line before the last sold its whole row
        for x in plan.lines[:-1]:
            assert x.quantity == by_code[x.instrument].quantity
    else:
        # everything that could help was sold in full
        for x in plan.lines:
            assert x.quantity == by_code[x.instrument].quantity
        debt_beyond = max(plan.liabilities_after - plan.assets_after, D(0))
        assert plan.shortfall == debt_beyond.quantize(CENT)


@PROPS
@given(
    account(min_positions=0, with_debt=True),
    st.sampled_from([D("3.00"), D("2.5"), D(4), D("3.005")]),
)
def test_withdrawable_cash_keeps_the_line_and_one_cent_more_breaks_it(acct, line):
    w = m.withdrawable_cash(acct, line)
    assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
    assert D(0) <= w <= acct.cash
    if w > 0:
        assert (assets - w) / liabilities >= line
    if w < acct.cash:
        assert (assets - w - CENT) / liabilities < line


@PROPS
@given(account(min_positions=1, with_debt=True), st.data())
def test_withdrawable_quantity_keeps_the_line_and_one_more_lot_breaks_it(acct, data):
    pos = data.draw(st.sampled_from(acct.positions))
    line = LINES.withdrawal
    q = m.withdrawable_quantity(acct, pos, line)
    assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
    assert D(0) <= q <= pos.quantity
    assert q == pos.quantity or q % pos.lot_size == 0
    if q > 0:
        assert (assets - q * pos.price) / liabilities >= line
    if q < pos.quantity:
        nxt = min(q + pos.lot_size, pos.quantity)
        assert (assets - nxt * pos.price) / liabilities < line


@PROPS
@given(account(min_positions=0, with_debt=True))
def test_cure_amount_is_the_least_deposit(acct):
    c = m.cure_amount(acct, LINES.target)
    assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
    assert (assets + c) / liabilities >= LINES.target
    if c > 0:
        assert (assets + c - CENT) / liabilities < LINES.target


@PROPS
@given(positive_money, positive_money, st.decimals(min_value="1.05", max_value=3, places=2))
def test_minimal_sale_formula(assets, liabilities, target):
    s = m.minimal_sale_amount(assets, liabilities, target)
    assume(s < liabilities)  # a sale beyond the debt leaves no debt at all
    if s > 0:
        assert (assets - s) / (liabilities - s) >= target
        assert (assets - s + CENT) / (liabilities - s + CENT) < target
    else:
        assert assets / liabilities >= target


@settings(max_examples=40, deadline=None)
@given(st.lists(account(min_positions=0), min_size=1, max_size=8))
def test_vectorised_equals_decimal(accounts):
    book = m.BookArrays.from_accounts(accounts)
    v = m.value_book(book)
    avail = m.available_margin_many(book, 1.0)
    withdraw = m.withdrawable_cash_many(book, 3.0, v)
    cure = m.cure_amount_many(book, 1.5, v)
    sale = m.minimal_sale_many(book, 1.5, v)
    states = m.classify_many(v.ratio, LINES)
    for i, acct in enumerate(accounts):
        ratio = m.maintenance_ratio(acct)
        if ratio is None:
            assert v.ratio[i] == np.inf
        else:
            assert abs(v.ratio[i] - float(ratio)) <= 1e-9 * max(1.0, float(ratio))
            # away from the lines the float state equals the Decimal state
            if min(abs(ratio - line) for line in (LINES.call, LINES.warning)) > D("1e-9"):
                assert m.STATE_BY_CODE[states[i]] == m.classify(ratio, LINES)
        tol = 1e-9 * float(m.total_assets(acct) + m.total_liabilities(acct)) + 0.011
        assert abs(avail[i] - float(m.available_margin(acct, FMR))) <= tol
        assert abs(withdraw[i] - float(m.withdrawable_cash(acct, LINES.withdrawal))) <= tol
        assert abs(cure[i] - float(m.cure_amount(acct, LINES.target))) <= tol
        assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
        assert abs(sale[i] - float(m.minimal_sale_amount(assets, liabilities, D("1.5")))) <= 3 * tol


@PROPS
@given(
    st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=50),
    st.data(),
)
def test_classify_many_matches_classify(ratios, data):
    in_call = data.draw(st.lists(st.booleans(), min_size=len(ratios), max_size=len(ratios)))
    codes = m.classify_many(np.array(ratios), LINES, in_call=np.array(in_call))
    for r, c, code in zip(ratios, in_call, codes, strict=True):
        assert m.STATE_BY_CODE[code] == m.classify(D(repr(r)), LINES, in_call=c)


# --------------------------------------------------------------------------- the one ratio


#: non-negative amounts up to 10^12 (cents or any float); a positive liability is at least a cent
#: (the ledger's unit), so no float ratio overflows
amounts = st.one_of(
    st.integers(min_value=0, max_value=10**14).map(lambda c: c / 100),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
)
debts = st.one_of(
    st.just(0.0),
    st.integers(min_value=1, max_value=10**14).map(lambda c: c / 100),
    st.floats(min_value=0.01, max_value=1e12, allow_nan=False, allow_infinity=False),
)


@PROPS
@given(
    st.integers(min_value=1, max_value=60).flatmap(
        lambda n: st.tuples(
            st.lists(amounts, min_size=n, max_size=n),
            st.lists(debts, min_size=n, max_size=n),
        )
    )
)
def test_ratios_from_is_the_twin_of_ratio_of(columns):
    """The vectorised maintenance ratio (ratios_from) agrees with the Decimal one (ratio_of)
    element by element: within float rounding where there is debt, +inf exactly where ratio_of
    gives None (no debt)."""
    assets, liabilities = (np.array(c, dtype=np.float64) for c in columns)
    vec = m.ratios_from(assets, liabilities)
    assert vec.shape == assets.shape and vec.dtype == np.float64
    for a, d, r in zip(assets.tolist(), liabilities.tolist(), vec.tolist(), strict=True):
        exact = m.ratio_of(D(a), D(d))
        if exact is None:
            assert r == np.inf
        else:
            assert np.isfinite(r)
            assert abs(r - float(exact)) <= 1e-12 * float(exact)
    assert np.array_equal(np.isinf(vec), liabilities == 0)


# --------------------------------------------------------------------------- the short side

SMR = D("1.00")


@st.composite
def short_position(draw, index: int = 0, with_limit: bool = False):
    """A short row: sold at one price, marked at another (a gain or a loss)."""
    sold_at = draw(price)
    mark = draw(price)
    qty = D(draw(st.integers(min_value=1, max_value=20_000)))
    upper = (mark * draw(st.sampled_from([D("1.05"), D("1.10"), D("1.20")]))).quantize(CENT)
    return m.Position(
        f"SZSE:{index:06d}",
        -qty,
        mark,
        draw(haircut),
        lot_size=draw(lot),
        short_sale_amount=qty * sold_at,
        upper_limit=upper if with_limit else None,
    )


@st.composite
def account_with_shorts(draw, with_limit: bool = False):
    longs = tuple(
        draw(long_position(with_limit, i))
        for i in range(draw(st.integers(min_value=0, max_value=3)))
    )
    shorts = tuple(
        draw(short_position(i, with_limit))
        for i in range(draw(st.integers(min_value=1, max_value=3)))
    )
    proceeds = sum((p.short_sale_amount for p in shorts), D(0))
    return m.Account(
        cash=draw(money),
        debt=draw(money),
        interest_and_fees=draw(st.decimals(min_value=0, max_value=10_000, places=2)),
        other_collateral=draw(st.sampled_from([D(0), D("12345.67")])),
        positions=longs + shorts,
        # the restricted proceeds: what the sales left (less, where some paid for covers)
        short_proceeds=draw(st.sampled_from([proceeds, (proceeds / 2).quantize(CENT)])),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(account(min_positions=0), account_with_shorts()), min_size=1, max_size=8))
def test_vectorised_equals_decimal_with_shorts(accounts):
    """The book arrays value accounts with shorts as the Decimal face: assets with the
    restricted proceeds, short liabilities at market value, the available margin with the
    short terms (no NaN when the short margin ratio is given)."""
    book = m.BookArrays.from_accounts(accounts)
    v = m.value_book(book)
    avail = m.available_margin_many(book, 1.0, short_margin_ratio=float(SMR))
    assert np.isfinite(avail).all()
    without = m.available_margin_many(book, 1.0)
    sale = m.minimal_sale_many(book, 1.5, v)
    for i, acct in enumerate(accounts):
        assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
        tol = 1e-9 * float(assets + liabilities) + 0.011
        assert abs(v.assets[i] - float(assets)) <= tol
        assert abs(v.liabilities[i] - float(liabilities)) <= tol
        assert abs(avail[i] - float(m.available_margin(acct, FMR, SMR))) <= tol
        assert np.isnan(without[i]) == acct.has_short
        assert abs(sale[i] - float(m.minimal_sale_amount(assets, liabilities, D("1.5")))) <= 3 * tol


@PROPS
@given(account_with_shorts(with_limit=True))
def test_long_short_cure_is_consistent_and_never_below_the_minimal_amount(acct):
    """The plan's figures follow from its lines (sales repay the financing first, covers take
    their cost from the assets and their mark value from the liabilities); a restored plan
    moved at least the minimal amount S = (T·D - A)/(T - 1) (at upper limits and marks a cover
    moves more than its liability); a plan that does not restore covered or sold everything
    that helps."""
    target = LINES.target
    plan = m.plan_liquidation_long_short(acct, target)
    by_code = {p.instrument: p for p in acct.positions}
    assets, liabilities = m.total_assets(acct), m.total_liabilities(acct)
    sold = sum((x.quantity * by_code[x.instrument].price for x in plan.lines), D(0))
    raised = sum((x.quantity * x.limit_price for x in plan.lines), D(0))
    repaid = min(raised, acct.debt + acct.interest_and_fees)
    spent = sum((x.quantity * x.limit_price for x in plan.covers), D(0))
    covered = sum((x.quantity * by_code[x.instrument].price for x in plan.covers), D(0))
    assert plan.assets_after == assets - sold + raised - repaid - spent
    assert plan.liabilities_after == liabilities - repaid - covered
    assert spent <= acct.short_proceeds + acct.cash + raised - repaid  # covers are paid
    for x in plan.covers:
        assert 0 < x.quantity <= -by_code[x.instrument].quantity
    if plan.restored and plan.liabilities_after > 0:
        assert repaid + covered >= m.minimal_sale_amount(assets, liabilities, target) - CENT
    if not plan.restored:
        # every long that could help (T·L > p) is sold whole
        for p in acct.positions:
            if p.quantity > 0 and target * p.lower_limit > p.price:
                assert any(x.instrument == p.instrument and x.quantity == p.quantity
                           for x in plan.lines)  # fmt: skip
