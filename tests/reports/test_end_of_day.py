"""The end of day (reports.eod, docs/eod.md): one run per date, its steps in order on real
Celery workers; a worker killed in the middle of a step and the run resumed continues from that
step (the steps before it are not run again, nothing is written twice); a step that fails stops
the run, alerts the desk and is resumed once its cause is gone.

The world: two credit accounts with a financing each (opened three days before the run's date,
so the date accrues interest), and a margin call on one of them whose deadline passed without
escalation (the end of day's escalation step makes it overdue). The crash and failure land in
the escalation step without a hook in the code: the test holds the call's row lock, so the step
blocks inside its transaction, after the interest steps have committed."""

import itertools
import os
import signal
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.errors import Conflict, PermissionDenied
from compliance import calendar
from config.celery import app
from custody.models import ClientMoneyRequirement, Reconciliation
from lending.financing.models import Financing, InterestAccrual
from lending.margin_calls.models import MarginCall, MarginEvent
from reports.eod import services as eod
from reports.eod.models import EndOfDayRun
from reports.models import Filing
from reports.services import daily_as_of
from tests.integration.conftest import start_worker, stop_worker, wait_until_ready
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN, sh
from tests.support.waiting import dsn, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORDER = [
    "interest",
    "short_fees",
    "escalation",
    "maturity",
    "penalty",
    "client_money",
    "reconciliation",
    "filings",
]
#: The steps after the one the worker tests stop in.
AFTER_ESCALATION = ORDER[ORDER.index("escalation") + 1 :]


@pytest.fixture
def book(funded_account):
    """Two accounts with a financing each; a call past its deadline, not yet escalated; the
    run's date: the last trading day before today."""
    from lending.margin_calls import services as calls

    day = calendar.previous_trading_day(timezone.localdate() - timedelta(days=1))
    # the margin-call tests' account: ratio 242.86%, below the call line after the fall
    a = funded_account(
        deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=((PINGAN, 14000, "10.00"),)
    )
    b = funded_account(own=(), financed=(("SZSE:000001", 10000, "10.00"),), deposit="200000")
    Financing.objects.filter(credit_account__in=[a, b]).update(opened_on=day - timedelta(days=3))
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=a, now=sh(2026, 9, 30, 10, 0)).call
    assert call is not None and call.status == "open" and call.deadline < timezone.now()
    return {"day": day, "accounts": [a, b], "call": call}


@pytest.fixture
def eod_queue(tmp_path):
    """A private queue for this test's workers; the chain's tasks sent from this process go to
    it. start(name, env=None) -> a ready worker; all stopped and the queue deleted at the end."""
    queue = f"test-eod-{uuid.uuid4().hex[:10]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    workers = []

    def start(name, env=None):
        log_path = tmp_path / f"{name}.log"
        worker = start_worker(queue, connection.settings_dict["NAME"], name, log_path, env=env)
        workers.append(worker)
        wait_until_ready(worker, log_path)
        return worker

    yield start
    app.conf.task_default_queue = previous
    for worker in workers:
        stop_worker(worker)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


def steps_of(run) -> dict:
    return {s.name: s for s in run.steps.order_by("position")}


def blocked_backend(watch, holder_pid: int) -> int | None:
    row = watch.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> %s",
        [holder_pid],
    ).fetchone()
    return row[0] if row else None


def assert_day_done_once(book):
    """What the whole end of day leaves, exactly once."""
    day, call = book["day"], book["call"]
    financings = Financing.objects.filter(credit_account__in=book["accounts"])
    contracts = set(financings.values_list("contract_id", flat=True))
    accruals = InterestAccrual.objects.filter(business_date=day)
    assert sorted(accruals.values_list("contract_id", flat=True)) == sorted(contracts)
    call.refresh_from_db()
    assert call.status == "overdue"
    assert MarginEvent.objects.filter(call=call, kind="call_overdue").count() == 1
    assert ClientMoneyRequirement.objects.filter(business_date=day).exists()
    assert Reconciliation.objects.filter(kind="internal", business_date=day).count() == 1
    assert Filing.objects.filter(as_of=daily_as_of(day)).exists()


def test_the_end_of_day_runs_its_steps_in_order_on_a_worker(book, staff, eod_queue, client):
    eod_queue("w1")
    run = eod.run_start(business_date=book["day"], actor=staff["ops"], reason="test")
    assert run.trading_day
    wait_for(lambda: EndOfDayRun.objects.get(pk=run.pk).status == "done", 180, "the run to finish")
    run.refresh_from_db()
    steps = steps_of(run)
    assert list(steps) == ORDER
    assert all(s.status == "done" and s.attempts == 1 for s in steps.values())
    ordered = list(steps.values())
    for before, after in itertools.pairwise(ordered):
        assert after.started_at >= before.finished_at, (before.name, after.name)
    assert steps["interest"].shards_total == django_settings.EOD_SHARDS
    assert steps["interest"].params == {"days": [book["day"].isoformat()]}
    assert steps["interest"].result["contracts"] == 2
    assert steps["escalation"].result["calls_overdue"] == 1
    assert_day_done_once(book)

    # once per date: starting it again returns the finished run and runs nothing
    again = eod.run_start(business_date=book["day"], actor=staff["ops"], reason="again")
    assert again.pk == run.pk and again.status == "done"
    with pytest.raises(Conflict) as refused:
        eod.run_resume(run=run, actor=staff["ops"], reason="again")
    assert refused.value.code == "eod_done"

    # the dashboard shows the run and its steps; the page lists it
    client.force_login(staff["ops"])
    page = client.get("/staff/").content.decode()
    assert 'id="eod-latest"' in page and 'data-step="reconciliation"' in page
    assert 'id="eod-failed"' not in page
    detail = client.get(f"/staff/end-of-day/{run.pk}/")
    assert detail.status_code == 200
    api = client.get(f"/api/v1/end-of-day-runs/{run.pk}/").json()
    assert [s["name"] for s in api["steps"]] == ORDER


def test_a_worker_killed_mid_step_and_the_run_resumed_continues_from_that_step(
    book, staff, eod_queue, settings
):
    holder = psycopg.connect(dsn())
    watch = psycopg.connect(dsn(), autocommit=True)
    try:
        holder.execute(
            "SELECT 1 FROM lending_margincall WHERE id = %s FOR UPDATE", [book["call"].pk]
        )
        holder_pid = holder.info.backend_pid
        victim = eod_queue("victim")
        run = eod.run_start(business_date=book["day"], actor=staff["ops"], reason="test")
        backend = wait_for(lambda: blocked_backend(watch, holder_pid), 120, "escalation to block")
        before = steps_of(run)
        assert before["interest"].status == "done" and before["escalation"].status == "running"
        assert before["short_fees"].status == "done"
        assert all(before[name].status == "pending" for name in AFTER_ESCALATION)
        interest_finished = before["interest"].finished_at

        os.kill(victim.pid, signal.SIGKILL)
        victim.process.wait(timeout=10)
        holder.rollback()
        wait_for(
            lambda: (
                not watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
                ).fetchone()
            ),
            30,
            "the killed worker's backend to end",
        )
        run.refresh_from_db()
        assert run.status == "running" and run.step == "escalation"
        assert MarginCall.objects.get(pk=book["call"].pk).status == "open"  # nothing kept

        # while the step may still be alive, a resume is refused ...
        with pytest.raises(Conflict) as refused:
            eod.run_resume(run=run, actor=staff["ops"], reason="too early")
        assert refused.value.code == "eod_running"
        # ... and by someone without the permission
        with pytest.raises(PermissionDenied):
            eod.run_resume(run=run, actor=staff["risk"], reason="not mine")

        eod_queue("rescuer")
        settings.EOD_STALE_SECONDS = 0  # the step has shown no progress: resumable now
        eod.run_resume(run=run, actor=staff["ops"], reason="worker lost")
        wait_for(
            lambda: EndOfDayRun.objects.get(pk=run.pk).status == "done", 180, "the resumed run"
        )
    finally:
        holder.close()
        watch.close()

    run.refresh_from_db()
    after = steps_of(run)
    assert run.resumes == 1
    # the steps before the one reached were not run again
    assert after["interest"].attempts == 1 and after["interest"].finished_at == interest_finished
    assert after["escalation"].attempts == 2
    assert all(after[name].attempts == 1 for name in AFTER_ESCALATION)
    assert_day_done_once(book)
    reasons = list(run.history.values_list("history_change_reason", flat=True))
    assert any("resumed: worker lost" in r for r in reasons)


def test_a_failed_step_stops_the_run_alerts_and_is_resumed_once_mended(
    book, staff, eod_queue, client
):
    db = django_settings.DATABASES["default"]
    url = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{connection.settings_dict['NAME']}"
        "?options=-c%20lock_timeout%3D1500"
    )
    holder = psycopg.connect(dsn())
    try:
        holder.execute(
            "SELECT 1 FROM lending_margincall WHERE id = %s FOR UPDATE", [book["call"].pk]
        )
        worker = eod_queue("w1", env={"DATABASE_URL": url})
        run = eod.run_start(business_date=book["day"], actor=staff["ops"], reason="test")
        wait_for(lambda: EndOfDayRun.objects.get(pk=run.pk).status == "failed", 120, "the failure")
    finally:
        holder.close()  # the cause is gone

    run.refresh_from_db()
    steps = steps_of(run)
    assert run.step == "escalation" and run.alerted_at is not None
    # the lock wait ran out (lock_not_available), retried, then given up
    assert run.error.startswith("escalation: ") and "55P03" in run.error
    assert steps["escalation"].status == "failed"
    assert all(steps[name].status == "pending" for name in AFTER_ESCALATION)  # nothing after it ran
    wait_for(lambda: "end of day" in worker.log_path.read_text(), 20, "the alert in the log")

    # the alert names the date, the step and the error, in both languages
    mail.outbox.clear()
    assert eod.alert_failure(run.pk) == 2  # every active operations user (ops, ops2)
    message = mail.outbox[0]
    assert {staff["ops"].email, staff["ops2"].email} == set(message.to)
    assert book["day"].isoformat() in message.subject
    assert "日终" in message.subject and "End of day" in message.subject
    assert "55P03" in message.body

    # the dashboard says so to the desk
    client.force_login(staff["ops"])
    assert 'id="eod-failed"' in client.get("/staff/").content.decode()

    eod.run_resume(run=run, actor=staff["ops"], reason="lock released")
    wait_for(lambda: EndOfDayRun.objects.get(pk=run.pk).status == "done", 180, "the resumed run")
    run.refresh_from_db()
    steps = steps_of(run)
    assert steps["interest"].attempts == 1 and steps["escalation"].attempts == 2
    assert run.error == ""
    assert_day_done_once(book)


def test_on_a_day_without_trading_only_interest_runs(book, staff, eod_queue):
    """Interest accrues every calendar day; nothing else happens on a Saturday."""
    today = timezone.localdate()
    saturday = today - timedelta(days=(today.weekday() - 5) % 7)  # the last one, or today
    assert not calendar.is_trading_day(saturday)
    eod_queue("w1")
    run = eod.run_start(business_date=saturday, actor=staff["ops"], reason="test")
    wait_for(lambda: EndOfDayRun.objects.get(pk=run.pk).status == "done", 120, "the run")
    steps = steps_of(run)
    assert not EndOfDayRun.objects.get(pk=run.pk).trading_day
    every_day = ["interest", "short_fees", "penalty"]
    assert [n for n, s in steps.items() if s.status == "done"] == every_day
    assert all(s.status == "skipped" for n, s in steps.items() if n not in every_day)
    # the missed days up to the Saturday, one accrual each per contract
    days = steps["interest"].params["days"]
    assert days[-1] == saturday.isoformat()
    contracts = set(
        Financing.objects.filter(credit_account__in=book["accounts"]).values_list(
            "contract_id", flat=True
        )
    )
    assert InterestAccrual.objects.filter(business_date=saturday).count() == len(contracts)
    assert book["call"].__class__.objects.get(pk=book["call"].pk).status == "open"
