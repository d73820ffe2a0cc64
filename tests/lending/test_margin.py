"""Golden numbers for lending.domain.margin, worked by hand in the comments (DOMAIN.md
"Formulas")."""

from decimal import Decimal as D

import numpy as np
import pytest

from lending.domain import margin as m
from tests.lending.margin_lines import FMR, LINES


def _financed_book(price_a: str = "20.00") -> m.Account:
    # A: 10,000 sh financed (150,000 borrowed), haircut 70%; B: 5,000 sh own collateral, 65%
    return m.Account(
        cash=D("200000"),
        debt=D("150000"),
        interest_and_fees=D("1500"),
        positions=(
            m.Position("SSE:600000", D(10_000), D(price_a), D("0.70"), D("150000")),
            m.Position("SZSE:000001", D(5_000), D("10.00"), D("0.65")),
        ),
    )


# --------------------------------------------------------------------------- ratio


def test_maintenance_ratio_golden():
    account = _financed_book()
    # A = 200,000 + 10,000 * 20 + 5,000 * 10 = 450,000; D = 150,000 + 1,500 = 151,500
    assert m.total_assets(account) == D(450_000)
    assert m.total_liabilities(account) == D(151_500)
    assert m.maintenance_ratio(account) == D(450_000) / D(151_500)
    assert m.maintenance_ratio(account).quantize(D("0.0001")) == D("2.9703")


def test_ratio_counts_other_collateral_and_shorts():
    account = m.Account(
        cash=D("30000"),  # includes the proceeds of the short sale
        other_collateral=D("5000"),
        positions=(m.Position("SSE:601318", D(-1_000), D("10.00")),),
    )
    # A = 30,000 + 5,000 = 35,000; D = 0 + 1,000 * 10 = 10,000 -> 3.5
    assert m.maintenance_ratio(account) == D("3.5")
    with pytest.raises(ValueError, match="short"):
        m.available_margin(account, FMR)


def test_no_debt_has_no_ratio_and_is_normal():
    account = m.Account(cash=D("1000"), positions=(m.Position("SSE:600000", D(100), D(10)),))
    assert m.maintenance_ratio(account) is None
    assert m.classify(None, LINES) is m.MarginState.NORMAL
    assert m.cure_amount(account, LINES.target) == D("0.00")
    plan = m.plan_liquidation(account, LINES.target)
    assert plan.lines == () and plan.restored and plan.ratio_after is None


# --------------------------------------------------------------------------- available margin


def test_available_margin_gain_uses_haircut():
    # 200,000 cash + 5,000*10*0.65 (=32,500) + (200,000 - 150,000)*0.70 (=35,000)
    # - 150,000 * 1.00 - 1,500 = 116,000
    assert m.available_margin(_financed_book(), FMR) == D("116000.00")
    # at a financing margin ratio of 80%: 200,000 + 32,500 + 35,000 - 120,000 - 1,500 = 146,000
    assert m.available_margin(_financed_book(), D("0.80")) == D("146000.00")


def test_available_margin_loss_counts_in_full():
    # A falls to 12.00: MV 120,000, loss 30,000 counted at 100% (not 70%, which gives 21,000)
    # 200,000 + 32,500 - 30,000 - 150,000 - 1,500 = 51,000
    assert m.available_margin(_financed_book("12.00"), FMR) == D("51000.00")


def test_financed_purchase_needs_margin_times_ratio():
    account = _financed_book()
    ok = m.check_financed_purchase(account, D("116000"), FMR)  # needs 116,000 * 1.00 = 116,000
    assert ok.allowed and ok.required_margin == D("116000.00") and ok.headroom == 0
    assert not m.check_financed_purchase(account, D("116000.01"), FMR).allowed
    # ratio 80%: available 146,000 covers 146,000 / 0.8 = 182,500
    assert m.check_financed_purchase(account, D("182500"), D("0.80")).allowed
    late = m.check_financed_purchase(account, D("182500.02"), D("0.80"))
    assert not late.allowed and late.required_margin == D("146000.02")  # 146,000.016 half-up
    with pytest.raises(ValueError):
        m.check_financed_purchase(account, D(0), FMR)


# --------------------------------------------------------------------------- withdrawals


def _plain(cash: str, debt: str, *positions: m.Position, interest: str = "0") -> m.Account:
    return m.Account(cash=D(cash), debt=D(debt), interest_and_fees=D(interest), positions=positions)


def test_withdrawable_cash_golden():
    stock = m.Position("SSE:600519", D(2_500), D("100.00"))  # MV 250,000
    # A = 200,000 + 250,000 = 450,000; D = 100,000; 450,000 - 3 * 100,000 = 150,000
    account = _plain("200000", "100000", stock)
    assert m.withdrawable_cash(account, LINES.withdrawal) == D("150000.00")
    # after withdrawing: 300,000 / 100,000 = 3.00 exactly on the line
    # capped by cash: A = 100,000 + 500,000 = 600,000, room 300,000 but only 100,000 cash
    rich = _plain("100000", "100000", m.Position("SSE:600519", D(5_000), D("100.00")))
    assert m.withdrawable_cash(rich, LINES.withdrawal) == D("100000.00")
    # ratio under the line: nothing
    assert m.withdrawable_cash(_plain("1000", "100000", stock), LINES.withdrawal) == D("0.00")
    # no debt: all cash
    assert m.withdrawable_cash(_plain("1234.56", "0", stock), LINES.withdrawal) == D("1234.56")


def test_withdrawable_cash_rounds_down_not_half_up():
    stock = m.Position("SSE:600519", D(2_500), D("100.00"))
    account = _plain("200000", "100000.01", stock)
    # line 3.005: 450,000 - 3.005 * 100,000.01 = 450,000 - 300,500.03005 = 149,499.96995
    # half-up would give 149,499.97 and leave the ratio just under the line
    assert m.withdrawable_cash(account, D("3.005")) == D("149499.96")


def test_withdrawable_quantity_golden():
    x = m.Position("SSE:600000", D(10_000), D("30.00"))  # 300,000
    y = m.Position("SSE:600036", D(2_050), D("100.00"))  # 205,000 (odd lot of 50)
    account = _plain("0", "100000", x, y)
    # A = 505,000; room = 505,000 - 300,000 = 205,000
    assert m.withdrawable_quantity(account, y, LINES.withdrawal) == D(
        2_050
    )  # whole row fits exactly
    # x: 205,000 / 30 = 6,833.3 shares -> 68 lots = 6,800 (69 lots = 207,000 > room)
    assert m.withdrawable_quantity(account, x, LINES.withdrawal) == D(6_800)
    tighter = _plain("0", "100001", x, y)
    # room 204,997 -> y: 2,049.97 shares, the whole row no longer fits -> 20 lots
    assert m.withdrawable_quantity(tighter, tighter.positions[1], LINES.withdrawal) == D(2_000)
    assert m.withdrawable_quantity(_plain("0", "0", x), x, LINES.withdrawal) == D(10_000)
    with pytest.raises(ValueError):
        m.withdrawable_quantity(account, m.Position("SSE:601988", D(100), D(1)), LINES.withdrawal)


# --------------------------------------------------------------------------- calls


def test_cure_amount_and_minimal_sale_golden():
    account = _plain("25000", "100000", m.Position("SSE:600000", D(10_000), D("10.00")))
    # A = 125,000, D = 100,000 (125%); cure to 150%: 150,000 - 125,000 = 25,000
    assert m.cure_amount(account, LINES.target) == D("25000.00")
    # minimal sale: (1.5 * 100,000 - 125,000) / 0.5 = 50,000;
    # check: (125,000 - 50,000) / (100,000 - 50,000) = 75,000 / 50,000 = 1.5
    assert m.minimal_sale_amount(D(125_000), D(100_000), D("1.5")) == D("50000.00")
    # odd cents round up: T * D = 150,000.015 -> 25,000.015 -> 25,000.02
    odd = _plain("25000", "100000.01", m.Position("SSE:600000", D(10_000), D("10.00")))
    assert m.cure_amount(odd, LINES.target) == D("25000.02")
    assert m.minimal_sale_amount(D(200), D(100), D("1.5")) == D("0.00")
    with pytest.raises(ValueError):
        m.minimal_sale_amount(D(1), D(1), D(1))


def _call_account() -> m.Account:
    return m.Account(
        cash=D(0),
        debt=D(100_000),
        positions=(
            m.Position("SZSE:BIG", D(10_000), D("10.00"), D("0.70"), lower_limit=D("9.00")),
            m.Position("SZSE:SML", D(2_000), D("10.00"), D("0.65"), lower_limit=D("9.00")),
            m.Position("SSE:ST01", D(1_000), D("5.00"), D(0), lower_limit=D("4.75")),
        ),
    )


def test_plan_liquidation_golden():
    plan = m.plan_liquidation(_call_account(), D("1.5"))
    # A = 100,000 + 20,000 + 5,000 = 125,000, D = 100,000; need = 1.5 * 100,000 - 125,000
    # = 25,000. Order: ST01 (haircut 0) first, then BIG (largest MV), then SML.
    # ST01 at 4.75: gain per share 1.5 * 4.75 - 5.00 = 2.125; all 1,000 give 2,125 < 25,000
    # BIG at 9.00: gain 1.5 * 9 - 10 = 3.5 per share, 350 per lot; remaining 22,875 / 350
    # = 65.36 -> 66 lots = 6,600 shares
    assert [(x.instrument, x.quantity) for x in plan.lines] == [
        ("SSE:ST01", D(1_000)),
        ("SZSE:BIG", D(6_600)),
    ]
    assert [x.proceeds for x in plan.lines] == [D("4750.00"), D("59400.00")]
    assert plan.proceeds == D("64150.00")
    # A' = 125,000 - 5,000 - 66,000 = 54,000; D' = 100,000 - 64,150 = 35,850
    assert plan.ratio_after == D(54_000) / D(35_850)  # 1.5063 >= 1.5
    assert plan.restored and plan.shortfall == D("0.00")
    # 65 lots would leave (125,000 - 70,000) / (100,000 - 63,250) = 55,000 / 36,750 = 1.4966
    assert D(55_000) / D(36_750) < D("1.5")


def test_plan_liquidation_order_rules():
    plan = m.plan_liquidation(_call_account(), D("1.5"), order="largest_mv_first")
    # BIG alone: 25,000 / 350 = 71.4 -> 72 lots
    assert [(x.instrument, x.quantity) for x in plan.lines] == [("SZSE:BIG", D(7_200))]
    plan = m.plan_liquidation(_call_account(), D("1.5"), order=lambda p: p.instrument)
    assert plan.lines[0].instrument == "SSE:ST01"
    with pytest.raises(ValueError, match="unknown order"):
        m.plan_liquidation(_call_account(), D("1.5"), order="cheapest")


def test_plan_liquidation_sells_everything_and_reports_shortfall():
    account = m.Account(
        cash=D(0),
        debt=D(100_000),
        positions=(m.Position("SSE:600000", D(5_050), D("20.00"), lower_limit=D("18.00")),),
    )
    # A = 101,000; need = 150,000 - 101,000 = 49,000; gain 1.5*18 - 20 = 7 per share:
    # 5,050 * 7 = 35,350 < 49,000 -> sell all 5,050 (odd lot included) at 18 = 90,900
    plan = m.plan_liquidation(account, D("1.5"))
    assert [(x.quantity, x.proceeds) for x in plan.lines] == [(D(5_050), D("90900.00"))]
    assert not plan.restored
    # A' = 0, D' = 100,000 - 90,900 = 9,100: debt beyond assets
    assert plan.ratio_after == 0 and plan.shortfall == D("9100.00")


def test_plan_liquidation_skips_rows_that_cannot_help_and_checks_limits():
    useless = m.Position("SSE:600001", D(1_000), D("10.00"), lower_limit=D("6.00"))
    # 1.5 * 6 - 10 = -1: selling at 6 would lower the ratio
    account = m.Account(cash=D(0), debt=D(9_000), positions=(useless,))
    plan = m.plan_liquidation(account, D("1.5"))
    assert plan.lines == () and not plan.restored
    bad = m.Position("SSE:600002", D(100), D(10), limit_price=D(8), lower_limit=D(9))
    with pytest.raises(ValueError, match="lower limit"):
        m.plan_liquidation(m.Account(cash=D(0), debt=D(1_000), positions=(bad,)), D("1.5"))
    none = m.Position("SSE:600003", D(100), D(10))
    with pytest.raises(ValueError, match="limit"):
        m.plan_liquidation(m.Account(cash=D(0), debt=D(1_000), positions=(none,)), D("1.5"))


def test_plan_uses_limit_price_over_lower_limit():
    p = m.Position("SSE:600000", D(10_000), D("10.00"), limit_price=D("9.50"), lower_limit=D(9))
    account = m.Account(cash=D(0), debt=D(80_000), positions=(p,))
    # need = 120,000 - 100,000 = 20,000; gain 1.5 * 9.5 - 10 = 4.25, 425 per lot -> 47.06 -> 48
    plan = m.plan_liquidation(account, D("1.5"))
    assert plan.lines[0].quantity == D(4_800) and plan.lines[0].limit_price == D("9.50")


# --------------------------------------------------------------------------- states


@pytest.mark.parametrize(
    ("ratio", "in_call", "state"),
    [
        ("1.45", False, "normal"),
        ("1.40", False, "normal"),  # on the warning line: not under it
        ("1.3999", False, "warning"),
        ("1.30", False, "warning"),
        ("1.2999", False, "call"),
        ("1.45", True, "call"),  # above the call line but below the target: still in call
        ("1.50", True, "cured"),
        (None, True, "cured"),  # debt repaid
    ],
)
def test_classify(ratio, in_call, state):
    r = None if ratio is None else D(ratio)
    assert m.classify(r, LINES, in_call=in_call) == state
    vec = m.classify_many(
        np.array([np.inf if r is None else float(r)]), LINES, in_call=np.array([in_call])
    )
    assert m.STATE_BY_CODE[vec[0]] == state


def test_lines_validate():
    with pytest.raises(ValueError):
        m.MarginLines(warning=D("1.2"), call=D("1.3"), target=D("1.5"), withdrawal=D("3"))
    with pytest.raises(ValueError):
        m.MarginLines(call=D("0.9"), warning=D("0.95"), target=D("1.0"), withdrawal=D("3"))
    with pytest.raises(TypeError):  # no default lines: every line is given
        m.MarginLines(warning=D("1.4"), call=D("1.3"))  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        m.classify_many(np.array([np.nan]), LINES)


def test_money_is_never_float():
    with pytest.raises(TypeError):
        m.Position("SSE:600000", 100, 10.5)
    assert m.to_money(0.1) == D("0.10")
    assert m.to_money(2.675) == D("2.68")  # repr 2.675, half-up (binary 2.67499.. would be 2.67)
    with pytest.raises(ValueError):
        m.to_money(float("nan"))


# --------------------------------------------------------------------------- vectorised


def test_vectorised_golden():
    accounts = [
        _financed_book(),
        _plain("1000", "0", m.Position("SSE:600000", D(100), D(10))),
        m.Account(cash=D(30_000), positions=(m.Position("SSE:601318", D(-1_000), D(10)),)),
    ]
    book = m.BookArrays.from_accounts(accounts)
    v = m.value_book(book)
    np.testing.assert_allclose(v.assets, [450_000, 2_000, 30_000])
    np.testing.assert_allclose(v.liabilities, [151_500, 0, 10_000])
    assert v.ratio[0] == pytest.approx(450_000 / 151_500) and v.ratio[1] == np.inf
    assert v.ratio[2] == pytest.approx(3.0)
    avail = m.available_margin_many(book, 1.0)
    assert avail[0] == pytest.approx(116_000) and avail[1] == pytest.approx(1_000 + 0)
    assert np.isnan(avail[2])  # short rows are outside the formula
    np.testing.assert_allclose(m.withdrawable_cash_many(book, 3.0), [0, 1_000, 0])
    # cure: 1.5 * 151,500 - 450,000 < 0 -> 0
    np.testing.assert_allclose(m.cure_amount_many(book, 1.5), [0, 0, 0])
    np.testing.assert_array_equal(m.classify_many(v.ratio, LINES), [0, 0, 0])
    # marked at a 60% fall of every price: A0 = 200,000 + 80,000 + 20,000 = 300,000
    low = m.value_book(book, book.price * 0.4)
    assert low.ratio[0] == pytest.approx(300_000 / 151_500)


def test_book_arrays_validate_shapes_and_indices():
    with pytest.raises(ValueError, match="account index"):
        m.BookArrays(
            account=[0, 2], quantity=[1, 1], price=[1, 1], haircut=[0, 0], financed=[0, 0],
            cash=[0, 0], debt=[0, 0], interest_fees=[0, 0],
        )  # fmt: skip
    with pytest.raises(ValueError, match="shape"):
        m.BookArrays(
            account=[0], quantity=[1, 1], price=[1], haircut=[0], financed=[0],
            cash=[0], debt=[0], interest_fees=[0],
        )  # fmt: skip


def test_expected_sale_price_is_the_latest_less_slippage_never_below_the_lower_limit():
    # 10.00 less 0.5% = 9.95; 48.00 less 0.5% = 47.76; 5.00 less 0.5% = 4.975, floored: 4.97
    assert m.expected_sale_price(D("10.00"), D("0.005"), D("9.00")) == D("9.95")
    assert m.expected_sale_price(D("48.00"), D("0.005")) == D("47.76")
    assert m.expected_sale_price(D("5.00"), D("0.005")) == D("4.97")
    assert m.expected_sale_price(D("10.00"), D(0), D("9.00")) == D("10.00")
    # a latest price at the limit-down: the floor wins
    assert m.expected_sale_price(D("9.00"), D("0.005"), D("9.00")) == D("9.00")
    with pytest.raises(ValueError):
        m.expected_sale_price(D("10.00"), D(1))
    with pytest.raises(ValueError):
        m.expected_sale_price(D(0), D("0.005"))


def test_plan_at_the_mark_sells_the_domain_minimal_sale_and_skips_unsellable_rows():
    # A = 52,000 (12,000 cash + 4,000 x 10.00), D = 40,000, T = 150%: S = 8,000 / 0.5 = 16,000
    row = m.Position("SSE:600519", D(4_000), D("10.00"), limit_price=D("10.00"))
    halted = m.Position("SSE:600000", D(1_000), D("8.00"), D(0), lower_limit=D("7.20"))
    account = m.Account(cash=D(4_000), debt=D(40_000), positions=(halted, row))
    plan = m.plan_liquidation(account, D("1.5"), unsellable={"SSE:600000"})
    assert [(x.instrument, x.quantity) for x in plan.lines] == [("SSE:600519", D(1_600))]
    assert plan.ratio_after == D("1.5")  # the halted row stays in the assets
