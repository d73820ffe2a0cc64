"""End-of-day benchmark, step 1: daily interest accrual on the synthetic book of bench/mtm.

    DJANGO_DEBUG=true .venv/bin/python bench/eod/accrual.py                 # 100,000 accounts
    DJANGO_DEBUG=true .venv/bin/python bench/eod/accrual.py --accounts 1000000

Own database `margindesk_bench_eod` (created and migrated if missing); the book is bench/mtm's
(`bench.mtm.run.generate_and_load`, loaded by COPY on every run: about 95 per cent of accounts
have one financing, one contract each, rate 6.5 per cent). What the runs write (journal
entries, postings, accruals) is emptied first.

Rows printed (rows = contracts accrued, one InterestAccrual row each; each with a journal entry
of two postings, a financing update and its history row):
* day 1, sharded on `--workers` real Celery worker processes: lending.tasks.interest_accrue_daily
  as beat sends it, its chord of `--shards` shard tasks (lending.financing.accrual), timed from
  the send until every shard has committed. Day 1 also opens every investor's interest
  receivable ledger account (first use, set-based, with history rows).
* day 2, the same: the steady state (accounts exist);
* day 3, in this process, one shard (lending.financing.accrual.shard_accrue with one shard, as
  the tests and a shell call it);
* baseline, day 4: a plain set-based SQL script doing the same writes in one transaction (no
  sharding, no locks, no checks; the posting trigger and the deferred balance checks still run,
  as they are the ledger's);
* the machine calibration row of bench/mtm (20M Python additions on one core).
Goals (issue 21, printed, not asserted): 1,000,000 accounts in ≤ 30 s, ≥ 2x the SQL baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.mtm import run as mtm_bench  # noqa: E402

BENCH_DB = "margindesk_bench_eod"
mtm_bench.BENCH_DB = BENCH_DB  # the generator and the workers of bench/mtm, on this database

WRITTEN = (
    "custody_posting, custody_journalentry, lending_interestaccrual, lending_penaltyaccrual, "
    "lending_historicalfinancing"
)

BASELINE_SQL = """
CREATE TEMP TABLE base_fin ON COMMIT DROP AS
SELECT f.id, f.contract_id, f.credit_account_id, f.principal_outstanding AS principal,
       k.annual_interest_rate AS rate,
       round(f.principal_outstanding * k.annual_interest_rate / 360, 2) AS amount
  FROM lending_financing f JOIN lending_creditcontract k ON k.id = f.contract_id
 WHERE f.status = 'open' AND f.principal_outstanding > 0 AND f.opened_on <= %(day)s
   AND NOT EXISTS (SELECT 1 FROM lending_interestaccrual a
                    WHERE a.contract_id = f.contract_id AND a.business_date = %(day)s);
CREATE TEMP TABLE base_contract ON COMMIT DROP AS
SELECT nextval('custody_journalentry_id_seq') AS entry_id, t.*, k.contract_number,
       'interest:' || t.contract_id || ':' || %(iso)s AS key,
       r.id AS receivable_id
  FROM (SELECT contract_id, sum(principal) AS principal, min(rate) AS rate,
               sum(amount) AS amount, min(credit_account_id) AS account_id
          FROM base_fin GROUP BY contract_id) t
  JOIN lending_creditcontract k ON k.id = t.contract_id
  JOIN lending_creditaccount ca ON ca.id = t.account_id
  JOIN custody_ledgeraccount r
    ON r.purpose_key = 'client:' || ca.investor_id || ':interest_receivable:CNY';
INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint, effective_date)
SELECT entry_id, 'interest', m.memo, key,
       encode(sha256(convert_to(concat_ws('|', 'interest', m.memo, %(iso)s, '',
              receivable_id || '=' || trim_scale(amount), %(income)s || '=' ||
              trim_scale(-amount)), 'UTF8')), 'hex'), %(day)s
  FROM base_contract,
       LATERAL (SELECT 'Interest ' || %(iso)s || ' on ' ||
                       to_char(principal, 'FM999,999,999,999,999,999,990.00') || ' at ' ||
                       trim_scale(rate) || ' ACT/360 (' || contract_number || ')' AS memo) m
 WHERE amount > 0;
INSERT INTO custody_posting (entry_id, account_id, unit, amount)
SELECT entry_id, v.account_id, 'CNY', v.amount FROM base_contract
 CROSS JOIN LATERAL (VALUES (receivable_id, amount), (%(income)s::bigint, -amount))
       AS v(account_id, amount)
 WHERE base_contract.amount > 0;
INSERT INTO lending_interestaccrual (contract_id, business_date, principal, annual_rate, amount,
                                     entry_id, created_at)
SELECT contract_id, %(day)s, principal, rate, amount,
       CASE WHEN amount > 0 THEN entry_id END, now() FROM base_contract;
UPDATE lending_financing f SET interest_accrued = f.interest_accrued + t.amount
  FROM base_fin t WHERE f.id = t.id AND t.amount > 0;
INSERT INTO lending_historicalfinancing ({columns}, history_date, history_change_reason,
                                         history_user_id, history_type)
SELECT {source}, now(), 'system: interest ' || %(iso)s, NULL, '~'
  FROM lending_financing f JOIN base_fin t ON t.id = f.id WHERE t.amount > 0;
"""


def accruals_on(day) -> int:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM lending_interestaccrual WHERE business_date = %s", [day])
        return c.fetchone()[0]


def expected_contracts() -> int:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "SELECT count(DISTINCT contract_id) FROM lending_financing "
            "WHERE status = 'open' AND principal_outstanding > 0"
        )
        return c.fetchone()[0]


def ledger_checks(sharded_day, baseline_day) -> dict:
    """The book of bench/mtm is loaded with client balances only (its trial balance does not
    balance by design), so the checks are on what the runs wrote: every entry balances, and the
    sharded day's amounts are the baseline's (same principal, same rate)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM (SELECT entry_id FROM custody_posting GROUP BY entry_id "
            "HAVING sum(amount) <> 0) x"
        )
        unbalanced = c.fetchone()[0]
        c.execute(
            "SELECT count(*) FILTER (WHERE a.amount IS DISTINCT FROM b.amount), "
            "coalesce(sum(a.amount), 0), coalesce(sum(b.amount), 0) "
            "FROM lending_interestaccrual a FULL JOIN lending_interestaccrual b "
            "ON b.contract_id = a.contract_id AND b.business_date = %s WHERE a.business_date = %s",
            [baseline_day, sharded_day],
        )
        differ, day2, day4 = c.fetchone()
    return {"unbalanced": unbalanced, "differ": differ, "day2": day2, "day4": day4}


def measure_workers(day, shards: int, expected: int, timeout: float = 3600) -> float:
    """lending.tasks.interest_accrue_daily sent as beat sends it; seconds until every shard of
    the day has committed (the shards commit all of their rows at once)."""
    from lending.financing import tasks

    started = time.perf_counter()
    tasks.interest_accrue_daily.apply_async(
        kwargs={"business_date": day.isoformat(), "shards": shards}
    )
    deadline = started + timeout
    while accruals_on(day) < expected:
        if time.perf_counter() > deadline:
            raise SystemExit(f"day {day}: {accruals_on(day):,} of {expected:,} after {timeout} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def measure_in_process(day) -> tuple[float, int]:
    from lending.financing import accrual

    started = time.perf_counter()
    contracts = accrual.shard_accrue(business_date=day).contracts
    return time.perf_counter() - started, contracts


def baseline_interest(cursor, day) -> int:
    """The day's accrual by the plain set-based SQL script, on `cursor` (the caller's
    transaction). Returns the contracts accrued."""
    from django.db import connection
    from simple_history.utils import get_history_model_for_model

    from custody import services as custody
    from lending.financing.models import Financing

    income = custody.house_account("interest_income", "CNY")
    history = get_history_model_for_model(Financing)
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    sql = BASELINE_SQL.format(
        columns=", ".join(tracked), source=", ".join(f"f.{c}" for c in tracked)
    )
    params = {"day": day, "iso": day.isoformat(), "income": income.pk}
    for statement in sql.split(";"):
        if statement.strip():
            cursor.execute(statement, params)
    cursor.execute("SELECT count(*) FROM base_contract")
    return cursor.fetchone()[0]


def measure_baseline(day) -> tuple[float, int]:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as c:
        baseline_interest(c, day)
    seconds = time.perf_counter() - started
    return seconds, accruals_on(day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--instruments", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--shards", type=int, default=4, help="shards per day")
    args = parser.parse_args()
    common.ensure_database(BENCH_DB)
    queue = f"bench-eod-{uuid.uuid4().hex[:10]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    common.django_setup(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    n = args.accounts
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {WRITTEN} RESTART IDENTITY CASCADE")
    print(f"loading {n:,} accounts over {args.instruments:,} instruments ...", flush=True)

    loaded = mtm_bench.generate_and_load(n, args.instruments)
    print(f"loaded in {loaded['load_seconds']:.1f} s", flush=True)
    expected = expected_contracts()
    day = timezone.localdate()
    calibration_s = mtm_bench.measure_calibration()
    with mtm_bench.Workers(args.workers, queue):
        day1_s = measure_workers(day, args.shards, expected)
        day2_s = measure_workers(day + timedelta(days=1), args.shards, expected)
    day3_s, day3_rows = measure_in_process(day + timedelta(days=2))
    base_s, base_rows = measure_baseline(day + timedelta(days=3))

    checks = ledger_checks(day + timedelta(days=1), day + timedelta(days=3))
    w = f"{args.workers} Celery workers, {args.shards} shards"
    rows = [
        (f"day 1, sharded ({w}), opens the accounts", day1_s, expected),
        (f"day 2, sharded ({w})", day2_s, expected),
        ("day 3, in process, one shard", day3_s, day3_rows),
        ("baseline: plain set-based SQL, one transaction", base_s, base_rows),
    ]
    print()
    print(
        f"interest accrual benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, {n:,} accounts, {expected:,} contracts accruing"
    )
    print(f"{'measure':52} {'seconds':>9} {'rows':>9} {'rows/s':>9}")
    for name, seconds, count in rows:
        print(f"{name:52} {seconds:9.2f} {count:9,} {count / seconds:9,.0f}")
    print(
        f"{'machine: 20M Python additions, one core':52} {calibration_s:9.2f}  "
        "to compare machines of the same kind"
    )
    print()
    print(f"sharded (day 2) vs SQL baseline: {base_s / day2_s:.2f}x (goal ≥ 2x)")
    print(
        f"checks: {checks['unbalanced']} unbalanced entries, {checks['differ']} contracts whose "
        f"day-2 amount differs from the baseline's day 4, interest posted on day 2 "
        f"{checks['day2']:,} = day 4 {checks['day4']:,}"
    )
    if n != 1_000_000:
        print(f"at 1M accounts, scaled linearly: ~{day2_s * 1_000_000 / n:.0f} s (goal ≤ 30 s)")
    flags = "" if n == 100_000 else f" --accounts {n}"
    print(f"reproduce: DJANGO_DEBUG=true .venv/bin/python bench/eod/accrual.py{flags}")


if __name__ == "__main__":
    main()
