"""Mark-to-market benchmark: a synthetic book, a full-book run, and two baselines on the same data.

    DJANGO_DEBUG=true .venv/bin/python bench/mtm/run.py                 # 100,000 accounts
    DJANGO_DEBUG=true .venv/bin/python bench/mtm/run.py --full          # 1,000,000 / 5,000,000

Runs in its own database (margindesk_bench_mtm, created and migrated if missing), never the demo
data; it truncates the book tables of that database and loads the synthetic book with COPY
(session_replication_role = replica: no FK or posting triggers while loading; the ledger
balances, and their mark-to-market mirror, are written directly, as the triggers would keep them).

Book: N accounts, about 5 positions each over K instruments (lognormal prices, haircuts by
category), cash, one financed position per indebted account; maintenance ratios spread as
1 + lognormal(median 1.5, sigma 0.5) (median 250%, ~0.4% under the warning line, ~0.1% under the
call line), 5% of accounts without debt. A tenth of the accounts (issue 22) also hold a short
position (融券) in one instrument (chosen by the same popularity): shares owed worth about 20%
of the account's assets (lognormal), sold at the price times lognormal(0, 0.1), so some shorts
gain and some lose; the account's ledger has its short securities balance, the restricted
proceeds (the sale amount) and, for half of them, lending fees owed; one open ShortPosition row
each (its reservation and journal entry ids are placeholders, as the contracts' application
ids are: no FK check while loading). The financing debt of a short account is what brings its
ratio, short liability included, to the drawn ratio (0 when the short alone exceeds it).

Rows printed:
* full run: `lending.mtm.services.mtm_run_start` as beat calls it, its chord of shards on
  `--workers` real Celery worker processes (solo pool, a queue of this run, default 2), timed until
  the run is closed (load of the balance mirror and the accounts as binary arrays, vectorised
  valuation, the shard's snapshot row by binary COPY, state changes set-based through
  lending.margin_calls.services.margin_states_apply_many), with the seconds each step took
  summed over the shards; then the time until the workers sent the run's e-mail notices
  (the outbox tasks
  its commits enqueued, run after its shards); then the same run again on the same prices
  (idempotent: no new call);
* baseline 1: one set-based SQL statement computing every account's ratio (with the short
  side: restricted proceeds in the assets, shares owed at the latest price and lending fees
  owed in the liabilities);
* baseline 2: a per-account ORM loop (account_view + margin_state_apply per account), timed on a
  sample and extrapolated to N (labelled);
* a price move on the instrument whose number of holders is closest to 10,000: `--moves` ticks,
  1 % to 9 % below its first price (inside the day's ±10 % band), cycling, ingested by
  lending.instruments.services.prices_ingest; its price hook enqueues the incremental
  revaluation, which a worker runs; timed from the ingest until the run is closed
  (its calls were committed before that): p50 and p99, and the run's load and apply seconds.
Goals are printed, not asserted.

For profiling: --load-only loads the book and stops; --reuse-book keeps the book a previous run
loaded (same size) and empties only what runs write, so a change can be measured again in a
minute instead of the four a full load takes (the printed figures say which was used).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402  (the repository root is on the path now)

#: The database (--database changes it, e.g. to run beside another benchmark's).
BENCH_DB = "margindesk_bench_mtm"

SET_BASED_SQL = """
SELECT ca.id,
       (coalesce(sum(CASE WHEN la.purpose IN ('client_money', 'short_proceeds')
                          THEN -b.balance END), 0)
        + coalesce(sum(CASE WHEN la.purpose = 'client_securities'
                            THEN b.balance * lp.price END), 0))
       / nullif(coalesce(sum(CASE WHEN la.purpose IN ('financing_receivable',
                                                      'interest_receivable',
                                                      'lending_fee_receivable')
                              THEN b.balance
                              WHEN la.purpose = 'short_securities'
                              THEN b.balance * lp.price END), 0), 0) AS ratio
FROM lending_creditaccount ca
JOIN custody_ledgeraccount la ON la.investor_id = ca.investor_id
JOIN custody_accountbalance b ON b.account_id = la.id
LEFT JOIN lending_instrument i ON la.purpose IN ('client_securities', 'short_securities')
     AND la.unit = i.exchange || ':' || i.code
LEFT JOIN lending_latestprice lp ON lp.instrument_id = i.id
WHERE ca.status = 'open'
GROUP BY ca.id
"""

#: What runs write: emptied by --reuse-book, so its first run starts from the same state.
RUN_TABLES = (
    "lending_mtmsnapshot, lending_mtmshard, lending_mtmrun, lending_notice, lending_marginevent, "
    "lending_historicalmargincall, lending_margincall, lending_historicalaccountmarginstate, "
    "lending_accountmarginstate"
)
TABLES = (
    f"lending_riskbalance, {RUN_TABLES}, lending_shortposition, lending_historicalshortposition, "
    "lending_financing, lending_historicalfinancing, "
    "lending_creditcontract, lending_historicalcreditcontract, lending_creditaccount, "
    "lending_historicalcreditaccount, custody_accountbalance, custody_ledgeraccount, "
    "custody_historicalledgeraccount, lending_latestprice, lending_pricetick, lending_instrument, "
    "accounts_investorprofile, accounts_user"
)


#: The share of accounts holding a short position, and its value as a share of their assets.
SHORT_SHARE = 0.10
SHORT_SIZE = 0.20


def ensure_database() -> None:
    common.ensure_database(BENCH_DB)


def django_setup() -> None:
    common.django_setup(BENCH_DB)
    from django.conf import settings

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _copy(cursor, table: str, columns: str, lines) -> None:
    buf = io.StringIO()
    buf.writelines(lines)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(buf.getvalue())


def generate_and_load(
    n: int, k: int, seed: int = 20260929, short_share: float = SHORT_SHARE
) -> dict:
    """The synthetic book, loaded by COPY; returns what the measures need."""
    from django.db import connection

    assert connection.settings_dict["NAME"] == BENCH_DB
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    ts = now.isoformat()
    day = now.date().isoformat()
    end = (now.date() + timedelta(days=180)).isoformat()

    # instruments: ids 1..k; categories and haircuts; lognormal prices
    cats = np.array(["index_constituent", "other_a_share", "etf", "other_fund_bond"])
    cat_p = [0.3, 0.55, 0.1, 0.05]
    haircut_by_cat = {
        "index_constituent": "0.70",
        "other_a_share": "0.65",
        "etf": "0.90",
        "other_fund_bond": "0.80",
    }
    inst_cat = rng.choice(cats, size=k, p=cat_p)
    price = np.round(np.exp(rng.normal(np.log(15), 0.9, size=k)) + 1, 2)
    # popularity: Zipf-like, so a few instruments are held by ~10,000 accounts at 100k
    weights = 1.0 / np.arange(1, k + 1) ** 0.9
    weights /= weights.sum()

    npos = rng.integers(3, 8, size=n)  # about 5 positions each
    p = int(npos.sum())
    acc_of_pos = np.repeat(np.arange(n), npos)
    inst_of_pos = rng.choice(k, size=p, p=weights)
    # one holding per (account, instrument)
    key = np.unique(acc_of_pos.astype(np.int64) * k + inst_of_pos)
    acc_of_pos, inst_of_pos = key // k, key % k
    p = key.shape[0]
    value = np.exp(rng.normal(np.log(60_000), 0.8, size=p))
    qty = np.maximum(np.round(value / price[inst_of_pos] / 100), 1) * 100
    mv = qty * price[inst_of_pos]
    mv_acc = np.bincount(acc_of_pos, mv, minlength=n)
    cash = np.round(np.exp(rng.normal(np.log(50_000), 1.0, size=n)), 2)
    assets = cash + mv_acc
    ratio = 1.0 + np.exp(rng.normal(np.log(1.5), 0.5, size=n))
    no_debt = rng.random(n) < 0.05
    # the short side: a tenth of the accounts owe shares of one instrument, sold at the price
    # times lognormal(0, 0.1); restricted proceeds = the sale amount; half owe lending fees
    short_acc = np.flatnonzero(rng.random(n) < short_share)
    ns = short_acc.shape[0]
    short_inst = rng.choice(k, size=ns, p=weights)
    short_value = assets[short_acc] * SHORT_SIZE * np.exp(rng.normal(0.0, 0.5, size=ns))
    short_qty = np.maximum(np.round(short_value / price[short_inst] / 100), 1) * 100
    sale_price = np.round(price[short_inst] * np.exp(rng.normal(0.0, 0.1, size=ns)), 2)
    short_amount = np.round(short_qty * sale_price, 2)
    short_fees = np.where(rng.random(ns) < 0.5, np.round(short_amount * 0.0835 * 10 / 360, 2), 0)
    short_mv = np.zeros(n)
    short_mv[short_acc] = short_qty * price[short_inst]
    proceeds = np.zeros(n)
    proceeds[short_acc] = short_amount
    fees = np.zeros(n)
    fees[short_acc] = short_fees
    # the financing debt that brings the ratio, short liability and fees included, to `ratio`
    debt = np.round(np.maximum((assets + proceeds) / ratio - short_mv - fees, 0.0), 2)
    debt[no_debt] = 0
    first = np.r_[0, np.flatnonzero(np.diff(acc_of_pos)) + 1]  # first position row per account

    with connection.cursor() as c:
        c.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    raw = connection.connection
    t0 = time.perf_counter()
    with raw.cursor() as c:
        c.execute("SET session_replication_role = replica")
        _copy(
            c,
            "lending_instrument",
            "id, code, exchange, name, category, is_st, suspended, delisting, board, "
            "tradable_float, lot_size, collateral_eligible, haircut, financing_eligible, "
            "financing_stopped, shorts_stopped, created_at",
            (
                f"{j + 1}\tB{j + 1:06d}\tSSE\tbench {j + 1}\t{inst_cat[j]}\tf\tf\tf\tmain\t"
                f"1000000000\t100\tt\t{haircut_by_cat[inst_cat[j]]}\tt\tf\tf\t{ts}\n"
                for j in range(k)
            ),
        )
        _copy(
            c,
            "lending_latestprice",
            "instrument_id, price, at, prev_close",
            (f"{j + 1}\t{price[j]:.2f}\t{ts}\t{price[j]:.2f}\n" for j in range(k)),
        )
        ids = np.arange(1, n + 1)
        _copy(
            c,
            "accounts_user",
            "id, password, is_superuser, email, full_name, is_staff, is_active, date_joined",
            (f"{i}\t!\tf\tbench{i}@example.invalid\tBench {i}\tf\tt\t{ts}\n" for i in ids),
        )
        _copy(
            c,
            "accounts_investorprofile",
            "id, investor_type, real_name, id_type, id_number_encrypted, id_number_digest, "
            "id_number_masked, phone, address, bank_name, bank_account_encrypted, "
            "bank_account_digest, bank_account_masked, category, created_at, updated_at, user_id",
            (
                f"{i}\tindividual\t投资者{i}\tresident_id\tx\td{i}\t****\t\t\tbank\tx\tb{i}\t****\t"
                f"ordinary\t{ts}\t{ts}\t{i}\n"
                for i in ids
            ),
        )
        _copy(
            c,
            "lending_creditaccount",
            "id, account_number, account_name, status, opened_at, investor_id",
            (f"{i}\tBM{i:010d}\tBench {i}\topen\t{ts}\t{i}\n" for i in ids),
        )
        _copy(
            c,
            "lending_creditcontract",
            "id, contract_number, status, currency, credit_limit, signed_on, starts_on, ends_on, "
            "term_months, renewal_count, annual_interest_rate, credit_grade, "
            "collateral_liquidity, warning_line, call_line, target_line, withdrawal_line, "
            "financing_margin_ratio, commission_rate, disclosure_sha256, created_at, "
            "application_id, approved_by_id, credit_account_id, disclosure_id, investor_id, "
            "penalty_rate",
            (
                f"{i}\tBC{i:010d}\tactive\tCNY\t10000000\t{day}\t{day}\t{end}\t6\t0\t0.065\tB\t"
                f"high\t1.40\t1.30\t1.50\t3.00\t1.00\t0.0003\t-\t{ts}\t{i}\t1\t{i}\t1\t{i}\t"
                "0.18\n"
                for i in ids
            ),
        )
        # ledger: client money (liability, balance negative = credit), financing receivable
        # (asset, debit positive), client securities (asset) per position
        lines, bal = [], []
        lid = 0
        for i in range(n):
            inv = i + 1
            lid += 1
            lines.append(
                f"{lid}\tcm:{inv}\tclient_money\tcash\tliability\tCNY\tclient\tt\tf\t\t{ts}\t{inv}\n"
            )
            bal.append(f"{lid}\tCNY\t-1\tt\t{-cash[i]:.2f}\t1\n")
            if debt[i] > 0:
                lid += 1
                lines.append(
                    f"{lid}\tfr:{inv}\tfinancing_receivable\tdebt\tasset\tCNY\tclient\tf\tf\t\t"
                    f"{ts}\t{inv}\n"
                )
                bal.append(f"{lid}\tCNY\t1\tf\t{debt[i]:.2f}\t1\n")
        for r in range(p):
            inv = int(acc_of_pos[r]) + 1
            unit = f"SSE:B{int(inst_of_pos[r]) + 1:06d}"
            lid += 1
            lines.append(
                f"{lid}\tcs:{inv}:{unit}\tclient_securities\tsec\tasset\t{unit}\tclient\tf\tf\t\t"
                f"{ts}\t{inv}\n"
            )
            bal.append(f"{lid}\t{unit}\t1\tf\t{qty[r]:.0f}\t1\n")
        # the short side: shares owed (asset, per instrument), restricted proceeds (client
        # money: a liability, credit balance), lending fees owed (asset)
        for s in range(ns):
            inv = int(short_acc[s]) + 1
            unit = f"SSE:B{int(short_inst[s]) + 1:06d}"
            lid += 1
            lines.append(
                f"{lid}\tss:{inv}:{unit}\tshort_securities\towed\tasset\t{unit}\tclient\tf\tf\t\t"
                f"{ts}\t{inv}\n"
            )
            bal.append(f"{lid}\t{unit}\t1\tf\t{short_qty[s]:.0f}\t1\n")
            lid += 1
            lines.append(
                f"{lid}\tsp:{inv}\tshort_proceeds\tproceeds\tliability\tCNY\tclient\tt\tf\t\t"
                f"{ts}\t{inv}\n"
            )
            bal.append(f"{lid}\tCNY\t-1\tt\t{-short_amount[s]:.2f}\t1\n")
            if short_fees[s] > 0:
                lid += 1
                lines.append(
                    f"{lid}\tlf:{inv}\tlending_fee_receivable\tfees\tasset\tCNY\tclient\tf\tf\t"
                    f"\t{ts}\t{inv}\n"
                )
                bal.append(f"{lid}\tCNY\t1\tf\t{short_fees[s]:.2f}\t1\n")
        _copy(
            c,
            "custody_ledgeraccount",
            "id, purpose_key, purpose, name, account_type, unit, owner, client_money, "
            "segregated, external_ref, created_at, investor_id",
            lines,
        )
        _copy(
            c,
            "custody_accountbalance",
            "account_id, unit, normal_sign, no_overdraft, balance, posting_count",
            bal,
        )
        fin_rows = []
        for i in np.flatnonzero(debt > 0):
            r = first[i]
            q = qty[r]
            fin_rows.append(
                f"{i + 1}\t{i + 1}\t{int(inst_of_pos[r]) + 1}\t{q:.0f}\t"
                f"{price[inst_of_pos[r]]:.2f}\t{debt[i]:.2f}\t{debt[i]:.2f}\t0\t0\t{q:.0f}\t"
                f"{day}\t{end}\topen\tbench-{i + 1}\t\t{ts}\t0\n"
            )
        _copy(
            c,
            "lending_financing",
            "credit_account_id, contract_id, instrument_id, quantity, price, amount, "
            "principal_outstanding, interest_accrued, interest_paid, quantity_held, opened_on, "
            "due_on, status, idempotency_key, reason, created_at, penalty_charged",
            fin_rows,
        )
        # one open short position per short account (placeholder reservation and entry ids)
        _copy(
            c,
            "lending_shortposition",
            "credit_account_id, contract_id, instrument_id, reservation_id, quantity, price, "
            "amount, quantity_outstanding, amount_outstanding, fee_rate, fee_accrued, fee_paid, "
            "compensation_charged, opened_on, due_on, status, idempotency_key, entry_id, reason, "
            "created_at",
            (
                f"{a + 1}\t{a + 1}\t{j + 1}\t1\t{q:.0f}\t{sp:.2f}\t{amt:.2f}\t{q:.0f}\t"
                f"{amt:.2f}\t0.0835\t{fee:.2f}\t0\t0\t{day}\t{end}\topen\tbench-short-{a + 1}\t"
                f"1\t\t{ts}\n"
                for a, j, q, sp, amt, fee in zip(
                    short_acc.tolist(), short_inst.tolist(), short_qty.tolist(),
                    sale_price.tolist(), short_amount.tolist(), short_fees.tolist(), strict=True
                )
            ),
        )  # fmt: skip
        c.execute("SELECT lending_riskbalance_fill()")  # as the ledger triggers would keep it
        c.execute("SET session_replication_role = DEFAULT")
        for table in (
            "lending_instrument",
            "accounts_user",
            "accounts_investorprofile",
            "lending_creditaccount",
            "lending_creditcontract",
            "custody_ledgeraccount",
            "lending_financing",
            "lending_shortposition",
        ):
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    with connection.cursor() as c:
        c.execute("ANALYZE")
    # holders of an instrument: the accounts holding it or owing it short (distinct)
    held_or_owed = np.unique(
        np.concatenate([acc_of_pos * k + inst_of_pos, short_acc.astype(np.int64) * k + short_inst])
    )
    holders = np.bincount(held_or_owed % k, minlength=k)
    return {
        "load_seconds": time.perf_counter() - t0,
        "positions": p,
        "shorts": ns,
        "ledger_accounts": lid,
        "holders": holders,
    }


def reuse_book(n: int) -> dict:
    """The book an earlier run loaded, with what runs wrote emptied and the prices restored
    (the price moves of the earlier run lowered one instrument's)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM lending_creditaccount")
        if c.fetchone()[0] != n:
            raise SystemExit(f"--reuse-book: the bench database does not hold {n:,} accounts")
        c.execute(f"TRUNCATE {RUN_TABLES} RESTART IDENTITY CASCADE")
        c.execute(
            "UPDATE lending_latestprice lp SET price = lp.prev_close, at = t.first "
            "FROM (SELECT min(at) AS first FROM lending_latestprice) t"
        )
        c.execute("TRUNCATE lending_pricetick")
        c.execute(
            "SELECT instrument_id, count(DISTINCT investor_id) FROM ("
            "SELECT instrument_id, investor_id FROM lending_riskbalance "
            "WHERE kind = 3 AND amount <> 0 UNION ALL SELECT s.instrument_id, ca.investor_id "
            "FROM lending_shortposition s JOIN lending_creditaccount ca "
            "ON ca.id = s.credit_account_id WHERE s.status = 'open') h "
            "GROUP BY instrument_id ORDER BY instrument_id"
        )
        rows = c.fetchall()
    holders = np.zeros(max(r[0] for r in rows), dtype=np.int64)
    for instrument_id, count in rows:
        holders[instrument_id - 1] = count
    return {"holders": holders}


class Workers:
    """`count` real Celery worker processes (solo pool) on a queue of this run, pointed at the
    bench database; this process sends its tasks (the runs' chords, the price hook's
    revaluations) to the same queue (CELERY_TASK_DEFAULT_QUEUE, set before Django starts)."""

    def __init__(self, count: int, queue: str) -> None:
        self.count, self.queue = count, queue
        self.started: list = []
        self.logs = Path(tempfile.mkdtemp(prefix="bench-mtm-"))

    def __enter__(self) -> Workers:
        from tools import worker_processes

        env = {"DATABASE_URL": common.database_url(BENCH_DB), "MARGINDESK_LOG_LEVEL": "WARNING"}
        for i in range(self.count):
            log = self.logs / f"w{i + 1}.log"
            self.started.append(worker_processes.start(f"bench{i + 1}", self.queue, log, env))
        for worker in self.started:
            worker_processes.wait_until_ready(worker, worker.log_path)
        return self

    def __exit__(self, *exc) -> None:
        from config.celery import app
        from tools import worker_processes

        for worker in self.started:
            worker_processes.stop(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(self.queue)


def _wait_for(run_id: int, timeout: float = 3600.0, poll: float = 0.005):
    """The run once closed, polled every ``poll`` seconds (this process shares the 2 cores
    with the workers: a full run is polled less often than a price move)."""
    from lending.models import MtmRun

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        run = MtmRun.objects.get(pk=run_id)
        if run.status in ("succeeded", "failed"):
            return run
        time.sleep(poll)
    raise RuntimeError(f"run {run_id} not finished after {timeout} s")


def measure_full_run(shard_size: int, queue: str) -> tuple[float, object]:
    """A full run as beat starts it: its chord on the workers; until the run is closed."""
    from lending.mtm import services as mtm

    t0 = time.perf_counter()
    run = mtm.mtm_run_start(trigger="bench", shard_size=shard_size, queue=queue)
    run = _wait_for(run.pk, poll=0.02)
    return time.perf_counter() - t0, run


def shard_timings(run) -> str:
    rows = list(run.shard_rows.order_by("shard"))
    total = {k: sum(getattr(r, f"{k}_seconds") or 0 for r in rows)
             for k in ("load", "value", "store", "apply")}  # fmt: skip
    return ", ".join(f"{k} {v:.2f}" for k, v in total.items()) + " (s, summed over shards)"


def wait_for_outbox(timeout: float = 600.0) -> float:
    """Seconds until the workers sent every e-mail notice the run wrote (the outbox tasks it
    enqueued after its commits), so the next measure does not share the workers with them."""
    from lending.models import Notice

    t0 = time.perf_counter()
    while Notice.objects.filter(channel="email", sent_at__isnull=True).exists():
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError("e-mail notices still unsent")
        time.sleep(0.05)
    return time.perf_counter() - t0


def measure_set_based() -> tuple[float, int]:
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute(SET_BASED_SQL)
        rows = c.fetchall()
    return time.perf_counter() - t0, len(rows)


def measure_calibration() -> float:
    """Seconds for 20 million Python additions on one core: the machine's speed, printed so that
    figures taken on different machines of the same kind can be compared (the SQL baseline does
    the same for PostgreSQL)."""
    started = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - started


def measure_figures_csv(run_id: int) -> tuple[float, int]:
    """Seconds to produce every chunk of a run's figures CSV (lending.mtm.snapshots.figures_csv,
    what the staff download streams), and its size."""
    from lending.mtm import snapshots

    started = time.perf_counter()
    size = sum(len(chunk.encode()) for chunk in snapshots.figures_csv(run_id))
    return time.perf_counter() - started, size


def measure_orm_loop(sample: int, n: int) -> float:
    """account_view + margin_state_apply for `sample` accounts; seconds per account."""
    from lending.financing.valuation import account_view
    from lending.margin_calls import services as calls
    from lending.models import CreditAccount

    rng = np.random.default_rng(7)
    ids = sorted(int(i) for i in rng.choice(np.arange(1, n + 1), size=sample, replace=False))
    accounts = list(CreditAccount.objects.filter(pk__in=ids))
    at = datetime.now(UTC)
    t0 = time.perf_counter()
    for account in accounts:
        view = account_view(account)
        calls.margin_state_apply(
            credit_account=account,
            ratio=view.maintenance_ratio,
            total_assets=view.total_assets,
            total_liabilities=view.total_liabilities,
            valued_at=at,
            source="bench-orm",
            lines=view.lines,
        )
    return (time.perf_counter() - t0) / len(accounts)


def measure_price_move(holders: np.ndarray, moves: int) -> tuple[int, list[float], int, list]:
    """Ticks on one instrument held by ~10,000 accounts (at 100k), 1 % to 9 % lower: the time from
    the tick's ingestion (its transaction committed, the price hook enqueueing the revaluation)
    to the incremental run closed on a worker, its calls committed before that."""
    from lending.instruments import services as instruments_services
    from lending.models import LatestPrice, MtmRun

    target = int(np.argmin(np.abs(holders - 10_000)))  # the goal's instrument, at any scale
    instrument_id = target + 1
    times, calls, runs = [], 0, []
    base = datetime.now(UTC)
    price = LatestPrice.objects.get(instrument_id=instrument_id).price
    for m in range(moves):
        # 1 % to 9 % below the first price, then again: within the day's ±10 % band around the
        # previous close (a tick outside it is refused, as the exchange would)
        new = price * (1 - Decimal(m % 9 + 1) / 100)
        tick = {
            "instrument": f"SSE:B{instrument_id:06d}",
            "price": str(new.quantize(Decimal("0.01"))),
            "at": base + timedelta(seconds=m + 1),
        }
        last = MtmRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        t0 = time.perf_counter()
        instruments_services.prices_ingest([tick], source="bench")
        run_id = None
        while run_id is None:
            run_id = (
                MtmRun.objects.filter(pk__gt=last, kind="incremental", trigger="price")
                .values_list("pk", flat=True)
                .first()
            )
            if run_id is None:
                time.sleep(0.002)
        run = _wait_for(run_id, timeout=120)
        times.append(time.perf_counter() - t0)
        calls += run.calls_issued
        runs.append(run)
        time.sleep(0.05)
    return int(holders[target]), times, calls, runs


def main() -> None:
    global BENCH_DB
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--instruments", type=int, default=2_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 accounts, 5,000 instruments")
    parser.add_argument(
        "--shard-size",
        type=int,
        default=0,
        help="accounts per shard (default: the book over 2 shards per worker)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--short-share",
        type=float,
        default=SHORT_SHARE,
        help=f"share of the accounts holding a short position (default {SHORT_SHARE})",
    )
    parser.add_argument(
        "--database", default=BENCH_DB, help=f"the benchmark's database (default {BENCH_DB})"
    )
    parser.add_argument("--orm-sample", type=int, default=200)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument(
        "--load-only", action="store_true", help="load the synthetic book and stop (profiling)"
    )
    parser.add_argument(
        "--reuse-book",
        action="store_true",
        help="keep the book a previous run loaded (same size), empty only what runs write",
    )
    args = parser.parse_args()
    if args.full:
        args.accounts, args.instruments = 1_000_000, 5_000
    BENCH_DB = args.database
    ensure_database()
    queue = f"bench-mtm-{uuid.uuid4().hex[:10]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue  # the price hook's tasks go to the workers
    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    n = args.accounts
    if args.reuse_book:
        loaded = reuse_book(n)
        print(f"reusing the loaded book of {n:,} accounts (run tables emptied)", flush=True)
    else:
        print(f"loading {n:,} accounts over {args.instruments:,} instruments ...", flush=True)
        loaded = generate_and_load(n, args.instruments, short_share=args.short_share)
        print(
            f"loaded {n:,} accounts, {loaded['positions']:,} positions, "
            f"{loaded['shorts']:,} short positions, "
            f"{loaded['ledger_accounts']:,} ledger accounts in {loaded['load_seconds']:.1f} s",
            flush=True,
        )
    if args.load_only:
        return

    shard_size = args.shard_size or max(1, -(-n // (2 * args.workers)))
    calibration_s = measure_calibration()
    set_s, set_rows = measure_set_based()
    with Workers(args.workers, queue):
        full_s, run = measure_full_run(shard_size, queue)
        outbox_s = wait_for_outbox()
        again_s, again = measure_full_run(shard_size, queue)
        held_by, move_times, move_calls, move_runs = measure_price_move(
            loaded["holders"], args.moves
        )
    orm_per = measure_orm_loop(args.orm_sample, n)
    csv_s, csv_bytes = measure_figures_csv(run.pk)
    move_apply = [r.shard_rows.get().apply_seconds for r in move_runs]
    move_load = [r.shard_rows.get().load_seconds for r in move_runs]

    rows = [
        (f"full run ({args.workers} Celery workers)", full_s, f"{run.accounts_valued:,} accounts, "
         f"{run.warnings:,} warnings, {run.calls_issued:,} calls, {run.state_changes:,} state "
         f"changes, {run.shards_total} shards of {shard_size:,}"),
        ("  of which, summed over shards", None, shard_timings(run)),
        ("  then its e-mails sent by the workers", outbox_s, "after the run closed (outbox)"),
        ("second run, same prices (idempotent)", again_s, f"{again.calls_issued} new calls, "
         f"{again.state_changes} state changes"),
        ("the run's figures as CSV (staff download)", csv_s,
         f"{run.accounts_valued:,} rows, {csv_bytes / 1e6:.1f} MB"),
        ("baseline: one set-based SQL statement", set_s, f"{set_rows:,} ratios"),
        ("machine: 20M Python additions, one core", calibration_s,
         "to compare machines of the same kind"),
        ("baseline: per-account ORM loop (EXTRAPOLATED)", orm_per * n,
         f"{orm_per * 1000:.1f} ms/account on a sample of {args.orm_sample}"),
        ("price move: tick -> calls committed (p50)", float(np.percentile(move_times, 50)),
         f"instrument held by {held_by:,} accounts; {move_calls} calls over {args.moves} moves"),
        ("price move: tick -> calls committed (p99)", float(np.percentile(move_times, 99)),
         f"max {max(move_times):.3f} s"),
        ("  of which load of the holders (p50)", float(np.percentile(move_load, 50)), ""),
        ("  of which state changes applied (p50)", float(np.percentile(move_apply, 50)), ""),
    ]  # fmt: skip
    print()
    print(
        f"mark-to-market benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
    )
    print(f"{'measure':48} {'seconds':>9}  notes")
    for name, seconds, note in rows:
        shown = "" if seconds is None else f"{seconds:9.2f}"
        print(f"{name:48} {shown:>9}  {note}")
    print()
    print(f"full run vs set-based SQL: {set_s / full_s:.2f}x (goal ≥ 2x)")
    if n == 1_000_000:
        print(f"full run at 1M accounts: {full_s:.1f} s (goal ≤ 10 s)")
    print(
        f"price move p99 goal ≤ 1 s: p99 over {args.moves} moves "
        f"{float(np.percentile(move_times, 99)):.2f} s"
    )
    flags = " --full" if args.full else ("" if n == 100_000 else f" --accounts {n}")
    flags += "" if args.workers == 2 else f" --workers {args.workers}"
    flags += "" if args.database == "margindesk_bench_mtm" else f" --database {args.database}"
    flags += "" if args.short_share == SHORT_SHARE else f" --short-share {args.short_share}"
    print(f"reproduce: DJANGO_DEBUG=true .venv/bin/python bench/mtm/run.py{flags}")


if __name__ == "__main__":
    main()
