"""Thin Celery tasks of lending: take ids or dates, call one service (which re-checks state
under its locks, so a redelivered task is harmless). Each area appends its own tasks."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

LIMITS = {"acks_late": True, "time_limit": 600, "soft_time_limit": 540}


# --- book -------------------------------------------------------------------------------------


@shared_task(name="lending.tasks.interest_accrue_daily", **LIMITS)
def interest_accrue_daily(business_date: str | None = None) -> int:
    """One day of ACT/360 interest on every open financing (once per contract and day)."""
    from .services import book

    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    return book.interest_accrue(business_date=day)


@shared_task(name="lending.tasks.interest_collect_monthly", **LIMITS)
def interest_collect_monthly(month: str | None = None) -> int:
    """Collect last month's accrued interest from client cash (default: the previous month)."""
    from .services import book

    if month is None:
        month = f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"
    return book.interest_collect(month=month)


# --- margin calls -----------------------------------------------------------------------------


@shared_task(name="lending.tasks.margin_calls_escalate_overdue", **LIMITS)
def margin_calls_escalate_overdue() -> list[int]:
    """Open calls past their deadline become overdue (overdue notice); ids escalated."""
    from .services import calls

    return [call.pk for call in calls.calls_escalate_overdue()]


@shared_task(name="lending.tasks.margin_reminders_send", **LIMITS)
def margin_reminders_send() -> int:
    """Staged warning reminders and open-call reminders that are due; notices written."""
    from .services import calls

    return len(calls.margin_reminders_send())


@shared_task(name="lending.tasks.margin_account_revalue", **LIMITS)
def margin_account_revalue(credit_account_id: int) -> str:
    """Value one credit account at the latest prices and apply it to its margin state."""
    from .models import CreditAccount
    from .services import calls

    account = CreditAccount.objects.get(pk=credit_account_id)
    return calls.account_revalue(credit_account=account, source="task").to_state


@shared_task(name="lending.tasks.margin_notice_deliver", **LIMITS)
def margin_notice_deliver(notice_id: int) -> bool:
    """(Re)send one e-mail notice not yet delivered; records the result on the notice."""
    from .services import calls

    return bool(calls.notice_deliver(notice_id=notice_id).delivered)


@shared_task(name="lending.tasks.notices_deliver", **LIMITS)
def notices_deliver(notice_ids: list[int]) -> int:
    """Send the e-mail notices a transaction just committed (the outbox, see
    lending.services.calls.notices_save); returns how many were delivered."""
    from .services import calls

    return sum(bool(n.delivered) for n in calls.notices_deliver(notice_ids))


@shared_task(name="lending.tasks.notices_deliver_pending", **LIMITS)
def notices_deliver_pending() -> int:
    """Beat's outbox sweeper: send e-mail notices never attempted."""
    from .services import calls

    return len(calls.notices_deliver_pending())


from .tasks_mtm import *  # noqa: F403,E402
from .tasks_risk import *  # noqa: F403,E402
