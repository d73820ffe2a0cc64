"""Model instances from one pre-built SQL statement, for the hot reads of the account API.

A Django queryset is compiled to SQL on every execution, and for the small reads of one account
that compilation costs several times the query itself (bench/README.md, "HTTP load"). The reads
here build their SQL once, at import, from the models' own column names, and turn each row into
the same instances the queryset would give (`Model.from_db`, every concrete field loaded, so no
field is deferred and nothing reads the database again when touched). Values are always bound
parameters. The statements run through Django's cursor, so they are counted, logged and wrapped
like any other query (`django_assert_num_queries`, CaptureQueriesContext, execute wrappers).
"""

from __future__ import annotations

from django.db import connections
from django.db.models import Model


def fields(model: type[Model]) -> list[str]:
    """Attribute names of the concrete fields, in the order `columns` selects them."""
    return [f.attname for f in model._meta.concrete_fields]


def columns(model: type[Model], alias: str, names: list[str] | None = None) -> str:
    """`alias."column", ...` for `names` (attribute names; every concrete field by default)."""
    names = fields(model) if names is None else names
    return ", ".join(f'{alias}."{model._meta.get_field(n).column}"' for n in names)


def fetch(model: type[Model], sql: str, params: list) -> tuple[str, list[tuple]]:
    """Run `sql` on the database `model` reads from; (that database's alias, every row)."""
    db = model.objects.db
    with connections[db].cursor() as cursor:
        cursor.execute(sql, params)
        return db, cursor.fetchall()


def instance(model: type[Model], db: str, names: list[str], values) -> Model:
    """The instance a queryset would make of this row (`names` as `fields(model)`)."""
    return model.from_db(db, names, values)
