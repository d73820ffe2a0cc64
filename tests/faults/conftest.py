"""Fault tests (issue 10): private PostgreSQL and Redis instances that a test starts, breaks
and stops itself (never the machine's shared ones), Celery workers pointed at them, and the
ledger checks every fault test ends with (no posting lost or doubled, trial balance zero).

Each test prints one line starting with "FAULT" with the figures it measured (`pytest -s`);
docs/RELIABILITY.md quotes them."""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.db import InterfaceError, OperationalError, connection

from tests.binaries import need_binary
from tools import worker_processes
from tools.worker_processes import WorkerProcess, wait_until_ready
from tools.worker_processes import stop as stop_worker

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(line: str) -> None:
    """The test's one-line summary of what it measured (shown with `pytest -s`)."""
    print(f"\nFAULT {line}", flush=True)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path | None:
    configured = os.environ.get("PG_BINDIR")
    if configured:
        return Path(configured)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (trust auth, fsync off), run as the
    postgres user when the tests run as root (initdb refuses root)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="margindesk-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, user="postgres")

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", self._options(),
                  "start")  # fmt: skip

    def restart(self) -> float:
        """`pg_ctl restart -m fast` (every session is terminated); returns its seconds."""
        t0 = time.monotonic()
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-m", "fast",
                  "-o", self._options(), "restart")  # fmt: skip
        return time.monotonic() - t0

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # never started, or gone
            self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def createdb(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)


@pytest.fixture
def private_pg():
    """A private PostgreSQL cluster with a migrated database "margindesk_fault" (migrated by
    `manage.py migrate` in a subprocess, as a deployment does); stopped and removed after."""
    bindir = _pg_bindir()
    for tool in ("initdb", "pg_ctl", "createdb"):
        need_binary(
            bindir / tool if bindir else tool,
            "the fault tests' private PostgreSQL cluster (set PG_BINDIR to its bin directory)",
        )
    if os.geteuid() == 0:
        need_binary("runuser", "running initdb and pg_ctl as the postgres user (tests run as root)")
    pg = PrivatePostgres(bindir)
    try:
        pg.start()
        pg.createdb("margindesk_fault")
        env = {**os.environ, "DATABASE_URL": pg.url("margindesk_fault"), "DJANGO_DEBUG": "true"}
        env.pop("DATABASE_TEST_NAME", None)
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert migrate.returncode == 0, f"migrate on the private cluster:\n{migrate.stderr}"
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def on_private_pg(private_pg, transactional_db):
    """Point this process's Django connection at the private cluster for one test, so the
    book is built by the usual fixtures and services, and the test reads what the worker
    writes. Set up after pytest-django's transactional_db and torn down before it, so the
    usual flush at the end runs on the usual test database."""
    from django.contrib.contenttypes.models import ContentType

    saved = {k: connection.settings_dict.get(k) for k in ("HOST", "PORT", "NAME")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=private_pg.port, NAME="margindesk_fault")
    ContentType.objects.clear_cache()  # ids of the other database
    try:
        yield private_pg
    finally:
        connection.close()
        connection.settings_dict.update(saved)
        ContentType.objects.clear_cache()


# --------------------------------------------------------------------------- Redis


class PrivateRedis:
    """A throwaway redis-server on a free port without persistence (as in production here:
    no RDB snapshots, no append-only file), so a restart loses every queued message."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="margindesk-redis-"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> float:
        t0 = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - t0


@pytest.fixture
def private_redis():
    need_binary("redis-server", "the fault tests' private Redis")
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


# --------------------------------------------------------------------------- workers


def start_worker_env(
    name: str, queue: str, log_path: Path, env: dict, *, module: str = "celery"
) -> WorkerProcess:
    """A Celery worker process (solo pool) on `queue` with `env` over this process's
    environment (DATABASE_URL, CELERY_BROKER_URL, ...); `module` as
    tools/worker_processes.start (tests/support/paused_worker.py)."""
    return worker_processes.start(name, queue, log_path, env, module=module)


@pytest.fixture
def workers(tmp_path):
    """start(name, env, module="celery") -> a ready worker on this test's queue; all stopped
    after."""
    queue = f"test-fault-{uuid.uuid4().hex[:10]}"
    started: list[WorkerProcess] = []

    def start(name: str, env: dict, module: str = "celery") -> WorkerProcess:
        log_path = tmp_path / f"{name}.log"
        worker = start_worker_env(name, queue, log_path, env, module=module)
        started.append(worker)
        wait_until_ready(worker, log_path)
        worker.log_path = log_path
        return worker

    start.queue = queue
    try:
        yield start
    finally:
        for worker in started:
            stop_worker(worker)
        from config.celery import app  # the shared broker: drop this test's queue there

        with app.connection_for_write() as conn:
            channel = conn.default_channel
            channel.queue_delete(queue)
            client = getattr(channel, "client", None)
            if client is not None:  # kombu's Redis transport leaves the exchange's bindings
                client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


# --------------------------------------------------------------------------- checks


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    """Poll `predicate` until truthy. A database error (the server restarting under us) drops
    the connection and polls again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OperationalError, InterfaceError):
            connection.close()
            value = None
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ledger_state() -> dict:
    """Entries, postings, and every account's posted total: the fingerprint of the ledger."""
    from django.db.models import Count, Sum

    from custody.models import JournalEntry, Posting

    per_account = dict(
        Posting.objects.order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    return {
        "entries": JournalEntry.objects.count(),
        "postings": Posting.objects.aggregate(n=Count("pk"))["n"],
        "accounts": per_account,
    }


def assert_ledger_intact(before: dict, after: dict, *, new_entries=0, new_postings=0) -> None:
    """No posting lost or doubled (exactly the expected new ones), trial balance zero."""
    from custody.selectors import trial_balance

    assert after["entries"] - before["entries"] == new_entries
    assert after["postings"] - before["postings"] == new_postings
    if not new_postings:
        assert after["accounts"] == before["accounts"]
    tb = trial_balance()
    assert tb.balanced, tb.totals


def duplicate_notices() -> int:
    """Notices beyond one per account/call/kind/stage/episode/channel (must be 0)."""
    from lending.models import Notice

    keys = list(
        Notice.objects.values_list(
            "credit_account_id", "call_id", "kind", "stage", "warning_episode", "channel"
        )
    )
    return len(keys) - len(set(keys))


__all__ = [
    "PrivatePostgres",
    "PrivateRedis",
    "assert_ledger_intact",
    "duplicate_notices",
    "free_port",
    "ledger_state",
    "report",
    "start_worker_env",
    "wait_for",
]
