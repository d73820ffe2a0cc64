"""Fault tests (issue 10): private PostgreSQL and Redis instances that a test starts, breaks
and stops itself (never the machine's shared ones), Celery workers pointed at them, and the
ledger checks every fault test ends with (no posting lost or doubled, trial balance zero).

Each test prints one line starting with "FAULT" with the figures it measured (`pytest -s`);
docs/RELIABILITY.md quotes them."""

import contextlib
import os
import time
import uuid
from pathlib import Path

import pytest
from django.db import InterfaceError, OperationalError, connection

from tests.binaries import need_binary
from tools import worker_processes
from tools.private_services import PrivatePostgres, PrivateRedis, free_port, migrate, pg_bindir
from tools.worker_processes import WorkerProcess, wait_until_ready
from tools.worker_processes import stop as stop_worker

ROOT = Path(__file__).resolve().parents[2]


def report(line: str) -> None:
    """The test's one-line summary of what it measured (shown with `pytest -s`)."""
    print(f"\nFAULT {line}", flush=True)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def private_pg():
    """A private PostgreSQL cluster with a migrated database "margindesk_fault" (migrated by
    `manage.py migrate` in a subprocess, as a deployment does); stopped and removed after."""
    bindir = pg_bindir()
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
        done = migrate(pg.url("margindesk_fault"), timeout=180)
        assert done.returncode == 0, f"migrate on the private cluster:\n{done.stderr}"
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def on_private_pg(private_pg, transactional_db):
    """Point this process's Django connection at the private cluster for one test, so the
    book is built by the usual fixtures and services, and the test reads what the worker
    writes. Set up after pytest-django's transactional_db and torn down before it, so the
    usual flush at the end runs on the usual test database."""
    with django_on(private_pg.port, "margindesk_fault"):
        yield private_pg


@contextlib.contextmanager
def django_on(port: int, database: str):
    """This process's Django connection on 127.0.0.1:`port`/`database` inside the block."""
    from django.contrib.contenttypes.models import ContentType

    saved = {k: connection.settings_dict.get(k) for k in ("HOST", "PORT", "NAME")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=port, NAME=database)
    ContentType.objects.clear_cache()  # ids of the other database
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
        ContentType.objects.clear_cache()


# --------------------------------------------------------------------------- Redis


@pytest.fixture
def private_redis():
    need_binary("redis-server", "the fault tests' private Redis")
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.stop()


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
    "django_on",
    "duplicate_notices",
    "free_port",
    "ledger_state",
    "report",
    "start_worker_env",
    "wait_for",
]
