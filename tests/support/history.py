"""Test setup for "as of" reads: history rows are append-only in PostgreSQL (no UPDATE, no
DELETE: accounts/append_only.py), so a test that needs a record to date from the past adds a
history row dated then, as simple-history does for a save with `_history_date`, instead of
rewriting the rows already written."""

from datetime import datetime

from accounts.audit import stamp


def record_as_of(instance, when: datetime, *, reason: str = "test setup: dated in the past"):
    """Save `instance` as it is now in the database with one more history row dated `when`
    (a read as of any time from `when` on finds this state)."""
    instance.refresh_from_db()
    instance._history_date = when
    stamp(instance, actor=None, reason=reason)
    try:
        instance.save()
    finally:
        instance.__dict__.pop("_history_date", None)
    return instance
