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
    financed buys may still borrow; shares: {instrument id: quantity offered by working sells}."""

    cash: Decimal = ZERO
    financing: Decimal = ZERO
    shares: dict[int, Decimal] = field(default_factory=dict)


SOURCES: list[Callable[[int], HeldBack]] = []


def held_back(account_id: int) -> HeldBack:
    cash = financing = ZERO
    shares: dict[int, Decimal] = {}
    for source in SOURCES:
        part = source(account_id)
        cash += part.cash
        financing += part.financing
        for instrument_id, quantity in part.shares.items():
            shares[instrument_id] = shares.get(instrument_id, ZERO) + quantity
    return HeldBack(cash, financing, shares)
