"""HTTP load benchmark: the account API at a fixed arrival rate, beside the portal account page,
price ingestion and two baselines, against gunicorn on loopback with the synthetic book.

    .venv/bin/python -m bench.load                                  # 100,000 accounts, 200/s, 30 s
    .venv/bin/python -m bench.load --accounts 10000 --duration 10   # a quick look

Steps: (1) own database (default margindesk_load, created and migrated if missing; never the
demo database); (2) the synthetic book of bench/mtm, built by COPY unless the database already
holds one with the same parameters; (3) investors for a sample of its accounts (role, API token,
a fresh session each run) and a price-feed user (bench/load/book.py); (4) collectstatic;
(5) gunicorn on 127.0.0.1 with production settings (DJANGO_DEBUG=false, a secret key and a field
key generated for the run, secure cookies and the SSL redirect on: the client says
X-Forwarded-Proto: https as the TLS proxy would), its Celery broker pointed at a Redis database
and queue of its own so price moves enqueue nowhere that a worker listens; (6) the load generator
in a second process (bench/load/client.py, stdlib asyncio, open loop); (7) a table of sent,
completed, errors, throughput and p50/p90/p99/max latency per stream, the machine's cores and
load, and the command to reproduce; the result JSON goes to bench/results/ (git-ignored).

Streams, all in the same run (each at its own fixed rate):
  account-api   GET /api/v1/credit-accounts/{id}/   random sampled investor, token auth
  portal-page   GET /portal/                        random sampled investor, session cookie
  prices        POST /api/v1/prices/                a batch of ticks, price-feed user's token
  base-api-me   GET /api/v1/me/                     baseline: the same auth and DRF stack, no book
  base-static   GET /static/<file>                  baseline: gunicorn + WhiteNoise, no view
The goal (account API p99 <= 100 ms at 200 requests/s, no errors) is printed, not asserted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DEFAULT_DB = "margindesk_load"
#: Redis database and queue of the server's Celery broker during the run: nothing consumes them
#: (price moves enqueue a revaluation there); the queue is deleted afterwards.
BROKER_DB = 13
BROKER_QUEUE = "bench-load"
GOAL_P99_MS = 100.0
GOAL_RATE = 200.0


def _args(argv=None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(
        prog="python -m bench.load", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--accounts", type=int, default=100_000, help="book size [100000]")
    p.add_argument("--instruments", type=int, default=2_000, help="[2000]")
    p.add_argument("--investors", type=int, default=1_000, help="sampled investors [1000]")
    p.add_argument("--rate", type=float, default=200.0, help="account API requests/s [200]")
    p.add_argument("--portal-rate", type=float, default=10.0, help="portal page requests/s [10]")
    p.add_argument("--price-rate", type=float, default=2.0, help="price batches/s [2]")
    p.add_argument("--price-batch", type=int, default=100, help="ticks per price batch [100]")
    p.add_argument(
        "--baseline-rate", type=float, default=10.0, help="requests/s of each baseline [10]"
    )
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds [30]")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds sent, not counted [5]")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request [10]")
    p.add_argument("--arrivals", choices=("uniform", "poisson"), default="uniform")
    # gthread, a worker per core with 4 threads (as the Procfile): measured better than sync
    # workers (2 x cores + 1) on this 2-core machine; see bench/README.md
    p.add_argument("--workers", type=int, default=cores, help=f"gunicorn workers [{cores}]")
    p.add_argument(
        "--threads", type=int, default=4, help="threads per worker; 1 = sync worker class [4]"
    )
    p.add_argument("--database", default=DEFAULT_DB, help=f"[{DEFAULT_DB}]")
    p.add_argument("--rebuild", action="store_true", help="rebuild the book even if it matches")
    p.add_argument("--keep-plan", action="store_true", help="keep the plan file (has tokens)")
    args = p.parse_args(argv)
    if args.database == "margindesk":
        p.error("--database margindesk is the demo database; choose another")
    return args


def _reproduce(args: argparse.Namespace) -> str:
    defaults = _args([])
    flags = []
    for name, value in sorted(vars(args).items()):
        if name in ("rebuild", "keep_plan") or value == getattr(defaults, name):
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        flags.append(f"--{name.replace('_', '-')} {shown}")
    return " ".join([".venv/bin/python -m bench.load", *flags])


def _machine() -> dict:
    facts = {"cores": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
        facts["cpu"] = model
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            facts["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return facts


def _server_env(args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.database}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{BROKER_DB}",
        CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{BROKER_DB}",
        CELERY_TASK_DEFAULT_QUEUE=BROKER_QUEUE,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        # production settings refuse to start without the broker's FIX session; the load run
        # places no orders, so nothing connects to this (unused) port
        FIX_HOST="127.0.0.1",
        FIX_PORT="19879",
        FIX_SENDER_COMP_ID="BENCHLOAD",
        FIX_TARGET_COMP_ID="NOEXCH",
        FIX_STORE_DIR=str(ROOT / "var" / "bench-load" / "fix" / "store"),
        FIX_LOG_DIR=str(ROOT / "var" / "bench-load" / "fix" / "log"),
    )
    return env


def _django_setup(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _static_up_to_date() -> bool:
    """The manifest (production static storage) is newer than every source static file."""
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            if Path(storage.path(path)).stat().st_mtime > built:
                return False
    return True


def _prepare(args: argparse.Namespace) -> tuple[dict, dict]:
    """Database, book, users, static files; returns (book facts, plan without server)."""
    from django.core.management import call_command
    from django.db import connection

    from bench.load import book

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0, interactive=False)
    facts = book.ensure_book(args.accounts, args.instruments, rebuild=args.rebuild)
    investors = book.ensure_investors(book.sample_account_ids(args.accounts, args.investors))
    book.fresh_sessions(investors)
    price_token = book.ensure_price_feed_user()
    instruments = book.instrument_prices()
    t0 = time.perf_counter()
    if not _static_up_to_date():
        call_command("collectstatic", interactive=False, verbosity=0)
    facts["collectstatic_seconds"] = round(time.perf_counter() - t0, 1)
    from django.conf import settings
    from django.contrib.staticfiles.storage import staticfiles_storage

    # the smallest stylesheet, by its hashed name as pages link it
    manifest = getattr(staticfiles_storage, "hashed_files", {})
    root = Path(settings.STATIC_ROOT)
    css = sorted(
        (n for n in manifest if n.endswith(".css") and (root / manifest[n]).exists()),
        key=lambda n: (root / manifest[n]).stat().st_size,
    )
    static_path = "/" + settings.STATIC_URL.strip("/") + "/" + manifest[css[0]]
    connection.close()
    plan = {
        "host": "127.0.0.1",
        "database": args.database,
        "investors": [{k: i[k] for k in ("account", "token", "session")} for i in investors],
        "price_token": price_token,
        "instruments": instruments,
        "price_batch": args.price_batch,
        "static_path": static_path,
        "duration": args.duration,
        "warmup": args.warmup,
        "timeout": args.timeout,
        "arrivals": args.arrivals,
        "seed": 1,
        "streams": [
            {"name": "account-api", "kind": "account_api", "rate": args.rate},
            {"name": "portal-page", "kind": "portal", "rate": args.portal_rate},
            {"name": "prices", "kind": "prices", "rate": args.price_rate},
            {"name": "base-api-me", "kind": "api_me", "rate": args.baseline_rate},
            {"name": "base-static", "kind": "static", "rate": args.baseline_rate},
        ],
    }
    return facts, plan


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(args, env: dict, port: int, log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [
        str(gunicorn) if gunicorn.exists() else sys.executable,
        *([] if gunicorn.exists() else ["-m", "gunicorn"]),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread" if args.threads > 1 else "sync",
        "--threads",
        str(args.threads),
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
        "--timeout",
        "60",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def _wait_ready(port: int, plan: dict, server: subprocess.Popen, log: Path) -> float:
    """Until every route answers 200 (not only the socket: the workers import Django lazily)."""
    t0 = time.perf_counter()
    inv = plan["investors"][0]
    probes = [
        (plan["static_path"], {}),
        ("/api/v1/me/", {"Authorization": f"Token {inv['token']}"}),
        (f"/api/v1/credit-accounts/{inv['account']}/", {"Authorization": f"Token {inv['token']}"}),
        ("/portal/", {"Cookie": f"sessionid={inv['session']}"}),
    ]
    pending = list(probes)
    while pending:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.returncode}); see {log}:\n{_tail(log)}")
        if time.perf_counter() - t0 > 90:
            raise SystemExit(f"gunicorn not ready after 90 s; see {log}:\n{_tail(log)}")
        path, headers = pending[0]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"X-Forwarded-Proto": "https", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                response.read()
                pending.pop(0)
                continue
        except urllib.error.HTTPError as exc:
            raise SystemExit(
                f"{path} answered {exc.code}: {exc.read()[:300]!r}\n{_tail(log)}"
            ) from exc
        except OSError:
            time.sleep(0.3)
    return time.perf_counter() - t0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return [master]
    return [master, *(int(c) for c in children)]


def _stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _purge_broker_queue() -> int:
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB, socket_timeout=2)
        queued = client.llen(BROKER_QUEUE)
        client.delete(BROKER_QUEUE)
        return int(queued)
    except Exception:  # the broker is incidental to the measure
        return -1


def _fmt(value, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)


def _report(args, machine_start: dict, facts: dict, server: dict, result: dict) -> str:
    out = []
    now = datetime.now(UTC)
    out.append(
        f"HTTP load benchmark, {now:%Y-%m-%d %H:%M} UTC: {args.accounts:,} accounts, "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up, "
        f"{args.arrivals} arrivals (open loop)"
    )
    out.append(
        f"server: gunicorn {server['worker_class']} x {args.workers} workers"
        + (f" x {args.threads} threads" if args.threads > 1 else "")
        + f", DJANGO_DEBUG=false, ready in {server['ready_seconds']:.1f} s; "
        f"client: bench/load/client.py (stdlib asyncio), "
        f"{result['connections_opened']:,} connections opened"
    )
    header = (
        f"{'stream':13} {'rate/s':>7} {'sent':>6} {'done':>6} {'errors':>6} {'ok/s':>7} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    out += ["", header, "-" * len(header)]
    for s in result["streams"]:
        lat = s["latency_ms"]
        out.append(
            f"{s['name']:13} {s['rate']:>7g} {s['sent']:>6,} {s['completed']:>6,} "
            f"{s['errors']:>6,} {s['throughput']:>7.1f} {_fmt(lat['p50']):>8} "
            f"{_fmt(lat['p90']):>8} {_fmt(lat['p99']):>8} {_fmt(lat['max']):>8}"
        )
    bad = {s["name"]: s["statuses"] for s in result["streams"] if s["errors"]}
    if bad:
        out.append(f"errors by status: {json.dumps(bad)}")
    cpu = result.get("cpu", {})
    machine_end = _machine()
    out.append("")
    out.append(
        f"machine: {machine_start['cores']} cores ({machine_start.get('cpu', '?')}), "
        f"load average at start {' '.join(map(str, machine_start['loadavg']))}, "
        f"at end {' '.join(map(str, machine_end['loadavg']))}"
    )
    if cpu:
        out.append(
            f"during the measured window: machine CPU busy {_fmt(cpu.get('machine_busy_percent'))}"
            f" %; CPU-s over {cpu['window_seconds']:.1f} s: gunicorn "
            f"{cpu['server_cpu_seconds']:.1f}, PostgreSQL backends of {args.database} "
            f"{cpu.get('database_cpu_seconds', 0):.1f}, load generator "
            f"{cpu['client_cpu_seconds']:.1f} (the rest: whatever else runs on the machine)"
        )
    done = sum(s["completed"] for s in result["streams"])
    saturated = any(s["timeouts"] for s in result["streams"])
    if saturated:
        out.append(
            "saturated: requests timed out; the server still worked on many of them after the "
            "client gave up, so no cost per request is derived from this run"
        )
    elif cpu and done:
        per = (cpu["server_cpu_seconds"] + cpu.get("database_cpu_seconds", 0)) / done * 1000
        out.append(
            f"cost: {per:.1f} ms of CPU (gunicorn + PostgreSQL) per completed request of this mix;"
            f" {machine_start['cores']} idle cores would serve at most "
            f"~{machine_start['cores'] * 1000 / per:,.0f} requests/s of it"
        )
    api = next(s for s in result["streams"] if s["name"] == "account-api")
    p99 = api["latency_ms"]["p99"]
    met = (
        p99 is not None
        and p99 <= GOAL_P99_MS
        and api["rate"] >= GOAL_RATE
        and api["errors"] == 0
        and api["throughput"] >= 0.98 * api["rate"]
    )
    out.append(
        f"goal (printed, not asserted): account API p99 <= {GOAL_P99_MS:g} ms at "
        f"{GOAL_RATE:g} req/s, no errors: p99 {_fmt(p99)} ms at {api['rate']:g} req/s, "
        f"{api['errors']} errors -> {'met' if met else 'NOT met'}"
    )
    book_note = "reused" if facts["reused"] else f"built in {facts['seconds']:.0f} s"
    out.append(f"book: {args.accounts:,} accounts, {args.instruments:,} instruments ({book_note})")
    out.append(f"reproduce: {_reproduce(args)}")
    return "\n".join(out)


def main(argv=None) -> None:
    args = _args(argv)
    machine_start = _machine()
    print(
        f"bench/load: {machine_start['cores']} cores, load average "
        f"{' '.join(map(str, machine_start['loadavg']))}",
        flush=True,
    )
    env = _server_env(args)
    _django_setup(env)
    facts, plan = _prepare(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log = RESULTS / f"load-{stamp}-gunicorn.log"
    port = _free_port()
    server = _start_server(args, env, port, log)
    plan_file = result_file = None
    try:
        plan["port"] = port
        ready = _wait_ready(port, plan, server, log)
        time.sleep(0.5)  # every worker forked and imported
        plan["server_pids"] = _worker_pids(server.pid)
        fd, plan_file = tempfile.mkstemp(prefix="bench-load-plan-", suffix=".json")
        with os.fdopen(fd, "w") as f:  # tokens and sessions: mode 0600, deleted afterwards
            json.dump(plan, f)
        fd, result_file = tempfile.mkstemp(prefix="bench-load-result-", suffix=".json")
        os.close(fd)
        subprocess.run(
            [sys.executable, "-m", "bench.load.client", plan_file, result_file],
            cwd=ROOT,
            check=True,
        )
        with open(result_file) as f:
            result = json.load(f)
    finally:
        _stop_server(server)
        queued = _purge_broker_queue()
        for path in (plan_file, result_file):
            if path and not (args.keep_plan and path == plan_file):
                Path(path).unlink(missing_ok=True)
    server_facts = {
        "worker_class": "gthread" if args.threads > 1 else "sync",
        "workers": args.workers,
        "threads": args.threads,
        "ready_seconds": ready,
        "revaluations_enqueued": queued,
        "static_path": plan["static_path"],
    }
    text = _report(args, machine_start, facts, server_facts, result)
    print()
    print(text)
    out = RESULTS / f"load-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": _reproduce(args),
                "arguments": vars(args),
                "machine_at_start": machine_start,
                "machine_at_end": _machine(),
                "book": facts,
                "server": server_facts,
                "result": result,
                "report": text,
            },
            indent=2,
        )
    )
    if _tail(log).strip():
        print(f"gunicorn logged warnings: {log}")
    else:
        log.unlink(missing_ok=True)
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
