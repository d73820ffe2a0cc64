"""End-of-day benchmark steps of financing: the monthly interest collection, the overdue marking
and penalty interest, each as the service runs it and as a plain set-based SQL baseline doing
the same writes without the services' checks and locks (docs/eod.md).

For the lead's runner (bench/eod): on the book of bench/mtm (`bench.mtm.run.generate_and_load`)

    prepare(cursor, fraction_overdue=0.01)   # what the steps need (run again to start over)
    service_mark_overdue(day) -> int         # lending.financing.maturity.financings_mark_overdue
    baseline_mark_overdue(cursor, day) -> int
    service_penalty(day) -> int              # lending.financing.maturity.penalty_accrue
    baseline_penalty(cursor, day) -> int
    service_collect(month) -> int            # lending.financing.collection.interest_collect
    baseline_collect(cursor, month) -> int

`cursor` is a Django cursor of the default connection (`connection.cursor()`); each baseline
runs in one transaction of its own (`transaction.atomic()`: the ledger's deferred checks run at
its commit, as for the services). Each step writes once per key: run a service and its baseline
on different days (penalty) or months (collection), and `prepare` again between the two runs of
the overdue marking and of the collection (the first run leaves the second nothing to do).

What `prepare` makes (set-based, with the ledger triggers off, as bench/mtm loads its book; the
balance mirror of the mark-to-market kept in step):
* every investor with a financing gets an interest receivable ledger account whose balance is
  30 days of interest on the financing (round(principal x 0.065 / 360, 2) x 30), also the
  financing's `interest_accrued` (interest paid and penalty charged back to 0);
* cash (client money) as bench/mtm generated it (median 50,000: it covers the interest; kept
  in the table bench_prepare_cash the first time a freshly loaded book is prepared, and put back
  from it by every later prepare), except
  one account in 50 whose cash is half its interest (collected in part) and one in 50 with no
  cash (nothing collected);
* `fraction_overdue` of the financings (a fixed, spread-out choice) opened 190 days ago and due
  10 days ago, not yet marked overdue (`marked=True`: marked, overdue since 9 days ago, so the
  penalty steps can run without the marking), the others as loaded (due in 180 days); one in
  ten of the past-due financings has an extension request pending (lapsed by the marking).

Check on a small book in this helper's own database:

    DJANGO_DEBUG=true .venv/bin/python bench/eod/steps_financing.py --accounts 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.mtm import run as mtm_bench  # noqa: E402

BENCH_DB = "margindesk_bench_h_financing"

FMT_MONEY = "FM999,999,999,999,999,999,990.00"  # lending.financing.accrual.FMT_MONEY

#: one account in CASH_EVERY has half its interest in cash, the next one none
CASH_EVERY = 50
#: interest receivable and unpaid interest of each financing, in days of interest
INTEREST_DAYS = 30


def _history_columns(model) -> tuple[str, str]:
    """(target columns, source columns `t.`) of the model's simple-history table."""
    from django.db import connection
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(model)
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    target = ", ".join(
        [*tracked, "history_date", "history_change_reason", "history_user_id", "history_type"]
    )
    return target, ", ".join(f"t.{c}" for c in tracked)


def _run(cursor, statements: list[tuple[str, dict]]) -> None:
    from django.db import transaction

    with transaction.atomic():
        for sql, params in statements:
            cursor.execute(sql, params)


# --- prepare -----------------------------------------------------------------------------------


def prepare(cursor, fraction_overdue: float = 0.01, *, marked: bool = False) -> dict:
    """Make the loaded book of bench/mtm ready for the steps (see the module docstring); run it
    again to start over. Returns the counts made."""
    from django.utils import timezone

    from custody import services as custody

    today = timezone.localdate()
    per_10k = round(fraction_overdue * 10_000)
    # the house accounts the services post to (created through custody, triggers on)
    custody.house_account("interest_income", "CNY")
    custody.house_account("interest_income", "CNY", suffix="penalty")
    params = {
        "today": today,
        "opened": today - timedelta(days=190),
        "due": today - timedelta(days=10),
        "end": today + timedelta(days=180),
        "since": (today - timedelta(days=9)) if marked else None,
        "per10k": per_10k,
        "days": INTEREST_DAYS,
        "every": CASH_EVERY,
    }
    cursor.execute("SET session_replication_role = replica")
    try:
        # 0. a book freshly loaded by bench/mtm names its client accounts by short keys
        #    ("cm:7"): its cash is kept (bench_prepare_cash) so that every prepare starts from
        #    it; then the accounts get their standard key (custody.services.ledger.purpose_key),
        #    by which the services find them
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_prepare_cash (account_id bigint PRIMARY KEY, "
            "balance numeric NOT NULL)"
        )
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM custody_ledgeraccount WHERE investor_id IS NOT NULL "
            "AND purpose_key NOT LIKE 'client:%%')"
        )
        if cursor.fetchone()[0]:
            cursor.execute("TRUNCATE bench_prepare_cash")
            cursor.execute(
                "INSERT INTO bench_prepare_cash SELECT b.account_id, b.balance "
                "FROM custody_accountbalance b JOIN custody_ledgeraccount a "
                "ON a.id = b.account_id WHERE a.purpose = 'client_money'"
            )
            cursor.execute(
                "UPDATE custody_ledgeraccount SET purpose_key = 'client:' || investor_id || ':' "
                "|| purpose || ':' || unit WHERE investor_id IS NOT NULL "
                "AND purpose_key NOT LIKE 'client:%%'"
            )
        else:
            cursor.execute(
                "UPDATE custody_accountbalance b SET balance = s.balance "
                "FROM bench_prepare_cash s WHERE b.account_id = s.account_id "
                "AND b.balance <> s.balance"
            )
        # 1. the financings: 30 days of unpaid interest; the chosen ones past due
        cursor.execute(
            "UPDATE lending_financing f SET interest_accrued = round(f.principal_outstanding "
            "* k.annual_interest_rate / 360, 2) * %(days)s, interest_paid = 0, "
            "penalty_charged = 0, status = 'open', "
            "opened_on = CASE WHEN mod(f.id * 7919, 10000) < %(per10k)s THEN %(opened)s "
            "ELSE %(today)s END, "
            "due_on = CASE WHEN mod(f.id * 7919, 10000) < %(per10k)s THEN %(due)s "
            "ELSE %(end)s END, "
            "overdue_since = CASE WHEN mod(f.id * 7919, 10000) < %(per10k)s "
            "THEN %(since)s::date END "
            "FROM lending_creditcontract k WHERE k.id = f.contract_id",
            params,
        )
        financings = cursor.rowcount
        # 2. interest receivable accounts (opened where missing) and their balances
        cursor.execute(
            "INSERT INTO custody_ledgeraccount (purpose_key, purpose, name, account_type, unit, "
            "owner, investor_id, client_money, segregated, external_ref, created_at) "
            "SELECT DISTINCT 'client:' || ca.investor_id || ':interest_receivable:CNY', "
            "'interest_receivable', 'Interest receivable (#' || ca.investor_id || ') [CNY]', "
            "'asset', 'CNY', 'client', ca.investor_id, false, false, '', now() "
            "FROM lending_financing f JOIN lending_creditaccount ca "
            "ON ca.id = f.credit_account_id ON CONFLICT (purpose_key) DO NOTHING"
        )
        cursor.execute(
            "INSERT INTO custody_accountbalance (account_id, unit, normal_sign, no_overdraft, "
            "balance, posting_count) "
            "SELECT a.id, 'CNY', 1, false, s.due, 1 FROM (SELECT ca.investor_id, "
            "sum(f.interest_accrued) AS due FROM lending_financing f JOIN lending_creditaccount "
            "ca ON ca.id = f.credit_account_id GROUP BY ca.investor_id) s "
            "JOIN custody_ledgeraccount a "
            "ON a.purpose_key = 'client:' || s.investor_id || ':interest_receivable:CNY' "
            "ON CONFLICT (account_id) DO UPDATE SET balance = excluded.balance"
        )
        receivables = cursor.rowcount
        # 3. cash: half the interest for one account in 50, none for the next one (the others
        #    have bench/mtm's cash, put back above)
        cursor.execute(
            "UPDATE custody_accountbalance b SET balance = CASE "
            "WHEN mod(a.investor_id, %(every)s) = 0 THEN -round(r.balance / 2, 2) ELSE 0 END "
            "FROM custody_ledgeraccount a JOIN custody_ledgeraccount ra "
            "ON ra.purpose_key = 'client:' || a.investor_id || ':interest_receivable:CNY' "
            "JOIN custody_accountbalance r ON r.account_id = ra.id "
            "WHERE b.account_id = a.id AND a.purpose = 'client_money' "
            "AND mod(a.investor_id, %(every)s) IN (0, 1)",
            params,
        )
        # 4. pending extension requests on one in ten of the past-due financings
        cursor.execute(
            "DELETE FROM lending_financingextension WHERE status IN ('requested', 'prepared')"
        )
        cursor.execute(
            "INSERT INTO lending_financingextension (financing_id, credit_account_id, months, "
            "old_due_on, new_due_on, status, requested_by_id, requested_on, reason, "
            "preparation_note, decision_reason, qualification, created_at) "
            "SELECT f.id, f.credit_account_id, 1, f.due_on, f.due_on + 30, 'requested', NULL, "
            "f.due_on - 5, 'bench', '', '', '{}'::jsonb, now() FROM lending_financing f "
            "WHERE f.due_on < %(today)s AND mod(f.id, 10) = 0",
            params,
        )
        extensions = cursor.rowcount
        # 5. the mark-to-market's balance mirror, as the ledger triggers would keep it
        cursor.execute("SELECT lending_riskbalance_fill()")
        cursor.execute(
            "UPDATE lending_riskbalance r SET amount = (b.balance * b.normal_sign)::float8 "
            "FROM custody_accountbalance b WHERE b.account_id = r.ledger_account_id "
            "AND r.amount <> (b.balance * b.normal_sign)::float8"
        )
    finally:
        cursor.execute("SET session_replication_role = DEFAULT")
    cursor.execute(
        "SELECT count(*) FILTER (WHERE due_on < %(today)s), count(*) FROM lending_financing",
        params,
    )
    past_due, _all = cursor.fetchone()
    cursor.execute("ANALYZE lending_financing, custody_ledgeraccount, custody_accountbalance")
    return {
        "financings": financings,
        "past_due": past_due,
        "receivables": receivables,
        "extensions": extensions,
    }


# --- overdue marking ---------------------------------------------------------------------------


def service_mark_overdue(day: date) -> int:
    from lending.financing import maturity

    return len(maturity.financings_mark_overdue(on=day))


def baseline_mark_overdue(cursor, day: date) -> int:
    """The same writes as financings_mark_overdue: overdue_since, the financings' history rows,
    the pending extensions lapsed with theirs."""
    from django.utils import timezone

    from lending.financing.models import Financing, FinancingExtension

    f_target, f_source = _history_columns(Financing)
    e_target, e_source = _history_columns(FinancingExtension)
    params = {"on": day, "now": timezone.now()}
    _run(
        cursor,
        [
            ("DROP TABLE IF EXISTS base_overdue", {}),
            ("CREATE TEMP TABLE base_overdue (id bigint PRIMARY KEY)", {}),
            (
                "WITH marked AS (UPDATE lending_financing f SET overdue_since = f.due_on + 1 "
                "WHERE f.status = 'open' AND f.overdue_since IS NULL AND f.due_on < %(on)s "
                "RETURNING f.id) INSERT INTO base_overdue SELECT id FROM marked",
                params,
            ),
            (
                f"INSERT INTO lending_historicalfinancing ({f_target}) SELECT {f_source}, "
                "now(), 'system: overdue: due on ' || to_char(t.due_on, 'YYYY-MM-DD') || ', ' "
                f"|| to_char(t.principal_outstanding, '{FMT_MONEY}') || ' principal unpaid', "
                "NULL, '~' FROM lending_financing t JOIN base_overdue o ON o.id = t.id",
                params,
            ),
            (
                "WITH lapsed AS (UPDATE lending_financingextension e SET status = 'rejected', "
                "decided_by_id = NULL, decided_at = %(now)s, "
                "decision_reason = 'lapsed: not approved by the due date' FROM base_overdue o "
                "WHERE e.financing_id = o.id AND e.status IN ('requested', 'prepared') "
                f"RETURNING e.*) INSERT INTO lending_historicalfinancingextension ({e_target}) "
                f"SELECT {e_source}, now(), 'system: lapsed: not approved by the due date', "
                "NULL, '~' FROM lapsed t",
                params,
            ),
        ],
    )
    cursor.execute("SELECT count(*) FROM base_overdue")
    marked = cursor.fetchone()[0]
    cursor.execute("DROP TABLE base_overdue")
    return marked


# --- penalty interest --------------------------------------------------------------------------


def service_penalty(day: date) -> int:
    from lending.financing import maturity

    return maturity.penalty_accrue(business_date=day)


def baseline_penalty(cursor, day: date) -> int:
    """The same writes as penalty_accrue (the receivable accounts exist: prepare opens them):
    PenaltyAccrual rows, the financings' interest and penalty with history rows, one entry of
    two postings per financing with a penalty."""
    from custody import services as custody
    from lending.financing.models import Financing

    income = custody.house_account("interest_income", "CNY", suffix="penalty")
    target, source = _history_columns(Financing)
    iso = day.isoformat()
    params = {"day": day, "iso": iso, "income": income.pk}
    memo = (
        "'Penalty interest ' || %(iso)s || ' on overdue financing #' || id || ' (' || "
        f"to_char(principal, '{FMT_MONEY}') || ' at ' || trim_scale(rate)::text || "
        "' ACT/360, due ' || to_char(due_on, 'YYYY-MM-DD') || '; ' || contract_number || ')'"
    )
    _run(
        cursor,
        [
            ("DROP TABLE IF EXISTS base_penalty", {}),
            (
                "CREATE TEMP TABLE base_penalty AS SELECT f.id, f.principal_outstanding AS "
                "principal, k.penalty_rate AS rate, f.due_on, k.contract_number, "
                "round(f.principal_outstanding * k.penalty_rate / 360, 2) AS amount, "
                "'penalty:' || f.id || ':' || %(iso)s AS key, r.id AS receivable_id, "
                "nextval('custody_journalentry_id_seq') AS entry_id "
                "FROM lending_financing f JOIN lending_creditcontract k ON k.id = f.contract_id "
                "JOIN lending_creditaccount ca ON ca.id = f.credit_account_id "
                "JOIN custody_ledgeraccount r "
                "ON r.purpose_key = 'client:' || ca.investor_id || ':interest_receivable:CNY' "
                "WHERE f.status = 'open' AND f.overdue_since <= %(day)s "
                "AND f.principal_outstanding > 0 AND NOT EXISTS (SELECT 1 FROM "
                "lending_penaltyaccrual p WHERE p.financing_id = f.id "
                "AND p.business_date = %(day)s)",
                params,
            ),
            (
                "INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint, "
                "effective_date) SELECT entry_id, 'interest', m.memo, key, "
                "encode(sha256(convert_to(concat_ws('|', 'interest', m.memo, %(iso)s, '', "
                "receivable_id || '=' || trim_scale(amount), %(income)s || '=' || "
                "trim_scale(-amount)), 'UTF8')), 'hex'), %(day)s "
                f"FROM base_penalty, LATERAL (SELECT {memo} AS memo) m WHERE amount > 0",
                params,
            ),
            (
                "INSERT INTO custody_posting (entry_id, account_id, unit, amount) "
                "SELECT entry_id, v.account_id, 'CNY', v.amount FROM base_penalty "
                "CROSS JOIN LATERAL (VALUES (receivable_id, amount), (%(income)s::bigint, "
                "-amount)) AS v(account_id, amount) WHERE base_penalty.amount > 0",
                params,
            ),
            (
                "INSERT INTO lending_penaltyaccrual (financing_id, business_date, principal, "
                "annual_rate, amount, entry_id, created_at) SELECT id, %(day)s, principal, "
                "rate, amount, CASE WHEN amount > 0 THEN entry_id END, now() FROM base_penalty",
                params,
            ),
            (
                "UPDATE lending_financing f SET interest_accrued = f.interest_accrued + t.amount, "
                "penalty_charged = f.penalty_charged + t.amount FROM base_penalty t "
                "WHERE f.id = t.id AND t.amount > 0",
                params,
            ),
            (
                f"INSERT INTO lending_historicalfinancing ({target}) SELECT {source}, now(), "
                "'system: penalty interest ' || %(iso)s || ': ' || "
                f"to_char(p.amount, '{FMT_MONEY}'), NULL, '~' FROM lending_financing t "
                "JOIN base_penalty p ON p.id = t.id WHERE p.amount > 0",
                params,
            ),
        ],
    )
    cursor.execute("SELECT count(*) FROM base_penalty")
    charged = cursor.fetchone()[0]
    cursor.execute("DROP TABLE base_penalty")
    return charged


# --- monthly interest collection ---------------------------------------------------------------


def service_collect(month: str, shards: int = 1) -> int:
    from lending.financing import collection

    return collection.interest_collect(month=month, shards=shards)


def baseline_collect(cursor, month: str) -> int:
    """The same writes as interest_collect: per account pay = min(interest receivable, cash)
    when above zero, one entry of two postings (Dr client money / Cr interest receivable), the
    pay spread over the account's open financings oldest first with history rows."""
    from django.utils import timezone

    from lending.financing.models import Financing

    tag = month[:7]
    target, source = _history_columns(Financing)
    params = {"tag": tag, "today": timezone.localdate()}
    memo = (
        "'Interest collected for ' || %(tag)s || ': ' || "
        f"to_char(pay, '{FMT_MONEY}') || ' of ' || to_char(due, '{FMT_MONEY}') || ' due'"
    )
    _run(
        cursor,
        [
            ("DROP TABLE IF EXISTS base_collect; DROP TABLE IF EXISTS base_collect_fin", {}),
            (
                "CREATE TEMP TABLE base_collect AS SELECT ca.investor_id, "
                "ca.id AS credit_account_id, r.id AS receivable_id, m.id AS money_id, "
                "rb.balance AS due, least(rb.balance, -mb.balance) AS pay, "
                "'interest-collect:' || ca.investor_id || ':' || %(tag)s AS key, "
                "nextval('custody_journalentry_id_seq') AS entry_id "
                "FROM lending_creditaccount ca JOIN custody_ledgeraccount r "
                "ON r.purpose_key = 'client:' || ca.investor_id || ':interest_receivable:CNY' "
                "JOIN custody_accountbalance rb ON rb.account_id = r.id "
                "JOIN custody_ledgeraccount m "
                "ON m.purpose_key = 'client:' || ca.investor_id || ':client_money:CNY' "
                "JOIN custody_accountbalance mb ON mb.account_id = m.id "
                "WHERE ca.status = 'open' AND least(rb.balance, -mb.balance) > 0 "
                "AND NOT EXISTS (SELECT 1 FROM custody_journalentry j "
                "WHERE j.idempotency_key = 'interest-collect:' || ca.investor_id || ':' "
                "|| %(tag)s)",
                params,
            ),
            (
                "INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint, "
                "effective_date) SELECT entry_id, 'interest', m.memo, key, "
                "encode(sha256(convert_to(concat_ws('|', 'interest', m.memo, "
                "%(today)s::date::text, '', money_id || '=' || trim_scale(pay), "
                "receivable_id || '=' || trim_scale(-pay)), 'UTF8')), 'hex'), %(today)s "
                f"FROM base_collect, LATERAL (SELECT {memo} AS memo) m",
                params,
            ),
            (
                "INSERT INTO custody_posting (entry_id, account_id, unit, amount) "
                "SELECT entry_id, v.account_id, 'CNY', v.amount FROM base_collect "
                "CROSS JOIN LATERAL (VALUES (money_id, pay), (receivable_id, -pay)) "
                "AS v(account_id, amount)",
                params,
            ),
            (
                "CREATE TEMP TABLE base_collect_fin AS SELECT id, paid, "
                "principal_outstanding = 0 AND interest_accrued - paid = 0 AS repaid FROM "
                "(SELECT f.id, f.principal_outstanding, f.interest_accrued, greatest(0, "
                "least(f.interest_accrued, a.pay - (sum(f.interest_accrued) OVER w "
                "- f.interest_accrued))) AS paid FROM lending_financing f "
                "JOIN base_collect a ON a.credit_account_id = f.credit_account_id "
                "WHERE f.status = 'open' WINDOW w AS (PARTITION BY f.credit_account_id "
                "ORDER BY f.opened_on, f.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) s "
                "WHERE paid > 0 OR (principal_outstanding = 0 AND interest_accrued - paid = 0)",
                params,
            ),
            (
                "UPDATE lending_financing f SET interest_accrued = f.interest_accrued - t.paid, "
                "interest_paid = f.interest_paid + t.paid, "
                "status = CASE WHEN t.repaid THEN 'repaid' ELSE f.status END, "
                "quantity_held = CASE WHEN t.repaid THEN 0 ELSE f.quantity_held END "
                "FROM base_collect_fin t WHERE f.id = t.id",
                params,
            ),
            (
                f"INSERT INTO lending_historicalfinancing ({target}) SELECT {source}, now(), "
                "'system: interest collected ' || %(tag)s, NULL, '~' FROM lending_financing t "
                "JOIN base_collect_fin p ON p.id = t.id",
                params,
            ),
        ],
    )
    cursor.execute("SELECT count(*) FROM base_collect")
    collected = cursor.fetchone()[0]
    cursor.execute("DROP TABLE base_collect; DROP TABLE base_collect_fin")
    return collected


# --- a check on a small book -------------------------------------------------------------------

WRITTEN = (
    "custody_posting, custody_journalentry, lending_interestaccrual, lending_penaltyaccrual, "
    "lending_historicalfinancing, lending_financingextension, "
    "lending_historicalfinancingextension"
)


def _timed(fn, *args):
    started = time.perf_counter()
    rows = fn(*args)
    return time.perf_counter() - started, rows


def _totals(cursor, sql: str, params) -> tuple:
    cursor.execute(sql, params)
    return cursor.fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--overdue", type=float, default=0.01, help="fraction past due")
    args = parser.parse_args()
    mtm_bench.BENCH_DB = BENCH_DB  # the generator of bench/mtm, on this database
    common.ensure_database(BENCH_DB)
    common.django_setup(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {WRITTEN} RESTART IDENTITY CASCADE")
    loaded = mtm_bench.generate_and_load(args.accounts, args.instruments)
    print(f"loaded {args.accounts:,} accounts in {loaded['load_seconds']:.1f} s", flush=True)
    today = timezone.localdate()
    this_month = f"{today:%Y-%m}"
    next_month = f"{today.replace(day=1) + timedelta(days=32):%Y-%m}"
    rows = []
    with connection.cursor() as c:
        made = prepare(c, args.overdue)
        print(f"prepared: {made}", flush=True)
        rows.append(("mark overdue, service", *_timed(service_mark_overdue, today)))
        rows.append(("mark overdue, rerun (nothing)", *_timed(service_mark_overdue, today)))
        history = _totals(
            c,
            "SELECT count(*) FILTER (WHERE history_change_reason LIKE 'system: overdue%%'), "
            "(SELECT count(*) FROM lending_financingextension WHERE status = 'rejected') "
            "FROM lending_historicalfinancing",
            [],
        )
        prepare(c, args.overdue)
        rows.append(("mark overdue, baseline", *_timed(baseline_mark_overdue, c, today)))
        history_base = _totals(
            c,
            "SELECT count(*) FILTER (WHERE history_change_reason LIKE 'system: overdue%%'), "
            "(SELECT count(*) FROM lending_financingextension WHERE status = 'rejected') "
            "FROM lending_historicalfinancing",
            [],
        )
        rows.append(("penalty, service (day 1)", *_timed(service_penalty, today)))
        rows.append(("penalty, rerun (nothing)", *_timed(service_penalty, today)))
        rows.append(
            ("penalty, baseline (day 2)", *_timed(baseline_penalty, c, today + timedelta(days=1)))
        )
        penalty = _totals(
            c,
            "SELECT count(*) FILTER (WHERE a.amount IS DISTINCT FROM b.amount), "
            "coalesce(sum(a.amount), 0), coalesce(sum(b.amount), 0) FROM lending_penaltyaccrual a "
            "FULL JOIN lending_penaltyaccrual b ON b.financing_id = a.financing_id "
            "AND b.business_date = %s WHERE a.business_date = %s",
            [today + timedelta(days=1), today],
        )
        prepare(c, args.overdue)
        rows.append(("collect, service (this month)", *_timed(service_collect, this_month)))
        rows.append(("collect, rerun (nothing)", *_timed(service_collect, this_month)))
        service_sum = _totals(
            c,
            "SELECT coalesce(sum(interest_paid), 0), count(*) FILTER (WHERE interest_paid > 0) "
            "FROM lending_financing",
            [],
        )
        prepare(c, args.overdue)
        rows.append(("collect, baseline (next month)", *_timed(baseline_collect, c, next_month)))
        base_sum = _totals(
            c,
            "SELECT coalesce(sum(interest_paid), 0), count(*) FILTER (WHERE interest_paid > 0) "
            "FROM lending_financing",
            [],
        )
        c.execute(
            "SELECT count(*) FROM (SELECT entry_id FROM custody_posting GROUP BY entry_id "
            "HAVING sum(amount) <> 0) x"
        )
        unbalanced = c.fetchone()[0]
    print()
    print(f"{'step':40} {'seconds':>9} {'rows':>9}")
    for name, seconds, count in rows:
        print(f"{name:40} {seconds:9.3f} {count:9,}")
    print()
    print(f"overdue history rows, lapsed extensions: service {history}, baseline {history_base}")
    print(f"penalty: {penalty[0]} financings differ, day 1 {penalty[1]:,} = day 2 {penalty[2]:,}")
    print(
        f"collection: interest paid and financings paid: service {service_sum}, baseline {base_sum}"
    )
    print(f"{unbalanced} unbalanced entries")


if __name__ == "__main__":
    main()
