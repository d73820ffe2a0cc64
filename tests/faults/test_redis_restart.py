"""Redis restarted while a mark-to-market run's shards wait in its queue.

Set-up: a private redis-server without persistence (as production here), the broker and result
backend of both the process that starts the run and the worker. The run is started by a
separate Django process (`python -c`, the way a web or beat process sends it) while no worker
consumes; its chord's shard messages sit in Redis; Redis restarts and they are gone. A worker
started afterwards finds nothing to do: the run would stay "pending" for ever.

Recovery under test: beat's sweeper `lending.tasks.mtm_resume_stale_runs` (CELERY_BEAT_SCHEDULE
"lending-mtm-resume-stale"), sent here by name as beat sends it, finds the run without progress
and enqueues its unfinished shards again from the run and shard rows in PostgreSQL; the worker
completes the run: calls equal the independent computation, none twice, ledger untouched."""

import os
import subprocess
import sys
import time

import pytest
from celery import Celery
from django.db import connection

from lending.instruments import services as instruments_services
from lending.models import MarginCall, MtmRun, MtmShard
from lending.mtm import services as mtm
from tests.faults.conftest import (
    ROOT,
    assert_ledger_intact,
    duplicate_notices,
    ledger_state,
    report,
    wait_for,
)
from tests.lending.mtm_fixtures import expected_calls

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SWEEPER = "lending.tasks.mtm_resume_stale_runs"


@pytest.fixture
def quiet_book(request, monkeypatch):
    """mtm_book without price hooks (they would enqueue revaluations on the shared Redis)."""
    monkeypatch.setattr(instruments_services, "PRICE_HOOKS", [])
    return request.getfixturevalue("mtm_book")


def _env(redis_url_db0: str, redis_url_db1: str, queue: str) -> dict:
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url_db0,
        "CELERY_RESULT_BACKEND": redis_url_db1,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }


def start_run_elsewhere(env: dict, queue: str) -> int:
    """mtm_run_start in another Django process (its Celery app on the private Redis)."""
    code = (
        "import django; django.setup()\n"
        "from lending.mtm import services as mtm\n"
        f"run = mtm.mtm_run_start(trigger='test', shard_size=2, queue={queue!r})\n"
        "print(run.pk)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_redis_restarted_with_shards_queued_the_sweeper_completes_the_run(
    quiet_book, private_redis, workers
):
    queue = workers.queue
    env = _env(private_redis.url(0), private_redis.url(1), queue)
    expected = expected_calls(quiet_book)
    assert len(expected) == 2
    before = ledger_state()

    # given: a run whose 4 shard messages wait in Redis, no worker consuming
    run_id = start_run_elsewhere(env, queue)
    redis = private_redis.client()
    queued = redis.llen(queue)
    assert queued == 4, "the chord's shard messages should wait in the queue"
    assert MtmRun.objects.get(pk=run_id).status == "pending"

    # when: Redis restarts (nothing on disk: the messages are gone), then a worker starts
    restart_seconds = private_redis.restart()
    after_restart = private_redis.client().llen(queue)
    assert after_restart == 0
    workers(
        "redis",
        {
            "DATABASE_URL": env["DATABASE_URL"],
            "CELERY_BROKER_URL": env["CELERY_BROKER_URL"],
            "CELERY_RESULT_BACKEND": env["CELERY_RESULT_BACKEND"],
        },
    )
    time.sleep(1.0)
    assert MtmRun.objects.get(pk=run_id).status == "pending"  # nothing left to consume
    assert not MtmShard.objects.filter(run_id=run_id, attempts__gt=0).exists()
    # the run is young: a sweep with the default quiet period leaves it alone (in process:
    # nothing is stale, so nothing is sent anywhere)
    assert mtm.mtm_runs_resume_stale() == {}

    # then: beat's sweeper (sent by name, as beat does) resumes it and the run completes
    beat = Celery("fault-beat", broker=private_redis.url(0), set_as_current=False)
    try:
        t_sweep = time.monotonic()
        beat.send_task(SWEEPER, kwargs={"older_than_seconds": 0.5}, queue=queue)
    finally:
        beat.close()
    run = wait_for(
        lambda: (r := MtmRun.objects.get(pk=run_id)).status in ("succeeded", "failed") and r,
        40,
        "the resumed run",
    )
    recovery_seconds = time.monotonic() - t_sweep
    assert run.status == "succeeded", run.error
    assert run.shards_done == run.shards_total == 4
    attempts = list(
        MtmShard.objects.filter(run_id=run_id).order_by("shard").values_list("attempts", flat=True)
    )
    assert attempts == [1, 1, 1, 1]  # each shard enqueued once more, processed once
    calls = sorted(MarginCall.objects.values_list("credit_account_id", flat=True))
    assert calls == sorted(expected) and run.calls_issued == len(expected)
    assert duplicate_notices() == 0
    assert_ledger_intact(before, ledger_state())
    # a second sweep finds nothing to do
    assert mtm.mtm_runs_resume_stale(older_than_seconds=0) == {}
    report(
        f"redis-restart: {queued} shard messages queued, {after_restart} left after a "
        f"{restart_seconds:.2f}s restart; sweeper re-enqueued {run.shards_total} shards, run "
        f"succeeded {recovery_seconds:.1f}s after the sweep; calls {len(calls)} = expected "
        f"{len(expected)}; duplicate notices 0; ledger unchanged, trial balance zero"
    )
