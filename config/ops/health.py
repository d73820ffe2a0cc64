"""/healthz: is this desk able to work? For a load balancer and an operator's first look.

Five checks, each timed and each with a short detail:
- database: `SELECT 1` on the web process's own connection;
- broker: Redis PING on CELERY_BROKER_URL (1 s socket timeout);
- worker: a Celery worker answers a control ping on the broker within HEALTHZ_WORKER_TIMEOUT
  (one reply is enough);
- beat: the beat process's heartbeat (written to Redis by the beat process each time it sends
  a task, at least once a minute by the "ops-beat-heartbeat" entry) is younger than
  BEAT_HEARTBEAT_MAX_AGE seconds;
- calendar: the known trading calendar still reaches ahead (compliance.selectors.
  calendar_horizon is not "blocking"; "warning" passes and says so).

200 {"status": "ok", ...} when every check named in HEALTHZ_REQUIRED passes, else 503
{"status": "fail", "failed": [...]}. A check outside HEALTHZ_REQUIRED is still run and shown,
but does not fail the answer. No sign-in: the answer holds no client data, only which
component is down. Never a 500: a check that raises is a failed check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)

CHECKS = ("database", "broker", "worker", "beat", "calendar")

#: the Redis key (on the broker's Redis) holding the beat process's last heartbeat, as Unix
#: seconds
BEAT_KEY = "margindesk:beat:heartbeat"


def _redis(timeout: float = 1.0):
    import redis

    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )


# --------------------------------------------------------------------------- beat's heartbeat


def beat_heartbeat_record(at: float | None = None) -> None:
    """Write the beat process's heartbeat (now, or `at` in Unix seconds)."""
    client = _redis()
    try:
        client.set(BEAT_KEY, repr(time.time() if at is None else at))
    finally:
        client.close()


def beat_heartbeat_age() -> float | None:
    """Seconds since the last heartbeat; None when there was none."""
    client = _redis()
    try:
        raw = client.get(BEAT_KEY)
    finally:
        client.close()
    return None if raw is None else max(0.0, time.time() - float(raw))


# --------------------------------------------------------------------------- checks


def check_database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "PostgreSQL answers"


def check_broker() -> tuple[bool, str]:
    client = _redis()
    try:
        client.ping()
    finally:
        client.close()
    return True, "Redis answers"


def _mailbox(app):
    """Celery's control mailbox (`app.control.ping` sends through it), without the app's
    producer pool: the ping goes out on this check's own connection to CELERY_BROKER_URL, so
    a pool bound to an unreachable broker cannot hold the answer."""
    from kombu.pidbox import Mailbox

    m = app.control.mailbox
    return Mailbox(
        m.namespace,
        type=m.type,
        accept=m.accept,
        serializer=m.serializer,
        queue_ttl=m.queue_ttl,
        reply_queue_ttl=m.reply_queue_ttl,
        queue_expires=m.queue_expires,
        reply_queue_expires=m.reply_queue_expires,
    )


def check_worker() -> tuple[bool, str]:
    from config.celery import app

    timeout = float(settings.HEALTHZ_WORKER_TIMEOUT)
    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        replies = _mailbox(app)(conn)._broadcast("ping", reply=True, timeout=timeout, limit=1)
    if not replies:
        return False, f"no Celery worker answered within {timeout:g} s"
    names = sorted(name for reply in replies for name in reply)
    return True, f"{names[0]} answered"


def check_beat() -> tuple[bool, str]:
    age = beat_heartbeat_age()
    limit = settings.BEAT_HEARTBEAT_MAX_AGE
    if age is None:
        return False, "no heartbeat from celery beat"
    if age > limit:
        return False, f"celery beat's last heartbeat is {age:.0f} s old (limit {limit} s)"
    return True, f"last heartbeat {age:.0f} s ago"


def check_calendar() -> tuple[bool, str]:
    from compliance.selectors import calendar_horizon

    horizon = calendar_horizon()
    if horizon.level == "blocking":
        return False, (
            f"the trading calendar ends {horizon.last_session or 'nowhere'}: "
            f"enter {horizon.next_year}'s holidays"
        )
    return True, f"{horizon.level}: last known session {horizon.last_session}"


RUNNERS: dict[str, Callable[[], tuple[bool, str]]] = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "beat": check_beat,
    "calendar": check_calendar,
}


def run_checks() -> dict:
    """{"status", "checks": {name: {"ok", "required", "detail", "ms"}}, "failed": [...]}"""
    required = set(settings.HEALTHZ_REQUIRED)
    checks: dict[str, dict] = {}
    for name in CHECKS:
        started = time.monotonic()
        try:
            ok, detail = RUNNERS[name]()
        except Exception as exc:  # a check that raises has failed; never a 500
            # the answer is public: the exception's kind only, its message (addresses) logged
            ok, detail = False, f"{type(exc).__name__}"
            log.warning("healthz: %s failed: %s", name, exc)
            if name == "database":
                connection.close()  # a broken connection is not reused by the next request
        checks[name] = {
            "ok": ok,
            "required": name in required,
            "detail": detail,
            "ms": round((time.monotonic() - started) * 1000, 1),
        }
    failed = [name for name, c in checks.items() if c["required"] and not c["ok"]]
    return {
        "status": "fail" if failed else "ok",
        "failed": failed,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "checks": checks,
    }


@never_cache
@require_safe
def healthz(request):
    result = run_checks()
    return JsonResponse(result, status=503 if result["failed"] else 200)
