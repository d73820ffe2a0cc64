"""Corporate actions on collateral and financed lots, and their entitlements.

Tables: CorporateAction (one announced action, unique per instrument, kind and ex-date) and
CorporateActionEntitlement (what one investor got from it, with the journal entries), with
their history. The balance mirror of the mark-to-market (lending.RiskBalance, migration 0008)
learns kind 4, the client's dividend entitlement receivable (custody purpose
entitlement_receivable, in CNY): other collateral in the ratio's numerator, read by
lending.mtm.book_arrays as account_view reads it (lending.financing.corporate_actions).
"""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

KIND_SQL = r"""
CREATE OR REPLACE FUNCTION lending_riskbalance_kind(purpose text, unit text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN purpose = 'client_securities' THEN 3
                 WHEN unit <> 'CNY' THEN NULL
                 WHEN purpose = 'client_money' THEN 0
                 WHEN purpose = 'financing_receivable' THEN 1
                 WHEN purpose = 'interest_receivable' THEN 2
                 WHEN purpose = 'entitlement_receivable' THEN 4 END)::smallint
$$;
SELECT lending_riskbalance_fill();
"""

KIND_REVERSE = r"""
CREATE OR REPLACE FUNCTION lending_riskbalance_kind(purpose text, unit text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN purpose = 'client_securities' THEN 3
                 WHEN unit <> 'CNY' THEN NULL
                 WHEN purpose = 'client_money' THEN 0
                 WHEN purpose = 'financing_receivable' THEN 1
                 WHEN purpose = 'interest_receivable' THEN 2 END)::smallint
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0020_maturity_extension"),
        ("custody", "0009_corporate_action_accounts"),
        ("accounts", "0003_history_reason_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CorporateAction",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("cash_dividend", "Cash dividend"),
                            ("bonus", "Bonus shares"),
                            ("split", "Share split"),
                            ("rights", "Rights issue"),
                        ],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                ("record_date", models.DateField(verbose_name="record date")),
                ("ex_date", models.DateField(verbose_name="ex-date")),
                ("pay_date", models.DateField(blank=True, null=True, verbose_name="pay date")),
                (
                    "cash_per_share",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="cash per share",
                    ),
                ),
                (
                    "ratio",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="new shares per share",
                    ),
                ),
                (
                    "rights_price",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="rights price",
                    ),
                ),
                (
                    "subscription_end",
                    models.DateField(blank=True, null=True, verbose_name="subscription ends"),
                ),
                ("source_reference", models.CharField(max_length=200, verbose_name="announcement")),
                (
                    "import_file_name",
                    models.CharField(blank=True, max_length=200, verbose_name="import file"),
                ),
                (
                    "import_sha256",
                    models.CharField(blank=True, max_length=64, verbose_name="import file SHA-256"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("announced", "Announced"),
                            ("ex_processed", "Processed on the ex-date"),
                            ("paid", "Paid"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="announced",
                        max_length=12,
                        verbose_name="status",
                    ),
                ),
                (
                    "reference_price",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="ex-date reference price",
                    ),
                ),
                ("reason", models.CharField(max_length=300, verbose_name="reason")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "ex_processed_at",
                    models.DateTimeField(
                        blank=True, null=True, verbose_name="ex-date processed at"
                    ),
                ),
                ("paid_at", models.DateTimeField(blank=True, null=True, verbose_name="paid at")),
            ],
            options={
                "verbose_name": "corporate action",
                "verbose_name_plural": "corporate actions",
                "ordering": ["-ex_date", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="CorporateActionEntitlement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "quantity_held",
                    models.DecimalField(
                        decimal_places=4,
                        max_digits=20,
                        verbose_name="quantity held at the record date",
                    ),
                ),
                (
                    "cash_amount",
                    models.DecimalField(
                        decimal_places=2, default=0, max_digits=20, verbose_name="cash"
                    ),
                ),
                (
                    "new_shares",
                    models.DecimalField(
                        decimal_places=4, default=0, max_digits=20, verbose_name="new shares"
                    ),
                ),
                (
                    "rights_quantity",
                    models.DecimalField(
                        decimal_places=4, default=0, max_digits=20, verbose_name="rights shares"
                    ),
                ),
                (
                    "financings_adjusted",
                    models.PositiveIntegerField(default=0, verbose_name="financed lots adjusted"),
                ),
                ("paid_at", models.DateTimeField(blank=True, null=True, verbose_name="paid at")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={
                "verbose_name": "corporate-action entitlement",
                "verbose_name_plural": "corporate-action entitlements",
                "ordering": ["corporate_action", "investor"],
            },
        ),
        migrations.CreateModel(
            name="HistoricalCorporateAction",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("cash_dividend", "Cash dividend"),
                            ("bonus", "Bonus shares"),
                            ("split", "Share split"),
                            ("rights", "Rights issue"),
                        ],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                ("record_date", models.DateField(verbose_name="record date")),
                ("ex_date", models.DateField(verbose_name="ex-date")),
                ("pay_date", models.DateField(blank=True, null=True, verbose_name="pay date")),
                (
                    "cash_per_share",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="cash per share",
                    ),
                ),
                (
                    "ratio",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="new shares per share",
                    ),
                ),
                (
                    "rights_price",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="rights price",
                    ),
                ),
                (
                    "subscription_end",
                    models.DateField(blank=True, null=True, verbose_name="subscription ends"),
                ),
                ("source_reference", models.CharField(max_length=200, verbose_name="announcement")),
                (
                    "import_file_name",
                    models.CharField(blank=True, max_length=200, verbose_name="import file"),
                ),
                (
                    "import_sha256",
                    models.CharField(blank=True, max_length=64, verbose_name="import file SHA-256"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("announced", "Announced"),
                            ("ex_processed", "Processed on the ex-date"),
                            ("paid", "Paid"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="announced",
                        max_length=12,
                        verbose_name="status",
                    ),
                ),
                (
                    "reference_price",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=20,
                        null=True,
                        verbose_name="ex-date reference price",
                    ),
                ),
                ("reason", models.CharField(max_length=300, verbose_name="reason")),
                (
                    "created_at",
                    models.DateTimeField(blank=True, editable=False, verbose_name="created at"),
                ),
                (
                    "ex_processed_at",
                    models.DateTimeField(
                        blank=True, null=True, verbose_name="ex-date processed at"
                    ),
                ),
                ("paid_at", models.DateTimeField(blank=True, null=True, verbose_name="paid at")),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.TextField(null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
            ],
            options={
                "verbose_name": "historical corporate action",
                "verbose_name_plural": "historical corporate actions",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalCorporateActionEntitlement",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                (
                    "quantity_held",
                    models.DecimalField(
                        decimal_places=4,
                        max_digits=20,
                        verbose_name="quantity held at the record date",
                    ),
                ),
                (
                    "cash_amount",
                    models.DecimalField(
                        decimal_places=2, default=0, max_digits=20, verbose_name="cash"
                    ),
                ),
                (
                    "new_shares",
                    models.DecimalField(
                        decimal_places=4, default=0, max_digits=20, verbose_name="new shares"
                    ),
                ),
                (
                    "rights_quantity",
                    models.DecimalField(
                        decimal_places=4, default=0, max_digits=20, verbose_name="rights shares"
                    ),
                ),
                (
                    "financings_adjusted",
                    models.PositiveIntegerField(default=0, verbose_name="financed lots adjusted"),
                ),
                ("paid_at", models.DateTimeField(blank=True, null=True, verbose_name="paid at")),
                (
                    "created_at",
                    models.DateTimeField(blank=True, editable=False, verbose_name="created at"),
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
            ],
            options={
                "verbose_name": "historical corporate-action entitlement",
                "verbose_name_plural": "historical corporate-action entitlements",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AlterField(
            model_name="riskbalance",
            name="kind",
            field=models.SmallIntegerField(
                choices=[
                    (0, "Client money"),
                    (1, "Financing receivable"),
                    (2, "Interest receivable"),
                    (3, "Client securities"),
                    (4, "Dividend entitlement receivable"),
                ],
                verbose_name="kind",
            ),
        ),
        migrations.AddField(
            model_name="corporateaction",
            name="created_by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="corporateaction",
            name="instrument",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="lending.instrument",
            ),
        ),
        migrations.AddField(
            model_name="corporateactionentitlement",
            name="corporate_action",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entitlements",
                to="lending.corporateaction",
            ),
        ),
        migrations.AddField(
            model_name="corporateactionentitlement",
            name="credit_account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entitlements",
                to="lending.creditaccount",
            ),
        ),
        migrations.AddField(
            model_name="corporateactionentitlement",
            name="ex_entry",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="custody.journalentry",
            ),
        ),
        migrations.AddField(
            model_name="corporateactionentitlement",
            name="investor",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.investorprofile",
            ),
        ),
        migrations.AddField(
            model_name="corporateactionentitlement",
            name="pay_entry",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="custody.journalentry",
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateaction",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateaction",
            name="history_user",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateaction",
            name="instrument",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="lending.instrument",
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateactionentitlement",
            name="corporate_action",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="lending.corporateaction",
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateactionentitlement",
            name="credit_account",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="lending.creditaccount",
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateactionentitlement",
            name="ex_entry",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="custody.journalentry",
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateactionentitlement",
            name="history_user",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateactionentitlement",
            name="investor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="accounts.investorprofile",
            ),
        ),
        migrations.AddField(
            model_name="historicalcorporateactionentitlement",
            name="pay_entry",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="custody.journalentry",
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateaction",
            constraint=models.UniqueConstraint(
                fields=("instrument", "kind", "ex_date"), name="lending_corporate_action_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateaction",
            constraint=models.CheckConstraint(
                condition=models.Q(("record_date__lt", models.F("ex_date"))),
                name="lending_corporate_action_record_before_ex",
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateaction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "cash_dividend"), _negated=True),
                    models.Q(("cash_per_share__gt", 0), ("pay_date__gte", models.F("ex_date"))),
                    _connector="OR",
                ),
                name="lending_corporate_action_dividend_terms",
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateaction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind__in", ["bonus", "split", "rights"]), _negated=True),
                    ("ratio__gt", 0),
                    _connector="OR",
                ),
                name="lending_corporate_action_ratio_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateaction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "rights"), _negated=True),
                    models.Q(
                        ("rights_price__gt", 0), ("subscription_end__gte", models.F("ex_date"))
                    ),
                    _connector="OR",
                ),
                name="lending_corporate_action_rights_terms",
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateactionentitlement",
            constraint=models.UniqueConstraint(
                fields=("corporate_action", "investor"), name="lending_entitlement_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="corporateactionentitlement",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("quantity_held__gt", 0),
                    ("cash_amount__gte", 0),
                    ("new_shares__gte", 0),
                    ("rights_quantity__gte", 0),
                ),
                name="lending_entitlement_amounts",
            ),
        ),
        migrations.RunSQL(KIND_SQL, KIND_REVERSE),
    ]
