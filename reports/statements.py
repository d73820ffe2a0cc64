"""The client monthly statement snapshot (DOMAIN.md, Reporting: contract terms, Art. 15).

Built like a filing: selectors at one as-of time (the end of the period's last day), no
generation time, canonical JSON hashed. What exists today is read for real: the investor
profile (accounts) and the ledger position (custody.selectors.client_position: cash,
securities held, financing receivable) and the credit account from lending:
`credit_summary` (lending.financing.valuation.account_view at the month end: ledger balances and
prices at that instant) and `financings` (the financing lots as their history rows stood
then). An investor without a credit account at the month end gets `credit: null` and
`financings: null`, and the PDF says so. Never invent figures.

The short side (融券, `shorts`; null without a credit account): per security the shares owed at
the month end, their short-sale amount (融券卖出金额), market value and the lending fees accrued
unpaid on them (from the valuation and the short positions' history rows at as_of); each short
position open at some time during the period as its history row stood then; the restricted
proceeds and what is owed on the lending side; and the period's lending fees and compensation
(权益补偿) from the ledger, with the end of day's fee accruals (ShortFeeAccrual) and the
compensation rows (ShortCompensation) of the period. The unused credit is the limit less the
financing and the short-sale amount owed (both use the credit line).

Known limitation: account_view splits holdings into financed and own shares with the current
financing rows (lending does not version that split by time); it changes only the available
margin, not assets, liabilities, collateral value or the ratio. Likewise the short-sale amount
per security is the one of the positions open now (lending.financing.valuation.
short_amounts_of); the shares owed, their market value, the restricted proceeds and the fees
owed are those at as_of.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from . import selectors

SCHEMA = 3
CENT = Decimal("0.01")
RATIO_Q = Decimal("0.0001")


def period_for(year: int, month: int) -> tuple[date, date]:
    last = calendar.monthrange(year, month)[1]
    return date(year, month, 1), date(year, month, last)


def period_as_of(period_end: date) -> datetime:
    """The last instant of the period's last day, in the desk's time zone."""
    return timezone.make_aware(datetime.combine(period_end + timedelta(days=1), time.min)) - (
        timedelta(microseconds=1)
    )


def _credit_account(*, investor, as_of: datetime):
    from lending.models import CreditAccount

    return (
        CreditAccount.objects.filter(investor_id=investor.pk, opened_at__lte=as_of)
        .order_by("-opened_at", "-pk")
        .first()
    )


def _contract_as_of(*, credit_account, as_of: datetime):
    """The contract active at as_of (as its history row stood then), else the latest one."""
    from lending.models import CreditContract

    rows = selectors.history_as_of(CreditContract, as_of, credit_account_id=credit_account.pk)
    rows.sort(key=lambda c: (c.signed_on, c.id), reverse=True)
    active = [c for c in rows if c.status == "active"]
    return (active or rows or [None])[0]


def _credit_view(*, investor, as_of: datetime):
    """(credit account, its contract at as_of, lending.financing.valuation.account_view at
    as_of), or (None, None, None) when the investor had no credit account then."""
    from lending.financing.valuation import account_view

    account = _credit_account(investor=investor, as_of=as_of)
    if account is None:
        return None, None, None
    contract = _contract_as_of(credit_account=account, as_of=as_of)
    return account, contract, account_view(account, as_of=as_of)


def credit_summary(*, investor, as_of: datetime) -> dict | None:
    """Credit limit and unused part; total assets, liabilities, available margin, withdrawable
    amount, collateral value, maintenance ratio (None when no debt), from
    lending.financing.valuation.account_view at `as_of` (ledger balances and prices at that
    instant).
    None when the investor had no credit account then."""
    account, contract, view = _credit_view(investor=investor, as_of=as_of)
    if account is None:
        return None
    return _credit_dict(account, contract, view)


def short_side(*, investor, period_start: date, period_end: date, as_of: datetime) -> dict | None:
    """The statement's short section for one investor (module docstring); None when the
    investor had no credit account at as_of."""
    account, _contract, view = _credit_view(investor=investor, as_of=as_of)
    if account is None:
        return None
    reads = _ShortReads.of([account], period_start, period_end, as_of)
    return reads.section(account, view, period_start)


def financings(*, investor, as_of: datetime, period_start: date | None = None) -> list | None:
    """One row per financing open at some time during the period (open at `as_of`, or repaid
    on or after the period's first day): instrument, quantity, price, amount, outstanding
    principal, interest (accrued unpaid + paid), fees, opened and due dates, as the lot's
    history row stood at `as_of`. None when the investor had no credit account then."""
    from lending.models import Financing

    account = _credit_account(investor=investor, as_of=as_of)
    if account is None:
        return None
    rows = (
        Financing.history.filter(credit_account_id=account.pk, history_date__lte=as_of)
        .order_by("id", "-history_date", "-history_id")
        .distinct("id")
    )
    return _financing_rows(rows, selectors.instrument_units(), period_start)


def _ledger_position(*, investor, as_of: datetime) -> dict:
    from custody import selectors as custody

    position = custody.client_position(investor=investor, as_of=as_of)
    return {
        "cash": [{"currency": c, "balance": position.cash[c]} for c in sorted(position.cash)],
        "holdings": [
            {"instrument": u, "quantity": position.holdings[u]}
            for u in sorted(position.holdings)
            if position.holdings[u] != 0
        ],
        "financing_receivable": [
            {"currency": c, "amount": position.financing[c]} for c in sorted(position.financing)
        ],
    }


def build_statement(*, investor_id: int, period_start: date, period_end: date) -> dict:
    as_of = period_as_of(period_end)
    profile = selectors.investor_as_of(investor_id=investor_id, as_of=as_of)
    if profile is None:
        raise LookupError(f"investor {investor_id} did not exist at {as_of.isoformat()}")
    account, contract, view = _credit_view(investor=profile, as_of=as_of)
    credit = shorts = None
    if account is not None:
        credit = _credit_dict(account, contract, view)
        reads = _ShortReads.of([account], period_start, period_end, as_of)
        shorts = reads.section(account, view, period_start)
    rows = financings(investor=profile, as_of=as_of, period_start=period_start)
    position = _ledger_position(investor=profile, as_of=as_of)
    return _snapshot(profile, period_start, period_end, as_of, position, credit, rows, shorts)


# --- many statements at once (a chunk of a statement run) ----------------------------------
#
# build_statements gives, for each statement of a chunk, the same snapshot build_statement
# gives for it (tests/reports/test_statement_runs.py compares them), in a fixed number of
# queries per chunk and period instead of about fourteen per investor: profiles, credit
# accounts, contracts (as they stood and current), ledger accounts and their balances at
# as_of, open financings, instruments, last price ticks, financing history rows and instrument
# units, each read once for the chunk. The valuation of each credit account is lending's own
# (lending.financing.valuation: the inputs it reads at as_of, gathered here for the chunk, then
# its `_assemble`, the code account_view runs), which still reads the day's price-band
# parameters once per account holding a position.


def build_statements(items) -> dict:
    """items: (key, investor_id, period_start, period_end). Returns {key: snapshot}, or {key:
    the exception} for a statement that cannot be built (the others are built)."""
    groups: dict[tuple[date, date], list] = {}
    for key, investor_id, start, end in items:
        groups.setdefault((start, end), []).append((key, investor_id))
    result: dict = {}
    for (start, end), members in groups.items():
        result.update(_build_group(members, start, end))
    return result


def _build_group(members: list, period_start: date, period_end: date) -> dict:
    from accounts.models import InvestorProfile
    from custody.models import LedgerAccount
    from custody.selectors import balances_as_of
    from lending.financing import valuation
    from lending.models import CreditAccount, CreditContract, Financing

    as_of = period_as_of(period_end)
    investor_ids = sorted({investor_id for _key, investor_id in members})
    profiles = {
        row.id: row.instance
        for row in InvestorProfile.history.filter(id__in=investor_ids, history_date__lte=as_of)
        .order_by("id", "-history_date", "-history_id")
        .distinct("id")
        if row.history_type != "-"
    }
    credit_accounts = {
        a.investor_id: a
        for a in CreditAccount.objects.filter(investor_id__in=investor_ids, opened_at__lte=as_of)
        .order_by("investor_id", "-opened_at", "-pk")
        .distinct("investor_id")
    }
    account_ids = [a.pk for a in credit_accounts.values()]
    contracts_then: dict[int, list] = {}
    for c in selectors.history_as_of(CreditContract, as_of, credit_account_id__in=account_ids):
        contracts_then.setdefault(c.credit_account_id, []).append(c)
    contracts_now: dict[int, list] = {}
    for c in CreditContract.objects.filter(credit_account_id__in=account_ids):
        contracts_now.setdefault(c.credit_account_id, []).append(c)

    ledger_accounts: dict[int, list] = {}
    every_account = list(LedgerAccount.objects.filter(investor_id__in=investor_ids))
    for la in every_account:
        ledger_accounts.setdefault(la.investor_id, []).append(la)
    balances = balances_as_of(accounts=every_account, as_of=as_of)

    open_financings: dict[int, list] = {}
    for f in (
        Financing.objects.filter(credit_account_id__in=account_ids, status="open")
        .exclude(principal_outstanding=0, quantity_held=0)
        .only("credit_account_id", "instrument_id", "principal_outstanding", "quantity_held")
    ):
        open_financings.setdefault(f.credit_account_id, []).append(f)
    instruments, ticks = _instruments_and_ticks(
        credit_accounts, ledger_accounts, balances, open_financings, as_of
    )
    financing_history: dict[int, list] = {}
    for f in (
        Financing.history.filter(credit_account_id__in=account_ids, history_date__lte=as_of)
        .order_by("id", "-history_date", "-history_id")
        .distinct("id")
    ):
        financing_history.setdefault(f.credit_account_id, []).append(f)
    units = selectors.instrument_units() if financing_history else {}
    involved = {la.investor_id for la in every_account if la.purpose in SHORT_PURPOSES}
    shorts = _ShortReads.of(
        list(credit_accounts.values()), period_start, period_end, as_of, involved
    )

    result = {}
    for key, investor_id in members:
        profile = profiles.get(investor_id)
        if profile is None:
            result[key] = LookupError(
                f"investor {investor_id} did not exist at {as_of.isoformat()}"
            )
            continue
        try:
            account = credit_accounts.get(investor_id)
            credit = rows = short = None
            if account is not None:
                inputs = _valuation_inputs(
                    ledger_accounts.get(investor_id, []),
                    balances,
                    open_financings.get(account.pk, []),
                    instruments,
                    ticks,
                    shorts.amounts.get(account.pk, {}),
                )
                view = valuation._assemble(
                    account, _current_contract(contracts_now.get(account.pk, [])), inputs, as_of
                )
                contract = _contract_from(contracts_then.get(account.pk, []))
                credit = _credit_dict(account, contract, view)
                rows = _financing_rows(financing_history.get(account.pk, []), units, period_start)
                short = shorts.section(account, view, period_start)
            position = _position_from(ledger_accounts.get(investor_id, []), balances)
            result[key] = _snapshot(
                profile, period_start, period_end, as_of, position, credit, rows, short
            )
        except Exception as exc:  # this statement fails, the others go on
            result[key] = exc
    return result


def _current_contract(rows: list):
    """lending.financing.valuation.current_contract over rows already read: the first active
    contract in (-signed_on, -pk) order, else the first of all."""
    if not rows:
        return None
    return max(rows, key=lambda c: (c.status == "active", c.signed_on, c.pk))


def _contract_from(rows: list):
    """_contract_as_of over the account's contract history rows at as_of."""
    rows = sorted(rows, key=lambda c: (c.signed_on, c.id), reverse=True)
    active = [c for c in rows if c.status == "active"]
    return (active or rows or [None])[0]


def _instruments_and_ticks(credit_accounts, ledger_accounts, balances, open_financings, as_of):
    """The instruments the chunk's valuations need (held or owed short at as_of, or financed),
    with the exchange's conversion rate on as_of's day, and the last tick at or before as_of of
    each: two queries, as lending.financing.valuation._inputs_as_of reads them for one account."""
    from django.db.models import Q
    from django.db.models.expressions import RawSQL

    from lending.financing import valuation
    from lending.instruments import exchange_lists
    from lending.models import Instrument, PriceTick

    pks: set[int] = set()
    units: set[tuple[str, str]] = set()
    for account in credit_accounts.values():
        for f in open_financings.get(account.pk, []):
            pks.add(f.instrument_id)
        for la in ledger_accounts.get(account.investor_id, []):
            if (
                la.purpose in valuation.SECURITIES_PURPOSES
                and la.purpose in valuation.PURPOSES
                and balances[la.pk] != 0
            ):
                units.add(valuation._split_unit(la.unit))
    if not (pks or units):
        return {}, {}
    condition = Q(pk__in=sorted(pks))
    for exchange, code in sorted(units):
        condition |= Q(exchange=exchange, code=code)
    instruments = {
        i.pk: i
        for i in Instrument.objects.filter(condition)
        .select_related("latest_price")
        .annotate(
            exchange_rate=RawSQL(  # noqa: S611 (an alias; the day is a parameter)
                exchange_lists.collateral_rate_sql("lending_instrument"),
                [valuation._valuation_day(as_of)],
            )
        )
        .order_by("pk")
    }
    ticks = {
        t.instrument_id: (t.price, t.at, None)
        for t in PriceTick.objects.filter(instrument_id__in=list(instruments), at__lte=as_of)
        .order_by("instrument_id", "-at")
        .distinct("instrument_id")
    }
    return instruments, ticks


def _valuation_inputs(accounts, balances, financings, instruments, ticks, short_amounts=None):
    """lending.financing.valuation._inputs_as_of for one account, from the chunk's reads
    (`short_amounts`: the open short positions' short-sale amount per instrument id)."""
    from collections import defaultdict

    from lending.financing import valuation

    own = [a for a in accounts if a.purpose in valuation.PURPOSES]
    values = [(a.purpose, a.unit, balances[a.pk]) for a in own]
    holdings = valuation._holdings(values) | valuation._holdings(values, "short_securities")
    financed_amount: dict[int, Decimal] = defaultdict(Decimal)
    financed_qty: dict[int, Decimal] = defaultdict(Decimal)
    for f in financings:
        financed_amount[f.instrument_id] += f.principal_outstanding
        financed_qty[f.instrument_id] += f.quantity_held
    wanted = {valuation._split_unit(unit) for unit in holdings}
    chosen = [
        i
        for pk, i in sorted(instruments.items())
        if pk in financed_amount or (i.exchange, i.code) in wanted
    ]
    prices = {i.pk: ticks[i.pk] for i in chosen if i.pk in ticks}
    rates = {i.pk: i.exchange_rate for i in chosen}
    return valuation._Inputs(
        values,
        financed_amount,
        financed_qty,
        chosen,
        prices,
        exchange_rates=rates,
        short_amounts=dict(short_amounts or {}) if holdings else {},
    )


def _credit_dict(account, contract, view) -> dict:
    """credit_summary's dict from the account, its contract at as_of and its valuation."""
    limit = contract.credit_limit if contract else Decimal(0)
    return {
        "account_number": account.account_number,
        "contract_number": contract.contract_number if contract else "",
        "annual_interest_rate": contract.annual_interest_rate if contract else None,
        "credit_limit": limit,
        # the credit line is used by the financing and by the short-sale amount owed
        "credit_unused": max(limit - view.financing_debt - view.short_sale_amount, Decimal(0)),
        "financing_outstanding": view.financing_debt,
        "interest_and_fees": view.accrued_interest,
        "cash": view.cash,
        "total_assets": view.total_assets,
        "liabilities": view.total_liabilities,
        "available_margin": view.available_margin,
        "withdrawable": view.withdrawable_cash,
        "collateral_value": view.collateral_value.quantize(CENT),
        "maintenance_ratio": (
            None if view.maintenance_ratio is None else view.maintenance_ratio.quantize(RATIO_Q)
        ),
        "lines": {
            "warning": view.lines.warning,
            "call": view.lines.call,
            "target": view.lines.target,
            "withdrawal": view.lines.withdrawal,
        },
    }


def _financing_rows(history_rows, units: dict, period_start: date | None) -> list:
    """financings' rows from the account's financing history rows at as_of."""
    result = []
    for f in sorted(history_rows, key=lambda r: (r.opened_on, r.id)):
        if f.history_type == "-":
            continue
        if f.status != "open" and (
            period_start is None or timezone.localtime(f.history_date).date() < period_start
        ):
            continue
        result.append(
            {
                "number": f.id,
                "instrument": units.get(f.instrument_id, str(f.instrument_id)),
                "quantity": f.quantity,
                "price": f.price,
                "amount": f.amount,
                "principal_outstanding": f.principal_outstanding,
                "interest": f.interest_accrued + f.interest_paid,
                "interest_unpaid": f.interest_accrued,
                # Financing carries no fee: the desk charges interest only (lending.models).
                "fees": Decimal("0.00"),
                "opened_on": f.opened_on,
                "due_date": f.due_on,
                "status": f.status,
            }
        )
    return result


def _position_from(accounts, balances) -> dict:
    """_ledger_position from the investor's ledger accounts and their balances at as_of (as
    custody.selectors.client_position sums them)."""
    from custody import money

    cash: dict[str, Decimal] = {}
    holdings: dict[str, Decimal] = {}
    financing: dict[str, Decimal] = {}
    for account in accounts:
        target = {
            "client_money": cash,
            "client_securities": holdings,
            "financing_receivable": financing,
        }.get(account.purpose)
        if target is not None:
            target[account.unit] = target.get(account.unit, money.ZERO) + balances[account.pk]
    return {
        "cash": [{"currency": c, "balance": cash[c]} for c in sorted(cash)],
        "holdings": [
            {"instrument": u, "quantity": holdings[u]} for u in sorted(holdings) if holdings[u] != 0
        ],
        "financing_receivable": [
            {"currency": c, "amount": financing[c]} for c in sorted(financing)
        ],
    }


def _snapshot(profile, period_start, period_end, as_of, position, credit, rows, shorts) -> dict:
    return {
        "kind": "client_statement",
        "schema": SCHEMA,
        "as_of": as_of,
        "data": {
            "investor": {
                "number": profile.pk,
                "real_name": profile.real_name,
                "investor_type": profile.investor_type,
                "category": profile.category,
                "id_type": profile.id_type,
                "id_number_masked": profile.id_number_masked,
            },
            "period": {"start": period_start, "end": period_end},
            "ledger": position,
            "credit": credit,
            "financings": rows,
            "shorts": shorts,
            "has_credit_account": credit is not None,
        },
    }


# --- the short side (融券) -------------------------------------------------------------------

#: The investor's ledger accounts of the short side: an investor without any never sold short.
SHORT_PURPOSES = ("short_securities", "short_proceeds", "lending_fee_receivable")


def _cent(value) -> Decimal:
    return Decimal(value).quantize(CENT)


class _ShortReads:
    """The short side's reads for the credit accounts of a chunk (five queries, none when no
    account's investor has a short-side ledger account):

    - `amounts`: the open short positions' short-sale amount per instrument id (what
      lending.financing.valuation.short_amounts_of reads for one account);
    - `history`: the short positions as their history rows stood at as_of;
    - `accruals`: the end of day's lending fee accruals (ShortFeeAccrual) of the period;
    - `charges`: the period's lending fees and compensation from the ledger (per investor);
    - `compensations`: the compensation rows (ShortCompensation) of the corporate actions
      whose ex-date is in the period (their ledger entries are effective the ex-date).
    """

    def __init__(self) -> None:
        self.amounts: dict[int, dict[int, Decimal]] = {}
        self.history: dict[int, list] = {}
        self.accruals: dict[int, Decimal] = {}
        self.charges: dict[int, dict[str, Decimal]] = {}
        self.compensations: dict[int, list] = {}

    @classmethod
    def of(
        cls,
        accounts: list,
        period_start: date,
        period_end: date,
        as_of: datetime,
        involved: set[int] | None = None,
    ) -> _ShortReads:
        """`involved`: the investor ids with a short-side ledger account, when the caller
        has read the ledger accounts already (else one query finds them)."""
        from django.db.models import CharField, Sum, Value
        from django.db.models.functions import Concat

        from custody.models import LedgerAccount
        from lending.shorts.models import (
            ShortCompensation,
            ShortFeeAccrual,
            ShortPosition,
            ShortPositionStatus,
        )

        reads = cls()
        if involved is None:
            involved = set(
                LedgerAccount.objects.filter(
                    investor_id__in=[a.investor_id for a in accounts], purpose__in=SHORT_PURPOSES
                ).values_list("investor_id", flat=True)
            )
        accounts = [a for a in accounts if a.investor_id in involved]
        if not accounts:
            return reads
        ids = [a.pk for a in accounts]
        for account_id, instrument_id, amount in (
            ShortPosition.objects.filter(credit_account_id__in=ids, status=ShortPositionStatus.OPEN)
            .order_by()
            .values_list("credit_account_id", "instrument_id")
            .annotate(amount=Sum("amount_outstanding"))
        ):
            reads.amounts.setdefault(account_id, {})[instrument_id] = amount
        for row in (
            ShortPosition.history.filter(credit_account_id__in=ids, history_date__lte=as_of)
            .annotate(
                unit=Concat(
                    "instrument__exchange",
                    Value(":"),
                    "instrument__code",
                    output_field=CharField(),
                )
            )
            .order_by("id", "-history_date", "-history_id")
            .distinct("id")
        ):
            reads.history.setdefault(row.credit_account_id, []).append(row)
        reads.accruals = dict(
            ShortFeeAccrual.objects.filter(
                credit_account_id__in=ids,
                business_date__gte=period_start,
                business_date__lte=period_end,
                created_at__lte=as_of,
            )
            .order_by()
            .values_list("credit_account_id")
            .annotate(total=Sum("amount"))
        )
        reads.charges = selectors.lending_charges_between(
            [a.investor_id for a in accounts], period_start, period_end, as_of
        )
        for c in (
            ShortCompensation.objects.filter(
                position__credit_account_id__in=ids,
                corporate_action__ex_date__gte=period_start,
                corporate_action__ex_date__lte=period_end,
                created_at__lte=as_of,
            )
            .select_related("position__instrument", "corporate_action")
            .order_by("corporate_action__ex_date", "pk")
        ):
            reads.compensations.setdefault(c.position.credit_account_id, []).append(c)
        return reads

    def section(self, account, view, period_start: date) -> dict:
        """The statement's `shorts` for one credit account and its valuation at as_of."""
        zero = Decimal(0)
        rows = []
        fees_owed: dict[int, Decimal] = {}
        for p in sorted(self.history.get(account.pk, []), key=lambda r: (r.opened_on, r.id)):
            if p.history_type == "-":
                continue
            if p.status == "open":
                fees_owed[p.instrument_id] = fees_owed.get(p.instrument_id, zero) + p.fee_accrued
            elif p.closed_on is None or p.closed_on < period_start:
                continue
            rows.append(
                {
                    "number": p.id,
                    "instrument": p.unit,
                    "quantity": p.quantity,
                    "price": p.price,
                    "amount": p.amount,
                    "quantity_owed": p.quantity_outstanding,
                    "amount_owed": p.amount_outstanding,
                    "fee_rate": p.fee_rate,
                    "fees_accrued": p.fee_accrued,
                    "fees_paid": p.fee_paid,
                    "compensation_charged": p.compensation_charged,
                    "opened_on": p.opened_on,
                    "due_on": p.due_on,
                    "closed_on": p.closed_on,
                    "status": p.status,
                }
            )
        charges = self.charges.get(account.investor_id, {})
        compensations = self.compensations.get(account.pk, [])
        return {
            "securities": [
                {
                    "instrument": s.instrument.ledger_unit,
                    "name": s.instrument.name,
                    "quantity": s.quantity,
                    "price": s.price,
                    "market_value": _cent(s.market_value),
                    "short_sale_amount": _cent(s.short_sale_amount),
                    "fees_accrued": _cent(fees_owed.get(s.instrument.pk, zero)),
                }
                for s in view.shorts
            ],
            "market_value": _cent(view.short_market_value),
            "short_sale_amount": _cent(view.short_sale_amount),
            "restricted_proceeds": _cent(view.short_proceeds),
            "lending_fees_owed": _cent(view.lending_fees_owed),
            "short_margin_ratio": view.short_margin_ratio,
            "positions": rows,
            "period": {
                "lending_fees": _cent(charges.get("lending_fee_income", zero)),
                "fee_accruals": _cent(self.accruals.get(account.pk, zero)),
                "compensation": _cent(charges.get("compensation_income", zero)),
                "compensations": [
                    {
                        "instrument": c.position.instrument.ledger_unit,
                        "kind": c.kind,
                        "ex_date": c.corporate_action.ex_date,
                        "quantity_owed": c.quantity_owed,
                        "amount": c.amount,
                        "shares": c.shares,
                        "booked_on": timezone.localtime(c.created_at).date(),
                    }
                    for c in compensations
                ],
            },
        }
