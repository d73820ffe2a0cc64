"""Reads for the staff risk dashboard (the staff console's home page).

Everything here is a selector: counts and lists the signed-in staff member may see, taken from
lending (margin states, calls, liquidation plans, credit applications, mark-to-market runs),
custody (reconciliation breaks) and reports (filings). No writes and no business rules: the
lines and states come from the margin engine's stored results.

The ratio distribution is read from the latest finished mark-to-market run's snapshots when
there is one (the whole book valued at one price snapshot); before the first run it falls back
to each account's last applied valuation (AccountMarginState.last_ratio).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise

from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from custody import selectors as custody_selectors
from lending.credit import selectors as credit_selectors
from lending.liquidation import selectors as liquidation_selectors
from lending.margin_calls import selectors as margin_call_selectors
from lending.models import AccountMarginState, CreditAccount, MarginStateKind
from lending.mtm.models import MtmRun, MtmRunStatus, MtmSnapshot
from lending.shorts import selectors as short_selectors

from . import selectors
from .models import Filing, FilingStatus

#: Upper bounds of the ratio histogram's buckets (fractions); the last bucket is open-ended.
RATIO_BUCKETS = (
    Decimal("1.10"),
    Decimal("1.30"),
    Decimal("1.40"),
    Decimal("1.50"),
    Decimal("2.00"),
    Decimal("3.00"),
)


@dataclass(frozen=True)
class Bucket:
    label: str
    low: Decimal | None
    high: Decimal | None
    count: int


@dataclass(frozen=True)
class Distribution:
    buckets: list[Bucket]
    no_debt: int
    source: str  # "mtm" or "last_valuation"
    run: MtmRun | None = None

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets) + self.no_debt


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    count: int
    url: str | None
    visible: bool = True


@dataclass(frozen=True)
class StateCount:
    state: str
    label: str
    count: int


@dataclass
class Dashboard:
    states: list[StateCount]
    accounts_total: int
    distribution: Distribution
    open_calls: list
    open_calls_total: int
    runs: list[MtmRun]
    running: bool
    queues: list[Queue] = field(default_factory=list)
    # the latest finished run, when it could not issue every call (no deadline: the exchange
    # calendar is not known far enough): the dashboard shows why
    problem_run: MtmRun | None = None
    # the latest end-of-day run with its steps (reports.eod), for staff who may see it
    eod: object | None = None
    eod_steps: list = field(default_factory=list)
    # the short side's key figures now (securities lending), for staff who may see positions
    shorts: ShortFigures | None = None


@dataclass(frozen=True)
class ShortFigures:
    """Securities lending (融券) now: the shares owed at the latest prices, the accounts owing
    shares, their restricted proceeds, the month's lending fee income and the inventory's use
    (lending.shorts.selectors.inventory: shares lent over the shares in the lots)."""

    short_balance: Decimal
    accounts_with_shorts: int
    restricted_proceeds: Decimal
    lending_fee_income_month_to_date: Decimal
    inventory_quantity: Decimal
    inventory_lent: Decimal

    @property
    def utilisation(self) -> Decimal | None:
        if not self.inventory_quantity:
            return None
        return self.inventory_lent / self.inventory_quantity


def _percent(value: Decimal) -> str:
    return f"{value * 100:.0f}%"


def _bucket_labels() -> list[tuple[str, Decimal | None, Decimal | None]]:
    edges = [None, *RATIO_BUCKETS, None]
    out = []
    for low, high in pairwise(edges):
        if low is None:
            label = f"< {_percent(high)}"
        elif high is None:
            label = f"≥ {_percent(low)}"
        else:
            label = f"{low * 100:.0f}–{_percent(high)}"
        out.append((label, low, high))
    return out


def _histogram(source: str, ratio: str, params: list) -> tuple[list[Bucket], int]:
    """One statement: a conditional count per bucket of the ratios ``ratio`` (an SQL expression,
    NULL = no debt) of the rows ``source`` (an SQL FROM ... WHERE ...), plus the no-debt count."""
    specs = _bucket_labels()
    counts = [f"count(*) FILTER (WHERE {ratio} IS NULL)"]
    for _label, low, high in specs:
        condition = [f"{ratio} IS NOT NULL"]
        if low is not None:
            condition.append(f"{ratio} >= {float(low)!r}")
        if high is not None:
            condition.append(f"{ratio} < {float(high)!r}")
        counts.append(f"count(*) FILTER (WHERE {' AND '.join(condition)})")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(counts)} {source}", params)
        no_debt, *row = cursor.fetchone()
    buckets = [
        Bucket(label=label, low=low, high=high, count=row[n])
        for n, (label, low, high) in enumerate(specs)
    ]
    return buckets, no_debt


def ratio_distribution() -> Distribution:
    run = (
        MtmRun.objects.filter(status=MtmRunStatus.SUCCEEDED, kind="full")
        .order_by("-finished_at", "-pk")
        .first()
    )
    if run is not None and MtmSnapshot.objects.filter(run=run).exists():
        buckets, no_debt = _histogram(
            "FROM lending_mtmsnapshot s, unnest(s.ratios) AS u(ratio) WHERE s.run_id = %s",
            "nullif(u.ratio, 'Infinity')",
            [run.pk],
        )
        return Distribution(buckets=buckets, no_debt=no_debt, source="mtm", run=run)
    buckets, no_debt = _histogram(
        "FROM lending_accountmarginstate WHERE last_valued_at IS NOT NULL", "last_ratio", []
    )
    return Distribution(buckets=buckets, no_debt=no_debt, source="last_valuation")


def accounts_by_state() -> tuple[list[StateCount], int]:
    """Open credit accounts per margin state; an account never valued counts as normal."""
    accounts_total = CreditAccount.objects.filter(status="open").count()
    counts = dict(
        AccountMarginState.objects.filter(credit_account__status="open")
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    counted = sum(counts.values())
    counts[MarginStateKind.NORMAL] = counts.get(MarginStateKind.NORMAL, 0) + max(
        accounts_total - counted, 0
    )
    states = [
        StateCount(state=value, label=str(label), count=counts.get(value, 0))
        for value, label in MarginStateKind.choices
    ]
    return states, accounts_total


def mtm_runs(limit: int = 5) -> list[MtmRun]:
    """Runs not finished yet first, then the latest finished ones."""
    unfinished = list(
        MtmRun.objects.filter(status__in=(MtmRunStatus.PENDING, MtmRunStatus.RUNNING)).order_by(
            "-pk"
        )[:limit]
    )
    finished = list(
        MtmRun.objects.exclude(status__in=(MtmRunStatus.PENDING, MtmRunStatus.RUNNING)).order_by(
            "-pk"
        )[: max(limit - len(unfinished), 1)]
    )
    return unfinished + finished


def _url(name: str, query: str = "") -> str:
    return reverse(name) + (f"?{query}" if query else "")


def work_queues(user) -> list[Queue]:
    """The staff work queues with their size and where to work them; a queue the user's role
    cannot view is left out."""
    queues: list[Queue] = []
    if user.has_perm("lending.view_creditapplication"):
        queues.append(
            Queue(
                key="credit",
                title=_("Credit applications to review"),
                count=credit_selectors.review_queue(user).count(),
                url=_url("staff:lending-review-queue"),
            )
        )
    if user.has_perm("lending.view_liquidationplan"):
        queues.append(
            Queue(
                key="liquidations",
                title=_("Liquidation plans awaiting approval or execution"),
                count=liquidation_selectors.plans_for(user, status="unfinished").count(),
                url=_url("staff:lending-liquidation-queue"),
            )
        )
    if user.has_perm("custody.view_reconciliationbreak"):
        open_breaks = list(custody_selectors.breaks_open().select_related("reconciliation"))
        late = sum(1 for b in open_breaks if b.due_at < timezone.now())
        title = _("Open reconciliation breaks")
        if open_breaks:
            oldest = min(b.reconciliation.run_at for b in open_breaks)
            title = _("Open reconciliation breaks (oldest %(age)s old, %(late)s late)") % {
                "age": timesince(oldest),
                "late": late,
            }
        queues.append(
            Queue(
                key="breaks",
                title=title,
                count=len(open_breaks),
                url=_url("staff:custody-treasury") + "#breaks",
            )
        )
    if user.has_perm("reports.view_filing"):
        queues.append(
            Queue(
                key="filings",
                title=_("Filings to approve"),
                count=Filing.objects.filter(status=FilingStatus.PREPARED).count(),
                url=_url("staff:reports-filings", "status=prepared"),
            )
        )
    if user.has_perm("compliance.view_helddeposit"):
        queues.append(
            Queue(
                key="held",
                title=_("Held deposits to resolve"),
                count=credit_selectors.held_deposits_for(user).filter(status="held").count(),
                url=_url("staff:lending-held-deposits"),
            )
        )
    return queues


def dashboard_for(user, *, calls_limit: int = 20) -> Dashboard:
    states, total = accounts_by_state()
    calls = margin_call_selectors.open_calls(user)
    runs = mtm_runs()
    return Dashboard(
        states=states,
        accounts_total=total,
        distribution=ratio_distribution(),
        open_calls=list(calls[:calls_limit]),
        open_calls_total=calls.count(),
        runs=runs,
        running=any(r.status in (MtmRunStatus.PENDING, MtmRunStatus.RUNNING) for r in runs),
        queues=work_queues(user),
        problem_run=_problem_run(runs),
        shorts=short_figures() if user.has_perm("lending.view_shortposition") else None,
        **_end_of_day(user),
    )


_SHORT_SQL = """
SELECT coalesce(sum(b.balance * b.normal_sign * lp.price)
                FILTER (WHERE la.purpose = 'short_securities'), 0),
       count(DISTINCT la.investor_id)
         FILTER (WHERE la.purpose = 'short_securities' AND b.balance * b.normal_sign > 0),
       coalesce(sum(b.balance * b.normal_sign) FILTER (WHERE la.purpose = 'short_proceeds'), 0)
FROM custody_ledgeraccount la
JOIN custody_accountbalance b ON b.account_id = la.id
LEFT JOIN lending_instrument i
  ON la.purpose = 'short_securities' AND i.exchange = split_part(la.unit, ':', 1)
 AND i.code = substr(la.unit, length(split_part(la.unit, ':', 1)) + 2)
LEFT JOIN lending_latestprice lp ON lp.instrument_id = i.id
WHERE la.investor_id IS NOT NULL AND la.purpose IN ('short_securities', 'short_proceeds')
"""


def short_figures() -> ShortFigures:
    """The short side's key figures now (the KPI report has them as of an instant): one
    statement over the short sellers' ledger balances at the latest prices, the house lending
    fee income of the month, and the lending inventory."""
    with connection.cursor() as cursor:
        cursor.execute(_SHORT_SQL)
        balance, accounts, proceeds = cursor.fetchone()
    now = timezone.now()
    income = sum(
        (
            amount
            for _day, unit, amount in selectors.income_by_day(
                "lending_fee_income", now, timezone.localdate(now).replace(day=1)
            )
            if unit == "CNY"
        ),
        Decimal(0),
    )
    inventory = short_selectors.inventory()
    return ShortFigures(
        short_balance=Decimal(balance).quantize(Decimal("0.01")),
        accounts_with_shorts=accounts,
        restricted_proceeds=Decimal(proceeds),
        lending_fee_income_month_to_date=income,
        inventory_quantity=sum((row.quantity for row in inventory), Decimal(0)),
        inventory_lent=sum((row.lent for row in inventory), Decimal(0)),
    )


def _end_of_day(user) -> dict:
    """The latest end-of-day run and its steps, when `user` may see runs."""
    if not user.has_perm("reports.view_endofdayrun"):
        return {}
    from .eod.services import latest_run

    run = latest_run()
    if run is None:
        return {}
    return {"eod": run, "eod_steps": sorted(run.steps.all(), key=lambda s: s.position)}


def _problem_run(runs: list[MtmRun]) -> MtmRun | None:
    """The latest finished run if it recorded deadline problems (no extra query)."""
    unfinished = (MtmRunStatus.PENDING, MtmRunStatus.RUNNING)
    latest = next((r for r in runs if r.status not in unfinished), None)
    return latest if latest is not None and latest.deadline_problems else None
