"""Start real Celery worker processes on Redis, pointed at the test database."""

import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from tools import worker_processes
from tools.worker_processes import WorkerProcess, wait_until_ready
from tools.worker_processes import stop as stop_worker

__all__ = ["WorkerProcess", "start_worker", "stop_worker", "wait_until_ready"]


def start_worker(
    queue: str,
    database: str,
    name: str,
    log_path: Path,
    *,
    module: str = "celery",
    env: dict | None = None,
) -> WorkerProcess:
    """A worker on `queue` pointed at the PostgreSQL database `database` of this server;
    `module` and `env` as tools/worker_processes.start (tests/support/paused_worker.py)."""
    db = settings.DATABASES["default"]
    url = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{database}"
    )
    env = {"DATABASE_URL": url, **(env or {})}
    return worker_processes.start(name, queue, log_path, env, database, module=module)


@pytest.fixture
def celery_worker_process(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    worker = start_worker(queue, connection.settings_dict["NAME"], "w1", log_path)
    try:
        wait_until_ready(worker, log_path)
        yield worker
    finally:
        stop_worker(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
