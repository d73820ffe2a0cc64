"""PostgreSQL and Redis for `make demo`: the configured ones when they answer, else private ones
started from the installed binaries (as the fault tests do: tools/private_services.py).

    python tools/demo_services.py up     # prints `export NAME=value` lines for the shell
    python tools/demo_services.py down   # stops the private ones this script started

`up` reads DATABASE_URL and CELERY_BROKER_URL as the settings do (environment, then .env, then
the defaults: PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379). For each that answers on
its host and port, nothing is started and nothing printed. For one that does not:
- PostgreSQL: a cluster in var/demo-pg (initdb once, kept between demos, fsync on), started on
  the port it used before or a free one; `export DATABASE_URL=...` to the same database name;
- Redis: a redis-server in var/demo-redis (no persistence, as in production here) on a free
  port, daemonised; `export CELERY_BROKER_URL=.../0 CELERY_RESULT_BACKEND=.../1`.
The rest of `make demo` (migrate, seed, honcho) runs with those variables. What it says about
what it did goes to stderr."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.private_services import PrivatePostgres, answers, free_port, pg_bindir, redis_server  # noqa: E402

PG_DIR = ROOT / "var" / "demo-pg"
REDIS_DIR = ROOT / "var" / "demo-redis"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/margindesk"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


def say(text: str) -> None:
    print(f"demo services: {text}", file=sys.stderr, flush=True)


def configured() -> tuple[str, str]:
    import environ

    environ.Env.read_env(ROOT / ".env", overwrite=False)
    env = environ.Env()
    return (
        env.str("DATABASE_URL", default=DEFAULT_DATABASE_URL),
        env.str("CELERY_BROKER_URL", default=DEFAULT_BROKER_URL),
    )


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _with_port(url: str, port: int, path: str | None = None) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else "postgres@"
    return urlunsplit(
        (parts.scheme, f"{user}127.0.0.1:{port}", parts.path if path is None else path, "", "")
    )


def postgres_up(url: str) -> dict[str, str]:
    host, wanted = _host_port(url, 5432)
    if answers(host, wanted):
        say(f"PostgreSQL answers on {host}:{wanted}: using it")
        return {}
    bindir = pg_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        raise SystemExit(
            f"demo services: no PostgreSQL on {host}:{wanted} and no initdb installed "
            "(install PostgreSQL, or set DATABASE_URL / PG_BINDIR)"
        )
    port_file = PG_DIR / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    pg = PrivatePostgres(bindir, directory=PG_DIR, port=port, durable=True)
    if answers("127.0.0.1", port):
        say(f"private PostgreSQL already running in {PG_DIR} on port {port}")
    else:
        fresh = not pg.initialised
        pg.start()
        port_file.write_text(str(port))
        say(
            f"no PostgreSQL on {host}:{wanted}: {'created and ' if fresh else ''}started a private "
            f"cluster in {PG_DIR.relative_to(ROOT)} on 127.0.0.1:{port} "
            "(`python tools/demo_services.py down` stops it)"
        )
    return {"DATABASE_URL": _with_port(url, port)}


def redis_up(url: str) -> dict[str, str]:
    host, wanted = _host_port(url, 6379)
    if answers(host, wanted):
        say(f"Redis answers on {host}:{wanted}: using it")
        return {}
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port_file = REDIS_DIR / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    if answers("127.0.0.1", port):
        say(f"private Redis already running on port {port}")
    else:
        subprocess.run(  # noqa: S603
            [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(REDIS_DIR), "--daemonize", "yes",
             "--pidfile", str(REDIS_DIR / "redis.pid"), "--logfile", str(REDIS_DIR / "redis.log")],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise SystemExit(f"demo services: redis-server on port {port} did not answer")
            time.sleep(0.05)
        port_file.write_text(str(port))
        say(f"no Redis on {host}:{wanted}: started a private redis-server on 127.0.0.1:{port}")
    base = f"redis://127.0.0.1:{port}"
    return {"CELERY_BROKER_URL": f"{base}/0", "CELERY_RESULT_BACKEND": f"{base}/1"}


def up() -> dict[str, str]:
    database_url, broker_url = configured()
    return {**postgres_up(database_url), **redis_up(broker_url)}


def down() -> None:
    bindir = pg_bindir()
    if bindir is not None and (PG_DIR / "data" / "PG_VERSION").exists():
        pg = PrivatePostgres(bindir, directory=PG_DIR)
        pg.stop(mode="fast")
        say(f"private PostgreSQL in {PG_DIR.relative_to(ROOT)} stopped (its data kept)")
    pidfile = REDIS_DIR / "redis.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip())
        try:
            os.kill(pid, 15)
            say(f"private Redis (pid {pid}) stopped")
        except ProcessLookupError:
            pass
        pidfile.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    if command == "up":
        for name, value in up().items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if command == "down":
        down()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
