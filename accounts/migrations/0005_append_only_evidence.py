"""Append-only evidence: the history tables of accounts refuse UPDATE and DELETE.

Creates the shared trigger function append_only_refuse() (accounts/append_only.py); the other
apps' *_append_only_evidence migrations depend on this one and attach it to their tables."""

from django.db import migrations

from accounts import append_only


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_api_tokens")]

    operations = [
        migrations.RunSQL(append_only.CREATE_FUNCTION, append_only.DROP_FUNCTION),
        append_only.protect_history("accounts"),
    ]
