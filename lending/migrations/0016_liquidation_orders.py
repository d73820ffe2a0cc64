"""Liquidation over the order lifecycle (issue 16 item 5): a liquidation order is a link to a
`lending.Order`, a liquidation fill a record of a `lending.Fill` (the retired broker adapter's
fields go; its rows keep no link); a plan may be stopped with a remainder and re-planned."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0015_orders"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="liquidationfill",
            name="lending_fill_unique_per_broker",
        ),
        migrations.RemoveField(
            model_name="liquidationfill",
            name="broker",
        ),
        migrations.RemoveField(
            model_name="liquidationfill",
            name="fill_id",
        ),
        migrations.RemoveField(
            model_name="liquidationfill",
            name="posted_at",
        ),
        migrations.RemoveField(
            model_name="liquidationorder",
            name="broker",
        ),
        migrations.AddField(
            model_name="liquidationfill",
            name="fill",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="liquidation_fill",
                to="lending.fill",
                verbose_name="fill",
            ),
        ),
        migrations.AddField(
            model_name="liquidationorder",
            name="order",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="liquidation_order",
                to="lending.order",
                verbose_name="order",
            ),
        ),
        migrations.AlterField(
            model_name="historicalliquidationplan",
            name="status",
            field=models.CharField(
                choices=[
                    ("prepared", "Prepared"),
                    ("approved", "Approved"),
                    ("rejected", "Rejected"),
                    ("executing", "Partially executed"),
                    ("executed", "Executed"),
                    ("stopped", "Stopped with a remainder (re-planned)"),
                ],
                default="prepared",
                max_length=12,
                verbose_name="status",
            ),
        ),
        migrations.AlterField(
            model_name="liquidationorder",
            name="status",
            field=models.CharField(
                choices=[
                    ("working", "Working"),
                    ("filled", "Filled"),
                    ("cancelled", "Cancelled"),
                    ("rejected", "Rejected"),
                    ("expired", "Expired"),
                ],
                default="working",
                max_length=12,
                verbose_name="status",
            ),
        ),
        migrations.AlterField(
            model_name="liquidationplan",
            name="status",
            field=models.CharField(
                choices=[
                    ("prepared", "Prepared"),
                    ("approved", "Approved"),
                    ("rejected", "Rejected"),
                    ("executing", "Partially executed"),
                    ("executed", "Executed"),
                    ("stopped", "Stopped with a remainder (re-planned)"),
                ],
                default="prepared",
                max_length=12,
                verbose_name="status",
            ),
        ),
    ]
