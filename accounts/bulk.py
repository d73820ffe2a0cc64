"""Linear bulk updates of model rows, with their history rows.

Django's ``QuerySet.bulk_update`` writes ``SET f = CASE WHEN pk = 1 THEN ... WHEN pk = 2 ...``:
Python builds one expression per row and field, which costs seconds for a thousand rows (the
mark-to-market writes that many state changes per shard). ``rows_update`` writes the same
values with one ``UPDATE ... FROM unnest(array per column)`` statement per batch, each value
adapted by its field (``get_db_prep_save``) and cast to the column's type.

``history_rows_insert`` writes django-simple-history's rows for saved instances by one
``INSERT ... SELECT`` per batch: the tracked columns are copied from the rows just written, in
the same transaction, and only each row's pk, date, user and reason (its stamp,
accounts.audit.stamp) travel as parameters. simple-history's own ``bulk_history_create`` builds
a historical model instance per row and adapts every field of it in Python, the larger part of
the cost of a thousand margin state changes. ``rows_create_with_history`` and
``rows_update_with_history`` write rows and then their history this way, and drop the stamps.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.utils import timezone

from .audit import forget_stamp

BATCH = 1000


def rows_update(objs: Sequence, fields: Sequence[str]) -> int:
    """Write `fields` of saved model instances of one model; returns the rows updated."""
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns)
    names = ", ".join(qn(f.column) for f in (pk, *columns))
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in (pk, *columns))
    updated = 0
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH):
            batch = objs[start : start + BATCH]
            params = [[pk.get_db_prep_save(obj.pk, connection) for obj in batch]]
            params += [[f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in batch]
                       for f in columns]  # fmt: skip
            # identifiers come from the model's meta, quoted; every value is bound, one array
            # per column (a short statement, whatever the number of rows)
            statement = (
                f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM unnest({arrays}) "  # noqa: S608
                f"AS v({names}) WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
            )
            cursor.execute(statement, params)
            updated += cursor.rowcount
    return updated


def history_rows_insert(objs: Sequence, *, update: bool) -> int:
    """One history row per saved instance of one model (history type "~" when ``update``, else
    "+"), its tracked columns copied from the instance's row as it is now in this transaction;
    user and reason from its stamp, date from ``_history_date`` or now. Returns rows written."""
    from simple_history.utils import get_change_reason_from_object, get_history_model_for_model

    if not objs:
        return 0
    model = type(objs[0])
    history = get_history_model_for_model(model)
    pk = model._meta.pk
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    target = ", ".join(
        [*tracked, "history_date", "history_change_reason", "history_user_id", "history_type"]
    )
    source = ", ".join(f"t.{c}" for c in tracked)
    arrays = f"%s::{pk.db_type(connection)}[], %s::timestamptz[], %s::text[], %s::bigint[]"
    now = timezone.now()
    kind = "~" if update else "+"
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH):
            batch = objs[start : start + BATCH]
            params = [
                [obj.pk for obj in batch],
                [getattr(obj, "_history_date", now) for obj in batch],
                [get_change_reason_from_object(obj) or "" for obj in batch],
                [getattr(getattr(obj, "_history_user", None), "pk", None) for obj in batch],
            ]
            # identifiers come from the models' meta, quoted; every value is bound, one array
            # per column
            cursor.execute(
                f"INSERT INTO {qn(history._meta.db_table)} ({target}) "  # noqa: S608
                f"SELECT {source}, v.at, v.reason, v.user_id, %s "
                f"FROM unnest({arrays}) WITH ORDINALITY AS v(pk, at, reason, user_id, n) "
                f"JOIN {qn(model._meta.db_table)} AS t ON t.{qn(pk.column)} = v.pk ORDER BY v.n",
                [kind, *params],
            )
            written += cursor.rowcount
    if written != len(objs):
        raise RuntimeError(f"history of {model.__name__}: {written} rows for {len(objs)} saved")
    return written


def rows_create_with_history(objs: Sequence) -> list:
    """bulk_create of new instances of one model, then their history rows (stamped:
    accounts.audit.stamp); returns the instances, pks set."""
    if not objs:
        return []
    with transaction.atomic(savepoint=False):
        created = type(objs[0]).objects.bulk_create(objs)
        history_rows_insert(created, update=False)
    for obj in created:
        forget_stamp(None, obj)
    return created


def rows_update_with_history(objs: Sequence, fields: Sequence[str]) -> int:
    """rows_update, then one history row per instance (stamped: accounts.audit.stamp)."""
    if not objs:
        return 0
    with transaction.atomic(savepoint=False):
        updated = rows_update(objs, fields)
        history_rows_insert(objs, update=True)
    for obj in objs:
        forget_stamp(None, obj)
    return updated
