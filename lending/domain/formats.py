"""Domain: formats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from accounts.precision import MONEY

CENT = MONEY.quantum


def money_rounded(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def fmt_shares(quantity: Decimal) -> str:
    """A number of shares (whole by the time it is shown) with thousands separators."""
    return f"{Decimal(quantity):,.0f}"


def fmt_ratio(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"
