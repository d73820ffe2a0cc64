"""Mark-to-market runs in process (the shard service called directly): calls equal those of
account_view + margin.classify per account; a second run on the same snapshot and a redelivered
shard issue nothing twice; cures; incremental revaluation of the holders of one instrument."""

from decimal import Decimal

import pytest

from lending.financing.valuation import account_view
from lending.models import CreditAccount, MarginCall, MtmRun, MtmShard, MtmSnapshot
from lending.mtm import services as mtm
from lending.mtm import snapshots
from tests.lending.book_fixtures import price_set
from tests.lending.mtm_fixtures import expected_calls

pytestmark = pytest.mark.django_db

MOUTAI = "SSE:600519"
# mtm_book and expected_calls: tests/lending/mtm_fixtures.py


def run_in_process(shard_size=2) -> MtmRun:
    run = mtm.mtm_run_create(trigger="test", shard_size=shard_size)
    for shard in range(run.shards_total):
        mtm.mtm_shard_process(run_id=run.pk, shard=shard)
    run.refresh_from_db()
    return run


def open_calls() -> list[int]:
    return sorted(
        MarginCall.objects.filter(status="open").values_list("credit_account_id", flat=True)
    )


def test_run_issues_the_calls_account_view_finds_and_only_once(mtm_book):
    expected = expected_calls(mtm_book)
    assert len(expected) == 2

    run = run_in_process()
    assert run.status == "succeeded"
    assert (run.shards_total, run.shards_done) == (4, 4)
    assert run.accounts_valued >= len(mtm_book)
    assert run.calls_issued == 2 and run.warnings == 2
    assert open_calls() == sorted(expected)
    # one snapshot row per shard, every account valued in one of them, once
    assert MtmSnapshot.objects.filter(run=run).count() == run.shards_total
    figures = snapshots.figures([run.pk])
    assert len(figures) == run.accounts_valued == len(set(figures.accounts.tolist()))
    snap = snapshots.account_figures(run.pk, mtm_book[0].pk)
    view = account_view(CreditAccount.objects.get(pk=mtm_book[0].pk))
    assert snap.ratio == pytest.approx(float(view.maintenance_ratio), rel=1e-9)
    assert snap.assets == pytest.approx(float(view.total_assets), rel=1e-12)
    assert snapshots.account_figures(run.pk, mtm_book[-1].pk).ratio is None  # no debt
    # the healthy accounts never reached the state machine
    assert sum(MtmShard.objects.filter(run=run).values_list("candidates", flat=True)) == 4

    # a second run on the same snapshot: nothing new, and nobody is a candidate
    again = run_in_process()
    assert again.calls_issued == 0 and again.status == "succeeded"
    assert sum(MtmShard.objects.filter(run=again).values_list("candidates", flat=True)) == 0
    assert open_calls() == sorted(expected)

    # a redelivered shard (its row reset as if the worker died before marking it done)
    MtmShard.objects.filter(run=run, shard=0).update(done=False)
    MtmRun.objects.filter(pk=run.pk).update(status="running", shards_done=3)
    mtm.mtm_shard_process(run_id=run.pk, shard=0)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.calls_issued == 2
    assert open_calls() == sorted(expected)
    assert MtmSnapshot.objects.filter(run=run).count() == run.shards_total  # replaced, not added
    assert snapshots.accounts_valued(run.pk) == run.accounts_valued


def test_cure_and_incremental_revaluation_of_holders(mtm_book, book_instruments):
    run_in_process()
    assert len(open_calls()) == 2
    # MOUTAI recovers: holders are revalued incrementally, both calls are cured (ratio ≥ 150%)
    price_set(MOUTAI, "90.00")
    run = mtm.mtm_revalue_instruments(instrument_ids=[book_instruments[MOUTAI].pk])
    assert run.kind == "incremental" and run.status == "succeeded"
    assert run.accounts_valued == len(mtm_book)  # every seeded account holds MOUTAI
    assert run.cures == 2 and open_calls() == []
    # a holder-less instrument values nobody
    run = mtm.mtm_revalue_instruments(instrument_ids=[book_instruments["SSE:510300"].pk])
    assert run.accounts_valued == 0 and run.status == "succeeded"


def test_in_session_follows_the_shanghai_sessions_and_calendar(db):
    from tests.lending.calls_fixtures import sh

    assert mtm.in_session(sh(2026, 9, 29, 9, 30))
    assert mtm.in_session(sh(2026, 9, 29, 14, 59))
    assert not mtm.in_session(sh(2026, 9, 29, 12, 0))
    assert not mtm.in_session(sh(2026, 9, 29, 15, 1))
    assert not mtm.in_session(sh(2026, 10, 1, 10, 0))  # National Day
    assert not mtm.in_session(sh(2026, 10, 3, 10, 0))  # Saturday
    assert mtm.mtm_run_scheduled(now=sh(2026, 10, 3, 10, 0)) is None


def test_start_needs_the_risk_role(db, staff):
    from accounts.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        mtm.mtm_run_create(actor=staff["ops"])
    run = mtm.mtm_run_create(actor=staff["risk"], trigger="console")
    assert run.status == "pending" and run.requested_by == staff["risk"]
    assert Decimal(0) == Decimal(run.shards_total)  # empty book


def test_a_fresh_web_process_has_the_price_move_hook_registered():
    """Prices posted to the web process revalue their holders: the hook is registered at start
    (lending.apps), not only where the Celery tasks happened to be imported (a fresh process,
    as gunicorn starts one)."""
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from lending.instruments import services as book; "
        "print(sorted(h.__name__ for h in book.PRICE_HOOKS))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "on_prices_moved" in out.stdout


def test_a_shard_another_worker_holds_is_left_to_it(mtm_book):
    """The sweeper may re-send a shard a slow worker still processes: the copy finds the
    shard's advisory lock held (here by a second PostgreSQL session standing for that worker)
    and leaves it, touching nothing; once the holder lets go the shard is processed."""
    import psycopg
    from django.db import connection

    run = mtm.mtm_run_create(trigger="test", shard_size=100)
    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
        dbname=db["NAME"], autocommit=True,
    )  # fmt: skip
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [run.pk, 0])
        counts = mtm.mtm_shard_process(run_id=run.pk, shard=0, worker="copy")
        shard = MtmShard.objects.get(run=run, shard=0)
        assert counts["done"] is False and (shard.attempts, shard.worker) == (0, "")
        assert not MtmSnapshot.objects.filter(run=run).exists()
        assert not MarginCall.objects.exists()
    finally:
        other.execute("SELECT pg_advisory_unlock_all()")
        other.close()
    mtm.mtm_shard_process(run_id=run.pk, shard=0, worker="holder")
    run.refresh_from_db()
    assert run.status == "succeeded" and run.calls_issued == 2
    # the lock was released when the shard was done: this session may take it again
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [run.pk, 0])
        assert cursor.fetchone()[0] is True
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [run.pk, 0])


def test_the_price_hook_of_a_test_run_goes_to_the_run_s_own_queue(
    mtm_book, book_instruments, celery_test_queue, django_capture_on_commit_callbacks
):
    """A committed price move enqueues the holders' revaluation on the default queue: in the
    test run, the run's own queue, never the demo desk's ("margindesk")."""
    import json

    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = broker.llen(celery_test_queue)
    with django_capture_on_commit_callbacks(execute=True):
        price_set(book_instruments[MOUTAI], "40.00")
    assert broker.llen(celery_test_queue) == before + 1
    message = json.loads(broker.lindex(celery_test_queue, 0))
    assert message["headers"]["task"] == "lending.tasks.mtm_revalue_instruments"
    assert celery_test_queue != "margindesk"


def test_an_auditor_reads_what_a_run_computed_for_one_account(mtm_book, staff, make_investor):
    from django.urls import reverse
    from rest_framework.test import APIClient

    expected = expected_calls(mtm_book)
    run = run_in_process()
    called = sorted(expected)[0]
    api = APIClient()
    api.force_authenticate(staff["auditor"])
    body = api.get(reverse("v1:lending-mtm-run-account", args=[run.pk, called])).json()
    view = account_view(CreditAccount.objects.get(pk=called))
    assert body["run"] == run.pk and body["credit_account"] == called
    assert body["ratio"] == pytest.approx(float(view.maintenance_ratio), rel=1e-9)
    assert body["assets"] == pytest.approx(float(view.total_assets), rel=1e-12)
    assert (body["screened_state"], body["stored_state_before"]) == ("call", "normal")
    no_debt = api.get(reverse("v1:lending-mtm-run-account", args=[run.pk, mtm_book[-1].pk]))
    assert no_debt.json()["ratio"] is None
    # an account the run did not value: 404 naming both
    missing = api.get(reverse("v1:lending-mtm-run-account", args=[run.pk, 10**9]))
    assert missing.status_code == 404 and str(10**9) in missing.json()["message"]
    # an investor may not read the desk's figures
    investor = make_investor()
    api.force_authenticate(investor.user)
    assert api.get(reverse("v1:lending-mtm-run-account", args=[run.pk, called])).status_code == 403


def test_an_auditor_downloads_every_account_a_run_valued_as_csv(mtm_book, staff, make_investor):
    import csv
    import io

    from django.test import Client
    from django.urls import reverse

    run = run_in_process()
    url = reverse("staff:lending-mtm-run-figures", args=[run.pk])
    auditor = Client()
    auditor.force_login(staff["auditor"])
    response = auditor.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f"mtm-run-{run.pk}-figures.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    # every account the run valued, once, by credit account; each as account_view finds it
    assert [int(r["credit_account"]) for r in rows] == sorted(a.pk for a in mtm_book)
    assert len(rows) == run.accounts_valued
    expected = expected_calls(mtm_book)
    for row in rows:
        view = account_view(CreditAccount.objects.get(pk=int(row["credit_account"])))
        assert Decimal(row["total_assets"]) == view.total_assets.quantize(Decimal("0.01"))
        assert Decimal(row["total_liabilities"]) == view.total_liabilities.quantize(Decimal("0.01"))
        if view.maintenance_ratio is None:
            assert row["maintenance_ratio"] == ""
        else:
            assert Decimal(row["maintenance_ratio"]) == view.maintenance_ratio.quantize(
                Decimal("0.000001")
            )
        assert (row["screened_state"] == "call") == (int(row["credit_account"]) in expected)
        assert row["stored_state_before"] == "normal" and row["run"] == str(run.pk)

    # an investor may not have it; a run that does not exist is 404
    investor = Client()
    investor.force_login(make_investor().user)
    assert investor.get(url).status_code == 403
    assert auditor.get(reverse("staff:lending-mtm-run-figures", args=[10**9])).status_code == 404
