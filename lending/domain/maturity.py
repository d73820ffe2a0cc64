"""Sizing the forced close of an overdue financing (pure: no Django).

A maturity call is not cured by a ratio: the overdue debt R (the account's unpaid interest and
penalty + the overdue principal) must be repaid. Selling q_j shares of row j at its limit price
L_j repays q_j·L_j·(1 − f) (f: the sale fees per unit of turnover), so the plan takes rows in
the order rule's order and from each the fewest whole lots with
Σ q_j·L_j·(1 − f) ≥ R, else the whole row (odd lot included), then the next row. If selling
everything sellable is not enough, everything is sold and ``restored`` is False.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from lending.domain.margin import (
    ONE,
    ORDER_RULES,
    ZERO,
    Account,
    LiquidationPlan,
    PlanLine,
    _sale_limit,
    as_decimal,
    quantize_money,
    ratio_of,
    total_assets,
    total_liabilities,
)


def plan_sale_to_repay(
    account: Account,
    amount: Decimal,
    order: str = "zero_haircut_first",
    unsellable: Collection[str] = (),
    fee_rate: Decimal = ZERO,
) -> LiquidationPlan:
    """The minimal whole-lot sale whose proceeds net of fees repay ``amount``.

    One row at limit 10.00, f = 0.00035, R = 100,000.00: each share repays 9.9965, so
    q ≥ 100,000 / 9.9965 = 10,003.5 → 10,100 shares (101 lots of 100)."""
    amount = as_decimal(amount, "amount")
    if amount < 0:
        raise ValueError("amount: must not be negative")
    fee_rate = as_decimal(fee_rate, "fee_rate")
    if not (ZERO <= fee_rate < ONE):
        raise ValueError("fee_rate: must be in [0, 1)")
    if order not in ORDER_RULES:
        raise ValueError(f"unknown order rule {order!r}; known: {sorted(ORDER_RULES)}")
    keep = ONE - fee_rate
    assets, liabilities = total_assets(account), total_liabilities(account)
    rows = [p for p in account.positions if p.quantity > 0 and p.instrument not in unsellable]
    key = ORDER_RULES[order]
    if key is not None:
        rows.sort(key=key)
    need = amount
    lines: list[PlanLine] = []
    sold_mv = proceeds_exact = ZERO
    for p in rows:
        if need <= 0:
            break
        limit = _sale_limit(p)
        net = limit * keep  # what one share repays
        if net <= 0:
            continue
        lot = Decimal(p.lot_size)
        full_lots = (p.quantity / lot).to_integral_value(rounding=ROUND_FLOOR)
        lots = (need / (net * lot)).to_integral_value(rounding=ROUND_CEILING)
        qty = lots * lot if lots <= full_lots else p.quantity
        need -= qty * net
        sold_mv += qty * p.price
        proceeds_exact += qty * net
        lines.append(
            PlanLine(
                p.instrument, qty, limit, quantize_money(qty * limit), quantize_money(qty * p.price)
            )
        )
    repaid = min(proceeds_exact, liabilities)
    assets_after = assets - sold_mv + (proceeds_exact - repaid)
    liabilities_after = liabilities - repaid
    return LiquidationPlan(
        lines=tuple(lines),
        target=ZERO,
        ratio_before=ratio_of(assets, liabilities),
        ratio_after=ratio_of(assets_after, liabilities_after),
        restored=need <= 0,
        proceeds=sum((line.proceeds for line in lines), ZERO),
        shortfall=quantize_money(max(liabilities_after - assets_after, ZERO)),
        assets_after=assets_after,
        liabilities_after=liabilities_after,
    )
