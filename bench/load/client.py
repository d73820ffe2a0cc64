"""Open-loop HTTP load generator: the second process of bench/load (standard library only).

    python -m bench.load.client PLAN.json RESULT.json

Each stream of the plan sends requests at a fixed arrival rate (evenly spaced, or Poisson with
`"arrivals": "poisson"`), whatever the server's answers: a request is started at its scheduled
time even when earlier ones are still waiting, so a slow server builds a queue and the queueing
shows in the latency. Latency is measured from the scheduled time to the last byte of the
response (coordinated omission corrected, as wrk2 does), so the client's own lag counts against
the server, never for it. A request without an answer `timeout` seconds after its scheduled time
is an error (timeout); so is any status but 2xx, and a refused or reset connection.

HTTP/1.1 over asyncio streams; a connection is reused when the server keeps it alive (gunicorn's
gthread workers do, its sync workers close after each response). Every request carries
`X-Forwarded-Proto: https`, as behind the TLS-terminating proxy production runs behind
(SECURE_PROXY_SSL_HEADER), so DJANGO_SECURE_SSL_REDIRECT stays on.

Requests scheduled during the warm-up are sent but not counted. Latency percentiles are over the
2xx answers; anything else (other statuses, timeouts, refused connections) is an error. Also
recorded, from the end of the warm-up to the last counted answer: the machine's CPU busy share
(/proc/stat), the CPU seconds of the server's processes, of the PostgreSQL backends serving the
benchmark's database (found by their process titles) and of this client.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Pool:
    """Idle keep-alive connections to one host:port."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        self.opened += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return reader, writer, False

    def put(self, reader, writer) -> None:
        self.idle.append((reader, writer))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, int]:
    """(status, keep_alive, body bytes) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    size = 0
    if "content-length" in headers:
        size = int(headers["content-length"])
        await reader.readexactly(size)
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            chunk = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(chunk + 2)
            size += chunk
            if chunk == 0:
                break
    else:
        size = len(await reader.read())
        keep_alive = False
    return int(status), keep_alive, size


class Stream:
    """One kind of request at one rate; collects its outcomes."""

    def __init__(self, spec: dict, plan: dict, rng: random.Random) -> None:
        self.name = spec["name"]
        self.kind = spec["kind"]
        self.rate = float(spec["rate"])
        self.plan = plan
        self.rng = rng
        self.latencies: list[float] = []  # seconds, 2xx only
        self.statuses: dict[str, int] = {}
        self.sent = self.completed = self.errors = self.timeouts = 0
        self.bytes = 0
        self.max_send_lag = 0.0
        host = f"{plan['host']}:{plan['port']}"
        self.common = f"Host: {host}\r\nX-Forwarded-Proto: https\r\nUser-Agent: bench-load\r\n"

    def request(self) -> bytes:
        plan, rng = self.plan, self.rng
        if self.kind == "account_api":
            inv = rng.choice(plan["investors"])
            return self._get(
                f"/api/v1/credit-accounts/{inv['account']}/",
                f"Authorization: Token {inv['token']}\r\nAccept: application/json\r\n",
            )
        if self.kind == "api_me":
            inv = rng.choice(plan["investors"])
            return self._get(
                "/api/v1/me/",
                f"Authorization: Token {inv['token']}\r\nAccept: application/json\r\n",
            )
        if self.kind == "portal":
            inv = rng.choice(plan["investors"])
            return self._get("/portal/", f"Cookie: sessionid={inv['session']}\r\n")
        if self.kind == "static":
            return self._get(plan["static_path"], "")
        if self.kind == "prices":
            return self._prices()
        raise ValueError(f"unknown stream kind {self.kind!r}")

    def _get(self, path: str, headers: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\n{self.common}{headers}\r\n".encode()

    def _prices(self) -> bytes:
        plan, rng = self.plan, self.rng
        at = datetime.now(UTC).isoformat()
        chosen = rng.sample(plan["instruments"], min(plan["price_batch"], len(plan["instruments"])))
        ticks = [
            {"instrument": unit, "price": f"{float(base) * rng.uniform(0.99, 1.01):.2f}", "at": at}
            for unit, base in chosen
        ]
        body = json.dumps({"ticks": ticks, "source": "bench-load"}).encode()
        head = (
            f"POST /api/v1/prices/ HTTP/1.1\r\n{self.common}"
            f"Authorization: Token {plan['price_token']}\r\nAccept: application/json\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


class Runner:
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.pool = Pool(plan["host"], plan["port"])
        self.inflight = asyncio.Semaphore(int(plan.get("max_inflight", 1024)))
        self.tasks: set[asyncio.Task] = set()

    async def one(self, stream: Stream, scheduled: float, counted: bool) -> None:
        timeout = float(self.plan["timeout"])
        data = stream.request()
        if counted:
            stream.sent += 1
        try:
            # the deadline runs from the scheduled instant: waiting for a free slot counts
            async with asyncio.timeout_at(
                asyncio.get_running_loop().time() + timeout - (time.perf_counter() - scheduled)
            ):
                async with self.inflight:
                    lag = time.perf_counter() - scheduled
                    if counted:
                        stream.max_send_lag = max(stream.max_send_lag, lag)
                    status, size = await self._exchange(data)
        except TimeoutError:
            if counted:
                stream.timeouts += 1
                stream.errors += 1
                stream.statuses["timeout"] = stream.statuses.get("timeout", 0) + 1
            return
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if counted:
                stream.errors += 1
                key = type(exc).__name__
                stream.statuses[key] = stream.statuses.get(key, 0) + 1
            return
        done = time.perf_counter()
        if not counted:
            return
        stream.completed += 1
        stream.bytes += size
        stream.statuses[str(status)] = stream.statuses.get(str(status), 0) + 1
        if 200 <= status < 300:
            stream.latencies.append(done - scheduled)
        else:
            stream.errors += 1

    async def _exchange(self, data: bytes) -> tuple[int, int]:
        for attempt in (1, 2):
            reader, writer, reused = await self.pool.get()
            try:
                writer.write(data)
                await writer.drain()
                status, keep_alive, size = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                writer.close()
                # a kept-alive connection the server closed meanwhile: once more on a new one
                if reused and attempt == 1 and not getattr(exc, "partial", b""):
                    continue
                raise
            except BaseException:  # timed out (cancelled) mid-exchange: the connection is spoilt
                writer.close()
                raise
            if keep_alive:
                self.pool.put(reader, writer)
            else:
                writer.close()
            return status, size
        raise ConnectionError("unreachable")

    async def drive(self, stream: Stream, start: float, warm_end: float, end: float) -> None:
        rng = random.Random(stream.name)
        poisson = self.plan.get("arrivals") == "poisson"
        at = start
        while at < end:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(stream, at, counted=at >= warm_end))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            at += rng.expovariate(stream.rate) if poisson else 1.0 / stream.rate

    async def run(self) -> dict:
        plan = self.plan
        rng = random.Random(int(plan.get("seed", 1)))
        streams = [Stream(s, plan, rng) for s in plan["streams"] if float(s["rate"]) > 0]
        start = time.perf_counter() + 0.05
        warm_end = start + float(plan["warmup"])
        end = warm_end + float(plan["duration"])
        loop = asyncio.get_running_loop()
        before: dict = {}
        pids, database = plan.get("server_pids", []), plan.get("database", "")
        loop.call_at(
            loop.time() + (warm_end - time.perf_counter()),
            lambda: before.update(_cpu_snapshot(pids, database)),
        )
        print(
            f"client: warm-up {plan['warmup']} s, then {plan['duration']} s measured: "
            + ", ".join(f"{s.name} {s.rate:g}/s" for s in streams),
            flush=True,
        )
        await asyncio.gather(*(self.drive(s, start, warm_end, end) for s in streams))
        drained_at = time.perf_counter()
        if self.tasks:
            await asyncio.wait(set(self.tasks))
        drain = time.perf_counter() - drained_at
        # CPU from the end of the warm-up to the last answer of a counted request
        after = _cpu_snapshot(pids, database)
        window = time.perf_counter() - warm_end
        return {
            "streams": [_summary(s, float(plan["duration"])) for s in streams],
            "connections_opened": self.pool.opened,
            "drain_seconds": round(drain, 3),
            "cpu": _cpu_usage(before, after, window),
        }


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = math.ceil(q / 100 * len(sorted_values)) - 1  # nearest rank
    return sorted_values[max(0, min(len(sorted_values) - 1, rank))]


def _summary(s: Stream, duration: float) -> dict:
    values = sorted(s.latencies)
    ms = {
        f"p{q}": (round(v * 1000, 2) if v is not None else None)
        for q, v in ((50, _percentile(values, 50)), (90, _percentile(values, 90)))
    }
    ms["p99"] = round(_percentile(values, 99) * 1000, 2) if values else None
    ms["max"] = round(values[-1] * 1000, 2) if values else None
    ms["mean"] = round(sum(values) / len(values) * 1000, 2) if values else None
    return {
        "name": s.name,
        "kind": s.kind,
        "rate": s.rate,
        "sent": s.sent,
        "completed": s.completed,
        "ok": len(values),
        "errors": s.errors,
        "timeouts": s.timeouts,
        "statuses": s.statuses,
        "throughput": round(len(values) / duration, 2),
        "latency_ms": ms,
        "mean_response_bytes": round(s.bytes / s.completed) if s.completed else 0,
        "max_send_lag_ms": round(s.max_send_lag * 1000, 2),
    }


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _database_backends(database: str) -> list[int]:
    """PostgreSQL backends serving `database` (their process title names it), by /proc."""
    if not database:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    title = f.read().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                pids.append(int(entry))
    return pids


def _cpu_snapshot(server_pids: list[int], database: str = "") -> dict:
    snap = {"wall": time.perf_counter()}
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        snap["busy"] = (sum(fields) - fields[3] - fields[4]) / CLK_TCK  # minus idle, iowait
        snap["total"] = sum(fields) / CLK_TCK
    except (OSError, ValueError):
        pass
    snap["server"] = sum(_proc_cpu(p) for p in server_pids)
    snap["database"] = sum(_proc_cpu(p) for p in _database_backends(database))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snap["client"] = usage.ru_utime + usage.ru_stime
    return snap


def _cpu_usage(before: dict, after: dict, window: float) -> dict:
    if not before:
        return {}
    out = {
        "window_seconds": round(window, 2),
        "server_cpu_seconds": round(after["server"] - before["server"], 2),
        "database_cpu_seconds": round(after["database"] - before["database"], 2),
        "client_cpu_seconds": round(after["client"] - before["client"], 2),
    }
    if "total" in before and after["total"] > before["total"]:
        out["machine_busy_percent"] = round(
            100 * (after["busy"] - before["busy"]) / (after["total"] - before["total"]), 1
        )
    return out


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m bench.load.client PLAN.json RESULT.json")
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    result = asyncio.run(Runner(plan).run())
    with open(sys.argv[2], "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
