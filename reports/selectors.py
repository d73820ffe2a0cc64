"""Reads for the reports app: filings and statements for views and the API, and the
point-in-time reads the snapshot builders need from other apps.

Other apps are read through their selectors (custody.selectors). accounts has no selectors
module yet, so the investor reads below use its models through simple-history's `as_of`,
which gives every profile as it was at that instant (later edits do not change a past
snapshot).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import NotFound
from lending.credit import selectors as credit_selectors
from lending.domain import margin
from lending.instruments import selectors as instruments_selectors
from lending.instruments.exchange_lists import collateral_rate_sql
from lending.instruments.models import InstrumentCategory

from .models import ClientStatement, Filing, StatementRun, StatementStatus

# --- filings -------------------------------------------------------------------------------


def filings_visible_to(user) -> QuerySet[Filing]:
    if not (user.is_authenticated and user.is_staff and user.has_perm("reports.view_filing")):
        return Filing.objects.none()
    return Filing.objects.select_related("prepared_by", "approved_by", "submitted_by", "replaces")


def filing_list(*, user, kind: str | None = None, status: str | None = None) -> QuerySet[Filing]:
    qs = filings_visible_to(user)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def filing_get(*, user, filing_id: int) -> Filing:
    filing = filings_visible_to(user).filter(pk=filing_id).first()
    if filing is None:
        raise NotFound(_("filing %(pk)s not found") % {"pk": filing_id}, code="filing_not_found")
    return filing


def filing_history(*, filing: Filing) -> list:
    return list(filing.history.select_related("history_user").order_by("-history_id"))


def filing_latest(*, kind: str, as_of: datetime) -> Filing | None:
    return Filing.objects.filter(kind=kind, as_of=as_of).order_by("-version").first()


# --- statements ----------------------------------------------------------------------------


def statements_for_investor_user(user) -> QuerySet[ClientStatement]:
    """An investor's own statements; nobody else's, whatever the id asked for."""
    profile = getattr(user, "investor_profile", None) if user.is_authenticated else None
    if profile is None:
        return ClientStatement.objects.none()
    return ClientStatement.objects.filter(investor=profile)


def statement_get_for_investor(*, user, statement_id: int) -> ClientStatement:
    statement = (
        statements_for_investor_user(user)
        .filter(pk=statement_id, status=StatementStatus.READY)
        .first()
    )
    if statement is None:
        raise NotFound(
            _("statement %(pk)s not found") % {"pk": statement_id}, code="statement_not_found"
        )
    return statement


def statements_visible_to_staff(user) -> QuerySet[ClientStatement]:
    if not (user.is_authenticated and user.is_staff and user.has_perm("reports.view_filing")):
        return ClientStatement.objects.none()
    return ClientStatement.objects.select_related("investor")


def statement_get_for_staff(*, user, statement_id: int) -> ClientStatement:
    statement = statements_visible_to_staff(user).filter(pk=statement_id).first()
    if statement is None:
        raise NotFound(
            _("statement %(pk)s not found") % {"pk": statement_id}, code="statement_not_found"
        )
    return statement


# --- statement runs ------------------------------------------------------------------------


def statement_runs_visible_to(user) -> QuerySet[StatementRun]:
    if not (user.is_authenticated and user.is_staff and user.has_perm("reports.view_filing")):
        return StatementRun.objects.none()
    return StatementRun.objects.select_related("requested_by")


def statement_run_get(*, user, run_id: int) -> StatementRun:
    run = statement_runs_visible_to(user).filter(pk=run_id).first()
    if run is None:
        raise NotFound(
            _("statement run %(pk)s not found") % {"pk": run_id}, code="statement_run_not_found"
        )
    return run


def statement_run_counts(*, run: StatementRun) -> dict[str, int]:
    """The run's statements by status, counted now (one aggregate on the run's index): the
    exact progress, where the run's own counters are updated per chunk."""
    from django.db.models import Count

    counts = dict(
        ClientStatement.objects.filter(run_id=run.pk)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    ready = counts.get(StatementStatus.READY, 0)
    failed = counts.get(StatementStatus.FAILED, 0)
    queued = counts.get(StatementStatus.QUEUED, 0)
    generating = counts.get(StatementStatus.GENERATING, 0)
    accounts = ready + failed + queued + generating
    return {
        "accounts": accounts,
        "ready": ready,
        "failed": failed,
        "queued": queued,
        "generating": generating,
        "percent": 100 if not accounts else (ready + failed) * 100 // accounts,
    }


def statement_run_failed(*, run: StatementRun) -> QuerySet[ClientStatement]:
    """The run's failed statements, with their investor and error, in investor order."""
    return (
        ClientStatement.objects.filter(run_id=run.pk, status=StatementStatus.FAILED)
        .select_related("investor")
        .order_by("investor_id")
    )


def statement_run_history(*, run: StatementRun) -> list:
    return list(run.history.select_related("history_user").order_by("-history_id"))


# --- point-in-time reads of other apps -----------------------------------------------------


def investors_as_of(as_of: datetime) -> list:
    """Every investor profile as it stood at `as_of` (history rows), ordered by number."""
    from accounts.models import InvestorProfile

    return sorted(InvestorProfile.history.as_of(as_of), key=lambda p: p.pk)


def investor_as_of(*, investor_id: int, as_of: datetime):
    from accounts.models import InvestorProfile

    row = (
        InvestorProfile.history.filter(id=investor_id, history_date__lte=as_of)
        .order_by("-history_date", "-history_id")
        .first()
    )
    if row is None or row.history_type == "-":
        return None
    return row.instance


def investors_onboarded_by(as_of: datetime) -> list:
    from accounts.models import InvestorProfile

    return list(InvestorProfile.objects.filter(created_at__lte=as_of).order_by("pk"))


# --- the lending book at a past instant (set-based, exact Decimal) -------------------------
#
# lending.mtm.book_arrays.load_book reads *current* balances and latest prices, so it cannot give
# a filing "as of 17:00" once later postings exist. The reads below are its as-of counterpart
# for the figures filings need, in a fixed number of statements whatever the size of the book:
#   - ledger balances at as_of = current balance (custody_accountbalance) minus the postings of
#     entries created after as_of (exact, and cheap when as_of is recent);
#   - prices: the last PriceTick at or before as_of per instrument (`price` for holdings, less
#     the dated discount of a suspended security; `mark`, the price itself, for the shares a
#     short seller owes, as lending.financing.valuation marks a short);
#   - instruments (haircut, eligibility, flags), contracts (lines, limit) and financings as
#     their simple-history rows stood at as_of (the current row for an instrument without any
#     history row, e.g. one loaded in bulk).
# Money stays numeric (Decimal) end to end: totals are exact, not float sums.

_AS_OF_HEAD = """
WITH after AS (
    SELECT p.account_id, sum(p.amount) AS amount
    FROM custody_posting p JOIN custody_journalentry e ON e.id = p.entry_id
    WHERE e.created_at > %(as_of)s GROUP BY p.account_id
),
bal AS (
    SELECT la.investor_id, la.purpose, la.unit,
           (b.balance - coalesce(a.amount, 0)) * b.normal_sign AS value
    FROM custody_ledgeraccount la
    JOIN custody_accountbalance b ON b.account_id = la.id
    LEFT JOIN after a ON a.account_id = la.id
    WHERE la.investor_id IS NOT NULL
      AND la.purpose IN ('client_money', 'financing_receivable', 'interest_receivable',
                         'client_securities', 'entitlement_receivable', 'short_securities',
                         'short_proceeds', 'lending_fee_receivable')
),
inst_hist AS (
    SELECT DISTINCT ON (h.id) h.id, h.exchange, h.code, h.category, h.collateral_eligible,
           h.haircut, h.is_st, h.suspended, h.delisting, h.history_type
    FROM lending_historicalinstrument h WHERE h.history_date <= %(as_of)s
    ORDER BY h.id, h.history_date DESC, h.history_id DESC
),
inst AS (
    SELECT i.id, i.exchange || ':' || i.code AS unit,
           CASE WHEN coalesce(h.collateral_eligible, i.collateral_eligible)
                 AND NOT (coalesce(h.is_st, i.is_st) OR coalesce(h.suspended, i.suspended)
                          OR coalesce(h.delisting, i.delisting))
                THEN least(coalesce(h.haircut, i.haircut),
                           (%(caps)s::jsonb ->> coalesce(h.category, i.category))::numeric,
                           coalesce("""
_AS_OF_TAIL = """, 1))
                ELSE 0 END AS haircut,
           coalesce(t.price, 0)
             * CASE WHEN coalesce(h.suspended, i.suspended) THEN 1 - %(suspended_discount)s
                    ELSE 1 END AS price,
           coalesce(t.price, 0) AS mark
    FROM lending_instrument i
    LEFT JOIN inst_hist h ON h.id = i.id
    LEFT JOIN LATERAL (SELECT pt.price FROM lending_pricetick pt
                       WHERE pt.instrument_id = i.id AND pt.at <= %(as_of)s
                       ORDER BY pt.at DESC LIMIT 1) t ON true
    WHERE h.history_type IS NULL OR h.history_type <> '-'
)
"""
#: The book as of an instant (values are parameters): between the two constant parts, the
#: exchange's conversion rate in force on the instant's day (lending's constant expression).
_AS_OF_SQL = _AS_OF_HEAD + collateral_rate_sql("i", "%(day)s") + _AS_OF_TAIL


def _as_of_params(as_of: datetime) -> dict:
    """The parameters of _AS_OF_SQL: the instant, and what valuation applies on its local day
    (as lending.financing.valuation does): each category's dated haircut cap, the exchanges'
    eligible-collateral lists in force, the dated discount on a suspended security's price."""
    day = timezone.localdate(as_of)
    params = instruments_selectors.band_parameters(day)
    caps = {c: str(params.haircut_cap(c)) for c in InstrumentCategory.values}
    return {
        "as_of": as_of,
        "day": day,
        "caps": json.dumps(caps),
        "suspended_discount": params.suspended_discount(),
    }


@dataclass(frozen=True)
class BookAccount:
    """One credit account at as_of (Decimal; ratio None without debt)."""

    credit_account_id: int
    account_number: str
    investor_id: int
    cash: Decimal
    debt: Decimal
    interest: Decimal
    market_value: Decimal
    collateral_value: Decimal
    warning: Decimal
    call: Decimal
    target: Decimal
    withdrawal: Decimal
    credit_limit: Decimal | None
    # dividends receivable between their ex-date and pay date: other collateral, as
    # lending.financing.valuation counts them (lending.financing.corporate_actions)
    other_collateral: Decimal = Decimal(0)
    # the short side (融券), as lending.financing.valuation counts it: the restricted proceeds
    # (assets; not free cash), the shares owed at market value and the lending fees,
    # compensation and buy-in shortfalls owed (liabilities); `short_lines`: instruments owed
    short_proceeds: Decimal = Decimal(0)
    short_market_value: Decimal = Decimal(0)
    lending_fees_owed: Decimal = Decimal(0)
    short_lines: int = 0

    @property
    def total_assets(self) -> Decimal:
        return (
            self.cash
            + max(self.short_proceeds, Decimal(0))
            + self.market_value
            + self.other_collateral
        )

    @property
    def liabilities(self) -> Decimal:
        return self.debt + self.interest + self.short_market_value + self.lending_fees_owed

    @property
    def has_shorts(self) -> bool:
        return self.short_lines > 0

    @property
    def ratio(self) -> Decimal | None:
        return margin.ratio_of(self.total_assets, self.liabilities)


def book_as_of(as_of: datetime) -> list[BookAccount]:
    """Every credit account open at as_of with its ledger figures (the short side included:
    restricted proceeds, shares owed at the last price, lending fees owed), market and
    collateral value (at the last price ≤ as_of, less the suspended discount then; the haircut
    in force then: the lowest of the instrument's as it stood, the exchange's list and the
    dated cap) and the lines of the contract active then (else those of the parameter table in
    force on as_of's day, read once through lending.credit.selectors.lines_in_force). One
    statement, ordered by credit account."""
    d = credit_selectors.lines_in_force(timezone.localdate(as_of))
    query = (
        _AS_OF_SQL  # noqa: S608 (constant SQL; values are parameters)
        + """,
contract AS (
    SELECT DISTINCT ON (c.credit_account_id) c.credit_account_id, c.warning_line,
           c.call_line, c.target_line, c.withdrawal_line, c.credit_limit
    FROM (SELECT DISTINCT ON (h.id) h.* FROM lending_historicalcreditcontract h
          WHERE h.history_date <= %(as_of)s
          ORDER BY h.id, h.history_date DESC, h.history_id DESC) c
    WHERE c.status = 'active' AND c.history_type <> '-'
    ORDER BY c.credit_account_id, c.signed_on DESC, c.id DESC
),
money AS (
    SELECT investor_id,
           sum(value) FILTER (WHERE purpose = 'client_money') AS cash,
           sum(value) FILTER (WHERE purpose = 'financing_receivable') AS debt,
           sum(value) FILTER (WHERE purpose = 'interest_receivable') AS interest,
           sum(value) FILTER (WHERE purpose = 'entitlement_receivable') AS other,
           sum(value) FILTER (WHERE purpose = 'short_proceeds') AS proceeds,
           sum(value) FILTER (WHERE purpose = 'lending_fee_receivable') AS fees
    FROM bal WHERE unit = 'CNY' AND purpose NOT IN ('client_securities', 'short_securities')
    GROUP BY investor_id
),
sec AS (
    SELECT bal.investor_id, sum(bal.value * inst.price) AS mv,
           sum(bal.value * inst.price * inst.haircut) AS collateral
    FROM bal JOIN inst ON inst.unit = bal.unit
    WHERE bal.purpose = 'client_securities' AND bal.value > 0 GROUP BY bal.investor_id
),
owed AS (
    SELECT bal.investor_id, sum(bal.value * inst.mark) AS mv, count(*) AS lines
    FROM bal JOIN inst ON inst.unit = bal.unit
    WHERE bal.purpose = 'short_securities' AND bal.value > 0 GROUP BY bal.investor_id
)
SELECT ca.id, ca.account_number, ca.investor_id, coalesce(m.cash, 0), coalesce(m.debt, 0),
       coalesce(m.interest, 0), coalesce(s.mv, 0), coalesce(s.collateral, 0),
       coalesce(c.warning_line, %(w)s), coalesce(c.call_line, %(c)s),
       coalesce(c.target_line, %(t)s), coalesce(c.withdrawal_line, %(wd)s), c.credit_limit,
       coalesce(m.other, 0), coalesce(m.proceeds, 0), coalesce(o.mv, 0), coalesce(m.fees, 0),
       coalesce(o.lines, 0)::int
FROM lending_creditaccount ca
LEFT JOIN money m ON m.investor_id = ca.investor_id
LEFT JOIN sec s ON s.investor_id = ca.investor_id
LEFT JOIN owed o ON o.investor_id = ca.investor_id
LEFT JOIN contract c ON c.credit_account_id = ca.id
WHERE ca.opened_at <= %(as_of)s AND (ca.closed_at IS NULL OR ca.closed_at > %(as_of)s)
ORDER BY ca.id
"""
    )
    params = {
        **_as_of_params(as_of),
        "w": d.warning,
        "c": d.call,
        "t": d.target,
        "wd": d.withdrawal,
    }
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [BookAccount(*row) for row in cursor.fetchall()]


def securities_as_of(as_of: datetime) -> list[dict]:
    """Per instrument at as_of: collateral market value and collateral value held by clients
    with a credit account, and financing outstanding (open financings as of then)."""
    query = (
        _AS_OF_SQL  # noqa: S608 (constant SQL; values are parameters)
        + """,
fin AS (
    SELECT f.instrument_id, sum(f.principal_outstanding) AS financed, count(*) AS lots
    FROM (SELECT DISTINCT ON (h.id) h.* FROM lending_historicalfinancing h
          WHERE h.history_date <= %(as_of)s
          ORDER BY h.id, h.history_date DESC, h.history_id DESC) f
    WHERE f.status = 'open' AND f.history_type <> '-' AND f.principal_outstanding > 0
    GROUP BY f.instrument_id
),
held AS (
    SELECT bal.unit, sum(bal.value) AS quantity FROM bal
    WHERE bal.purpose = 'client_securities' AND bal.value > 0
      AND bal.investor_id IN (SELECT investor_id FROM lending_creditaccount
                              WHERE opened_at <= %(as_of)s
                                AND (closed_at IS NULL OR closed_at > %(as_of)s))
    GROUP BY bal.unit
)
SELECT inst.unit, coalesce(held.quantity, 0), inst.price, inst.haircut,
       coalesce(held.quantity, 0) * inst.price,
       coalesce(held.quantity, 0) * inst.price * inst.haircut,
       coalesce(fin.financed, 0)
FROM inst LEFT JOIN held ON held.unit = inst.unit LEFT JOIN fin ON fin.instrument_id = inst.id
WHERE held.quantity IS NOT NULL OR fin.financed IS NOT NULL
ORDER BY inst.unit
"""
    )
    with connection.cursor() as cursor:
        cursor.execute(query, _as_of_params(as_of))
        return [
            {
                "instrument": unit,
                "quantity": qty,
                "price": price,
                "haircut": haircut,
                "market_value": mv,
                "collateral_value": cv,
                "financed": financed,
            }
            for unit, qty, price, haircut, mv, cv, financed in cursor.fetchall()
        ]


def short_securities_as_of(as_of: datetime) -> list[dict]:
    """The short side per security (融券, the daily business filing): the shares owed at as_of
    (the short sellers' `short_securities` ledger balances), the last price at or before it and
    their market value (the short balance, 融券余额), the number of accounts owing, and the
    day's movements from the ledger (entries of as_of's local day created by as_of): shares
    sold short (debits of short-sale fills, kind trade) and shares returned (credits: buy to
    cover, forced buy-in, direct return). One statement, in unit order; a security appears
    when shares are owed or moved that day."""
    query = (
        _AS_OF_SQL  # noqa: S608 (constant SQL; values are parameters)
        + """,
owed AS (
    SELECT bal.unit, sum(bal.value) AS quantity, count(*) FILTER (WHERE bal.value > 0) AS accounts
    FROM bal WHERE bal.purpose = 'short_securities' GROUP BY bal.unit
),
moves AS (
    SELECT la.unit,
           coalesce(sum(p.amount) FILTER (WHERE p.amount > 0 AND e.kind = 'trade'), 0) AS sold,
           coalesce(-sum(p.amount) FILTER (WHERE p.amount < 0 AND e.kind <> 'reversal'), 0)
             AS returned
    FROM custody_posting p
    JOIN custody_journalentry e ON e.id = p.entry_id
    JOIN custody_ledgeraccount la ON la.id = p.account_id
    WHERE la.purpose = 'short_securities' AND la.investor_id IS NOT NULL
      AND e.created_at <= %(as_of)s AND e.effective_date = %(day)s
    GROUP BY la.unit
)
SELECT u.unit, coalesce(o.quantity, 0), coalesce(inst.mark, 0),
       coalesce(o.quantity, 0) * coalesce(inst.mark, 0), coalesce(o.accounts, 0)::int,
       coalesce(m.sold, 0), coalesce(m.returned, 0)
FROM (SELECT unit FROM owed UNION SELECT unit FROM moves) u
LEFT JOIN owed o ON o.unit = u.unit
LEFT JOIN moves m ON m.unit = u.unit
LEFT JOIN inst ON inst.unit = u.unit
WHERE coalesce(o.quantity, 0) <> 0 OR coalesce(m.sold, 0) <> 0 OR coalesce(m.returned, 0) <> 0
ORDER BY u.unit
"""
    )
    with connection.cursor() as cursor:
        cursor.execute(query, _as_of_params(as_of))
        return [
            {
                "instrument": unit,
                "outstanding": quantity,
                "price": price,
                "market_value": value,
                "accounts": accounts,
                "sold": sold,
                "returned": returned,
            }
            for unit, quantity, price, value, accounts, sold, returned in cursor.fetchall()
        ]


def lending_inventory_as_of(as_of: datetime) -> dict:
    """The lending inventory (券源) at as_of from the lots' history rows: shares held in the
    lots, reserved and lent, all sources together (what lending.shorts.selectors.inventory
    sums now, as it stood then)."""
    from lending.shorts.models import LendingLot

    lots = history_as_of(LendingLot, as_of)
    return {
        "lots": len(lots),
        "quantity": sum((lot.quantity for lot in lots), Decimal(0)),
        "reserved": sum((lot.reserved for lot in lots), Decimal(0)),
        "lent": sum((lot.lent for lot in lots), Decimal(0)),
    }


def instrument_names() -> dict[str, str]:
    from lending.models import Instrument

    return {
        f"{exchange}:{code}": name
        for exchange, code, name in Instrument.objects.values_list("exchange", "code", "name")
    }


def instrument_units() -> dict[int, str]:
    from lending.models import Instrument

    return {
        pk: f"{exchange}:{code}"
        for pk, exchange, code in Instrument.objects.values_list("pk", "exchange", "code")
    }


def local_day_start(as_of: datetime) -> datetime:
    local = timezone.localtime(as_of)
    return timezone.make_aware(datetime.combine(local.date(), time.min))


def calls_issued_between(start: datetime, end: datetime) -> list:
    from lending.models import MarginCall

    return list(
        MarginCall.objects.filter(issued_at__gte=start, issued_at__lte=end)
        .select_related("credit_account")
        .order_by("issued_at", "pk")
    )


def liquidation_fills_between(start: datetime | None, end: datetime) -> list[dict]:
    """Liquidation fills up to `end` (from `start` if given), one dict per plan: the sales'
    proceeds apart from what forced buy-ins of short positions cost (`buy_back_cost`)."""
    from lending.models import LiquidationFill

    qs = LiquidationFill.objects.filter(filled_at__lte=end)
    if start is not None:
        qs = qs.filter(filled_at__gte=start)
    plans: dict[int, dict] = {}
    rows = qs.select_related("order__line__plan__call__credit_account").order_by("filled_at", "pk")
    for fill in rows:
        plan = fill.order.line.plan
        entry = plans.setdefault(
            plan.pk,
            {
                "plan": plan.pk,
                "account_number": plan.call.credit_account.account_number,
                "fills": 0,
                "quantity": Decimal(0),
                "proceeds": Decimal(0),
                "buy_back_cost": Decimal(0),
                "principal_repaid": Decimal(0),
                "interest_repaid": Decimal(0),
                "first_fill_at": fill.filled_at,
                "last_fill_at": fill.filled_at,
            },
        )
        entry["fills"] += 1
        entry["quantity"] += fill.quantity
        if fill.order.line.side == "buy_back":
            entry["buy_back_cost"] += fill.amount
        else:
            entry["proceeds"] += fill.amount
        entry["principal_repaid"] += fill.principal_repaid or 0
        entry["interest_repaid"] += fill.interest_repaid or 0
        entry["last_fill_at"] = fill.filled_at
    return [plans[k] for k in sorted(plans)]


def history_as_of(model, as_of: datetime, **filters) -> list:
    """Rows of a simple-history model as they stood at as_of (deleted ones left out)."""
    rows = (
        model.history.filter(history_date__lte=as_of, **filters)
        .order_by("id", "-history_date", "-history_id")
        .distinct("id")
    )
    return [r for r in rows if r.history_type != "-"]


def interest_income_by_day(as_of: datetime, since) -> list[tuple]:
    """(business date, unit, interest income) from the house interest_income ledger accounts,
    for entries created up to as_of with a business date on or after `since`."""
    return income_by_day("interest_income", as_of, since)


def income_by_day(purpose: str, as_of: datetime, since) -> list[tuple]:
    """(business date, unit, income) from the house ledger accounts of `purpose` (an income
    account: credit-normal), for entries created up to as_of with a business date on or after
    `since`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.effective_date, la.unit, -sum(p.amount) FROM custody_posting p "
            "JOIN custody_journalentry e ON e.id = p.entry_id "
            "JOIN custody_ledgeraccount la ON la.id = p.account_id "
            "WHERE la.purpose = %s AND la.investor_id IS NULL "
            "AND e.created_at <= %s AND e.effective_date >= %s "
            "GROUP BY e.effective_date, la.unit ORDER BY e.effective_date, la.unit",
            [purpose, as_of, since],
        )
        return cursor.fetchall()


def lending_charges_between(
    investor_ids: list[int], start, end, as_of: datetime
) -> dict[int, dict[str, Decimal]]:
    """What each investor was charged on the lending side in [start, end] (business dates),
    from the ledger as it stood at as_of: per investor, the net debit of its
    `lending_fee_receivable` in the entries that credit the house `lending_fee_income` (the
    lending fees: the end of day's accruals and the catch-up at a close) or
    `compensation_income` (权益补偿), reversals netted. A buy-in's shortfall and the fees paid
    touch no income account and are left out. One statement."""
    if not investor_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
WITH recv AS (
    SELECT e.id AS entry_id, r.investor_id, sum(p.amount) AS amount
    FROM custody_journalentry e
    JOIN custody_posting p ON p.entry_id = e.id
    JOIN custody_ledgeraccount r ON r.id = p.account_id
    WHERE r.purpose = 'lending_fee_receivable' AND r.investor_id = ANY(%s)
      AND e.created_at <= %s AND e.effective_date BETWEEN %s AND %s
    GROUP BY e.id, r.investor_id
),
income AS (
    SELECT DISTINCT q.entry_id, h.purpose
    FROM custody_posting q JOIN custody_ledgeraccount h ON h.id = q.account_id
    WHERE q.entry_id IN (SELECT entry_id FROM recv) AND h.investor_id IS NULL
      AND h.purpose IN ('lending_fee_income', 'compensation_income')
)
SELECT recv.investor_id, income.purpose, sum(recv.amount)
FROM recv JOIN income ON income.entry_id = recv.entry_id
GROUP BY recv.investor_id, income.purpose
""",
            [list(investor_ids), as_of, start, end],
        )
        result: dict[int, dict[str, Decimal]] = {}
        for investor_id, purpose, amount in cursor.fetchall():
            result.setdefault(investor_id, {})[purpose] = amount
        return result
