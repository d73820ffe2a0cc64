"""The exchanges' eligible-collateral and financing target lists, with their source files
(lending.instruments.exchange_lists); a liquidation plan records the suspended holdings it left
out."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0021_corporate_actions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExchangeListImport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "exchange",
                    models.CharField(
                        choices=[
                            ("SSE", "Shanghai Stock Exchange"),
                            ("SZSE", "Shenzhen Stock Exchange"),
                        ],
                        max_length=4,
                        verbose_name="exchange",
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("eligible_collateral", "Eligible collateral (conversion rates)"),
                            ("financing_target", "Financing target list"),
                        ],
                        max_length=20,
                        verbose_name="list",
                    ),
                ),
                ("effective_on", models.DateField(verbose_name="effective on")),
                ("file_name", models.CharField(max_length=200, verbose_name="file name")),
                ("sha256", models.CharField(max_length=64, verbose_name="SHA-256")),
                ("content", models.TextField(verbose_name="file content")),
                ("row_count", models.PositiveIntegerField(verbose_name="rows")),
                (
                    "unknown_codes",
                    models.JSONField(blank=True, default=list, verbose_name="unknown codes"),
                ),
                ("imported_at", models.DateTimeField(verbose_name="imported at")),
                ("reason", models.TextField(verbose_name="reason")),
                (
                    "imported_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="imported by",
                    ),
                ),
            ],
            options={
                "verbose_name": "exchange list import",
                "verbose_name_plural": "exchange list imports",
                "ordering": ["-effective_on", "-pk"],
                "indexes": [
                    models.Index(
                        fields=["exchange", "kind", "-effective_on", "-id"],
                        name="lending_exchange_list_in_force",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("exchange", "kind", "effective_on", "sha256"),
                        name="lending_exchange_list_same_file_once",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("exchange__in", ["SSE", "SZSE"])),
                        name="lending_exchange_list_exchange",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("kind__in", ["eligible_collateral", "financing_target"])
                        ),
                        name="lending_exchange_list_kind",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ExchangeListEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("line", models.PositiveIntegerField(verbose_name="line")),
                ("code", models.CharField(max_length=12, verbose_name="code")),
                (
                    "conversion_rate",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=7,
                        null=True,
                        verbose_name="conversion rate",
                    ),
                ),
                (
                    "instrument",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="lending.instrument",
                    ),
                ),
                (
                    "list_import",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="lending.exchangelistimport",
                    ),
                ),
            ],
            options={
                "verbose_name": "exchange list entry",
                "verbose_name_plural": "exchange list entries",
                "ordering": ["list_import", "line"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("list_import", "code"), name="lending_exchange_list_entry_code_once"
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("instrument__isnull", False)),
                        fields=("list_import", "instrument"),
                        name="lending_exchange_list_entry_instrument_once",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("conversion_rate__isnull", True),
                            models.Q(("conversion_rate__gte", 0), ("conversion_rate__lte", 1)),
                            _connector="OR",
                        ),
                        name="lending_exchange_list_entry_rate_range",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="HistoricalExchangeListImport",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                (
                    "exchange",
                    models.CharField(
                        choices=[
                            ("SSE", "Shanghai Stock Exchange"),
                            ("SZSE", "Shenzhen Stock Exchange"),
                        ],
                        max_length=4,
                        verbose_name="exchange",
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("eligible_collateral", "Eligible collateral (conversion rates)"),
                            ("financing_target", "Financing target list"),
                        ],
                        max_length=20,
                        verbose_name="list",
                    ),
                ),
                ("effective_on", models.DateField(verbose_name="effective on")),
                ("file_name", models.CharField(max_length=200, verbose_name="file name")),
                ("sha256", models.CharField(max_length=64, verbose_name="SHA-256")),
                ("content", models.TextField(verbose_name="file content")),
                ("row_count", models.PositiveIntegerField(verbose_name="rows")),
                (
                    "unknown_codes",
                    models.JSONField(blank=True, default=list, verbose_name="unknown codes"),
                ),
                ("imported_at", models.DateTimeField(verbose_name="imported at")),
                ("reason", models.TextField(verbose_name="reason")),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.TextField(null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "imported_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="imported by",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical exchange list import",
                "verbose_name_plural": "historical exchange list imports",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AddField(
            model_name="liquidationplan",
            name="suspended_left_out",
            field=models.JSONField(blank=True, default=list, verbose_name="suspended, left out"),
        ),
        migrations.AddField(
            model_name="historicalliquidationplan",
            name="suspended_left_out",
            field=models.JSONField(blank=True, default=list, verbose_name="suspended, left out"),
        ),
    ]
