"""Real Celery worker processes for tests and benchmarks: started on their own queue, pointed
at a database by environment, waited for, stopped.

A worker runs the solo pool (the task runs in the process itself, so killing `pid` kills the
task mid-run, as the crash tests need) with `CELERY_TASK_DEFAULT_QUEUE` set to its queue.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    queue: str
    hostname: str
    database: str
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


def start(
    name: str,
    queue: str,
    log_path: Path,
    env: dict,
    database: str = "",
    *,
    module: str = "celery",
) -> WorkerProcess:
    """A worker named `name` on `queue`, with `env` over this process's environment
    (DATABASE_URL, CELERY_BROKER_URL, ...); its output goes to `log_path`.

    `module` is run as `python -m module` with celery's arguments: `celery` itself, or for
    tests only a module that prepares the process and then runs celery's main (such as
    tests/support/paused_worker.py, whose shards pause mid-shard)."""
    full = {**os.environ, "DJANGO_DEBUG": "true", "CELERY_TASK_DEFAULT_QUEUE": queue, **env}
    hostname = f"{name}-{queue}@%h"
    log = open(log_path, "w")  # noqa: SIM115  (kept open for the process's life)
    process = subprocess.Popen(  # noqa: S603  (our own command line)
        [sys.executable, "-m", module, "-A", "config", "worker", "--pool", "solo",
         "--queues", queue, "--hostname", hostname, "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return WorkerProcess(process, queue, hostname, database, log_path)


def wait_until_ready(worker: WorkerProcess, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
        if "ready." in log_path.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after {timeout}s:\n{log_path.read_text()}")


def stop(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
