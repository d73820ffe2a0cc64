"""Thin Celery tasks: take ids, call one service. Services re-check state under a lock, so
redelivery (acks_late) is harmless."""

from celery import shared_task

from . import services

# Rendering a large book can take a while; above the default soft limit on purpose.
LIMITS = {"acks_late": True, "time_limit": 900, "soft_time_limit": 840}


@shared_task(name="reports.tasks.filing_generate", **LIMITS)
def filing_generate(filing_id: int) -> dict:
    filing = services.filing_generate(filing_id=filing_id)
    return {"filing": filing.pk, "status": filing.status, "data_sha256": filing.data_sha256}


@shared_task(name="reports.tasks.statement_generate", **LIMITS)
def statement_generate(statement_id: int) -> dict:
    statement = services.statement_generate(statement_id=statement_id)
    return {"statement": statement.pk, "status": statement.status}


@shared_task(name="reports.tasks.prepare_daily_filings", acks_late=True, time_limit=120)
def prepare_daily_filings() -> list[int]:
    return [filing.pk for filing in services.filings_prepare_daily()]


@shared_task(name="reports.tasks.prepare_monthly_statements", acks_late=True, time_limit=600)
def prepare_monthly_statements() -> int:
    return services.statements_prepare_month()
