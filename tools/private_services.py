"""Private PostgreSQL clusters and Redis servers started from the installed binaries: a
throwaway cluster (initdb on a free port) and a redis-server without persistence.

Used by the fault tests (tests/faults/conftest.py), the restore drill
(tests/faults/test_restore_drill.py), the health-check tests, and `make demo` when no
PostgreSQL or Redis answers on the configured addresses (tools/demo_services.py, which keeps
its data under var/ instead of a temporary directory). No pytest here: a caller that needs a
binary checks for it itself (tests/binaries.need_binary)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path | None:
    """PG_BINDIR, else the newest /usr/lib/postgresql/<n>/bin (Debian), else initdb's directory
    on PATH; None when none is installed."""
    configured = os.environ.get("PG_BINDIR")
    if configured:
        return Path(configured)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A PostgreSQL cluster on a free port (trust auth on loopback only), run as the postgres
    user when we are root (initdb refuses root).

    `directory`: where its data, socket and log live (default: a new temporary directory,
    removed by stop()); `durable`: fsync and full-page writes on (the demo's and the restore
    drill's cluster) instead of off (the fault tests' speed); `settings`: more server settings
    (`-c name=value`), such as archive_mode for the restore drill."""

    def __init__(
        self,
        bindir: Path,
        *,
        directory: Path | None = None,
        port: int | None = None,
        durable: bool = False,
        settings: dict[str, str] | None = None,
    ):
        self.bindir = bindir
        self.port = port or free_port()
        self.temporary = directory is None
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="margindesk-pg-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.durable = durable
        self.settings = dict(settings or {})
        self.as_postgres = os.geteuid() == 0
        self.own(self.dir)

    def own(self, path: Path) -> None:
        """Make `path` the server's (the postgres user's when we are root)."""
        if self.as_postgres:
            shutil.chown(path, user="postgres", group="postgres")

    def run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)  # noqa: S603

    def command(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Any command (cp, ...) as the server's user, on its files."""
        full = ["runuser", "-u", "postgres", "--", *cmd] if self.as_postgres else list(cmd)
        return subprocess.run(full, check=True, capture_output=True, text=True, timeout=timeout)  # noqa: S603

    def _options(self) -> str:
        speed = "" if self.durable else " -c fsync=off -c full_page_writes=off"
        extra = "".join(f" -c {name}={value}" for name, value in self.settings.items())
        return (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            f"{speed} -c synchronous_commit={'on' if self.durable else 'off'}{extra}"
        )

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def initdb(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        """initdb (unless the data directory exists already) and start."""
        if not self.initialised:
            self.initdb()
        self.pg_ctl_start()

    def pg_ctl_start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", self._options(),
                 "start", timeout=120)  # fmt: skip

    def restart(self) -> float:
        """`pg_ctl restart -m fast` (every session is terminated); returns its seconds."""
        t0 = time.monotonic()
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-m", "fast",
                 "-o", self._options(), "restart")  # fmt: skip
        return time.monotonic() - t0

    def stop(self, mode: str = "immediate") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # never started, or gone
            self.run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")
        if self.temporary:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def createdb(self, name: str) -> None:
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def psql(self, database: str, sql: str) -> str:
        """One statement's output (unaligned, tuples only)."""
        done = self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "-d", database, "-XAtc", sql)  # fmt: skip
        return done.stdout.strip()


def migrate(url: str, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """`manage.py migrate` into the database at `url`, in a subprocess, as a deployment does."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "true"}
    env.pop("DATABASE_TEST_NAME", None)
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- Redis


def redis_server() -> str:
    """The redis-server program: REDIS_SERVER, else the one on PATH."""
    return os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "redis-server"


class PrivateRedis:
    """A redis-server on a free port without persistence (as in production here: no RDB
    snapshots, no append-only file), so a restart loses every queued message."""

    def __init__(self, *, port: int | None = None, directory: Path | None = None):
        self.port = port or free_port()
        self.temporary = directory is None
        self.dir = (
            Path(directory) if directory else Path(tempfile.mkdtemp(prefix="margindesk-redis-"))
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.temporary:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> float:
        t0 = time.monotonic()
        temporary, self.temporary = self.temporary, False  # keep the directory across
        self.stop()
        self.temporary = temporary
        self.start()
        return time.monotonic() - t0
