"""The daily maturity run (DOMAIN.md "Maturity and extension"): reminders before a financing's
due date, the overdue financing's forced close through the liquidation process.

`maturity_process(on=day)` (Celery beat, trading-day mornings; idempotent, run it twice and
nothing more happens):

1. Overdue: lending.financing.maturity.financings_mark_overdue marks every financing still owed
   after its due date overdue (from the day after it); penalty interest then accrues daily
   beside interest (lending.financing.maturity.penalty_accrue, in the interest task).
2. Forced close: an account with an overdue financing gets a margin call of source
   "maturity" (`maturity_calls_issue`), issued already overdue: its deadline was the end of the
   due date, its amount the overdue debt (the account's unpaid interest and penalty + the
   overdue principal). The liquidation process takes it from there, as for any overdue call:
   a risk officer prepares the plan from the overdue calls (lending.liquidation: for a maturity
   call the plan sells enough, net of sale fees, in whole lots, to repay the overdue debt, not
   to restore a ratio), a second one approves it with a second factor, it is executed through
   orders, the proceeds repay the overdue financing first, a shortfall beyond assets is a
   default. The account's margin state becomes "overdue" (an event records who, when, why);
   one maturity notice (stage 0) per overdue financing. A ratio restored above the target
   does not cure a maturity call: only repaying the overdue financing does. While another call
   is unfinished (one unfinished call per account, a PostgreSQL rule) the maturity call waits:
   an event records it each day until that call is finished.
3. Repaid: a maturity call still overdue whose account has no overdue financing left (repaid
   from cash or by a sale to repay) is closed as cured, its prepared plans rejected
   (`maturity_calls_close_repaid`; also run at once by the repayment, through
   lending.financing.services.REPAID_HOOKS).
4. Reminders: `financing.reminder_first_trading_days` (10) and
   `financing.reminder_second_trading_days` (3) Shanghai trading days before the due date
   (dated parameters), one notice per financing and reminder on the portal and by e-mail, in
   both languages, with proof of delivery (unique per financing, stage and channel). A late
   run sends the latest reminder due, not an earlier one. A reminder day beyond the known
   exchange calendar is never guessed: an event "maturity_reminder_uncomputable" is recorded
   (once per financing and day) and logged, and the reminder follows once staff extend the
   calendar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.precision import RATIO
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.credit.locks import credit_account_lock
from lending.credit.models import CreditAccount
from lending.domain import margin
from lending.domain.formats import fmt
from lending.financing import maturity as financing_maturity
from lending.financing.models import Financing, FinancingStatus
from lending.financing.valuation import account_view
from lending.margin_calls.models import (
    UNFINISHED_CALL_STATUSES,
    MarginCall,
    MarginCallStatus,
    MarginEvent,
    MarginStateKind,
    NoticeKind,
)
from lending.margin_calls.services import (
    MATURITY_SOURCE,
    SHANGHAI,
    _on_calls_cured,
    _state_row,
    account_revalue,
    event_record,
    notice_send,
    state_set,
)

log = logging.getLogger(__name__)

#: how far ahead of a due date reminders are looked at (calendar days): 10 trading days are
#: never more than this, whatever the holidays
LOOKAHEAD_DAYS = 40


def maturity_message(kind: str, stage: int, account, call, ctx: dict) -> tuple[str, str]:
    """Subject and body of a maturity notice (in the active language; the notices machinery
    writes every language of the site)."""
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


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)


def _recorded_today(account, kind: str, now: datetime) -> bool:
    start = _start_of(timezone.localtime(now, SHANGHAI).date())
    return MarginEvent.objects.filter(
        credit_account=account, kind=kind, occurred_at__gte=start
    ).exists()


def maturity_calls_issue(*, now: datetime, run: MaturityRun, actor=None) -> None:
    """The overdue notice of each overdue financing (once), and a maturity call (already
    overdue) for every account with an overdue financing and no unfinished call."""
    accounts = list(
        CreditAccount.objects.filter(
            financings__status=FinancingStatus.OPEN, financings__overdue_since__isnull=False
        )
        .distinct()
        .order_by("pk")
    )
    for account in accounts:
        with transaction.atomic():
            account = credit_account_lock(account)
            overdue = list(
                Financing.objects.filter(
                    credit_account=account,
                    status=FinancingStatus.OPEN,
                    overdue_since__isnull=False,
                )
                .select_related("instrument")
                .order_by("due_on", "pk")
            )
            if not overdue:
                continue
            # the overdue notice of each financing, once (unique), whatever happens to the call
            for f in overdue:
                notice_send(
                    account=account, kind=NoticeKind.MATURITY, stage=0, financing=f, at=now,
                    context=_context(f),
                )  # fmt: skip
            unfinished = (
                MarginCall.objects.select_for_update(of=("self",))
                .filter(credit_account=account, status__in=UNFINISHED_CALL_STATUSES)
                .first()
            )
            if unfinished is not None:
                if unfinished.source != MATURITY_SOURCE:
                    run.deferred.append(account.pk)
                    if not _recorded_today(account, "maturity_call_deferred", now):
                        event_record(
                            account=account, kind="maturity_call_deferred", at=now,
                            actor=actor, source=MATURITY_SOURCE, call=unfinished,
                            reason=f"call #{unfinished.pk} is {unfinished.status}: the forced "
                            "close of the overdue financing waits until it is finished",
                        )  # fmt: skip
                continue
            view = account_view(account)
            debt = financing_maturity.overdue_debt(account)
            first_due = overdue[0].due_on
            ratio = view.maintenance_ratio
            dues = ", ".join(f"#{f.pk} due {f.due_on.isoformat()}" for f in overdue)
            call = MarginCall(
                credit_account=account,
                # the call is the due date's: it ran to the end of that day
                issued_at=_start_of(first_due),
                deadline=_start_of(first_due + timedelta(days=1)),
                ratio_at_issue=(ratio if ratio is not None else margin.ZERO).quantize(
                    RATIO.quantum
                ),
                assets_at_issue=margin.quantize_money(view.total_assets),
                liabilities_at_issue=margin.quantize_money(view.total_liabilities),
                call_line=view.lines.call,
                target_line=view.lines.target,
                amount_to_cure=margin.quantize_money(debt),
                status=MarginCallStatus.OVERDUE,
                overdue_at=now,
                source=MATURITY_SOURCE,
                reason=f"financing unpaid at maturity ({dues}): {fmt(debt)} overdue debt to "
                "repay by a forced close",
            )
            stamp(call, actor=actor, reason="maturity call issued: financing overdue")
            call.save()
            run.calls.append(call.pk)
            event_record(
                account=account, kind="maturity_overdue", at=now, actor=actor,
                source=MATURITY_SOURCE, reason=call.reason, call=call, ratio=ratio,
                data={"financings": [f.pk for f in overdue], "overdue_debt": str(debt)},
            )  # fmt: skip
            state_set(
                _state_row(account, now), MarginStateKind.OVERDUE, at=now, actor=actor,
                source=MATURITY_SOURCE, reason=call.reason, call=call,
            )  # fmt: skip


def maturity_calls_close_repaid(
    *, credit_account_ids=None, now: datetime, actor=None
) -> list[MarginCall]:
    """Close as cured every maturity call still overdue (no liquidation approved) whose
    account has no overdue financing left; its prepared plans are rejected, and the account
    takes the state its ratio gives."""
    calls = MarginCall.objects.filter(source=MATURITY_SOURCE, status=MarginCallStatus.OVERDUE)
    if credit_account_ids is not None:
        calls = calls.filter(credit_account_id__in=list(credit_account_ids))
    closed = []
    for call in list(calls.select_related("credit_account")):
        with transaction.atomic():
            account = credit_account_lock(call.credit_account)
            call = MarginCall.objects.select_for_update(of=("self",)).get(pk=call.pk)
            if call.status != MarginCallStatus.OVERDUE:
                continue
            if Financing.objects.filter(
                credit_account=account, status=FinancingStatus.OPEN, overdue_since__isnull=False
            ).exists():
                continue
            call.status = MarginCallStatus.CURED
            call.closed_at = now
            call.reason = "overdue financing repaid"
            stamp(call, actor=actor, reason="maturity call closed: overdue financing repaid")
            call.save()
            _on_calls_cured([call], actor=actor, at=now)
            event_record(
                account=account, kind="maturity_repaid", at=now, actor=actor,
                source=MATURITY_SOURCE, reason="overdue financing repaid", call=call,
            )  # fmt: skip
            last = _state_row(account, now).last_valued_at
            account_revalue(
                credit_account=account, actor=actor, source=MATURITY_SOURCE,
                now=max(now, last) if last else now,
            )  # fmt: skip
            closed.append(call)
    return closed


def maturity_on_repaid(account, financings, *, actor) -> None:
    """lending.financing.services.REPAID_HOOKS: a repayment that cleared an overdue financing
    closes the account's maturity call at once (inside the repayment's transaction)."""
    if any(f.overdue_since is not None and f.status == FinancingStatus.REPAID for f in financings):
        maturity_calls_close_repaid(
            credit_account_ids=[account.pk], now=timezone.now(), actor=actor
        )


def maturity_reminders_send(*, on: date, now: datetime, run: MaturityRun) -> None:
    """The reminders due on `on` (see the module docstring)."""
    stages = sorted(
        {
            int(compliance_selectors.parameter(P.MATURITY_REMINDER_FIRST_DAYS, on=on)),
            int(compliance_selectors.parameter(P.MATURITY_REMINDER_SECOND_DAYS, on=on)),
        },
        reverse=True,
    )
    candidates = list(
        Financing.objects.filter(
            status=FinancingStatus.OPEN,
            overdue_since__isnull=True,
            due_on__gte=on,
            due_on__lte=on + timedelta(days=LOOKAHEAD_DAYS),
        )
        .select_related("instrument", "credit_account__investor__user")
        .order_by("due_on", "pk")
    )
    for f in candidates:
        try:
            due = [d for d in stages if calendar.add_trading_days(f.due_on, -d) <= on]
        except calendar.CalendarExhausted as exc:
            run.uncomputable.append(f.pk)
            log.warning("maturity reminder of financing %s not computed: %s", f.pk, exc)
            with transaction.atomic():
                account = credit_account_lock(f.credit_account)
                if not _recorded_today(account, "maturity_reminder_uncomputable", now):
                    event_record(
                        account=account, kind="maturity_reminder_uncomputable", at=now,
                        source=MATURITY_SOURCE, reason=str(exc),
                        data={"financing": f.pk, "due_on": f.due_on.isoformat()},
                    )  # fmt: skip
            continue
        if not due:
            continue
        stage = min(due)  # the latest reminder due; an earlier one missed is not sent late
        with transaction.atomic():
            account = credit_account_lock(f.credit_account)
            ids = notice_send(
                account=account, kind=NoticeKind.MATURITY, stage=stage, financing=f, at=now,
                context=_context(f),
            )  # fmt: skip
            if ids:
                event_record(
                    account=account, kind="maturity_reminder", at=now, source=MATURITY_SOURCE,
                    reason=f"financing #{f.pk} due on {f.due_on.isoformat()}: reminder "
                    f"{stage} trading days before",
                    data={"financing": f.pk, "stage": stage, "notices": ids},
                )  # fmt: skip
                run.reminders += ids


def maturity_process(*, on: date | None = None, now: datetime | None = None, actor=None):
    """The daily maturity run for `on` (see the module docstring). Returns a MaturityRun."""
    now = now or timezone.now()
    on = on or timezone.localtime(now, SHANGHAI).date()
    run = MaturityRun(on=on)
    run.overdue = [f.pk for f in financing_maturity.financings_mark_overdue(on=on, actor=actor)]
    run.closed = [c.pk for c in maturity_calls_close_repaid(now=now, actor=actor)]
    maturity_calls_issue(now=now, run=run, actor=actor)
    maturity_reminders_send(on=on, now=now, run=run)
    return run


__all__ = [
    "MaturityRun",
    "maturity_calls_close_repaid",
    "maturity_calls_issue",
    "maturity_message",
    "maturity_on_repaid",
    "maturity_process",
    "maturity_reminders_send",
]
