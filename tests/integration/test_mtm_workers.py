"""Mark-to-market runs on two real Celery worker processes on Redis: the calls equal those of
account_view + margin.classify per account; a worker killed with SIGKILL mid-shard loses
nothing (acks_late; Redis restores the unacked shard after the short visibility timeout given
to these workers) and nothing is issued twice. The worker to kill pauses in each shard after
storing its snapshots (tests/support/paused_worker.py), so the kill lands mid-shard."""

import os
import signal
import uuid

import pytest
from django.db import connection

from config.celery import app
from lending.models import MarginCall, MtmRun, MtmShard
from lending.mtm import services as mtm
from tests.integration.conftest import start_worker, stop_worker, wait_until_ready
from tests.lending.mtm_fixtures import expected_calls
from tests.support import paused_worker
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def two_workers(tmp_path, monkeypatch):
    """Start two workers on one per-test queue; ``start(name, pause)`` then ``kill``/cleanup.
    With a pause, the worker is tests/support/paused_worker.py: each shard sleeps `pause`
    seconds after storing its snapshots, before its state changes."""
    queue = f"test-mtm-{uuid.uuid4().hex[:10]}"
    started = []

    def start(name: str, pause: float = 0):
        monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "4")
        log_path = tmp_path / f"{name}.log"
        paused = {"module": paused_worker.MODULE, "env": {paused_worker.PAUSE_ENV: str(pause)}}
        worker = start_worker(
            queue, connection.settings_dict["NAME"], name, log_path, **(paused if pause else {})
        )
        started.append(worker)
        wait_until_ready(worker, log_path)
        return worker

    try:
        yield queue, start
    finally:
        for worker in started:
            stop_worker(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def finished(run_id):
    run = MtmRun.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed") else None


def test_run_on_two_workers_issues_the_independently_computed_calls(mtm_book, two_workers):
    queue, start = two_workers
    w1, w2 = start("w1"), start("w2")
    expected = expected_calls(mtm_book)

    run = mtm.mtm_run_start(trigger="test", shard_size=2, queue=queue)
    run = wait_for(lambda: finished(run.pk), 90, "the run")

    assert run.status == "succeeded", run.error
    assert run.shards_done == run.shards_total == 4
    calls = sorted(MarginCall.objects.values_list("credit_account_id", flat=True))
    assert calls == sorted(expected) and run.calls_issued == len(expected) == 2
    workers = set(MtmShard.objects.filter(run=run).values_list("worker", flat=True))
    assert workers <= {w1.hostname.split("@")[0], w2.hostname.split("@")[0]} | workers
    assert all(w for w in workers)


def test_worker_killed_mid_shard_the_run_completes_on_the_other(mtm_book, two_workers):
    queue, start = two_workers
    slow = start("slow", pause=60)  # sleeps after storing snapshots, before state changes
    expected = expected_calls(mtm_book)

    run = mtm.mtm_run_start(trigger="test", shard_size=2, queue=queue)
    wait_for(
        lambda: MtmShard.objects.filter(run=run, attempts=1, done=False).exists(),
        30,
        "the slow worker to take a shard",
    )
    start("fast")
    os.kill(slow.pid, signal.SIGKILL)
    slow.process.wait(timeout=10)

    run = wait_for(lambda: finished(run.pk), 120, "the run after the kill")
    assert run.status == "succeeded", run.error
    assert run.shards_done == run.shards_total
    retried = list(MtmShard.objects.filter(run=run, attempts__gte=2))
    assert retried  # the killed shard, again
    # killed in its pause: after storing that shard's snapshots, before its state changes
    slow_log = slow.log_path.read_text()
    pauses = [f"{paused_worker.PAUSE_LOG} 60s: run {run.pk} shard {s.shard}" for s in retried]
    assert any(line in slow_log for line in pauses), slow_log
    calls = sorted(MarginCall.objects.values_list("credit_account_id", flat=True))
    assert calls == sorted(expected)  # one call per breached account, no duplicate
    assert run.calls_issued == len(expected)
