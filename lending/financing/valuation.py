"""Valuation of one credit account: THE read the margin-call lifecycle, the mark-to-market and
the API use.

`account_view(credit_account, *, as_of=None) -> AccountView` builds the account from the
custody ledger (client money, financing receivable, interest receivable, client securities of
the investor, and dividends receivable between their ex-date and pay date, which are "other
collateral": lending.financing.corporate_actions), the latest prices and the haircuts, in a
fixed number of queries whatever the number of positions (now: two, or one when the caller
passes the contract; with `as_of`: five; plus one for the dated price-band parameters of the
day when a position has a price: the lower price limit, lending.instruments.selectors.band_of),
and evaluates the pure formulas of lending.domain.margin on it.

Lines and financing margin ratio: the contract's (a contract keeps those in force when it was
signed); an account without a contract has those of the dated parameter table in force on the
valuation day (`as_of`'s local day, else today), read through lending.credit.selectors (five
more reads, for that account only). A missing parameter raises: no fallback value.

Reading and computing are apart: `_current_inputs` (now: ONE SQL statement) or `_inputs_as_of`
(`as_of`: four ORM queries) gather the same `_Inputs`, and `_assemble` makes the positions, the
margin rows and the figures from them, the same code for both. The statement of
`_current_inputs` reads the investor's ledger accounts with their balances, matches the
client-securities units to instruments in SQL (the same split at the first ":" as
`_split_unit`), joins the latest prices and sums the open financings per instrument (exact
numeric sums, as Python's Decimal would); its rows become the same model instances (Instrument
with its latest price cached, as `select_related("latest_price")` gives) without the ORM
compiling a query per request. The account API reads every account through it, so its cost is
the API's cost.

Holdings bought with financing are split into two rows of `margin_account` (margin.py: "a
holding bought partly with own money is two rows"): the financed row (quantity still held from
open financings, their outstanding principal as `financed_amount`) and the collateral row (the
rest). So a financed position at a loss counts its loss in full in the available margin.

Each position's haircut is the one in force on the valuation day: the lowest of the desk's
(0 off its eligible list and while ST / suspended / delisting), the exchange's conversion rate
(lending.instruments.exchange_lists, read inside the same statement; none before the
exchange's first list) and the category's dated cap. A suspended security is valued at its
last price less the dated discount valuation.suspended_discount (read with the band
parameters); `PositionView.price` stays the last price. docs/exchange-lists.md.

`as_of` gives ledger balances and prices (last tick at or before it) at that instant; the split
between financed and own shares is the current one (financings are not versioned by time).

Short positions (lending.shorts): the shares owed (`short_securities` per instrument) are short
rows of `margin_account` at market value, each with its short-sale amount (the open short
positions' `amount_outstanding` summed per instrument; the current one, like the financings'
split) and the day's upper price limit (the worst price of a buy-in); the restricted proceeds
(`short_proceeds`) are assets of the ratio but not free cash; the lending fees, compensation
and buy-in shortfalls owed (`lending_fee_receivable`) are liabilities with the interest. The
short margin ratio is the dated parameter in force on the valuation day (a private securities
investment fund's own ratio for such an investor): `short_margin_ratio_for`. They are listed
apart from the long positions (`AccountView.shorts`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from compliance import parameters as P
from compliance import selectors as compliance_selectors
from custody import money
from custody.models import DEBIT_NORMAL, LedgerAccount
from custody.selectors import balances_as_of
from lending.credit import selectors as credit_selectors
from lending.credit.models import ContractStatus, CreditAccount, CreditContract
from lending.domain import margin
from lending.financing import raw_reads
from lending.financing.models import Financing, FinancingStatus
from lending.instruments import exchange_lists
from lending.instruments import selectors as instruments_selectors
from lending.instruments.models import Instrument, LatestPrice, PriceTick
from lending.shorts.models import ShortPosition, ShortPositionStatus

ZERO = Decimal(0)


CURRENCY = "CNY"


@dataclass(frozen=True)
class PositionView:
    instrument: Instrument
    quantity: Decimal
    price: Decimal  # the last price; 0 when the instrument has no price yet (counts nothing)
    price_at: datetime | None
    market_value: Decimal  # quantity x price (x (1 - the dated discount) while suspended)
    haircut: Decimal  # in force: min(desk's effective, exchange's rate, dated category cap)
    financed_amount: Decimal  # outstanding principal of open financings of this instrument
    lot_size: int
    lower_limit_price: Decimal | None  # today's lower price limit (liquidation floor)
    financed_quantity: Decimal = ZERO  # shares of `quantity` still financed

    @property
    def collateral_value(self) -> Decimal:
        return self.market_value * self.haircut

    @property
    def own_quantity(self) -> Decimal:
        """Shares bought with the investor's own money (not financed): what may be transferred
        out, within the withdrawal line."""
        return self.quantity - self.financed_quantity


@dataclass(frozen=True)
class ShortView:
    """The shares of one instrument the account owes (its open short positions together)."""

    instrument: Instrument
    quantity: Decimal  # shares owed (> 0)
    price: Decimal  # the last price; 0 without one
    price_at: datetime | None
    market_value: Decimal  # quantity x price (the liability)
    short_sale_amount: Decimal  # 融券卖出金额 of the shares owed
    upper_limit_price: Decimal | None  # today's upper price limit (a buy-in's worst price)

    @property
    def profit(self) -> Decimal:
        """What the short has gained so far (sale amount less the value owed now)."""
        return self.short_sale_amount - self.market_value


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
    financing_margin_ratio: Decimal
    as_of: datetime | None = None
    rows_by_unit: dict = field(default_factory=dict, repr=False)
    # cash dividends booked at their ex-date, not yet paid: other collateral (in total_assets)
    entitlements_receivable: Decimal = ZERO
    # the short side (lending.shorts): shares owed, restricted proceeds, fees owed
    shorts: list[ShortView] = field(default_factory=list)
    short_proceeds: Decimal = ZERO
    lending_fees_owed: Decimal = ZERO
    short_margin_ratio: Decimal | None = None

    @property
    def short_sale_amount(self) -> Decimal:
        return sum((s.short_sale_amount for s in self.shorts), ZERO)

    @property
    def short_market_value(self) -> Decimal:
        return sum((s.market_value for s in self.shorts), ZERO)

    def short(self, instrument) -> ShortView | None:
        code = instrument if isinstance(instrument, str) else instrument.ledger_unit
        return next((s for s in self.shorts if s.instrument.ledger_unit == code), None)

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

    def withdrawable_quantity(self, instrument) -> Decimal:
        """How many own (not financed) shares of `instrument` may be transferred out while the
        ratio stays at or above the withdrawal line (0 without any)."""
        row = self.collateral_row(instrument)
        if row is None:
            return ZERO
        return margin.withdrawable_quantity(self.margin_account, row, self.lines.withdrawal)


def contract_lines(contract: CreditContract | None, *, on: date) -> margin.MarginLines:
    """The contract's lines; without a contract, those of the parameter table in force on
    `on`."""
    if contract is None:
        return credit_selectors.lines_in_force(on)
    return margin.MarginLines(
        warning=contract.warning_line,
        call=contract.call_line,
        target=contract.target_line,
        withdrawal=contract.withdrawal_line,
    )


def price_limits(
    instrument: Instrument,
    price: Decimal | None,
    prev_close: Decimal | None,
    *,
    on: date,
    params: instruments_selectors.BandParameters | None = None,
) -> tuple[Decimal | None, Decimal | None]:
    """The edges (low, high) of the instrument's daily price band on `on` (the one band rule,
    lending.domain.prices.price_band, with its board's dated parameters) around the previous
    close, else the latest price; (None, None) without a price or in a new listing's first
    trading days (no band)."""
    band = instruments_selectors.band_of(
        instrument, on=on, prev_close=prev_close or price, params=params
    )
    return (band.low, band.high) if band is not None else (None, None)


def lower_limit_price(
    instrument: Instrument,
    price: Decimal | None,
    prev_close: Decimal | None,
    *,
    on: date,
    params: instruments_selectors.BandParameters | None = None,
) -> Decimal | None:
    """The low edge of the band (price_limits): the liquidation's floor."""
    return price_limits(instrument, price, prev_close, on=on, params=params)[0]


def short_margin_ratio_for(investor, on: date) -> Decimal:
    """The short margin ratio in force on `on` for `investor`: the dated parameter, a private
    securities investment fund's own (DOMAIN.md "Securities lending")."""
    from accounts.models import InvestorType

    private_fund = getattr(investor, "investor_type", None) == InvestorType.PRIVATE_FUND
    return compliance_selectors.parameter(
        P.short_margin_ratio_key(private_fund=private_fund), on=on
    )


CONTRACT_FIELDS = raw_reads.fields(CreditContract)


def current_contract_sql(account: str) -> str:
    """The statement (one row at most) of current_contract for the account whose id is the SQL
    expression `account` ("%s", or a column of an enclosing query): the first active contract
    in (-signed_on, -pk) order, else the first of all in that order. One parameter: the
    active status."""
    return (
        f"SELECT {raw_reads.columns(CreditContract, 'c')} "  # noqa: S608 (model columns)
        f"FROM lending_creditcontract c WHERE c.credit_account_id = {account} "
        "ORDER BY (c.status = %s) DESC, c.signed_on DESC, c.id DESC LIMIT 1"
    )


_CONTRACT_SQL = current_contract_sql("%s")


def current_contract(credit_account: CreditAccount) -> CreditContract | None:
    """The active contract of the account, else its latest one (signed last): one statement,
    the model instance made from its row without compiling a queryset."""
    db, rows = raw_reads.fetch(
        CreditContract, _CONTRACT_SQL, [credit_account.pk, ContractStatus.ACTIVE]
    )
    return raw_reads.instance(CreditContract, db, CONTRACT_FIELDS, rows[0]) if rows else None


def _split_unit(unit: str) -> tuple[str, str]:
    exchange, _sep, code = unit.partition(":")
    return exchange, code


#: The ledger accounts a valuation reads (of the account's investor). entitlement_receivable:
#: cash dividends between their ex-date and pay date (lending.financing.corporate_actions),
#: the "other collateral" of the maintenance ratio's numerator, so the ratio does not jump
#: when the price drops by the dividend at the ex-date.
PURPOSES = (
    "client_money",
    "financing_receivable",
    "interest_receivable",
    "client_securities",
    "entitlement_receivable",
    "short_securities",
    "short_proceeds",
    "lending_fee_receivable",
)

#: The per-instrument purposes whose units are instruments (held, or owed short).
SECURITIES_PURPOSES = ("client_securities", "short_securities")


@dataclass
class _Inputs:
    """What a valuation reads: the investor's ledger balances as (purpose, unit, normal-side
    value), the open financings summed per instrument id, the instruments held or financed
    (ordered by pk) and their prices {instrument id: (price, at, prev_close)}."""

    balances: list[tuple[str, str, Decimal]]
    financed_amount: dict[int, Decimal]
    financed_qty: dict[int, Decimal]
    instruments: list[Instrument]
    prices: dict[int, tuple[Decimal | None, datetime | None, Decimal | None]]
    # the exchange's conversion rate in force on the valuation day, per instrument (None: no
    # eligible-collateral list of its exchange in force), read in the same statement
    exchange_rates: dict[int, Decimal | None] = field(default_factory=dict)
    # the open short positions' short-sale amount owed, per instrument id
    short_amounts: dict[int, Decimal] = field(default_factory=dict)


def _holdings(
    balances: list[tuple[str, str, Decimal]], purpose: str = "client_securities"
) -> dict[str, Decimal]:
    """{unit: balance} of the instrument accounts of `purpose` (held, or owed short)."""
    return {unit: value for p, unit, value in balances if p == purpose and value != 0}


def short_amounts_of(credit_account: CreditAccount) -> dict[int, Decimal]:
    """The open short positions' short-sale amount owed, per instrument id (1 query)."""
    rows = (
        ShortPosition.objects.filter(credit_account=credit_account, status=ShortPositionStatus.OPEN)
        .values_list("instrument_id")
        .annotate(amount=Sum("amount_outstanding"))
    )
    return dict(rows)


def _inputs_as_of(credit_account: CreditAccount, as_of: datetime) -> _Inputs:
    """Ledger balances and the last price ticks at `as_of`: four queries."""
    accounts = list(  # 1 query
        LedgerAccount.objects.filter(investor_id=credit_account.investor_id, purpose__in=PURPOSES)
    )
    values = balances_as_of(accounts=accounts, as_of=as_of)  # 1 query
    balances = [(a.purpose, a.unit, values[a.pk]) for a in accounts]
    holdings = _holdings(balances) | _holdings(balances, "short_securities")

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
        instruments = list(  # 1 query, with the exchange's conversion rate in force that day
            Instrument.objects.filter(condition)
            .select_related("latest_price")
            .annotate(
                exchange_rate=RawSQL(  # noqa: S611 (an alias; the day is a parameter)
                    exchange_lists.collateral_rate_sql("lending_instrument"),
                    [_valuation_day(as_of)],
                )
            )
            .order_by("pk")
        )

    prices: dict[int, tuple[Decimal | None, datetime | None, Decimal | None]] = {}
    if instruments:
        ticks = (  # 1 query: the last tick at or before as_of, per instrument
            PriceTick.objects.filter(instrument_id__in=[i.pk for i in instruments], at__lte=as_of)
            .order_by("instrument_id", "-at")
            .distinct("instrument_id")
        )
        for tick in ticks:
            prices[tick.instrument_id] = (tick.price, tick.at, None)
    rates = {i.pk: i.exchange_rate for i in instruments}
    return _Inputs(
        balances,
        financed_amount,
        financed_qty,
        instruments,
        prices,
        exchange_rates=rates,
        short_amounts=short_amounts_of(credit_account) if holdings else {},
    )


_INSTRUMENT_FIELDS = raw_reads.fields(Instrument)


_INSTRUMENT_PK = _INSTRUMENT_FIELDS.index(Instrument._meta.pk.attname)


_PRICE_FIELDS = ["instrument_id", "price", "at", "prev_close"]


#: The instrument's `latest_price` cache, as select_related("latest_price") fills it.
_LATEST_PRICE_FIELD = LatestPrice._meta.get_field("instrument")


def _current_sql() -> str:
    # Only column names (from the models) are interpolated; every value is a parameter.
    # held: client-securities accounts with a balance, matched to their instrument like
    # _split_unit (exchange before the first ":", code after it); fin: open financings summed
    # per instrument. A FULL JOIN keeps money accounts (no instrument), holdings, and
    # instruments financed but no longer held.
    return f"""
WITH acc AS (
    SELECT a.id, a.purpose, a.unit, a.account_type, b.balance
    FROM custody_ledgeraccount a
    LEFT JOIN custody_accountbalance b ON b.account_id = a.id
    WHERE a.investor_id = %s AND a.purpose = ANY(%s)
), held AS (
    SELECT acc.*, hi.id AS instrument_id
    FROM acc
    LEFT JOIN lending_instrument hi
      ON acc.purpose IN ('client_securities', 'short_securities') AND acc.balance <> 0
     AND hi.exchange = split_part(acc.unit, ':', 1)
     AND hi.code = substr(acc.unit, length(split_part(acc.unit, ':', 1)) + 2)
), fin AS (
    SELECT f.instrument_id, sum(f.principal_outstanding) AS amount, sum(f.quantity_held) AS qty
    FROM lending_financing f
    WHERE f.credit_account_id = %s AND f.status = %s
      AND NOT (f.principal_outstanding = 0 AND f.quantity_held = 0)
    GROUP BY f.instrument_id
)
SELECT held.id, held.purpose, held.unit, held.account_type, held.balance, fin.amount, fin.qty,
       {raw_reads.columns(LatestPrice, "lp", _PRICE_FIELDS)},
       {raw_reads.columns(Instrument, "i")},
       {exchange_lists.collateral_rate_sql("i")} AS exchange_rate
FROM held
FULL JOIN fin ON fin.instrument_id = held.instrument_id
LEFT JOIN lending_instrument i ON i.id = COALESCE(held.instrument_id, fin.instrument_id)
LEFT JOIN lending_latestprice lp ON lp.instrument_id = i.id
ORDER BY held.id, i.id"""  # noqa: S608 (column names from the models; values are parameters)


_CURRENT_SQL = _current_sql()


def _current_inputs(credit_account: CreditAccount) -> _Inputs:
    """Ledger balances now (the balance rows the posting trigger keeps) and the latest prices:
    one statement (see the module docstring)."""
    db, rows = raw_reads.fetch(
        Instrument,
        _CURRENT_SQL,
        [
            credit_account.investor_id,
            list(PURPOSES),
            credit_account.pk,
            FinancingStatus.OPEN,
            _valuation_day(None),  # the exchange's list in force today
        ],
    )
    balances: list[tuple[str, str, Decimal]] = []
    seen_accounts: set[int] = set()
    financed_amount: dict[int, Decimal] = {}
    financed_qty: dict[int, Decimal] = {}
    instruments: dict[int, Instrument] = {}
    rates: dict[int, Decimal | None] = {}
    prices: dict[int, tuple[Decimal | None, datetime | None, Decimal | None]] = {}
    for row in rows:
        account_id, purpose, unit, account_type, balance, amount, qty = row[:7]
        price_row, instrument_row, exchange_rate = row[7:11], row[11:-1], row[-1]
        if account_id is not None and account_id not in seen_accounts:
            seen_accounts.add(account_id)
            if balance is None:  # no balance row yet: nothing posted
                value = money.ZERO
            else:
                value = money.signed(balance, 1 if account_type in DEBIT_NORMAL else -1)
            balances.append((purpose, unit, value))
        instrument_id = instrument_row[_INSTRUMENT_PK]
        if instrument_id is None or instrument_id in instruments:
            continue
        instrument = raw_reads.instance(Instrument, db, _INSTRUMENT_FIELDS, instrument_row)
        latest = None
        if price_row[0] is not None:
            latest = raw_reads.instance(LatestPrice, db, _PRICE_FIELDS, price_row)
            _LATEST_PRICE_FIELD.set_cached_value(latest, instrument)
        _LATEST_PRICE_FIELD.remote_field.set_cached_value(instrument, latest)
        instruments[instrument_id] = instrument
        rates[instrument_id] = exchange_rate
        prices[instrument_id] = (
            (latest.price, latest.at, latest.prev_close) if latest else (None, None, None)
        )
        if amount is not None:
            financed_amount[instrument_id] = amount
            financed_qty[instrument_id] = qty
    ordered = [instruments[pk] for pk in sorted(instruments)]
    owes_shares = any(p == "short_securities" and v != 0 for p, _u, v in balances)
    return _Inputs(
        balances,
        financed_amount,
        financed_qty,
        ordered,
        prices,
        exchange_rates=rates,
        short_amounts=short_amounts_of(credit_account) if owes_shares else {},  # 1 query
    )


def account_view(
    credit_account: CreditAccount,
    *,
    as_of: datetime | None = None,
    contract: CreditContract | None = None,
) -> AccountView:
    """The account at `as_of` (now by default); see the module docstring."""
    if contract is None:
        contract = current_contract(credit_account)  # 1 query
    if as_of is None:
        inputs = _current_inputs(credit_account)  # 1 statement
    else:
        inputs = _inputs_as_of(credit_account, as_of)  # 4 queries
    return _assemble(credit_account, contract, inputs, as_of)


def _valuation_day(as_of: datetime | None) -> date:
    """The (Shanghai) day whose parameters apply to a valuation at `as_of` (now: today)."""
    if as_of is None:
        return timezone.localdate()
    return timezone.localdate(as_of) if timezone.is_aware(as_of) else as_of.date()


def _assemble(
    credit_account: CreditAccount,
    contract: CreditContract | None,
    inputs: _Inputs,
    as_of: datetime | None,
) -> AccountView:
    """The valuation proper: positions, margin rows and figures from what was read."""
    day = _valuation_day(as_of)
    lines = contract_lines(contract, on=day)
    if contract is not None:
        fmr = contract.financing_margin_ratio
    else:
        fmr = credit_selectors.financing_margin_ratio_in_force(day)
    cash = debt = interest = other = proceeds = fees_owed = ZERO
    for purpose, unit, value in inputs.balances:
        if purpose == "client_money" and unit == CURRENCY:
            cash += value
        elif purpose == "short_proceeds" and unit == CURRENCY:
            proceeds += value
        elif purpose == "lending_fee_receivable" and unit == CURRENCY:
            fees_owed += value
        elif purpose == "entitlement_receivable" and unit == CURRENCY:
            other += value
        elif purpose == "financing_receivable" and unit == CURRENCY:
            debt += value
        elif purpose == "interest_receivable" and unit == CURRENCY:
            interest += value
    holdings = _holdings(inputs.balances)
    owed = _holdings(inputs.balances, "short_securities")
    financed_amount, financed_qty = inputs.financed_amount, inputs.financed_qty
    instruments, prices = inputs.instruments, inputs.prices

    positions: list[PositionView] = []
    shorts: list[ShortView] = []
    rows: list[margin.Position] = []
    rows_by_unit: dict[str, dict[str, margin.Position]] = {}
    band_params: instruments_selectors.BandParameters | None = None  # read once, if needed
    for instrument in instruments:
        unit = instrument.ledger_unit
        held = holdings.get(unit, ZERO)
        amount = financed_amount.get(instrument.pk, ZERO)
        short_qty = owed.get(unit, ZERO)
        if held == 0 and amount == 0 and short_qty == 0:
            continue
        price, price_at, prev_close = prices.get(instrument.pk, (None, None, None))
        mark = price if price is not None else ZERO
        if band_params is None:  # 1 query: the band, the dated haircut caps, valuation policy
            band_params = instruments_selectors.band_parameters(day)
        # the lowest of the desk's haircut, the exchange's conversion rate in force and the
        # category's dated cap; a suspended security at its last price less the dated discount
        haircut = instruments_selectors.capped_haircut(
            instrument, band_params, inputs.exchange_rates.get(instrument.pk)
        )
        valued = instruments_selectors.valuation_price(instrument, mark, band_params)
        limit, upper = price_limits(instrument, price, prev_close, on=day, params=band_params)
        if short_qty > 0:
            sold = inputs.short_amounts.get(instrument.pk, ZERO)
            shorts.append(
                ShortView(
                    instrument=instrument,
                    quantity=short_qty,
                    price=mark,
                    price_at=price_at,
                    market_value=short_qty * mark,
                    short_sale_amount=sold,
                    upper_limit_price=upper,
                )
            )
            short_row = margin.Position(
                instrument=unit,
                quantity=-short_qty,
                price=mark,
                haircut=haircut,
                lot_size=instrument.lot_size,
                short_sale_amount=sold,
                upper_limit=upper,
            )
            rows.append(short_row)
            rows_by_unit.setdefault(unit, {})["short"] = short_row
        if held == 0 and amount == 0:
            continue
        f_qty = min(held, financed_qty.get(instrument.pk, ZERO)) if held > 0 else ZERO
        positions.append(
            PositionView(
                instrument=instrument,
                quantity=held,
                price=mark,
                price_at=price_at,
                market_value=held * valued,
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
            "price": valued,
            "haircut": haircut,
            "lot_size": instrument.lot_size,
            "lower_limit": limit,
        }
        if amount > 0 or f_qty > 0:
            split["financed"] = margin.Position(quantity=f_qty, financed_amount=amount, **common)
        if held - f_qty > 0:
            split["collateral"] = margin.Position(quantity=held - f_qty, **common)
        rows.extend(split.values())
        rows_by_unit[unit] = rows_by_unit.get(unit, {}) | split
    positions.sort(key=lambda p: (-p.market_value, p.instrument.ledger_unit))
    shorts.sort(key=lambda s: (-s.market_value, s.instrument.ledger_unit))

    account = margin.Account(
        cash=cash,
        debt=debt,
        interest_and_fees=interest + fees_owed,
        other_collateral=other,
        positions=tuple(rows),
        short_proceeds=max(proceeds, ZERO),
    )
    smr = short_margin_ratio_for(credit_account.investor, day) if shorts or proceeds else None
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
        available_margin=margin.available_margin(account, fmr, smr),
        withdrawable_cash=margin.withdrawable_cash(account, lines.withdrawal),
        margin_account=account,
        financing_margin_ratio=fmr,
        as_of=as_of,
        rows_by_unit=rows_by_unit,
        entitlements_receivable=other,
        shorts=shorts,
        short_proceeds=proceeds,
        lending_fees_owed=fees_owed,
        short_margin_ratio=smr,
    )
