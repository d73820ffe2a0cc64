"""Who changed a tracked record, and why: the one way services stamp django-simple-history.

Every save of a model with ``history = HistoricalRecords()`` writes a history row. The service
making the save calls ``stamp(instance, actor=..., reason=...)`` just before it, so the row
carries

* ``history_user``: the person acting, or None when the system acts. Services take
  ``actor=None`` for the system (Celery beat and workers, the mark-to-market engine, seeds and
  demo data), as they always have;
* ``history_change_reason``: why, never empty. A change made by the system says so: its reason
  starts with ``"system: "`` (added here when ``actor`` is None), so a history row without a
  user is never a silent gap.

Bulk writes stamp each instance the same way and go through accounts.bulk
(``rows_create_with_history`` / ``rows_update_with_history``), which write the history rows
from those stamps.
The rule is checked end to end by tests/test_audit_completeness.py.
"""

from __future__ import annotations

from typing import Any

SYSTEM_PREFIX = "system: "


def is_system_reason(reason: str | None) -> bool:
    return bool(reason) and reason.startswith(SYSTEM_PREFIX.rstrip())


def change_reason(*, actor: Any, reason: str) -> str:
    """The reason to record, as given (never empty), marked "system: " when no person acts."""
    text = str(reason or "")
    if not text.strip():
        raise ValueError("a tracked change needs a reason (accounts.audit.stamp)")
    if actor is None and not is_system_reason(text):
        text = SYSTEM_PREFIX + text
    return text


def stamp(instance: Any, *, actor: Any, reason: str) -> None:
    """Set the acting user and the reason the next history row of `instance` records."""
    instance._history_user = actor
    instance._change_reason = change_reason(actor=actor, reason=reason)


def forget_stamp(sender, instance: Any, **kwargs) -> None:
    """A stamp covers one save: once its history row is written it is dropped, so a later save
    of the same object can never repeat an old actor and reason (connected to
    simple_history's post_create_historical_record in accounts.apps)."""
    instance.__dict__.pop("_history_user", None)
    instance.__dict__.pop("_change_reason", None)


def last_login_update(sender, user: Any, **kwargs) -> None:
    """Django's update_last_login without a history row: last_login is excluded from the user's
    history, so the row would record nothing but a sign-in with no reason (sign-ins are
    recorded by django-axes)."""
    from django.utils import timezone

    user.last_login = timezone.now()
    user.skip_history_when_saving = True
    try:
        user.save(update_fields=["last_login"])
    finally:
        del user.skip_history_when_saving
