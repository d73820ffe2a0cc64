"""End-of-day benchmark, custody step: the day's client-money requirement (15c3-3 model).

For the end-of-day runner (the book of bench/mtm, `generate_and_load`, already loaded):
* `baseline_client_money(cursor, day)`: a plain set-based SQL script doing the service's
  writes (the summary row, its history row, a line per client) without its checks (no
  permission, no currency check, no advisory lock); returns the number of lines.
* `service_client_money(day)`: custody.services.client_money_requirement_compute as the system
  (actor None); returns the number of lines.
Both read the balances now (the balance rows) for today or a later day, and at the end of the
day for a past one (the balance rows less the postings of entries created since).

Run as a script, it checks both on a small book in its own database (created and migrated
if missing) and prints their times and whether their numbers agree:

    DJANGO_DEBUG=true .venv/bin/python bench/eod/steps_custody.py --accounts 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = "margindesk_bench_h_custody"
CURRENCY = "CNY"
REASON = "system: daily client-money requirement"

#: The balances per client account on its normal side, now or at as_of (the balance row less
#: the postings of entries created after as_of), and the segregated accounts'.
_BALANCES = """
CREATE TEMP TABLE base_cmr_bal AS
SELECT a.investor_id, a.segregated,
       a.purpose = 'client_money' AS credit_side,
       a.purpose IN ('financing_receivable', 'interest_receivable') AS debit_side,
       CASE WHEN a.account_type IN ('asset', 'expense') THEN 1 ELSE -1 END
       * (coalesce(b.balance, 0) - coalesce(l.amount, 0)) AS balance
  FROM custody_ledgeraccount a
  LEFT JOIN custody_accountbalance b ON b.account_id = a.id
  LEFT JOIN (SELECT p.account_id, sum(p.amount) AS amount
               FROM custody_journalentry e JOIN custody_posting p ON p.entry_id = e.id
              WHERE %(as_of)s::timestamptz IS NOT NULL AND e.created_at > %(as_of)s
              GROUP BY p.account_id) l ON l.account_id = a.id
 WHERE a.unit = %(unit)s
   AND (a.segregated OR (a.investor_id IS NOT NULL AND a.purpose IN
        ('client_money', 'financing_receivable', 'interest_receivable')))
"""

_LINES = """
INSERT INTO custody_clientmoneyrequirementline
       (requirement_id, investor_id, credit, debit, debit_counted)
SELECT %(id)s, investor_id, credit, debit,
       CASE WHEN debit > 0 THEN least(debit, credit) ELSE 0 END
  FROM (SELECT investor_id,
               coalesce(sum(balance) FILTER (WHERE credit_side), 0) AS credit,
               coalesce(sum(balance) FILTER (WHERE debit_side), 0) AS debit
          FROM base_cmr_bal WHERE credit_side OR debit_side
         GROUP BY investor_id) t
 ORDER BY investor_id
"""

_SUMMARY = """
INSERT INTO custody_clientmoneyrequirement
       (id, business_date, currency, as_of, credits, debits, requirement, segregated_funds,
        clients, computed_by_id, computed_at)
SELECT %(id)s, %(day)s, %(unit)s, coalesce(%(as_of)s, now()), t.credits, t.debits,
       greatest(0, t.credits - t.debits),
       (SELECT coalesce(sum(balance), 0) FROM base_cmr_bal WHERE segregated), t.clients,
       NULL, now()
  FROM (SELECT coalesce(sum(credit), 0) AS credits, coalesce(sum(debit_counted), 0) AS debits,
               count(*) AS clients
          FROM custody_clientmoneyrequirementline WHERE requirement_id = %(id)s) t
"""

_HISTORY = """
INSERT INTO custody_historicalclientmoneyrequirement
       (id, business_date, currency, as_of, credits, debits, requirement, segregated_funds,
        clients, computed_by_id, computed_at, history_date, history_change_reason,
        history_user_id, history_type)
SELECT id, business_date, currency, as_of, credits, debits, requirement, segregated_funds,
       clients, computed_by_id, computed_at, now(), %(reason)s, NULL, '+'
  FROM custody_clientmoneyrequirement WHERE id = %(id)s
"""


def _as_of(day: date):
    from django.utils import timezone

    from custody.selectors import end_of_day

    return None if day >= timezone.localdate() else end_of_day(day)


def baseline_client_money(cursor, day: date, currency: str = CURRENCY) -> int:
    """The requirement of `day` written by plain SQL on `cursor` (in the caller's transaction,
    or statement by statement in autocommit): the lines, the summary from them and its history
    row. Returns the number of lines."""
    params = {"unit": currency, "day": day, "as_of": _as_of(day), "reason": REASON}
    cursor.execute("SELECT nextval(pg_get_serial_sequence('custody_clientmoneyrequirement', 'id'))")
    params["id"] = cursor.fetchone()[0]
    cursor.execute("DROP TABLE IF EXISTS base_cmr_bal")
    cursor.execute(_BALANCES, params)
    cursor.execute(_LINES, params)
    lines = cursor.rowcount
    cursor.execute(_SUMMARY, params)
    cursor.execute(_HISTORY, params)
    cursor.execute("DROP TABLE base_cmr_bal")
    return lines


def service_client_money(day: date, currency: str = CURRENCY) -> int:
    """custody's service as the end-of-day chain calls it (the system acts: actor None)."""
    from custody.services import client_money_requirement_compute

    requirement = client_money_requirement_compute(business_date=day, currency=currency, actor=None)
    return requirement.clients


def _same_numbers(a: int, b: int) -> dict:
    """Summary and lines of two requirements compared (count of differing lines)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM custody_clientmoneyrequirementline x "
            "FULL JOIN (SELECT * FROM custody_clientmoneyrequirementline "
            "WHERE requirement_id = %s) y ON y.investor_id = x.investor_id "
            "WHERE x.requirement_id = %s AND (y.investor_id IS NULL "
            "OR (x.credit, x.debit, x.debit_counted) <> (y.credit, y.debit, y.debit_counted))",
            [b, a],
        )
        differ = c.fetchone()[0]
        c.execute(
            "SELECT id, credits, debits, requirement, segregated_funds, clients "
            "FROM custody_clientmoneyrequirement WHERE id IN (%s, %s) ORDER BY id",
            [a, b],
        )
        rows = [r[1:] for r in c.fetchall()]
    return {"lines_differ": differ, "summaries_equal": len(rows) == 2 and rows[0] == rows[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--instruments", type=int, default=200)
    args = parser.parse_args()

    from bench import common
    from bench.mtm import run as mtm_bench

    mtm_bench.BENCH_DB = BENCH_DB  # the generator loads into this database
    common.ensure_database(BENCH_DB)
    common.django_setup(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    print(f"loading {args.accounts:,} accounts ...", flush=True)
    loaded = mtm_bench.generate_and_load(args.accounts, args.instruments)
    print(f"loaded in {loaded['load_seconds']:.1f} s", flush=True)
    day = timezone.localdate()

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        base_lines = baseline_client_money(cursor, day)
    base_s = time.perf_counter() - started
    with connection.cursor() as c:
        c.execute("SELECT max(id) FROM custody_clientmoneyrequirement")
        base_id = c.fetchone()[0]

    started = time.perf_counter()
    service_lines = service_client_money(day)
    service_s = time.perf_counter() - started
    with connection.cursor() as c:
        c.execute("SELECT max(id) FROM custody_clientmoneyrequirement")
        service_id = c.fetchone()[0]

    checks = _same_numbers(base_id, service_id)
    print(f"{'measure':40} {'seconds':>9} {'lines':>10} {'lines/s':>10}")
    for name, seconds, lines in (
        ("baseline: plain set-based SQL", base_s, base_lines),
        ("service (client_money_requirement_compute)", service_s, service_lines),
    ):
        print(f"{name:40} {seconds:9.2f} {lines:10,} {lines / seconds:10,.0f}")
    print(
        f"checks: summaries equal {checks['summaries_equal']}, "
        f"{checks['lines_differ']} lines differ"
    )


if __name__ == "__main__":
    main()
