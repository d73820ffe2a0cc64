"""A real Celery worker killed with SIGKILL while a shard of the interest accrual has its
transaction open: nothing of the shard is kept; resumed on another worker (the next run of the
task, and the killed shard's own message, redelivered by Redis after the visibility timeout:
acks_late), each contract and day is posted once, and the ledger still balances.

The kill lands mid-shard without a hook in the code: the test holds the row lock of the house
interest income balance, so the shard blocks inside its posting statement (the posting trigger
locks the balance rows) after locking its investors and financings and computing its accruals.
"""

import os
import re
import signal
import uuid
from decimal import Decimal as D

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from custody import services as custody
from custody.models import JournalEntry
from lending.financing import accrual
from lending.financing import tasks as financing_tasks
from lending.financing.models import Financing, InterestAccrual
from tests.integration.conftest import start_worker, stop_worker, wait_until_ready
from tests.lending.book_fixtures import trial_balance_is_zero
from tests.support.waiting import dsn, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def blocked_shard_backend(watch) -> int | None:
    """The backend of a shard waiting for the held balance lock inside its posting INSERT."""
    row = watch.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO custody_posting%%'"
    ).fetchone()
    return row[0] if row else None


def test_a_shard_killed_mid_accrual_posts_each_contract_day_once(
    funded_account, tmp_path, monkeypatch
):
    accounts = [funded_account() for _ in range(3)]  # 300,000.00 each: 54.17 a day
    day = timezone.localdate()
    income = custody.house_account("interest_income", "CNY")
    queue = f"test-accrual-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "4")
    workers = []

    def start(name):
        log_path = tmp_path / f"{name}.log"
        worker = start_worker(queue, connection.settings_dict["NAME"], name, log_path)
        workers.append(worker)
        wait_until_ready(worker, log_path)
        return worker

    holder = psycopg.connect(dsn())
    watch = psycopg.connect(dsn(), autocommit=True)
    try:
        holder.execute(
            "SELECT 1 FROM custody_accountbalance WHERE account_id = %s FOR UPDATE", [income.pk]
        )
        victim = start("victim")
        financing_tasks.interest_accrue_daily.apply_async(
            kwargs={"business_date": day.isoformat(), "shards": 2}, queue=queue
        )
        backend = wait_for(lambda: blocked_shard_backend(watch), 60, "a shard to block")
        # mid-shard: its accruals are written in its open transaction, invisible until commit
        assert not InterestAccrual.objects.exists()
        os.kill(victim.pid, signal.SIGKILL)
        victim.process.wait(timeout=10)
        holder.rollback()  # the lock is released; the orphaned backend cannot commit
        wait_for(
            lambda: (
                not watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
                ).fetchone()
            ),
            30,
            "the killed worker's backend to end",
        )
        assert not InterestAccrual.objects.exists()  # nothing of the killed shard was kept
        assert not JournalEntry.objects.filter(idempotency_key__startswith="interest:").exists()
        # the victim was running one shard when killed
        killed = re.findall(
            r"interest_accrue_shard\[([0-9a-f-]+)\] received", victim.log_path.read_text()
        )
        assert len(killed) == 1, victim.log_path.read_text()

        # resumed: another worker, and the next run of the task (as beat sends it), which
        # finds the day still to accrue for the killed shard's contracts; the killed shard's
        # own message comes back too once Redis restores it (its visibility timeout; when is
        # up to kombu's restore cycle) and then posts nothing
        rescuer = start("rescuer")
        financing_tasks.interest_accrue_daily.apply_async(
            kwargs={"business_date": day.isoformat(), "shards": 2}, queue=queue
        )
        wait_for(lambda: InterestAccrual.objects.count() == 3, 90, "the accruals after the kill")
        wait_for(
            lambda: "interest_accrue_day_done" in rescuer.log_path.read_text(),
            60,
            "the day's callback",
        )
    finally:
        holder.close()
        watch.close()
        for worker in workers:
            stop_worker(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)

    financings = list(Financing.objects.filter(credit_account__in=accounts))
    keys = sorted(
        JournalEntry.objects.filter(idempotency_key__startswith="interest:").values_list(
            "idempotency_key", flat=True
        )
    )
    assert keys == sorted(f"interest:{f.contract_id}:{day.isoformat()}" for f in financings)
    assert sorted(
        InterestAccrual.objects.values_list("contract_id", "business_date", "amount")
    ) == sorted((f.contract_id, day, D("54.17")) for f in financings)
    assert all(f.interest_accrued == D("54.17") for f in financings)
    for f in financings:
        assert (
            f.history.filter(history_change_reason=f"system: interest {day.isoformat()}").count()
            == 1
        )
    assert trial_balance_is_zero()
    # resumed again in this process: nothing left to post
    assert accrual.interest_accrue_through(day, shards=2) == {day: 0}
