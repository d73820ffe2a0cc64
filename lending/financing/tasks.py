"""Thin Celery tasks of financing: daily interest and its monthly collection (beat)."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from lending.common.tasks import LIMITS


@shared_task(name="lending.tasks.interest_accrue_daily", **LIMITS)
def interest_accrue_daily(business_date: str | None = None) -> int:
    """One day of ACT/360 interest on every open financing (once per contract and day), then
    one day of penalty interest on every overdue financing (once per financing and day)."""
    from lending.financing import maturity
    from lending.financing import services as financing_services

    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    posted = financing_services.interest_accrue(business_date=day)
    maturity.penalty_accrue(business_date=day)
    return posted


@shared_task(name="lending.tasks.interest_collect_monthly", **LIMITS)
def interest_collect_monthly(month: str | None = None) -> int:
    """Collect last month's accrued interest from client cash (default: the previous month)."""
    from lending.financing import services as financing_services

    if month is None:
        month = f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"
    return financing_services.interest_collect(month=month)


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
    "interest_collect_monthly",
]
