"""End-of-day benchmark: the whole chain (reports.eod) on the book of bench/mtm, each step beside
a set-based SQL baseline doing the same writes, measured in the same run.

    DJANGO_DEBUG=true .venv/bin/python bench/eod/run.py                       # 100,000 accounts
    DJANGO_DEBUG=true .venv/bin/python bench/eod/run.py --accounts 1000000 --workers 2

Own database `margindesk_bench_eod` (created and migrated if missing). The book is bench/mtm's
generator (`generate_and_load`, loaded by COPY), made ready for the day's work by the step
modules: `steps_financing.prepare` (about `--fraction` of financings past their due date and
already overdue, so the penalty step has work; interest receivable and cash for collection),
`steps_calls.prepare` (open calls past their deadline, accounts in warning, financings due in
3 and 10 trading days and due yesterday).

Rows printed, for the run's business date (the last trading day up to today):
* each step of the chain: its seconds as the run's step rows record them (from the step's start
  to its callback, on `--workers` real Celery worker processes, `EOD_SHARDS` shards), the rows
  it wrote, and its baseline: the same writes by plain SQL in one transaction, timed in this
  process before the chain runs and rolled back after `SET CONSTRAINTS ALL IMMEDIATE` (the
  deferred checks run; nothing is kept), so the chain then finds the same work;
* the whole chain (its first step's start to the run's end), without statements (they are
  monthly: bench/eod/statements.py);
* the monthly interest collection (not part of the daily chain), service vs baseline;
* the machine calibration row of bench/mtm (20M Python additions on one core).
Goals (issue 21, printed, not asserted): interest for 1,000,000 accounts ≤ 30 s and ≥ 2x its
baseline; the whole end of day ≤ 2 minutes at 1,000,000 accounts.
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
mtm_bench.BENCH_DB = BENCH_DB

WRITTEN = (
    "custody_posting, custody_journalentry, lending_interestaccrual, lending_penaltyaccrual, "
    "lending_historicalfinancing, reports_endofdaystep, reports_endofdayrun, "
    "reports_historicalendofdaystep, reports_historicalendofdayrun, reports_filing, "
    "custody_clientmoneyrequirementline, custody_reconciliationbreak, custody_reconciliation, "
    "custody_clientmoneyrequirement, custody_historicalclientmoneyrequirement"
)


VACUUMED = (
    "lending_interestaccrual",
    "lending_penaltyaccrual",
    "lending_financing",
    "lending_historicalfinancing",
    "lending_margincall",
    "lending_marginevent",
    "lending_notice",
    "lending_accountmarginstate",
    "custody_journalentry",
    "custody_posting",
    "custody_accountbalance",
    "custody_clientmoneyrequirementline",
)


class _Rollback(Exception):
    pass


def rolled_back(fn, *args) -> tuple[float, int]:
    """`fn(cursor, *args)` in one transaction, its deferred checks run, then rolled back."""
    from django.db import connection, transaction

    result = {}
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as c:
            result["rows"] = fn(c, *args)
            c.execute("SET CONSTRAINTS ALL IMMEDIATE")
            result["seconds"] = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return result["seconds"], int(result["rows"] or 0)


def baselines(day, now) -> dict[str, tuple[float, int]]:
    from bench.eod import accrual, steps_calls, steps_custody, steps_financing

    def escalation(c):
        return steps_calls.baseline_escalate(c, now) + steps_calls.baseline_reminders(c, now)

    def maturity(c):
        return steps_financing.baseline_mark_overdue(c, day) + steps_calls.baseline_maturity(
            c, day, now
        )

    return {
        "interest": rolled_back(accrual.baseline_interest, day),
        "escalation": rolled_back(escalation),
        "maturity": rolled_back(maturity),
        "penalty": rolled_back(steps_financing.baseline_penalty, day),
        "client_money": rolled_back(steps_custody.baseline_client_money, day),
        # the reconciliation step writes one row against the requirement of the step before
        # (and a break when they differ): no baseline worth timing
    }


def run_chain(day, timeout: float = 7200) -> object:
    from reports.eod import services as eod
    from reports.eod.models import EndOfDayRun

    run = eod.run_start(business_date=day, actor=None, reason="benchmark")
    deadline = time.perf_counter() + timeout
    while True:
        run = EndOfDayRun.objects.get(pk=run.pk)
        if run.status != "running":
            return run
        if time.perf_counter() > deadline:
            raise SystemExit(f"the end of day of {day} is not done after {timeout} s")
        time.sleep(0.2)


#: the count of each step's result that its baseline's row count is compared with
ROWS = {
    "interest": ("contracts",),
    "escalation": ("calls_overdue", "reminders"),
    "maturity": ("financings_overdue", "maturity_calls", "reminders"),
    "penalty": ("financings",),
    "client_money": ("clients",),
    "filings": ("filings",),
}


def step_rows(step) -> int:
    result = step.result or {}
    return sum(int(result.get(key) or 0) for key in ROWS.get(step.name, ()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--instruments", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--shards", type=int, default=4, help="EOD_SHARDS")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of the day's cases")
    parser.add_argument(
        "--skip-collection", action="store_true", help="leave out the monthly collection"
    )
    args = parser.parse_args()
    common.ensure_database(BENCH_DB)
    queue = f"bench-eod-{uuid.uuid4().hex[:10]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    os.environ["EOD_SHARDS"] = str(args.shards)
    # the daily filings the last step queues are generated elsewhere (bench/reports): parked
    os.environ["REPORTS_TASK_QUEUE"] = f"{queue}-filings"
    common.django_setup(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from bench.eod import steps_calls, steps_financing
    from compliance import calendar

    call_command("migrate", verbosity=0)
    n = args.accounts
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {WRITTEN} RESTART IDENTITY CASCADE")
    print(f"loading {n:,} accounts over {args.instruments:,} instruments ...", flush=True)
    loaded = mtm_bench.generate_and_load(n, args.instruments)
    print(f"loaded in {loaded['load_seconds']:.1f} s", flush=True)
    day = calendar.previous_trading_day(timezone.localdate())
    with connection.cursor() as c:
        made = steps_financing.prepare(c, args.fraction, marked=True)
        made_calls = steps_calls.prepare(c, args.fraction, on=day)
        # the generator opens the financings today: open them the day before the business
        # date, so that every contract accrues the day's interest
        c.execute(
            "UPDATE lending_financing SET opened_on = %s WHERE opened_on >= %s",
            [day - timedelta(days=1), day],
        )
    print(f"prepared: {made} {made_calls}", flush=True)
    now = timezone.now()
    calibration_s = mtm_bench.measure_calibration()

    print("baselines ...", flush=True)
    base = baselines(day, now)
    month = f"{day:%Y-%m}"
    if not args.skip_collection:
        collect_base = rolled_back(steps_financing.baseline_collect, month)

    # the baselines' rolled-back rows are dead tuples a production book does not carry
    # (autovacuum removes them): vacuumed before the chain, as a desk's nightly book is
    started = time.perf_counter()
    with connection.cursor() as c:
        for table in VACUUMED:
            c.execute(f"VACUUM ANALYZE {table}")
    print(f"vacuumed in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"the chain on {args.workers} workers ...", flush=True)
    with mtm_bench.Workers(args.workers, queue):
        run = run_chain(day)
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(f"{queue}-filings")
    steps = list(run.steps.order_by("position"))
    chain_s = (run.finished_at - steps[0].started_at).total_seconds() if run.finished_at else 0
    if not args.skip_collection:
        started = time.perf_counter()
        collected = steps_financing.service_collect(month, shards=args.shards)
        collect_s = time.perf_counter() - started

    print()
    print(
        f"end-of-day benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{n:,} accounts, business date {day}, {args.workers} workers, {args.shards} shards, "
        f"run {run.status}, load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(f"{'step':16} {'rows':>10} {'seconds':>9} {'baseline rows':>14} {'baseline s':>11} "
          f"{'vs baseline':>12}")  # fmt: skip
    for step in steps:
        seconds = step.seconds or 0.0
        b_s, b_rows = base.get(step.name, (None, None))
        ratio = f"{b_s / seconds:11.2f}x" if b_s and seconds else f"{'—':>12}"
        b_text = f"{b_rows:14,} {b_s:11.2f}" if b_s is not None else f"{'—':>14} {'—':>11}"
        print(f"{step.name:16} {step_rows(step):10,} {seconds:9.2f} {b_text} {ratio}")
    base_total = sum(s for s, _rows in base.values())
    print(f"{'whole chain':16} {'':10} {chain_s:9.2f} {'':14} {base_total:11.2f} "
          f"{base_total / chain_s if chain_s else 0:11.2f}x")  # fmt: skip
    if not args.skip_collection:
        print(
            f"{'collection':16} {collected:10,} {collect_s:9.2f} {collect_base[1]:14,} "
            f"{collect_base[0]:11.2f} {collect_base[0] / collect_s if collect_s else 0:11.2f}x"
        )
    print(
        f"{'machine: 20M Python additions, one core':52} {calibration_s:9.2f}  "
        "to compare machines of the same kind"
    )
    if run.status != "done":
        print(f"the run did not finish: {run.error}")
    interest = next(s for s in steps if s.name == "interest")
    print(
        f"goals: interest {interest.seconds or 0:.1f} s (≤ 30 s at 1,000,000 accounts), "
        f"{base['interest'][0] / (interest.seconds or 1):.2f}x its baseline (≥ 2x); "
        f"whole end of day {chain_s:.1f} s (≤ 120 s at 1,000,000 accounts)"
    )
    flags = "" if n == 100_000 else f" --accounts {n}"
    print(f"reproduce: DJANGO_DEBUG=true .venv/bin/python bench/eod/run.py{flags}")


if __name__ == "__main__":
    main()
