"""Reports benchmark: the daily business filing for a 100,000-account book.

    DJANGO_DEBUG=true .venv/bin/python -m bench.reports.run                 # 100,000 accounts
    DJANGO_DEBUG=true .venv/bin/python -m bench.reports.run --accounts 10000

Runs in its own database (margindesk_bench_reports, created and migrated if missing), never the
demo data. It empties the book tables of that database and loads a synthetic book with
set-based INSERT ... SELECT generate_series statements (no service calls, with
session_replication_role = replica so foreign-key triggers do not fire: the investors and
contracts behind the accounts are not created; accounts fall back to the default lines):
per account a client-money balance, three security holdings out of 500 instruments, and for
80% of accounts a financing receivable and accrued interest, with the postings behind them
(about 560,000 for 100,000 accounts); a price tick per instrument before as_of (two hours ago)
and a lower one after it, and a later deposit for every tenth investor, so the as-of read has
to leave later postings and prices out.

Measured (printed, not asserted; goal: under 60 s): reports.kinds.build_daily_business(as_of)
(the as-of SQL read of the whole book + aggregation), canonical JSON and its SHA-256, HTML and
WeasyPrint PDF: the same steps as reports.services.filing_generate without the file storage.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402  (the repository root is on the path now)

BENCH_DB = "margindesk_bench_reports"
N_INSTRUMENTS = 500


def ensure_database() -> None:
    common.ensure_database(BENCH_DB)


def django_setup() -> None:
    common.django_setup(BENCH_DB)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


LOAD_SQL = [
    "SET session_replication_role = replica",
    "TRUNCATE lending_pricetick, lending_latestprice, lending_historicalinstrument, "
    "lending_instrument, custody_posting, custody_journalentry, custody_accountbalance, "
    "custody_ledgeraccount, lending_creditaccount CASCADE",
    # instruments, their history row and one tick each
    """INSERT INTO lending_instrument (id, code, exchange, name, category, is_st, suspended,
        delisting, board, tradable_float, lot_size, collateral_eligible, haircut,
        financing_eligible, financing_stopped, shorts_stopped, created_at)
       SELECT i, lpad(i::text, 6, '0'), 'SSE', 'Bench ' || i,
              (ARRAY['index_constituent','other_a_share','etf'])[1 + i %% 3],
              i %% 50 = 0, false, false, 'main', 1000000000, 100, true,
              CASE WHEN i %% 50 = 0 THEN 0 ELSE (ARRAY[0.70, 0.65, 0.90])[1 + i %% 3] END,
              true, false, false, %(t0)s
       FROM generate_series(1, %(k)s) i""",
    """INSERT INTO lending_historicalinstrument (id, code, exchange, name, category, is_st,
        suspended, delisting, board, tradable_float, lot_size, collateral_eligible,
        haircut, financing_eligible, financing_stopped, shorts_stopped, created_at,
        history_date, history_type)
       SELECT id, code, exchange, name, category, is_st, suspended, delisting, board,
              tradable_float, lot_size, collateral_eligible, haircut, financing_eligible,
              financing_stopped, shorts_stopped, created_at, %(t0)s, '+' FROM lending_instrument""",
    # a tick before as_of and a lower one after it (the report must use the first)
    """INSERT INTO lending_pricetick (instrument_id, price, at, source, received_at)
       SELECT i, round((5 + (i * 7919 %% 9500) / 100.0)::numeric, 2), %(t_before)s, 'bench',
              %(t_before)s
       FROM generate_series(1, %(k)s) i""",
    """INSERT INTO lending_pricetick (instrument_id, price, at, source, received_at)
       SELECT i, round((4 + (i * 7919 %% 9500) / 100.0)::numeric, 2), %(t_after)s, 'bench',
              %(t_after)s
       FROM generate_series(1, %(k)s) i""",
    # credit accounts (investor n for account n)
    """INSERT INTO lending_creditaccount (id, account_number, account_name, status, opened_at,
        investor_id)
       SELECT n, 'CA' || lpad(n::text, 10, '0'), 'Bench ' || n, 'open', %(t0)s, n
       FROM generate_series(1, %(n)s) n""",
]


def load_book(n_accounts: int, now: datetime) -> float:
    from django.db import connection

    # unit per ledger account, computed in SQL below (no function needed)
    k = N_INSTRUMENTS
    unit = f"CASE WHEN k < 3 THEN 'CNY' ELSE 'SSE:' || lpad((1 + (n * 31 + k * 97) %% {k})::text, 6, '0') END"  # noqa: E501
    statements = [
        *LOAD_SQL,
        f"""INSERT INTO custody_ledgeraccount (id, purpose_key, purpose, name, account_type,
            unit, owner, client_money, segregated, external_ref, created_at, investor_id)
           SELECT n * 8 + k, 'client:' || n || ':' || purpose || ':' || {unit} || ':' || k,
                  purpose, purpose, account_type, {unit}, 'client', purpose = 'client_money',
                  false, '', %(t0)s, n
           FROM generate_series(1, %(n)s) n CROSS JOIN (VALUES
             (0, 'client_money', 'liability'), (1, 'financing_receivable', 'asset'),
             (2, 'interest_receivable', 'asset'), (3, 'client_securities', 'liability'),
             (4, 'client_securities', 'liability'), (5, 'client_securities', 'liability')
           ) s(k, purpose, account_type)
           WHERE k = 0 OR k >= 3 OR n %% 5 <> 0""",
        # balances (value on the normal side = balance x normal_sign)
        """INSERT INTO custody_accountbalance (account_id, unit, normal_sign, no_overdraft,
            balance, posting_count)
           SELECT la.id, la.unit, CASE la.account_type WHEN 'asset' THEN 1 ELSE -1 END, false,
             CASE la.purpose
               WHEN 'client_money' THEN -(1000 + (la.investor_id * 7907 %% 300000))
               WHEN 'financing_receivable' THEN 50000 + (la.investor_id * 104729 %% 900000)
               WHEN 'interest_receivable' THEN (la.investor_id * 13 %% 5000) / 100.0
               ELSE -(100 * (1 + la.investor_id * 37 %% 60) * (1 + la.id %% 5)) END, 1
           FROM custody_ledgeraccount la""",
        # the ledger history behind the balances: one opening entry per investor (one posting
        # per ledger account, before as_of) ...
        """INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint,
            effective_date, created_at)
           SELECT n, 'transfer', 'bench opening', 'bench-open-' || n, '', %(t0)s::date, %(t0)s
           FROM generate_series(1, %(n)s) n""",
        """INSERT INTO custody_posting (entry_id, account_id, unit, amount)
           SELECT la.investor_id, la.id, la.unit, b.balance
           FROM custody_ledgeraccount la JOIN custody_accountbalance b ON b.account_id = la.id""",
        # ... and, after as_of, a deposit of 500.00 for every tenth investor
        """INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint,
            effective_date, created_at)
           SELECT %(n)s + n, 'transfer', 'bench later', 'bench-later-' || n, '',
                  %(t_after)s::date, %(t_after)s
           FROM generate_series(10, %(n)s, 10) n""",
        """INSERT INTO custody_posting (entry_id, account_id, unit, amount)
           SELECT %(n)s + n, n * 8, 'CNY', -500 FROM generate_series(10, %(n)s, 10) n""",
        """UPDATE custody_accountbalance SET balance = balance - 500, posting_count = 2
           WHERE account_id IN (SELECT n * 8 FROM generate_series(10, %(n)s, 10) n)""",
        "SET session_replication_role = DEFAULT",
        "ANALYZE",
    ]
    params = {
        "n": n_accounts,
        "k": N_INSTRUMENTS,
        "t0": now - timedelta(days=30),
        "t_before": now - timedelta(hours=3),
        "t_after": now - timedelta(hours=1),
    }
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded book")
    args = parser.parse_args(argv)
    ensure_database()
    django_setup()
    from django.utils import timezone

    from reports import canonical, render, services
    from reports.kinds import kind_get

    now = timezone.now()
    skip = " --skip-load" if args.skip_load else ""
    print(f"command: .venv/bin/python -m bench.reports.run --accounts {args.accounts}{skip}")
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; host: {platform.node()}; "
        f"cpus: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}"
    )
    if not args.skip_load:
        print(f"load {args.accounts:,} accounts: {load_book(args.accounts, now):.1f} s")
    # two hours ago: later postings and price ticks exist and must be left out
    as_of = now - timedelta(hours=2)
    kind = kind_get("daily_business")
    t = time.perf_counter()
    snapshot = services.filing_snapshot(kind="daily_business", as_of=as_of)
    t_build = time.perf_counter() - t
    json_bytes = canonical.to_json_bytes(snapshot)
    csv_bytes = canonical.to_csv_bytes(snapshot)
    sha = canonical.sha256_hex(json_bytes)
    t_json = time.perf_counter() - t - t_build
    html = render.filing_html(
        kind=kind, snapshot=snapshot, data_sha256=sha, version=1, language="zh-hans"
    )
    pdf = render.pdf_bytes(html)
    total = time.perf_counter() - t
    t_pdf = total - t_build - t_json
    data = snapshot["data"]
    print(
        f"accounts in the report: {data['totals']['credit_accounts']:,} "
        f"(with debt {data['totals']['accounts_with_debt']:,}); "
        f"financing balance {data['totals']['financing_balance']:,}"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT -sum(b.balance) FROM custody_accountbalance b JOIN custody_ledgeraccount la "
            "ON la.id = b.account_id WHERE la.purpose = 'client_money'"
        )
        cash_now = cursor.fetchone()[0]
    later = 500 * (data["totals"]["credit_accounts"] // 10)
    check = "ok" if data["totals"]["cash"] == cash_now - later else "MISMATCH"
    print(
        f"as-of check: cash at as_of {data['totals']['cash']:,} = cash now {cash_now:,.2f} "
        f"- later deposits {later:,}: {check}"
    )
    print(f"snapshot (SQL as-of read + aggregation): {t_build:.2f} s")
    print(
        f"canonical JSON + CSV + SHA-256:          {t_json:.2f} s "
        f"({len(json_bytes):,} + {len(csv_bytes):,} bytes)"
    )
    print(f"HTML + PDF (WeasyPrint):                 {t_pdf:.2f} s ({len(pdf):,} bytes)")
    print(f"total:                                   {total:.2f} s (goal < 60 s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
