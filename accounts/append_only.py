"""Append-only evidence, enforced by PostgreSQL (as the ledger's postings are).

What an auditor relies on must not be editable by whoever holds a database connection: a
bug, a hand-written script or the admin shell. Two kinds of rows are protected by triggers
that run BEFORE UPDATE OR DELETE, FOR EACH ROW, and raise ``restrict_violation`` (Django's
IntegrityError):

* rows that never change once written: every django-simple-history table (simple-history only
  INSERTs; a correction is a new row), margin events, disclosure acknowledgements and
  restricted-holder declarations. They carry the trigger ``append_only_evidence`` calling
  ``append_only_refuse()``, created here: ``protect(tables)`` and ``protect_history(app)`` are
  the migration operations that attach it (one migration per app,
  ``*_append_only_evidence``).
* rows with fields a later step fills in once: a notice's delivery proof and acknowledgement,
  a suitability warning's confirmation, a filing once submitted. Their own trigger functions
  (in the app's migration, or reports' pgtrigger) allow only those one-way steps and refuse
  every other UPDATE and every DELETE.

TRUNCATE fires no row trigger: test databases are still flushed between tests. A migration
that must rewrite protected rows says so by dropping and re-creating the trigger around its
statements. ``tests/test_append_only_evidence.py`` lists every history model of every app and
fails when one lacks the trigger, so a new history table cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import migrations

#: The trigger's name on every table it protects (trigger names are per table in PostgreSQL).
TRIGGER = "append_only_evidence"
FUNCTION = "append_only_refuse"

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only evidence: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'evidence is corrected by writing a new row, never by editing one';
END $$;
"""

DROP_FUNCTION = f"DROP FUNCTION IF EXISTS {FUNCTION}();"


def _quote(name: str) -> str:
    if not name.replace("_", "").isalnum():  # table names come from model meta, never input
        raise ValueError(f"unexpected table name {name!r}")
    return f'"{name}"'


def protect_sql(tables: Iterable[str]) -> str:
    return "\n".join(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {_quote(t)} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();"
        for t in tables
    )


def unprotect_sql(tables: Iterable[str]) -> str:
    return "\n".join(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {_quote(t)};" for t in tables)


def protect(*tables: str) -> migrations.RunSQL:
    """Migration operation: the named tables refuse every UPDATE and DELETE."""
    return migrations.RunSQL(protect_sql(tables), unprotect_sql(tables))


def history_tables(apps, app_label: str) -> list[str]:
    """The simple-history tables of one app, as the migration state (or registry) has them."""
    return sorted(
        model._meta.db_table
        for model in apps.get_app_config(app_label).get_models()
        if model.__name__.startswith("Historical")
    )


def protect_history(app_label: str) -> migrations.RunPython:
    """Migration operation: every history table the app has at this point of its migrations
    refuses UPDATE and DELETE."""

    def forwards(apps, schema_editor):
        tables = history_tables(apps, app_label)
        if tables:
            schema_editor.execute(protect_sql(tables))

    def backwards(apps, schema_editor):
        tables = history_tables(apps, app_label)
        if tables:
            schema_editor.execute(unprotect_sql(tables))

    return migrations.RunPython(forwards, backwards, elidable=False)


def protected_tables(connection) -> set[str]:
    """Tables of the current schema carrying an enabled append-only trigger."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgname = %s AND p.proname = %s AND t.tgenabled <> 'D' "
            "AND c.relnamespace = to_regnamespace(current_schema())",
            [TRIGGER, FUNCTION],
        )
        return {row[0] for row in cursor.fetchall()}
