"""Append-only evidence: custody's history tables refuse UPDATE and DELETE (the ledger's
entries and postings already do: 0002_ledger_invariants)."""

from django.db import migrations

from accounts import append_only


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0009_corporate_action_accounts"),
        ("accounts", "0005_append_only_evidence"),
    ]

    operations = [append_only.protect_history("custody")]
