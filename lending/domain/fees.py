"""Trading fees on a fill (pure; the rates come from the dated parameter table and the contract).

- commission: the contract's rate on the order's turnover, at least the tariff's minimum per
  order. Charged fill by fill so that the order's fills add up to exactly
  max(rate x cumulative turnover, minimum): each fill is charged the order's commission so far
  less what its earlier fills were charged.
- stamp duty: on sales only, a fraction of the fill's turnover.
- transfer fee: a fraction of the fill's turnover, both sides.

Every amount is rounded to the cent (half up), per fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FeeRates:
    commission_rate: Decimal
    commission_minimum: Decimal
    stamp_duty_sale: Decimal
    transfer_fee: Decimal


@dataclass(frozen=True)
class Fees:
    commission: Decimal
    stamp_duty: Decimal
    transfer_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.commission + self.stamp_duty + self.transfer_fee

    @property
    def to_market(self) -> Decimal:
        """What the exchange and the clearing house keep (stamp duty and transfer fee)."""
        return self.stamp_duty + self.transfer_fee


def fill_fees(
    *,
    side: str,
    turnover: Decimal,
    rates: FeeRates,
    earlier_turnover: Decimal = ZERO,
    earlier_commission: Decimal = ZERO,
) -> Fees:
    """The fees of one fill of `turnover` (quantity x price, to the cent) on an order whose
    earlier fills had `earlier_turnover` and were charged `earlier_commission`."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', not {side!r}")
    if turnover <= 0:
        raise ValueError("turnover must be above zero")
    order_commission = max(
        cents((earlier_turnover + turnover) * rates.commission_rate), rates.commission_minimum
    )
    commission = max(order_commission - earlier_commission, ZERO)
    stamp_duty = cents(turnover * rates.stamp_duty_sale) if side == "sell" else ZERO
    return Fees(
        commission=commission,
        stamp_duty=stamp_duty,
        transfer_fee=cents(turnover * rates.transfer_fee),
    )


def buy_cost_estimate(*, quantity: Decimal, limit_price: Decimal, rates: FeeRates) -> Decimal:
    """The most a buy of `quantity` at `limit_price` can cost with its fees (what a financed
    buy reserves and an own-cash buy needs in cash)."""
    turnover = cents(quantity * limit_price)
    fees = fill_fees(side="buy", turnover=turnover, rates=rates)
    return turnover + fees.total


#: The day count of interest and of the lending fee (ACT/360).
DAYS_IN_YEAR = Decimal(360)


def daily_lending_fee(amount: Decimal, annual_rate: Decimal) -> Decimal:
    """One day of the securities lending fee on a short-sale amount, ACT/360, to the cent
    (half up): round(amount x rate / 360, 2), per position and day as interest is per
    financing and day. 20,000.00 at 8.35 per cent: 4.64 a day."""
    return cents(amount * annual_rate / DAYS_IN_YEAR)
