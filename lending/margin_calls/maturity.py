"""The daily maturity run (DOMAIN.md "Maturity and extension"): reminders before a financing's
or a short position's due date, the forced close of what is overdue through the liquidation
process. A short position (lending.shorts) matures like a financing (issue 22 item 4): what is
said below of an overdue financing holds for an overdue short position too, with its shares
bought back instead of its debt repaid.

`maturity_process(on=day)` (Celery beat, trading-day mornings; idempotent, run it twice and
nothing more happens):

1. Overdue: lending.financing.maturity.financings_mark_overdue marks every financing still owed
   after its due date overdue (from the day after it); penalty interest then accrues daily
   beside interest (lending.financing.maturity.penalty_accrue, in the interest task); likewise
   lending.shorts.maturity.short_positions_mark_overdue marks every short position still open
   after its due date.
2. Forced close: an account with an overdue financing or an overdue short position gets a
   margin call of source "maturity" (`maturity_calls_issue`; one call covers both), issued
   already overdue: its deadline was the end of the earliest due date, its amount the overdue
   debt (the account's unpaid interest and penalty + the overdue principal) plus the overdue
   shares owed at their latest price, its reason naming the financings and, per instrument,
   the shares owed. A short position overdue after the call was issued is added to the
   unfinished maturity call (its reason and amount; an event "maturity_covers"). The
   liquidation process takes it from there, as for any overdue call: a risk officer prepares
   the plan from the overdue calls (lending.liquidation: for a maturity call the plan sells
   enough, net of sale fees, in whole lots, to repay the overdue debt, not to restore a ratio,
   and buys back all the overdue shares owed), a second one approves it with a second factor,
   it is executed through orders, the proceeds repay the overdue financing first, a shortfall
   beyond assets is a default. The account's margin state becomes "overdue" (an event records
   who, when, why); one maturity notice (stage 0) per overdue financing and per overdue short
   position. A ratio restored above the target does not cure a maturity call: only repaying
   the overdue financing and returning the overdue shares does. While another call is
   unfinished (one unfinished call per account, a PostgreSQL rule) the maturity call waits: an
   event records it each day until that call is finished.

3. Repaid: a maturity call still overdue whose account has no overdue financing and no overdue
   short position left (repaid from cash or by a sale to repay; the shares returned by a cover
   or a direct return) is closed as cured, its prepared plans rejected
   (`maturity_calls_close_repaid`; also run at once by the repayment, through
   lending.financing.services.REPAID_HOOKS, and by the close of a short position, through
   lending.shorts.positions.CLOSED_HOOKS).
4. Reminders: `financing.reminder_first_trading_days` (10) and
   `financing.reminder_second_trading_days` (3) Shanghai trading days before the due date
   (dated parameters), one notice per financing or short position and reminder on the portal
   and by e-mail, in both languages, with proof of delivery (unique per financing or short
   position, stage and channel). A late run sends the latest reminder due, not an earlier one.
   A reminder day beyond the known exchange calendar is never guessed: an event
   "maturity_reminder_uncomputable" is recorded (once per account and day) and logged, and the
   reminder follows once staff extend the calendar.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.bulk import rows_create_with_history, rows_update_with_history
from accounts.precision import RATIO
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.credit.locks import lock_in_order
from lending.credit.models import ContractStatus, CreditContract
from lending.domain import margin
from lending.domain.formats import fmt, fmt_shares
from lending.financing import maturity as financing_maturity
from lending.financing.models import Financing, FinancingStatus
from lending.financing.valuation import account_view
from lending.margin_calls.escalation import (
    history_insert,
    notices_save_batched,
    shard_range,
    states_ensure,
)
from lending.margin_calls.models import (
    UNFINISHED_CALL_STATUSES,
    AccountMarginState,
    MarginCall,
    MarginCallStatus,
    MarginEvent,
    MarginStateKind,
    NoticeKind,
)
from lending.margin_calls.services import (
    MATURITY_SOURCE,
    SHANGHAI,
    AccountValuation,
    _on_calls_cured,
    event_build,
    lines_for_many,
    margin_states_apply_many,
    notices_build,
    state_change,
)
from lending.shorts import maturity as short_maturity
from lending.shorts.models import ShortPosition, ShortPositionStatus

log = logging.getLogger(__name__)

#: how far ahead of a due date reminders are looked at (calendar days): 10 trading days are
#: never more than this, whatever the holidays
LOOKAHEAD_DAYS = 40


def maturity_message(kind: str, stage: int, account, call, ctx: dict) -> tuple[str, str]:
    """Subject and body of a maturity notice (in the active language; the notices machinery
    writes every language of the site)."""
    if kind == NoticeKind.LIQUIDATION and SHORTS_UNRETURNED in (call.reason or ""):
        return (
            _("Forced close of overdue positions on credit account %(account)s")
            % {"account": account},
            _(
                "A forced close in your account was approved for what is overdue (%(amount)s "
                "CNY at the plan's preparation): the shares of your overdue short positions are "
                "bought back, paid from the restricted proceeds first and then from your cash, "
                "and securities are sold as needed to repay any overdue financing."
            )
            % {"amount": fmt(call.amount_to_cure)},
        )
    if kind == NoticeKind.LIQUIDATION:
        return (
            _("Forced close of overdue financing on credit account %(account)s")
            % {"account": account},
            _(
                "A sale of securities in your account was approved to repay your overdue "
                "financing (%(amount)s CNY at the plan's preparation); the proceeds repay it "
                "first."
            )
            % {"amount": fmt(call.amount_to_cure)},
        )
    if ctx.get("position"):
        return _short_message(stage, account, ctx)
    values = {
        "account": account,
        "financing": ctx.get("financing", ""),
        "instrument": ctx.get("instrument", ""),
        "due_on": ctx.get("due_on", ""),
        "principal": ctx.get("principal", ""),
        "interest": ctx.get("interest", ""),
        "days": stage,
    }
    if stage:
        return (
            _("Financing #%(financing)s on credit account %(account)s is due on %(due_on)s")
            % values,
            _(
                "Your financing #%(financing)s (%(instrument)s) is due on %(due_on)s, in "
                "%(days)s trading days: %(principal)s CNY principal and %(interest)s CNY "
                "interest. Repay it by then, or apply for an extension in the portal before "
                "the due date; unpaid, it becomes overdue, accrues penalty interest and the "
                "desk sells securities in your account to repay it."
            )
            % values,
        )
    return (
        _("Financing #%(financing)s on credit account %(account)s is overdue") % values,
        _(
            "Your financing #%(financing)s (%(instrument)s) was due on %(due_on)s and is "
            "unpaid: %(principal)s CNY principal and %(interest)s CNY interest. It accrues "
            "penalty interest from today and the desk will sell securities in your account to "
            "repay it."
        )
        % values,
    )


def _short_message(stage: int, account, ctx: dict) -> tuple[str, str]:
    """A short position's maturity notice: a reminder `stage` trading days before its due
    date, or (stage 0) overdue."""
    values = {
        "account": account,
        "position": ctx.get("position", ""),
        "instrument": ctx.get("instrument", ""),
        "due_on": ctx.get("due_on", ""),
        "quantity": ctx.get("quantity", ""),
        "days": stage,
    }
    if stage:
        return (
            _("Short position #%(position)s on credit account %(account)s is due on %(due_on)s")
            % values,
            _(
                "Your short position #%(position)s (%(quantity)s shares of %(instrument)s owed) "
                "is due on %(due_on)s, in %(days)s trading days. Return the shares by then (buy "
                "to cover or direct return), or apply for an extension in the portal before the "
                "due date; unreturned, it becomes overdue and the desk buys the shares back in "
                "your account."
            )
            % values,
        )
    return (
        _("Short position #%(position)s on credit account %(account)s is overdue") % values,
        _(
            "Your short position #%(position)s (%(quantity)s shares of %(instrument)s owed) was "
            "due on %(due_on)s and the shares are not returned. The desk will buy them back in "
            "your account (a forced buy-in), paid from the restricted proceeds first and then "
            "from your cash."
        )
        % values,
    )


def _context(f: Financing) -> dict:
    return {
        "financing": f.pk,
        "instrument": f.instrument.ledger_unit,
        "due_on": f.due_on.isoformat(),
        "principal": fmt(f.principal_outstanding),
        "interest": fmt(f.interest_accrued),
    }


@dataclass
class MaturityRun:
    on: date
    overdue: list[int] = field(default_factory=list)  # financings marked overdue
    calls: list[int] = field(default_factory=list)  # maturity calls issued
    deferred: list[int] = field(default_factory=list)  # accounts waiting for another call
    closed: list[int] = field(default_factory=list)  # maturity calls closed as repaid
    reminders: list[int] = field(default_factory=list)  # notices written
    uncomputable: list[int] = field(default_factory=list)  # financings: reminder day unknown
    short_overdue: list[int] = field(default_factory=list)  # short positions marked overdue
    short_uncomputable: list[int] = field(default_factory=list)  # short positions: likewise


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)


def _recorded_today(account_ids, kind: str, now: datetime) -> set[int]:
    """The accounts among `account_ids` with an event of `kind` since the start of the
    (Shanghai) day of `now` (one read)."""
    start = _start_of(timezone.localtime(now, SHANGHAI).date())
    return set(
        MarginEvent.objects.filter(
            credit_account_id__in=list(account_ids), kind=kind, occurred_at__gte=start
        ).values_list("credit_account_id", flat=True)
    )


def _rows(statement: str, params: dict) -> list[tuple]:
    with connection.cursor() as c:
        c.execute(statement, params)
        return c.fetchall()


def _shard_params(shard: int, shards: int, **more) -> dict:
    return {"shard": shard, "shards": shards, **more}


def _contracts(account_ids: list[int]) -> dict[int, CreditContract]:
    """Each account's current contract (lending.financing.valuation.current_contract: the
    active one, else the latest signed), for all of them in one statement; the valuation then
    reads it no more per account."""
    if not account_ids:
        return {}
    rows = (
        CreditContract.objects.filter(credit_account_id__in=list(account_ids))
        .annotate(active=Case(When(status=ContractStatus.ACTIVE, then=1), default=0))
        .order_by("credit_account_id", "-active", "-signed_on", "-pk")
        .distinct("credit_account_id")
    )
    return {c.credit_account_id: c for c in rows}


_OVERDUE_ACCOUNTS = """
SELECT f.credit_account_id FROM lending_financing f
 WHERE f.status = 'open' AND f.overdue_since IS NOT NULL
   AND mod(f.credit_account_id, %(shards)s) = %(shard)s
UNION
SELECT s.credit_account_id FROM lending_shortposition s
 WHERE s.status = 'open' AND s.overdue_since IS NOT NULL
   AND mod(s.credit_account_id, %(shards)s) = %(shard)s
 ORDER BY 1
"""

#: the short positions among %(ids)s without both overdue notices (portal and e-mail)
_SHORTS_WITHOUT_NOTICES = """
SELECT s.id FROM unnest(%(ids)s::bigint[]) AS s(id)
 WHERE (SELECT count(*) FROM lending_notice n
         WHERE n.short_position_id = s.id AND n.kind = 'maturity' AND n.stage = %(stage)s) < 2
"""

#: the financings among %(ids)s without both overdue notices (portal and e-mail)
_WITHOUT_NOTICES = """
SELECT f.id FROM unnest(%(ids)s::bigint[]) AS f(id)
 WHERE (SELECT count(*) FROM lending_notice n
         WHERE n.financing_id = f.id AND n.kind = 'maturity' AND n.stage = %(stage)s) < 2
"""


def maturity_calls_issue(
    *, now: datetime, run: MaturityRun, actor=None, shards: int = 1, shard: int | None = None
) -> None:
    """The overdue notice of each overdue financing (once), and a maturity call (already
    overdue) for every account with an overdue financing and no unfinished call; an account
    whose ordinary call is unfinished gets a "maturity_call_deferred" event (once a day).

    Set-based, one transaction per shard of credit accounts (id mod `shards`; every shard in
    this process unless `shard` names one): the accounts locked in the desk's order in two
    statements, their overdue financings, unfinished calls and the day's deferred events read
    in one statement each, the calls, events, state changes and notices written in bulk with
    their history rows. The call's ratio, assets and liabilities at issue are the account's
    valuation now (account_view, one per account that gets a new maturity call: no set-based
    valuation is open to this area; an account with an unfinished call is not valued)."""

    for k in shard_range(shard, shards):
        ids = [row[0] for row in _rows(_OVERDUE_ACCOUNTS, _shard_params(k, shards))]
        if ids:
            with transaction.atomic():
                _calls_issue(ids, now=now, run=run, actor=actor)


def _short_context(p: ShortPosition) -> dict:
    return {
        "position": p.pk,
        "instrument": p.instrument.ledger_unit,
        "due_on": p.due_on.isoformat(),
        "quantity": fmt_shares(p.quantity_outstanding),
        "amount": fmt(p.amount_outstanding),
    }


def _owed_by_instrument(shorts: list[ShortPosition]) -> dict[str, Decimal]:
    """The overdue shares owed of each instrument (ledger unit), in the order first seen."""
    owed: dict[str, Decimal] = {}
    for p in shorts:
        unit = p.instrument.ledger_unit
        owed[unit] = owed.get(unit, margin.ZERO) + p.quantity_outstanding
    return owed


def _shares_data(shorts: list[ShortPosition]) -> dict[str, str]:
    """The overdue shares owed per instrument, for an event's data ("1000", not "1000.0000")."""
    return {
        unit: str(q.to_integral_value()) if q == q.to_integral_value() else str(q)
        for unit, q in _owed_by_instrument(shorts).items()
    }


def _shorts_reason(shorts: list[ShortPosition]) -> str:
    """What the call says of the overdue short positions: the shares owed per instrument and
    each position with its due date."""
    owed = ", ".join(
        f"{unit} {fmt_shares(q)} shares owed" for unit, q in _owed_by_instrument(shorts).items()
    )
    dues = ", ".join(f"#{p.pk} due {p.due_on.isoformat()}" for p in shorts)
    return f"{SHORTS_UNRETURNED} ({owed}; {dues})"


def _shorts_value(shorts: list[ShortPosition], view) -> Decimal:
    """The overdue shares owed at their latest price (the view's short rows)."""
    total = margin.ZERO
    for p in shorts:
        row = view.short(p.instrument.ledger_unit)
        total += p.quantity_outstanding * (row.price if row is not None else margin.ZERO)
    return total


#: how a maturity call's reason names its overdue short positions (also read by the close:
#: a call that named them is closed with the reason that says so)
SHORTS_UNRETURNED = "short positions unreturned at maturity"


def _calls_issue(ids: list[int], *, now: datetime, run: MaturityRun, actor) -> None:

    accounts = lock_in_order(credit_account_ids=ids).credit_accounts
    overdue: dict[int, list[Financing]] = defaultdict(list)
    for f in (
        Financing.objects.filter(
            credit_account_id__in=ids, status=FinancingStatus.OPEN, overdue_since__isnull=False
        )
        .select_related("instrument")
        .order_by("credit_account_id", "due_on", "pk")
    ):
        overdue[f.credit_account_id].append(f)
    shorts: dict[int, list[ShortPosition]] = defaultdict(list)
    for p in (
        ShortPosition.objects.filter(
            credit_account_id__in=ids, status=ShortPositionStatus.OPEN, overdue_since__isnull=False
        )
        .select_related("instrument")
        .order_by("credit_account_id", "due_on", "pk")
    ):
        shorts[p.credit_account_id].append(p)
    owing = sorted(set(overdue) | set(shorts))
    # the overdue notice of each financing and short position, once (unique), whatever
    # happens to the call
    unnoticed = {
        row[0]
        for row in _rows(
            _WITHOUT_NOTICES, {"ids": [f.pk for fs in overdue.values() for f in fs], "stage": 0}
        )
    }
    unnoticed_shorts = {
        row[0]
        for row in _rows(
            _SHORTS_WITHOUT_NOTICES,
            {"ids": [p.pk for ps in shorts.values() for p in ps], "stage": 0},
        )
    }
    notices = []
    if unnoticed or unnoticed_shorts:
        lines = lines_for_many(
            {pk for pk, fs in overdue.items() if any(f.pk in unnoticed for f in fs)}
            | {pk for pk, ps in shorts.items() if any(p.pk in unnoticed_shorts for p in ps)},
            on=timezone.localdate(now),
        )
        for pk in owing:
            for f in overdue.get(pk, ()):
                if f.pk in unnoticed:
                    notices += notices_build(
                        account=accounts[pk], kind=NoticeKind.MATURITY, stage=0, financing=f,
                        at=now, context={**_context(f), "lines": lines[pk]},
                    )  # fmt: skip
            for p in shorts.get(pk, ()):
                if p.pk in unnoticed_shorts:
                    notices += notices_build(
                        account=accounts[pk], kind=NoticeKind.MATURITY, stage=0,
                        short_position=p, at=now,
                        context={**_short_context(p), "lines": lines[pk]},
                    )  # fmt: skip
    unfinished = {
        call.credit_account_id: call
        for call in MarginCall.objects.select_for_update(of=("self",)).filter(
            credit_account_id__in=owing, status__in=UNFINISHED_CALL_STATUSES
        )
    }
    deferred = sorted(pk for pk, call in unfinished.items() if call.source != MATURITY_SOURCE)
    run.deferred += deferred
    events: list[MarginEvent] = []
    recorded = _recorded_today(deferred, "maturity_call_deferred", now) if deferred else set()
    for pk in deferred:
        if pk not in recorded:
            other = unfinished[pk]
            events.append(event_build(
                account=accounts[pk], kind="maturity_call_deferred", at=now, actor=actor,
                source=MATURITY_SOURCE, call=other,
                reason=f"call #{other.pk} is {other.status}: the forced close of what is "
                "overdue waits until it is finished",
            ))  # fmt: skip
    events += _calls_cover_shorts(
        {pk: call for pk, call in unfinished.items() if call.source == MATURITY_SOURCE},
        shorts, accounts=accounts, now=now, actor=actor,
    )  # fmt: skip

    fresh = [pk for pk in owing if pk not in unfinished]
    new_calls, facts = [], []
    contracts = _contracts(fresh)
    for pk in fresh:
        account, fs, ps = accounts[pk], overdue.get(pk, []), shorts.get(pk, [])
        view = account_view(account, contract=contracts.get(pk))
        # financing_maturity.overdue_debt(account), from the rows and the valuation just read
        debt = (
            sum((f.principal_outstanding for f in fs), margin.ZERO) + view.accrued_interest
            if fs
            else margin.ZERO
        )
        owed_value = _shorts_value(ps, view)
        first_due = min([f.due_on for f in fs] + [p.due_on for p in ps])
        ratio = view.maintenance_ratio
        parts = []
        if fs:
            dues = ", ".join(f"#{f.pk} due {f.due_on.isoformat()}" for f in fs)
            parts.append(
                f"financing unpaid at maturity ({dues}): {fmt(debt)} overdue debt to repay by a "
                "forced close"
            )
        if ps:
            parts.append(
                f"{_shorts_reason(ps)}: {fmt(owed_value)} at the latest price, to buy back by a "
                "forced buy-in"
            )
        call = MarginCall(
            credit_account=account,
            # the call is the due date's: it ran to the end of that day
            issued_at=_start_of(first_due),
            deadline=_start_of(first_due + timedelta(days=1)),
            ratio_at_issue=(ratio if ratio is not None else margin.ZERO).quantize(RATIO.quantum),
            assets_at_issue=margin.quantize_money(view.total_assets),
            liabilities_at_issue=margin.quantize_money(view.total_liabilities),
            call_line=view.lines.call,
            target_line=view.lines.target,
            amount_to_cure=margin.quantize_money(debt + owed_value),
            status=MarginCallStatus.OVERDUE,
            overdue_at=now,
            source=MATURITY_SOURCE,
            reason="; ".join(parts),
        )
        what = " and ".join(w for w, there in (("financing", fs), ("short position", ps)) if there)
        stamp(call, actor=actor, reason=f"maturity call issued: {what} overdue")
        new_calls.append(call)
        facts.append((pk, ratio, [f.pk for f in fs], [p.pk for p in ps], debt))
    rows_create_with_history(new_calls)
    run.calls += [call.pk for call in new_calls]

    states_ensure({pk: accounts[pk] for pk in fresh}, now)
    rows = {r.credit_account_id: r for r in AccountMarginState.objects.filter(
        credit_account_id__in=fresh)}  # fmt: skip
    changed = []
    for call, (pk, ratio, financings, positions, debt) in zip(new_calls, facts, strict=True):
        data = {"financings": financings, "overdue_debt": str(debt)}
        if positions:
            data["short_positions"] = positions
            data["shares_owed"] = _shares_data(shorts[pk])
        events.append(event_build(
            account=accounts[pk], kind="maturity_overdue", at=now, actor=actor,
            source=MATURITY_SOURCE, reason=call.reason, call=call, ratio=ratio, data=data,
        ))  # fmt: skip
        row = rows[pk]
        old = row.state
        if old != MarginStateKind.OVERDUE:  # services.state_set to overdue
            state_change(row, MarginStateKind.OVERDUE, at=now, actor=actor, reason=call.reason)
            changed.append(row)
            events.append(event_build(
                account=accounts[pk], kind="state_changed", at=now, actor=actor,
                source=MATURITY_SOURCE, reason=call.reason, call=call, from_state=old,
                to_state=MarginStateKind.OVERDUE, ratio=row.last_ratio,
            ))  # fmt: skip
    rows_update_with_history(changed, ["state", "since", "warning_episode"])
    MarginEvent.objects.bulk_create(
        sorted(events, key=lambda e: e.credit_account_id)  # stable: each account's in order
    )
    notices_save_batched(notices)


def _calls_cover_shorts(calls: dict, shorts: dict, *, accounts, now, actor) -> list[MarginEvent]:
    """An unfinished maturity call covers the account's short positions overdue after it was
    issued: its reason names them and its amount adds their shares at the latest price (the
    plan prepared from then on buys them back). Which positions a call covers already is read
    from its "maturity_overdue" and "maturity_covers" events. Returns the events to write."""
    calls = {pk: call for pk, call in calls.items() if shorts.get(pk)}
    if not calls:
        return []
    covered: dict[int, set[int]] = defaultdict(set)
    for call_id, data in MarginEvent.objects.filter(
        call_id__in=[c.pk for c in calls.values()], kind__in=["maturity_overdue", "maturity_covers"]
    ).values_list("call_id", "data"):
        covered[call_id].update((data or {}).get("short_positions") or [])
    events, changed = [], []
    for pk, call in sorted(calls.items()):
        new = [p for p in shorts[pk] if p.pk not in covered[call.pk]]
        if not new:
            continue
        view = account_view(accounts[pk])
        value = _shorts_value(new, view)
        call.reason = f"{call.reason}; {_shorts_reason(new)}: {fmt(value)} at the latest price"
        call.amount_to_cure = margin.quantize_money(call.amount_to_cure + value)
        stamp(call, actor=actor, reason="maturity call now covers overdue short positions")
        changed.append(call)
        events.append(event_build(
            account=accounts[pk], kind="maturity_covers", at=now, actor=actor,
            source=MATURITY_SOURCE, reason=_shorts_reason(new), call=call,
            data={
                "short_positions": [p.pk for p in new],
                "shares_owed": _shares_data(new),
            },
        ))  # fmt: skip
    rows_update_with_history(changed, ["reason", "amount_to_cure"])
    return events


_REPAID_CALLS = """
SELECT m.id, m.credit_account_id FROM lending_margincall m
 WHERE m.source = 'maturity' AND m.status = 'overdue'
   AND mod(m.credit_account_id, %(shards)s) = %(shard)s {accounts}
   AND NOT EXISTS (SELECT 1 FROM lending_financing f
                    WHERE f.credit_account_id = m.credit_account_id AND f.status = 'open'
                      AND f.overdue_since IS NOT NULL)
   AND NOT EXISTS (SELECT 1 FROM lending_shortposition s
                    WHERE s.credit_account_id = m.credit_account_id AND s.status = 'open'
                      AND s.overdue_since IS NOT NULL)
 ORDER BY m.credit_account_id
"""


def maturity_calls_close_repaid(
    *,
    credit_account_ids=None,
    now: datetime,
    actor=None,
    shards: int = 1,
    shard: int | None = None,
) -> list[MarginCall]:
    """Close as cured every maturity call still overdue (no liquidation approved) whose
    account has no overdue financing and no overdue short position left; its prepared plans
    are rejected, and the account takes the state its ratio gives.

    Set-based, one transaction per shard (a savepoint inside a caller's transaction: the
    repayment runs it for its account through REPAID_HOOKS, the close of a short position
    through lending.shorts.positions.CLOSED_HOOKS): the accounts locked in the desk's
    order, the calls closed by one UPDATE (re-checked under the locks) with their history rows,
    the cure hooks run once for all, the events written in bulk, and the accounts revalued (one
    account_view each) and applied by one margin_states_apply_many per valuation time."""

    closed: list[MarginCall] = []
    for k in shard_range(shard, shards):
        accounts = None if credit_account_ids is None else sorted(map(int, credit_account_ids))
        params = _shard_params(k, shards, accounts=accounts)
        where = "" if accounts is None else "AND m.credit_account_id = ANY(%(accounts)s)"
        with transaction.atomic():
            candidates = _rows(_REPAID_CALLS.format(accounts=where), params)
            if candidates:
                closed += _close_repaid(candidates, now=now, actor=actor)
    return closed


def _close_repaid(candidates, *, now: datetime, actor) -> list[MarginCall]:

    accounts = lock_in_order(credit_account_ids={a for _c, a in candidates}).credit_accounts
    params = {"ids": [c for c, _a in candidates], "now": now, "shorts": SHORTS_UNRETURNED}
    with connection.cursor() as c:
        # the reason: a call that named short positions says the shares came back too
        c.execute(
            "UPDATE lending_margincall m SET status = 'cured', closed_at = %(now)s, "
            "reason = CASE WHEN position(%(shorts)s in m.reason) > 0 "
            "THEN 'overdue debt repaid: no overdue financing or short position left' "
            "ELSE 'overdue financing repaid' END WHERE m.id = ANY(%(ids)s) "
            "AND m.status = 'overdue' AND NOT EXISTS (SELECT 1 FROM lending_financing f "
            "WHERE f.credit_account_id = m.credit_account_id AND f.status = 'open' "
            "AND f.overdue_since IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM "
            "lending_shortposition s WHERE s.credit_account_id = m.credit_account_id "
            "AND s.status = 'open' AND s.overdue_since IS NOT NULL) RETURNING m.id",
            params,
        )
        ids = [row[0] for row in c.fetchall()]
        if not ids:
            return []
        history_insert(
            c,
            MarginCall,
            source="FROM lending_margincall t WHERE t.id = ANY(%(ids)s)",
            reason_sql="'maturity call closed: ' || t.reason",
            params={"ids": ids},
            actor=actor,
        )
    calls = list(MarginCall.objects.filter(pk__in=ids).order_by("credit_account_id"))
    for call in calls:
        call.credit_account = accounts[call.credit_account_id]
    _on_calls_cured(calls, actor=actor, at=now)
    MarginEvent.objects.bulk_create([
        event_build(
            account=call.credit_account, kind="maturity_repaid", at=now, actor=actor,
            source=MATURITY_SOURCE, reason=call.reason, call=call,
        )
        for call in calls
    ])  # fmt: skip
    # each account revalued (services.account_revalue), at now or its last valuation if later
    mine = {call.credit_account_id: accounts[call.credit_account_id] for call in calls}
    states_ensure(mine, now)
    last = dict(
        AccountMarginState.objects.filter(credit_account_id__in=list(mine)).values_list(
            "credit_account_id", "last_valued_at"
        )
    )
    by_time: dict[datetime, list[AccountValuation]] = defaultdict(list)
    contracts = _contracts(list(mine))
    for pk, account in mine.items():
        view = account_view(account, contract=contracts.get(pk))
        at = max(now, last[pk]) if last.get(pk) else now
        by_time[at].append(AccountValuation(
            pk, view.maintenance_ratio, view.total_assets, view.total_liabilities, view.lines
        ))  # fmt: skip
    for at, valuations in sorted(by_time.items()):
        margin_states_apply_many(
            valuations=valuations, valued_at=at, actor=actor, source=MATURITY_SOURCE
        )
    return calls


def maturity_on_repaid(account, financings, *, actor) -> None:
    """lending.financing.services.REPAID_HOOKS: a repayment that cleared an overdue financing
    closes the account's maturity call at once (inside the repayment's transaction)."""
    if any(f.overdue_since is not None and f.status == FinancingStatus.REPAID for f in financings):
        maturity_calls_close_repaid(
            credit_account_ids=[account.pk], now=timezone.now(), actor=actor
        )


# The reminders' statements, for financings and for short positions alike (`table`: the
# due rows; `notice`: the notice's column naming one). Only these names are interpolated.


def _due_dates_sql(table: str) -> str:
    """The distinct due dates from %(on)s to %(until)s of open rows not yet overdue."""
    return f"""
SELECT DISTINCT f.due_on FROM {table} f
 WHERE f.status = 'open' AND f.overdue_since IS NULL
   AND f.due_on >= %(on)s AND f.due_on <= %(until)s
 ORDER BY 1
"""  # noqa: S608 (table names from this module)


def _reminders_due_sql(table: str, notice: str) -> str:
    """The rows of a shard due on one of %(dues)s (in order: due_on, pk), with the stage of
    their due date (%(stages)s, the same order), open and not overdue, without both notices of
    that stage; {accounts}: restricted to the locked accounts."""
    return f"""
SELECT f.id, f.credit_account_id, d.stage FROM {table} f
  JOIN unnest(%(dues)s::date[], %(stages)s::int[]) AS d(due_on, stage) ON d.due_on = f.due_on
 WHERE f.status = 'open' AND f.overdue_since IS NULL
   AND mod(f.credit_account_id, %(shards)s) = %(shard)s {{accounts}}
   AND (SELECT count(*) FROM lending_notice n
         WHERE n.{notice} = f.id AND n.kind = 'maturity' AND n.stage = d.stage) < 2
 ORDER BY f.due_on, f.id
"""  # noqa: S608 (table and column names from this module)


def _uncomputable_sql(table: str) -> str:
    return f"""
SELECT f.id, f.credit_account_id, f.due_on FROM {table} f
 WHERE f.status = 'open' AND f.overdue_since IS NULL AND f.due_on = ANY(%(dues)s::date[])
   AND mod(f.credit_account_id, %(shards)s) = %(shard)s
 ORDER BY f.due_on, f.id
"""  # noqa: S608 (table names from this module)


_DUE_DATES = _due_dates_sql("lending_financing")
_REMINDERS_DUE = _reminders_due_sql("lending_financing", "financing_id")
_UNCOMPUTABLE = _uncomputable_sql("lending_financing")
_SHORT_DUE_DATES = _due_dates_sql("lending_shortposition")


def reminder_stages(*, on: date, dues: list[date], stages: list[int]):
    """For each due date, the latest reminder due on `on` (the fewest trading days before it;
    an earlier one missed is not sent late), or None: the calendar is asked once per due date
    and stage, not per financing. Returns ({due: stage}, {due: CalendarExhausted})."""
    stage_of: dict[date, int] = {}
    unknown: dict[date, calendar.CalendarExhausted] = {}
    for due in dues:
        try:
            days = [d for d in stages if calendar.add_trading_days(due, -d) <= on]
        except calendar.CalendarExhausted as exc:
            unknown[due] = exc
            continue
        if days:
            stage_of[due] = min(days)
    return stage_of, unknown


def maturity_reminders_send(
    *, on: date, now: datetime, run: MaturityRun, shards: int = 1, shard: int | None = None
) -> None:
    """The reminders due on `on` (see the module docstring), set-based: the reminder days are
    computed once per due date (many financings and short positions share one), the financings
    (then the short positions) due a reminder read
    in one statement per shard, their accounts locked in order, the notices built and saved in
    bulk and one "maturity_reminder" event per financing reminded, in one transaction per
    shard."""

    stages = sorted(
        {
            int(compliance_selectors.parameter(P.MATURITY_REMINDER_FIRST_DAYS, on=on)),
            int(compliance_selectors.parameter(P.MATURITY_REMINDER_SECOND_DAYS, on=on)),
        },
        reverse=True,
    )
    window = {"on": on, "until": on + timedelta(days=LOOKAHEAD_DAYS)}
    dues = [row[0] for row in _rows(_DUE_DATES, window)]
    short_dues = [row[0] for row in _rows(_SHORT_DUE_DATES, window)]
    stage_of, unknown = reminder_stages(
        on=on, dues=sorted(set(dues) | set(short_dues)), stages=stages
    )
    for due, exc in unknown.items():
        log.warning("maturity reminders of positions due on %s not computed: %s", due, exc)
    for k in shard_range(shard, shards):
        for due_kind in _DUES:
            if unknown:
                with transaction.atomic():
                    _uncomputable(due_kind, unknown, now=now, run=run, shard=k, shards=shards)
            if stage_of:
                with transaction.atomic():
                    _reminders(due_kind, stage_of, now=now, run=run, shard=k, shards=shards)


@dataclass(frozen=True)
class _Due:
    """What falls due (a financing, a short position), for the reminders' shared steps."""

    model: type
    key: str  # its name in events' data, notices' keyword and the notice's column (+ "_id")
    label: str  # in an event's reason
    reminders_sql: str
    uncomputable_sql: str
    context: Callable
    uncomputed: str  # the run's list of the rows whose reminder day is beyond the calendar


_DUES = (
    _Due(
        Financing, "financing", "financing", _REMINDERS_DUE, _UNCOMPUTABLE,
        _context, "uncomputable",
    ),
    _Due(
        ShortPosition, "short_position", "short position",
        _reminders_due_sql("lending_shortposition", "short_position_id"),
        _uncomputable_sql("lending_shortposition"),
        _short_context, "short_uncomputable",
    ),
)  # fmt: skip


def _uncomputable(
    due_kind: _Due, unknown: dict, *, now: datetime, run: MaturityRun, shard: int, shards: int
) -> None:
    """One "maturity_reminder_uncomputable" event per account and day, the account's first row
    (due_on, pk) named in its data."""
    rows = _rows(due_kind.uncomputable_sql, _shard_params(shard, shards, dues=list(unknown)))
    if not rows:
        return
    getattr(run, due_kind.uncomputed).extend(pk for pk, _a, _d in rows)
    first: dict[int, tuple[int, date]] = {}
    for pk, account_id, due in rows:  # each account's first row (due_on, pk)
        first.setdefault(account_id, (pk, due))
    accounts = lock_in_order(credit_account_ids=first).credit_accounts
    recorded = _recorded_today(first, "maturity_reminder_uncomputable", now)
    MarginEvent.objects.bulk_create([
        event_build(
            account=accounts[account_id], kind="maturity_reminder_uncomputable", at=now,
            source=MATURITY_SOURCE, reason=str(unknown[due]),
            data={due_kind.key: pk, "due_on": due.isoformat()},
        )
        for account_id, (pk, due) in sorted(first.items())
        if account_id not in recorded
    ])  # fmt: skip


def _reminders(
    due_kind: _Due, stage_of: dict, *, now: datetime, run: MaturityRun, shard: int, shards: int
) -> None:
    """The notices of the stage due, once per row, stage and channel, and one
    "maturity_reminder" event per row reminded."""
    params = _shard_params(
        shard, shards, dues=list(stage_of), stages=[stage_of[d] for d in stage_of]
    )
    candidates = _rows(due_kind.reminders_sql.format(accounts=""), params)
    if not candidates:
        return
    accounts = lock_in_order(credit_account_ids={a for _f, a, _s in candidates}).credit_accounts
    params["accounts"] = sorted(accounts)
    rows = _rows(
        due_kind.reminders_sql.format(accounts="AND f.credit_account_id = ANY(%(accounts)s)"),
        params,
    )
    stage = {pk: s for pk, _a, s in rows}
    items = due_kind.model.objects.filter(pk__in=list(stage)).select_related("instrument")
    items = sorted(items, key=lambda x: (x.due_on, x.pk))
    lines = lines_for_many({x.credit_account_id for x in items}, on=timezone.localdate(now))
    notices = []
    for x in items:
        notices += notices_build(
            account=accounts[x.credit_account_id], kind=NoticeKind.MATURITY, stage=stage[x.pk],
            at=now, context={**due_kind.context(x), "lines": lines[x.credit_account_id]},
            **{due_kind.key: x},
        )  # fmt: skip
    written: dict[int, list[int]] = defaultdict(list)
    for notice in notices_save_batched(notices):
        written[getattr(notice, f"{due_kind.key}_id")].append(notice.pk)
    events = []
    for x in items:
        ids = written.get(x.pk)
        if not ids:
            continue
        events.append(event_build(
            account=accounts[x.credit_account_id], kind="maturity_reminder", at=now,
            source=MATURITY_SOURCE,
            reason=f"{due_kind.label} #{x.pk} due on {x.due_on.isoformat()}: reminder "
            f"{stage[x.pk]} trading days before",
            data={due_kind.key: x.pk, "stage": stage[x.pk], "notices": ids},
        ))  # fmt: skip
        run.reminders += ids
    MarginEvent.objects.bulk_create(events)


def maturity_process(
    *,
    on: date | None = None,
    now: datetime | None = None,
    actor=None,
    shards: int = 1,
    shard: int | None = None,
):
    """The daily maturity run for `on` (see the module docstring). Returns a MaturityRun.
    `shards`/`shard`: the calls and reminders run one transaction per shard of credit accounts
    (every shard in this process unless `shard` names one; marking financings and short
    positions overdue is not sharded)."""
    now = now or timezone.now()
    on = on or timezone.localtime(now, SHANGHAI).date()
    run = MaturityRun(on=on)
    run.overdue = financing_maturity.financings_mark_overdue(on=on, actor=actor)
    run.short_overdue = short_maturity.short_positions_mark_overdue(on=on, actor=actor)
    run.closed = [
        c.pk for c in maturity_calls_close_repaid(now=now, actor=actor, shards=shards, shard=shard)
    ]
    maturity_calls_issue(now=now, run=run, actor=actor, shards=shards, shard=shard)
    maturity_reminders_send(on=on, now=now, run=run, shards=shards, shard=shard)
    return run


__all__ = [
    "MaturityRun",
    "maturity_calls_close_repaid",
    "maturity_calls_issue",
    "maturity_message",
    "maturity_on_repaid",
    "maturity_on_short_closed",
    "maturity_process",
    "maturity_reminders_send",
]


def maturity_on_short_closed(account, positions, *, actor) -> None:
    """lending.shorts.positions.CLOSED_HOOKS: a cover, a forced buy-in or a direct return that
    closed an overdue short position closes the account's maturity call at once when nothing
    overdue is left (inside the close's transaction)."""
    if any(
        p.overdue_since is not None and p.status == ShortPositionStatus.CLOSED for p in positions
    ):
        maturity_calls_close_repaid(
            credit_account_ids=[account.pk], now=timezone.now(), actor=actor
        )
