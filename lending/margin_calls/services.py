"""The margin-call state machine: account states, calls, staged notices, escalation.

States (lending.models.MarginStateKind) and transitions, per credit account:

    normal --ratio < warning line--> warning      (warning notice; staged reminders)
    normal/warning --ratio < call line--> call    (MarginCall: amount to cure to the target,
                                                   deadline two Shanghai trading days later)
    call/overdue --ratio >= target--> normal      (call closed as cured; cured notice)
    call --deadline passed--> overdue             (calls_escalate_overdue; overdue notice)
    overdue --plan approved--> liquidation        (lending.liquidation.services)
    liquidation --executed--> normal/warning/call, or default when debt is left beyond assets
    any --no debt--> normal                       (a default stays a default until new debt)
    any --financing unpaid after its due date--> overdue  (a call of source "maturity", issued
                                                   overdue; not cured by the ratio, only by
                                                   repaying it: lending.margin_calls.maturity)

While a call is unfinished (open or overdue) a ratio between the call line and the target
leaves it as it is (margin.classify(in_call=True)): only the target cures it.

Applying valuations: `margin_states_apply_many` is the one implementation, set-based (a few
statements per chunk of accounts, whatever their number: the mark-to-market applies hundreds of
state changes per shard); `margin_state_apply` is its batch of one. It decides from the stored
state, so applying the same valuation twice changes nothing and creates nothing; a valuation
older than the last one applied is ignored (stale). PostgreSQL backs this up: one unfinished
call per account and one notice per (call, kind, stage, channel) / (account, warning episode,
kind, stage, channel).

Notices are written in the transaction (portal and e-mail rows); the e-mail rows are the outbox:
after commit a Celery task sends them (`notices_deliver`: one mail connection, one transaction)
through Django's mail backend, beat's sweeper (`notices_deliver_pending`) sends those the task
did not, and the result is recorded on the notice (sent at, delivered, error). A portal notice
is delivered when written; the investor's acknowledgement in the portal is the proof it was read.

Locks: every service here first locks the investors and credit accounts it changes through
lending.credit.locks (`lock_in_order` for many accounts, `credit_account_lock` for one; the desk's
lock order is written down there), then its margin rows.

Configuration: settings.LENDING_MARGIN_CALLS (a dict) overrides `DEFAULT_CONFIG` key by key.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.bulk import rows_create_with_history, rows_update, rows_update_with_history
from accounts.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from accounts.precision import RATIO
from compliance import calendar
from lending.credit import selectors as credit_selectors
from lending.credit.locks import lock_in_order
from lending.credit.models import CreditAccount, CreditContract
from lending.domain import margin
from lending.financing.valuation import account_view
from lending.margin_calls.models import (
    UNFINISHED_CALL_STATUSES,
    AccountMarginState,
    MarginCall,
    MarginCallStatus,
    MarginEvent,
    MarginStateKind,
    Notice,
    NoticeChannel,
    NoticeKind,
)

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


#: MarginCall.source of a call issued because a financing is overdue at maturity
MATURITY_SOURCE = "maturity"


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
    problem: str = ""  # why no call could be issued (deadline_pending: beyond the calendar)

    @property
    def changed(self) -> bool:
        return bool(self.events)


def _aware(value: datetime | None, name: str) -> datetime:
    if value is None:
        return timezone.now()
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationFailed(
            _("%(field)s: an aware datetime is required") % {"field": name}, extra={"field": name}
        )
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


def lines_for_many(credit_account_ids, *, on: date) -> dict[int, margin.MarginLines]:
    """The lines of each account: its active contract's (one statement), else those of the
    parameter table in force on `on` (lending.credit.selectors.lines_in_force, read once for
    all such accounts; a missing parameter raises)."""
    ids = list(credit_account_ids)
    if not ids:
        return {}
    rows = (
        CreditContract.objects.filter(credit_account_id__in=ids, status="active")
        .order_by("credit_account_id", "-signed_on", "-pk")
        .distinct("credit_account_id")
        .values_list("credit_account_id", "warning_line", "call_line", "target_line",
                     "withdrawal_line")
    )  # fmt: skip
    lines = {
        pk: margin.MarginLines(warning=w, call=c, target=t, withdrawal=wd)
        for pk, w, c, t, wd in rows
    }
    if len(lines) < len(set(ids)):
        in_force = credit_selectors.lines_in_force(on)
        lines.update({pk: in_force for pk in ids if pk not in lines})
    return lines


def lines_for(credit_account: CreditAccount, *, on: date) -> margin.MarginLines:
    """The lines of the account's active contract, else those in force on `on`."""
    return lines_for_many([credit_account.pk], on=on)[credit_account.pk]


def call_deadline(issued_at: datetime) -> datetime:
    """Close of the session N Shanghai trading days after the (Shanghai) day of issue.
    Raises compliance.calendar.CalendarExhausted beyond the known calendar: never a guess."""
    cfg = config()
    day = calendar.add_trading_days(
        issued_at.astimezone(SHANGHAI).date(), cfg["deadline_trading_days"]
    )
    return datetime.combine(day, cfg["deadline_time"], tzinfo=SHANGHAI)


def _state_rows(accounts: dict[int, CreditAccount], at: datetime) -> dict[int, AccountMarginState]:
    """The accounts' margin state rows (one read), created (normal, with history) when missing."""
    rows = {
        row.credit_account_id: row
        for row in AccountMarginState.objects.filter(credit_account_id__in=list(accounts))
    }
    missing = []
    for pk, account in accounts.items():
        if pk not in rows:
            row = AccountMarginState(credit_account=account, state=MarginStateKind.NORMAL, since=at)
            stamp(row, actor=None, reason="margin state created")
            missing.append(row)
    for row in rows_create_with_history(missing):
        rows[row.credit_account_id] = row
    for pk, row in rows.items():
        row.credit_account = accounts[pk]
    return rows


def _state_row(account: CreditAccount, at: datetime) -> AccountMarginState:
    return _state_rows({account.pk: account}, at)[account.pk]


def event_build(
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
    """A margin event, not yet saved (event_record saves one; the batch saves many)."""
    return MarginEvent(
        credit_account=account,
        call=call,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        ratio=None if ratio is None else ratio.quantize(RATIO.quantum),
        occurred_at=at,
        actor=actor if getattr(actor, "pk", None) else None,
        source=source[:40],
        reason=reason,
        data=data or {},
    )


def event_record(**kwargs) -> MarginEvent:
    """Record one margin event (the arguments of event_build)."""
    event = event_build(**kwargs)
    event.save()
    return event


def state_change(row: AccountMarginState, new_state: str, *, at: datetime, actor, reason: str):
    """Move the row to `new_state` in memory and stamp it (the caller saves it and records the
    state_changed event): a warning starts a new warning episode."""
    old = row.state
    row.state = new_state
    row.since = at
    if new_state == MarginStateKind.WARNING:
        row.warning_episode += 1
    stamp(row, actor=actor, reason=f"{old} -> {new_state}: {reason}")


def state_set(
    row: AccountMarginState,
    new_state: str,
    *,
    at: datetime,
    actor,
    source: str,
    reason: str,
    call: MarginCall | None = None,
) -> None:
    """Move the account to `new_state` (no-op when already there), with history, event and,
    entering warning, the warning notice."""
    old = row.state
    if old == new_state:
        return
    state_change(row, new_state, at=at, actor=actor, reason=reason)
    row.save()
    event_record(
        account=row.credit_account, kind="state_changed", at=at, actor=actor, source=source,
        reason=reason, call=call, from_state=old, to_state=new_state, ratio=row.last_ratio,
    )  # fmt: skip
    if new_state == MarginStateKind.WARNING:
        notice_send(
            account=row.credit_account,
            kind=NoticeKind.WARNING,
            warning_episode=row.warning_episode,
            at=at,
            context={"ratio": row.last_ratio},
        )


# --------------------------------------------------------------------------- notices


def _message(kind: str, stage: int, account: CreditAccount, call, ctx: dict) -> tuple[str, str]:
    lines = ctx.get("lines")  # set by notices_build for a notice without a call
    ratio = pct(ctx.get("ratio"))
    if kind == NoticeKind.MATURITY or (
        kind == NoticeKind.LIQUIDATION and call is not None and call.source == MATURITY_SOURCE
    ):
        from lending.margin_calls.maturity import maturity_message

        return maturity_message(kind, stage, account, call, ctx)
    if kind == NoticeKind.RIGHTS:
        from lending.margin_calls.rights import rights_message

        return rights_message(stage, account, ctx)
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


def _bilingual_message(
    kind: str, stage: int, account, call, ctx: dict
) -> tuple[str, str, dict[str, dict[str, str]]]:
    """A notice is a record sent to the investor: it is written in every language of the site,
    whatever language the worker or the request runs in, so the same event always gives the
    same text. Returns the e-mail's subject and body (every language, Simplified Chinese first:
    the mail goes out before anyone knows who reads it) and each language's own version
    ({language code: {"subject", "body"}}), which the portal shows in the reader's language."""
    versions = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            subject, body = _message(kind, stage, account, call, ctx)
            versions[code] = {"subject": str(subject), "body": str(body)}
    subject = " / ".join(dict.fromkeys(v["subject"] for v in versions.values()))
    if len(subject) > Notice._meta.get_field("subject").max_length:
        subject = next(iter(versions.values()))["subject"]
    body = "\n\n".join(dict.fromkeys(v["body"] for v in versions.values()))
    return subject, body, versions


def notices_build(
    *,
    account: CreditAccount,
    kind: str,
    stage: int = 0,
    call: MarginCall | None = None,
    warning_episode: int | None = None,
    at: datetime,
    context: dict | None = None,
    financing=None,
    entitlement=None,
    short_position=None,
) -> list[Notice]:
    """The portal and e-mail notices of one event, not yet saved (see notices_save)."""
    ctx = dict(context or {})
    if ctx.get("lines") is None and call is None and entitlement is None:
        ctx["lines"] = lines_for(account, on=timezone.localdate(at))
    subject, body, texts = _bilingual_message(kind, stage, account, call, ctx)
    notices = []
    for channel in (NoticeChannel.PORTAL, NoticeChannel.EMAIL):
        portal = channel == NoticeChannel.PORTAL
        notice = Notice(
            credit_account=account,
            call=call,
            warning_episode=warning_episode if call is None else None,
            financing=financing,
            entitlement=entitlement,
            short_position=short_position,
            kind=kind,
            stage=stage,
            channel=channel,
            recipient="" if portal else account.investor.user.email,
            subject=subject,
            body=body,
            texts=texts,
            created_at=at,
            sent_at=at if portal else None,
            delivered=True if portal else None,
        )
        stamp(notice, actor=None, reason=f"{kind} notice")
        notices.append(notice)
    return notices


def _notice_key(notice: Notice) -> tuple:
    if notice.call is not None:
        return ("call", notice.call.pk, notice.kind, notice.stage, notice.channel)
    return ("account", notice.credit_account_id, notice.warning_episode, notice.financing_id,
            notice.entitlement_id, notice.short_position_id, notice.kind, notice.stage,
            notice.channel)  # fmt: skip


def notices_save(notices: list[Notice]) -> list[Notice]:
    """Save the notices not written already (same call or warning episode, kind, stage,
    channel: one existence read for all), with their history rows. The notice rows are the
    e-mail outbox: once the transaction commits a Celery task sends the new e-mails
    (`notices_deliver`), and beat's sweeper (`notices_deliver_pending`) sends any that task did
    not (broker down, worker lost), so no margin process waits for a mail server. The caller
    holds the accounts' locks, as every writer of notices does, so the check cannot race
    (PostgreSQL's unique constraints back it up). Returns those saved."""
    if not notices:
        return []
    call_ids = {n.call.pk for n in notices if n.call is not None}
    account_ids = {n.credit_account_id for n in notices if n.call is None}
    existing = Notice.objects.filter(
        Q(call_id__in=call_ids) | Q(call__isnull=True, credit_account_id__in=account_ids)
    ).only(
        "call_id", "credit_account_id", "warning_episode", "financing_id", "entitlement_id",
        "short_position_id", "kind", "stage", "channel",
    )  # fmt: skip
    seen = {_notice_key(n) for n in existing}
    fresh = []
    for notice in notices:
        key = _notice_key(notice)
        if key not in seen:
            seen.add(key)
            fresh.append(notice)
    if not fresh:
        return []
    rows_create_with_history(fresh)
    emails = [n.pk for n in fresh if n.channel == NoticeChannel.EMAIL]
    if emails:
        transaction.on_commit(lambda: _deliver_soon(emails))
    return fresh


def _deliver_soon(notice_ids: list[int]) -> None:
    from lending.margin_calls import tasks

    try:
        tasks.notices_deliver.delay(notice_ids)
    except Exception:  # the broker is down: the sweeper sends them
        log.warning("e-mail notices %s left to the sweeper: enqueue failed", notice_ids)


#: The sweeper sends e-mail notices never attempted that are older than this (seconds): the
#: task enqueued at commit normally sends them within a second.
PENDING_AFTER_SECONDS = 30


def notices_deliver_pending(
    *, older_than_seconds: float = PENDING_AFTER_SECONDS, limit: int = 1000
) -> list[Notice]:
    """Beat's outbox sweeper: send the e-mail notices never attempted (no sent_at) created
    more than ``older_than_seconds`` ago, oldest first, at most ``limit``."""
    cutoff = timezone.now() - timezone.timedelta(seconds=float(older_than_seconds))
    pending = list(
        Notice.objects.filter(
            channel=NoticeChannel.EMAIL, sent_at__isnull=True, created_at__lte=cutoff
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return notices_deliver(pending) if pending else []


def notice_send(**event) -> list[int]:
    """Write one event's notice on the portal and by e-mail (sent after commit), unless it exists
    already (same call or warning episode, kind, stage, channel); the arguments of
    notices_build. Returns the pks of the notices written."""
    return [n.pk for n in notices_save(notices_build(**event))]


def notices_deliver(notice_ids: list[int]) -> list[Notice]:
    """Send e-mail notices through the configured backend (one connection) and record each
    result (delivered, or the error), in one transaction with their history rows. A notice
    already delivered, or not an e-mail, is left alone. Returns the notices attempted."""
    with transaction.atomic():
        notices = list(
            Notice.objects.select_for_update()
            .filter(pk__in=list(notice_ids), channel=NoticeChannel.EMAIL)
            .exclude(delivered=True)
            .order_by("pk")
        )
        if not notices:
            return []
        mailer = get_connection(fail_silently=False)
        for notice in notices:
            message = EmailMessage(notice.subject, notice.body, settings.DEFAULT_FROM_EMAIL,
                                   [notice.recipient], connection=mailer)  # fmt: skip
            try:
                sent = message.send(fail_silently=False)
                notice.delivered, notice.delivery_error = bool(sent), ""
            except Exception as exc:
                log.warning("notice %s: e-mail delivery failed: %s", notice.pk, exc)
                notice.delivered = False
                notice.delivery_error = f"{type(exc).__name__}: {exc}"[:2000]
            notice.sent_at = timezone.now()
            stamp(notice, actor=None, reason="e-mail delivery")
        with contextlib.suppress(Exception):
            mailer.close()
        rows_update_with_history(notices, ["delivered", "delivery_error", "sent_at"])
    return notices


def notice_deliver(*, notice_id: int) -> Notice:
    """Send one e-mail notice and record the result (notices_deliver of one)."""
    delivered = notices_deliver([notice_id])
    return delivered[0] if delivered else Notice.objects.get(pk=notice_id)


def notice_acknowledge(*, notice: Notice, actor) -> Notice:
    """The investor confirms reading the notice in the portal (proof of delivery)."""
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update().select_related("credit_account").get(pk=notice.pk)
        )
        owner = notice.credit_account.investor.user_id
        if actor is None or actor.pk != owner:
            raise PermissionDenied(
                _("notice: only the investor it was sent to can acknowledge it"),
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
                financing=notice.financing_id,
                entitlement=notice.entitlement_id,
                kind=notice.kind,
                stage=notice.stage,
                acknowledged_at__isnull=True,
            ).exclude(pk=notice.pk):
                twin.acknowledged_at, twin.acknowledged_by = notice.acknowledged_at, actor
                stamp(twin, actor=actor, reason="acknowledged in the portal")
                twin.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return notice


# --------------------------------------------------------------------------- the state machine


@dataclass(frozen=True)
class AccountValuation:
    """One account's valuation: the maintenance ratio (None = no debt) and the total assets
    and liabilities it was computed from. ``lines`` default to the active contract's."""

    credit_account_id: int
    ratio: Decimal | None
    total_assets: Decimal
    total_liabilities: Decimal
    lines: margin.MarginLines | None = None


#: Accounts applied per transaction by margin_states_apply_many (locks held that long).
APPLY_CHUNK = 500


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
    """Apply one valuation of the account to its margin state (see the module docstring): the
    batch of one of `margin_states_apply_many`.

    ``valued_at`` is the time of the prices: it stamps the transition, the call (issue time and
    deadline) and the notices, and a valuation older than the last applied one is ignored.
    Composable: a caller's transaction (liquidation) may wrap it; e-mails go out when the
    outermost transaction commits.
    """
    valuation = AccountValuation(credit_account.pk, ratio, total_assets, total_liabilities, lines)
    return margin_states_apply_many(
        valuations=[valuation], valued_at=valued_at, actor=actor, source=source or "valuation"
    )[0]


def margin_states_apply_many(
    *,
    valuations: list[AccountValuation],
    valued_at: datetime,
    actor=None,
    source: str = "mark_to_market",
    deadline_pending: bool = False,
) -> list[Transition]:
    """Apply valuations taken at one instant to many accounts' margin states, set-based.

    Accounts go in credit-account order (the lock order), `APPLY_CHUNK` per transaction: the
    chunk's investors and accounts are locked in two statements, its state rows, lines and
    unfinished calls read in one statement each, every decision made in Python
    (margin.classify), and the writes made in bulk with their history rows (calls, state
    changes, events, notices: a few statements whatever the number of accounts). An account
    refused by a rule (CalendarExhausted: no deadline can be set) is left untouched and its
    error raised after the others are applied, as the first error; a database fault
    (connection lost) is raised at once, so the caller retries the whole batch (idempotent).
    With ``deadline_pending`` (mark-to-market runs) an account below the call line whose
    deadline cannot be computed (CalendarExhausted) is not left untouched: its valuation is
    stored, it moves to "call" (event "call_deadline_pending", once) and its Transition names
    the problem; the call itself (notice, amount, deadline counted from its notice) is issued
    by the first run after the year's holidays are entered, as for any account in breach
    without an unfinished call.
    A caller screening a whole book passes only the accounts whose state may change.
    Returns one Transition per valuation, in credit-account order."""
    valued_at = _aware(valued_at, "valued_at")
    checked = sorted((_checked(v) for v in valuations), key=lambda v: v.credit_account_id)
    seen = [v.credit_account_id for v in checked]
    if len(set(seen)) != len(seen):
        raise ValidationFailed(
            _("valuations: one valuation per credit account"), extra={"field": "valuations"}
        )
    transitions: list[Transition] = []
    errors: list[Exception] = []
    for start in range(0, len(checked), APPLY_CHUNK):
        chunk = checked[start : start + APPLY_CHUNK]
        with transaction.atomic():
            batch = _Batch(valued_at=valued_at, actor=actor, source=source or "valuation",
                           deadline_pending=deadline_pending)  # fmt: skip
            transitions += batch.apply(chunk)
        errors += batch.errors
    if errors:
        for exc in errors:
            log.warning("margin state not applied: %s", exc)
        raise errors[0]
    return transitions


def _checked(v: AccountValuation) -> AccountValuation:
    assets = _decimal(v.total_assets, "total_assets")
    liabilities = _decimal(v.total_liabilities, "total_liabilities")
    ratio = _decimal(v.ratio, "ratio", allow_none=True)
    if liabilities == 0:
        ratio = None
    elif ratio is None:
        raise ValidationFailed(
            _("ratio: a ratio is required when there are liabilities"), extra={"field": "ratio"}
        )
    return AccountValuation(v.credit_account_id, ratio, assets, liabilities, v.lines)


class _Batch:
    """One chunk of margin_states_apply_many, inside its transaction: reads, decisions, then
    the writes in bulk."""

    def __init__(
        self, *, valued_at: datetime, actor, source: str, deadline_pending: bool = False
    ) -> None:
        self.at = valued_at
        self.actor = actor
        self.source = source
        self.deadline_pending = deadline_pending
        self.errors: list[Exception] = []
        self._deadline: datetime | Exception | None = None
        self.valuation_rows: list[AccountMarginState] = []  # last valuation only: no history
        self.changed_rows: list[AccountMarginState] = []  # state changed: with history
        self.new_calls: list[MarginCall] = []
        self.cured_calls: list[MarginCall] = []
        self.events: list[tuple[int, MarginEvent]] = []
        self.notices: list[tuple[int, Notice]] = []

    # ------------------------------------------------------------------ reads and decisions

    def apply(self, chunk: list[AccountValuation]) -> list[Transition]:
        ids = [v.credit_account_id for v in chunk]
        accounts = lock_in_order(credit_account_ids=ids).credit_accounts
        lines = lines_for_many(
            [v.credit_account_id for v in chunk if v.lines is None], on=timezone.localdate(self.at)
        )
        rows = _state_rows(accounts, self.at)
        calls = {
            c.credit_account_id: c
            for c in MarginCall.objects.select_for_update(of=("self",)).filter(
                credit_account_id__in=ids, status__in=UNFINISHED_CALL_STATUSES
            )
        }
        decided = [
            self._decide(
                accounts[v.credit_account_id],
                rows[v.credit_account_id],
                calls.get(v.credit_account_id),
                v,
                v.lines or lines[v.credit_account_id],
            )
            for v in chunk
        ]
        self._write()
        return [outcome() for outcome in decided]

    def _deadline_now(self) -> datetime:
        if self._deadline is None:
            try:
                self._deadline = call_deadline(self.at)
            except Exception as exc:  # CalendarExhausted: no call can be issued at this time
                self._deadline = exc
        if isinstance(self._deadline, Exception):
            raise self._deadline
        return self._deadline

    def _decide(self, account, row, call, v: AccountValuation, lines):
        """Decide one account and queue its writes; returns a callable giving its Transition
        once the writes are done (the call's pk is known then)."""
        pk, at, ratio = account.pk, self.at, v.ratio
        before = row.state
        if row.last_valued_at is not None and at < row.last_valued_at:
            return lambda: Transition(pk, before, before, ratio, stale=True)

        why = f"ratio {pct(ratio)} ({self.source})"
        new_state, issue, cure, problem = None, False, False, ""
        if call is not None:
            curable = call.status in (MarginCallStatus.OPEN, MarginCallStatus.OVERDUE)
            # a maturity call (lending.margin_calls.maturity) is not cured by the ratio: only
            # the overdue financing's repayment closes it
            curable = curable and call.source != MATURITY_SOURCE
            if curable and margin.classify(ratio, lines, in_call=True) == "cured":
                cure = True
                warn = margin.classify(ratio, lines) == margin.MarginState.WARNING
                new_state = MarginStateKind.WARNING if warn else MarginStateKind.NORMAL
        elif not (row.state == MarginStateKind.DEFAULT and ratio is None):
            # a default stays recorded until the account has debt again
            target = margin.classify(ratio, lines)
            if target == margin.MarginState.CALL:
                try:
                    deadline = self._deadline_now()
                except calendar.CalendarExhausted as exc:
                    if not self.deadline_pending:
                        self.errors.append(exc)
                        return lambda: Transition(pk, before, before, ratio)
                    # a run: the account goes to "call" with its ratio stored; the call (notice,
                    # amount, deadline) is issued by the first run after the year is entered
                    problem = f"no deadline: {exc.message}"
                    new_state = MarginStateKind.CALL
                    why = f"ratio {pct(ratio)} below the call line; call pending, {problem}"
                except Exception as exc:
                    self.errors.append(exc)
                    return lambda: Transition(pk, before, before, ratio)
                else:
                    issue, new_state = True, MarginStateKind.CALL
            elif target == margin.MarginState.WARNING:
                new_state = MarginStateKind.WARNING
            else:
                new_state = MarginStateKind.NORMAL

        stored_ratio = None if ratio is None else ratio.quantize(RATIO.quantum)
        fresh = (at, stored_ratio, v.total_assets, v.total_liabilities)
        if (row.last_valued_at, row.last_ratio, row.last_assets, row.last_liabilities) != fresh:
            row.last_valued_at, row.last_ratio, row.last_assets, row.last_liabilities = fresh
            self.valuation_rows.append(row)

        events: list[str] = []
        first_notice = len(self.notices)
        if cure:
            reason = (
                f"ratio {pct(ratio)} restored to the target {pct(lines.target)} ({self.source})"
            )
            call.status = MarginCallStatus.CURED
            call.closed_at = at
            call.reason = reason
            stamp(call, actor=self.actor, reason="cured")
            self.cured_calls.append(call)
            self._event(account, "call_cured", reason, call=call, ratio=ratio)
            self._notices(account, NoticeKind.CURED, call=call, context={"ratio": ratio})
            events.append("call_cured")
            why = reason
        elif issue:
            call = _call_build(account, ratio, v.total_assets, v.total_liabilities, lines, at,
                               deadline)  # fmt: skip
            self.new_calls.append(call)
            data = {"amount_to_cure": str(call.amount_to_cure), "deadline": deadline.isoformat()}
            self._event(account, "call_issued", why, call=call, ratio=ratio, data=data)
            events.append("call_issued")
        if new_state is not None and new_state != row.state:
            state_change(row, new_state, at=at, actor=self.actor, reason=why)
            self.changed_rows.append(row)
            self._event(account, "state_changed", why, call=call, ratio=row.last_ratio,
                        from_state=before, to_state=new_state)  # fmt: skip
            events.append("state_changed")
            if new_state == MarginStateKind.WARNING:
                self._notices(account, NoticeKind.WARNING, episode=row.warning_episode,
                              context={"ratio": row.last_ratio, "lines": lines})  # fmt: skip
        if issue:
            self._notices(account, NoticeKind.CALL, call=call)
        if problem and before != MarginStateKind.CALL:
            self._event(account, "call_deadline_pending", why, ratio=ratio,
                        data={"problem": problem})  # fmt: skip
            events.append("call_deadline_pending")
        mine = self.notices[first_notice:]
        result_call = None if cure else call

        def outcome():
            ids = tuple(n.pk for _a, n in mine if n.pk is not None)
            return Transition(pk, before, row.state, ratio, call=result_call,
                              events=tuple(events), notices=ids, problem=problem)  # fmt: skip

        return outcome

    def _event(self, account, kind, reason, *, call=None, ratio=None, data=None, **states):
        self.events.append((account.pk, event_build(
            account=account, kind=kind, at=self.at, actor=self.actor, source=self.source,
            reason=reason, call=call, ratio=ratio, data=data, **states,
        )))  # fmt: skip

    def _notices(self, account, kind, *, call=None, episode=None, context=None):
        for notice in notices_build(account=account, kind=kind, call=call, warning_episode=episode,
                                    at=self.at, context=context):  # fmt: skip
            self.notices.append((account.pk, notice))

    # ------------------------------------------------------------------ writes

    def _write(self) -> None:
        rows_create_with_history(self.new_calls)
        if self.cured_calls:
            rows_update_with_history(self.cured_calls, ["status", "closed_at", "reason"])
            _on_calls_cured(self.cured_calls, actor=self.actor, at=self.at)
        changed = {id(r) for r in self.changed_rows}
        quiet = [r for r in self.valuation_rows if id(r) not in changed]
        if quiet:  # the last valuation is a cache, not history
            rows_update(quiet, LAST_VALUATION_FIELDS)
        rows_update_with_history(
            self.changed_rows, ["state", "since", "warning_episode", *LAST_VALUATION_FIELDS]
        )
        if self.events:
            MarginEvent.objects.bulk_create([e for _pk, e in self.events])
        notices_save([n for _pk, n in self.notices])


def _call_build(account, ratio, assets, liabilities, lines, at, deadline) -> MarginCall:
    amount = margin.cure_amount(margin.Account(cash=assets, debt=liabilities), lines.target)
    call = MarginCall(
        credit_account=account,
        issued_at=at,
        ratio_at_issue=ratio.quantize(RATIO.quantum),
        assets_at_issue=assets,
        liabilities_at_issue=liabilities,
        call_line=lines.call,
        target_line=lines.target,
        amount_to_cure=amount,
        deadline=deadline,
        status=MarginCallStatus.OPEN,
        reason=f"ratio {pct(ratio)} below the call line {pct(lines.call)}",
    )
    stamp(call, actor=None, reason="call issued")
    return call


#: Run inside the transaction that cures calls, with (calls, actor, at): a higher area acts on
#: what hangs on a call (liquidation rejects the cured calls' prepared plans; it registers when
#: Django starts, lending.apps). Hooks raise to roll the cure back: they are part of it.
CALL_CURED_HOOKS: list = []


def _on_calls_cured(calls: list[MarginCall], *, actor, at: datetime) -> None:
    for hook in list(CALL_CURED_HOOKS):
        hook(calls, actor=actor, at=at)


def account_revalue(
    *, credit_account: CreditAccount, actor=None, now: datetime | None = None, source="revalue"
) -> Transition:
    """Value one account now (latest prices) and apply the valuation to its margin state."""
    now = _aware(now, "now")
    view = account_view(credit_account)
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


def calls_escalate_overdue(
    *,
    now: datetime | None = None,
    actor=None,
    shards: int = 1,
    shard: int | None = None,
) -> list[MarginCall]:
    """Mark every open call whose deadline has passed as overdue (state overdue, event,
    overdue notice), set-based: one transaction per shard of credit accounts (account id mod
    `shards`), every shard in this process unless `shard` names one
    (lending.margin_calls.escalation, docs/eod-calls.md). Running it twice changes nothing the
    second time. Returns the calls escalated, in credit-account order within each shard."""
    from lending.margin_calls import escalation

    now = _aware(now, "now")
    escalated: list[MarginCall] = []
    for k in escalation.shard_range(shard, shards):
        escalated += escalation.escalate_shard(now=now, actor=actor, shard=k, shards=shards)
    return escalated


def margin_reminders_send(
    *, now: datetime | None = None, shards: int = 1, shard: int | None = None
) -> list[int]:
    """Staged reminders: accounts still in warning get reminder 1, 2, ... (each
    `warning_reminder_hours` after the previous warning notice, at most `warning_max_reminders`
    per episode); open calls get one reminder `call_reminder_hours` after issue, before the
    deadline. Idempotent per stage (unique notices). Set-based, one transaction per shard of
    credit accounts (lending.margin_calls.escalation.reminders_shard). Returns the pks of the
    notices written."""
    from lending.margin_calls import escalation

    now = _aware(now, "now")
    sent: list[int] = []
    for k in escalation.shard_range(shard, shards):
        sent += escalation.reminders_shard(now=now, shard=k, shards=shards)
    return sent


def call_for(call_id: int) -> MarginCall:
    call = MarginCall.objects.filter(pk=call_id).first()
    if call is None:
        raise NotFound(_("margin call %(id)s: no such call") % {"id": call_id})
    return call
