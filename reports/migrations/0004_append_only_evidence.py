"""Append-only evidence: reports' history tables refuse UPDATE and DELETE. A submitted filing
already refuses both (pgtrigger `submitted_immutable`, 0001_initial)."""

from django.db import migrations

from accounts import append_only


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_history_reason_text"),
        ("accounts", "0005_append_only_evidence"),
    ]

    operations = [append_only.protect_history("reports")]
