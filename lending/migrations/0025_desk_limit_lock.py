"""Desk-wide limits (net-capital caps) checked under a lock: no table is needed, the lock is a
transaction-scoped PostgreSQL advisory lock on a fixed key (lending.credit.locks, step 3)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("lending", "0024_append_only_evidence")]

    operations = []
