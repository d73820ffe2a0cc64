"""Thin Celery tasks of margin calls: escalation, reminders, one account's revaluation and
the notice outbox."""

from celery import shared_task

from lending.common.tasks import LIMITS


def _when(now: str | None):
    from datetime import datetime

    return datetime.fromisoformat(now) if now else None


@shared_task(name="lending.tasks.margin_calls_escalate_overdue", **LIMITS)
def margin_calls_escalate_overdue(now: str | None = None, shards: int = 1) -> list[int]:
    """Open calls past their deadline become overdue (overdue notice), every shard in this
    worker, one transaction per shard; ids escalated. `now`: an aware ISO datetime."""
    from lending.margin_calls import services as calls

    return [call.pk for call in calls.calls_escalate_overdue(now=_when(now), shards=shards)]


@shared_task(name="lending.tasks.margin_calls_escalate_shard", **LIMITS)
def margin_calls_escalate_shard(now: str, shard: int, shards: int) -> int:
    """One shard (credit account id mod shards) of the escalation; calls escalated."""
    from lending.margin_calls import services as calls

    return len(calls.calls_escalate_overdue(now=_when(now), shard=shard, shards=shards))


@shared_task(name="lending.tasks.margin_reminders_send", **LIMITS)
def margin_reminders_send(now: str | None = None, shards: int = 1) -> int:
    """Staged warning reminders and open-call reminders that are due; notices written."""
    from lending.margin_calls import services as calls

    return len(calls.margin_reminders_send(now=_when(now), shards=shards))


@shared_task(name="lending.tasks.margin_reminders_shard", **LIMITS)
def margin_reminders_shard(now: str, shard: int, shards: int) -> int:
    """One shard (credit account id mod shards) of the reminders; notices written."""
    from lending.margin_calls import services as calls

    return len(calls.margin_reminders_send(now=_when(now), shard=shard, shards=shards))


@shared_task(name="lending.tasks.maturity_process", **LIMITS)
def maturity_process(on: str | None = None, now: str | None = None, shards: int = 1) -> dict:
    """The daily maturity run (lending.margin_calls.maturity): overdue financings, their
    forced-close calls, calls closed once repaid, reminders before due dates."""
    from datetime import date

    from lending.margin_calls import maturity

    run = maturity.maturity_process(
        on=date.fromisoformat(on) if on else None, now=_when(now), shards=shards
    )
    return {
        "on": run.on.isoformat(),
        "overdue": run.overdue,
        "calls": run.calls,
        "deferred": run.deferred,
        "closed": run.closed,
        "reminders": len(run.reminders),
        "uncomputable": run.uncomputable,
    }


@shared_task(name="lending.tasks.margin_account_revalue", **LIMITS)
def margin_account_revalue(credit_account_id: int) -> str:
    """Value one credit account at the latest prices and apply it to its margin state."""
    from lending.credit.models import CreditAccount
    from lending.margin_calls import services as calls

    account = CreditAccount.objects.get(pk=credit_account_id)
    return calls.account_revalue(credit_account=account, source="task").to_state


@shared_task(name="lending.tasks.margin_notice_deliver", **LIMITS)
def margin_notice_deliver(notice_id: int) -> bool:
    """(Re)send one e-mail notice not yet delivered; records the result on the notice."""
    from lending.margin_calls import services as calls

    return bool(calls.notice_deliver(notice_id=notice_id).delivered)


@shared_task(name="lending.tasks.notices_deliver", **LIMITS)
def notices_deliver(notice_ids: list[int]) -> int:
    """Send the e-mail notices a transaction just committed (the outbox, see
    lending.margin_calls.services.notices_save); returns how many were delivered."""
    from lending.margin_calls import services as calls

    return sum(bool(n.delivered) for n in calls.notices_deliver(notice_ids))


@shared_task(name="lending.tasks.notices_deliver_pending", **LIMITS)
def notices_deliver_pending() -> int:
    """Beat's outbox sweeper: send e-mail notices never attempted."""
    from lending.margin_calls import services as calls

    return len(calls.notices_deliver_pending())


__all__ = [
    "margin_account_revalue",
    "margin_calls_escalate_overdue",
    "margin_calls_escalate_shard",
    "margin_notice_deliver",
    "margin_reminders_send",
    "margin_reminders_shard",
    "maturity_process",
    "notices_deliver",
    "notices_deliver_pending",
]
