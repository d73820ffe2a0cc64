"""Linear bulk updates of model rows, with their history rows.

Django's ``QuerySet.bulk_update`` writes ``SET f = CASE WHEN pk = 1 THEN ... WHEN pk = 2 ...``:
Python builds one expression per row and field, which costs seconds for a thousand rows (the
mark-to-market writes that many state changes per shard). ``rows_update`` writes the same
values with one ``UPDATE ... FROM (VALUES ...)`` statement per batch, each value adapted by its
field (``get_db_prep_save``) and cast to the column's type.

``rows_update_with_history`` adds the history rows as django-simple-history's
``bulk_update_with_history`` does (``bulk_history_create(update=True)``: each instance's stamp,
accounts.audit.stamp, gives the user and reason), then drops the stamps.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction

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
    row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in (pk, *columns)) + ")"
    updated = 0
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH):
            batch = objs[start : start + BATCH]
            params = []
            for obj in batch:
                params.append(pk.get_db_prep_save(obj.pk, connection))
                params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection)
                              for f in columns)  # fmt: skip
            # identifiers come from the model's meta, quoted; every value is bound
            values = ", ".join([row] * len(batch))
            statement = (
                f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM (VALUES {values}) "  # noqa: S608
                f"AS v({names}) WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
            )
            cursor.execute(statement, params)
            updated += cursor.rowcount
    return updated


def rows_update_with_history(objs: Sequence, fields: Sequence[str]) -> int:
    """rows_update, then one history row per instance (stamped: accounts.audit.stamp)."""
    from simple_history.utils import get_history_manager_for_model

    if not objs:
        return 0
    with transaction.atomic(savepoint=False):
        updated = rows_update(objs, fields)
        get_history_manager_for_model(type(objs[0])).bulk_history_create(objs, update=True)
    for obj in objs:
        forget_stamp(None, obj)
    return updated
