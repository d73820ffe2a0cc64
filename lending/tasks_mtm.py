"""Thin Celery tasks of the intraday mark-to-market (lending.services.mtm).

A full run is a chord: one `mtm_shard_process` task per shard (any worker on any machine takes
them; acks_late with prefetch 1, and reject_on_worker_lost, so a shard whose worker dies is
redelivered), then `mtm_run_finish`. The shard service is idempotent (a shard done returns its
counts; state changes are decided from the stored state under locks), so redelivery is
harmless. `mtm_run_scheduled` is beat's entry (sessions only). A price move enqueues
`mtm_revalue_instruments` for the holders of the moved instruments (PRICE_HOOKS).
"""

from celery import chord, group, shared_task

from .services import book as book_services

__all__ = [
    "mtm_revalue_instruments",
    "mtm_run_finish",
    "mtm_run_scheduled",
    "mtm_shard_process",
    "on_prices_moved",
    "run_enqueue",
]

MTM_LIMITS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "time_limit": 600,
    "soft_time_limit": 540,
}


@shared_task(name="lending.tasks.mtm_shard_process", bind=True, **MTM_LIMITS)
def mtm_shard_process(self, run_id: int, shard: int) -> dict:
    """Value one shard of a run and apply the state changes it finds."""
    from .services import mtm

    return mtm.mtm_shard_process(run_id=run_id, shard=shard, worker=self.request.hostname or "")


@shared_task(name="lending.tasks.mtm_run_finish", **MTM_LIMITS)
def mtm_run_finish(*_results, run_id: int) -> str:
    """The chord's final step: close the run (idempotent; the last shard may have done it)."""
    from .services import mtm

    return mtm.mtm_run_finish(run_id=run_id).status


@shared_task(name="lending.tasks.mtm_run_scheduled", **MTM_LIMITS)
def mtm_run_scheduled() -> int | None:
    """Beat: start a full run if a Shanghai session is open and no run is going."""
    from .services import mtm

    run = mtm.mtm_run_scheduled()
    return run.pk if run else None


@shared_task(name="lending.tasks.mtm_revalue_instruments", bind=True, **MTM_LIMITS)
def mtm_revalue_instruments(self, instrument_ids: list[int]) -> int:
    """Incremental revaluation of the holders of instruments whose price moved."""
    from .services import mtm

    return mtm.mtm_revalue_instruments(
        instrument_ids=instrument_ids, worker=self.request.hostname or ""
    ).pk


def run_enqueue(run_id: int, shards: int, *, queue: str | None = None) -> None:
    """Send the run's chord: every shard, then the final step."""
    options = {"queue": queue} if queue else {}
    header = group(mtm_shard_process.si(run_id, i).set(**options) for i in range(shards))
    chord(header)(mtm_run_finish.s(run_id=run_id).set(**options))


def on_prices_moved(instrument_ids: list[int]) -> None:
    """PRICE_HOOKS entry (after commit): enqueue the incremental revaluation."""
    if instrument_ids:
        mtm_revalue_instruments.delay(sorted(int(i) for i in instrument_ids))


if on_prices_moved not in book_services.PRICE_HOOKS:
    book_services.PRICE_HOOKS.append(on_prices_moved)
