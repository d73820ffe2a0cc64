from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.errors import ValidationFailed
from custody import money


@pytest.mark.parametrize(
    "value", ["NaN", "inf", "-Infinity", "-0.01", "0.001", 1.5, "abc", "1e30", True]
)
def test_amount_parse_refuses_bad_input_naming_the_field(value):
    with pytest.raises(ValidationFailed) as info:
        money.money_parse(value, field="withdrawal_amount")
    assert info.value.extra["field"] == "withdrawal_amount"
    assert "withdrawal_amount" in info.value.message


def test_amount_parse_accepts_and_quantizes():
    assert money.money_parse("12.5") == Decimal("12.50")
    assert money.money_parse(3) == Decimal("3.00")
    assert money.amount_parse("10.1234", field="q", places=4) == Decimal("10.1234")


def test_units():
    assert money.unit_parse(" cny ") == "CNY"
    assert money.unit_parse("SSE:600519") == "SSE:600519"
    with pytest.raises(ValidationFailed, match="not booked"):
        money.unit_parse("EUR")
    with pytest.raises(ValidationFailed):
        money.currency_parse("SSE:600519")


@given(st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False))
def test_round_trip_of_valid_money(value):
    if value == 0:
        return
    assert money.money_parse(str(value)) == value


def test_ratio_without_denominator_is_none():
    assert money.ratio(Decimal(1), Decimal(0)) is None
    assert money.ratio(Decimal(1), Decimal(4)) == Decimal("0.25")
