"""/healthz with the real services: a private Redis (so no other test's worker can answer for
ours), a real Celery worker process and a real `celery beat` process on it, PostgreSQL (the
test database), and the trading calendar. All up: 200 and every check ok. Then each part is
broken in turn and the answer is 503 naming exactly the failed checks: beat's heartbeat made
stale, the worker stopped, Redis stopped."""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from config.ops import health
from tests.binaries import need_binary
from tests.integration.conftest import start_worker, stop_worker, wait_until_ready
from tools.private_services import ROOT, PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def private_redis_broker(settings):
    need_binary("redis-server", "the health check's private Redis")
    server = PrivateRedis()
    server.start()
    settings.CELERY_BROKER_URL = server.url(0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worker(private_redis_broker, tmp_path, django_db_setup):
    from django.db import connection

    log_path = tmp_path / "worker.log"
    process = start_worker(
        f"test-healthz-{uuid.uuid4().hex[:8]}",
        connection.settings_dict["NAME"],
        "hz",
        log_path,
        env={"CELERY_BROKER_URL": private_redis_broker.url(0)},
    )
    try:
        wait_until_ready(process, log_path)
        yield process
    finally:
        stop_worker(process)


@pytest.fixture
def beat(private_redis_broker, tmp_path):
    """A real `celery beat` on the private Redis (what it sends there nobody consumes)."""
    log = (tmp_path / "beat.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "beat-schedule")],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true",
             "CELERY_BROKER_URL": private_redis_broker.url(0)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while health.beat_heartbeat_age() is None:
            assert process.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, "beat recorded no heartbeat in 30 s"
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _get(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_all_ok_then_each_broken_part_is_named(client, worker, beat, private_redis_broker):
    # given: PostgreSQL, Redis, a worker and beat all running
    status, body = _get(client)
    assert status == 200, body
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "broker", "worker", "beat", "calendar"}
    assert all(c["ok"] and c["required"] for c in body["checks"].values()), body
    assert body["checks"]["worker"]["detail"].startswith("hz-test-healthz-")
    # the worker answered the ping well inside its 1 s timeout (limit=1: no waiting for more)
    assert body["checks"]["worker"]["ms"] < 1000

    # when: beat stops and its last heartbeat is 10 minutes old (limit 180 s)
    beat.terminate()
    beat.wait(timeout=20)
    health.beat_heartbeat_record(at=time.time() - 600)
    status, body = _get(client)

    # then: 503 naming beat alone
    assert status == 503
    assert body["status"] == "fail" and body["failed"] == ["beat"]
    assert "600 s old (limit 180 s)" in body["checks"]["beat"]["detail"]

    # when: the worker stops too
    stop_worker(worker)
    status, body = _get(client)
    assert status == 503 and body["failed"] == ["worker", "beat"]
    assert body["checks"]["worker"]["detail"] == "no Celery worker answered within 1 s"

    # when: Redis stops: broker, worker and beat fail, each as an error kind, never a 500
    private_redis_broker.stop()
    status, body = _get(client)
    assert status == 503 and body["failed"] == ["broker", "worker", "beat"]
    assert body["checks"]["database"]["ok"] and body["checks"]["calendar"]["ok"]
    assert body["checks"]["broker"]["detail"] == "ConnectionError"
    # each check is bounded: the whole answer within a few seconds with Redis gone
    assert sum(c["ms"] for c in body["checks"].values()) < 5000


def test_a_check_outside_healthz_required_is_shown_but_does_not_fail(
    client, settings, private_redis_broker
):
    # no worker and no beat on this Redis; only the database and the broker are required
    settings.HEALTHZ_REQUIRED = ["database", "broker"]
    status, body = _get(client)
    assert status == 200 and body["status"] == "ok"
    assert not body["checks"]["worker"]["ok"] and not body["checks"]["worker"]["required"]
    assert body["checks"]["beat"]["detail"] == "no heartbeat from celery beat"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_healthz_reads_only(client, method, private_redis_broker):
    assert getattr(client, method)("/healthz").status_code == 405
