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


@shared_task(name="reports.tasks.statements_generate_chunk", **LIMITS)
def statements_generate_chunk(statement_ids: list[int]) -> dict:
    """One chunk of a month's statement run (services.STATEMENT_CHUNK statements)."""
    return services.statements_generate_chunk(statement_ids=statement_ids)


@shared_task(name="reports.tasks.statement_run_dispatch", **LIMITS)
def statement_run_dispatch(run_id: int) -> int:
    """Sends the chunk tasks of a statement run's queued statements."""
    return services.statement_run_dispatch(run_id=run_id)


@shared_task(name="reports.tasks.prepare_monthly_statements", acks_late=True, time_limit=600)
def prepare_monthly_statements() -> int:
    """Last month's statement run (services.statements_prepare_month): the statements are
    inserted set-based here and rendered by chunk tasks."""
    return services.statements_prepare_month()


# the end of day's tasks (reports/eod/tasks.py), registered with this module's
from .eod.tasks import *  # noqa: E402, F403
