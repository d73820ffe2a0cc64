"""The rules of beat's mark-to-market sweeper (mtm.mtm_runs_resume_stale), in process: which runs
are stale, which of their shards are sent again, which runs are closed or given up; and its
place on beat's schedule. The restart it exists for is in test_redis_restart.py."""

import pytest
from django.conf import settings
from django.utils import timezone

from lending.models import MtmRun, MtmShard
from lending.mtm import services as mtm
from lending.mtm import tasks as tasks_mtm

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SWEEPER = "lending.tasks.mtm_resume_stale_runs"
S = timezone.timedelta(seconds=1)


@pytest.fixture
def sent(monkeypatch):
    """What the sweeper enqueues, recorded instead of sent: [(run id, [shards])]."""
    out: list = []
    monkeypatch.setattr(
        tasks_mtm, "shards_enqueue", lambda run_id, shards, queue=None: out.append((run_id, shards))
    )
    return out


def test_sweeper_is_on_beats_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["lending-mtm-resume-stale"]
    assert entry["task"] == SWEEPER
    assert entry["schedule"].total_seconds() <= mtm.config()["resume_after_seconds"]
    from config.celery import app

    app.loader.import_default_modules()
    assert SWEEPER in app.tasks


def test_a_quiet_run_is_resumed_a_progressing_one_is_not(mtm_book, sent):
    run = mtm.mtm_run_create(trigger="test", shard_size=2)
    quiet = mtm.config()["resume_after_seconds"]
    t0 = run.created_at

    assert mtm.mtm_runs_resume_stale(now=t0 + (quiet - 1) * S) == {}  # young
    assert mtm.mtm_runs_resume_stale(now=t0 + (quiet + 1) * S) == {run.pk: [0, 1, 2, 3]}
    assert sent == [(run.pk, [0, 1, 2, 3])]

    # a shard that started recently is progress: the run is not stale
    MtmShard.objects.filter(run=run, shard=0).update(started_at=t0 + 200 * S, attempts=1)
    assert mtm.mtm_runs_resume_stale(now=t0 + 250 * S) == {}
    # quiet again: the unstarted shards are sent, not the one a worker may still be running
    assert mtm.mtm_runs_resume_stale(now=t0 + 400 * S) == {run.pk: [1, 2, 3]}
    # past the shard time limit the started one is dead too
    dead = mtm.config()["shard_dead_after_seconds"]
    assert mtm.mtm_runs_resume_stale(now=t0 + (200 + dead + 1) * S) == {run.pk: [0, 1, 2, 3]}


def test_a_run_with_every_shard_done_is_closed_an_old_one_given_up(mtm_book, sent):
    # every shard processed, but the closing step was lost
    done = mtm.mtm_run_create(trigger="test", shard_size=2)
    for shard in range(done.shards_total):
        mtm.mtm_shard_process(run_id=done.pk, shard=shard)
    MtmRun.objects.filter(pk=done.pk).update(status="running", shards_done=0, finished_at=None)
    old = mtm.mtm_run_create(trigger="test", shard_size=2)
    MtmRun.objects.filter(pk=old.pk).update(created_at=old.created_at - 5 * 3600 * S)

    assert mtm.mtm_runs_resume_stale(now=timezone.now() + 3600 * S) == {}
    done.refresh_from_db()
    old.refresh_from_db()
    assert (done.status, done.shards_done, done.calls_issued) == ("succeeded", 4, 2)
    assert old.status == "failed" and old.error.startswith("abandoned: no progress since")
    assert sent == []
