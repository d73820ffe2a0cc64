"""Thin Celery tasks of financing: daily interest (a chord of shards per day, catching up
missed days: lending.financing.accrual) and its monthly collection (beat; a chord of shards:
lending.financing.collection)."""

import logging
from datetime import date, timedelta
from decimal import Decimal

from celery import shared_task
from django.utils import timezone

from lending.common.tasks import LIMITS

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="lending.tasks.interest_accrue_daily", **LIMITS)
def interest_accrue_daily(self, business_date: str | None = None, shards: int | None = None):
    """ACT/360 interest on every open financing (once per contract and day), then penalty
    interest on every overdue financing (once per financing and day), for every day missed
    since the last accrual up to `business_date` (default today), oldest first
    (lending.financing.accrual.days_to_accrue).

    Run by a worker (beat), it starts the chain: a chord of `shards` shard tasks for the first
    day whose callback accrues that day's penalty and starts the next day's chord; it returns
    the days queued. Called as a function (tests, a shell), it runs the same days in this
    process and returns the contracts accrued."""
    from lending.financing import accrual

    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    shards = int(shards or accrual.DEFAULT_SHARDS)
    if self.request.called_directly:
        done = accrual.interest_accrue_through(day, shards=shards, penalty=True)
        return sum(done.values())
    days = [d.isoformat() for d in accrual.days_to_accrue(day)]
    _accrual_day_start(days, shards)
    return len(days)


def _accrual_day_start(days: list[str], shards: int) -> None:
    from celery import chord

    first, rest = days[0], days[1:]
    chord(interest_accrue_shard.si(first, k, shards) for k in range(shards))(
        interest_accrue_day_done.s(first, rest, shards)
    )


@shared_task(name="lending.tasks.interest_accrue_shard", **LIMITS)
def interest_accrue_shard(business_date: str, shard: int, shards: int) -> dict:
    """One day's interest for one shard of contracts, in one transaction (all or nothing:
    redelivered after a worker is lost, it posts what the lost run did not commit)."""
    from lending.financing import accrual

    return accrual.shard_accrue(
        business_date=business_date, shard=shard, shards=shards, since_last=True
    ).as_dict()


@shared_task(name="lending.tasks.interest_accrue_day_done", **LIMITS)
def interest_accrue_day_done(results, business_date: str, rest: list[str], shards: int) -> int:
    """A day's shards are done: its penalty interest, then the next day's chord."""
    from lending.financing import maturity

    maturity.penalty_accrue(business_date=date.fromisoformat(business_date))
    if rest:
        _accrual_day_start(rest, shards)
    return sum(r["contracts"] for r in results or [])


@shared_task(bind=True, name="lending.tasks.interest_collect_monthly", **LIMITS)
def interest_collect_monthly(self, month: str | None = None, shards: int | None = None) -> int:
    """Collect a month's accrued interest from client cash (default: the previous month), set
    based (lending.financing.collection).

    Run by a worker (beat), it sends a chord of `shards` shard tasks whose callback adds up
    what they collected; it returns the shards queued. Called as a function (tests, a shell),
    it runs the same shards in this process and returns the accounts collected."""
    from lending.financing import collection

    if month is None:
        month = f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"
    month = collection.month_tag(month)
    shards = int(shards or collection.DEFAULT_SHARDS)
    if self.request.called_directly:
        return collection.interest_collect(month=month, shards=shards)
    from celery import chord

    chord(interest_collect_shard.si(month, k, shards) for k in range(shards))(
        interest_collect_done.s(month)
    )
    return shards


@shared_task(name="lending.tasks.interest_collect_shard", **LIMITS)
def interest_collect_shard(month: str, shard: int, shards: int) -> dict:
    """One month's interest collection for one shard of investors, in one transaction (all or
    nothing: redelivered after a worker is lost, it collects what the lost run did not
    commit)."""
    from lending.financing import collection

    return collection.shard_collect(month=month, shard=shard, shards=shards).as_dict()


@shared_task(name="lending.tasks.interest_collect_done", **LIMITS)
def interest_collect_done(results, month: str) -> int:
    """A month's shards are done: the accounts collected, logged."""
    accounts = sum(r["accounts"] for r in results or [])
    logger.info(
        "interest collection %s: %s accounts, %s collected",
        month,
        accounts,
        sum((Decimal(r["amount"]) for r in results or []), Decimal(0)),
    )
    return accounts


@shared_task(name="lending.tasks.corporate_actions_process_daily", **LIMITS)
def corporate_actions_process_daily(business_date: str | None = None) -> dict:
    """Corporate actions whose ex-date or pay date has come (before the call auction)."""
    from lending.financing import corporate_actions

    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    result = corporate_actions.corporate_actions_process(on=day)
    return {
        "ex_processed": result.ex_processed,
        "paid": result.paid,
        "failed": {str(k): v for k, v in result.failed.items()},
    }


__all__ = [
    "corporate_actions_process_daily",
    "interest_accrue_daily",
    "interest_accrue_day_done",
    "interest_accrue_shard",
    "interest_collect_done",
    "interest_collect_monthly",
    "interest_collect_shard",
]
