"""Custody's Celery tasks (beat): the daily internal reconciliation after the close, which
computes the day's client-money requirement (15c3-3 model) and compares the segregated funds
with it; a difference is a break due by the end of the day, shown on the treasury console."""

from datetime import date

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task(name="custody.tasks.reconciliation_internal_daily", acks_late=True, time_limit=600)
def reconciliation_internal_daily(business_date: str | None = None) -> str:
    """Run the internal reconciliation of the day (the system acts: actor None) for every
    client currency the desk holds; returns each currency's status."""
    from custody import services

    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    statuses = []
    for currency in settings.CUSTODY_CLIENT_CURRENCIES:
        recon = services.reconciliation_internal_run(
            business_date=day, currency=currency, actor=None
        )
        statuses.append(f"{currency} {recon.status}")
    return ", ".join(statuses)
