"""Trading fees on fills (lending/domain/fees.py) and the dated fee parameters: what a client
pays on a trade, to the cent, as the tariff and the tax rules say on the trade's day."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.domain.fees import FeeRates, buy_cost_estimate, fill_fees

D = Decimal
RATES = FeeRates(
    commission_rate=D("0.0003"),
    commission_minimum=D("5"),
    stamp_duty_sale=D("0.0005"),
    transfer_fee=D("0.00001"),
)


def test_a_sale_pays_stamp_duty_a_buy_does_not():
    sale = fill_fees(side="sell", turnover=D("100000.00"), rates=RATES)
    buy = fill_fees(side="buy", turnover=D("100000.00"), rates=RATES)
    assert (sale.commission, sale.stamp_duty, sale.transfer_fee) == (
        D("30.00"),
        D("50.00"),
        D("1.00"),
    )
    assert (buy.commission, buy.stamp_duty, buy.transfer_fee) == (D("30.00"), D("0"), D("1.00"))
    assert sale.to_market == D("51.00") and buy.total == D("31.00")


def test_minimum_commission_is_per_order_not_per_fill():
    # 3 fills of 2,000.00 on one order: the order pays max(0.0003 x 6,000, 5) = 5.00 in all
    first = fill_fees(side="buy", turnover=D("2000.00"), rates=RATES)
    second = fill_fees(
        side="buy", turnover=D("2000.00"), rates=RATES,
        earlier_turnover=D("2000.00"), earlier_commission=first.commission,
    )  # fmt: skip
    third = fill_fees(
        side="buy", turnover=D("2000.00"), rates=RATES,
        earlier_turnover=D("4000.00"), earlier_commission=first.commission + second.commission,
    )  # fmt: skip
    assert [first.commission, second.commission, third.commission] == [D("5"), D("0"), D("0")]


@given(
    st.lists(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=12),
)
def test_an_orders_commission_adds_up_whatever_the_fills(turnovers_in_cents):
    charged = earlier = D(0)
    for cents in turnovers_in_cents:
        turnover = D(cents) / 100
        fees = fill_fees(
            side="sell", turnover=turnover, rates=RATES,
            earlier_turnover=earlier, earlier_commission=charged,
        )  # fmt: skip
        assert fees.commission >= 0
        charged += fees.commission
        earlier += turnover
    assert charged == max((earlier * RATES.commission_rate).quantize(D("0.01")), D(5))


def test_the_reserve_covers_the_whole_cost_of_a_buy():
    cost = buy_cost_estimate(quantity=D(1000), limit_price=D("10.00"), rates=RATES)
    assert cost == D("10000.00") + D("5.00") + D("0.10")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "day", "value"),
    [
        (P.STAMP_DUTY_SALE, date(2023, 8, 27), D("0.001")),
        (P.STAMP_DUTY_SALE, date(2023, 8, 28), D("0.0005")),
        (P.TRANSFER_FEE, date(2022, 4, 28), D("0.00002")),
        (P.TRANSFER_FEE, date(2022, 4, 29), D("0.00001")),
    ],
)
def test_fee_rates_change_on_the_days_the_rules_changed(key, day, value):
    assert compliance_selectors.parameter(key, on=day) == value
