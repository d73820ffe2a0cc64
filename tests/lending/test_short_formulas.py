"""The short side (融券) of the margin formulas, hand-computed (issue 22): the short sale's margin
check and restricted proceeds, the maintenance ratio and available margin of a short as its
price moves, the minimal cure of an account with long and short rows, the book arrays with
shorts, and the dated parameters of securities lending."""

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import numpy as np
import pytest

from lending.domain import margin as m
from tests.lending.margin_lines import FMR, LINES

SMR = D("1.00")  # the short margin ratio in force from 2024-07-22
X, Y, Z = "SZSE:000001", "SSE:600000", "SSE:601318"


def _at(account: m.Account, instrument: str, price: str) -> m.Account:
    """The account with one instrument's rows marked at ``price``."""
    rows = tuple(
        replace(p, price=D(price)) if p.instrument == instrument else p for p in account.positions
    )
    return replace(account, positions=rows)


# --------------------------------------------------------------------------- the short sale


def test_short_sale_needs_margin_at_the_ratio_and_restricts_its_proceeds():
    before = m.Account(cash=D("50000.00"))
    check = m.check_short_sale(before, D("20000.00"), SMR, FMR)  # 1,000 sh at 20.00
    assert check.allowed and check.required_margin == D("20000.00")
    assert check.available_margin == D("50000.00") and check.headroom == D("30000.00")
    # exactly 20,000.00 of available margin is enough, a cent less is not
    assert m.check_short_sale(m.Account(cash=D("20000.00")), D(20000), SMR, FMR).allowed
    assert not m.check_short_sale(m.Account(cash=D("19999.99")), D(20000), SMR, FMR).allowed
    # at the ratio in force until 2023-10-15 (50 per cent) half as much; private funds 120%
    assert m.check_short_sale(before, D(20000), D("0.50"), FMR).required_margin == D("10000.00")
    assert m.check_short_sale(before, D(20000), D("1.20"), FMR).required_margin == D("24000.00")
    with pytest.raises(ValueError):
        m.check_short_sale(before, D(0), SMR, FMR)

    after = m.with_short_sale(before, X, D(1000), D("20.00"), haircut=D("0.70"))
    (row,) = after.positions
    assert row.quantity == D(-1000) and row.short_sale_amount == D("20000.00")
    assert after.short_proceeds == D("20000.00")  # restricted: not cash
    assert after.cash == D("50000.00")
    # available margin: 50,000 + (20,000 - 20,000) x 0.70 - 20,000 x 1.00 = 30,000: the sale
    # took the 20,000.00 it needed
    assert m.available_margin(after, FMR, SMR) == D("30000.00")
    # a second sale of the same security adds to the row
    again = m.with_short_sale(after, X, D(500), D("21.00"))
    (row,) = again.positions
    assert row.quantity == D(-1500) and row.short_sale_amount == D("30500.00")
    assert again.short_proceeds == D("30500.00")


def test_a_rise_to_24_moves_the_ratio_and_available_margin_as_the_formulas_say():
    short = m.with_short_sale(m.Account(cash=D("50000")), X, D(1000), D("20.00"), D("0.70"))
    # maintenance ratio: A = 50,000 cash + 20,000 restricted proceeds, D = 1,000 x price
    assert m.total_assets(short) == D(70000) and m.total_liabilities(short) == D(20000)
    assert m.maintenance_ratio(short) == D("3.5")  # 350 per cent
    up = _at(short, X, "24.00")
    assert m.total_assets(up) == D(70000) and m.total_liabilities(up) == D(24000)
    assert m.maintenance_ratio(up) == D(70000) / D(24000)  # 291.67 per cent
    assert m.maintenance_ratio(up).quantize(D("0.0001")) == D("2.9167")
    # available margin: at a loss the haircut is 100 per cent and the margin is on the
    # market value: 50,000 + (20,000 - 24,000) x 1 - 24,000 x 1.00 = 22,000
    assert m.available_margin(up, FMR, SMR) == D("22000.00")
    # at a gain (18.00) the gain counts at the haircut: 50,000 + 2,000 x 0.70 - 18,000 = 33,400
    down = _at(short, X, "18.00")
    assert m.available_margin(down, FMR, SMR) == D("33400.00")
    assert m.maintenance_ratio(down) == D(70000) / D(18000)
    # what a cash deposit, or a buy-back at mark, needs to restore 150 per cent at 24.00:
    # none (291.67 per cent); at 50.00: D = 50,000, 1.5 x 50,000 - 70,000 = 5,000
    assert m.cure_amount(up, LINES.target) == D("0.00")
    assert m.cure_amount(_at(short, X, "50.00"), LINES.target) == D("5000.00")


def test_available_margin_with_every_kind_of_row():
    account = m.Account(
        cash=D("10000"),
        debt=D("60000"),
        interest_and_fees=D("500"),
        short_proceeds=D("30000"),
        positions=(
            m.Position(Y, D(5000), D("10.00"), D("0.70")),  # collateral
            m.Position(Z, D(4000), D("20.00"), D("0.65"), financed_amount=D("60000")),  # financed
            m.Position(X, D(-1000), D("30.00"), D("0.70"), short_sale_amount=D("30000")),
        ),
    )
    # 10,000 + 50,000 x 0.70 + (80,000 - 60,000) x 0.65 + (30,000 - 30,000) x 0.70
    # - 30,000 x 0.80 - 60,000 x 1.00 - 500 = 10,000 + 35,000 + 13,000 - 24,000 - 60,000 - 500
    assert m.available_margin(account, FMR, D("0.80")) == D("-26500.00")
    # ratio: (10,000 + 30,000 + 50,000 + 80,000) / (60,000 + 30,000 + 500)
    assert m.maintenance_ratio(account) == D(170000) / D(90500)
    # a financed purchase on such an account needs the short ratio for its available margin
    with pytest.raises(ValueError, match="short"):
        m.check_financed_purchase(account, D(1000), FMR)
    assert not m.check_financed_purchase(account, D(1000), FMR, D("0.80")).allowed


def test_position_rows_refuse_mixed_terms():
    with pytest.raises(ValueError, match="short row"):
        m.Position(X, D(100), D(10), short_sale_amount=D(1000))
    with pytest.raises(ValueError, match="short row"):
        m.Position(X, D(-100), D(10), financed_amount=D(1000))
    with pytest.raises(ValueError):
        m.Account(cash=D(0), short_proceeds=D(-1))


# --------------------------------------------------------------------------- the book arrays


def _book_accounts() -> list[m.Account]:
    short = m.with_short_sale(m.Account(cash=D("50000")), X, D(1000), D("20.00"), D("0.70"))
    return [
        short,
        _at(short, X, "24.00"),
        m.Account(
            cash=D("1000"),
            debt=D("15000"),
            positions=(m.Position(Y, D(2000), D(10), D("0.70"), financed_amount=D(15000)),),
        ),
        m.Account(cash=D(0)),
    ]


def test_book_arrays_value_shorts_like_the_decimal_face():
    accounts = _book_accounts()
    book = m.BookArrays.from_accounts(accounts)
    assert book.short_sale.tolist() == [20000.0, 20000.0, 0.0]
    assert book.short_proceeds.tolist() == [20000.0, 20000.0, 0.0, 0.0]
    v = m.value_book(book)
    assert v.assets.tolist() == [70000.0, 70000.0, 21000.0, 0.0]
    assert v.liabilities.tolist() == [20000.0, 24000.0, 15000.0, 0.0]
    assert v.ratio[0] == 3.5 and v.ratio[1] == pytest.approx(70000 / 24000, rel=1e-15)
    avail = m.available_margin_many(book, 1.0, short_margin_ratio=1.0)
    # third: 1,000 + (20,000 - 15,000) x 0.70 - 15,000 = -10,500
    assert avail.tolist() == [30000.0, 22000.0, -10500.0, 0.0]
    for i, acct in enumerate(accounts):
        assert avail[i] == float(m.available_margin(acct, FMR, SMR))
    # per-account short margin ratios; without one the accounts with shorts are NaN
    per_account = m.available_margin_many(book, 1.0, short_margin_ratio=np.array([1.2, 0.8, 1, 1]))
    assert per_account[:2].tolist() == [26000.0, 26800.0]
    no_ratio = m.available_margin_many(book, 1.0)
    assert np.isnan(no_ratio[:2]).all() and no_ratio[2:].tolist() == [-10500.0, 0.0]
    # repricing keeps the short terms (what lending.mtm.book_arrays.reprice does)
    repriced = book.with_prices(book.price * 1.2)
    assert repriced.short_sale is book.short_sale
    assert repriced.short_proceeds is book.short_proceeds
    assert m.value_book(repriced).liabilities[0] == 24000.0
    # the stress test values them with the short margin ratio it is given
    from lending.domain import analytics as an

    res = an.stress_test(
        book, an.Scenario("up 20", market_move=0.2), lines=LINES, financing_margin_ratio=1.0,
        short_margin_ratio=1.0,
    )  # fmt: skip
    assert res.available_margin[0] == pytest.approx(22000.0)
    # a short rising 20 per cent: 70,000 / 24,000 (its liquidation costs no discount)
    assert res.ratio[0] == pytest.approx(70000 / 24000)
    assert res.shortfall[0] == 0.0


# --------------------------------------------------------------------------- the minimal cure


def test_cover_only_from_the_restricted_proceeds():
    # 10,000 cash + 20,000 restricted, short 1,000 at 24.00: ratio 30,000 / 24,000 = 125%
    acct = m.Account(
        cash=D("10000"),
        short_proceeds=D("20000"),
        positions=(
            m.Position(
                X, D(-1000), D(24), D("0.70"), short_sale_amount=D(20000), limit_price=D(24)
            ),
        ),
    )
    plan = m.plan_liquidation_long_short(acct, LINES.target)
    # need 1.5 x 24,000 - 30,000 = 6,000; a share bought back at 24.00 gains 1.5 x 24 - 24 =
    # 12: 500 shares = B = 12,000 = (T·D - A)/(T - 1) = 6,000 / 0.5
    assert plan.lines == ()
    ((cover),) = plan.covers
    assert (cover.instrument, cover.quantity, cover.proceeds) == (X, D(500), D("12000.00"))
    assert plan.cover_cost == D("12000.00")
    assert m.minimal_sale_amount(D(30000), D(24000), LINES.target) == D("12000.00")
    assert (plan.assets_after, plan.liabilities_after) == (D(18000), D(12000))
    assert plan.ratio_after == D("1.5") and plan.restored


def test_minimal_cure_of_a_long_and_short_account():
    # short X 1,000 at 24.00 (sold at 20.00: 20,000 restricted), long Y 10,000 at 8.00 financed
    # 60,000: A = 20,000 + 80,000 = 100,000, D = 60,000 + 24,000 = 84,000, ratio 119.05%
    acct = m.Account(
        cash=D(0),
        debt=D("60000"),
        short_proceeds=D("20000"),
        positions=(
            m.Position(X, -1000, 24, D("0.70"), short_sale_amount=20000, limit_price=24),
            m.Position(Y, 10000, 8, D("0.70"), financed_amount=60000, limit_price=8),
        ),
    )
    plan = m.plan_liquidation_long_short(acct, LINES.target)
    # need = 1.5 x 84,000 - 100,000 = 26,000.
    # 1. covers from the 20,000 restricted: 12 a share, whole lots the proceeds pay: 800 shares
    #    (19,200.00; 900 would cost 21,600), need 26,000 - 9,600 = 16,400
    # 2. sale of Y at 8.00, repaying financing: 1.5 x 8 - 8 = 4 a share: 4,100 shares (32,800)
    assert [(c.instrument, c.quantity) for c in plan.covers] == [(X, D(800))]
    assert [(s.instrument, s.quantity) for s in plan.lines] == [(Y, D(4100))]
    assert plan.cover_cost == D("19200.00") and plan.proceeds == D("32800.00")
    # A' = 100,000 - 19,200 - 32,800 = 48,000; D' = 84,000 - 19,200 - 32,800 = 32,000: 150%
    assert (plan.assets_after, plan.liabilities_after) == (D(48000), D(32000))
    assert plan.ratio_after == D("1.5") and plan.restored
    # together exactly the minimal amount S = (T·D - A)/(T - 1) = 26,000 / 0.5 = 52,000
    assert m.minimal_sale_amount(D(100000), D(84000), LINES.target) == D("52000.00")
    assert plan.cover_cost + plan.proceeds == D("52000.00")
    # one lot fewer of the sale does not restore: (48,800) / (32,800) < 150%
    assert D(48800) / D(32800) < LINES.target
    # the numpy twin gives the same minimal amount for the account
    book = m.BookArrays.from_accounts([acct])
    assert m.minimal_sale_many(book, 1.5)[0] == pytest.approx(52000.0)


def test_a_sale_beyond_the_financing_pays_the_cover():
    # short X 1,000 at 30.00 (sold at 20.00: 20,000 restricted), long Y 2,000 at 10.00 financed
    # 5,000: A = 40,000, D = 35,000 (114.29%); need 52,500 - 40,000 = 12,500
    acct = m.Account(
        cash=D(0),
        debt=D("5000"),
        short_proceeds=D("20000"),
        positions=(
            m.Position(X, -1000, 30, D("0.70"), short_sale_amount=20000, limit_price=30),
            m.Position(Y, 2000, 10, D("0.70"), financed_amount=5000, limit_price=10),
        ),
    )
    plan = m.plan_liquidation_long_short(acct, LINES.target)
    # 1. covers: 15 a share; the 20,000 pay 600 shares (18,000): need 12,500 - 9,000 = 3,500,
    #    2,000 of cash left
    # 2. Y at 10.00: 500 shares repay the 5,000 (need 3,500 - 2,500 = 1,000); a lot of X costs
    #    3,000: 600 shares leave 2,000 + 1,000 = 3,000, which pays 100 more of X (need -500);
    #    550 would not (a lot of 100 shares), 500 leave 2,000
    # 3. the cover of 100 X from the sale's excess
    assert [(s.instrument, s.quantity) for s in plan.lines] == [(Y, D(600))]
    assert [(c.instrument, c.quantity) for c in plan.covers] == [(X, D(700))]
    # A' = 40,000 - 21,000 (covers) - 6,000 (Y leaves) + 6,000 (proceeds) - 5,000 (repaid)
    # D' = 35,000 - 21,000 - 5,000
    assert (plan.assets_after, plan.liabilities_after) == (D(14000), D(9000))
    assert plan.restored and plan.ratio_after == D(14000) / D(9000)
    assert plan.shortfall == D("0.00")


def test_cure_respects_limits_fees_and_unsellable_rows():
    short = m.Position(
        X, D(-1000), D("24.00"), short_sale_amount=D(20000), upper_limit=D("26.40")
    )  # fmt: skip
    acct = m.Account(cash=D("10000"), short_proceeds=D("20000"), positions=(short,))
    # without a limit price the buy-back is sized at the day's upper limit 26.40: a share
    # gains 36 - 26.40 = 9.60; need 6,000: 625 -> 700 shares (7 lots), 18,480.00
    plan = m.plan_liquidation_long_short(acct, LINES.target)
    ((cover),) = plan.covers
    assert (cover.quantity, cover.limit_price, cover.proceeds) == (
        D(700),
        D("26.40"),
        D("18480.00"),
    )
    # a buy fee of 0.1 per cent: cost 24.024 a share at a 24.00 limit, gain 11.976: 600 shares
    at_24 = replace(acct, positions=(replace(short, limit_price=D("24.00")),))
    with_fee = m.plan_liquidation_long_short(at_24, LINES.target, buy_fee_rate=D("0.001"))
    assert with_fee.covers[0].quantity == D(600)
    assert with_fee.assets_after == D(30000) - D(600) * D("24.024")
    # a suspended short is not bought back: nothing helps, nothing planned
    stuck = m.plan_liquidation_long_short(at_24, LINES.target, unsellable={X})
    assert stuck.covers == () and not stuck.restored
    # a buy limit above the upper limit is refused
    with pytest.raises(ValueError, match="upper limit"):
        bad = replace(acct, positions=(replace(short, limit_price=D("26.50")),))
        m.plan_liquidation_long_short(bad, LINES.target)
    # the expected buy price: latest plus slippage, rounded up to the tick, capped at the limit
    assert m.expected_buy_price(D("24.00"), D("0.005")) == D("24.12")
    assert m.expected_buy_price(D("24.00"), D("0.005"), upper_limit=D("24.10")) == D("24.10")


def test_without_shorts_the_plan_is_plan_liquidation():
    acct = m.Account(
        cash=D("2000"),
        debt=D("40000"),
        positions=(
            m.Position(Y, D(5000), D(10), D("0.70"), financed_amount=D(40000), limit_price=D(10)),
        ),
    )  # fmt: skip
    assert m.plan_liquidation_long_short(acct, LINES.target) == m.plan_liquidation(
        acct, LINES.target
    )


# --------------------------------------------------------------------------- dated parameters


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key, day, value",
    [
        ("shorts.margin_ratio", date(2023, 10, 15), "0.50"),
        ("shorts.margin_ratio", date(2023, 10, 16), "0.80"),
        ("shorts.margin_ratio", date(2024, 7, 21), "0.80"),
        ("shorts.margin_ratio", date(2024, 7, 22), "1.00"),
        ("shorts.margin_ratio_private_fund", date(2023, 10, 15), "0.50"),
        ("shorts.margin_ratio_private_fund", date(2023, 10, 16), "1.00"),
        ("shorts.margin_ratio_private_fund", date(2024, 7, 22), "1.20"),
        ("shorts.float_stop", date(2024, 1, 2), "0.25"),
        ("shorts.float_resume", date(2024, 1, 2), "0.20"),
        ("shorts.refinancing_enabled", date(2019, 1, 1), "1"),
        ("shorts.refinancing_enabled", date(2024, 7, 10), "1"),
        ("shorts.refinancing_enabled", date(2024, 7, 11), "0"),
        ("shorts.fee_rate_standard", date(2024, 1, 2), "0.0835"),
        ("shorts.max_term_months", date(2024, 1, 2), "6"),
    ],
)
def test_short_parameters_are_dated_in_the_table(key, day, value):
    from compliance.selectors import parameter

    assert parameter(key, on=day) == D(value)


@pytest.mark.django_db
def test_short_parameters_seeded_with_their_sources():
    from compliance import parameters as P
    from compliance.models import RegulatoryParameter
    from compliance.selectors import ParameterMissing, parameter

    keys = {
        P.SHORT_MARGIN_RATIO, P.SHORT_MARGIN_RATIO_PRIVATE_FUND, P.SHORT_FLOAT_STOP,
        P.SHORT_FLOAT_RESUME, P.REFINANCING_ENABLED, P.SHORT_FEE_RATE_STANDARD,
        P.SHORT_MAX_TERM_MONTHS,
    }  # fmt: skip
    seeded = {(k, d, v, s) for k, d, v, s in P.SEED if k in keys}
    rows = {
        (r.key, r.effective_from, r.value, r.source)
        for r in RegulatoryParameter.objects.filter(key__in=keys)
    }
    assert rows == seeded and len(rows) == 12
    assert all(source for *_, source in rows)
    assert P.short_margin_ratio_key(private_fund=True) == "shorts.margin_ratio_private_fund"
    assert P.short_margin_ratio_key() == "shorts.margin_ratio"
    # no refinancing switch before it existed: a loud error, no default
    with pytest.raises(ParameterMissing):
        parameter(P.REFINANCING_ENABLED, on=date(2018, 12, 31))
