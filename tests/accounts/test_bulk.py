"""Bulk writes keep the audit trail: accounts.bulk writes rows and one history row per row, with
the stamped user and reason, the values as stored, and nothing left half-written."""

import pytest
from django.db import transaction

from accounts.audit import SYSTEM_PREFIX, stamp
from accounts.bulk import history_rows_insert, rows_create_with_history, rows_update_with_history
from accounts.models import User

pytestmark = pytest.mark.django_db


def _new(n: int, actor) -> list[User]:
    users = []
    for i in range(n):
        user = User(email=f"bulk{i}@test.margindesk.local", full_name=f"Bulk {i}")
        stamp(user, actor=actor, reason=f"bulk create {i}")
        users.append(user)
    return users


def test_created_rows_get_their_history_with_stamped_user_and_reason(make_user):
    actor = make_user("operations")
    created = rows_create_with_history(_new(3, actor))
    for i, user in enumerate(created):
        (row,) = User.history.filter(id=user.pk)
        assert (row.history_type, row.history_user_id) == ("+", actor.pk)
        assert row.history_change_reason == f"bulk create {i}"
        assert (row.email, row.full_name, row.is_staff) == (user.email, f"Bulk {i}", False)
        assert not hasattr(user, "_change_reason")  # the stamp covered this write only


def test_updated_rows_get_a_history_row_with_the_new_values_and_a_system_reason(make_user):
    users = rows_create_with_history(_new(2, make_user("operations")))
    for user in users:
        user.full_name = user.full_name.upper()
        stamp(user, actor=None, reason="renamed")
    assert rows_update_with_history(users, ["full_name"]) == 2
    for user in users:
        latest = User.history.filter(id=user.pk).order_by("-history_id").first()
        assert (latest.history_type, latest.full_name) == ("~", user.full_name)
        assert latest.history_user_id is None
        assert latest.history_change_reason == f"{SYSTEM_PREFIX}renamed"
        assert User.history.filter(id=user.pk).count() == 2


def test_history_of_a_row_that_is_not_there_is_refused_and_nothing_written(make_user):
    saved = rows_create_with_history(_new(1, make_user("operations")))
    ghost = User(pk=10**9, email="ghost@test.margindesk.local")
    stamp(ghost, actor=None, reason="never saved")
    before = User.history.count()
    with pytest.raises(RuntimeError, match="1 rows for 2 saved"), transaction.atomic():
        history_rows_insert([saved[0], ghost], update=True)
    assert User.history.count() == before
