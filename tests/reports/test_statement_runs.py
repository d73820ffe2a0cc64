"""A month's statement run (reports.services: statement_run_*): statements inserted set-based,
rendered in chunks by a real Celery worker, progress, a failed account retried alone, the
permission, the pages in both languages; and the chunk's set-based snapshots equal the
per-investor builder's."""

import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.errors import PermissionDenied, RuleViolation
from accounts.roles import Role
from config.celery import app
from reports import services, statements
from reports.models import ClientStatement, StatementRun, StatementStatus
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN
from tests.second_factor import login_verified
from tests.support.history import record_as_of
from tools import worker_processes


def _last_month() -> tuple[int, int]:
    previous = timezone.localdate().replace(day=1) - timedelta(days=1)
    return previous.year, previous.month


def _in_last_month(day: int, hour: int = 10) -> datetime:
    year, month = _last_month()
    return timezone.make_aware(datetime(year, month, day, hour, 0))


def _onboarded_last_month(profile):
    """Test setup: the profile (and its history) dates from early last month."""
    from accounts.models import InvestorProfile

    when = _in_last_month(2)
    InvestorProfile.objects.filter(pk=profile.pk).update(created_at=when)
    return record_as_of(profile, when)


def _history_deleted_at(profile, when: datetime) -> None:
    """Broken data: a history row saying the profile was deleted on `when` (what a wrong
    import of the profile's history leaves); the statement of that month cannot be built."""
    from accounts.models import InvestorProfile

    row = InvestorProfile.history.filter(id=profile.pk).order_by("-history_id").first()
    values = {
        f.attname: getattr(row, f.attname)
        for f in row._meta.concrete_fields
        if f.attname != "history_id"
    }
    values.update(history_type="-", history_date=when, history_change_reason="import")
    InvestorProfile.history.model.objects.create(**values)


# --------------------------------------------------------------------------- snapshots


@pytest.mark.django_db
def test_chunk_snapshots_equal_the_per_investor_builder(
    funded_account, make_investor, django_assert_max_num_queries
):
    from custody.services.client import client_deposit_post

    accounts = [
        funded_account(),
        funded_account(deposit="200000", financed=((PINGAN, 14000, "10.00"),)),
        funded_account(deposit="50000", own=(), financed=()),
    ]
    price_set(PINGAN, "6.00")
    price_set(MOUTAI, "60.00")
    cash_only = make_investor(bank_account="6217000000000000777")
    client_deposit_post(
        investor=cash_only,
        amount="88888.88",
        currency="CNY",
        bank_account="6217000000000000777",
        reference="t",
        actor=None,
        idempotency_key="runs-1",
    )
    investors = [a.investor_id for a in accounts] + [cash_only.pk]
    # the current month, built directly (a run covers finished months only)
    today = timezone.localdate()
    start, end = statements.period_for(today.year, today.month)
    single = {
        i: statements.build_statement(investor_id=i, period_start=start, period_end=end)
        for i in investors
    }
    # a fixed number of reads for the chunk, plus the day's price-band parameters once per
    # account holding a position (lending's valuation reads them)
    with django_assert_max_num_queries(13 + len(investors)):
        chunk = statements.build_statements([(i, i, start, end) for i in investors])
    assert chunk == single
    assert chunk[accounts[0].investor_id]["data"]["credit"]["total_assets"] > 0
    assert chunk[cash_only.pk]["data"]["credit"] is None
    assert [f["instrument"] for f in chunk[accounts[1].investor_id]["data"]["financings"]] == [
        PINGAN
    ]


@pytest.mark.django_db
def test_a_broken_investor_fails_alone_in_a_chunk(make_investor):
    good, broken = (_onboarded_last_month(make_investor()) for _ in range(2))
    _history_deleted_at(broken, _in_last_month(20))
    start, end = statements.period_for(*_last_month())
    built = statements.build_statements([(1, good.pk, start, end), (2, broken.pk, start, end)])
    assert built[1]["data"]["investor"]["number"] == good.pk
    assert isinstance(built[2], LookupError)
    assert f"investor {broken.pk} did not exist" in str(built[2])


# --------------------------------------------------------------------------- services


@pytest.mark.django_db
def test_run_start_inserts_the_month_set_based_with_history(make_investor, make_user):
    officer = make_user(Role.COMPLIANCE)
    onboarded = [_onboarded_last_month(make_investor()) for _ in range(3)]
    newcomer = make_investor()  # onboarded this month: no statement for last month
    year, month = _last_month()
    earlier = services.statement_request(investor=onboarded[0], year=year, month=month, actor=None)

    run = services.statement_run_start(year=year, month=month, actor=officer, chunk_size=2)

    rows = ClientStatement.objects.filter(run=run).order_by("investor_id")
    assert [s.investor_id for s in rows] == [p.pk for p in onboarded[1:]]
    assert not ClientStatement.objects.filter(investor=newcomer).exists()
    assert ClientStatement.objects.get(pk=earlier.pk).run_id is None  # skipped, untouched
    assert (run.accounts, run.queued, run.ready, run.failed) == (2, 2, 0, 0)
    assert run.status == "queued" and run.requested_by == officer
    for statement in rows:
        assert statement.status == StatementStatus.QUEUED
        (history,) = statement.history.all()
        assert history.history_type == "+" and history.history_user == officer
        assert history.history_change_reason.startswith(f"statement run {run.pk}")
        assert history.period_end == statements.period_for(year, month)[1]
    assert [h.history_change_reason for h in run.history.order_by("history_id")] == [
        "month's statements requested",
        "2 statements queued",
    ]
    # one run per month
    with pytest.raises(Exception) as again:
        services.statement_run_start(year=year, month=month, actor=officer)
    assert again.value.code == "statement_run_exists"
    # the monthly schedule's entry point finds the month started: nothing more
    assert services.statements_prepare_month(year=year, month=month) == 0
    # a month not over is refused
    today = timezone.localdate()
    with pytest.raises(RuleViolation):
        services.statement_run_start(year=today.year, month=today.month, actor=officer)


@pytest.mark.django_db
def test_a_role_without_add_filing_cannot_start_or_retry(client, make_investor, make_user):
    _onboarded_last_month(make_investor())
    year, month = _last_month()
    risk = make_user(Role.RISK)  # sees reports, may not request them
    with pytest.raises(PermissionDenied):
        services.statement_run_start(year=year, month=month, actor=risk)
    login_verified(client, risk)
    page = client.post("/staff/statements/", {"year": year, "month": month})
    assert page.status_code == 403
    api = client.post("/api/v1/statement-runs/", {"year": year, "month": month}, "application/json")
    assert api.status_code == 403
    assert not StatementRun.objects.exists()
    run = services.statement_run_start(year=year, month=month, actor=None)
    with pytest.raises(PermissionDenied):
        services.statement_run_retry_failed(run=run, actor=risk)
    assert client.post(f"/staff/statements/runs/{run.pk}/", {"reason": "x"}).status_code == 403
    retry = client.post(f"/api/v1/statement-runs/{run.pk}/retry-failed/", {}, "application/json")
    assert retry.status_code == 403
    # reading is allowed
    assert client.get(f"/staff/statements/runs/{run.pk}/").status_code == 200
    assert client.get(f"/api/v1/statement-runs/{run.pk}/").status_code == 200


# --------------------------------------------------------------------------- a real worker


@pytest.fixture
def statements_queue(tmp_path, settings, monkeypatch):
    """A private queue for the run's tasks; start() starts a real worker on it (it stores
    files under this test's MEDIA_ROOT, reads this test's database)."""
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    queue = f"test-statements-{uuid.uuid4().hex[:10]}"
    settings.REPORTS_TASK_QUEUE = queue
    started = []
    db = settings.DATABASES["default"]
    url = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{connection.settings_dict['NAME']}"
    )

    def start():
        log = tmp_path / f"worker{len(started)}.log"
        worker = worker_processes.start(
            f"st{len(started)}", queue, log, {"DATABASE_URL": url, "MEDIA_ROOT": str(media)}
        )
        started.append(worker)
        worker_processes.wait_until_ready(worker, log)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker_processes.stop(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def _wait_finished(run_id: int, timeout: float = 240) -> StatementRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = StatementRun.objects.get(pk=run_id)
        if run.status in ("done", "done_with_failures"):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} not finished after {timeout}s: {run.status}")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_run_on_a_worker_a_failure_and_its_retry(
    client, make_investor, make_user, statements_queue
):
    officer = make_user(Role.COMPLIANCE)
    investors = [_onboarded_last_month(make_investor()) for _ in range(5)]
    year, month = _last_month()
    login_verified(client, officer)

    # given: the run started through the API (3 statements a task: two chunks), before any
    # worker is up; then one investor's profile history is broken
    response = client.post(
        "/api/v1/statement-runs/",
        {"year": year, "month": month, "chunk_size": 3},
        "application/json",
    )
    assert response.status_code == 202, response.content
    run = StatementRun.objects.get(pk=response.json()["id"])
    assert (run.accounts, run.queued, run.chunk_size) == (5, 5, 3)
    broken = investors[2]
    _history_deleted_at(broken, _in_last_month(20))

    # when: a real worker renders the run
    statements_queue()
    run = _wait_finished(run.pk)

    # then: four READY, the broken one FAILED with its error; counts right
    assert run.status == "done_with_failures"
    assert (run.accounts, run.ready, run.failed, run.queued) == (5, 4, 1, 0)
    by_investor = {s.investor_id: s for s in ClientStatement.objects.filter(run=run)}
    failed = by_investor[broken.pk]
    assert failed.status == StatementStatus.FAILED
    assert f"LookupError: investor {broken.pk} did not exist" in failed.error
    ready = {pk: s for pk, s in by_investor.items() if pk != broken.pk}
    for statement in ready.values():
        assert statement.status == StatementStatus.READY, statement.error
        assert statement.pdf_file.name.endswith(
            f"statement-{statement.investor_id}-{year}-{month:02d}.pdf"
        )
        with statement.pdf_file.open("rb") as handle:
            from reports import canonical

            assert canonical.sha256_hex(handle.read()) == statement.pdf_sha256
    before = {
        pk: (s.generated_at, s.pdf_file.name, s.pdf_sha256, s.history.count())
        for pk, s in ready.items()
    }
    page = client.get(f"/staff/statements/runs/{run.pk}/")
    assert page.status_code == 200
    assert "did not exist" in page.text and "重试失败项" in page.text  # the retry button
    api = client.get(f"/api/v1/statement-runs/{run.pk}/").json()
    assert api["counts"]["ready"] == 4 and api["counts"]["failed"] == 1
    assert [f["investor"] for f in api["failed_statements"]] == [broken.pk]
    assert api["status"] == "done_with_failures" and api["percent"] == 100

    # when: the cause is fixed (the profile's history stands again after the wrong row) and
    # the failed statements are retried through the API
    record_as_of(broken, _in_last_month(21), reason="test setup: history corrected")
    retried = client.post(
        f"/api/v1/statement-runs/{run.pk}/retry-failed/",
        {"reason": "history fixed"},
        "application/json",
    )
    assert retried.status_code == 202, retried.content
    requeued = failed.history.order_by("-history_id").filter(status="queued").first()
    assert requeued.history_user == officer and "history fixed" in requeued.history_change_reason
    run = _wait_finished(run.pk)

    # then: it is READY, the others were not rendered again
    assert run.status == "done"
    assert (run.accounts, run.ready, run.failed, run.queued) == (5, 5, 0, 0)
    fixed = ClientStatement.objects.get(pk=failed.pk)
    assert fixed.status == StatementStatus.READY and fixed.error == ""
    after = {
        pk: (s.generated_at, s.pdf_file.name, s.pdf_sha256, s.history.count())
        for pk, s in ((pk, ClientStatement.objects.get(pk=s.pk)) for pk, s in ready.items())
    }
    assert after == before
    # a chunk delivered again (acks_late) stores nothing twice
    ids = [s.pk for s in by_investor.values()]
    assert services.statements_generate_chunk(statement_ids=ids) == {
        "ready": 0,
        "failed": 0,
        "skipped": 5,
    }
    # nothing left to retry
    with pytest.raises(RuleViolation):
        services.statement_run_retry_failed(run=run, actor=officer)


# --------------------------------------------------------------------------- pages


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_run_pages_in_both_languages(client, make_investor, make_user, language):
    _onboarded_last_month(make_investor())
    year, month = _last_month()
    login_verified(client, make_user(Role.COMPLIANCE))
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    started = client.post("/staff/statements/", {"year": year, "month": month}, **headers)
    run = StatementRun.objects.get()
    assert started.status_code == 302 and started.url == f"/staff/statements/runs/{run.pk}/"
    listing = client.get("/staff/statements/", **headers)
    assert listing.status_code == 200
    assert f'lang="{language}"' in listing.text
    assert f"/staff/statements/runs/{run.pk}/" in listing.text
    assert f"{year}-{month:02d}" in listing.text
    detail = client.get(f"/staff/statements/runs/{run.pk}/", **headers)
    assert detail.status_code == 200
    assert 'id="run-accounts">1<' in detail.text and 'id="run-queued">1<' in detail.text
    listed = client.get("/api/v1/statement-runs/", **headers).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(r["id"], r["month"], r["accounts"]) for r in rows] == [
        (run.pk, f"{year}-{month:02d}", 1)
    ]


@pytest.mark.django_db
def test_one_failed_account_retried_on_its_own_from_the_page(client, make_investor, make_user):
    # given: a run rendered in this process (a chunk, as a worker runs it), one account broken
    good, broken = (_onboarded_last_month(make_investor()) for _ in range(2))
    year, month = _last_month()
    run = services.statement_run_start(year=year, month=month, actor=None)
    _history_deleted_at(broken, _in_last_month(20))
    ids = list(ClientStatement.objects.filter(run=run).values_list("pk", flat=True))
    assert services.statements_generate_chunk(statement_ids=ids) == {
        "ready": 1,
        "failed": 1,
        "skipped": 0,
    }
    run.refresh_from_db()
    assert (run.status, run.ready, run.failed, run.queued) == ("done_with_failures", 1, 1, 0)
    failed = ClientStatement.objects.get(run=run, investor=broken)
    ready = ClientStatement.objects.get(run=run, investor=good)
    # when: the cause is fixed and an officer retries that one account from the run's page
    record_as_of(broken, _in_last_month(21), reason="test setup: history corrected")
    officer = make_user(Role.COMPLIANCE)
    login_verified(client, officer)
    page = client.post(f"/staff/statements/runs/{run.pk}/", {"statement": failed.pk})
    assert page.status_code == 302
    # then: it alone is queued again; the run runs until it is done
    failed.refresh_from_db()
    assert failed.status == StatementStatus.QUEUED and failed.requested_by == officer
    assert ClientStatement.objects.get(pk=ready.pk).generated_at == ready.generated_at
    run.refresh_from_db()
    assert (run.status, run.ready, run.failed, run.queued) == ("running", 1, 0, 1)
    assert services.statement_generate(statement_id=failed.pk).status == StatementStatus.READY
    run.refresh_from_db()
    assert (run.status, run.ready, run.failed, run.queued) == ("done", 2, 0, 0)
