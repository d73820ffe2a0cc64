"""What an account's working orders hold back, for the checks of this area (withdrawals).

Orders live above financing (lending.orders), so financing does not read them: lending.orders
registers its reader in `SOURCES` (lending.apps), and `held_back(account_id)` adds up what the
sources say. With no source registered nothing is held back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class HeldBack:
    """cash: what working own-cash buys may still spend; financing: the purchase amount working
    financed buys may still borrow; shares: {instrument id: quantity offered by working sells};
    cover: what working buys to cover (and buy-ins) may still spend, from the restricted
    proceeds first; covering: {instrument id: quantity they may still buy back}; short_sale:
    the amount (quantity left x limit) working short sales may still sell."""

    cash: Decimal = ZERO
    financing: Decimal = ZERO
    shares: dict[int, Decimal] = field(default_factory=dict)
    cover: Decimal = ZERO
    covering: dict[int, Decimal] = field(default_factory=dict)
    short_sale: Decimal = ZERO


SOURCES: list[Callable[[int], HeldBack]] = []


def held_back(account_id: int) -> HeldBack:
    cash = financing = cover = short_sale = ZERO
    shares: dict[int, Decimal] = {}
    covering: dict[int, Decimal] = {}
    for source in SOURCES:
        part = source(account_id)
        cash += part.cash
        financing += part.financing
        cover += part.cover
        short_sale += part.short_sale
        for instrument_id, quantity in part.shares.items():
            shares[instrument_id] = shares.get(instrument_id, ZERO) + quantity
        for instrument_id, quantity in part.covering.items():
            covering[instrument_id] = covering.get(instrument_id, ZERO) + quantity
    return HeldBack(cash, financing, shares, cover, covering, short_sale)
