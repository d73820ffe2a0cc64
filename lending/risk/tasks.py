"""Thin Celery task of the risk analytics: takes the run id; the service re-checks the run's
status under a row lock, so a redelivered task leaves a finished or running run alone."""

from celery import shared_task

# A Monte Carlo run of the whole book may take minutes: a longer limit than the default.
RISK_LIMITS = {"acks_late": True, "time_limit": 900, "soft_time_limit": 840}


@shared_task(name="lending.tasks.risk_run_execute", **RISK_LIMITS)
def risk_run_execute(run_id: int) -> str:
    """Execute one stress or Monte Carlo run; returns its final status."""
    from lending.risk import services as risk

    return risk.risk_run_execute(run_id=run_id).status


__all__ = [
    "risk_run_execute",
]
