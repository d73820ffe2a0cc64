"""What the tests with real worker processes share: waiting for a condition another process
brings about, and a libpq connection string to the test database (for a second connection
that holds a lock or watches pg_stat_activity)."""

import time

from django.db import connection


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    """The predicate's first true value, polled every `step` seconds; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def dsn() -> str:
    db = connection.settings_dict
    return (
        f"host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432} "
        f"user={db.get('USER') or 'postgres'} dbname={db['NAME']}"
    )
