"""Ledger benchmark: posting throughput and balance reads, each beside its baseline.

    DJANGO_DEBUG=true .venv/bin/python bench/ledger/run.py            # default, ~2-3 minutes
    DJANGO_DEBUG=true .venv/bin/python bench/ledger/run.py --full     # longer runs

Runs in its own database (margindesk_bench, created and migrated if missing), never the demo
data; it truncates the custody tables of that database before each run.

Rows printed:
* single entries through custody.services.entry_post with 1 and 4 worker processes, on
  distinct accounts (one pair per worker) and on shared hot accounts (one pair for all);
* beside each, the SQL ceiling: the same entry (journal entry + 2 postings, with the same
  triggers firing) written by one hand-written SQL transaction over psycopg;
* batches through custody.services.entries_post (1,000 entries per transaction);
* balance read on an account with 1,000,000 postings through the selector (one row) beside the
  naive SUM over its postings.
Goals are printed, not asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402  (the repository root is on the path now)

BENCH_DB = "margindesk_bench"

CEILING_SQL = """
WITH e AS (
    INSERT INTO custody_journalentry (kind, memo, idempotency_key, fingerprint, effective_date)
    VALUES ('transfer', %s, %s, '', CURRENT_DATE) RETURNING id
)
INSERT INTO custody_posting (entry_id, account_id, unit, amount)
SELECT e.id, v.account_id, 'CNY', v.amount FROM e,
       (VALUES (%s::bigint, %s::numeric), (%s::bigint, %s::numeric)) AS v(account_id, amount)
"""


def ensure_database() -> None:
    common.ensure_database(BENCH_DB)


def django_setup() -> None:
    common.django_setup(BENCH_DB)


def reset_ledger() -> None:
    from django.db import connection

    assert connection.settings_dict["NAME"] == BENCH_DB
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE custody_statementline, custody_reconciliationbreak, "
            "custody_reconciliation, custody_posting, custody_journalentry, "
            "custody_accountbalance, custody_creditfacility, custody_ledgeraccount, "
            "custody_historicalledgeraccount RESTART IDENTITY CASCADE"
        )


def make_accounts(n: int, prefix: str) -> list[int]:
    from custody import services

    return [services.house_account("house_bank", "CNY", suffix=f"{prefix}{i}").pk for i in range(n)]


# --- workers ---------------------------------------------------------------------------------


def _worker(kind, pair, seconds, barrier, queue, worker_id, batch_size):
    try:
        queue.put(_work(kind, pair, seconds, barrier, f"{pair[0]}.{worker_id}", batch_size))
    except BaseException as exc:
        barrier.abort()
        queue.put(f"{type(exc).__name__}: {exc}")
        raise


def _work(kind, pair, seconds, barrier, worker_id, batch_size):
    from django.db import connections

    connections.close_all()
    from custody import services
    from custody.models import LedgerAccount

    accounts = {a.pk: a for a in LedgerAccount.objects.filter(pk__in=pair)}
    a, b = accounts[pair[0]], accounts[pair[1]]
    amount = Decimal("1.00")
    done = 0
    if kind == "sql":
        import psycopg

        conn = psycopg.connect(common.database_url(BENCH_DB))
        barrier.wait()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.execute(
                CEILING_SQL,
                [f"sql {worker_id}", f"sql-{worker_id}-{done}", a.pk, amount, b.pk, -amount],
            )
            conn.commit()
            done += 1
        conn.close()
    elif kind == "service":
        barrier.wait()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            services.entry_post(
                legs=[services.debit(a, amount), services.credit(b, amount)],
                memo=f"bench {worker_id}",
                actor=None,
                idempotency_key=f"svc-{worker_id}-{done}",
            )
            done += 1
    else:  # batch
        extra = list(LedgerAccount.objects.filter(pk__in=pair[2:]))
        barrier.wait()
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            specs = []
            for i in range(batch_size):
                target = extra[i % len(extra)]
                specs.append(
                    services.EntrySpec(
                        legs=[services.debit(target, amount), services.credit(a, amount)],
                        memo="bench daily interest",
                        idempotency_key=f"batch-{worker_id}-{n}-{i}",
                    )
                )
            services.entries_post(entries=specs, actor=None)
            n += 1
            done += batch_size
    return done / (time.perf_counter() - start)


def throughput(kind: str, workers: int, hot: bool, seconds: float, batch_size: int = 1000):
    from django.db import connections

    per_worker = []
    if hot:
        pair = make_accounts(2, f"hot-{kind}-{workers}-")
        pairs = [pair] * workers
    else:
        pairs = [make_accounts(2, f"w{kind}-{workers}-{w}-") for w in range(workers)]
    if kind == "batch":
        pairs = [p + make_accounts(100, f"b{workers}-{w}-") for w, p in enumerate(pairs)]
    connections.close_all()
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, pairs[w], seconds, barrier, queue, w, batch_size))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        result = queue.get(timeout=seconds * 10 + 120)
        if isinstance(result, str):
            raise SystemExit(f"worker failed ({kind}, {workers}, hot={hot}): {result}")
        per_worker.append(result)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"worker failed ({kind}, {workers}, hot={hot})")
    return sum(per_worker)


# --- balance reads ---------------------------------------------------------------------------


def load_history(postings: int) -> int:
    """An account with `postings` postings, bulk-loaded with triggers off (replica role) in
    balanced entries of 10 debits and 1 credit; its balance row is then set to the sum."""
    from django.db import connection, transaction

    big, other = make_accounts(2, "history-")
    legs = 10
    entries = postings // legs
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "INSERT INTO custody_journalentry (kind, memo, fingerprint, effective_date, "
            "created_at) SELECT 'transfer', 'bench history', '', CURRENT_DATE, now() "
            "FROM generate_series(1, %s)",
            [entries],
        )
        cursor.execute(
            "INSERT INTO custody_posting (entry_id, account_id, unit, amount) "
            "SELECT e.id, %s, 'CNY', 1.00 FROM custody_journalentry e, generate_series(1, %s) "
            "WHERE e.memo = 'bench history'",
            [big, legs],
        )
        cursor.execute(
            "INSERT INTO custody_posting (entry_id, account_id, unit, amount) "
            "SELECT e.id, %s, 'CNY', %s FROM custody_journalentry e "
            "WHERE e.memo = 'bench history'",
            [other, -legs],
        )
        cursor.execute(
            "UPDATE custody_accountbalance b SET balance = s.total, posting_count = s.n "
            "FROM (SELECT account_id, sum(amount) total, count(*) n FROM custody_posting "
            "WHERE account_id IN (%s, %s) GROUP BY account_id) s "
            "WHERE b.account_id = s.account_id",
            [big, other],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE custody_posting")
        cursor.execute("ANALYZE custody_accountbalance")
    return big


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="20 s per throughput run")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per run")
    parser.add_argument("--postings", type=int, default=1_000_000)
    args = parser.parse_args()
    seconds = args.seconds or (20.0 if args.full else 4.0)
    began = time.perf_counter()

    ensure_database()
    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    reset_ledger()

    rows = []
    for workers in (1, 4):
        for hot in (False, True):
            service = throughput("service", workers, hot, seconds)
            ceiling = throughput("sql", workers, hot, seconds)
            rows.append((workers, hot, service, ceiling))
    batch = {w: throughput("batch", w, False, seconds) for w in (1, 4)}

    from custody import selectors

    big = load_history(args.postings)
    assert selectors.raw_balance(big) == selectors.postings_sum(big)
    read = timed(lambda: selectors.raw_balance(big), 2000)
    naive = timed(lambda: selectors.postings_sum(big), 7)

    flag = " --full" if args.full else ""
    print()
    print("Ledger benchmark (entries/s; each row beside its baseline, same run)")
    print(f"{'scenario':<44}{'service':>12}{'SQL ceiling':>14}{'ratio':>8}")
    for workers, hot, service, ceiling in rows:
        name = f"single entries, {workers} worker(s), {'hot' if hot else 'distinct'} accounts"
        print(f"{name:<44}{service:>12,.0f}{ceiling:>14,.0f}{service / ceiling:>8.2f}")
    for w, rate in batch.items():
        name = f"batches of 1,000, {w} worker(s), distinct"
        print(f"{name:<44}{rate:>12,.0f}{'':>14}{'':>8}")
    print()
    print(f"balance read, account with {args.postings:,} postings:")
    print(f"  selector (balance row)   {read * 1000:>10.3f} ms")
    print(f"  naive SUM(postings)      {naive * 1000:>10.3f} ms")
    four = next(r for r in rows if r[0] == 4 and not r[1])
    print()
    print("goals (printed, not asserted):")
    print(
        f"  single entries, 4 workers >= half the SQL ceiling: {four[2]:,.0f} vs "
        f"{four[3] / 2:,.0f} -> {'met' if four[2] >= four[3] / 2 else 'NOT met'}"
    )
    best = max(batch.values())
    print(f"  batches >= 10,000 entries/s: {best:,.0f} -> {'met' if best >= 10000 else 'NOT met'}")
    print(f"  balance read < 1 ms: {read * 1000:.3f} ms -> {'met' if read < 0.001 else 'NOT met'}")
    print()
    print(f"machine: {os.cpu_count()} CPUs; total time {time.perf_counter() - began:.0f} s")
    print(f"reproduce: DJANGO_DEBUG=true .venv/bin/python bench/ledger/run.py{flag}")


if __name__ == "__main__":
    main()
