"""Reads of the ledger: balances, trial balance, statements, client positions, reserves.

Balances come from custody_accountbalance (one row per account, kept by the posting trigger);
anything "as of" a past time sums postings of entries created up to that time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from . import money
from .models import (
    AccountBalance,
    BreakStatus,
    ClientMoneyRequirement,
    ClientMoneyRequirementLine,
    CreditFacility,
    LedgerAccount,
    Reconciliation,
    ReconciliationBreak,
    ReserveTarget,
    StatementImport,
    UncoveredLoss,
)


def end_of_day(day: date) -> datetime:
    """The last instant of a business day in the desk's time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min)) - timedelta(
        microseconds=1
    )


def raw_balance(account_id: int) -> Decimal:
    """Debit-minus-credit balance: one primary-key row, whatever the history."""
    return AccountBalance.objects.values_list("balance", flat=True).get(account_id=account_id)


def account_balance(*, account: LedgerAccount, as_of: datetime | None = None) -> Decimal:
    """The balance on the account's normal side (assets and expenses debit, others credit)."""
    if as_of is None:
        return money.signed(raw_balance(account.pk), account.normal_sign)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(p.amount), 0) FROM custody_posting p "
            "JOIN custody_journalentry e ON e.id = p.entry_id "
            "WHERE p.account_id = %s AND e.created_at <= %s",
            [account.pk, as_of],
        )
        return money.signed(cursor.fetchone()[0], account.normal_sign)


def balances_as_of(*, accounts: list[LedgerAccount], as_of: datetime | None) -> dict[int, Decimal]:
    """Normal-side balances of many accounts at once."""
    ids = [a.pk for a in accounts]
    sign = {a.pk: a.normal_sign for a in accounts}
    if not ids:
        return {}
    if as_of is None:
        rows = AccountBalance.objects.filter(account_id__in=ids).values_list(
            "account_id", "balance"
        )
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.account_id, sum(p.amount) FROM custody_posting p "
                "JOIN custody_journalentry e ON e.id = p.entry_id "
                "WHERE p.account_id = ANY(%s) AND e.created_at <= %s GROUP BY p.account_id",
                [ids, as_of],
            )
            rows = cursor.fetchall()
    result = dict.fromkeys(ids, money.ZERO)
    for account_id, balance in rows:
        result[account_id] = money.signed(balance, sign[account_id])
    return result


@dataclass
class TrialBalanceRow:
    account_id: int
    purpose_key: str
    name: str
    account_type: str
    unit: str
    debit: Decimal
    credit: Decimal


@dataclass
class TrialBalance:
    as_of: datetime | None
    rows: list[TrialBalanceRow]
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return all(t["debit"] == t["credit"] for t in self.totals.values())


def trial_balance(*, as_of: datetime | None = None, include_zero: bool = False) -> TrialBalance:
    """Every account's debit or credit balance, with totals per unit (debits equal credits)."""
    if as_of is None:
        sql = (
            "SELECT a.id, a.purpose_key, a.name, a.account_type, a.unit, b.balance "
            "FROM custody_ledgeraccount a JOIN custody_accountbalance b ON b.account_id = a.id "
            "ORDER BY a.unit, a.id"
        )
        params: list = []
    else:
        sql = (
            "SELECT a.id, a.purpose_key, a.name, a.account_type, a.unit, coalesce(s.total, 0) "
            "FROM custody_ledgeraccount a LEFT JOIN (SELECT p.account_id, sum(p.amount) total "
            "FROM custody_posting p JOIN custody_journalentry e ON e.id = p.entry_id "
            "WHERE e.created_at <= %s GROUP BY p.account_id) s ON s.account_id = a.id "
            "ORDER BY a.unit, a.id"
        )
        params = [as_of]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows: list[TrialBalanceRow] = []
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"debit": money.ZERO, "credit": money.ZERO}
    )
    for account_id, key, name, account_type, unit, balance in fetched:
        if balance == 0 and not include_zero:
            continue
        dr = balance if balance > 0 else money.ZERO
        cr = -balance if balance < 0 else money.ZERO
        rows.append(TrialBalanceRow(account_id, key, name, account_type, unit, dr, cr))
        totals[unit]["debit"] += dr
        totals[unit]["credit"] += cr
    return TrialBalance(as_of=as_of, rows=rows, totals=dict(totals))


@dataclass
class StatementLine:
    entry_id: int
    created_at: datetime
    effective_date: date
    kind: str
    memo: str
    debit: Decimal | None
    credit: Decimal | None
    balance: Decimal  # running, on the account's normal side


@dataclass
class AccountStatement:
    account: LedgerAccount
    start: datetime | None
    end: datetime | None
    opening: Decimal
    closing: Decimal
    lines: list[StatementLine]


def account_statement(
    *, account: LedgerAccount, start: datetime | None = None, end: datetime | None = None
) -> AccountStatement:
    """Postings of one account between start and end with a running balance (normal side)."""
    sign = account.normal_sign
    opening = money.ZERO
    if start is not None:
        opening = account_balance(account=account, as_of=start - timedelta(microseconds=1))
    conditions = ["p.account_id = %s"]
    params: list = [account.pk]
    if start is not None:
        conditions.append("e.created_at >= %s")
        params.append(start)
    if end is not None:
        conditions.append("e.created_at <= %s")
        params.append(end)
    sql = (
        "SELECT e.id, e.created_at, e.effective_date, e.kind, e.memo, p.amount, "  # noqa: S608
        "sum(p.amount) OVER (ORDER BY e.id, p.id) "
        "FROM custody_posting p JOIN custody_journalentry e ON e.id = p.entry_id "
        f"WHERE {' AND '.join(conditions)} ORDER BY e.id, p.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    lines = [
        StatementLine(
            entry_id=entry_id,
            created_at=created_at,
            effective_date=effective_date,
            kind=kind,
            memo=memo,
            debit=amount if amount > 0 else None,
            credit=-amount if amount < 0 else None,
            balance=opening + money.signed(running, sign),
        )
        for entry_id, created_at, effective_date, kind, memo, amount, running in fetched
    ]
    closing = lines[-1].balance if lines else opening
    return AccountStatement(account, start, end, opening, closing, lines)


@dataclass
class ClientPosition:
    investor_id: int
    as_of: datetime | None
    cash: dict[str, Decimal]
    holdings: dict[str, Decimal]
    financing: dict[str, Decimal]


def client_position(*, investor, as_of: datetime | None = None) -> ClientPosition:
    """A client's cash, securities holdings and financing owed, now or at any past time."""
    accounts = list(LedgerAccount.objects.filter(investor=investor))
    balances = balances_as_of(accounts=accounts, as_of=as_of)
    position = ClientPosition(investor.pk, as_of, {}, {}, {})
    for account in accounts:
        target = {
            "client_money": position.cash,
            "client_securities": position.holdings,
            "financing_receivable": position.financing,
        }.get(account.purpose)
        if target is not None:
            target[account.unit] = target.get(account.unit, money.ZERO) + balances[account.pk]
    return position


def client_money_balance(*, investor, currency: str) -> Decimal:
    account = LedgerAccount.objects.filter(
        investor=investor, purpose="client_money", unit=currency
    ).first()
    return account_balance(account=account) if account else money.ZERO


# --- reserves and facilities ---------------------------------------------------------------


def facility_drawn(*, facility: CreditFacility) -> Decimal:
    if facility.account_id is None:
        return money.ZERO
    return money.signed(raw_balance(facility.account_id), -1)


def facility_available(*, facility: CreditFacility) -> Decimal:
    return facility.limit - facility_drawn(facility=facility)


def reserve_fund_balance(*, currency: str) -> Decimal:
    account = LedgerAccount.objects.filter(purpose_key=f"house:reserve_fund:{currency}").first()
    return account_balance(account=account) if account else money.ZERO


@dataclass
class ReserveAdequacy:
    currency: str
    reserve: Decimal
    target: Decimal | None
    ratio: Decimal | None  # reserve / target; None when no target is set (or it is zero)
    undrawn_facilities: Decimal


def reserve_adequacy(*, currency: str, on: date | None = None) -> ReserveAdequacy:
    reserve = reserve_fund_balance(currency=currency)
    target_row = ReserveTarget.objects.filter(currency=currency).first()
    target = target_row.target if target_row else None
    day = on or timezone.localdate()
    undrawn = sum(
        (
            facility_available(facility=f)
            for f in CreditFacility.objects.filter(
                currency=currency, status="active", start_date__lte=day, expiry_date__gt=day
            )
        ),
        money.ZERO,
    )
    return ReserveAdequacy(
        currency=currency,
        reserve=reserve,
        target=target,
        ratio=money.ratio(reserve, target) if target else None,
        undrawn_facilities=undrawn,
    )


def breaks_open():
    return ReconciliationBreak.objects.filter(status=BreakStatus.OPEN).select_related(
        "reconciliation", "account"
    )


def postings_sum(account_id: int) -> Decimal:
    """The naive balance (SUM over every posting): what the balance row saves us from."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(amount), 0) FROM custody_posting WHERE account_id = %s",
            [account_id],
        )
        return cursor.fetchone()[0]


# --- client-money requirement --------------------------------------------------------------


def client_money_requirement_latest(*, currency: str) -> ClientMoneyRequirement | None:
    """The latest requirement of a currency: of the latest business date, the last computed."""
    return (
        ClientMoneyRequirement.objects.filter(currency=currency)
        .order_by("-business_date", "-pk")
        .first()
    )


def client_money_requirement_of(business_date, currency: str) -> ClientMoneyRequirement | None:
    """The last requirement computed for a business date and currency, if any."""
    return (
        ClientMoneyRequirement.objects.filter(business_date=business_date, currency=currency)
        .order_by("-pk")
        .first()
    )


def client_money_requirements(*, currency: str | None = None):
    """Requirements, the latest first (the summary rows; their lines are read per requirement)."""
    rows = ClientMoneyRequirement.objects.select_related("computed_by").order_by(
        "-business_date", "-pk"
    )
    return rows.filter(currency=currency) if currency else rows


def client_money_requirement_lines(
    *, requirement: ClientMoneyRequirement, investor_id: int | None = None
):
    """A requirement's inputs per client in investor order (the unique index's order, so a page
    costs its rows), each with its investor's name. Count with requirement.clients, not
    count(): a requirement has a line per client (a million on a large book)."""
    rows = (
        ClientMoneyRequirementLine.objects.filter(requirement=requirement)
        .select_related("investor")
        .only(
            "requirement_id",
            "investor_id",
            "credit",
            "debit",
            "debit_counted",
            "investor__real_name",
        )
        .order_by("investor_id")
    )
    return rows.filter(investor_id=investor_id) if investor_id is not None else rows


@dataclass(frozen=True)
class FacilityRow:
    facility: CreditFacility
    drawn: Decimal
    available: Decimal


@dataclass(frozen=True)
class BreakRow:
    brk: ReconciliationBreak
    age: timedelta  # since its reconciliation was run
    late: bool  # not resolved by the end of the business day it was found


@dataclass(frozen=True)
class TreasuryOverview:
    adequacy: ReserveAdequacy
    facilities: list[FacilityRow]
    breaks: list[BreakRow]
    reconciliations: list[Reconciliation]
    requirement: ClientMoneyRequirement | None
    statements: list[StatementImport]
    losses: list[UncoveredLoss]


def treasury_overview(*, currency: str = "CNY") -> TreasuryOverview:
    """What the treasury console shows: the reserve fund beside its target, the backup
    facilities with what is drawn, the open breaks with their age (late ones flagged), the
    latest reconciliations, client-money requirement and statements."""
    now = timezone.now()
    facilities = [
        FacilityRow(f, facility_drawn(facility=f), facility_available(facility=f))
        for f in CreditFacility.objects.filter(currency=currency).order_by("status", "expiry_date")
    ]
    breaks = [
        BreakRow(b, now - b.reconciliation.run_at, now > b.due_at)
        for b in breaks_open().order_by("due_at", "pk")
    ]
    return TreasuryOverview(
        adequacy=reserve_adequacy(currency=currency),
        facilities=facilities,
        breaks=breaks,
        reconciliations=list(
            Reconciliation.objects.select_related("statement").order_by("-business_date", "-pk")[
                :10
            ]
        ),
        requirement=client_money_requirement_latest(currency=currency),
        statements=list(StatementImport.objects.order_by("-pk")[:10]),
        losses=list(
            UncoveredLoss.objects.filter(currency=currency, status="open").select_related(
                "investor"
            )
        ),
    )
