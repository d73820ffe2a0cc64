"""Leverage simulator (DOMAIN.md "Formulas", investor education): worked examples and the
validation the API layer maps to a 400 naming the field."""

from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lending.domain.analytics import (
    SimulatorInputError,
    chart_series,
    equity_return,
    leverage_outcome,
    validate_simulator_inputs,
)


def test_worked_example_3x():
    o = leverage_outcome(
        own_capital=D("100000"),
        leverage=D(3),
        asset_return=D("0.10"),
        fee_rate=D("0.005"),
        borrow_rate=D("0.08"),
        price_drop=D("0.20"),
    )
    # total assets 100,000 * 3 = 300,000; borrowed 300,000 - 100,000 = 200,000
    assert o.total_assets == D("300000.00") and o.borrowed == D("200000.00")
    # R_e = 3 * (0.10 - 0.005) - (3 - 1) * 0.08 = 0.285 - 0.16 = 0.125
    assert o.equity_return == D("0.125")
    # E' = 100,000 * (1 - 3 * 0.20) = 40,000
    assert o.equity_after_drop == D("40000.00") and not o.wiped_out
    assert o.wipeout_drop == D(1) / D(3)


def test_5x_is_wiped_out_by_a_20_percent_drop():
    # L * d = 5 * 0.2 = 1: the boundary counts as wiped out
    o = leverage_outcome(own_capital="50000", leverage="5", price_drop="0.2")
    assert o.wiped_out and o.equity_after_drop == D("0.00") and o.wipeout_drop == D("0.2")
    # 10x and a 15% drop: 1 - 1.5 = -0.5, floored at 0
    o = leverage_outcome(own_capital="50000", leverage="10", price_drop="0.15")
    assert o.wiped_out and o.equity_after_drop == D("0.00")
    # just under: 5 * 0.19 = 0.95 -> 50,000 * 0.05 = 2,500
    o = leverage_outcome(own_capital="50000", leverage="5", price_drop="0.19")
    assert not o.wiped_out and o.equity_after_drop == D("2500.00")


def test_no_leverage_borrows_nothing():
    o = leverage_outcome(own_capital=1000, leverage=1, asset_return="-0.07", fee_rate="0.01",
                         borrow_rate="0.3")  # fmt: skip
    # R_e = 1 * (-0.07 - 0.01) - 0 * 0.3 = -0.08: the borrowing rate does not matter
    assert o.borrowed == D("0.00") and o.equity_return == D("-0.08")
    assert o.wipeout_drop == 1


def test_peizi_style_leverage_example():
    # 1:5 off-exchange leverage (6x assets) at 24% a year, flat market after fees of 0.5%:
    # R_e = 6 * (0 - 0.005) - 5 * 0.24 = -0.03 - 1.2 = -1.23
    assert equity_return(D(6), D(0), D("0.005"), D("0.24")) == D("-1.23")


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"leverage": "0.5"}, "leverage", "at least 1"),
        ({"leverage": "abc"}, "leverage", "a number"),
        ({"leverage": None}, "leverage", "a number"),
        ({"leverage": True}, "leverage", "a number"),
        ({"leverage": [2]}, "leverage", "a number"),
        ({"own_capital": "-1"}, "own_capital", "greater than 0"),
        ({"own_capital": 0}, "own_capital", "greater than 0"),
        ({"own_capital": float("nan")}, "own_capital", "finite"),
        ({"own_capital": D("Infinity")}, "own_capital", "finite"),
        ({"asset_return": "NaN"}, "asset_return", "finite"),
        ({"fee_rate": float("inf")}, "fee_rate", "finite"),
        ({"borrow_rate": D("sNaN")}, "borrow_rate", "finite"),
        ({"price_drop": "1.5"}, "price_drop", "between 0 and 1"),
        ({"price_drop": "-0.1"}, "price_drop", "between 0 and 1"),
    ],
)
def test_bad_input_names_the_field(overrides, field, rule):
    raw = {"own_capital": "100000", "leverage": "2", **overrides}
    with pytest.raises(SimulatorInputError) as exc:
        leverage_outcome(**raw)
    assert exc.value.field == field
    assert rule in str(exc.value) and field in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_validation_accepts_numbers_in_any_plain_form():
    s = validate_simulator_inputs(own_capital=" 100000 ", leverage=2.5, price_drop=0)
    assert s.own_capital == D(100_000) and s.leverage == D("2.5") and s.price_drop == 0


def test_chart_series():
    c = chart_series(own_capital=100_000, leverages=["1", "2", "5"], fee_rate="0",
                     borrow_rate="0.06", asset_returns=["-0.1", "0", "0.1"],
                     price_drops=["0", "0.1", "0.2", "0.5"])  # fmt: skip
    assert list(c.equity_return) == [D(1), D(2), D(5)]
    # 5x: R_e = 5 r - 4 * 0.06: r = -0.1 -> -0.74, r = 0 -> -0.24, r = 0.1 -> 0.26
    assert c.equity_return[D(5)] == [
        (D("-0.1"), D("-0.74")),
        (D("0"), D("-0.24")),
        (D("0.1"), D("0.26")),
    ]
    # 2x: E' = 100,000 (1 - 2 d): 100,000, 80,000, 60,000, 0
    assert [e for _, e in c.equity_after_drop[D(2)]] == [
        D("100000.00"),
        D("80000.00"),
        D("60000.00"),
        D("0.00"),
    ]
    default = chart_series()
    assert len(default.equity_return[D(1)]) == 13 and len(default.equity_after_drop[D(10)]) == 21
    with pytest.raises(SimulatorInputError) as exc:
        chart_series(leverages=["0.9"])
    assert exc.value.field == "leverage"


@settings(max_examples=80, deadline=None)
@given(
    capital=st.decimals(min_value="0.01", max_value=10**9, places=2),
    leverage=st.decimals(min_value=1, max_value=20, places=2),
    drop=st.decimals(min_value=0, max_value=1, places=3),
)
@example(capital=D("1.45"), leverage=D("1.00"), drop=D("0.100"))  # a half cent: 1.305
def test_equity_after_drop_properties(capital, leverage, drop):
    o = leverage_outcome(own_capital=capital, leverage=leverage, price_drop=drop)
    assert o.wiped_out == (leverage * drop >= 1)
    exact = capital * (1 - leverage * drop)
    # money rounds half up (四舍五入), as everywhere at the desk: 1.305 -> 1.31
    assert o.equity_after_drop == max(exact, D(0)).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert o.equity_after_drop >= 0
    assert o.total_assets - o.borrowed == capital
