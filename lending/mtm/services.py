"""Intraday mark-to-market (issue 6): runs over the whole book, sharded across Celery workers,
and incremental revaluations of the holders of an instrument whose price moved.

A run (lending.models.MtmRun) is created with its price snapshot (the latest price of every
instrument, and the time of the newest tick, which stamps every state change it applies) and
its shards (ranges of credit-account pks, `shard_size` accounts each). Each shard
(`mtm_shard_process`, one Celery task of the run's chord, any worker on any machine):

1. loads its accounts in bulk (lending.mtm.book_arrays.load_book: a few statements returning binary
   arrays, the balances from their mirror lending.RiskBalance, the short side (shares owed,
   restricted proceeds, lending fees owed) from the ledger, at the run's snapshot prices) and
   values them with the vectorised lending.domain.margin functions (a short liability at
   market value: a rising price lowers the ratio, and a short account below the call line is
   called like a long one);
2. stores the figures of its accounts as one MtmSnapshot row, an array per figure (binary COPY;
   a redelivered shard first deletes its earlier row in the same transaction, and (run, shard)
   is unique);
3. sends to the margin-call state machine (lending.margin_calls.services.margin_states_apply_many,
   deadline_pending: an account below the call line whose deadline cannot be computed, beyond
   the known exchange calendar, is stored in "call" with its ratio, counted in the shard's and
   the run's `deadline_problems` with the reason in `problems`, and the run still succeeds; the
   staff dashboard shows it)
   only the accounts whose state may change: below the call line without an unfinished call,
   cured (unfinished call and ratio ≥ target), in warning but stored otherwise, back to normal
   but stored otherwise. The healthy accounts whose state stays normal never reach a per-account
   service;
4. marks itself done once (conditional UPDATE) and bumps the run's progress; the last shard
   (or the chord's final step, whichever comes first) finishes the run.

Idempotency: margin_state_apply decides from the stored state and PostgreSQL allows one
unfinished call per account and one notice per call/kind/stage/channel, so a redelivered shard
or a second run on the same snapshot issues nothing twice; a shard already done returns its
counts without work. Counts of calls and cures come from the MarginEvent rows the run caused
(source "mtm:<run id>"), so they are right after a crash and a redelivery too.

One worker per shard at a time: a shard is processed under PostgreSQL's session advisory lock
(run id, shard); a second copy of its message (the sweeper re-sending a shard a slow worker
still holds) finds the lock held and leaves the shard to its holder. A dead worker's connection
goes with it, and so does the lock.

Recovery (issue 10): the run and shard rows in PostgreSQL are the source of truth, the broker
only carries work. A transient database fault (PostgreSQL restarted or failed over, a dropped
connection: TRANSIENT_DB_ERRORS) is never recorded as the run's error: it propagates, and the
shard task retries the whole shard with backoff (lending.mtm.tasks). Messages the broker lost
(Redis keeps nothing on disk, so a restart drops the queue) are replaced by beat's sweeper,
`mtm_runs_resume_stale`: a run without progress for `resume_after_seconds` has its unstarted
shards (and those started longer ago than `shard_dead_after_seconds`) enqueued again; a run
whose shards are all done but which was never closed is closed; one older than
`resume_max_age_seconds` is marked failed instead of resumed.

Configuration: settings.LENDING_MTM (dict) overrides DEFAULT_CONFIG key by key.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from datetime import datetime
from datetime import time as dtime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Sum
from django.utils import timezone

from accounts.errors import (
    TRANSIENT_DB_ERRORS,
    NotFound,
    RuleViolation,
)
from accounts.permissions import require_permission
from compliance import calendar
from lending.domain import margin
from lending.instruments.models import LatestPrice
from lending.margin_calls.models import MarginEvent
from lending.margin_calls.services import AccountValuation, margin_states_apply_many
from lending.mtm import book_arrays, pg_arrays
from lending.mtm.models import MtmRun, MtmRunKind, MtmRunStatus, MtmShard

log = logging.getLogger(__name__)


SHANGHAI = ZoneInfo("Asia/Shanghai")


RUN_PERM = "lending.run_mtmrun"


DEFAULT_CONFIG = {
    "shard_size": 50_000,
    # Shanghai continuous-trading sessions (local time) during which beat starts runs.
    "sessions": ((dtime(9, 30), dtime(11, 30)), (dtime(13, 0), dtime(15, 0))),
    # A full run still pending/running after this many seconds no longer blocks a new one.
    "stale_after_seconds": 600,
    # The sweeper (mtm_runs_resume_stale) resumes a run without progress for this long ...
    "resume_after_seconds": 120,
    # ... re-enqueueing a shard a worker started only after the shard task's time limit
    # (tasks_mtm.MTM_LIMITS) plus a margin: before that it may still be running ...
    "shard_dead_after_seconds": 660,
    # ... and marks failed, instead of resuming, a run created longer ago than this.
    "resume_max_age_seconds": 4 * 3600,
}


def config() -> dict:
    return {**DEFAULT_CONFIG, **getattr(settings, "LENDING_MTM", {})}


# --------------------------------------------------------------------------- schedule


def in_session(now: datetime | None = None) -> bool:
    """True during a Shanghai trading session of a trading day of the desk calendar."""
    local = (now or timezone.now()).astimezone(SHANGHAI)
    try:
        if not calendar.is_trading_day(local.date()):
            return False
    except Exception:  # beyond the known calendar: refuse loudly in the log, run nothing
        log.exception("mark-to-market: the desk calendar does not know %s", local.date())
        return False
    t = local.time()
    return any(start <= t <= end for start, end in config()["sessions"])


# --------------------------------------------------------------------------- runs


def price_snapshot() -> tuple[dict[str, str], datetime | None]:
    """The latest price of every instrument and the time of the newest tick (one query)."""
    rows = list(LatestPrice.objects.values_list("instrument_id", "price", "at"))
    prices = {str(pk): str(price) for pk, price, _at in rows}
    as_of = max((at for _pk, _price, at in rows), default=None)
    return prices, as_of


def _shard_bounds(shard_size: int, instrument_ids: list[int] | None) -> list[tuple[int, int]]:
    """Pk ranges [lo, hi) of about ``shard_size`` open accounts each: the open accounts' pk span
    cut into equal widths (one aggregate over the pk index; pks are allocated in sequence, so
    the closed accounts' gaps spread evenly). An incremental run is one shard."""
    if instrument_ids is not None:
        return [(0, 2**62)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), count(*) FROM lending_creditaccount WHERE status = 'open'"
        )
        first, last, count = cursor.fetchone()
    if not count:
        return []
    shards = -(-count // shard_size)
    width = -(-(last + 1 - first) // shards)
    starts = list(range(first, last + 1, width))
    return list(zip(starts, [*starts[1:], last + 1], strict=True))


def mtm_run_create(
    *,
    actor=None,
    trigger: str = "beat",
    instrument_ids: list[int] | None = None,
    shard_size: int | None = None,
) -> MtmRun:
    """A pending run with its price snapshot and shard rows (nothing enqueued: see
    `mtm_run_start`). ``instrument_ids``: an incremental run over their holders (one shard)."""
    require_permission(actor, RUN_PERM, action="start a mark-to-market run")
    size = int(shard_size or config()["shard_size"])
    if size < 1:
        raise RuleViolation("shard_size: at least one account per shard", code="invalid")
    prices, as_of = price_snapshot()
    with transaction.atomic():
        run = MtmRun.objects.create(
            kind=MtmRunKind.INCREMENTAL if instrument_ids is not None else MtmRunKind.FULL,
            trigger=trigger,
            requested_by=actor,
            prices=prices,
            prices_as_of=as_of or timezone.now(),
            instrument_ids=sorted({int(i) for i in instrument_ids or ()}),
        )
        bounds = _shard_bounds(size, instrument_ids)
        MtmShard.objects.bulk_create(
            MtmShard(run=run, shard=i, id_from=lo, id_to=hi) for i, (lo, hi) in enumerate(bounds)
        )
        run.shards_total = len(bounds)
        run.save(update_fields=["shards_total"])
    return run


def mtm_run_start(
    *,
    actor=None,
    trigger: str = "api",
    shard_size: int | None = None,
    queue: str | None = None,
) -> MtmRun:
    """Create a full run and enqueue its chord (shards, then the final step) after commit."""
    from lending.mtm import tasks as tasks_mtm

    run = mtm_run_create(actor=actor, trigger=trigger, shard_size=shard_size)
    if run.shards_total == 0:
        _finish(run.pk)
        run.refresh_from_db()
        return run
    transaction.on_commit(
        lambda: tasks_mtm.run_enqueue(run.pk, run.shards_total, queue=queue), robust=False
    )
    return run


def mtm_run_scheduled(*, now: datetime | None = None, queue: str | None = None) -> MtmRun | None:
    """Beat's entry: start a full run during a session, unless one is still going."""
    now = now or timezone.now()
    if not in_session(now):
        return None
    stale = now - timezone.timedelta(seconds=config()["stale_after_seconds"])
    going = MtmRun.objects.filter(
        kind=MtmRunKind.FULL,
        status__in=(MtmRunStatus.PENDING, MtmRunStatus.RUNNING),
        created_at__gte=stale,
    )
    if going.exists():
        return None
    return mtm_run_start(trigger="beat", queue=queue)


def run_for(run_id: int) -> MtmRun:
    try:
        return MtmRun.objects.get(pk=run_id)
    except MtmRun.DoesNotExist as exc:
        raise NotFound(f"mark-to-market run {run_id} not found") from exc


# --------------------------------------------------------------------------- snapshots


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


_COPY_TRAILER = struct.pack(">h", -1)


def _snapshot_copy_bytes(run_id, shard, columns: list[tuple[np.ndarray, type]]) -> bytes:
    """One MtmSnapshot row (run, shard, then one array per figure) as PostgreSQL binary COPY
    data, the arrays built by numpy (lending.mtm.pg_arrays.encode: no Python loop per account)."""
    fields = [struct.pack(">iq", 8, run_id), struct.pack(">ii", 4, shard)]
    for values, kind in columns:
        data = pg_arrays.encode(values, kind)
        fields.append(struct.pack(">i", len(data)) + data)
    row = struct.pack(">h", len(fields)) + b"".join(fields)
    return _COPY_HEADER + row + _COPY_TRAILER


def _snapshots_store(run_id: int, shard: int, loaded, valuation, codes) -> None:
    """The shard's figures as its one snapshot row (a redelivered shard replaces its row)."""
    data = _snapshot_copy_bytes(
        run_id,
        shard,
        [
            (loaded.credit_account_ids, np.int64),
            (valuation.ratio, np.float64),  # +inf: no debt
            (valuation.assets, np.float64),
            (valuation.liabilities, np.float64),
            (codes, np.int16),
            (loaded.stored_state, np.int16),
        ],
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM lending_mtmsnapshot WHERE run_id = %s AND shard = %s", [run_id, shard]
            )
        raw = connection.connection
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY lending_mtmsnapshot (run_id, shard, accounts, ratios, assets, liabilities, "
                "states, stored_states) FROM STDIN (FORMAT binary)"
            ) as copy,
        ):
            copy.write(data)


# --------------------------------------------------------------------------- screening


def candidates(loaded, ratios: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Indexes of the accounts whose stored state may change (see the module docstring)."""
    stored = loaded.stored_state
    S = book_arrays.STORED_STATE_CODE
    in_call = loaded.in_call
    no_debt = np.isinf(ratios)
    cured = in_call & (codes == margin.STATE_CURED)
    breach = ~in_call & (codes == margin.STATE_CALL)
    warn = ~in_call & (codes == margin.STATE_WARNING) & (stored != S["warning"])
    back = (
        ~in_call
        & (codes == margin.STATE_NORMAL)
        & (stored != S["normal"])
        & ~((stored == S["default"]) & no_debt)  # a default stays recorded without debt
    )
    return np.flatnonzero(cured | breach | warn | back)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.0001"))


def valuations_for(loaded, valuation, index: np.ndarray) -> list[AccountValuation]:
    """Decimal figures for the state machine (ledger precision, 4 places)."""
    out = []
    for i in index.tolist():
        assets = _decimal(valuation.assets[i])
        liabilities = _decimal(valuation.liabilities[i])
        ratio = margin.ratio_of(assets, liabilities)
        out.append(AccountValuation(int(loaded.credit_account_ids[i]), ratio, assets, liabilities))
    return out


# --------------------------------------------------------------------------- shards


def _shard_counts(shard: MtmShard) -> dict:
    return {
        "run": shard.run_id,
        "shard": shard.shard,
        "accounts": shard.accounts,
        "warnings": shard.warnings,
        "candidates": shard.candidates,
        "done": shard.done,
    }


@contextlib.contextmanager
def _shard_lock(run_id: int, shard: int):
    """Hold PostgreSQL's session advisory lock (run id, shard) while a worker processes the
    shard: a copy of its message delivered to a second worker (the sweeper re-sending a shard a
    slow worker still holds) finds it held and leaves the shard to its holder. Yields whether
    this process holds it. The two-integer advisory lock space is the shards'. A worker that
    dies loses its connection, and PostgreSQL releases the lock with it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [run_id, shard])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [run_id, shard])
            except TRANSIENT_DB_ERRORS:
                pass  # the connection is gone, and the lock with it


def mtm_shard_process(*, run_id: int, shard: int, worker: str = "") -> dict:
    """Value one shard of a run (see the module docstring); safe to run again, and a no-op
    while another worker is processing the same shard."""
    with _shard_lock(run_id, shard) as held:
        row = MtmShard.objects.select_related("run").get(run_id=run_id, shard=shard)
        if row.done or not held:
            if not held:
                log.info("mark-to-market run %s shard %s is held by another worker", run_id, shard)
            return _shard_counts(row)
        return _shard_process(row, worker)


def _shard_process(row: MtmShard, worker: str) -> dict:
    run_id, shard = row.run_id, row.shard
    run = row.run
    now = timezone.now()
    MtmShard.objects.filter(pk=row.pk).update(
        attempts=F("attempts") + 1,
        worker=(worker or socket.gethostname())[:200],
        started_at=now,
    )
    MtmRun.objects.filter(pk=run_id, status=MtmRunStatus.PENDING).update(
        status=MtmRunStatus.RUNNING, started_at=now
    )

    t0 = time.perf_counter()
    overrides = {int(pk): Decimal(price) for pk, price in run.prices.items()}
    loaded = book_arrays.load_book(
        id_range=(row.id_from, row.id_to),
        instrument_ids=run.instrument_ids if run.kind == MtmRunKind.INCREMENTAL else None,
        price_override=overrides,
        on=timezone.localdate(run.prices_as_of),  # lines in force on the day of the prices
    )
    t1 = time.perf_counter()
    valuation = margin.value_book(loaded.book)
    codes = loaded.states(valuation.ratio)
    todo = candidates(loaded, valuation.ratio, codes)
    t2 = time.perf_counter()
    _snapshots_store(run_id, shard, loaded, valuation, codes)
    t3 = time.perf_counter()

    error = ""
    pending: list[str] = []
    if todo.size:
        try:
            transitions = margin_states_apply_many(
                valuations=valuations_for(loaded, valuation, todo),
                valued_at=run.prices_as_of,
                source=run.source,
                deadline_pending=True,
            )
            pending = [t.problem for t in transitions if t.problem]
        except TRANSIENT_DB_ERRORS:
            raise  # the database went away: the task retries the whole shard (idempotent)
        except Exception as exc:  # the others were applied; the run records the first error
            log.exception("mark-to-market run %s shard %s", run_id, shard)
            error = f"shard {shard}: {type(exc).__name__}: {exc}"
    t4 = time.perf_counter()

    with transaction.atomic():
        marked = MtmShard.objects.filter(pk=row.pk, done=False).update(
            done=True,
            accounts=loaded.n_accounts,
            warnings=int((codes == margin.STATE_WARNING).sum()),
            candidates=int(todo.size),
            load_seconds=t1 - t0,
            value_seconds=t2 - t1,
            store_seconds=t3 - t2,
            apply_seconds=t4 - t3,
            deadline_problems=len(pending),
            problems=pending[0] if pending else "",
            finished_at=timezone.now(),
        )
        if marked:
            updates = {"shards_done": F("shards_done") + 1}
            if error:
                updates["error"] = error
            MtmRun.objects.filter(pk=run_id).update(**updates)
    run.refresh_from_db(fields=["shards_done", "shards_total"])
    if run.shards_done >= run.shards_total:
        _finish(run_id)
    row.refresh_from_db()
    return _shard_counts(row)


def _finish(run_id: int) -> MtmRun:
    """Close the run once every shard is done (idempotent: a finished run is left alone)."""
    with transaction.atomic():
        run = MtmRun.objects.select_for_update().get(pk=run_id)
        if run.status in (MtmRunStatus.SUCCEEDED, MtmRunStatus.FAILED):
            return run
        shards = run.shard_rows.all()
        if shards.filter(done=False).exists():
            return run
        totals = shards.aggregate(accounts=Sum("accounts"), warnings=Sum("warnings"))
        events = MarginEvent.objects.filter(source=run.source)
        run.accounts_valued = totals["accounts"] or 0
        run.warnings = totals["warnings"] or 0
        run.calls_issued = events.filter(kind="call_issued").count()
        run.cures = events.filter(kind="call_cured").count()
        run.state_changes = events.filter(kind="state_changed").count()
        problem_shards = shards.filter(deadline_problems__gt=0).order_by("shard")
        run.deadline_problems = sum(problem_shards.values_list("deadline_problems", flat=True))
        first = problem_shards.first()
        run.problems = (
            f"{run.deadline_problems} account(s) below the call line without a call: "
            f"{first.problems}"
            if first
            else ""
        )
        run.shards_done = run.shards_total
        run.status = MtmRunStatus.FAILED if run.error else MtmRunStatus.SUCCEEDED
        run.started_at = run.started_at or timezone.now()
        run.finished_at = timezone.now()
        run.save()
        return run


def mtm_run_finish(*, run_id: int) -> MtmRun:
    """The chord's final step (also reached by the last shard): close the run."""
    return _finish(run_id)


def mtm_run_fail(*, run_id: int, error: str) -> None:
    MtmRun.objects.filter(pk=run_id).exclude(status=MtmRunStatus.SUCCEEDED).update(
        status=MtmRunStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def mtm_runs_resume_stale(
    *,
    older_than_seconds: float | None = None,
    now: datetime | None = None,
    queue: str | None = None,
) -> dict[int, list[int]]:
    """Beat's sweeper: resume the runs whose messages were lost (see the module docstring).

    A pending or running run is stale when nothing happened to it (created, a shard started or
    finished) for ``older_than_seconds`` (default: config "resume_after_seconds"). Its shards not
    done that no worker started, or started before "shard_dead_after_seconds", are enqueued
    again; shards are idempotent and a shard done returns at once, so a message that was only
    late costs nothing. Returns {run id: [shards enqueued]} of the runs resumed."""
    from lending.mtm import tasks as tasks_mtm

    cfg = config()
    now = now or timezone.now()
    quiet = cfg["resume_after_seconds"] if older_than_seconds is None else older_than_seconds
    quiet_since = now - timezone.timedelta(seconds=float(quiet))
    dead_since = now - timezone.timedelta(seconds=cfg["shard_dead_after_seconds"])
    too_old = now - timezone.timedelta(seconds=cfg["resume_max_age_seconds"])
    resumed: dict[int, list[int]] = {}
    unfinished = MtmRun.objects.filter(
        status__in=(MtmRunStatus.PENDING, MtmRunStatus.RUNNING), created_at__lt=quiet_since
    ).order_by("pk")
    for run in unfinished:
        shards = run.shard_rows.all()
        activity = shards.aggregate(started=Max("started_at"), finished=Max("finished_at"))
        last = max(t for t in (run.created_at, *activity.values()) if t is not None)
        if last >= quiet_since:
            continue  # progressing
        if run.created_at < too_old:
            log.warning("mark-to-market run %s abandoned: no progress since %s", run.pk, last)
            mtm_run_fail(run_id=run.pk, error=f"abandoned: no progress since {last.isoformat()}")
            continue
        if not shards.filter(done=False).exists():
            _finish(run.pk)  # every shard done, the closing step was lost
            continue
        todo = list(
            shards.filter(done=False)
            .exclude(started_at__gte=dead_since)  # a worker may still be running those
            .order_by("shard")
            .values_list("shard", flat=True)
        )
        if todo:
            log.warning(
                "mark-to-market run %s: no progress since %s, enqueueing shards %s again",
                run.pk,
                last,
                todo,
            )
            tasks_mtm.shards_enqueue(run.pk, todo, queue=queue)
            resumed[run.pk] = todo
    return resumed


# --------------------------------------------------------------------------- incremental


def mtm_revalue_instruments(*, instrument_ids: list[int], worker: str = "") -> MtmRun:
    """Revalue, now, the accounts holding any of ``instrument_ids`` (after a price move): an
    incremental run with one shard, processed in this call."""
    run = mtm_run_create(trigger="price", instrument_ids=list(instrument_ids))
    mtm_shard_process(run_id=run.pk, shard=0, worker=worker)
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------- balance mirror


def risk_mirror_verify(*, repair: bool = True) -> list[dict]:
    """Compare the balance mirror a run reads (lending.RiskBalance) with the ledger and, with
    ``repair``, rebuild the broken rows from the ledger in one transaction. Returns the breaks
    found (each with the mirror's amount before and the ledger's after), logged as errors: a
    break means a session wrote the ledger with its triggers switched off. Beat runs it each
    trading morning before the first run (lending.tasks.risk_mirror_verify_daily)."""
    breaks = book_arrays.mirror_breaks(limit=1000)
    if not breaks:
        return []
    for row in breaks:
        log.error(
            "balance mirror break: ledger account %s mirror %s (instrument %s) ledger %s "
            "(instrument %s)%s",
            row["ledger_account"],
            row["mirror"],
            row["mirror_instrument"],
            row["ledger"],
            row["ledger_instrument"],
            ", repairing from the ledger" if repair else "",
        )
    if repair:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT lending_riskbalance_repair()")
            repaired = cursor.fetchone()[0]
        log.error("balance mirror: %s ledger accounts repaired from the ledger", repaired)
    return breaks


def runs_recent(limit: int = 50):
    return MtmRun.objects.order_by("-pk")[:limit]


def last_valued_at() -> datetime | None:
    return MtmRun.objects.filter(status=MtmRunStatus.SUCCEEDED).aggregate(m=Max("finished_at"))["m"]
