"""Maturity of financings, extensions (four eyes), overdue financings and penalty interest."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

PENALTY_KEY = "financing.penalty_rate_standard"


def contracts_penalty_rate(apps, schema_editor):
    """Existing contracts take the desk's penalty tariff in force on the day they were signed
    (compliance 0010 seeds it), as a new contract does."""
    parameter = apps.get_model("compliance", "RegulatoryParameter")
    rows = list(parameter.objects.filter(key=PENALTY_KEY).order_by("effective_from"))

    def rate_on(day):
        in_force = [r for r in rows if r.effective_from <= day]
        return (in_force or rows)[-1 if in_force else 0].value

    for name in ("CreditContract", "HistoricalCreditContract"):
        model = apps.get_model("lending", name)
        pending = model.objects.filter(penalty_rate__isnull=True)
        if pending.exists() and not rows:
            raise RuntimeError(f"{PENALTY_KEY}: no dated value to give existing contracts")
        for row in pending.only("pk", "signed_on"):
            model.objects.filter(pk=row.pk).update(penalty_rate=rate_on(row.signed_on))


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0019_collateral_transfers_in"),
        ("compliance", "0010_seed_maturity_parameters"),
        ("custody", "0007_move_house_money"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # --- the contract's penalty rate, the financing's overdue state and penalty
        migrations.AddField(
            model_name="creditcontract",
            name="penalty_rate",
            field=models.DecimalField(
                decimal_places=6, max_digits=8, null=True, verbose_name="penalty interest rate"
            ),
        ),
        migrations.AddField(
            model_name="historicalcreditcontract",
            name="penalty_rate",
            field=models.DecimalField(
                decimal_places=6, max_digits=8, null=True, verbose_name="penalty interest rate"
            ),
        ),
        migrations.RunPython(contracts_penalty_rate, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="creditcontract",
            name="penalty_rate",
            field=models.DecimalField(
                decimal_places=6, max_digits=8, verbose_name="penalty interest rate"
            ),
        ),
        migrations.AlterField(
            model_name="historicalcreditcontract",
            name="penalty_rate",
            field=models.DecimalField(
                decimal_places=6, max_digits=8, verbose_name="penalty interest rate"
            ),
        ),
        migrations.AddField(
            model_name="financing",
            name="overdue_since",
            field=models.DateField(blank=True, null=True, verbose_name="overdue since"),
        ),
        migrations.AddField(
            model_name="financing",
            name="penalty_charged",
            field=models.DecimalField(
                decimal_places=2, default=0, max_digits=20, verbose_name="penalty interest charged"
            ),
        ),
        migrations.AddField(
            model_name="historicalfinancing",
            name="overdue_since",
            field=models.DateField(blank=True, null=True, verbose_name="overdue since"),
        ),
        migrations.AddField(
            model_name="historicalfinancing",
            name="penalty_charged",
            field=models.DecimalField(
                decimal_places=2, default=0, max_digits=20, verbose_name="penalty interest charged"
            ),
        ),
        # --- penalty interest, one row per financing and day
        migrations.CreateModel(
            name="PenaltyAccrual",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("business_date", models.DateField(verbose_name="business date")),
                (
                    "principal",
                    models.DecimalField(
                        decimal_places=2, max_digits=20, verbose_name="overdue principal"
                    ),
                ),
                (
                    "annual_rate",
                    models.DecimalField(
                        decimal_places=6, max_digits=8, verbose_name="penalty rate"
                    ),
                ),
                (
                    "amount",
                    models.DecimalField(
                        decimal_places=2, max_digits=20, verbose_name="penalty interest"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "entry",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="custody.journalentry",
                    ),
                ),
                (
                    "financing",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="penalty_accruals",
                        to="lending.financing",
                    ),
                ),
            ],
            options={
                "verbose_name": "penalty interest accrual",
                "verbose_name_plural": "penalty interest accruals",
                "ordering": ["business_date", "pk"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("financing", "business_date"), name="lending_penalty_once_per_day"
                    ),
                ],
            },
        ),
        # --- extensions (four eyes)
        migrations.CreateModel(
            name="FinancingExtension",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("months", models.PositiveSmallIntegerField(verbose_name="months")),
                ("old_due_on", models.DateField(verbose_name="due on before")),
                ("new_due_on", models.DateField(verbose_name="due on after")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("requested", "Requested by the investor"),
                            ("prepared", "Checked, awaiting approval"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                        ],
                        default="requested",
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                ("requested_on", models.DateField(verbose_name="requested on")),
                (
                    "reason",
                    models.CharField(blank=True, max_length=300, verbose_name="investor's reason"),
                ),
                (
                    "prepared_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="prepared at"),
                ),
                (
                    "preparation_note",
                    models.CharField(blank=True, max_length=300, verbose_name="preparer's note"),
                ),
                (
                    "decided_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="decided at"),
                ),
                (
                    "decision_reason",
                    models.CharField(blank=True, max_length=300, verbose_name="decision reason"),
                ),
                (
                    "qualification",
                    models.JSONField(
                        blank=True, default=dict, verbose_name="qualification checked"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(auto_now_add=True, verbose_name="requested at"),
                ),
                (
                    "credit_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="financing_extensions",
                        to="lending.creditaccount",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "financing",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="extensions",
                        to="lending.financing",
                    ),
                ),
                (
                    "prepared_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "financing extension",
                "verbose_name_plural": "financing extensions",
                "ordering": ["-created_at", "-pk"],
                "permissions": [
                    ("prepare_financingextension", "Can check a financing extension request"),
                    ("approve_financingextension", "Can approve a financing extension"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("months__gt", 0), ("new_due_on__gt", models.F("old_due_on"))
                        ),
                        name="lending_extension_months",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("status__in", ("requested", "prepared"))),
                        fields=("financing",),
                        name="lending_one_pending_extension",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("decided_by__isnull", True),
                            ("prepared_by__isnull", True),
                            models.Q(("decided_by", models.F("prepared_by")), _negated=True),
                            _connector="OR",
                        ),
                        name="lending_extension_four_eyes",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "approved"), _negated=True),
                            models.Q(("decided_by__isnull", False), ("prepared_by__isnull", False)),
                            _connector="OR",
                        ),
                        name="lending_extension_approved_checked",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="HistoricalFinancingExtension",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("months", models.PositiveSmallIntegerField(verbose_name="months")),
                ("old_due_on", models.DateField(verbose_name="due on before")),
                ("new_due_on", models.DateField(verbose_name="due on after")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("requested", "Requested by the investor"),
                            ("prepared", "Checked, awaiting approval"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                        ],
                        default="requested",
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                ("requested_on", models.DateField(verbose_name="requested on")),
                (
                    "reason",
                    models.CharField(blank=True, max_length=300, verbose_name="investor's reason"),
                ),
                (
                    "prepared_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="prepared at"),
                ),
                (
                    "preparation_note",
                    models.CharField(blank=True, max_length=300, verbose_name="preparer's note"),
                ),
                (
                    "decided_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="decided at"),
                ),
                (
                    "decision_reason",
                    models.CharField(blank=True, max_length=300, verbose_name="decision reason"),
                ),
                (
                    "qualification",
                    models.JSONField(
                        blank=True, default=dict, verbose_name="qualification checked"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(blank=True, editable=False, verbose_name="requested at"),
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
                    "credit_account",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="lending.creditaccount",
                    ),
                ),
                (
                    "decided_by",
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
                    "financing",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="lending.financing",
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
                    "prepared_by",
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
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "historical financing extension",
                "verbose_name_plural": "historical financing extensions",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        # --- maturity notices: about one financing
        migrations.RemoveConstraint(
            model_name="notice",
            name="lending_notice_has_call_or_episode",
        ),
        migrations.AddField(
            model_name="notice",
            name="financing",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="lending.financing",
            ),
        ),
        migrations.AddField(
            model_name="historicalnotice",
            name="financing",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="lending.financing",
            ),
        ),
        migrations.AlterField(
            model_name="historicalnotice",
            name="kind",
            field=models.CharField(
                choices=[
                    ("warning", "Warning"),
                    ("call", "Margin call"),
                    ("reminder", "Reminder"),
                    ("overdue", "Call overdue"),
                    ("liquidation", "Liquidation"),
                    ("cured", "Call cured"),
                    ("default", "Default"),
                    ("maturity", "Financing maturity"),
                ],
                max_length=12,
                verbose_name="kind",
            ),
        ),
        migrations.AlterField(
            model_name="notice",
            name="kind",
            field=models.CharField(
                choices=[
                    ("warning", "Warning"),
                    ("call", "Margin call"),
                    ("reminder", "Reminder"),
                    ("overdue", "Call overdue"),
                    ("liquidation", "Liquidation"),
                    ("cured", "Call cured"),
                    ("default", "Default"),
                    ("maturity", "Financing maturity"),
                ],
                max_length=12,
                verbose_name="kind",
            ),
        ),
        migrations.AddConstraint(
            model_name="notice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("call__isnull", False),
                    ("warning_episode__isnull", False),
                    ("financing__isnull", False),
                    _connector="OR",
                ),
                name="lending_notice_has_call_or_episode",
            ),
        ),
        migrations.AddConstraint(
            model_name="notice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("financing__isnull", False)),
                fields=("financing", "kind", "stage", "channel"),
                name="lending_notice_once_per_financing_stage_channel",
            ),
        ),
    ]
