"""Start real Celery worker processes on Redis, pointed at the test database."""

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    queue: str
    hostname: str
    database: str

    @property
    def pid(self) -> int:
        # the solo pool runs tasks in the main process
        return self.process.pid


def start_worker(queue: str, database: str, name: str, log_path: Path) -> WorkerProcess:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{database}"
    )
    env["DJANGO_DEBUG"] = "true"
    env["CELERY_TASK_DEFAULT_QUEUE"] = queue
    hostname = f"{name}-{queue}@%h"
    log = open(log_path, "w")  # noqa: SIM115  (kept open for the process's life)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--hostname",
            hostname,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return WorkerProcess(process=process, queue=queue, hostname=hostname, database=database)


def wait_until_ready(worker: WorkerProcess, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
        if "ready." in log_path.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after {timeout}s:\n{log_path.read_text()}")


def stop_worker(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


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
