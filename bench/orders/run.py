"""Orders benchmark: orders placed to fills booked per second through the FIX session, printed
beside the ledger's batch figure (bench/ledger) measured in the same run.

    DJANGO_DEBUG=true .venv/bin/python -m bench.orders.run              # 300 orders, ~1 minute
    DJANGO_DEBUG=true .venv/bin/python -m bench.orders.run --orders 2000 --workers 2
    DJANGO_DEBUG=true .venv/bin/python -m bench.orders.run --workers 0  # apply in-process

Runs in its own database (margindesk_bench_orders, created and migrated if missing; the first
run also builds the desk there: one eligible investor with an active credit contract, the four
instruments of tests/lending/book_fixtures.py at their prices, through the real services).
Each run deposits fresh cash, then:

1. starts the simulated exchange (lending/orders/exchange.py, quotes from the database as
   `manage.py run_exchange` gives them) and the order gateway (lending/orders/gateway.py) on a
   free loopback port, each quickfix engine in its own child process, and `--workers` Celery
   workers (tools/worker_processes.py, solo pool, on a queue of this run) that apply the
   execution reports (`lending.tasks.execution_reports_apply`); with `--workers 0` a thread of
   this process calls `services.execution_reports_apply` for each order the gateway hands over;
2. places `--orders` own-cash buys of one lot at the latest price through `order_place` (every
   pre-trade check), round-robin over the instruments; the exchange fills each at once (a New
   and a Trade report), the gateway stores the reports, the workers book the fills;
3. waits until every fill is booked and prints: placement alone (orders/s), end to end (first
   placement to last fill booked, fills/s), the latency from an order's placement to its fill's
   booking (p50, p99), and the checks (one fill per order, the trial balance zero);
4. runs bench/ledger's batch scenario (`throughput("batch", 1, ...)`: entries_post, 1,000
   entries a transaction, one worker) in this database, and prints it beside the fill rate: a
   fill is one journal entry (with its shares, cash and fee legs) plus the order's bookkeeping.

No goal is set for it (the issue asks for the figure beside the ledger's); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402  (the repository root is on the path now)

BENCH_DB = "margindesk_bench_orders"
OPS_EMAIL = "bench-orders-operations@example.invalid"


def ensure_database() -> None:
    common.ensure_database(BENCH_DB)


def django_setup() -> None:
    common.django_setup(BENCH_DB)


# --- the desk ----------------------------------------------------------------------------------


def ensure_desk():
    """The desk (built once, through the real services): the instruments, an operations and a
    risk officer, the questionnaire and the risk disclosure. Returns the instruments."""
    from accounts.models import User
    from lending.instruments.models import Instrument
    from tests.lending.book_fixtures import BOOK_INSTRUMENTS

    if not User.objects.filter(email=OPS_EMAIL).exists():
        _build_desk()
    units = list(BOOK_INSTRUMENTS)
    instruments = [i for i in Instrument.objects.all() if i.ledger_unit in units]
    return sorted(instruments, key=lambda i: units.index(i.ledger_unit))


def _build_desk() -> None:
    from accounts import services as accounts
    from accounts.roles import Role
    from compliance import services as compliance
    from lending.instruments import services as instruments
    from tests.lending.book_fixtures import BOOK_INSTRUMENTS

    for unit, (name, category, haircut, _price, float_, fin) in BOOK_INSTRUMENTS.items():
        exchange, code = unit.split(":")
        instruments.instrument_create(
            code=code,
            exchange=exchange,
            name=name,
            category=category,
            tradable_float=float_,
            collateral_eligible=True,
            haircut=Decimal(haircut),
            financing_eligible=fin,
            actor=None,
            reason="bench desk",
        )
    prices_set()
    from tests.compliance.fixtures import BANDS, QUESTIONS

    compliance.questionnaire_create(
        version=1, title="Risk tolerance v1", questions=QUESTIONS, bands=BANDS, actor=None
    )
    compliance.disclosure_publish(
        title="Margin financing risk disclosure", content="Bench v1", actor=None
    )
    for email, role in (
        (OPS_EMAIL, Role.OPERATIONS),
        (OPS_EMAIL.replace("operations", "risk"), Role.RISK),
    ):
        accounts.user_create(
            email=email, password=uuid.uuid4().hex, role=role, actor=None, reason="bench desk"
        )


def new_account():
    """A fresh eligible investor with an active credit contract (each run has its own, so runs
    do not slow down as one account's book grows); returns (account, bank account)."""
    from datetime import timedelta

    from accounts import services as accounts
    from accounts.models import User
    from accounts.roles import Role
    from compliance import calendar
    from compliance import selectors as compliance_selectors
    from compliance import services as compliance
    from compliance.models import Questionnaire
    from lending.credit import services as credit
    from tests.compliance.fixtures import answers_for
    from tests.second_factor import second_factor

    ops = User.objects.get(email=OPS_EMAIL)
    risk = User.objects.get(email=OPS_EMAIL.replace("operations", "risk"))
    second_factor(ops), second_factor(risk)
    n = User.objects.filter(email__startswith="bench-orders-investor-").count() + 1
    bank_account = f"62170000{n:011d}"
    user = accounts.user_create(
        email=f"bench-orders-investor-{n}@example.invalid",
        password=uuid.uuid4().hex,
        role=Role.INVESTOR,
        actor=None,
        reason="bench desk",
    )
    investor = accounts.investor_profile_create(
        user=user,
        actor=None,
        reason="bench desk",
        real_name="基准投资者",
        id_type="resident_id",
        id_number=f"11010119900101{n:04d}",
        bank_name="中国银行",
        bank_account=bank_account,
    )
    questionnaire = Questionnaire.objects.order_by("-version").first()
    compliance.assessment_submit(
        investor=investor, answers=answers_for(questionnaire, 5), actor=user, taken_at=None
    )
    compliance.disclosure_acknowledge(
        investor=investor,
        document=compliance_selectors.current_disclosure(),
        ip_address="127.0.0.1",
        user_agent="bench",
        actor=user,
    )
    compliance.restricted_declaration_record(
        investor=investor, holds_none=True, actor=user, user_agent="bench"
    )
    today = compliance_selectors.today()
    compliance.eligibility_facts_set(
        investor=investor,
        first_trade_date=today - timedelta(days=800),
        has_serious_default=False,
        is_related_party=False,
        firm_shareholding_pct=Decimal(0),
        evidence="bench",
        actor=None,
        reason="bench desk",
    )
    days = calendar.last_n_trading_days(calendar.previous_trading_day(today), 20)
    compliance.daily_assets_import(
        investor=investor, rows=[(d, Decimal(600000)) for d in days], source="api", actor=None
    )
    application = credit.credit_application_submit(
        investor=investor,
        requested_limit=Decimal(1000000),
        requested_term_months=6,
        actor=user,
    )
    application = credit.credit_application_prepare(
        application=application,
        actor=ops,
        credit_grade="B",
        collateral_liquidity="high",
        proposed_limit=Decimal(1000000),
        proposed_term_months=6,
        note="bench desk",
    )
    contract = credit.credit_application_approve(
        application=application, actor=risk, reason="bench desk"
    )
    return contract.credit_account, bank_account


def prices_set() -> None:
    """The instruments' prices of book_fixtures, as a tick newer than any before."""
    from django.utils import timezone

    from lending.instruments import services as instruments
    from tests.lending.book_fixtures import BOOK_INSTRUMENTS

    at = timezone.now()
    ticks = [{"instrument": u, "price": v[3], "at": at} for u, v in BOOK_INSTRUMENTS.items()]
    instruments.prices_ingest(ticks, source="bench", actor=None)


def deposit(account, bank_account: str, amount: Decimal) -> None:
    from custody import services as custody

    custody.client_deposit_post(
        investor=account.investor,
        amount=amount,
        currency="CNY",
        bank_account=bank_account,
        reference="bench deposit",
        actor=None,
        idempotency_key=f"bench-deposit-{uuid.uuid4().hex}",
    )


# --- the session -------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fix_settings(tmp: Path, port: int, name: str, sender: str, target: str):
    from lending.orders.fix_session import FixSettings

    return FixSettings(
        host="127.0.0.1",
        port=port,
        sender_comp_id=sender,
        target_comp_id=target,
        store_dir=tmp / name / "store",
        log_dir=tmp / name / "log",
        heartbeat_seconds=5,
        reconnect_seconds=1,
    )


def applier(handed: queue.Queue, stopping: threading.Event) -> None:
    """--workers 0: apply each order handed over, in this process (the task's body)."""
    from django.db import connection

    from lending.orders import services

    while not stopping.is_set():
        try:
            order_id = handed.get(timeout=0.1)
        except queue.Empty:
            continue
        services.execution_reports_apply(order_id=order_id)
    connection.close()


def run_orders(args, account, instruments, tmp: Path) -> dict:
    from django.db import connection
    from django.db.models import Max, Min

    from config.celery import app
    from lending.management.commands.run_exchange import database_quote
    from lending.orders import fix_session as fs
    from lending.orders import services
    from lending.orders.exchange import SimulatedExchange
    from lending.orders.gateway import OrderGateway
    from lending.orders.models import ExecutionReportRecord, Fill, Order
    from lending.orders.tasks import execution_reports_apply
    from tools import worker_processes

    run = uuid.uuid4().hex[:6].upper()
    port = free_port()
    sender, target = f"BDESK{run}", f"BEXCH{run}"
    quotes = {i.ledger_unit: database_quote(i.ledger_unit) for i in instruments}
    exchange = SimulatedExchange(fix_settings(tmp, port, "exchange", sender, target), quotes)

    work_queue = f"bench-orders-{uuid.uuid4().hex[:10]}"
    handed: queue.Queue[int] = queue.Queue()
    stopping = threading.Event()
    workers, threads = [], []
    if args.workers:

        def enqueue(order_id: int) -> None:
            execution_reports_apply.apply_async((order_id,), queue=work_queue)

        for n in range(args.workers):
            log_path = tmp / f"worker{n}.log"
            env = {"DATABASE_URL": common.database_url(BENCH_DB), "LOG_LEVEL": "WARNING"}
            workers.append(worker_processes.start(f"w{n}", work_queue, log_path, env, BENCH_DB))
        for worker in workers:
            worker_processes.wait_until_ready(worker, worker.log_path)
    else:
        enqueue = handed.put
        threads.append(threading.Thread(target=applier, args=(handed, stopping), daemon=True))
    gateway = OrderGateway(
        fix_settings(tmp, port, "gateway", sender, target), enqueue=enqueue, poll_seconds=0.02
    )
    runner = threading.Thread(target=gateway.run, name="bench-gateway", daemon=True)
    first_id = (Order.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
    try:
        exchange.start()
        gateway.start()
        if not gateway.broker.wait_logged_on(30):
            raise SystemExit("the gateway did not log on to the simulated exchange")
        runner.start()
        for thread in threads:
            thread.start()

        began = time.perf_counter()
        for n in range(args.orders):
            instrument = instruments[n % len(instruments)]
            services.order_place(
                credit_account=account,
                instrument=instrument,
                purpose="cash_buy",
                quantity=instrument.lot_size,
                limit_price=quotes[instrument.ledger_unit].last_price,
                actor=account.investor.user,
                idempotency_key=f"bench-{run}-{n}",
                reason="bench",
            )
        placed = time.perf_counter() - began
        deadline = time.monotonic() + args.timeout
        booked = 0
        while booked < args.orders:
            if time.monotonic() > deadline:
                logs = "".join(w.log_path.read_text()[-3000:] for w in workers)
                raise SystemExit(f"only {booked} of {args.orders} fills booked in time\n{logs}")
            time.sleep(0.05)
            booked = Fill.objects.filter(order_id__gte=first_id).count()
        total = time.perf_counter() - began
    finally:
        stopping.set()
        gateway.stop()
        exchange.stop()
        for worker in workers:
            worker_processes.stop(worker)
        if workers:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(work_queue)

    fills = Fill.objects.filter(order_id__gte=first_id)
    latencies = sorted(
        (f.created_at - f.order.created_at).total_seconds()
        for f in fills.select_related("order").only("created_at", "order__created_at")
    )
    span = fills.aggregate(first=Min("created_at"), last=Max("created_at"))
    stages = {"send": [], "receive": [], "apply": []}
    trades = ExecutionReportRecord.objects.filter(
        order_id__gte=first_id, exec_type=fs.EXEC_TRADE
    ).select_related("order")
    for record in trades:
        stages["send"].append((record.order.sent_at - record.order.created_at).total_seconds())
        stages["receive"].append((record.received_at - record.order.sent_at).total_seconds())
        stages["apply"].append((record.applied_at - record.received_at).total_seconds())
    per_order = Fill.objects.filter(order_id__gte=first_id).values("order_id").distinct().count()
    connection.close()
    return {
        "orders": args.orders,
        "placed_per_s": args.orders / placed,
        "fills_per_s": booked / total,
        "total_s": total,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "booking_span_s": (span["last"] - span["first"]).total_seconds(),
        "stages_p50": {k: statistics.median(v) for k, v in stages.items()},
        "one_fill_per_order": per_order == booked == args.orders,
        "sent": gateway.sent,
        "reports": gateway.reports,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders to place (300)")
    parser.add_argument(
        "--workers", type=int, default=1, help="Celery workers applying reports (1; 0: in-process)"
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="the ledger batch run (4 s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (300 s)")
    args = parser.parse_args()
    began = time.perf_counter()

    ensure_database()
    django_setup()
    import tempfile

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    instruments = ensure_desk()
    prices_set()
    account, bank_account = new_account()
    deposit(
        account, bank_account, Decimal(args.orders) * 25_000 + Decimal(1_000_000)
    )  # lots up to 20,000

    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        result = run_orders(args, account, instruments, Path(tmp))

    from custody.selectors import trial_balance

    balanced = trial_balance().balanced
    from bench.ledger import run as ledger

    batch = ledger.throughput("batch", 1, False, args.seconds)

    applied_by = f"{args.workers} Celery worker(s)" if args.workers else "in-process thread"
    print()
    print("Orders benchmark: placed -> sent over FIX -> filled -> booked (same run)")
    print(f"{'measure':<64}{'value':>18}")
    rows = [
        ("orders placed (order_place, all pre-trade checks), /s",
         f"{result['placed_per_s']:,.0f}"),
        (f"fills booked end to end, /s ({applied_by})", f"{result['fills_per_s']:,.0f}"),
        ("  first placement to last fill booked, s", f"{result['total_s']:.2f}"),
        ("  placement to booking latency p50 / p99, ms",
         f"{result['p50'] * 1000:,.0f} / {result['p99'] * 1000:,.0f}"),
        ("  p50 placed->sent / sent->trade report stored / ->applied, ms", " / ".join(
            f"{result['stages_p50'][k] * 1000:,.0f}" for k in ("send", "receive", "apply"))),
        ("ledger batches of 1,000 (bench/ledger, 1 worker), entries/s", f"{batch:,.0f}"),
        ("  fills/s as a share of the ledger batch rate", f"{result['fills_per_s'] / batch:.2%}"),
    ]  # fmt: skip
    for name, value in rows:
        print(f"{name:<64}{value:>18}")
    print()
    print(
        f"checks: {result['orders']} orders, {result['sent']} sent, {result['reports']} reports "
        f"stored; one fill per order: {'yes' if result['one_fill_per_order'] else 'NO'}; "
        f"trial balance zero: {'yes' if balanced else 'NO'}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load} at the end; "
        f"total time {time.perf_counter() - began:.0f} s"
    )
    flags = (f" --orders {args.orders}" if args.orders != 300 else "") + (
        f" --workers {args.workers}" if args.workers != 1 else ""
    )
    print(f"reproduce: DJANGO_DEBUG=true .venv/bin/python -m bench.orders.run{flags}")


if __name__ == "__main__":
    main()
