"""Valuation of one credit account: THE read the margin-call lifecycle, the mark-to-market and
the API use.

`account_view(credit_account, *, as_of=None) -> AccountView` builds the account from the
custody ledger (client money, financing receivable, interest receivable, client securities of
the investor), the latest prices and the haircuts, in a bounded number of queries (five, or six
with `as_of`, whatever the number of positions), and evaluates the pure formulas of
lending.margin on it.

Holdings bought with financing are split into two rows of `margin_account` (margin.py: "a
holding bought partly with own money is two rows"): the financed row (quantity still held from
open financings, their outstanding principal as `financed_amount`) and the collateral row (the
rest). So a financed position at a loss counts its loss in full in the available margin.

`as_of` gives ledger balances and prices (last tick at or before it) at that instant; the split
between financed and own shares is the current one (financings are not versioned by time).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from custody.models import LedgerAccount
from custody.selectors import balances_as_of

from . import margin
from .models import CreditAccount, CreditContract, Financing, FinancingStatus, Instrument, PriceTick

ZERO = Decimal(0)
CURRENCY = "CNY"


@dataclass(frozen=True)
class PositionView:
    instrument: Instrument
    quantity: Decimal
    price: Decimal  # 0 when the instrument has no price yet (counts nothing)
    price_at: datetime | None
    market_value: Decimal
    haircut: Decimal  # effective: 0 off the eligible list and while ST/suspended/delisting
    financed_amount: Decimal  # outstanding principal of open financings of this instrument
    lot_size: int
    lower_limit_price: Decimal | None  # today's lower price limit (liquidation floor)
    financed_quantity: Decimal = ZERO  # shares of `quantity` still financed

    @property
    def collateral_value(self) -> Decimal:
        return self.market_value * self.haircut


@dataclass(frozen=True)
class AccountView:
    credit_account: CreditAccount
    contract: CreditContract | None
    lines: margin.MarginLines
    cash: Decimal
    financing_debt: Decimal
    accrued_interest: Decimal
    positions: list[PositionView]
    collateral_value: Decimal
    total_assets: Decimal
    total_liabilities: Decimal
    maintenance_ratio: Decimal | None
    available_margin: Decimal
    withdrawable_cash: Decimal
    margin_account: margin.Account
    financing_margin_ratio: Decimal = margin.FINANCING_MARGIN_RATIO
    as_of: datetime | None = None
    rows_by_unit: dict = field(default_factory=dict, repr=False)

    def position(self, instrument) -> PositionView | None:
        code = instrument if isinstance(instrument, str) else instrument.ledger_unit
        return next((p for p in self.positions if p.instrument.ledger_unit == code), None)

    def collateral_row(self, instrument) -> margin.Position | None:
        """The own-money (not financed) row of `instrument` in margin_account, if any."""
        code = instrument if isinstance(instrument, str) else instrument.ledger_unit
        return self.rows_by_unit.get(code, {}).get("collateral")

    def financed_row(self, instrument) -> margin.Position | None:
        code = instrument if isinstance(instrument, str) else instrument.ledger_unit
        return self.rows_by_unit.get(code, {}).get("financed")


def contract_lines(contract: CreditContract | None) -> margin.MarginLines:
    if contract is None:
        return margin.DEFAULT_LINES
    return margin.MarginLines(
        warning=contract.warning_line,
        call=contract.call_line,
        target=contract.target_line,
        withdrawal=contract.withdrawal_line,
    )


def lower_limit_price(
    instrument: Instrument, price: Decimal | None, prev_close: Decimal | None
) -> Decimal | None:
    reference = prev_close or price
    if not reference:
        return None
    return (reference * (1 - instrument.price_limit)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def current_contract(credit_account: CreditAccount) -> CreditContract | None:
    """The active contract of the account, else its latest one."""
    contracts = list(
        CreditContract.objects.filter(credit_account=credit_account).order_by("-signed_on", "-pk")
    )
    active = [c for c in contracts if c.status == "active"]
    return (active or contracts or [None])[0]


def _split_unit(unit: str) -> tuple[str, str]:
    exchange, _sep, code = unit.partition(":")
    return exchange, code


def account_view(
    credit_account: CreditAccount,
    *,
    as_of: datetime | None = None,
    contract: CreditContract | None = None,
) -> AccountView:
    """The account at `as_of` (now by default); see the module docstring."""
    if contract is None:
        contract = current_contract(credit_account)  # 1 query
    lines = contract_lines(contract)
    fmr = contract.financing_margin_ratio if contract else margin.FINANCING_MARGIN_RATIO
    investor_id = credit_account.investor_id

    accounts = list(  # 1 query
        LedgerAccount.objects.filter(
            investor_id=investor_id,
            purpose__in=(
                "client_money",
                "financing_receivable",
                "interest_receivable",
                "client_securities",
            ),
        )
    )
    balances = balances_as_of(accounts=accounts, as_of=as_of)  # 1 query
    cash = debt = interest = ZERO
    holdings: dict[str, Decimal] = {}
    for account in accounts:
        value = balances[account.pk]
        if account.purpose == "client_money" and account.unit == CURRENCY:
            cash += value
        elif account.purpose == "financing_receivable" and account.unit == CURRENCY:
            debt += value
        elif account.purpose == "interest_receivable" and account.unit == CURRENCY:
            interest += value
        elif account.purpose == "client_securities" and value != 0:
            holdings[account.unit] = value

    financings = list(  # 1 query
        Financing.objects.filter(credit_account=credit_account, status=FinancingStatus.OPEN)
        .exclude(principal_outstanding=0, quantity_held=0)
        .only("instrument_id", "principal_outstanding", "quantity_held")
    )
    financed_amount: dict[int, Decimal] = defaultdict(Decimal)
    financed_qty: dict[int, Decimal] = defaultdict(Decimal)
    for f in financings:
        financed_amount[f.instrument_id] += f.principal_outstanding
        financed_qty[f.instrument_id] += f.quantity_held

    instruments: list[Instrument] = []
    if holdings or financed_amount:
        condition = Q(pk__in=list(financed_amount))
        for unit in holdings:
            exchange, code = _split_unit(unit)
            condition |= Q(exchange=exchange, code=code)
        instruments = list(  # 1 query
            Instrument.objects.filter(condition).select_related("latest_price").order_by("pk")
        )

    prices: dict[int, tuple[Decimal | None, datetime | None, Decimal | None]] = {}
    if as_of is None:
        for instrument in instruments:
            latest = getattr(instrument, "latest_price", None)
            prices[instrument.pk] = (
                (latest.price, latest.at, latest.prev_close) if latest else (None, None, None)
            )
    elif instruments:
        ticks = (  # 1 query: the last tick at or before as_of, per instrument
            PriceTick.objects.filter(instrument_id__in=[i.pk for i in instruments], at__lte=as_of)
            .order_by("instrument_id", "-at")
            .distinct("instrument_id")
        )
        for tick in ticks:
            prices[tick.instrument_id] = (tick.price, tick.at, None)

    positions: list[PositionView] = []
    rows: list[margin.Position] = []
    rows_by_unit: dict[str, dict[str, margin.Position]] = {}
    for instrument in instruments:
        unit = instrument.ledger_unit
        held = holdings.get(unit, ZERO)
        amount = financed_amount.get(instrument.pk, ZERO)
        if held == 0 and amount == 0:
            continue
        price, price_at, prev_close = prices.get(instrument.pk, (None, None, None))
        mark = price if price is not None else ZERO
        haircut = instrument.effective_haircut
        limit = lower_limit_price(instrument, price, prev_close)
        f_qty = min(held, financed_qty.get(instrument.pk, ZERO)) if held > 0 else ZERO
        positions.append(
            PositionView(
                instrument=instrument,
                quantity=held,
                price=mark,
                price_at=price_at,
                market_value=held * mark,
                haircut=haircut,
                financed_amount=amount,
                lot_size=instrument.lot_size,
                lower_limit_price=limit,
                financed_quantity=f_qty,
            )
        )
        split: dict[str, margin.Position] = {}
        common = {
            "instrument": unit,
            "price": mark,
            "haircut": haircut,
            "lot_size": instrument.lot_size,
            "lower_limit": limit,
        }
        if amount > 0 or f_qty > 0:
            split["financed"] = margin.Position(quantity=f_qty, financed_amount=amount, **common)
        if held - f_qty > 0:
            split["collateral"] = margin.Position(quantity=held - f_qty, **common)
        rows.extend(split.values())
        rows_by_unit[unit] = split
    positions.sort(key=lambda p: (-p.market_value, p.instrument.ledger_unit))

    account = margin.Account(
        cash=cash, debt=debt, interest_and_fees=interest, positions=tuple(rows)
    )
    return AccountView(
        credit_account=credit_account,
        contract=contract,
        lines=lines,
        cash=cash,
        financing_debt=debt,
        accrued_interest=interest,
        positions=positions,
        collateral_value=sum((p.collateral_value for p in positions), ZERO),
        total_assets=margin.total_assets(account),
        total_liabilities=margin.total_liabilities(account),
        maintenance_ratio=margin.maintenance_ratio(account),
        available_margin=margin.available_margin(account, fmr),
        withdrawable_cash=margin.withdrawable_cash(account, lines.withdrawal),
        margin_account=account,
        financing_margin_ratio=fmr,
        as_of=as_of,
        rows_by_unit=rows_by_unit,
    )
