"""Thin Celery tasks of financing: daily interest and its monthly collection (beat)."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from lending.common.tasks import LIMITS


@shared_task(name="lending.tasks.interest_accrue_daily", **LIMITS)
def interest_accrue_daily(business_date: str | None = None) -> int:
    """One day of ACT/360 interest on every open financing (once per contract and day)."""
    from lending.financing import services as financing_services

    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    return financing_services.interest_accrue(business_date=day)


@shared_task(name="lending.tasks.interest_collect_monthly", **LIMITS)
def interest_collect_monthly(month: str | None = None) -> int:
    """Collect last month's accrued interest from client cash (default: the previous month)."""
    from lending.financing import services as financing_services

    if month is None:
        month = f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"
    return financing_services.interest_collect(month=month)


__all__ = [
    "interest_accrue_daily",
    "interest_collect_monthly",
]
