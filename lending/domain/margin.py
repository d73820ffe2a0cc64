"""Margin arithmetic: the pure core of the margin engine (no Django imports).

Formulas are those of /work/shared/DOMAIN.md ("Collateral", "Formulas", "Margin-call
lifecycle"); the module has two faces that must agree:

* single account, ``Decimal``-exact: :class:`Account` / :class:`Position` and the functions
  :func:`maintenance_ratio`, :func:`available_margin`, :func:`check_financed_purchase`,
  :func:`check_short_sale`, :func:`with_short_sale`,
  :func:`withdrawable_cash`, :func:`withdrawable_quantity`, :func:`cure_amount`,
  :func:`minimal_sale_amount`, :func:`plan_liquidation`, :func:`plan_liquidation_long_short`,
  :func:`classify`;
* many accounts, numpy-vectorised over flat arrays (:class:`BookArrays`), float64:
  :func:`value_book`, :func:`ratios_many`, :func:`available_margin_many`,
  :func:`withdrawable_cash_many`, :func:`cure_amount_many`, :func:`minimal_sale_many`,
  :func:`classify_many`. Group sums are ``np.bincount(account, weights, minlength=N)``;
  there is no Python loop per account.

Definitions (per account; positions carry a signed quantity, > 0 long, < 0 short):

    assets      A = cash + short_proceeds + Σ_long qty * price + other_collateral
                (short_proceeds: the restricted proceeds of short sales, 融券卖出所得资金, held by
                the desk: the investor's assets, so in the numerator of the ratio)
    liabilities D = financing outstanding (debt) + Σ_short |qty| * price + interest_and_fees
                (a short liability at market value: a rising price lowers the ratio)
    maintenance collateral ratio (维持担保比例) = A / D; D = 0 → no ratio: ``None``
        (shown as "—"); vectorised: ``+inf`` (sorts as safest, compares ≥ every line).
        ONE Decimal function computes it, :func:`ratio_of` (used by :func:`maintenance_ratio`
        and by every caller that has A and D), and ONE vectorised twin, :func:`ratios_from`.
    available margin (保证金可用余额), the exchanges' rule (SSE/SZSE margin trading implementing
    rules) = cash                                    (free cash: not the short proceeds)
        + Σ_collateral rows MV * haircut
        + Σ_financed rows (MV - financed) * (haircut if MV ≥ financed else 1)
        + Σ_short rows (S - |MV|) * (haircut if S ≥ |MV| else 1)
        - Σ_short rows |MV| * short_margin_ratio
        - Σ financed * financing_margin_ratio - interest_and_fees
      A row with ``financed_amount > 0`` is a financed purchase (融资买入); a holding bought
      partly with own money is two rows. S is a short row's ``short_sale_amount`` (融券卖出金额,
      its proceeds at sale) and |MV| its market value (融券卖出证券市值). Where a financed or
      short row is at a loss its haircut is 100%: the loss counts in full. Other collateral
      is not in this formula. The rules' later wording counts the cash with the short
      proceeds and subtracts Σ S: the same figure while the restricted proceeds equal Σ S.
      An account with short rows needs the short margin ratio: without it the Decimal
      function raises ValueError and the vectorised one gives NaN for those accounts.
    financed purchase of amount P is allowed iff available margin ≥ P * financing_margin_ratio;
    a short sale of amount P iff available margin ≥ P * short_margin_ratio. A short sale of
    1,000 at 20.00 at 100 per cent: 20,000.00 needed, and at once S = |MV| = 20,000: the row
    takes 20,000.00 of available margin and leaves 20,000.00 of restricted proceeds.
    withdrawable cash under line W: the largest w with (A - w)/D ≥ W, i.e.
        clamp(A - W·D, 0, cash); all cash when D = 0.
    withdrawable quantity of a long row: the largest q ≤ qty, a whole number of lots or the
        whole row, with (A - q·price)/D ≥ W; the whole row when D = 0.
    amount to cure a call to target T (cash deposit): max(0, T·D - A).
    minimal sale S restoring T when proceeds repay debt: (A - S)/(D - S) ≥ T
        ⇔ S ≥ (T·D - A)/(T - 1)  (T > 1). A buy-back of a short of value B paid with cash
        takes B from A and from D: the same algebra, so S is the minimal amount of sales and
        buy-backs together (at mark prices, without fees); the whole-lot plan for both sides
        is :func:`plan_liquidation_long_short`.
    state (ratio r, lines warning > call, target): r < call → call; r < warning → warning;
        else normal; an account already in call stays in call until r ≥ target → cured.
        No debt → normal (cured if it was in call).

Lines and the financing and short margin ratios are always arguments: this module holds no
value of them. They are dated parameters (DOMAIN.md): a contract's own, else those of the
regulator parameter table in force on the day (lending.credit.selectors.lines_in_force and
financing_margin_ratio_in_force; the short margin ratio: compliance.parameters
SHORT_MARGIN_RATIO, or SHORT_MARGIN_RATIO_PRIVATE_FUND for a private securities investment
fund, short_margin_ratio_key).

Money rounding is explicit: figures returned as money are quantized to 0.01 with
ROUND_HALF_UP, except *limits*, which round in the safe direction so the invariant they
promise holds after rounding: withdrawable cash rounds down (ROUND_FLOOR) and the deposit to
cure and the minimal sale round up (ROUND_CEILING). Half-up on a limit could breach the line by
half a cent. Ratios are unrounded Decimals (28 significant digits); lines and ratios are
fractions (``Decimal("1.40")`` is 140%).

The vectorised face is float64 and meant for screening a whole book (mark-to-market shards,
stress tests). At an exact boundary (a ratio equal to a line to the cent) float rounding can
classify differently from the Decimal face: the service confirms a state change with the
Decimal functions for the accounts whose vectorised state changed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

import numpy as np

CENT = Decimal("0.01")


ZERO = Decimal(0)


ONE = Decimal(1)


DEFAULT_LOT_SIZE = 100


# --------------------------------------------------------------------------- money helpers


def as_decimal(value: Any, name: str = "value") -> Decimal:
    """Decimal from Decimal, int or str; floats are refused (money is never float)."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a number, got a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        result = Decimal(value)
    else:
        raise TypeError(f"{name}: expected Decimal, int or str, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name}: must be finite")
    return result


def quantize_money(amount: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Quantize to 0.01; ROUND_HALF_UP unless a limit asks for a directed rounding."""
    return amount.quantize(CENT, rounding=rounding)


def to_money(value: float | np.floating | Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Explicit float → money conversion (analytics results going back into the ledger).

    Uses the shortest repr of the float, so 0.1 becomes Decimal("0.10"), not 0.1000000000000000055.
    """
    if isinstance(value, Decimal):
        return quantize_money(value, rounding)
    f = float(value)
    if not np.isfinite(f):
        raise ValueError("cannot convert a non-finite float to money")
    return quantize_money(Decimal(repr(f)), rounding)


# --------------------------------------------------------------------------- lines and states


@dataclass(frozen=True, slots=True)
class MarginLines:
    """Per-contract lines as fractions; invariant 0 < call ≤ warning, call ≤ target ≤ withdrawal,
    target > 1 (the minimal-sale formula divides by T - 1). No defaults: the values come from
    the contract or the dated parameter table (lending.credit.selectors.lines_in_force)."""

    warning: Decimal
    call: Decimal
    target: Decimal
    withdrawal: Decimal

    def __post_init__(self) -> None:
        for name in ("warning", "call", "target", "withdrawal"):
            object.__setattr__(self, name, as_decimal(getattr(self, name), name))
        if not (ZERO < self.call <= self.warning):
            raise ValueError("lines: need 0 < call ≤ warning")
        if not (self.call <= self.target <= self.withdrawal):
            raise ValueError("lines: need call ≤ target ≤ withdrawal")
        if self.target <= ONE:
            raise ValueError("lines: target must be above 100%")


class MarginState(StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    CALL = "call"
    CURED = "cured"


#: int8 codes used by :func:`classify_many`; ``STATE_BY_CODE[code]`` gives the enum.
STATE_NORMAL, STATE_WARNING, STATE_CALL, STATE_CURED = 0, 1, 2, 3


STATE_BY_CODE = (MarginState.NORMAL, MarginState.WARNING, MarginState.CALL, MarginState.CURED)


def classify(ratio: Decimal | None, lines: MarginLines, *, in_call: bool = False) -> MarginState:
    """State for a ratio (``None`` = no debt). ``in_call``: the account has an open call, which
    only a ratio ≥ target cures (a ratio between call line and target leaves it in call)."""
    if in_call:
        if ratio is None or ratio >= lines.target:
            return MarginState.CURED
        return MarginState.CALL
    if ratio is None:
        return MarginState.NORMAL
    if ratio < lines.call:
        return MarginState.CALL
    if ratio < lines.warning:
        return MarginState.WARNING
    return MarginState.NORMAL


def classify_many(
    ratios: np.ndarray, lines: MarginLines, in_call: np.ndarray | None = None
) -> np.ndarray:
    """Vectorised :func:`classify`: float ratios (``+inf`` = no debt) → int8 state codes."""
    r = np.asarray(ratios, dtype=np.float64)
    if np.isnan(r).any():
        raise ValueError("ratios: NaN is not a ratio (no debt is +inf)")
    codes = np.full(r.shape, STATE_NORMAL, dtype=np.int8)
    codes[r < float(lines.warning)] = STATE_WARNING
    codes[r < float(lines.call)] = STATE_CALL
    if in_call is not None:
        open_call = np.asarray(in_call, dtype=bool)
        if open_call.shape != r.shape:
            raise ValueError("in_call must have the shape of ratios")
        codes[open_call] = np.where(r[open_call] >= float(lines.target), STATE_CURED, STATE_CALL)
    return codes


# --------------------------------------------------------------------------- single account


@dataclass(frozen=True, slots=True)
class Position:
    """One row of holdings. ``quantity`` > 0 long, < 0 short (融券). ``financed_amount`` > 0
    marks a financed purchase (its outstanding 融资买入金额). ``lower_limit`` is the day's lower
    price limit and ``limit_price`` the sale limit price used by the liquidation planner: the
    price the plan expects (:func:`expected_sale_price`: the latest price less the desk's
    slippage); without one the planner falls back to the lower limit, the worst proceeds the
    desk can get that day.

    A short row (quantity < 0) carries ``short_sale_amount``, its 融券卖出金额: the proceeds at
    sale of the shares still owed (quantity sold × sale price, less what covers returned), the
    term the available margin compares with the row's market value; 0 on a long row. Its
    ``limit_price`` is the buy-back limit a plan expects (:func:`expected_buy_price`), else
    ``upper_limit``, the day's upper price limit: the worst price of a buy-in."""

    instrument: str
    quantity: Decimal
    price: Decimal
    haircut: Decimal = ZERO
    financed_amount: Decimal = ZERO
    lot_size: int = DEFAULT_LOT_SIZE
    lower_limit: Decimal | None = None
    limit_price: Decimal | None = None
    short_sale_amount: Decimal = ZERO
    upper_limit: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("quantity", "price", "haircut", "financed_amount", "short_sale_amount"):
            object.__setattr__(self, name, as_decimal(getattr(self, name), name))
        for name in ("lower_limit", "limit_price", "upper_limit"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, as_decimal(getattr(self, name), name))
        if self.price < 0:
            raise ValueError(f"{self.instrument}: price must be ≥ 0")
        if not (ZERO <= self.haircut <= ONE):
            raise ValueError(f"{self.instrument}: haircut must be in [0, 1]")
        if self.financed_amount < 0:
            raise ValueError(f"{self.instrument}: financed_amount must be ≥ 0")
        if self.short_sale_amount < 0:
            raise ValueError(f"{self.instrument}: short_sale_amount must be ≥ 0")
        if self.quantity < 0 and self.financed_amount > 0:
            raise ValueError(f"{self.instrument}: a short row is not a financed purchase")
        if self.quantity >= 0 and self.short_sale_amount > 0:
            raise ValueError(f"{self.instrument}: short_sale_amount belongs to a short row")
        if not isinstance(self.lot_size, int) or self.lot_size < 1:
            raise ValueError(f"{self.instrument}: lot_size must be a positive int")

    @property
    def market_value(self) -> Decimal:
        """Signed market value (negative for a short)."""
        return self.quantity * self.price


@dataclass(frozen=True, slots=True)
class Account:
    """A credit account at one moment. ``debt`` is the financing outstanding (融资负债),
    ``interest_and_fees`` the accrued interest and fees not yet paid (financing interest,
    lending fees). ``cash`` is the free cash; ``short_proceeds`` the restricted proceeds of
    short sales (融券卖出所得资金) the desk holds: the investor's assets, counted in the
    maintenance ratio, but not cash of the available-margin formula (DOMAIN.md)."""

    cash: Decimal
    debt: Decimal = ZERO
    interest_and_fees: Decimal = ZERO
    other_collateral: Decimal = ZERO
    positions: tuple[Position, ...] = field(default_factory=tuple)
    short_proceeds: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("cash", "debt", "interest_and_fees", "other_collateral", "short_proceeds"):
            object.__setattr__(self, name, as_decimal(getattr(self, name), name))
        object.__setattr__(self, "positions", tuple(self.positions))
        if self.debt < 0 or self.interest_and_fees < 0:
            raise ValueError("debt and interest_and_fees must be ≥ 0")
        if self.short_proceeds < 0:
            raise ValueError("short_proceeds must be ≥ 0")

    @property
    def has_short(self) -> bool:
        return any(p.quantity < 0 for p in self.positions)


def total_assets(account: Account) -> Decimal:
    """A = cash + restricted short proceeds + Σ long MV + other collateral (exact)."""
    longs = sum((p.market_value for p in account.positions if p.quantity > 0), ZERO)
    return account.cash + account.short_proceeds + longs + account.other_collateral


def total_liabilities(account: Account) -> Decimal:
    """D = financing outstanding + Σ |short| MV + interest and fees (exact)."""
    shorts = sum((-p.market_value for p in account.positions if p.quantity < 0), ZERO)
    return account.debt + shorts + account.interest_and_fees


def ratio_of(assets: Decimal, liabilities: Decimal) -> Decimal | None:
    """THE maintenance ratio A / D (Decimal, unrounded); ``None`` when D = 0 (no debt, no
    ratio). Every Decimal ratio of assets to liabilities is this function; its vectorised twin
    is :func:`ratios_from` (+inf where this gives ``None``)."""
    return None if liabilities == 0 else assets / liabilities


def maintenance_ratio(account: Account) -> Decimal | None:
    """维持担保比例 = A / D; ``None`` when there is no debt (never a division error)."""
    return ratio_of(total_assets(account), total_liabilities(account))


def available_margin(
    account: Account,
    financing_margin_ratio: Decimal,
    short_margin_ratio: Decimal | None = None,
) -> Decimal:
    """保证金可用余额 (see module docstring), quantized HALF_UP; may be negative. An account
    with a short row needs ``short_margin_ratio`` (ValueError without one)."""
    fmr = as_decimal(financing_margin_ratio, "financing_margin_ratio")
    smr = (
        None if short_margin_ratio is None else as_decimal(short_margin_ratio, "short_margin_ratio")
    )
    total = account.cash - account.interest_and_fees
    for p in account.positions:
        if p.quantity < 0:
            if smr is None:
                raise ValueError(f"{p.instrument}: a short row needs the short margin ratio")
            owed = -p.market_value  # 融券卖出证券市值
            gain = p.short_sale_amount - owed
            total += gain * (p.haircut if gain >= 0 else ONE) - owed * smr
        elif p.financed_amount > 0:
            gain = p.market_value - p.financed_amount
            total += gain * (p.haircut if gain >= 0 else ONE) - p.financed_amount * fmr
        else:
            total += p.market_value * p.haircut
    return quantize_money(total)


@dataclass(frozen=True, slots=True)
class PurchaseCheck:
    """A financed purchase's (or a short sale's) margin check: ``required_margin`` is the
    amount × the financing (short) margin ratio."""

    allowed: bool
    amount: Decimal
    available_margin: Decimal
    required_margin: Decimal  # amount * financing (or short) margin ratio

    @property
    def headroom(self) -> Decimal:
        return self.available_margin - self.required_margin


def check_financed_purchase(
    account: Account,
    amount: Decimal,
    financing_margin_ratio: Decimal,
    short_margin_ratio: Decimal | None = None,
) -> PurchaseCheck:
    """A financed purchase of ``amount`` needs available margin ≥ amount * ratio (an account
    with shorts: ``short_margin_ratio`` for the available margin)."""
    amount = as_decimal(amount, "amount")
    if amount <= 0:
        raise ValueError("amount must be > 0")
    fmr = as_decimal(financing_margin_ratio, "financing_margin_ratio")
    avail = available_margin(account, fmr, short_margin_ratio)
    required = quantize_money(amount * fmr)
    return PurchaseCheck(avail >= required, amount, avail, required)


def check_short_sale(
    account: Account,
    amount: Decimal,
    short_margin_ratio: Decimal,
    financing_margin_ratio: Decimal,
) -> PurchaseCheck:
    """A short sale of ``amount`` (quantity × limit price) needs available margin ≥ amount ×
    short margin ratio (DOMAIN.md "Securities lending"). 1,000 shares at 20.00 at a 100 per
    cent ratio: required 20,000.00."""
    amount = as_decimal(amount, "amount")
    if amount <= 0:
        raise ValueError("amount must be > 0")
    smr = as_decimal(short_margin_ratio, "short_margin_ratio")
    avail = available_margin(account, financing_margin_ratio, smr)
    required = quantize_money(amount * smr)
    return PurchaseCheck(avail >= required, amount, avail, required)


def with_short_sale(
    account: Account,
    instrument: str,
    quantity: Decimal,
    price: Decimal,
    haircut: Decimal = ZERO,
    lot_size: int = DEFAULT_LOT_SIZE,
) -> Account:
    """The account after a short sale of ``quantity`` shares at ``price`` (marked at that
    price): a short row (added to the instrument's short row if there is one) whose
    ``short_sale_amount`` grows by quantity × price, and the same amount of restricted
    proceeds (``short_proceeds``). Fees are the caller's (they leave the cash)."""
    quantity, price = as_decimal(quantity, "quantity"), as_decimal(price, "price")
    if quantity <= 0 or price <= 0:
        raise ValueError("a short sale needs a positive quantity and price")
    amount = quantity * price
    rows: list[Position] = []
    merged = False
    for p in account.positions:
        if p.instrument == instrument and p.quantity < 0 and not merged:
            p = Position(
                p.instrument, p.quantity - quantity, price, p.haircut, ZERO, p.lot_size,
                p.lower_limit, p.limit_price, p.short_sale_amount + amount, p.upper_limit,
            )  # fmt: skip
            merged = True
        rows.append(p)
    if not merged:
        rows.append(
            Position(
                instrument, -quantity, price, haircut, lot_size=lot_size, short_sale_amount=amount
            )
        )
    return Account(
        cash=account.cash,
        debt=account.debt,
        interest_and_fees=account.interest_and_fees,
        other_collateral=account.other_collateral,
        positions=tuple(rows),
        short_proceeds=account.short_proceeds + amount,
    )


def withdrawable_cash(account: Account, line: Decimal) -> Decimal:
    """Largest cash w (whole cents, rounded down) with (A - w)/D ≥ line; all cash if D = 0;
    never negative, never more than cash."""
    line = as_decimal(line, "line")
    cash = max(account.cash, ZERO)
    liabilities = total_liabilities(account)
    if liabilities == 0:
        return quantize_money(cash, ROUND_FLOOR)
    room = total_assets(account) - line * liabilities
    return quantize_money(min(max(room, ZERO), cash), ROUND_FLOOR)


def withdrawable_quantity(account: Account, position: Position, line: Decimal) -> Decimal:
    """Largest quantity of a long ``position`` (a row of ``account``) that may be taken out
    while the ratio stays ≥ line: a whole number of lots, or the whole row (odd lot included)
    if the whole row fits. The whole row when there is no debt."""
    line = as_decimal(line, "line")
    if position not in account.positions:
        raise ValueError("position is not a row of this account")
    if position.quantity <= 0:
        return ZERO
    liabilities = total_liabilities(account)
    if liabilities == 0:
        return position.quantity
    room = total_assets(account) - line * liabilities
    if room < 0:
        return ZERO
    if position.quantity * position.price <= room:
        return position.quantity
    # price > 0 here (else the whole row would fit)
    lot = Decimal(position.lot_size)
    lots = (room / (position.price * lot)).to_integral_value(rounding=ROUND_FLOOR)
    # guard the 28-digit division against rounding across an integer
    while lots > 0 and lots * lot * position.price > room:
        lots -= 1
    while (lots + 1) * lot < position.quantity and (lots + 1) * lot * position.price <= room:
        lots += 1
    return min(lots * lot, position.quantity)


def cure_amount(account: Account, target: Decimal) -> Decimal:
    """Cash deposit that brings the ratio back to ``target``: max(0, T·D - A), rounded up."""
    target = as_decimal(target, "target")
    need = target * total_liabilities(account) - total_assets(account)
    return quantize_money(max(need, ZERO), ROUND_CEILING)


def minimal_sale_amount(assets: Decimal, liabilities: Decimal, target: Decimal) -> Decimal:
    """S = max(0, (T·D - A)/(T - 1)), rounded up to the cent: selling S of assets and repaying
    S of debt gives (A - S)/(D - S) ≥ T. The caller checks S against what can be sold."""
    a, d, t = (
        as_decimal(x, n)
        for x, n in ((assets, "assets"), (liabilities, "liabilities"), (target, "target"))
    )
    if t <= 1:
        raise ValueError("target must be above 100%")
    if d == 0:
        return ZERO
    return quantize_money(max((t * d - a) / (t - 1), ZERO), ROUND_CEILING)


# --------------------------------------------------------------------------- liquidation plan


def _order_zero_haircut_first(p: Position) -> tuple:
    return (p.haircut != 0, -p.market_value, p.instrument)


def _order_largest_mv_first(p: Position) -> tuple:
    return (-p.market_value, p.instrument)


#: Documented ordering rules for the planner. Default ``"zero_haircut_first"``: positions that
#: give no margin credit (haircut 0: ST, suspended, ...) are sold first, then the largest market
#: value first (a proxy for liquidity: big positions in liquid names absorb the sale in fewest
#: lines); ties by instrument code for a deterministic plan.
ORDER_RULES: dict[str, Callable[[Position], Any] | None] = {
    "zero_haircut_first": _order_zero_haircut_first,
    "largest_mv_first": _order_largest_mv_first,
    "as_given": None,
}


@dataclass(frozen=True, slots=True)
class PlanLine:
    instrument: str
    quantity: Decimal
    limit_price: Decimal
    proceeds: Decimal  # quantity * limit_price, HALF_UP to the cent
    market_value: Decimal  # quantity * mark price (what leaves the assets)


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    lines: tuple[PlanLine, ...]
    target: Decimal
    ratio_before: Decimal | None
    ratio_after: Decimal | None  # None: the debt is fully repaid
    restored: bool  # ratio_after ≥ target (or no debt left)
    proceeds: Decimal
    shortfall: Decimal  # debt beyond assets after the plan (≥ 0); a default for the reserve
    assets_after: Decimal
    liabilities_after: Decimal
    # buy-backs of short rows (plan_liquidation_long_short only): for a cover line,
    # ``proceeds`` is the turnover paid (quantity × buy limit) and ``market_value`` the
    # liability it removes (quantity × mark price)
    covers: tuple[PlanLine, ...] = ()
    cover_cost: Decimal = ZERO  # Σ covers' turnover


def expected_sale_price(
    price: Decimal, slippage: Decimal, lower_limit: Decimal | None = None, tick: Decimal = CENT
) -> Decimal:
    """The price a liquidation sale expects: the latest ``price`` less the fraction
    ``slippage`` (0 ≤ s < 1), floored to the price ``tick`` (a lower limit sells no fewer
    shares), never below the day's ``lower_limit``. Sized at the lower limit instead, a plan
    sells far more than the minimal sale (assets 52,000, debt 40,000, target 150% at 10.00:
    2,300 shares with a 10% band, 4,000 with 20%, where 1,600 restore the target)."""
    price, slippage = as_decimal(price, "price"), as_decimal(slippage, "slippage")
    if price <= 0:
        raise ValueError("price: a sale needs a positive price")
    if not (ZERO <= slippage < ONE):
        raise ValueError("slippage: must be in [0, 1)")
    expected = (price * (ONE - slippage) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    if lower_limit is not None:
        expected = max(expected, as_decimal(lower_limit, "lower_limit"))
    return expected


def expected_buy_price(
    price: Decimal, slippage: Decimal, upper_limit: Decimal | None = None, tick: Decimal = CENT
) -> Decimal:
    """The price a buy-back (buy-in of a short) expects: the twin of
    :func:`expected_sale_price`, the latest ``price`` plus the fraction ``slippage``, rounded
    up to the ``tick``, never above the day's ``upper_limit``."""
    price, slippage = as_decimal(price, "price"), as_decimal(slippage, "slippage")
    if price <= 0:
        raise ValueError("price: a buy needs a positive price")
    if not (ZERO <= slippage < ONE):
        raise ValueError("slippage: must be in [0, 1)")
    expected = (price * (ONE + slippage) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
    if upper_limit is not None:
        expected = min(expected, as_decimal(upper_limit, "upper_limit"))
    return expected


def plan_liquidation(
    account: Account,
    target: Decimal,
    order: str | Callable[[Position], Any] = "zero_haircut_first",
    unsellable: Collection[str] = (),
    fee_rate: Decimal = ZERO,
) -> LiquidationPlan:
    """Minimal whole-lot sale restoring ``target``.

    Each long row is sold at its limit price L (``limit_price``, else ``lower_limit``; never
    below ``lower_limit``); its mark price p leaves the assets and the proceeds net of the sale
    fees (``fee_rate`` f of the turnover: stamp duty + transfer fee + commission rate) repay
    debt, so after selling quantities q_j, with N_j = L_j·(1 - f):
    (A - Σ q_j p_j) / (D - Σ q_j N_j) ≥ T  ⇔  Σ q_j (T·N_j - p_j) ≥ T·D - A.
    Rows with T·N - p ≤ 0 cannot help and are skipped.
    Rows are taken in ``order`` (see :data:`ORDER_RULES`, or a key function); from each row the
    fewest whole lots that close the remaining gap, else the whole row (odd lot included), then
    the next row. So the last line cannot lose one lot (or its odd remainder) and still restore
    the target. If selling every row is not enough, everything is sold and ``restored`` is
    False; ``shortfall`` = max(0, D' - A') is the debt beyond assets. Rows of the instruments
    in ``unsellable`` (suspended, unpriced) stay in the assets and are never sold.
    With L = p (no slippage) and f = 0 a single row sells q ≥ (T·D - A)/((T - 1)·p): the
    minimal sale S = (T·D - A)/(T - 1) of DOMAIN.md, in whole lots rounded up. A line's
    ``proceeds`` is its turnover q·L (before fees); the plan's assets and liabilities after
    count what the fees leave.
    """
    target = as_decimal(target, "target")
    if target <= 1:
        raise ValueError("target must be above 100%")
    fee_rate = as_decimal(fee_rate, "fee_rate")
    if not (ZERO <= fee_rate < ONE):
        raise ValueError("fee_rate: must be in [0, 1)")
    keep = ONE - fee_rate
    assets, liabilities = total_assets(account), total_liabilities(account)
    ratio_before = ratio_of(assets, liabilities)

    if isinstance(order, str):
        if order not in ORDER_RULES:
            raise ValueError(f"unknown order rule {order!r}; known: {sorted(ORDER_RULES)}")
        key = ORDER_RULES[order]
    else:
        key = order
    rows = [p for p in account.positions if p.quantity > 0 and p.instrument not in unsellable]
    if key is not None:
        rows.sort(key=key)

    need = target * liabilities - assets
    lines: list[PlanLine] = []
    sold_mv = ZERO
    proceeds_exact = ZERO
    for p in rows:
        if need <= 0:
            break
        limit = _sale_limit(p)
        gain = target * limit * keep - p.price  # ratio gain per share
        if gain <= 0:
            continue
        lot = Decimal(p.lot_size)
        full_lots = (p.quantity / lot).to_integral_value(rounding=ROUND_FLOOR)
        lots = (need / (gain * lot)).to_integral_value(rounding=ROUND_CEILING)
        while lots > 1 and (lots - 1) * lot * gain >= need:
            lots -= 1
        while lots * lot * gain < need:
            lots += 1
        qty = lots * lot if lots <= full_lots else p.quantity
        need -= qty * gain
        sold_mv += qty * p.price
        proceeds_exact += qty * limit * keep
        lines.append(
            PlanLine(
                p.instrument,
                qty,
                limit,
                quantize_money(qty * limit),
                quantize_money(qty * p.price),
            )
        )

    repaid = min(proceeds_exact, liabilities)
    assets_after = assets - sold_mv + (proceeds_exact - repaid)
    liabilities_after = liabilities - repaid
    ratio_after = ratio_of(assets_after, liabilities_after)
    restored = ratio_after is None or ratio_after >= target
    return LiquidationPlan(
        lines=tuple(lines),
        target=target,
        ratio_before=ratio_before,
        ratio_after=ratio_after,
        restored=restored,
        proceeds=sum((line.proceeds for line in lines), ZERO),
        shortfall=quantize_money(max(liabilities_after - assets_after, ZERO)),
        assets_after=assets_after,
        liabilities_after=liabilities_after,
    )


def _sale_limit(p: Position) -> Decimal:
    limit = p.limit_price if p.limit_price is not None else p.lower_limit
    if limit is None:
        raise ValueError(f"{p.instrument}: a liquidation needs limit_price or lower_limit")
    if p.lower_limit is not None and limit < p.lower_limit:
        raise ValueError(f"{p.instrument}: limit price below the day's lower limit")
    return limit


def _buy_limit(p: Position) -> Decimal:
    limit = p.limit_price if p.limit_price is not None else p.upper_limit
    if limit is None:
        raise ValueError(f"{p.instrument}: a buy-back needs limit_price or upper_limit")
    if p.upper_limit is not None and limit > p.upper_limit:
        raise ValueError(f"{p.instrument}: limit price above the day's upper limit")
    return limit


def _order_short_largest_mv_first(p: Position) -> tuple:
    return (p.market_value, p.instrument)  # market value < 0: the largest liability first


#: Ordering rules for the buy-backs of :func:`plan_liquidation_long_short`. Default
#: ``"largest_mv_first"``: the largest short liability first (the one a rising market makes
#: grow most), ties by instrument code.
COVER_ORDER_RULES: dict[str, Callable[[Position], Any] | None] = {
    "largest_mv_first": _order_short_largest_mv_first,
    "as_given": None,
}


@dataclass(slots=True)
class _Cover:
    """A short row being bought back: remaining quantity, cost c and need reduction
    g = T·p - c per share (c = L·(1 + buy fee rate), p the mark)."""

    row: Position
    limit: Decimal
    cost: Decimal
    gain: Decimal
    left: Decimal
    bought: Decimal = ZERO


def _covers(items: list[_Cover], need: Decimal, budget: Decimal, apply: bool) -> tuple:
    """Buy back, in order, the fewest whole lots (or a row's whole remainder) closing
    ``need``, as many as ``budget`` pays; returns (need, budget) after. ``apply``: record the
    quantities in the items (else a simulation)."""
    for c in items:
        if need <= 0:
            break
        if c.gain <= 0 or c.left <= 0:
            continue
        lot = Decimal(c.row.lot_size)
        full_lots = (c.left / lot).to_integral_value(rounding=ROUND_FLOOR)
        lots = (need / (c.gain * lot)).to_integral_value(rounding=ROUND_CEILING)
        while lots > 1 and (lots - 1) * lot * c.gain >= need:
            lots -= 1
        while lots * lot * c.gain < need:
            lots += 1
        qty = lots * lot if lots <= full_lots else c.left
        if qty * c.cost > budget:  # what the cash pays: whole lots, or the whole remainder
            qty = (
                c.left
                if c.left * c.cost <= budget
                else ((budget / (c.cost * lot)).to_integral_value(rounding=ROUND_FLOOR) * lot)
            )
            while qty > 0 and qty * c.cost > budget:
                qty -= lot
            qty = max(qty, ZERO)
        if qty <= 0:
            continue
        need -= qty * c.gain
        budget -= qty * c.cost
        if apply:
            c.left -= qty
            c.bought += qty
    return need, budget


def _after_sale(
    need: Decimal,
    pool: Decimal,
    qty: Decimal,
    net: Decimal,
    price: Decimal,
    left_f: Decimal,
    target: Decimal,
) -> tuple[Decimal, Decimal, Decimal]:
    """(need, cash for covers, financing repaid) after selling ``qty`` at ``net`` a share (mark
    ``price``) when ``left_f`` of financing is left: r = min(q·N, F) repays, so
    A' = A - q·p + q·N - r, D' = D - r and T·D' - A' = need - (T - 1)·r + q·(p - N)."""
    r = min(qty * net, left_f)
    return need - (target - ONE) * r + qty * (price - net), pool + qty * net - r, r


def plan_liquidation_long_short(
    account: Account,
    target: Decimal,
    order: str | Callable[[Position], Any] = "zero_haircut_first",
    unsellable: Collection[str] = (),
    fee_rate: Decimal = ZERO,
    buy_fee_rate: Decimal = ZERO,
    cover_order: str | Callable[[Position], Any] = "largest_mv_first",
) -> LiquidationPlan:
    """The minimal cure of an account with long and short rows: sales of longs and buy-backs
    (covers, 买券还券) of shorts in whole lots, restoring ``target``.

    The algebra is that of the sale: buying back q shares of a short marked at p at a cost
    c = L·(1 + buy_fee_rate) per share (L its buy limit, :func:`_buy_limit`) takes q·c from the
    cash and q·p from the liabilities, so (A - q·c)/(D - q·p) ≥ T ⇔ q·(T·p - c) ≥ T·D - A; at
    L = p without fees B = q·p ≥ (T·D - A)/(T - 1), the minimal sale of DOMAIN.md
    (:func:`minimal_sale_amount`, :func:`minimal_sale_many` give that amount for sales and
    buy-backs together). A sale of q shares (net N = L·(1 - fee_rate)) repays the financing
    first (debt, then interest and fees: F); what it raises beyond F is cash that pays covers.

    Ordering rule (each line the fewest whole lots closing the remaining gap, else the whole
    row, then the next row, as :func:`plan_liquidation`):
      1. covers paid from the cash on hand, the restricted short proceeds first, then free
         cash: shorts in ``cover_order`` (default the largest liability first); the short
         proceeds may only cover, and a cover needs no sale;
      2. sales of longs in ``order`` (:data:`ORDER_RULES`, default zero-haircut first), each
         sized so that, with its proceeds repaying F and the rest paying the covers of step 3,
         the gap closes (rows with T·N - p ≤ 0 are skipped: they cannot help, neither by
         repaying nor, at covers without slippage, by paying covers);
      3. covers paid from what the sales raised beyond F, in ``cover_order``.
    Rows of ``unsellable`` (suspended, unpriced) are neither sold nor bought back. An account
    without short rows gets :func:`plan_liquidation`'s plan. ``restored`` False: everything
    that could help is in the plan; ``shortfall`` = max(0, D' - A')."""
    if not account.has_short:
        return plan_liquidation(account, target, order, unsellable, fee_rate)
    target = as_decimal(target, "target")
    if target <= 1:
        raise ValueError("target must be above 100%")
    fee_rate, buy_fee_rate = (
        as_decimal(fee_rate, "fee_rate"),
        as_decimal(buy_fee_rate, "buy_fee_rate"),
    )
    if not (ZERO <= fee_rate < ONE) or not (ZERO <= buy_fee_rate < ONE):
        raise ValueError("fee_rate, buy_fee_rate: must be in [0, 1)")
    keep = ONE - fee_rate

    def rule(name_or_key, rules: dict) -> Callable[[Position], Any] | None:
        if isinstance(name_or_key, str):
            if name_or_key not in rules:
                raise ValueError(f"unknown order rule {name_or_key!r}; known: {sorted(rules)}")
            return rules[name_or_key]
        return name_or_key

    sale_key, cover_key = rule(order, ORDER_RULES), rule(cover_order, COVER_ORDER_RULES)
    longs = [p for p in account.positions if p.quantity > 0 and p.instrument not in unsellable]
    shorts = [p for p in account.positions if p.quantity < 0 and p.instrument not in unsellable]
    if sale_key is not None:
        longs.sort(key=sale_key)
    if cover_key is not None:
        shorts.sort(key=cover_key)
    covers = []
    for p in shorts:
        limit = _buy_limit(p)
        cost = limit * (ONE + buy_fee_rate)
        covers.append(_Cover(p, limit, cost, target * p.price - cost, -p.quantity))

    assets, liabilities = total_assets(account), total_liabilities(account)
    need = target * liabilities - assets
    financing = account.debt + account.interest_and_fees  # what sale proceeds repay first
    pool = account.short_proceeds + max(account.cash, ZERO)  # cash on hand for covers

    # 1. covers from the cash on hand
    need, pool = _covers(covers, need, pool, apply=True)

    # 2. sales, proceeds repaying the financing first, the rest paying covers
    lines: list[PlanLine] = []
    sold_mv = raised = repaid = ZERO
    for p in longs:
        if need <= 0:
            break
        limit = _sale_limit(p)
        net = limit * keep
        gain = target * net - p.price  # per share, while the proceeds repay financing
        if gain <= 0:
            continue
        lot = Decimal(p.lot_size)
        full_lots = (p.quantity / lot).to_integral_value(rounding=ROUND_FLOOR)
        left_f = financing - repaid

        # while the proceeds stay within the financing the gap is linear in the lots
        lots = (need / (gain * lot)).to_integral_value(rounding=ROUND_CEILING)
        while lots > 1 and (lots - 1) * lot * gain >= need:
            lots -= 1
        while lots * lot * gain < need:
            lots += 1
        qty = lots * lot if lots <= full_lots else p.quantity
        if qty * net > left_f:
            # beyond the financing: the fewest lots whose excess pays the covers that close it
            # (none does: the whole row, then the next row, as plan_liquidation)
            lots = max((left_f / (net * lot)).to_integral_value(rounding=ROUND_FLOOR), ONE)
            while True:
                qty = lots * lot if lots <= full_lots else p.quantity
                n, budget, _r = _after_sale(need, pool, qty, net, p.price, left_f, target)
                if qty == p.quantity or _covers(covers, n, budget, apply=False)[0] <= 0:
                    break
                lots += 1
        need, pool, r = _after_sale(need, pool, qty, net, p.price, left_f, target)
        repaid += r
        sold_mv += qty * p.price
        raised += qty * net
        lines.append(
            PlanLine(
                p.instrument, qty, limit, quantize_money(qty * limit), quantize_money(qty * p.price)
            )
        )
        # 3. covers from what this sale raised beyond the financing
        need, pool = _covers(covers, need, pool, apply=True)

    cover_lines = tuple(
        PlanLine(
            c.row.instrument,
            c.bought,
            c.limit,
            quantize_money(c.bought * c.limit),
            quantize_money(c.bought * c.row.price),
        )
        for c in covers
        if c.bought > 0
    )
    spent = sum((c.bought * c.cost for c in covers), ZERO)
    covered = sum((c.bought * c.row.price for c in covers), ZERO)
    assets_after = assets - sold_mv + raised - repaid - spent
    liabilities_after = liabilities - repaid - covered
    ratio_after = ratio_of(assets_after, liabilities_after)
    return LiquidationPlan(
        lines=tuple(lines),
        target=target,
        ratio_before=ratio_of(assets, liabilities),
        ratio_after=ratio_after,
        restored=ratio_after is None or ratio_after >= target,
        proceeds=sum((line.proceeds for line in lines), ZERO),
        shortfall=quantize_money(max(liabilities_after - assets_after, ZERO)),
        assets_after=assets_after,
        liabilities_after=liabilities_after,
        covers=cover_lines,
        cover_cost=sum((line.proceeds for line in cover_lines), ZERO),
    )


# --------------------------------------------------------------------------- many accounts


def _float_array(x: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class BookArrays:
    """A book as flat arrays: P position rows, N accounts (account ids are 0..N-1).

    Per position row (shape (P,)):
        account    int64   account index of the row, 0 ≤ account < N (any order; sorting by
                           account helps the Monte Carlo, see analytics.ruin_probability)
        quantity   float64 signed: > 0 long, < 0 short
        price      float64 mark price (≥ 0)
        haircut    float64 fraction in [0, 1]
        financed   float64 financed amount of a financed-purchase row, else 0
        instrument int64   optional index into instrument-level arrays (analytics: sector
                           shocks, historical returns, the factor model)
        short_sale float64 optional: a short row's proceeds at sale (融券卖出金额,
                           Position.short_sale_amount), else 0 (default zeros)
    Per account (shape (N,)): cash (free cash), debt (financing outstanding), interest_fees,
        other_collateral and short_proceeds (restricted proceeds of short sales, in the
        assets; Account.short_proceeds) (both default zeros).
    """

    account: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    haircut: np.ndarray
    financed: np.ndarray
    cash: np.ndarray
    debt: np.ndarray
    interest_fees: np.ndarray
    other_collateral: np.ndarray | None = None
    instrument: np.ndarray | None = None
    short_sale: np.ndarray | None = None
    short_proceeds: np.ndarray | None = None

    def __post_init__(self) -> None:
        account = np.ascontiguousarray(self.account, dtype=np.int64)
        if account.ndim != 1:
            raise ValueError("account must be 1-D")
        n_rows = account.shape[0]
        cash = _float_array(self.cash, "cash")
        if cash.ndim != 1:
            raise ValueError("cash must be 1-D")
        n = cash.shape[0]
        if n_rows and (account.min() < 0 or account.max() >= n):
            raise ValueError("account index out of range 0..N-1")
        set_ = object.__setattr__
        set_(self, "account", account)
        set_(self, "cash", cash)
        for name in ("quantity", "price", "haircut", "financed"):
            set_(self, name, _float_array(getattr(self, name), name, (n_rows,)))
        for name in ("debt", "interest_fees"):
            set_(self, name, _float_array(getattr(self, name), name, (n,)))
        other = np.zeros(n) if self.other_collateral is None else self.other_collateral
        set_(self, "other_collateral", _float_array(other, "other_collateral", (n,)))
        short_sale = np.zeros(n_rows) if self.short_sale is None else self.short_sale
        set_(self, "short_sale", _float_array(short_sale, "short_sale", (n_rows,)))
        proceeds = np.zeros(n) if self.short_proceeds is None else self.short_proceeds
        set_(self, "short_proceeds", _float_array(proceeds, "short_proceeds", (n,)))
        if self.instrument is not None:
            inst = np.ascontiguousarray(self.instrument, dtype=np.int64)
            if inst.shape != (n_rows,):
                raise ValueError("instrument must have one entry per position row")
            set_(self, "instrument", inst)
        if (self.price < 0).any():
            raise ValueError("price must be ≥ 0")
        if ((self.haircut < 0) | (self.haircut > 1)).any():
            raise ValueError("haircut must be in [0, 1]")
        if (self.financed < 0).any() or (self.debt < 0).any() or (self.interest_fees < 0).any():
            raise ValueError("financed, debt and interest_fees must be ≥ 0")
        if (self.short_sale < 0).any() or (self.short_proceeds < 0).any():
            raise ValueError("short_sale and short_proceeds must be ≥ 0")

    @property
    def n_accounts(self) -> int:
        return int(self.cash.shape[0])

    @property
    def n_positions(self) -> int:
        return int(self.account.shape[0])

    def with_prices(self, price: np.ndarray) -> BookArrays:
        """The same book marked at new per-row prices."""
        return BookArrays(
            self.account, self.quantity, price, self.haircut, self.financed, self.cash,
            self.debt, self.interest_fees, self.other_collateral, self.instrument,
            self.short_sale, self.short_proceeds,
        )  # fmt: skip

    def group_sum(self, weights: np.ndarray) -> np.ndarray:
        """Σ per account of a per-row array (np.bincount; rows may come in any order)."""
        return np.bincount(self.account, weights=weights, minlength=self.n_accounts)

    @classmethod
    def from_accounts(
        cls, accounts: Sequence[Account], instruments: dict[str, int] | None = None
    ) -> BookArrays:
        """Build from Decimal accounts (tests, small books): floats of the Decimal fields."""
        rows = [(i, p) for i, a in enumerate(accounts) for p in a.positions]
        inst = None
        if instruments is not None:
            inst = np.array([instruments[p.instrument] for _, p in rows], dtype=np.int64)
        return cls(
            account=np.array([i for i, _ in rows], dtype=np.int64),
            quantity=np.array([float(p.quantity) for _, p in rows]),
            price=np.array([float(p.price) for _, p in rows]),
            haircut=np.array([float(p.haircut) for _, p in rows]),
            financed=np.array([float(p.financed_amount) for _, p in rows]),
            cash=np.array([float(a.cash) for a in accounts]),
            debt=np.array([float(a.debt) for a in accounts]),
            interest_fees=np.array([float(a.interest_and_fees) for a in accounts]),
            other_collateral=np.array([float(a.other_collateral) for a in accounts]),
            instrument=inst,
            short_sale=np.array([float(p.short_sale_amount) for _, p in rows]),
            short_proceeds=np.array([float(a.short_proceeds) for a in accounts]),
        )


@dataclass(frozen=True, eq=False)
class Valuation:
    """Per-account arrays (N,): assets A, liabilities D, ratio A/D (+inf when D = 0)."""

    assets: np.ndarray
    liabilities: np.ndarray
    ratio: np.ndarray

    @property
    def equity(self) -> np.ndarray:
        return self.assets - self.liabilities


def ratios_from(assets: np.ndarray, liabilities: np.ndarray) -> np.ndarray:
    """THE vectorised maintenance ratio, twin of :func:`ratio_of`: A / D per element, float64,
    with +inf where D = 0 (where ratio_of gives ``None``: the no-debt sentinel), without a
    division warning."""
    a = np.asarray(assets, dtype=np.float64)
    d = np.asarray(liabilities, dtype=np.float64)
    out = np.full(np.broadcast_shapes(a.shape, d.shape), np.inf)
    np.divide(a, d, out=out, where=d != 0)
    return out


def value_book(book: BookArrays, price: np.ndarray | None = None) -> Valuation:
    """Assets, liabilities and maintenance ratio of every account (optionally at new prices)."""
    px = book.price if price is None else _float_array(price, "price", (book.n_positions,))
    mv = book.quantity * px
    longs = book.group_sum(np.where(mv > 0, mv, 0.0))
    shorts = book.group_sum(np.where(mv < 0, -mv, 0.0))
    assets = book.cash + book.short_proceeds + longs + book.other_collateral
    liabilities = book.debt + shorts + book.interest_fees
    return Valuation(assets, liabilities, ratios_from(assets, liabilities))


def ratios_many(book: BookArrays, price: np.ndarray | None = None) -> np.ndarray:
    """Maintenance ratio per account, float64 (N,), +inf = no debt."""
    return value_book(book, price).ratio


def available_margin_many(
    book: BookArrays,
    financing_margin_ratio: float | np.ndarray,
    haircut: np.ndarray | None = None,
    short_margin_ratio: float | np.ndarray | None = None,
) -> np.ndarray:
    """Vectorised :func:`available_margin` (unrounded float64, (N,)). The ratios are scalars
    or one value per account; ``haircut`` overrides the per-row haircuts (haircut shocks).
    Without ``short_margin_ratio`` an account with a short row gets NaN (as the Decimal face
    raises), so a bulk run without it does not stop."""
    h = book.haircut if haircut is None else _float_array(haircut, "haircut", (book.n_positions,))
    fmr = np.broadcast_to(np.asarray(financing_margin_ratio, dtype=np.float64), book.cash.shape)
    mv = book.quantity * book.price
    short = book.quantity < 0
    financed = (book.financed > 0) & ~short
    gain = np.where(short, book.short_sale + mv, mv - book.financed)  # mv < 0 on a short row
    row = np.where(short | financed, gain * np.where(gain >= 0, h, 1.0), mv * h)
    total = book.cash - book.interest_fees + book.group_sum(row)
    total -= book.group_sum(np.where(financed, book.financed, 0.0)) * fmr
    owed = book.group_sum(np.where(short, -mv, 0.0))  # Σ 融券卖出证券市值
    if short_margin_ratio is None:
        total[book.group_sum(short.astype(np.float64)) > 0] = np.nan
    else:
        smr = np.broadcast_to(np.asarray(short_margin_ratio, dtype=np.float64), book.cash.shape)
        total -= owed * smr
    return total


def withdrawable_cash_many(
    book: BookArrays, line: float, valuation: Valuation | None = None
) -> np.ndarray:
    """Vectorised :func:`withdrawable_cash` (unrounded; floor to the cent when paying out)."""
    v = valuation or value_book(book)
    cash = np.maximum(book.cash, 0.0)
    room = np.clip(v.assets - line * v.liabilities, 0.0, None)
    return np.where(v.liabilities > 0, np.minimum(room, cash), cash)


def cure_amount_many(
    book: BookArrays, target: float, valuation: Valuation | None = None
) -> np.ndarray:
    """Vectorised :func:`cure_amount`: max(0, T·D - A) per account (unrounded)."""
    v = valuation or value_book(book)
    return np.maximum(target * v.liabilities - v.assets, 0.0)


def minimal_sale_many(
    book: BookArrays, target: float, valuation: Valuation | None = None
) -> np.ndarray:
    """Vectorised :func:`minimal_sale_amount` at mark prices: max(0, (T·D - A)/(T - 1))."""
    if target <= 1:
        raise ValueError("target must be above 100%")
    v = valuation or value_book(book)
    return np.maximum((target * v.liabilities - v.assets) / (target - 1.0), 0.0)
