"""The margin-call state machine: account states, calls, staged notices, escalation.

States (lending.models.MarginStateKind) and transitions, per credit account:

    normal --ratio < warning line--> warning      (warning notice; staged reminders)
    normal/warning --ratio < call line--> call    (MarginCall: amount to cure to the target,
                                                   deadline two Shanghai trading days later)
    call/overdue --ratio >= target--> normal      (call closed as cured; cured notice)
    call --deadline passed--> overdue             (calls_escalate_overdue; overdue notice)
    overdue --plan approved--> liquidation        (lending.services.liquidation)
    liquidation --executed--> normal/warning/call, or default when debt is left beyond assets
    any --no debt--> normal                       (a default stays a default until new debt)

While a call is unfinished (open or overdue) a ratio between the call line and the target
leaves it as it is (margin.classify(in_call=True)): only the target cures it.

Idempotency: `margin_state_apply` decides from the stored state, so applying the same valuation
twice changes nothing and creates nothing; a valuation older than the last one applied is
ignored (stale). PostgreSQL backs this up: one unfinished call per account and one notice per
(call, kind, stage, channel) / (account, warning episode, kind, stage, channel).

Notices are written in the transaction (portal and e-mail rows) and the e-mails are sent on
commit (`transaction.on_commit`) through Django's mail backend; the result is recorded on the
notice (sent at, delivered, error). A portal notice is delivered when written; the investor's
acknowledgement in the portal is the proof it was read.

Lock order (DESIGN.md): investor -> credit account -> margin rows. Every service here locks the
credit account row first (`select_for_update(of=("self",))`).

Configuration: settings.LENDING_MARGIN_CALLS (a dict) overrides `DEFAULT_CONFIG` key by key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import (
    TRANSIENT_DB_ERRORS,
    NotFound,
    PermissionDenied,
    RuleViolation,
    ValidationFailed,
)
from compliance import calendar

from .. import margin
from ..models import (
    AccountMarginState,
    CreditAccount,
    CreditContract,
    LiquidationPlan,
    MarginCall,
    MarginCallStatus,
    MarginEvent,
    MarginStateKind,
    Notice,
    NoticeChannel,
    NoticeKind,
)
from ..models.calls import UNFINISHED_CALL_STATUSES

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")

DEFAULT_CONFIG = {
    # A margin call's deadline: this many Shanghai trading days after the day it is issued,
    # at this local time (the close of that day's session).
    "deadline_trading_days": 2,
    "deadline_time": time(15, 0),
    # Staged warnings: while the account stays in warning, a reminder this many hours after the
    # previous warning notice, at most this many reminders per warning episode.
    "warning_reminder_hours": 24,
    "warning_max_reminders": 2,
    # An open call gets one reminder this many hours after issue (if still before its deadline).
    "call_reminder_hours": 24,
    "currency": "CNY",
    # Liquidation: the ordering rule of margin.ORDER_RULES used when the preparer names none.
    "order_rule": "zero_haircut_first",
}


LAST_VALUATION_FIELDS = ["last_valued_at", "last_ratio", "last_assets", "last_liabilities"]


def config() -> dict:
    return {**DEFAULT_CONFIG, **getattr(settings, "LENDING_MARGIN_CALLS", {})}


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Transition:
    """What one application of a valuation did. ``events`` names what happened
    ("state_changed", "call_issued", "call_cured", ...); empty when nothing changed."""

    credit_account_id: int
    from_state: str
    to_state: str
    ratio: Decimal | None
    call: MarginCall | None = None
    events: tuple[str, ...] = ()
    notices: tuple[int, ...] = ()
    stale: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.events)


@dataclass
class _Work:
    events: list[str] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


def _aware(value: datetime | None, name: str) -> datetime:
    if value is None:
        return timezone.now()
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationFailed(f"{name}: an aware datetime is required", extra={"field": name})
    return value


def _decimal(value, name: str, *, allow_none: bool = False) -> Decimal | None:
    if value is None and allow_none:
        return None
    try:
        return margin.as_decimal(value, name)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ValidationFailed(f"{name}: {exc}", extra={"field": name}) from exc


def pct(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{(ratio * 100).quantize(Decimal('0.01'))}%"


def lines_for(credit_account: CreditAccount) -> margin.MarginLines:
    """The lines of the account's active contract (the defaults when there is none)."""
    contract = (
        CreditContract.objects.filter(credit_account=credit_account, status="active")
        .order_by("-signed_on", "-pk")
        .first()
    )
    if contract is None:
        return margin.DEFAULT_LINES
    return margin.MarginLines(
        warning=contract.warning_line,
        call=contract.call_line,
        target=contract.target_line,
        withdrawal=contract.withdrawal_line,
    )


def call_deadline(issued_at: datetime) -> datetime:
    """Close of the session N Shanghai trading days after the (Shanghai) day of issue.
    Raises compliance.calendar.CalendarExhausted beyond the known calendar: never a guess."""
    cfg = config()
    day = calendar.add_trading_days(
        issued_at.astimezone(SHANGHAI).date(), cfg["deadline_trading_days"]
    )
    return datetime.combine(day, cfg["deadline_time"], tzinfo=SHANGHAI)


def lock_account(credit_account: CreditAccount) -> CreditAccount:
    """Lock investor -> credit account (DESIGN.md order)."""
    from accounts.models import InvestorProfile

    InvestorProfile.objects.select_for_update(of=("self",)).filter(
        pk=credit_account.investor_id
    ).first()
    return CreditAccount.objects.select_for_update(of=("self",)).get(pk=credit_account.pk)


def _state_row(account: CreditAccount, at: datetime) -> AccountMarginState:
    row = AccountMarginState.objects.filter(credit_account=account).first()
    if row is None:
        row = AccountMarginState(credit_account=account, state=MarginStateKind.NORMAL, since=at)
        stamp(row, actor=None, reason="margin state created")
        row.save()
    return row


def unfinished_call(account: CreditAccount) -> MarginCall | None:
    return (
        MarginCall.objects.select_for_update(of=("self",))
        .filter(credit_account=account, status__in=UNFINISHED_CALL_STATUSES)
        .first()
    )


def event_record(
    *,
    account: CreditAccount,
    kind: str,
    at: datetime,
    actor=None,
    source: str = "",
    reason: str = "",
    call: MarginCall | None = None,
    from_state: str = "",
    to_state: str = "",
    ratio: Decimal | None = None,
    data: dict | None = None,
) -> MarginEvent:
    return MarginEvent.objects.create(
        credit_account=account,
        call=call,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        ratio=None if ratio is None else ratio.quantize(Decimal("0.000001")),
        occurred_at=at,
        actor=actor if getattr(actor, "pk", None) else None,
        source=source[:40],
        reason=reason,
        data=data or {},
    )


def state_set(
    row: AccountMarginState,
    new_state: str,
    *,
    at: datetime,
    actor,
    source: str,
    reason: str,
    call: MarginCall | None = None,
    work: _Work | None = None,
) -> None:
    """Move the account to `new_state` (no-op when already there), with history and event."""
    old = row.state
    if old == new_state:
        return
    row.state = new_state
    row.since = at
    if new_state == MarginStateKind.WARNING:
        row.warning_episode += 1
    stamp(row, actor=actor, reason=f"{old} -> {new_state}: {reason}")
    row.save()
    event_record(
        account=row.credit_account,
        kind="state_changed",
        at=at,
        actor=actor,
        source=source,
        reason=reason,
        call=call,
        from_state=old,
        to_state=new_state,
        ratio=row.last_ratio,
    )
    if work is not None:
        work.events.append("state_changed")
    if new_state == MarginStateKind.WARNING:
        ids = notice_send(
            account=row.credit_account,
            kind=NoticeKind.WARNING,
            stage=0,
            warning_episode=row.warning_episode,
            at=at,
            context={"ratio": row.last_ratio},
        )
        if work is not None:
            work.notices.extend(ids)


# --------------------------------------------------------------------------- notices


def _message(kind: str, stage: int, account: CreditAccount, call, ctx: dict) -> tuple[str, str]:
    lines = ctx.get("lines") or margin.DEFAULT_LINES
    ratio = pct(ctx.get("ratio"))
    if kind == NoticeKind.WARNING:
        return (
            _("Margin warning for credit account %(account)s") % {"account": account},
            _(
                "Your maintenance collateral ratio is %(ratio)s, below the warning line "
                "%(line)s. Please add cash or collateral, or reduce your financing."
            )
            % {"ratio": ratio, "line": pct(lines.warning)},
        )
    if kind == NoticeKind.REMINDER and call is None:
        return (
            _("Reminder: margin warning for credit account %(account)s") % {"account": account},
            _(
                "Your maintenance collateral ratio is still %(ratio)s, below the warning line "
                "%(line)s (reminder %(stage)s). Please add cash or collateral."
            )
            % {"ratio": ratio, "line": pct(lines.warning), "stage": stage},
        )
    deadline = call.deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if call else ""
    values = {
        "account": account,
        "ratio": pct(call.ratio_at_issue) if call else ratio,
        "line": pct(call.call_line) if call else "",
        "target": pct(call.target_line) if call else "",
        "amount": call.amount_to_cure if call else "",
        "currency": config()["currency"],
        "deadline": deadline,
    }
    if kind == NoticeKind.CALL:
        return (
            _("Margin call for credit account %(account)s") % values,
            _(
                "Your maintenance collateral ratio is %(ratio)s, below the call line %(line)s. "
                "Deposit %(amount)s %(currency)s (or collateral of equal value) to restore "
                "%(target)s by %(deadline)s (Shanghai time); otherwise the desk will sell "
                "securities in your account to restore it."
            )
            % values,
        )
    if kind == NoticeKind.REMINDER:
        return (
            _("Reminder: margin call for credit account %(account)s") % values,
            _(
                "Your margin call is still open. Deposit %(amount)s %(currency)s to restore "
                "%(target)s by %(deadline)s (Shanghai time)."
            )
            % values,
        )
    if kind == NoticeKind.OVERDUE:
        return (
            _("Margin call overdue for credit account %(account)s") % values,
            _(
                "The deadline %(deadline)s of your margin call has passed without the ratio "
                "restored to %(target)s. The desk will prepare the sale of securities."
            )
            % values,
        )
    if kind == NoticeKind.LIQUIDATION:
        return (
            _("Liquidation of credit account %(account)s") % values,
            _(
                "A sale of securities in your account was approved to restore the ratio to "
                "%(target)s; the proceeds repay your financing first."
            )
            % values,
        )
    if kind == NoticeKind.CURED:
        return (
            _("Margin call cured for credit account %(account)s") % values,
            _("Your maintenance collateral ratio is %(ratio)s: the margin call is closed.")
            % {"ratio": ratio},
        )
    return (
        _("Shortfall on credit account %(account)s") % values,
        _(
            "After the sale of all securities, %(amount)s %(currency)s of debt remains unpaid "
            "and is recorded as a default."
        )
        % {"amount": ctx.get("shortfall"), "currency": values["currency"]},
    )


def _bilingual_message(kind: str, stage: int, account, call, ctx: dict) -> tuple[str, str]:
    """A notice is a record sent to the investor: it is written in every language of the site
    (Simplified Chinese first), whatever language the worker or the request runs in, so the
    same event always gives the same text."""
    versions = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            versions.append(_message(kind, stage, account, call, ctx))
    subject = " / ".join(dict.fromkeys(v[0] for v in versions))
    if len(subject) > Notice._meta.get_field("subject").max_length:
        subject = versions[0][0]
    return subject, "\n\n".join(dict.fromkeys(v[1] for v in versions))


def notice_send(
    *,
    account: CreditAccount,
    kind: str,
    stage: int = 0,
    call: MarginCall | None = None,
    warning_episode: int | None = None,
    at: datetime,
    context: dict | None = None,
) -> list[int]:
    """Write the notice on the portal and by e-mail (sent on commit). A notice that exists
    already (same call or warning episode, kind, stage, channel) is not written again."""
    ctx = {"lines": lines_for(account), **(context or {})}
    subject, body = _bilingual_message(kind, stage, account, call, ctx)
    email = account.investor.user.email
    created: list[int] = []
    for channel in (NoticeChannel.PORTAL, NoticeChannel.EMAIL):
        key = {"kind": kind, "stage": stage, "channel": channel}
        if call is not None:
            exists = Notice.objects.filter(call=call, **key).exists()
        else:
            exists = Notice.objects.filter(
                credit_account=account, call=None, warning_episode=warning_episode, **key
            ).exists()
        if exists:
            continue
        portal = channel == NoticeChannel.PORTAL
        notice = Notice(
            credit_account=account,
            call=call,
            warning_episode=warning_episode if call is None else None,
            recipient="" if portal else email,
            subject=subject,
            body=body,
            created_at=at,
            sent_at=at if portal else None,
            delivered=True if portal else None,
            **key,
        )
        stamp(notice, actor=None, reason=f"{kind} notice")
        try:
            with transaction.atomic():
                notice.save()
        except IntegrityError:  # written by a concurrent run: once is enough
            continue
        created.append(notice.pk)
        if not portal:
            transaction.on_commit(lambda pk=notice.pk: notice_deliver(notice_id=pk))
    return created


def notice_deliver(*, notice_id: int) -> Notice:
    """Send one e-mail notice through the configured backend and record the result."""
    notice = Notice.objects.get(pk=notice_id)
    if notice.channel != NoticeChannel.EMAIL or notice.delivered:
        return notice
    try:
        sent = send_mail(
            notice.subject,
            notice.body,
            settings.DEFAULT_FROM_EMAIL,
            [notice.recipient],
            fail_silently=False,
        )
        notice.delivered, notice.delivery_error = bool(sent), ""
    except Exception as exc:
        log.warning("notice %s: e-mail delivery failed: %s", notice.pk, exc)
        notice.delivered, notice.delivery_error = False, f"{type(exc).__name__}: {exc}"[:2000]
    notice.sent_at = timezone.now()
    stamp(notice, actor=None, reason="e-mail delivery")
    notice.save(update_fields=["delivered", "delivery_error", "sent_at"])
    return notice


def notice_acknowledge(*, notice: Notice, actor) -> Notice:
    """The investor confirms reading the notice in the portal (proof of delivery)."""
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update().select_related("credit_account").get(pk=notice.pk)
        )
        owner = notice.credit_account.investor.user_id
        if actor is None or actor.pk != owner:
            raise PermissionDenied(
                "notice: only the investor it was sent to can acknowledge it",
                code="not_your_notice",
            )
        if notice.acknowledged_at is None:
            notice.acknowledged_at = timezone.now()
            notice.acknowledged_by = actor
            stamp(notice, actor=actor, reason="acknowledged in the portal")
            notice.save(update_fields=["acknowledged_at", "acknowledged_by"])
            # one acknowledgement covers the same notice on every channel
            for twin in Notice.objects.filter(
                credit_account=notice.credit_account,
                call=notice.call,
                warning_episode=notice.warning_episode,
                kind=notice.kind,
                stage=notice.stage,
                acknowledged_at__isnull=True,
            ).exclude(pk=notice.pk):
                twin.acknowledged_at, twin.acknowledged_by = notice.acknowledged_at, actor
                stamp(twin, actor=actor, reason="acknowledged in the portal")
                twin.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return notice


# --------------------------------------------------------------------------- the state machine


def margin_state_apply(
    *,
    credit_account: CreditAccount,
    ratio: Decimal | None,
    total_assets: Decimal,
    total_liabilities: Decimal,
    valued_at: datetime,
    actor=None,
    source: str = "valuation",
    lines: margin.MarginLines | None = None,
) -> Transition:
    """Apply one valuation of the account to its margin state (see the module docstring).

    ``ratio`` is the maintenance ratio (None = no debt); ``total_assets`` and
    ``total_liabilities`` are what it was computed from (the call's amount to cure is
    margin.cure_amount of them). ``valued_at`` is the time of the prices: it stamps the
    transition, the call (issue time and deadline) and the notices, and a valuation older than
    the last applied one is ignored. ``lines`` default to the active contract's.

    Runs in ``transaction.atomic()`` (composable: a bulk mark-to-market may call it inside its
    own transaction, one account after another); e-mails go out when the outermost commits.
    """
    valued_at = _aware(valued_at, "valued_at")
    assets = _decimal(total_assets, "total_assets")
    liabilities = _decimal(total_liabilities, "total_liabilities")
    ratio = _decimal(ratio, "ratio", allow_none=True)
    if liabilities == 0:
        ratio = None
    elif ratio is None:
        raise ValidationFailed(
            "ratio: a ratio is required when there are liabilities", extra={"field": "ratio"}
        )
    source = source or "valuation"
    with transaction.atomic():
        account = lock_account(credit_account)
        lines = lines or lines_for(account)
        row = _state_row(account, valued_at)
        before = row.state
        if row.last_valued_at is not None and valued_at < row.last_valued_at:
            return Transition(account.pk, before, before, ratio, stale=True)

        work = _Work()
        stored_ratio = None if ratio is None else ratio.quantize(Decimal("0.000001"))
        if (row.last_valued_at, row.last_ratio, row.last_assets, row.last_liabilities) != (
            valued_at,
            stored_ratio,
            assets,
            liabilities,
        ):
            row.last_valued_at, row.last_ratio = valued_at, stored_ratio
            row.last_assets, row.last_liabilities = assets, liabilities
            # The last valuation is a cache refreshed by every mark-to-market: it is not history
            # (the state changes below are, with the valuation that caused them).
            row.skip_history_when_saving = True
            try:
                row.save(update_fields=LAST_VALUATION_FIELDS)
            finally:
                del row.skip_history_when_saving

        call = unfinished_call(account)
        why = f"ratio {pct(ratio)} ({source})"
        if call is not None:
            curable = call.status in (MarginCallStatus.OPEN, MarginCallStatus.OVERDUE)
            if curable and margin.classify(ratio, lines, in_call=True) == "cured":
                _call_cure(call, row, ratio, lines, valued_at, actor, source, work)
                call = None
        elif row.state == MarginStateKind.DEFAULT and ratio is None:
            pass  # a default stays recorded until the account has debt again
        else:
            target = margin.classify(ratio, lines)
            if target == margin.MarginState.CALL:
                call = _call_issue(account, row, ratio, assets, liabilities, lines, valued_at)
                call_source = source
                event_record(
                    account=account,
                    kind="call_issued",
                    at=valued_at,
                    actor=actor,
                    source=call_source,
                    reason=why,
                    call=call,
                    ratio=ratio,
                    data={
                        "amount_to_cure": str(call.amount_to_cure),
                        "deadline": call.deadline.isoformat(),
                    },
                )
                work.events.append("call_issued")
                state_set(
                    row, MarginStateKind.CALL, at=valued_at, actor=actor, source=source,
                    reason=why, call=call, work=work,
                )  # fmt: skip
                work.notices.extend(
                    notice_send(account=account, kind=NoticeKind.CALL, call=call, at=valued_at)
                )
            elif target == margin.MarginState.WARNING:
                state_set(
                    row, MarginStateKind.WARNING, at=valued_at, actor=actor, source=source,
                    reason=why, work=work,
                )  # fmt: skip
            else:
                state_set(
                    row, MarginStateKind.NORMAL, at=valued_at, actor=actor, source=source,
                    reason=why, work=work,
                )  # fmt: skip
        return Transition(
            account.pk,
            before,
            row.state,
            ratio,
            call=call,
            events=tuple(work.events),
            notices=tuple(work.notices),
        )


def _call_issue(account, row, ratio, assets, liabilities, lines, at) -> MarginCall:
    amount = margin.cure_amount(margin.Account(cash=assets, debt=liabilities), lines.target)
    call = MarginCall(
        credit_account=account,
        issued_at=at,
        ratio_at_issue=ratio.quantize(Decimal("0.000001")),
        assets_at_issue=assets,
        liabilities_at_issue=liabilities,
        call_line=lines.call,
        target_line=lines.target,
        amount_to_cure=amount,
        deadline=call_deadline(at),
        status=MarginCallStatus.OPEN,
        reason=f"ratio {pct(ratio)} below the call line {pct(lines.call)}",
    )
    stamp(call, actor=None, reason="call issued")
    call.save()
    return call


def _call_cure(call, row, ratio, lines, at, actor, source, work: _Work) -> None:
    reason = f"ratio {pct(ratio)} restored to the target {pct(lines.target)} ({source})"
    call.status = MarginCallStatus.CURED
    call.closed_at = at
    call.reason = reason
    stamp(call, actor=actor, reason="cured")
    call.save()
    for plan in LiquidationPlan.objects.select_for_update().filter(call=call, status="prepared"):
        plan.status = "rejected"
        plan.decided_at = at
        plan.decision_reason = _("The margin call was cured before approval.")
        stamp(plan, actor=actor, reason="call cured")
        plan.save()
    event_record(
        account=call.credit_account,
        kind="call_cured",
        at=at,
        actor=actor,
        source=source,
        reason=reason,
        call=call,
        ratio=ratio,
    )
    work.events.append("call_cured")
    work.notices.extend(
        notice_send(
            account=call.credit_account,
            kind=NoticeKind.CURED,
            call=call,
            at=at,
            context={"ratio": ratio},
        )
    )
    new_state = margin.classify(ratio, lines)
    state_set(
        row,
        MarginStateKind.WARNING if new_state == margin.MarginState.WARNING else "normal",
        at=at,
        actor=actor,
        source=source,
        reason=reason,
        call=call,
        work=work,
    )


@dataclass(frozen=True)
class AccountValuation:
    """One account's valuation, as a bulk mark-to-market hands it over."""

    credit_account_id: int
    ratio: Decimal | None
    total_assets: Decimal
    total_liabilities: Decimal


def margin_states_apply_many(
    *,
    valuations: list[AccountValuation],
    valued_at: datetime,
    actor=None,
    source: str = "mark_to_market",
) -> list[Transition]:
    """`margin_state_apply` for many accounts, in credit-account order (the lock order), one
    transaction each: a refusal for one account (e.g. CalendarExhausted) is raised after the
    others are applied, as the first error; a database fault (connection lost) is raised at
    once, so the caller retries the whole batch instead of recording it. A caller screening a
    whole book with the vectorised margin.classify_many passes only accounts whose code differs
    from their stored state, plus those with an unfinished call."""
    accounts = CreditAccount.objects.in_bulk([v.credit_account_id for v in valuations])
    transitions: list[Transition] = []
    errors: list[Exception] = []
    for v in sorted(valuations, key=lambda v: v.credit_account_id):
        try:
            transitions.append(
                margin_state_apply(
                    credit_account=accounts[v.credit_account_id],
                    ratio=v.ratio,
                    total_assets=v.total_assets,
                    total_liabilities=v.total_liabilities,
                    valued_at=valued_at,
                    actor=actor,
                    source=source,
                )
            )
        except TRANSIENT_DB_ERRORS:
            raise  # the database went away: the caller retries the whole batch (idempotent)
        except Exception as exc:  # re-raised below, after the other accounts
            log.exception("margin state of credit account %s not applied", v.credit_account_id)
            errors.append(exc)
    if errors:
        raise errors[0]
    return transitions


def account_view_of(credit_account: CreditAccount, *, as_of: datetime | None = None):
    """The book engineer's valuation of one account (lending.valuation.account_view)."""
    try:
        from ..valuation import account_view
    except ImportError:  # pragma: no cover - the other half of issue 5 names it differently
        from ..selectors_book import account_view
    return account_view(credit_account, as_of=as_of)


def account_revalue(
    *, credit_account: CreditAccount, actor=None, now: datetime | None = None, source="revalue"
) -> Transition:
    """Value one account now (latest prices) and apply the valuation to its margin state."""
    now = _aware(now, "now")
    view = account_view_of(credit_account)
    return margin_state_apply(
        credit_account=credit_account,
        ratio=view.maintenance_ratio,
        total_assets=view.total_assets,
        total_liabilities=view.total_liabilities,
        valued_at=now,
        actor=actor,
        source=source,
        lines=view.lines,
    )


# --------------------------------------------------------------------------- escalation


def calls_escalate_overdue(*, now: datetime | None = None, actor=None) -> list[MarginCall]:
    """Mark every open call whose deadline has passed as overdue (state overdue, overdue
    notice). One transaction per call; running it twice changes nothing the second time."""
    now = _aware(now, "now")
    escalated = []
    ids = list(
        MarginCall.objects.filter(status=MarginCallStatus.OPEN, deadline__lt=now).values_list(
            "pk", flat=True
        )
    )
    for pk in ids:
        with transaction.atomic():
            call = MarginCall.objects.select_related("credit_account").get(pk=pk)
            account = lock_account(call.credit_account)
            call = MarginCall.objects.select_for_update(of=("self",)).get(pk=pk)
            if call.status != MarginCallStatus.OPEN or call.deadline >= now:
                continue
            call.status = MarginCallStatus.OVERDUE
            call.overdue_at = now
            stamp(call, actor=actor, reason="deadline passed")
            call.save()
            reason = f"deadline {call.deadline.isoformat()} passed"
            event_record(
                account=account, kind="call_overdue", at=now, actor=actor, source="escalation",
                reason=reason, call=call,
            )  # fmt: skip
            row = _state_row(account, now)
            state_set(
                row, MarginStateKind.OVERDUE, at=now, actor=actor, source="escalation",
                reason=reason, call=call,
            )  # fmt: skip
            notice_send(account=account, kind=NoticeKind.OVERDUE, call=call, at=now)
            escalated.append(call)
    return escalated


def margin_reminders_send(*, now: datetime | None = None) -> list[int]:
    """Staged reminders: accounts still in warning get reminder 1, 2, ... (each
    `warning_reminder_hours` after the previous warning notice, at most `warning_max_reminders`
    per episode); open calls get one reminder `call_reminder_hours` after issue, before the
    deadline. Idempotent per stage (unique notices)."""
    now = _aware(now, "now")
    cfg = config()
    sent: list[int] = []
    warn_after = timedelta(hours=cfg["warning_reminder_hours"])
    for row in AccountMarginState.objects.filter(state=MarginStateKind.WARNING).select_related(
        "credit_account__investor__user"
    ):
        with transaction.atomic():
            account = lock_account(row.credit_account)
            row = AccountMarginState.objects.get(pk=row.pk)
            if row.state != MarginStateKind.WARNING:
                continue
            last = (
                Notice.objects.filter(
                    credit_account=account,
                    call=None,
                    warning_episode=row.warning_episode,
                    channel=NoticeChannel.PORTAL,
                )
                .order_by("-stage")
                .first()
            )
            if last is None or last.stage >= cfg["warning_max_reminders"]:
                continue
            if now - last.created_at < warn_after:
                continue
            sent += notice_send(
                account=account,
                kind=NoticeKind.REMINDER,
                stage=last.stage + 1,
                warning_episode=row.warning_episode,
                at=now,
                context={"ratio": row.last_ratio},
            )
    call_after = timedelta(hours=cfg["call_reminder_hours"])
    for call in MarginCall.objects.filter(
        status=MarginCallStatus.OPEN, issued_at__lte=now - call_after, deadline__gt=now
    ).select_related("credit_account__investor__user"):
        with transaction.atomic():
            lock_account(call.credit_account)
            sent += notice_send(
                account=call.credit_account, kind=NoticeKind.REMINDER, stage=1, call=call, at=now
            )
    return sent


def call_for(call_id: int) -> MarginCall:
    call = MarginCall.objects.filter(pk=call_id).first()
    if call is None:
        raise NotFound(f"margin call {call_id}: no such call")
    return call


def _require(condition: bool, message: str, **extra) -> None:
    if not condition:
        raise RuleViolation(message, extra=extra)
