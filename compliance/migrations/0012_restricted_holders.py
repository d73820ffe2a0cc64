"""Restricted holders (directors, supervisors, senior managers, 5% holders) declared by investors."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_history_reason_text"),
        ("compliance", "0011_seed_suspension_valuation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoricalRestrictedDeclaration",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("holds_none", models.BooleanField(verbose_name="holds no such position")),
                (
                    "holdings",
                    models.JSONField(blank=True, default=list, verbose_name="positions declared"),
                ),
                ("statement", models.TextField(verbose_name="statement")),
                ("declared_at", models.DateTimeField(verbose_name="declared at")),
                (
                    "ip_address",
                    models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address"),
                ),
                (
                    "user_agent",
                    models.CharField(blank=True, max_length=400, verbose_name="user agent"),
                ),
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
                    "declared_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
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
                    "investor",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="accounts.investorprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical restricted-holder declaration",
                "verbose_name_plural": "historical restricted-holder declarations",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalRestrictedHolding",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                (
                    "security",
                    models.CharField(max_length=24, verbose_name="security (EXCHANGE:CODE)"),
                ),
                ("company_name", models.CharField(max_length=200, verbose_name="company")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("director", "Director"),
                            ("supervisor", "Supervisor"),
                            ("senior_manager", "Senior manager"),
                            ("major_holder", "Holder of at least 5%"),
                        ],
                        max_length=16,
                        verbose_name="role",
                    ),
                ),
                ("since", models.DateField(verbose_name="since")),
                ("ended_on", models.DateField(blank=True, null=True, verbose_name="ended on")),
                (
                    "source",
                    models.CharField(
                        choices=[("investor", "Investor's declaration"), ("staff", "Staff record")],
                        max_length=10,
                        verbose_name="source",
                    ),
                ),
                (
                    "declared_at",
                    models.DateTimeField(blank=True, editable=False, verbose_name="declared at"),
                ),
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
                    "declared_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "ended_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
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
                    "investor",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="accounts.investorprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical restricted holding",
                "verbose_name_plural": "historical restricted holdings",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="RestrictedDeclaration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("holds_none", models.BooleanField(verbose_name="holds no such position")),
                (
                    "holdings",
                    models.JSONField(blank=True, default=list, verbose_name="positions declared"),
                ),
                ("statement", models.TextField(verbose_name="statement")),
                ("declared_at", models.DateTimeField(verbose_name="declared at")),
                (
                    "ip_address",
                    models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address"),
                ),
                (
                    "user_agent",
                    models.CharField(blank=True, max_length=400, verbose_name="user agent"),
                ),
                (
                    "declared_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "investor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="restricted_declarations",
                        to="accounts.investorprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "restricted-holder declaration",
                "verbose_name_plural": "restricted-holder declarations",
                "ordering": ["-declared_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="RestrictedHolding",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "security",
                    models.CharField(max_length=24, verbose_name="security (EXCHANGE:CODE)"),
                ),
                ("company_name", models.CharField(max_length=200, verbose_name="company")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("director", "Director"),
                            ("supervisor", "Supervisor"),
                            ("senior_manager", "Senior manager"),
                            ("major_holder", "Holder of at least 5%"),
                        ],
                        max_length=16,
                        verbose_name="role",
                    ),
                ),
                ("since", models.DateField(verbose_name="since")),
                ("ended_on", models.DateField(blank=True, null=True, verbose_name="ended on")),
                (
                    "source",
                    models.CharField(
                        choices=[("investor", "Investor's declaration"), ("staff", "Staff record")],
                        max_length=10,
                        verbose_name="source",
                    ),
                ),
                (
                    "declared_at",
                    models.DateTimeField(auto_now_add=True, verbose_name="declared at"),
                ),
                ("reason", models.TextField(verbose_name="reason")),
                (
                    "declared_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "ended_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "investor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="restricted_holdings",
                        to="accounts.investorprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "restricted holding",
                "verbose_name_plural": "restricted holdings",
                "ordering": ["investor", "security", "-since", "-pk"],
                "indexes": [
                    models.Index(
                        fields=["investor", "security"], name="compliance__investo_9e59f3_idx"
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("security__regex", "^[A-Z]{2,4}:[0-9A-Z]{1,12}$")),
                        name="compliance_restricted_security_format",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ended_on__isnull", True),
                            ("ended_on__gt", models.F("since")),
                            _connector="OR",
                        ),
                        name="compliance_restricted_ends_after_start",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("ended_on__isnull", True)),
                        fields=("investor", "security", "role"),
                        name="compliance_one_open_restricted_role",
                    ),
                ],
            },
        ),
    ]
