"""Thin Celery tasks of the end of day (registered by reports.tasks): beat's daily start and
stale-run sweeper, and the engine's shard and finish tasks (reports.eod.services)."""

from celery import shared_task

#: shards are acknowledged late and given back if their worker is lost (reject_on_worker_lost):
#: their service calls are idempotent and all or nothing per shard
EOD_LIMITS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "time_limit": 1800,
    "soft_time_limit": 1740,
}


@shared_task(
    name="reports.tasks.eod_run_daily", acks_late=True, time_limit=120, soft_time_limit=100
)
def eod_run_daily(business_date: str | None = None) -> int:
    """Beat, after the close every day: the end of day of today (once per date)."""
    from . import services

    run = services.run_start(business_date=business_date, actor=None, reason="daily schedule")
    return run.pk


@shared_task(name="reports.tasks.eod_step_shard", **EOD_LIMITS)
def eod_step_shard(run_id: int, name: str, attempt: int, shard: int, shards: int) -> dict:
    from . import services

    return services.step_shard_run(
        run_id=run_id, name=name, attempt=attempt, shard=shard, shards=shards
    )


@shared_task(
    name="reports.tasks.eod_step_finish", acks_late=True, time_limit=300, soft_time_limit=240
)
def eod_step_finish(results, run_id: int, name: str, attempt: int) -> bool:
    from . import services

    return services.step_finish(run_id=run_id, name=name, attempt=attempt, results=results)


@shared_task(
    name="reports.tasks.eod_resume_stale", acks_late=True, time_limit=300, soft_time_limit=240
)
def eod_resume_stale() -> list[int]:
    """Beat: runs whose step shows no progress (messages lost) start that step again."""
    from . import services

    return services.runs_resume_stale()


__all__ = ["eod_resume_stale", "eod_run_daily", "eod_step_finish", "eod_step_shard"]
