"""The daily price band (涨跌幅限制): pure, no Django.

THE band rule of the desk: a price tick, an order's limit price and liquidation's floor all
take their band from `price_band`. The exchanges compute a limit price as the previous close
times (1 ± the board's fraction), rounded half up (四舍五入) to the price tick; a price
outside [low, high] is refused. The fractions, the ticks and the first days without a band are
dated parameters (compliance: prices.*), read by lending.instruments.selectors; the board of a
code is `board_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MAIN = "main"
STAR = "star"
CHINEXT = "chinext"
BOARDS = (MAIN, STAR, CHINEXT)


def board_of(exchange: str, code: str) -> str:
    """The board of a listed code: SSE 688xxx/689xxx is the STAR Market, SZSE 300xxx/301xxx
    ChiNext, anything else the main board (funds and bonds included)."""
    code = (code or "").strip()
    if exchange == "SSE" and code[:3] in ("688", "689"):
        return STAR
    if exchange == "SZSE" and code[:3] in ("300", "301"):
        return CHINEXT
    return MAIN


@dataclass(frozen=True)
class PriceBand:
    """The band of one instrument on one day: [low, high] around `reference` (the previous
    close) at ±`fraction`, both edges on the price tick."""

    reference: Decimal
    fraction: Decimal
    tick: Decimal
    low: Decimal
    high: Decimal

    def contains(self, price: Decimal) -> bool:
        return self.low <= price <= self.high


def price_band(prev_close: Decimal, fraction: Decimal, tick: Decimal) -> PriceBand:
    """The band around `prev_close` at ±`fraction`, the edges rounded half up to `tick` (the
    exchanges' rule); the low edge is never below one tick."""
    if prev_close <= 0:
        raise ValueError("prev_close must be above zero")
    if not 0 < fraction < 1:
        raise ValueError("fraction must be between 0 and 1")
    if tick <= 0:
        raise ValueError("tick must be above zero")
    low = (prev_close * (1 - fraction)).quantize(tick, rounding=ROUND_HALF_UP)
    high = (prev_close * (1 + fraction)).quantize(tick, rounding=ROUND_HALF_UP)
    return PriceBand(
        reference=prev_close, fraction=fraction, tick=tick, low=max(low, tick), high=high
    )


def in_first_days(trading_days_since_listing: int, no_band_days: int) -> bool:
    """Whether a day is among a new listing's first `no_band_days` trading days, given the
    count of trading days from the listing day to it, both included."""
    return 0 < trading_days_since_listing <= no_band_days
