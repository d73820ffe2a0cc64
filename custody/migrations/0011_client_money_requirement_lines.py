"""The client-money requirement's inputs per client move from a JSON document on the row (and
on each of its history rows) to a table of lines, written once with their requirement and
append-only like other evidence (accounts/append_only.py). This migration adds the table and
the summary's count of clients; 0012 moves the existing documents into lines; 0013 drops the
JSON column."""

import django.db.models.deletion
from django.db import migrations, models

from accounts import append_only


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_append_only_evidence"),
        ("custody", "0010_append_only_evidence"),
    ]

    operations = [
        migrations.AddField(
            model_name="clientmoneyrequirement",
            name="clients",
            field=models.PositiveIntegerField(default=0, verbose_name="clients"),
        ),
        migrations.AddField(
            model_name="historicalclientmoneyrequirement",
            name="clients",
            field=models.PositiveIntegerField(default=0, verbose_name="clients"),
        ),
        migrations.CreateModel(
            name="ClientMoneyRequirementLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "credit",
                    models.DecimalField(
                        decimal_places=4, max_digits=24, verbose_name="credit owed to the client"
                    ),
                ),
                (
                    "debit",
                    models.DecimalField(
                        decimal_places=4, max_digits=24, verbose_name="debit owed by the client"
                    ),
                ),
                (
                    "debit_counted",
                    models.DecimalField(
                        decimal_places=4, max_digits=24, verbose_name="debit counted"
                    ),
                ),
                (
                    "investor",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.investorprofile",
                        verbose_name="investor",
                    ),
                ),
                (
                    "requirement",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lines",
                        to="custody.clientmoneyrequirement",
                        verbose_name="client-money requirement",
                    ),
                ),
            ],
            options={
                "verbose_name": "client-money requirement line",
                "verbose_name_plural": "client-money requirement lines",
                "ordering": ["requirement", "investor"],
                "default_permissions": ("view",),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("requirement", "investor"),
                        name="custody_cmr_line_one_per_investor",
                    )
                ],
            },
        ),
        # the lines never change once written: UPDATE and DELETE refused by PostgreSQL
        append_only.protect("custody_clientmoneyrequirementline"),
    ]
