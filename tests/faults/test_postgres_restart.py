"""PostgreSQL restarted (`pg_ctl restart -m fast`) in the middle of a mark-to-market run.

Set-up: a private cluster (tests/faults/conftest.py: initdb on a free port, `manage.py migrate`
in a subprocess). For this test only, this process's Django connection points at it
(`on_private_pg`), so the book is built by the usual fixtures and services (mtm_book) and the
expected calls are computed independently (account_view + margin.classify) on the same data. A
real Celery worker process runs against the private cluster, on the shared Redis with a
per-test queue, sleeping PAUSE seconds inside each shard (after its snapshots, before the state
changes: tests/support/paused_worker.py). While it sleeps in the first shard, the cluster
restarts: every session, the worker's too, is terminated.

Recovery under test: the shard's next statement fails with OperationalError; the shard service
lets it through (not recorded as the run's error) and the task retries the whole shard with
backoff on a new connection (lending.mtm.tasks). The run completes with exactly the calls of
the independent computation, no call or notice twice, and the ledger untouched and balanced."""

import time

import pytest
from django.utils import timezone

from lending.instruments import services as instruments_services
from lending.models import MarginCall, MtmRun, MtmShard, Notice
from lending.mtm import services as mtm
from tests.faults.conftest import (
    assert_ledger_intact,
    duplicate_notices,
    ledger_state,
    report,
    wait_for,
)
from tests.lending.mtm_fixtures import expected_calls
from tests.support import paused_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAUSE = 2.0  # seconds each shard sleeps between its snapshots and its state changes


@pytest.fixture
def private_book(on_private_pg, request, monkeypatch):
    """mtm_book, built on the private cluster. Price hooks are off while it is built: the
    revaluations they enqueue would go to the shared Redis's default queue."""
    monkeypatch.setattr(instruments_services, "PRICE_HOOKS", [])
    return request.getfixturevalue("mtm_book")


def finished(run_id):
    run = MtmRun.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed") else None


def test_postgres_restarted_mid_run_the_run_completes(on_private_pg, private_book, workers):
    pg = on_private_pg
    expected = expected_calls(private_book)
    assert len(expected) == 2
    before = ledger_state()
    worker = workers(
        "pg",
        {
            "DATABASE_URL": pg.url("margindesk_fault"),
            paused_worker.PAUSE_ENV: str(PAUSE),
        },
        module=paused_worker.MODULE,
    )

    # given: a run whose first shard is asleep inside the worker
    t_run = time.monotonic()
    run = mtm.mtm_run_start(trigger="test", shard_size=2, queue=workers.queue)
    assert run.shards_total == 4
    wait_for(
        lambda: MtmShard.objects.filter(run=run, attempts=1, done=False).exists(),
        30,
        "the worker to take the first shard",
    )
    time.sleep(0.3)  # well inside the shard's pause

    # when: PostgreSQL restarts under it
    restart_at = timezone.now()
    restart_seconds = pg.restart()

    # then: the run completes, every call issued once, the ledger untouched
    run = wait_for(lambda: finished(run.pk), 45, "the run after the restart")
    run_seconds = time.monotonic() - t_run
    assert run.status == "succeeded", run.error
    assert run.shards_done == run.shards_total == 4 and run.error == ""
    shards = list(MtmShard.objects.filter(run=run).order_by("shard"))
    retried = [s.shard for s in shards if s.attempts > 1]
    assert retried, "no shard met the restart: it fell outside the pause"
    log_text = worker.log_path.read_text()
    first = f"{paused_worker.PAUSE_LOG} {PAUSE:g}s: run {run.pk} shard {retried[0]}"
    assert first in log_text, "the retried shard did not pause before its state changes"
    recovered_after = max(s.finished_at for s in shards if s.attempts > 1) - restart_at
    retries_logged = log_text.count("database fault")
    assert retries_logged >= len(retried)
    calls = sorted(MarginCall.objects.values_list("credit_account_id", flat=True))
    assert calls == sorted(expected)  # one call per breached account, none twice
    assert run.calls_issued == len(expected)
    assert duplicate_notices() == 0 and Notice.objects.filter(call__isnull=False).exists()
    assert_ledger_intact(before, ledger_state())
    report(
        f"pg-restart: pg_ctl restart -m fast {restart_seconds:.2f}s mid-shard; "
        f"run of {run.shards_total} shards succeeded in {run_seconds:.1f}s "
        f"(shard pause {PAUSE:.0f}s); shards retried {len(retried)} "
        f"(attempts {[s.attempts for s in shards]}, {retries_logged} task retries logged), "
        f"retried shard done {recovered_after.total_seconds():.1f}s after the restart; "
        f"calls {len(calls)} = expected "
        f"{len(expected)}; duplicate notices 0; ledger unchanged, trial balance zero"
    )
