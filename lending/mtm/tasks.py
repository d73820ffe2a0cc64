"""Thin Celery tasks of the intraday mark-to-market (lending.mtm.services).

A full run is a chord: one `mtm_shard_process` task per shard (any worker on any machine takes
them; acks_late with prefetch 1, and reject_on_worker_lost, so a shard whose worker dies is
redelivered), then `mtm_run_finish`. The shard service is idempotent (a shard done returns its
counts; state changes are decided from the stored state under locks), so redelivery is
harmless. `mtm_run_scheduled` is beat's entry (sessions only). A price move enqueues
`mtm_revalue_instruments` for the holders of the moved instruments (PRICE_HOOKS).

Recovery (issue 10): a shard or the final step meeting a transient database fault
(mtm.TRANSIENT_DB_ERRORS: PostgreSQL restarted, a dropped connection) drops the process's
connections and retries with exponential backoff (1, 2, 4 ... 30 s, DB_RETRY), long enough to
ride out a restart or a failover. Messages the broker lost (a Redis restart empties its queues)
are replaced by beat's `mtm_resume_stale_runs` sweeper from the run and shard rows.
"""

import logging

from celery import chord, group, shared_task
from django.db import connections

from lending.instruments import services as instruments_services

log = logging.getLogger(__name__)


MTM_LIMITS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "time_limit": 600,
    "soft_time_limit": 540,
}


#: Retries after a transient database fault: delay = min(cap, base x 2^retry) seconds, so 10
#: retries cover about three minutes of PostgreSQL being away.
DB_RETRY = {"max_retries": 10, "base": 1.0, "cap": 30.0}


def _retry_after_db_fault(task, exc: Exception):
    """Drop this process's database connections (the next attempt opens fresh ones) and
    schedule the task again with backoff; past DB_RETRY["max_retries"] the error stands."""
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except Exception:  # a dead connection may refuse to close cleanly; it is gone anyway
            log.debug("closing database connection %s after a fault", conn.alias, exc_info=True)
    retries = task.request.retries
    delay = min(DB_RETRY["cap"], DB_RETRY["base"] * 2**retries)
    log.warning(
        "%s%s: database fault (%s: %s); retry %d in %.0fs",
        task.name,
        task.request.args or "",
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        retries + 1,
        delay,
    )
    return task.retry(exc=exc, countdown=delay, max_retries=DB_RETRY["max_retries"])


@shared_task(name="lending.tasks.mtm_shard_process", bind=True, **MTM_LIMITS)
def mtm_shard_process(self, run_id: int, shard: int) -> dict:
    """Value one shard of a run and apply the state changes it finds."""
    from lending.mtm import services as mtm

    try:
        return mtm.mtm_shard_process(run_id=run_id, shard=shard, worker=self.request.hostname or "")
    except mtm.TRANSIENT_DB_ERRORS as exc:
        raise _retry_after_db_fault(self, exc) from exc


@shared_task(name="lending.tasks.mtm_run_finish", bind=True, **MTM_LIMITS)
def mtm_run_finish(self, *_results, run_id: int) -> str:
    """The chord's final step: close the run (idempotent; the last shard may have done it)."""
    from lending.mtm import services as mtm

    try:
        return mtm.mtm_run_finish(run_id=run_id).status
    except mtm.TRANSIENT_DB_ERRORS as exc:
        raise _retry_after_db_fault(self, exc) from exc


@shared_task(name="lending.tasks.mtm_resume_stale_runs", **MTM_LIMITS)
def mtm_resume_stale_runs(
    older_than_seconds: float | None = None, queue: str | None = None
) -> dict[str, list[int]]:
    """Beat: enqueue again the shards of runs without progress (their messages were lost)."""
    from lending.mtm import services as mtm

    resumed = mtm.mtm_runs_resume_stale(older_than_seconds=older_than_seconds, queue=queue)
    return {str(run_id): shards for run_id, shards in resumed.items()}


@shared_task(name="lending.tasks.mtm_run_scheduled", **MTM_LIMITS)
def mtm_run_scheduled() -> int | None:
    """Beat: start a full run if a Shanghai session is open and no run is going."""
    from lending.mtm import services as mtm

    run = mtm.mtm_run_scheduled()
    return run.pk if run else None


@shared_task(name="lending.tasks.risk_mirror_verify_daily", **MTM_LIMITS)
def risk_mirror_verify_daily() -> int:
    """Beat, each trading morning: check the balance mirror against the ledger and repair it
    from the ledger; the number of breaks found (0 unless triggers were switched off)."""
    from lending.mtm import services as mtm

    return len(mtm.risk_mirror_verify(repair=True))


@shared_task(name="lending.tasks.mtm_revalue_instruments", bind=True, **MTM_LIMITS)
def mtm_revalue_instruments(self, instrument_ids: list[int]) -> int:
    """Incremental revaluation of the holders of instruments whose price moved."""
    from lending.mtm import services as mtm

    return mtm.mtm_revalue_instruments(
        instrument_ids=instrument_ids, worker=self.request.hostname or ""
    ).pk


def run_enqueue(run_id: int, shards: int, *, queue: str | None = None) -> None:
    """Send the run's chord: every shard, then the final step."""
    options = {"queue": queue} if queue else {}
    header = group(mtm_shard_process.si(run_id, i).set(**options) for i in range(shards))
    chord(header)(mtm_run_finish.s(run_id=run_id).set(**options))


def shards_enqueue(run_id: int, shards: list[int], *, queue: str | None = None) -> None:
    """Send some shards of a run again, on their own (the sweeper: the run's chord is gone;
    the last shard to finish closes the run)."""
    options = {"queue": queue} if queue else {}
    for shard in shards:
        mtm_shard_process.si(run_id, shard).apply_async(**options)


def on_prices_moved(instrument_ids: list[int]) -> None:
    """PRICE_HOOKS entry (after commit): enqueue the incremental revaluation."""
    if instrument_ids:
        mtm_revalue_instruments.delay(sorted(int(i) for i in instrument_ids))


if on_prices_moved not in instruments_services.PRICE_HOOKS:
    instruments_services.PRICE_HOOKS.append(on_prices_moved)

__all__ = [
    "mtm_resume_stale_runs",
    "mtm_revalue_instruments",
    "mtm_run_finish",
    "mtm_run_scheduled",
    "mtm_shard_process",
    "on_prices_moved",
    "risk_mirror_verify_daily",
    "run_enqueue",
    "shards_enqueue",
]
