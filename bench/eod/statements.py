"""End-of-day benchmark, monthly client statements: a month's statement run rendered by real
Celery workers.

    DJANGO_DEBUG=true .venv/bin/python bench/eod/statements.py --accounts 300 --workers 1
    DJANGO_DEBUG=true .venv/bin/python bench/eod/statements.py --accounts 300 --workers 2

Own database `margindesk_bench_statements` (created and migrated if missing). The book is
bench/mtm's (`bench.mtm.run.generate_and_load`: investors, credit accounts, contracts, ledger
balances, one financing for about 95 per cent of accounts), made a book of clients of last
month: every investor, credit account and contract dated early last month with its history
row (so they count as onboarded by the month's end), a price tick per instrument in the month,
the financings' history rows, and a month of ledger activity: per investor three journal
entries dated in the month (the opening positions on day 3, 100.00 paid in on day 15 and out
again on day 25), loaded by COPY without the posting trigger, like the rest of the book.

Rows printed:
* start: reports.services.statement_run_start in this process (the month's statements and
  their history rows inserted set-based, the dispatch task queued);
* run on `--workers` worker processes: from the start until the run is closed (every
  statement READY: the snapshots built per chunk, HTML, PDF by WeasyPrint, the file stored);
  statements per second, and per worker;
* in process, one chunk of `--chunk` statements, split into its phases (snapshots of the
  chunk, HTML, PDF, storing): where a statement's time goes;
* the machine calibration row of bench/mtm (20M Python additions on one core).
Goals (issue 21, printed, not asserted): ≥ 10 statements a second per worker; 2 workers
≥ 1.8x one (run the script with --workers 1 and --workers 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.mtm import run as mtm_bench  # noqa: E402

BENCH_DB = "margindesk_bench_statements"
mtm_bench.BENCH_DB = BENCH_DB  # the generator and the workers of bench/mtm, on this database

WRITTEN = (
    "reports_clientstatement, reports_historicalclientstatement, reports_statementrun, "
    "reports_historicalstatementrun, custody_posting, custody_journalentry, "
    "accounts_historicalinvestorprofile"
)


def last_month() -> tuple[int, int]:
    from django.utils import timezone

    previous = timezone.localdate().replace(day=1) - timedelta(days=1)
    return previous.year, previous.month


def _history_copy(cursor, model, when) -> None:
    """One "+" history row per row of `model`, dated `when` (what a save then would write)."""
    from django.db import connection
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(model)
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    cursor.execute(
        f"INSERT INTO {qn(history._meta.db_table)} ({', '.join(tracked)}, history_date, "
        "history_change_reason, history_user_id, history_type) "
        f"SELECT {', '.join('t.' + c for c in tracked)}, %s, 'system: bench book', NULL, '+' "
        f"FROM {qn(model._meta.db_table)} t ORDER BY t.id",
        [when],
    )


def make_last_months_book() -> dict:
    """Date the bench/mtm book from early last month and give it a month of activity."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import InvestorProfile
    from lending.models import CreditAccount, CreditContract, Financing

    year, month = last_month()
    onboarded = datetime(year, month, 2, 9, 0, tzinfo=timezone.get_current_timezone())
    started = time.perf_counter()
    with connection.cursor() as c:
        c.execute("UPDATE accounts_investorprofile SET created_at = %s", [onboarded])
        c.execute("UPDATE lending_creditaccount SET opened_at = %s", [onboarded])
        c.execute("UPDATE lending_creditcontract SET created_at = %s", [onboarded])
        for model in (InvestorProfile, CreditAccount, CreditContract, Financing):
            _history_copy(c, model, onboarded)
        # a price per instrument in the month (the statement values holdings at the month end)
        c.execute(
            "INSERT INTO lending_pricetick (price, at, source, received_at, instrument_id) "
            "SELECT price, %s, 'bench', %s, instrument_id FROM lending_latestprice",
            [onboarded + timedelta(days=20), onboarded + timedelta(days=20)],
        )
        c.execute(
            "SELECT la.id, la.investor_id, la.unit, b.balance FROM custody_ledgeraccount la "
            "JOIN custody_accountbalance b ON b.account_id = la.id ORDER BY la.investor_id, la.id"
        )
        accounts = c.fetchall()
        c.execute("SELECT coalesce(max(id), 0) FROM custody_ledgeraccount")
        next_account = c.fetchone()[0]
    # house offset accounts (one per unit) so that every entry balances per unit
    units = sorted({unit for _a, _i, unit, _b in accounts})
    house = {unit: next_account + 1 + n for n, unit in enumerate(units)}
    ts = onboarded.isoformat()
    entries, postings = [], []
    entry_id = 0
    by_investor: dict[int, list] = {}
    for account_id, investor_id, unit, balance in accounts:
        by_investor.setdefault(investor_id, []).append((account_id, unit, balance))
    cash_account = {
        investor_id: next(a for a, unit, _b in rows if unit == "CNY")
        for investor_id, rows in by_investor.items()
    }
    for investor_id, rows in by_investor.items():
        for day, kind, memo in ((3, "opening", "opening position"), (15, "deposit", "in"),
                                (25, "withdrawal", "out")):  # fmt: skip
            entry_id += 1
            created = (onboarded + timedelta(days=day - 2)).isoformat()
            effective = (onboarded + timedelta(days=day - 2)).date().isoformat()
            entries.append(
                f"{entry_id}\t{kind}\tbench {memo} {investor_id}\tbench:{investor_id}:{day}\t"
                f"bench\t{effective}\t{created}\n"
            )
            if day == 3:
                legs = [(a, unit, b) for a, unit, b in rows]
            else:
                amount = -100 if day == 15 else 100  # client money: credit normal
                legs = [(cash_account[investor_id], "CNY", amount)]
            for account_id, unit, amount in legs:
                if amount == 0:
                    continue
                postings.append(f"{entry_id}\t{account_id}\t{unit}\t{amount}\n")
                postings.append(f"{entry_id}\t{house[unit]}\t{unit}\t{-amount}\n")
    raw = connection.connection
    with raw.cursor() as c:
        c.execute("SET session_replication_role = replica")
        mtm_bench._copy(
            c,
            "custody_ledgeraccount",
            "id, purpose_key, purpose, name, account_type, unit, owner, client_money, "
            "segregated, external_ref, created_at",
            (
                f"{aid}\tbench:offset:{unit}\tbench_offset\toffset\tequity\t{unit}\thouse\tf\tf"
                f"\t\t{ts}\n"
                for unit, aid in house.items()
            ),
        )
        mtm_bench._copy(
            c,
            "custody_journalentry",
            "id, kind, memo, idempotency_key, fingerprint, effective_date, created_at",
            entries,
        )
        mtm_bench._copy(c, "custody_posting", "entry_id, account_id, unit, amount", postings)
        c.execute("SET session_replication_role = DEFAULT")
        for table in ("custody_ledgeraccount", "custody_journalentry", "custody_posting"):
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    with connection.cursor() as c:
        c.execute("ANALYZE")
    return {"seconds": time.perf_counter() - started, "entries": len(entries)}


def measure_run(chunk: int, timeout: float = 7200) -> tuple[float, float, object]:
    """(seconds to start the run, seconds until it closed, the run)."""
    from reports import services
    from reports.models import StatementRun

    year, month = last_month()
    started = time.perf_counter()
    run = services.statement_run_start(year=year, month=month, actor=None, chunk_size=chunk)
    start_s = time.perf_counter() - started
    deadline = started + timeout
    while True:
        run = StatementRun.objects.get(pk=run.pk)
        if run.status in ("done", "done_with_failures"):
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"run {run.pk}: {run.ready:,} of {run.accounts:,} after {timeout} s")
        time.sleep(0.05)
    return start_s, time.perf_counter() - started, run


def measure_phases(n: int) -> dict:
    """One chunk of `n` statements in this process, phase by phase (nothing stored)."""
    from reports import canonical, render, statements
    from reports.models import ClientStatement

    rows = list(ClientStatement.objects.order_by("investor_id")[:n])
    times = {"snapshots": 0.0, "html": 0.0, "pdf": 0.0}
    t0 = time.perf_counter()
    built = statements.build_statements(
        [(s.pk, s.investor_id, s.period_start, s.period_end) for s in rows]
    )
    times["snapshots"] = time.perf_counter() - t0
    size = 0
    for s in rows:
        t1 = time.perf_counter()
        data_sha256 = canonical.data_hash(built[s.pk])
        html = render.statement_html(
            snapshot=built[s.pk], data_sha256=data_sha256, language="zh-hans"
        )
        t2 = time.perf_counter()
        size += len(render.pdf_bytes(html))
        t3 = time.perf_counter()
        times["html"] += t2 - t1
        times["pdf"] += t3 - t2
    return {k: v / len(rows) * 1000 for k, v in times.items()} | {"kb": size / len(rows) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--chunk", type=int, default=None, help="statements per task")
    args = parser.parse_args()
    common.ensure_database(BENCH_DB)
    queue = f"bench-statements-{uuid.uuid4().hex[:10]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    media = Path(tempfile.mkdtemp(prefix="bench-statements-media-"))
    os.environ["MEDIA_ROOT"] = str(media)  # this process and the workers store files there
    os.environ.setdefault("MARGINDESK_LOG_LEVEL", "WARNING")
    common.django_setup(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection

    from reports import services

    call_command("migrate", verbosity=0)
    chunk = args.chunk or services.STATEMENT_CHUNK
    n = args.accounts
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {WRITTEN} RESTART IDENTITY CASCADE")
    print(f"loading {n:,} accounts over {args.instruments:,} instruments ...", flush=True)
    loaded = mtm_bench.generate_and_load(n, args.instruments)
    book = make_last_months_book()
    print(
        f"loaded in {loaded['load_seconds'] + book['seconds']:.1f} s "
        f"({book['entries']:,} journal entries in the month)",
        flush=True,
    )
    calibration_s = mtm_bench.measure_calibration()
    with mtm_bench.Workers(args.workers, queue):
        start_s, run_s, run = measure_run(chunk)
    phases = measure_phases(min(chunk, n))
    files = sum(1 for _ in media.rglob("*.pdf"))

    rate = run.ready / run_s
    print()
    print(
        f"statement run benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
        f"cores, {n:,} accounts, {args.workers} worker(s), {chunk} statements a task"
    )
    print(f"{'measure':52} {'seconds':>9} {'rows':>9} {'rows/s':>9}")
    print(f"{'start: statements inserted set-based (+ history)':52} {start_s:9.2f} "
          f"{run.accounts:9,} {run.accounts / start_s:9,.0f}")  # fmt: skip
    print(f"{f'run on {args.workers} worker(s), start to close':52} {run_s:9.2f} "
          f"{run.ready:9,} {rate:9,.1f}")  # fmt: skip
    print(f"{'per worker':52} {'':9} {'':9} {rate / args.workers:9,.1f}")
    print(
        f"{'machine: 20M Python additions, one core':52} {calibration_s:9.2f}  "
        "to compare machines of the same kind"
    )
    print()
    print(
        f"one statement in process (chunk of {min(chunk, n)}): snapshots "
        f"{phases['snapshots']:.1f} ms, HTML {phases['html']:.1f} ms, PDF {phases['pdf']:.1f} ms; "
        f"PDF {phases['kb']:.0f} KiB"
    )
    print(
        f"checks: status {run.status}, {run.ready:,} ready, {run.failed:,} failed of "
        f"{run.accounts:,}; {files:,} PDF files stored"
    )
    print(f"goal: ≥ 10 statements/s per worker (here {rate / args.workers:.1f}); run again with "
          "--workers 1 and 2 for the scaling (goal ≥ 1.8x)")  # fmt: skip
    if n != 1_000_000:
        print(f"at 1M accounts, scaled linearly: ~{1_000_000 / rate / 3600:.1f} h")
    flags = f" --accounts {n} --workers {args.workers}"
    print(f"reproduce: DJANGO_DEBUG=true .venv/bin/python bench/eod/statements.py{flags}")


if __name__ == "__main__":
    main()
