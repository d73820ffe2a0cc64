"""Shared fixtures. PostgreSQL is checked once, before any test, so an unreachable
database ends the run with one clear line instead of a traceback per test."""

import contextlib
import importlib
import uuid

import psycopg
import pytest
from django.conf import settings

# Fixture modules shared across directories, registered as plugins (pytest reads
# `pytest_plugins` from the root conftest only): their fixtures reach every test without an
# import, and a test module or a nearer conftest may still override one by defining its own.
# Their plain helpers (price_set, sh, overdue_call, expected_calls, ...) are imported by name.
# pytester: tests/test_binaries.py runs pytest on a test that needs a missing program.
pytest_plugins = [
    "pytester",
    "tests.compliance.fixtures",
    "tests.lending.book_fixtures",
    "tests.lending.calls_fixtures",
    "tests.lending.mtm_fixtures",
    "tests.lending.short_fixtures",
]


def pytest_sessionstart(session):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit(f"tests run on PostgreSQL only; DATABASE_URL gives {db['ENGINE']}", 2)
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    try:
        psycopg.connect(
            host=host,
            port=port,
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0]
        pytest.exit(
            f"cannot reach PostgreSQL at {host}:{port} ({first}); start it or fix DATABASE_URL",
            returncode=2,
        )


@pytest.fixture(scope="session", autouse=True)
def celery_test_queue():
    """Tasks the code under test sends without naming a queue (the price hook's revaluations,
    after a test commits prices) go to a queue of this test run, deleted at the end: never to
    the queue a demo desk's worker on this machine consumes. Tests that need a worker start
    their own on their own queue (tools/worker_processes)."""
    from config.celery import app

    queue = f"test-run-{uuid.uuid4().hex[:12]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        app.conf.task_default_queue = previous
        with contextlib.suppress(Exception), app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


@pytest.fixture
def celery_eager():
    """Tasks run in the test's process when sent (Celery's eager mode, errors raised): for
    tests of what a task does after a commit, such as the e-mail outbox. What real workers do
    is tested with real worker processes (tests/integration)."""
    from config.celery import app

    saved = {k: app.conf[k] for k in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    try:
        yield app
    finally:
        app.conf.update(saved)


@pytest.fixture
def make_user(db):
    from accounts import services

    counter = {"n": 0}

    def _make(role: str, email: str | None = None, password: str = "correct-horse-42"):
        counter["n"] += 1
        email = email or f"{role}{counter['n']}@test.margindesk.local"
        return services.user_create(
            email=email, password=password, role=role, actor=None, reason="test fixture"
        )

    return _make


@pytest.fixture
def make_investor(make_user):
    from accounts import services

    counter = {"n": 0}

    def _make(**overrides):
        counter["n"] += 1
        n = counter["n"]
        user = overrides.pop("user", None) or make_user("investor")
        data = {
            "real_name": f"投资者{n}",
            "id_type": "resident_id",
            "id_number": f"11010119900101{n:04d}",
            "bank_name": "中国银行",
            "bank_account": f"62170000{n:011d}",
        }
        data.update(overrides)
        return services.investor_profile_create(
            user=user, actor=None, reason="test fixture", **data
        )

    return _make


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Users are made by the dozen; PBKDF2's deliberate cost buys nothing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def english_messages_outside_requests():
    """Service errors are translated into the active language. Tests that call services
    directly read them in English; pages and API calls still negotiate their own language
    per request (LocaleMiddleware), so the Chinese pages are tested through the client."""
    from django.core.signals import request_finished
    from django.utils import translation

    def back_to_english(**_kwargs):
        # a page or API request activates its own language in this thread (LocaleMiddleware)
        # and leaves it active: the next direct service call reads English again
        translation.activate("en")

    request_finished.connect(back_to_english, dispatch_uid="tests-english-after-requests")
    try:
        with translation.override("en"):
            yield
    finally:
        request_finished.disconnect(dispatch_uid="tests-english-after-requests")


# Transactional tests (browser, Celery workers, concurrency) end with a flush that removes the
# rows the data migrations wrote (calendar, regulatory parameters, the margin product, the
# pricing grid, role groups), which services and pages read. They are written again, by the
# migrations' own functions, before each transactional test.
REFERENCE_DATA = (
    ("compliance.migrations.0002_seed_reference_data", ("seed_calendar", "seed_parameters")),
    ("compliance.migrations.0003_seed_book_parameters", ("seed_parameters",)),
    ("compliance.migrations.0006_seed_price_band_parameters", ("seed_price_bands",)),
    ("lending.migrations.0002_sequences_and_pricing", ("seed_pricing",)),
)


@pytest.fixture(autouse=True)
def reference_data(request):
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction", False)
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import sync_roles
    from compliance.models import RegulatoryParameter

    if not Group.objects.exists():
        sync_roles(Group, Permission)
    if RegulatoryParameter.objects.exists():
        return
    for module, functions in REFERENCE_DATA:
        migration = importlib.import_module(module)
        for name in functions:
            getattr(migration, name)(apps, None)
